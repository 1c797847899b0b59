//! Timer throughput micro-benchmarks: the same timer workloads on five runtimes, so only the timer
//! implementation (and the scheduler that runs the woken tasks) differs.
//!
//! Runtimes (benchmark ids inside every group):
//! - `ferrio_mt`: ferrio multi-thread flavour, 2 workers.
//! - `ferrio_ct`: ferrio current-thread flavour (tasks run inside `block_on` on the bench thread).
//! - `tokio_mt`: tokio `multi_thread`, 2 workers, `enable_all`.
//! - `tokio_ct`: tokio `current_thread`, `enable_all` (tasks run inside `block_on` on the bench thread).
//! - `async_io`: `async_io::Timer` on one `async_executor::Executor` run by 2 dedicated std threads, each in
//!   `async_io::block_on(ex.run(stop))`, so the executor threads also drive async-io's reactor when idle
//!   (the smol setup). The bench thread only waits for completion (`futures_lite::future::block_on`), like
//!   the parked bench thread of `ferrio_mt` / `tokio_mt`.
//!
//! Every runtime is built once per benchmark, outside the measured closure, and dropped (threads joined)
//! before the next one is built. Completion is signalled through `futures_channel::oneshot` on every runtime.
//!
//! Groups:
//! - `timers_many`: a root task spawns 100,000 tasks, each awaiting one sleep with a random deadline
//!   0..20 ms (fixed seed) after its first poll; timed from the first spawn until the last timer has fired
//!   and its task has run. The deadline is taken when the task first runs, not when it is spawned: spawning
//!   100,000 tasks takes longer than 20 ms on some runtimes, and deadlines relative to the first spawn
//!   would have passed before most tasks ran, so their sleeps would complete without ever registering.
//!   The 20 ms span alone is 200 ns per timer. A side pass (one warm-up iteration, then one
//!   recorded iteration per runtime) prints the overshoot of each timer: the instant its task resumed
//!   minus its deadline (mean, min, p50, p99, max, and timers that resumed early, which would be a bug).
//!   The deadlines come ~5 per microsecond, so a runtime that needs more than ~200 ns per spawn, first
//!   poll, wake and final poll falls behind and the overshoot grows with the backlog: it measures how well
//!   the runtime keeps up under load, not timer precision (`benches/timer_latency.rs` measures that).
//! - `timer_churn`: inside one task, `sleep(1 s)` created, polled once with the task's own `Context` (so it
//!   really registers in the runtime's timer structure) and dropped (cancelled), 1,000 times per
//!   iteration; criterion time per element is ns per create + register + cancel. Each sleep is held
//!   across an `.await` (a one-shot poll future), so it lives in the task's future, where `sleep(d).await`
//!   and `timeout(d, f).await` in an async fn keep it; `FERRIO_CHURN_ON_STACK=1` pins it on the stack of
//!   a hand-written poll function instead (ferrio then counts references to its driver and the waker,
//!   see src/time/binding.rs; the other runtimes do not care where the sleep lives). The time is taken inside
//!   the task (`iter_custom`), so spawning the task and waking the bench thread are not counted. tokio's
//!   `Sleep` charges tokio's cooperative budget (128 per task poll) and returns `Pending` *without
//!   registering* once it is spent, so the tokio task runs under `tokio::task::unconstrained`; ferrio's
//!   `Sleep` charges no budget. Creating a sleep reads the clock (`Instant::now`) on every runtime; its cost
//!   is printed once for reference. Before measuring, ferrio's churn is checked to really register
//!   (`Handle::pending_timers` is 1 after the poll, 0 after the drop).
//!
//! Settings: sample size 20, 3 s measurement, 1 s warm-up; `timers_many` uses flat sampling (each
//! iteration takes tens of ms). After criterion, a Markdown summary of the medians (read back from
//! criterion's `estimates.json`) and the overshoot table are printed.
//!
//! A watchdog thread aborts the process with the name of the running benchmark when no iteration completes
//! for `FERRIO_BENCH_HANG_SECS` seconds (default 120), so a timer that never fires is reported instead of
//! stalling.

mod support;

use criterion::measurement::WallTime;
use criterion::{criterion_group, BenchmarkGroup, Criterion, SamplingMode, Throughput};
use futures_channel::oneshot;
use std::future::{poll_fn, Future};
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};
use support::{
    for_each_runtime, progress, set_current, start_watchdog, BenchRuntime, ExDriver, Latch,
    RuntimeVisitor, Spawner, Watch,
};

