//! `Builder`: chooses the flavour and its knobs, then builds a `Runtime`.

use super::{Flavor, Runtime};
use std::fmt;
use std::io;
use std::time::Duration;

/// Configures and builds a [`Runtime`].
///
/// ```
/// let rt = ferrio::Runtime::builder().worker_threads(2).thread_name("app").build().unwrap();
/// assert_eq!(rt.block_on(async { 40 + 2 }), 42);
/// ```
#[derive(Clone)]
pub struct Builder {
    pub(super) flavor: Flavor,
    pub(super) worker_threads: Option<usize>,
    pub(super) thread_name: String,
    pub(super) event_interval: u32,
    pub(super) global_queue_interval: u32,
    pub(super) timer_slack: Duration,
    pub(super) max_blocking_threads: usize,
    pub(super) thread_keep_alive: Duration,
    /// `None`: decided by `FERRIO_DEBUG` at build time.
    pub(super) debug: Option<bool>,
    pub(super) slow_poll_threshold: Duration,
    pub(super) debug_callback: Option<super::debug::DebugCallback>,
    pub(super) trace: Option<usize>,
    pub(super) reactor_hand_off: ReactorHandOff,
}

/// When a multi-thread worker that comes back from the reactor with tasks to run wakes a sleeping worker
/// to watch the reactor while it runs them ([`Builder::reactor_hand_off`]). The current-thread flavour has
/// one thread and no hand-off; it ignores this.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReactorHandOff {
    /// Always, when a worker sleeps (the default). A sleeping thread watches the reactor whenever there is
    /// one, so I/O readiness and timers of other tasks never wait for a task's poll to end. The price: while
    /// one worker runs what an event woke, the sleeper in `epoll_wait` is woken by every further event,
    /// even one the running worker handles itself (on a 2-vCPU VM a request/response round trip on one
    /// connection costs about 15% more than on the current-thread flavour; BENCHMARKS.md).
    #[default]
    Always,
    /// Only when the worker has work to share: more than one runnable task in its queue and LIFO slot.
    /// With one task, the worker runs it with nobody in the reactor, and a worker that goes to sleep
    /// blocks in the reactor only if no other worker is awake (the last one to sleep watches it); a worker
    /// out of work polls the reactor without blocking before it searches or sleeps.
    /// A request/response exchange then runs on one awake thread with no other thread woken, at the
    /// current-thread flavour's latency. The price: while that one task polls, nobody watches the reactor,
    /// so other tasks' readiness and due timers wait until the poll returns or until a busy worker's
    /// periodic poll ([`Builder::event_interval`]). Tasks that poll briefly lose nothing; a long poll
    /// delays everyone's I/O by its length (as on tokio, which never hands its driver off).
    WhenShared,
}

impl Builder {
    pub(super) fn new() -> Builder {
        Builder {
            flavor: Flavor::MultiThread,
            worker_threads: None,
            thread_name: "ferrio-worker".to_owned(),
            event_interval: 61,
            global_queue_interval: 31,
            timer_slack: Duration::from_nanos(1),
            max_blocking_threads: crate::blocking::DEFAULT_MAX_THREADS,
            thread_keep_alive: crate::blocking::DEFAULT_KEEP_ALIVE,
            debug: None,
            slow_poll_threshold: super::debug::DEFAULT_SLOW_POLL,
            debug_callback: None,
            trace: None,
            reactor_hand_off: ReactorHandOff::Always,
        }
    }

    /// The multi-thread work-stealing flavour (the default).
    pub fn multi_thread(&mut self) -> &mut Self {
        self.flavor = Flavor::MultiThread;
        self
    }

    /// The current-thread flavour: tasks run on the thread that calls `block_on`, in asyncio's order.
    pub fn current_thread(&mut self) -> &mut Self {
        self.flavor = Flavor::CurrentThread;
        self
    }

    /// Number of worker threads of the multi-thread flavour (default: available parallelism). Zero is
    /// rejected by `build`.
    pub fn worker_threads(&mut self, n: usize) -> &mut Self {
        self.worker_threads = Some(n);
        self
    }

