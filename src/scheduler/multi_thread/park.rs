//! `Parker`: how one worker sleeps and is woken.
//!
//! A worker with nothing to do blocks in the reactor if no other worker holds it (so, under the default
//! `ReactorHandOff::Always`, I/O and timers are always watched by a sleeping thread), and otherwise on its
//! own condvar. Under `WhenShared` it tries the reactor only when no other worker is awake (`may_hold`).
//! `unpark` knows which of the two it is by the parker's state and wakes it the right way: a condvar
//! notify, or a write to the reactor's eventfd. A notification that arrives before the worker sleeps is
//! kept (`NOTIFIED`) and consumed by the next `park`, so a wake-up is never lost.
//!
//! Before sleeping on the condvar, a worker collects, without blocking, the events already waiting in epoll
//! (`ReactorRegistry::poll_now`): an event that arrived while it ran (the reply to what its task just
//! wrote, on loopback) is then handled on this already-awake thread instead of waiting for the holder,
//! whose wake-up from sleep can take tens of microseconds (a halted vCPU on a VM). The kernel still wakes
//! the holder for the edge; it finds the event taken and sleeps again inside `epoll_wait`.

use crate::loom::{AtomicUsize, Condvar, Mutex};
use crate::reactor::{EventBuffer, Reactor, ReactorRegistry, TurnReport};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::TryLockError;

const EMPTY: usize = 0;
const PARKED_CONDVAR: usize = 1;
const PARKED_REACTOR: usize = 2;
const NOTIFIED: usize = 3;

/// How a `park` ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Woken {
    /// Unparked on the condvar, or a notification was already waiting: no reactor involved.
    Notified,
    /// This worker held the reactor: the report of its turn there (empty if a notification came before
    /// it blocked). Whoever leaves the reactor hands it on if nobody else waits in it.
    InReactor(TurnReport),
    /// This worker did not take the reactor (another held it, or `may_hold` was false); it did not sleep,
    /// because it collected events that were already waiting (`io_events > 0`).
    Collected(TurnReport),
}

pub(crate) struct Parker {
    state: AtomicUsize,
    lock: Mutex<()>,
    condvar: Condvar,
}

impl Parker {
    pub(crate) fn new() -> Parker {
        Parker {
            state: AtomicUsize::new(EMPTY),
            lock: Mutex::new(()),
            condvar: Condvar::new(),
        }
    }

    /// Sleeps until `unpark` (or, when parked in the reactor, until I/O events arrive), unless events are
    /// already waiting while another worker holds the reactor. `events` is this worker's own buffer for
    /// collecting those. With `may_hold` false the worker does not try the reactor: it collects what is
    /// waiting and sleeps on its condvar (`ReactorHandOff::WhenShared` while another worker is awake).
    pub(crate) fn park(
        &self,
        reactor: &Mutex<Reactor>,
        registry: &ReactorRegistry,
        events: &mut EventBuffer,
        may_hold: bool,
    ) -> Woken {
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
            .is_ok()
        {
            return Woken::Notified;
        }
        let held = if may_hold {
            reactor.try_lock()
        } else {
            Err(TryLockError::WouldBlock)
        };
        match held {
            Ok(mut reactor) => self.park_in_reactor(&mut reactor),
            Err(TryLockError::WouldBlock) => {
                // A notification that arrives meanwhile stays NOTIFIED: the condvar park below, or the
                // next park, consumes it.
                match registry.poll_now(events) {
                    Ok(report) if report.io_events > 0 => return Woken::Collected(report),
                    Ok(_) => {}
                    Err(e) => panic!("ferrio: epoll_wait failed: {e}"),
                }
                self.park_on_condvar();
                Woken::Notified
            }
            Err(TryLockError::Poisoned(e)) => panic!("ferrio: the reactor lock is poisoned: {e}"),
        }
    }

    fn park_in_reactor(&self, reactor: &mut Reactor) -> Woken {
        // Announced before an unparker can see PARKED_REACTOR and write the eventfd for us, so that a
        // worker collecting that write with `poll_now` passes it on (see `ReactorRegistry::poll_now`).
        reactor.registry().announce_sleeper(true);
        if self
            .state
            .compare_exchange(EMPTY, PARKED_REACTOR, SeqCst, SeqCst)
            .is_err()
        {
            reactor.registry().announce_sleeper(false);
            // Notified meanwhile; we did hold the lock, so a worker parking now may have found it taken.
            self.state.swap(EMPTY, SeqCst);
            return Woken::InReactor(TurnReport::default());
        }
        let report = reactor.turn(None);
        // Woken by `unpark` (NOTIFIED) or by events (still PARKED_REACTOR): either way, awake now.
        self.state.swap(EMPTY, SeqCst);
        Woken::InReactor(report.unwrap_or_else(|e| panic!("ferrio: epoll_wait failed: {e}")))
    }

