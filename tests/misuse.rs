//! Misuse: each mistake gives a clear panic or error naming it (never a hang or a crash), and a few things
//! that look like misuse but are allowed keep working.
//!
//! Covered elsewhere, not repeated here:
//! - `block_on` inside a task or inside another `block_on` (either runtime): `rt_spawn_context.rs`
//!   `block_on_inside_runtime_panics`; `ferrio::run` inside a runtime: `rt_shutdown.rs` `run_inside_runtime_panics`.
//! - Dropping a multi-thread `Runtime` from inside one of its own tasks: `rt_shutdown.rs`
//!   `dropping_runtime_inside_its_own_task_panics` (and `..._still_drops_other_tasks`).
//! - Spawning through a `Handle` after the runtime was dropped: `rt_spawn_context.rs`
//!   `spawn_after_runtime_dropped_panics`; `spawn_blocking` after shutdown and outside a runtime:
//!   `blocking_pool.rs`.
//! - `spawn_local` on the multi-thread flavour, and on another thread than the current-thread runtime's
//!   owner: `rt_spawn_context.rs` `spawn_local_on_multi_thread_panics`,
//!   `current_thread_runtime_moved_to_another_thread`.
//! - `worker_threads(0)`, `event_interval(0)`, `global_queue_interval(0)`: `rt_spawn_context.rs`
//!   `zero_workers_is_invalid_input_not_a_hang`; `max_blocking_threads(0)`: `blocking_pool.rs`; `trace(0)`:
//!   `runtime_trace.rs`.
//! - `sleep` / `sleep_until` / `timeout` outside a runtime: `time_sleep_runtime.rs`, `time_timeout.rs`;
//!   `signal` outside a runtime: `signal.rs`; `spawn`, `spawn_local`, `Handle::current` outside a runtime:
//!   `rt_spawn_context.rs`.
//! - Awaiting a task of one runtime from inside another works: `rt_spawn.rs` `await_task_of_another_runtime`.
//! - Awaiting a task twice: `task_panic.rs`; a sleep of a dead runtime polled in another one:
//!   `time_sleep_runtime.rs`; sockets of a dead runtime: `net_tcp_runtime.rs`.

mod support;

use ferrio::io::AsyncFd;
use ferrio::net::{TcpListener, UdpSocket, UnixDatagram, UnixListener, UnixStream};
use ferrio::Runtime;
use std::future::IntoFuture;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{expect_panic, panic_message, wait_until, within, DropCounter, Flavor, Flavors};

/// The words every "after shutdown" panic uses.
const SHUT_DOWN: &str = "has been shut down";
/// The words every "I/O object outside a runtime" panic uses.
const IO_OUTSIDE: &str = "created outside a runtime";

#[test]
#[should_panic(expected = "spawn on a runtime that has been shut down")]
fn spawn_through_a_handle_after_shutdown_timeout_panics() {
    let rt = Flavor::MultiThread.build();
    let handle = rt.handle();
    assert_eq!(rt.shutdown_timeout(Duration::from_secs(5)), 0);
    drop(handle.spawn(async {}));
}

/// The same on the current-thread flavour, and for `spawn_blocking`, through a handle kept past
/// `shutdown_timeout`.
#[test]
fn spawning_after_shutdown_timeout_names_the_shutdown_on_both_flavours() {
    Flavors::each(|flavor, rt| {
        let handle = rt.handle();
        assert_eq!(rt.shutdown_timeout(Duration::from_secs(5)), 0);
        let msg = expect_panic(|| handle.spawn(async { 1 }));
        assert!(msg.contains(SHUT_DOWN), "{flavor:?} spawn: {msg}");
        let msg = expect_panic(|| handle.spawn_blocking(|| 1));
        assert!(msg.contains(SHUT_DOWN), "{flavor:?} spawn_blocking: {msg}");
    });
}

