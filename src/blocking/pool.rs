//! `BlockingPool`: the threads that run blocking jobs, the FIFO queue of jobs waiting for one, and the pool's
//! side of shutdown.
//!
//! Data flow: `spawn` binds the job into the pool's `OwnedTasks` and pushes its `Notified` on `queue` under
//! `state`'s lock; if a thread is idle the push hands it the job (`idle -= 1`, `handoffs += 1`, one condvar
//! signal), otherwise it starts a thread while fewer than `max_threads` exist, otherwise the job waits. A pool
//! thread pops jobs until the queue is empty, then waits idle for up to `keep_alive`; an idle thread that
//! wakes with a hand-off counted for it takes the next job, one whose wait times out with none exits.
//!
//! Counting rules, all under the `state` lock: `threads` counts threads started and not yet exited; `idle`
//! counts threads waiting on the condvar that nobody has claimed; a pusher that claims an idle thread moves it
//! from `idle` to `handoffs`, and the woken thread consumes one hand-off. So a burst of pushes never counts the
//! same idle thread twice, and a spurious condvar wake-up (no hand-off to consume) leaves the thread idle.
//!
//! Cancellation of a queued job comes in through `Schedule::cancel_requested`: the job's `Notified` is taken
//! out of the queue (in O(1): `job_queue.rs`) and run on the cancelling thread, which sees the task
//! cancelled and drops the closure without calling it. Shutdown closes `owned` (cancelling every job:
//! queued ones are dropped unrun, running ones will have their result discarded), drains the queue, wakes
//! idle threads so they exit, and waits for busy threads up to a deadline.

use super::job_queue::JobQueue;
use crate::runtime::context;
use crate::runtime::debug::DebugState;
use crate::scheduler::SchedulerHandle;
use crate::task::{self, Notified, Outcome, OwnedTasks, RawTask, Schedule, Task, TaskId};
use std::cell::Cell;
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The pool's settings (`Builder::max_blocking_threads`, `Builder::thread_keep_alive`).
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) max_threads: usize,
    pub(crate) keep_alive: Duration,
    /// Threads are named `{thread_name}-blocking-{n}`.
    pub(crate) thread_name: String,
    /// The runtime's debug mode: spawn locations and unretrieved panics of jobs are reported like tasks'.
    pub(crate) debug: Arc<DebugState>,
}

/// One runtime's blocking pool. Cloning shares it.
#[derive(Clone)]
pub(crate) struct BlockingPool {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// Signalled when a job is handed to an idle thread, and at shutdown.
    job_ready: Condvar,
    /// Signalled when a thread exits (shutdown waits on it).
    thread_exited: Condvar,
    /// Every job not yet completed; closing it at shutdown cancels them all.
    owned: OwnedTasks,
    config: Config,
}

struct State {
    queue: JobQueue,
    threads: usize,
    idle: usize,
    handoffs: usize,
    /// Numbers the threads' names.
    next_thread: usize,
    shutdown: bool,
}

thread_local! {
    /// The pool this thread belongs to (null on other threads): a runtime shut down from one of its own
    /// blocking jobs must not wait for the very thread doing the shutdown.
    static POOL_THREAD: Cell<*const Inner> = const { Cell::new(std::ptr::null()) };
}

/// The scheduler hook of a blocking job: where its `Notified` goes.
struct PoolHook(Arc<Inner>);

