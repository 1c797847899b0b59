//! TCP echo round-trip latency over loopback, against the physical floor measured in the same run.
//!
//! One connection per runtime, made once and kept for the whole run. A round trip is: the client writes 64
//! bytes, the server task reads them and writes them back, the client reads until it has all 64. Each round
//! trip is timed from just before the client's write to just after its last read, into an hdrhistogram (ns);
//! the table gives min, p50, p99, max, mean, the ratios of p50 and p99 to the floor's, and the CPU time the
//! whole process used per round trip (`getrusage`, so every thread counts, the runtime's workers included).
//!
//! Runtimes:
//! - `floor`: no runtime. Both ends non-blocking, registered edge-triggered in one epoll (`mio::Poll`), on
//!   the bench thread: write / epoll_wait / read / write / epoll_wait / read per round trip. No runtime can
//!   do less work on one core; blocking sockets on two threads are far slower (each round trip wakes a
//!   thread).
//! - `floor_watched`: the floor plus a second thread that sleeps in `epoll_wait` on its own epoll instance
//!   holding the same two sockets, and does nothing with what it gets. Every packet now also wakes that
//!   thread, as every event wakes the worker that holds a multi-thread runtime's reactor while another
//!   worker runs the tasks (the hand-off rule keeps one there). Its cost is the price of that
//!   sleeping watcher on this machine, with no runtime at all.
//! - `floor_min_runtime`: the least runtime that can run the same echo loops (`support/min_runtime.rs`):
//!   std wakers, a run queue, an edge-triggered reactor, nothing else. What a runtime pays at the least.
//! - `ferrio_ct`, `tokio_ct`: current-thread flavours; client and server are tasks on the bench thread.
//! - `ferrio_mt`, `tokio_mt`: 2 workers; client and server are spawned tasks (they may run on either worker).
//!   `ferrio_mt` hands the reactor off as issue 2's rule says (`ReactorHandOff::Always`, the default);
//!   `ferrio_mt_shared` is the same runtime built with `ReactorHandOff::WhenShared` (a worker keeps a
//!   lone woken task and wakes nobody), tokio's way.
//! - `async_io`: `async_io::Async<TcpStream>`; the server is a task of a `LocalExecutor` run by
//!   `async_io::block_on` on the bench thread with the client (smol's single-thread setup).
//!
//! The client and server loops are shared with `tcp_echo` (`benches/support/echo.rs`).
//!
//! Noise: runtimes are interleaved in rounds (the starting runtime rotates), each round a batch per
//! runtime, after a warm-up batch each. Idle runtimes park and use no CPU.
//!
//! Environment: `FERRIO_RTT_SAMPLES` (default 50000 round trips per runtime), `FERRIO_RTT_ROUNDS`
//! (default 5), `FERRIO_RTT_ONLY` (comma-separated runtime ids to keep besides the floor, for profiling).
//! Targets, printed as met/missed: ferrio p50 <= 1.05 x floor p50 and p99 <= 1.10 x floor p99.
//!
//! Run: `cargo bench --bench tcp_rtt`.

#[path = "tcp_rtt/floors.rs"]
mod floors;
mod support;

use floors::{Floor, WatchedFloor};
use support::echo::{ferrio_loops, lite_loops, process_cpu, tokio_loops, BUF, MESSAGE};
use support::min_runtime;

use hdrhistogram::Histogram;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};
use support::{set_current, start_watchdog, Watch};

const WARMUP: usize = 2000;
const P50_TARGET: f64 = 1.05;
const P99_TARGET: f64 = 1.10;

/// One of the measured echo setups, connected and ready.
trait EchoRuntime {
    fn id(&self) -> &'static str;
    /// Runs `n` sequential round trips and returns each one's duration in ns.
    fn batch(&mut self, n: usize) -> Vec<u64>;
}

/// A connected pair of std streams (client, server), `TCP_NODELAY` on both.
fn std_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    client.set_nodelay(true).unwrap();
    server.set_nodelay(true).unwrap();
    (client, server)
}

// ---------------------------------------------------------------------------------------------------------
// Runtimes
// ---------------------------------------------------------------------------------------------------------

struct Ferrio {
    rt: ferrio::Runtime,
    id: &'static str,
    client: Option<ferrio::net::TcpStream>,
}

impl Ferrio {
    fn new(rt: ferrio::Runtime, id: &'static str) -> Ferrio {
        let client = rt.block_on(async {
            let (client, server) = std_pair();
            let server = ferrio::net::TcpStream::from_std(server).unwrap();
            drop(ferrio::spawn(ferrio_loops::server(server)));
            ferrio::net::TcpStream::from_std(client).unwrap()
        });
        Ferrio {
            rt,
            id,
            client: Some(client),
        }
    }
}

