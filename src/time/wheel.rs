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

use crate::loom::UnsafeCell;
use std::marker::PhantomPinned;
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
    waker: Option<Waker>,
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
        waker: Waker,
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
    ///
    /// # Safety
    /// `entry` is alive and, if `REGISTERED`, linked in this wheel; the wheel is locked.
    pub(crate) unsafe fn remove(&mut self, entry: NonNull<TimerEntry>) {
        // SAFETY: caller's contract.
        let entry_ref = unsafe { entry.as_ref() };
        if entry_ref.state.load(Acquire) != REGISTERED {
            return;
        }
        // SAFETY: registered, so linked here.
        unsafe { self.unlink(entry) };
        // SAFETY: lock held; drop the waker with the registration.
        entry_ref.links.with_mut(|l| unsafe { (*l).waker = None });
        entry_ref.state.store(IDLE, Release);
        self.len -= 1;
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

    /// Replaces the waker of a registered entry. Returns false if it is no longer registered (fired).
    ///
    /// # Safety
    /// `entry` is alive and belongs to this wheel if registered; the wheel is locked.
    pub(crate) unsafe fn update_waker(
        &mut self,
        entry: NonNull<TimerEntry>,
        waker: &Waker,
    ) -> bool {
        // SAFETY: caller's contract.
        let entry = unsafe { entry.as_ref() };
        if entry.state.load(Acquire) != REGISTERED {
            return false;
        }
        entry.links.with_mut(|l| {
            // SAFETY: lock held, entry registered here.
            let slot = unsafe { &mut (*l).waker };
            if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
                *slot = Some(waker.clone());
            }
        });
        true
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
                        // SAFETY: as above.
                        fired.extend(unsafe { (*l).waker.take() });
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
        // Entries still linked belong to `Sleep`s that outlive the runtime: detach them so their destructors
        // do not touch this wheel (they see `IDLE` and skip the removal).
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

#[cfg(all(test, not(ferrio_loom)))]
mod tests {
    use super::*;
    use std::pin::Pin;

    fn noop() -> Waker {
        Waker::noop().clone()
    }

    fn ptr(e: &Pin<Box<TimerEntry>>) -> NonNull<TimerEntry> {
        NonNull::from(&**e)
    }

    #[test]
    fn positions_by_level() {
        assert_eq!(position(0, 1), (0, 1));
        assert_eq!(position(0, 63), (0, 63));
        assert_eq!(position(0, 64), (1, 1));
        assert_eq!(position(0, 64 * 64), (2, 1));
        assert_eq!(position(10, 5000), (2, 1));
        assert_eq!(position(0, u64::MAX).0, LEVELS - 1);
        // Regression: far deadlines once the wheel has moved (the span crosses a 2^36 boundary).
        for elapsed in [1, 12_345, (1 << 36) - 1, 1 << 40] {
            for tick in [elapsed + (1 << 36), elapsed + (1 << 37) + 5, u64::MAX - 1] {
                assert_eq!(
                    position(elapsed, tick).0,
                    LEVELS - 1,
                    "elapsed {elapsed} tick {tick}"
                );
            }
        }
    }

    #[test]
    fn fires_in_order_never_early_and_cascades() {
        let mut wheel = TimerWheel::new();
        let ticks = [
            1u64, 2, 63, 64, 65, 100, 4095, 4096, 4097, 300_000, 50_000_000,
        ];
        let entries: Vec<_> = ticks.iter().map(|_| Box::pin(TimerEntry::new())).collect();
        for (e, &t) in entries.iter().zip(&ticks) {
            // SAFETY: boxed and pinned, outlive the wheel use, not linked.
            assert!(unsafe { wheel.insert(ptr(e), t, noop()) });
        }
        assert_eq!(wheel.len(), ticks.len());
        let mut fired = Vec::new();
        let mut now = 0;
        for (i, &t) in ticks.iter().enumerate() {
            // Just before the deadline: nothing new fires.
            wheel.advance(t - 1, &mut fired);
            assert_eq!(fired.len(), i, "fired early before tick {t}");
            assert_eq!(wheel.next_expiration().map(|x| x <= t), Some(true));
            wheel.advance(t, &mut fired);
            assert_eq!(fired.len(), i + 1, "tick {t} did not fire on time");
            assert_eq!(entries[i].state(), FIRED);
            now = t;
        }
        assert_eq!(wheel.len(), 0);
        assert!(wheel.next_expiration().is_none());
        assert_eq!(wheel.elapsed(), now);
    }

    #[test]
    fn far_deadlines_wait_at_the_top_and_fire_on_time() {
        let mut wheel = TimerWheel::new();
        let mut fired = Vec::new();
        wheel.advance(12_345, &mut fired); // move off zero, as a running runtime has
        let far = [
            12_345 + (1u64 << 36) + 7,
            12_345 + (3u64 << 36),
            u64::MAX - 1,
        ];
        let entries: Vec<_> = far.iter().map(|_| Box::pin(TimerEntry::new())).collect();
        for (e, &t) in entries.iter().zip(&far) {
            // SAFETY: pinned boxes alive for the test.
            assert!(unsafe { wheel.insert(ptr(e), t, noop()) });
        }
        wheel.advance(far[0] - 1, &mut fired);
        assert!(fired.is_empty(), "nothing early");
        wheel.advance(far[0], &mut fired);
        assert_eq!(fired.len(), 1);
        wheel.advance(far[1], &mut fired);
        assert_eq!(fired.len(), 2);
        assert_eq!(
            entries[2].state(),
            REGISTERED,
            "u64::MAX - 1 is still far away"
        );
        // The wheel goes first (detaching the last entry), as a `Sleep` would unlink itself before going.
        drop(wheel);
        assert_eq!(entries[2].state(), IDLE);
    }

    #[test]
    fn remove_and_expired_insert() {
        let mut wheel = TimerWheel::new();
        let a = Box::pin(TimerEntry::new());
        let b = Box::pin(TimerEntry::new());
        // SAFETY: pinned boxes alive for the whole test.
        unsafe {
            assert!(wheel.insert(ptr(&a), 1000, noop()));
            assert!(wheel.insert(ptr(&b), 1000, noop()));
            wheel.remove(ptr(&a));
        }
        assert_eq!(a.state(), IDLE);
        let mut fired = Vec::new();
        wheel.advance(2000, &mut fired);
        assert_eq!(fired.len(), 1);
        assert_eq!(b.state(), FIRED);
        let c = Box::pin(TimerEntry::new());
        // SAFETY: pinned box alive for the test.
        let inserted = unsafe { wheel.insert(ptr(&c), 1500, noop()) };
        assert!(!inserted, "already past");
    }

    #[test]
    fn random_deadlines_fire_exactly_once_and_never_early() {
        let mut wheel = TimerWheel::new();
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // Miri is ~1000x slower: a smaller run still crosses every level.
        let n = if cfg!(miri) { 300 } else { 20_000 };
        let entries: Vec<_> = (0..n).map(|_| Box::pin(TimerEntry::new())).collect();
        let ticks: Vec<u64> = (0..n).map(|_| 1 + rand() % 10_000_000).collect();
        for (e, &t) in entries.iter().zip(&ticks) {
            // SAFETY: pinned boxes alive for the test.
            assert!(unsafe { wheel.insert(ptr(e), t, noop()) });
        }
        let mut fired = Vec::new();
        let mut now = 0;
        while wheel.len() > 0 {
            now += 1 + rand() % 50_000;
            wheel.advance(now, &mut fired);
            for (e, &t) in entries.iter().zip(&ticks) {
                assert_eq!(e.state() == FIRED, t <= now, "tick {t} at now {now}");
            }
        }
        assert_eq!(fired.len(), n);
    }
}

#[cfg(all(test, ferrio_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::{Arc, Mutex};
    use loom::thread;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    /// A pinned entry whose address may travel to another thread (the wheel reaches it only under its lock).
    struct EntryPtr(NonNull<TimerEntry>);
    // SAFETY: the entry is only touched under the wheel mutex, and it outlives both threads of the model.
    unsafe impl Send for EntryPtr {}

    /// Registration on one thread races firing on another, then the owner drops the timer: the waker is
    /// woken at most once, only if the timer was linked when the wheel advanced, and nothing stays linked.
    #[test]
    fn loom_register_fire_and_drop_race() {
        loom::model(|| {
            let wheel = Arc::new(Mutex::new(TimerWheel::new()));
            let entry: Pin<Box<TimerEntry>> = Box::pin(TimerEntry::new());
            let count = std::sync::Arc::new(Count(AtomicUsize::new(0)));
            let waker = Waker::from(count.clone());

            let w2 = wheel.clone();
            let firer = thread::spawn(move || {
                let mut fired = Vec::new();
                w2.lock().unwrap().advance(100, &mut fired);
                // Wake outside the lock, as the driver does.
                let n = fired.len();
                fired.into_iter().for_each(Waker::wake);
                n
            });

            let ptr = EntryPtr(NonNull::from(&*entry));
            // SAFETY: the boxed entry is pinned and outlives the model; it is not linked yet.
            let inserted = unsafe { wheel.lock().unwrap().insert(ptr.0, 50, waker) };
            let fired_by_advance = firer.join().unwrap();
            // The owner drops its timer: unlink if still registered.
            // SAFETY: alive, and registered (if at all) in this wheel.
            unsafe { wheel.lock().unwrap().remove(ptr.0) };

            assert!(
                entry.state() != REGISTERED,
                "nothing stays linked after the owner removed it"
            );
            assert!(fired_by_advance <= 1);
            assert_eq!(
                count.0.load(SeqCst),
                fired_by_advance,
                "woken exactly when fired"
            );
            if inserted && fired_by_advance == 1 {
                assert_eq!(entry.state(), FIRED);
            }
            assert_eq!(wheel.lock().unwrap().len(), 0);
        });
    }
}

