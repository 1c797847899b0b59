//! The typed half of the task system: what each vtable entry does for a concrete `Cell<F, S>`.
//!
//! Data flow: a scheduler pops a `Notified` and calls `poll`; `poll` moves the state to `RUNNING`, polls the
//! future inside `catch_unwind` with a waker that points at the task itself, then either goes idle,
//! reschedules (woken while running) or completes. Completion stores the output in the future's bytes, wakes
//! the join waker, unlinks the task from its runtime's owned list and drops the references it held.
//!
//! This module never blocks and never allocates: it is on the hot path of every poll.

use super::error::TaskError;
use super::raw::{Cell, Header, RawTask, Stage};
use super::state::{TransitionToIdle, TransitionToRunning};
use super::waker::waker_ref;
use super::{Notified, Outcome, Schedule};
use crate::coop;
use std::future::Future;
use std::mem::{self, ManuallyDrop};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

/// Typed view of a task allocation.
struct Harness<F: Future, S> {
    cell: NonNull<Cell<F, S>>,
}

impl<F: Future, S: Schedule> Harness<F, S> {
    /// # Safety
    /// `ptr` is the header of a live `Cell<F, S>` (raw.rs invariants 1 and 6).
    unsafe fn from_raw(ptr: NonNull<Header>) -> Self {
        Harness { cell: ptr.cast() }
    }

    fn cell(&self) -> &Cell<F, S> {
        // SAFETY: `from_raw`'s contract: the cell is live while the harness exists.
        unsafe { self.cell.as_ref() }
    }

    fn raw(&self) -> RawTask {
        RawTask::from_header(self.cell.cast())
    }

    /// # Safety
    /// The caller has stage access (raw.rs invariant 2), so no other reference to the stage exists.
    #[allow(clippy::mut_from_ref)] // the stage is an `UnsafeCell`; exclusivity comes from the state word
    unsafe fn stage_mut(&self) -> &mut Stage<F> {
        // SAFETY: exclusive by the caller's contract; the pointer comes from the live cell.
        self.cell().stage.with_mut(|p| unsafe { &mut *p })
    }

    fn poll(self) {
        match self.cell().header.state.transition_to_running() {
            TransitionToRunning::Success => self.poll_future(),
            TransitionToRunning::Cancelled => {
                // SAFETY: we hold RUNNING (stage access).
                unsafe { self.cancel_future() };
                self.complete();
            }
            TransitionToRunning::Failed => self.raw().drop_reference(),
        }
    }

