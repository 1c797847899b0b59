//! The scheduler hook of a multi-thread task (`TaskHook`): what the task's `Schedule` calls do on this
//! runtime, and the reference on `Shared` that keeps them valid.
//!
//! A hook holds one reference of the runtime's task-reference set (`scheduler/task_refs.rs`), not a count
//! of its own on `Arc<Shared>`: a worker spawning a task takes it from its stash, a worker freeing one gives
//! it back there, and other threads go to the set directly. Wakes go to `Shared::schedule_from_hook`;
//! completion unlinks the task from the owned list and counts it.

use super::{worker, Shared};
use crate::runtime::stats::Event;
use crate::scheduler::task_refs::SetRef;
use crate::task::{Notified, Outcome, RawTask, Schedule, TaskId};
use crate::time::TimeDriver;
use std::mem::ManuallyDrop;
use std::sync::Arc;

/// A task's way to its runtime. The `Arc` inside is not counted for this hook: it is a copy of the runtime's
/// pointer, kept alive by the task reference the hook holds (task_refs.rs, invariant "Set reference"), and
/// never dropped as an `Arc`; dropping the hook gives the task reference back instead.
pub(crate) struct TaskHook {
    shared: ManuallyDrop<Arc<Shared>>,
}

impl TaskHook {
    /// A hook for a new task of `shared`, holding one task reference.
    pub(super) fn new(shared: &Arc<Shared>) -> TaskHook {
        let set_ref = worker::with_ref_stash(shared, |stash| stash.take(&shared.task_refs))
            .unwrap_or_else(|| {
                if shared.task_refs.add(1) {
                    SetRef::Give
                } else {
                    SetRef::Unchanged
                }
            });
        settle(shared, set_ref);
        // SAFETY: `Arc::as_ptr` of a live `Arc`; the copy is never dropped (it counts nothing), and the task
        // reference just taken keeps `Shared` alive for as long as the hook exists (task_refs.rs invariant).
        let shared = unsafe { Arc::from_raw(Arc::as_ptr(shared)) };
        TaskHook {
            shared: ManuallyDrop::new(shared),
        }
    }

    /// The runtime, through the hook's task reference.
    #[inline]
    pub(super) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Drop for TaskHook {
    fn drop(&mut self) {
        let shared = self.shared();
        let set_ref = worker::with_ref_stash(shared, |stash| stash.put(&shared.task_refs))
            .unwrap_or_else(|| {
                if shared.task_refs.sub(1) {
                    SetRef::Drop
                } else {
                    SetRef::Unchanged
                }
            });
        settle(shared, set_ref);
    }
}

/// Does what a task-reference call asked of the set's reference on `Shared` (task_refs.rs invariant). With
/// `SetRef::Drop`, nothing may touch `shared` after this call (it may have been the last reference).
pub(super) fn settle(shared: &Arc<Shared>, set_ref: SetRef) {
    match set_ref {
        SetRef::Unchanged => {}
        SetRef::Give => std::mem::forget(Arc::clone(shared)),
        // SAFETY: the set held a counted reference (the one given when it last left zero), which the
        // emptying `sub` made ours to drop; `from_raw` of the runtime's own pointer takes it back.
        SetRef::Drop => drop(unsafe { Arc::from_raw(Arc::as_ptr(shared)) }),
    }
}

impl Schedule for TaskHook {
    fn schedule(&self, task: Notified) {
        self.shared().schedule_from_hook(task, false);
    }

    fn yield_task(&self, task: Notified) {
        self.shared().schedule_from_hook(task, true);
    }

    fn release(&self, task: RawTask) -> bool {
        self.shared.owned.remove(task)
    }

    #[inline]
    fn task_finished(&self, id: TaskId, outcome: Outcome) {
        self.shared.stats.record(Event::from(outcome), 1);
        self.shared
            .debug
            .on_finish(id, outcome == Outcome::Panicked);
    }

    fn unretrieved_panic(&self, id: TaskId, message: Option<String>) {
        self.shared.debug.unretrieved_panic(id, message);
    }

    fn budget_spent(&self) {
        self.shared.stats.record(Event::ForcedYield, 1);
    }

    fn time_driver(&self) -> Option<&TimeDriver> {
        Some(&self.shared.time)
    }
}

#[cfg(all(test, not(ferrio_loom)))]
mod tests {
    use crate::scheduler::task_refs::BATCH;
    use crate::scheduler::SchedulerHandle;
    use crate::Task;
    use std::sync::Arc;

    /// Tasks spawned on the workers take their references from the workers' stashes (more than a batch, so
    /// they refill). Once the runtime is gone, the stashes must have been given back and the handles that
    /// outlive it must keep `Shared` alive, their panics still reported through the hook; the last one to
    /// go frees it.
    #[test]
    fn task_references_keep_shared_alive_until_the_last_task_is_freed() {
        let rt = crate::Runtime::builder().worker_threads(2).build().unwrap();
        let weak = match &rt.handle().inner {
            SchedulerHandle::MultiThread(shared) => Arc::downgrade(shared),
            SchedulerHandle::CurrentThread(_) => unreachable!("a multi-thread runtime"),
        };
        let mut children: Vec<Task<usize>> = rt
            .block_on(async {
                crate::spawn(async {
                    let children: Vec<_> = (0..BATCH + 44)
                        .map(|i| {
                            crate::spawn(async move {
                                assert!(i != 7, "task 7 panics, and nobody reads it");
                                i
                            })
                        })
                        .collect();
                    crate::yield_now().await;
                    children
                })
                .await
            })
            .unwrap();
        drop(rt);
        let shared = weak.upgrade().expect("the children keep Shared alive");
        assert_eq!(
            shared.task_refs.count(),
            children.len(),
            "one per cell, stashes given back"
        );
        drop(shared);
        let rest = children.split_off(BATCH / 2);
        drop(children);
        assert_eq!(weak.upgrade().unwrap().task_refs.count(), rest.len());
        drop(rest);
        assert!(weak.upgrade().is_none(), "the last task freed Shared");
    }
}
