//! Shared helpers of the benchmarks: the benchmarked runtimes (ferrio multi-thread / current-thread, tokio
//! `multi_thread` / `current_thread`, an `async_executor::Executor` on 2 std threads) behind the
//! `BenchRuntime` / `Spawner` traits, `RuntimeVisitor` / `for_each_runtime`, a completion `Latch`, the hang
//! watchdog (`FERRIO_BENCH_HANG_SECS`) with its progress counters, and the criterion settings.
//!
//! `echo.rs` holds the TCP echo loops and the process CPU clock of `tcp_rtt` and `tcp_echo`;
//! `min_runtime.rs` the least runtime that can run those loops (`tcp_rtt`'s `floor_min_runtime`).
//!
//! Every bench file includes this with `mod support;` and uses only part of it (`floor` only the criterion
//! settings, `timer_latency` only the runtime constructors and the watchdog; `scheduler` never sleeps and
//! `timer` never yields), and each bench binary compiles the module on its own, hence `allow(dead_code)`.
#![allow(dead_code)]

pub mod echo;
pub mod min_runtime;

use criterion::Criterion;
use futures_channel::oneshot;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------------------
// Runtime abstraction
// ---------------------------------------------------------------------------------------------------------

/// Spawns, yields and creates timers from inside the runtime (a task, or the runtime's `block_on`).
pub trait Spawner: Clone + Send + Sync + 'static {
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, future: F);
    /// The runtime's own "yield once" future.
    fn yield_now(&self) -> impl Future<Output = ()> + Send;
    /// The runtime's sleep for `duration` (created now, not at first poll). Associated functions, not
    /// methods, so the returned futures borrow no spawner.
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send;
    /// The runtime's sleep until `deadline`.
    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> + Send;
    /// Runs `future` with the runtime's cooperative budget lifted, where it has one that timers charge.
    fn unconstrained<F: Future + Send>(future: F) -> impl Future<Output = F::Output> + Send;
    /// Timers registered and not yet fired, where the runtime can tell.
    fn pending_timers(&self) -> Option<usize>;
}

/// One of the benchmarked executors, built and ready.
pub trait BenchRuntime {
    type Spawner: Spawner;
    /// The criterion benchmark id.
    fn id(&self) -> &'static str;
    /// The spawner used inside tasks (`ferrio::spawn`, `tokio::spawn`, `Executor::spawn`).
    fn spawner(&self) -> Self::Spawner;
    /// Spawns from a thread that is not a worker and not inside `block_on` (the bench thread).
    fn spawn_remote<F: Future<Output = ()> + Send + 'static>(&self, future: F);
    /// Runs `future` on the bench thread until it completes (driving the tasks on the current-thread
    /// flavours; parking while the workers run them on the multi-thread ones).
    fn block_on<F: Future>(&self, future: F) -> F::Output;
}

#[derive(Clone, Copy)]
pub struct FerrioSpawner;

impl Spawner for FerrioSpawner {
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
        drop(ferrio::spawn(future)); // dropping a ferrio `Task` detaches it
    }
    fn yield_now(&self) -> impl Future<Output = ()> + Send {
        ferrio::yield_now()
    }
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
        ferrio::time::sleep(duration)
    }
    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> + Send {
        ferrio::time::sleep_until(deadline)
    }
    fn unconstrained<F: Future + Send>(future: F) -> impl Future<Output = F::Output> + Send {
        future // ferrio's `Sleep` charges no budget
    }
    fn pending_timers(&self) -> Option<usize> {
        Some(ferrio::Handle::current().pending_timers())
    }
}

/// A ferrio runtime and its benchmark id.
pub struct FerrioRt {
    pub rt: ferrio::Runtime,
    pub id: &'static str,
}

impl FerrioRt {
    /// `ferrio_mt`: the multi-thread flavour, 2 workers.
    pub fn multi_thread() -> FerrioRt {
        let rt = ferrio::Runtime::builder()
            .worker_threads(2)
            .build()
            .expect("build ferrio multi-thread runtime");
        FerrioRt {
            rt,
            id: "ferrio_mt",
        }
    }