#[cfg(all(test, not(ferrio_loom)))]
mod interleaved_tests {
    use super::*;
    use std::pin::Pin;

    /// Inserts relative to a moving `now`, interleaved with advances, as a running driver does: every entry
    /// fires in the first advance that reaches its tick, never before.
    #[test]
    fn inserts_interleaved_with_advances_fire_exactly_on_time() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut wheel = TimerWheel::new();
        let mut live: Vec<(Pin<Box<TimerEntry>>, u64)> = Vec::new();
        let mut fired = Vec::new();
        let mut now = 0u64;
        let rounds = if cfg!(miri) { 50 } else { 3_000 };
        for _ in 0..rounds {
            for _ in 0..(rand() % 20) {
                let span = [70u64, 5_000, 300_000, 20_000_000][(rand() % 4) as usize];
                let tick = now + 1 + rand() % span;
                let e = Box::pin(TimerEntry::new());
                // SAFETY: boxed and pinned; kept in `live` until the wheel is dropped.
                assert!(unsafe { wheel.insert(NonNull::from(&*e), tick, Waker::noop().clone()) });
                live.push((e, tick));
            }
            now += rand() % 3_000;
            wheel.advance(now, &mut fired);
            for (e, tick) in &live {
                assert_eq!(e.state() == FIRED, *tick <= now, "tick {tick} at now {now}");
            }
            live.retain(|(e, _)| e.state() != FIRED);
        }
        drop(wheel);
    }
}
