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
    use super::SchedulerHandle;
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
}
