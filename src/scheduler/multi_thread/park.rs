//! `Parker`: how one worker sleeps and is woken.
//!
//! A worker with nothing to do blocks in the reactor if no other worker holds it (so I/O and, later, timers
//! are always watched by a sleeping thread), and otherwise on its own condvar. `unpark` knows which of the two
//! it is by the parker's state and wakes it the right way: a condvar notify, or a write to the reactor's
//! eventfd. A notification that arrives before the worker sleeps is kept (`NOTIFIED`) and consumed by the
//! next `park`, so a wake-up is never lost.

use crate::loom::{AtomicUsize, Condvar, Mutex};
use crate::reactor::{Reactor, ReactorRegistry, TurnReport};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::TryLockError;

const EMPTY: usize = 0;
const PARKED_CONDVAR: usize = 1;
const PARKED_REACTOR: usize = 2;
const NOTIFIED: usize = 3;

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

    /// Sleeps until `unpark` (or, when parked in the reactor, until I/O events arrive). Returns the reactor
    /// turn's report when this worker was the one blocked in it.
    pub(crate) fn park(&self, reactor: &Mutex<Reactor>) -> Option<TurnReport> {
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
            .is_ok()
        {
            return None;
        }
        match reactor.try_lock() {
            Ok(mut reactor) => self.park_in_reactor(&mut reactor),
            Err(TryLockError::WouldBlock) => {
                self.park_on_condvar();
                None
            }
            Err(TryLockError::Poisoned(e)) => panic!("ferrio: the reactor lock is poisoned: {e}"),
        }
    }

    fn park_in_reactor(&self, reactor: &mut Reactor) -> Option<TurnReport> {
        if self
            .state
            .compare_exchange(EMPTY, PARKED_REACTOR, SeqCst, SeqCst)
            .is_err()
        {
            // Notified meanwhile.
            self.state.swap(EMPTY, SeqCst);
            return None;
        }
        let report = reactor.turn(None);
        // Woken by `unpark` (NOTIFIED) or by events (still PARKED_REACTOR): either way, awake now.
        self.state.swap(EMPTY, SeqCst);
        Some(report.unwrap_or_else(|e| panic!("ferrio: epoll_wait failed: {e}")))
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
