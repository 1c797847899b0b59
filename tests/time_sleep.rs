//! `ferrio::time::sleep`: never early (short sleeps, a long one, 100,000 concurrent ones), abandoned sleeps
//! leave no timer behind, `reset`, past deadlines, a worker blocked in a long poll does not hold up the timers
//! it registered, `Send + Sync`, the panic outside a runtime, and a current-thread loop woken by its timer
//! alone.

mod support;

use ferrio::time::{sleep, sleep_until, Sleep};
use ferrio::Handle;
use std::future::{Future, IntoFuture};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};
use support::{expect_panic, poll_once, within, Flavor, Flavors};

const MS: Duration = Duration::from_millis(1);

/// A small xorshift generator: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Polls `fut` once with a no-op waker (registering it, for a `Sleep` whose deadline is ahead).
fn poll_noop<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// The durations of the "never early" runs: 50 us .. 20 ms, with how many times each is slept.
const SHORT_SLEEPS: [(Duration, usize); 9] = [
    (Duration::from_micros(50), 30),
    (Duration::from_micros(100), 30),
    (Duration::from_micros(200), 25),
    (Duration::from_micros(500), 20),
    (Duration::from_millis(1), 15),
    (Duration::from_millis(2), 10),
    (Duration::from_millis(5), 6),
    (Duration::from_millis(10), 4),
    (Duration::from_millis(20), 3),
];

/// Sleeps every duration of `SHORT_SLEEPS` in sequence; returns each (requested, measured).
async fn sleep_sequence() -> Vec<(Duration, Duration)> {
    let mut out = Vec::new();
    for (d, n) in SHORT_SLEEPS {
        for _ in 0..n {
            let start = Instant::now();
            sleep(d).await;
            out.push((d, start.elapsed()));
        }
    }
    out
}

/// Short sleeps (50 us .. 20 ms) never complete early, on both flavours, whether the sleep is polled from
/// `block_on` (the runtime's "other threads" wheel) or from a task (a worker's wheel), with both running
/// concurrently. 147 sleeps per sequence, two sequences per flavour: 588 in all.
#[test]
fn short_sleeps_never_complete_early() {
    within(Duration::from_secs(30), || {
        Flavors::each(|flavor, rt| {
            let (from_block_on, from_task) = rt.block_on(async {
                let task = ferrio::spawn(sleep_sequence());
                let here = sleep_sequence().await;
                (here, task.await.expect("sleeping task failed"))
            });
            let per_sequence: usize = SHORT_SLEEPS.iter().map(|(_, n)| n).sum();
            for (who, results) in [("block_on", from_block_on), ("task", from_task)] {
                assert_eq!(results.len(), per_sequence);
                for (requested, measured) in results {
                    assert!(
                        measured >= requested,
                        "{flavor:?}/{who}: a sleep of {requested:?} completed after only {measured:?}"
                    );
                }
            }
            assert_eq!(rt.handle().pending_timers(), 0, "{flavor:?}");
        });
    });
}

/// A 100 ms sleep takes at least 100 ms and (generously) less than a second, on both flavours.
#[test]
fn hundred_ms_sleep_takes_at_least_100ms_and_under_1s() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            let took = rt.block_on(async {
                let start = Instant::now();
                sleep(100 * MS).await;
                start.elapsed()
            });
            assert!(took >= 100 * MS, "{flavor:?}: woke after {took:?}");
            assert!(took < Duration::from_secs(1), "{flavor:?}: took {took:?}");
        });
    });
}

