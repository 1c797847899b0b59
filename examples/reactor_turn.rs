//! One turn of the reactor, step by step: a task waits to read a socket, a plain thread writes to the other
//! end, and one `epoll_wait` return carries the readiness to the task.
//!
//! What it shows: readiness -> waker -> run queue. The reader's first `read` finds nothing (`EAGAIN`), so
//! the task leaves its waker in the socket's `IoSlot` and returns `Pending`; with nothing to do, one worker
//! blocks in `epoll_wait` (the reactor) and the other on its condvar. The write makes the socket readable;
//! the kernel queues an (edge-triggered) event; `epoll_wait` returns in the worker holding the reactor,
//! which finds the slot by the event's token, ORs in the readiness bits and wakes the stored waker: the
//! task goes into that worker's own LIFO slot (it is awake already; nobody else is woken for it). The
//! worker takes itself off the sleeper list, hands the reactor to the sleeping worker, and polls the task,
//! whose `read` now returns the bytes. The example prints the stats difference around the write
//! (`reactor_turns`, `reactor_events`, `parks`, `unparks`, `polls`, `lifo_hits`) and the trace records of
//! that turn: the `reactor turn` with its event count, the `wake (io)`, the `poll`.
//!
//! Run: `cargo run --release --example reactor_turn [-- --trace PATH]` (the trace goes to
//! `ferrio-reactor_turn.json` in the temporary directory by default).

#[path = "teach_common/mod.rs"]
mod teach_common;

use ferrio::io::AsyncReadExt;
use ferrio::net::UnixStream;
use ferrio::{Runtime, WorkerStats};
use std::io::Write;
use std::time::{Duration, Instant};
use teach_common::{explain, thread_name, trace_path, TraceEvent};

const WORKERS: usize = 2;
const MESSAGE: &[u8] = b"ping";

fn main() {
    let trace_file = trace_path("reactor_turn");
    explain(
        "reactor turn: readiness -> waker -> run queue",
        &[
            "A task reads a Unix socket that has no data: read() gets EAGAIN, the task leaves its waker in",
            "the socket's readiness slot and returns Pending. Both workers go to sleep, one of them inside",
            "epoll_wait. A plain thread then writes 4 bytes to the other end. The kernel queues a readable",
            "event; epoll_wait returns; the worker looks the event's token up, records the readiness and",
            "wakes the stored waker, which puts the task into that worker's own LIFO slot. The worker hands",
            "the reactor to the sleeping worker and polls the task, whose read() now returns the bytes.",
        ],
    );

    let rt = Runtime::builder()
        .worker_threads(WORKERS)
        .trace(4096)
        .build()
        .expect("build the runtime");
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let reader = rt.spawn(async move {
        // Registering the socket needs the runtime, so it happens here, on a worker.
        let mut stream = UnixStream::from_std(ours).expect("register the socket");
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).await.expect("read");
        (Instant::now(), thread_name(), buf[..n].to_vec())
    });
    let reader_id = reader.id().as_u64();
    // Let the reader reach its Pending read (its first poll has started once `polls` moves) and both
    // workers fall asleep.
    let waiting_since = Instant::now();
    while rt.stats().total.polls == 0 && waiting_since.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(100));

    let before = rt.stats();
    let writer = std::thread::Builder::new()
        .name("writer".into())
        .spawn(move || {
            let mut theirs = theirs;
            let at = Instant::now();
            theirs.write_all(MESSAGE).expect("write");
            (at, theirs)
        })
        .expect("start the writer thread");
    let (read_at, read_on, bytes) = rt.block_on(async { reader.await.expect("the reader failed") });
    let (written_at, _keep_open) = writer.join().expect("the writer panicked");
    // Let the worker park again, so the snapshot holds the whole cycle.
    std::thread::sleep(Duration::from_millis(50));
    let after = rt.stats();

    println!(
        "The writer thread wrote {:?}; the reader task on {read_on} had the bytes {:.1} us later.\n",
        String::from_utf8_lossy(&bytes),
        read_at.saturating_duration_since(written_at).as_secs_f64() * 1e6
    );
    print_stats(&before.workers, &after.workers);
    match rt.dump_trace(&trace_file) {
        Ok(()) => print_turn(&trace_file, reader_id),
        Err(e) => println!("could not write the trace to {}: {e}", trace_file.display()),
    }
}

