//! The `latency` example (`examples/latency/`) as a real program: `--quick --json PATH --plot PATH` exits 0,
//! prints a table per measurement with every runtime row, writes JSON that parses (with python3's `json`
//! when python3 is installed, else structural checks) and an SVG document; `--help` prints the usage and an
//! unknown flag exits with status 2.
//!
//! Locating the binary: `cargo test` builds the examples, but `cargo test --test latency_example` does not,
//! and a binary left from an older build would test old code. So the first test runs
//! `cargo build --example latency` once (the `cargo` that built this test, same profile, same target
//! directory, derived from `current_exe()`: `<target>/<profile>/deps/latency_example-HASH` ->
//! `<target>/<profile>/examples/latency`); when it is up to date that build is a no-op.
//!
//! Hang guard: the example is killed after [`HANG_LIMIT`] (and, should the test process die first, by
//! `PR_SET_PDEATHSIG`), and the test fails with its output so far.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;
use support::{process, TempPath};

/// How long one run of the example may take before it is killed.
const HANG_LIMIT: Duration = Duration::from_secs(120);

/// The table titles, in order, and the JSON keys of the same measurements.
const TITLES: [&str; 8] = [
    "### Wake, same worker",
    "### Wake, other worker",
    "### Wake from a foreign thread",
    "### Timer, sleep(50 us)",
    "### Timer, sleep(100 us)",
    "### Timer, sleep(1 ms)",
    "### Timer, sleep(10 ms)",
    "### TCP loopback RTT",
];
const KEYS: [&str; 8] = [
    "wake_same_worker",
    "wake_other_worker",
    "wake_foreign_thread",
    "timer_50us",
    "timer_100us",
    "timer_1ms",
    "timer_10ms",
    "tcp_rtt",
];
const RUNTIMES: [&str; 5] = ["floor", "ferrio_ct", "ferrio_mt", "tokio_ct", "tokio_mt"];

// ---------------------------------------------------------------------------------------------------------
// Building and running the example
// ---------------------------------------------------------------------------------------------------------

/// The latency example, built once per test process (`support::process::build_examples`).
fn example() -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match DIR.get_or_init(|| process::build_examples(&["latency"])) {
        Ok(dir) => dir.join("latency"),
        Err(message) => panic!("{message}"),
    }
}

struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` with its output captured; fails the test if it cannot run or runs longer than `limit`.
fn run_bounded(cmd: &mut Command, limit: Duration) -> Run {
    let finished = process::run_bounded(cmd, limit);
    Run {
        status: finished.exit_status(cmd),
        stdout: finished.stdout,
        stderr: finished.stderr,
    }
}

// ---------------------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------------------

/// Every table is there, in order, with its header and one row per runtime.
fn check_tables(stdout: &str) {
    let mut rest = stdout;
    for (i, title) in TITLES.iter().enumerate() {
        let at = rest
            .find(title)
            .unwrap_or_else(|| panic!("no table `{title}` (in order) in stdout:\n{stdout}"));
        rest = &rest[at..];
        let end = TITLES
            .get(i + 1)
            .and_then(|next| rest.find(next))
            .unwrap_or(rest.len());
        let section = &rest[..end];
        assert!(
            section
                .lines()
                .any(|l| l.starts_with("| runtime | samples | p50 | p90 | p99 | p99.9 | max |")),
            "table `{title}` has no header:\n{section}"
        );
        for id in RUNTIMES {
            let row = section
                .lines()
                .find(|l| l.starts_with(&format!("| {id} |")))
                .unwrap_or_else(|| panic!("table `{title}` has no `{id}` row:\n{section}"));
            // A measured row has a positive sample count; only single-thread rows of the other-worker
            // table may be n/a.
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            if cells[2] == "n/a" {
                assert!(
                    title.contains("other worker") && id.ends_with("_ct"),
                    "unexpected n/a row in `{title}`: {row}"
                );
            } else {
                let n: u64 = cells[2]
                    .parse()
                    .unwrap_or_else(|_| panic!("bad sample count in `{title}`: {row}"));
                assert!(n > 0, "no samples in `{title}`: {row}");
            }
        }
    }
}

fn python3_available() -> bool {
    Command::new("python3")
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Parses the JSON with python3 and checks its shape.
fn check_json_python(path: &Path) {
    let script = format!(
        r#"
import json, sys
doc = json.load(open(sys.argv[1]))
keys = {KEYS:?}
runtimes = {RUNTIMES:?}
assert doc["quick"] is True, "quick flag"
ms = doc["measurements"]
assert [m["key"] for m in ms] == keys, [m["key"] for m in ms]
for m in ms:
    assert [r["runtime"] for r in m["rows"]] == runtimes, m["key"]
    for r in m["rows"]:
        if r["skipped"] is not None:
            assert m["key"] == "wake_other_worker" and r["runtime"].endswith("_ct"), (m["key"], r)
            continue
        assert r["samples"] > 0, (m["key"], r)
        assert 0 <= r["min"] <= r["p50"] <= r["p90"] <= r["p99"] <= r["p999"] <= r["max"], (m["key"], r)
        assert len(r["curve"]) > 2 and r["curve"][-1][0] == 100, (m["key"], r["curve"])
print("ok")
"#
    );
    let run = run_bounded(
        Command::new("python3").arg("-c").arg(script).arg(path),
        Duration::from_secs(30),
    );
    assert!(
        run.status.success() && run.stdout.trim() == "ok",
        "the JSON did not pass python3's checks ({}):\n{}\n{}",
        run.status,
        run.stdout,
        run.stderr
    );
}

/// Without python3: balanced brackets outside strings, and every key and runtime named.
fn check_json_basic(text: &str) {
    let (mut depth, mut in_string, mut escaped) = (0i32, false, false);
    for c in text.chars() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            _ => {}
        }
        assert!(depth >= 0, "unbalanced JSON");
    }
    assert!(depth == 0 && !in_string, "unbalanced JSON");
    assert!(text.trim_start().starts_with('{') && text.trim_end().ends_with('}'));
    for name in KEYS.iter().chain(RUNTIMES.iter()) {
        assert!(text.contains(&format!("\"{name}\"")), "JSON lacks {name}");
    }
}

// ---------------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------------

#[test]
fn quick_run_prints_tables_and_writes_json_and_svg() {
    let json = TempPath::new("out.json");
    let svg = TempPath::new("out.svg");
    let run = run_bounded(
        Command::new(example())
            .arg("--quick")
            .arg("--json")
            .arg(&json.0)
            .arg("--plot")
            .arg(&svg.0),
        HANG_LIMIT,
    );
    assert!(
        run.status.success(),
        "latency --quick failed ({}):\nstdout:\n{}\nstderr:\n{}",
        run.status,
        run.stdout,
        run.stderr
    );
    check_tables(&run.stdout);

    let text = std::fs::read_to_string(&json.0).expect("--json file written");
    check_json_basic(&text);
    if python3_available() {
        check_json_python(&json.0);
    } else {
        eprintln!("note: python3 not installed; the JSON got structural checks only");
    }

    let plot = std::fs::read_to_string(&svg.0).expect("--plot file written");
    assert!(plot.starts_with("<svg"), "SVG does not start with <svg");
    assert!(plot.trim_end().ends_with("</svg>"), "SVG is not closed");
    for id in RUNTIMES {
        assert!(plot.contains(&format!(">{id}<")), "SVG legend lacks {id}");
    }
}

#[test]
fn help_prints_usage_and_unknown_flags_fail() {
    let run = run_bounded(Command::new(example()).arg("--help"), HANG_LIMIT);
    assert!(run.status.success(), "--help failed: {}", run.status);
    assert!(run.stdout.starts_with("usage: latency"), "{}", run.stdout);
    for flag in ["--quick", "--json PATH", "--plot PATH"] {
        assert!(run.stdout.contains(flag), "usage lacks {flag}");
    }

    let run = run_bounded(Command::new(example()).arg("--bogus"), HANG_LIMIT);
    assert_eq!(run.status.code(), Some(2), "unknown flag: {}", run.status);
    assert!(run.stderr.contains("unknown argument"), "{}", run.stderr);
}
