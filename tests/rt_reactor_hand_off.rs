//! `Builder::reactor_hand_off`: what each policy promises about a worker that comes back from the reactor
//! with one task to run, on two workers.
//!
//! The setup for both: two tasks wait on two Unix sockets. A plain thread writes to the first; its task
//! (the only one woken) then blocks its worker for `LONG_POLL`, a deliberately long poll. While it does, the
//! thread writes to the second socket.
//! - `Always`: the worker back from the reactor woke the other worker to watch it before running the task,
//!   so the second task runs on that worker while the long poll still goes on.
//! - `WhenShared`: the worker kept its lone task and nobody watches the reactor (the other worker sleeps on
//!   its condvar), so the second task runs only once the long poll has ended: the documented price.
//!
//! Then, for both policies: echo round trips on several connections and timers, on an otherwise idle
//! runtime, so that a wake-up lost by the `WhenShared` parking rule (the last worker to sleep takes the
//! reactor) would hang the test, and the idle runtime stays asleep.

mod support;

use ferrio::io::{AsyncReadExt, AsyncWriteExt};
use ferrio::net::UnixStream;
use ferrio::{ReactorHandOff, Runtime};
use std::future::IntoFuture;
use std::io::Write;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::within;

const LONG_POLL: Duration = Duration::from_millis(400);

fn runtime(policy: ReactorHandOff, name: &str) -> Runtime {
    Runtime::builder()
        .worker_threads(2)
        .thread_name(name)
        .reactor_hand_off(policy)
        .build()
        .unwrap()
}

/// When the long poll ended and when the second task got its byte.
struct Times {
    long_poll_end: Instant,
    second_done: Instant,
    second_written: Instant,
}

fn lone_task_with_a_long_poll(policy: ReactorHandOff, name: &str) -> Times {
    let rt = runtime(policy, name);
    let (first_peer, first) = StdUnixStream::pair().unwrap();
    let (second_peer, second) = StdUnixStream::pair().unwrap();
    let started = Arc::new(AtomicBool::new(false));
    let long_poll_end = Arc::new(Mutex::new(None));
    let second_done = Arc::new(Mutex::new(None));

    let (s2, end2) = (started.clone(), long_poll_end.clone());
    let first_task = rt.spawn(async move {
        let mut first = UnixStream::from_std(first).unwrap();
        let mut byte = [0u8; 1];
        first.read_exact(&mut byte).await.unwrap();
        s2.store(true, SeqCst);
        // A poll that keeps its worker for a long time (the misuse `WhenShared` pays for).
        std::thread::sleep(LONG_POLL);
        *end2.lock().unwrap() = Some(Instant::now());
    });
    let done2 = second_done.clone();
    let second_task = rt.spawn(async move {
        let mut second = UnixStream::from_std(second).unwrap();
        let mut byte = [0u8; 1];
        second.read_exact(&mut byte).await.unwrap();
        *done2.lock().unwrap() = Some(Instant::now());
    });

    // Both tasks wait on their sockets and both workers go to sleep.
    std::thread::sleep(Duration::from_millis(100));
    (&first_peer).write_all(b"1").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !started.load(SeqCst) {
        assert!(Instant::now() < deadline, "the first task never ran");
        std::thread::sleep(Duration::from_millis(1));
    }
    // The long poll has begun (it lasts LONG_POLL from just before `started` was set).
    std::thread::sleep(Duration::from_millis(50));
    let second_written = Instant::now();
    (&second_peer).write_all(b"2").unwrap();

    rt.block_on(async {
        first_task.await.unwrap();
        second_task.await.unwrap();
    });
    let long_poll_end = long_poll_end.lock().unwrap().unwrap();
    let second_done = second_done.lock().unwrap().unwrap();
    Times {
        long_poll_end,
        second_done,
        second_written,
    }
}

#[test]
fn always_lets_another_worker_serve_io_during_a_lone_tasks_long_poll() {
    within(Duration::from_secs(30), || {
        let t = lone_task_with_a_long_poll(ReactorHandOff::Always, "ho-always");
        assert!(
            t.second_done < t.long_poll_end,
            "under Always the second task must run while the first still polls (done {:?} after the long \
             poll ended)",
            t.second_done.duration_since(t.long_poll_end)
        );
        assert!(
            t.second_done.duration_since(t.second_written) < Duration::from_millis(300),
            "the other worker served the second socket late: {:?}",
            t.second_done.duration_since(t.second_written)
        );
    });
}

#[test]
fn when_shared_leaves_io_waiting_until_a_lone_tasks_long_poll_ends() {
    within(Duration::from_secs(30), || {
        let t = lone_task_with_a_long_poll(ReactorHandOff::WhenShared, "ho-shared");
        assert!(
            t.second_done >= t.long_poll_end,
            "under WhenShared nobody watches the reactor while the lone task polls, yet the second task \
             ran {:?} before the long poll ended",
            t.long_poll_end.duration_since(t.second_done)
        );
    });
}