impl EchoRuntime for Ferrio {
    fn id(&self) -> &'static str {
        self.id
    }
    fn batch(&mut self, n: usize) -> Vec<u64> {
        let mut client = self.client.take().unwrap();
        let (client, samples) = self.rt.block_on(async move {
            ferrio::spawn(async move {
                let samples = ferrio_loops::client_timed(&mut client, n).await;
                (client, samples)
            })
            .await
            .expect("ferrio client task")
        });
        self.client = Some(client);
        samples
    }
}

struct Tokio {
    rt: tokio::runtime::Runtime,
    id: &'static str,
    client: Option<tokio::net::TcpStream>,
}

impl Tokio {
    fn new(rt: tokio::runtime::Runtime, id: &'static str) -> Tokio {
        let client = rt.block_on(async {
            let (client, server) = std_pair();
            client.set_nonblocking(true).unwrap();
            server.set_nonblocking(true).unwrap();
            let server = tokio::net::TcpStream::from_std(server).unwrap();
            drop(tokio::spawn(tokio_loops::server(server)));
            tokio::net::TcpStream::from_std(client).unwrap()
        });
        Tokio {
            rt,
            id,
            client: Some(client),
        }
    }
}

impl EchoRuntime for Tokio {
    fn id(&self) -> &'static str {
        self.id
    }
    fn batch(&mut self, n: usize) -> Vec<u64> {
        let mut client = self.client.take().unwrap();
        let (client, samples) = self.rt.block_on(async move {
            tokio::spawn(async move {
                let samples = tokio_loops::client_timed(&mut client, n).await;
                (client, samples)
            })
            .await
            .expect("tokio client task")
        });
        self.client = Some(client);
        samples
    }
}

/// The least runtime that can run the echo loops (`support/min_runtime.rs`), on the bench thread.
struct MinRuntime(Option<min_runtime::MinStream>);

impl EchoRuntime for MinRuntime {
    fn id(&self) -> &'static str {
        "floor_min_runtime"
    }
    fn batch(&mut self, n: usize) -> Vec<u64> {
        let mut client = self.0.take().expect("the client stream");
        let (client, samples) = min_runtime::block_on(async move {
            let samples = lite_loops::client_timed(&mut client, n).await;
            (client, samples)
        });
        self.0 = Some(client);
        samples
    }
}

struct AsyncIo {
    ex: async_executor::LocalExecutor<'static>,
    client: async_io::Async<TcpStream>,
}

impl AsyncIo {
    fn new() -> AsyncIo {
        let (client, server) = std_pair();
        let ex = async_executor::LocalExecutor::new();
        ex.spawn(lite_loops::server(async_io::Async::new(server).unwrap()))
            .detach();
        AsyncIo {
            ex,
            client: async_io::Async::new(client).unwrap(),
        }
    }
}

impl EchoRuntime for AsyncIo {
    fn id(&self) -> &'static str {
        "async_io"
    }
    fn batch(&mut self, n: usize) -> Vec<u64> {
        async_io::block_on(self.ex.run(lite_loops::client_timed(&mut self.client, n)))
    }
}

// ---------------------------------------------------------------------------------------------------------
// Measurement and report
// ---------------------------------------------------------------------------------------------------------

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

struct Row {
    id: &'static str,
    hist: Histogram<u64>,
    wall: Duration,
    cpu: Duration,
}

fn us(ns: f64) -> String {
    format!("{:.1}", ns / 1000.0)
}

