//! Cancellation by `Task::cancel`: idle, queued, running (from another task, from another thread, during its
//! poll) and finished tasks; the "completed after a cancel was accepted" rule; a task that cancels itself;
//! `cancel()` racing completion. Propagation through awaits, `shield`, and what a cancelled task's awaiters
//! see: `task_cancel_propagation.rs`.

mod support;

use ferrio::yield_now;
use std::future::IntoFuture;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;
use support::task_slot::{slot, take, Slot};
use support::{eventually, wait_until, within, DropCounter, Flavor, Flavors};

/// Current-thread: the state of an idle task is exactly asyncio's: cancelling (`is_cancelled`) right away,
/// done only after the loop dropped its future on its next turn, before the canceller resumes.
#[test]
fn cancel_idle_task_current_thread_is_done_after_next_turn() {
    let rt = Flavor::CurrentThread.build();
    rt.block_on(async {
        let drops = DropCounter::new();
        let (opener, gate) = support::gate();
        let guard = drops.guard();
        let t = ferrio::spawn(async move {
            let _guard = guard;
            gate.await;
            5
        });
        yield_now().await; // t runs and waits on the gate
        assert!(!t.is_done() && !t.is_cancelled());
        assert!(t.cancel(), "cancel of a live task must be accepted");
        assert!(t.is_cancelled());
        assert!(!t.is_done(), "done before the loop processed the cancel");
        assert_eq!(drops.dropped(), 0, "future dropped inside cancel()");
        assert!(
            t.cancel(),
            "a repeated cancel of a live task is still accepted"
        );
        yield_now().await; // the loop drops t's future, then resumes us
        assert!(t.is_done());
        assert!(t.is_cancelled());
        assert_eq!(drops.dropped(), 1);
        assert!(!t.cancel(), "cancel of a finished task must return false");
        let err = t.await.unwrap_err();
        assert!(err.is_cancelled() && !err.is_panic());
        assert!(err.to_string().contains("cancelled"), "{err}");
        drop(opener);
    });
}

/// Both flavours: cancelling an idle task from outside, then awaiting it.
#[test]
fn cancel_idle_task_both_flavours() {
    Flavors::each(|flavor, rt| {
        let drops = DropCounter::new();
        let started = Arc::new(AtomicBool::new(false));
        let (opener, gate) = support::gate();
        let guard = drops.guard();
        let s = started.clone();
        let t = rt.spawn(async move {
            let _guard = guard;
            s.store(true, SeqCst);
            gate.await;
            5
        });
        let result = rt.block_on(async {
            eventually("task started", || started.load(SeqCst)).await;
            assert!(t.cancel());
            assert!(t.is_cancelled());
            eventually("cancelled task done", || t.is_done()).await;
            assert_eq!(drops.dropped(), 1, "{flavor:?}: future not dropped");
            t.await
        });
        let err = result.unwrap_err();
        assert!(err.is_cancelled(), "{flavor:?}: {err:?}");
        let h = rt.handle();
        // (`wait_until`: see rt_spawn.rs, live_tasks_is_zero_once_results_are_delivered.)
        assert!(wait_until(Duration::from_secs(5), || h.live_tasks() == 0));
        drop(opener);
    });
}

/// Cancelling a task before its first poll: its future is dropped without ever being polled.
#[test]
fn cancel_before_first_poll_never_polls() {
    Flavors::each(|flavor, rt| {
        let drops = DropCounter::new();
        let polled = Arc::new(AtomicBool::new(false));
        let result = rt.block_on(async {
            let guard = drops.guard();
            let p = polled.clone();
            // Current-thread: nothing runs before we await, so the cancel lands before the first poll. On
            // multi-thread a worker may win the race; then only the invariants of either outcome are checked.
            let t = ferrio::spawn(async move {
                let _guard = guard;
                p.store(true, SeqCst);
                1
            });
            let accepted = t.cancel();
            let r = t.await;
            (accepted, r)
        });
        let (accepted, r) = result;
        match flavor {
            Flavor::CurrentThread => {
                assert!(accepted);
                assert!(
                    !polled.load(SeqCst),
                    "a task cancelled before it ran was polled"
                );
                assert!(r.unwrap_err().is_cancelled());
            }
            Flavor::MultiThread => {
                // The worker may have finished it already; then the cancel is refused and the value kept.
                if accepted {
                    assert!(r.unwrap_err().is_cancelled());
                } else {
                    assert_eq!(r.unwrap(), 1);
                }
            }
        }
        assert_eq!(drops.dropped(), 1, "{flavor:?}");
    });
}

