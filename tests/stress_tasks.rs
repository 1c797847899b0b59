//! Task storms on both flavours: spawns from inside and outside the workers, and panic storms. Each storm ends
//! by checking that every spawn ended in exactly one outcome, that every future and output was dropped
//! exactly once, and that `Runtime::stats()` counted the same (`stress_support`).
//!
//! Sizes: CI size by default (50,000 tasks per flavour in the spawn storm); `FERRIO_STRESS_SCALE=20` gives
//! the 1,000,000 per flavour:
//! `FERRIO_STRESS_SCALE=20 cargo test --release --test stress_tasks -- --nocapture` (each storm prints its
//! counts with `--nocapture`). Cancel storms: `stress_tasks_cancel.rs`. Single-task cancel semantics:
//! `task_cancel.rs`; single panics: `task_panic.rs`.

mod stress_support;
mod support;

use ferrio::{yield_now, Runtime};
use stress_support::{
    collect, limit, on_thread, quiet_intended_panics, scaled, short_body, Tally, XorShift,
    PANIC_MARKER,
};
use support::{threads_named, within, Flavor};

/// Tasks awaited per batch by a spawner, so a storm never holds every finished task at once.
const BATCH: usize = 256;

/// A runtime of `flavor` (multi-thread: 2 workers) whose threads are named `name-*`.
fn runtime(flavor: Flavor, name: &str) -> Runtime {
    flavor.builder().thread_name(name).build().unwrap()
}

// ---------------------------------------------------------------------------------------------------------
// Spawn storm
// ---------------------------------------------------------------------------------------------------------

/// Spawns `n` tasks on the current runtime in batches, awaiting each batch; returns the sum of their values.
async fn spawn_in_batches(tally: Tally, mut rng: XorShift, first: u64, n: usize) -> u64 {
    let mut sum = 0;
    let mut next = first;
    let end = first + n as u64;
    while next < end {
        let batch_end = (next + BATCH as u64).min(end);
        let batch: Vec<_> = (next..batch_end)
            .map(|i| ferrio::spawn(tally.counted(short_body(rng.fork(), i))))
            .collect();
        for t in batch {
            sum += tally
                .record(t.await)
                .expect("no task of the spawn storm fails");
        }
        next = batch_end;
    }
    sum
}

/// `n` tasks per flavour: half spawned by plain threads through a `Handle` (each awaiting its batches with
/// a foreign executor), half by tasks on the runtime's own threads. All complete; their values add up.
fn spawn_storm(flavor: Flavor) {
    let n = scaled(50_000);
    let rt = runtime(flavor, "st-spawn");
    let tally = Tally::new();
    let before = rt.stats().total;
    let (threads, spawners) = (2, 4);
    let outside = n / 2;
    let inside = n - outside;
    let mut rng = XorShift::new(0x5eed_0001);
    let total = rt.block_on(async {
        let mut outside_done = Vec::new();
        let mut first = 0u64;
        for t in 0..threads {
            let share = outside / threads + usize::from(t < outside % threads);
            let (handle, tally, mut rng) = (rt.handle(), tally.clone(), rng.fork());
            let start = first;
            outside_done.push(on_thread(move || {
                let mut sum = 0;
                let mut next = start;
                let end = start + share as u64;
                while next < end {
                    let batch_end = (next + BATCH as u64).min(end);
                    let batch: Vec<_> = (next..batch_end)
                        .map(|i| handle.spawn(tally.counted(short_body(rng.fork(), i))))
                        .collect();
                    futures_lite::future::block_on(async {
                        for t in batch {
                            sum += tally.record(t.await).expect("no task fails");
                        }
                    });
                    next = batch_end;
                }
                sum
            }));
            first += share as u64;
        }
        let mut inside_tasks = Vec::new();
        for s in 0..spawners {
            let share = inside / spawners + usize::from(s < inside % spawners);
            inside_tasks.push(ferrio::spawn(tally.counted(spawn_in_batches(
                tally.clone(),
                rng.fork(),
                first,
                share,
            ))));
            first += share as u64;
        }
        assert_eq!(first, n as u64);
        let mut total = 0;
        for t in inside_tasks {
            total += tally.record(t.await).expect("a spawner task completes");
        }
        for d in outside_done {
            total += d.await;
        }
        total
    });
    let n64 = n as u64;
    assert_eq!(total, n64 * (n64 - 1) / 2, "{flavor:?}: values lost");
    let c = tally.check(&format!("{flavor:?} spawn storm"), &before, || {
        rt.stats().total
    });
    assert_eq!(c.completed, n64 + spawners as u64, "{flavor:?}");
    println!("{flavor:?} spawn storm: {c:?}");
}

