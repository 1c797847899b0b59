//! Timer latency: how long `sleep(d)` really takes, against the physical floor measured in the same run.
//!
//! For each requested duration (100 us, 500 us, 1 ms), every runtime runs N sleeps in sequence inside one
//! task, each measured from an `Instant` taken just before the sleep is created to an `Instant` taken right
//! after its `.await` returns. The actual durations go into an hdrhistogram (ns, 3 significant digits) and a
//! table gives min, p50, p99, max and mean per runtime, with p50 and p99 as ratios to the floor's.
//!
//! Runtimes (each built once, before any measurement, and kept alive for the whole run; idle runtimes park
//! and use no CPU):
//! - `floor`: no runtime. A bare Linux timerfd (`CLOCK_MONOTONIC`, relative one-shot) armed for `d` and
//!   waited on with `epoll_wait` (`mio::Poll`, timerfd registered through `SourceFd`) on the bench thread,
//!   then read. This is what the kernel delivers; no runtime can wake a task sooner.
//! - `ferrio_mt`: ferrio multi-thread, 2 workers; the sleeping task is spawned, so it runs on a worker.
//! - `ferrio_ct`: ferrio current-thread; the task is spawned inside `block_on` on the bench thread.
//! - `tokio_mt`: tokio `multi_thread`, 2 workers, `enable_all`; the task runs on a worker.
//! - `tokio_ct`: tokio `current_thread`, `enable_all`; the task is spawned inside `block_on`.
//! - `async_io`: `async_io::Timer::after(d)` awaited inside `async_io::block_on` on the bench thread, which
//!   drives async-io's own reactor (polling's epoll backend, timeouts through a timerfd).
//!
//! Both ferrio flavours run with their default timer slack (1 ns on their threads); every other thread
//! keeps the kernel default (50 us). The floor does not depend on slack: timerfd expirations are not
//! slackened, and its `epoll_wait` has no timeout.
//!
//! Noise: the runtimes are interleaved. For each duration, the samples are split into `ROUNDS` rounds; each
//! round runs one batch per runtime in turn (the starting runtime rotates every round), so a noisy stretch
//! of the machine hits every runtime alike. Each runtime first does a short warm-up batch per duration that
//! is not recorded.
//!
//! Environment:
//! - `FERRIO_TIMER_SAMPLES` (default 2000): sleeps per runtime for 100 us and 500 us; 1 ms gets half.
//! - `FERRIO_TIMER_ROUNDS` (default 4): rounds the samples are split into.
//!
//! Targets (printed as met/missed): for each duration and both ferrio flavours, p50 <= 1.03 x floor p50 and
//! p99 <= 1.08 x floor p99. Any sleep shorter than requested is an early wake, a bug: the `early` column
//! counts them (min shows the shortest).
//!
//! Run: `cargo bench --bench timer_latency`. A watchdog aborts the process when no batch completes for
//! `FERRIO_BENCH_HANG_SECS` seconds (default 120), naming the runtime that hung.

mod support;

use hdrhistogram::Histogram;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use std::future::Future;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};
use support::{set_current, start_watchdog, FerrioRt, TokioRt, Watch};

// ---------------------------------------------------------------------------------------------------------
// Runtime abstraction
// ---------------------------------------------------------------------------------------------------------

/// One of the measured timer sources, built and ready.
trait LatencyRuntime {
    /// The row name in the table.
    fn id(&self) -> &'static str;
    /// Runs `n` sleeps of `d` in sequence (inside one task for the runtimes) and returns the actual
    /// duration of each, in ns.
    fn batch(&mut self, d: Duration, n: usize) -> Vec<u64>;
}

/// `n` sleeps of `d` in sequence, each timed from just before the sleep is created to right after its
/// `.await` returns.
async fn sleep_batch<F, S>(sleep: S, d: Duration, n: usize) -> Vec<u64>
where
    F: Future,
    S: Fn(Duration) -> F,
{
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        sleep(d).await;
        samples.push(start.elapsed().as_nanos() as u64);
    }
    samples
}

/// The kernel floor: a bare timerfd waited on with `epoll_wait`, no runtime.
struct Floor {
    poll: Poll,
    events: Events,
    timerfd: TimerFd,
}

