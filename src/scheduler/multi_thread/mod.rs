//! The multi-thread work-stealing scheduler: state shared by all workers, and how a task gets scheduled.
//!
//! Files: `queue.rs` (each worker's ring), `inject.rs` (the global queue), `idle.rs` (who sleeps, who
//! searches), `park.rs` (how a worker sleeps: in the reactor or on a condvar), `worker.rs` (the worker loop:
//! run, steal, park), `hook.rs` (a task's hook: its calls into this runtime, and its reference on it).
//!
//! Where a woken task goes:
//! - woken on one of this runtime's workers, while that worker runs a task: into the worker's LIFO slot
//!   (the task it displaces goes to the back of the ring), or, if woken during its own poll (`yield_now`),
//!   to the back of the ring;
//! - woken by a reactor turn that a parked worker made: into that worker's LIFO slot (it is awake and runs
//!   the task next; it hands the reactor to a sleeper first, under `ReactorHandOff::WhenShared` only if it
//!   has more than one task);
//!   a busy worker's non-blocking reactor poll (every `event_interval` ticks) likewise queues in its ring;
//! - from anywhere else (a thread that is not one of this runtime's workers): the global injection queue,
//!   then one sleeping worker is woken if nobody is searching.
//!
//! The injection queue (`inject.rs`) is a `VecDeque` behind a spin lock: foreign pushes take the lock once
//! each, and the ring overflow's half-ring batch goes in, and a worker's fair share comes back out, under
//! one lock per batch (a lock-free `SegQueue` paid per task each way: BENCHMARKS.md, "scaling").

mod hook;
mod idle;
mod inject;
mod park;
mod queue;
mod worker;

use crate::loom::{AtomicBool, AtomicPtr, AtomicU64, Condvar, Mutex};
use crate::reactor::{Reactor, ReactorRegistry};
use crate::runtime::debug::DebugState;
use crate::runtime::stats::{Event, RuntimeCounters, RuntimeStats};
use crate::runtime::trace::{Tracer, WakeKind};
use crate::scheduler::task_refs::PaddedTaskRefs;
use crate::task::{self, Header, Notified, OwnedTasks, RawTask, Task};
use crate::time::TimeDriver;
use hook::TaskHook;
use idle::Idle;
use inject::InjectQueue;
use park::Parker;
use queue::Stealer;
use std::future::Future;
use std::ptr;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use worker::spawn_workers;

/// Tuning knobs (the "state N" of the design notes).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// A busy worker polls the reactor without blocking every this many ticks.
    pub(crate) event_interval: u32,
    /// A worker takes from the global queue first every this many ticks (fairness).
    pub(crate) global_queue_interval: u32,
    /// Thread name prefix.
    pub(crate) thread_name: String,
    /// Runtime id, to tell this runtime's workers from another's.
    pub(crate) runtime_id: u64,
    /// Timer slack of the worker threads (`prctl(PR_SET_TIMERSLACK)`).
    pub(crate) timer_slack: Duration,
    /// When a worker leaving the reactor with tasks wakes a sleeper (`Builder::reactor_hand_off`).
    pub(crate) hand_off: crate::ReactorHandOff,
}

/// At most this many tasks run from the LIFO slot in a row before it yields to the ring.
pub(crate) const MAX_LIFO_POLLS_PER_TICK: usize = 3;

/// Everything the workers share. One per runtime, behind an `Arc`. Tasks keep it alive through the task
/// references of `task_refs` (`hook.rs`), which hold one count on the `Arc` between them.
///
/// Aligned to 128 bytes so the `Arc`'s counters (bumped by handles and foreign wakes) sit on their own
/// cache lines instead of sharing one with the fields every worker reads.
#[repr(align(128))]
pub(crate) struct Shared {
    remotes: Box<[Remote]>,
    inject: InjectQueue,
    idle: Idle,
    reactor: Mutex<Reactor>,
    pub(crate) registry: Arc<ReactorRegistry>,
    pub(crate) owned: OwnedTasks,
    /// The references that task hooks hold on this `Shared` (`scheduler/task_refs.rs`).
    task_refs: PaddedTaskRefs,
    /// Never replaced while `Shared` lives: task hooks lend it to the sleeps inside their futures
    /// (`Schedule::time_driver`).
    pub(crate) time: Arc<TimeDriver>,
    /// The blocking pool (`spawn_blocking`); shut down by `Runtime` after the workers.
    pub(crate) blocking: crate::blocking::BlockingPool,
    /// Per-worker counters (`runtime/stats.rs`).
    pub(crate) stats: RuntimeCounters,
    /// Debug mode (`runtime/debug.rs`).
    pub(crate) debug: Arc<DebugState>,
    /// The internals trace, when enabled (`runtime/trace.rs`).
    pub(crate) trace: Option<Tracer>,
    shutdown: AtomicBool,
    /// Worker threads started.
    pub(crate) started: crate::loom::AtomicUsize,
    /// Workers that have left their loop, with a condvar for `shutdown_timeout`.
    exited: Mutex<usize>,
    exited_cv: Condvar,
    pub(crate) config: Config,
}

