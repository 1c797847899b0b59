//! The reactor: one `mio::Poll` (epoll) per runtime, the thing a parked thread blocks in.
//!
//! Two halves:
//! - `Reactor`, owned by whichever thread is parked in it (the multi-thread scheduler keeps it behind a
//!   try-lock, the current-thread scheduler owns it outright). `turn(timeout)` waits in `epoll_wait` and then
//!   dispatches each event: token -> `IoSlot` -> readiness bits set, wakers woken.
//! - `ReactorRegistry`, shared (`Arc`) by every thread: registers event sources (each gets an `IoSlot` and a
//!   token), `unpark`s the parked thread by writing the `mio::Waker`'s eventfd, and lets a thread that does
//!   not hold the `Reactor` collect the events already waiting (`poll_now`: a multi-thread worker that ran
//!   out of work). Both `turn` and `poll_now` wait through `epoll.rs` and dispatch with
//!   `ReactorRegistry::dispatch`.
//!
//! Wakers are collected under the registry lock and woken after it is released, so a waker that schedules a
//! task (which may register or deregister a source) never runs under the lock.
//!
//! Later layers plug in here without reshaping the executor: sockets and `AsyncFd` register through
//! `ReactorRegistry::register` and wait with `IoSlot::poll_ready`; the timer driver registers its timerfd the
//! same way and fires timers when that slot becomes readable.

mod epoll;
mod io_slot;

pub(crate) use epoll::EventBuffer;
pub(crate) use io_slot::{Direction, IoSlot, ReadyEvent};

// The reactor wraps real epoll and is not model-checked itself (under ferrio_loom its `SpinLock` is loom's mutex,
// as everywhere, for the models that create a reactor).
use crate::spin_lock::SpinLock;
use mio::{Interest, Poll, Token};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;
use std::time::Duration;

/// The token of the waker that interrupts a blocked `turn`.
const WAKE_TOKEN: Token = Token(usize::MAX);

/// Events fetched per `epoll_wait`.
const EVENTS_CAPACITY: usize = 1024;

/// The blocking half (see the module docs).
pub(crate) struct Reactor {
    /// Owns the epoll instance (the registry waits on a duplicate of its descriptor).
    _poll: Poll,
    events: EventBuffer,
    registry: Arc<ReactorRegistry>,
}

/// The shared half (see the module docs).
pub(crate) struct ReactorRegistry {
    /// Registers sources; its descriptor, a duplicate of the `Poll`'s, is also what `epoll_wait` is called
    /// on, so it stays valid for as long as anyone can call `turn` or `poll_now`.
    registry: mio::Registry,
    waker: mio::Waker,
    /// A `SpinLock`: dispatch holds it for one pass over a batch's tokens, registration for one slab
    /// insert or removal; no waker runs under it.
    slots: SpinLock<SlotTable>,
    /// A thread is (about to be) blocked in `Reactor::turn` with no timeout. Set before the sleeper can be
    /// unparked through the eventfd (`announce_sleeper`, before a multi-thread parker publishes
    /// `PARKED_REACTOR`) and cleared once its wait returned. As a hint (`has_sleeper`, relaxed) it may be
    /// stale for a moment around the wait, which only costs a needless or a skipped `poll_now`; `poll_now`
    /// reads it with `SeqCst` to decide whether an unpark it collected must be passed on (see there).
    sleeper: AtomicBool,
}

/// Registered sources: the token is `index | generation << 32`, so a stale event for a reused index is
/// recognised and ignored.
struct SlotTable {
    entries: Vec<(u32, Option<Arc<IoSlot>>)>,
    free: Vec<usize>,
    /// Set when the runtime shut down: every slot was marked shut down and registering fails.
    closed: bool,
}

/// A registered source: its readiness slot and token. Deregister with `ReactorRegistry::deregister`.
pub(crate) struct Registration {
    pub(crate) slot: Arc<IoSlot>,
    token: Token,
}

