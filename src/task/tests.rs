//! Unit tests of the task system driven by a plain run queue: every harness path (poll, wake by value and
//! by reference, cancel while idle / queued / running, join with and without a waker, panics, detach) with
//! drop counts. These are the tests Miri runs over the unsafe task code.

use super::*;
use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

type Queue = super::testing::QueueScheduler;

/// Counts how many times it was dropped.
struct Guard(Arc<AtomicUsize>);
impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Pending until `open` is set, publishing its waker; yields `value`.
struct Gate {
    open: Arc<Mutex<(bool, Option<Waker>)>>,
    value: u64,
    _guard: Guard,
}

impl Future for Gate {
    type Output = u64;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        let mut g = self.open.lock().unwrap();
        if g.0 {
            return Poll::Ready(self.value);
        }
        g.1 = Some(cx.waker().clone());
        Poll::Pending
    }
}

fn spawn<F: Future + 'static>(q: &Queue, f: F) -> Task<F::Output> {
    let raw = RawTask::new(f, q.clone(), TaskId::next());
    raw.drop_reference(); // no owned list here
    q.schedule(Notified::from_raw(raw));
    Task::from_raw(raw)
}

type GateState = Arc<Mutex<(bool, Option<Waker>)>>;

fn gate(q: &Queue, value: u64) -> (Task<u64>, GateState, Arc<AtomicUsize>) {
    let open = Arc::new(Mutex::new((false, None)));
    let drops = Arc::new(AtomicUsize::new(0));
    let task = spawn(
        q,
        Gate {
            open: open.clone(),
            value,
            _guard: Guard(drops.clone()),
        },
    );
    (task, open, drops)
}

fn open(state: &GateState) {
    let waker = {
        let mut g = state.lock().unwrap();
        g.0 = true;
        g.1.take()
    };
    if let Some(w) = waker {
        w.wake();
    }
}

fn poll_shielded<T>(task: &mut Task<T>, waker: &Waker) -> Poll<Result<T, TaskError>> {
    Pin::new(&mut shield(task)).poll(&mut Context::from_waker(waker))
}