    fn poll_future(self) {
        // The waker borrows the reference our `Notified` carried: no count change unless it is cloned.
        let waker = waker_ref(self.cell.cast());
        let mut cx = Context::from_waker(&waker);
        // The future is pinned: it lives in the heap cell and is only ever dropped in place (`store_output`).
        let polled = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: we hold RUNNING (stage access).
            let Stage::Running(future) = (unsafe { self.stage_mut() }) else {
                unreachable!("a RUNNING task's stage holds its future");
            };
            // SAFETY: the future is never moved out of the cell; it is dropped in place (see above).
            let future = unsafe { Pin::new_unchecked(future) };
            if S::COOPERATIVE_BUDGET {
                let (poll, spent) = coop::with_budget(|| future.poll(&mut cx));
                if spent {
                    self.cell().scheduler.budget_spent();
                }
                poll
            } else {
                future.poll(&mut cx)
            }
        }));
        match polled {
            Ok(Poll::Pending) => match self.cell().header.state.transition_to_idle() {
                TransitionToIdle::Ok => {}
                TransitionToIdle::OkNotified => {
                    let raw = self.raw();
                    hook_copy(&self.cell().scheduler).yield_task(Notified::from_raw(raw));
                }
                TransitionToIdle::Cancelled => {
                    // SAFETY: RUNNING is still ours.
                    unsafe { self.cancel_future() };
                    self.complete();
                }
            },
            Ok(Poll::Ready(output)) => {
                // SAFETY: RUNNING is ours.
                unsafe { self.store_output(Ok(output)) };
                self.complete();
            }
            Err(panic) => {
                // SAFETY: RUNNING is ours.
                unsafe {
                    self.store_output(Err(TaskError::panicked(self.cell().header.id, panic)))
                };
                self.complete();
            }
        }
    }

    /// Drops the future and stores `result`. A panic while dropping the future is caught; it replaces a
    /// cancellation result (the task then ended by panicking), and is otherwise discarded.
    ///
    /// # Safety
    /// The caller holds RUNNING.
    unsafe fn store_output(&self, result: Result<F::Output, TaskError>) {
        // SAFETY: caller's contract.
        let stage = unsafe { self.stage_mut() };
        // The future is pinned: drop it where it lies. If its destructor panics, the assignment still leaves
        // `Consumed` in place (Rust's drop-and-replace semantics).
        let dropped = catch_unwind(AssertUnwindSafe(|| *stage = Stage::Consumed));
        *stage = match (dropped, result) {
            (Err(panic), Err(e)) if e.is_cancelled() => {
                Stage::Finished(Err(TaskError::panicked(e.id(), panic)))
            }
            (Err(panic), result) => {
                // The future finished (or panicked already); a panic in its destructor is discarded.
                quietly(move || drop(panic));
                Stage::Finished(result)
            }
            (Ok(()), result) => Stage::Finished(result),
        };
    }

    /// # Safety
    /// The caller holds RUNNING.
    unsafe fn cancel_future(&self) {
        let id = self.cell().header.id;
        // SAFETY: forwarded.
        unsafe { self.store_output(Err(TaskError::cancelled(id))) };
    }

    /// Publishes the output: RUNNING -> COMPLETE, wakes the awaiter, unlinks, releases references.
    fn complete(self) {
        let header = &self.cell().header;
        // Unlink first, while RUNNING still keeps shutdown away, so that once an awaiter sees the output the
        // task no longer counts as alive.
        let released = usize::from(self.cell().scheduler.release(self.raw()));
        // A detached task whose last references are ours (the usual end of a spawned-and-forgotten task):
        // complete and free in one step, then finish alone with the cell.
        if let Some(before) = header.state.transition_to_complete_and_free(1 + released) {
            return self.finish_freed(before.is_cancelled());
        }
        let mut outcome = Outcome::Completed;
        let snapshot = header.state.transition_to_complete(|before| {
            // SAFETY: RUNNING is still ours until the swap succeeds.
            let stage = unsafe { self.stage_mut() };
            if before.is_cancelled() && matches!(stage, Stage::Finished(Ok(_))) {
                let old =
                    mem::replace(stage, Stage::Finished(Err(TaskError::cancelled(header.id))));
                quietly(move || drop(old));
            }
            outcome = match stage {
                Stage::Finished(Err(e)) if e.is_panic() => Outcome::Panicked,
                Stage::Finished(Err(_)) => Outcome::Cancelled,
                _ => Outcome::Completed,
            };
        });
        // Before the awaiter is woken, so that an awaiter woken by the join waker finds the task counted in
        // the stats (one that spins on `is_done()` may look a moment before the count lands: stats snapshots
        // are not atomic with task state). Our reference keeps the cell, and the hook in it, alive.
        self.cell().scheduler.task_finished(header.id, outcome);
        if !snapshot.has_join_interest() {
            // Nobody will read the output: drop it here (raw.rs invariant 2, last case).
            // SAFETY: the handle is gone, so stage access is ours.
            let old = mem::replace(unsafe { self.stage_mut() }, Stage::Consumed);
            self.report_if_unretrieved_panic(&old);
            quietly(move || drop(old));
        } else if snapshot.has_join_waker() {
            header.join_waker.with(|slot| {
                // SAFETY: JOIN_WAKER is set: the runtime may read the slot (raw.rs invariant 3).
                if let Some(waker) = unsafe { &*slot } {
                    quietly(|| waker.wake_by_ref());
                }
            });
            if !header
                .state
                .unset_waker_after_complete()
                .has_join_interest()
            {
                // The handle went away while we woke it; the waker is ours to drop.
                // SAFETY: JOIN_INTEREST is clear, so nobody else touches the slot.
                // SAFETY: as above.
                header
                    .join_waker
                    .with_mut(|slot| quietly(|| unsafe { *slot = None }));
            }
        }
        if header.state.ref_dec_by(1 + released) {
            self.dealloc();
        }
    }

    /// The end of `complete` after `transition_to_complete_and_free`: no reference is left, so nobody else can
    /// reach the cell. Counts the outcome, drops the unread output and frees the cell.
    fn finish_freed(self, cancelled: bool) {
        let header = &self.cell().header;
        // SAFETY: the task is complete with no handle and no reference left: the stage is ours alone.
        let stage = mem::replace(unsafe { self.stage_mut() }, Stage::Consumed);
        let outcome = match &stage {
            Stage::Finished(Err(e)) if e.is_panic() => Outcome::Panicked,
            Stage::Finished(Err(_)) => Outcome::Cancelled,
            _ if cancelled => Outcome::Cancelled, // finished after a cancel was accepted
            _ => Outcome::Completed,
        };
        self.cell().scheduler.task_finished(header.id, outcome);
        self.report_if_unretrieved_panic(&stage);
        quietly(move || drop(stage));
        self.dealloc();
    }

    /// An output being dropped unread: if it is a panic, tell the scheduler (debug mode reports it).
    fn report_if_unretrieved_panic(&self, stage: &Stage<F>) {
        if let Stage::Finished(Err(e)) = stage {
            if e.is_panic() {
                let message = e.panic_message().map(str::to_owned);
                self.cell()
                    .scheduler
                    .unretrieved_panic(self.cell().header.id, message);
            }
        }
    }

    fn dealloc(self) {
        // SAFETY: the last reference is gone, so nobody else can reach the cell; it was created by
        // `Box::new` in `Cell::allocate` with this exact type.
        let cell = unsafe { Box::from_raw(self.cell.as_ptr()) };
        #[cfg(debug_assertions)]
        {
            // SAFETY: the cell is ours alone (above); this only reads its stage.
            let running = cell
                .stage
                .with(|stage| matches!(unsafe { &*stage }, Stage::Running(_)));
            assert!(
                cell.scheduler.time_driver().is_none() || !running,
                "ferrio: a runtime task was freed with its future alive (see Schedule::time_driver)"
            );
        }
        // The stage goes first, the hook after it (raw.rs invariant 7).
        // SAFETY: the cell is ours alone (see above).
        cell.stage
            .with_mut(|stage| unsafe { *stage = Stage::Consumed });
        drop(cell);
    }

    fn try_read_output(self, dst: &mut Poll<Result<F::Output, TaskError>>, waker: &Waker) {
        if can_read_output(&self.cell().header, waker) {
            // SAFETY: COMPLETE is set and we are the handle with JOIN_INTEREST (raw.rs invariant 2).
            let stage = unsafe { self.stage_mut() };
            match mem::replace(stage, Stage::Consumed) {
                Stage::Finished(result) => *dst = Poll::Ready(result),
                _ => panic!("ferrio: a Task's output was already taken by an earlier await of the same Task"),
            }
        }
    }

    fn drop_join_handle(self) {
        let header = &self.cell().header;
        // While the handle holds JOIN_INTEREST the runtime never writes the slot, so reading it is safe
        // whoever owns it (raw.rs invariant 3). Empty and still ours: one atomic step does it all.
        // SAFETY: as just said: a read, with no writer possible.
        let slot_empty = header.join_waker.with(|slot| unsafe { (*slot).is_none() });
        if slot_empty {
            match header.state.drop_join_handle_fast() {
                Some(true) => return self.dealloc(),
                Some(false) => return,
                None => {}
            }
        }
        let before = header.state.drop_join_interest();
        if before.is_complete() {
            // SAFETY: COMPLETE with JOIN_INTEREST (ours until this call): the output is ours to drop.
            let old = mem::replace(unsafe { self.stage_mut() }, Stage::Consumed);
            self.report_if_unretrieved_panic(&old);
            quietly(move || drop(old));
        }
        if !before.is_complete() || !before.has_join_waker() {
            // We own the slot: before completion we took it back in the same swap; after completion the
            // runtime already gave it back.
            // SAFETY: raw.rs invariant 3.
            // SAFETY: as above.
            header
                .join_waker
                .with_mut(|slot| quietly(|| unsafe { *slot = None }));
        }
        self.raw().drop_reference();
    }

    fn shutdown(self) {
        if self.cell().header.state.transition_to_shutdown() {
            // SAFETY: `transition_to_shutdown` gave us RUNNING.
            unsafe { self.cancel_future() };
            // The reference we were given plays the poller's reference in `complete`.
            self.complete();
        } else {
            self.raw().drop_reference();
        }
    }
}

