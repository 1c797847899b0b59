//! TCP echo throughput over loopback: 50 connections at once, round trips per second.
//!
//! Each runtime gets 50 connected pairs, made once; the server end of each is an echo task that lives for
//! the whole benchmark. One iteration spawns one client task per connection; each does `ROUND_TRIPS`
//! sequential 64-byte round trips (write, then read until the 64 bytes are back) and the iteration ends when
//! all 50 are done. Criterion's throughput is in round trips (elements) per second.
//!
//! Runtimes, all with 2 threads so the ratio is honest: `ferrio_mt` and `tokio_mt` (2 workers), and
//! `async_io` (an `async_executor::Executor` run by 2 threads inside `async_io::block_on`, smol's setup).
//! `ferrio_mt_shared` is `ferrio_mt` built with `ReactorHandOff::WhenShared` (see `tcp_rtt`). `floor`: no
//! runtime, two threads each owning 25 connections in an epoll of its own (`tcp_echo/floor.rs`), the
//! most two threads can do on this kernel.
//! Target (issue 4): ferrio >= 230,000 round trips/s on 2 workers.
//!
//! Run: `cargo bench --bench tcp_echo`.

#[path = "tcp_echo/floor.rs"]
mod floor;
mod support;

use support::echo::{ferrio_loops, lite_loops, process_cpu, tokio_loops, BUF, MESSAGE};

use criterion::{criterion_group, Criterion, Throughput};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{config, progress, set_current, start_watchdog, AsyncExecutorRt, ExDriver, Watch};

const CONNECTIONS: usize = 50;
const ROUND_TRIPS: usize = 100;

/// `CONNECTIONS` connected std pairs (client, server), non-blocking, `TCP_NODELAY`.
fn std_pairs() -> Vec<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    (0..CONNECTIONS)
        .map(|_| {
            let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (server, _) = listener.accept().unwrap();
            for s in [&client, &server] {
                s.set_nodelay(true).unwrap();
                s.set_nonblocking(true).unwrap();
            }
            (client, server)
        })
        .collect()
}

/// Wall and CPU time summed over every iteration of one runtime (criterion's warm-up included), for the
/// CPU column of BENCHMARKS.md: (id, iterations, wall, cpu).
static USAGE: Mutex<Vec<(&str, u64, Duration, Duration)>> = Mutex::new(Vec::new());

/// Runs one iteration, adding its wall and process CPU time to `id`'s totals.
fn measured(id: &'static str, iteration: impl FnOnce()) {
    let (cpu0, wall0) = (process_cpu(), Instant::now());
    iteration();
    let (wall, cpu) = (wall0.elapsed(), process_cpu() - cpu0);
    let mut usage = USAGE.lock().unwrap();
    match usage.iter_mut().find(|u| u.0 == id) {
        Some(u) => {
            u.1 += 1;
            u.2 += wall;
            u.3 += cpu;
        }
        None => usage.push((id, 1, wall, cpu)),
    }
    drop(usage);
    progress();
}

fn print_usage() {
    println!();
    println!(
        "| runtime | iterations | round trips/s (wall) | CPU us per round trip | CPU / wall |"
    );
    println!("|---|---|---|---|---|");
    for (id, n, wall, cpu) in USAGE.lock().unwrap().iter() {
        let trips = (*n as usize * CONNECTIONS * ROUND_TRIPS) as f64;
        println!(
            "| {id} | {n} | {:.0} | {:.2} | {:.2} |",
            trips / wall.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / trips,
            cpu.as_secs_f64() / wall.as_secs_f64()
        );
    }
}

/// Client streams parked between iterations; each client task takes its own and puts it back.
type Slots<S> = Vec<Arc<Mutex<Option<S>>>>;

fn slot<S>(s: S) -> Arc<Mutex<Option<S>>> {
    Arc::new(Mutex::new(Some(s)))
}

