//! Scheduler micro-benchmarks: the same workloads on five executors, so that only the scheduler differs.
//!
//! Runtimes (benchmark ids inside every group):
//! - `ferrio_mt`: ferrio multi-thread flavour, 2 workers.
//! - `ferrio_mt_shared` (only with `FERRIO_BENCH_SHARED=1`): `ferrio_mt` built with
//!   `ReactorHandOff::WhenShared`.
//! - `ferrio_ct`: ferrio current-thread flavour (tasks run inside `block_on` on the bench thread).
//! - `tokio_mt`: tokio `multi_thread`, 2 workers.
//! - `tokio_ct`: tokio `current_thread` (tasks run inside `block_on` on the bench thread).
//! - `async_executor`: one `async_executor::Executor` run by 2 dedicated std threads, each in
//!   `futures_lite::future::block_on(ex.run(stop))` where `stop` is a `futures_channel::oneshot` receiver
//!   that completes when the runtime wrapper is dropped. The bench thread does *not* run the executor: it
//!   only waits for the workload's completion channel with `futures_lite::future::block_on`, exactly like
//!   the bench thread of `ferrio_mt` / `tokio_mt`, whose `block_on` parks the calling thread while the 2
//!   workers run the tasks. So all three multi-threaded setups have 2 task-running threads plus one
//!   parked driver.
//!
//! Both tokio runtimes are built with `enable_all()`: ferrio always has an epoll reactor that idle workers
//! sleep in (and that busy workers poll every `event_interval` ticks), so tokio gets its I/O and time
//! drivers too; otherwise tokio would park on a bare condvar and skip its driver maintenance. The
//! async-executor threads use `futures_lite::future::block_on`, which parks on a futex (no reactor).
//!
//! Every runtime is built once per benchmark, outside the measured closure, and dropped (threads joined)
//! before the next one is built, so only one runtime is alive at a time. Completion is always signalled
//! through a `futures_channel::oneshot` (and the ping-pong uses `futures_channel::oneshot` too) so the
//! channels are the same code on every runtime.
//!
//! Modes:
//! - `cargo bench --bench scheduler`: criterion wall-clock measurements.
//! - `FERRIO_BENCH_CPU=1 cargo bench --bench scheduler`: skips criterion and runs a fixed CPU-time pass:
//!   per workload and runtime, `FERRIO_BENCH_CPU_ITERS` (default 50) measured iterations in 5 equal
//!   batches, each on a freshly built runtime after 5 warm-up iterations, printing wall time and process
//!   CPU time (`CLOCK_PROCESS_CPUTIME_ID`, all threads) per element: mean, median batch, batch range. An
//!   optional substring argument (`-- yield_many/ferrio`) filters `workload/runtime` names in this mode.
//!
//! A watchdog thread aborts the process with the name of the running benchmark when no iteration completes
//! for `FERRIO_BENCH_HANG_SECS` seconds (default 120), so a scheduler hang is reported instead of stalling.

mod support;

use criterion::measurement::WallTime;
use criterion::{criterion_group, BenchmarkGroup, Criterion, Throughput};
use futures_channel::oneshot;
use std::time::{Duration, Instant};
use support::{
    for_each_runtime, progress, set_current, start_watchdog, wait_done, BenchRuntime, ExDriver,
    Latch, RuntimeVisitor, Spawner, Watch,
};

// ---------------------------------------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------------------------------------

trait Workload {
    const NAME: &'static str;
    /// Elements per iteration (criterion throughput; the CPU table divides by it).
    const ELEMENTS: u64;
    /// One iteration, from the first spawn until every task has completed.
    fn run<R: BenchRuntime>(rt: &R);
}

const SPAWN_MANY: usize = 10_000;
const YIELD_TASKS: usize = 200;
const YIELDS_PER_TASK: usize = 1_000;
const PING_PONG_ROUNDS: usize = 1_000;
const CHAIN_DEPTH: usize = 1_000;

/// spawn_many: a root task spawns 10,000 tasks that each do one `fetch_sub` on a shared counter; the last
/// signals completion. Measures in-runtime spawn + schedule + run + task teardown.
struct SpawnMany;

