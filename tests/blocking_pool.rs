//! `spawn_blocking` (asyncio.to_thread) on both flavours: values and panics delivered, jobs run in parallel
//! up to `max_blocking_threads` and queue beyond it, cancel before start (never runs; many at once leave the
//! rest in order) and while running (result discarded, done when it returns), idle threads exit after the
//! keep-alive, spawning from a job, and shutdown that waits for running jobs only up to its timeout.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};
use support::{expect_panic, threads_named, wait_until, within, DropCounter, Flavor, Flavors};

#[test]
fn returns_the_value_on_a_pool_thread() {
    Flavors::each(|flavor, rt| {
        let caller = std::thread::current().id();
        let (value, thread) = rt.block_on(async {
            ferrio::spawn_blocking(|| (6 * 7, std::thread::current().id()))
                .await
                .unwrap()
        });
        assert_eq!(value, 42, "{flavor:?}");
        assert_ne!(
            thread, caller,
            "{flavor:?}: the job must not run on the caller"
        );
    });
}

#[test]
fn jobs_run_in_parallel_and_do_not_block_tasks() {
    Flavors::each(|flavor, rt| {
        rt.block_on(async {
            // Four jobs that each wait for the other three: they only finish if they run at the same time.
            let barrier = Arc::new(Barrier::new(4));
            let jobs: Vec<_> = (0..4)
                .map(|i| {
                    let barrier = barrier.clone();
                    ferrio::spawn_blocking(move || {
                        barrier.wait();
                        i
                    })
                })
                .collect();
            // Meanwhile the runtime keeps polling tasks.
            let ticker = ferrio::spawn(async {
                for _ in 0..5 {
                    ferrio::time::sleep(Duration::from_millis(1)).await;
                }
                "ticked"
            });
            assert_eq!(ticker.await.unwrap(), "ticked", "{flavor:?}");
            let mut sum = 0;
            for job in jobs {
                sum += job.await.unwrap();
            }
            assert_eq!(sum, 6, "{flavor:?}");
        });
    });
}

#[test]
fn max_blocking_threads_bounds_concurrency_and_queues_fifo() {
    for flavor in Flavor::ALL {
        let rt = flavor
            .builder()
            .max_blocking_threads(2)
            .thread_name("bq")
            .build()
            .unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        rt.block_on(async {
            let jobs: Vec<_> = (0..8)
                .map(|i| {
                    let (running, peak, order) = (running.clone(), peak.clone(), order.clone());
                    ferrio::spawn_blocking(move || {
                        let now = running.fetch_add(1, SeqCst) + 1;
                        peak.fetch_max(now, SeqCst);
                        order.lock().unwrap().push(i);
                        std::thread::sleep(Duration::from_millis(10));
                        running.fetch_sub(1, SeqCst);
                    })
                })
                .collect();
            for job in jobs {
                job.await.unwrap();
            }
        });
        assert_eq!(peak.load(SeqCst), 2, "{flavor:?}: at most two jobs at once");
        assert!(
            threads_named("bq-blocking").len() <= 2,
            "{flavor:?}: no more than two pool threads"
        );
        // Two threads pop from one FIFO: a job never starts before one queued two places ahead of it.
        let order = order.lock().unwrap().clone();
        for (pos, job) in order.iter().enumerate() {
            assert!(pos.abs_diff(*job) <= 1, "{flavor:?}: start order {order:?}");
        }
    }
}

/// Runs a job that holds a pool thread until the returned sender sends, and returns once it has started
/// (with `max_blocking_threads(1)`, every later job waits in the queue). The job then returns `value`.
fn occupy_a_pool_thread<T: Send + 'static>(value: T) -> (ferrio::Task<T>, mpsc::Sender<()>) {
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let job = ferrio::spawn_blocking(move || {
        started_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        value
    });
    started_rx.recv().unwrap();
    (job, release_tx)
}

#[test]
fn cancel_before_start_never_runs_the_closure() {
    for flavor in Flavor::ALL {
        let rt = flavor.builder().max_blocking_threads(1).build().unwrap();
        let drops = DropCounter::new();
        let ran = Arc::new(AtomicBool::new(false));
        rt.block_on(async {
            let (blocker, release_tx) = occupy_a_pool_thread("blocker");
            // The only pool thread is busy: this job waits in the queue.
            let guard = drops.guard();
            let ran2 = ran.clone();
            let queued = ferrio::spawn_blocking(move || {
                let _guard = guard;
                ran2.store(true, SeqCst);
            });
            assert!(!queued.is_done());
            assert!(queued.cancel());
            assert!(queued.is_cancelled(), "{flavor:?}");
            assert!(
                queued.is_done(),
                "{flavor:?}: a job cancelled in the queue is done at once"
            );
            assert_eq!(
                drops.dropped(),
                1,
                "{flavor:?}: the closure is dropped at once"
            );
            let err = queued.await.unwrap_err();
            assert!(err.is_cancelled(), "{flavor:?}");
            release_tx.send(()).unwrap();
            assert_eq!(blocker.await.unwrap(), "blocker");
        });
        assert!(
            !ran.load(SeqCst),
            "{flavor:?}: a cancelled queued job must never run"
        );
    }
}

