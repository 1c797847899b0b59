//! Runtime stats, always on (cargo feature `stats`, default): what each worker did, readable from any
//! thread while the runtime runs (`Runtime::stats`, `Handle::stats`).
//!
//! Data flow: every counter lives in a `WorkerCounters` block owned by one worker thread (the current-thread
//! flavour's loop counts as worker 0), which is its only writer: it bumps a counter with a relaxed load and
//! a relaxed store (`Counter::bump`), no locked instruction on the hot path. Events that happen on a thread
//! that is not one of the runtime's workers (a spawn from a plain thread, a task dropped by shutdown) go to
//! a shared `foreign` block with relaxed `fetch_add`. Blocking-pool jobs (`spawn_blocking`) are not counted:
//! they are closures run by the pool's threads, not tasks the scheduler polls. A snapshot reads
//! every counter with relaxed loads (no data race: they are atomics; no torn values: each is one word) and
//! adds the gauges (queue depths) read at that moment.
//!
//! Which block a thread writes is found through the thread-local `HOME` (runtime id, worker index), set by
//! worker threads for their whole life and by the current-thread `block_on` for its duration.
//!
//! With the feature off, `Counter` is a zero-sized no-op: the counting code compiles to nothing and every
//! snapshot reads zero (`RuntimeStats::enabled` says which build it is).

use std::cell::Cell;
#[cfg(feature = "stats")]
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

thread_local! {
    /// (runtime id, worker index) of the worker this thread is, or (0, 0): runtime ids start at 1.
    static HOME: Cell<(u64, usize)> = const { Cell::new((0, 0)) };
}

/// One counter (see the module docs for its single-writer rule).
#[cfg(feature = "stats")]
#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

