//! Shutdown by `run` and by dropping a `Runtime`: every live task is cancelled and its future dropped before
//! returning; awaiters (foreign threads included) are woken with `Err(Cancelled)`; destructors that wake,
//! cancel or spawn during the shutdown; `run` inside a runtime, and a runtime dropped from inside its own task
//! (a panic, and its other tasks are still dropped). `spawn_local` futures at shutdown:
//! `rt_shutdown_spawn_local.rs`; `shutdown_timeout`: `rt_shutdown_timeout.rs`.

mod support;

use ferrio::{yield_now, Task};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use support::{gates, wait_until, within, DropCounter, Flavor, Flavors};

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
