//! The teaching examples (`work_stealing`, `timer_wheel`, `reactor_turn`, `cancellation`, `lifo_slot`) as
//! real programs: each exits 0 and prints the lines it exists to show, with numbers that make sense (a
//! steal that moved tasks, every deadline on its level and never fired early, a reactor turn with an
//! event that woke the reader, every task of the cancellation scenes in the state asyncio would give it,
//! the ring round trip slower than the LIFO one).
//!
//! Locating the binaries: `cargo test --test teaching_examples` does not build the examples, and an old
//! binary would test old code, so the first test runs `cargo build --example ...` once for all five
//! (`support::process::build_examples`: same cargo, profile and target directory as this test).
//!
//! Each child is killed after [`HANG_LIMIT`] (and with its test process, by `PR_SET_PDEATHSIG`). The
//! examples measure timing, so they run one at a time (a lock), not beside each other.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use support::process;

/// How long one example may run before it is killed.
const HANG_LIMIT: Duration = Duration::from_secs(60);

const EXAMPLES: [&str; 5] = [
    "work_stealing",
    "timer_wheel",
    "reactor_turn",
    "cancellation",
    "lifo_slot",
];

/// The path of example `name`, all five built once per test process.
fn example(name: &str) -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match DIR.get_or_init(|| process::build_examples(&EXAMPLES)) {
        Ok(dir) => dir.join(name),
        Err(message) => panic!("{message}"),
    }
}

/// Runs example `name` with `args` (one example at a time), checks that it exits 0, returns its stdout.
fn run(name: &str, args: &[&str]) -> String {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let path = example(name);
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let finished = process::run_bounded(Command::new(&path).args(args), HANG_LIMIT);
    assert!(
        finished.success(),
        "{name} {args:?} failed ({}) after {:?}\nstdout:\n{}\nstderr:\n{}",
        finished.describe(),
        finished.wall,
        finished.stdout,
        finished.stderr
    );
    finished.stdout
}

/// The first line containing every one of `needles`.
fn line_with<'a>(out: &'a str, needles: &[&str]) -> &'a str {
    out.lines()
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .unwrap_or_else(|| panic!("no line with {needles:?} in:\n{out}"))
}

/// The number right after `label` in `line`.
fn number_after(line: &str, label: &str) -> f64 {
    let at = line
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {line:?}"));
    line[at + label.len()..]
        .trim_start()
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {label:?} in {line:?}"))
}

fn temp_trace(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ferrio-test-{}-{name}.json", std::process::id()))
}

/// Checks that the trace file is Chrome trace JSON with events, then removes it.
fn check_trace_file(path: &PathBuf, out: &str) {
    let json = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("trace {} not written ({e}):\n{out}", path.display()));
    let _ = std::fs::remove_file(path);
    assert!(json.starts_with("{\"displayTimeUnit\""), "{json}");
    assert!(json.contains("\"traceEvents\""));
    assert!(
        out.contains(&format!("trace written to {}", path.display())),
        "{out}"
    );
}

#[test]
fn work_stealing_shows_a_steal_that_moved_tasks() {
    let trace = temp_trace("work_stealing");
    let out = run("work_stealing", &["--trace", trace.to_str().unwrap()]);
    let steals = line_with(&out, &["steals that found work:"]);
    assert!(
        number_after(steals, "steals that found work:") > 0.0,
        "no successful steal:\n{out}"
    );
    assert!(number_after(steals, "tasks moved by them:") > 0.0, "{out}");
    // Both workers ran some of the 128 busy tasks, and the per-task map accounts for all of them.
    let ran: f64 = (0..2)
        .map(|i| number_after(line_with(&out, &[&format!("worker {i} ran")]), "ran"))
        .sum();
    assert_eq!(ran, 128.0, "{out}");
    for i in 0..2 {
        let n = number_after(line_with(&out, &[&format!("worker {i} ran")]), "ran");
        assert!(n > 0.0, "worker {i} ran no task:\n{out}");
    }
    assert!(out.contains("Per worker, during the run"), "{out}");
    line_with(&out, &["stole", "task(s) from worker"]);
    check_trace_file(&trace, &out);
}

#[test]
fn timer_wheel_prints_levels_firings_and_the_stats() {
    let trace = temp_trace("timer_wheel");
    let out = run("timer_wheel", &["--trace", trace.to_str().unwrap()]);
    for (name, level) in [("50 us", 0), ("3 ms", 1), ("200 ms", 2), ("1.2 s", 3)] {
        let line = line_with(
            &out,
            &[&format!("{name} = "), "ticks ahead: lands on level"],
        );
        assert_eq!(
            number_after(line, "lands on level"),
            level as f64,
            "{name}: {line}"
        );
        assert_eq!(number_after(line, "else on level"), (level + 1) as f64);
        // The run: fired, and never before its deadline.
        let run_line = line_with(&out, &[&format!("{name}: deadline")]);
        let deadline = number_after(run_line, "deadline");
        let fired = number_after(run_line, "fired");
        assert!(fired >= deadline, "fired early: {run_line}");
        // The trace: a firing event (count > 0) names the deadline, alone or with others that fired in
        // the same wake-up ("the 50 us + 3 ms deadline").
        let names = |l: &str| -> Vec<String> {
            let Some(at) = l.find(")  the ") else {
                return Vec::new();
            };
            let list = l[at + ")  the ".len()..]
                .strip_suffix(" deadline")
                .unwrap_or("");
            list.split(" + ").map(str::to_owned).collect()
        };
        assert!(
            out.lines().any(|l| l.contains(" fired ")
                && !l.contains(" fired 0 ")
                && names(l).iter().any(|n| n == name)),
            "no firing of the {name} deadline in the trace section:\n{out}"
        );
    }
    assert_eq!(
        out.lines().filter(|l| l.contains("e.g. clock")).count(),
        4,
        "{out}"
    );
    // Every deadline and every sync timer went through the wheel (the example retries a sync or a
    // registration that found its deadline already due).
    let stats = line_with(&out, &["stats: timers_fired ="]);
    let syncs = number_after(stats, "deadlines +");
    assert!(syncs >= 1.0, "{stats}");
    assert_eq!(number_after(stats, "timers_fired ="), 4.0 + syncs, "{out}");
    line_with(&out, &["4 firings and"]);
    check_trace_file(&trace, &out);
}

