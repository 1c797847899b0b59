//! Timer storms on both flavours: timers with random deadlines (xorshift), about half of them dropped before
//! they fire (a `timeout` that expires first, a task cancelled by another task's timer, a sleep dropped in
//! place, a registered sleep dropped on another worker or a plain thread), resets, intervals. None fires
//! early, each storm's tasks keep the invariants of `stress_support::Tally`, and `Handle::pending_timers()`
//! is 0 at the end.
//!
//! Sizes: 20,000 timers per flavour at the CI size; `FERRIO_STRESS_SCALE=20` gives 400,000:
//! `FERRIO_STRESS_SCALE=20 cargo test --release --test stress_timers -- --nocapture`. Single-timer
//! behaviour: `time_sleep.rs`, `time_sleep_timers.rs`, `time_sleep_runtime.rs`, `time_timeout.rs`,
//! `time_interval.rs`.

mod stress_support;
mod support;

use ferrio::time::{interval, sleep, sleep_until, timeout, Sleep};
use ferrio::{yield_now, ReactorHandOff, Runtime};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use stress_support::{limit, on_thread, scaled, Tally, XorShift};
use support::{within, Flavor};

/// How late a timer may fire before the test calls it lost: generous, since a debug build on a loaded
/// 2-core machine runs thousands of timer tasks at once.
const LATE_LIMIT: Duration = Duration::from_secs(5);

/// Random deadlines of the timers that are meant to fire: up to this far ahead.
const SPREAD_US: u64 = 150_000;

/// Timers that fired, and how late the latest one was.
#[derive(Default)]
struct Fired {
    count: AtomicUsize,
    max_late_us: AtomicU64,
}

impl Fired {
    /// Records a timer that fired at `now` for `deadline`; fails the test if it fired early.
    fn check(&self, what: &str, deadline: Instant) {
        let now = Instant::now();
        assert!(
            now >= deadline,
            "{what} fired {:?} early",
            deadline.duration_since(now)
        );
        let late = now.duration_since(deadline);
        self.max_late_us.fetch_max(late.as_micros() as u64, SeqCst);
        self.count.fetch_add(1, SeqCst);
    }

    fn max_late(&self) -> Duration {
        Duration::from_micros(self.max_late_us.load(SeqCst))
    }
}

/// A random deadline within `SPREAD_US` of now (sometimes already past, sometimes exactly now).
fn soon(rng: &mut XorShift) -> Instant {
    let now = Instant::now();
    match rng.below(50) {
        0 => now - Duration::from_micros(rng.below(1000)),
        1 => now,
        _ => now + Duration::from_micros(rng.below(SPREAD_US)),
    }
}

/// A deadline far enough ahead to land on a high wheel level (30 s to ten minutes): such timers are always
/// dropped before they fire. The lower bound stays well above `LATE_LIMIT`, so a `timeout` whose own timer
/// fires late (within the limit) still beats the far sleep inside it.
fn far(rng: &mut XorShift) -> Instant {
    Instant::now() + Duration::from_millis(30_000 + rng.below(570_000))
}