/// What one `turn` saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TurnReport {
    /// Readiness events for registered sources (wake-ups of the reactor itself are not counted).
    pub(crate) io_events: usize,
    /// True if the turn was cut short by `unpark` (or by a signal interrupting `epoll_wait`).
    pub(crate) unparked: bool,
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = mio::Waker::new(poll.registry(), WAKE_TOKEN)?;
        Ok(Reactor {
            _poll: poll,
            events: EventBuffer::with_capacity(EVENTS_CAPACITY),
            registry: Arc::new(ReactorRegistry {
                registry,
                waker,
                sleeper: AtomicBool::new(false),
                slots: SpinLock::new(SlotTable {
                    entries: Vec::new(),
                    free: Vec::new(),
                    closed: false,
                }),
            }),
        })
    }

    pub(crate) fn registry(&self) -> &Arc<ReactorRegistry> {
        &self.registry
    }

    /// Waits up to `timeout` (`None`: until an event or `unpark`; zero: just look) and dispatches what came.
    pub(crate) fn turn(&mut self, timeout: Option<Duration>) -> io::Result<TurnReport> {
        let blocks = timeout.is_none();
        if blocks {
            self.registry.announce_sleeper(true);
        }
        let waited = epoll::wait(self.registry.epoll_fd(), &mut self.events, timeout);
        if blocks {
            self.registry.announce_sleeper(false);
        }
        match waited {
            Ok(()) => {}
            // A signal cut the wait short (`SA_RESTART` does not restart `epoll_wait`): report it like an
            // unpark, so a worker woken this way still hands the reactor on.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                return Ok(TurnReport {
                    io_events: 0,
                    unparked: true,
                })
            }
            Err(e) => return Err(e),
        }
        Ok(self.registry.dispatch(&mut self.events))
    }
}

