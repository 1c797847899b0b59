//! `Handle`: a cloneable, `Send + Sync` reference to a runtime, to spawn onto it from any thread.

use crate::runtime::context;
use crate::scheduler::SchedulerHandle;
use crate::task::Task;
use std::fmt;
use std::future::Future;

/// A reference to a runtime that can spawn tasks from any thread.
#[derive(Clone)]
pub struct Handle {
    pub(crate) inner: SchedulerHandle,
}

/// Returned by [`Handle::try_current`] outside a runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryCurrentError(());

impl fmt::Display for TryCurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no ferrio runtime is running on this thread (not inside block_on, run, or a runtime task)")
    }
}

impl std::error::Error for TryCurrentError {}

impl Handle {
    /// The handle of the runtime running on this thread.
    ///
    /// # Panics
    /// Outside a runtime (not inside `block_on`, `run` or a task); see [`Handle::try_current`].
    #[track_caller]
    pub fn current() -> Handle {
        match Handle::try_current() {
            Ok(handle) => handle,
            Err(e) => panic!("ferrio: Handle::current() called outside a runtime: {e}"),
        }
    }

    /// The handle of the runtime running on this thread, or an error outside one.
    pub fn try_current() -> Result<Handle, TryCurrentError> {
        context::with_current(|inner| Handle {
            inner: inner.clone(),
        })
        .ok_or(TryCurrentError(()))
    }

    /// Spawns a task onto this runtime (asyncio's `create_task`), from any thread.
    ///
    /// # Panics
    /// If the runtime has been shut down.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.spawn(future)
    }

    /// Runs a blocking closure on this runtime's blocking pool, from any thread. See
    /// [`spawn_blocking`](crate::spawn_blocking).
    ///
    /// # Panics
    /// If the runtime has been shut down.
    #[track_caller]
    pub fn spawn_blocking<F, T>(&self, f: F) -> Task<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        crate::blocking::spawn_on(&self.inner, f, std::panic::Location::caller())
    }

    /// A snapshot of the runtime's counters (per worker and in total: tasks spawned, completed, cancelled
    /// and panicked; polls; steals; LIFO-slot hits; parks; reactor turns and events; timers fired; budget-forced
    /// yields) and its queue depths, from any thread. Each counter is written by one thread with relaxed
    /// atomics, so reading costs the runtime nothing. With the `stats` cargo feature off, every counter reads
    /// zero ([`RuntimeStats::enabled`](crate::RuntimeStats::enabled)).
    ///
    /// ```
    /// let rt = ferrio::Runtime::builder().worker_threads(2).build().unwrap();
    /// rt.block_on(async { ferrio::spawn(async {}).await.unwrap() });
    /// let stats = rt.stats();
    /// assert_eq!(stats.workers.len(), 2);
    /// if ferrio::RuntimeStats::enabled() {
    ///     assert_eq!(stats.total.spawned, 1);
    /// }
    /// ```
    pub fn stats(&self) -> crate::RuntimeStats {
        self.inner.stats()
    }

    /// Writes the internals trace; see [`Runtime::dump_trace`](crate::Runtime::dump_trace).
    pub fn dump_trace(&self, path: impl AsRef<std::path::Path>) -> std::io::Result<()> {
        match self.inner.tracer() {
            Some(tracer) => tracer.dump(path.as_ref()),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "ferrio: dump_trace: this runtime records no trace; build it with Builder::trace(capacity)",
            )),
        }
    }

    /// Timers (sleeps, timeouts, intervals) registered on this runtime and not yet fired (a snapshot).
    /// Dropping a `Sleep` removes its timer at once, so this counts live timers only.
    pub fn pending_timers(&self) -> usize {
        self.inner.time_driver().pending()
    }

    /// Tasks alive on this runtime: spawned and not yet completed (a snapshot).
    pub fn live_tasks(&self) -> usize {
        self.inner.live_tasks()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flavor = match self.inner {
            SchedulerHandle::MultiThread(_) => "multi_thread",
            SchedulerHandle::CurrentThread(_) => "current_thread",
        };
        f.debug_struct("Handle")
            .field("flavor", &flavor)
            .field("runtime_id", &self.inner.runtime_id())
            .finish()
    }
}
