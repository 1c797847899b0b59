//! The scheduler hook of a multi-thread task (`TaskHook`): what the task's `Schedule` calls do on this
//! runtime, and the reference on `Shared` that keeps them valid.
//!
//! A hook is a `TaskRef<Shared>` (`scheduler/task_refs.rs`), not a count of its own on `Arc<Shared>`: a
//! worker spawning a task takes the reference from its stash, a worker freeing one gives it back there, and
//! other threads go to the set directly. Wakes go to `Shared::schedule_from_hook`; completion unlinks the
//! task from the owned list and counts it.

use super::{worker, Shared};
use crate::runtime::stats::Event;
use crate::scheduler::task_refs::{RefOwner, RefStash, TaskRef, TaskRefs};
use crate::task::{Notified, Outcome, RawTask, Schedule, TaskId};
use crate::time::TimeDriver;
use std::sync::Arc;

/// A multi-thread task's hook: one task reference on the runtime's `Shared`.
pub(crate) type TaskHook = TaskRef<Shared>;

impl RefOwner for Shared {
    fn task_refs(&self) -> &TaskRefs {
        &self.task_refs
    }

    fn with_ref_stash<R>(shared: &Arc<Shared>, f: impl FnOnce(&RefStash) -> R) -> Option<R> {
        worker::with_ref_stash(shared, f)
    }
}

impl Schedule for TaskHook {
    fn schedule(&self, task: Notified) {
        self.schedule_from_hook(task, false);
    }

    fn yield_task(&self, task: Notified) {
        self.schedule_from_hook(task, true);
    }

    fn release(&self, task: RawTask) -> bool {
        self.owned.remove(task)
    }

    #[inline]
    fn task_finished(&self, id: TaskId, outcome: Outcome) {
        self.stats.record(Event::from(outcome), 1);
        self.debug.on_finish(id, outcome == Outcome::Panicked);
    }

    fn unretrieved_panic(&self, id: TaskId, message: Option<String>) {
        self.debug.unretrieved_panic(id, message);
    }

    fn budget_spent(&self) {
        self.stats.record(Event::ForcedYield, 1);
    }

    fn time_driver(&self) -> Option<&TimeDriver> {
        Some(&self.time)
    }
}