/// Many queued jobs, the first and every odd one cancelled (so removals hit the front, the middle and the
/// back of the queue): each cancelled one is done at once and never runs; the rest still run, in the order
/// they were queued.
#[test]
fn cancelling_many_queued_jobs_keeps_the_others_in_order() {
    let cancelled = |i: usize| i == 0 || i % 2 == 1;
    for flavor in Flavor::ALL {
        let rt = flavor.builder().max_blocking_threads(1).build().unwrap();
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        rt.block_on(async {
            let (blocker, release_tx) = occupy_a_pool_thread(());
            let jobs: Vec<_> = (0..1000)
                .map(|i| {
                    let order = order.clone();
                    ferrio::spawn_blocking(move || order.lock().unwrap().push(i))
                })
                .collect();
            // The odd ones last first (the back, then the middle), then the front.
            let victims = (1..1000).step_by(2).rev().chain([0]);
            for i in victims {
                assert!(jobs[i].cancel(), "{flavor:?}: job {i}");
                assert!(jobs[i].is_done() && jobs[i].is_cancelled(), "{flavor:?}");
            }
            release_tx.send(()).unwrap();
            blocker.await.unwrap();
            for (i, job) in jobs.into_iter().enumerate() {
                let result = job.await;
                assert_eq!(result.is_ok(), !cancelled(i), "{flavor:?}: job {i}");
            }
        });
        let expected: Vec<usize> = (0..1000).filter(|&i| !cancelled(i)).collect();
        assert_eq!(*order.lock().unwrap(), expected, "{flavor:?}");
    }
}

#[test]
fn cancel_while_running_discards_the_result_and_is_done_when_it_returns() {
    Flavors::each(|flavor, rt| {
        let output = DropCounter::new();
        rt.block_on(async {
            let (started_tx, started_rx) = mpsc::channel();
            let (release_tx, release_rx) = mpsc::channel::<()>();
            let finished = Arc::new(AtomicBool::new(false));
            let (guard, finished2) = (output.guard(), finished.clone());
            let job = ferrio::spawn_blocking(move || {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                finished2.store(true, SeqCst);
                guard // the output: dropped when discarded
            });
            started_rx.recv().unwrap();
            assert!(job.cancel());
            assert!(job.is_cancelled(), "{flavor:?}");
            assert!(
                !job.is_done(),
                "{flavor:?}: a running job is not done until it returns"
            );
            release_tx.send(()).unwrap();
            assert!(
                wait_until(Duration::from_secs(5), || job.is_done()),
                "{flavor:?}"
            );
            assert!(
                finished.load(SeqCst),
                "{flavor:?}: the closure ran to its end"
            );
            assert_eq!(
                output.dropped(),
                1,
                "{flavor:?}: the discarded output is dropped"
            );
            assert!(
                job.await.err().expect("cancelled").is_cancelled(),
                "{flavor:?}"
            );
        });
    });
}

#[test]
fn a_panicking_job_reports_to_its_awaiter_and_the_pool_carries_on() {
    Flavors::each(|flavor, rt| {
        let rt2 = rt.handle();
        rt.block_on(async move {
            let err = ferrio::spawn_blocking(|| -> u8 { panic!("job exploded") })
                .await
                .unwrap_err();
            assert!(err.is_panic(), "{flavor:?}");
            assert_eq!(
                support::panic_message(&*err.into_panic()),
                "job exploded",
                "{flavor:?}"
            );
            assert_eq!(rt2.spawn_blocking(|| 5).await.unwrap(), 5, "{flavor:?}");
        });
    });
}

#[test]
fn a_job_can_spawn_onto_its_runtime_and_block_on_another() {
    Flavors::each(|flavor, rt| {
        let value = rt.block_on(async {
            ferrio::spawn_blocking(|| {
                // `spawn` from the pool thread reaches the runtime that owns the pool...
                let task = ferrio::spawn(async { 20 });
                // ...and the thread may drive another runtime, since it is no worker.
                let other = ferrio::Runtime::builder().current_thread().build().unwrap();
                other.block_on(async { 22 }) + other.block_on(async { task.await }).unwrap()
            })
            .await
            .unwrap()
        });
        assert_eq!(value, 42, "{flavor:?}");
    });
}

