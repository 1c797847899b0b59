//! What the teaching examples (`work_stealing`, `timer_wheel`, `reactor_turn`, `cancellation`,
//! `lifo_slot`) share: reading back the trace that `Runtime::dump_trace` writes, the difference of two
//! `stats()` snapshots, percentiles, the `--trace PATH` flag, and the short explanation each example
//! prints before it shows anything.
//!
//! Each example includes it with `#[path = "teach_common/mod.rs"] mod teach_common;` (Cargo builds only the
//! top-level `.rs` files of `examples/` as examples; this folder has no `main.rs`, so it is not one).
//!
//! The trace reader knows exactly the format `src/runtime/trace.rs` writes (one event per line, fixed field
//! order, numbers only in `args`); it is not a JSON parser and is not meant for other files.

// Each example uses only part of this module.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

/// Prints the title and the explanation of an example, a few plain lines.
pub fn explain(title: &str, lines: &[&str]) {
    println!("== {title}");
    for line in lines {
        println!("   {line}");
    }
    println!();
}

/// The name of the thread running now (`ferrio-worker-N` on a worker).
pub fn thread_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed>")
        .to_owned()
}

/// The worker index in a worker thread's name (`ferrio-worker-3` -> 3).
pub fn worker_index(thread_name: &str) -> Option<usize> {
    thread_name
        .strip_prefix("ferrio-worker-")
        .and_then(|n| n.parse().ok())
}

/// Keeps the CPU busy for `d` (a task that computes instead of awaiting).
pub fn spin(d: Duration) {
    let end = std::time::Instant::now() + d;
    while std::time::Instant::now() < end {
        std::hint::spin_loop();
    }
}

/// The value after `--NAME` on the command line, if given.
pub fn flag_value(name: &str) -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == name {
            return args.next();
        }
        if let Some(value) = arg.strip_prefix(&format!("{name}=")) {
            return Some(value.to_owned());
        }
    }
    None
}

/// A numeric flag, or `default`; exits with status 2 on a value that does not parse.
pub fn flag_number(name: &str, default: usize) -> usize {
    match flag_value(name) {
        None => default,
        Some(v) => v.parse().unwrap_or_else(|_| {
            eprintln!("{name}: expected a number, got {v:?}");
            std::process::exit(2);
        }),
    }
}

/// Where to write the trace: `--trace PATH`, else `ferrio-NAME.json` in the temporary directory.
pub fn trace_path(example: &str) -> PathBuf {
    flag_value("--trace")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("ferrio-{example}.json")))
}

/// The `p`-th percentile (0..=100) of `samples`, sorted in place.
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    assert!(!samples.is_empty(), "no samples");
    samples.sort_unstable();
    let rank = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

/// Microseconds, as a float, for printing.
pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

// ---------------------------------------------------------------------------------------------------------
// Reading the trace back
// ---------------------------------------------------------------------------------------------------------

/// One event of a dumped trace.
#[derive(Clone, Debug)]
pub struct TraceEvent {
    /// `poll`, `wake (lifo)`, `wake (local)`, `wake (remote)`, `wake (io)`, `wake (timer)`, `steal`,
    /// `parked`, `reactor turn` or `timers fired`.
    pub name: String,
    /// The track: worker index, or the worker count for "other threads".
    pub tid: usize,
    /// Start (or instant) in microseconds since the runtime's trace began.
    pub ts: f64,
    /// Duration in microseconds, for `poll`, `parked` and `reactor turn`.
    pub dur: Option<f64>,
    /// `task`, `victim`, `count`, `events`.
    pub args: Vec<(String, u64)>,
}

impl TraceEvent {
    /// The value of argument `key`.
    pub fn arg(&self, key: &str) -> Option<u64> {
        self.args.iter().find(|(k, _)| k == key).map(|&(_, v)| v)
    }

    /// When the event ended (its start for an instant event).
    pub fn end(&self) -> f64 {
        self.ts + self.dur.unwrap_or(0.0)
    }
}

/// The events of the trace at `path`, in file order (track by track), metadata left out.
pub fn read_trace(path: &std::path::Path) -> std::io::Result<Vec<TraceEvent>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text.lines().filter_map(parse_event).collect())
}

/// The text after `"key":` up to the next `,` or `}`.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &line[start..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(&rest[..end])
}

fn parse_event(line: &str) -> Option<TraceEvent> {
    if field(line, "ph")? == "\"M\"" {
        return None;
    }
    let name = field(line, "name")?.trim_matches('"').to_owned();
    let tid = field(line, "tid")?.parse().ok()?;
    let ts = field(line, "ts")?.parse().ok()?;
    let dur = field(line, "dur").and_then(|d| d.parse().ok());
    let mut args = Vec::new();
    if let Some(start) = line.find("\"args\":{") {
        let body = &line[start + 8..];
        let body = &body[..body.find('}').unwrap_or(body.len())];
        for pair in body.split(',') {
            if let Some((k, v)) = pair.split_once(':') {
                if let Ok(v) = v.parse() {
                    args.push((k.trim_matches('"').to_owned(), v));
                }
            }
        }
    }
    Some(TraceEvent {
        name,
        tid,
        ts,
        dur,
        args,
    })
}

/// "worker N" or "other threads", the track's name in the trace.
pub fn track_name(tid: usize, workers: usize) -> String {
    if tid < workers {
        format!("worker {tid}")
    } else {
        "other threads".to_owned()
    }
}