impl ReactorRegistry {
    fn epoll_fd(&self) -> BorrowedFd<'_> {
        self.registry.as_fd()
    }

    /// True if a thread is (about to be) blocked in the reactor: collecting its events with `poll_now`
    /// then saves waking it. A hint (see the field).
    pub(crate) fn has_sleeper(&self) -> bool {
        self.sleeper.load(Relaxed)
    }

    /// The reactor's holder is about to block in `turn` (`true`), or is back (`false`). A multi-thread
    /// parker announces itself before it can be unparked through the eventfd, so that `poll_now` never
    /// keeps a wake-up meant for it.
    pub(crate) fn announce_sleeper(&self, blocking: bool) {
        self.sleeper.store(blocking, SeqCst);
    }

    /// Sets the readiness of each event's slot, then wakes the wakers that collected (outside the lock).
    fn dispatch(&self, buffer: &mut EventBuffer) -> TurnReport {
        let mut report = TurnReport::default();
        let (events, to_wake) = buffer.events_and_wakers();
        {
            let slots = self.slots.lock();
            for (token, flags) in events {
                if token == WAKE_TOKEN {
                    report.unparked = true;
                    continue;
                }
                if let Some(slot) = slots.get(token) {
                    report.io_events += 1;
                    slot.set_readiness(flags, to_wake);
                }
            }
        }
        for waker in to_wake.drain(..) {
            waker.wake();
        }
        report
    }

    /// Collects and dispatches the events already waiting, without blocking, from a thread that does not
    /// hold the `Reactor` (a multi-thread worker out of work while another one waits in the reactor).
    ///
    /// Each edge goes to exactly one waiting thread, so an event taken here is one the reactor's holder
    /// will not get: the task runs on this thread, which is awake. (The kernel still wakes the holder for
    /// the edge; it finds nothing and goes back to sleep inside `epoll_wait`.) An `unpark` is the
    /// exception: it was meant for the holder, so it is passed on with a fresh write, before any waker runs
    /// (a waker that panicked must not swallow a shutdown's wake-up). Only while a holder is announced,
    /// though: an eventfd write is made only to a parker that announced itself first (`announce_sleeper`,
    /// then `PARKED_REACTOR`, which the unparker reads before writing), so an unannounced holder has
    /// already come back from the wait the write was for. Passing it on then would only bounce it between
    /// collecting workers, one extra write per look, until someone turned the reactor.
    pub(crate) fn poll_now(&self, buffer: &mut EventBuffer) -> io::Result<TurnReport> {
        match epoll::wait(self.epoll_fd(), buffer, Some(Duration::ZERO)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(TurnReport::default()),
            Err(e) => return Err(e),
        }
        if buffer.contains(WAKE_TOKEN) && self.sleeper.load(SeqCst) {
            self.unpark();
        }
        let mut report = self.dispatch(buffer);
        report.unparked = false;
        Ok(report)
    }

    /// Interrupts a thread blocked in `Reactor::turn` (or makes its next turn return at once).
    pub(crate) fn unpark(&self) {
        // An eventfd write only fails if the counter would overflow, which means a wake-up is pending anyway.
        let _ = self.waker.wake();
    }

    /// Registers `source` (edge-triggered) for `interest`.
    pub(crate) fn register(
        &self,
        source: &mut impl mio::event::Source,
        interest: Interest,
    ) -> io::Result<Registration> {
        let slot = Arc::new(IoSlot::new());
        let token = {
            let mut slots = self.slots.lock();
            if slots.closed {
                return Err(io::Error::other(
                    "ferrio: cannot register an I/O source: its runtime has shut down",
                ));
            }
            slots.insert(slot.clone())
        };
        if let Err(e) = self.registry.register(source, token, interest) {
            self.slots.lock().remove(token);
            return Err(e);
        }
        Ok(Registration { slot, token })
    }

    /// Removes `source` from the reactor and wakes anyone still waiting on it (they will see it closed).
    pub(crate) fn deregister(
        &self,
        source: &mut impl mio::event::Source,
        registration: Registration,
    ) -> io::Result<()> {
        self.slots.lock().remove(registration.token);
        registration.slot.shutdown();
        self.registry.deregister(source)
    }

    /// Runtime shutdown: marks every registered source shut down (a task still waiting on one, e.g. inside
    /// another runtime's `block_on`, gets an error instead of waiting forever) and refuses new registrations.
    pub(crate) fn shutdown(&self) {
        let slots: Vec<Arc<IoSlot>> = {
            let mut table = self.slots.lock();
            table.closed = true;
            table
                .entries
                .iter()
                .filter_map(|(_, s)| s.clone())
                .collect()
        };
        for slot in slots {
            slot.shutdown();
        }
    }

    /// Sources currently registered (the timerfd included).
    #[cfg(all(test, not(ferrio_loom)))]
    pub(crate) fn registered(&self) -> usize {
        let table = self.slots.lock();
        table.entries.iter().filter(|(_, s)| s.is_some()).count()
    }
}

impl SlotTable {
    fn insert(&mut self, slot: Arc<IoSlot>) -> Token {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.entries.push((0, None));
                self.entries.len() - 1
            }
        };
        let entry = &mut self.entries[index];
        entry.0 = entry.0.wrapping_add(1);
        entry.1 = Some(slot);
        Token(index | (entry.0 as usize) << 32)
    }

    fn get(&self, token: Token) -> Option<&IoSlot> {
        let (index, generation) = (token.0 & 0xffff_ffff, (token.0 >> 32) as u32);
        match self.entries.get(index) {
            Some((g, Some(slot))) if *g == generation => Some(slot),
            _ => None,
        }
    }

    fn remove(&mut self, token: Token) {
        let index = token.0 & 0xffff_ffff;
        if let Some(entry) = self.entries.get_mut(index) {
            if entry.1.take().is_some() {
                self.free.push(index);
            }
        }
    }
}

#[cfg(all(test, not(ferrio_loom)))]
mod tests;
#[cfg(all(test, not(ferrio_loom)))]
pub(crate) use tests::TestSource;
