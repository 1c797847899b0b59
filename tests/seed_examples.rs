//! The seed chapter's listings, each run as its ferrio example (`examples/seed_NN_*.rs`) on the
//! current-thread flavour, against the output CPython gave for the same listing (`tests/golden/`, written by
//! `scripts/seed_golden.py`): the same lines in the same order, after the normalisations that script's
//! docstring lists (and nothing else), and a wall time within [`TIME_TOLERANCE`] of CPython's.
//!
//! Locating the binaries: `cargo test` builds the examples, but `cargo test --test seed_examples` does not,
//! and a binary left from an older build would test old code. So the first test runs
//! `cargo build --example seed_01_... --example seed_02_...` once (the `cargo` that built this test, same
//! profile, same target directory, derived from `current_exe()`:
//! `<target>/<profile>/deps/seed_examples-HASH` -> `<target>/<profile>/examples/NAME`). When everything is
//! up to date that build is a no-op of a fraction of a second.
//!
//! Parallel runs: each example has its own `#[test]`, but the first test to start launches every example at
//! once, one thread each, so the whole file takes about as long as the longest example (10 s), whatever the
//! number of test threads. Each test then waits for its own example's outcome. Every child is killed after
//! [`HANG_LIMIT`], when the test that waits on it fails, and (`PR_SET_PDEATHSIG`) when the test process ends
//! first, as a filtered run (`cargo test --test seed_examples seed_04`) does.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;
use support::process;

/// How far an example's wall time may be from the listing's under CPython.
const TIME_TOLERANCE: f64 = 0.3;
/// An example still running after this long is killed, and its test fails.
const HANG_LIMIT: Duration = Duration::from_secs(30);

/// One test per example, in the chapter's order, and the list the build and the parallel launch use.
macro_rules! seed_examples {
    ($($name:ident),* $(,)?) => {
        const EXAMPLES: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                check(stringify!($name));
            }
        )*
    };
}

seed_examples! {
    seed_01_hello_coroutine,
    seed_02_coroutine_vs_function,
    seed_03_asyncio_run,
    seed_04_await,
    seed_05_sleep,
    seed_06_create_task,
    seed_07_concurrent_tasks,
    seed_08_hello_every_second,
    seed_09_cancel,
    seed_10_wait_for,
    seed_11_shield,
    seed_12_future,
    seed_13_await_future,
    seed_14_measure_sleep,
    seed_15_async_timed,
}

// ---------------------------------------------------------------------------------------------------------
// Normalisation (scripts/seed_golden.py's docstring is the specification)
// ---------------------------------------------------------------------------------------------------------

/// Step 2: each Python repr or type name, its Rust counterpart (as printed by the example, after step 1),
/// and the placeholder both become. Applied in this order (a longer string before one it contains).
const TYPE_NAMES: &[(&str, &str, &str)] = &[
    (
        "<coroutine object coroutine_add_one at 0x?>",
        "seed_02_coroutine_vs_function::coroutine_add_one::{{closure}} at 0x?",
        "<coroutine_add_one(1)>",
    ),
    (
        "<class 'coroutine'>",
        "seed_02_coroutine_vs_function::coroutine_add_one::{{closure}}",
        "<coroutine type>",
    ),
    ("<class 'int'>", "i64", "<int type>"),
    (
        "<class '_asyncio.Task'>",
        "ferrio::task::join::Task<u64>",
        "<Task type>",
    ),
    (
        "<function delay at 0x?>",
        "seed_15_async_timed::seed_common::delay",
        "<function delay>",
    ),
    (
        "<function main at 0x?>",
        "seed_15_async_timed::async_main",
        "<function main>",
    ),
];

