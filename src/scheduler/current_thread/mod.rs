//! The current-thread scheduler: one thread, one FIFO run queue, asyncio's scheduling order.
//!
//! `block_on` runs ticks like asyncio's `BaseEventLoop._run_once`: each tick first moves tasks woken from
//! other threads into the run queue, then runs exactly the entries that were queued when the tick began, in
//! order; whatever they wake or spawn waits for the next tick. The `block_on` future itself is an entry of
//! the same queue (asyncio's main task), so a spawned task first runs when its spawner awaits something
//! pending, exactly as `create_task` behaves. When the queue is empty the thread blocks in the reactor; while
//! it is busy, the reactor is polled without blocking every `event_interval` task polls.
//!
//! `spawn_local` futures (not `Send`) live only here: their `Notified`s are only run by `block_on` on the
//! owner thread, and shutdown drops them on that thread (raw.rs invariant 5). Wakes from other threads go
//! through `remote` and a write to the reactor's eventfd when the thread is parked.
//!
//! A task spawned on the loop thread is linked on the core's own owned-task list and queued on the core's
//! run queue, with no lock and no atomic operation besides the task's own; a task spawned elsewhere goes on
//! the shared `owned` list (locked) and through `remote`. At completion `release_task` unlinks it from
//! whichever list it is on.

use crate::loom::{AtomicBool, AtomicUsize, Mutex};
use crate::reactor::{Reactor, ReactorRegistry};
use crate::runtime::context;
use crate::runtime::debug::DebugState;
use crate::runtime::stats::{self, Event, RuntimeCounters, RuntimeStats};
use crate::runtime::trace::{Tracer, WakeKind};
use crate::scheduler::task_refs::{self, PaddedTaskRefs, RefStash};
use crate::scheduler::{observe, SchedulerHandle};
use crate::task::{self, LocalOwnedTasks, Notified, OwnedTasks, RawTask, Schedule, Task};
use crate::time::{set_timer_slack, TimeDriver};
use crossbeam_queue::SegQueue;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::ptr;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::Duration;

mod hooks;
mod tick;

pub(crate) use hooks::LocalScheduler;
use hooks::TaskHook;

thread_local! {
    /// The scheduler context of a `block_on` running on this thread (null otherwise). Points at a
    /// `LoopContext` on `block_on`'s stack, valid while set (reset before it is dropped).
    static LOOP: Cell<*const LoopContext> = const { Cell::new(ptr::null()) };
}

/// Parking states of the loop thread.
const RUNNING: usize = 0;
const PARKED: usize = 1;
const NOTIFIED: usize = 2;

pub(crate) struct Shared {
    remote: SegQueue<Entry>,
    /// Tasks spawned from other threads (those spawned on the loop thread are on `Core::owned`).
    pub(crate) owned: OwnedTasks,
    /// The references that task hooks hold on this `Shared` (`scheduler/task_refs.rs`).
    task_refs: PaddedTaskRefs,
    /// The length of `Core::owned`, published by the loop for `live_tasks` (the list itself is only
    /// reachable from the loop thread).
    local_owned_len: AtomicUsize,
    pub(crate) registry: Arc<ReactorRegistry>,
    park_state: AtomicUsize,
    /// The run queue and reactor while no `block_on` runs.
    core: Mutex<Option<Box<Core>>>,
    shutdown: AtomicBool,
    /// The thread that built the runtime: the only one where `spawn_local` futures live.
    owner: ThreadId,
    /// `spawn_local` tasks not yet completed.
    local_live: AtomicUsize,
    /// Generation of the current `block_on`, to ignore stale wake-ups of an earlier one.
    main_generation: AtomicUsize,
    pub(crate) event_interval: u32,
    pub(crate) runtime_id: u64,
    /// Never replaced while `Shared` lives: task hooks lend it to the sleeps inside their futures
    /// (`Schedule::time_driver`).
    pub(crate) time: Arc<TimeDriver>,
    /// The blocking pool (`spawn_blocking`); shut down by `Runtime` after the tasks.
    pub(crate) blocking: crate::blocking::BlockingPool,
    /// Counters (`runtime/stats.rs`): the loop thread is worker 0.
    stats: RuntimeCounters,
    /// Debug mode (`runtime/debug.rs`).
    pub(crate) debug: Arc<DebugState>,
    /// The internals trace, when enabled (`runtime/trace.rs`).
    pub(crate) trace: Option<Tracer>,
    /// Entries in the run queue at the start of the last tick (a gauge for stats; the queue itself is only
    /// reachable from the loop thread).
    queue_depth: AtomicUsize,
    timer_slack: Duration,
}

