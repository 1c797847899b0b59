//! The timer wheel, watched: which level a deadline lands on, how it cascades down as time approaches it,
//! and when it fires.
//!
//! What it shows: ferrio keeps timers in a hierarchical wheel (`src/time/wheel.rs`): 6 levels of 64 slots,
//! 1 us ticks; a level-L slot is 64^L ticks wide, so level L spans 64^(L+1) ticks. A deadline is linked
//! into the level of the highest base-64 digit in which its tick differs from the wheel's clock
//! (`elapsed`, the last tick processed). When time reaches the start of a higher-level slot, its entries
//! *cascade*: they are re-linked one or more levels down, and only level-0 entries fire. The example
//! prints the level rule applied to each deadline, runs the deadlines (scaled so the run takes about
//! 1.3 s), prints each one's actual firing against its deadline and the stats' `timers_fired`, and reads
//! the trace back: every `timers fired` event is one wake-up of the wheel; those that fired nothing (count
//! 0) are cascade steps, and their distance to the next deadline says where the entry went.
//!
//! Run: `cargo run --release --example timer_wheel [-- --trace PATH]` (the trace goes to
//! `ferrio-timer_wheel.json` in the temporary directory by default).

#[path = "teach_common/mod.rs"]
mod teach_common;

use ferrio::time::Sleep;
use ferrio::Runtime;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};
use teach_common::{explain, thread_name, trace_path, TraceEvent};

/// Levels and slots per level, as in `src/time/wheel.rs`.
const LEVELS: usize = 6;
const SLOT_BITS: u32 = 6;
const SLOTS: u64 = 1 << SLOT_BITS;
/// Ticks the wheel spans (64^6 us, about 19 hours).
const MAX_SPAN: u64 = 1 << (SLOT_BITS as u64 * LEVELS as u64);

/// The deadlines run, one per level 0 to 3: level 4 starts at 64^4 us = 16.8 s, level 5 at 17.9 min, too
/// long for an example, so "5 s" is scaled down to 1.2 s (level 3 spans 262 ms to 16.8 s).
const DEADLINES: [(&str, Duration); 4] = [
    ("50 us", Duration::from_micros(50)),
    ("3 ms", Duration::from_millis(3)),
    ("200 ms", Duration::from_millis(200)),
    ("1.2 s", Duration::from_millis(1200)),
];

/// The level a deadline at `tick` lands on when the wheel's clock is `elapsed`: exactly the rule of
/// `position` in `src/time/wheel.rs` (read from it, not re-derived): the highest base-64 digit in which
/// `tick` differs from `elapsed` picks the level (`| (SLOTS - 1)` makes level 0 the floor; ticks beyond
/// the span go to the top level).
///
/// So the level is *not* a function of the delta `tick - elapsed` alone: the delta's own highest digit is
/// the lowest level possible (`level(0, delta)`), and the deadline lands higher whenever adding the delta
/// to the clock carries into a higher digit, i.e. crosses the boundary of a higher-level slot.
fn level(elapsed: u64, tick: u64) -> usize {
    let differing = ((elapsed ^ tick) | (SLOTS - 1)).min(MAX_SPAN - 1);
    ((63 - differing.leading_zeros()) / SLOT_BITS) as usize
}

/// Ticks (us) of `d`, rounded up as the driver's `tick_for` does.
fn ticks(d: Duration) -> u64 {
    d.as_nanos().div_ceil(1000) as u64
}

/// `n` microseconds in a readable unit.
fn human(n: u64) -> String {
    match n {
        n if n < 1_000 => format!("{n} us"),
        n if n < 1_000_000 => format!("{:.1} ms", n as f64 / 1e3),
        n if n < 60_000_000 => format!("{:.1} s", n as f64 / 1e6),
        n if n < 3_600_000_000 => format!("{:.1} min", n as f64 / 6e7),
        n => format!("{:.1} h", n as f64 / 3.6e9),
    }
}

