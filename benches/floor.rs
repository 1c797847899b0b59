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
//! - `ping_pong_min_executor`: the whole ping_pong workload of `benches/scheduler.rs` on the least executor
//!   that can run it (`min_executor` below): one allocation per task, a waker that points at the task, a
//!   `queued` flag so a task is queued at most once, a thread-local FIFO queue. No join handle, no
//!   cancellation, no owned-task list, no panic catching, no reactor, no wakes from other threads: what is
//!   left is the least a single-thread scheduler pays per spawn, wake and poll on this machine.

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

/// ping_pong_min_executor: 1,000 ping_pong rounds (the scheduler bench's code, with `min_executor::spawn`).
fn ping_pong_min_executor(c: &mut Criterion) {
    use futures_channel::oneshot;
    let mut group = c.benchmark_group("floor");
    group.throughput(Throughput::Elements(ROUNDS as u64));
    group.bench_function("ping_pong_min_executor", |b| {
        b.iter(|| {
            let latch = Arc::new(AtomicUsize::new(ROUNDS));
            let root_latch = latch.clone();
            min_executor::spawn(async move {
                for _ in 0..ROUNDS {
                    let latch = root_latch.clone();
                    min_executor::spawn(async move {
                        let (ping_tx, ping_rx) = oneshot::channel::<()>();
                        let (pong_tx, pong_rx) = oneshot::channel::<()>();
                        min_executor::spawn(async move {
                            ping_rx.await.expect("ping sender dropped");
                            pong_tx.send(()).expect("pong receiver dropped");
                        });
                        ping_tx.send(()).expect("ping receiver dropped");
                        pong_rx.await.expect("pong sender dropped");
                        latch.fetch_sub(1, Ordering::AcqRel);
                    });
                }
            });
            min_executor::run_until_idle();
            assert_eq!(latch.load(Ordering::Relaxed), 0);
        })
    });
    group.finish();
}

/// The least single-thread executor that runs ping_pong correctly (see the module docs): tasks are
/// `Arc<MinTask<F>>` (one allocation), the waker is the task's `Arc` with a per-type vtable (creating the
/// poll's waker costs nothing, cloning it one increment), and the run queue is thread-local: every spawn
/// and wake must happen on the thread that calls `run_until_idle` (this floor checks that it does).
mod min_executor {
    use std::cell::{RefCell, UnsafeCell};
    use std::collections::VecDeque;
    use std::future::Future;
    use std::mem::ManuallyDrop;
    use std::pin::Pin;
    use std::sync::atomic::AtomicBool;
    use std::sync::atomic::Ordering::AcqRel;
    use std::sync::Arc;
    use std::task::{Context, RawWaker, RawWakerVTable, Waker};
    use std::thread::ThreadId;

    trait Runnable {
        fn run(self: Arc<Self>);
    }

    thread_local! {
        static QUEUE: RefCell<VecDeque<Arc<dyn Runnable>>> = const { RefCell::new(VecDeque::new()) };
        static HOME: ThreadId = std::thread::current().id();
    }

    /// # Invariant
    /// `future` is only touched by `run`, which pops the task from this thread's queue; `queued` keeps the
    /// task in the queue at most once, so two `run`s of one task never overlap.
    struct MinTask<F> {
        queued: AtomicBool,
        future: UnsafeCell<Option<F>>,
        home: ThreadId,
    }

    // SAFETY: the future is only accessed by `run` on the home thread (the invariant above; `wake` checks
    // the thread before queueing), so sharing the `Arc` between threads never shares the future.
    unsafe impl<F: Send> Sync for MinTask<F> {}

    pub fn spawn<F: Future<Output = ()> + Send + 'static>(future: F) {
        let task = Arc::new(MinTask {
            queued: AtomicBool::new(true),
            future: UnsafeCell::new(Some(future)),
            home: HOME.with(|h| *h),
        });
        QUEUE.with(|q| q.borrow_mut().push_back(task));
    }

    /// Runs queued tasks until none is left.
    pub fn run_until_idle() {
        while let Some(task) = QUEUE.with(|q| q.borrow_mut().pop_front()) {
            task.run();
        }
    }

    impl<F: Future<Output = ()> + Send + 'static> MinTask<F> {
        const VTABLE: RawWakerVTable =
            RawWakerVTable::new(Self::clone, Self::wake, Self::wake_by_ref, Self::drop);

        fn schedule(self: &Arc<Self>) {
            assert_eq!(
                self.home,
                std::thread::current().id(),
                "min_executor: woken from another thread"
            );
            if !self.queued.swap(true, AcqRel) {
                QUEUE.with(|q| q.borrow_mut().push_back(self.clone()));
            }
        }

        unsafe fn clone(data: *const ()) -> RawWaker {
            // SAFETY: `data` came from `Arc::into_raw` (or `Arc::as_ptr` of a live task) of this type.
            unsafe { Arc::increment_strong_count(data as *const Self) };
            RawWaker::new(data, &Self::VTABLE)
        }

        unsafe fn wake(data: *const ()) {
            // SAFETY: a waker owns one strong count, which this consumes.
            let task = unsafe { Arc::from_raw(data as *const Self) };
            task.schedule();
        }

        unsafe fn wake_by_ref(data: *const ()) {
            // SAFETY: the waker's strong count keeps the task alive; `ManuallyDrop` leaves it untouched.
            let task = ManuallyDrop::new(unsafe { Arc::from_raw(data as *const Self) });
            task.schedule();
        }

        unsafe fn drop(data: *const ()) {
            // SAFETY: a waker owns one strong count, which this releases.
            drop(unsafe { Arc::from_raw(data as *const Self) });
        }
    }

    impl<F: Future<Output = ()> + Send + 'static> Runnable for MinTask<F> {
        fn run(self: Arc<Self>) {
            self.queued
                .store(false, std::sync::atomic::Ordering::Release);
            // A borrowed waker: `self` keeps the task alive for the poll, so it owns no count of its own.
            // SAFETY: the vtable matches `Self`, and the waker is never dropped (`ManuallyDrop`).
            let waker = ManuallyDrop::new(unsafe {
                Waker::from_raw(RawWaker::new(
                    Arc::as_ptr(&self) as *const (),
                    &Self::VTABLE,
                ))
            });
            let mut cx = Context::from_waker(&waker);
            // SAFETY: the invariant on `MinTask`: only this `run` touches the future now.
            let slot = unsafe { &mut *self.future.get() };
            if let Some(future) = slot.as_mut() {
                // SAFETY: the future lives inside the `Arc` allocation and is never moved out of it.
                let future = unsafe { Pin::new_unchecked(future) };
                if future.poll(&mut cx).is_ready() {
                    *slot = None;
                }
            }
        }
    }
}

criterion_group! {
    name = benches;
    config = support::config();
    targets = handoff_cross_core, ping_pong_work, ping_pong_min_executor
}
criterion_main!(benches);
