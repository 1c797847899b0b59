//! The worker loop of the multi-thread scheduler: run local work, steal when out of it, park when there is
//! none anywhere.
//!
//! Each tick a worker takes its next task from (in order) the global queue every `global_queue_interval`
//! ticks, its ring, its LIFO slot, the global queue (taking a batch into its ring); failing that it becomes a
//! searcher (at most half the workers search) and steals half of a random victim's ring; failing that it
//! parks. Every `event_interval` ticks it also polls the reactor without blocking, so I/O is never starved
//! while every worker is busy.
//!
//! The worker's `Core` (its ring and counters) is owned by its thread. While a task runs, and while the
//! worker is parked, the core sits in the thread's `WorkerContext` so that wakes made on this thread reach
//! the ring directly (`try_schedule_local`): a task's wakes and spawns, and the wakes of a reactor turn this
//! worker made while parked in it (the woken task takes the LIFO slot and runs on this already-awake thread,
//! with no second thread to wake). A worker that comes back from the reactor with events then hands the
//! reactor to a sleeper (`any_sleeper`) before running what it woke, so a busy worker never sits on it. A
//! worker that runs out of work while another holds the reactor collects the events already waiting
//! (`ReactorRegistry::poll_now`: before searching, `collect_waiting`; before sleeping, `Parker::park`) and
//! runs their tasks itself. Under `ReactorHandOff::WhenShared` the hand-off happens only for more than one
//! task, and a parking worker tries the reactor only if no other worker is awake (ARCHITECTURE.md).

mod reactor_turns;

use super::park::Woken;
use super::queue::{LocalQueue, CAPACITY};
use super::{Shared, MAX_LIFO_POLLS_PER_TICK};
use crate::reactor::EventBuffer;
use crate::runtime::context;
use crate::runtime::stats::{self, Event};
use crate::runtime::trace::{self, Record, WakeKind};
use crate::scheduler::task_refs::{self, RefStash};
use crate::scheduler::{observe, SchedulerHandle};
use crate::task::Notified;
use crate::ReactorHandOff;
use std::cell::{Cell, RefCell};
use std::io;
use std::ptr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;

/// Events a worker out of work collects at most in one look while another worker holds the reactor.
const COLLECT_CAPACITY: usize = 128;

thread_local! {
    /// The context of the worker running on this thread (null on other threads). Points at a
    /// `WorkerContext` on the worker thread's stack, valid while set (cleared before it is dropped).
    static WORKER: Cell<*const WorkerContext> = const { Cell::new(ptr::null()) };
}

struct WorkerContext {
    shared: Arc<Shared>,
    index: usize,
    core: RefCell<Option<Box<Core>>>,
    /// Room for the events this worker collects while another one holds the reactor (`collect_waiting`,
    /// `Parker::park`).
    events: RefCell<EventBuffer>,
    /// Debug mode or the trace is on (fixed when the runtime is built): polls are timed and wakes
    /// recorded (`scheduler/observe.rs`). A copy kept beside the core, which every poll and local wake
    /// already touches, so that with both off they pay one branch on a cached byte.
    observed: bool,
    /// Task references for the tasks this worker spawns and frees (`hook.rs`); given back when it leaves.
    ref_stash: RefStash,
}

/// Worker-owned state.
struct Core {
    queue: LocalQueue,
    tick: u32,
    polls: u64,
    is_searching: bool,
    /// A task queued work in this worker's ring during its poll: check for sleepers when the poll returns.
    notify_after_poll: bool,
    rng: u32,
    /// Last poll count seen per victim, to tell a stuck worker's LIFO slot from a busy one's.
    seen_polls: Box<[u64]>,
    /// Room for the tasks `take_global_share` moves from the global queue into the ring (kept, so that
    /// taking a share does not allocate).
    global_share: Vec<Notified>,
}

