//! `Promise<T>`: asyncio's `Future`, a value set once (or cancelled) and awaited by any number of tasks.
//!
//! Owns one shared cell per promise: an `Arc<Mutex<State<T>>>` holding the outcome (`Pending`, `Done(T)`,
//! `Cancelled`) and a slab of the wakers of the awaiters still pending. Every `Promise` clone is a handle to
//! that one cell; every awaiter (`Wait<T>`, what `promise.await` and `(&promise).await` run) holds a clone too.
//!
//! How data moves:
//! - An awaiter's poll locks the cell. `Done(v)`: it clones `v` out (under the lock, see the `Sync` note on
//!   [`Promise`]). `Pending`: it stores its waker in a slab slot (first poll) or refreshes it (later polls) and
//!   remembers the slot's key. Dropping a pending awaiter frees its slot; nothing else happens (no cancel).
//! - `set_result` / `cancel` move the outcome out of `Pending` once and take the whole slab; the wakers are
//!   woken after the lock is released. The outcome never returns to `Pending`, so the slab is never used again.
//!
//! Rules: no waker is woken or dropped under the lock (a waker's drop may free a task whose future holds an
//! awaiter of this same promise, whose drop locks it); the only foreign code run under the lock is `T::clone`
//! and `Waker::clone` / `will_wake`. Awaiting uses only the `Waker` (and ferrio's cooperative budget when
//! polled by a ferrio task), so any executor can await a promise.

use crate::coop;
use crate::loom::{Arc, Mutex};
use std::error::Error;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::ops::DerefMut;
use std::pin::Pin;
use std::sync::PoisonError;
use std::task::{Context, Poll, Waker};

/// A value that will be set once, or cancelled, and that any number of tasks can await (asyncio's `Future`).
///
/// Clones are handles to the same promise. `set_result` completes it and wakes every awaiter, which each get a
/// clone of the value; `cancel` completes it with [`Cancelled`] instead. Awaiting works by value
/// (`promise.await`) or by reference (`(&promise).await`), from ferrio tasks on either flavour or from any
/// other executor. Dropping an awaiter before completion only withdraws that awaiter. A promise that is never
/// completed keeps its awaiters pending forever (as in asyncio); every awaiter holds a handle, so it stays
/// settable while awaited.
///
/// ```
/// use ferrio::sync::Promise;
///
/// let promise = Promise::new();
/// let value = ferrio::run(async {
///     let setter = promise.clone();
///     ferrio::spawn(async move { setter.set_result(42).unwrap() });
///     (&promise).await
/// });
/// assert_eq!(value, Ok(42));
/// assert!(promise.is_done());
/// ```
///
/// `Send` and `Sync` when `T: Send` (the auto-traits of `Arc<Mutex<_>>`), the same rule as `Mutex<T>`: the
/// value is moved in by `set_result`, cloned out through `&T` by `try_result` and the awaiters, and dropped with
/// the last handle, possibly each on a different thread, which needs `T: Send`. `T: Sync` is not needed
/// because every `&T` access (the clones) happens while holding the mutex, so no two threads ever share a `&T`
/// at the same time. Cloning under the lock serialises concurrent awaiters' clones; keep `T` cheap to clone
/// (wrap big values in an `Arc`), and `T::clone` must not use the same promise.
pub struct Promise<T> {
    shared: Arc<Mutex<State<T>>>,
}

/// The error of awaiting a cancelled promise (asyncio's `CancelledError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("promise was cancelled")
    }
}

impl Error for Cancelled {}

struct State<T> {
    outcome: Outcome<T>,
    /// # Invariant
    /// Used only while `outcome` is `Pending`: an awaiter's key names its own slot exactly then.
    waiters: WaiterSlab,
}

enum Outcome<T> {
    Pending,
    Done(T),
    Cancelled,
}

