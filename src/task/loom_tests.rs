//! Loom models of the task state machine: wakes, cancels, completion and handle drops racing on several
//! threads. Each model checks that the future is dropped exactly once and that the task is freed (a loom
//! `Arc` inside the future makes loom report a leaked task).

use super::*;
use loom::sync::atomic::AtomicUsize;
use loom::sync::{Arc, Mutex};
use loom::thread;
use std::pin::Pin;
use std::sync::atomic::Ordering::SeqCst;
use std::task::{Context, Poll, Waker};

use super::testing::QueueScheduler;

/// Pending on the first poll (publishing its waker), ready on the next. Counts its drops.
struct TwoStep {
    polled: bool,
    waker_slot: Arc<Mutex<Option<Waker>>>,
    drops: Arc<AtomicUsize>,
    _leak_check: Arc<()>,
}

impl Future for TwoStep {
    type Output = u32;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        if self.polled {
            return Poll::Ready(7);
        }
        self.polled = true;
        *self.waker_slot.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for TwoStep {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
    }
}

fn spawn_two_step(
    sched: &QueueScheduler,
) -> (Task<u32>, Arc<Mutex<Option<Waker>>>, Arc<AtomicUsize>) {
    let waker_slot = Arc::new(Mutex::new(None));
    let drops = Arc::new(AtomicUsize::new(0));
    let future = TwoStep {
        polled: false,
        waker_slot: waker_slot.clone(),
        drops: drops.clone(),
        _leak_check: Arc::new(()),
    };
    let raw = RawTask::new(future, sched.clone(), TaskId::next());
    raw.drop_reference(); // no owned list in these models
    sched.schedule(Notified::from_raw(raw));
    (Task::from_raw(raw), waker_slot, drops)
}

/// Polls the join once. Through `shield`: dropping a plain join future early would cancel the task.
fn poll_join(task: &mut Task<u32>) -> Poll<Result<u32, TaskError>> {
    let mut cx = Context::from_waker(Waker::noop());
    Pin::new(&mut shield(task)).poll(&mut cx)
}

/// A wake from another thread races with the first poll; the task completes exactly once.
#[test]
fn wake_races_with_poll() {
    loom::model(|| {
        let sched = QueueScheduler::new();
        let (task, waker_slot, drops) = spawn_two_step(&sched);
        let s2 = sched.clone();
        let runner = thread::spawn(move || s2.run_all());
        let waker = loop {
            if let Some(w) = waker_slot.lock().unwrap().take() {
                break w;
            }
            thread::yield_now();
        };
        waker.wake();
        runner.join().unwrap();
        sched.run_all();
        assert!(task.is_done());
        assert_eq!(drops.load(SeqCst), 1);
        drop(task);
    });
}

/// `cancel` from another thread races with polling and with the handle being dropped.
#[test]
fn cancel_races_with_poll_and_handle_drop() {
    loom::model(|| {
        let sched = QueueScheduler::new();
        let (task, waker_slot, drops) = spawn_two_step(&sched);
        let task = Arc::new(Mutex::new(Some(task)));
        let s2 = sched.clone();
        let runner = thread::spawn(move || {
            s2.run_all();
            if let Some(w) = waker_slot.lock().unwrap().take() {
                w.wake();
            }
            s2.run_all();
        });
        let t2 = task.clone();
        let canceller = thread::spawn(move || {
            if let Some(t) = t2.lock().unwrap().as_ref() {
                t.cancel();
            }
        });
        canceller.join().unwrap();
        drop(task.lock().unwrap().take()); // the handle goes while the task may still run
        runner.join().unwrap();
        sched.run_all();
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// The join waker is registered while the task completes on another thread: the awaiter either sees the
/// output at once or is woken; in both cases the output is taken exactly once.
#[test]
fn join_waker_races_with_completion() {
    loom::model(|| {
        let sched = QueueScheduler::new();
        let (mut task, waker_slot, drops) = spawn_two_step(&sched);
        sched.run_all(); // first poll: pending, waker published
        let waker = waker_slot.lock().unwrap().take().unwrap();
        let s2 = sched.clone();
        let completer = thread::spawn(move || {
            waker.wake();
            s2.run_all();
        });
        let first = poll_join(&mut task);
        completer.join().unwrap();
        let result = match first {
            Poll::Ready(r) => r,
            Poll::Pending => match poll_join(&mut task) {
                Poll::Ready(r) => r,
                Poll::Pending => panic!("completed task not ready"),
            },
        };
        assert_eq!(result.unwrap(), 7);
        assert_eq!(drops.load(SeqCst), 1);
    });
}

/// The handle is dropped, a spare clone of the waker is dropped and the task completes, on three threads.
/// Depending on the order, the one-step paths (`drop_join_handle_fast`, `transition_to_complete_and_free`)
/// are taken or refused; in every order the future is dropped once and the cell freed once (the scheduler
/// hook inside it is a loom `Arc`, which loom reports if it leaks).
#[test]
fn handle_drop_waker_drop_and_completion_race() {
    loom::model(|| {
        let sched = QueueScheduler::new();
        let (task, waker_slot, drops) = spawn_two_step(&sched);
        sched.run_all(); // first poll: pending, waker published
        let waker = waker_slot.lock().unwrap().take().unwrap();
        let spare = waker.clone();
        let s2 = sched.clone();
        let completer = thread::spawn(move || {
            waker.wake();
            s2.run_all();
        });
        let dropper = thread::spawn(move || drop(spare));
        drop(task);
        completer.join().unwrap();
        dropper.join().unwrap();
        sched.run_all();
        assert_eq!(drops.load(SeqCst), 1);
    });
}