/// Starts one thread per local queue.
pub(crate) fn spawn_workers(
    shared: &Arc<Shared>,
    queues: Vec<LocalQueue>,
) -> io::Result<Vec<JoinHandle<()>>> {
    let mut handles = Vec::with_capacity(queues.len());
    for (index, queue) in queues.into_iter().enumerate() {
        let worker_shared = shared.clone();
        let name = format!("{}-{index}", shared.config.thread_name);
        let handle = std::thread::Builder::new()
            .name(name)
            .spawn(move || run(worker_shared, index, queue))?;
        // Counted only once running, so a failed spawn never leaves shutdown waiting for a ghost.
        shared
            .started
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        handles.push(handle);
    }
    Ok(handles)
}

fn run(shared: Arc<Shared>, index: usize, queue: LocalQueue) {
    /// Counts the worker out even if the loop itself panics, so shutdown never waits for it forever.
    struct Exit<'a>(&'a Shared);
    impl Drop for Exit<'_> {
        fn drop(&mut self) {
            self.0.worker_exited();
        }
    }
    /// Clears `WORKER`, then gives the stash back (tasks freed on this thread from then on give theirs back
    /// one by one); declared after `ctx`, so it runs before `ctx` and its `Arc` are dropped (also when
    /// unwinding).
    struct ClearWorker<'a>(&'a WorkerContext);
    impl Drop for ClearWorker<'_> {
        fn drop(&mut self) {
            WORKER.with(|w| w.set(ptr::null()));
            let shared = &self.0.shared;
            // SAFETY: the stash only ever held references of this runtime's set (`with_ref_stash`).
            unsafe { task_refs::settle(shared, self.0.ref_stash.drain(&shared.task_refs)) };
        }
    }
    let _exit = Exit(&shared);
    let _enter = context::enter(
        SchedulerHandle::MultiThread(shared.clone()),
        shared.config.runtime_id,
    );
    let ctx = WorkerContext {
        shared: shared.clone(),
        index,
        core: RefCell::new(None),
        events: RefCell::new(EventBuffer::with_capacity(COLLECT_CAPACITY)),
        observed: observe::is_on(&shared.debug, shared.trace.as_ref()),
        ref_stash: RefStash::new(),
    };
    WORKER.with(|w| w.set(&ctx));
    let _clear = ClearWorker(&ctx);
    let _stats_home = stats::set_home(shared.config.runtime_id, index);
    shared.time.set_home_wheel(index);
    crate::time::set_timer_slack(shared.config.timer_slack);
    let mut core = Box::new(Core {
        queue,
        tick: 0,
        polls: 0,
        is_searching: false,
        notify_after_poll: false,
        rng: (index as u32).wrapping_mul(0x9E37_79B9) | 1,
        seen_polls: vec![u64::MAX; shared.num_workers()].into_boxed_slice(),
        global_share: Vec::with_capacity(CAPACITY / 2),
    });
    while !shared.is_shutdown() {
        core.tick = core.tick.wrapping_add(1);
        if core.tick % shared.config.event_interval == 0 {
            core = ctx.poll_reactor(core);
        }
        if let Some(task) = ctx.next_task(&mut core) {
            core = ctx.run_task(core, task);
            continue;
        }
        core = ctx.collect_waiting(core);
        if let Some(task) = ctx.next_task(&mut core) {
            core = ctx.run_task(core, task);
        } else if let Some(task) = ctx.steal(&mut core) {
            core = ctx.run_task(core, task);
        } else {
            core = ctx.park(core);
        }
    }
    // Shutting down: release the references of queued tasks; `Shared::shutdown_tasks` cancels them.
    if let Some(task) = shared.remotes[index].lifo_take() {
        drop(task);
    }
    while let Some(task) = core.queue.pop() {
        drop(task);
    }
}

