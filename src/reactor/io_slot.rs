//! `IoSlot`: the readiness of one registered source and the wakers waiting on it.
//!
//! The reactor ORs readiness bits in when epoll reports an edge; an I/O operation that then hits `WouldBlock`
//! clears the bits it saw with `clear_readiness`, which only succeeds if no newer event arrived meanwhile
//! (the word carries a tick bumped by each event), so readiness delivered while a task was running is never
//! lost. Readers and writers wait in separate slots so they never steal each other's wake-up.

use crate::loom::AtomicUsize;
use crate::spin_lock::SpinLock;
use std::sync::atomic::Ordering::{AcqRel, Acquire};
use std::task::{Context, Poll, Waker};

const READABLE: usize = 1 << 0;
const WRITABLE: usize = 1 << 1;
const READ_CLOSED: usize = 1 << 2;
const WRITE_CLOSED: usize = 1 << 3;
const ERROR: usize = 1 << 4;
/// The source was deregistered or the reactor is gone: every direction reports ready (and closed).
const SHUTDOWN: usize = 1 << 5;
const READY_MASK: usize = (1 << 8) - 1;
const TICK_ONE: usize = 1 << 8;

/// Which half of a source a task waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Direction {
    fn mask(self) -> usize {
        match self {
            Direction::Read => READABLE | READ_CLOSED | ERROR | SHUTDOWN,
            Direction::Write => WRITABLE | WRITE_CLOSED | ERROR | SHUTDOWN,
        }
    }
}

/// Readiness observed by `poll_ready`, to be cleared if the operation would block.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadyEvent {
    tick: usize,
    bits: usize,
}

impl ReadyEvent {
    /// The source was deregistered or its runtime shut down: no further event will come.
    pub(crate) fn is_shutdown(&self) -> bool {
        self.bits & SHUTDOWN != 0
    }

    /// The peer closed its side (read direction) or the socket can no longer be written (write direction).
    pub(crate) fn is_closed(&self) -> bool {
        self.bits & (READ_CLOSED | WRITE_CLOSED) != 0
    }
}

pub(crate) struct IoSlot {
    /// Readiness bits (low byte) and the event tick (above them): set by `add_bits`, which bumps the tick,
    /// and cleared by `clear_readiness`, which fails once the tick has moved; both compare-and-swap, with
    /// no lock (a `crate::loom` atomic, so the models in `io_slot_loom_tests.rs` check the protocol).
    readiness: AtomicUsize,
    /// The parked wakers. A `SpinLock`: its sections move a waker in or out; a replaced waker is dropped
    /// after unlocking (its destructor may run arbitrary code, even drop a source of this slot).
    waiters: SpinLock<Waiters>,
}

#[derive(Default)]
struct Waiters {
    reader: Option<Waker>,
    writer: Option<Waker>,
}

/// Readiness bits for an epoll event mask, as epoll(7) reports sockets, pipes and other files:
/// - readable: data (`EPOLLIN`) or urgent data (`EPOLLPRI`);
/// - writable: `EPOLLOUT`;
/// - read side closed: a hang-up (`EPOLLHUP`), or the peer's shutdown of its write side, which the kernel
///   reports as `EPOLLRDHUP` together with `EPOLLIN` (the end-of-file is readable);
/// - write side closed: a hang-up, or an error on a writable file, or an error alone (the write end of a
///   pipe whose reader has gone);
/// - error: `EPOLLERR` (the pending error is read by the next operation).
fn readiness_from_epoll(flags: u32) -> usize {
    let has = |f: libc::c_int| flags & f as u32 != 0;
    let mut bits = 0;
    if has(libc::EPOLLIN) || has(libc::EPOLLPRI) {
        bits |= READABLE;
    }
    if has(libc::EPOLLOUT) {
        bits |= WRITABLE;
    }
    if has(libc::EPOLLHUP) || (has(libc::EPOLLIN) && has(libc::EPOLLRDHUP)) {
        bits |= READ_CLOSED;
    }
    if has(libc::EPOLLHUP)
        || (has(libc::EPOLLERR) && (has(libc::EPOLLOUT) || flags == libc::EPOLLERR as u32))
    {
        bits |= WRITE_CLOSED;
    }
    if has(libc::EPOLLERR) {
        bits |= ERROR;
    }
    bits
}

impl IoSlot {
    pub(crate) fn new() -> IoSlot {
        IoSlot {
            readiness: AtomicUsize::new(0),
            waiters: SpinLock::new(Waiters::default()),
        }
    }

    /// Called by the reactor for each event (`flags`: the epoll event mask); pushes the wakers to wake onto
    /// `to_wake`.
    pub(crate) fn set_readiness(&self, flags: u32, to_wake: &mut Vec<Waker>) {
        self.add_bits(readiness_from_epoll(flags), to_wake);
    }

