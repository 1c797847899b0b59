//! The blocking pool (asyncio's `to_thread`): closures that block (file I/O, a C library call, heavy CPU work)
//! run on threads of their own, so the runtime's workers stay free to poll tasks.
//!
//! A job is an ordinary task: `task::bind` allocates it like a spawned future, with `BlockingJob` as the
//! future (it calls the closure on its first and only poll, without a cooperative budget) and the runtime's
//! `BlockingPool` as the scheduler hook, so its `Notified` goes into the pool's FIFO queue instead of a
//! worker's run queue. The caller gets the same `Task<T>` that `spawn` returns: awaiting, `cancel`,
//! `is_done`, `is_cancelled`, panics as `TaskError`, all through the task machinery.
//!
//! Data flow: `spawn_blocking(f)` finds the thread's runtime (`runtime/context.rs`) -> `spawn_on` ->
//! `BlockingPool::spawn` binds the job into the pool's own owned list and queues its `Notified`, waking an idle
//! pool thread or starting one -> that thread pops it and runs it: `harness::poll` -> `BlockingJob::poll` ->
//! `f()` -> the output is stored and the awaiter woken. A cancel that finds the job still queued reaches the
//! pool through `Schedule::cancel_requested`, which takes it out of the queue and completes it as cancelled.
//!
//! Files: `mod.rs` (entry points, `BlockingJob`, the rules users see), `pool.rs` (threads, shutdown),
//! `job_queue.rs` (the FIFO of waiting jobs, with O(1) removal of a cancelled one).

mod job_queue;
mod pool;

pub(crate) use pool::{BlockingPool, Config};

use crate::runtime::context;
use crate::scheduler::SchedulerHandle;
use crate::task::Task;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Default bound on the pool's threads (`Builder::max_blocking_threads`), as in tokio.
pub(crate) const DEFAULT_MAX_THREADS: usize = 512;

/// Default time an idle pool thread waits for a job before it exits (`Builder::thread_keep_alive`).
pub(crate) const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// How long dropping a `Runtime` waits for blocking jobs that are still running before it leaves them
/// behind (`Runtime::shutdown_timeout` gives its own bound instead).
pub(crate) const DROP_WAIT: Duration = Duration::from_secs(10);

/// Runs the blocking closure `f` on a thread of the current runtime's blocking pool (asyncio's
/// `to_thread`) and returns a [`Task`] for its result, like [`spawn`](crate::spawn) does for a future.
///
/// ```
/// let len = ferrio::run(async {
///     let task = ferrio::spawn_blocking(|| std::fs::read_to_string("Cargo.toml").map(|s| s.len()));
///     task.await.unwrap()
/// });
/// assert!(len.unwrap() > 0);
/// ```
///
/// - **Threads.** Each runtime (either flavour) has its own pool. A thread is started only when no idle pool
///   thread is available and fewer than [`max_blocking_threads`](crate::Builder::max_blocking_threads) run
///   (default 512); jobs beyond that bound wait in a FIFO queue. A thread that finds no job for
///   [`thread_keep_alive`](crate::Builder::thread_keep_alive) (default 10 s) exits. Pool threads are named
///   `{thread_name}-blocking-{n}`. They are not worker threads: a job may `block_on` another runtime, and
///   [`spawn`](crate::spawn) or `spawn_blocking` from inside a job reach the runtime that owns the pool.
/// - **Cancellation.** `cancel()` on a job that has not started takes it out of the queue: the closure never
///   runs and is dropped at once, on the cancelling thread; awaiting gives `Err` with `is_cancelled()`, and
///   `is_done()` is already true. A running closure cannot be stopped: `cancel()` marks its result to be
///   discarded; `is_cancelled()` turns true at once, `is_done()` only when the closure has returned, and
///   awaiting gives the cancelled error. As for any task, dropping a join future of the task before it
///   finished cancels it.
/// - **Panics** in `f` are caught and delivered to the awaiter as a [`TaskError`](crate::TaskError) with
///   `is_panic()`; the pool thread carries on.
/// - **Shutdown.** When the runtime shuts down, jobs that never started are cancelled (dropped unrun). Running
///   jobs are waited for up to [`Runtime::shutdown_timeout`](crate::Runtime::shutdown_timeout)'s bound, or
///   up to 10 seconds when the `Runtime` is dropped; then they are left behind: each finishes on its own
///   thread and its result is discarded.
///
/// # Panics
/// Outside a runtime (use [`Handle::spawn_blocking`](crate::Handle::spawn_blocking) from other threads),
/// or if the runtime was shut down.
#[track_caller]
pub fn spawn_blocking<F, T>(f: F) -> Task<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let mut f = Some(f);
    let at = Location::caller();
    match context::with_current(|handle| spawn_on(handle, f.take().expect("spawned once"), at)) {
        Some(task) => task,
        None => panic!(
            "ferrio::spawn_blocking called outside a runtime: call it from inside block_on, run or a task, or use \
             Handle::spawn_blocking from other threads"
        ),
    }
}

/// `spawn_blocking` on the runtime behind `handle`; `at` is the caller's location (debug mode records it).
#[track_caller]
pub(crate) fn spawn_on<F, T>(
    handle: &SchedulerHandle,
    f: F,
    at: &'static Location<'static>,
) -> Task<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let pool = handle.blocking();
    assert!(
        !handle.is_closed() && !pool.is_closed(),
        "ferrio: spawn_blocking on a runtime that has been shut down (the Runtime was dropped or shut down)"
    );
    pool.spawn(BlockingJob(Some(f)), handle, at)
}

/// The future of a blocking job: calls the closure on its first poll and returns its value. It is polled
/// exactly once (it is never `Pending`), on a pool thread; the closure is moved out before it runs, so
/// whatever it captured is dropped on that thread when it returns.
pub(crate) struct BlockingJob<F>(Option<F>);

// The closure is moved out, never pinned.
impl<F> Unpin for BlockingJob<F> {}

impl<F, T> Future for BlockingJob<F>
where
    F: FnOnce() -> T,
{
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<T> {
        let f = self
            .0
            .take()
            .expect("ferrio: a blocking job was polled after it ran");
        Poll::Ready(f())
    }
}
