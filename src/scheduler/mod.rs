//! The two executor flavours and the handle that tasks and `Handle` use to reach either.
//!
//! - `multi_thread`: N workers, per-worker rings with a stealable LIFO slot, a global injection queue, work
//!   stealing, parking in the reactor. The default.
//! - `current_thread`: one thread, FIFO, asyncio's `_run_once` order, `spawn_local`.

pub(crate) mod current_thread;
pub(crate) mod multi_thread;
mod observe;
pub(crate) mod task_refs;

use crate::task::Task;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

/// A cloneable reference to one runtime's scheduler.
#[derive(Clone)]
pub(crate) enum SchedulerHandle {
    MultiThread(Arc<multi_thread::Shared>),
    CurrentThread(Arc<current_thread::Shared>),
}

impl SchedulerHandle {
    #[track_caller]
    pub(crate) fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_at(future, Location::caller())
    }

    /// `spawn`, with the caller's location given (debug mode records it).
    pub(crate) fn spawn_at<F>(&self, future: F, at: &'static Location<'static>) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        assert!(
            !self.is_closed(),
            "ferrio: spawn on a runtime that has been shut down (the Runtime was dropped or shut down)"
        );
        match self {
            SchedulerHandle::MultiThread(shared) => shared.spawn(future, at),
            SchedulerHandle::CurrentThread(shared) => shared.spawn(future, at),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        match self {
            SchedulerHandle::MultiThread(shared) => shared.owned.is_closed(),
            SchedulerHandle::CurrentThread(shared) => shared.owned.is_closed(),
        }
    }

    pub(crate) fn runtime_id(&self) -> u64 {
        match self {
            SchedulerHandle::MultiThread(shared) => shared.config.runtime_id,
            SchedulerHandle::CurrentThread(shared) => shared.runtime_id,
        }
    }

    pub(crate) fn time_driver(&self) -> &Arc<crate::time::TimeDriver> {
        match self {
            SchedulerHandle::MultiThread(shared) => &shared.time,
            SchedulerHandle::CurrentThread(shared) => &shared.time,
        }
    }

    pub(crate) fn reactor_registry(&self) -> &Arc<crate::reactor::ReactorRegistry> {
        match self {
            SchedulerHandle::MultiThread(shared) => &shared.registry,
            SchedulerHandle::CurrentThread(shared) => &shared.registry,
        }
    }

    pub(crate) fn blocking(&self) -> &crate::blocking::BlockingPool {
        match self {
            SchedulerHandle::MultiThread(shared) => &shared.blocking,
            SchedulerHandle::CurrentThread(shared) => &shared.blocking,
        }
    }

    pub(crate) fn stats(&self) -> crate::RuntimeStats {
        match self {
            SchedulerHandle::MultiThread(shared) => shared.stats(),
            SchedulerHandle::CurrentThread(shared) => shared.stats(),
        }
    }

    pub(crate) fn debug(&self) -> &crate::runtime::debug::DebugState {
        match self {
            SchedulerHandle::MultiThread(shared) => &shared.debug,
            SchedulerHandle::CurrentThread(shared) => &shared.debug,
        }
    }

    pub(crate) fn tracer(&self) -> Option<&crate::runtime::trace::Tracer> {
        match self {
            SchedulerHandle::MultiThread(shared) => shared.trace.as_ref(),
            SchedulerHandle::CurrentThread(shared) => shared.trace.as_ref(),
        }
    }

    pub(crate) fn live_tasks(&self) -> usize {
        match self {
            SchedulerHandle::MultiThread(shared) => shared.live_tasks(),
            SchedulerHandle::CurrentThread(shared) => shared.live_tasks(),
        }
    }
}

#[cfg(all(test, not(ferrio_loom)))]
mod tests {
    use super::{current_thread, multi_thread, SchedulerHandle};
    use std::panic::Location;

    /// A spawn that loses the race with shutdown (it passed `spawn_at`'s check, then the list closed) is
    /// refused at bind and cancelled at once; it must still count as spawned, so that spawned adds up to
    /// completed + cancelled + panicked. The race is forced here by calling the flavour's spawn directly.
    #[test]
    fn a_spawn_refused_by_the_closed_list_counts_as_spawned_and_cancelled() {
        for current_thread in [false, true] {
            let mut builder = crate::Runtime::builder();
            if current_thread {
                builder.current_thread();
            } else {
                builder.worker_threads(2);
            }
            let rt = builder.build().unwrap();
            let handle = rt.handle();
            drop(rt);
            assert!(handle.inner.is_closed());
            let task = match &handle.inner {
                SchedulerHandle::MultiThread(shared) => {
                    shared.spawn(async { 1 }, Location::caller())
                }
                SchedulerHandle::CurrentThread(shared) => {
                    shared.spawn(async { 1 }, Location::caller())
                }
            };
            assert!(task.is_cancelled() && task.is_done());
            if !crate::RuntimeStats::enabled() {
                continue;
            }
            let total = handle.inner.stats().total;
            assert_eq!(
                total.spawned, 1,
                "current_thread: {current_thread}: {total:?}"
            );
            assert_eq!(
                total.cancelled, 1,
                "current_thread: {current_thread}: {total:?}"
            );
            assert_eq!(total.completed + total.panicked, 0);
        }
    }

    /// Tasks spawned on the runtime's own threads take their references from those threads' stashes (more
    /// than a batch, so they refill). Once the runtime is gone, the stashes must have been given back, and
    /// the handles that outlive it must keep `Shared` alive, their panics still reported through the hook;
    /// the last one to go frees it.
    #[test]
    fn task_references_keep_shared_alive_until_the_last_task_is_freed() {
        use crate::scheduler::task_refs::{RefOwner, BATCH};
        use std::sync::{Arc, Weak};

        enum Flavour {
            Multi(Weak<multi_thread::Shared>),
            Current(Weak<current_thread::Shared>),
        }
        impl Flavour {
            /// Task references alive, or `None` once `Shared` is freed.
            fn task_refs(&self) -> Option<usize> {
                match self {
                    Flavour::Multi(weak) => weak.upgrade().map(|s| s.task_refs().count()),
                    Flavour::Current(weak) => weak.upgrade().map(|s| s.task_refs().count()),
                }
            }
        }
        for current_thread in [false, true] {
            let mut builder = crate::Runtime::builder();
            if current_thread {
                builder.current_thread();
            } else {
                builder.worker_threads(2);
            }
            let rt = builder.build().unwrap();
            let shared = match &rt.handle().inner {
                SchedulerHandle::MultiThread(shared) => Flavour::Multi(Arc::downgrade(shared)),
                SchedulerHandle::CurrentThread(shared) => Flavour::Current(Arc::downgrade(shared)),
            };
            let mut children: Vec<crate::Task<usize>> = rt
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
            let context = format!("current_thread: {current_thread}");
            assert_eq!(
                shared.task_refs(),
                Some(children.len()),
                "{context}: one per cell"
            );
            let rest = children.split_off(BATCH / 2);
            drop(children);
            assert_eq!(shared.task_refs(), Some(rest.len()), "{context}");
            drop(rest);
            assert_eq!(
                shared.task_refs(),
                None,
                "{context}: the last task freed Shared"
            );
        }
    }
}
