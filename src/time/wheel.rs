//! `TimerWheel`: a hierarchical timing wheel with a 1 microsecond tick.
//!
//! Six levels of 64 slots; level `n` slots are `64^n` ticks wide, so the wheel spans `64^6` ticks (about 19
//! hours) ahead of `elapsed`; later deadlines wait in the last slot of the top level and are re-placed each
//! time it comes round. Each level keeps a 64-bit occupancy mask, so finding the next non-empty slot is a
//! rotate and a trailing-zeros count. Insert and remove are O(1): entries are intrusive, doubly linked
//! `TimerEntry` nodes that live inside the `Sleep` futures (pinned), never allocated by the wheel.
//!
//! Data flow: `Sleep` inserts its entry (owner's wheel, under that wheel's lock) -> the driver calls
//! `advance(now)` -> due level-0 slots fire (entry marked fired, waker taken), higher-level slots that come
//! due cascade their entries into lower levels -> the driver wakes the collected wakers after unlocking.
//!
//! # Invariants
//! - Every linked entry is pinned and alive: a `TimerEntry` is linked only while its `Sleep` exists, and the
//!   `Sleep`'s destructor unlinks it under the same wheel lock before the memory can go (`Pin`'s drop
//!   guarantee). The wheel is only touched under its mutex, so the links are never raced.
//! - An entry is in exactly one slot list iff its state is `REGISTERED`; that slot's occupancy bit is set.
//! - `entry.tick > elapsed` for every linked entry; entries with `tick <= elapsed` have fired.
//! - A `TimerWaker::Borrowed` waker is only stored in an entry that lies inside the allocation of the task the
//!   waker points at, a runtime task, which holds a counted reference until its future (with the entry in
//!   it) is dropped (`Schedule::time_driver`). The entry being linked then proves that task alive with a
//!   reference count above zero, so the wheel may clone that waker while the entry is linked and the lock
//!   held, and never touches it otherwise.
//! - Wakers leave the wheel to be dropped or woken after its lock is released (`remove`, `update_waker`
//!   and `advance` hand them back): a waker's destructor may drop a `Sleep` of the same wheel.

use crate::loom::UnsafeCell;
use std::marker::PhantomPinned;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU8;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::task::Waker;

const LEVELS: usize = 6;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
/// Ticks the wheel can hold ahead of `elapsed` without parking an entry in the top level's last slot.
const MAX_SPAN: u64 = 1 << (SLOT_BITS as u64 * LEVELS as u64);

/// Entry states (`TimerEntry::state`).
pub(crate) const IDLE: u8 = 0;
pub(crate) const REGISTERED: u8 = 1;
pub(crate) const FIRED: u8 = 2;

/// A timer node. Lives inside a `Sleep`; only the wheel that holds it (under its lock) touches `links`.
pub(crate) struct TimerEntry {
    /// `IDLE`, `REGISTERED` or `FIRED`. Written under the wheel lock; read without it by `Sleep::poll`.
    state: AtomicU8,
    links: UnsafeCell<Links>,
    _pinned: PhantomPinned,
}

struct Links {
    tick: u64,
    level: u8,
    slot: u8,
    prev: Option<NonNull<TimerEntry>>,
    next: Option<NonNull<TimerEntry>>,
    waker: Option<TimerWaker>,
}

/// The waker a registered entry wakes when it fires.
pub(crate) enum TimerWaker {
    /// A clone the entry owns (one counted reference).
    Owned(Waker),
    /// The waker of the task whose allocation holds the entry, not counted (module invariants): registering
    /// and cancelling such a timer touch no reference count. Firing clones it under the wheel lock.
    Borrowed(ManuallyDrop<Waker>),
}

impl TimerWaker {
    /// An uncounted copy of `waker`.
    ///
    /// # Safety
    /// Stored only in an entry inside the allocation of the task `waker` points at (module invariants).
    pub(crate) unsafe fn borrowed(waker: &Waker) -> TimerWaker {
        // SAFETY: a bitwise copy that is never dropped (`ManuallyDrop`) releases no reference; the caller
        // guarantees the task outlives every use (module invariants).
        TimerWaker::Borrowed(ManuallyDrop::new(unsafe { std::ptr::read(waker) }))
    }

