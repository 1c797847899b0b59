//! `Runtime` ties the layers together: it builds the reactor and a scheduler flavour, runs `block_on`, and
//! on drop cancels every task and joins its threads. Also `run` (asyncio.run) and the `spawn` entry points.
//!
//! Files: `builder.rs` (configuration), `handle.rs` (`Handle`), `context.rs` (which runtime this thread runs).

mod builder;
pub(crate) mod context;
pub(crate) mod debug;
mod handle;
pub(crate) mod stats;
pub(crate) mod trace;

pub use builder::{Builder, ReactorHandOff};
pub use debug::DebugEvent;
pub use handle::{Handle, TryCurrentError};
pub use stats::{RuntimeStats, WorkerStats};

use crate::blocking::{self, BlockingPool};
use crate::reactor::Reactor;
use crate::scheduler::{current_thread, multi_thread, SchedulerHandle};
use crate::task::Task;
use debug::DebugState;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

/// The executor flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    MultiThread,
    CurrentThread,
}

/// An instance of the ferrio runtime: a reactor plus a scheduler (multi-thread by default).
///
/// Dropping it cancels every task still alive, drops their futures, and joins its threads.
pub struct Runtime {
    handle: Handle,
    kind: Kind,
    /// Set once shut down (by `shutdown_timeout`), so `Drop` does not do it twice.
    shut_down: bool,
}

enum Kind {
    MultiThread {
        shared: Arc<multi_thread::Shared>,
        workers: Mutex<Vec<JoinHandle<()>>>,
    },
    CurrentThread {
        shared: Arc<current_thread::Shared>,
    },
}