/// The parts of a worker that other threads touch. Aligned so that one worker's writes (`lifo`, `polls`)
/// do not invalidate its neighbour's line.
#[repr(align(128))]
struct Remote {
    stealer: Stealer,
    /// The LIFO slot: the task most recently woken by this worker. Written (non-null) only by the owner;
    /// stealers may take it (`swap(null)`) when the owner seems stuck (see `worker.rs`). Holds one
    /// `Notified` reference when non-null.
    lifo: AtomicPtr<Header>,
    /// Polls this worker has started (single writer, relaxed): lets stealers see whether it progresses.
    polls: AtomicU64,
    parker: Parker,
}

impl Shared {
    pub(crate) fn new(
        num_workers: usize,
        config: Config,
        reactor: Reactor,
        blocking: crate::blocking::BlockingPool,
        debug: Arc<DebugState>,
        trace_capacity: Option<usize>,
    ) -> std::io::Result<(Arc<Shared>, Vec<queue::LocalQueue>)> {
        let mut locals = Vec::with_capacity(num_workers);
        let remotes = (0..num_workers)
            .map(|_| {
                let (local, stealer) = queue::new();
                locals.push(local);
                Remote {
                    stealer,
                    lifo: AtomicPtr::new(ptr::null_mut()),
                    polls: AtomicU64::new(0),
                    parker: Parker::new(),
                }
            })
            .collect();
        let registry = reactor.registry().clone();
        let time = TimeDriver::new(&registry, num_workers, config.runtime_id)?;
        let shared = Arc::new(Shared {
            remotes,
            inject: InjectQueue::new(),
            idle: Idle::new(num_workers),
            reactor: Mutex::new(reactor),
            registry,
            owned: OwnedTasks::new(num_workers),
            task_refs: PaddedTaskRefs::new(),
            time,
            blocking,
            stats: RuntimeCounters::new(config.runtime_id, num_workers),
            debug,
            trace: trace_capacity.map(|c| Tracer::new(config.runtime_id, num_workers, c)),
            shutdown: AtomicBool::new(false),
            started: crate::loom::AtomicUsize::new(0),
            exited: Mutex::new(0),
            exited_cv: Condvar::new(),
            config,
        });
        Ok((shared, locals))
    }

    pub(crate) fn num_workers(&self) -> usize {
        self.remotes.len()
    }

