//! The scheduler hooks of current-thread tasks: what a task's `Schedule` calls do on this runtime. A wake
//! queues the task (on the core's run queue when it comes from the loop thread, else through `remote`);
//! completion unlinks it from whichever owned list holds it (`Shared::release_task`). `spawn_local` tasks
//! carry `LocalScheduler`, which also counts them out.
//!
//! A hook holds a `TaskRef<Shared>` (`scheduler/task_refs.rs`) rather than a count of its own on the `Arc`:
//! tasks spawned and freed on the loop thread take and give back their references through the loop's
//! stash, other threads through the set directly.

use super::{Entry, Shared, LOOP};
use crate::runtime::stats::Event;
use crate::scheduler::task_refs::{RefOwner, RefStash, TaskRef, TaskRefs};
use crate::task::{Notified, Outcome, RawTask, Schedule, TaskId};
use crate::time::TimeDriver;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

/// The scheduler hook of a current-thread task: one task reference on the runtime's `Shared`.
pub(crate) type TaskHook = TaskRef<Shared>;

/// The scheduler hook of `spawn_local` tasks: like `TaskHook`, and counts them out when they complete.
pub(crate) struct LocalScheduler(pub(super) TaskHook);

impl RefOwner for Shared {
    fn task_refs(&self) -> &TaskRefs {
        &self.task_refs
    }

    fn with_ref_stash<R>(shared: &Arc<Shared>, f: impl FnOnce(&RefStash) -> R) -> Option<R> {
        let ptr = LOOP.with(std::cell::Cell::get);
        // SAFETY: a non-null `LOOP` points at the live context of the loop running on this thread (see
        // its doc).
        let ctx = unsafe { ptr.as_ref() }?;
        Arc::ptr_eq(&ctx.shared, shared).then(|| f(&ctx.ref_stash))
    }
}

impl Schedule for TaskHook {
    const COOPERATIVE_BUDGET: bool = false;

    fn schedule(&self, task: Notified) {
        self.schedule_from_hook(Entry::Task(task));
    }
    fn yield_task(&self, task: Notified) {
        self.schedule_from_hook(Entry::Task(task));
    }
    fn release(&self, task: RawTask) -> bool {
        self.release_task(task)
    }
    #[inline]
    fn task_finished(&self, id: TaskId, outcome: Outcome) {
        self.stats.record(Event::from(outcome), 1);
        self.debug.on_finish(id, outcome == Outcome::Panicked);
    }
    fn unretrieved_panic(&self, id: TaskId, message: Option<String>) {
        self.debug.unretrieved_panic(id, message);
    }
    fn time_driver(&self) -> Option<&TimeDriver> {
        Some(&self.time)
    }
}

impl Schedule for LocalScheduler {
    const COOPERATIVE_BUDGET: bool = false;

    fn schedule(&self, task: Notified) {
        self.0.schedule_from_hook(Entry::Task(task));
    }
    fn yield_task(&self, task: Notified) {
        self.0.schedule_from_hook(Entry::Task(task));
    }
    fn release(&self, task: RawTask) -> bool {
        self.0.local_live.fetch_sub(1, SeqCst);
        self.0.release_task(task)
    }
    #[inline]
    fn task_finished(&self, id: TaskId, outcome: Outcome) {
        self.0.task_finished(id, outcome);
    }
    fn unretrieved_panic(&self, id: TaskId, message: Option<String>) {
        self.0.unretrieved_panic(id, message);
    }
    fn time_driver(&self) -> Option<&TimeDriver> {
        Some(&self.0.time)
    }
}

// `MainWaker`'s flag must live across threads; `Shared` is shared by every task's hook.
const _: () = {
    fn assert_send_sync<T: Send + Sync>() {}
    fn check() {
        assert_send_sync::<Shared>();
        assert_send_sync::<LocalScheduler>();
    }
    let _ = check;
};
