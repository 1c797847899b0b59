//! An idle runtime stays asleep: its threads make (almost) no context switches while there is nothing to do,
//! whether no task was ever spawned, all tasks finished, or a task waits on something that never happens.
//!
//! Measured from /proc/self/task/*/status (`voluntary_ctxt_switches` + `nonvoluntary_ctxt_switches`) of the
//! threads whose name starts with the runtime's unique `thread_name` prefix.

mod support;

use std::time::Duration;
use support::{threads_named, wait_until, ThreadInfo};

const SETTLE: Duration = Duration::from_millis(200);
const WINDOW: Duration = Duration::from_secs(1);
const MAX_SWITCHES: u64 = 5;

fn total(threads: &[ThreadInfo]) -> u64 {
    threads.iter().map(ThreadInfo::ctxt_switches).sum()
}

/// Waits for `expected` threads named `prefix*`, lets them settle, then measures their context switches over
/// one second and asserts fewer than `MAX_SWITCHES` in total.
fn assert_stays_asleep(prefix: &str, expected: usize) {
    assert!(
        wait_until(Duration::from_secs(5), || threads_named(prefix).len()
            == expected),
        "expected {expected} threads named {prefix}*, found {:?}",
        threads_named(prefix)
    );
    std::thread::sleep(SETTLE);
    let before = threads_named(prefix);
    std::thread::sleep(WINDOW);
    let after = threads_named(prefix);
    let tids = |v: &[ThreadInfo]| v.iter().map(|t| t.tid).collect::<Vec<_>>();
    assert_eq!(tids(&before), tids(&after), "the {prefix}* threads changed");
    assert!(
        total(&before) > 0,
        "no context switches parsed from /proc: {before:?}"
    );
    let diff = total(&after) - total(&before);
    assert!(
        diff < MAX_SWITCHES,
        "idle {prefix}* threads made {diff} context switches in {WINDOW:?} (before: {before:?}, after: \
         {after:?})"
    );
}

fn runtime(prefix: &str) -> ferrio::Runtime {
    ferrio::Runtime::builder()
        .worker_threads(2)
        .thread_name(prefix)
        .build()
        .unwrap()
}

/// Control: the measurement does see a runtime that is not idle (a task that sleeps 1 ms per poll and
/// yields, so its worker switches about a thousand times a second).
#[test]
fn measurement_detects_a_busy_runtime() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::Arc;
    let rt = runtime("idle-busy");
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let busy = rt.spawn(async move {
        while !s.load(SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
            ferrio::yield_now().await;
        }
    });
    assert!(wait_until(Duration::from_secs(5), || threads_named(
        "idle-busy"
    )
    .len()
        == 2));
    let before = total(&threads_named("idle-busy"));
    std::thread::sleep(Duration::from_millis(300));
    let diff = total(&threads_named("idle-busy")) - before;
    stop.store(true, SeqCst);
    assert!(
        diff > 50,
        "only {diff} context switches seen for a busy worker"
    );
    rt.block_on(std::future::IntoFuture::into_future(busy))
        .unwrap();
}

#[test]
fn fresh_runtime_stays_asleep() {
    let rt = runtime("idle-fresh");
    assert_stays_asleep("idle-fresh", 2);
    drop(rt);
}

#[test]
fn runtime_stays_asleep_after_tasks_finished() {
    let rt = runtime("idle-after");
    let sum = rt.block_on(async {
        let hs: Vec<_> = (0..2000u64)
            .map(|i| {
                ferrio::spawn(async move {
                    ferrio::yield_now().await;
                    i
                })
            })
            .collect();
        let mut s = 0;
        for h in hs {
            s += h.await.unwrap();
        }
        s
    });
    assert_eq!(sum, 1999 * 2000 / 2);
    assert_stays_asleep("idle-after", 2);
    drop(rt);
}

#[test]
fn runtime_stays_asleep_while_a_task_waits_on_a_gate() {
    let rt = runtime("idle-gate");
    let (opener, gate) = support::gate();
    let waiting = rt.spawn(gate);
    // A foreign spawn and a cross-thread wake, too, before going idle.
    assert_eq!(
        rt.block_on(async { ferrio::spawn(async { 1 }).await.unwrap() }),
        1
    );
    assert_stays_asleep("idle-gate", 2);
    assert!(!waiting.is_done());
    // And it still wakes up when the gate opens.
    opener.open();
    assert!(rt
        .block_on(std::future::IntoFuture::into_future(waiting))
        .unwrap());
    drop(rt);
}

/// The current-thread flavour: the thread inside `block_on`, waiting on a gate, sleeps in the reactor.
#[test]
fn current_thread_block_on_stays_asleep_while_waiting() {
    let (opener, gate) = support::gate();
    let driver = std::thread::Builder::new()
        .name("idle-ct".into())
        .spawn(move || {
            let rt = ferrio::Runtime::builder().current_thread().build().unwrap();
            rt.block_on(async move {
                let t = ferrio::spawn(gate);
                t.await.unwrap()
            })
        })
        .unwrap();
    assert_stays_asleep("idle-ct", 1);
    opener.open();
    assert!(driver.join().unwrap());
}

/// A pending timer far in the future arms the timerfd once: the workers still make no wake-ups.
#[test]
fn runtime_stays_asleep_while_a_far_timer_is_pending() {
    let rt = runtime("idle-timer");
    let sleeping = rt.spawn(async {
        ferrio::time::sleep(Duration::from_secs(3600)).await;
    });
    // Make sure the sleep registered before measuring.
    assert!(wait_until(Duration::from_secs(5), || rt
        .handle()
        .pending_timers()
        == 1));
    assert_stays_asleep("idle-timer", 2);
    assert!(!sleeping.is_done());
    // A short timer registered meanwhile still fires: the idle workers are not deaf.
    let fired = rt.block_on(async {
        ferrio::spawn(async {
            ferrio::time::sleep(Duration::from_millis(20)).await;
            true
        })
        .await
        .unwrap()
    });
    assert!(fired);
    assert_eq!(rt.handle().pending_timers(), 1);
    drop(rt);
}