impl Floor {
    fn new() -> Floor {
        let poll = Poll::new().expect("create epoll instance");
        let timerfd = TimerFd::new(ClockId::CLOCK_MONOTONIC, TimerFlags::TFD_CLOEXEC)
            .expect("create timerfd");
        let fd = timerfd.as_fd().as_raw_fd();
        poll.registry()
            .register(&mut SourceFd(&fd), Token(0), Interest::READABLE)
            .expect("register timerfd in epoll");
        Floor {
            poll,
            events: Events::with_capacity(4),
            timerfd,
        }
    }

    /// One sleep: arm for `d` (relative), wait in `epoll_wait` until the timerfd is readable, consume the
    /// expiration (`read`). mio registers edge-triggered; the read re-arms the edge for the next sleep.
    fn sleep(&mut self, d: Duration) {
        self.timerfd
            .set(
                Expiration::OneShot(TimeSpec::from_duration(d)),
                TimerSetTimeFlags::empty(),
            )
            .expect("timerfd_settime");
        loop {
            self.poll.poll(&mut self.events, None).expect("epoll_wait");
            if self.events.iter().any(|e| e.token() == Token(0)) {
                break;
            }
        }
        self.timerfd.wait().expect("read timerfd");
    }
}

impl LatencyRuntime for Floor {
    fn id(&self) -> &'static str {
        "floor"
    }
    fn batch(&mut self, d: Duration, n: usize) -> Vec<u64> {
        let mut samples = Vec::with_capacity(n);
        for _ in 0..n {
            let start = Instant::now();
            self.sleep(d);
            samples.push(start.elapsed().as_nanos() as u64);
        }
        samples
    }
}

impl LatencyRuntime for FerrioRt {
    fn id(&self) -> &'static str {
        self.id
    }
    fn batch(&mut self, d: Duration, n: usize) -> Vec<u64> {
        self.rt.block_on(async move {
            ferrio::spawn(sleep_batch(ferrio::time::sleep, d, n))
                .await
                .expect("ferrio sleep task failed")
        })
    }
}

impl LatencyRuntime for TokioRt {
    fn id(&self) -> &'static str {
        self.id
    }
    fn batch(&mut self, d: Duration, n: usize) -> Vec<u64> {
        self.rt.block_on(async move {
            tokio::spawn(sleep_batch(tokio::time::sleep, d, n))
                .await
                .expect("tokio sleep task failed")
        })
    }
}

/// `async_io::Timer` driven by `async_io::block_on` on the bench thread (async-io's own reactor).
struct AsyncIo;

impl LatencyRuntime for AsyncIo {
    fn id(&self) -> &'static str {
        "async_io"
    }
    fn batch(&mut self, d: Duration, n: usize) -> Vec<u64> {
        let sleep = |d: Duration| {
            let timer = async_io::Timer::after(d);
            async move {
                timer.await;
            }
        };
        async_io::block_on(sleep_batch(sleep, d, n))
    }
}

// ---------------------------------------------------------------------------------------------------------
// Measurement and report
// ---------------------------------------------------------------------------------------------------------

const DURATIONS: [Duration; 3] = [
    Duration::from_micros(100),
    Duration::from_micros(500),
    Duration::from_millis(1),
];
const WARMUP_SLEEPS: usize = 20;
/// p50 and p99 targets for ferrio, as ratios to the floor.
const P50_TARGET: f64 = 1.03;
const P99_TARGET: f64 = 1.08;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&n| n > 0)
}

/// One runtime's results for one duration.
struct Row {
    id: &'static str,
    hist: Histogram<u64>,
    /// Sleeps that returned before the requested duration had passed.
    early: u64,
}

impl Row {
    fn p50(&self) -> u64 {
        self.hist.value_at_quantile(0.50)
    }
    fn p99(&self) -> u64 {
        self.hist.value_at_quantile(0.99)
    }
}

/// "100 us", "1 ms": plain ASCII for the tables.
fn label(d: Duration) -> String {
    if d.subsec_nanos() % 1_000_000 == 0 {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} us", d.as_micros())
    }
}

fn us(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1000.0)
}