    /// `ferrio_mt_shared`: `ferrio_mt` built with `ReactorHandOff::WhenShared`.
    pub fn multi_thread_shared() -> FerrioRt {
        let rt = ferrio::Runtime::builder()
            .worker_threads(2)
            .reactor_hand_off(ferrio::ReactorHandOff::WhenShared)
            .build()
            .expect("build ferrio multi-thread runtime");
        FerrioRt {
            rt,
            id: "ferrio_mt_shared",
        }
    }

    /// `ferrio_w{n}`: the multi-thread flavour with `n` workers (the scaling bench).
    pub fn with_workers(n: usize) -> FerrioRt {
        let rt = ferrio::Runtime::builder()
            .worker_threads(n)
            .build()
            .expect("build ferrio multi-thread runtime");
        FerrioRt {
            rt,
            id: Box::leak(format!("ferrio_w{n}").into_boxed_str()),
        }
    }

    /// `ferrio_ct`: the current-thread flavour.
    pub fn current_thread() -> FerrioRt {
        let rt = ferrio::Runtime::builder()
            .current_thread()
            .build()
            .expect("build ferrio current-thread runtime");
        FerrioRt {
            rt,
            id: "ferrio_ct",
        }
    }
}

impl BenchRuntime for FerrioRt {
    type Spawner = FerrioSpawner;
    fn id(&self) -> &'static str {
        self.id
    }
    fn spawner(&self) -> FerrioSpawner {
        FerrioSpawner
    }
    fn spawn_remote<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
        drop(self.rt.spawn(future));
    }
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.rt.block_on(future)
    }
}

#[derive(Clone, Copy)]
pub struct TokioSpawner;

impl Spawner for TokioSpawner {
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
        drop(tokio::spawn(future)); // dropping a `JoinHandle` detaches the task
    }
    fn yield_now(&self) -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }
    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> + Send {
        tokio::time::sleep_until(tokio::time::Instant::from_std(deadline))
    }
    fn unconstrained<F: Future + Send>(future: F) -> impl Future<Output = F::Output> + Send {
        tokio::task::unconstrained(future)
    }
    fn pending_timers(&self) -> Option<usize> {
        None
    }
}

/// A tokio runtime (always `enable_all`) and its benchmark id.
pub struct TokioRt {
    pub rt: tokio::runtime::Runtime,
    pub id: &'static str,
}

impl TokioRt {
    /// `tokio_mt`: `multi_thread`, 2 workers, `enable_all`.
    pub fn multi_thread() -> TokioRt {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("build tokio multi-thread runtime");
        TokioRt { rt, id: "tokio_mt" }
    }

    /// `tokio_w{n}`: `multi_thread` with `n` workers, `enable_all` (the scaling bench).
    pub fn with_workers(n: usize) -> TokioRt {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build()
            .expect("build tokio multi-thread runtime");
        TokioRt {
            rt,
            id: Box::leak(format!("tokio_w{n}").into_boxed_str()),
        }
    }

    /// `tokio_ct`: `current_thread`, `enable_all`.
    pub fn current_thread() -> TokioRt {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("build tokio current-thread runtime");
        TokioRt { rt, id: "tokio_ct" }
    }
}

impl BenchRuntime for TokioRt {
    type Spawner = TokioSpawner;
    fn id(&self) -> &'static str {
        self.id
    }
    fn spawner(&self) -> TokioSpawner {
        TokioSpawner
    }
    fn spawn_remote<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
        drop(self.rt.spawn(future));
    }
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.rt.block_on(future)
    }
}

