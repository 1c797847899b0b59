//! The task state word: lifecycle flags and the reference count packed in one `AtomicUsize`.
//!
//! This file is the whole specification of a task's lifecycle. Every transition is one atomic read-modify-write
//! (a `fetch_*` or a compare-and-swap loop) and returns a `#[must_use]` value that tells the caller what it now
//! owns and must do. Nothing else in the crate writes the state word.
//!
//! Who holds a reference (each counts `REF_ONE`): the `Task<T>` handle, every `Waker`, every `Notified` sitting
//! in (or travelling to) a run queue, and the runtime's owned-task list until the task completes. The thread
//! that polls a task uses the reference of the `Notified` it popped.

use crate::loom::AtomicUsize;
use std::fmt;
use std::sync::atomic::Ordering::{AcqRel, Acquire};

/// The future is being polled (or dropped) by exactly one thread. Set by `transition_to_running` or
/// `transition_to_shutdown`; cleared by `transition_to_idle`, `transition_to_complete` or
/// `transition_to_complete_and_free`. The holder has
/// exclusive access to the task's stage (future / output).
const RUNNING: usize = 1 << 0;

/// The future is gone and the stage holds the output (or is already consumed). Set once, by
/// `transition_to_complete` or `transition_to_complete_and_free`, and never cleared. After it is set only the `Task<T>` handle (while
/// `JOIN_INTEREST` is set) touches the stage.
const COMPLETE: usize = 1 << 1;

/// The task has been woken and a `Notified` reference exists or will be created for it. Set by a wake, by
/// `cancel`, or at spawn; cleared by `transition_to_running`. While it is set, further wakes do nothing. Set
/// while `RUNNING`, it means "poll again" and no `Notified` exists yet: `transition_to_idle` creates it.
const NOTIFIED: usize = 1 << 2;

/// Cancellation has been accepted. Set by `transition_to_cancelled` or `transition_to_shutdown`, only before
/// `COMPLETE`; never cleared. A task with this flag ends in `Err(Cancelled)` whatever its last poll returned.
const CANCELLED: usize = 1 << 3;

/// The `Task<T>` handle exists and may read the output. Set at spawn; cleared once, when the handle is dropped.
const JOIN_INTEREST: usize = 1 << 4;

/// Ownership of the join-waker slot. Clear: the `Task<T>` handle owns the slot and may write it. Set: the
/// runtime owns it and may read (wake) it. Set only by the handle, and only while `COMPLETE` is clear; cleared
/// by the handle while `COMPLETE` is clear, or by the runtime after it has woken the waker on completion.
const JOIN_WAKER: usize = 1 << 5;

/// Lifecycle flags occupy the low bits; the reference count counts in units of `REF_ONE` above them.
const REF_ONE: usize = 1 << 6;
const FLAG_MASK: usize = REF_ONE - 1;

/// A spawned task starts with three references (handle, owned list, first `Notified`), scheduled, with a
/// live handle.
const INITIAL: usize = (3 * REF_ONE) | NOTIFIED | JOIN_INTEREST;

/// The atomic state word of one task.
pub(crate) struct State {
    word: AtomicUsize,
}

/// A copy of the state word at one instant.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(usize);

#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToRunning {
    /// The caller now holds `RUNNING` and polls the future.
    Success,
    /// The caller holds `RUNNING`, but a cancel was accepted: drop the future instead of polling it.
    Cancelled,
    /// The task is running elsewhere or complete: the caller drops its reference and does nothing else.
    Failed,
}

#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToIdle {
    /// The task is idle; the caller's reference was released in the same operation.
    Ok,
    /// The task was woken while it ran: the caller's reference becomes the new `Notified`; schedule it.
    OkNotified,
    /// A cancel arrived while it ran: the caller still holds `RUNNING` and must drop the future.
    Cancelled,
}

#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToNotified {
    /// Nothing to schedule (already scheduled, running, or complete). For a by-value wake the waker's
    /// reference has been released.
    DoNothing,
    /// The caller holds a new `Notified` reference and must hand it to the scheduler.
    Submit,
    /// A by-value wake released the last reference: the caller deallocates the task.
    Dealloc,
}

