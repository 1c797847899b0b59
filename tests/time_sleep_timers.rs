//! `ferrio::time::sleep` in the timer wheel: abandoned sleeps leave no timer behind (unpolled, registered,
//! dropped out of order, a million registered and dropped), `reset` to an earlier or a later deadline, after
//! firing and before the first poll, past deadlines ready at once without registering, and deadlines beyond
//! the wheel's span once the wheel has advanced. Timing: `time_sleep.rs`; a sleep and its runtime:
//! `time_sleep_runtime.rs`.

mod support;

use ferrio::time::{sleep, sleep_until, Sleep};
use ferrio::Handle;
use std::future::{Future, IntoFuture};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use support::rng::Rng;
use support::{poll_once, within, Flavors};

const MS: Duration = Duration::from_millis(1);

/// Polls `fut` once with a no-op waker (registering it, for a `Sleep` whose deadline is ahead).
fn poll_noop<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// A `Sleep` dropped before its first poll never registers; one dropped after registering removes its
/// timer at once (checked from `block_on` and from a task, on both flavours).
#[test]
fn dropped_sleeps_leave_no_timer() {
    fn check(where_: &str) {
        let h = Handle::current();
        assert_eq!(h.pending_timers(), 0, "{where_}: timers before the test");

        let unpolled = sleep(Duration::from_secs(10));
        assert_eq!(
            h.pending_timers(),
            0,
            "{where_}: creating a sleep registered it"
        );
        drop(unpolled);
        assert_eq!(h.pending_timers(), 0, "{where_}");

        {
            let mut s = pin!(sleep(Duration::from_secs(10)));
            assert!(poll_noop(s.as_mut()).is_pending());
            assert_eq!(
                h.pending_timers(),
                1,
                "{where_}: the first poll did not register"
            );
            // A second poll refreshes the registration, it does not add one.
            assert!(poll_noop(s.as_mut()).is_pending());
            assert_eq!(
                h.pending_timers(),
                1,
                "{where_}: a second poll registered again"
            );
        }
        assert_eq!(
            h.pending_timers(),
            0,
            "{where_}: dropping a registered sleep left its timer"
        );

        // Several at once, dropped out of order.
        let mut boxed: Vec<std::pin::Pin<Box<Sleep>>> = (1..=5)
            .map(|i| Box::pin(sleep(Duration::from_secs(i))))
            .collect();
        for s in boxed.iter_mut() {
            assert!(poll_noop(s.as_mut()).is_pending());
        }
        assert_eq!(h.pending_timers(), 5, "{where_}");
        boxed.swap(0, 3);
        drop(boxed.remove(2));
        assert_eq!(h.pending_timers(), 4, "{where_}");
        drop(boxed);
        assert_eq!(h.pending_timers(), 0, "{where_}");
    }
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                check(&format!("{flavor:?} block_on"));
                ferrio::spawn(async move { check(&format!("{flavor:?} task")) })
                    .await
                    .unwrap();
            });
        });
    });
}

