//! `LocalQueue`: a worker's fixed-capacity run queue. The owning worker pushes and pops at the two ends; any
//! other worker may steal half of it at once through a `Stealer`.
//!
//! Layout: a ring of `CAPACITY` slots, a `tail` written only by the owner, and a `head` word packing two
//! 32-bit positions: `real`, the next slot to pop or steal, and `steal`, the start of a steal in progress
//! (equal to `real` when no steal is running). A stealer first advances `real` past the slots it claims,
//! copies them out, then sets `steal = real`. The owner never writes slots in `[steal, tail)`, so a slow
//! stealer's slots stay intact until it finishes. At most one steal runs at a time per queue.
//!
//! When the ring is full, the owner moves half of it to the injection queue in one claim (`push_overflow`).
//!
//! # Invariants
//! - Slots in `[steal, tail)` hold initialised tasks, each carrying one `Notified` reference. Only the owner
//!   writes slots, and only at positions in `[tail, steal + CAPACITY)`.
//! - A slot is read only by the party whose compare-and-swap on `head` claimed its position.
//! - Positions are 32-bit and wrap: a stealer preempted between its load of `head` and its CAS while the
//!   owner pushes and pops exactly 2^32 tasks could succeed on a stale value (ABA). Like tokio's queue, we
//!   accept that risk as unreachable in practice (billions of operations inside one preemption).

use crate::loom::{Arc, AtomicU32, AtomicU64, UnsafeCell};
use crate::task::{Notified, RawTask};
use std::mem::MaybeUninit;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

#[cfg(not(ferrio_loom))]
pub(crate) const CAPACITY: usize = 256;
#[cfg(ferrio_loom)]
pub(crate) const CAPACITY: usize = 4;
const MASK: usize = CAPACITY - 1;

struct Inner {
    head: AtomicU64,
    tail: AtomicU32,
    buffer: Box<[UnsafeCell<MaybeUninit<RawTask>>]>,
}

/// The owner's end of a worker queue (not `Clone`: exactly one owner).
// SAFETY: slots are handed between threads only through the `head`/`tail` protocol above (each slot is
// accessed by the one party that claimed it), and `RawTask` itself is `Send`.
unsafe impl Sync for Inner {}
// SAFETY: as for `Sync`.
unsafe impl Send for Inner {}

pub(crate) struct LocalQueue {
    inner: Arc<Inner>,
}

/// The stealing end, held by every other worker.
#[derive(Clone)]
pub(crate) struct Stealer {
    inner: Arc<Inner>,
}

fn pack(steal: u32, real: u32) -> u64 {
    (u64::from(steal) << 32) | u64::from(real)
}

fn unpack(head: u64) -> (u32, u32) {
    ((head >> 32) as u32, head as u32)
}

pub(crate) fn new() -> (LocalQueue, Stealer) {
    let buffer = (0..CAPACITY)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let inner = Arc::new(Inner {
        head: AtomicU64::new(0),
        tail: AtomicU32::new(0),
        buffer,
    });
    (
        LocalQueue {
            inner: inner.clone(),
        },
        Stealer { inner },
    )
}

impl Inner {
    /// # Safety
    /// The caller owns position `pos` by the module invariants (it is the owner writing a free slot).
    unsafe fn write(&self, pos: u32, task: RawTask) {
        // SAFETY: forwarded: no one else reads or writes this slot now.
        self.buffer[pos as usize & MASK].with_mut(|slot| unsafe { (*slot).write(task) });
    }

    /// # Safety
    /// The caller claimed position `pos` with a successful CAS on `head`.
    unsafe fn read(&self, pos: u32) -> RawTask {
        // SAFETY: forwarded: the slot is initialised and claimed by the caller alone.
        self.buffer[pos as usize & MASK].with(|slot| unsafe { (*slot).assume_init_read() })
    }

    fn len(&self) -> u32 {
        let (_, real) = unpack(self.head.load(Acquire));
        self.tail.load(Acquire).wrapping_sub(real)
    }
}

impl LocalQueue {
    /// Tasks waiting (a snapshot; stealers may take some at any time).
    pub(crate) fn len(&self) -> usize {
        self.inner.len() as usize
    }

