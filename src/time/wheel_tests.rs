//! Tests of `wheel.rs`: unit tests (also run under Miri) and the loom model of registration racing
//! firing racing drop.

#[cfg(all(test, not(ferrio_loom)))]
mod tests {
    use super::super::*;
    use std::pin::Pin;

    fn noop() -> TimerWaker {
        TimerWaker::Owned(Waker::noop().clone())
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
            drop(wheel.remove(ptr(&a)));
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

    /// A waker an entry keeps uncounted: registering, updating and removing leave its count alone; firing
    /// hands out a counted clone, and a replacement waker that is not the task's is counted.
    #[test]
    fn borrowed_wakers_are_counted_only_when_fired() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        use std::sync::Arc;
        use std::task::Wake;
        struct Flag(AtomicUsize);
        impl Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        let task = Arc::new(Flag(AtomicUsize::new(0)));
        let own = Waker::from(task.clone());
        let base = Arc::strong_count(&task);
        let mut wheel = TimerWheel::new();
        let a = Box::pin(TimerEntry::new());
        let b = Box::pin(TimerEntry::new());
        // SAFETY: the "task" (`task`) outlives both entries, which stay pinned for the whole test.
        unsafe {
            assert!(wheel.insert(ptr(&a), 10, TimerWaker::borrowed(&own)));
            assert!(wheel.insert(ptr(&b), 20, TimerWaker::borrowed(&own)));
            assert!(wheel.update_waker(ptr(&a), &own, true).0);
            assert_eq!(Arc::strong_count(&task), base, "borrowed: nothing counted");
            let other = Arc::new(Flag(AtomicUsize::new(0)));
            let (registered, replaced) =
                wheel.update_waker(ptr(&b), &Waker::from(other.clone()), false);
            assert!(registered);
            assert!(matches!(replaced, Some(TimerWaker::Borrowed(_))));
            assert_eq!(
                Arc::strong_count(&other),
                2,
                "a foreign waker is kept counted"
            );
            let old = wheel.remove(ptr(&b));
            assert_eq!(
                Arc::strong_count(&other),
                2,
                "handed back, not dropped under the lock"
            );
            drop(old);
            assert_eq!(Arc::strong_count(&other), 1, "and released with the entry");
        }
        let mut fired = Vec::new();
        wheel.advance(15, &mut fired);
        assert_eq!(fired.len(), 1);
        assert_eq!(a.state(), FIRED);
        assert_eq!(
            Arc::strong_count(&task),
            base + 1,
            "firing took a counted clone"
        );
        fired.pop().unwrap().wake();
        assert_eq!(task.0.load(SeqCst), 1, "the fired clone wakes the task");
        assert_eq!(Arc::strong_count(&task), base);
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
    use super::super::*;
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
    /// woken at most once, only if the timer was linked when the wheel advanced, nothing stays linked, and
    /// every reference the wheel took is released. With `borrowed`, the entry keeps the waker uncounted, as
    /// a sleep inside its own task does: the firing thread's clone is the only count taken.
    fn register_fire_and_drop_model(borrowed: bool) {
        loom::model(move || {
            let wheel = Arc::new(Mutex::new(TimerWheel::new()));
            let entry: Pin<Box<TimerEntry>> = Box::pin(TimerEntry::new());
            let count = std::sync::Arc::new(Count(AtomicUsize::new(0)));
            let task_waker = Waker::from(count.clone());

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
            let timer_waker = if borrowed {
                // SAFETY: the "task" (`count`, through `task_waker`) outlives the entry's registration.
                unsafe { TimerWaker::borrowed(&task_waker) }
            } else {
                TimerWaker::Owned(task_waker.clone())
            };
            // SAFETY: the boxed entry is pinned and outlives the model; it is not linked yet.
            let inserted = unsafe { wheel.lock().unwrap().insert(ptr.0, 50, timer_waker) };
            let fired_by_advance = firer.join().unwrap();
            // The owner drops its timer: unlink if still registered.
            // SAFETY: alive, and registered (if at all) in this wheel.
            let old = unsafe { wheel.lock().unwrap().remove(ptr.0) };
            drop(old);

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
            drop(task_waker);
            assert_eq!(
                std::sync::Arc::strong_count(&count),
                1,
                "no count leaked or released twice"
            );
        });
    }

    #[test]
    fn loom_register_fire_and_drop_race() {
        register_fire_and_drop_model(false);
    }

    #[test]
    fn loom_borrowed_waker_fire_and_drop_race() {
        register_fire_and_drop_model(true);
    }
}

#[cfg(all(test, not(ferrio_loom)))]
mod interleaved_tests {
    use super::super::*;
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
                assert!(unsafe {
                    wheel.insert(
                        NonNull::from(&*e),
                        tick,
                        TimerWaker::Owned(Waker::noop().clone()),
                    )
                });
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