/// Schedules `task` on the current worker if this thread is one of `shared`'s workers running a task;
/// returns that worker's index (so callers can count on its stats block without another lookup).
pub(super) fn try_schedule_local(
    shared: &Arc<Shared>,
    task: Notified,
    is_yield: bool,
) -> Result<usize, Notified> {
    WORKER.with(|w| {
        let ptr = w.get();
        if ptr.is_null() {
            return Err(task);
        }
        // SAFETY: a non-null `WORKER` points at the live context of this thread's worker (see its doc).
        let ctx = unsafe { &*ptr };
        if !Arc::ptr_eq(&ctx.shared, shared) {
            return Err(task);
        }
        let Ok(mut core) = ctx.core.try_borrow_mut() else {
            return Err(task);
        };
        match core.as_mut() {
            Some(core) => {
                ctx.schedule_local(core, task, is_yield);
                Ok(ctx.index)
            }
            None => Err(task),
        }
    })
}

/// Runs `f` on this thread's task-reference stash if this thread is one of `shared`'s workers (`hook.rs`).
pub(super) fn with_ref_stash<R>(shared: &Arc<Shared>, f: impl FnOnce(&RefStash) -> R) -> Option<R> {
    let ptr = WORKER.with(Cell::get);
    // SAFETY: a non-null `WORKER` points at the live context of this thread's worker (see its doc).
    let ctx = unsafe { ptr.as_ref() }?;
    Arc::ptr_eq(&ctx.shared, shared).then(|| f(&ctx.ref_stash))
}

impl WorkerContext {
    fn schedule_local(&self, core: &mut Core, task: Notified, is_yield: bool) {
        if let (true, Some(tracer)) = (self.observed, &self.shared.trace) {
            let default = if is_yield {
                WakeKind::Local
            } else {
                WakeKind::Lifo
            };
            observe::traced_wake(tracer, task.task().id(), default);
        }
        let remote = &self.shared.remotes[self.index];
        let overflow = |batch| self.shared.push_overflow(batch);
        // A task woken during its own poll goes behind the others; any other wake takes the LIFO slot (it
        // runs next), pushing the task it displaces to the ring.
        if is_yield {
            core.queue.push_back(task, &overflow);
        } else if let Some(displaced) = remote.lifo_put(task) {
            core.queue.push_back(displaced, &overflow);
        }
        // More work here than this worker is about to run: let a sleeper come and steal, once the current
        // poll returns (one check per poll, however many tasks it queued).
        if self.runnable(core) > 1 {
            core.notify_after_poll = true;
        }
    }

    /// Tasks this worker will run next without looking elsewhere: its ring and its LIFO slot.
    fn runnable(&self, core: &Core) -> usize {
        core.queue.len() + usize::from(self.shared.remotes[self.index].has_lifo())
    }

    /// Runs `task`, then up to `MAX_LIFO_POLLS_PER_TICK` tasks it woke through the LIFO slot.
    fn run_task(&self, mut core: Box<Core>, task: Notified) -> Box<Core> {
        if core.is_searching {
            core.is_searching = false;
            if self.shared.idle.transition_worker_from_searching() {
                // The last searcher found work: someone else should look for more.
                self.shared.notify_parked();
            }
        }
        let remote = &self.shared.remotes[self.index];
        let mut task = task;
        let mut lifo_polls = 0;
        loop {
            core.polls += 1;
            remote.polls.store(core.polls, Relaxed);
            self.shared
                .stats
                .record_worker(self.index, Event::Polled, 1);
            core = if self.observed {
                self.run_observed(core, task)
            } else {
                self.with_core_in_context(core, || task.run()).0
            };
            if std::mem::take(&mut core.notify_after_poll)
                && !core.is_searching
                && !core.queue.is_empty()
            {
                self.shared.notify_parked_local();
            }
            let Some(next) = remote.lifo_take() else {
                return core;
            };
            if lifo_polls >= MAX_LIFO_POLLS_PER_TICK {
                core.queue
                    .push_back(next, &|batch| self.shared.push_overflow(batch));
                return core;
            }
            lifo_polls += 1;
            self.shared
                .stats
                .record_worker(self.index, Event::LifoHit, 1);
            task = next;
        }
    }