/// 100,000 sleeps with random deadlines (0 .. 200 ms from their spawn), one per task on the 2-worker
/// multi-thread runtime: every one fires, none before its deadline, and no timer is left registered.
#[test]
fn hundred_thousand_concurrent_sleeps_all_fire_never_early() {
    const N: usize = 100_000;
    within(Duration::from_secs(60), || {
        let rt = Flavor::MultiThread.build();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let tasks: Vec<_> = (0..N)
            .map(|_| {
                let deadline = Instant::now() + Duration::from_micros(rng.below(200_000));
                rt.spawn(async move {
                    sleep_until(deadline).await;
                    (deadline, Instant::now())
                })
            })
            .collect();
        let results: Vec<(Instant, Instant)> = rt.block_on(async move {
            let mut results = Vec::with_capacity(N);
            for t in tasks {
                results.push(t.await.expect("sleeping task failed"));
            }
            results
        });
        assert_eq!(results.len(), N);
        let early: Vec<_> = results
            .iter()
            .enumerate()
            .filter(|(_, (deadline, woke))| woke < deadline)
            .map(|(i, (deadline, woke))| (i, deadline.duration_since(*woke)))
            .collect();
        assert!(
            early.is_empty(),
            "{} of {N} sleeps completed early (task index, how early), first ones: {:?}",
            early.len(),
            &early[..early.len().min(10)]
        );
        let latest = results
            .iter()
            .map(|(deadline, woke)| woke.duration_since(*deadline))
            .max()
            .unwrap();
        assert!(
            latest < Duration::from_secs(10),
            "a sleep fired {latest:?} after its deadline"
        );
        assert_eq!(rt.handle().pending_timers(), 0);
    });
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

/// Timers still fire while every worker (or the current-thread loop) is kept busy by tasks that yield in a
/// loop: busy workers check the deadline themselves (nobody is parked in the reactor to see the timerfd).
#[test]
fn timers_fire_while_every_worker_is_busy() {
    within(Duration::from_secs(20), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                let stop = Arc::new(AtomicBool::new(false));
                let spinners: Vec<_> = (0..2)
                    .map(|_| {
                        let stop = stop.clone();
                        ferrio::spawn(async move {
                            let start = Instant::now();
                            while !stop.load(SeqCst) && start.elapsed() < Duration::from_secs(3) {
                                ferrio::yield_now().await;
                            }
                        })
                    })
                    .collect();
                // Let the spinners occupy the workers first.
                thread::sleep(10 * MS);
                let sleeper = ferrio::spawn(async {
                    let start = Instant::now();
                    sleep(30 * MS).await;
                    start.elapsed()
                });
                let woke = sleeper.await.unwrap();
                stop.store(true, SeqCst);
                for s in spinners {
                    s.await.unwrap();
                }
                assert!(woke >= 30 * MS, "{flavor:?}: early, {woke:?}");
                assert!(
                    woke < Duration::from_millis(1500),
                    "{flavor:?}: a 30 ms sleep took {woke:?} while the workers were busy"
                );
            });
        });
    });
}