fn bench_ferrio(c: &mut Criterion, id: &'static str, hand_off: ferrio::ReactorHandOff) {
    let rt = ferrio::Runtime::builder()
        .worker_threads(2)
        .reactor_hand_off(hand_off)
        .build()
        .unwrap();
    let clients: Slots<ferrio::net::TcpStream> = rt.block_on(async {
        std_pairs()
            .into_iter()
            .map(|(client, server)| {
                drop(ferrio::spawn(ferrio_loops::server(
                    ferrio::net::TcpStream::from_std(server).unwrap(),
                )));
                slot(ferrio::net::TcpStream::from_std(client).unwrap())
            })
            .collect()
    });
    let mut group = c.benchmark_group("tcp_echo_50_connections");
    group.throughput(Throughput::Elements((CONNECTIONS * ROUND_TRIPS) as u64));
    set_current(format!("tcp_echo_50_connections/{id}"));
    group.bench_function(id, |b| {
        b.iter(|| {
            measured(id, || {
                rt.block_on(async {
                    let tasks: Vec<_> = clients
                        .iter()
                        .map(|slot| {
                            let slot = slot.clone();
                            ferrio::spawn(async move {
                                let mut s = slot.lock().unwrap().take().unwrap();
                                ferrio_loops::client(&mut s, ROUND_TRIPS).await;
                                *slot.lock().unwrap() = Some(s);
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                })
            })
        })
    });
    group.finish();
}

fn bench_tokio(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let clients: Slots<tokio::net::TcpStream> = rt.block_on(async {
        std_pairs()
            .into_iter()
            .map(|(client, server)| {
                drop(tokio::spawn(tokio_loops::server(
                    tokio::net::TcpStream::from_std(server).unwrap(),
                )));
                slot(tokio::net::TcpStream::from_std(client).unwrap())
            })
            .collect()
    });
    let mut group = c.benchmark_group("tcp_echo_50_connections");
    group.throughput(Throughput::Elements((CONNECTIONS * ROUND_TRIPS) as u64));
    set_current("tcp_echo_50_connections/tokio_mt".to_owned());
    group.bench_function("tokio_mt", |b| {
        b.iter(|| {
            measured("tokio_mt", || {
                rt.block_on(async {
                    let tasks: Vec<_> = clients
                        .iter()
                        .map(|slot| {
                            let slot = slot.clone();
                            tokio::spawn(async move {
                                let mut s = slot.lock().unwrap().take().unwrap();
                                tokio_loops::client(&mut s, ROUND_TRIPS).await;
                                *slot.lock().unwrap() = Some(s);
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                })
            })
        })
    });
    group.finish();
}

fn bench_async_io(c: &mut Criterion) {
    use support::{BenchRuntime, Spawner};
    let rt = AsyncExecutorRt::new(2, ExDriver::AsyncIo);
    let ex = rt.spawner();
    let clients: Slots<async_io::Async<TcpStream>> = std_pairs()
        .into_iter()
        .map(|(client, server)| {
            ex.spawn(lite_loops::server(async_io::Async::new(server).unwrap()));
            slot(async_io::Async::new(client).unwrap())
        })
        .collect();
    let mut group = c.benchmark_group("tcp_echo_50_connections");
    group.throughput(Throughput::Elements((CONNECTIONS * ROUND_TRIPS) as u64));
    set_current("tcp_echo_50_connections/async_io".to_owned());
    group.bench_function("async_io", |b| {
        b.iter(|| {
            measured("async_io", || {
                let (latch, done) = support::Latch::new(CONNECTIONS);
                for slot in &clients {
                    let (slot, latch) = (slot.clone(), latch.clone());
                    ex.spawn(async move {
                        let mut s = slot.lock().unwrap().take().unwrap();
                        lite_loops::client(&mut s, ROUND_TRIPS).await;
                        *slot.lock().unwrap() = Some(s);
                        latch.count_down();
                    });
                }
                rt.block_on(support::wait_done(done));
            })
        })
    });
    group.finish();
}

fn bench_floor(c: &mut Criterion) {
    let floor = floor::EchoFloor::new();
    let mut group = c.benchmark_group("tcp_echo_50_connections");
    group.throughput(Throughput::Elements((CONNECTIONS * ROUND_TRIPS) as u64));
    set_current("tcp_echo_50_connections/floor".to_owned());
    group.bench_function("floor", |b| {
        b.iter(|| measured("floor", || floor.iteration(ROUND_TRIPS)))
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_floor(c);
    bench_ferrio(c, "ferrio_mt", ferrio::ReactorHandOff::Always);
    bench_ferrio(c, "ferrio_mt_shared", ferrio::ReactorHandOff::WhenShared);
    bench_tokio(c);
    bench_async_io(c);
    set_current(String::new());
    print_usage();
}

criterion_group! {
    name = tcp_echo;
    config = config();
    targets = benches
}

fn main() {
    start_watchdog(Watch::Iterations);
    tcp_echo();
    Criterion::default().configure_from_args().final_summary();
}