struct Core {
    queue: VecDeque<Entry>,
    /// The tasks spawned on the loop thread: linked and unlinked with no lock (`task/owned.rs`).
    owned: LocalOwnedTasks,
    reactor: Option<Reactor>,
    polls_since_reactor: u32,
}

enum Entry {
    Task(Notified),
    /// The `block_on` future of the given generation was woken.
    Main(usize),
}

struct LoopContext {
    shared: Arc<Shared>,
    core: RefCell<Option<Box<Core>>>,
    /// Debug mode or the trace is on (fixed when the runtime is built): polls are timed and wakes
    /// recorded (`scheduler/observe.rs`). A copy kept beside the core, which every poll and local wake
    /// already touches, so that with both off they pay one branch on a cached byte.
    observed: bool,
    /// Task references for the tasks spawned and freed on this thread while the context is set (`hooks.rs`).
    ref_stash: RefStash,
}

/// Points `LOOP` at a context for as long as it lives, then restores the previous value (a runtime may be
/// driven or dropped inside another's task on the same thread), also when unwinding. Leaving, it gives the
/// context's stash back: tasks freed on this thread from then on give theirs back one by one.
struct LoopGuard<'a> {
    previous: *const LoopContext,
    ctx: &'a LoopContext,
}

impl LoopGuard<'_> {
    fn set(ctx: &LoopContext) -> LoopGuard<'_> {
        LoopGuard {
            previous: LOOP.with(|l| l.replace(ctx)),
            ctx,
        }
    }
}

impl Drop for LoopGuard<'_> {
    fn drop(&mut self) {
        LOOP.with(|l| l.set(self.previous));
        let shared = &self.ctx.shared;
        // SAFETY: the stash only ever held references of this runtime's set (`RefOwner::with_ref_stash`).
        unsafe { task_refs::settle(shared, self.ctx.ref_stash.drain(&shared.task_refs)) };
    }
}

impl Shared {
    pub(crate) fn new(
        reactor: Reactor,
        event_interval: u32,
        runtime_id: u64,
        timer_slack: Duration,
        blocking: crate::blocking::BlockingPool,
        debug: Arc<DebugState>,
        trace_capacity: Option<usize>,
    ) -> std::io::Result<Arc<Shared>> {
        let time = TimeDriver::new(reactor.registry(), 0, runtime_id)?;
        Ok(Arc::new(Shared {
            remote: SegQueue::new(),
            owned: OwnedTasks::single_shard(),
            task_refs: PaddedTaskRefs::new(),
            local_owned_len: AtomicUsize::new(0),
            registry: reactor.registry().clone(),
            park_state: AtomicUsize::new(RUNNING),
            core: Mutex::new(Some(Box::new(Core {
                queue: VecDeque::new(),
                owned: LocalOwnedTasks::new(),
                reactor: Some(reactor),
                polls_since_reactor: 0,
            }))),
            shutdown: AtomicBool::new(false),
            owner: std::thread::current().id(),
            local_live: AtomicUsize::new(0),
            main_generation: AtomicUsize::new(0),
            event_interval,
            runtime_id,
            time,
            blocking,
            stats: RuntimeCounters::new(runtime_id, 1),
            debug,
            trace: trace_capacity.map(|c| Tracer::new(runtime_id, 1, c)),
            queue_depth: AtomicUsize::new(0),
            timer_slack,
        }))
    }

