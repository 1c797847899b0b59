//! `Runtime::stats()`: counters per worker and in total, on both flavours. Tasks spawned, completed,
//! cancelled and panicked add up; polls, LIFO hits, steals, parks, reactor turns and events, timers fired
//! and budget-forced yields move when the matching thing happens; spawns from plain threads count as
//! foreign; a snapshot can be taken from another thread while the runtime runs.
//!
//! With the `stats` feature off every counter reads zero: the tests then only check that.

mod support;

use ferrio::io::{AsyncReadExt, AsyncWriteExt};
use std::time::{Duration, Instant};
use support::{Flavor, Flavors};

fn enabled() -> bool {
    ferrio::RuntimeStats::enabled()
}

#[test]
fn task_outcomes_add_up_on_both_flavours() {
    Flavors::each(|flavor, rt| {
        let before = rt.stats().total;
        rt.block_on(async {
            let ok: Vec<_> = (0..100).map(|i| ferrio::spawn(async move { i })).collect();
            let panics: Vec<_> = (0..5)
                .map(|_| ferrio::spawn(async { panic!("counted") }))
                .collect();
            let pending: Vec<_> = (0..7)
                .map(|_| ferrio::spawn(std::future::pending::<()>()))
                .collect();
            ferrio::yield_now().await;
            for t in &pending {
                assert!(t.cancel());
            }
            for t in ok {
                t.await.unwrap();
            }
            for t in panics {
                assert!(t.await.unwrap_err().is_panic());
            }
            for t in pending {
                assert!(t.await.unwrap_err().is_cancelled());
            }
        });
        let stats = rt.stats();
        let d = stats.total;
        if !enabled() {
            assert_eq!(d, ferrio::WorkerStats::default());
            return;
        }
        let interval = d.since(&before);
        assert_eq!(interval.spawned, 112, "{flavor:?}: {stats:#?}");
        assert_eq!(interval.completed, 100, "{flavor:?}");
        assert_eq!(interval.panicked, 5, "{flavor:?}");
        assert_eq!(interval.cancelled, 7, "{flavor:?}");
        assert_eq!(interval.local_queue_depth, d.local_queue_depth);
        // Passed the wrong way round, the counters read 0 rather than wrapping or panicking.
        assert_eq!(before.since(&d).spawned, 0, "{flavor:?}");
        assert!(d.polls >= 112, "{flavor:?}: every task was polled: {d:?}");
        let expected_workers = if flavor == Flavor::MultiThread { 2 } else { 1 };
        assert_eq!(stats.workers.len(), expected_workers);
        // The total is the sum of its parts.
        let polls: u64 = stats.workers.iter().map(|w| w.polls).sum::<u64>() + stats.foreign.polls;
        assert_eq!(polls, d.polls);
    });
}

#[test]
fn timers_reactor_and_parks_are_counted() {
    Flavors::each(|flavor, rt| {
        rt.block_on(async {
            ferrio::spawn(async {
                for _ in 0..10 {
                    ferrio::time::sleep(Duration::from_millis(1)).await;
                }
                // A socket round trip: readiness events go through the reactor.
                let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let server = ferrio::spawn(async move {
                    let (mut s, _) = listener.accept().await.unwrap();
                    let mut b = [0u8; 4];
                    s.read_exact(&mut b).await.unwrap();
                    s.write_all(&b).await.unwrap();
                });
                let mut c = ferrio::net::TcpStream::connect(addr).await.unwrap();
                c.write_all(b"ping").await.unwrap();
                let mut b = [0u8; 4];
                c.read_exact(&mut b).await.unwrap();
                server.await.unwrap();
            })
            .await
            .unwrap();
        });
        let d = rt.stats().total;
        if !enabled() {
            return;
        }
        assert!(d.timers_fired >= 10, "{flavor:?}: {d:?}");
        assert!(
            d.reactor_turns > 0 && d.reactor_events > 0,
            "{flavor:?}: {d:?}"
        );
        assert!(d.parks > 0 && d.unparks > 0, "{flavor:?}: {d:?}");
        assert!(d.events_per_turn() > 0.0);
    });
}

#[test]
fn lifo_hits_and_forced_yields_on_the_multi_thread_flavour() {
    let rt = Flavor::MultiThread.build();
    rt.block_on(async {
        ferrio::spawn(async {
            // A task that spawns and awaits another: the child's completion wakes the parent from inside
            // the child's poll, which puts the parent in the LIFO slot.
            for _ in 0..50 {
                ferrio::spawn(async {}).await.unwrap();
            }
            // Awaiting a Promise that is already set charges the budget: 1000 awaits must be made to yield.
            let promise = ferrio::sync::Promise::new();
            promise.set_result(1u8).unwrap();
            for _ in 0..1000 {
                (&promise).await.unwrap();
            }
        })
        .await
        .unwrap();
    });
    let d = rt.stats().total;
    if !enabled() {
        return;
    }
    assert!(d.lifo_hits > 0, "{d:?}");
    assert!(d.budget_forced_yields >= 1, "{d:?}");
}

#[test]
fn an_idle_worker_steals_from_a_busy_one() {
    let rt = Flavor::MultiThread.build();
    rt.block_on(async {
        ferrio::spawn(async {
            let tasks: Vec<_> = (0..64)
                .map(|_| {
                    ferrio::spawn(async {
                        let end = Instant::now() + Duration::from_micros(200);
                        while Instant::now() < end {}
                    })
                })
                .collect();
            // Keep this worker busy: the queued tasks can only run elsewhere meanwhile.
            let end = Instant::now() + Duration::from_millis(50);
            while Instant::now() < end {}
            for t in tasks {
                t.await.unwrap();
            }
        })
        .await
        .unwrap();
    });
    let d = rt.stats().total;
    if !enabled() {
        return;
    }
    assert!(d.steal_attempts > 0, "{d:?}");
    assert!(d.steal_successes > 0 && d.tasks_stolen > 0, "{d:?}");
}

#[test]
fn spawns_from_plain_threads_count_as_foreign_and_snapshots_work_from_anywhere() {
    let rt = Flavor::MultiThread.build();
    let handle = rt.handle();
    let tasks: Vec<_> = std::thread::spawn(move || {
        let tasks: Vec<_> = (0..10).map(|i| handle.spawn(async move { i })).collect();
        // A snapshot from a thread that is not part of the runtime.
        let stats = handle.stats();
        assert_eq!(stats.workers.len(), 2);
        tasks
    })
    .join()
    .unwrap();
    rt.block_on(async {
        for t in tasks {
            t.await.unwrap();
        }
    });
    let stats = rt.stats();
    if !enabled() {
        return;
    }
    assert_eq!(stats.foreign.spawned, 10, "{stats:#?}");
    assert_eq!(stats.total.completed, 10, "{stats:#?}");
}