#[cfg(feature = "stats")]
impl Counter {
    /// Adds `n`; only the block's owner thread calls this.
    #[inline]
    fn bump(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Adds `n` from any thread (the `foreign` block).
    #[inline]
    fn bump_shared(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// The `stats` feature is off: counting compiles to nothing.
#[cfg(not(feature = "stats"))]
#[derive(Default)]
pub(crate) struct Counter;

#[cfg(not(feature = "stats"))]
impl Counter {
    #[inline(always)]
    fn bump(&self, _: u64) {}
    #[inline(always)]
    fn bump_shared(&self, _: u64) {}
    fn get(&self) -> u64 {
        0
    }
}

/// What can be counted. Each names one field of `WorkerCounters` / `WorkerStats`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Spawned,
    Completed,
    Cancelled,
    Panicked,
    Polled,
    StealAttempt,
    StealSuccess,
    /// Tasks moved by successful steals (the count is the argument of `record`).
    TasksStolen,
    LifoHit,
    Park,
    Unpark,
    ReactorTurn,
    /// Readiness events dispatched by reactor turns.
    ReactorEvents,
    TimersFired,
    ForcedYield,
}

impl From<crate::task::Outcome> for Event {
    fn from(outcome: crate::task::Outcome) -> Event {
        match outcome {
            crate::task::Outcome::Completed => Event::Completed,
            crate::task::Outcome::Cancelled => Event::Cancelled,
            crate::task::Outcome::Panicked => Event::Panicked,
        }
    }
}

/// The counters of one worker (or of the foreign threads). Aligned to 128 bytes (two cache lines, the
/// adjacent-line prefetch unit) so that one worker's counting never invalidates the line another worker
/// writes: without it, adjacent blocks shared lines and every bump bounced them between cores.
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct WorkerCounters {
    spawned: Counter,
    completed: Counter,
    cancelled: Counter,
    panicked: Counter,
    polls: Counter,
    steal_attempts: Counter,
    steal_successes: Counter,
    tasks_stolen: Counter,
    lifo_hits: Counter,
    parks: Counter,
    unparks: Counter,
    reactor_turns: Counter,
    reactor_events: Counter,
    timers_fired: Counter,
    forced_yields: Counter,
}

impl WorkerCounters {
    fn counter(&self, event: Event) -> &Counter {
        match event {
            Event::Spawned => &self.spawned,
            Event::Completed => &self.completed,
            Event::Cancelled => &self.cancelled,
            Event::Panicked => &self.panicked,
            Event::Polled => &self.polls,
            Event::StealAttempt => &self.steal_attempts,
            Event::StealSuccess => &self.steal_successes,
            Event::TasksStolen => &self.tasks_stolen,
            Event::LifoHit => &self.lifo_hits,
            Event::Park => &self.parks,
            Event::Unpark => &self.unparks,
            Event::ReactorTurn => &self.reactor_turns,
            Event::ReactorEvents => &self.reactor_events,
            Event::TimersFired => &self.timers_fired,
            Event::ForcedYield => &self.forced_yields,
        }
    }

    fn snapshot(&self, local_queue_depth: usize) -> WorkerStats {
        WorkerStats {
            spawned: self.spawned.get(),
            completed: self.completed.get(),
            cancelled: self.cancelled.get(),
            panicked: self.panicked.get(),
            polls: self.polls.get(),
            steal_attempts: self.steal_attempts.get(),
            steal_successes: self.steal_successes.get(),
            tasks_stolen: self.tasks_stolen.get(),
            local_queue_depth,
            lifo_hits: self.lifo_hits.get(),
            parks: self.parks.get(),
            unparks: self.unparks.get(),
            reactor_turns: self.reactor_turns.get(),
            reactor_events: self.reactor_events.get(),
            timers_fired: self.timers_fired.get(),
            budget_forced_yields: self.forced_yields.get(),
        }
    }
}

/// Every counter block of one runtime.
pub(crate) struct RuntimeCounters {
    runtime_id: u64,
    workers: Box<[WorkerCounters]>,
    foreign: WorkerCounters,
}

impl RuntimeCounters {
    pub(crate) fn new(runtime_id: u64, workers: usize) -> RuntimeCounters {
        RuntimeCounters {
            runtime_id,
            workers: (0..workers).map(|_| WorkerCounters::default()).collect(),
            foreign: WorkerCounters::default(),
        }
    }

    /// Counts `n` occurrences of `event` in the calling thread's block.
    #[inline]
    pub(crate) fn record(&self, event: Event, n: u64) {
        if cfg!(not(feature = "stats")) {
            return;
        }
        let (runtime, index) = HOME.with(Cell::get);
        if runtime == self.runtime_id {
            if let Some(worker) = self.workers.get(index) {
                worker.counter(event).bump(n);
                return;
            }
        }
        self.foreign.counter(event).bump_shared(n);
    }

    /// `record` for a worker that knows its own index (no thread-local lookup).
    #[inline]
    pub(crate) fn record_worker(&self, index: usize, event: Event, n: u64) {
        self.workers[index].counter(event).bump(n);
    }

    /// A snapshot; `local_depth(i)` gives worker `i`'s queue depth now.
    pub(crate) fn snapshot(
        &self,
        local_depth: impl Fn(usize) -> usize,
        global_queue_depth: usize,
    ) -> RuntimeStats {
        let workers: Vec<WorkerStats> = self
            .workers
            .iter()
            .enumerate()
            .map(|(i, w)| w.snapshot(local_depth(i)))
            .collect();
        let foreign = self.foreign.snapshot(0);
        let mut total = foreign;
        for w in &workers {
            total.add(w);
        }
        RuntimeStats {
            workers,
            foreign,
            total,
            global_queue_depth,
        }
    }
}

/// (runtime id, worker index) of the worker this thread is, or (0, 0) (the trace uses it too).
pub(crate) fn home() -> (u64, usize) {
    HOME.with(Cell::get)
}

/// Marks this thread as worker `index` of runtime `runtime_id` until the guard is dropped (which restores
/// what was there: a current-thread `block_on` may run inside another runtime's blocking job).
pub(crate) fn set_home(runtime_id: u64, index: usize) -> HomeGuard {
    HomeGuard(HOME.with(|h| h.replace((runtime_id, index))))
}

pub(crate) struct HomeGuard((u64, usize));

impl Drop for HomeGuard {
    fn drop(&mut self) {
        let _ = HOME.try_with(|h| h.set(self.0));
    }
}

/// A snapshot of a runtime's counters (`Runtime::stats`, `Handle::stats`).
///
/// Counters only grow; [`WorkerStats::since`] subtracts two snapshots to measure an interval. Gauges (queue
/// depths) are what they were when the snapshot was taken. The snapshot is not atomic across counters, nor
/// with task state: a task may show as spawned in one worker and not yet completed in another, a spawn that
/// races with shutdown (refused, so cancelled at once) counts its `cancelled` a moment before its
/// `spawned`, and a thread that sees a task done (`is_done()`) without having been woken by it may read the
/// stats just before its count lands. An awaiter woken by the task's completion finds it counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeStats {
    /// One entry per worker thread (the current-thread flavour has one: the thread running `block_on`).
    pub workers: Vec<WorkerStats>,
    /// What happened on threads that are not workers: spawns from plain threads, tasks dropped by shutdown.
    /// (Blocking-pool jobs are not counted anywhere.)
    pub foreign: WorkerStats,
    /// The sum of `workers` and `foreign` (`local_queue_depth` summed too).
    pub total: WorkerStats,
    /// Tasks waiting in the global injection queue (multi-thread) or the remote queue (current-thread).
    pub global_queue_depth: usize,
}

impl RuntimeStats {
    /// Whether this build counts (`stats` feature on); when off every counter reads zero.
    pub const fn enabled() -> bool {
        cfg!(feature = "stats")
    }
}

/// What one worker did since the runtime started (see [`RuntimeStats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Tasks spawned from this thread.
    pub spawned: u64,
    /// Tasks that returned their output on this thread.
    pub completed: u64,
    /// Tasks that ended cancelled on this thread (their future dropped here).
    pub cancelled: u64,
    /// Tasks whose poll panicked on this thread.
    pub panicked: u64,
    /// Task polls started.
    pub polls: u64,
    /// Times this worker tried to steal: one per victim ring scanned, and one per stuck victim whose LIFO
    /// slot it tried to take.
    pub steal_attempts: u64,
    /// Steals that found work (from a ring, or a stuck worker's LIFO slot). A searcher's last resort, a task
    /// taken from the global queue, is not a steal.
    pub steal_successes: u64,
    /// Tasks moved into this worker by its steals.
    pub tasks_stolen: u64,
    /// Tasks in this worker's ring when the snapshot was taken.
    pub local_queue_depth: usize,
    /// Tasks run from the LIFO slot (woken by the task that ran just before).
    pub lifo_hits: u64,
    /// Times the worker went to sleep.
    pub parks: u64,
    /// Times it woke up from a sleep.
    pub unparks: u64,
    /// Reactor turns (`epoll_wait` calls) made by this worker.
    pub reactor_turns: u64,
    /// Readiness events those turns dispatched: sockets, `AsyncFd`s, signal listeners, and the time
    /// driver's timerfd (one per timer wake-up of the reactor).
    pub reactor_events: u64,
    /// Timers fired by this worker.
    pub timers_fired: u64,
    /// Polls cut short by the cooperative budget (the task was forced to yield).
    pub budget_forced_yields: u64,
}

