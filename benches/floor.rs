//! Physical floors for the scheduler benchmarks, measured with no runtime at all (see BENCHMARKS.md).
//!
//! - `handoff_cross_core`: one thread boxes 10,000 tiny closures (each holding a clone of a shared latch, as
//!   the spawn_many tasks do) and pushes them through a lock-free queue; a second thread pops, runs (counts
//!   the latch down) and frees them. This is the least any scheduler pays per task when the task is created
//!   on one core and run on another.
//! - `same_core`: the same closures boxed, run and freed on one thread: the floor when tasks stay local.
//! - `ping_pong_work`: what one ping_pong round of `benches/scheduler.rs` does besides scheduling, on one
//!   thread: two `futures-channel` oneshot pairs created, each receiver polled once before its sender sends
//!   (registering a waker, as the awaiting task does) and once after, the latch counted down, plus one
//!   256-byte allocation freed per task (two per round; every runtime allocates its tasks). A no-op waker
//!   stands in for the tasks' wakers, so waking costs nothing here: that part belongs to the runtime.

mod support;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use crossbeam_queue::SegQueue;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

const N: usize = 10_000;

type Job = Box<dyn FnOnce() + Send>;

fn job(latch: &Arc<AtomicUsize>) -> Job {
    let latch = latch.clone();
    Box::new(move || {
        latch.fetch_sub(1, Ordering::AcqRel);
    })
}

/// handoff_cross_core: create on one core, run and free on the other.
fn handoff_cross_core(c: &mut Criterion) {
    let mut group = c.benchmark_group("floor");
    group.throughput(Throughput::Elements(N as u64));
    let queue = Arc::new(SegQueue::<Job>::new());
    let stop = Arc::new(AtomicBool::new(false));
    let consumer = {
        let (queue, stop) = (queue.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match queue.pop() {
                    Some(job) => job(),
                    None => std::hint::spin_loop(),
                }
            }
        })
    };
    group.bench_function("handoff_cross_core", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let latch = Arc::new(AtomicUsize::new(N));
                for _ in 0..N {
                    queue.push(job(&latch));
                }
                while latch.load(Ordering::Acquire) != 0 {
                    std::hint::spin_loop();
                }
            }
            start.elapsed()
        })
    });
    stop.store(true, Ordering::Relaxed);
    consumer.join().unwrap();

    // same_core: create, run and free on one thread.
    group.bench_function("same_core", |b| {
        b.iter(|| {
            let latch = Arc::new(AtomicUsize::new(N));
            let mut jobs: Vec<Job> = Vec::with_capacity(N);
            for _ in 0..N {
                jobs.push(job(&latch));
            }
            for job in jobs {
                job();
            }
            assert_eq!(latch.load(Ordering::Relaxed), 0);
        })
    });
    group.finish();
}

const ROUNDS: usize = 1_000;

/// ping_pong_work: the channel, latch and allocation work of 1,000 ping_pong rounds, no runtime.
fn ping_pong_work(c: &mut Criterion) {
    use futures_channel::oneshot;
    use std::future::Future;
    use std::hint::black_box;
    use std::pin::Pin;
    use std::task::{Context, Waker};
    let mut group = c.benchmark_group("floor");
    group.throughput(Throughput::Elements(ROUNDS as u64));
    group.bench_function("ping_pong_work", |b| {
        let mut cx = Context::from_waker(Waker::noop());
        b.iter(|| {
            let latch = Arc::new(AtomicUsize::new(ROUNDS));
            for _ in 0..ROUNDS {
                let round_task = black_box(Box::new([0u64; 32]));
                let partner_task = black_box(Box::new([0u64; 32]));
                let (ping_tx, mut ping_rx) = oneshot::channel::<()>();
                let (pong_tx, mut pong_rx) = oneshot::channel::<()>();
                // The partner waits for the ping; the round sends it and waits for the pong.
                assert!(Pin::new(&mut ping_rx).poll(&mut cx).is_pending());
                ping_tx.send(()).unwrap();
                assert!(Pin::new(&mut pong_rx).poll(&mut cx).is_pending());
                assert!(Pin::new(&mut ping_rx).poll(&mut cx).is_ready());
                pong_tx.send(()).unwrap();
                assert!(Pin::new(&mut pong_rx).poll(&mut cx).is_ready());
                latch.fetch_sub(1, Ordering::AcqRel);
                drop((ping_rx, pong_rx, round_task, partner_task));
            }
            assert_eq!(latch.load(Ordering::Relaxed), 0);
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = support::config();
    targets = handoff_cross_core, ping_pong_work
}
criterion_main!(benches);