/// A task that yields in a loop (running or queued all the time) is cancelled by another task; its future
/// is dropped at its next await point.
#[test]
fn cancel_busy_task_from_another_task() {
    Flavors::each(|flavor, rt| {
        let drops = DropCounter::new();
        let spins = Arc::new(AtomicUsize::new(0));
        let guard = drops.guard();
        let s = spins.clone();
        let out = rt.block_on(async move {
            let busy = ferrio::spawn(async move {
                let _guard = guard;
                loop {
                    s.fetch_add(1, SeqCst);
                    yield_now().await;
                }
            });
            let busy = Arc::new(busy);
            let b = busy.clone();
            let canceller = ferrio::spawn(async move {
                yield_now().await;
                yield_now().await;
                b.cancel()
            });
            assert!(
                canceller.await.unwrap(),
                "cancel of a spinning task refused"
            );
            Arc::try_unwrap(busy).unwrap().await
        });
        assert!(out.unwrap_err().is_cancelled(), "{flavor:?}");
        if flavor == Flavor::CurrentThread {
            // asyncio's order: the busy task ran before the canceller's first yield came back. (On the
            // multi-thread flavour the cancel may land before the other worker first polls it.)
            assert!(spins.load(SeqCst) >= 1);
        }
        assert_eq!(drops.dropped(), 1, "{flavor:?}");
        let before = spins.load(SeqCst);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            spins.load(SeqCst),
            before,
            "{flavor:?}: cancelled task still runs"
        );
    });
}

/// Both flavours: a foreign thread cancels a task that spins on yields while block_on runs.
#[test]
fn cancel_busy_task_from_another_thread() {
    within(Duration::from_secs(20), || {
        Flavors::each(|flavor, rt| {
            let drops = DropCounter::new();
            let spins = Arc::new(AtomicUsize::new(0));
            let guard = drops.guard();
            let s = spins.clone();
            let busy = rt.spawn(async move {
                let _guard = guard;
                loop {
                    s.fetch_add(1, SeqCst);
                    yield_now().await;
                }
            });
            let busy = Arc::new(busy);
            let b = busy.clone();
            let s = spins.clone();
            let canceller = std::thread::spawn(move || {
                assert!(wait_until(Duration::from_secs(5), || s.load(SeqCst) > 10));
                b.cancel()
            });
            let r = rt.block_on(async {
                eventually("cancelled task done", || busy.is_done()).await;
                assert!(canceller.join().unwrap());
                Arc::try_unwrap(busy).unwrap().await
            });
            assert!(r.unwrap_err().is_cancelled(), "{flavor:?}");
            assert_eq!(drops.dropped(), 1, "{flavor:?}");
        });
    });
}

/// Multi-thread: a cancel that lands while the task is inside its poll. If the poll then returns `Pending`,
/// the future is dropped right after it; the task ends cancelled.
#[test]
fn cancel_during_poll_then_pending_drops_future() {
    within(Duration::from_secs(10), || {
        let rt = Flavor::MultiThread.build();
        let drops = DropCounter::new();
        let in_poll = Arc::new(AtomicBool::new(false));
        let proceed = Arc::new(AtomicBool::new(false));
        let resumed = Arc::new(AtomicBool::new(false));
        let guard = drops.guard();
        let (ip, pr, rs) = (in_poll.clone(), proceed.clone(), resumed.clone());
        let t = rt.spawn(async move {
            let _guard = guard;
            ip.store(true, SeqCst);
            while !pr.load(SeqCst) {
                std::hint::spin_loop();
            }
            yield_now().await;
            rs.store(true, SeqCst);
            7
        });
        assert!(wait_until(Duration::from_secs(5), || in_poll.load(SeqCst)));
        assert!(t.cancel(), "cancel during a poll must be accepted");
        assert!(t.is_cancelled() && !t.is_done());
        proceed.store(true, SeqCst);
        assert!(wait_until(Duration::from_secs(5), || t.is_done()));
        assert_eq!(drops.dropped(), 1);
        assert!(
            !resumed.load(SeqCst),
            "the future was polled again after the cancel"
        );
        let err = rt.block_on(t.into_future()).unwrap_err();
        assert!(err.is_cancelled());
    });
}

/// Multi-thread: a task that completes after a cancel was accepted (during its last poll) ends in
/// `Err(Cancelled)`; its output value is dropped, not leaked.
#[test]
fn completion_after_accepted_cancel_is_cancelled() {
    within(Duration::from_secs(10), || {
        let rt = Flavor::MultiThread.build();
        let drops = DropCounter::new();
        let out_drops = DropCounter::new();
        let in_poll = Arc::new(AtomicBool::new(false));
        let proceed = Arc::new(AtomicBool::new(false));
        let guard = drops.guard();
        let output = out_drops.guard();
        let (ip, pr) = (in_poll.clone(), proceed.clone());
        let t = rt.spawn(async move {
            let _guard = guard;
            ip.store(true, SeqCst);
            while !pr.load(SeqCst) {
                std::hint::spin_loop();
            }
            output
        });
        assert!(wait_until(Duration::from_secs(5), || in_poll.load(SeqCst)));
        assert!(t.cancel());
        proceed.store(true, SeqCst);
        assert!(wait_until(Duration::from_secs(5), || t.is_done()));
        assert!(t.is_cancelled());
        assert_eq!(drops.dropped(), 1);
        let r = rt.block_on(t.into_future());
        assert!(r.as_ref().err().is_some_and(|e| e.is_cancelled()));
        drop(r);
        assert_eq!(out_drops.dropped(), 1, "the discarded output was leaked");
    });
}