fn machine_info() {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown", |(_, v)| v.trim());
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".to_owned())
    };
    println!("Machine: nproc {nproc}, CPU {model}");
    println!(
        "Kernel: {}, clocksource {}",
        read("/proc/sys/kernel/osrelease"),
        read("/sys/devices/system/clocksource/clocksource0/current_clocksource")
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    start_watchdog(Watch::Batches);
    machine_info();
    let samples = env_u64("FERRIO_TIMER_SAMPLES").unwrap_or(2000) as usize;
    let rounds = env_u64("FERRIO_TIMER_ROUNDS").unwrap_or(4) as usize;

    let mut runtimes: Vec<Box<dyn LatencyRuntime>> = vec![
        Box::new(Floor::new()),
        Box::new(FerrioRt::multi_thread()),
        Box::new(FerrioRt::current_thread()),
        Box::new(TokioRt::multi_thread()),
        Box::new(TokioRt::current_thread()),
        Box::new(AsyncIo),
    ];

    let started = Instant::now();
    let mut tables = Vec::new();
    for d in DURATIONS {
        let n = if d >= Duration::from_millis(1) {
            (samples / 2).max(1)
        } else {
            samples
        };
        let per_round = n.div_ceil(rounds);
        let mut rows: Vec<Row> = runtimes
            .iter()
            .map(|rt| Row {
                id: rt.id(),
                hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds"),
                early: 0,
            })
            .collect();
        for rt in runtimes.iter_mut() {
            set_current(format!("{}/{} warm-up", rt.id(), label(d)));
            rt.batch(d, WARMUP_SLEEPS);
        }
        let requested = d.as_nanos() as u64;
        let mut remaining = n;
        let mut round = 0;
        while remaining > 0 {
            let batch = per_round.min(remaining);
            let count = runtimes.len();
            for k in 0..count {
                let i = (round + k) % count;
                set_current(format!("{}/{} round {round}", runtimes[i].id(), label(d)));
                for ns in runtimes[i].batch(d, batch) {
                    if ns < requested {
                        rows[i].early += 1;
                    }
                    rows[i]
                        .hist
                        .record(ns)
                        .expect("sample within histogram bounds");
                }
            }
            remaining -= batch;
            round += 1;
        }
        tables.push((d, n, round, rows));
    }
    set_current("report".to_owned());

    println!();
    println!(
        "Actual sleep durations, us (Instant before creating the sleep -> Instant after its await), \
         FERRIO_TIMER_SAMPLES={samples}, rounds={rounds}, took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut verdicts = Vec::new();
    for (d, n, rounds_run, rows) in &tables {
        let floor = &rows[0];
        let (f50, f99) = (floor.p50() as f64, floor.p99() as f64);
        println!();
        println!(
            "### sleep({}): {n} sleeps per runtime in {rounds_run} interleaved rounds",
            label(*d)
        );
        println!();
        println!("| runtime | min | p50 | p99 | max | mean | p50 / floor | p99 / floor | early |");
        println!("|---|---|---|---|---|---|---|---|---|");
        for row in rows {
            let r50 = row.p50() as f64 / f50;
            let r99 = row.p99() as f64 / f99;
            println!(
                "| {} | {} | {} | {} | {} | {} | {:.3} | {:.3} | {} |",
                row.id,
                us(row.hist.min()),
                us(row.p50()),
                us(row.p99()),
                us(row.hist.max()),
                us(row.hist.mean() as u64),
                r50,
                r99,
                row.early
            );
            if row.id.starts_with("ferrio") {
                let met50 = r50 <= P50_TARGET;
                let met99 = r99 <= P99_TARGET;
                verdicts.push(format!(
                    "| {} | {} | {:.3} | {} | {:.3} | {} | {} |",
                    label(*d),
                    row.id,
                    r50,
                    if met50 { "met" } else { "MISSED" },
                    r99,
                    if met99 { "met" } else { "MISSED" },
                    if row.early == 0 {
                        "none".to_owned()
                    } else {
                        format!("**{} early** (min {} us)", row.early, us(row.hist.min()))
                    }
                ));
            }
        }
    }
    println!();
    println!(
        "### Targets: ferrio p50 <= {P50_TARGET} x floor p50, p99 <= {P99_TARGET} x floor p99; \
         no early wake"
    );
    println!();
    println!("| duration | runtime | p50 / floor | p50 target | p99 / floor | p99 target | early wakes |");
    println!("|---|---|---|---|---|---|---|");
    for v in verdicts {
        println!("{v}");
    }
}