    fn add_bits(&self, bits: usize, to_wake: &mut Vec<Waker>) {
        let mut cur = self.readiness.load(Acquire);
        loop {
            let next = (cur & READY_MASK | bits) | ((cur & !READY_MASK).wrapping_add(TICK_ONE));
            match self
                .readiness
                .compare_exchange_weak(cur, next, AcqRel, Acquire)
            {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        let mut waiters = self.waiters.lock();
        if bits & Direction::Read.mask() != 0 {
            to_wake.extend(waiters.reader.take());
        }
        if bits & Direction::Write.mask() != 0 {
            to_wake.extend(waiters.writer.take());
        }
    }

    /// Marks the source closed for good and wakes both directions.
    pub(crate) fn shutdown(&self) {
        let mut to_wake = Vec::new();
        self.add_bits(SHUTDOWN, &mut to_wake);
        to_wake.into_iter().for_each(Waker::wake);
    }

    /// The readiness of `direction` right now, without registering interest.
    pub(crate) fn ready_now(&self, direction: Direction) -> Option<ReadyEvent> {
        let cur = self.readiness.load(Acquire);
        let bits = cur & direction.mask();
        (bits != 0).then_some(ReadyEvent {
            tick: cur & !READY_MASK,
            bits,
        })
    }

    /// Ready when the direction has readiness; otherwise stores the waker and returns `Pending`.
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
    ) -> Poll<ReadyEvent> {
        if let Some(ev) = self.ready_now(direction) {
            return Poll::Ready(ev);
        }
        let (replaced, ready) = {
            let mut waiters = self.waiters.lock();
            let slot = match direction {
                Direction::Read => &mut waiters.reader,
                Direction::Write => &mut waiters.writer,
            };
            let replaced = match slot {
                Some(w) if w.will_wake(cx.waker()) => None,
                _ => slot.replace(cx.waker().clone()),
            };
            // Re-check under the lock: an event that arrived before the waker was stored must not be missed.
            (replaced, self.ready_now(direction))
        };
        drop(replaced);
        match ready {
            Some(ev) => Poll::Ready(ev),
            None => Poll::Pending,
        }
    }

    /// Clears the readiness an operation saw before it hit `WouldBlock`, unless a newer event arrived.
    pub(crate) fn clear_readiness(&self, event: ReadyEvent) {
        // Closed and shutdown states are sticky: readable/writable and a reported error are cleared (the
        // operation that hit `WouldBlock` has consumed the error, if there was one).
        let clear = event.bits & (READABLE | WRITABLE | ERROR);
        let mut cur = self.readiness.load(Acquire);
        while cur & !READY_MASK == event.tick {
            match self
                .readiness
                .compare_exchange_weak(cur, cur & !clear, AcqRel, Acquire)
            {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }
}

#[cfg(all(test, ferrio_loom))]
#[path = "io_slot_loom_tests.rs"]
mod loom_tests;

#[cfg(all(test, not(ferrio_loom)))]
mod tests {
    use super::*;

    #[test]
    fn epoll_masks_map_to_readiness() {
        let f = |flags: libc::c_int| readiness_from_epoll(flags as u32);
        assert_eq!(f(libc::EPOLLIN), READABLE);
        assert_eq!(f(libc::EPOLLPRI), READABLE);
        assert_eq!(f(libc::EPOLLOUT), WRITABLE);
        // The peer shut down its write side: end-of-file is readable, the read side is closed.
        assert_eq!(f(libc::EPOLLIN | libc::EPOLLRDHUP), READABLE | READ_CLOSED);
        assert_eq!(f(libc::EPOLLRDHUP), 0);
        assert_eq!(
            f(libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLHUP),
            READABLE | WRITABLE | READ_CLOSED | WRITE_CLOSED
        );
        // A pipe's write end after its reader closed.
        assert_eq!(f(libc::EPOLLERR), WRITE_CLOSED | ERROR);
        assert_eq!(
            f(libc::EPOLLOUT | libc::EPOLLERR),
            WRITABLE | WRITE_CLOSED | ERROR
        );
        assert_eq!(f(libc::EPOLLIN | libc::EPOLLERR), READABLE | ERROR);
        assert_eq!(f(libc::EPOLLHUP), READ_CLOSED | WRITE_CLOSED);
        assert_eq!(
            f(libc::EPOLLERR | libc::EPOLLHUP),
            READ_CLOSED | WRITE_CLOSED | ERROR
        );
        assert_eq!(f(libc::EPOLLPRI | libc::EPOLLRDHUP), READABLE);
        assert_eq!(f(libc::EPOLLET), 0);
    }
}
