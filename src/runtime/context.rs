//! What this thread is running: the runtime whose tasks `ferrio::spawn` reaches (`CURRENT`), and whether the
//! thread is inside a runtime already (`ENTERED`: a worker thread or a `block_on`), which makes a nested
//! `block_on` a clear panic instead of a deadlock.
//!
//! A blocking-pool thread sets only `CURRENT` (`set_current`): a job can `spawn` onto its runtime, and may
//! still `block_on` another runtime, since it runs no runtime's tasks itself.

use crate::scheduler::SchedulerHandle;
use std::cell::{Cell, RefCell};

thread_local! {
    static CURRENT: RefCell<Option<SchedulerHandle>> = const { RefCell::new(None) };
    /// Id of the runtime this thread is running (a worker thread, or inside `block_on`).
    static ENTERED: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Restores the previous context on drop.
pub(crate) struct EnterGuard {
    previous: Option<SchedulerHandle>,
}

/// Marks this thread as running `handle`'s runtime. Panics if it already runs one.
pub(crate) fn enter(handle: SchedulerHandle, runtime_id: u64) -> EnterGuard {
    if ENTERED.with(|e| e.get()).is_some() {
        panic!(
            "ferrio: cannot block_on (or start a runtime's loop) from inside a runtime thread: this thread is \
             already running a runtime's tasks; await the future instead, or use spawn"
        );
    }
    ENTERED.with(|e| e.set(Some(runtime_id)));
    let previous = CURRENT.with(|c| c.replace(Some(handle)));
    EnterGuard { previous }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        ENTERED.with(|e| e.set(None));
        let previous = self.previous.take();
        // `try_with`: during thread exit the thread-local may already be gone.
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = previous);
    }
}

/// Restores the previous `CURRENT` on drop (see `set_current`).
pub(crate) struct CurrentGuard {
    previous: Option<SchedulerHandle>,
}

/// Makes `handle` the runtime that `ferrio::spawn` reaches from this thread, without marking the thread as
/// running that runtime (`ENTERED` is untouched): for blocking-pool threads.
pub(crate) fn set_current(handle: SchedulerHandle) -> CurrentGuard {
    let previous = CURRENT.with(|c| c.replace(Some(handle)));
    CurrentGuard { previous }
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // `try_with`: during thread exit the thread-local may already be gone.
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = previous);
    }
}

/// Calls `f` with this thread's current runtime, if any.
pub(crate) fn with_current<R>(f: impl FnOnce(&SchedulerHandle) -> R) -> Option<R> {
    CURRENT.with(|c| c.borrow().as_ref().map(f))
}

/// The id of the runtime this thread runs, if it is a worker or inside `block_on`.
pub(crate) fn entered_runtime() -> Option<u64> {
    ENTERED.with(|e| e.get())
}
