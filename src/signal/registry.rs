//! The process-wide half of signal handling: the handler ferrio installs, the self-pipe it writes to, and
//! the per-signal delivery counters and waiters that listeners (`Signal`) read.
//!
//! Data flow: the kernel runs `on_signal` on some thread -> it sets `PENDING[signo]` and writes one byte to
//! the self-pipe (the only two things it does, both async-signal-safe) -> every listener holds its own
//! duplicate of the pipe's read end, registered in its runtime's reactor, so each reactor sees the edge ->
//! the first listener polled drains the pipe and calls `dispatch`, which turns each pending flag into one more
//! delivery (`SignalSlot::deliveries`) and wakes the listeners waiting for that signal, whatever runtime they
//! belong to.
//!
//! Ordering rule (no delivery is lost): the handler sets the flag before it writes the byte, and every
//! listener that sees the pipe readable drains it and then dispatches. So a flag set before a drain is seen
//! by that drain's dispatch, and one set after it comes with a byte that raises a new edge.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::task::Waker;

/// Signal numbers are below this (Linux: 1..=64, real-time signals included).
pub(crate) const MAX_SIGNAL: usize = 65;

/// Set by the handler when its signal arrives; cleared by `dispatch`. Statics, so the handler touches
/// nothing that needs initialising.
static PENDING: [AtomicBool; MAX_SIGNAL] = [const { AtomicBool::new(false) }; MAX_SIGNAL];

/// The write end of the self-pipe, for the handler (-1 until `globals()` created it; never closed after).
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

/// What the process shares across runtimes; created on the first `signal()` call.
pub(crate) struct Globals {
    /// The read end of the self-pipe (non-blocking). Listeners duplicate it.
    pipe_read: UnixStream,
    /// The write end; kept open for the process lifetime since the handler may write to it any time.
    _pipe_write: UnixStream,
    slots: [SignalSlot; MAX_SIGNAL],
}

/// One signal's state.
pub(crate) struct SignalSlot {
    /// Whether ferrio's handler is installed for this signal (installed once, never removed).
    installed: Mutex<bool>,
    /// Deliveries dispatched so far. A listener remembers the count it last saw.
    deliveries: AtomicU64,
    waiters: Mutex<Waiters>,
}

/// Wakers of listeners waiting on one signal, by listener key (a small slab).
#[derive(Default)]
struct Waiters {
    entries: Vec<Option<Waker>>,
    /// Keys handed out (registered listeners), whether or not they wait now.
    in_use: Vec<bool>,
    free: Vec<usize>,
}

/// The process-wide state, created on first use.
pub(crate) fn globals() -> io::Result<&'static Globals> {
    static GLOBALS: OnceLock<Globals> = OnceLock::new();
    static INIT: Mutex<()> = Mutex::new(());
    if let Some(g) = GLOBALS.get() {
        return Ok(g);
    }
    // `OnceLock::get_or_try_init` is unstable: serialise creation so only one pipe is ever made.
    let _init = INIT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(g) = GLOBALS.get() {
        return Ok(g);
    }
    // std creates both ends close-on-exec.
    let (pipe_read, pipe_write) = UnixStream::pair()?;
    pipe_read.set_nonblocking(true)?;
    pipe_write.set_nonblocking(true)?;
    PIPE_WRITE.store(pipe_write.as_raw_fd(), Ordering::SeqCst);
    let globals = Globals {
        pipe_read,
        _pipe_write: pipe_write,
        slots: std::array::from_fn(|_| SignalSlot {
            installed: Mutex::new(false),
            deliveries: AtomicU64::new(0),
            waiters: Mutex::new(Waiters::default()),
        }),
    };
    Ok(GLOBALS.get_or_init(|| globals))
}

impl Globals {
    pub(crate) fn slot(&self, signo: i32) -> &SignalSlot {
        &self.slots[signo as usize]
    }

    /// A new descriptor for the self-pipe's read end (close-on-exec), for one listener's `AsyncFd`.
    pub(crate) fn pipe_reader(&self) -> io::Result<OwnedFd> {
        use std::os::fd::AsFd;
        self.pipe_read.as_fd().try_clone_to_owned()
    }

