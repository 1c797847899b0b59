//! `Sleep`: a future that completes at a deadline (asyncio's `sleep`).
//!
//! The timer node (`TimerEntry`) lives inside the `Sleep`, so registering needs no allocation. It is
//! registered lazily, on the first poll that finds the deadline still ahead, in the wheel of the worker doing
//! the poll; dropping or resetting the `Sleep` unlinks it under that wheel's lock, so abandoned sleeps leave
//! nothing behind. The first poll also binds the sleep to its runtime's driver (`binding.rs`): a sleep
//! inside a task of its runtime holds the driver and the task's waker without reference counts.

use super::binding::DriverRef;
use super::wheel::{TimerEntry, TimerWaker, FIRED, IDLE, REGISTERED};
use crate::runtime::context;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Waits until `duration` has passed (asyncio's `await asyncio.sleep(seconds)`), with microsecond precision.
///
/// # Panics
/// Outside a ferrio runtime (not inside `block_on`, `run` or a task).
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    let now = Instant::now();
    let mut sleep = sleep_until(now.checked_add(duration).unwrap_or_else(far_future));
    // A positive relative sleep is in the future at its first poll unless the poll comes late, and then the
    // wheel (or an immediately expiring timerfd) still completes it: no second clock read needed.
    sleep.check_clock = duration.is_zero();
    sleep
}

/// Waits until `deadline`.
///
/// # Panics
/// Outside a ferrio runtime (not inside `block_on`, `run` or a task).
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    // A worker or `block_on` thread knows its runtime's id (which is its driver's) without the handle.
    let runtime_id = context::entered_runtime()
        .or_else(|| context::with_current(|handle| handle.time_driver().id()))
        .unwrap_or_else(|| panic!("{OUTSIDE_RUNTIME}"));
    Sleep {
        deadline,
        driver: DriverRef::unbound(runtime_id),
        wheel: 0,
        check_clock: true,
        entry: TimerEntry::new(),
    }
}

const OUTSIDE_RUNTIME: &str =
    "ferrio::time: sleep or timeout used outside a runtime: create timers inside \
     block_on, run or a task of a ferrio Runtime";

/// About 30 years from now: "never" for deadlines that overflow `Instant`.
pub(crate) fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

/// Future returned by [`sleep`] and [`sleep_until`]. `Send + Sync`; must be pinned to be polled (use
/// `std::pin::pin!` or `Box::pin`).
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    driver: DriverRef,
    /// The wheel the entry is registered in (meaningful while registered).
    wheel: usize,
    /// Compare the deadline with the clock before registering (the deadline may already have passed).
    check_clock: bool,
    entry: TimerEntry,
}

// SAFETY: the entry's links and waker are only touched under the lock of the wheel that holds it
// (wheel.rs invariants); the driver reference is an `Arc` or a pointer to a driver that outlives the sleep
// and is itself `Sync`, and its task pointer is only compared, never followed (binding.rs invariants); the
// rest of `Sleep` is plain `Send + Sync` data.
unsafe impl Send for Sleep {}
// SAFETY: `&Sleep` exposes only `deadline()`; the entry is reached through `Pin<&mut Sleep>` or the wheel
// lock, never through a shared reference.
unsafe impl Sync for Sleep {}

impl Sleep {
    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        self.entry.state() == FIRED || Instant::now() >= self.deadline
    }

    /// Moves the deadline (earlier or later). The sleep is pending again until the new deadline.
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        // SAFETY: no field is moved out; the entry stays where it is (it is only unlinked).
        let this = unsafe { self.get_unchecked_mut() };
        this.unregister();
        this.deadline = deadline;
        this.check_clock = true;
    }

    fn entry_ptr(&self) -> NonNull<TimerEntry> {
        NonNull::from(&self.entry)
    }

    fn unregister(&mut self) {
        match self.entry.state() {
            IDLE => {}
            REGISTERED => {
                // SAFETY: the entry is registered in `self.wheel` and alive (it is our field).
                unsafe { self.driver.driver().remove(self.wheel, self.entry_ptr()) };
                self.entry.reset_fired();
            }
            _ => self.entry.reset_fired(),
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: we never move the entry out of the pinned `Sleep`; its address is what the wheel links.
        let this = unsafe { self.get_unchecked_mut() };
        if this.entry.state() == FIRED {
            return Poll::Ready(());
        }
        let sleep = (
            this as *const Sleep as *const u8,
            std::mem::size_of::<Sleep>(),
        );
        // SAFETY: `sleep` is where `this` is pinned for the rest of its life.
        unsafe { this.driver.bind(sleep, cx.waker()) };
        let driver = this.driver.driver();
        if driver.is_shutdown() {
            panic!("ferrio::time: a sleep was polled after its runtime shut down");
        }
        // The task that holds this sleep polls it with its own waker: the entry may keep it uncounted.
        let borrow = this.driver.may_borrow(cx.waker());
        if this.entry.state() == REGISTERED {
            // SAFETY: registered in `this.wheel`, alive; `borrow` only for the waker of the task whose
            // allocation holds the entry (binding.rs), as `TimerWaker::borrowed` requires.
            let still =
                unsafe { driver.update_waker(this.wheel, this.entry_ptr(), cx.waker(), borrow) };
            return if still {
                Poll::Pending
            } else {
                Poll::Ready(())
            };
        }
        if this.check_clock && Instant::now() >= this.deadline {
            return Poll::Ready(());
        }
        let tick = driver.tick_for(this.deadline);
        this.wheel = driver.home_wheel();
        let waker = if borrow {
            // SAFETY: as for `update_waker` above.
            unsafe { TimerWaker::borrowed(cx.waker()) }
        } else {
            TimerWaker::Owned(cx.waker().clone())
        };
        // SAFETY: the entry is pinned inside `this`, unlinked (IDLE), and `Drop` removes it.
        let registered = unsafe { driver.register(this.wheel, this.entry_ptr(), tick, waker) };
        if registered {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if self.entry.state() == REGISTERED {
            // SAFETY: registered in `self.wheel`; the entry is still alive during our destructor.
            unsafe { self.driver.driver().remove(self.wheel, self.entry_ptr()) };
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("registered", &(self.entry.state() == REGISTERED))
            .finish()
    }
}
