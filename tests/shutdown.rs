//! Shutdown, beyond `rt_shutdown*.rs`: `shutdown_timeout` with both a worker stuck in a long poll and a
//! blocking job stuck in its closure (one shared deadline, two threads left behind, each exiting when it is
//! released); tasks parked on every kind of wait (sockets, pipes, signals, timers, promises, other tasks,
//! tasks of another runtime) are dropped by the shutdown; and after a clean shutdown no runtime thread is
//! left (workers and blocking-pool threads, after `drop`, `shutdown_timeout` and `ferrio::run`).
//!
//! The basics: `run` and `drop` cancel and drop everything, awaiters woken, drops from inside a task
//! (`rt_shutdown.rs`); `spawn_local` futures dropped on their thread (`rt_shutdown_spawn_local.rs`); a single
//! stuck worker (`rt_shutdown_timeout.rs`).

mod stress_support;
mod support;

use ferrio::io::{AsyncFd, AsyncReadExt, Interest};
use ferrio::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixStream};
use ferrio::signal::{signal, SignalKind};
use ferrio::sync::Promise;
use ferrio::time::{interval, sleep, timeout};
use ferrio::{Runtime, Task};
use std::future::{Future, IntoFuture};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stress_support::alone;
use support::{threads_named, wait_until, within, DropCounter, Flavor};