    fn will_wake(&self, other: &Waker) -> bool {
        match self {
            TimerWaker::Owned(w) => w.will_wake(other),
            TimerWaker::Borrowed(w) => w.will_wake(other),
        }
    }

    /// A counted waker to wake once the lock is released. Called under the wheel lock while the entry is
    /// still linked, which keeps a borrowed waker's task alive for the clone.
    fn into_owned(self) -> Waker {
        match self {
            TimerWaker::Owned(w) => w,
            TimerWaker::Borrowed(w) => Waker::clone(&w),
        }
    }
}

impl TimerEntry {
    pub(crate) fn new() -> TimerEntry {
        TimerEntry {
            state: AtomicU8::new(IDLE),
            links: UnsafeCell::new(Links {
                tick: 0,
                level: 0,
                slot: 0,
                prev: None,
                next: None,
                waker: None,
            }),
            _pinned: PhantomPinned,
        }
    }

    pub(crate) fn state(&self) -> u8 {
        self.state.load(Acquire)
    }

    /// Back to `IDLE` after firing or removal, so the owner can register again. Only valid while unlinked.
    pub(crate) fn reset_fired(&self) {
        debug_assert_ne!(self.state(), REGISTERED);
        self.state.store(IDLE, Release);
    }
}

struct Level {
    occupied: u64,
    heads: [Option<NonNull<TimerEntry>>; SLOTS],
}

/// One wheel. Not thread-safe by itself: the driver keeps each behind a mutex.
pub(crate) struct TimerWheel {
    /// Every tick up to and including `elapsed` has been processed.
    elapsed: u64,
    levels: Box<[Level; LEVELS]>,
    len: usize,
}

// SAFETY: the raw entry pointers are only followed while the wheel is borrowed mutably, which the driver
// does only under the wheel's mutex (module invariants); the entries are `Sync` for the same reason.
unsafe impl Send for TimerWheel {}

/// Where `tick` belongs relative to `elapsed`: (level, slot).
fn position(elapsed: u64, tick: u64) -> (usize, usize) {
    // The highest digit in which `tick` differs from `elapsed` picks the level. Ticks beyond the span go to
    // the top level (their slot index wraps) and are re-placed each time that slot comes round.
    let differing = ((elapsed ^ tick) | (SLOTS as u64 - 1)).min(MAX_SPAN - 1);
    let level = ((63 - differing.leading_zeros()) / SLOT_BITS) as usize;
    let slot = ((tick >> (level as u32 * SLOT_BITS)) as usize) & (SLOTS - 1);
    (level, slot)
}

impl TimerWheel {
    pub(crate) fn new() -> TimerWheel {
        const EMPTY: Level = Level {
            occupied: 0,
            heads: [None; SLOTS],
        };
        TimerWheel {
            elapsed: 0,
            levels: Box::new([EMPTY; LEVELS]),
            len: 0,
        }
    }

    #[cfg(all(test, not(ferrio_loom)))]
    pub(crate) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Links `entry` to fire at `tick` with `waker`. Returns false (and links nothing) if `tick` has already
    /// been processed: the caller treats the timer as expired.
    ///
    /// # Safety
    /// `entry` is pinned and stays alive until it is removed or fired (its owner removes it on drop), and it
    /// is not linked in any wheel.
    pub(crate) unsafe fn insert(
        &mut self,
        entry: NonNull<TimerEntry>,
        tick: u64,
        waker: TimerWaker,
    ) -> bool {
        if tick <= self.elapsed {
            return false;
        }
        // SAFETY: caller's contract: the entry is alive, unlinked, and we hold the wheel (lock).
        unsafe { entry.as_ref() }.links.with_mut(|links| {
            // SAFETY: as above: exclusive access to the links.
            let links = unsafe { &mut *links };
            links.tick = tick;
            links.waker = Some(waker);
        });
        // SAFETY: as above.
        unsafe { self.link(entry) };
        // SAFETY: as above.
        unsafe { entry.as_ref() }.state.store(REGISTERED, Release);
        self.len += 1;
        true
    }