// ---------------------------------------------------------------------------------------------------------
// Running inside a task
// ---------------------------------------------------------------------------------------------------------

/// Runs `future` as a task of `rt` (spawned from inside `block_on`) and returns its output.
fn run_in_task<R, T, F>(rt: &R, future: F) -> T
where
    R: BenchRuntime,
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let s = rt.spawner();
    let (tx, rx) = oneshot::channel();
    rt.block_on(async move {
        s.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.await.expect("task dropped before finishing")
    })
}

// ---------------------------------------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------------------------------------

const MANY_TIMERS: usize = 100_000;
/// Deadlines are spread uniformly over this span after the start of the iteration.
const MANY_SPAN_NS: u64 = 20_000_000;
const MANY_SEED: u64 = 0x5EED_F3A1_0C0D_E123;
const CHURN_PAIRS: usize = 1_000;
const CHURN_AHEAD: Duration = Duration::from_secs(1);

/// splitmix64: a small, seeded generator (the deadlines are the same on every runtime and every run).
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The 100,000 deadline offsets, ns after the start of an iteration.
fn many_offsets() -> Arc<[u64]> {
    let mut state = MANY_SEED;
    (0..MANY_TIMERS)
        .map(|_| splitmix64(&mut state) % MANY_SPAN_NS)
        .collect()
}

/// Per-timer overshoot (ns, resumed instant minus deadline; negative = early) of one recorded iteration.
type Overshoots = Arc<[AtomicI64]>;

/// One timers_many iteration: a root task spawns 100,000 tasks; each, at its first poll, sleeps for its
/// offset (`sleep_until(now + offset)`, so every timer really registers however long the spawning takes)
/// then counts down; returns when the last has counted down. With `record`, each task stores its overshoot
/// in its slot.
fn timers_many<R: BenchRuntime>(rt: &R, offsets: &Arc<[u64]>, record: Option<&Overshoots>) {
    let s = rt.spawner();
    let (latch, rx) = Latch::new(offsets.len());
    let offsets = offsets.clone();
    let record = record.cloned();
    rt.block_on(async move {
        let inner = s.clone();
        s.spawn(async move {
            for (i, &offset) in offsets.iter().enumerate() {
                let latch = latch.clone();
                let record = record.clone();
                inner.spawn(async move {
                    let deadline = Instant::now() + Duration::from_nanos(offset);
                    R::Spawner::sleep_until(deadline).await;
                    if let Some(record) = record {
                        let now = Instant::now();
                        let over = match now.checked_duration_since(deadline) {
                            Some(late) => late.as_nanos() as i64,
                            None => -(deadline.duration_since(now).as_nanos() as i64),
                        };
                        record[i].store(over, Ordering::Relaxed);
                    }
                    latch.count_down();
                });
            }
        });
        rx.await
            .expect("completion sender dropped: a task was dropped before finishing");
    });
}

/// `pairs` x (create `sleep(1 s)`, poll it once with the task's context, drop it), inside the current task.
/// The sleep is held across an `.await`, so it lives in the task's future (as `sleep(d).await` and
/// `timeout(d, f).await` in an async fn do). With `on_stack`, each sleep is instead pinned on the stack of
/// a hand-written poll function (`FERRIO_CHURN_ON_STACK=1`, the form the first versions of this bench used).
async fn churn_pairs<S: Spawner>(pairs: usize, on_stack: bool) {
    if on_stack {
        return poll_fn(move |cx| {
            for _ in 0..pairs {
                let mut sleep = pin!(S::sleep(CHURN_AHEAD));
                let polled = black_box(sleep.as_mut().poll(cx));
                assert!(polled.is_pending(), "sleep(1 s) ready at its first poll");
            }
            Poll::Ready(())
        })
        .await;
    }
    for _ in 0..pairs {
        let mut sleep = pin!(S::sleep(CHURN_AHEAD));
        let polled = black_box(PollOnce(sleep.as_mut()).await);
        assert!(polled.is_pending(), "sleep(1 s) ready at its first poll");
    }
}

/// Polls the future it borrows exactly once and returns what that poll gave.
struct PollOnce<'a, F>(std::pin::Pin<&'a mut F>);