    /// Installs ferrio's handler for `signo` unless already done. Validity was checked by the caller.
    pub(crate) fn install(&self, signo: i32) -> io::Result<()> {
        let mut installed = self
            .slot(signo)
            .installed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if *installed {
            return Ok(());
        }
        // SAFETY: an all-zero `sigaction` is a valid starting value (empty mask, no flags); the fields we
        // need are set below before the struct is used.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SA_RESTART: system calls interrupted by the signal restart instead of failing with EINTR.
        action.sa_flags = libc::SA_RESTART;
        // SAFETY: `action.sa_mask` is a valid, writable `sigset_t`.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        // SAFETY: `action` is fully initialised and `on_signal` is async-signal-safe (see its docs); passing
        // a null old-action pointer is allowed.
        if unsafe { libc::sigaction(signo, &action, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        *installed = true;
        Ok(())
    }

    /// Drains the self-pipe through `fd` (a listener's duplicate of the read end) until it would block.
    pub(crate) fn drain(&self, fd: RawFd) {
        let mut buf = [0u8; 128];
        loop {
            // SAFETY: `buf` is valid for writes of `buf.len()` bytes; `fd` is an open descriptor owned by the
            // caller for the duration of the call.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                continue;
            }
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            // 0 (cannot happen: we hold the write end) or WouldBlock: drained.
            return;
        }
    }

    /// Turns every pending flag into a delivery and wakes that signal's waiters. Call after `drain`.
    pub(crate) fn dispatch(&self) {
        for (signo, pending) in PENDING.iter().enumerate() {
            if pending.swap(false, Ordering::SeqCst) {
                let slot = &self.slots[signo];
                slot.deliveries.fetch_add(1, Ordering::SeqCst);
                let wakers: Vec<Waker> = {
                    let mut waiters = slot.waiters.lock().unwrap_or_else(|e| e.into_inner());
                    waiters
                        .entries
                        .iter_mut()
                        .filter_map(Option::take)
                        .collect()
                };
                for waker in wakers {
                    waker.wake();
                }
            }
        }
    }
}

impl SignalSlot {
    pub(crate) fn deliveries(&self) -> u64 {
        self.deliveries.load(Ordering::SeqCst)
    }

    /// A key for a new listener.
    pub(crate) fn add_listener(&self) -> usize {
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        match waiters.free.pop() {
            Some(key) => {
                waiters.in_use[key] = true;
                key
            }
            None => {
                waiters.entries.push(None);
                waiters.in_use.push(true);
                waiters.entries.len() - 1
            }
        }
    }

    /// Stores the waker of listener `key` (replacing an older one).
    pub(crate) fn set_waker(&self, key: usize, waker: &Waker) {
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        match &mut waiters.entries[key] {
            Some(w) if w.will_wake(waker) => {}
            entry => *entry = Some(waker.clone()),
        }
    }

    pub(crate) fn remove_listener(&self, key: usize) {
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        waiters.entries[key] = None;
        waiters.in_use[key] = false;
        waiters.free.push(key);
    }

    /// Listeners registered now (tests).
    #[cfg(all(test, not(ferrio_loom)))]
    pub(crate) fn listeners(&self) -> usize {
        let waiters = self.waiters.lock().unwrap();
        waiters.in_use.iter().filter(|u| **u).count()
    }
}

/// ferrio's signal handler. Async-signal-safe: it only does an atomic store, an atomic load and `write(2)`,
/// and it saves and restores `errno`, which `write` may change under the interrupted code.
extern "C" fn on_signal(signo: libc::c_int) {
    // SAFETY: `__errno_location` returns this thread's errno slot, valid for the thread's lifetime.
    let errno = unsafe { *libc::__errno_location() };
    if let Some(flag) = PENDING.get(signo as usize) {
        flag.store(true, Ordering::SeqCst);
    }
    let fd = PIPE_WRITE.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: `fd` is the self-pipe's write end, kept open for the process lifetime (`Globals`); one byte
        // from a live local. A full pipe (EAGAIN) is fine: a byte is already waiting to wake the listeners.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

#[cfg(all(test, not(ferrio_loom)))]
mod tests {
    use super::*;

    #[test]
    fn dispatch_counts_pending_signals_and_wakes_their_waiters() {
        let g = globals().unwrap();
        // A real-time signal nobody else in the unit tests uses; only the flag is set, no handler runs.
        let signo = libc::SIGRTMIN() + 3;
        let slot = g.slot(signo);
        let key = slot.add_listener();
        assert_eq!(slot.listeners(), 1);
        let woken = std::sync::Arc::new(AtomicBool::new(false));
        struct Flag(std::sync::Arc<AtomicBool>);
        impl std::task::Wake for Flag {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        slot.set_waker(key, &Waker::from(std::sync::Arc::new(Flag(woken.clone()))));
        let before = slot.deliveries();
        g.dispatch();
        assert_eq!(
            slot.deliveries(),
            before,
            "nothing pending, nothing delivered"
        );
        PENDING[signo as usize].store(true, Ordering::SeqCst);
        g.dispatch();
        assert_eq!(slot.deliveries(), before + 1);
        assert!(woken.load(Ordering::SeqCst));
        slot.remove_listener(key);
        assert_eq!(slot.listeners(), 0);
        assert_eq!(slot.add_listener(), key, "keys are reused");
        slot.remove_listener(key);
    }
}