#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToCancelled {
    /// The task had completed: nothing changed.
    AlreadyComplete,
    /// Cancel accepted; the task is running or already scheduled and will see the flag.
    Requested,
    /// Cancel accepted on an idle task: the caller holds a new `Notified` and must schedule it so that the
    /// scheduler drops the future on its next turn.
    Submit,
}

impl State {
    pub(crate) fn new() -> State {
        State {
            word: AtomicUsize::new(INITIAL),
        }
    }

    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.word.load(Acquire))
    }

    /// Compare-and-swap loop: `f` maps the current snapshot to `(next, result)`, or to `None` to stop with
    /// `result` unchanged.
    fn update<R>(&self, mut f: impl FnMut(Snapshot) -> (Option<Snapshot>, R)) -> R {
        let mut cur = self.load();
        loop {
            let (next, result) = f(cur);
            let Some(next) = next else { return result };
            match self
                .word
                .compare_exchange_weak(cur.0, next.0, AcqRel, Acquire)
            {
                Ok(_) => return result,
                Err(actual) => cur = Snapshot(actual),
            }
        }
    }

    /// A worker popped a `Notified` and wants to poll the task.
    pub(crate) fn transition_to_running(&self) -> TransitionToRunning {
        self.update(|s| {
            if s.has(RUNNING) || s.has(COMPLETE) {
                return (None, TransitionToRunning::Failed);
            }
            let next = Snapshot((s.0 & !NOTIFIED) | RUNNING);
            if s.has(CANCELLED) {
                (Some(next), TransitionToRunning::Cancelled)
            } else {
                (Some(next), TransitionToRunning::Success)
            }
        })
    }

    /// The future returned `Pending`.
    pub(crate) fn transition_to_idle(&self) -> TransitionToIdle {
        self.update(|s| {
            debug_assert!(
                s.has(RUNNING),
                "transition_to_idle on a task that is not running"
            );
            if s.has(CANCELLED) {
                return (None, TransitionToIdle::Cancelled);
            }
            let next = s.0 & !RUNNING;
            if s.has(NOTIFIED) {
                (Some(Snapshot(next)), TransitionToIdle::OkNotified)
            } else {
                debug_assert!(
                    s.ref_count() >= 2,
                    "the owned list must still hold a reference"
                );
                (Some(Snapshot(next - REF_ONE)), TransitionToIdle::Ok)
            }
        })
    }

    /// The future is gone and the stage holds the output. `before_commit` sees each snapshot the swap is
    /// attempted from, so the caller can turn an `Ok` output into `Err(Cancelled)` when `CANCELLED` is set.
    /// Returns the snapshot written.
    pub(crate) fn transition_to_complete(
        &self,
        mut before_commit: impl FnMut(Snapshot),
    ) -> Snapshot {
        self.update(|s| {
            debug_assert!(s.has(RUNNING) && !s.has(COMPLETE));
            before_commit(s);
            let next = Snapshot((s.0 & !(RUNNING | NOTIFIED)) | COMPLETE);
            (Some(next), next)
        })
    }

    /// Completion of a task whose output nobody will read (`JOIN_INTEREST` clear) when the caller's `n`
    /// references are the last ones: sets `COMPLETE` and releases them in one step, leaving the caller the
    /// only one who can reach the cell (it then drops the output and deallocates). Returns the snapshot it
    /// committed from; `None`, with nothing changed, when the handle is alive or other references remain
    /// (the caller takes `transition_to_complete`, then `ref_dec_by`).
    #[must_use]
    pub(crate) fn transition_to_complete_and_free(&self, n: usize) -> Option<Snapshot> {
        self.update(|s| {
            debug_assert!(s.has(RUNNING) && !s.has(COMPLETE));
            if s.has(JOIN_INTEREST) || s.ref_count() != n {
                return (None, None);
            }
            let next = Snapshot(((s.0 & !(RUNNING | NOTIFIED)) | COMPLETE) - n * REF_ONE);
            (Some(next), Some(s))
        })
    }

    /// After waking the join waker on completion, the runtime gives the slot back. Returns the snapshot
    /// before the change: if `JOIN_INTEREST` was already clear, the caller must drop the waker itself.
    pub(crate) fn unset_waker_after_complete(&self) -> Snapshot {
        Snapshot(self.word.fetch_and(!JOIN_WAKER, AcqRel))
    }

    /// A waker is consumed by `wake()`; its reference is released or turned into the `Notified` one.
    pub(crate) fn transition_to_notified_by_val(&self) -> TransitionToNotified {
        self.update(|s| {
            if s.has(RUNNING) {
                // The poller reschedules it; the waker's reference goes away (the poller keeps one).
                let next = (s.0 | NOTIFIED) - REF_ONE;
                (Some(Snapshot(next)), TransitionToNotified::DoNothing)
            } else if s.has(COMPLETE) || s.has(NOTIFIED) {
                let next = Snapshot(s.0 - REF_ONE);
                let action = if next.ref_count() == 0 {
                    TransitionToNotified::Dealloc
                } else {
                    TransitionToNotified::DoNothing
                };
                (Some(next), action)
            } else {
                // The waker's reference becomes the `Notified` reference.
                (Some(Snapshot(s.0 | NOTIFIED)), TransitionToNotified::Submit)
            }
        })
    }

    /// `wake_by_ref()`: schedules an idle task, taking a new reference for the `Notified`.
    pub(crate) fn transition_to_notified_by_ref(&self) -> TransitionToNotified {
        self.update(|s| {
            if s.has(COMPLETE) || s.has(NOTIFIED) {
                (None, TransitionToNotified::DoNothing)
            } else if s.has(RUNNING) {
                (
                    Some(Snapshot(s.0 | NOTIFIED)),
                    TransitionToNotified::DoNothing,
                )
            } else {
                let next = Snapshot((s.0 | NOTIFIED) + REF_ONE);
                (Some(next), TransitionToNotified::Submit)
            }
        })
    }

    /// `Task::cancel` or a dropped join future.
    pub(crate) fn transition_to_cancelled(&self) -> TransitionToCancelled {
        self.update(|s| {
            if s.has(COMPLETE) {
                (None, TransitionToCancelled::AlreadyComplete)
            } else if s.has(RUNNING) || s.has(NOTIFIED) {
                if s.has(CANCELLED) {
                    return (None, TransitionToCancelled::Requested);
                }
                (
                    Some(Snapshot(s.0 | CANCELLED)),
                    TransitionToCancelled::Requested,
                )
            } else {
                let next = Snapshot((s.0 | CANCELLED | NOTIFIED) + REF_ONE);
                (Some(next), TransitionToCancelled::Submit)
            }
        })
    }

    /// Runtime shutdown: marks the task cancelled and, if it is idle (or only queued), claims `RUNNING` so the
    /// caller can drop the future right away. Returns whether the caller claimed it.
    #[must_use]
    pub(crate) fn transition_to_shutdown(&self) -> bool {
        self.update(|s| {
            if s.has(COMPLETE) {
                return (None, false);
            }
            if s.has(RUNNING) {
                return (Some(Snapshot(s.0 | CANCELLED)), false);
            }
            (Some(Snapshot(s.0 | CANCELLED | RUNNING)), true)
        })
    }

    /// The common case of dropping the `Task<T>` handle (a detached spawn): the task has not completed and
    /// the handle still owns the join-waker slot (`JOIN_WAKER` clear), which the caller has seen empty.
    /// Clears `JOIN_INTEREST` and releases the handle's reference in one step. `None`, with nothing
    /// changed, if the task completed or the runtime owns the slot: the caller takes the general path
    /// (`drop_join_interest`, then `ref_dec`). `Some(true)`: that was the last reference; deallocate.
    #[must_use]
    pub(crate) fn drop_join_handle_fast(&self) -> Option<bool> {
        self.update(|s| {
            debug_assert!(s.has(JOIN_INTEREST));
            if s.has(COMPLETE) || s.has(JOIN_WAKER) {
                return (None, None);
            }
            let next = Snapshot((s.0 & !JOIN_INTEREST) - REF_ONE);
            (Some(next), Some(next.ref_count() == 0))
        })
    }

    /// The `Task<T>` handle is dropped. Before completion the handle also takes back the join-waker slot, so
    /// the runtime will not touch it. Returns the snapshot before the change.
    pub(crate) fn drop_join_interest(&self) -> Snapshot {
        self.update(|s| {
            debug_assert!(s.has(JOIN_INTEREST));
            let mut next = s.0 & !JOIN_INTEREST;
            if !s.has(COMPLETE) {
                next &= !JOIN_WAKER;
            }
            (Some(Snapshot(next)), s)
        })
    }

    /// The handle has written the join-waker slot and gives it to the runtime. Fails (returning the current
    /// snapshot) if the task completed meanwhile; then the handle still owns the slot.
    pub(crate) fn set_join_waker(&self) -> Result<Snapshot, Snapshot> {
        self.update(|s| {
            debug_assert!(s.has(JOIN_INTEREST) && !s.has(JOIN_WAKER));
            if s.has(COMPLETE) {
                return (None, Err(s));
            }
            let next = Snapshot(s.0 | JOIN_WAKER);
            (Some(next), Ok(next))
        })
    }

    /// The handle takes the join-waker slot back to replace the waker. Fails if the task completed (then the
    /// runtime owns the slot until `unset_waker_after_complete`).
    pub(crate) fn unset_join_waker(&self) -> Result<Snapshot, Snapshot> {
        self.update(|s| {
            debug_assert!(s.has(JOIN_INTEREST) && s.has(JOIN_WAKER));
            if s.has(COMPLETE) {
                return (None, Err(s));
            }
            let next = Snapshot(s.0 & !JOIN_WAKER);
            (Some(next), Ok(next))
        })
    }

    pub(crate) fn ref_inc(&self) {
        let prev = self
            .word
            .fetch_add(REF_ONE, std::sync::atomic::Ordering::Relaxed);
        // Like `Arc`: a count this large means references are leaking in a loop; stop before it wraps.
        if prev > usize::MAX / 2 {
            std::process::abort();
        }
    }

    /// Releases one reference; true when it was the last one and the caller must deallocate.
    #[must_use]
    pub(crate) fn ref_dec(&self) -> bool {
        self.ref_dec_by(1)
    }

    /// Releases `n` references at once; true when they were the last ones.
    #[must_use]
    pub(crate) fn ref_dec_by(&self, n: usize) -> bool {
        let prev = Snapshot(self.word.fetch_sub(n * REF_ONE, AcqRel));
        debug_assert!(prev.ref_count() >= n, "task reference count underflow");
        prev.ref_count() == n
    }
}