impl<F: Future> Future for PollOnce<'_, F> {
    type Output = Poll<F::Output>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Self::Output> {
        Poll::Ready(self.0.as_mut().poll(cx))
    }
}

/// `iters` timer_churn iterations inside one task of `rt`, timed inside the task.
fn timer_churn<R: BenchRuntime>(rt: &R, iters: u64) -> Duration {
    let on_stack = std::env::var_os("FERRIO_CHURN_ON_STACK").is_some_and(|v| v == "1");
    run_in_task(rt, async move {
        R::Spawner::unconstrained(async move {
            let start = Instant::now();
            for _ in 0..iters {
                churn_pairs::<R::Spawner>(CHURN_PAIRS, on_stack).await;
            }
            start.elapsed()
        })
        .await
    })
}

/// Checks, where the runtime can tell, that one churn pair really registers and then cancels its timer.
fn check_churn_registers<R: BenchRuntime>(rt: &R) {
    let s = rt.spawner();
    let counts = run_in_task(rt, async move {
        let before = s.pending_timers();
        let (during, after) = poll_fn(|cx| {
            let during = {
                let mut sleep = pin!(R::Spawner::sleep(CHURN_AHEAD));
                assert!(
                    sleep.as_mut().poll(cx).is_pending(),
                    "sleep(1 s) ready at once"
                );
                s.pending_timers()
            };
            Poll::Ready((during, s.pending_timers()))
        })
        .await;
        (before, during, after)
    });
    if let (Some(before), Some(during), Some(after)) = counts {
        assert_eq!(
            (during, after),
            (before + 1, before),
            "{}: timer_churn does not register and cancel a timer",
            rt.id()
        );
    }
}

// ---------------------------------------------------------------------------------------------------------
// Summary
// ---------------------------------------------------------------------------------------------------------

/// Markdown lines printed again after criterion's output.
static SUMMARY: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn fmt_us(ns: i64) -> String {
    format!("{:.1}", ns as f64 / 1000.0)
}

/// The side pass of timers_many: one warm-up and one recorded iteration; one Markdown row of overshoot.
fn overshoot_row<R: BenchRuntime>(rt: &R, offsets: &Arc<[u64]>) -> String {
    timers_many(rt, offsets, None);
    let record: Overshoots = (0..offsets.len())
        .map(|_| AtomicI64::new(i64::MIN))
        .collect();
    timers_many(rt, offsets, Some(&record));
    let mut over: Vec<i64> = record.iter().map(|o| o.load(Ordering::Relaxed)).collect();
    assert!(
        over.iter().all(|&o| o != i64::MIN),
        "{}: a timers_many task did not record its overshoot",
        rt.id()
    );
    over.sort_unstable();
    let n = over.len();
    let mean = over.iter().sum::<i64>() as f64 / n as f64;
    let early = over.iter().filter(|&&o| o < 0).count();
    format!(
        "| {} | {:.1} | {} | {} | {} | {} | {} |",
        rt.id(),
        mean / 1000.0,
        fmt_us(over[0]),
        fmt_us(over[n / 2]),
        fmt_us(over[n * 99 / 100]),
        fmt_us(over[n - 1]),
        early
    )
}

// ---------------------------------------------------------------------------------------------------------
// Criterion
// ---------------------------------------------------------------------------------------------------------

struct ManyVisitor<'a, 'c> {
    group: &'a mut BenchmarkGroup<'c, WallTime>,
    offsets: Arc<[u64]>,
    overshoot: Vec<String>,
}

impl RuntimeVisitor for ManyVisitor<'_, '_> {
    fn visit<R: BenchRuntime>(&mut self, rt: R) {
        set_current(format!("timers_many/{}", rt.id()));
        let offsets = &self.offsets;
        self.group.bench_function(rt.id(), |b| {
            b.iter(|| {
                timers_many(&rt, offsets, None);
                progress();
            })
        });
        set_current(format!("timers_many/{} overshoot pass", rt.id()));
        let row = overshoot_row(&rt, &self.offsets);
        set_current(String::new());
        println!("timers_many overshoot (us): {row}");
        self.overshoot.push(row);
        drop(rt);
    }
}

