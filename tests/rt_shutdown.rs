//! Shutdown: `run` and dropping a `Runtime` cancel every live task and drop its future before returning;
//! awaiters are woken with `Err(Cancelled)`; `spawn_local` futures are dropped on their own thread;
//! `shutdown_timeout` returns, leaving a stuck worker behind.

mod support;

use ferrio::{yield_now, Runtime, Task};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use support::{
    gates, threads_named, wait_until, within, DropCounter, Flavor, Flavors, ThreadDropProbe,
};

/// `run` cancels the tasks still alive when its future returns (waiting on gates that never open, spinning,
/// awaiting other tasks, never polled) and has dropped all their futures by the time it returns.
#[test]
fn run_drops_leftover_tasks() {
    within(Duration::from_secs(20), || {
        let drops = DropCounter::new();
        let (openers, gs) = gates(20);
        let d = drops.clone();
        let (handles_tx, handles_rx) = mpsc::channel::<Task<u32>>();
        let out = ferrio::run(async move {
            // Waiting forever on gates.
            for g in gs {
                let guard = d.guard();
                handles_tx
                    .send(ferrio::spawn(async move {
                        let _guard = guard;
                        g.await;
                        1
                    }))
                    .unwrap();
            }
            // Spinning (always queued or running).
            for _ in 0..4 {
                let guard = d.guard();
                drop(ferrio::spawn(async move {
                    let _guard = guard;
                    loop {
                        yield_now().await;
                    }
                }));
            }
            // A chain: a task awaiting a task awaiting a pending future.
            let (g1, g2) = (d.guard(), d.guard());
            drop(ferrio::spawn(async move {
                let _g1 = g1;
                ferrio::spawn(async move {
                    let _g2 = g2;
                    std::future::pending::<()>().await
                })
                .await
            }));
            yield_now().await;
            // Spawned just before returning: never polled.
            let guard = d.guard();
            drop(ferrio::spawn(async move {
                let _guard = guard;
            }));
            "main output"
        });
        assert_eq!(out, "main output");
        assert_eq!(drops.created(), 27);
        assert_eq!(
            drops.dropped(),
            drops.created(),
            "run returned with {} task futures still alive",
            drops.alive()
        );
        // The handles report cancellation.
        for t in handles_rx.try_iter() {
            assert!(t.is_done() && t.is_cancelled());
            let err = futures_lite::future::block_on(t.into_future()).unwrap_err();
            assert!(err.is_cancelled());
        }
        drop(openers);
    });
}

/// Dropping a runtime cancels its tasks (awaited ones, detached ones, never-polled ones) and drops their
/// futures before `drop` returns; the handles then give `Err(Cancelled)` even outside any runtime.
#[test]
fn dropping_runtime_cancels_and_drops_tasks() {
    within(Duration::from_secs(20), || {
        Flavors::each(|flavor, rt| {
            let drops = DropCounter::new();
            let (openers, gs) = gates(10);
            let mut handles = Vec::new();
            for g in gs {
                let guard = drops.guard();
                handles.push(rt.spawn(async move {
                    let _guard = guard;
                    g.await;
                    1
                }));
            }
            for _ in 0..5 {
                let guard = drops.guard();
                drop(rt.spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await;
                }));
            }
            // Let them start (the current-thread flavour runs them inside block_on only).
            rt.block_on(async {
                for _ in 0..3 {
                    yield_now().await;
                }
            });
            // And some that never ran.
            for _ in 0..5 {
                let guard = drops.guard();
                handles.push(rt.spawn(async move {
                    let _guard = guard;
                    2
                }));
            }
            if flavor == Flavor::MultiThread {
                assert!(rt.handle().live_tasks() >= 15);
            } else {
                assert_eq!(rt.handle().live_tasks(), 20);
            }
            let h = rt.handle();
            drop(rt);
            assert_eq!(h.live_tasks(), 0, "{flavor:?}");
            assert_eq!(drops.created(), 20);
            assert_eq!(
                drops.dropped(),
                20,
                "{flavor:?}: futures alive after drop(rt)"
            );
            for (i, t) in handles.into_iter().enumerate() {
                assert!(t.is_done(), "{flavor:?}: task {i} not done after drop(rt)");
                let r = futures_lite::future::block_on(t.into_future());
                if i < 10 || flavor == Flavor::CurrentThread {
                    assert!(r.unwrap_err().is_cancelled(), "{flavor:?}: task {i}");
                } else {
                    // Multi-thread: a worker may have run the last five (which return 2) before the drop.
                    match r {
                        Ok(v) => assert_eq!(v, 2),
                        Err(e) => assert!(e.is_cancelled()),
                    }
                }
            }
            drop(openers);
        });
    });
}

