//! Cancellation across awaits: dropping a join future cancels its task (by reference or by value, polled or
//! not), down a chain of three nested awaits; `shield` stops the propagation; dropping a `Task` handle
//! detaches instead. The awaiters of a cancelled task: woken with `Err(Cancelled)`, also when a foreign
//! thread cancels while the runtime sleeps; a later awaiter replaces the join waker of an earlier one.
//! `Task::cancel` itself: `task_cancel.rs`.

mod support;

use ferrio::{shield, yield_now};
use std::future::{Future, IntoFuture};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::task_slot::{has, slot, take, ReturnOnDrop, Slot};
use support::{eventually, poll_once, within, DropCounter, Flavors};

/// The awaiter of a task (registered, waiting) is woken with `Err(Cancelled)` when somebody else cancels
/// the task. The awaiter polls a fresh `shield` each time so the handle can be shared behind a mutex.
#[test]
fn awaiter_wakes_with_cancelled_error() {
    within(Duration::from_secs(20), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                let (opener, gate) = support::gate();
                let target = ferrio::spawn(async move {
                    gate.await;
                    1
                });
                let target = Arc::new(Mutex::new(target));
                let tg = target.clone();
                let polls = Arc::new(AtomicUsize::new(0));
                let p = polls.clone();
                let awaiter = ferrio::spawn(async move {
                    std::future::poll_fn(|cx| {
                        p.fetch_add(1, SeqCst);
                        let mut t = tg.lock().unwrap();
                        std::pin::Pin::new(&mut shield(&mut t)).poll(cx)
                    })
                    .await
                    .map_err(|e| e.is_cancelled())
                });
                eventually("awaiter registered", || polls.load(SeqCst) >= 1).await;
                yield_now().await;
                assert!(!awaiter.is_done());
                assert!(target.lock().unwrap().cancel());
                assert_eq!(awaiter.await.unwrap(), Err(true), "{flavor:?}");
                drop(opener);
            });
        });
    });
}

/// Propagation through three nested awaits: A awaits B awaits C; cancelling A cancels B then C, and each
/// future is dropped while the runtime keeps running.
#[test]
fn cancel_propagates_through_three_nested_awaits() {
    within(Duration::from_secs(20), || {
        Flavors::each(|flavor, rt| {
            let drops = DropCounter::new();
            let c_started = Arc::new(AtomicBool::new(false));
            let b_slot: Slot<u32> = slot();
            let c_slot: Slot<u32> = slot();
            let (ga, gb, gc) = (drops.guard(), drops.guard(), drops.guard());
            let (bs, cs, started) = (b_slot.clone(), c_slot.clone(), c_started.clone());
            let (opener, gate) = support::gate();
            rt.block_on(async {
                let a = ferrio::spawn(async move {
                    let _ga = ga;
                    let b = ferrio::spawn(async move {
                        let _gb = gb;
                        let c = ferrio::spawn(async move {
                            let _gc = gc;
                            started.store(true, SeqCst);
                            gate.await;
                            3
                        });
                        let mut c = ReturnOnDrop::new(c, &cs);
                        c.task().await.unwrap() + 1
                    });
                    let mut b = ReturnOnDrop::new(b, &bs);
                    b.task().await.unwrap() + 1
                });
                eventually("C started", || c_started.load(SeqCst)).await;
                assert_eq!(drops.dropped(), 0);
                assert!(a.cancel());
                let err = a.await.unwrap_err();
                assert!(err.is_cancelled(), "{flavor:?}: A: {err:?}");
                eventually("B's and C's handles returned", || {
                    has(&b_slot) && has(&c_slot)
                })
                .await;
                let (b, c) = (take(&b_slot), take(&c_slot));
                assert!(b.is_cancelled(), "{flavor:?}: B not cancelled");
                assert!(c.is_cancelled(), "{flavor:?}: C not cancelled");
                eventually("C done", || c.is_done()).await;
                eventually("all three futures dropped", || drops.dropped() == 3).await;
                assert!(b.await.unwrap_err().is_cancelled());
                assert!(c.await.unwrap_err().is_cancelled());
                let h = ferrio::Handle::current();
                eventually("no task left alive", || h.live_tasks() == 0).await;
            });
            drop(opener);
        });
    });
}