/// Polls `fut` once with a no-op waker (registering a `Sleep` whose deadline is ahead).
fn poll_noop<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// One storm of `n` timer tasks on `rt`, spawned from outside and from inside; returns the fired record.
fn timer_storm(flavor: Flavor, rt: &Runtime, n: usize, seed: u64) -> Arc<Fired> {
    let tally = Tally::new();
    let fired = Arc::new(Fired::default());
    let before = rt.stats().total;
    let mut rng = XorShift::new(seed);
    // Registered sleeps handed to a plain thread, which drops half and awaits the other half.
    // It awaits them one after the other, so they may be late by up to the spread: only "never early"
    // counts there (a `Fired` of its own).
    let (away_tx, away_rx) = mpsc::channel::<(Pin<Box<Sleep>>, bool)>();
    let away = on_thread(move || {
        let f = Fired::default();
        let mut dropped = 0;
        for (mut s, await_it) in away_rx {
            if await_it {
                let deadline = s.deadline();
                futures_lite::future::block_on(s.as_mut());
                f.check("a sleep awaited on a plain thread", deadline);
            } else {
                drop(s);
                dropped += 1;
            }
        }
        dropped
    });
    let mut handles = Vec::with_capacity(n);
    let outside = n / 4;
    let spawn_one = |rng: &mut XorShift, from_outside: bool| {
        let (f, mut rng, away_tx, tally2) =
            (fired.clone(), rng.fork(), away_tx.clone(), tally.clone());
        let body = async move {
            match rng.below(16) {
                // Fire (half of the timers).
                0..=6 => {
                    let deadline = soon(&mut rng);
                    sleep_until(deadline).await;
                    f.check("sleep_until", deadline);
                }
                7 => {
                    let d = Duration::from_micros(rng.below(SPREAD_US));
                    let start = Instant::now();
                    sleep(d).await;
                    f.check("sleep", start + d);
                }
                // A timeout that expires: its own timer fires, the inner far sleep is dropped.
                8 => {
                    let deadline = soon(&mut rng);
                    let r = ferrio::time::timeout_at(deadline, sleep_until(far(&mut rng))).await;
                    assert!(r.is_err(), "a ten-minute sleep beat its timeout");
                    f.check("timeout", deadline);
                }
                // A timeout that does not expire: the inner sleep fires, the timeout's timer is dropped.
                9 => {
                    let deadline = soon(&mut rng);
                    let r = timeout(Duration::from_secs(600), sleep_until(deadline)).await;
                    assert!(r.is_ok());
                    f.check("sleep inside a timeout", deadline);
                }
                // Registered, then dropped in place after a few yields.
                10 | 11 => {
                    let mut s = std::pin::pin!(sleep_until(far(&mut rng)));
                    assert!(poll_noop(s.as_mut()).is_pending());
                    for _ in 0..rng.below(4) {
                        yield_now().await;
                    }
                }
                // A task sleeping far ahead, cancelled by this one after a random short sleep.
                12 | 13 => {
                    let victim_deadline = far(&mut rng);
                    let victim = ferrio::spawn(tally2.counted(async move {
                        sleep_until(victim_deadline).await;
                        unreachable!("a cancelled far timer fired");
                    }));
                    sleep_until(soon(&mut rng)).await;
                    assert!(victim.cancel(), "the victim finished by itself");
                    assert!(tally2.record(victim.await).is_none());
                }
                // Reset to another deadline, earlier or later, then awaited.
                14 => {
                    let mut s = Box::pin(sleep_until(far(&mut rng)));
                    assert!(poll_noop(s.as_mut()).is_pending());
                    yield_now().await;
                    let deadline = soon(&mut rng);
                    s.as_mut().reset(deadline);
                    s.await;
                    f.check("a reset sleep", deadline);
                }
                // Registered here, then handed to a plain thread that drops it or awaits it there.
                _ => {
                    let await_it = rng.chance(1, 2);
                    let deadline = if await_it {
                        soon(&mut rng)
                    } else {
                        far(&mut rng)
                    };
                    let mut s = Box::pin(sleep_until(deadline));
                    let _ = poll_noop(s.as_mut());
                    away_tx.send((s, await_it)).unwrap();
                }
            }
        };
        if from_outside {
            rt.spawn(tally.counted(body))
        } else {
            ferrio::spawn(tally.counted(body))
        }
    };
    for _ in 0..outside {
        handles.push(spawn_one(&mut rng, true));
    }
    rt.block_on(async {
        for _ in outside..n {
            handles.push(spawn_one(&mut rng, false));
        }
        // A few intervals with random periods, each dropped after a random number of ticks.
        for _ in 0..16 {
            let (f, mut rng) = (fired.clone(), rng.fork());
            handles.push(ferrio::spawn(tally.counted(async move {
                let period = Duration::from_micros(200 + rng.below(5_000));
                let start = Instant::now();
                let mut iv = interval(period);
                for k in 0..rng.below(40) {
                    iv.tick().await;
                    f.check("an interval tick", start + period * k as u32);
                }
            })));
        }
    });
    drop(away_tx);
    rt.block_on(async {
        for h in handles {
            tally.record(h.await);
        }
    });
    let dropped_away = rt.block_on(away);
    let c = tally.check(&format!("{flavor:?} timer storm"), &before, || {
        rt.stats().total
    });
    assert_eq!(c.panicked, 0);
    assert_eq!(
        rt.handle().pending_timers(),
        0,
        "{flavor:?}: timers left registered after every task finished"
    );
    println!(
        "{flavor:?} timer storm: {c:?}, {} timers fired (latest {:?} late), {dropped_away} dropped on a plain thread",
        fired.count.load(SeqCst),
        fired.max_late()
    );
    fired
}

/// Random deadlines, about half dropped before firing, on both flavours: none early, none lost, none left.
#[test]
fn random_timers_half_dropped_none_early() {
    within(limit(90), || {
        for flavor in Flavor::ALL {
            let rt = flavor.build();
            let fired = timer_storm(flavor, &rt, scaled(20_000), 0x7173_0001);
            assert!(
                fired.max_late() < LATE_LIMIT,
                "{flavor:?}: a timer fired {:?} late",
                fired.max_late()
            );
        }
    });
}