/// timers_many: 100,000 tasks each awaiting one sleep with a random deadline in 0..20 ms.
fn bench_timers_many(c: &mut Criterion) {
    let mut group = c.benchmark_group("timers_many");
    group.throughput(Throughput::Elements(MANY_TIMERS as u64));
    group.sampling_mode(SamplingMode::Flat);
    let mut visitor = ManyVisitor {
        group: &mut group,
        offsets: many_offsets(),
        overshoot: Vec::new(),
    };
    for_each_runtime(&mut visitor, ExDriver::AsyncIo);
    let rows = std::mem::take(&mut visitor.overshoot);
    group.finish();
    let mut summary = SUMMARY.lock().unwrap();
    summary.push(String::new());
    summary.push(format!(
        "### timers_many overshoot, us (resumed - deadline; one recorded iteration of {MANY_TIMERS} timers \
         after one warm-up, per runtime)"
    ));
    summary.push(String::new());
    summary.push("| runtime | mean | min | p50 | p99 | max | early |".to_owned());
    summary.push("|---|---|---|---|---|---|---|".to_owned());
    summary.extend(rows);
}

struct ChurnVisitor<'a, 'c> {
    group: &'a mut BenchmarkGroup<'c, WallTime>,
}

impl RuntimeVisitor for ChurnVisitor<'_, '_> {
    fn visit<R: BenchRuntime>(&mut self, rt: R) {
        set_current(format!("timer_churn/{}", rt.id()));
        check_churn_registers(&rt);
        self.group.bench_function(rt.id(), |b| {
            b.iter_custom(|iters| {
                let elapsed = timer_churn(&rt, iters);
                progress();
                elapsed
            })
        });
        set_current(String::new());
        drop(rt);
    }
}

/// timer_churn: create + poll once (register) + drop (cancel) `sleep(1 s)`, 1,000 per iteration.
fn bench_timer_churn(c: &mut Criterion) {
    let mut group = c.benchmark_group("timer_churn");
    group.throughput(Throughput::Elements(CHURN_PAIRS as u64));
    for_each_runtime(&mut ChurnVisitor { group: &mut group }, ExDriver::AsyncIo);
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::config();
    targets = bench_timers_many, bench_timer_churn
}

/// Mean cost of one `Instant::now()` on this machine (every runtime's `sleep(d)` reads the clock).
fn clock_read_ns() -> f64 {
    const READS: u32 = 1_000_000;
    let start = Instant::now();
    for _ in 0..READS {
        black_box(Instant::now());
    }
    start.elapsed().as_nanos() as f64 / f64::from(READS)
}

/// The median point estimate (ns per iteration) criterion saved for `group/id`, if any.
fn criterion_median_ns(group: &str, id: &str) -> Option<f64> {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned());
    let path = format!("{target}/criterion/{group}/{id}/new/estimates.json");
    let json = std::fs::read_to_string(path).ok()?;
    let median = &json[json.find("\"median\"")?..];
    let value = &median[median.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = value.find([',', '}'])?;
    value[..end].trim().parse().ok()
}

fn print_summary() {
    const IDS: [&str; 5] = ["ferrio_mt", "ferrio_ct", "tokio_mt", "tokio_ct", "async_io"];
    println!();
    println!("## Timer benchmark summary (criterion medians)");
    println!();
    println!("| bench | unit | target | {} |", IDS.join(" | "));
    println!("|---|---|---|---|---|---|---|---|");
    for (group, unit, elements, target) in [
        (
            "timers_many",
            "ns per timer",
            MANY_TIMERS as f64,
            "-".to_owned(),
        ),
        (
            "timer_churn",
            "ns per create+poll+drop",
            CHURN_PAIRS as f64,
            "ferrio <= 50".to_owned(),
        ),
    ] {
        let cells: Vec<String> = IDS
            .iter()
            .map(|id| {
                criterion_median_ns(group, id)
                    .map_or("n/a".to_owned(), |ns| format!("{:.1}", ns / elements))
            })
            .collect();
        println!("| {group} | {unit} | {target} | {} |", cells.join(" | "));
    }
    for line in SUMMARY.lock().unwrap().iter() {
        println!("{line}");
    }
    println!();
    println!(
        "Instant::now() costs {:.1} ns here (each sleep(d) reads the clock at creation).",
        clock_read_ns()
    );
}

fn main() {
    start_watchdog(Watch::Iterations);
    benches();
    Criterion::default().configure_from_args().final_summary();
    print_summary();
}