impl Workload for SpawnMany {
    const NAME: &'static str = "spawn_many";
    const ELEMENTS: u64 = SPAWN_MANY as u64;
    fn run<R: BenchRuntime>(rt: &R) {
        let s = rt.spawner();
        let (latch, rx) = Latch::new(SPAWN_MANY);
        rt.block_on(async move {
            let inner = s.clone();
            s.spawn(async move {
                for _ in 0..SPAWN_MANY {
                    let latch = latch.clone();
                    inner.spawn(async move { latch.count_down() });
                }
            });
            wait_done(rx).await;
        });
    }
}

/// spawn_many_remote: the bench thread (not a worker, outside any task or `block_on`) spawns 10,000 tiny
/// tasks, then waits for the last to signal. Measures the remote/injection spawn path.
struct SpawnManyRemote;

impl Workload for SpawnManyRemote {
    const NAME: &'static str = "spawn_many_remote";
    const ELEMENTS: u64 = SPAWN_MANY as u64;
    fn run<R: BenchRuntime>(rt: &R) {
        let (latch, rx) = Latch::new(SPAWN_MANY);
        for _ in 0..SPAWN_MANY {
            let latch = latch.clone();
            rt.spawn_remote(async move { latch.count_down() });
        }
        drop(latch);
        rt.block_on(wait_done(rx));
    }
}

/// yield_many: a root task spawns 200 tasks that each `yield_now()` 1,000 times. Measures the
/// wake-self-and-requeue path (200,000 yields per iteration).
struct YieldMany;

impl Workload for YieldMany {
    const NAME: &'static str = "yield_many";
    const ELEMENTS: u64 = (YIELD_TASKS * YIELDS_PER_TASK) as u64;
    fn run<R: BenchRuntime>(rt: &R) {
        let s = rt.spawner();
        let (latch, rx) = Latch::new(YIELD_TASKS);
        rt.block_on(async move {
            let inner = s.clone();
            s.spawn(async move {
                for _ in 0..YIELD_TASKS {
                    let latch = latch.clone();
                    let task_spawner = inner.clone();
                    inner.spawn(async move {
                        for _ in 0..YIELDS_PER_TASK {
                            task_spawner.yield_now().await;
                        }
                        latch.count_down();
                    });
                }
            });
            wait_done(rx).await;
        });
    }
}

/// ping_pong: a root task spawns 1,000 round tasks; each spawns a partner, sends it a ping over a oneshot,
/// awaits the pong over a second oneshot, then counts down. Measures cross-task wake-ups (2,000 spawns and
/// 2,000 wakes per iteration).
struct PingPong;

impl Workload for PingPong {
    const NAME: &'static str = "ping_pong";
    const ELEMENTS: u64 = PING_PONG_ROUNDS as u64;
    fn run<R: BenchRuntime>(rt: &R) {
        let s = rt.spawner();
        let (latch, rx) = Latch::new(PING_PONG_ROUNDS);
        rt.block_on(async move {
            let inner = s.clone();
            s.spawn(async move {
                for _ in 0..PING_PONG_ROUNDS {
                    let latch = latch.clone();
                    let round_spawner = inner.clone();
                    inner.spawn(async move {
                        let (ping_tx, ping_rx) = oneshot::channel::<()>();
                        let (pong_tx, pong_rx) = oneshot::channel::<()>();
                        round_spawner.spawn(async move {
                            ping_rx.await.expect("ping sender dropped");
                            pong_tx.send(()).expect("pong receiver dropped");
                        });
                        ping_tx.send(()).expect("ping receiver dropped");
                        pong_rx.await.expect("pong sender dropped");
                        latch.count_down();
                    });
                }
            });
            wait_done(rx).await;
        });
    }
}

/// chained_spawn: each task spawns the next, 1,000 deep; the last signals completion. Measures the
/// latency of one spawn-to-first-poll hop when nothing else is runnable.
struct ChainedSpawn;

fn chain<S: Spawner>(s: S, remaining: usize, done: oneshot::Sender<()>) {
    if remaining == 0 {
        let _ = done.send(());
        return;
    }
    let next = s.clone();
    s.spawn(async move { chain(next, remaining - 1, done) });
}