/// Decides whether the handle can take the output now; otherwise stores `waker` in the join slot.
fn can_read_output(header: &Header, waker: &Waker) -> bool {
    let snapshot = header.state.load();
    if snapshot.is_complete() {
        return true;
    }
    if !snapshot.has_join_waker() {
        // The slot is ours: write it, then hand it to the runtime.
        return set_join_waker(header, waker.clone());
    }
    // The runtime holds a waker already. Same task? Nothing to do.
    let same = header.join_waker.with(|slot| {
        // SAFETY: JOIN_WAKER is set: both sides may read the slot; nobody writes it (raw.rs invariant 3).
        unsafe { &*slot }
            .as_ref()
            .is_some_and(|w| w.will_wake(waker))
    });
    if same {
        return false;
    }
    // Take the slot back to replace the waker.
    if header.state.unset_join_waker().is_err() {
        return true; // completed meanwhile
    }
    set_join_waker(header, waker.clone())
}

/// Writes the slot (owned by the handle) and gives it to the runtime; true if the task completed first.
fn set_join_waker(header: &Header, waker: Waker) -> bool {
    // SAFETY: JOIN_WAKER is clear, so the handle owns the slot (raw.rs invariant 3).
    header
        .join_waker
        .with_mut(|slot| unsafe { *slot = Some(waker) });
    match header.state.set_join_waker() {
        Ok(_) => false,
        Err(_) => {
            // SAFETY: the swap failed, so the slot is still ours.
            header
                .join_waker
                .with_mut(|slot| quietly(|| unsafe { *slot = None }));
            true
        }
    }
}