/// A task sleeps on worker A (its timer is in A's wheel); another task then blocks A's thread for 300 ms
/// (`std::thread::sleep` inside a poll). The 50 ms sleep still fires on time, fired and run by worker B.
///
/// Arrangement: the sleeper registers its sleep (one poll), then spawns the blocker from inside its own
/// poll, so the blocker goes into A's LIFO slot and A runs it as soon as the sleeper returns `Pending`.
/// Which thread ran what is recorded; an attempt where the blocker landed elsewhere is retried. Two
/// variants: the sleeper was started from the injection queue, or it was just resumed by a timer (so A is
/// the worker that left the reactor to fire it, and B must have taken the reactor over).
#[test]
fn sleep_fires_while_the_registering_worker_is_blocked() {
    within(Duration::from_secs(30), || {
        let rt = Flavor::MultiThread.build();
        for after_a_timer in [false, true] {
            let mut arranged = 0;
            for attempt in 0..6 {
                let (registered_on, resumed_on, woke_after, blocker_on) = rt.block_on(async {
                    let sleeper = ferrio::spawn(async move {
                        if after_a_timer {
                            sleep(10 * MS).await;
                        }
                        let registered_on = thread::current().id();
                        let start = Instant::now();
                        let mut s = pin!(sleep(50 * MS));
                        assert!(poll_once(&mut s).await.is_pending());
                        let blocker = ferrio::spawn(async {
                            let on = thread::current().id();
                            thread::sleep(300 * MS);
                            on
                        });
                        s.as_mut().await;
                        let woke_after = start.elapsed();
                        (registered_on, thread::current().id(), woke_after, blocker)
                    });
                    let (registered_on, resumed_on, woke_after, blocker) =
                        sleeper.await.expect("sleeper failed");
                    let blocker_on = blocker.await.expect("blocker failed");
                    (registered_on, resumed_on, woke_after, blocker_on)
                });
                let what = format!("after_a_timer={after_a_timer}, attempt {attempt}");
                assert!(woke_after >= 50 * MS, "{what}: woke early ({woke_after:?})");
                if blocker_on != registered_on {
                    // The blocker ran on the other worker: not the situation under test.
                    continue;
                }
                arranged += 1;
                assert_ne!(
                    resumed_on, registered_on,
                    "{what}: the sleeper resumed on the blocked worker"
                );
                assert!(
                    woke_after < 250 * MS,
                    "{what}: a 50 ms sleep registered on a worker that was then blocked for 300 ms \
                     completed only after {woke_after:?}: its timer waited for the blocked worker"
                );
                if arranged == 2 {
                    break;
                }
            }
            assert!(
                arranged > 0,
                "after_a_timer={after_a_timer}: the blocker never ran on the worker that registered the \
                 sleep (scheduler changed?)"
            );
        }
    });
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

/// Current-thread: a timer fires while the loop has nothing else to do (it blocks in the reactor with no
/// timeout, so only the timerfd can wake it), from `block_on` and from a spawned task.
#[test]
fn current_thread_timer_wakes_an_idle_loop() {
    within(Duration::from_secs(10), || {
        let rt = Flavor::CurrentThread.build();
        let took = rt.block_on(async {
            let start = Instant::now();
            sleep(80 * MS).await;
            start.elapsed()
        });
        assert!(took >= 80 * MS && took < Duration::from_secs(1), "{took:?}");

        let fired = Arc::new(AtomicBool::new(false));
        let f = fired.clone();
        let start = Instant::now();
        let task = rt.spawn(async move {
            sleep(60 * MS).await;
            f.store(true, SeqCst);
            7
        });
        let out = rt.block_on(task.into_future()).unwrap();
        let took = start.elapsed();
        assert_eq!(out, 7);
        assert!(fired.load(SeqCst));
        assert!(took >= 60 * MS && took < Duration::from_secs(1), "{took:?}");
        assert_eq!(rt.handle().pending_timers(), 0);
    });
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

/// Regression: a change that let a worker skip firing timers while another thread held the driver's arm
/// lock lost timer wake-ups under load (the timers_many bench hung). Dense deadlines (0..5 ms from each
/// task's first poll), tasks spawned from inside a task, several rounds: every sleep completes.
#[test]
fn dense_timer_bursts_from_many_tasks_all_complete() {
    const TASKS: usize = 20_000;
    const ROUNDS: usize = 6;
    within(Duration::from_secs(60), || {
        let rt = Flavor::MultiThread.build();
        for round in 0..ROUNDS {
            let done = rt.block_on(async move {
                let spawner = ferrio::spawn(async move {
                    let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ round as u64);
                    (0..TASKS)
                        .map(|_| {
                            let offset = Duration::from_micros(rng.below(5_000));
                            ferrio::spawn(async move { sleep(offset).await })
                        })
                        .collect::<Vec<_>>()
                });
                let mut done = 0;
                for task in spawner.await.unwrap() {
                    task.await.unwrap();
                    done += 1;
                }
                done
            });
            assert_eq!(done, TASKS, "round {round}");
        }
        assert_eq!(rt.handle().pending_timers(), 0);
    });
}