impl BlockingPool {
    pub(crate) fn new(config: Config) -> BlockingPool {
        BlockingPool {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    queue: JobQueue::default(),
                    threads: 0,
                    idle: 0,
                    handoffs: 0,
                    next_thread: 0,
                    shutdown: false,
                }),
                job_ready: Condvar::new(),
                thread_exited: Condvar::new(),
                owned: OwnedTasks::new(1),
                config,
            }),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.inner.owned.is_closed()
    }

    /// Queues `job` (a `BlockingJob`); `runtime` is what the pool's threads see as their current runtime.
    pub(crate) fn spawn<F>(
        &self,
        job: F,
        runtime: &SchedulerHandle,
        at: &'static std::panic::Location<'static>,
    ) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (task, notified) = task::bind(job, PoolHook(self.inner.clone()), &self.inner.owned);
        let Some(notified) = notified else {
            // The pool closed between the caller's check and the bind: the task is already cancelled.
            return task;
        };
        self.inner.config.debug.on_spawn(task.id(), at);
        let mut state = self.inner.lock();
        if state.shutdown {
            drop(state);
            // Shutdown closed `owned` before setting the flag, so this task was cancelled: running it drops
            // the job unrun and completes the task.
            notified.run();
            return task;
        }
        state.queue.push_back(notified);
        if state.idle > 0 {
            state.idle -= 1;
            state.handoffs += 1;
            drop(state);
            self.inner.job_ready.notify_one();
        } else if state.threads < self.inner.config.max_threads {
            if let Err(e) = self.start_thread(&mut state, runtime) {
                if state.threads == 0 {
                    // Nobody will ever take the job: take it back, cancel it, and say why.
                    let job = state.queue.pop_back();
                    drop(state);
                    task.cancel();
                    if let Some(job) = job {
                        job.run();
                    }
                    panic!("ferrio::spawn_blocking: cannot start a blocking-pool thread: {e}");
                }
                // Busy threads will reach the job when they finish theirs.
            }
        }
        task
    }

    /// Starts one pool thread (the lock is held, so the count stays exact).
    fn start_thread(
        &self,
        state: &mut MutexGuard<'_, State>,
        runtime: &SchedulerHandle,
    ) -> std::io::Result<()> {
        let name = format!(
            "{}-blocking-{}",
            self.inner.config.thread_name, state.next_thread
        );
        let inner = self.inner.clone();
        let runtime = runtime.clone();
        std::thread::Builder::new().name(name).spawn(move || {
            let _current = context::set_current(runtime);
            POOL_THREAD.with(|p| p.set(Arc::as_ptr(&inner)));
            inner.run_thread();
        })?;
        state.threads += 1;
        state.next_thread += 1;
        Ok(())
    }

    /// Runtime shutdown: cancels every job (queued ones are dropped unrun, on this thread), then waits until
    /// `deadline` for the threads still running a job. Returns how many were left behind. Called from one of
    /// this pool's own threads (a job dropping its runtime), it does not wait for itself, and counts itself
    /// as left behind.
    pub(crate) fn shutdown(&self, deadline: Instant) -> usize {
        // Closing first means every job a later `spawn` might still push is cancelled (see `spawn`).
        self.inner.owned.close_and_shutdown_all();
        let queued = {
            let mut state = self.inner.lock();
            state.shutdown = true;
            state.queue.take_all()
        };
        // Already cancelled and dropped by `close_and_shutdown_all`: these only release references.
        drop(queued);
        self.inner.job_ready.notify_all();
        let own =
            usize::from(POOL_THREAD.with(|p| std::ptr::eq(p.get(), Arc::as_ptr(&self.inner))));
        let mut state = self.inner.lock();
        while state.threads > own {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self
                .inner
                .thread_exited
                .wait_timeout(state, deadline - now)
                .unwrap()
                .0;
        }
        state.threads
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Jobs run outside the lock, so a poisoned lock only means a panic in our own bookkeeping, whose
        // counts were updated before any call that can panic: carry on with them.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A pool thread's loop: run queued jobs, wait idle, exit after `keep_alive` without work or at shutdown.
    fn run_thread(&self) {
        let mut state = self.lock();
        'outer: loop {
            while let Some(job) = state.queue.pop_front() {
                drop(state);
                // The harness catches the closure's panic and hands it to the awaiter.
                job.run();
                state = self.lock();
            }
            if state.shutdown {
                break;
            }
            state.idle += 1;
            let deadline = Instant::now() + self.config.keep_alive;
            loop {
                let now = Instant::now();
                let timed_out = now >= deadline;
                if !timed_out {
                    state = self
                        .job_ready
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                if state.handoffs > 0 {
                    // A pusher counted us out of `idle` and handed us its job.
                    state.handoffs -= 1;
                    continue 'outer;
                }
                if state.shutdown || timed_out {
                    state.idle -= 1;
                    break 'outer;
                }
                // A spurious wake-up: still idle.
            }
        }
        state.threads -= 1;
        drop(state);
        self.thread_exited.notify_all();
    }
}

impl Schedule for PoolHook {
    fn schedule(&self, task: Notified) {
        // A job is `NOTIFIED` from its bind until it runs and is never pending, so this is reached only in
        // corner cases of the task state machine; queue it like a new job, or run it (cancelled) at shutdown.
        let mut state = self.0.lock();
        if state.shutdown {
            drop(state);
            task.run();
            return;
        }
        state.queue.push_back(task);
        if state.idle > 0 {
            state.idle -= 1;
            state.handoffs += 1;
            drop(state);
            self.0.job_ready.notify_one();
        }
    }

    fn yield_task(&self, task: Notified) {
        self.schedule(task);
    }

    fn release(&self, task: RawTask) -> bool {
        self.0.owned.remove(task)
    }

    fn task_finished(&self, id: TaskId, outcome: Outcome) {
        self.0
            .config
            .debug
            .on_finish(id, outcome == Outcome::Panicked);
    }

    fn unretrieved_panic(&self, id: TaskId, message: Option<String>) {
        self.0.config.debug.unretrieved_panic(id, message);
    }

    fn cancel_requested(&self, task: RawTask) {
        let unqueued = self.0.lock().queue.remove(task);
        // Not found: a thread already took it (it will see the flag before calling the closure, or is
        // running it, whose result is then discarded).
        if let Some(job) = unqueued {
            job.run();
        }
    }

    // Blocking jobs run once, to completion: there is nothing to yield to.
    const COOPERATIVE_BUDGET: bool = false;
}