fn main() {
    start_watchdog(Watch::Batches);
    let samples = env_usize("FERRIO_RTT_SAMPLES", 50_000);
    let rounds = env_usize("FERRIO_RTT_ROUNDS", 5);
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("Machine: nproc {nproc}");

    let mut runtimes: Vec<Box<dyn EchoRuntime>> = vec![
        Box::new(Floor::new()),
        Box::new(WatchedFloor::new()),
        Box::new({
            let (client, server) = std_pair();
            min_runtime::spawn(lite_loops::server(min_runtime::MinStream::new(server)));
            MinRuntime(Some(min_runtime::MinStream::new(client)))
        }),
        Box::new(Ferrio::new(
            ferrio::Runtime::builder().current_thread().build().unwrap(),
            "ferrio_ct",
        )),
        Box::new(Ferrio::new(
            ferrio::Runtime::builder()
                .worker_threads(2)
                .build()
                .unwrap(),
            "ferrio_mt",
        )),
        Box::new(Ferrio::new(
            ferrio::Runtime::builder()
                .worker_threads(2)
                .reactor_hand_off(ferrio::ReactorHandOff::WhenShared)
                .build()
                .unwrap(),
            "ferrio_mt_shared",
        )),
        Box::new(Tokio::new(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            "tokio_ct",
        )),
        Box::new(Tokio::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
            "tokio_mt",
        )),
        Box::new(AsyncIo::new()),
    ];
    if let Ok(only) = std::env::var("FERRIO_RTT_ONLY") {
        // Profiling aid: keep the floor and the named runtimes (comma-separated ids).
        let keep: Vec<&str> = only.split(',').map(str::trim).collect();
        runtimes.retain(|rt| rt.id() == "floor" || keep.contains(&rt.id()));
    }
    let mut rows: Vec<Row> = runtimes
        .iter()
        .map(|rt| Row {
            id: rt.id(),
            hist: Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap(),
            wall: Duration::ZERO,
            cpu: Duration::ZERO,
        })
        .collect();
    for rt in runtimes.iter_mut() {
        set_current(format!("{} warm-up", rt.id()));
        rt.batch(WARMUP);
    }
    let per_round = samples.div_ceil(rounds);
    let started = Instant::now();
    let mut remaining = samples;
    let mut round = 0;
    while remaining > 0 {
        let batch = per_round.min(remaining);
        for k in 0..runtimes.len() {
            let i = (round + k) % runtimes.len();
            set_current(format!("{} round {round}", runtimes[i].id()));
            let (cpu0, wall0) = (process_cpu(), Instant::now());
            let got = runtimes[i].batch(batch);
            rows[i].wall += wall0.elapsed();
            rows[i].cpu += process_cpu() - cpu0;
            for ns in got {
                rows[i].hist.record(ns).expect("sample within bounds");
            }
        }
        remaining -= batch;
        round += 1;
    }
    set_current("report".to_owned());

    println!();
    println!(
        "### TCP echo, sequential {MESSAGE}-byte round trips over loopback: {samples} per runtime in {round} \
         interleaved rounds ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    println!();
    println!(
        "| runtime | min us | p50 us | p99 us | max us | mean us | p50 / floor | p99 / floor | p99 / floor_watched | wall us/rt | CPU us/rt |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let (f50, f99) = (
        rows[0].hist.value_at_quantile(0.5) as f64,
        rows[0].hist.value_at_quantile(0.99) as f64,
    );
    // The watched floor's p99, when it ran (FERRIO_RTT_ONLY may leave it out).
    let w99 = rows
        .iter()
        .find(|r| r.id == "floor_watched")
        .map(|r| r.hist.value_at_quantile(0.99) as f64);
    // The least runtime's p50, when it ran: how far each ferrio flavour is from what any runtime pays.
    let m50 = rows
        .iter()
        .find(|r| r.id == "floor_min_runtime")
        .map(|r| r.hist.value_at_quantile(0.5) as f64);
    let mut verdicts = Vec::new();
    for row in &rows {
        let (p50, p99) = (
            row.hist.value_at_quantile(0.5) as f64,
            row.hist.value_at_quantile(0.99) as f64,
        );
        let n = row.hist.len() as f64;
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.3} | {:.3} | {} | {} | {} |",
            row.id,
            us(row.hist.min() as f64),
            us(p50),
            us(p99),
            us(row.hist.max() as f64),
            us(row.hist.mean()),
            p50 / f50,
            p99 / f99,
            w99.map_or("-".to_owned(), |w| format!("{:.3}", p99 / w)),
            us(row.wall.as_nanos() as f64 / n),
            us(row.cpu.as_nanos() as f64 / n),
        );
        if row.id.starts_with("ferrio") {
            let met = |r: f64, t: f64| if r <= t { "met" } else { "MISSED" };
            verdicts.push(format!(
                "| {} | {:.3} | {} | {:.3} | {} | {} |",
                row.id,
                p50 / f50,
                met(p50 / f50, P50_TARGET),
                p99 / f99,
                met(p99 / f99, P99_TARGET),
                m50.map_or("-".to_owned(), |m| format!("{:.3}", p50 / m)),
            ));
        }
    }
    println!();
    println!("### Targets: p50 <= {P50_TARGET} x floor, p99 <= {P99_TARGET} x floor");
    println!();
    println!("| runtime | p50 / floor | p50 | p99 / floor | p99 | p50 / floor_min_runtime |");
    println!("|---|---|---|---|---|---|");
    for v in verdicts {
        println!("{v}");
    }
}