#[test]
fn spawn_storm_inside_and_outside_workers_multi_thread() {
    within(limit(60), || spawn_storm(Flavor::MultiThread));
}

#[test]
fn spawn_storm_inside_and_outside_workers_current_thread() {
    within(limit(60), || spawn_storm(Flavor::CurrentThread));
}

// ---------------------------------------------------------------------------------------------------------
// Panic storm
// ---------------------------------------------------------------------------------------------------------

/// A tenth of the tasks panic (at their first poll or after a yield); the rest complete; the workers
/// survive, and the runtime then still runs new tasks, spawned from inside and outside.
fn panic_storm(flavor: Flavor) {
    quiet_intended_panics();
    let n = scaled(50_000);
    let rt = runtime(flavor, "st-panic");
    let tally = Tally::new();
    let before = rt.stats().total;
    let mut rng = XorShift::new(0x5eed_0002);
    let handles: Vec<_> = (0..n as u64)
        .map(|i| {
            let mut rng = rng.fork();
            rt.spawn(tally.counted(async move {
                if i % 10 == 0 {
                    if rng.chance(1, 2) {
                        yield_now().await;
                    }
                    panic!("{PANIC_MARKER} {i}");
                }
                short_body(rng, i).await
            }))
        })
        .collect();
    let values = collect(&rt, &tally, handles);
    for (i, v) in values.iter().enumerate() {
        assert_eq!(v.is_none(), i % 10 == 0, "{flavor:?}: task {i}");
    }
    let c = tally.check(&format!("{flavor:?} panic storm"), &before, || {
        rt.stats().total
    });
    assert_eq!(c.panicked, n.div_ceil(10) as u64, "{flavor:?}");

    if flavor == Flavor::MultiThread {
        let workers: Vec<_> = threads_named("st-panic-")
            .into_iter()
            .filter(|t| !t.name.contains("blocking"))
            .collect();
        assert_eq!(workers.len(), 2, "a worker died: {workers:?}");
    }
    // Still runs new tasks, from outside and from inside.
    let before = rt.stats().total;
    let after_tally = Tally::new();
    let outside: Vec<_> = (0..1000u64)
        .map(|i| rt.spawn(after_tally.counted(async move { i })))
        .collect();
    let inside = rt.block_on(async {
        let ts: Vec<_> = (0..1000u64)
            .map(|i| ferrio::spawn(after_tally.counted(short_body(XorShift::new(i + 1), i))))
            .collect();
        let mut sum = 0;
        for t in ts {
            sum += after_tally.record(t.await).unwrap();
        }
        sum
    });
    let outside: u64 = collect(&rt, &after_tally, outside)
        .into_iter()
        .flatten()
        .sum();
    assert_eq!((inside, outside), (499_500, 499_500), "{flavor:?}");
    after_tally.check(
        &format!("{flavor:?} after the panic storm"),
        &before,
        || rt.stats().total,
    );
    println!("{flavor:?} panic storm: {c:?}");
}

#[test]
fn panic_storm_multi_thread() {
    within(limit(60), || panic_storm(Flavor::MultiThread));
}

#[test]
fn panic_storm_current_thread() {
    within(limit(60), || panic_storm(Flavor::CurrentThread));
}
