//! How the multi-thread scheduler scales with its worker count: ferrio and tokio with 1, 2, 4, 8 and 16
//! workers on workloads that have parallelism to give, in the same criterion groups so the ratio is honest.
//!
//! Workloads (one criterion group each; ids `ferrio_w{n}` and `tokio_w{n}`):
//! - `scaling/cpu_segments`: a root task spawns 1,024 tasks; each runs 8 segments of fixed busy work (~3 us
//!   on this project's VM: 2,000 steps of a xorshift generator) with a `yield_now` between them.
//!   Throughput in segments: ideal scaling divides the time by the worker count, up to the machine's cores.
//! - `scaling/spawn_fanout`: a root task spawns 64 tasks, each of which spawns 256 empty tasks (16,384):
//!   spawning from every worker at once, the local queues overflowing and being stolen from.
//! - `scaling/yield_many`: 512 tasks yielding 200 times each: more runnable tasks than one ring holds, so
//!   rings overflow into the global queue and take shares back; spread over the workers by stealing.
//!
//! Worker counts come from `FERRIO_SCALING_WORKERS` (comma-separated, default `1,2,4,8,16`); counts above
//! the machine's available parallelism are skipped unless `FERRIO_SCALING_OVERSUBSCRIBE=1`, since a
//! worker without a core to itself measures the host's scheduler, not ours.
//!
//! Run: `cargo bench --bench scaling` (add `-- cpu_segments` to run one group).

mod support;

use criterion::Throughput;
use std::future::Future;
use std::hint::black_box;
use support::{
    set_current, start_watchdog, wait_done, BenchRuntime, FerrioRt, Latch, Spawner, TokioRt, Watch,
};

const CPU_TASKS: usize = 1_024;
const SEGMENTS_PER_TASK: usize = 8;
const STEPS_PER_SEGMENT: u32 = 2_000;
const FANOUT_PARENTS: usize = 64;
const FANOUT_CHILDREN: usize = 256;
const YIELD_TASKS: usize = 512;
const YIELDS_PER_TASK: usize = 200;

/// ~3 us of work (on this project's VM) that the optimiser cannot remove. Never inlined, so that both
/// runtimes run the very same machine code for it (inlined into each runtime's poll path, its loop was
/// placed and aligned differently per runtime).
#[inline(never)]
fn busy_segment(seed: u32) -> u32 {
    let mut x = seed | 1;
    for _ in 0..STEPS_PER_SEGMENT {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
    }
    black_box(x)
}

/// One iteration of a workload of `n` independent tasks: a root task spawns them (`task(i, spawner)`
/// makes task `i`'s body), and the iteration ends when every one has finished.
fn root_spawns<R, F>(rt: &R, n: usize, task: fn(usize, R::Spawner) -> F)
where
    R: BenchRuntime,
    F: Future<Output = ()> + Send + 'static,
{
    let s = rt.spawner();
    let (latch, rx) = Latch::new(n);
    rt.block_on(async move {
        let inner = s.clone();
        s.spawn(async move {
            for i in 0..n {
                let (latch, body) = (latch.clone(), task(i, inner.clone()));
                inner.spawn(async move {
                    body.await;
                    latch.count_down();
                });
            }
        });
        wait_done(rx).await;
    });
}

fn cpu_segments<R: BenchRuntime>(rt: &R) {
    root_spawns(rt, CPU_TASKS, |i, spawner| async move {
        let mut x = i as u32;
        for _ in 0..SEGMENTS_PER_TASK {
            x = busy_segment(x);
            spawner.yield_now().await;
        }
        black_box(x);
    });
}

fn spawn_fanout<R: BenchRuntime>(rt: &R) {
    let s = rt.spawner();
    let (latch, rx) = Latch::new(FANOUT_PARENTS * FANOUT_CHILDREN);
    rt.block_on(async move {
        let inner = s.clone();
        s.spawn(async move {
            for _ in 0..FANOUT_PARENTS {
                let (latch, parent_spawner) = (latch.clone(), inner.clone());
                inner.spawn(async move {
                    for _ in 0..FANOUT_CHILDREN {
                        let latch = latch.clone();
                        parent_spawner.spawn(async move { latch.count_down() });
                    }
                });
            }
        });
        wait_done(rx).await;
    });
}

fn yield_many<R: BenchRuntime>(rt: &R) {
    root_spawns(rt, YIELD_TASKS, |_, spawner| async move {
        for _ in 0..YIELDS_PER_TASK {
            spawner.yield_now().await;
        }
    });
}

/// The worker counts to measure (see the module docs).
fn worker_counts() -> Vec<usize> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let oversubscribe = std::env::var("FERRIO_SCALING_OVERSUBSCRIBE").is_ok_and(|v| v == "1");
    let list = std::env::var("FERRIO_SCALING_WORKERS").unwrap_or_else(|_| "1,2,4,8,16".to_owned());
    let counts: Vec<usize> = list
        .split(',')
        .map(|n| {
            n.trim()
                .parse()
                .unwrap_or_else(|_| panic!("FERRIO_SCALING_WORKERS: {n:?} is not a worker count"))
        })
        .collect();
    assert!(
        counts.iter().all(|&n| n > 0),
        "FERRIO_SCALING_WORKERS: a worker count must be at least 1"
    );
    let kept: Vec<usize> = counts
        .iter()
        .copied()
        .filter(|&n| oversubscribe || n <= cores)
        .collect();
    let skipped: Vec<usize> = counts
        .iter()
        .copied()
        .filter(|n| !kept.contains(n))
        .collect();
    println!(
        "scaling: {cores} cores; worker counts {kept:?}{}",
        if skipped.is_empty() {
            String::new()
        } else {
            format!(" (skipped, more than the cores: {skipped:?}; FERRIO_SCALING_OVERSUBSCRIBE=1 keeps them)")
        }
    );
    kept
}

fn main() {
    start_watchdog(Watch::Iterations);
    let counts = worker_counts();
    let mut c = support::config().configure_from_args();
    let elements = [
        ("cpu_segments", (CPU_TASKS * SEGMENTS_PER_TASK) as u64),
        ("spawn_fanout", (FANOUT_PARENTS * FANOUT_CHILDREN) as u64),
        ("yield_many", (YIELD_TASKS * YIELDS_PER_TASK) as u64),
    ];
    for (name, n) in elements {
        // Each group holds both runtimes at every worker count, ferrio first.
        let mut group = c.benchmark_group(format!("scaling/{name}"));
        group.throughput(Throughput::Elements(n));
        for &w in &counts {
            for runtime in ["ferrio", "tokio"] {
                let id = format!("{runtime}_w{w}");
                set_current(format!("scaling/{name}/{id}"));
                macro_rules! measure {
                    ($rt:expr) => {{
                        let rt = $rt;
                        let workload: fn(&_) = match name {
                            "cpu_segments" => cpu_segments,
                            "spawn_fanout" => spawn_fanout,
                            _ => yield_many,
                        };
                        group.bench_function(id.as_str(), |b| {
                            b.iter(|| {
                                workload(&rt);
                                support::progress();
                            })
                        });
                    }};
                }
                match runtime {
                    "ferrio" => measure!(FerrioRt::with_workers(w)),
                    _ => measure!(TokioRt::with_workers(w)),
                }
                set_current(String::new());
            }
        }
        group.finish();
    }
    c.final_summary();
}
