//! `ferrio::time::timeout` / `timeout_at` (asyncio's `wait_for`): `Ok` in time, `Err(Elapsed)` late, the
//! abandoned task is cancelled, `shield` lets it run on, the seed chapter's `wait_for` listing, ready
//! futures with a zero timeout, nesting, absolute deadlines, and the panic outside a runtime.

mod support;

use ferrio::time::{sleep, timeout, timeout_at, Elapsed};
use ferrio::Handle;
use std::future::{pending, ready, Future, IntoFuture};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use support::{eventually, expect_panic, within, DropCounter, Flavor, Flavors, Log};

const MS: Duration = Duration::from_millis(1);

/// A future that finishes in time gives `Ok(output)`, with no timer left behind.
#[test]
fn ok_when_in_time() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                let start = Instant::now();
                let r = timeout(Duration::from_secs(5), async {
                    sleep(20 * MS).await;
                    42
                })
                .await;
                assert_eq!(r, Ok(42), "{flavor:?}");
                let took = start.elapsed();
                assert!(took >= 20 * MS, "{flavor:?}: {took:?}");
                assert!(
                    took < Duration::from_secs(2),
                    "{flavor:?}: waited for the timeout? {took:?}"
                );
                assert_eq!(Handle::current().pending_timers(), 0, "{flavor:?}");
            });
        });
    });
}

/// A late future gives `Err(Elapsed)` after (not before) the timeout; its future is dropped; `Elapsed`
/// displays "deadline has elapsed" and is a `std::error::Error`.
#[test]
fn err_elapsed_when_late() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            let drops = DropCounter::new();
            rt.block_on(async {
                let guard = drops.guard();
                let start = Instant::now();
                let r = timeout(50 * MS, async move {
                    let _guard = guard;
                    sleep(Duration::from_secs(10)).await;
                    1
                })
                .await;
                let took = start.elapsed();
                let err = r.unwrap_err();
                assert!(
                    took >= 50 * MS,
                    "{flavor:?}: timed out early, after {took:?}"
                );
                assert!(took < Duration::from_secs(2), "{flavor:?}: {took:?}");
                assert_eq!(err.to_string(), "deadline has elapsed");
                let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
                assert_eq!(boxed.to_string(), "deadline has elapsed");
                assert!(format!("{err:?}").contains("Elapsed"));
                assert_eq!(
                    drops.dropped(),
                    1,
                    "{flavor:?}: the abandoned future was not dropped"
                );
                assert_eq!(
                    Handle::current().pending_timers(),
                    0,
                    "{flavor:?}: the inner sleep or the timeout's own timer is still registered"
                );
            });
        });
    });
}

/// `timeout(d, &mut task)` cancels the task it abandons (`wait_for`): right after `Err(Elapsed)` the task
/// is cancelled, its future is then dropped (drop guard), and awaiting it gives a cancellation error.
#[test]
fn timeout_cancels_the_abandoned_task() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            let drops = DropCounter::new();
            let finished = DropCounter::new(); // counts "finished sleeping" as a drop of a guard
            rt.block_on(async {
                let guard = drops.guard();
                let done = finished.clone();
                let mut task = ferrio::spawn(async move {
                    let _guard = guard;
                    sleep(Duration::from_secs(10)).await;
                    drop(done.guard());
                    5
                });
                let start = Instant::now();
                let r = timeout(50 * MS, &mut task).await;
                assert!(r.is_err(), "{flavor:?}: {r:?}");
                assert!(start.elapsed() >= 50 * MS, "{flavor:?}");
                assert!(
                    task.is_cancelled(),
                    "{flavor:?}: the task abandoned by the timeout was not cancelled"
                );
                eventually("cancelled task done", || task.is_done()).await;
                assert_eq!(
                    drops.dropped(),
                    1,
                    "{flavor:?}: the task's future was not dropped"
                );
                let err = (&mut task).await.unwrap_err();
                assert!(err.is_cancelled(), "{flavor:?}: {err:?}");
                assert!(start.elapsed() < Duration::from_secs(5), "{flavor:?}");
            });
            assert_eq!(
                finished.created(),
                0,
                "{flavor:?}: the task ran to completion"
            );
        });
    });
}

/// A task that finishes in time through `timeout(d, &mut task)` is not cancelled and keeps its value.
#[test]
fn timeout_of_a_task_in_time_gives_its_value() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                let mut task = ferrio::spawn(async {
                    sleep(10 * MS).await;
                    9
                });
                let r = timeout(Duration::from_secs(5), &mut task).await;
                assert_eq!(r.map(|r| r.ok()), Ok(Some(9)), "{flavor:?}");
                assert!(task.is_done() && !task.is_cancelled(), "{flavor:?}");
            });
        });
    });
}