/// Dropping `(&mut task).into_future()` before the task finished cancels it, even if it was never polled;
/// dropping it after the task finished changes nothing.
#[test]
fn dropping_join_ref_cancels() {
    Flavors::each(|flavor, rt| {
        rt.block_on(async {
            let drops = DropCounter::new();
            let guard = drops.guard();
            let (opener, gate) = support::gate();
            let mut t = ferrio::spawn(async move {
                let _guard = guard;
                gate.await;
                1
            });
            // Never polled.
            drop((&mut t).into_future());
            assert!(
                t.is_cancelled(),
                "{flavor:?}: unpolled JoinRef drop did not cancel"
            );
            eventually("cancelled task done", || t.is_done()).await;
            assert_eq!(drops.dropped(), 1);
            assert!((&mut t).await.unwrap_err().is_cancelled());
            drop(opener);

            // Polled once (its waker registered), then dropped.
            let guard = drops.guard();
            let (opener, gate) = support::gate();
            let mut t = ferrio::spawn(async move {
                let _guard = guard;
                gate.await;
                2
            });
            {
                let mut join = (&mut t).into_future();
                assert!(poll_once(&mut join).await.is_pending());
            }
            assert!(
                t.is_cancelled(),
                "{flavor:?}: polled JoinRef drop did not cancel"
            );
            eventually("cancelled task done", || t.is_done()).await;
            assert_eq!(drops.dropped(), 2);
            assert!(t.await.unwrap_err().is_cancelled());
            drop(opener);

            // After completion: dropping the join future keeps the result.
            let mut t = ferrio::spawn(async { 3 });
            eventually("task done", || t.is_done()).await;
            drop((&mut t).into_future());
            assert!(!t.is_cancelled());
            assert_eq!(t.await.unwrap(), 3);

            // By value: the handle goes with the join future, and the task is cancelled, not detached.
            let guard = drops.guard();
            let (opener, gate) = support::gate();
            let t = ferrio::spawn(async move {
                let _guard = guard;
                gate.await;
                4
            });
            drop(t.into_future());
            eventually("by-value join drop cancelled the task", || {
                drops.dropped() == 3
            })
            .await;
            drop(opener);
        });
    });
}

/// `shield` stops propagation: dropping the shield future leaves the task running, and it can be awaited
/// afterwards for its value.
#[test]
fn shield_dropped_in_place_does_not_cancel() {
    Flavors::each(|flavor, rt| {
        rt.block_on(async {
            let (opener, gate) = support::gate();
            let mut t = ferrio::spawn(async move {
                gate.await;
                String::from("shielded")
            });
            {
                let mut s = shield(&mut t);
                assert!(poll_once(&mut s).await.is_pending());
            }
            assert!(
                !t.is_cancelled(),
                "{flavor:?}: dropping a shield cancelled the task"
            );
            yield_now().await;
            assert!(!t.is_done());
            opener.open();
            assert_eq!(t.await.unwrap(), "shielded", "{flavor:?}");
        });
    });
}

