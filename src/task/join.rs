//! The public face of a task: `Task<T>` (asyncio's `Task` returned by `create_task`), the futures that await
//! it (`Join`, `JoinRef`), and `shield`.
//!
//! Awaiting goes through `IntoFuture`: `task.await` and `(&mut task).await` both yield
//! `Result<T, TaskError>`. Their join futures cancel the task when dropped before it finished; that is how
//! cancellation propagates down a chain of awaits (a cancelled parent drops its future, which drops the join
//! future, which cancels the child). `shield(&mut task)` awaits without that propagation.

use super::error::{TaskError, TaskId};
use super::raw::RawTask;
use super::state::TransitionToCancelled;
use crate::coop;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A handle to a spawned task (asyncio's `Task`).
///
/// Dropping it detaches the task, which runs on. Awaiting it (by value or through `&mut`) gives the task's
/// output, or a `TaskError` when it was cancelled or panicked; if that await is abandoned before the task
/// finished, the task is cancelled (asyncio's propagation). Use [`shield`] to await without propagating.
pub struct Task<T> {
    raw: RawTask,
    _output: PhantomData<T>,
}

// SAFETY: the handle only moves the output `T` across threads (reading it on the awaiting thread), so it is
// `Send` exactly when `T` is; the future itself is never touched through the handle (raw.rs invariant 5).
unsafe impl<T: Send> Send for Task<T> {}
// SAFETY: through `&Task<T>` only the atomic state word is used (`cancel`, `is_done`, ...), never the output.
unsafe impl<T: Send> Sync for Task<T> {}

impl<T> Unpin for Task<T> {}

impl<T> Task<T> {
    pub(crate) fn from_raw(raw: RawTask) -> Task<T> {
        Task {
            raw,
            _output: PhantomData,
        }
    }

    /// Requests cancellation (asyncio's `Task.cancel`): the task's future is dropped at its next await point
    /// instead of being polled again, and awaiting the task gives `Err(TaskError)` with `is_cancelled()`.
    ///
    /// An idle task is rescheduled so the scheduler drops it on its next turn; `is_done()` turns true only
    /// then. Returns `false` if the task had already finished (it keeps its result), `true` otherwise.
    pub fn cancel(&self) -> bool {
        cancel_raw(self.raw)
    }

    /// True once the task's future has completed or been dropped (asyncio's `Task.done`).
    pub fn is_done(&self) -> bool {
        self.raw.state().load().is_complete()
    }

    /// True once a cancellation was accepted (asyncio's `Task.cancelling() > 0`; after `is_done()`, the same as
    /// `Task.cancelled()`): the task ends, or has ended, in `Err(Cancelled)`.
    pub fn is_cancelled(&self) -> bool {
        self.raw.state().load().is_cancelled()
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.raw.id()
    }

    fn poll_output(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, TaskError>> {
        let Poll::Ready(budget) = coop::poll_proceed(cx) else {
            return Poll::Pending;
        };
        let mut out = Poll::Pending;
        // SAFETY: we are the handle (JOIN_INTEREST is ours until `Drop`), and `out` has the task's output type.
        unsafe { self.raw.try_read_output(&mut out, cx.waker()) };
        if out.is_ready() {
            budget.made_progress();
        }
        out
    }
}

fn cancel_raw(raw: RawTask) -> bool {
    match raw.state().transition_to_cancelled() {
        TransitionToCancelled::AlreadyComplete => false,
        TransitionToCancelled::Requested => {
            // Queued or running: its scheduler may act now (the blocking pool unqueues a job that has not
            // started); the others do nothing.
            raw.cancel_requested();
            true
        }
        TransitionToCancelled::Submit => {
            raw.schedule();
            true
        }
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        self.raw.drop_join_handle();
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id())
            .field("done", &self.is_done())
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// The future of `task.await`: owns the handle; cancels the task if dropped before it finished.
#[must_use = "futures do nothing unless awaited"]
pub struct Join<T> {
    task: Task<T>,
}

/// The future of `(&mut task).await`: cancels the task if dropped before it finished.
#[must_use = "futures do nothing unless awaited"]
pub struct JoinRef<'a, T> {
    task: &'a mut Task<T>,
}

/// The future of [`shield`]: awaits a task without cancelling it when dropped (asyncio's `shield`).
#[must_use = "futures do nothing unless awaited"]
pub struct Shield<'a, T> {
    task: &'a mut Task<T>,
}

/// Awaits `task` without propagating cancellation to it (asyncio's `shield`): if this future is dropped
/// early (say a `timeout` around it expired, or the awaiting task was cancelled), the task runs on and can be
/// awaited again.
pub fn shield<T>(task: &mut Task<T>) -> Shield<'_, T> {
    Shield { task }
}

impl<T> IntoFuture for Task<T> {
    type Output = Result<T, TaskError>;
    type IntoFuture = Join<T>;
    fn into_future(self) -> Join<T> {
        Join { task: self }
    }
}

impl<'a, T> IntoFuture for &'a mut Task<T> {
    type Output = Result<T, TaskError>;
    type IntoFuture = JoinRef<'a, T>;
    fn into_future(self) -> JoinRef<'a, T> {
        JoinRef { task: self }
    }
}

impl<T> Future for Join<T> {
    type Output = Result<T, TaskError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().task.poll_output(cx)
    }
}

impl<T> Future for JoinRef<'_, T> {
    type Output = Result<T, TaskError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().task.poll_output(cx)
    }
}

impl<T> Future for Shield<'_, T> {
    type Output = Result<T, TaskError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().task.poll_output(cx)
    }
}

impl<T> Drop for Join<T> {
    fn drop(&mut self) {
        cancel_raw(self.task.raw);
    }
}

impl<T> Drop for JoinRef<'_, T> {
    fn drop(&mut self) {
        cancel_raw(self.task.raw);
    }
}

impl<T> fmt::Debug for Join<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Join").field(&self.task).finish()
    }
}

impl<T> fmt::Debug for JoinRef<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JoinRef").field(&self.task).finish()
    }
}

impl<T> fmt::Debug for Shield<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Shield").field(&self.task).finish()
    }
}