/// A foreign thread awaiting a task (outside any runtime) is woken with `Err(Cancelled)` when the runtime is
/// dropped.
#[test]
fn foreign_awaiter_woken_by_runtime_drop() {
    within(Duration::from_secs(20), || {
        Flavors::each(|flavor, rt| {
            let t = rt.spawn(std::future::pending::<u8>());
            let registered = Arc::new(AtomicBool::new(false));
            let r = registered.clone();
            let waiter = std::thread::spawn(move || {
                let mut join = t.into_future();
                futures_lite::future::block_on(std::future::poll_fn(move |cx| {
                    r.store(true, SeqCst);
                    Pin::new(&mut join).poll(cx)
                }))
            });
            assert!(wait_until(Duration::from_secs(5), || registered.load(SeqCst)));
            std::thread::sleep(Duration::from_millis(10));
            drop(rt);
            let r = waiter.join().unwrap();
            assert!(r.unwrap_err().is_cancelled(), "{flavor:?}");
        });
    });
}

/// During shutdown, futures whose destructors wake or cancel other tasks (a gate opener dropped, a join
/// future dropped) neither hang nor crash, and everything is dropped.
#[test]
fn shutdown_with_destructors_that_wake_and_cancel() {
    within(Duration::from_secs(20), || {
        Flavors::each(|flavor, rt| {
            let drops = DropCounter::new();
            rt.block_on(async {
                for _ in 0..10 {
                    let (opener, gate) = support::gate();
                    let (ga, gb, gc) = (drops.guard(), drops.guard(), drops.guard());
                    // B waits on the gate; A holds the opener (dropping it wakes B); C awaits B.
                    let b = ferrio::spawn(async move {
                        let _gb = gb;
                        gate.await;
                        std::future::pending::<()>().await
                    });
                    drop(ferrio::spawn(async move {
                        let _ga = ga;
                        let _opener = opener;
                        std::future::pending::<()>().await
                    }));
                    drop(ferrio::spawn(async move {
                        let _gc = gc;
                        b.await
                    }));
                }
                yield_now().await;
                yield_now().await;
            });
            drop(rt);
            assert_eq!(drops.created(), 30);
            assert_eq!(drops.dropped(), 30, "{flavor:?}");
        });
    });
}

/// A future that hands a clone of its waker to a foreign thread on its first poll, then completes when
/// woken.
struct SendWakerAway {
    tx: Option<mpsc::Sender<Waker>>,
    woken: Arc<AtomicBool>,
    polls_on: Rc<std::cell::RefCell<Vec<std::thread::ThreadId>>>,
}