    /// # Safety
    /// `entry` is alive and unlinked, with `links.tick > elapsed`; the wheel is locked.
    unsafe fn link(&mut self, entry: NonNull<TimerEntry>) {
        let elapsed = self.elapsed;
        // SAFETY: caller's contract.
        let (level, slot) = unsafe { entry.as_ref() }.links.with_mut(|links| {
            // SAFETY: exclusive access under the wheel lock.
            let links = unsafe { &mut *links };
            let (level, slot) = position(elapsed, links.tick);
            links.level = level as u8;
            links.slot = slot as u8;
            links.prev = None;
            links.next = self.levels[level].heads[slot];
            (level, slot)
        });
        if let Some(old_head) = self.levels[level].heads[slot] {
            // SAFETY: linked entries are alive (module invariants); lock held.
            unsafe { old_head.as_ref() }
                .links
                .with_mut(|l| unsafe { (*l).prev = Some(entry) });
        }
        self.levels[level].heads[slot] = Some(entry);
        self.levels[level].occupied |= 1 << slot;
    }

    /// Unlinks a registered entry (its `Sleep` is dropped or reset). Does nothing if it already fired.
    /// Returns the waker the entry held, for the caller to drop once the wheel lock is released: a waker's
    /// destructor may drop a `Sleep` of this very wheel, whose removal would wait for the lock.
    ///
    /// # Safety
    /// `entry` is alive and, if `REGISTERED`, linked in this wheel; the wheel is locked.
    #[must_use = "drop the returned waker after releasing the wheel lock"]
    pub(crate) unsafe fn remove(&mut self, entry: NonNull<TimerEntry>) -> Option<TimerWaker> {
        // SAFETY: caller's contract.
        let entry_ref = unsafe { entry.as_ref() };
        if entry_ref.state.load(Acquire) != REGISTERED {
            return None;
        }
        // SAFETY: registered, so linked here.
        unsafe { self.unlink(entry) };
        // SAFETY: lock held; the waker leaves with the registration.
        let waker = entry_ref.links.with_mut(|l| unsafe { (*l).waker.take() });
        entry_ref.state.store(IDLE, Release);
        self.len -= 1;
        waker
    }

    /// # Safety
    /// `entry` is alive and linked in this wheel; the wheel is locked.
    unsafe fn unlink(&mut self, entry: NonNull<TimerEntry>) {
        // SAFETY: caller's contract (all derefs below: linked entries are alive, lock held).
        let (level, slot, prev, next) = unsafe { entry.as_ref() }.links.with_mut(|l| {
            // SAFETY: exclusive access under the wheel lock.
            let l = unsafe { &mut *l };
            (
                l.level as usize,
                l.slot as usize,
                l.prev.take(),
                l.next.take(),
            )
        });
        match prev {
            // SAFETY: see above.
            Some(p) => unsafe { p.as_ref() }
                .links
                .with_mut(|l| unsafe { (*l).next = next }),
            None => self.levels[level].heads[slot] = next,
        }
        if let Some(n) = next {
            // SAFETY: see above.
            unsafe { n.as_ref() }
                .links
                .with_mut(|l| unsafe { (*l).prev = prev });
        }
        if self.levels[level].heads[slot].is_none() {
            self.levels[level].occupied &= !(1 << slot);
        }
    }