/// Both flavours (deterministic): a task that cancels itself and then returns a value ends cancelled; one
/// that cancels itself and then awaits is dropped at that await and never resumes.
#[test]
fn self_cancel_then_complete_or_yield() {
    Flavors::each(|flavor, rt| {
        rt.block_on(async {
            // Returns after cancelling itself.
            let me: Slot<u32> = slot();
            let m = me.clone();
            let (opener, gate) = support::gate();
            let t = ferrio::spawn(async move {
                gate.await;
                let me = m.lock().unwrap().take().unwrap();
                let accepted = me.cancel();
                *m.lock().unwrap() = Some(me);
                assert!(accepted);
                42
            });
            *me.lock().unwrap() = Some(t);
            opener.open();
            eventually("self-cancelled task done", || {
                me.lock().unwrap().as_ref().unwrap().is_done()
            })
            .await;
            let t = take(&me);
            assert!(t.is_cancelled());
            let err = t.await.unwrap_err();
            assert!(
                err.is_cancelled(),
                "{flavor:?}: completed after its own cancel: {err:?}"
            );

            // Awaits after cancelling itself.
            let me: Slot<u32> = slot();
            let m = me.clone();
            let resumed = Arc::new(AtomicBool::new(false));
            let r = resumed.clone();
            let drops = DropCounter::new();
            let guard = drops.guard();
            let (opener, gate) = support::gate();
            let t = ferrio::spawn(async move {
                let _guard = guard;
                gate.await;
                let me = m.lock().unwrap().take().unwrap();
                assert!(me.cancel());
                *m.lock().unwrap() = Some(me);
                yield_now().await;
                r.store(true, SeqCst);
                1
            });
            *me.lock().unwrap() = Some(t);
            opener.open();
            eventually("self-cancelled task done", || {
                me.lock().unwrap().as_ref().unwrap().is_done()
            })
            .await;
            assert!(
                !resumed.load(SeqCst),
                "{flavor:?}: resumed after its own cancel"
            );
            assert_eq!(drops.dropped(), 1);
            assert!(take(&me).await.unwrap_err().is_cancelled());
        });
    });
}

/// Cancel of a finished task returns false and the task keeps its result.
#[test]
fn cancel_finished_task_keeps_result() {
    Flavors::each(|flavor, rt| {
        let r = rt.block_on(async {
            let t = ferrio::spawn(async { String::from("kept") });
            eventually("task done", || t.is_done()).await;
            assert!(
                !t.cancel(),
                "{flavor:?}: cancel of a finished task accepted"
            );
            assert!(!t.is_cancelled());
            assert!(t.is_done());
            t.await
        });
        assert_eq!(r.unwrap(), "kept", "{flavor:?}");
    });
}

/// Racing `cancel()` with completion on the multi-thread flavour: `cancel()` returns true exactly when the
/// task ends in `Err(Cancelled)`, and every future and every output is dropped exactly once.
#[test]
fn cancel_racing_completion_keeps_invariants() {
    within(Duration::from_secs(30), || {
        let rt = Flavor::MultiThread.build();
        let futures = DropCounter::new();
        let outputs = DropCounter::new();
        let (mut accepted, mut refused) = (0, 0);
        for i in 0..2000u32 {
            let guard = futures.guard();
            let output = outputs.guard();
            let t = rt.spawn(async move {
                let _guard = guard;
                for _ in 0..(i % 3) {
                    yield_now().await;
                }
                (i, output)
            });
            // Cancel after 0-39 µs: sometimes before the first poll, sometimes during, sometimes after.
            let until = std::time::Instant::now() + Duration::from_micros(u64::from(i % 40));
            while std::time::Instant::now() < until {
                std::hint::spin_loop();
            }
            let cancelled = t.cancel();
            let r = rt.block_on(t.into_future());
            match (cancelled, r) {
                (true, Err(e)) => {
                    assert!(e.is_cancelled());
                    accepted += 1;
                }
                (false, Ok((v, out))) => {
                    assert_eq!(v, i);
                    drop(out);
                    refused += 1;
                }
                (c, r) => panic!(
                    "iteration {i}: cancel() returned {c} but the task ended in {:?}",
                    r.map(|(v, _)| v)
                ),
            }
        }
        assert_eq!(accepted + refused, 2000);
        assert_eq!(futures.alive(), 0, "futures leaked");
        let h = rt.handle();
        assert!(wait_until(Duration::from_secs(5), || h.live_tasks() == 0));
        assert_eq!(outputs.alive(), 0, "outputs leaked");
    });
}