impl WorkerStats {
    /// Readiness events per reactor turn (0 when no turn was made).
    pub fn events_per_turn(&self) -> f64 {
        if self.reactor_turns == 0 {
            0.0
        } else {
            self.reactor_events as f64 / self.reactor_turns as f64
        }
    }

    /// What happened between `earlier` and this snapshot: every counter minus its value in `earlier`;
    /// the gauge `local_queue_depth` is this snapshot's. `earlier` must come from the same runtime and
    /// worker (or both from `total`, or both from `foreign`), taken before this one; a counter that would go
    /// below zero (snapshots passed the wrong way round) reads 0.
    ///
    /// ```
    /// let rt = ferrio::Runtime::builder().current_thread().build().unwrap();
    /// let before = rt.stats().total;
    /// rt.block_on(async { ferrio::spawn(async {}).await.unwrap() });
    /// let interval = rt.stats().total.since(&before);
    /// if ferrio::RuntimeStats::enabled() {
    ///     assert_eq!(interval.spawned, 1);
    ///     assert_eq!(interval.completed, 1);
    /// }
    /// ```
    pub fn since(&self, earlier: &WorkerStats) -> WorkerStats {
        let d = |now: u64, then: u64| now.saturating_sub(then);
        WorkerStats {
            spawned: d(self.spawned, earlier.spawned),
            completed: d(self.completed, earlier.completed),
            cancelled: d(self.cancelled, earlier.cancelled),
            panicked: d(self.panicked, earlier.panicked),
            polls: d(self.polls, earlier.polls),
            steal_attempts: d(self.steal_attempts, earlier.steal_attempts),
            steal_successes: d(self.steal_successes, earlier.steal_successes),
            tasks_stolen: d(self.tasks_stolen, earlier.tasks_stolen),
            local_queue_depth: self.local_queue_depth,
            lifo_hits: d(self.lifo_hits, earlier.lifo_hits),
            parks: d(self.parks, earlier.parks),
            unparks: d(self.unparks, earlier.unparks),
            reactor_turns: d(self.reactor_turns, earlier.reactor_turns),
            reactor_events: d(self.reactor_events, earlier.reactor_events),
            timers_fired: d(self.timers_fired, earlier.timers_fired),
            budget_forced_yields: d(self.budget_forced_yields, earlier.budget_forced_yields),
        }
    }

    fn add(&mut self, o: &WorkerStats) {
        self.spawned += o.spawned;
        self.completed += o.completed;
        self.cancelled += o.cancelled;
        self.panicked += o.panicked;
        self.polls += o.polls;
        self.steal_attempts += o.steal_attempts;
        self.steal_successes += o.steal_successes;
        self.tasks_stolen += o.tasks_stolen;
        self.local_queue_depth += o.local_queue_depth;
        self.lifo_hits += o.lifo_hits;
        self.parks += o.parks;
        self.unparks += o.unparks;
        self.reactor_turns += o.reactor_turns;
        self.reactor_events += o.reactor_events;
        self.timers_fired += o.timers_fired;
        self.budget_forced_yields += o.budget_forced_yields;
    }
}