    fn park_on_condvar(&self) {
        let mut guard = self.lock.lock().unwrap();
        if self
            .state
            .compare_exchange(EMPTY, PARKED_CONDVAR, SeqCst, SeqCst)
            .is_err()
        {
            self.state.swap(EMPTY, SeqCst);
            return;
        }
        loop {
            guard = self.condvar.wait(guard).unwrap();
            if self
                .state
                .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
                .is_ok()
            {
                return;
            }
            // Spurious wake-up: keep sleeping.
        }
    }

    /// Wakes the worker, or makes its next `park` return at once.
    pub(crate) fn unpark(&self, registry: &ReactorRegistry) {
        match self.state.swap(NOTIFIED, SeqCst) {
            EMPTY | NOTIFIED => {}
            PARKED_CONDVAR => {
                // Taking the lock orders this notify after the sleeper's wait began.
                drop(self.lock.lock().unwrap());
                self.condvar.notify_one();
            }
            PARKED_REACTOR => registry.unpark(),
            other => unreachable!("parker state {other}"),
        }
    }
}

#[cfg(all(test, ferrio_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// A notify racing with park on the condvar path is never lost (the reactor lock is held elsewhere).
    #[test]
    fn unpark_is_never_lost() {
        loom::model(|| {
            let parker = Arc::new(Parker::new());
            let p2 = parker.clone();
            let registry_reactor = Reactor::new().unwrap();
            let registry = registry_reactor.registry().clone();
            let t = thread::spawn(move || p2.unpark(&registry));
            // Another worker holds the reactor: park must use the condvar.
            let reactor = Mutex::new(registry_reactor);
            let _held = reactor.lock().unwrap();
            parker.park_on_condvar_for_test();
            t.join().unwrap();
        });
    }
}

#[cfg(all(test, not(ferrio_loom)))]
mod tests {
    use super::*;
    use crate::reactor::TestSource;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::task::{Context, Wake, Waker};
    use std::time::Duration;

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, SeqCst);
        }
    }

    /// With the reactor held elsewhere, a parking worker handles an event that is already waiting instead
    /// of sleeping, and leaves the reactor to its holder; with nothing waiting it sleeps until unparked.
    #[test]
    fn park_collects_waiting_events_while_another_worker_holds_the_reactor() {
        let reactor = Mutex::new(Reactor::new().unwrap());
        let registry = reactor.lock().unwrap().registry().clone();
        let source = TestSource::new(&registry);
        let woken = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(woken.clone());
        assert!(source
            .slot()
            .poll_ready(
                &mut Context::from_waker(&waker),
                crate::reactor::Direction::Read
            )
            .is_pending());
        source.poke();

        let parker = Arc::new(Parker::new());
        let mut events = EventBuffer::with_capacity(8);
        let held = reactor.lock().unwrap();
        // Should the park sleep instead (the defect under test), this ends it, and the match below fails.
        let (p2, r2) = (parker.clone(), registry.clone());
        let watchdog = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(10));
            p2.unpark(&r2);
        });
        match parker.park(&reactor, &registry, &mut events, true) {
            Woken::Collected(report) => assert_eq!(report.io_events, 1),
            other => panic!("expected the waiting event to be collected, got {other:?}"),
        }
        assert!(
            woken.0.load(SeqCst),
            "the waiting task was woken by the collecting worker"
        );
        drop(watchdog); // detached: it only matters if the park above slept

        // Nothing waiting now: the park sleeps on the condvar until an unpark.
        let p2 = parker.clone();
        let r2 = registry.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            p2.unpark(&r2);
        });
        let start = std::time::Instant::now();
        assert!(matches!(
            parker.park(&reactor, &registry, &mut events, true),
            Woken::Notified
        ));
        assert!(
            start.elapsed() >= Duration::from_millis(15),
            "with nothing waiting the park must sleep until the unpark"
        );
        t.join().unwrap();
        drop(held);
    }
}

#[cfg(ferrio_loom)]
impl Parker {
    fn park_on_condvar_for_test(&self) {
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
            .is_ok()
        {
            return;
        }
        self.park_on_condvar();
    }
}