/// The spawner of `AsyncExecutorRt`: `Executor::spawn`, `futures_lite`'s yield, `async_io::Timer`.
#[derive(Clone)]
pub struct ExSpawner(Arc<async_executor::Executor<'static>>);

impl Spawner for ExSpawner {
    fn spawn<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
        self.0.spawn(future).detach();
    }
    fn yield_now(&self) -> impl Future<Output = ()> + Send {
        futures_lite::future::yield_now()
    }
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
        let timer = async_io::Timer::after(duration);
        async move {
            timer.await;
        }
    }
    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> + Send {
        let timer = async_io::Timer::at(deadline);
        async move {
            timer.await;
        }
    }
    fn unconstrained<F: Future + Send>(future: F) -> impl Future<Output = F::Output> + Send {
        future
    }
    fn pending_timers(&self) -> Option<usize> {
        None
    }
}

/// What each thread of an `AsyncExecutorRt` runs its `ex.run(stop)` future in.
#[derive(Clone, Copy)]
pub enum ExDriver {
    /// `futures_lite::future::block_on`, which parks on a futex (no reactor). Benchmark id
    /// `async_executor`, threads `async-executor-{i}` (the scheduler benchmarks).
    FuturesLite,
    /// `async_io::block_on`, so the threads also drive async-io's reactor when idle (the smol setup).
    /// Benchmark id `async_io`, threads `async-io-{i}` (the timer benchmarks).
    AsyncIo,
}

/// `async_executor::Executor` run by `threads` std threads, each in `driver`'s `block_on(ex.run(stop))`
/// where `stop` is a `futures_channel::oneshot` receiver that completes when the wrapper is dropped. The
/// bench thread does not run the executor: its `block_on` is `futures_lite::future::block_on`, which only
/// waits for the workload's completion.
pub struct AsyncExecutorRt {
    ex: Arc<async_executor::Executor<'static>>,
    id: &'static str,
    /// Dropping these completes each thread's `ex.run(..)` future.
    stop: Vec<oneshot::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl AsyncExecutorRt {
    pub fn new(threads: usize, driver: ExDriver) -> AsyncExecutorRt {
        let (id, thread_name) = match driver {
            ExDriver::FuturesLite => ("async_executor", "async-executor"),
            ExDriver::AsyncIo => ("async_io", "async-io"),
        };
        let ex = Arc::new(async_executor::Executor::new());
        let mut stop = Vec::with_capacity(threads);
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads {
            let (tx, rx) = oneshot::channel::<()>();
            stop.push(tx);
            let ex = ex.clone();
            let handle = std::thread::Builder::new()
                .name(format!("{thread_name}-{i}"))
                .spawn(move || {
                    let run = ex.run(async move {
                        // `Err(Canceled)` when the sender is dropped: that is the stop signal.
                        let _ = rx.await;
                    });
                    match driver {
                        ExDriver::FuturesLite => futures_lite::future::block_on(run),
                        ExDriver::AsyncIo => async_io::block_on(run),
                    }
                })
                .expect("spawn async-executor thread");
            handles.push(handle);
        }
        AsyncExecutorRt {
            ex,
            id,
            stop,
            threads: handles,
        }
    }
}

impl Drop for AsyncExecutorRt {
    fn drop(&mut self) {
        self.stop.clear();
        for handle in self.threads.drain(..) {
            handle.join().expect("async-executor thread panicked");
        }
    }
}

impl BenchRuntime for AsyncExecutorRt {
    type Spawner = ExSpawner;
    fn id(&self) -> &'static str {
        self.id
    }
    fn spawner(&self) -> ExSpawner {
        ExSpawner(self.ex.clone())
    }
    fn spawn_remote<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
        self.ex.spawn(future).detach();
    }
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        futures_lite::future::block_on(future)
    }
}

/// Calls `visit` with each runtime in turn; each is built just before its call and dropped right after.
pub trait RuntimeVisitor {
    fn visit<R: BenchRuntime>(&mut self, rt: R);
}

/// `ferrio_mt`, `ferrio_ct`, `tokio_mt`, `tokio_ct`, then the async-executor runtime run by 2 threads in
/// `driver`.
pub fn for_each_runtime(v: &mut impl RuntimeVisitor, driver: ExDriver) {
    v.visit(FerrioRt::multi_thread());
    if std::env::var_os("FERRIO_BENCH_SHARED").is_some() {
        v.visit(FerrioRt::multi_thread_shared());
    }
    v.visit(FerrioRt::current_thread());
    v.visit(TokioRt::multi_thread());
    v.visit(TokioRt::current_thread());
    v.visit(AsyncExecutorRt::new(2, driver));
}

