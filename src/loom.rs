//! The one place that picks between `std` and `loom` synchronisation types.
//!
//! Every atomic, cell, mutex and thread spawn in the concurrency core goes through this module so that the
//! same code runs under loom's model checker when built with `RUSTFLAGS="--cfg ferrio_loom"`. (The crate does
//! not use `--cfg loom`: that switch also turns tokio, a dev-dependency, into a build that does not compile.)
//!
//! `UnsafeCell` follows loom's closure-based API (`with` / `with_mut`) in both builds so that loom can track
//! every access to cell contents.

#[cfg(not(ferrio_loom))]
mod imp {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize};
    pub(crate) use std::sync::{Arc, Condvar, Mutex};

    /// `std::cell::UnsafeCell` with loom's access API.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> UnsafeCell<T> {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(ferrio_loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize};
    pub(crate) use loom::sync::{Arc, Condvar, Mutex};
}

pub(crate) use imp::*;