fn main() {
    let trace_file = trace_path("timer_wheel");
    explain(
        "timer wheel: deadlines landing on levels and cascading",
        &[
            "Timers live in a wheel of 6 levels x 64 slots with 1 us ticks. A level-L slot is 64^L ticks wide.",
            "A deadline goes to the level of the highest base-64 digit in which its tick differs from the",
            "wheel's clock: roughly, a deadline d ticks ahead with 64^L <= d < 64^(L+1) lands on level L, or",
            "higher when it crosses the boundary of a bigger slot. When time reaches a higher-level slot, its",
            "entries cascade to lower levels; only level 0 fires. After each firing the timerfd is re-armed",
            "for the start of the next non-empty slot, so each cascade step is a wake-up that fires nothing.",
        ],
    );

    println!("Levels (each 64 slots):");
    for l in 0..LEVELS {
        let width = SLOTS.pow(l as u32);
        println!(
            "  level {l}: slots {:>8} wide, deltas from {:>8} up to {:>8}",
            human(width),
            human(width),
            human(width * SLOTS)
        );
    }
    println!();

    println!("Where each deadline lands (the rule of wheel.rs `position`; the clock is the wheel's `elapsed`):");
    for (name, d) in DEADLINES {
        let d = ticks(d);
        let low = level(0, d);
        let span = SLOTS.pow(low as u32 + 1);
        // A clock at the start of a level-(low+1) slot: no boundary crossed. A clock one tick before the
        // end of such a slot: the deadline crosses into the next one.
        let aligned = 5 * span;
        let late = 6 * span - 1;
        let stay = 100.0 * (1.0 - d as f64 / span as f64);
        println!(
            "  {name:>6} = {d:>7} ticks ahead: lands on level {low} if the clock is less than {} ticks into its \
             {}-wide level-{} slot (~{stay:.0}% of the time), else on level {} \
             (or higher if it also crosses a bigger boundary)",
            span - d,
            human(span),
            low + 1,
            low + 1
        );
        println!(
            "  {:>6}   e.g. clock {aligned} -> tick {}: level {};  clock {late} -> tick {}: level {}",
            "",
            aligned + d,
            level(aligned, aligned + d),
            late + d,
            level(late, late + d)
        );
    }
    println!();

    let rt = Runtime::builder()
        .worker_threads(2)
        .trace(1 << 14)
        .build()
        .expect("build the runtime");
    let before = rt.stats();
    let (results, syncs) = rt.block_on(async {
        ferrio::spawn(run_deadlines())
            .await
            .expect("the timer task failed")
    });
    let after = rt.stats();

    println!("Run (times since the deadlines' common start). A 500 us timer fired just before, so the wheel's");
    println!("clock stood at \"now\" when the deadlines were registered: it only moves when timers are processed.");
    for (name, deadline, fired, thread) in &results {
        println!(
            "  {name:>6}: deadline {:>9.3} ms, fired {:>9.3} ms, {:>6.1} us late, woke on {thread}",
            deadline.as_secs_f64() * 1e3,
            fired.as_secs_f64() * 1e3,
            (fired.saturating_sub(*deadline)).as_secs_f64() * 1e6
        );
    }
    println!();
    let total = after.total.since(&before.total);
    println!(
        "stats: timers_fired = {} ({} deadlines + {syncs} sync timer{}), per worker {:?}",
        total.timers_fired,
        DEADLINES.len(),
        if syncs == 1 { "" } else { "s" },
        after
            .workers
            .iter()
            .zip(&before.workers)
            .map(|(a, b)| a.since(b).timers_fired)
            .collect::<Vec<_>>()
    );
    println!();

    match rt.dump_trace(&trace_file) {
        Ok(()) => print_wakeups(&trace_file, syncs),
        Err(e) => println!("could not write the trace to {}: {e}", trace_file.display()),
    }
}