    /// Replaces the waker of a registered entry (with an uncounted copy if `borrow`). Returns whether it is
    /// still registered (false: it fired), and the replaced waker, for the caller to drop once the wheel
    /// lock is released (see `remove`).
    ///
    /// # Safety
    /// `entry` is alive and belongs to this wheel if registered; the wheel is locked. `borrow` only as
    /// `TimerWaker::borrowed` allows.
    #[must_use = "drop the returned waker after releasing the wheel lock"]
    pub(crate) unsafe fn update_waker(
        &mut self,
        entry: NonNull<TimerEntry>,
        waker: &Waker,
        borrow: bool,
    ) -> (bool, Option<TimerWaker>) {
        // SAFETY: caller's contract.
        let entry = unsafe { entry.as_ref() };
        if entry.state.load(Acquire) != REGISTERED {
            return (false, None);
        }
        let replaced = entry.links.with_mut(|l| {
            // SAFETY: lock held, entry registered here.
            let slot = unsafe { &mut (*l).waker };
            if slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
                return None;
            }
            let new = if borrow {
                // SAFETY: forwarded from the caller.
                unsafe { TimerWaker::borrowed(waker) }
            } else {
                TimerWaker::Owned(waker.clone())
            };
            slot.replace(new)
        });
        (true, replaced)
    }

    /// The tick at which the next slot comes due, if any entry is linked.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        self.next_slot().map(|(_, _, tick)| tick)
    }

    /// The earliest non-empty slot: (level, slot, tick at which it comes due). The lowest non-empty level
    /// always holds the earliest slot: its entries share every higher digit with `elapsed`.
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        for (level, lv) in self.levels.iter().enumerate() {
            if lv.occupied == 0 {
                continue;
            }
            let shift = level as u32 * SLOT_BITS;
            let now_slot = ((self.elapsed >> shift) as usize) & (SLOTS - 1);
            let distance = lv.occupied.rotate_right(now_slot as u32).trailing_zeros() as usize;
            let slot = (now_slot + distance) & (SLOTS - 1);
            let level_span = 1u64 << (shift + SLOT_BITS);
            let level_start = self.elapsed & !(level_span - 1);
            let mut tick = level_start + ((slot as u64) << shift);
            if tick <= self.elapsed {
                // A slot behind the current position (or the current top-level slot, which only holds
                // entries beyond the span) comes due on the level's next rotation.
                tick += level_span;
            }
            return Some((level, slot, tick));
        }
        None
    }

    /// Processes every tick up to `now`: fires due entries (pushing their wakers to `fired`) and cascades
    /// higher-level slots that come due.
    pub(crate) fn advance(&mut self, now: u64, fired: &mut Vec<Waker>) {
        while let Some((level, slot, tick)) = self.next_slot() {
            if tick > now {
                break;
            }
            // Time reaches the slot's first tick: its entries that are not due re-place one level down.
            self.elapsed = tick;
            let mut cursor = self.levels[level].heads[slot].take();
            self.levels[level].occupied &= !(1 << slot);
            while let Some(entry) = cursor {
                // SAFETY: linked entries are alive; the wheel is borrowed mutably (locked).
                let entry_ref = unsafe { entry.as_ref() };
                let (next, due) = entry_ref.links.with_mut(|l| {
                    // SAFETY: exclusive under the lock.
                    let l = unsafe { &mut *l };
                    l.prev = None;
                    (l.next.take(), l.tick <= now)
                });
                cursor = next;
                if due {
                    entry_ref.links.with_mut(|l| {
                        // SAFETY: as above. The entry is still `REGISTERED` and its owner cannot unlink it
                        // without this lock, so a borrowed waker's task is alive for the clone.
                        fired.extend(unsafe { (*l).waker.take() }.map(TimerWaker::into_owned));
                    });
                    entry_ref.state.store(FIRED, Release);
                    self.len -= 1;
                } else {
                    // Cascade: the entry lands in a lower level (or the same top slot if still beyond span).
                    // SAFETY: alive, just detached, tick > elapsed.
                    unsafe { self.link(entry) };
                }
            }
        }
        self.elapsed = self.elapsed.max(now);
    }
}

impl Drop for TimerWheel {
    fn drop(&mut self) {
        // Every bound `Sleep` keeps its driver (and so this wheel) alive, through an `Arc` or its task's hook,
        // so no entry should be linked here. Should one be, detach it, so its destructor does not touch
        // this wheel (it sees `IDLE` and skips the removal).
        for level in self.levels.iter_mut() {
            for head in level.heads.iter_mut() {
                let mut cursor = head.take();
                while let Some(entry) = cursor {
                    // SAFETY: linked entries are alive; we own the wheel.
                    let entry_ref = unsafe { entry.as_ref() };
                    cursor = entry_ref.links.with_mut(|l| {
                        // SAFETY: exclusive (the wheel is being dropped under its owner).
                        let l = unsafe { &mut *l };
                        l.prev = None;
                        l.waker = None;
                        l.next.take()
                    });
                    entry_ref.state.store(IDLE, Release);
                }
            }
            level.occupied = 0;
        }
    }
}

#[cfg(test)]
#[path = "wheel_tests.rs"]
mod wheel_tests;