    /// Appends a task; when the ring is full, moves half of it plus `task` to `overflow` in one batch.
    pub(crate) fn push_back(&mut self, task: Notified, overflow: &dyn Fn(Vec<Notified>)) {
        let mut task = task.into_raw();
        loop {
            let (steal, real) = unpack(self.inner.head.load(Acquire));
            // Only the owner writes `tail`.
            let tail = self.inner.tail.load(Relaxed);
            if tail.wrapping_sub(steal) < CAPACITY as u32 {
                // SAFETY: `tail` is outside `[steal, tail)`, within `steal + CAPACITY`: a free slot only we write.
                unsafe { self.inner.write(tail, task) };
                self.inner.tail.store(tail.wrapping_add(1), Release);
                return;
            }
            if steal != real {
                // A stealer is emptying the ring right now; do not wait for it.
                overflow(vec![Notified::from_raw(task)]);
                return;
            }
            match self.push_overflow(task, real, tail, overflow) {
                Ok(()) => return,
                Err(back) => task = back, // a stealer took some tasks first; there is room now
            }
        }
    }

    fn push_overflow(
        &mut self,
        task: RawTask,
        head: u32,
        tail: u32,
        overflow: &dyn Fn(Vec<Notified>),
    ) -> Result<(), RawTask> {
        const HALF: u32 = (CAPACITY / 2) as u32;
        debug_assert_eq!(tail.wrapping_sub(head), CAPACITY as u32);
        let claimed = pack(head.wrapping_add(HALF), head.wrapping_add(HALF));
        if self
            .inner
            .head
            .compare_exchange(pack(head, head), claimed, Release, Relaxed)
            .is_err()
        {
            return Err(task);
        }
        let mut batch = Vec::with_capacity(HALF as usize + 1);
        for i in 0..HALF {
            // SAFETY: our CAS claimed positions `head .. head + HALF`.
            batch.push(Notified::from_raw(unsafe {
                self.inner.read(head.wrapping_add(i))
            }));
        }
        batch.push(Notified::from_raw(task));
        overflow(batch);
        Ok(())
    }