/// Applies the three normalisations to one output (golden or example; each is idempotent).
fn normalise(text: &str) -> String {
    let mut text = normalise_addresses(text);
    for (python, rust, placeholder) in TYPE_NAMES {
        text = text.replace(python, placeholder).replace(rust, placeholder);
    }
    text.lines()
        .map(normalise_elapsed)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Step 1: `0x` followed by hex digits becomes `0x?`.
fn normalise_addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("0x") {
        out.push_str(&rest[..at + 2]);
        rest = &rest[at + 2..];
        let digits = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_hexdigit())
                .len();
        if digits > 0 {
            out.push('?');
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

/// Step 3: a word that is a decimal number with a fraction, followed by ` second(s)` or ` seconds`, becomes
/// `<elapsed>`.
fn normalise_elapsed(line: &str) -> String {
    let mut words: Vec<&str> = line.split(' ').collect();
    for i in 0..words.len().saturating_sub(1) {
        let next = words[i + 1];
        if is_decimal_with_fraction(words[i])
            && (next.starts_with("second(s)") || next.starts_with("seconds"))
        {
            words[i] = "<elapsed>";
        }
    }
    words.join(" ")
}

fn is_decimal_with_fraction(word: &str) -> bool {
    let Some((whole, fraction)) = word.split_once('.') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && digits(fraction)
}

// ---------------------------------------------------------------------------------------------------------
// Building and running the examples
// ---------------------------------------------------------------------------------------------------------

/// What one example did.
type Outcome = process::Finished;

/// The examples directory, after building them (once per test process).
fn examples_dir() -> &'static Result<PathBuf, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| process::build_examples(EXAMPLES))
}

/// Example `i`'s outcome, once it is known.
fn slot(i: usize) -> &'static OnceLock<Outcome> {
    static SLOTS: OnceLock<Vec<OnceLock<Outcome>>> = OnceLock::new();
    &SLOTS.get_or_init(|| EXAMPLES.iter().map(|_| OnceLock::new()).collect())[i]
}

/// Runs example `name` on the current-thread flavour.
fn run_example(dir: &Path, name: &str) -> Outcome {
    let mut cmd = Command::new(dir.join(name));
    cmd.arg("--current-thread").env_remove("FERRIO_FLAVOR");
    process::run_bounded(&mut cmd, HANG_LIMIT)
}

/// Example `name`'s outcome: the first caller builds the examples and launches them all, one thread each;
/// every caller then waits for (or, if its thread has not started it yet, runs) its own.
fn outcome(name: &str) -> &'static Outcome {
    static LAUNCH: OnceLock<()> = OnceLock::new();
    let dir = match examples_dir() {
        Ok(dir) => dir,
        Err(message) => panic!("{message}"),
    };
    LAUNCH.get_or_init(|| {
        for (i, example) in EXAMPLES.iter().enumerate() {
            std::thread::spawn(move || {
                slot(i).get_or_init(|| run_example(dir, example));
            });
        }
    });
    let i = EXAMPLES
        .iter()
        .position(|e| *e == name)
        .expect("a listed example");
    slot(i).get_or_init(|| run_example(dir, name))
}

// ---------------------------------------------------------------------------------------------------------
// Checking
// ---------------------------------------------------------------------------------------------------------

fn golden(name: &str, extension: &str) -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.{extension}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run `python3 scripts/seed_golden.py`)",
            path.display()
        )
    });
    (path, text)
}

/// The lines around the first difference of `expected` and `actual`, or `None` if they are equal.
fn first_difference(expected: &[&str], actual: &[&str]) -> Option<String> {
    let n = expected.len().max(actual.len());
    let first = (0..n).find(|&i| expected.get(i) != actual.get(i))?;
    let mut out = format!(
        "first difference at line {} (after normalisation; `-` golden, `+` example):\n",
        first + 1
    );
    for (i, line) in expected
        .iter()
        .enumerate()
        .take(first)
        .skip(first.saturating_sub(2))
    {
        out.push_str(&format!("    {:>3} | {line}\n", i + 1));
    }
    for i in first..(first + 3).min(n) {
        let show = |line: Option<&&str>| line.map_or("<no line>".to_string(), |l| l.to_string());
        out.push_str(&format!("  - {:>3} | {}\n", i + 1, show(expected.get(i))));
        out.push_str(&format!("  + {:>3} | {}\n", i + 1, show(actual.get(i))));
    }
    Some(out)
}