#[test]
fn idle_threads_exit_after_the_keep_alive_and_start_again_on_demand() {
    let rt = ferrio::Runtime::builder()
        .worker_threads(1)
        .thread_name("ka")
        .thread_keep_alive(Duration::from_millis(50))
        .build()
        .unwrap();
    rt.block_on(async { ferrio::spawn_blocking(|| ()).await.unwrap() });
    assert!(
        wait_until(Duration::from_secs(5), || threads_named("ka-blocking")
            .is_empty()),
        "the idle pool thread must exit after its keep-alive"
    );
    let again = rt.block_on(async { ferrio::spawn_blocking(|| 1).await.unwrap() });
    assert_eq!(again, 1);
}

#[test]
fn shutdown_timeout_leaves_a_long_job_behind_and_returns() {
    for flavor in Flavor::ALL {
        let rt = flavor.build();
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let job = rt.spawn_blocking(move || {
            started_tx.send(()).unwrap();
            let _ = release_rx.recv();
        });
        started_rx.recv().unwrap();
        let begin = Instant::now();
        let left = within(Duration::from_secs(10), move || {
            rt.shutdown_timeout(Duration::from_millis(100))
        });
        let took = begin.elapsed();
        assert_eq!(
            left, 1,
            "{flavor:?}: the running job's thread is left behind"
        );
        assert!(took >= Duration::from_millis(100), "{flavor:?}: {took:?}");
        assert!(took < Duration::from_secs(5), "{flavor:?}: {took:?}");
        assert!(job.is_cancelled(), "{flavor:?}");
        release_tx.send(()).unwrap();
        assert!(
            wait_until(Duration::from_secs(5), || job.is_done()),
            "{flavor:?}"
        );
    }
}

#[test]
fn shutdown_waits_for_short_jobs_and_drops_queued_ones_unrun() {
    for flavor in Flavor::ALL {
        let rt = flavor.builder().max_blocking_threads(1).build().unwrap();
        let finished = Arc::new(AtomicBool::new(false));
        let (started_tx, started_rx) = mpsc::channel();
        let finished2 = finished.clone();
        let running = rt.spawn_blocking(move || {
            started_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            finished2.store(true, SeqCst);
        });
        started_rx.recv().unwrap();
        let drops = DropCounter::new();
        let queued: Vec<_> = (0..3)
            .map(|_| {
                let guard = drops.guard();
                rt.spawn_blocking(move || {
                    let _guard = guard;
                    panic!("a queued job must not run after shutdown")
                })
            })
            .collect();
        let left = rt.shutdown_timeout(Duration::from_secs(5));
        assert_eq!(left, 0, "{flavor:?}");
        assert!(
            finished.load(SeqCst),
            "{flavor:?}: shutdown waited for the running job"
        );
        assert!(running.is_done());
        assert_eq!(
            drops.dropped(),
            3,
            "{flavor:?}: queued closures dropped unrun"
        );
        for task in queued {
            assert!(task.is_done() && task.is_cancelled(), "{flavor:?}");
        }
    }
}

#[test]
fn spawn_blocking_outside_a_runtime_names_the_mistake() {
    let msg = expect_panic(|| ferrio::spawn_blocking(|| ()));
    assert!(
        msg.contains("spawn_blocking called outside a runtime"),
        "{msg}"
    );
}

#[test]
fn spawn_blocking_from_a_plain_thread_through_a_handle() {
    let rt = Flavor::MultiThread.build();
    let handle = rt.handle();
    let task = std::thread::spawn(move || handle.spawn_blocking(|| "from a plain thread"))
        .join()
        .unwrap();
    assert_eq!(
        rt.block_on(async { task.await }).unwrap(),
        "from a plain thread"
    );
}

#[test]
fn spawn_blocking_after_shutdown_names_the_mistake() {
    let rt = Flavor::MultiThread.build();
    let handle = rt.handle();
    drop(rt);
    let msg = expect_panic(|| handle.spawn_blocking(|| ()));
    assert!(msg.contains("has been shut down"), "{msg}");
}

#[test]
fn max_blocking_threads_zero_is_rejected() {
    let err = ferrio::Runtime::builder()
        .max_blocking_threads(0)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("max_blocking_threads(0)"), "{err}");
}

#[test]
fn a_job_that_drops_its_own_runtime_does_not_wait_for_itself() {
    for flavor in Flavor::ALL {
        let rt = flavor.build();
        let handle = rt.handle();
        let begin = Instant::now();
        let left = within(Duration::from_secs(10), move || {
            let job = handle.spawn_blocking(move || rt.shutdown_timeout(Duration::from_secs(5)));
            // Wait for the job from a plain thread (the runtime is gone once the job has run).
            while !job.is_done() {
                std::thread::sleep(Duration::from_millis(1));
            }
            job
        });
        assert!(
            begin.elapsed() < Duration::from_secs(3),
            "{flavor:?}: shutting down from a pool thread waited for that thread ({:?})",
            begin.elapsed()
        );
        // The job itself ran to its end; its result was discarded by the shutdown it performed.
        assert!(left.is_done(), "{flavor:?}");
    }
}