// ---------------------------------------------------------------------------------------------------------
// Completion
// ---------------------------------------------------------------------------------------------------------

/// Counts completions; the last one sends on a oneshot.
pub struct Latch {
    remaining: AtomicUsize,
    done: Mutex<Option<oneshot::Sender<()>>>,
}

impl Latch {
    pub fn new(n: usize) -> (Arc<Latch>, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let latch = Latch {
            remaining: AtomicUsize::new(n),
            done: Mutex::new(Some(tx)),
        };
        (Arc::new(latch), rx)
    }

    pub fn count_down(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            if let Some(tx) = self.done.lock().unwrap().take() {
                let _ = tx.send(());
            }
        }
    }
}

/// Waits for a `Latch` (or any completion sender) to signal.
pub async fn wait_done(rx: oneshot::Receiver<()>) {
    rx.await
        .expect("completion sender dropped: a task was dropped before finishing");
}

// ---------------------------------------------------------------------------------------------------------
// Hang watchdog
// ---------------------------------------------------------------------------------------------------------

/// Bumped after every completed iteration (or batch).
static PROGRESS: AtomicU64 = AtomicU64::new(0);
/// What is being measured ("" between benchmarks).
static CURRENT: Mutex<String> = Mutex::new(String::new());

/// Names what is measured from now on (for the watchdog's report), and counts as progress.
pub fn set_current(label: String) {
    *CURRENT.lock().unwrap() = label;
    PROGRESS.fetch_add(1, Ordering::Relaxed);
}

/// Records one completed iteration for the watchdog.
pub fn progress() {
    PROGRESS.fetch_add(1, Ordering::Relaxed);
}

/// How a bench reports progress, which sets the watchdog's wording and rules.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// Criterion benchmarks: a stall counts only while a benchmark is named (not between benchmarks), and
    /// `FERRIO_BENCH_HANG_SECS` is taken as given (0 included).
    Iterations,
    /// Batches of `timer_latency`: a stall counts whatever is named, and `FERRIO_BENCH_HANG_SECS=0` means
    /// the default.
    Batches,
}

/// Starts a thread that aborts the process (exit code 3), naming what is measured, when no progress is
/// recorded for `FERRIO_BENCH_HANG_SECS` seconds (default 120).
pub fn start_watchdog(watch: Watch) {
    let limit = std::env::var("FERRIO_BENCH_HANG_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&n| watch == Watch::Iterations || n > 0)
        .unwrap_or(120);
    std::thread::Builder::new()
        .name("bench-watchdog".to_owned())
        .spawn(move || {
            let mut last = PROGRESS.load(Ordering::Relaxed);
            let mut since = Instant::now();
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let now = PROGRESS.load(Ordering::Relaxed);
                if now != last {
                    last = now;
                    since = Instant::now();
                    continue;
                }
                if since.elapsed() < Duration::from_secs(limit) {
                    continue;
                }
                let label = CURRENT.lock().unwrap().clone();
                match watch {
                    Watch::Iterations if label.is_empty() => continue,
                    Watch::Iterations => eprintln!(
                        "\nHANG: benchmark {label} completed no iteration for {limit} s; aborting \
                         (FERRIO_BENCH_HANG_SECS changes the limit)"
                    ),
                    Watch::Batches => eprintln!(
                        "\nHANG: batch {label} did not complete in {limit} s; aborting \
                         (FERRIO_BENCH_HANG_SECS changes the limit)"
                    ),
                }
                std::process::exit(3);
            }
        })
        .expect("spawn watchdog thread");
}

// ---------------------------------------------------------------------------------------------------------
// Criterion
// ---------------------------------------------------------------------------------------------------------

/// The criterion settings of every criterion bench: sample size 20, 3 s measurement, 1 s warm-up.
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
}