impl Workload for ChainedSpawn {
    const NAME: &'static str = "chained_spawn";
    const ELEMENTS: u64 = CHAIN_DEPTH as u64;
    fn run<R: BenchRuntime>(rt: &R) {
        let s = rt.spawner();
        let (tx, rx) = oneshot::channel();
        rt.block_on(async move {
            chain(s, CHAIN_DEPTH, tx);
            wait_done(rx).await;
        });
    }
}

// ---------------------------------------------------------------------------------------------------------
// Iterations (progress for the hang watchdog)
// ---------------------------------------------------------------------------------------------------------

/// Runs one iteration of `W` and records progress for the watchdog.
fn iteration<W: Workload, R: BenchRuntime>(rt: &R) {
    W::run(rt);
    progress();
}

// ---------------------------------------------------------------------------------------------------------
// Criterion (wall time)
// ---------------------------------------------------------------------------------------------------------

struct CriterionVisitor<'a, 'c, W> {
    group: &'a mut BenchmarkGroup<'c, WallTime>,
    _workload: std::marker::PhantomData<W>,
}

impl<W: Workload> RuntimeVisitor for CriterionVisitor<'_, '_, W> {
    fn visit<R: BenchRuntime>(&mut self, rt: R) {
        set_current(format!("{}/{}", W::NAME, rt.id()));
        self.group
            .bench_function(rt.id(), |b| b.iter(|| iteration::<W, R>(&rt)));
        set_current(String::new());
        drop(rt);
    }
}

fn bench_workload<W: Workload>(c: &mut Criterion) {
    let mut group = c.benchmark_group(W::NAME);
    group.throughput(Throughput::Elements(W::ELEMENTS));
    for_each_runtime(
        &mut CriterionVisitor::<W> {
            group: &mut group,
            _workload: std::marker::PhantomData,
        },
        ExDriver::FuturesLite,
    );
    group.finish();
}

/// spawn_many: 10,000 tiny tasks spawned from inside a task.
fn spawn_many(c: &mut Criterion) {
    bench_workload::<SpawnMany>(c);
}

/// spawn_many_remote: 10,000 tiny tasks spawned from the (non-worker) bench thread.
fn spawn_many_remote(c: &mut Criterion) {
    bench_workload::<SpawnManyRemote>(c);
}

/// yield_many: 200 tasks x 1,000 `yield_now()`.
fn yield_many(c: &mut Criterion) {
    bench_workload::<YieldMany>(c);
}

/// ping_pong: 1,000 concurrent spawn-partner / ping / pong rounds over oneshot channels.
fn ping_pong(c: &mut Criterion) {
    bench_workload::<PingPong>(c);
}

/// chained_spawn: a chain of 1,000 tasks, each spawning the next.
fn chained_spawn(c: &mut Criterion) {
    bench_workload::<ChainedSpawn>(c);
}

criterion_group! {
    name = benches;
    config = support::config();
    targets = spawn_many, spawn_many_remote, yield_many, ping_pong, chained_spawn
}

// ---------------------------------------------------------------------------------------------------------
// CPU-time pass
// ---------------------------------------------------------------------------------------------------------

/// CPU time consumed so far by every thread of this process.
fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `timespec`; CLOCK_PROCESS_CPUTIME_ID is supported on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(
        rc,
        0,
        "clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed: {}",
        std::io::Error::last_os_error()
    );
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

const CPU_WARMUP_ITERS: u32 = 5;
/// The measured iterations are split into this many equal batches, each on a freshly built runtime (the
/// runtimes take turns, batch by batch). Multi-thread runtimes settle into a per-instance mode (how the
/// tasks end up spread over the workers), so batches on separate instances show that spread; the table
/// gives the mean over all batches, the median batch and the fastest/slowest batch.
const CPU_BATCHES: u32 = 5;

