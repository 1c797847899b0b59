//! `TimeDriver`: the timer wheels of one runtime and the timerfd that wakes the reactor for them.
//!
//! One `TimerWheel` per worker (plus one for every other thread), each behind its own `SpinLock`: a `Sleep`
//! registers in the wheel of the worker it is polled on, so registering and cancelling timers never contend
//! across workers. A single Linux timerfd (`CLOCK_MONOTONIC`, absolute, nanosecond resolution) is registered
//! in the reactor and armed for the earliest deadline of all wheels; `armed` remembers that deadline so the
//! timerfd is re-armed (one `timerfd_settime`) only when a new timer comes earlier, or after firing.
//!
//! Who fires timers: the thread parked in the reactor when the timerfd becomes readable, a busy worker every
//! `event_interval` ticks, and the current-thread loop at each tick, each through `process`, which locks the
//! wheels one by one. A worker stuck in a long poll does not hold its wheel's lock, so its timers still fire
//! on time on another thread, as long as one is watching the reactor: under the default reactor hand-off
//! one is whenever a worker sleeps; under `ReactorHandOff::WhenShared` nobody is while a lone task polls,
//! and due timers wait for that poll to end or for a busy worker's `event_interval` look.
//!
//! Ticks are microseconds since `base`. A deadline maps to the tick at or after it (`tick_for` rounds up)
//! and "now" to the tick at or before it, so a timer never fires early and at most 1 us late on the wheel;
//! the timerfd is armed for the exact tick boundary.

use super::wheel::{TimerEntry, TimerWaker, TimerWheel};
use crate::loom::Mutex;
use crate::reactor::{ReactorRegistry, Registration};
use crate::spin_lock::SpinLock;
use mio::unix::SourceFd;
use mio::Interest;
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use std::cell::Cell;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::ptr::NonNull;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Weak};
use std::task::Waker;
use std::time::{Duration, Instant};

thread_local! {
    /// (driver id, wheel index) of the worker running on this thread.
    static HOME_WHEEL: Cell<(u64, usize)> = const { Cell::new((0, 0)) };
}

/// Keeps each wheel's lock on its own cache lines.
#[repr(align(128))]
struct Padded<T>(T);

pub(crate) struct TimeDriver {
    id: u64,
    base: Instant,
    /// `CLOCK_MONOTONIC` at `base`, in nanoseconds (read just after `base`, so never earlier than it).
    base_mono_ns: u64,
    wheels: Box<[Padded<SpinLock<TimerWheel>>]>,
    timerfd: TimerFd,
    registration: std::sync::Mutex<Option<Registration>>,
    registry: std::sync::Arc<ReactorRegistry>,
    /// The tick the timerfd is armed for; `u64::MAX` when disarmed.
    armed: AtomicU64,
    /// Serialises arming (and `process`), so the timerfd always holds the lowest value written to `armed`.
    /// Holds the tick the timerfd was last set to, so it is re-armed only when that changes.
    arm_lock: Mutex<u64>,
    shutdown: AtomicBool,
}

impl TimeDriver {
    /// A driver with `worker_wheels` wheels for workers plus one for other threads, listed among the live
    /// drivers (`find`) until it is dropped. `id` is the runtime's id, unique in the process.
    pub(crate) fn new(
        registry: &std::sync::Arc<ReactorRegistry>,
        worker_wheels: usize,
        id: u64,
    ) -> io::Result<Arc<TimeDriver>> {
        let timerfd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .map_err(io::Error::from)?;
        let base = Instant::now();
        let base_mono_ns = monotonic_ns()?;
        let fd = timerfd.as_fd().as_raw_fd();
        let registration = registry.register(&mut SourceFd(&fd), Interest::READABLE)?;
        let wheels = (0..worker_wheels + 1)
            .map(|_| Padded(SpinLock::new(TimerWheel::new())))
            .collect();
        let driver = Arc::new(TimeDriver {
            id,
            base,
            base_mono_ns,
            wheels,
            timerfd,
            registration: std::sync::Mutex::new(Some(registration)),
            registry: registry.clone(),
            armed: AtomicU64::new(u64::MAX),
            arm_lock: Mutex::new(u64::MAX),
            shutdown: AtomicBool::new(false),
        });
        live_drivers().push((id, Arc::downgrade(&driver)));
        Ok(driver)
    }