    fn next_task(&self, core: &mut Core) -> Option<Notified> {
        let shared = &self.shared;
        if core.tick % shared.config.global_queue_interval == 0 {
            // Fairness: the global queue first, a share of it, so a burst that overflowed there is not
            // served one task per interval while the ring keeps refilling.
            if let Some(task) = self.take_global_share(core) {
                return Some(task);
            }
        }
        if let Some(task) = core.queue.pop() {
            return Some(task);
        }
        if let Some(task) = shared.remotes[self.index].lifo_take() {
            shared.stats.record_worker(self.index, Event::LifoHit, 1);
            return Some(task);
        }
        self.take_global_share(core)
    }

    /// Pops one task from the global queue to run, and moves a fair share more (bounded by the ring's free
    /// room) into the ring.
    fn take_global_share(&self, core: &mut Core) -> Option<Notified> {
        let shared = &self.shared;
        let room = CAPACITY - core.queue.len().min(CAPACITY);
        let workers = shared.num_workers();
        // One lock for the task and its share; the share is pushed into the ring after the lock is
        // released. It normally fits (at most `room`); while a stealer is taking from this ring, `room`
        // overstates the free slots and the excess goes back to the global queue, one task at a time.
        let first = shared.inject.pop_share(
            |left| (left / workers).min(CAPACITY / 2).min(room),
            &mut core.global_share,
        );
        for task in core.global_share.drain(..) {
            core.queue
                .push_back(task, &|batch| shared.push_overflow(batch));
        }
        first
    }

    fn steal(&self, core: &mut Core) -> Option<Notified> {
        let shared = &self.shared;
        if !core.is_searching {
            if !shared.idle.transition_worker_to_searching() {
                return None;
            }
            core.is_searching = true;
        }
        let n = shared.num_workers();
        let start = core.next_random() as usize % n;
        for i in 0..n {
            let victim = (start + i) % n;
            if victim == self.index {
                continue;
            }
            shared
                .stats
                .record_worker(self.index, Event::StealAttempt, 1);
            if let Some((task, moved)) = shared.remotes[victim].stealer.steal_into(&mut core.queue)
            {
                self.record_steal(victim, moved);
                return Some(task);
            }
        }
        for victim in (0..n).filter(|&v| v != self.index) {
            if core.victim_is_stuck(shared, victim) {
                shared
                    .stats
                    .record_worker(self.index, Event::StealAttempt, 1);
                if let Some(task) = shared.remotes[victim].lifo_take() {
                    self.record_steal(victim, 1);
                    return Some(task);
                }
            }
        }
        shared.inject.pop()
    }