/// A million sleeps created, polled once (registered) and dropped, in a loop inside one task, leave no
/// timer, on both flavours (a worker's wheel on multi-thread). Deadlines spread over wheel levels 1 to 5;
/// a few sleeps are kept alive meanwhile, so removals also unlink from the middle of slot lists, and
/// `pending_timers` is checked against them every 1000 iterations.
#[test]
fn million_registered_and_dropped_sleeps_leave_no_timers() {
    within(Duration::from_secs(60), || {
        Flavors::each(|flavor, rt| {
            let n: u64 = 1_000_000;
            let task = rt.spawn(async move {
                let h = Handle::current();
                let mut rng = Rng(0x2545_F491_4F6C_DD1D);
                let mut registered = 0u64;
                // Keep a few alive at any time, so removal also unlinks from the middle of slot lists.
                let mut keep: Vec<std::pin::Pin<Box<Sleep>>> = Vec::new();
                for i in 0..n {
                    let checked = i % 1000 == 0;
                    // 2 ms + (0 .. 2^32 us, ~71 min), log-uniform: wheel levels 1 to 5. The ones checked
                    // below get 1 s more, so they cannot fire before the check.
                    let bits = rng.below(33) as u32;
                    let d = Duration::from_micros(rng.next() & ((1u64 << bits) - 1));
                    let offset = if checked {
                        Duration::from_secs(1)
                    } else {
                        2 * MS
                    };
                    let mut s = Box::pin(sleep(d + offset));
                    if poll_noop(s.as_mut()).is_pending() {
                        registered += 1;
                    }
                    if checked {
                        assert_eq!(h.pending_timers(), keep.len() + 1, "at iteration {i}");
                        // Kept ones sleep at least an hour: they cannot fire during the test.
                        let mut long = Box::pin(sleep(d + Duration::from_secs(3600)));
                        assert!(poll_noop(long.as_mut()).is_pending());
                        keep.push(long);
                        if keep.len() > 16 {
                            drop(keep.swap_remove(rng.below(keep.len() as u64) as usize));
                        }
                    }
                    drop(s);
                }
                drop(keep);
                assert_eq!(
                    h.pending_timers(),
                    0,
                    "timers left after dropping every sleep"
                );
                registered
            });
            let registered = rt.block_on(task.into_future()).unwrap();
            // (A 2 ms deadline can pass before its poll on a preempted thread: allow a few.)
            assert!(
                registered > n * 9 / 10,
                "{flavor:?}: only {registered} of {n} sleeps registered"
            );
            assert_eq!(rt.handle().pending_timers(), 0, "{flavor:?}");
        });
    });
}

/// `reset` to an earlier deadline: a registered 10 s sleep completes at the new deadline, not before.
#[test]
fn reset_to_an_earlier_deadline() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                let start = Instant::now();
                let mut s = pin!(sleep(Duration::from_secs(10)));
                assert!(poll_once(&mut s).await.is_pending());
                let new_deadline = Instant::now() + 50 * MS;
                s.as_mut().reset(new_deadline);
                assert_eq!(s.deadline(), new_deadline);
                assert!(!s.is_elapsed());
                s.as_mut().await;
                let now = Instant::now();
                assert!(
                    now >= new_deadline,
                    "{flavor:?}: woke before the new deadline"
                );
                assert!(
                    now - start < Duration::from_secs(2),
                    "{flavor:?}: took {:?}, the old deadline still counts?",
                    now - start
                );
                assert!(s.is_elapsed());
                assert_eq!(Handle::current().pending_timers(), 0, "{flavor:?}");

                // Reset a registered sleep to a past instant: ready on the next poll, timer removed.
                let mut p = pin!(sleep(Duration::from_secs(10)));
                assert!(poll_noop(p.as_mut()).is_pending());
                p.as_mut().reset(Instant::now() - MS);
                assert_eq!(Handle::current().pending_timers(), 0, "{flavor:?}");
                assert!(
                    poll_noop(p.as_mut()).is_ready(),
                    "{flavor:?}: reset to the past"
                );
            });
        });
    });
}

/// `reset` to a later deadline: a registered 20 ms sleep does not fire at its old deadline.
#[test]
fn reset_to_a_later_deadline() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                let start = Instant::now();
                let mut s = pin!(sleep(20 * MS));
                assert!(poll_once(&mut s).await.is_pending());
                let new_deadline = start + 150 * MS;
                s.as_mut().reset(new_deadline);
                assert_eq!(
                    Handle::current().pending_timers(),
                    0,
                    "old timer still linked"
                );
                s.as_mut().await;
                let now = Instant::now();
                assert!(
                    now >= new_deadline,
                    "{flavor:?}: woke {:?} after start, before the new deadline (150 ms)",
                    now - start
                );
                assert!(now - start < Duration::from_secs(2), "{flavor:?}");
            });
        });
    });
}

