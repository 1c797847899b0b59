//! The latency report, ferrio's main job: task wake latency, timer precision and TCP round-trip time, on
//! ferrio and tokio side by side in one process, each beside the physical floor measured with no runtime.
//!
//! Run: `cargo run --release --example latency [-- --quick] [--json PATH] [--plot PATH]`. The default run
//! takes about 30 s; `--quick` (a twentieth of the samples) 2 to 3 s. A progress line runs on
//! stderr; the tables go to stdout in markdown. `--json` writes every result (percentiles and a latency
//! curve per row), `--plot` an SVG with a percentile-vs-latency chart per measurement.
//!
//! Rows: `floor` (no runtime, see each measurement), `ferrio_ct`, `ferrio_mt` (2 workers), `tokio_ct`,
//! `tokio_mt` (2 workers, `enable_all`). The four runtimes are built once and kept for the whole run; idle
//! ones park and use no CPU. Within a measurement the rows take turns in rounds (`harness.rs`), so machine
//! noise hits them alike.
//!
//! Measurements (the method of each is in its module's docs and printed under its table):
//! - `wake.rs`: a wake to a task on the same worker, to a task the other worker runs, from a plain thread;
//!   floor: eventfd and `epoll_wait`.
//! - `timer.rs`: `sleep(50 us | 100 us | 1 ms | 10 ms)`; floor: timerfd and `epoll_wait`.
//! - `tcp.rs`: 64-byte echo over loopback; floor: both ends in one epoll on one thread.
//!
//! Files: `rt.rs` (the runtimes), `signal.rs` (the wake cell), `sys.rs` (the floors' system calls),
//! `harness.rs` (rounds, histograms, progress), `report.rs` (tables, JSON), `plot.rs` (SVG).

mod harness;
mod plot;
mod report;
mod rt;
mod signal;
mod sys;
mod tcp;
mod timer;
mod wake;

use harness::{Plan, Progress};
use report::Machine;
use rt::Rt;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage: latency [--quick] [--json PATH] [--plot PATH]

Measures task wake latency (same worker, other worker, from a foreign thread), sleep precision
(50 us, 100 us, 1 ms, 10 ms) and TCP loopback round trips on ferrio and tokio (current-thread and
2-worker multi-thread flavours), beside the floor measured with no runtime. Prints p50/p90/p99/p99.9/max
in microseconds, one markdown table per measurement.

  --quick        a twentieth of the samples (a few seconds instead of about 30)
  --json PATH    also write every result as JSON
  --plot PATH    also write an SVG chart (percentile vs latency, one panel per measurement)
  --help         print this and exit

Build with --release: a debug build measures the debug build.";

struct Options {
    quick: bool,
    json: Option<PathBuf>,
    plot: Option<PathBuf>,
}

/// `Ok(None)`: `--help` was given.
fn parse_args() -> Result<Option<Options>, String> {
    let mut options = Options {
        quick: false,
        json: None,
        plot: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "--quick" => options.quick = true,
            "--json" | "--plot" => {
                let path = args.next().ok_or_else(|| format!("{arg} needs a PATH"))?;
                let slot = if arg == "--json" {
                    &mut options.json
                } else {
                    &mut options.plot
                };
                *slot = Some(PathBuf::from(path));
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(Some(options))
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("latency: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let plan = Plan {
        quick: options.quick,
    };
    let machine = Machine::probe();
    println!(
        "# ferrio latency: ferrio vs tokio beside the no-runtime floor{}",
        if plan.quick { " (--quick)" } else { "" }
    );
    println!();
    println!("{}", machine.line());
    if cfg!(debug_assertions) {
        println!("Build: debug (numbers are not representative; use --release)");
    }
    println!(
        "Rows: floor (no runtime), ferrio_ct, ferrio_mt (2 workers), tokio_ct, tokio_mt (2 workers)."
    );

    let rts = Rt::all();
    let mut progress = Progress::new(3 + timer::DURATIONS.len() + 1);
    let mut results = vec![
        wake::same_worker(&rts, &plan, &mut progress),
        wake::other_worker(&rts, &plan, &mut progress),
        wake::foreign_thread(&rts, &plan, &mut progress),
    ];
    for d in timer::DURATIONS {
        results.push(timer::precision(&rts, d, &plan, &mut progress));
    }
    results.push(tcp::rtt(&rts, &plan, &mut progress));
    let elapsed = progress.elapsed_secs();
    progress.finish();

    for m in &results {
        println!();
        print!("{}", report::table(m));
    }
    println!();
    println!("Total: {elapsed:.1} s");

    let mut status = ExitCode::SUCCESS;
    if let Some(path) = &options.json {
        let text = report::json(&results, &machine, plan.quick, elapsed);
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("latency: cannot write {}: {e}", path.display());
            status = ExitCode::FAILURE;
        }
    }
    if let Some(path) = &options.plot {
        let subtitle = format!(
            "{}{}",
            machine.line(),
            if plan.quick { " (--quick run)" } else { "" }
        );
        if let Err(e) = std::fs::write(path, plot::svg(&results, &subtitle)) {
            eprintln!("latency: cannot write {}: {e}", path.display());
            status = ExitCode::FAILURE;
        }
    }
    status
}
