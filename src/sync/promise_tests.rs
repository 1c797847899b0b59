//! Tests of `promise.rs`: unit tests with access to the waiter slab (also run under Miri) and the loom
//! models of set / cancel / awaiters racing.

#[cfg(all(test, not(ferrio_loom)))]
mod tests {
    use super::super::*;
    use std::cell::Cell;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::{mpsc, Arc as StdArc};
    use std::task::Wake;
    use std::time::Duration;

    /// Counts its wakes.
    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: StdArc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    fn counting() -> (StdArc<CountingWaker>, Waker) {
        let count = StdArc::new(CountingWaker::default());
        (count.clone(), Waker::from(count))
    }

    fn poll<T: Clone>(wait: &mut Wait<T>, waker: &Waker) -> Poll<Result<T, Cancelled>> {
        Pin::new(wait).poll(&mut Context::from_waker(waker))
    }

    fn slab_len<T>(promise: &Promise<T>) -> (usize, usize) {
        let state = promise.lock();
        (state.waiters.slots.len(), state.waiters.free.len())
    }

    #[test]
    fn dropped_awaiters_do_not_grow_the_slab() {
        let promise = Promise::<u32>::new();
        let (_, waker) = counting();
        // One awaiter stays registered throughout, so the slab is never reset: reuse must come from the free
        // list.
        let mut keeper = promise.clone().into_future();
        assert!(poll(&mut keeper, &waker).is_pending());
        // Miri is ~1000x slower; the bound on the slab is what matters, not the count.
        for _ in 0..if cfg!(miri) { 2_000 } else { 100_000 } {
            let mut wait = (&promise).into_future();
            assert!(poll(&mut wait, &waker).is_pending());
        }
        assert_eq!(slab_len(&promise), (2, 1));
        assert!(promise.lock().waiters.slots.capacity() <= 4);
        drop(keeper);
        assert_eq!(slab_len(&promise), (0, 0));
        assert!(
            !promise.is_done(),
            "dropping awaiters must not complete the promise"
        );
    }

    #[test]
    fn a_burst_of_awaiters_is_released_and_keys_are_reused() {
        let promise = Promise::<u32>::new();
        let (_, waker) = counting();
        let mut waits: Vec<_> = (0..1000).map(|_| (&promise).into_future()).collect();
        for wait in &mut waits {
            assert!(poll(wait, &waker).is_pending());
        }
        assert_eq!(slab_len(&promise), (1000, 0));
        let kept = waits.pop().unwrap();
        waits.truncate(10);
        assert_eq!(slab_len(&promise), (1000, 989));
        let mut again = (&promise).into_future();
        assert!(poll(&mut again, &waker).is_pending());
        assert_eq!(slab_len(&promise), (1000, 988), "a freed key is reused");
        drop((waits, kept, again));
        assert_eq!(slab_len(&promise), (0, 0));
    }

    #[test]
    fn a_repoll_with_another_waker_replaces_it_and_the_same_waker_is_kept() {
        let promise = Promise::new();
        let (first_count, first) = counting();
        let (second_count, second) = counting();
        let mut wait = (&promise).into_future();
        assert!(poll(&mut wait, &first).is_pending());
        assert!(poll(&mut wait, &first).is_pending());
        assert!(poll(&mut wait, &second).is_pending());
        assert_eq!(slab_len(&promise), (1, 0), "one awaiter, one slot");
        promise.set_result(3).unwrap();
        assert_eq!(first_count.0.load(SeqCst), 0);
        assert_eq!(second_count.0.load(SeqCst), 1);
        assert_eq!(poll(&mut wait, &second), Poll::Ready(Ok(3)));
        assert_eq!(slab_len(&promise), (0, 0));
    }

    #[test]
    fn completion_wakes_each_awaiter_once_and_empties_the_slab() {
        for cancel in [false, true] {
            let promise = Promise::new();
            let (count, waker) = counting();
            let mut waits: Vec<_> = (0..5).map(|_| (&promise).into_future()).collect();
            waits
                .iter_mut()
                .for_each(|w| assert!(poll(w, &waker).is_pending()));
            if cancel {
                assert!(promise.cancel());
            } else {
                promise.set_result(9).unwrap();
            }
            assert_eq!(count.0.load(SeqCst), 5);
            assert_eq!(slab_len(&promise), (0, 0));
            let expected = if cancel { Err(Cancelled) } else { Ok(9) };
            waits
                .iter_mut()
                .for_each(|w| assert_eq!(poll(w, &waker), Poll::Ready(expected)));
        }
    }

    /// A waker whose last drop drops an awaiter of the same promise (as a task freed by its waker would).
    struct ReentrantWaker {
        _inner: Wait<u32>,
    }

