//! Waker storms on both flavours: wakers cloned and sent to plain threads, woken there in every way a waker
//! can be used (by value, by reference, through clones, twice, from two threads at once), woken while
//! their task runs, after it finished, and after the runtime shut down (including while the shutdown runs).
//! Nothing may crash, every future and output is dropped exactly once (`stress_support::Tally`), and once the
//! last waker is gone the runtime's file descriptors (epoll, eventfd, timerfd) are closed: a task reference
//! leaked by a waker path would keep the runtime's shared state, and so those descriptors, alive.
//!
//! Each test runs in a child process of this test binary where it is the only test, so the descriptor count
//! is exact (`stress_support::alone`). Sizes: 10,000 tasks of up to 8 round trips per flavour at the CI size;
//! `FERRIO_STRESS_SCALE=20 cargo test --release --test stress_wakes -- --nocapture` for 200,000.
//! Single-waker cases: `rt_shutdown_spawn_local.rs` (`spawn_local` wakers), `task_cancel.rs`,
//! `task_cancel_propagation.rs`.

mod stress_support;
mod support;

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use stress_support::{alone, assert_fds_back_to, limit, scaled, Tally, XorShift};
use support::{within, Flavor, ThreadDropProbe};

// ---------------------------------------------------------------------------------------------------------
// Waker threads
// ---------------------------------------------------------------------------------------------------------

/// One wake request: set `flag`, then use `waker` the way `how` says.
struct Job {
    flag: Arc<AtomicBool>,
    waker: Waker,
    how: u64,
}

/// Plain threads that serve `Job`s and keep some wakers (a "graveyard") for after their tasks are gone.
struct WakerThreads {
    senders: Vec<mpsc::Sender<Job>>,
    threads: Vec<std::thread::JoinHandle<Vec<Waker>>>,
}

impl WakerThreads {
    fn start(n: usize, seed: u64) -> WakerThreads {
        let mut rng = XorShift::new(seed);
        let (senders, threads) = (0..n)
            .map(|_| {
                let (tx, rx) = mpsc::channel::<Job>();
                let mut rng = rng.fork();
                let t = std::thread::spawn(move || {
                    let mut graveyard = Vec::new();
                    for job in rx {
                        if rng.chance(1, 8) {
                            std::thread::yield_now();
                        }
                        job.flag.store(true, SeqCst);
                        match job.how {
                            0 => job.waker.wake(),
                            1 => {
                                job.waker.wake_by_ref();
                                graveyard.push(job.waker);
                            }
                            2 => {
                                // A clone woken by value (and so dropped), the original dropped after.
                                let clone = job.waker.clone();
                                clone.wake();
                            }
                            3 => {
                                job.waker.wake_by_ref();
                                job.waker.wake_by_ref();
                            }
                            _ => {
                                let clone = job.waker.clone();
                                drop(job.waker);
                                clone.wake_by_ref();
                                graveyard.push(clone);
                            }
                        }
                    }
                    // Every sender is gone, so every task has finished: wake what was kept anyway.
                    for w in &graveyard {
                        w.wake_by_ref();
                    }
                    graveyard
                });
                (tx, t)
            })
            .unzip();
        WakerThreads { senders, threads }
    }

    /// Closes the channels (once the tasks holding senders are gone) and collects the graveyards.
    fn finish(self) -> Vec<Waker> {
        drop(self.senders);
        self.threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    }
}

/// Completes after `rounds` round trips through the waker threads; returns how often it was polled.
struct RoundTrips {
    rounds: u64,
    done: u64,
    polls: u64,
    flag: Option<Arc<AtomicBool>>,
    rng: XorShift,
    senders: Vec<mpsc::Sender<Job>>,
}

impl Future for RoundTrips {
    type Output = u64;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        let this = &mut *self;
        this.polls += 1;
        if let Some(flag) = &this.flag {
            if !flag.load(SeqCst) {
                return Poll::Pending; // a spurious or duplicate wake
            }
            this.flag = None;
            this.done += 1;
        }
        if this.done == this.rounds {
            return Poll::Ready(this.polls);
        }
        let flag = Arc::new(AtomicBool::new(false));
        // Sometimes two threads get the same round: two wakes race for one task.
        let copies = if this.rng.chance(1, 4) { 2 } else { 1 };
        for _ in 0..copies {
            let t = this.rng.below(this.senders.len() as u64) as usize;
            let job = Job {
                flag: flag.clone(),
                waker: cx.waker().clone(),
                how: this.rng.below(5),
            };
            this.senders[t].send(job).unwrap();
        }
        this.flag = Some(flag);
        // Sometimes stay in the poll a little: the wake then lands while the task is running.
        if this.rng.chance(1, 8) {
            for _ in 0..this.rng.below(2000) {
                std::hint::spin_loop();
            }
        }
        Poll::Pending
    }
}