    /// The live driver with this id, if it still exists. For a sleep first polled outside the runtime that
    /// made it (`time/binding.rs`): a global lock, never on a hot path.
    pub(crate) fn find(id: u64) -> Option<Arc<TimeDriver>> {
        live_drivers()
            .iter()
            .find(|(live, _)| *live == id)
            .and_then(|(_, weak)| weak.upgrade())
    }

    /// The id of the runtime this driver belongs to.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Marks this thread as worker `index` of this driver's runtime: its timers go to wheel `index`.
    pub(crate) fn set_home_wheel(&self, index: usize) {
        HOME_WHEEL.with(|h| h.set((self.id, index)));
    }

    /// The wheel a timer registered on this thread goes to.
    pub(crate) fn home_wheel(&self) -> usize {
        let (id, index) = HOME_WHEEL.with(Cell::get);
        if id == self.id && index + 1 < self.wheels.len() {
            index
        } else {
            self.wheels.len() - 1
        }
    }

    /// The first tick at or after `deadline`.
    pub(crate) fn tick_for(&self, deadline: Instant) -> u64 {
        // u64 arithmetic (no u128 division on this hot path): seconds since `base` fit easily.
        let since = deadline.saturating_duration_since(self.base);
        let micros = since
            .as_secs()
            .saturating_mul(1_000_000)
            .saturating_add(u64::from(since.subsec_nanos()).div_ceil(1000));
        micros.clamp(1, u64::MAX - 1)
    }

    /// The last tick at or before now.
    fn now_tick(&self) -> u64 {
        (self.base.elapsed().as_nanos() / 1000) as u64
    }

    /// True when the earliest armed deadline has passed (timers to fire).
    pub(crate) fn is_due(&self) -> bool {
        let armed = self.armed.load(SeqCst);
        armed != u64::MAX && armed <= self.now_tick()
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(SeqCst)
    }

    /// Registers `entry` to fire at `tick` in wheel `wheel`. False if the tick has already passed.
    ///
    /// # Safety
    /// `entry` is pinned, unlinked, and its owner removes it (`remove`) before it is dropped.
    pub(crate) unsafe fn register(
        &self,
        wheel: usize,
        entry: NonNull<TimerEntry>,
        tick: u64,
        waker: TimerWaker,
    ) -> bool {
        let inserted = {
            let mut w = self.wheels[wheel].0.lock();
            // SAFETY: forwarded from the caller.
            unsafe { w.insert(entry, tick, waker) }
        };
        if inserted {
            self.arm_at_most(tick);
        }
        inserted
    }

    /// Unlinks `entry` if it is still registered.
    ///
    /// # Safety
    /// `entry` was registered in wheel `wheel` (or is not registered at all) and is alive.
    pub(crate) unsafe fn remove(&self, wheel: usize, entry: NonNull<TimerEntry>) {
        let old = {
            let mut w = self.wheels[wheel].0.lock();
            // SAFETY: forwarded from the caller.
            unsafe { w.remove(entry) }
        };
        // Dropped unlocked: a waker's destructor may drop (and so remove) another sleep of this wheel.
        drop(old);
    }

    /// Refreshes the waker of a registered entry (uncounted if `borrow`); false if it has fired meanwhile.
    ///
    /// # Safety
    /// As for `remove`, and `borrow` only as `TimerWaker::borrowed` allows.
    pub(crate) unsafe fn update_waker(
        &self,
        wheel: usize,
        entry: NonNull<TimerEntry>,
        waker: &Waker,
        borrow: bool,
    ) -> bool {
        let (registered, old) = {
            let mut w = self.wheels[wheel].0.lock();
            // SAFETY: forwarded from the caller.
            unsafe { w.update_waker(entry, waker, borrow) }
        };
        drop(old); // unlocked, as in `remove`
        registered
    }

    /// Lowers the armed deadline to `tick` if it is earlier, re-arming the timerfd.
    fn arm_at_most(&self, tick: u64) {
        if tick >= self.armed.load(SeqCst) {
            return;
        }
        let mut timerfd_tick = self.arm_lock.lock().unwrap();
        self.arm_locked(&mut timerfd_tick, tick);
    }