    /// Takes the oldest task.
    pub(crate) fn pop(&mut self) -> Option<Notified> {
        let mut head = self.inner.head.load(Acquire);
        loop {
            let (steal, real) = unpack(head);
            if real == self.inner.tail.load(Relaxed) {
                return None;
            }
            let next_real = real.wrapping_add(1);
            let next = if steal == real {
                pack(next_real, next_real)
            } else {
                pack(steal, next_real)
            };
            match self
                .inner
                .head
                .compare_exchange(head, next, AcqRel, Acquire)
            {
                // SAFETY: the CAS claimed position `real`.
                Ok(_) => return Some(Notified::from_raw(unsafe { self.inner.read(real) })),
                Err(actual) => head = actual,
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Stealer {
    /// True if the queue looked non-empty.
    pub(crate) fn has_tasks(&self) -> bool {
        self.inner.len() > 0
    }

    /// Tasks waiting (a snapshot, for stats).
    pub(crate) fn len(&self) -> usize {
        self.inner.len() as usize
    }

    /// Moves about half of this queue into `dst` (which must be the caller's own, empty-enough queue) and
    /// returns one of the stolen tasks to run now. Also returns how many tasks moved in all.
    pub(crate) fn steal_into(&self, dst: &mut LocalQueue) -> Option<(Notified, usize)> {
        let dst_tail = dst.inner.tail.load(Relaxed);
        let (dst_steal, _) = unpack(dst.inner.head.load(Acquire));
        if dst_tail.wrapping_sub(dst_steal) > (CAPACITY / 2) as u32 {
            return None; // no room for half a queue; the caller has work of its own anyway
        }
        let n = self.claim_and_copy(dst, dst_tail);
        if n == 0 {
            return None;
        }
        // Run the last one copied; publish the others.
        let last = dst_tail.wrapping_add(n - 1);
        // SAFETY: we wrote this slot of our own queue just now and have not published it.
        let task = unsafe { dst.inner.read(last) };
        if n > 1 {
            dst.inner.tail.store(last, Release);
        }
        Some((Notified::from_raw(task), n as usize))
    }

    fn claim_and_copy(&self, dst: &mut LocalQueue, dst_tail: u32) -> u32 {
        let mut prev = self.inner.head.load(Acquire);
        let (steal, n, claimed) = loop {
            let (steal, real) = unpack(prev);
            if steal != real {
                return 0; // another steal is running
            }
            let tail = self.inner.tail.load(Acquire);
            let available = tail.wrapping_sub(real);
            let n = available - available / 2;
            if n == 0 {
                return 0;
            }
            let next = pack(steal, real.wrapping_add(n));
            match self
                .inner
                .head
                .compare_exchange(prev, next, AcqRel, Acquire)
            {
                Ok(_) => break (steal, n, next),
                Err(actual) => prev = actual,
            }
        };
        for i in 0..n {
            // SAFETY: our CAS claimed `steal .. steal + n` of the source; the destination positions are past
            // `dst_tail`, which only we (the destination's owner) write.
            unsafe {
                let task = self.inner.read(steal.wrapping_add(i));
                dst.inner.write(dst_tail.wrapping_add(i), task);
            }
        }
        // End the steal: `steal` catches up with `real` (which the owner may have advanced meanwhile).
        let mut prev = claimed;
        loop {
            let (_, real) = unpack(prev);
            match self
                .inner
                .head
                .compare_exchange(prev, pack(real, real), AcqRel, Acquire)
            {
                Ok(_) => return n,
                Err(actual) => prev = actual,
            }
        }
    }
}

impl Drop for LocalQueue {
    fn drop(&mut self) {
        // Release the references of any task left behind (normally the worker drains the queue first).
        while let Some(task) = self.pop() {
            drop(task);
        }
    }
}

#[cfg(all(test, ferrio_loom))]
mod loom_tests {
    use super::*;
    use crate::task::testing::{counting_task, NoopScheduler};
    use loom::thread;

    /// The owner pushes and pops while a stealer steals: every task is run (or dropped) exactly once.
    #[test]
    fn push_pop_against_steal() {
        loom::model(|| {
            let (mut local, stealer) = new();
            let (mut thief, _) = new();
            let (tasks, ran) = counting_task::<NoopScheduler>(3);
            for t in tasks {
                local.push_back(t, &|_| panic!("no overflow expected"));
            }
            let th = thread::spawn(move || {
                let mut n = 0;
                if let Some((t, _)) = stealer.steal_into(&mut thief) {
                    t.run();
                    n += 1;
                }
                while let Some(t) = thief.pop() {
                    t.run();
                    n += 1;
                }
                n
            });
            let mut n = 0;
            while let Some(t) = local.pop() {
                t.run();
                n += 1;
            }
            n += th.join().unwrap();
            assert_eq!(n, 3);
            assert_eq!(ran.load(Relaxed), 3);
        });
    }

    /// Overflow while a stealer runs: no task is lost or duplicated.
    #[test]
    fn overflow_against_steal() {
        loom::model(|| {
            let (mut local, stealer) = new();
            let (mut thief, _) = new();
            let (tasks, ran) = counting_task::<NoopScheduler>(CAPACITY + 1);
            let overflowed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let th = thread::spawn(move || {
                let mut n = 0;
                if let Some((t, _)) = stealer.steal_into(&mut thief) {
                    t.run();
                    n += 1;
                }
                while let Some(t) = thief.pop() {
                    t.run();
                    n += 1;
                }
                n
            });
            let sink = overflowed.clone();
            for t in tasks {
                local.push_back(t, &|batch| sink.lock().unwrap().extend(batch));
            }
            let mut n = th.join().unwrap();
            while let Some(t) = local.pop() {
                t.run();
                n += 1;
            }
            for t in overflowed.lock().unwrap().drain(..) {
                t.run();
                n += 1;
            }
            assert_eq!(n, CAPACITY + 1);
            assert_eq!(ran.load(Relaxed), CAPACITY + 1);
        });
    }
}

#[cfg(all(test, not(ferrio_loom)))]
mod tests {
    use super::*;
    use crate::task::testing::{counting_task, NoopScheduler};

    #[test]
    fn fifo_overflow_and_steal_half() {
        let (mut local, stealer) = new();
        let (tasks, ran) = counting_task::<NoopScheduler>(CAPACITY + 10);
        let spilled = std::cell::RefCell::new(Vec::new());
        for t in tasks {
            local.push_back(t, &|batch| spilled.borrow_mut().extend(batch));
        }
        // One overflow moved half the ring plus the new task.
        assert_eq!(spilled.borrow().len(), CAPACITY / 2 + 1);
        assert_eq!(local.len(), CAPACITY + 10 - (CAPACITY / 2 + 1));

        let (mut thief, _) = new();
        let before = local.len();
        let (first, moved) = stealer.steal_into(&mut thief).expect("steal");
        assert_eq!(moved, before - before / 2);
        assert_eq!(thief.len(), moved - 1);
        assert_eq!(local.len(), before - moved);
        first.run();
        while let Some(t) = thief.pop() {
            t.run();
        }
        while let Some(t) = local.pop() {
            t.run();
        }
        for t in spilled.borrow_mut().drain(..) {
            t.run();
        }
        assert_eq!(ran.load(Relaxed), CAPACITY + 10);
    }
}
