//! `shutdown_timeout`: it returns, at once with 0 when nothing is stuck (every future dropped) and after about
//! the timeout with the number of workers stuck in a poll, leaving the stuck worker behind (its task dropped
//! once the poll returns); and it releases every file descriptor of the runtime. Shutdown by `run` and
//! `drop`: `rt_shutdown.rs`; a stuck blocking job as well, and the threads left afterwards: `shutdown.rs`.

mod support;

use ferrio::{yield_now, Runtime};
use std::future::IntoFuture;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{gates, threads_named, wait_until, within, DropCounter, Flavor, Flavors};

/// `shutdown_timeout` returns: promptly with 0 when nothing is stuck (every future dropped), and after about
/// the timeout with the number of workers stuck in a poll; the stuck task is dropped once its poll returns.
#[test]
fn shutdown_timeout_returns() {
    within(Duration::from_secs(20), || {
        // Nothing stuck.
        Flavors::each(|flavor, rt| {
            let drops = DropCounter::new();
            let (openers, gs) = gates(5);
            for g in gs {
                let guard = drops.guard();
                drop(rt.spawn(async move {
                    let _guard = guard;
                    g.await;
                }));
            }
            rt.block_on(yield_now());
            let start = Instant::now();
            assert_eq!(rt.shutdown_timeout(Duration::from_secs(5)), 0, "{flavor:?}");
            assert!(start.elapsed() < Duration::from_secs(2), "{flavor:?}");
            assert_eq!(drops.dropped(), 5, "{flavor:?}");
            drop(openers);
        });

        // One worker stuck in a long poll.
        let rt = Runtime::builder()
            .worker_threads(2)
            .thread_name("sd-chk")
            .build()
            .unwrap();
        let drops = DropCounter::new();
        let in_poll = Arc::new(AtomicBool::new(false));
        let release = Arc::new(AtomicBool::new(false));
        let guard = drops.guard();
        let (ip, rl) = (in_poll.clone(), release.clone());
        let stuck = rt.spawn(async move {
            let _guard = guard;
            ip.store(true, SeqCst);
            while !rl.load(SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            yield_now().await;
            unreachable!("polled again after shutdown");
        });
        let other_drops = DropCounter::new();
        let g2 = other_drops.guard();
        drop(rt.spawn(async move {
            let _g = g2;
            std::future::pending::<()>().await
        }));
        assert!(wait_until(Duration::from_secs(5), || in_poll.load(SeqCst)));
        let start = Instant::now();
        let left = rt.shutdown_timeout(Duration::from_millis(100));
        let took = start.elapsed();
        assert_eq!(left, 1, "one worker is stuck in a poll");
        assert!(
            took >= Duration::from_millis(90),
            "returned too early: {took:?}"
        );
        assert!(took < Duration::from_secs(2), "returned too late: {took:?}");
        assert_eq!(
            other_drops.dropped(),
            1,
            "idle task not dropped by shutdown_timeout"
        );
        assert!(stuck.is_cancelled());
        assert_eq!(drops.dropped(), 0);
        release.store(true, SeqCst);
        assert!(
            wait_until(Duration::from_secs(5), || drops.dropped() == 1),
            "the stuck task was not dropped after its poll returned"
        );
        assert!(wait_until(Duration::from_secs(5), || stuck.is_done()));
        assert!(futures_lite::future::block_on(stuck.into_future())
            .unwrap_err()
            .is_cancelled());
        assert!(
            wait_until(Duration::from_secs(5), || threads_named("sd-chk")
                .is_empty()),
            "the left-behind worker did not exit"
        );
    });
}

/// Regression (review finding): `shutdown_timeout` used to `mem::forget` the runtime, leaking its epoll,
/// eventfd and timerfd every time.
#[test]
fn shutdown_timeout_releases_every_file_descriptor() {
    fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd").unwrap().count()
    }
    // Warm up whatever the test harness opens lazily.
    let rt = Flavor::MultiThread.build();
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    let before = open_fds();
    for _ in 0..20 {
        let rt = Flavor::MultiThread.build();
        rt.block_on(async { ferrio::spawn(async { 1 }).await.unwrap() });
        assert_eq!(rt.shutdown_timeout(std::time::Duration::from_secs(5)), 0);
    }
    let after = open_fds();
    // Other tests run in parallel threads of this process and may hold a few fds of their own.
    assert!(
        after <= before + 6,
        "fds grew from {before} to {after} over 20 runtimes"
    );
}