/// An outer task awaiting `shield(&mut inner)` is cancelled: the outer task ends cancelled, the inner one runs
/// on and yields its value to a later await. Without the shield the inner task is cancelled too.
#[test]
fn shield_in_cancelled_task_protects_inner() {
    within(Duration::from_secs(20), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                for shielded in [true, false] {
                    let drops = DropCounter::new();
                    let inner_slot: Slot<u32> = slot();
                    let (opener, gate) = support::gate();
                    let inner_started = Arc::new(AtomicBool::new(false));
                    let (is, started) = (inner_slot.clone(), inner_started.clone());
                    let g_outer = drops.guard();
                    let g_inner = drops.guard();
                    let outer = ferrio::spawn(async move {
                        let _g = g_outer;
                        let inner = ferrio::spawn(async move {
                            let _g = g_inner;
                            started.store(true, SeqCst);
                            gate.await;
                            9
                        });
                        let mut inner = ReturnOnDrop::new(inner, &is);
                        if shielded {
                            shield(inner.task()).await.unwrap()
                        } else {
                            inner.task().await.unwrap()
                        }
                    });
                    eventually("inner started", || inner_started.load(SeqCst)).await;
                    assert!(outer.cancel());
                    assert!(outer.await.unwrap_err().is_cancelled());
                    eventually("inner handle returned", || has(&inner_slot)).await;
                    let inner = take(&inner_slot);
                    if shielded {
                        assert!(
                            !inner.is_cancelled(),
                            "{flavor:?}: shield let the cancel through"
                        );
                        assert_eq!(drops.dropped(), 1, "only the outer future is dropped");
                        opener.open();
                        assert_eq!(inner.await.unwrap(), 9, "{flavor:?}");
                        assert_eq!(drops.dropped(), 2);
                    } else {
                        assert!(inner.is_cancelled(), "{flavor:?}: await did not propagate");
                        assert!(inner.await.unwrap_err().is_cancelled());
                        assert_eq!(drops.dropped(), 2);
                        drop(opener);
                    }
                }
            });
        });
    });
}

/// Dropping the `Task` handle detaches: the task is not cancelled and runs to completion.
#[test]
fn dropping_handle_detaches_not_cancels() {
    Flavors::each(|flavor, rt| {
        let done = Arc::new(AtomicBool::new(false));
        rt.block_on(async {
            let (opener, gate) = support::gate();
            let d = done.clone();
            let t = ferrio::spawn(async move {
                gate.await;
                yield_now().await;
                d.store(true, SeqCst);
            });
            yield_now().await;
            drop(t);
            opener.open();
            eventually("detached task finished", || done.load(SeqCst)).await;
        });
        assert!(done.load(SeqCst), "{flavor:?}");
    });
}

/// A waker left by an earlier awaiter (here a `shield` polled once with a no-op waker, then dropped) is
/// replaced by the next awaiter's: the new awaiter is woken when the task finishes.
#[test]
fn second_awaiter_replaces_the_join_waker() {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    within(Duration::from_secs(20), || {
        Flavors::each(|flavor, rt| {
            let v = rt.block_on(async {
                let (opener, gate) = support::gate();
                let mut t = ferrio::spawn(async move {
                    gate.await;
                    21
                });
                let noop = std::task::Waker::from(Arc::new(Noop));
                let mut cx = std::task::Context::from_waker(&noop);
                assert!(std::pin::Pin::new(&mut shield(&mut t))
                    .poll(&mut cx)
                    .is_pending());
                let opener_task = ferrio::spawn(async move {
                    yield_now().await;
                    opener.open();
                });
                let v = (&mut t).await.unwrap();
                opener_task.await.unwrap();
                v
            });
            assert_eq!(v, 21, "{flavor:?}");
        });
    });
}

/// A foreign thread cancels an idle task while the runtime sleeps (the current-thread loop is parked in the
/// reactor): the cancel wakes the runtime, the future is dropped, and the parked awaiter gets
/// `Err(Cancelled)`.
#[test]
fn cancel_from_foreign_thread_wakes_sleeping_runtime() {
    within(Duration::from_secs(20), || {
        Flavors::each(|flavor, rt| {
            let drops = DropCounter::new();
            let guard = drops.guard();
            let (opener, gate) = support::gate();
            let t = rt.spawn(async move {
                let _guard = guard;
                gate.await
            });
            let t = Arc::new(Mutex::new(t));
            let tc = t.clone();
            let canceller = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                tc.lock().unwrap().cancel()
            });
            let r = rt.block_on(std::future::poll_fn(|cx| {
                let mut t = t.lock().unwrap();
                std::pin::Pin::new(&mut shield(&mut t)).poll(cx)
            }));
            assert!(canceller.join().unwrap(), "{flavor:?}");
            assert!(r.unwrap_err().is_cancelled(), "{flavor:?}");
            assert_eq!(drops.dropped(), 1, "{flavor:?}");
            drop(opener);
        });
    });
}