    /// Name prefix of worker threads (`NAME-0`, `NAME-1`, ...).
    pub fn thread_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.thread_name = name.into();
        self
    }

    /// A busy worker polls the reactor without blocking every `ticks` task polls (default 61).
    pub fn event_interval(&mut self, ticks: u32) -> &mut Self {
        self.event_interval = ticks;
        self
    }

    /// A worker takes from the global queue before its own every `ticks` ticks (default 31).
    pub fn global_queue_interval(&mut self, ticks: u32) -> &mut Self {
        self.global_queue_interval = ticks;
        self
    }

    /// When a worker back from the reactor wakes a sleeper to watch it (multi-thread flavour; default
    /// [`ReactorHandOff::Always`]). See [`ReactorHandOff`] for what each choice trades.
    ///
    /// ```
    /// use ferrio::ReactorHandOff;
    /// let rt = ferrio::Runtime::builder()
    ///     .worker_threads(2)
    ///     .reactor_hand_off(ReactorHandOff::WhenShared)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
    /// ```
    pub fn reactor_hand_off(&mut self, policy: ReactorHandOff) -> &mut Self {
        self.reactor_hand_off = policy;
        self
    }

    /// Timer slack of the runtime's threads (`prctl(PR_SET_TIMERSLACK)`; the current-thread flavour sets it
    /// on the `block_on` thread for the duration of the call). Default: 1 ns, the smallest the kernel
    /// accepts, instead of its 50 us default: ferrio's timers fire through a timerfd, which the kernel does
    /// not delay by slack, but any other timed wait of these threads (an `epoll_wait` timeout) stays exact.
    pub fn timer_slack(&mut self, slack: Duration) -> &mut Self {
        self.timer_slack = slack;
        self
    }

    /// Upper bound on the blocking pool's threads (`spawn_blocking`; default 512). Threads start on demand;
    /// jobs beyond the bound wait in a FIFO queue. Zero is rejected by `build`.
    pub fn max_blocking_threads(&mut self, n: usize) -> &mut Self {
        self.max_blocking_threads = n;
        self
    }

    /// How long an idle blocking-pool thread waits for a job before it exits (default 10 s).
    pub fn thread_keep_alive(&mut self, keep_alive: Duration) -> &mut Self {
        self.thread_keep_alive = keep_alive;
        self
    }

    /// Debug mode, asyncio's `debug=True` (default: on when the environment variable `FERRIO_DEBUG` is `1`,
    /// `true`, `yes` or `on`). It reports, on stderr or to [`on_debug_event`](Builder::on_debug_event)'s
    /// callback:
    /// - a poll of a task that took longer than [`slow_poll_threshold`](Builder::slow_poll_threshold),
    ///   naming the task and where it was spawned;
    /// - tasks still pending when the runtime is dropped, with their spawn locations;
    /// - every task that panicked with nobody retrieving its result ("Task exception was never retrieved").
    ///   Without debug mode the first such panic of a runtime is still reported.
    ///
    /// Costs: a map entry per spawned task and two clock reads per poll; off, one branch per spawn and poll.
    pub fn debug(&mut self, enabled: bool) -> &mut Self {
        self.debug = Some(enabled);
        self
    }

    /// How long one poll may take before debug mode reports it (default 100 ms, asyncio's
    /// `slow_callback_duration`).
    pub fn slow_poll_threshold(&mut self, threshold: Duration) -> &mut Self {
        self.slow_poll_threshold = threshold;
        self
    }

    /// Sends debug reports (and the once-per-runtime unretrieved-panic report) to `callback` instead of
    /// stderr. It runs on the thread that noticed the event (a worker, or the thread dropping the runtime).
    pub fn on_debug_event(
        &mut self,
        callback: impl Fn(&crate::DebugEvent) + Send + Sync + 'static,
    ) -> &mut Self {
        self.debug_callback = Some(std::sync::Arc::new(callback));
        self
    }

    /// Records the internals trace: each worker keeps its newest `capacity` events (polls, wakes, steals,
    /// parks, reactor turns, timer firings) in a ring buffer, written out by
    /// [`Runtime::dump_trace`](crate::Runtime::dump_trace) as Chrome trace-event JSON. Off by default; when
    /// off it costs one `None` check per event site. Zero is rejected by `build`.
    pub fn trace(&mut self, capacity: usize) -> &mut Self {
        self.trace = Some(capacity);
        self
    }

    /// Builds the runtime. Errors: `InvalidInput` for `worker_threads(0)`, `max_blocking_threads(0)` or a zero interval; otherwise
    /// whatever creating epoll, the eventfd or a thread returned.
    pub fn build(&mut self) -> io::Result<Runtime> {
        if self.worker_threads == Some(0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ferrio: worker_threads(0): a multi-thread runtime needs at least one worker thread",
            ));
        }
        if self.event_interval == 0 || self.global_queue_interval == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ferrio: event_interval and global_queue_interval must be at least 1",
            ));
        }
        if self.trace == Some(0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ferrio: trace(0): the trace needs room for at least one event per worker",
            ));
        }
        if self.max_blocking_threads == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ferrio: max_blocking_threads(0): spawn_blocking needs at least one blocking-pool thread",
            ));
        }
        Runtime::from_builder(self)
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("flavor", &self.flavor)
            .field("worker_threads", &self.worker_threads)
            .field("thread_name", &self.thread_name)
            .field("event_interval", &self.event_interval)
            .field("global_queue_interval", &self.global_queue_interval)
            .field("timer_slack", &self.timer_slack)
            .field("max_blocking_threads", &self.max_blocking_threads)
            .field("thread_keep_alive", &self.thread_keep_alive)
            .field("debug", &self.debug)
            .field("slow_poll_threshold", &self.slow_poll_threshold)
            .field("on_debug_event", &self.debug_callback.is_some())
            .field("trace", &self.trace)
            .field("reactor_hand_off", &self.reactor_hand_off)
            .finish()
    }
}