/// Tasks doing up to 8 round trips each through three waker threads, in every wake flavour; the wakers kept
/// by the threads are woken after their tasks finished, then again after the runtime was dropped, then
/// dropped: nothing crashes, everything is dropped once, and the runtime's descriptors are closed.
fn round_trip_storm(baseline: usize) {
    for flavor in Flavor::ALL {
        let n = scaled(10_000);
        let rt = flavor.build();
        let tally = Tally::new();
        let before = rt.stats().total;
        let threads = WakerThreads::start(3, 0x3a4e_0001);
        let mut rng = XorShift::new(0x3a4e_0002);
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let mut rng = rng.fork();
                let fut = RoundTrips {
                    rounds: 1 + rng.below(8),
                    done: 0,
                    polls: 0,
                    flag: None,
                    rng,
                    senders: threads.senders.clone(),
                };
                rt.spawn(tally.counted(fut))
            })
            .collect();
        let polls: u64 = rt.block_on(async {
            let mut polls = 0;
            for h in handles {
                polls += tally.record(h.await).expect("a round-trip task completes");
            }
            polls
        });
        let c = tally.check(&format!("{flavor:?} round trips"), &before, || {
            rt.stats().total
        });
        assert_eq!(c.completed, n as u64);
        // Woken after their tasks finished (inside `finish`), then after the runtime is gone.
        let graveyard = threads.finish();
        let kept = graveyard.len();
        drop(rt);
        for w in &graveyard {
            w.wake_by_ref();
            let clone = w.clone();
            clone.wake();
        }
        drop(graveyard);
        assert_fds_back_to(baseline, &format!("{flavor:?} round trips"));
        println!(
            "{flavor:?} round trips: {c:?}, {polls} polls, {kept} wakers kept past their task"
        );
    }
}

#[test]
fn wakers_cloned_sent_and_woken_from_plain_threads() {
    alone("wakers_cloned_sent_and_woken_from_plain_threads", |fds| {
        within(limit(60), move || round_trip_storm(fds))
    });
}