#[test]
fn reactor_turn_shows_the_turn_the_wake_and_the_poll() {
    let trace = temp_trace("reactor_turn");
    let out = run("reactor_turn", &["--trace", trace.to_str().unwrap()]);
    line_with(&out, &["wrote \"ping\"", "had the bytes"]);
    // Stats rows: worker, reactor_turns, reactor_events, parks, unparks, polls, lifo_hits.
    let rows: Vec<Vec<u64>> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("worker ") && !l.contains("ran"))
        .filter_map(|l| {
            let numbers: Vec<u64> = l
                .split_whitespace()
                .skip(2)
                .map(|n| n.parse().ok())
                .collect::<Option<_>>()?;
            (numbers.len() == 6).then_some(numbers)
        })
        .collect();
    assert_eq!(rows.len(), 2, "stats table missing:\n{out}");
    let sum = |col: usize| rows.iter().map(|r| r[col]).sum::<u64>();
    assert!(sum(0) >= 1, "no reactor turn counted:\n{out}");
    assert!(sum(1) >= 1, "no reactor event counted:\n{out}");
    assert!(sum(3) >= 1, "no unpark counted:\n{out}");
    assert!(sum(4) >= 1, "the reader was not polled:\n{out}");
    let turn = line_with(&out, &["reactor turn", "events="]);
    assert!(number_after(turn, "events=") >= 1.0, "{turn}");
    line_with(&out, &["wake (io)", "the reader"]);
    line_with(&out, &["poll", "the reader: polled"]);
    check_trace_file(&trace, &out);
}

#[test]
fn cancellation_shows_propagation_shield_and_timeout() {
    let out = run("cancellation", &[]);
    for task in ["A", "B", "C"] {
        line_with(
            &out,
            &[&format!("{task}: drop guard ran on ferrio-worker-")],
        );
        line_with(&out, &[&format!("await {task} -> Err(cancelled")]);
    }
    line_with(&out, &["C is_cancelled=true is_done=true"]);
    line_with(&out, &["A is_cancelled=true is_done=true"]);
    line_with(&out, &["stats over this scene: cancelled +3, completed +0"]);
    // shield: the outer task is cancelled, the inner one finishes and can be awaited.
    line_with(&out, &["outer is_cancelled=true is_done=true"]);
    line_with(&out, &["inner is_cancelled=false"]);
    line_with(&out, &["inner: finished normally"]);
    line_with(&out, &["await inner -> Ok(7)"]);
    line_with(&out, &["stats over this scene: cancelled +1, completed +1"]);
    // timeout: the abandoned task is cancelled; with shield it is not.
    line_with(&out, &["slow is_cancelled=true"]);
    line_with(&out, &["slow: drop guard ran"]);
    line_with(&out, &["await slow -> Err(cancelled"]);
    line_with(&out, &["stats over this scene: cancelled +1, completed +0"]);
    line_with(&out, &["kept is_cancelled=false"]);
    line_with(&out, &["await kept -> Ok(2)"]);
    line_with(&out, &["stats over this scene: cancelled +0, completed +1"]);
    assert_eq!(out.matches("timeout -> Err(").count(), 2, "{out}");
}

#[test]
fn lifo_slot_prints_both_latencies_and_the_ring_is_slower() {
    let out = run("lifo_slot", &["--round-trips", "2000"]);
    let row = |name: &str| -> Vec<f64> {
        let line = out
            .lines()
            .find(|l| l.get(2..16).map(str::trim) == Some(name))
            .unwrap_or_else(|| panic!("no `{name}` row:\n{out}"));
        let numbers: Vec<f64> = line
            .split_whitespace()
            .rev()
            .take(3)
            .map(|n| {
                n.parse()
                    .unwrap_or_else(|_| panic!("bad number in {line:?}"))
            })
            .collect();
        numbers.into_iter().rev().collect()
    };
    let lifo = row("lifo");
    let ring = row("ring");
    let decoy = row("lifo + decoy");
    for (name, r) in [("lifo", &lifo), ("lifo + decoy", &decoy), ("ring", &ring)] {
        assert!(r[0] > 0.0 && r[1] >= r[0], "{name}: p50/p90 {r:?}\n{out}");
        assert!(r[2] > 0.0, "{name}: no LIFO hits\n{out}");
    }
    assert!(
        ring[0] > lifo[0],
        "the ring round trip (p50 {} us) should be slower than the LIFO one ({} us):\n{out}",
        ring[0],
        lifo[0]
    );
}