/// Worker threads of the runtime named `prefix`: `prefix-N`.
fn workers(prefix: &str) -> usize {
    threads_named(prefix)
        .iter()
        .filter(|t| {
            t.name
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .count()
}

/// Blocking-pool threads of the runtime named `prefix`: `prefix-blocking-N`, as the kernel keeps it (15
/// bytes).
fn blocking_threads(prefix: &str) -> usize {
    let full = format!("{prefix}-blocking-");
    threads_named(&full[..full.len().min(15)]).len()
}

/// Spins (blocking its thread) until `release` is set, marking `started` first.
fn stuck_until(started: &AtomicBool, release: &AtomicBool) {
    started.store(true, SeqCst);
    while !release.load(SeqCst) {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A worker stuck in a long poll and a blocking job stuck in its closure: `shutdown_timeout` waits once for
/// both (one deadline, not one each), returns 2, has already dropped the idle task and stopped the free
/// worker; each stuck thread exits once released, the stuck task's future is dropped then, and the job's
/// result is discarded.
#[test]
fn shutdown_timeout_leaves_a_stuck_worker_and_a_stuck_job_behind() {
    within(Duration::from_secs(30), || {
        let name = "sd-both";
        let rt = Runtime::builder()
            .worker_threads(2)
            .thread_name(name)
            .build()
            .unwrap();
        assert!(wait_until(Duration::from_secs(5), || workers(name) == 2));
        let release = Arc::new(AtomicBool::new(false));
        let (task_in, job_in) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let drops = DropCounter::new();
        let (g, r, s) = (drops.guard(), release.clone(), task_in.clone());
        let stuck_task = rt.spawn(async move {
            let _g = g;
            stuck_until(&s, &r);
            ferrio::yield_now().await;
            unreachable!("polled again after the shutdown");
        });
        let (r, s) = (release.clone(), job_in.clone());
        let stuck_job = rt.spawn_blocking(move || {
            stuck_until(&s, &r);
            5
        });
        let idle_drops = DropCounter::new();
        let g = idle_drops.guard();
        drop(rt.spawn(async move {
            let _g = g;
            std::future::pending::<()>().await
        }));
        assert!(wait_until(Duration::from_secs(5), || task_in.load(SeqCst)
            && job_in.load(SeqCst)));

        let timeout = Duration::from_millis(300);
        let start = Instant::now();
        let left = rt.shutdown_timeout(timeout);
        let took = start.elapsed();
        assert_eq!(left, 2, "one worker and one blocking thread are stuck");
        assert!(
            took >= timeout - Duration::from_millis(10),
            "returned early: {took:?}"
        );
        assert!(
            took < timeout * 2 + Duration::from_secs(1),
            "took {took:?}: the deadline was not shared by the workers and the pool"
        );
        assert_eq!(idle_drops.dropped(), 1, "the idle task was not dropped");
        assert_eq!(
            drops.dropped(),
            0,
            "the stuck task's future is still in its poll"
        );
        assert!(
            wait_until(Duration::from_secs(5), || workers(name) == 1),
            "the free worker did not exit: {:?}",
            threads_named(name)
        );
        assert_eq!(blocking_threads(name), 1);
        assert!(stuck_task.is_cancelled() && stuck_job.is_cancelled());

        release.store(true, SeqCst);
        assert!(
            wait_until(Duration::from_secs(5), || drops.dropped() == 1),
            "the stuck task's future was not dropped after its poll returned"
        );
        assert!(
            wait_until(Duration::from_secs(5), || threads_named(name).is_empty()),
            "threads left: {:?}",
            threads_named(name)
        );
        let r = futures_lite::future::block_on(stuck_task.into_future());
        assert!(r.unwrap_err().is_cancelled());
        let r = futures_lite::future::block_on(stuck_job.into_future());
        assert!(
            r.unwrap_err().is_cancelled(),
            "the job's result was not discarded"
        );
    });
}

/// A pipe whose both ends are non-blocking and close-on-exec: (read end, write end).
fn pipe() -> (std::fs::File, std::fs::File) {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: pipe2 succeeded: both are open descriptors that nothing else owns.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    (r.into(), w.into())
}

/// Spawns `fut` on the current runtime with a drop guard, counting it in `parked` just before it awaits.
fn park_on<F>(drops: &DropCounter, parked: &Arc<AtomicUsize>, fut: F) -> Task<()>
where
    F: Future + Send + 'static,
{
    let (g, p) = (drops.guard(), parked.clone());
    ferrio::spawn(async move {
        let _g = g;
        p.fetch_add(1, SeqCst);
        fut.await;
        unreachable!("a parked task finished");
    })
}

/// Tasks parked on a TCP read and accept, a UDP receive, Unix stream and datagram reads, a pipe (`AsyncFd`),
/// a signal, a sleep, a timeout, an interval, a `Promise`, another task, and a task of another runtime:
/// `drop` and `shutdown_timeout`, on both flavours, drop every one of their futures before returning, leave
/// no timer and no task, and their handles report cancellation.
#[test]
fn shutdown_drops_tasks_parked_on_io_timers_and_promises() {
    within(Duration::from_secs(60), || {
        let other = Flavor::MultiThread.build();
        for flavor in Flavor::ALL {
            for by_timeout in [false, true] {
                let rt = flavor.build();
                let drops = DropCounter::new();
                let parked = Arc::new(AtomicUsize::new(0));
                let promise = Promise::<u32>::new();
                let foreign = other.spawn(std::future::pending::<()>());
                let (pipe_r, pipe_w) = pipe();
                // The other ends, kept open past the shutdown so no wait can end by itself.
                let keep = rt.block_on(async {
                    let d = &drops;
                    let mut tasks = Vec::new();
                    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
                    let addr = tcp.local_addr().unwrap();
                    let mut client = TcpStream::connect(addr).await.unwrap();
                    let (server, _) = tcp.accept().await.unwrap();
                    tasks.push(park_on(d, &parked, async move {
                        client.read(&mut [0u8; 8]).await.unwrap();
                    }));
                    tasks.push(park_on(d, &parked, async move {
                        tcp.accept().await.unwrap();
                    }));
                    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
                    tasks.push(park_on(d, &parked, async move {
                        udp.recv_from(&mut [0u8; 8]).await.unwrap();
                    }));
                    let (mut ua, ub) = UnixStream::pair().unwrap();
                    tasks.push(park_on(d, &parked, async move {
                        ua.read(&mut [0u8; 8]).await.unwrap();
                    }));
                    let (da, db) = UnixDatagram::pair().unwrap();
                    tasks.push(park_on(d, &parked, async move {
                        da.recv(&mut [0u8; 8]).await.unwrap();
                    }));
                    let fd = AsyncFd::with_interest(pipe_r, Interest::READABLE).unwrap();
                    tasks.push(park_on(d, &parked, async move {
                        let _ready = fd.readable().await.unwrap();
                    }));
                    let mut sig = signal(SignalKind::user_defined2()).unwrap();
                    tasks.push(park_on(d, &parked, async move {
                        sig.recv().await;
                    }));
                    tasks.push(park_on(d, &parked, sleep(Duration::from_secs(600))));
                    tasks.push(park_on(
                        d,
                        &parked,
                        timeout(Duration::from_secs(600), std::future::pending::<()>()),
                    ));
                    let mut iv = interval(Duration::from_secs(600));
                    tasks.push(park_on(d, &parked, async move {
                        iv.tick().await;
                        iv.tick().await;
                    }));
                    let p = promise.clone();
                    tasks.push(park_on(d, &parked, async move {
                        let _ = p.await;
                    }));
                    let inner = park_on(d, &parked, std::future::pending::<()>());
                    tasks.push(park_on(d, &parked, async move {
                        let _ = inner.await;
                    }));
                    tasks.push(park_on(d, &parked, async move {
                        let _ = foreign.await;
                    }));
                    support::eventually("every task parked", || parked.load(SeqCst) == 14).await;
                    // One more turn each, so every wait is registered.
                    for _ in 0..3 {
                        ferrio::yield_now().await;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                    (tasks, server, ub, db)
                });
                let (tasks, server, ub, db) = keep;
                let handle = rt.handle();
                assert_eq!(
                    handle.pending_timers(),
                    3,
                    "{flavor:?}: sleep, timeout, interval"
                );
                if by_timeout {
                    assert_eq!(rt.shutdown_timeout(Duration::from_secs(10)), 0);
                } else {
                    drop(rt);
                }
                assert_eq!(drops.created(), 14);
                assert_eq!(
                    drops.dropped(),
                    14,
                    "{flavor:?} (shutdown_timeout: {by_timeout}): parked futures still alive"
                );
                assert_eq!(handle.live_tasks(), 0);
                assert_eq!(handle.pending_timers(), 0);
                for t in tasks {
                    let r = futures_lite::future::block_on(t.into_future());
                    assert!(r.unwrap_err().is_cancelled(), "{flavor:?}");
                }
                // The promise and the foreign task were awaited, not owned: they are untouched.
                assert!(!promise.is_done());
                drop((server, ub, db, pipe_w));
            }
        }
    });
}

/// After a clean shutdown no thread of the runtime is left: workers and blocking-pool threads (started by
/// jobs, some idle, some just finished), after `drop`, after `shutdown_timeout`, on both flavours, and after
/// `ferrio::run`. Runs alone in a child process so that no other test's threads share the names.
#[test]
fn no_runtime_thread_is_left_after_a_clean_shutdown() {
    alone("no_runtime_thread_is_left_after_a_clean_shutdown", |_| {
        within(Duration::from_secs(60), || {
            for flavor in Flavor::ALL {
                for by_timeout in [false, true] {
                    let name = "sd-gone";
                    let rt = flavor.builder().thread_name(name).build().unwrap();
                    let jobs: Vec<_> = (0..4u64)
                        .map(|i| {
                            rt.spawn_blocking(move || {
                                std::thread::sleep(Duration::from_millis(5 * i));
                                i
                            })
                        })
                        .collect();
                    let sum: u64 = rt.block_on(async {
                        let mut sum = 0;
                        for j in jobs {
                            sum += j.await.unwrap();
                        }
                        // A job still running at the shutdown (short: the shutdown waits for it).
                        drop(ferrio::spawn_blocking(|| {
                            std::thread::sleep(Duration::from_millis(20))
                        }));
                        drop(ferrio::spawn(std::future::pending::<()>()));
                        sum
                    });
                    assert_eq!(sum, 6);
                    if flavor == Flavor::MultiThread {
                        assert_eq!(workers(name), 2);
                    }
                    assert!(blocking_threads(name) >= 1);
                    if by_timeout {
                        assert_eq!(rt.shutdown_timeout(Duration::from_secs(10)), 0);
                    } else {
                        drop(rt);
                    }
                    assert_eq!(
                        workers(name),
                        0,
                        "{flavor:?}: a worker outlived the shutdown"
                    );
                    assert!(
                        wait_until(Duration::from_secs(5), || threads_named(name).is_empty()),
                        "{flavor:?} (shutdown_timeout: {by_timeout}): threads left: {:?}",
                        threads_named(name)
                    );
                }
            }
            // `run` with the default names.
            let v = ferrio::run(async {
                let j = ferrio::spawn_blocking(|| 2);
                drop(ferrio::spawn(std::future::pending::<()>()));
                j.await.unwrap()
            });
            assert_eq!(v, 2);
            assert_eq!(workers("ferrio-worker"), 0, "run left a worker");
            assert!(
                wait_until(Duration::from_secs(5), || threads_named("ferrio-worker")
                    .is_empty()),
                "run left threads: {:?}",
                threads_named("ferrio-worker")
            );
            println!("no thread left after drop, shutdown_timeout and run");
        })
    });
}