/// The wakers of pending awaiters. A slot is `Some` while its awaiter is registered; freed keys are reused
/// (the free list), and when the last registered awaiter leaves both vectors are emptied, so the size follows
/// the largest number of awaiters pending at once, not the number ever created.
#[derive(Default)]
struct WaiterSlab {
    slots: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl WaiterSlab {
    fn insert(&mut self, waker: Waker) -> usize {
        match self.free.pop() {
            Some(key) => {
                self.slots[key] = Some(waker);
                key
            }
            None => {
                self.slots.push(Some(waker));
                self.slots.len() - 1
            }
        }
    }

    /// Stores `waker` in slot `key` unless the stored one wakes the same task; returns the replaced waker, which
    /// the caller drops after unlocking.
    fn refresh(&mut self, key: usize, waker: &Waker) -> Option<Waker> {
        let slot = &mut self.slots[key];
        match slot {
            Some(stored) if stored.will_wake(waker) => None,
            _ => slot.replace(waker.clone()),
        }
    }

    /// Frees slot `key`; returns its waker, which the caller drops after unlocking.
    fn remove(&mut self, key: usize) -> Option<Waker> {
        let waker = self.slots[key].take();
        self.free.push(key);
        if self.free.len() == self.slots.len() {
            self.slots.clear();
            self.free.clear();
        }
        waker
    }

    /// Empties the slab; the caller wakes what it returns after unlocking.
    fn take_all(&mut self) -> Vec<Option<Waker>> {
        self.free = Vec::new();
        std::mem::take(&mut self.slots)
    }

    fn registered(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

impl<T> Promise<T> {
    /// A pending promise.
    pub fn new() -> Promise<T> {
        Promise {
            shared: Arc::new(Mutex::new(State {
                outcome: Outcome::Pending,
                waiters: WaiterSlab::default(),
            })),
        }
    }

    /// Completes the promise with `value` and wakes every awaiter (asyncio's `Future.set_result`).
    ///
    /// Fails, handing `value` back, if the promise was already set or cancelled.
    pub fn set_result(&self, value: T) -> Result<(), T> {
        self.complete(Outcome::Done(value))
            .map_err(|refused| match refused {
                Outcome::Done(value) => value,
                _ => unreachable!("complete hands back the outcome it was given"),
            })
    }

    /// Cancels a pending promise: every awaiter gets `Err(Cancelled)` (asyncio's `Future.cancel`).
    ///
    /// Returns `true` if this call cancelled it, `false` if it was already set or cancelled (it keeps that
    /// outcome).
    pub fn cancel(&self) -> bool {
        self.complete(Outcome::Cancelled).is_ok()
    }

    /// True once the promise was set or cancelled (asyncio's `Future.done`).
    pub fn is_done(&self) -> bool {
        !matches!(self.lock().outcome, Outcome::Pending)
    }

    /// True if the promise was cancelled (asyncio's `Future.cancelled`).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.lock().outcome, Outcome::Cancelled)
    }

    /// The outcome without waiting: `None` while pending, else a clone of the value or `Err(Cancelled)`
    /// (asyncio's `Future.result()`, which raises while pending).
    pub fn try_result(&self) -> Option<Result<T, Cancelled>>
    where
        T: Clone,
    {
        self.lock().outcome.cloned()
    }

    /// Moves the outcome out of `Pending` and wakes the awaiters; hands `outcome` back if already done.
    fn complete(&self, outcome: Outcome<T>) -> Result<(), Outcome<T>> {
        let wakers = {
            let mut state = self.lock();
            if !matches!(state.outcome, Outcome::Pending) {
                return Err(outcome);
            }
            state.outcome = outcome;
            state.waiters.take_all()
        };
        wakers.into_iter().flatten().for_each(Waker::wake);
        Ok(())
    }

    /// Locks the state. A panic under the lock (in `T::clone` or a waker's `clone`) leaves the state
    /// consistent, since those run only while reading, so poisoning is ignored.
    fn lock(&self) -> impl DerefMut<Target = State<T>> + '_ {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T> Outcome<T> {
    fn cloned(&self) -> Option<Result<T, Cancelled>>
    where
        T: Clone,
    {
        match self {
            Outcome::Pending => None,
            Outcome::Done(value) => Some(Ok(value.clone())),
            Outcome::Cancelled => Some(Err(Cancelled)),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Outcome::Pending => "pending",
            Outcome::Done(_) => "done",
            Outcome::Cancelled => "cancelled",
        }
    }
}

impl<T> Clone for Promise<T> {
    /// Another handle to the same promise.
    fn clone(&self) -> Promise<T> {
        Promise {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Default for Promise<T> {
    fn default() -> Promise<T> {
        Promise::new()
    }
}

impl<T> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Promise")
            .field("state", &state.outcome.name())
            .field("awaiters", &state.waiters.registered())
            .finish()
    }
}

impl<T: Clone> IntoFuture for Promise<T> {
    type Output = Result<T, Cancelled>;
    type IntoFuture = Wait<T>;

    fn into_future(self) -> Wait<T> {
        Wait {
            promise: self,
            key: None,
        }
    }
}

impl<T: Clone> IntoFuture for &Promise<T> {
    type Output = Result<T, Cancelled>;
    type IntoFuture = Wait<T>;

    fn into_future(self) -> Wait<T> {
        self.clone().into_future()
    }
}

/// The future of `promise.await` and `(&promise).await`: a clone of the value, or `Err(Cancelled)`.
///
/// Dropping it before the promise completes withdraws this awaiter only; the promise is not cancelled.
pub struct Wait<T> {
    promise: Promise<T>,
    /// The slab slot holding this awaiter's waker, while registered (meaningful only while `Pending`).
    key: Option<usize>,
}

impl<T: Clone> Future for Wait<T> {
    type Output = Result<T, Cancelled>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Cancelled>> {
        let this = self.get_mut();
        // Awaiting an already-completed promise in a loop must still let the other tasks of the worker run.
        let Poll::Ready(budget) = coop::poll_proceed(cx) else {
            return Poll::Pending;
        };
        let mut guard = this.promise.lock();
        let state = &mut *guard;
        let replaced = match state.outcome.cloned() {
            Some(result) => {
                drop(guard);
                // The slab was emptied by the completion: the key is meaningless now.
                this.key = None;
                budget.made_progress();
                return Poll::Ready(result);
            }
            None => match this.key {
                Some(key) => state.waiters.refresh(key, cx.waker()),
                None => {
                    this.key = Some(state.waiters.insert(cx.waker().clone()));
                    None
                }
            },
        };
        drop(guard);
        drop(replaced);
        Poll::Pending
    }
}

impl<T> Drop for Wait<T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else {
            return;
        };
        let waker = {
            let mut state = self.promise.lock();
            match state.outcome {
                Outcome::Pending => state.waiters.remove(key),
                _ => None,
            }
        };
        drop(waker);
    }
}

impl<T> fmt::Debug for Wait<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("promise", &self.promise)
            .field("registered", &self.key.is_some())
            .finish()
    }
}

#[cfg(test)]
#[path = "promise_tests.rs"]
mod promise_tests;
