//! A load generator for `examples/echo_server.rs` (or any echo server): many connections at once, each
//! doing sequential round trips (write a message, read its echo back), every round trip timed.
//!
//! Run: `cargo run --release --example echo_client -- [ADDR] [--connections N] [--rounds N] [--size BYTES]
//! [--workers N | --current-thread]` (defaults: `127.0.0.1:7000`, 50 connections, 1000 round trips each,
//! 64-byte messages). It prints the number of round trips, the throughput, and the p50, p99 and maximum
//! round-trip times in microseconds. A connect error or a wrong echo exits with status 1 and says why.
//!
//! Percentiles come from all the samples, sorted (nearest rank): exact, and cheap enough for a few million
//! samples.

use ferrio::io::{AsyncReadExt, AsyncWriteExt};
use ferrio::net::TcpStream;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[path = "net_common/mod.rs"]
mod net_common;

/// Command line, after parsing.
#[derive(Clone)]
struct Options {
    addr: String,
    connections: usize,
    rounds: usize,
    size: usize,
    flavour: net_common::Flavour,
}

const USAGE: &str = "usage: echo_client [ADDR] [--connections N] [--rounds N] [--size BYTES] \
                     [--workers N | --current-thread]";

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        addr: "127.0.0.1:7000".to_owned(),
        connections: 50,
        rounds: 1000,
        size: 64,
        flavour: net_common::Flavour::default(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if options.flavour.parse_flag(&arg, &mut args)? {
            continue;
        }
        let mut number = |flag: &str| -> Result<usize, String> {
            let value = args
                .next()
                .ok_or_else(|| format!("{flag} needs a number"))?;
            value
                .parse()
                .map_err(|_| format!("{flag}: not a number: {value}"))
        };
        match arg.as_str() {
            "--connections" | "-c" => options.connections = number("--connections")?,
            "--rounds" | "-n" => options.rounds = number("--rounds")?,
            "--size" | "-s" => options.size = number("--size")?,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            flag if flag.starts_with('-') => return Err(format!("unknown flag {flag}\n{USAGE}")),
            addr => options.addr = addr.to_owned(),
        }
    }
    if options.connections == 0 || options.size == 0 {
        return Err("--connections and --size must be at least 1".to_owned());
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("echo_client: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match options.flavour.runtime("echo_client", "echo-client") {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    match runtime.block_on(generate_load(options.clone())) {
        Ok((samples, elapsed)) => {
            report(&options, samples, elapsed);
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("echo_client: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs every connection concurrently; returns all round-trip times and the wall time of the whole run.
async fn generate_load(options: Options) -> Result<(Vec<Duration>, Duration), String> {
    // Resolve once (a host name would otherwise be looked up by every connection).
    let addrs: Vec<SocketAddr> = options
        .addr
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", options.addr))?
        .collect();
    let start = Instant::now();
    let connections: Vec<_> = (0..options.connections)
        .map(|id| {
            let options = options.clone();
            let addrs = addrs.clone();
            ferrio::spawn(async move { connection(id, &addrs, &options).await })
        })
        .collect();
    let mut samples = Vec::with_capacity(options.connections * options.rounds);
    let mut first_error = None;
    for task in connections {
        match task.await {
            Ok(Ok(mut times)) => samples.append(&mut times),
            Ok(Err(message)) => {
                first_error.get_or_insert(message);
            }
            Err(e) => {
                first_error.get_or_insert(format!("a connection task failed: {e}"));
            }
        }
    }
    match first_error {
        Some(message) => Err(message),
        None => Ok((samples, start.elapsed())),
    }
}

/// One connection: connect, then `rounds` timed round trips of a `size`-byte message.
async fn connection(
    id: usize,
    addrs: &[SocketAddr],
    options: &Options,
) -> Result<Vec<Duration>, String> {
    let addr = &options.addr;
    let mut stream = TcpStream::connect(addrs)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("set_nodelay: {e}"))?;
    // A message different for each connection and round, so a mixed-up echo is caught.
    let mut message: Vec<u8> = (0..options.size).map(|i| b'a' + (i % 26) as u8).collect();
    let mut echo = vec![0u8; options.size];
    let mut times = Vec::with_capacity(options.rounds);
    for round in 0..options.rounds {
        let tag = format!("{id}:{round}:");
        let n = tag.len().min(message.len());
        message[..n].copy_from_slice(&tag.as_bytes()[..n]);
        let sent = Instant::now();
        round_trip(&mut stream, &message, &mut echo)
            .await
            .map_err(|e| format!("connection {id} to {addr}, round trip {round}: {e}"))?;
        times.push(sent.elapsed());
        if echo != message {
            return Err(format!(
                "connection {id} to {addr}, round trip {round}: the echo differs from the message sent"
            ));
        }
    }
    Ok(times)
}

async fn round_trip(stream: &mut TcpStream, message: &[u8], echo: &mut [u8]) -> io::Result<()> {
    stream.write_all(message).await?;
    stream.read_exact(echo).await
}

/// Prints the summary: counts, throughput, latency percentiles.
fn report(options: &Options, mut samples: Vec<Duration>, elapsed: Duration) {
    samples.sort_unstable();
    let count = samples.len();
    let per_second = count as f64 / elapsed.as_secs_f64();
    println!(
        "{count} round trips over {} connections, {} bytes each, in {:.3} s",
        options.connections,
        options.size,
        elapsed.as_secs_f64()
    );
    println!("throughput: {per_second:.0} round trips/s");
    println!("p50: {} us", micros(percentile(&samples, 50.0)));
    println!("p99: {} us", micros(percentile(&samples, 99.0)));
    println!("max: {} us", micros(samples.last().copied()));
}

/// The nearest-rank percentile `p` (0-100] of sorted `samples`; `None` when there are none.
fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn micros(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!("{:.1}", d.as_secs_f64() * 1e6),
        None => "-".to_owned(),
    }
}