    impl Wake for ReentrantWaker {
        fn wake(self: StdArc<Self>) {}
    }

    #[test]
    fn wakers_are_dropped_outside_the_lock() {
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let promise = Promise::<u32>::new();
            let (_, plain) = counting();
            let mut inner = (&promise).into_future();
            assert!(poll(&mut inner, &plain).is_pending());
            let reentrant = Waker::from(StdArc::new(ReentrantWaker { _inner: inner }));
            let mut outer = (&promise).into_future();
            assert!(poll(&mut outer, &reentrant).is_pending());
            drop(reentrant);
            // Replacing the waker drops the last `ReentrantWaker`, which drops `inner`, which locks the promise.
            assert!(poll(&mut outer, &plain).is_pending());
            assert_eq!(slab_len(&promise), (2, 1));
            done_tx.send(()).unwrap();
        });
        done_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("dropping a waker under the promise lock deadlocked");
    }

    #[test]
    fn debug_shows_the_state_and_the_awaiters() {
        let promise = Promise::<u32>::new();
        let (_, waker) = counting();
        let mut wait = (&promise).into_future();
        assert!(poll(&mut wait, &waker).is_pending());
        assert_eq!(
            format!("{promise:?}"),
            "Promise { state: \"pending\", awaiters: 1 }"
        );
        promise.cancel();
        assert_eq!(
            format!("{promise:?}"),
            "Promise { state: \"cancelled\", awaiters: 0 }"
        );
    }

    #[test]
    fn send_and_sync_follow_t_send() {
        fn send_sync<X: Send + Sync>() {}
        send_sync::<Promise<Cell<u32>>>(); // Send but not Sync: every `&T` use is under the lock
        send_sync::<Cancelled>();
        fn send<X: Send>() {}
        send::<Wait<Cell<u32>>>();
    }
}

#[cfg(all(test, ferrio_loom))]
mod loom_tests {
    //! Loom models: completion racing with awaiters registering, refreshing and withdrawing their wakers.
    //! `block_on` parks the awaiting loom thread until its waker unparks it, so a lost wake-up is reported as a
    //! deadlock; loom's `Arc` reports a leaked promise.

    use super::super::*;
    use loom::thread;
    use std::sync::Arc as StdArc;
    use std::task::Wake;

    struct Unparker(thread::Thread);

    impl Wake for Unparker {
        fn wake(self: StdArc<Self>) {
            self.0.unpark();
        }
    }

    struct NoopWaker;

    impl Wake for NoopWaker {
        fn wake(self: StdArc<Self>) {}
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let waker = Waker::from(StdArc::new(Unparker(thread::current())));
        loop {
            if let Poll::Ready(out) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
                return out;
            }
            thread::park();
        }
    }

    #[test]
    fn loom_set_races_cancel_and_an_awaiter() {
        loom::model(|| {
            let promise = Promise::<u32>::new();
            let setter = promise.clone();
            let canceller = promise.clone();
            let set = thread::spawn(move || setter.set_result(7).is_ok());
            let cancel = thread::spawn(move || canceller.cancel());
            let got = block_on((&promise).into_future());
            let (set, cancelled) = (set.join().unwrap(), cancel.join().unwrap());
            assert!(set != cancelled, "exactly one of set and cancel wins");
            assert_eq!(got, if set { Ok(7) } else { Err(Cancelled) });
            assert_eq!(promise.try_result(), Some(got));
            assert_eq!(promise.lock().waiters.registered(), 0);
        });
    }

    #[test]
    fn loom_withdrawn_and_refreshed_awaiters_race_set() {
        loom::model(|| {
            let promise = Promise::<u32>::new();
            let withdrawn = promise.clone();
            let dropper = thread::spawn(move || {
                let mut wait = withdrawn.into_future();
                let waker = Waker::from(StdArc::new(NoopWaker));
                let polled = Pin::new(&mut wait).poll(&mut Context::from_waker(&waker));
                drop(wait);
                polled
            });
            let setter = promise.clone();
            let set = thread::spawn(move || setter.set_result(5).unwrap());
            // The main awaiter registers a no-op waker first, then refreshes it with a real one.
            let mut wait = promise.clone().into_future();
            let noop = Waker::from(StdArc::new(NoopWaker));
            if Pin::new(&mut wait)
                .poll(&mut Context::from_waker(&noop))
                .is_pending()
            {
                assert_eq!(block_on(&mut wait), Ok(5));
            }
            set.join().unwrap();
            let polled = dropper.join().unwrap();
            assert!(polled == Poll::Pending || polled == Poll::Ready(Ok(5)));
            assert!(!promise.is_cancelled());
            assert_eq!(promise.lock().waiters.registered(), 0);
        });
    }
}