// Vtable entries. Each one's `ptr` is the header of a live `Cell<F, S>` of matching types (raw.rs invariant 6),
// and the caller transfers or holds the reference the entry's doc names (invariant 1).

pub(super) unsafe fn poll<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: see the block comment above.
    unsafe { Harness::<F, S>::from_raw(ptr) }.poll()
}

pub(super) unsafe fn schedule<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: see the block comment above.
    let harness = unsafe { Harness::<F, S>::from_raw(ptr) };
    let raw = harness.raw();
    hook_copy(&harness.cell().scheduler).schedule(Notified::from_raw(raw));
}

/// The canceller holds a reference for the whole call, so the cell (and the hook in it) outlives the call even
/// if the hook runs the task to completion: no `hook_copy` needed.
pub(super) unsafe fn cancel_requested<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: see the block comment above.
    let harness = unsafe { Harness::<F, S>::from_raw(ptr) };
    harness.cell().scheduler.cancel_requested(harness.raw());
}

/// A bitwise copy of the task's scheduler hook, to call it without holding a reference into the task: once
/// the `Notified` is published, another thread may run the task to completion and free it (and the hook in
/// it) while the call is still going. The copy is never dropped, so the hook's ownership stays in the cell;
/// `Schedule` implementations keep whatever they use after publishing alive themselves (see the trait).
fn hook_copy<S: Schedule>(hook: &S) -> ManuallyDrop<S> {
    // SAFETY: a bitwise read of a live, initialised value; wrapping it in `ManuallyDrop` means it is never
    // dropped, so no ownership is duplicated (the cell's copy stays the owner).
    ManuallyDrop::new(unsafe { std::ptr::read(hook) })
}

/// Runs `f`, swallowing a panic (a user `Waker` or destructor may panic; the runtime must carry on). A
/// panic payload whose own destructor panics is leaked rather than allowed to escape.
fn quietly(f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            mem::forget(again);
        }
    }
}

pub(super) unsafe fn dealloc<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: see the block comment above.
    unsafe { Harness::<F, S>::from_raw(ptr) }.dealloc()
}

pub(super) unsafe fn time_driver<F: Future, S: Schedule>(
    ptr: NonNull<Header>,
) -> Option<NonNull<crate::time::TimeDriver>> {
    // SAFETY: see the block comment above.
    let harness = unsafe { Harness::<F, S>::from_raw(ptr) };
    harness.cell().scheduler.time_driver().map(NonNull::from)
}

pub(super) unsafe fn try_read_output<F: Future, S: Schedule>(
    ptr: NonNull<Header>,
    dst: *mut (),
    waker: &Waker,
) {
    // SAFETY: see the block comment above; `dst` has the output's type by `RawTask::try_read_output`'s contract.
    let dst = unsafe { &mut *(dst as *mut Poll<Result<F::Output, TaskError>>) };
    // SAFETY: as above.
    unsafe { Harness::<F, S>::from_raw(ptr) }.try_read_output(dst, waker)
}

pub(super) unsafe fn drop_join_handle<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: see the block comment above.
    unsafe { Harness::<F, S>::from_raw(ptr) }.drop_join_handle()
}

pub(super) unsafe fn shutdown<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: see the block comment above.
    unsafe { Harness::<F, S>::from_raw(ptr) }.shutdown()
}
