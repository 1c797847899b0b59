//! `Signal`: a one-slot wake cell, the same for every runtime, through which every wake measurement fires.
//!
//! A waiting task awaits [`Signal::wait`]; a firing side (another task, or a plain thread) calls
//! [`Signal::fire`], which stamps the clock and the firing thread under the lock, takes the stored waker, and
//! calls `wake()` right after unlocking. The waiter gets the stamp back and takes its own `now_ns()` as the
//! first thing after its `.await`: the difference is the wake latency, the runtime's whole share of it
//! (queueing, unparking a thread, polling the task) plus one uncontended unlock.
//!
//! Uses only `Waker`, so the same code runs on ferrio and tokio: the runtimes differ only in what their
//! wakers do. It never wakes under its lock. A firing side must fire only when [`Signal::is_armed`] says the
//! waiter is pending (each fire is then consumed by exactly one wait, and no stamp is overwritten);
//! `is_armed` goes false again inside `fire`.

use crate::rt::{now_ns, thread_token};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

/// What a completed wait hands back.
#[derive(Clone, Copy)]
pub struct Woken {
    /// `now_ns()` taken by the firing side just before it woke the waiter.
    pub stamp: u64,
    /// `thread_token()` of the firing thread.
    pub from: u64,
    /// Whether the waiter really was pending (returned `Poll::Pending`) before the fire. Only those waits
    /// are wakes; the measurements drop the others (rare races on the multi-thread flavours).
    pub parked: bool,
}

#[derive(Default)]
struct Slot {
    waker: Option<Waker>,
    /// `(stamp, from)` of a fire not yet consumed by a wait.
    fired: Option<(u64, u64)>,
}

/// A wake cell; see the module docs.
#[derive(Default)]
pub struct Signal {
    slot: Mutex<Slot>,
    /// True while a waiter is registered and no fire is pending. Written only under `slot`'s lock.
    armed: AtomicBool,
}

impl Signal {
    /// Whether a waiter is pending on this signal (so a `fire` now is a real wake).
    pub fn is_armed(&self) -> bool {
        self.armed.load(Ordering::Acquire)
    }

    /// Stamps the clock and wakes the waiter, if any (a fire with no waiter registered yet is consumed by
    /// the next wait, which reports `parked: false`).
    pub fn fire(&self) {
        let waker = {
            let mut slot = self.slot.lock().unwrap();
            self.armed.store(false, Ordering::Release);
            slot.fired = Some((now_ns(), thread_token()));
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Waits for the next fire.
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            signal: self,
            pended: false,
        }
    }
}

/// The future of [`Signal::wait`].
pub struct Wait<'a> {
    signal: &'a Signal,
    pended: bool,
}

impl Future for Wait<'_> {
    type Output = Woken;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Woken> {
        let mut slot = self.signal.slot.lock().unwrap();
        if let Some((stamp, from)) = slot.fired.take() {
            // Normally `fire` took the waker; after a fire that found none it may still be here.
            let stale = slot.waker.take();
            drop(slot);
            drop(stale);
            return Poll::Ready(Woken {
                stamp,
                from,
                parked: self.pended,
            });
        }
        let replaced = match &slot.waker {
            Some(stored) if stored.will_wake(cx.waker()) => None,
            _ => slot.waker.replace(cx.waker().clone()),
        };
        self.signal.armed.store(true, Ordering::Release);
        drop(slot);
        drop(replaced);
        self.pended = true;
        Poll::Pending
    }
}
