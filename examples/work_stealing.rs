//! Work stealing, watched: one task floods its own worker with busy tasks, and the other workers, idle until
//! then, steal them.
//!
//! What it shows: a task spawned from a worker goes into that worker's own queue (its LIFO slot, pushing
//! the previous occupant to the back of its 256-slot ring), not into a shared queue. A sleeping worker is
//! woken to help (when the flooding poll returns with work left in the ring, or earlier: a searcher that
//! finds work wakes another one); it becomes a *searcher* and steals half of the victim's ring
//! (`Stealer::steal_into`), and whenever a worker runs dry it steals again. The example prints the difference of two `Runtime::stats()` snapshots (per
//! worker: polls, steal attempts, successful steals, tasks moved), a map of which worker ran each busy task
//! (from `std::thread::current().name()` inside the task), and the trace's `steal` events; the whole trace
//! is written to a file for Perfetto.
//!
//! Run: `cargo run --release --example work_stealing [-- --workers N] [--tasks N] [--trace PATH]`
//! (defaults: 2 workers, 128 tasks of 1 ms each; the trace goes to `ferrio-work_stealing.json` in the
//! temporary directory). Open the trace at <https://ui.perfetto.dev>: one track per worker, each busy task
//! a 1 ms `poll` slice, each steal an instant event on the thief's track.

#[path = "teach_common/mod.rs"]
mod teach_common;

use ferrio::{Runtime, Task, WorkerStats};
use std::time::{Duration, Instant};
use teach_common::{explain, spin, thread_name, trace_path, worker_index, TraceEvent};

/// CPU time of each busy task.
const TASK_WORK: Duration = Duration::from_millis(1);
/// Ring capacity of a worker (`scheduler/multi_thread/queue.rs`): more tasks than this spill into the
/// global queue, which is not stealing.
const RING: usize = 256;

fn main() {
    let workers = teach_common::flag_number("--workers", 2).max(1);
    let tasks = teach_common::flag_number("--tasks", 128).max(1);
    let trace_file = trace_path("work_stealing");
    explain(
        "work stealing: tasks migrating between workers",
        &[
            "One task (the flooder) spawns busy tasks from inside a worker. A task spawned on a worker goes",
            "into that worker's own queue, so they all start out queued on the flooder's worker. Another",
            "worker, woken to help, becomes a searcher: it steals half of the victim's ring and runs those",
            "tasks; a worker that runs dry steals again. Below: the stats difference over the run, which",
            "worker ran each task, and the trace's steal events (time, thief, victim, tasks moved).",
        ],
    );
    if tasks > RING {
        println!(
            "note: {tasks} tasks overflow the {RING}-slot ring: the overflow goes to the global queue, where any \
             worker takes it without stealing.\n"
        );
    }
    let rt = Runtime::builder()
        .worker_threads(workers)
        .trace(1 << 16)
        .build()
        .expect("build the runtime");
    // Let every worker go to sleep first, so the thieves start from an idle state.
    std::thread::sleep(Duration::from_millis(20));
    let before = rt.stats();
    let started = Instant::now();
    let mut flooder = rt.spawn(flood(tasks));
    let flooder_id = flooder.id().as_u64();
    let (home, ran_on) = rt.block_on(async { (&mut flooder).await.expect("the flooder failed") });
    let wall = started.elapsed();
    // Workers park again right after the run; wait for that so the snapshot is quiet.
    std::thread::sleep(Duration::from_millis(20));
    let after = rt.stats();

    println!(
        "The flooder ran on {home}; it spawned {tasks} tasks of {:?} each ({:.1} ms of work), all done after \
         {:.1} ms.\n",
        TASK_WORK,
        (TASK_WORK * tasks as u32).as_secs_f64() * 1e3,
        wall.as_secs_f64() * 1e3
    );
    print_stats(&before.workers, &after.workers);
    print_map(&ran_on, workers);
    let total = after.total.since(&before.total);
    println!(
        "steals that found work: {} of {} attempts; tasks moved by them: {}",
        total.steal_successes, total.steal_attempts, total.tasks_stolen
    );
    println!();

    match rt.dump_trace(&trace_file) {
        Ok(()) => print_steal_events(&trace_file, flooder_id, workers),
        Err(e) => println!("could not write the trace to {}: {e}", trace_file.display()),
    }
}