impl Snapshot {
    fn has(self, flag: usize) -> bool {
        self.0 & flag == flag
    }
    pub(crate) fn is_running(self) -> bool {
        self.has(RUNNING)
    }
    pub(crate) fn is_complete(self) -> bool {
        self.has(COMPLETE)
    }
    pub(crate) fn is_notified(self) -> bool {
        self.has(NOTIFIED)
    }
    pub(crate) fn is_cancelled(self) -> bool {
        self.has(CANCELLED)
    }
    pub(crate) fn has_join_interest(self) -> bool {
        self.has(JOIN_INTEREST)
    }
    pub(crate) fn has_join_waker(self) -> bool {
        self.has(JOIN_WAKER)
    }
    pub(crate) fn ref_count(self) -> usize {
        self.0 / REF_ONE
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("running", &self.is_running())
            .field("complete", &self.is_complete())
            .field("notified", &self.is_notified())
            .field("cancelled", &self.is_cancelled())
            .field("join_interest", &self.has_join_interest())
            .field("join_waker", &self.has_join_waker())
            .field("refs", &self.ref_count())
            .field("flags", &(self.0 & FLAG_MASK))
            .finish()
    }
}

#[cfg(all(test, not(ferrio_loom)))]
#[path = "state_tests.rs"]
mod tests;