/// `timeout(d, shield(&mut task))`: the timeout gives up, the task runs on (not cancelled, not done), and
/// awaiting it afterwards gives its value; its future is dropped once, when it completes.
#[test]
fn shield_under_timeout_keeps_the_task_running() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            let drops = DropCounter::new();
            rt.block_on(async {
                let guard = drops.guard();
                let mut task = ferrio::spawn(async move {
                    let _guard = guard;
                    sleep(150 * MS).await;
                    7
                });
                let start = Instant::now();
                let r = timeout(30 * MS, ferrio::shield(&mut task)).await;
                assert!(r.is_err(), "{flavor:?}: {r:?}");
                assert!(
                    !task.is_cancelled(),
                    "{flavor:?}: shield did not protect the task"
                );
                assert!(!task.is_done(), "{flavor:?}");
                assert_eq!(drops.dropped(), 0, "{flavor:?}");
                // A second shielded timeout, also too short, changes nothing.
                let r = timeout(20 * MS, ferrio::shield(&mut task)).await;
                assert!(r.is_err() && !task.is_cancelled(), "{flavor:?}");
                let v = task.await.expect("shielded task should finish");
                assert_eq!(v, 7);
                assert!(start.elapsed() >= 150 * MS, "{flavor:?}");
                assert_eq!(drops.dropped(), 1, "{flavor:?}");
            });
        });
    });
}

/// The seed chapter's `wait_for` listing, times scaled by 1/10 (delay(2) with timeout=1 becomes a 200 ms
/// delay with a 100 ms timeout), on the current-thread flavour:
///
/// ```python
/// delay_task = asyncio.create_task(delay(2))
/// try:
///     result = await asyncio.wait_for(delay_task, timeout=1)
///     print(result)
/// except asyncio.exceptions.TimeoutError:
///     print('Got a timeout!')
///     print(f'Was the task cancelled? {delay_task.cancelled()}')
/// ```
///
/// prints "sleeping for 2 second(s)", "Got a timeout!", "Was the task cancelled? True", and nothing more
/// (the delay never finishes).
#[test]
fn seed_chapter_wait_for_listing() {
    async fn delay(log: Log, ms: u64) -> u64 {
        log.push(format!("sleeping for {ms} ms"));
        sleep(Duration::from_millis(ms)).await;
        log.push(format!("finished sleeping for {ms} ms"));
        ms
    }

    within(Duration::from_secs(10), || {
        let rt = Flavor::CurrentThread.build();
        let log = Log::new();
        let l = log.clone();
        let start = Instant::now();
        let cancelled = rt.block_on(async move {
            let mut delay_task = ferrio::spawn(delay(l.clone(), 200));
            match timeout(100 * MS, &mut delay_task).await {
                Ok(result) => l.push(format!("{}", result.unwrap())),
                Err(_) => {
                    l.push("Got a timeout!");
                    l.push(format!(
                        "Was the task cancelled? {}",
                        if delay_task.is_cancelled() {
                            "True"
                        } else {
                            "False"
                        }
                    ));
                }
            }
            let cancelled = delay_task.is_cancelled();
            // Past the delay's own deadline: it must not have finished in the background.
            sleep(200 * MS).await;
            assert!(delay_task.is_done());
            cancelled
        });
        let took = start.elapsed();
        assert!(cancelled);
        assert_eq!(
            log.events(),
            [
                "sleeping for 200 ms",
                "Got a timeout!",
                "Was the task cancelled? True"
            ]
        );
        assert!(
            took >= 300 * MS && took < Duration::from_secs(3),
            "{took:?}"
        );
    });
}

/// A future that is ready on its first poll gives `Ok` even with a zero timeout or a past deadline (the
/// future is polled before the timer); a pending one with a zero timeout gives `Err` at once.
#[test]
fn ready_future_with_zero_timeout_is_ok() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                assert_eq!(timeout(Duration::ZERO, ready(5)).await, Ok(5), "{flavor:?}");
                assert_eq!(
                    timeout(Duration::ZERO, async { 6 }).await,
                    Ok(6),
                    "{flavor:?}"
                );
                let past = Instant::now() - Duration::from_secs(1);
                assert_eq!(timeout_at(past, ready(7)).await, Ok(7), "{flavor:?}");

                // A finished task, through a zero timeout.
                let mut task = ferrio::spawn(async { 8 });
                support::eventually("task done", || task.is_done()).await;
                let r = timeout(Duration::ZERO, &mut task).await;
                assert_eq!(r.map(Result::ok), Ok(Some(8)), "{flavor:?}");

                let start = Instant::now();
                let r = timeout(Duration::ZERO, pending::<()>()).await;
                assert!(r.is_err(), "{flavor:?}");
                assert!(start.elapsed() < Duration::from_secs(1), "{flavor:?}");
                assert_eq!(Handle::current().pending_timers(), 0, "{flavor:?}");
            });
        });
    });
}