impl Runtime {
    /// A multi-thread runtime with one worker per available CPU.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A builder to choose the flavour and its settings.
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn from_builder(b: &Builder) -> io::Result<Runtime> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let runtime_id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let reactor = Reactor::new()?;
        let debug = Arc::new(DebugState::new(
            b.debug.unwrap_or_else(debug::env_requests_debug),
            b.slow_poll_threshold,
            b.debug_callback.clone(),
        ));
        let blocking = BlockingPool::new(blocking::Config {
            max_threads: b.max_blocking_threads,
            keep_alive: b.thread_keep_alive,
            thread_name: b.thread_name.clone(),
            debug: debug.clone(),
        });
        match b.flavor {
            Flavor::CurrentThread => {
                let shared = current_thread::Shared::new(
                    reactor,
                    b.event_interval,
                    runtime_id,
                    b.timer_slack,
                    blocking,
                    debug,
                    b.trace,
                )?;
                Ok(Runtime {
                    handle: Handle {
                        inner: SchedulerHandle::CurrentThread(shared.clone()),
                    },
                    kind: Kind::CurrentThread { shared },
                    shut_down: false,
                })
            }
            Flavor::MultiThread => {
                let n = b
                    .worker_threads
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
                let config = multi_thread::Config {
                    event_interval: b.event_interval,
                    global_queue_interval: b.global_queue_interval,
                    thread_name: b.thread_name.clone(),
                    runtime_id,
                    timer_slack: b.timer_slack,
                    hand_off: b.reactor_hand_off,
                };
                let (shared, queues) =
                    multi_thread::Shared::new(n, config, reactor, blocking, debug, b.trace)?;
                let workers = match multi_thread::spawn_workers(&shared, queues) {
                    Ok(w) => w,
                    Err(e) => {
                        // Stop the threads that did start, and release everything they hold.
                        shared.stop_workers(None);
                        shared.shutdown_tasks();
                        return Err(e);
                    }
                };
                Ok(Runtime {
                    handle: Handle {
                        inner: SchedulerHandle::MultiThread(shared.clone()),
                    },
                    kind: Kind::MultiThread {
                        shared,
                        workers: Mutex::new(workers),
                    },
                    shut_down: false,
                })
            }
        }
    }

    /// Runs `future` to completion on the calling thread and returns its output. The future need not be
    /// `Send`. On the current-thread flavour this is also where the runtime's tasks run.
    ///
    /// # Panics
    /// When called from inside a runtime (a task or another `block_on`): await the future instead.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        match &self.kind {
            Kind::CurrentThread { shared } => shared.block_on(future),
            Kind::MultiThread { shared, .. } => {
                let _enter = context::enter(self.handle.inner.clone(), shared.config.runtime_id);
                park_until_ready(future)
            }
        }
    }

    /// Spawns a task (asyncio's `create_task`). See [`Handle::spawn`].
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs a blocking closure on this runtime's blocking pool. See [`spawn_blocking`](crate::spawn_blocking).
    #[track_caller]
    pub fn spawn_blocking<F, T>(&self, f: F) -> Task<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle.spawn_blocking(f)
    }

    /// A snapshot of the runtime's counters and queue depths. See [`Handle::stats`].
    pub fn stats(&self) -> RuntimeStats {
        self.handle.stats()
    }

    /// Writes the internals trace recorded so far (`Builder::trace`) to `path` as Chrome trace-event JSON:
    /// open it in Perfetto (ui.perfetto.dev) or chrome://tracing, one track per worker. Events: each poll
    /// (task id, duration), wake (local, LIFO, remote, from I/O, from a timer), steal (victim, count), park,
    /// reactor turn (event count, duration) and timer firing. Each worker keeps its newest `capacity` events.
    ///
    /// Errors: `InvalidInput` if the runtime was built without `Builder::trace`; otherwise the file's.
    pub fn dump_trace(&self, path: impl AsRef<std::path::Path>) -> io::Result<()> {
        self.handle.dump_trace(path)
    }

    /// A cloneable handle to spawn onto this runtime from any thread.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Shuts down, waiting at most `timeout` in all for worker threads to finish the poll they are in and for
    /// blocking-pool threads to finish the job they run. Every task is cancelled and its future dropped; a
    /// worker stuck in a long poll is left behind (it exits when that poll returns, and its task is dropped
    /// then), and so is a blocking job still running (it finishes on its thread; its result is discarded).
    /// Returns how many threads (workers and blocking-pool threads) were left behind.
    ///
    /// # Panics
    /// When called from inside one of this runtime's own tasks (it would wait for its own worker): the
    /// runtime's tasks are told to stop first, as when such a task drops the `Runtime`.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> usize {
        if context::entered_runtime() == Some(self.id()) {
            self.stop_from_inside();
            panic!(
                "ferrio: Runtime::shutdown_timeout was called from inside one of the runtime's own tasks; call \
                 it from outside the runtime (its tasks were told to stop)"
            );
        }
        let left = self.shutdown(Some(timeout));
        self.shut_down = true;
        left
    }

    fn id(&self) -> u64 {
        self.handle.inner.runtime_id()
    }

    /// Shuts the scheduler down, then the blocking pool, sharing one deadline (`None`: wait for workers
    /// without bound, and for blocking jobs up to `blocking::DROP_WAIT`).
    fn shutdown(&mut self, timeout: Option<Duration>) -> usize {
        self.handle.inner.debug().pending_at_drop();
        let started = Instant::now();
        let workers_left = self.shutdown_scheduler(timeout);
        let deadline = match timeout {
            Some(timeout) => started + timeout,
            None => Instant::now() + blocking::DROP_WAIT,
        };
        workers_left + self.handle.inner.blocking().shutdown(deadline)
    }

    fn shutdown_scheduler(&mut self, timeout: Option<Duration>) -> usize {
        match &self.kind {
            Kind::CurrentThread { shared } => {
                shared.shutdown();
                0
            }
            Kind::MultiThread { shared, workers } => {
                let left = shared.stop_workers(timeout);
                let handles = std::mem::take(&mut *workers.lock().unwrap());
                if left == 0 {
                    for handle in handles {
                        // Workers catch task panics; a worker thread that died anyway has nothing to report.
                        let _ = handle.join();
                    }
                }
                shared.shutdown_tasks();
                left
            }
        }
    }
}