/// A task left behind by `shutdown_timeout` (its worker stuck in a long poll) that calls `ferrio::spawn`
/// once its poll goes on gets the "shut down" panic, not a task that would never run.
#[test]
fn spawn_from_a_task_left_behind_by_shutdown_timeout_panics() {
    within(Duration::from_secs(20), || {
        let rt = Runtime::builder()
            .worker_threads(2)
            .thread_name("mis-left")
            .build()
            .unwrap();
        let (in_poll, release) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let message = Arc::new(Mutex::new(None::<String>));
        let (ip, rl, m) = (in_poll.clone(), release.clone(), message.clone());
        let stuck = rt.spawn(async move {
            ip.store(true, SeqCst);
            while !rl.load(SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            let r = std::panic::catch_unwind(|| drop(ferrio::spawn(async {})));
            *m.lock().unwrap() = Some(r.map_or_else(|p| panic_message(&*p), |_| "no panic".into()));
        });
        assert!(wait_until(Duration::from_secs(5), || in_poll.load(SeqCst)));
        assert_eq!(rt.shutdown_timeout(Duration::from_millis(50)), 1);
        release.store(true, SeqCst);
        assert!(wait_until(Duration::from_secs(5), || stuck.is_done()));
        let msg = message.lock().unwrap().clone().expect("the task ran on");
        assert!(msg.contains(SHUT_DOWN), "{msg}");
        assert!(futures_lite::future::block_on(stuck.into_future())
            .unwrap_err()
            .is_cancelled());
    });
}

#[test]
#[should_panic(expected = "outside a runtime")]
fn interval_outside_a_runtime_panics() {
    drop(ferrio::time::interval(Duration::from_millis(1)));
}

/// Every I/O object made outside a runtime panics naming the mistake (the socket it made is closed again:
/// `leaks.rs` counts the descriptors).
#[test]
fn io_objects_outside_a_runtime_panic_naming_the_mistake() {
    let dir = std::env::temp_dir();
    let path = dir.join(format!("ferrio-misuse-{}.sock", std::process::id()));
    type Case = (&'static str, Box<dyn FnOnce()>);
    let cases: Vec<Case> = vec![
        (
            "TcpListener::bind",
            Box::new(|| drop(TcpListener::bind("127.0.0.1:0"))),
        ),
        (
            "UdpSocket::bind",
            Box::new(|| drop(UdpSocket::bind("127.0.0.1:0"))),
        ),
        ("UnixStream::pair", Box::new(|| drop(UnixStream::pair()))),
        (
            "UnixDatagram::pair",
            Box::new(|| drop(UnixDatagram::pair())),
        ),
        (
            "UnixListener::bind",
            Box::new({
                let path = path.clone();
                move || drop(UnixListener::bind(&path))
            }),
        ),
        (
            "AsyncFd::new",
            Box::new(|| {
                let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
                a.set_nonblocking(true).unwrap();
                drop(AsyncFd::new(a))
            }),
        ),
    ];
    for (what, f) in cases {
        let msg = expect_panic(f);
        assert!(msg.contains(IO_OUTSIDE), "{what}: {msg}");
    }
    let _ = std::fs::remove_file(&path);
}

/// `spawn_local` from a blocking-pool job of a current-thread runtime (the job's thread can reach the
/// runtime, but is not its owner) panics naming the thread rule; the awaiter gets the panic.
#[test]
fn spawn_local_from_a_blocking_job_panics_naming_the_thread() {
    let rt = Flavor::CurrentThread.build();
    let err = rt
        .block_on(async { ferrio::spawn_blocking(|| drop(ferrio::spawn_local(async {}))).await })
        .unwrap_err();
    assert!(err.is_panic());
    let msg = panic_message(&*err.into_panic());
    assert!(
        msg.contains("spawn_local called on a thread other than the one that built"),
        "{msg}"
    );
}

/// `shutdown_timeout` called from inside one of the runtime's own tasks (the task owns the `Runtime`):
/// no deadlock and no wait for its own worker: it tells the tasks to stop and panics at once, naming the
/// misuse, and the task ends cancelled.
#[test]
fn shutdown_timeout_inside_its_own_task_panics_at_once() {
    within(Duration::from_secs(20), || {
        let rt = Flavor::MultiThread.build();
        let slot = Arc::new(Mutex::new(None::<Runtime>));
        let message = Arc::new(Mutex::new(None::<String>));
        let (s, m) = (slot.clone(), message.clone());
        let (opener, gate) = support::gate();
        let task = rt.spawn(async move {
            gate.await;
            let rt = s.lock().unwrap().take().expect("the runtime");
            let began = std::time::Instant::now();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                rt.shutdown_timeout(Duration::from_secs(5))
            }));
            assert!(
                began.elapsed() < Duration::from_secs(2),
                "it waited for its own worker"
            );
            *m.lock().unwrap() =
                Some(r.map_or_else(|p| panic_message(&*p), |n| format!("returned {n}")));
        });
        *slot.lock().unwrap() = Some(rt);
        opener.open();
        let r = futures_lite::future::block_on(task.into_future());
        assert!(r.unwrap_err().is_cancelled());
        let msg = message.lock().unwrap().clone().expect("the task ran");
        assert!(
            msg.contains("shutdown_timeout was called from inside one of the runtime's own tasks"),
            "{msg}"
        );
    });
}