/// Spawns `n` busy tasks from this worker, then waits for them; returns where it ran and, per task, the
/// thread that ran it.
async fn flood(n: usize) -> (String, Vec<String>) {
    let home = thread_name();
    let busy: Vec<Task<String>> = (0..n)
        .map(|_| {
            ferrio::spawn(async {
                spin(TASK_WORK);
                thread_name()
            })
        })
        .collect();
    let mut ran_on = Vec::with_capacity(n);
    for task in busy {
        ran_on.push(task.await.expect("a busy task failed"));
    }
    (home, ran_on)
}

fn print_stats(before: &[WorkerStats], after: &[WorkerStats]) {
    println!("Per worker, during the run (difference of two stats() snapshots):");
    println!(
        "  {:<10} {:>6} {:>15} {:>15} {:>13} {:>6} {:>8}",
        "", "polls", "steal attempts", "steals w/ work", "tasks stolen", "parks", "unparks"
    );
    for (i, (a, b)) in after.iter().zip(before).enumerate() {
        let d = a.since(b);
        println!(
            "  {:<10} {:>6} {:>15} {:>15} {:>13} {:>6} {:>8}",
            format!("worker {i}"),
            d.polls,
            d.steal_attempts,
            d.steal_successes,
            d.tasks_stolen,
            d.parks,
            d.unparks
        );
    }
    println!();
}

/// One character per task, in spawn order: the index of the worker that ran it.
fn print_map(ran_on: &[String], workers: usize) {
    let mut per_worker = vec![0usize; workers];
    let map: String = ran_on
        .iter()
        .map(|name| match worker_index(name) {
            Some(i) if i < workers => {
                per_worker[i] += 1;
                char::from_digit((i % 36) as u32, 36).unwrap_or('?')
            }
            _ => '?',
        })
        .collect();
    println!("Which worker ran each busy task (in spawn order, from thread::current().name()):");
    for (row, chunk) in map.as_bytes().chunks(64).enumerate() {
        println!(
            "  tasks {:>4}..{:<4} {}",
            row * 64,
            row * 64 + chunk.len() - 1,
            String::from_utf8_lossy(chunk)
        );
    }
    for (i, n) in per_worker.iter().enumerate() {
        println!("  worker {i} ran {n} tasks");
    }
    println!();
}

/// The trace's steal events, with times relative to the flooder's first poll.
fn print_steal_events(path: &std::path::Path, flooder: u64, workers: usize) {
    let events = match teach_common::read_trace(path) {
        Ok(events) => events,
        Err(e) => {
            println!("could not read the trace back: {e}");
            return;
        }
    };
    let origin = events
        .iter()
        .filter(|e| e.name == "poll" && e.arg("task") == Some(flooder))
        .map(|e| e.ts)
        .fold(f64::INFINITY, f64::min);
    let mut steals: Vec<&TraceEvent> = events.iter().filter(|e| e.name == "steal").collect();
    steals.sort_by(|a, b| a.ts.total_cmp(&b.ts));
    let mut flooder_polls = vec![0usize; workers];
    for e in events
        .iter()
        .filter(|e| e.name == "poll" && e.arg("task") == Some(flooder))
    {
        if let Some(n) = flooder_polls.get_mut(e.tid) {
            *n += 1;
        }
    }
    println!("The polls above include the flooder's own: it awaits the tasks in turn, and each completion");
    println!("wakes it on the worker that finished the task (into that worker's LIFO slot), so it follows");
    println!("the work. Flooder polls per worker (trace): {flooder_polls:?}");
    println!();
    println!("Steal events in the trace (time since the flooder's first poll):");
    if steals.is_empty() {
        println!("  none");
    }
    for e in &steals {
        println!(
            "  {:>9.3} ms  {} stole {} task(s) from worker {}",
            (e.ts - origin) / 1e3,
            teach_common::track_name(e.tid, workers),
            e.arg("count").unwrap_or(0),
            e.arg("victim").unwrap_or(0)
        );
    }
    println!();
    println!(
        "trace written to {} (open it in https://ui.perfetto.dev or chrome://tracing)",
        path.display()
    );
}