/// Nested timeouts: the shorter one wins, whichever level it is at.
#[test]
fn nested_timeouts() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                // Inner shorter: the outer gets the inner's Err as its Ok value.
                let start = Instant::now();
                let r = timeout(
                    Duration::from_secs(5),
                    timeout(40 * MS, sleep(Duration::from_secs(10))),
                )
                .await;
                assert!(matches!(r, Ok(Err(Elapsed { .. }))), "{flavor:?}: {r:?}");
                let took = start.elapsed();
                assert!(
                    took >= 40 * MS && took < Duration::from_secs(2),
                    "{flavor:?}: {took:?}"
                );

                // Outer shorter.
                let start = Instant::now();
                let r = timeout(
                    40 * MS,
                    timeout(Duration::from_secs(5), sleep(Duration::from_secs(10))),
                )
                .await;
                assert!(r.is_err(), "{flavor:?}: {r:?}");
                let took = start.elapsed();
                assert!(
                    took >= 40 * MS && took < Duration::from_secs(2),
                    "{flavor:?}: {took:?}"
                );

                // Both in time.
                let r = timeout(
                    Duration::from_secs(5),
                    timeout(Duration::from_secs(4), async {
                        sleep(10 * MS).await;
                        3
                    }),
                )
                .await;
                assert_eq!(r, Ok(Ok(3)), "{flavor:?}");

                // Three levels, the middle one shortest.
                let start = Instant::now();
                let r = timeout(
                    Duration::from_secs(5),
                    timeout(
                        30 * MS,
                        timeout(Duration::from_secs(4), sleep(Duration::from_secs(10))),
                    ),
                )
                .await;
                assert!(matches!(r, Ok(Err(_))), "{flavor:?}: {r:?}");
                assert!(start.elapsed() >= 30 * MS, "{flavor:?}");
                assert_eq!(Handle::current().pending_timers(), 0, "{flavor:?}");
            });
        });
    });
}

/// `timeout_at`: an absolute deadline, reported by `deadline()`, never expiring early.
#[test]
fn timeout_at_absolute_deadline() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                let deadline = Instant::now() + 60 * MS;
                let t = timeout_at(deadline, sleep(Duration::from_secs(10)));
                assert_eq!(t.deadline(), deadline);
                let r = t.await;
                let now = Instant::now();
                assert!(r.is_err(), "{flavor:?}");
                assert!(now >= deadline, "{flavor:?}: expired before its deadline");
                assert!(now < deadline + Duration::from_secs(2), "{flavor:?}");

                let deadline = Instant::now() + Duration::from_secs(5);
                let r = timeout_at(deadline, async {
                    sleep(10 * MS).await;
                    "in time"
                })
                .await;
                assert_eq!(r, Ok("in time"), "{flavor:?}");

                // `timeout(d, ..)` sets its deadline at creation.
                let before = Instant::now();
                let t = timeout(100 * MS, ready(()));
                assert!(t.deadline() >= before + 100 * MS);
                assert!(t.deadline() <= Instant::now() + 100 * MS);
            });
        });
    });
}

/// The timeout's timer is registered only once it is polled, and removed when the `Timeout` is dropped
/// unfinished.
#[test]
fn dropped_timeout_leaves_no_timer() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                let h = Handle::current();
                {
                    let mut t = pin!(timeout(Duration::from_secs(10), pending::<()>()));
                    assert_eq!(h.pending_timers(), 0, "{flavor:?}");
                    let poll = t.as_mut().poll(&mut Context::from_waker(Waker::noop()));
                    assert!(poll.is_pending(), "{flavor:?}");
                    assert_eq!(h.pending_timers(), 1, "{flavor:?}");
                }
                assert_eq!(h.pending_timers(), 0, "{flavor:?}");
                let poll: Poll<_> = pin!(timeout(Duration::from_secs(10), ready(1)))
                    .poll(&mut Context::from_waker(Waker::noop()));
                assert_eq!(poll, Poll::Ready(Ok(1)));
                assert_eq!(h.pending_timers(), 0, "{flavor:?}");
            });
        });
    });
}

/// Creating a timeout outside a runtime panics with a message saying so.
#[test]
fn timeout_outside_a_runtime_panics() {
    let msg = expect_panic(|| timeout(MS, ready(())));
    assert!(msg.contains("outside a runtime"), "{msg}");
    let msg = expect_panic(|| timeout_at(Instant::now(), ready(())));
    assert!(msg.contains("outside a runtime"), "{msg}");
}

/// Timeouts work with any `IntoFuture`, and `get_ref` exposes the wrapped future.
#[test]
fn timeout_takes_into_future_and_exposes_it() {
    struct Later(u32);
    impl IntoFuture for Later {
        type Output = u32;
        type IntoFuture = std::future::Ready<u32>;
        fn into_future(self) -> Self::IntoFuture {
            ready(self.0 * 2)
        }
    }
    let rt = Flavor::CurrentThread.build();
    rt.block_on(async {
        let t = timeout(Duration::from_secs(1), Later(21));
        assert!(format!("{t:?}").contains("Timeout"));
        let _: &std::future::Ready<u32> = t.get_ref();
        assert_eq!(t.await, Ok(42));
    });
}