/// Tasks parked forever whose wakers two plain threads keep waking (by reference, through clones) while the
/// runtime shuts down, and after: every future is dropped once by the shutdown, nothing crashes, and the
/// runtime's descriptors are closed once the threads drop the wakers.
fn wakes_racing_shutdown(baseline: usize) {
    for (round, flavor) in [Flavor::MultiThread, Flavor::CurrentThread]
        .into_iter()
        .cycle()
        .take(4)
        .enumerate()
    {
        let n = scaled(4_000);
        let rt = flavor.build();
        let tally = Tally::new();
        let registered = Arc::new(AtomicUsize::new(0));
        let (waker_tx, waker_rx) = mpsc::channel::<Waker>();
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let (tx, registered) = (waker_tx.clone(), registered.clone());
                let mut sent = false;
                rt.spawn(tally.counted(std::future::poll_fn(move |cx| {
                    if !sent {
                        tx.send(cx.waker().clone()).unwrap();
                        registered.fetch_add(1, SeqCst);
                        sent = true;
                    }
                    Poll::<()>::Pending
                })))
            })
            .collect();
        drop(waker_tx);
        rt.block_on(support::eventually("every waker handed out", || {
            registered.load(SeqCst) == n
        }));
        let wakers: Arc<Vec<Waker>> = Arc::new(waker_rx.try_iter().collect());
        assert_eq!(wakers.len(), n);
        let stop = Arc::new(AtomicBool::new(false));
        let hammers: Vec<_> = (0..2)
            .map(|h| {
                let (wakers, stop) = (wakers.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut sweeps = 0u64;
                    while !stop.load(SeqCst) {
                        for (i, w) in wakers.iter().enumerate() {
                            if (i + h) % 2 == 0 {
                                w.wake_by_ref();
                            } else {
                                let clone = w.clone();
                                clone.wake();
                            }
                        }
                        sweeps += 1;
                    }
                    sweeps
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        // Alternate the two ways of shutting down.
        if round % 2 == 0 {
            drop(rt);
        } else {
            assert_eq!(rt.shutdown_timeout(Duration::from_secs(10)), 0);
        }
        std::thread::sleep(Duration::from_millis(20));
        stop.store(true, SeqCst);
        let sweeps: u64 = hammers.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(
            tally.futures_alive(),
            0,
            "{flavor:?}: futures alive after the shutdown"
        );
        for h in handles {
            let r = futures_lite::future::block_on(std::future::IntoFuture::into_future(h));
            assert!(tally.record(r).is_none());
        }
        let c = tally.counts();
        assert_eq!(c.cancelled, n as u64, "{flavor:?}");
        let wakers = Arc::try_unwrap(wakers).unwrap_or_else(|_| unreachable!("threads joined"));
        for w in &wakers {
            w.wake_by_ref();
        }
        drop(wakers);
        assert_fds_back_to(baseline, &format!("{flavor:?} wakes racing shutdown"));
        println!("{flavor:?} wakes racing shutdown: {c:?}, {sweeps} sweeps over {n} wakers");
    }
}

#[test]
fn wakers_woken_while_and_after_the_runtime_shuts_down() {
    alone(
        "wakers_woken_while_and_after_the_runtime_shuts_down",
        |fds| within(limit(60), move || wakes_racing_shutdown(fds)),
    );
}

/// Current-thread `spawn_local` tasks (not `Send`) woken from plain threads, some completing, some still
/// waiting when the runtime is dropped and woken after: every future is polled and dropped on the runtime's
/// own thread, never on a waking thread, and the descriptors are closed at the end.
fn spawn_local_wake_storm(baseline: usize) {
    let n = scaled(2_000);
    let me = std::thread::current().id();
    let probe = ThreadDropProbe::new();
    let rt = Flavor::CurrentThread.build();
    let (waker_tx, waker_rx) = mpsc::channel::<(Arc<AtomicBool>, Waker)>();
    let waker_thread = std::thread::spawn(move || {
        let mut kept = Vec::new();
        // Exactly one waker per task (the pending half keeps its sender until the runtime is dropped).
        for (i, (flag, waker)) in waker_rx.into_iter().take(n).enumerate() {
            // Every other task is released (flag set) and woken; the rest are only woken, later.
            if i % 2 == 0 {
                flag.store(true, SeqCst);
                waker.wake();
            } else {
                waker.wake_by_ref();
                kept.push(waker);
            }
        }
        kept
    });
    let polled_elsewhere = Rc::new(std::cell::Cell::new(false));
    let completed = rt.block_on(async {
        let mut handles = Vec::new();
        for _ in 0..n {
            let (tx, guard, elsewhere) =
                (waker_tx.clone(), probe.guard(), polled_elsewhere.clone());
            let flag = Arc::new(AtomicBool::new(false));
            let mut sent = false;
            handles.push(ferrio::spawn_local(async move {
                let _guard = Rc::new(guard); // !Send
                std::future::poll_fn(|cx| {
                    elsewhere.set(elsewhere.get() || std::thread::current().id() != me);
                    if !sent {
                        tx.send((flag.clone(), cx.waker().clone())).unwrap();
                        sent = true;
                    }
                    if flag.load(SeqCst) {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }
                })
                .await
            }));
        }
        // Wait for the released half; the other half stays pending.
        let mut completed = 0;
        for (i, h) in handles.into_iter().enumerate() {
            if i % 2 == 0 {
                h.await.unwrap();
                completed += 1;
            }
        }
        completed
    });
    drop(waker_tx);
    let kept = waker_thread.join().unwrap();
    assert!(
        !polled_elsewhere.get(),
        "a spawn_local future was polled on another thread"
    );
    drop(rt);
    // Woken and dropped on this thread and on another one after the runtime is gone.
    let (here, there): (Vec<_>, Vec<_>) =
        kept.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let there: Vec<Waker> = there.into_iter().map(|(_, w)| w).collect();
    std::thread::spawn(move || {
        for w in there {
            w.wake();
        }
    })
    .join()
    .unwrap();
    for (_, w) in here {
        w.wake();
    }
    let drops = probe.drops();
    assert_eq!(drops.len(), n, "every spawn_local future dropped once");
    assert!(
        drops.iter().all(|&t| t == me),
        "a spawn_local future was dropped on another thread"
    );
    assert_fds_back_to(baseline, "spawn_local wakes");
    println!(
        "spawn_local wake storm: {n} tasks, {completed} completed, the rest dropped by the runtime"
    );
}

#[test]
fn spawn_local_wakers_woken_from_plain_threads() {
    alone("spawn_local_wakers_woken_from_plain_threads", |fds| {
        within(limit(60), move || spawn_local_wake_storm(fds))
    });
}