    /// Spawns a task (`Send` future) onto this runtime.
    pub(crate) fn spawn<F>(
        self: &Arc<Self>,
        future: F,
        at: &'static std::panic::Location<'static>,
    ) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (task, notified) = task::bind(future, TaskHook::new(self), &self.owned);
        if let Some(notified) = notified {
            self.debug.on_spawn(task.id(), at);
            // Counted where it lands: on the spawning worker's block (index at hand), else the foreign one.
            match worker::try_schedule_local(self, notified, false) {
                Ok(index) => self.stats.record_worker(index, Event::Spawned, 1),
                Err(notified) => {
                    self.stats.record(Event::Spawned, 1);
                    self.push_remote(notified);
                }
            }
        } else {
            // Refused by the closing list (a spawn racing with shutdown): counted as spawned, so that
            // spawned still adds up to completed + cancelled + panicked with its `Cancelled`.
            self.stats.record(Event::Spawned, 1);
        }
        task
    }

    /// A snapshot of the counters, with the queue depths of this moment.
    pub(crate) fn stats(&self) -> RuntimeStats {
        self.stats
            .snapshot(|i| self.remotes[i].stealer.len(), self.inject.len())
    }

    /// Schedules a woken task, called through its hook, where `self` is a copy living inside the task: take
    /// our own reference before publishing, since a worker may run and free the task at once and the
    /// runtime may be dropped meanwhile (see `Schedule`).
    fn schedule_from_hook(self: &Arc<Self>, task: Notified, is_yield: bool) {
        if let Err(task) = worker::try_schedule_local(self, task, is_yield) {
            Arc::clone(self).push_remote(task);
        }
    }

    /// Queues a task from outside the workers and wakes a sleeper if nobody is searching.
    fn push_remote(&self, task: Notified) {
        if let Some(tracer) = &self.trace {
            crate::scheduler::observe::traced_wake(tracer, task.task().id(), WakeKind::Remote);
        }
        self.inject.push(task);
        self.notify_parked();
        // A push that lands after shutdown drained the queue would never be released (and its task would
        // keep `Shared` alive through its hook): once closed, whoever pushes drains.
        std::sync::atomic::fence(SeqCst);
        if self.owned.is_closed() {
            while let Some(task) = self.inject.pop() {
                drop(task);
            }
        }
    }

    fn push_overflow(&self, batch: Vec<Notified>) {
        self.inject.push_batch(batch);
        // A full ring is a real pile-up: get help now rather than after the current poll. The full check
        // (`notify_parked`, a read-modify-write on `Idle`'s word), not the local one's plain load: the
        // queue's length is a plain store, and a store then a load on another word could both miss a
        // worker that is parking at that moment (one read-modify-write per 129 tasks).
        self.notify_parked();
    }

    /// Wakes one sleeping worker if no worker is searching.
    fn notify_parked(&self) {
        if let Some(index) = self.idle.worker_to_notify() {
            self.remotes[index].parker.unpark(&self.registry);
        }
    }

    /// `notify_parked` for work a running worker queued in its own ring (see `Idle::worker_to_notify_local`).
    fn notify_parked_local(&self) {
        if let Some(index) = self.idle.worker_to_notify_local() {
            self.remotes[index].parker.unpark(&self.registry);
        }
    }

    /// Called by the last searcher before it sleeps: if the global queue or a ring still holds work, wake
    /// someone for it. (LIFO slots are the worker's own next task; the caller checks them for stuck
    /// owners, `worker::Core::victim_is_stuck`.)
    fn notify_if_work_pending(&self) {
        let pending = !self.inject.is_empty() || self.remotes.iter().any(|r| r.stealer.has_tasks());
        if pending {
            self.notify_parked();
        }
    }

    fn is_shutdown(&self) -> bool {
        self.shutdown.load(Acquire)
    }

    /// Tells every worker to stop, and waits up to `timeout` for them to leave their loops. Returns the
    /// number of workers still inside a task poll when the time ran out.
    pub(crate) fn stop_workers(&self, timeout: Option<Duration>) -> usize {
        self.shutdown.store(true, SeqCst);
        for remote in self.remotes.iter() {
            remote.parker.unpark(&self.registry);
        }
        // A worker blocked in the reactor without being the parker's PARKED_REACTOR yet still gets out.
        self.registry.unpark();
        // Only threads that were started can count out (a spawn may have failed part-way).
        let n = self.started.load(SeqCst);
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut exited = self.exited.lock().unwrap();
        while *exited < n {
            match deadline {
                None => exited = self.exited_cv.wait(exited).unwrap(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return n - *exited;
                    }
                    exited = self
                        .exited_cv
                        .wait_timeout(exited, deadline - now)
                        .unwrap()
                        .0;
                }
            }
        }
        0
    }

    fn worker_exited(&self) {
        *self.exited.lock().unwrap() += 1;
        self.exited_cv.notify_all();
    }

    /// After the workers stopped: cancel every live task (dropping its future on this thread) and release
    /// whatever is still queued.
    pub(crate) fn shutdown_tasks(&self) {
        self.owned.close_and_shutdown_all();
        self.time.shutdown();
        self.registry.shutdown();
        // Pairs with the fence in `push_remote`: a pusher that saw the list open pushed before this drain
        // looks (the queue's empty check is a plain load, with no fence of its own).
        std::sync::atomic::fence(SeqCst);
        while let Some(task) = self.inject.pop() {
            drop(task);
        }
        for remote in self.remotes.iter() {
            drop(remote.lifo_take());
        }
    }

    /// Tasks alive on this runtime (a snapshot).
    pub(crate) fn live_tasks(&self) -> usize {
        self.owned.len()
    }
}

impl Remote {
    /// Puts `task` in the LIFO slot (owner only); returns the task it displaced.
    fn lifo_put(&self, task: Notified) -> Option<Notified> {
        let new = task.into_raw().header_ptr().as_ptr();
        // Only the owner stores non-null values: if the slot reads null, no stealer can race a store.
        if self.lifo.load(Relaxed).is_null() {
            self.lifo.store(new, Release);
            return None;
        }
        let old = self.lifo.swap(new, AcqRel);
        ptr::NonNull::new(old).map(|p| Notified::from_raw(RawTask::from_header(p)))
    }

    /// Takes the LIFO task (owner or stealer).
    fn lifo_take(&self) -> Option<Notified> {
        if self.lifo.load(Relaxed).is_null() {
            return None;
        }
        let old = self.lifo.swap(ptr::null_mut(), AcqRel);
        ptr::NonNull::new(old).map(|p| Notified::from_raw(RawTask::from_header(p)))
    }

    fn has_lifo(&self) -> bool {
        !self.lifo.load(Relaxed).is_null()
    }
}