/// Requests from a plain thread that waits a little before each one, so the serving worker sleeps in the
/// reactor between them and comes back with one woken task each time. Returns each worker's unpark count
/// over `n` requests.
fn unparks_serving_a_slow_client(policy: ReactorHandOff, n: usize) -> Vec<u64> {
    let rt = runtime(policy, "ho-slow");
    let (client, server) = StdUnixStream::pair().unwrap();
    let server_task = rt.spawn(async move {
        let mut server = UnixStream::from_std(server).unwrap();
        let mut buf = [0u8; 8];
        loop {
            match server.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(k) => server.write_all(&buf[..k]).await.unwrap(),
            }
        }
    });
    std::thread::sleep(Duration::from_millis(50));
    let before = rt.stats();
    let mut client = client;
    for i in 0..n {
        std::thread::sleep(Duration::from_micros(300));
        let msg = (i as u64).to_le_bytes();
        client.write_all(&msg).unwrap();
        let mut reply = [0u8; 8];
        std::io::Read::read_exact(&mut client, &mut reply).unwrap();
        assert_eq!(reply, msg);
    }
    let after = rt.stats();
    drop(client);
    rt.block_on(server_task.into_future()).unwrap();
    after
        .workers
        .iter()
        .zip(&before.workers)
        .map(|(a, b)| a.since(b).unparks)
        .collect()
}

/// The cost each policy pays for one woken task: under `Always` the worker back from the reactor wakes the
/// other one every time (both workers unpark about once per request); under `WhenShared` it wakes nobody
/// (the other worker stays asleep through all the requests).
#[test]
fn a_lone_woken_task_wakes_the_other_worker_only_under_always() {
    within(Duration::from_secs(30), || {
        let n = 200;
        let always = unparks_serving_a_slow_client(ReactorHandOff::Always, n);
        let shared = unparks_serving_a_slow_client(ReactorHandOff::WhenShared, n);
        let least = |v: &[u64]| *v.iter().min().unwrap();
        assert!(
            least(&always) >= n as u64 / 4,
            "under Always each request should wake the other worker: unparks per worker {always:?}"
        );
        assert!(
            least(&shared) <= n as u64 / 10,
            "under WhenShared the other worker should sleep through: unparks per worker {shared:?}"
        );
    });
}

/// Echo round trips on four connections at once (every reply checked), with short sleeps between them,
/// under both policies and on 2 and 3 workers. A wake-up lost between workers hangs this, and `within`
/// fails it.
#[test]
fn echo_and_timers_lose_no_wake_up_under_either_policy() {
    within(Duration::from_secs(60), || {
        for policy in [ReactorHandOff::Always, ReactorHandOff::WhenShared] {
            for workers in [2, 3] {
                let rt = Runtime::builder()
                    .worker_threads(workers)
                    .reactor_hand_off(policy)
                    .build()
                    .unwrap();
                let total: usize = rt.block_on(async {
                    let mut clients = Vec::new();
                    for c in 0..4u8 {
                        let (mut ours, mut theirs) = UnixStream::pair().unwrap();
                        ferrio::spawn(async move {
                            let mut buf = [0u8; 64];
                            loop {
                                match theirs.read(&mut buf).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(k) => theirs.write_all(&buf[..k]).await.unwrap(),
                                }
                            }
                        });
                        clients.push(ferrio::spawn(async move {
                            let mut reply = [0u8; 16];
                            for i in 0..300u32 {
                                let msg = [c.wrapping_add(i as u8); 16];
                                ours.write_all(&msg).await.unwrap();
                                ours.read_exact(&mut reply).await.unwrap();
                                assert_eq!(reply, msg, "connection {c}, round trip {i}");
                                if i % 50 == 0 {
                                    ferrio::time::sleep(Duration::from_millis(2)).await;
                                }
                            }
                            300usize
                        }));
                    }
                    let mut total = 0;
                    for client in clients {
                        total += client.await.unwrap();
                    }
                    total
                });
                assert_eq!(total, 1200, "{policy:?} on {workers} workers");
            }
        }
    });
}

/// CPU time the threads named `prefix*` have run so far (`/proc/self/task/TID/schedstat`, ns).
fn cpu_of_threads(prefix: &str) -> Duration {
    support::threads_named(prefix)
        .iter()
        .map(|t| {
            let stat = std::fs::read_to_string(format!("/proc/self/task/{}/schedstat", t.tid))
                .unwrap_or_default();
            let ns = stat
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            Duration::from_nanos(ns)
        })
        .sum()
}

/// With nothing to do, a `WhenShared` runtime sleeps: a timer set ahead fires on time from an otherwise
/// idle runtime (the last worker to sleep holds the reactor, where the timerfd is), and its workers use
/// almost no CPU meanwhile (a worker that polled instead of sleeping would use the whole wait).
#[test]
fn when_shared_idle_runtime_sleeps_and_still_fires_timers() {
    within(Duration::from_secs(30), || {
        let rt = runtime(ReactorHandOff::WhenShared, "ho-idle");
        assert!(
            support::wait_until(Duration::from_secs(5), || support::threads_named("ho-idle")
                .len()
                == 2),
            "expected the two workers"
        );
        let cpu_before = cpu_of_threads("ho-idle");
        let start = Instant::now();
        let fired_after = rt.block_on(async move {
            ferrio::spawn(async move {
                ferrio::time::sleep(Duration::from_millis(300)).await;
                start.elapsed()
            })
            .await
            .unwrap()
        });
        let cpu = cpu_of_threads("ho-idle") - cpu_before;
        assert!(
            fired_after >= Duration::from_millis(300) && fired_after < Duration::from_secs(2),
            "a 300 ms sleep took {fired_after:?}"
        );
        assert!(
            cpu < Duration::from_millis(100),
            "the workers used {cpu:?} of CPU while the runtime waited 300 ms: one of them spins"
        );
    });
}
