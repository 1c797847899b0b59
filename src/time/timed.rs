//! `timed`: measure how long a future takes (the seed chapter's `async_timed` decorator).

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Runs `future` and resolves to `(output, elapsed)`, timed from its first poll to its completion.
/// Works on any executor (it needs no runtime).
pub fn timed<F: IntoFuture>(future: F) -> Timed<F::IntoFuture> {
    Timed {
        future: future.into_future(),
        started: None,
    }
}

/// Future returned by [`timed`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Timed<F> {
    future: F,
    started: Option<Instant>,
}

impl<F: Future> Future for Timed<F> {
    type Output = (F::Output, Duration);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of `future`; `started` is plain data, nothing is moved out.
        let this = unsafe { self.get_unchecked_mut() };
        let started = *this.started.get_or_insert_with(Instant::now);
        // SAFETY: as above.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        future.poll(cx).map(|output| (output, started.elapsed()))
    }
}