    pub(crate) fn spawn<F>(
        self: &Arc<Self>,
        future: F,
        at: &'static std::panic::Location<'static>,
    ) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.bind_and_queue(future, TaskHook::new(self), at)
    }

    /// A snapshot of the counters, with the queue depths last published by the loop.
    pub(crate) fn stats(&self) -> RuntimeStats {
        self.stats
            .snapshot(|_| self.queue_depth.load(SeqCst), self.remote.len())
    }

    /// Spawns a `!Send` future. Must be called on the owner thread, inside `block_on`.
    pub(crate) fn spawn_local<F>(
        self: &Arc<Self>,
        future: F,
        at: &'static std::panic::Location<'static>,
    ) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        assert_eq!(
            std::thread::current().id(),
            self.owner,
            "ferrio: spawn_local called on a thread other than the one that built the current-thread runtime"
        );
        self.local_live.fetch_add(1, SeqCst);
        self.bind_and_queue(future, LocalScheduler(TaskHook::new(self)), at)
    }

    /// Allocates a task and queues it. On the loop thread it goes on the core's own list and run queue, with
    /// no lock; elsewhere on the shared list and the remote queue.
    fn bind_and_queue<F, S>(
        self: &Arc<Self>,
        future: F,
        hook: S,
        at: &'static std::panic::Location<'static>,
    ) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
        S: Schedule,
    {
        let mut parts = Some((future, hook));
        let local = self.with_loop_core(|ctx, core| {
            if core.owned.is_closed() {
                return None; // shutting down: the shared list, closed too, cancels it
            }
            let (future, hook) = parts.take().expect("bound once");
            let (task, notified) = task::bind_with(future, hook, |raw| {
                core.owned.bind(raw);
                Ok(())
            });
            let notified = notified.expect("an open local list takes every task");
            self.debug.on_spawn(task.id(), at);
            self.push_on_core(ctx, core, Entry::Task(notified));
            self.local_owned_len.store(core.owned.len(), Relaxed);
            self.stats.record_worker(0, Event::Spawned, 1);
            Some(task)
        });
        if let Some(Some(task)) = local {
            return task;
        }
        let (future, hook) = parts.take().expect("bound once");
        let (task, notified) = task::bind(future, hook, &self.owned);
        match notified {
            Some(notified) => {
                self.debug.on_spawn(task.id(), at);
                self.schedule_spawned(notified);
            }
            // Refused by the closing list: counted as spawned so the outcomes still add up.
            None => self.stats.record(Event::Spawned, 1),
        }
        task
    }

    /// Unlinks a completed task: from the core's list on the loop thread (no lock), else from the shared one.
    fn release_task(self: &Arc<Self>, task: RawTask) -> bool {
        let local = self.with_loop_core(|_, core| {
            let released = core.owned.remove(task);
            if released == Some(true) {
                self.local_owned_len.store(core.owned.len(), Relaxed);
            }
            released
        });
        match local {
            Some(Some(released)) => released,
            _ => self.owned.remove(task),
        }
    }

    /// Queues a new task and counts the spawn: on the loop's own block when queued from inside this
    /// runtime's `block_on` (this thread is then that block's writer), else on the foreign block.
    fn schedule_spawned(self: &Arc<Self>, notified: Notified) {
        match self.try_push_local(Entry::Task(notified)) {
            None => self.stats.record_worker(0, Event::Spawned, 1),
            Some(entry) => {
                self.stats.record(Event::Spawned, 1);
                self.push_remote(entry);
            }
        }
    }

    fn schedule_entry(self: &Arc<Self>, entry: Entry) {
        if let Some(entry) = self.try_push_local(entry) {
            self.push_remote(entry);
        }
    }

    /// `schedule_entry` called through a task's hook, where `self` is a copy living inside the task: take
    /// our own reference before publishing, since the loop thread may run and free the task at once (see
    /// `Schedule`).
    fn schedule_from_hook(self: &Arc<Self>, entry: Entry) {
        if let Some(entry) = self.try_push_local(entry) {
            Arc::clone(self).push_remote(entry);
        }
    }

    /// Runs `f` on the core if this thread is inside this runtime's `block_on` (or its shutdown) and the
    /// core is not borrowed by the loop itself; `None` otherwise.
    fn with_loop_core<R>(
        self: &Arc<Self>,
        f: impl FnOnce(&LoopContext, &mut Core) -> R,
    ) -> Option<R> {
        LOOP.with(|l| {
            let ptr = l.get();
            if ptr.is_null() {
                return None;
            }
            // SAFETY: a non-null `LOOP` points at the live context of the `block_on` on this thread.
            let ctx = unsafe { &*ptr };
            if !Arc::ptr_eq(&ctx.shared, self) {
                return None;
            }
            let mut core = ctx.core.try_borrow_mut().ok()?;
            Some(f(ctx, core.as_mut()?))
        })
    }

    /// Appends to the run queue if this thread is inside this runtime's `block_on`; hands the entry back
    /// otherwise.
    fn try_push_local(self: &Arc<Self>, entry: Entry) -> Option<Entry> {
        let mut entry = Some(entry);
        self.with_loop_core(|ctx, core| {
            self.push_on_core(ctx, core, entry.take().expect("pushed once"))
        });
        entry
    }

    /// Appends to the core's run queue (this thread holds the core), tracing the wake when observed.
    fn push_on_core(&self, ctx: &LoopContext, core: &mut Core, entry: Entry) {
        if ctx.observed {
            trace_wake(self, &entry, WakeKind::Local);
        }
        core.queue.push_back(entry);
    }

    fn push_remote(&self, entry: Entry) {
        trace_wake(self, &entry, WakeKind::Remote);
        self.remote.push(entry);
        self.unpark();
        self.drain_if_closed();
    }

    /// A push that lands after shutdown drained the remote queue would never be released (and its task
    /// would keep `Shared` alive through its hook): once closed, whoever pushes drains.
    fn drain_if_closed(&self) {
        std::sync::atomic::fence(SeqCst);
        if self.owned.is_closed() {
            while let Some(entry) = self.remote.pop() {
                drop(entry);
            }
        }
    }

    fn unpark(&self) {
        if self.park_state.swap(NOTIFIED, SeqCst) == PARKED {
            self.registry.unpark();
        }
    }

    /// Runs `future` to completion on this thread, running the runtime's tasks meanwhile.
    pub(crate) fn block_on<F: Future>(self: &Arc<Self>, future: F) -> F::Output {
        let _enter = context::enter(
            SchedulerHandle::CurrentThread(self.clone()),
            self.runtime_id,
        );
        assert!(
            !self.shutdown.load(Acquire),
            "ferrio: block_on called on a runtime that has been shut down"
        );
        let core = self.core.lock().unwrap().take();
        // The guard is gone before any panic, so the mutex is never poisoned.
        let core = core.expect(
            "ferrio: block_on called on a current-thread runtime that another thread is already driving \
             (one thread at a time can run it)",
        );
        if std::thread::current().id() != self.owner && self.local_live.load(SeqCst) > 0 {
            *self.core.lock().unwrap() = Some(core);
            panic!("ferrio: block_on on a thread other than the runtime's owner while spawn_local tasks are alive");
        }
        let ctx = LoopContext {
            shared: self.clone(),
            core: RefCell::new(Some(core)),
            observed: observe::is_on(&self.debug, self.trace.as_ref()),
            ref_stash: RefStash::new(),
        };
        /// Gives the core back, even if the main future panics.
        struct Leave<'a>(&'a LoopContext);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                let core = self.0.core.borrow_mut().take();
                *self.0.shared.core.lock().unwrap() = core;
            }
        }
        let _leave = Leave(&ctx);
        // Declared after `ctx` and `_leave`: dropped first, so `LOOP` never points at a dead context.
        let _loop = LoopGuard::set(&ctx);
        /// Restores the caller's timer slack when `block_on` returns.
        struct RestoreSlack(Option<u64>);
        impl Drop for RestoreSlack {
            fn drop(&mut self) {
                if let Some(ns) = self.0 {
                    set_timer_slack(Duration::from_nanos(ns));
                }
            }
        }
        let _slack = RestoreSlack(set_timer_slack(self.timer_slack));
        let _stats_home = stats::set_home(self.runtime_id, 0);
        ctx.run(future)
    }

    /// Stops the runtime: cancels every task, dropping each future on this thread. Called on drop.
    pub(crate) fn shutdown(self: &Arc<Self>) {
        self.shutdown.store(true, Release);
        let Some(core) = self.core.lock().unwrap().take() else {
            return;
        };
        if std::thread::current().id() != self.owner && self.local_live.load(SeqCst) > 0 {
            eprintln!(
                "ferrio: a current-thread runtime with live spawn_local tasks was dropped on a thread other \
                 than its owner; those futures cannot be dropped here and are leaked"
            );
            // Refuse new tasks all the same: nothing would ever run them.
            self.owned.close();
            std::mem::forget(core);
            return;
        }
        let ctx = LoopContext {
            shared: self.clone(),
            core: RefCell::new(Some(core)),
            observed: observe::is_on(&self.debug, self.trace.as_ref()),
            ref_stash: RefStash::new(),
        };
        {
            let _loop = LoopGuard::set(&ctx);
            // Spawns from the destructors below go to the shared list, closed by the next line.
            ctx.with_core(|core| core.owned.close());
            self.owned.close_and_shutdown_all();
            // One at a time, outside the borrow: a destructor may spawn, wake or complete other tasks.
            while let Some(task) = ctx.with_core(|core| core.owned.pop()) {
                task.shutdown();
            }
            self.local_owned_len.store(0, Relaxed);
            self.time.shutdown();
            self.registry.shutdown();
        }
        let mut core = ctx.core.borrow_mut().take().expect("core");
        core.queue.clear();
        while self.remote.pop().is_some() {}
    }

    pub(crate) fn live_tasks(&self) -> usize {
        self.owned.len() + self.local_owned_len.load(Relaxed)
    }
}

/// The trace record of a wake of `entry` (the main future is not a task: not traced).
fn trace_wake(shared: &Shared, entry: &Entry, default: WakeKind) {
    if let (Some(tracer), Entry::Task(task)) = (&shared.trace, entry) {
        observe::traced_wake(tracer, task.task().id(), default);
    }
}