    /// Nothing to run anywhere: sleep until woken.
    fn park(&self, mut core: Box<Core>) -> Box<Core> {
        let shared = &self.shared;
        let was_searching = std::mem::replace(&mut core.is_searching, false);
        let parked = shared
            .idle
            .transition_worker_to_parked(self.index, was_searching);
        if parked.last_searcher {
            // Last searcher: a task queued while we searched may have woken nobody.
            let stuck_lifo = (0..shared.num_workers())
                .any(|v| v != self.index && core.victim_is_stuck(shared, v));
            if stuck_lifo {
                shared.notify_parked();
            }
            shared.notify_if_work_pending();
        }
        shared.stats.record_worker(self.index, Event::Park, 1);
        // Under `WhenShared` the reactor is left to the last worker to sleep: while another is awake, it
        // collects the events itself, and a sleeper in `epoll_wait` would only be woken by each of them.
        let always = shared.config.hand_off == ReactorHandOff::Always;
        let mut may_hold = always || parked.last_awake;
        loop {
            // The core sits in the context while parked, so that a reactor turn made here queues what it
            // wakes in this worker's own ring (LIFO slot first): this thread is awake anyway.
            let park_start = shared.trace.as_ref().map(|t| t.now());
            let mut events = self.events.borrow_mut();
            let (parked_core, woken) = self.with_core_in_context(core, || {
                trace::waking_from(WakeKind::Io, || {
                    shared.remotes[self.index].parker.park(
                        &shared.reactor,
                        &shared.registry,
                        &mut events,
                        may_hold,
                    )
                })
            });
            drop(events);
            core = parked_core;
            match &woken {
                // Parked in the reactor, or collected its waiting events: the park was a reactor turn.
                Woken::InReactor(r) | Woken::Collected(r) => self.record_turn(r, park_start),
                Woken::Notified => {
                    if let (Some(tracer), Some(start)) = (&shared.trace, park_start) {
                        let dur = tracer.now() - start;
                        tracer.record(Record::Parked { start, dur });
                    }
                }
            }
            let remote = &shared.remotes[self.index];
            let has_local_work = !core.queue.is_empty() || remote.has_lifo();
            if shared.is_shutdown() {
                return core;
            }
            let mut awake = false;
            if shared.time.is_due() {
                // Fire the timers ourselves, with the core in place so their tasks land in our ring and run
                // on this already-awake thread (no second thread to wake: timer latency stays at the floor).
                if shared.idle.unpark_worker_by_id(self.index) {
                    core.is_searching = false;
                } else {
                    core.is_searching = true; // a notifier picked us meanwhile
                }
                core = self.fire_timers(core);
                awake = true;
            } else if !shared.idle.is_parked(self.index) {
                // Picked by a notifier: we count as searching.
                core.is_searching = true;
                awake = true;
            } else if has_local_work && shared.idle.unpark_worker_by_id(self.index) {
                // Still listed as asleep, but the reactor turn queued work here.
                awake = true;
            }
            if awake {
                shared.stats.record_worker(self.index, Event::Unpark, 1);
                match woken {
                    // We held the reactor and are about to run what it woke: hand it on.
                    Woken::InReactor(_) => self.hand_off_reactor(&core),
                    // Its holder still waits in it; others may help with what we collected.
                    Woken::Collected(_) => self.call_help_for_queued(&mut core),
                    Woken::Notified => {}
                }
                return core;
            }
            // A plain load, ordered after a concurrent last park's RMW by the sleepers mutex that
            // `is_parked` / `unpark_worker_by_id` took above (see `Idle::any_awake`).
            may_hold = always || !shared.idle.any_awake();
        }
    }

    /// Runs `task` timed, for debug mode and the trace (`scheduler/observe.rs`).
    fn run_observed(&self, core: Box<Core>, task: Notified) -> Box<Core> {
        let id = task.task().id();
        let shared = &self.shared;
        observe::observed_poll(&shared.debug, shared.trace.as_ref(), id, || {
            self.with_core_in_context(core, || task.run()).0
        })
    }

    /// Runs `f` with the core in this thread's context, so that whatever `f` wakes or spawns reaches the
    /// ring directly (`try_schedule_local`), then takes the core back.
    fn with_core_in_context<R>(&self, core: Box<Core>, f: impl FnOnce() -> R) -> (Box<Core>, R) {
        *self.core.borrow_mut() = Some(core);
        let result = f();
        let core = self
            .core
            .borrow_mut()
            .take()
            .expect("ferrio: worker core missing from its context");
        (core, result)
    }

    /// A steal that found work: `count` tasks moved from `victim` (its ring, or 1 from its LIFO slot).
    fn record_steal(&self, victim: usize, count: usize) {
        let stats = &self.shared.stats;
        stats.record_worker(self.index, Event::StealSuccess, 1);
        stats.record_worker(self.index, Event::TasksStolen, count as u64);
        if let Some(tracer) = &self.shared.trace {
            tracer.record(Record::Steal {
                victim,
                count,
                at: tracer.now(),
            });
        }
    }
}

impl Core {
    fn next_random(&mut self) -> u32 {
        // xorshift32
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        x
    }

    /// True if `victim` has a task in its LIFO slot and has not started a poll since we last looked.
    fn victim_is_stuck(&mut self, shared: &Shared, victim: usize) -> bool {
        let remote = &shared.remotes[victim];
        if !remote.has_lifo() {
            return false;
        }
        let polls = remote.polls.load(Relaxed);
        let stuck = self.seen_polls[victim] == polls;
        self.seen_polls[victim] = polls;
        stuck
    }
}
