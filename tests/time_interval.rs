//! `ferrio::time::interval` / `interval_at`: an immediate first tick, later ticks on the `start + n * period`
//! schedule and never early, the three missed-tick behaviours (`Burst`, `Delay`, `Skip`), the zero-period
//! panic; and `ferrio::time::timed`.

mod support;

use ferrio::time::{interval, interval_at, sleep, timed, Interval, MissedTickBehavior};
use ferrio::Handle;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};
use support::{expect_panic, within, Flavors};

const MS: Duration = Duration::from_millis(1);

/// Polls `poll_tick` once with a no-op waker.
fn poll_tick_now(iv: &mut Interval) -> Poll<Instant> {
    iv.poll_tick(&mut Context::from_waker(Waker::noop()))
}

/// Whole periods between `start` and `t` (panics unless `t` is exactly on the schedule).
fn periods_since(start: Instant, t: Instant, period: Duration) -> u128 {
    let since = t.duration_since(start).as_nanos();
    assert_eq!(
        since % period.as_nanos(),
        0,
        "{:?} after start is off the {period:?} schedule",
        t - start
    );
    since / period.as_nanos()
}

/// The first tick completes at once (returning the start instant); later ticks follow at
/// `start + n * period`, each returned exactly and never completing before it.
#[test]
fn first_tick_immediate_then_spaced_by_the_period() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                let period = 25 * MS;
                let before = Instant::now();
                let mut iv = interval(period);
                assert_eq!(iv.period(), period);
                assert_eq!(iv.missed_tick_behavior(), MissedTickBehavior::Burst);
                // Ready on the first poll, without waiting.
                let first = match poll_tick_now(&mut iv) {
                    Poll::Ready(t) => t,
                    Poll::Pending => panic!("{flavor:?}: the first tick was not immediate"),
                };
                let after = Instant::now();
                assert!(
                    first >= before && first <= after,
                    "{flavor:?}: first tick {first:?}"
                );
                let start = first;
                for n in 1..=6u32 {
                    let scheduled = iv.tick().await;
                    let now = Instant::now();
                    assert_eq!(scheduled, start + period * n, "{flavor:?}: tick {n}");
                    assert!(
                        now >= start + period * n,
                        "{flavor:?}: tick {n} completed {:?} early",
                        start + period * n - now
                    );
                }
                let total = start.elapsed();
                assert!(total >= 6 * period, "{flavor:?}");
                assert!(total < Duration::from_secs(3), "{flavor:?}: {total:?}");
            });
        });
    });
}

/// `interval_at` a future start: the first tick waits for it.
#[test]
fn interval_at_a_later_start_waits_for_it() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                let start = Instant::now() + 40 * MS;
                let mut iv = interval_at(start, 10 * MS);
                assert!(poll_tick_now(&mut iv).is_pending(), "{flavor:?}");
                assert_eq!(iv.tick().await, start);
                assert!(Instant::now() >= start, "{flavor:?}: first tick early");
                assert_eq!(iv.tick().await, start + 10 * MS);
                assert!(Instant::now() >= start + 10 * MS, "{flavor:?}");
            });
        });
    });
}

/// `Burst` (the default): after the task was blocked for several periods, every missed tick is returned
/// back to back (each ready on its first poll, with its original scheduled instant), then the original
/// schedule resumes.
#[test]
fn burst_catches_up_missed_ticks_back_to_back() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                let period = 20 * MS;
                let mut iv = interval(period);
                let start = iv.tick().await;
                // Busy for 5.5 periods: ticks 1..=5 are missed.
                thread::sleep(110 * MS);
                let mut caught_up = Vec::new();
                while let Poll::Ready(t) = poll_tick_now(&mut iv) {
                    caught_up.push(t);
                    assert!(caught_up.len() < 1000, "{flavor:?}: burst never ends");
                }
                let after_burst = Instant::now();
                assert!(
                    caught_up.len() >= 5,
                    "{flavor:?}: only {} missed ticks were returned back to back",
                    caught_up.len()
                );
                for (i, t) in caught_up.iter().enumerate() {
                    assert_eq!(
                        periods_since(start, *t, period),
                        i as u128 + 1,
                        "{flavor:?}: burst tick {i} is not the next on the schedule"
                    );
                    assert!(
                        *t <= after_burst,
                        "{flavor:?}: a burst tick from the future"
                    );
                }
                // Then the original schedule goes on, never early.
                let n = caught_up.len() as u32 + 1;
                let next = iv.tick().await;
                assert_eq!(next, start + period * n, "{flavor:?}");
                assert!(Instant::now() >= next, "{flavor:?}");
            });
        });
    });
}