/// Multi-thread with four workers, three storms back to back on one runtime: timers registered in every
/// worker's wheel and in the shared wheel of other threads, dropped on other workers; the wheels are empty
/// after each storm.
#[test]
fn repeated_storms_on_one_multi_thread_runtime() {
    within(limit(90), || {
        let rt = Runtime::builder()
            .worker_threads(4)
            .thread_name("st-timer")
            .build()
            .unwrap();
        for round in 0..3 {
            let fired = timer_storm(Flavor::MultiThread, &rt, scaled(6_000), 0x7173_0100 + round);
            assert!(fired.max_late() < LATE_LIMIT, "{:?} late", fired.max_late());
        }
    });
}

/// Regression: many short timers registered and cancelled on four workers at once. A timerfd expiry that
/// came while another worker was inside `TimeDriver::process` (which had read the clock just before it) was
/// dropped by the worker that received it (nothing looked due yet), and `process` then left the one-shot
/// timerfd alone because it "already held" that deadline: disarmed, it never fired again, and every worker
/// slept with timers overdue (src/time/driver.rs `arm_locked`; about one round in twenty hung).
#[test]
fn short_timers_on_four_workers_are_never_lost() {
    within(limit(30), || {
        let mut rng = XorShift::new(0x7173_0003);
        for round in 0..20 {
            // Half the rounds under each reactor hand-off policy.
            let policy = if round % 2 == 0 {
                ReactorHandOff::Always
            } else {
                ReactorHandOff::WhenShared
            };
            let rt = Runtime::builder()
                .worker_threads(4)
                .thread_name("st-lost")
                .reactor_hand_off(policy)
                .build()
                .unwrap();
            let n = scaled(2_000);
            let tally = Tally::new();
            let before = rt.stats().total;
            let handles: Vec<_> = (0..n)
                .map(|_| {
                    let (mut rng, t2) = (rng.fork(), tally.clone());
                    rt.spawn(tally.counted(async move {
                        let victim_deadline = far(&mut rng);
                        let victim = ferrio::spawn(t2.counted(async move {
                            sleep_until(victim_deadline).await;
                            unreachable!("a far timer fired");
                        }));
                        let deadline = Instant::now() + Duration::from_micros(rng.below(100_000));
                        sleep_until(deadline).await;
                        assert!(Instant::now() >= deadline);
                        assert!(victim.cancel());
                        assert!(t2.record(victim.await).is_none());
                    }))
                })
                .collect();
            // A lost wake-up shows as this wait running into the hang guard.
            rt.block_on(async {
                for h in handles {
                    tally.record(h.await);
                }
            });
            let c = tally.check("short timers", &before, || rt.stats().total);
            assert_eq!(c.completed, n as u64);
            assert_eq!(rt.handle().pending_timers(), 0);
        }
    });
}

/// Timers registered by tasks on the workers and dropped, all at once, by a runtime drop: no timer fires
/// afterwards, every future is dropped, and the drop returns.
#[test]
fn pending_timers_dropped_by_shutdown() {
    within(limit(30), || {
        for flavor in Flavor::ALL {
            let rt = flavor.build();
            let tally = Tally::new();
            let mut rng = XorShift::new(0x7173_0002);
            let n = scaled(5_000);
            let registered = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..n)
                .map(|_| {
                    let (deadline, r) = (far(&mut rng), registered.clone());
                    rt.spawn(tally.counted(async move {
                        let mut s = std::pin::pin!(sleep_until(deadline));
                        assert!(poll_noop(s.as_mut()).is_pending());
                        r.fetch_add(1, SeqCst);
                        s.await;
                        unreachable!("a far timer fired");
                    }))
                })
                .collect();
            rt.block_on(support::eventually("every timer registered", || {
                registered.load(SeqCst) == n
            }));
            assert_eq!(rt.handle().pending_timers(), n, "{flavor:?}");
            let handle = rt.handle();
            drop(rt);
            assert_eq!(handle.pending_timers(), 0, "{flavor:?}");
            for h in handles {
                assert!(tally
                    .record(futures_lite::future::block_on(h.into_future()))
                    .is_none());
            }
            let c = tally.counts();
            assert_eq!(c.cancelled, n as u64);
            assert_eq!(tally.futures_alive(), 0, "{flavor:?}");
        }
    });
}