/// A sleep that has fired is pending again after `reset` to a later deadline, and completes at it; a
/// `reset` of a sleep that has never been polled takes effect too.
#[test]
fn reset_after_firing_and_before_the_first_poll() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                let mut s = pin!(sleep(5 * MS));
                s.as_mut().await;
                assert!(s.is_elapsed());
                let again = Instant::now() + 40 * MS;
                s.as_mut().reset(again);
                assert!(
                    !s.is_elapsed(),
                    "{flavor:?}: still elapsed after a reset ahead"
                );
                assert!(
                    poll_once(&mut s).await.is_pending(),
                    "{flavor:?}: a fired sleep stayed ready after reset"
                );
                s.as_mut().await;
                assert!(Instant::now() >= again, "{flavor:?}");

                // Never polled: reset from 10 s down to 30 ms.
                let mut fresh = pin!(sleep(Duration::from_secs(10)));
                let soon = Instant::now() + 30 * MS;
                fresh.as_mut().reset(soon);
                fresh.as_mut().await;
                let now = Instant::now();
                assert!(
                    now >= soon && now < soon + Duration::from_secs(2),
                    "{flavor:?}"
                );
                assert_eq!(Handle::current().pending_timers(), 0, "{flavor:?}");
            });
        });
    });
}

/// `sleep_until` a past instant (and a zero sleep) is ready on its first poll and registers nothing.
#[test]
fn past_deadline_is_ready_at_once() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                let h = Handle::current();
                let past = Instant::now() - Duration::from_millis(10);
                let mut s = pin!(sleep_until(past));
                assert!(s.is_elapsed());
                assert_eq!(s.deadline(), past);
                assert!(
                    poll_noop(s.as_mut()).is_ready(),
                    "{flavor:?}: past deadline"
                );
                assert_eq!(h.pending_timers(), 0);

                let mut z = pin!(sleep(Duration::ZERO));
                assert!(poll_noop(z.as_mut()).is_ready(), "{flavor:?}: zero sleep");
                let mut now = pin!(sleep_until(Instant::now()));
                assert!(poll_noop(now.as_mut()).is_ready(), "{flavor:?}: now");
                assert_eq!(h.pending_timers(), 0);

                // Awaiting many of them in a row completes without parking.
                let start = Instant::now();
                for _ in 0..1000 {
                    sleep_until(past).await;
                }
                assert!(start.elapsed() < Duration::from_secs(2), "{flavor:?}");
            });
        });
    });
}

/// Sleeps longer than the wheel's span (2^36 us, about 19.1 hours; `Duration::MAX` is clamped to about
/// 30 years) register, stay pending, and are removable, also once the wheel has advanced past tick 0 (any
/// runtime that has fired a timer).
///
/// Regression (fixed) (src/time/wheel.rs, `position`): the clamp `tick.min(elapsed + MAX_SPAN - 1)` still crosses a 2^36
/// boundary whenever `elapsed % 2^36 != 0`, so `elapsed ^ placed` has bit 36 set, `level` is 6 and
/// `self.levels[6]` panics ("index out of bounds: the len is 6 but the index is 6") inside `insert`, under
/// the wheel's mutex, which is then poisoned: every later timer on that wheel panics too. The same
/// happens to a short timer whose tick crosses a multiple of 2^36 us (19.09 h, 38.2 h, ... after the
/// runtime started). Tokio's `level_for` clamps `elapsed ^ when` instead of `when`.
#[test]
fn sleeps_beyond_the_wheel_span_register_after_the_wheel_advanced() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                let h = Handle::current();
                // Fire one timer so every wheel of the runtime has advanced past tick 0.
                sleep(2 * MS).await;
                for d in [
                    Duration::from_secs(20 * 3600),
                    Duration::from_secs(365 * 86_400),
                    Duration::MAX,
                ] {
                    let mut s = pin!(sleep(d));
                    assert!(!s.is_elapsed());
                    assert!(poll_noop(s.as_mut()).is_pending(), "{flavor:?} {d:?}");
                    assert_eq!(h.pending_timers(), 1, "{flavor:?} {d:?}");
                }
                assert_eq!(h.pending_timers(), 0, "{flavor:?}");
                // The wheel still works.
                let start = Instant::now();
                sleep(5 * MS).await;
                assert!(start.elapsed() >= 5 * MS);
            });
        });
    });
}