/// Dropping a runtime (either flavour) from inside a task of another runtime (either flavour) is allowed:
/// the dropped runtime's tasks are cancelled and dropped, and the dropping task carries on.
#[test]
fn dropping_a_runtime_inside_another_runtimes_task_works() {
    within(Duration::from_secs(30), || {
        for outer_flavor in Flavor::ALL {
            for inner_flavor in Flavor::ALL {
                let outer = outer_flavor.build();
                let inner = inner_flavor.build();
                let drops = DropCounter::new();
                for _ in 0..10 {
                    let g = drops.guard();
                    drop(inner.spawn(async move {
                        let _g = g;
                        std::future::pending::<()>().await
                    }));
                }
                inner.block_on(ferrio::yield_now());
                let d = drops.clone();
                let out = outer.block_on(async move {
                    ferrio::spawn(async move {
                        drop(inner);
                        assert_eq!(d.dropped(), 10, "the dropped runtime's futures");
                        ferrio::yield_now().await;
                        7
                    })
                    .await
                });
                assert_eq!(
                    out.unwrap(),
                    7,
                    "{outer_flavor:?} dropping {inner_flavor:?}"
                );
            }
        }
    });
}

/// A blocking-pool job may drop the runtime that owns the pool (it holds the last reference): the drop
/// does not wait for the job's own thread, so it returns at once, and the job's result is discarded.
#[test]
fn dropping_a_runtime_inside_its_own_blocking_job_returns_promptly() {
    within(Duration::from_secs(20), || {
        for flavor in Flavor::ALL {
            let rt = flavor.build();
            let handle = rt.handle();
            let slot = Arc::new(Mutex::new(Some(rt)));
            let took = Arc::new(Mutex::new(None));
            let (s, t) = (slot.clone(), took.clone());
            let job = handle.spawn_blocking(move || {
                let rt = s.lock().unwrap().take().unwrap();
                let start = Instant::now();
                drop(rt);
                *t.lock().unwrap() = Some(start.elapsed());
            });
            drop(handle);
            let r = futures_lite::future::block_on(job.into_future());
            assert!(r.unwrap_err().is_cancelled(), "{flavor:?}");
            assert!(wait_until(Duration::from_secs(5), || took
                .lock()
                .unwrap()
                .is_some()));
            let took = took.lock().unwrap().unwrap();
            assert!(
                took < Duration::from_secs(5),
                "{flavor:?}: the drop took {took:?}"
            );
        }
    });
}

/// A blocking-pool job of a multi-thread runtime may `block_on` that same runtime (the job's thread is not
/// one of its workers): tasks spawned there run on the workers.
#[test]
fn block_on_the_same_runtime_inside_its_own_blocking_job_works() {
    within(Duration::from_secs(20), || {
        let rt = Arc::new(Flavor::MultiThread.build());
        let r = rt.clone();
        let v = rt.block_on(async move {
            ferrio::spawn_blocking(move || {
                r.block_on(async { ferrio::spawn(async { 21 }).await.unwrap() * 2 })
            })
            .await
            .unwrap()
        });
        assert_eq!(v, 42);
    });
}