impl Future for SendWakerAway {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls_on.borrow_mut().push(std::thread::current().id());
        if let Some(tx) = self.tx.take() {
            tx.send(cx.waker().clone()).unwrap();
            return Poll::Pending;
        }
        if self.woken.load(SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// `spawn_local` futures (not `Send`) are polled and dropped only on the runtime's thread: when they finish,
/// when they are cancelled, when the runtime is dropped, and when a foreign thread wakes them or holds (and
/// drops) their last waker.
#[test]
fn spawn_local_futures_dropped_on_their_own_thread() {
    within(Duration::from_secs(20), || {
        let me = std::thread::current().id();
        let probe = ThreadDropProbe::new();
        let rt = Flavor::CurrentThread.build();
        let polls_on = Rc::new(std::cell::RefCell::new(Vec::new()));

        // 1. Woken from a foreign thread, completes, future dropped here.
        let (tx, rx) = mpsc::channel::<Waker>();
        let woken = Arc::new(AtomicBool::new(false));
        let w = woken.clone();
        let foreign = std::thread::spawn(move || {
            let waker = rx.recv().unwrap();
            std::thread::sleep(Duration::from_millis(5));
            w.store(true, SeqCst);
            waker.wake(); // the last use of this waker is on this foreign thread
        });
        let guard = probe.guard();
        let fut = SendWakerAway {
            tx: Some(tx),
            woken,
            polls_on: polls_on.clone(),
        };
        rt.block_on(async {
            ferrio::spawn_local(async move {
                let _guard = Rc::new(guard); // !Send
                fut.await;
            })
            .await
            .unwrap();
        });
        foreign.join().unwrap();
        assert_eq!(probe.drops(), vec![me]);

        // 2. Cancelled while a foreign thread holds its waker; that thread drops the last waker afterwards.
        let (tx, rx) = mpsc::channel::<Waker>();
        let (drop_now_tx, drop_now_rx) = mpsc::channel::<()>();
        let foreign = std::thread::spawn(move || {
            let waker = rx.recv().unwrap();
            drop_now_rx.recv().unwrap();
            drop(waker);
        });
        let guard = probe.guard();
        let fut = SendWakerAway {
            tx: Some(tx),
            woken: Arc::new(AtomicBool::new(false)),
            polls_on: polls_on.clone(),
        };
        rt.block_on(async {
            let t = ferrio::spawn_local(async move {
                let _guard = Rc::new(guard);
                fut.await;
            });
            yield_now().await;
            assert!(t.cancel());
            yield_now().await;
            assert!(t.is_done());
            drop(t); // the foreign waker is now the last reference
        });
        drop_now_tx.send(()).unwrap();
        foreign.join().unwrap();
        assert_eq!(probe.drops(), vec![me, me]);

        // 3. Alive when the runtime is dropped, waker held (and dropped later) by a foreign thread; the task's
        //    !Send output of a detached, finished task is dropped here too.
        let (tx, rx) = mpsc::channel::<Waker>();
        let (drop_now_tx, drop_now_rx) = mpsc::channel::<()>();
        let foreign = std::thread::spawn(move || {
            let waker = rx.recv().unwrap();
            drop_now_rx.recv().unwrap();
            waker.wake();
        });
        let guard = probe.guard();
        let out_guard = probe.guard();
        let fut = SendWakerAway {
            tx: Some(tx),
            woken: Arc::new(AtomicBool::new(false)),
            polls_on: polls_on.clone(),
        };
        rt.block_on(async {
            drop(ferrio::spawn_local(async move {
                let _guard = Rc::new(guard);
                fut.await;
            }));
            drop(ferrio::spawn_local(async move { Rc::new(out_guard) }));
            yield_now().await;
            yield_now().await;
        });
        assert_eq!(
            probe.drops().len(),
            3,
            "the detached task's output was not dropped"
        );
        drop(rt);
        assert_eq!(probe.drops(), vec![me, me, me, me]);
        drop_now_tx.send(()).unwrap();
        foreign.join().unwrap();

        assert!(!polls_on.borrow().is_empty());
        assert!(
            polls_on.borrow().iter().all(|&t| t == me),
            "a spawn_local future was polled on another thread"
        );
    });
}

/// A current-thread runtime dropped on another thread than its owner while `spawn_local` futures are alive
/// must not drop those futures on the wrong thread (they are leaked instead, as documented).
#[test]
fn spawn_local_never_dropped_on_a_foreign_thread() {
    within(Duration::from_secs(20), || {
        let probe = ThreadDropProbe::new();
        let rt = Flavor::CurrentThread.build();
        let guard = probe.guard();
        rt.block_on(async {
            drop(ferrio::spawn_local(async move {
                let _guard = Rc::new(guard);
                std::future::pending::<()>().await
            }));
            yield_now().await;
        });
        let other = std::thread::spawn(move || {
            let id = std::thread::current().id();
            drop(rt);
            id
        })
        .join()
        .unwrap();
        assert!(
            !probe.drops().contains(&other),
            "a spawn_local future was dropped on a foreign thread"
        );
    });
}

/// `shutdown_timeout` returns: promptly with 0 when nothing is stuck (every future dropped), and after about
/// the timeout with the number of workers stuck in a poll; the stuck task is dropped once its poll returns.
#[test]
fn shutdown_timeout_returns() {
    within(Duration::from_secs(20), || {
        // Nothing stuck.
        Flavors::each(|flavor, rt| {
            let drops = DropCounter::new();
            let (openers, gs) = gates(5);
            for g in gs {
                let guard = drops.guard();
                drop(rt.spawn(async move {
                    let _guard = guard;
                    g.await;
                }));
            }
            rt.block_on(yield_now());
            let start = Instant::now();
            assert_eq!(rt.shutdown_timeout(Duration::from_secs(5)), 0, "{flavor:?}");
            assert!(start.elapsed() < Duration::from_secs(2), "{flavor:?}");
            assert_eq!(drops.dropped(), 5, "{flavor:?}");
            drop(openers);
        });

        // One worker stuck in a long poll.
        let rt = Runtime::builder()
            .worker_threads(2)
            .thread_name("sd-chk")
            .build()
            .unwrap();
        let drops = DropCounter::new();
        let in_poll = Arc::new(AtomicBool::new(false));
        let release = Arc::new(AtomicBool::new(false));
        let guard = drops.guard();
        let (ip, rl) = (in_poll.clone(), release.clone());
        let stuck = rt.spawn(async move {
            let _guard = guard;
            ip.store(true, SeqCst);
            while !rl.load(SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            yield_now().await;
            unreachable!("polled again after shutdown");
        });
        let other_drops = DropCounter::new();
        let g2 = other_drops.guard();
        drop(rt.spawn(async move {
            let _g = g2;
            std::future::pending::<()>().await
        }));
        assert!(wait_until(Duration::from_secs(5), || in_poll.load(SeqCst)));
        let start = Instant::now();
        let left = rt.shutdown_timeout(Duration::from_millis(100));
        let took = start.elapsed();
        assert_eq!(left, 1, "one worker is stuck in a poll");
        assert!(
            took >= Duration::from_millis(90),
            "returned too early: {took:?}"
        );
        assert!(took < Duration::from_secs(2), "returned too late: {took:?}");
        assert_eq!(
            other_drops.dropped(),
            1,
            "idle task not dropped by shutdown_timeout"
        );
        assert!(stuck.is_cancelled());
        assert_eq!(drops.dropped(), 0);
        release.store(true, SeqCst);
        assert!(
            wait_until(Duration::from_secs(5), || drops.dropped() == 1),
            "the stuck task was not dropped after its poll returned"
        );
        assert!(wait_until(Duration::from_secs(5), || stuck.is_done()));
        assert!(futures_lite::future::block_on(stuck.into_future())
            .unwrap_err()
            .is_cancelled());
        assert!(
            wait_until(Duration::from_secs(5), || threads_named("sd-chk")
                .is_empty()),
            "the left-behind worker did not exit"
        );
    });
}

/// `run` returns its future's output; from inside a runtime it panics like a nested `block_on`.
#[test]
fn run_inside_runtime_panics() {
    let rt = Flavor::CurrentThread.build();
    let msg = support::expect_panic(|| rt.block_on(async { ferrio::run(async { 1 }) }));
    assert!(msg.contains("cannot block_on"), "{msg}");
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    assert_eq!(
        ferrio::run(async move {
            r.fetch_add(1, SeqCst);
            5
        }),
        5
    );
    assert_eq!(ran.load(SeqCst), 1);
}

/// Dropping a multi-thread runtime from inside one of its own tasks panics with a clear message instead of
/// deadlocking (joining its own thread); the task's awaiter gets that panic.
#[test]
fn dropping_runtime_inside_its_own_task_panics() {
    within(Duration::from_secs(10), || {
        let rt = Arc::new(Flavor::MultiThread.build());
        let (opener, gate) = support::gate();
        let last = rt.clone();
        let t = rt.spawn(async move {
            gate.await;
            drop(last); // the last reference: Runtime::drop runs on a worker
            5
        });
        drop(rt);
        opener.open();
        let err = futures_lite::future::block_on(t.into_future()).unwrap_err();
        assert!(err.is_panic(), "{err:?}");
        let msg = support::panic_message(&*err.into_panic());
        assert!(
            msg.contains("dropped from inside one of its own tasks"),
            "{msg}"
        );
    });
}

/// After a runtime was dropped from inside its own task (above), its other tasks should still be cancelled
/// and their futures dropped ("its tasks were told to stop", and a dropped Runtime drops every live task).
///
/// Regression (fixed): in that path `Runtime::drop` (src/runtime/mod.rs) used to call `stop_workers(Some(ZERO))` and panic, so
/// `Shared::shutdown_tasks` never runs: the owned list keeps its references to the remaining tasks, each
/// task's scheduler hook keeps `Arc<Shared>` alive (a cycle), and those futures are never dropped (leaked;
/// their drop guards never run).
#[test]
fn dropping_runtime_inside_its_own_task_still_drops_other_tasks() {
    let drops = DropCounter::new();
    let rt = Arc::new(Flavor::MultiThread.build());
    let (_never, never) = support::gate();
    let guard = drops.guard();
    drop(rt.spawn(async move {
        let _guard = guard;
        never.await;
    }));
    let (opener, gate) = support::gate();
    let last = rt.clone();
    let t = rt.spawn(async move {
        gate.await;
        drop(last);
    });
    drop(rt);
    opener.open();
    let _ = futures_lite::future::block_on(t.into_future());
    assert!(
        wait_until(Duration::from_secs(2), || drops.dropped() == 1),
        "the other task's future was never dropped"
    );
}

/// A destructor that spawns while the runtime shuts down (the spawn panics: the runtime is closed) does not
/// break the shutdown: `drop(rt)` returns and every future is dropped.
#[test]
fn destructor_spawning_during_shutdown() {
    struct SpawnOnDrop(ferrio::Handle);
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            drop(self.0.spawn(async { 1 }));
        }
    }
    within(Duration::from_secs(20), || {
        Flavors::each(|flavor, rt| {
            let drops = DropCounter::new();
            for _ in 0..5 {
                let s = SpawnOnDrop(rt.handle());
                let g = drops.guard();
                drop(rt.spawn(async move {
                    let _g = g; // dropped after `_s`, whose destructor panics
                    let _s = s;
                    std::future::pending::<()>().await
                }));
            }
            rt.block_on(yield_now());
            let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(rt)));
            assert!(dropped.is_ok(), "{flavor:?}: drop(rt) panicked");
            assert_eq!(drops.dropped(), 5, "{flavor:?}");
        });
    });
}

/// Regression (review finding): `shutdown_timeout` used to `mem::forget` the runtime, leaking its epoll,
/// eventfd and timerfd every time.
#[test]
fn shutdown_timeout_releases_every_file_descriptor() {
    fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd").unwrap().count()
    }
    // Warm up whatever the test harness opens lazily.
    let rt = Flavor::MultiThread.build();
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    let before = open_fds();
    for _ in 0..20 {
        let rt = Flavor::MultiThread.build();
        rt.block_on(async { ferrio::spawn(async { 1 }).await.unwrap() });
        assert_eq!(rt.shutdown_timeout(std::time::Duration::from_secs(5)), 0);
    }
    let after = open_fds();
    // Other tests run in parallel threads of this process and may hold a few fds of their own.
    assert!(
        after <= before + 6,
        "fds grew from {before} to {after} over 20 runtimes"
    );
}
