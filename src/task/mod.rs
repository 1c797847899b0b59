//! Tasks: one heap allocation per spawned future, reference-counted through one atomic state word.
//!
//! Files: `state.rs` (the lifecycle specification), `raw.rs` (memory layout, vtable, invariants), `harness.rs`
//! (poll / complete / cancel), `waker.rs` (wakers that point at the task), `join.rs` (the public `Task<T>`
//! handle, its join futures and `shield`), `owned.rs` (the runtime's list of live tasks), `error.rs`
//! (`TaskId`, `TaskError`).
//!
//! A scheduler plugs in through `Schedule`: the task calls it when woken (`schedule`), when woken during its
//! own poll (`yield_task`), when it completes (`release`) and when a cancel reaches it queued or running
//! (`cancel_requested`). Schedulers move tasks around as `Notified` values, each owning one reference.

mod error;
mod harness;
mod join;
mod owned;
mod raw;
mod state;
mod waker;

pub use error::{TaskError, TaskId};
pub use join::{shield, Join, JoinRef, Shield, Task};
pub(crate) use owned::{LocalOwnedTasks, OwnedTasks};
pub(crate) use raw::{Header, RawTask};
pub(crate) use waker::{enclosing_task, is_waker_of};

use std::future::Future;
use std::mem::ManuallyDrop;

/// What a task needs from the scheduler that spawned it. Implementations must be callable from any thread.
///
/// `schedule` and `yield_task` are called on a bitwise copy of the hook (see `harness::hook_copy`): the
/// moment the `Notified` is published, the task may run, complete and be freed on another thread, so an
/// implementation must not touch anything it reaches through the hook after publishing unless it first
/// took its own reference (e.g. cloned its `Arc`).
pub(crate) trait Schedule: Send + Sync + Sized + 'static {
    /// A task became runnable (woken, or cancelled while idle). Called from any thread.
    fn schedule(&self, task: Notified);

    /// The task was woken during its own poll (e.g. `yield_now`): it goes behind the tasks already waiting.
    fn yield_task(&self, task: Notified);

    /// The task completed: unlink it from the owned list. True if this call unlinked it.
    fn release(&self, task: RawTask) -> bool;

    /// A cancel was accepted while the task was queued or running (`Task::cancel`, or a dropped join future,
    /// found it `NOTIFIED` or `RUNNING`; the hook cannot tell which without looking at its own queue). By
    /// default nothing happens: the scheduler drops the future when it next pops the task, or the poller sees
    /// the flag. A scheduler whose queue may hold a task for a long time (the blocking pool) can take the
    /// task's `Notified` out of its queue and run it now, which drops the future and completes the task as
    /// cancelled. Called from any thread, while the canceller holds a reference to the task (so the hook, in
    /// the task's cell, lives for the whole call).
    fn cancel_requested(&self, task: RawTask) {
        let _ = task;
    }

    /// The task completed on this thread with `outcome` (for stats and debug mode). Called by the completing
    /// thread while it still holds a reference to the task, or, after `transition_to_complete_and_free`,
    /// while it alone owns the cell (the hook is alive until the cell is freed). The same holds for
    /// `unretrieved_panic`.
    fn task_finished(&self, id: TaskId, outcome: Outcome) {
        let _ = (id, outcome);
    }

    /// The task panicked and nobody will read its output: its handle was dropped before or after it
    /// finished, without taking the output (debug mode's "Task exception was never retrieved").
    fn unretrieved_panic(&self, id: TaskId, message: Option<String>) {
        let _ = (id, message);
    }

    /// A poll of the task spent its whole cooperative budget (for stats). Called by the polling thread.
    fn budget_spent(&self) {}

    /// The timer driver of this hook's runtime, which the hook keeps alive for as long as it exists. A
    /// `Sleep` inside the task's future borrows it instead of counting a reference (`time/binding.rs`).
    ///
    /// Returning `Some` also promises that every task of this hook holds a counted reference (the owned
    /// list's) until its future has been dropped, so `dealloc` never finds a live future: a `Sleep` inside
    /// the future keeps the task's waker uncounted in a timer wheel, and the wheel clones it when the timer
    /// fires, which needs a reference count above zero.
    fn time_driver(&self) -> Option<&crate::time::TimeDriver> {
        None
    }

    /// Whether polls get a cooperative budget (`coop.rs`). The current-thread flavour opts out: asyncio never
    /// suspends a coroutine that awaits something already done, and that flavour promises asyncio's order.
    const COOPERATIVE_BUDGET: bool = true;
}

/// How a task ended (`Schedule::task_finished`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Completed,
    Cancelled,
    Panicked,
}

