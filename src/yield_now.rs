//! `yield_now()`: give the other ready tasks a turn (asyncio's `await asyncio.sleep(0)`).
//!
//! The future wakes its own task and returns `Pending` once. A task woken during its own poll is queued
//! behind the tasks already waiting (`Schedule::yield_task`), so every ready task runs before it resumes.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields to the scheduler once; resumes after the tasks that were already ready have run.
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// Future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
