//! A `ferrio::time::sleep` and its runtime: `Sleep` is `Send + Sync` and can be awaited in another task, the
//! panic outside a runtime, a sleep that outlives its runtime (unpolled: panics when polled; registered: never
//! waits forever), and a sleep awaited away from its runtime (a plain thread, another runtime) fired by its
//! own runtime. Timing: `time_sleep.rs`; the timer bookkeeping: `time_sleep_timers.rs`.

mod support;

use ferrio::time::{sleep, sleep_until, Sleep};
use std::future::Future;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};
use support::{expect_panic, within, Flavor, Flavors};

const MS: Duration = Duration::from_millis(1);

/// Polls `fut` once with a no-op waker (registering it, for a `Sleep` whose deadline is ahead).
fn poll_noop<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// `Sleep` is `Send + Sync` (checked at compile time), and can be created on one worker and awaited after
/// moving to another task.
#[test]
fn sleep_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Sleep>();
    fn assert_send<T: Send>(_: &T) {}

    within(Duration::from_secs(10), || {
        let rt = Flavor::MultiThread.build();
        rt.block_on(async {
            let s = sleep(20 * MS);
            assert_send(&s);
            let start = Instant::now();
            ferrio::spawn(s).await.unwrap();
            assert!(start.elapsed() >= 20 * MS);
        });
    });
}

/// Creating a sleep outside a runtime panics with a message saying so.
#[test]
fn sleep_outside_a_runtime_panics() {
    let msg = expect_panic(|| sleep(MS));
    assert!(msg.contains("outside a runtime"), "{msg}");
    let msg = expect_panic(|| sleep_until(Instant::now()));
    assert!(msg.contains("outside a runtime"), "{msg}");

    // On a plain thread next to a running runtime, too.
    let rt = Flavor::MultiThread.build();
    let _ = rt.handle();
    let msg = thread::spawn(|| expect_panic(|| sleep(MS))).join().unwrap();
    assert!(msg.contains("outside a runtime"), "{msg}");
}

/// Runs `f` inside `rt` and returns what it built (a `Sleep`, say), without `block_on` yielding a future.
fn build_in<T>(rt: &ferrio::Runtime, f: impl FnOnce() -> T) -> T {
    let mut out = None;
    rt.block_on(async { out = Some(f()) });
    out.unwrap()
}

/// An unpolled sleep that outlives its runtime panics when polled ("shut down": it would never fire), and
/// dropping sleeps after their runtime is gone, registered or not, is fine.
#[test]
fn sleep_outliving_its_runtime() {
    Flavors::each(|flavor, rt| {
        let registered = build_in(&rt, || {
            let mut s = Box::pin(sleep(Duration::from_secs(10)));
            assert!(poll_noop(s.as_mut()).is_pending());
            s
        });
        let mut unpolled = build_in(&rt, || Box::pin(sleep(Duration::from_secs(10))));
        drop(rt);
        let msg = expect_panic(|| poll_noop(unpolled.as_mut()));
        assert!(msg.contains("shut down"), "{flavor:?}: {msg}");
        // The registered one is still linked in its wheel (kept alive by the sleep); dropping it unlinks it.
        drop(registered);
        drop(unpolled);
    });
}

/// A sleep registered before its runtime shut down and polled afterwards (here: well past its deadline)
/// must not wait forever: the driver documents that "later polls of its timers panic instead of waiting
/// forever" (src/time/driver.rs, `TimeDriver::shutdown`). Either a panic saying "shut down" or `Ready` is
/// accepted; `Pending` is the bug.
///
/// Regression (fixed) (src/time/sleep.rs, `Sleep::poll`): the `is_shutdown()` check is only on the unregistered path; a
/// `REGISTERED` entry goes through `update_waker`, which returns true, so `poll` returns `Pending` forever
/// (nobody advances the wheel any more) even though the deadline has passed.
#[test]
fn registered_sleep_polled_after_shutdown_does_not_wait_forever() {
    Flavors::each(|flavor, rt| {
        let mut registered = build_in(&rt, || {
            let mut s = Box::pin(sleep(20 * MS));
            assert!(poll_noop(s.as_mut()).is_pending());
            s
        });
        drop(rt);
        thread::sleep(60 * MS);
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            poll_noop(registered.as_mut())
        })) {
            Ok(Poll::Ready(())) => {}
            Ok(Poll::Pending) => panic!(
                "{flavor:?}: a registered sleep polled after its runtime shut down (40 ms past its \
                 deadline) is Pending and will never fire"
            ),
            Err(payload) => {
                let msg = support::panic_message(&*payload);
                assert!(msg.contains("shut down"), "{flavor:?}: {msg}");
            }
        }
    });
}

/// A sleep belongs to the runtime that created it: awaited on a plain thread (`futures_lite::block_on`),
/// or inside another runtime, it is fired by its own (multi-thread) runtime's workers, on time.
#[test]
fn sleep_awaited_away_from_its_runtime_fires() {
    within(Duration::from_secs(10), || {
        let rt = Flavor::MultiThread.build();
        let s = build_in(&rt, || sleep(40 * MS));
        let deadline = s.deadline();
        let woke = thread::spawn(move || {
            futures_lite::future::block_on(s);
            Instant::now()
        })
        .join()
        .unwrap();
        assert!(woke >= deadline, "plain thread: woke early");
        assert!(
            woke < deadline + Duration::from_secs(1),
            "plain thread: late"
        );

        let other = Flavor::CurrentThread.build();
        let s = build_in(&rt, || sleep(40 * MS));
        let deadline = s.deadline();
        let woke = other.block_on(async move {
            s.await;
            Instant::now()
        });
        assert!(woke >= deadline, "other runtime: woke early");
        assert!(
            woke < deadline + Duration::from_secs(1),
            "other runtime: late"
        );
        assert_eq!(rt.handle().pending_timers(), 0);
        assert_eq!(other.handle().pending_timers(), 0);
    });
}