/// What `run_deadlines` returns: per deadline its name, deadline and firing time since the common start,
/// and the thread that woke; then how many sync timers fired.
type RunResults = (Vec<(&'static str, Duration, Duration, String)>, usize);

/// Fires one timer (so the wheel's clock stands at "now"), then registers every deadline from a common
/// start and awaits each in its own task.
///
/// A sleep whose deadline has already passed when it is first polled completes at once and never enters
/// the wheel (and so never fires). On a loaded machine the thread can be preempted for longer than 50 us,
/// so both steps check that their sleeps were registered (`Pending` on the first poll) and start over when
/// one was not: every deadline below goes through the wheel.
async fn run_deadlines() -> RunResults {
    let mut syncs = 0;
    loop {
        // The wheel's clock only moves when timers are processed. Without this, a fresh wheel's clock is 0
        // and every deadline would land by its distance from the runtime's start, not from now.
        let mut sync = Box::pin(ferrio::time::sleep(Duration::from_micros(500)));
        if !register(std::slice::from_mut(&mut sync)).await {
            continue;
        }
        sync.await;
        syncs += 1;
        let start = Instant::now();
        let mut sleeps: Vec<_> = DEADLINES
            .iter()
            .map(|&(_, d)| Box::pin(ferrio::time::sleep_until(start + d)))
            .collect();
        if !register(&mut sleeps).await {
            continue; // dropping the sleeps unlinks the registered ones: none of them fires
        }
        // Each registered sleep moves (boxed, so its wheel entry stays put) into a task of its own; the
        // task's first poll replaces this task's waker with its own.
        let tasks: Vec<_> = DEADLINES
            .iter()
            .zip(sleeps)
            .map(|(&(name, d), sleep)| {
                ferrio::spawn(async move {
                    sleep.await;
                    (name, d, start.elapsed(), thread_name())
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("a timer task failed"));
        }
        return (results, syncs);
    }
}

/// Polls each sleep once, in order, which links it into the wheel; false if one was already due.
async fn register(sleeps: &mut [Pin<Box<Sleep>>]) -> bool {
    std::future::poll_fn(|cx| {
        Poll::Ready(sleeps.iter_mut().all(|s| s.as_mut().poll(cx).is_pending()))
    })
    .await
}

/// Lists the wheel's wake-ups after the sync timer: firings and cascade steps.
fn print_wakeups(path: &std::path::Path, syncs: usize) {
    let events = match teach_common::read_trace(path) {
        Ok(events) => events,
        Err(e) => {
            println!("could not read the trace back: {e}");
            return;
        }
    };
    let mut wakeups: Vec<&TraceEvent> =
        events.iter().filter(|e| e.name == "timers fired").collect();
    wakeups.sort_by(|a, b| a.ts.total_cmp(&b.ts));
    // The last sync timer's firing is time 0 from here (the deadlines' start is a few us later).
    let mut firings = wakeups
        .iter()
        .enumerate()
        .filter(|(_, e)| e.arg("count") > Some(0));
    let Some((sync, _)) = firings.nth(syncs.saturating_sub(1)) else {
        println!("no timer firing in the trace");
        return;
    };
    let origin = wakeups[sync].ts;
    let wakeups = &wakeups[sync + 1..];
    println!("The wheel's wake-ups (trace `timers fired` events, ms since the sync timer fired):");
    let mut next_deadline = 0;
    let mut cascades = 0;
    for (i, e) in wakeups.iter().enumerate() {
        let count = e.arg("count").unwrap_or(0) as usize;
        let at = (e.ts - origin) / 1e3;
        let worker = teach_common::track_name(e.tid, 2);
        if count > 0 {
            let names: Vec<&str> = DEADLINES
                .iter()
                .skip(next_deadline)
                .take(count)
                .map(|(n, _)| *n)
                .collect();
            next_deadline += count;
            println!(
                "  {at:>10.3} ms  fired {count}  ({worker})  the {} deadline",
                names.join(" + ")
            );
            continue;
        }
        cascades += 1;
        // The next firing is the deadline this slot was holding; the slot started `gap` ticks before it.
        let next = wakeups[i + 1..].iter().find(|n| n.arg("count") > Some(0));
        match (next, DEADLINES.get(next_deadline)) {
            (Some(n), Some((name, _))) => {
                let gap = (n.ts - e.ts).round().max(0.0) as u64;
                println!(
                    "  {at:>10.3} ms  fired 0  ({worker})  cascade: a slot came due {} before the {name} deadline; \
                     its entry re-links on level {} (the level of that distance)",
                    human(gap),
                    level(0, gap)
                );
            }
            _ => println!("  {at:>10.3} ms  fired 0  ({worker})  a wake-up that fired nothing"),
        }
    }
    println!(
        "  = {next_deadline} firings and {cascades} cascade steps. A step closer to its deadline than the \
         wake-up latency merges with the firing (one wake-up does both), and the first deadline's cascade \
         never shows: the timerfd was armed for its exact tick when it was registered."
    );
    println!();
    println!(
        "trace written to {} (open it in https://ui.perfetto.dev)",
        path.display()
    );
}