/// `Delay`: a late tick fires once, and the schedule restarts a full period after it (no catch-up, the
/// original phase is lost).
#[test]
fn delay_restarts_from_the_late_tick() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                let period = 20 * MS;
                let mut iv = interval(period);
                iv.set_missed_tick_behavior(MissedTickBehavior::Delay);
                assert_eq!(iv.missed_tick_behavior(), MissedTickBehavior::Delay);
                let start = iv.tick().await;
                thread::sleep(70 * MS); // 3.5 periods
                let late_poll = Instant::now();
                let late = match poll_tick_now(&mut iv) {
                    Poll::Ready(t) => t,
                    Poll::Pending => panic!("{flavor:?}: the late tick was not ready"),
                };
                assert_eq!(late, start + period, "{flavor:?}: the late tick's scheduled instant");
                // No burst: the next tick is not ready now.
                assert!(
                    poll_tick_now(&mut iv).is_pending(),
                    "{flavor:?}: Delay fired a missed tick back to back"
                );
                let next = iv.tick().await;
                let now = Instant::now();
                assert!(
                    next >= late_poll + period,
                    "{flavor:?}: next tick {:?} after start, less than a period after the late one ({:?})",
                    next - start,
                    late_poll - start
                );
                assert!(next < late_poll + period + Duration::from_secs(1), "{flavor:?}");
                assert!(now >= next, "{flavor:?}: tick completed early");
                // The following one is a period later again.
                let after = iv.tick().await;
                assert_eq!(after, next + period, "{flavor:?}");
            });
        });
    });
}

/// `Skip`: a late tick fires once, the missed ticks are dropped, and the schedule keeps its phase (the next
/// tick is the first `start + n * period` after the late one).
#[test]
fn skip_keeps_the_phase() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                let period = 20 * MS;
                let mut iv = interval(period);
                iv.set_missed_tick_behavior(MissedTickBehavior::Skip);
                let start = iv.tick().await;
                thread::sleep(70 * MS); // 3.5 periods
                let before_late = Instant::now();
                let late = match poll_tick_now(&mut iv) {
                    Poll::Ready(t) => t,
                    Poll::Pending => panic!("{flavor:?}: the late tick was not ready"),
                };
                let after_late = Instant::now();
                assert_eq!(late, start + period, "{flavor:?}");
                assert!(
                    poll_tick_now(&mut iv).is_pending(),
                    "{flavor:?}: Skip fired a missed tick back to back"
                );
                let next = iv.tick().await;
                assert!(Instant::now() >= next, "{flavor:?}: tick completed early");
                let n = periods_since(start, next, period); // asserts the phase
                assert!(
                    next > before_late && next <= after_late + period,
                    "{flavor:?}: next tick at period {n} ({:?} after start) is not the first on the schedule \
                     after the late tick ({:?} after start)",
                    next - start,
                    before_late - start
                );
                assert!(n >= 4, "{flavor:?}: a missed tick ({n}) was not skipped");
                let after = iv.tick().await;
                assert_eq!(after, next + period, "{flavor:?}");
            });
        });
    });
}

/// A zero period panics with a message saying so (`interval` and `interval_at`).
#[test]
fn zero_period_panics() {
    let rt = support::Flavor::CurrentThread.build();
    rt.block_on(async {
        let msg = expect_panic(|| interval(Duration::ZERO));
        assert!(msg.contains("period must be greater than zero"), "{msg}");
        let msg = expect_panic(|| interval_at(Instant::now(), Duration::ZERO));
        assert!(msg.contains("period must be greater than zero"), "{msg}");
    });
}

/// Dropping an interval removes its timer.
#[test]
fn dropped_interval_leaves_no_timer() {
    Flavors::each(|flavor, rt| {
        rt.block_on(async {
            let h = Handle::current();
            let mut iv = interval(Duration::from_secs(10));
            assert!(poll_tick_now(&mut iv).is_ready());
            assert!(poll_tick_now(&mut iv).is_pending());
            assert_eq!(h.pending_timers(), 1, "{flavor:?}");
            drop(iv);
            assert_eq!(h.pending_timers(), 0, "{flavor:?}");
        });
    });
}

/// `timed` resolves to the output and a duration at least as long as the sleeps inside (and, generously,
/// not much longer); it times from the first poll, not from creation; and it needs no runtime.
#[test]
fn timed_returns_output_and_elapsed() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                let ((), d) = timed(sleep(30 * MS)).await;
                assert!(d >= 30 * MS, "{flavor:?}: {d:?}");
                assert!(d < Duration::from_secs(2), "{flavor:?}: {d:?}");

                let (v, d) = timed(async {
                    sleep(10 * MS).await;
                    sleep(20 * MS).await;
                    "two sleeps"
                })
                .await;
                assert_eq!(v, "two sleeps");
                assert!(d >= 30 * MS, "{flavor:?}: {d:?} for 10 + 20 ms of sleeps");

                // Timed from the first poll: time before it does not count.
                let t = timed(async { 1 });
                thread::sleep(50 * MS);
                let (v, d) = t.await;
                assert_eq!(v, 1);
                assert!(
                    d < 50 * MS,
                    "{flavor:?}: counted time before the first poll: {d:?}"
                );

                // Around a task.
                let task = ferrio::spawn(async {
                    sleep(25 * MS).await;
                    4
                });
                let (r, d) = timed(task).await;
                assert_eq!(r.unwrap(), 4);
                // (No lower bound: on multi-thread the task may start sleeping before `timed`'s first poll.)
                assert!(d < Duration::from_secs(2), "{flavor:?}: {d:?}");
            });
        });
    });
    // No runtime needed for `timed` itself.
    let (v, d) = futures_lite::future::block_on(timed(async { 3 }));
    assert_eq!(v, 3);
    assert!(d < Duration::from_secs(1));
}