/// Per-batch results of one workload, per runtime id: (wall ns/element, cpu ns/element).
type CpuResults = Vec<(&'static str, Vec<(f64, f64)>)>;

struct CpuVisitor<W> {
    /// Iterations per batch.
    batch_iters: u32,
    filter: Option<String>,
    results: CpuResults,
    _workload: std::marker::PhantomData<W>,
}

impl<W: Workload> RuntimeVisitor for CpuVisitor<W> {
    fn visit<R: BenchRuntime>(&mut self, rt: R) {
        let label = format!("{}/{}", W::NAME, rt.id());
        if let Some(filter) = &self.filter {
            if !label.contains(filter.as_str()) {
                return;
            }
        }
        set_current(label);
        for _ in 0..CPU_WARMUP_ITERS {
            iteration::<W, R>(&rt);
        }
        let cpu_start = process_cpu_time();
        let wall_start = Instant::now();
        for _ in 0..self.batch_iters {
            iteration::<W, R>(&rt);
        }
        let wall = wall_start.elapsed();
        let cpu = process_cpu_time() - cpu_start;
        set_current(String::new());
        let ops = f64::from(self.batch_iters) * W::ELEMENTS as f64;
        let sample = (wall.as_nanos() as f64 / ops, cpu.as_nanos() as f64 / ops);
        match self.results.iter_mut().find(|(id, _)| *id == rt.id()) {
            Some((_, samples)) => samples.push(sample),
            None => self.results.push((rt.id(), vec![sample])),
        }
        drop(rt);
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn cpu_workload<W: Workload>(batch_iters: u32, filter: &Option<String>) {
    let mut visitor = CpuVisitor::<W> {
        batch_iters,
        filter: filter.clone(),
        results: Vec::new(),
        _workload: std::marker::PhantomData,
    };
    for _ in 0..CPU_BATCHES {
        for_each_runtime(&mut visitor, ExDriver::FuturesLite);
    }
    for (id, samples) in visitor.results {
        let n = samples.len() as f64;
        let walls: Vec<f64> = samples.iter().map(|s| s.0).collect();
        let cpus: Vec<f64> = samples.iter().map(|s| s.1).collect();
        let wall_mean = walls.iter().sum::<f64>() / n;
        let cpu_mean = cpus.iter().sum::<f64>() / n;
        let wall_min = walls.iter().copied().fold(f64::INFINITY, f64::min);
        let wall_max = walls.iter().copied().fold(0.0, f64::max);
        println!(
            "{:<18} {:<15} {:>6} {:>11.1} {:>11.1} {:>6.2} {:>11.1} {:>11.1} {:>9.1}-{:<9.1}",
            W::NAME,
            id,
            batch_iters * samples.len() as u32,
            wall_mean,
            cpu_mean,
            cpu_mean / wall_mean,
            median(walls),
            median(cpus),
            wall_min,
            wall_max,
        );
    }
}

fn cpu_pass() {
    let iters = std::env::var("FERRIO_BENCH_CPU_ITERS")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(50);
    let batch_iters = iters.div_ceil(CPU_BATCHES);
    // `cargo bench` passes `--bench`; the first argument that is not a flag filters `workload/runtime`.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let started = Instant::now();
    println!(
        "CPU-time pass: {CPU_BATCHES} batches per row, each on a fresh runtime: {CPU_WARMUP_ITERS} warm-up + \
         {batch_iters} measured iterations; ns per element; cpu = CLOCK_PROCESS_CPUTIME_ID (all threads); \
         cores = cpu/wall; med = median batch; wall range = fastest-slowest batch"
    );
    println!(
        "{:<18} {:<15} {:>6} {:>11} {:>11} {:>6} {:>11} {:>11} {:>19}",
        "workload",
        "runtime",
        "iters",
        "wall ns/op",
        "cpu ns/op",
        "cores",
        "wall med",
        "cpu med",
        "wall range"
    );
    cpu_workload::<SpawnMany>(batch_iters, &filter);
    cpu_workload::<SpawnManyRemote>(batch_iters, &filter);
    cpu_workload::<YieldMany>(batch_iters, &filter);
    cpu_workload::<PingPong>(batch_iters, &filter);
    cpu_workload::<ChainedSpawn>(batch_iters, &filter);
    println!(
        "CPU-time pass took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn main() {
    start_watchdog(Watch::Iterations);
    if std::env::var_os("FERRIO_BENCH_CPU").is_some_and(|v| v != "0") {
        cpu_pass();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