fn check(name: &str) {
    let outcome = outcome(name);
    let (golden_path, golden_text) = golden(name, "txt");
    let (time_path, time_text) = golden(name, "time");
    let status = match &outcome.status {
        Ok(status) => *status,
        Err(e) => panic!(
            "{name}: {e}\nstdout so far:\n{}\nstderr:\n{}",
            outcome.stdout, outcome.stderr
        ),
    };
    assert!(
        status.success(),
        "{name} failed ({status})\nstdout:\n{}\nstderr:\n{}",
        outcome.stdout,
        outcome.stderr
    );

    let expected = normalise(&golden_text);
    let actual = normalise(&outcome.stdout);
    let expected: Vec<&str> = expected.lines().collect();
    let actual: Vec<&str> = actual.lines().collect();
    if let Some(diff) = first_difference(&expected, &actual) {
        panic!(
            "{name}: stdout differs from {}\n{diff}stderr:\n{}",
            golden_path.display(),
            outcome.stderr
        );
    }

    let python: f64 = time_text
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", time_path.display()));
    let rust = outcome.wall.as_secs_f64();
    assert!(
        (rust - python).abs() <= TIME_TOLERANCE,
        "{name} took {rust:.3} s, CPython {python:.3} s ({}): more than {TIME_TOLERANCE} s apart",
        time_path.display()
    );
}

/// The normalisations on the chapter's actual shapes, both sides, and their idempotence.
#[test]
fn normalisation_maps_python_and_rust_to_the_same_text() {
    let pairs = [
        (
            "Coroutine result is <coroutine object coroutine_add_one at 0x7f0281877b40> and the type is <class 'coroutine'>",
            "Coroutine result is seed_02_coroutine_vs_function::coroutine_add_one::{{closure}} at 0x7ffd7a8e1940 and the type is seed_02_coroutine_vs_function::coroutine_add_one::{{closure}}",
        ),
        ("Function result is 2 and the type is <class 'int'>", "Function result is 2 and the type is i64"),
        ("<class '_asyncio.Task'>", "ferrio::task::join::Task<u64>"),
        (
            "finished <function delay at 0x7f792847c900> in 2.0025 second(s)",
            "finished seed_15_async_timed::seed_common::delay in 2.0003 second(s)",
        ),
        (
            "starting <function main at 0x7f792844e340> with args () {}",
            "starting seed_15_async_timed::async_main with args () {}",
        ),
        ("Sleeping took 1.0008442401885986 seconds", "Sleeping took 1.000121512 seconds"),
    ];
    for (python, rust) in pairs {
        let normalised = normalise(python);
        assert_eq!(normalised, normalise(rust));
        assert_eq!(normalise(&normalised), normalised);
        assert!(!normalised.contains("0x?"), "{normalised}");
    }
    // Whole seconds are the listing's own figures, not measurements: they stay.
    assert_eq!(
        normalise("finished sleeping for 3 second(s)"),
        "finished sleeping for 3 second(s)"
    );
}

/// Every `examples/seed_*.rs` has a test here and a golden output, and every golden output an example.
#[test]
fn every_seed_example_is_tested() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let stems = |dir: &str, extension: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                let stem = path.file_stem()?.to_str()?.to_string();
                (path.extension()? == extension && stem.starts_with("seed_")).then_some(stem)
            })
            .collect();
        names.sort();
        names
    };
    let listed: Vec<String> = EXAMPLES.iter().map(|s| s.to_string()).collect();
    assert_eq!(stems("examples", "rs"), listed, "examples/seed_*.rs");
    assert_eq!(stems("tests/golden", "txt"), listed, "tests/golden/*.txt");
    assert_eq!(stems("tests/golden", "time"), listed, "tests/golden/*.time");
}
