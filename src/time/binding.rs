//! `DriverRef`: how a `Sleep` reaches the timer driver of the runtime that made it.
//!
//! `sleep_until` records only the runtime's id (`Unbound`); the first poll binds the sleep to that runtime's
//! `TimeDriver`, and how depends on where the sleep lives:
//! - inside the future of a task of that runtime (the usual `sleep(d).await` in a task): `Borrowed`, an
//!   uncounted pointer. The task's scheduler hook holds the runtime, the runtime holds the driver, and the
//!   task frees its memory only after dropping its future (task/raw.rs invariant 7), so the driver outlives
//!   the sleep. The sleep's entry may then also keep that task's own waker uncounted
//!   (`TimerWaker::Borrowed`), so creating, registering and cancelling the sleep change no reference count.
//! - anywhere else (the future given to `block_on`, a `Box::pin`, a task of another runtime): `Owned`, a
//!   counted `Arc` taken from the thread's runtime context, or from the list of live drivers when the first
//!   poll happens outside that runtime (`TimeDriver::find`, a global lock). A sleep inside a task of
//!   another ferrio runtime still keeps that task's own waker uncounted: that needs only the task's memory
//!   and reference count, not its driver.
//!
//! Data flow: `sleep_until` -> `DriverRef::unbound(id)` -> first `Sleep::poll` -> `bind` -> every later poll,
//! `reset` and the destructor use `driver()`.
//!
//! # Invariants
//! - `Borrowed(p)` only while this `DriverRef` lies (pinned, inside its `Sleep`) in the allocation of a task
//!   whose hook's `Schedule::time_driver` is `p`.
//! - `task == Some(h)` only while this `DriverRef` and the `Sleep` around it lie in the allocation of task `h`,
//!   a runtime task (its hook lends a driver), which holds a counted reference until its future is dropped.

use super::driver::TimeDriver;
use crate::runtime::context;
use crate::task::{enclosing_task, is_waker_of, Header};
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::Waker;

pub(crate) struct DriverRef {
    binding: Binding,
    /// The task whose allocation holds the sleep, when it is one (set by `bind`).
    task: Option<NonNull<Header>>,
}

enum Binding {
    /// Not polled yet: the id of the runtime (and driver) that made the sleep.
    Unbound(u64),
    Owned(Arc<TimeDriver>),
    Borrowed(NonNull<TimeDriver>),
}

impl DriverRef {
    pub(crate) fn unbound(runtime_id: u64) -> DriverRef {
        DriverRef {
            binding: Binding::Unbound(runtime_id),
            task: None,
        }
    }

    /// The driver of a sleep that has been polled (it is registered, or was).
    pub(crate) fn driver(&self) -> &TimeDriver {
        match &self.binding {
            Binding::Unbound(_) => {
                unreachable!("ferrio::time: a sleep is bound to its driver at its first poll")
            }
            Binding::Owned(driver) => driver,
            // SAFETY: module invariants: the task holding us keeps the driver alive.
            Binding::Borrowed(driver) => unsafe { driver.as_ref() },
        }
    }

    /// Binds an unbound sleep to its runtime's driver (nothing to do later on). `sleep` is the address and
    /// size of the pinned `Sleep` holding `self`, `waker` the waker it is polled with.
    ///
    /// # Panics
    /// When the runtime that made the sleep has shut down (or was dropped).
    ///
    /// # Safety
    /// `sleep` covers `self`, and the `Sleep` stays pinned there until it is dropped.
    pub(crate) unsafe fn bind(&mut self, sleep: (*const u8, usize), waker: &Waker) {
        let Binding::Unbound(id) = self.binding else {
            return;
        };
        if let Some(task) = enclosing_task(waker, sleep.0, sleep.1) {
            // Only a runtime task (its hook lends a driver) promises to hold a counted reference for as long
            // as its future lives (`Schedule::time_driver`), which an uncounted waker needs.
            if let Some(driver) = task.time_driver {
                // The sleep is pinned inside this task for the rest of its life (caller's contract).
                self.task = Some(task.header);
                // SAFETY: the task's hook keeps its driver alive while the waker's reference lives.
                if unsafe { driver.as_ref() }.id() == id {
                    self.binding = Binding::Borrowed(driver);
                    return;
                }
            }
        }
        let from_context = context::with_current(|handle| {
            let driver = handle.time_driver();
            (driver.id() == id).then(|| driver.clone())
        })
        .flatten();
        match from_context.or_else(|| TimeDriver::find(id)) {
            Some(driver) => self.binding = Binding::Owned(driver),
            None => panic!(
                "ferrio::time: a sleep was polled after its runtime shut down (it would never fire)"
            ),
        }
    }

    /// True when `waker` may be stored uncounted (`TimerWaker::borrowed`): it is the waker of the task
    /// whose allocation holds the sleep.
    pub(crate) fn may_borrow(&self, waker: &Waker) -> bool {
        self.task.is_some_and(|task| is_waker_of(waker, task))
    }
}