    /// With the arm lock held: lowers `armed` to `tick` if earlier, and sets the timerfd unless it already
    /// holds that tick and has not expired yet.
    ///
    /// Skipping the `timerfd_settime` is safe only while the expiry is still ahead: its event then comes
    /// after `armed` holds `tick`, so whoever receives it sees the timers due (`is_due`). If `tick` may have
    /// passed, the expiry may have been delivered while `armed` was `MAX` (inside a `process` that read the
    /// clock just before it) and dropped by a worker that found nothing due; the one-shot timerfd is then
    /// disarmed and would never fire again. Setting it again (for a time in the past: at once) brings a fresh
    /// event. `armed` is stored before the clock is read, so an expiry after the read finds it set.
    fn arm_locked(&self, timerfd_tick: &mut u64, tick: u64) {
        if tick >= self.armed.load(SeqCst) {
            return;
        }
        self.armed.store(tick, SeqCst);
        // `now_tick` is never behind the timerfd's clock, so `tick > now` means it has not fired yet.
        if *timerfd_tick != tick || tick <= self.now_tick() {
            *timerfd_tick = tick;
            self.set_timerfd(tick);
        }
    }

    fn set_timerfd(&self, tick: u64) {
        let at = Duration::from_nanos(self.base_mono_ns.saturating_add(tick.saturating_mul(1000)));
        let result = self.timerfd.set(
            Expiration::OneShot(TimeSpec::from_duration(at)),
            TimerSetTimeFlags::TFD_TIMER_ABSTIME,
        );
        if let Err(e) = result {
            panic!("ferrio: timerfd_settime failed: {e}");
        }
    }

    /// Fires every due timer (waking their tasks after the wheel locks are released) and re-arms the
    /// timerfd for the next deadline. Returns how many fired.
    pub(crate) fn process(&self) -> usize {
        let mut fired = Vec::new();
        {
            let mut timerfd_tick = self.arm_lock.lock().unwrap();
            // From here on a registration compares against MAX (or our final value) and arms for itself.
            self.armed.store(u64::MAX, SeqCst);
            self.drain_timerfd();
            let now = self.now_tick();
            let mut next = u64::MAX;
            for wheel in self.wheels.iter() {
                let mut w = wheel.0.lock();
                w.advance(now, &mut fired);
                if let Some(t) = w.next_expiration() {
                    next = next.min(t);
                }
            }
            // A timerfd still holding `next` is set again only if `next` has passed meanwhile (`arm_locked`).
            self.arm_locked(&mut timerfd_tick, next);
        }
        let n = fired.len();
        for waker in fired {
            waker.wake();
        }
        n
    }

    fn drain_timerfd(&self) {
        let mut buf = [0u8; 8];
        // Non-blocking: EAGAIN when it has not expired (a busy worker got here first); nothing to do then.
        let _ = nix::unistd::read(self.timerfd.as_fd().as_raw_fd(), &mut buf);
    }

    /// Timers registered and not yet fired, over all wheels.
    pub(crate) fn pending(&self) -> usize {
        self.wheels.iter().map(|w| w.0.lock().len()).sum()
    }

    /// The runtime is going away: later polls of its timers panic instead of waiting forever.
    pub(crate) fn shutdown(&self) {
        self.shutdown.store(true, SeqCst);
        if let Some(registration) = self.registration.lock().unwrap().take() {
            let fd = self.timerfd.as_fd().as_raw_fd();
            let _ = self.registry.deregister(&mut SourceFd(&fd), registration);
        }
    }
}

impl Drop for TimeDriver {
    fn drop(&mut self) {
        live_drivers().retain(|(id, _)| *id != self.id);
    }
}

/// Every driver alive in the process, by id (`TimeDriver::find`).
fn live_drivers() -> std::sync::MutexGuard<'static, Vec<(u64, Weak<TimeDriver>)>> {
    static LIVE: std::sync::Mutex<Vec<(u64, Weak<TimeDriver>)>> = std::sync::Mutex::new(Vec::new());
    LIVE.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn monotonic_ns() -> io::Result<u64> {
    let ts =
        nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_err(io::Error::from)?;
    Ok(ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64)
}

/// Sets this thread's timer slack (`prctl(PR_SET_TIMERSLACK)`), returning the previous value.
pub(crate) fn set_timer_slack(slack: Duration) -> Option<u64> {
    let previous = nix::sys::prctl::get_timerslack().ok().map(|v| v as u64);
    // Zero would mean "reset to the default (50 us)": the smallest real slack is 1 ns.
    let ns = u64::try_from(slack.as_nanos()).unwrap_or(u64::MAX).max(1);
    let _ = nix::sys::prctl::set_timerslack(ns);
    previous
}