#[test]
fn completes_and_delivers_output_to_a_waiting_joiner() {
    let q = Queue::new();
    let (mut task, state, drops) = gate(&q, 5);
    assert_eq!(q.run_all(), 1);
    let woken = Arc::new(AtomicUsize::new(0));
    let waker = counting_waker(woken.clone());
    assert!(poll_shielded(&mut task, &waker).is_pending());
    open(&state);
    assert_eq!(q.run_all(), 1);
    assert_eq!(woken.load(SeqCst), 1, "join waker woken on completion");
    assert!(task.is_done() && !task.is_cancelled());
    assert_eq!(drops.load(SeqCst), 1, "future dropped when it completed");
    match poll_shielded(&mut task, &waker) {
        Poll::Ready(Ok(5)) => {}
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn cancel_idle_task_drops_future_on_next_turn() {
    let q = Queue::new();
    let (mut task, _state, drops) = gate(&q, 1);
    q.run_all();
    assert!(task.cancel());
    assert!(task.is_cancelled() && !task.is_done());
    assert_eq!(drops.load(SeqCst), 0, "not dropped inside cancel()");
    assert_eq!(q.run_all(), 1);
    assert!(task.is_done());
    assert_eq!(drops.load(SeqCst), 1);
    let Poll::Ready(Err(e)) = poll_shielded(&mut task, Waker::noop()) else {
        panic!()
    };
    assert!(e.is_cancelled());
    assert!(!task.cancel(), "finished tasks refuse cancel");
}

#[test]
fn cancel_queued_task_never_polls_it() {
    let q = Queue::new();
    let polled = Rc::new(RefCell::new(false));
    let p = polled.clone();
    let mut task = spawn(&q, async move {
        *p.borrow_mut() = true;
    });
    assert!(task.cancel());
    q.run_all();
    assert!(!*polled.borrow());
    assert!(
        matches!(poll_shielded(&mut task, Waker::noop()), Poll::Ready(Err(e)) if e.is_cancelled())
    );
}

#[test]
fn output_after_cancel_request_is_cancelled() {
    // The task cancels itself during its last poll: it returns a value, yet ends cancelled (asyncio).
    let q = Queue::new();
    let slot: Rc<RefCell<Option<Task<u32>>>> = Rc::new(RefCell::new(None));
    let s = slot.clone();
    let task = spawn(&q, async move {
        assert!(s.borrow().as_ref().unwrap().cancel());
        9
    });
    *slot.borrow_mut() = Some(task);
    q.run_all();
    let mut task = slot.borrow_mut().take().unwrap();
    assert!(task.is_done() && task.is_cancelled());
    assert!(
        matches!(poll_shielded(&mut task, Waker::noop()), Poll::Ready(Err(e)) if e.is_cancelled())
    );
}

#[test]
fn panics_are_caught_and_delivered() {
    let q = Queue::new();
    let mut task = spawn(&q, async { panic!("boom") });
    q.run_all();
    let Poll::Ready(Err(e)) = poll_shielded(&mut task, Waker::noop()) else {
        panic!()
    };
    assert!(e.is_panic());
    assert_eq!(*e.into_panic().downcast::<&str>().unwrap(), "boom");
}

#[test]
fn detached_task_runs_and_frees_its_output() {
    let q = Queue::new();
    let (task, state, drops) = gate(&q, 3);
    drop(task);
    q.run_all();
    open(&state);
    q.run_all();
    assert_eq!(drops.load(SeqCst), 1);
}

#[test]
fn handle_dropped_after_completion_drops_output() {
    let q = Queue::new();
    let out_drops = Arc::new(AtomicUsize::new(0));
    let d = out_drops.clone();
    let task = spawn(&q, async move { Guard(d) });
    q.run_all();
    assert_eq!(out_drops.load(SeqCst), 0);
    drop(task);
    assert_eq!(out_drops.load(SeqCst), 1);
}

#[test]
fn join_waker_replaced_and_wakers_outlive_task() {
    let q = Queue::new();
    let (mut task, state, _drops) = gate(&q, 2);
    q.run_all();
    let a = Arc::new(AtomicUsize::new(0));
    let b = Arc::new(AtomicUsize::new(0));
    assert!(poll_shielded(&mut task, &counting_waker(a.clone())).is_pending());
    assert!(poll_shielded(&mut task, &counting_waker(b.clone())).is_pending());
    let extra = state.lock().unwrap().1.clone().unwrap(); // a second waker reference
    open(&state);
    q.run_all();
    assert_eq!(
        (a.load(SeqCst), b.load(SeqCst)),
        (0, 1),
        "only the latest join waker is woken"
    );
    drop(task);
    extra.wake_by_ref(); // waking a finished task does nothing
    drop(extra); // last reference: frees the task
}

#[test]
fn join_future_drop_propagates_cancel() {
    let q = Queue::new();
    let (mut task, _state, drops) = gate(&q, 4);
    q.run_all();
    {
        let mut join = std::future::IntoFuture::into_future(&mut task);
        assert!(Pin::new(&mut join)
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending());
    }
    assert!(task.is_cancelled());
    q.run_all();
    assert_eq!(drops.load(SeqCst), 1);
}

fn counting_waker(n: Arc<AtomicUsize>) -> Waker {
    struct W(Arc<AtomicUsize>);
    impl std::task::Wake for W {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    Waker::from(Arc::new(W(n)))
}

/// A value inside a task's future learns which task holds it (from the task's own waker), and only then:
/// not for a value on the poller's stack, nor through another waker. The test scheduler offers no timer
/// driver.
#[test]
fn enclosing_task_is_found_only_from_inside_the_task() {
    struct Probe(Arc<Mutex<Vec<bool>>>);
    impl Future for Probe {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let here = &*self as *const Probe as *const u8;
            let inside = enclosing_task(cx.waker(), here, std::mem::size_of::<Probe>());
            let on_stack = 0u64;
            let stack = enclosing_task(cx.waker(), &on_stack as *const u64 as *const u8, 8);
            let foreign = enclosing_task(Waker::noop(), here, std::mem::size_of::<Probe>());
            let mut seen = self.0.lock().unwrap();
            seen.push(
                inside
                    .as_ref()
                    .is_some_and(|t| is_waker_of(cx.waker(), t.header)),
            );
            seen.push(inside.is_some_and(|t| t.time_driver.is_none()));
            seen.push(stack.is_none());
            seen.push(foreign.is_none());
            Poll::Ready(())
        }
    }
    let q = Queue::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let task = spawn(&q, Probe(seen.clone()));
    q.run_all();
    drop(task);
    assert_eq!(*seen.lock().unwrap(), [true, true, true, true]);
}

/// Freeing a task whose future never ran drops the future before the scheduler hook (raw.rs invariant 7:
/// sleeps inside the future may borrow the timer driver the hook keeps alive).
#[test]
fn dealloc_drops_the_future_before_the_hook() {
    #[derive(Clone)]
    struct Hook(Arc<Mutex<Vec<&'static str>>>);
    impl Drop for Hook {
        fn drop(&mut self) {
            self.0.lock().unwrap().push("hook");
        }
    }
    impl Schedule for Hook {
        fn schedule(&self, task: Notified) {
            drop(task);
        }
        fn yield_task(&self, task: Notified) {
            drop(task);
        }
        fn release(&self, _: RawTask) -> bool {
            false
        }
    }
    struct Fut(Arc<Mutex<Vec<&'static str>>>);
    impl Future for Fut {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            Poll::Ready(())
        }
    }
    impl Drop for Fut {
        fn drop(&mut self) {
            self.0.lock().unwrap().push("future");
        }
    }
    let order = Arc::new(Mutex::new(Vec::new()));
    let raw = RawTask::new(Fut(order.clone()), Hook(order.clone()), TaskId::next());
    raw.drop_reference(); // no owned list
    let notified = Notified::from_raw(raw);
    let handle = Task::<()>::from_raw(raw);
    drop(handle);
    drop(notified); // the last reference: never polled, freed with its future inside
    assert_eq!(*order.lock().unwrap(), ["future", "hook"]);
}