impl Runtime {
    /// Stops a runtime from one of its own worker threads, where joining its threads would deadlock: tell
    /// them to stop, cancel every other task now (the running ones finish their poll first), shut the
    /// blocking pool down without waiting.
    fn stop_from_inside(&mut self) {
        self.shut_down = true;
        if let Kind::MultiThread { shared, .. } = &self.kind {
            shared.stop_workers(Some(Duration::ZERO));
            shared.shutdown_tasks();
        }
        self.handle.inner.blocking().shutdown(Instant::now());
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if !self.shut_down && context::entered_runtime() == Some(self.id()) {
            self.stop_from_inside();
            panic!(
                "ferrio: a Runtime was dropped from inside one of its own tasks; drop it from outside the \
                 runtime (its tasks were told to stop)"
            );
        }
        if !self.shut_down {
            self.shutdown(None);
        }
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("handle", &self.handle)
            .finish()
    }
}

/// Polls `future` on this thread, sleeping (`thread::park`) between wake-ups.
fn park_until_ready<F: Future>(future: F) -> F::Output {
    struct ThreadWaker(Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

/// Runs `future` on a new default runtime and returns its output (asyncio's `run`).
///
/// Builds a multi-thread runtime (`FERRIO_WORKER_THREADS`, if set, gives the worker count), runs the future
/// on the calling thread (it need not be `Send`), then cancels every task still alive and waits until their
/// futures are dropped before returning.
///
/// # Panics
/// If the runtime cannot be built, if `FERRIO_WORKER_THREADS` is not a positive integer, or when called
/// from inside a runtime.
#[track_caller]
pub fn run<F: Future>(future: F) -> F::Output {
    let mut builder = Builder::new();
    if let Ok(value) = std::env::var("FERRIO_WORKER_THREADS") {
        match value.trim().parse::<usize>() {
            Ok(n) if n > 0 => {
                builder.worker_threads(n);
            }
            _ => panic!(
                "ferrio::run: FERRIO_WORKER_THREADS must be a positive integer, got {value:?}"
            ),
        }
    }
    let runtime = builder
        .build()
        .unwrap_or_else(|e| panic!("ferrio::run: cannot build the runtime: {e}"));
    let output = runtime.block_on(future);
    drop(runtime);
    output
}

/// Spawns a task on the current runtime (asyncio's `create_task`). The task starts running soon, on any
/// worker; the returned [`Task`] can be awaited, cancelled, or dropped to detach it.
///
/// # Panics
/// Outside a runtime (use [`Handle::spawn`] from other threads), or if the runtime was shut down.
#[track_caller]
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut future = Some(future);
    let at = std::panic::Location::caller();
    match context::with_current(|handle| handle.spawn_at(future.take().expect("spawned once"), at)) {
        Some(task) => task,
        None => panic!(
            "ferrio::spawn called outside a runtime: call it from inside block_on, run or a task, or use \
             Handle::spawn from other threads"
        ),
    }
}

/// Spawns a future that is not `Send` on the current-thread runtime running on this thread. It is polled
/// and dropped only on this thread.
///
/// ```compile_fail
/// // A `Task` of a `!Send` output cannot leave its thread:
/// let rt = ferrio::Runtime::builder().current_thread().build().unwrap();
/// rt.block_on(async {
///     let task = ferrio::spawn_local(async { std::rc::Rc::new(5) });
///     std::thread::spawn(move || drop(task));
/// });
/// ```
///
/// ```compile_fail
/// // `spawn` (which may move the future to another thread) refuses `!Send` futures:
/// ferrio::run(async {
///     let rc = std::rc::Rc::new(5);
///     ferrio::spawn(async move { drop(rc) });
/// });
/// ```
///
/// # Panics
/// On the multi-thread flavour, outside a runtime, or on a thread other than the one that built the
/// current-thread runtime.
#[track_caller]
pub fn spawn_local<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let mut future = Some(future);
    let at = std::panic::Location::caller();
    let spawned = context::with_current(|handle| {
        match handle {
        SchedulerHandle::CurrentThread(shared) => shared.spawn_local(future.take().expect("spawned once"), at),
        SchedulerHandle::MultiThread(_) => panic!(
            "ferrio::spawn_local called on the multi-thread flavour, whose tasks move between threads; build \
             the runtime with Builder::current_thread() to run futures that are not Send"
        ),
    }
    });
    match spawned {
        Some(task) => task,
        None => panic!("ferrio::spawn_local called outside a runtime: call it from inside a current-thread block_on"),
    }
}