fn print_stats(before: &[WorkerStats], after: &[WorkerStats]) {
    println!("Stats, after minus before the write (per worker):");
    println!(
        "  {:<10} {:>13} {:>14} {:>6} {:>8} {:>6} {:>10}",
        "", "reactor_turns", "reactor_events", "parks", "unparks", "polls", "lifo_hits"
    );
    for (i, (a, b)) in after.iter().zip(before).enumerate() {
        let d = a.since(b);
        println!(
            "  {:<10} {:>13} {:>14} {:>6} {:>8} {:>6} {:>10}",
            format!("worker {i}"),
            d.reactor_turns,
            d.reactor_events,
            d.parks,
            d.unparks,
            d.polls,
            d.lifo_hits
        );
    }
    println!("  The worker with the reactor turn was blocked in epoll_wait; the turn is counted when epoll_wait");
    println!("  returns, so it shows although it began before the first snapshot. It woke (unparks), ran the");
    println!("  reader from its LIFO slot (polls, lifo_hits) and went back to sleep (parks). The other worker");
    println!("  was woken by the hand-off, so that someone watches the reactor while the first one works; it");
    println!("  found nothing to run and went back to sleep. One of the two is in epoll_wait again now (that");
    println!("  turn is counted when it ends).");
    println!();
}

/// The trace records from the turn that delivered the event to the end of the reader's poll and shortly
/// after, in time order, relative to the moment `epoll_wait` returned.
fn print_turn(path: &std::path::Path, reader: u64) {
    let events = match teach_common::read_trace(path) {
        Ok(events) => events,
        Err(e) => {
            println!("could not read the trace back: {e}");
            return;
        }
    };
    let Some(wake) = events
        .iter()
        .find(|e| e.name == "wake (io)" && e.arg("task") == Some(reader))
    else {
        println!("no `wake (io)` record of the reader in the trace");
        return;
    };
    // The turn that dispatched the wake: same track, its interval holds the wake.
    let Some(turn) = events.iter().find(|e| {
        e.name == "reactor turn" && e.tid == wake.tid && e.ts <= wake.ts && wake.ts <= e.end()
    }) else {
        println!("no `reactor turn` record around the wake in the trace");
        return;
    };
    let origin = turn.end();
    let last_poll_end = events
        .iter()
        .filter(|e| e.name == "poll" && e.arg("task") == Some(reader))
        .map(TraceEvent::end)
        .fold(origin, f64::max);
    let mut window: Vec<&TraceEvent> = events
        .iter()
        .filter(|e| std::ptr::eq(*e, turn) || (e.end() >= wake.ts && e.ts <= last_poll_end + 200.0))
        .collect();
    window.sort_by(|a, b| a.ts.total_cmp(&b.ts));
    println!(
        "Trace records of that turn (us relative to the return of epoll_wait; X..Y = a span):"
    );
    for e in window {
        let when = match e.dur {
            Some(d) => format!("{:>10.1}..{:<8.1}", e.ts - origin, e.ts + d - origin),
            None => format!("{:>10.1}          ", e.ts - origin),
        };
        println!(
            "  {}  {when}  {:<13} {}",
            teach_common::track_name(e.tid, WORKERS),
            e.name,
            describe(e, reader)
        );
    }
    println!();
    println!(
        "trace written to {} (open it in https://ui.perfetto.dev)",
        path.display()
    );
}

fn describe(e: &TraceEvent, reader: u64) -> String {
    let task = e.arg("task");
    let who = if task == Some(reader) {
        "the reader".to_owned()
    } else {
        format!("task {}", task.unwrap_or(0))
    };
    match e.name.as_str() {
        "reactor turn" => format!(
            "events={}: blocked in epoll_wait, returned with {} readiness event(s)",
            e.arg("events").unwrap_or(0),
            e.arg("events").unwrap_or(0)
        ),
        "wake (io)" => format!("{who}: its waker, called by the turn's dispatch, queued it here"),
        "poll" => format!("{who}: polled ({:.1} us)", e.dur.unwrap_or(0.0)),
        "parked" => {
            "asleep on its condvar (the reactor was taken); the end is the hand-off waking it"
                .to_owned()
        }
        "wake (lifo)" => format!("{who}: woken by the task running here, into the LIFO slot"),
        "wake (remote)" => format!("{who}: woken from another thread, via the global queue"),
        other => other.to_owned(),
    }
}
