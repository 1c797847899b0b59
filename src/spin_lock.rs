//! `SpinLock<T>`: a test-and-set lock for critical sections that are a few pointer writes long (a timer
//! wheel's insert or unlink, an owned-task list's link or unlink).
//!
//! Locking is one compare-and-swap; unlocking is a plain release store, where a `std::sync::Mutex` unlock is
//! an atomic swap (it must learn whether someone sleeps on the futex). For sections this short that swap is
//! about half of what a lock/unlock pair costs. A waiter spins briefly, then yields its time slice, so a
//! holder that was preempted is not fought for the whole slice. Not for sections that block or run user code.
//!
//! Under `--cfg ferrio_loom` it is loom's mutex, so the models that use it check the code around the lock
//! (the lock protocol itself, acquire on lock and release on unlock, is the textbook one).

#[cfg(not(ferrio_loom))]
mod imp {
    use std::cell::UnsafeCell;
    use std::sync::atomic::AtomicBool;
    use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

    /// A value behind a test-and-set flag.
    ///
    /// Invariant: the value is reached only through a `SpinGuard`, which exists only while `locked` is held
    /// by the guard's creator (acquired by its compare-and-swap, released by its drop), so accesses never
    /// overlap.
    pub(crate) struct SpinLock<T> {
        locked: AtomicBool,
        value: UnsafeCell<T>,
    }

    // SAFETY: the lock hands out access to `T` to one thread at a time (invariant above), so sharing the
    // lock is as safe as sending `T`.
    unsafe impl<T: Send> Sync for SpinLock<T> {}

    pub(crate) struct SpinGuard<'a, T>(&'a SpinLock<T>);

    impl<T> SpinLock<T> {
        pub(crate) fn new(value: T) -> SpinLock<T> {
            SpinLock {
                locked: AtomicBool::new(false),
                value: UnsafeCell::new(value),
            }
        }

        #[inline]
        pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
            if self
                .locked
                .compare_exchange_weak(false, true, Acquire, Relaxed)
                .is_err()
            {
                self.lock_contended();
            }
            SpinGuard(self)
        }

        #[cold]
        fn lock_contended(&self) {
            let mut spins = 0u32;
            loop {
                // Wait on a plain load (the line stays shared) before trying again.
                while self.locked.load(Relaxed) {
                    spins += 1;
                    if spins < 64 {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                }
                if self
                    .locked
                    .compare_exchange_weak(false, true, Acquire, Relaxed)
                    .is_ok()
                {
                    return;
                }
            }
        }
    }

    impl<T> std::ops::Deref for SpinGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            // SAFETY: the guard holds the lock (`SpinLock` invariant).
            unsafe { &*self.0.value.get() }
        }
    }

    impl<T> std::ops::DerefMut for SpinGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: the guard holds the lock, and `&mut self` makes this the only reference through it.
            unsafe { &mut *self.0.value.get() }
        }
    }

    impl<T> Drop for SpinGuard<'_, T> {
        #[inline]
        fn drop(&mut self) {
            self.0.locked.store(false, Release);
        }
    }
}

#[cfg(ferrio_loom)]
mod imp {
    /// loom's mutex behind the `SpinLock` API.
    pub(crate) struct SpinLock<T>(loom::sync::Mutex<T>);

    pub(crate) type SpinGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> SpinLock<T> {
        pub(crate) fn new(value: T) -> SpinLock<T> {
            SpinLock(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
            self.0.lock().unwrap()
        }
    }
}

pub(crate) use imp::SpinLock;