/// A runnable task: owns one reference, and the right to poll the task once.
pub(crate) struct Notified(RawTask);

impl Notified {
    pub(crate) fn from_raw(raw: RawTask) -> Notified {
        Notified(raw)
    }

    /// The task, without giving up the reference (to find it in a queue).
    pub(crate) fn task(&self) -> RawTask {
        self.0
    }

    /// Gives up the wrapper without releasing the reference (queues store the raw pointer).
    pub(crate) fn into_raw(self) -> RawTask {
        ManuallyDrop::new(self).0
    }

    /// Polls the task (or drops its future if it was cancelled).
    pub(crate) fn run(self) {
        self.into_raw().poll();
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        self.0.drop_reference();
    }
}

/// Allocates a task for `future`, links it into `owned` and returns the user's handle plus the first
/// `Notified` to schedule. If `owned` is closed (the runtime is shutting down), the task is cancelled at once
/// and no `Notified` is returned: awaiting the handle gives `Err(Cancelled)`.
pub(crate) fn bind<F, S>(
    future: F,
    scheduler: S,
    owned: &OwnedTasks,
) -> (Task<F::Output>, Option<Notified>)
where
    F: Future + 'static,
    F::Output: 'static,
    S: Schedule,
{
    bind_with(future, scheduler, |raw| owned.bind(raw))
}

/// `bind` with the linking step given: `link` takes the list's reference, or hands the task back when the
/// list is closed.
pub(crate) fn bind_with<F, S>(
    future: F,
    scheduler: S,
    link: impl FnOnce(RawTask) -> Result<(), RawTask>,
) -> (Task<F::Output>, Option<Notified>)
where
    F: Future + 'static,
    F::Output: 'static,
    S: Schedule,
{
    let raw = RawTask::new(future, scheduler, TaskId::next());
    let handle = Task::from_raw(raw);
    let notified = Notified(raw);
    match link(raw) {
        Ok(()) => (handle, Some(notified)),
        Err(raw) => {
            // The reference meant for the list drives the shutdown.
            raw.shutdown();
            drop(notified);
            (handle, None)
        }
    }
}

#[cfg(all(test, ferrio_loom))]
mod loom_tests;
#[cfg(all(test, not(ferrio_loom)))]
mod tests;

/// Helpers for unit and loom tests of the task system and the queues.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A scheduler that owns no list and drops whatever it is asked to schedule.
    pub(crate) struct NoopScheduler;

    impl Schedule for NoopScheduler {
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

    /// A scheduler whose run queue is a shared deque (std or loom types, through `crate::loom`), for the task
    /// tests and the loom models. Tasks are not on any owned list.
    #[derive(Clone)]
    pub(crate) struct QueueScheduler(crate::loom::Arc<crate::loom::Mutex<VecDeque<Notified>>>);

    impl QueueScheduler {
        pub(crate) fn new() -> QueueScheduler {
            QueueScheduler(crate::loom::Arc::new(crate::loom::Mutex::new(
                VecDeque::new(),
            )))
        }

        /// Runs queued tasks (and whatever they queue) until the queue is empty; returns how many ran.
        /// Each task is popped before it runs, so a task that wakes itself does not meet a held lock.
        pub(crate) fn run_all(&self) -> usize {
            let mut n = 0;
            loop {
                let next = self.0.lock().unwrap().pop_front();
                match next {
                    Some(task) => task.run(),
                    None => return n,
                }
                n += 1;
            }
        }
    }

    impl Schedule for QueueScheduler {
        fn schedule(&self, task: Notified) {
            self.0.lock().unwrap().push_back(task);
        }
        fn yield_task(&self, task: Notified) {
            self.schedule(task);
        }
        fn release(&self, _: RawTask) -> bool {
            false
        }
    }

    /// Creates `n` detached tasks that bump the returned counter when polled, and returns their `Notified`s.
    pub(crate) fn counting_task<S: Schedule + Default>(
        n: usize,
    ) -> (Vec<Notified>, Arc<AtomicUsize>) {
        let ran = Arc::new(AtomicUsize::new(0));
        let tasks = (0..n)
            .map(|_| {
                let ran = ran.clone();
                let raw = RawTask::new(
                    async move {
                        ran.fetch_add(1, Ordering::Relaxed);
                    },
                    S::default(),
                    TaskId::next(),
                );
                // No owned list in these tests: release its reference, and detach the handle.
                raw.drop_reference();
                drop(Task::<()>::from_raw(raw));
                Notified(raw)
            })
            .collect();
        (tasks, ran)
    }

    impl Default for NoopScheduler {
        fn default() -> Self {
            NoopScheduler
        }
    }
}
