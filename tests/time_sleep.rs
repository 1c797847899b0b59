//! `ferrio::time::sleep` on time: never early (short sleeps, a long one, 100,000 concurrent ones), and fired
//! when nobody waits in the reactor for it: every worker kept busy, the registering worker blocked in a long
//! poll, a current-thread loop woken by its timer alone, dense bursts of sleeps from many tasks.
//! The timer bookkeeping (no timer left behind, `reset`, past deadlines, the wheel's span):
//! `time_sleep_timers.rs`; a sleep and its runtime (`Send + Sync`, outside or after a runtime):
//! `time_sleep_runtime.rs`.

mod support;

use ferrio::time::{sleep, sleep_until};
use std::future::IntoFuture;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use support::rng::Rng;
use support::{poll_once, within, Flavor, Flavors};

const MS: Duration = Duration::from_millis(1);

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
