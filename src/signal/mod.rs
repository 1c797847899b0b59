//! Unix signals as awaitable events: `ctrl_c()` and `signal(kind)` (asyncio's `loop.add_signal_handler`, as a
//! stream of deliveries), so a server can stop cleanly on SIGINT or SIGTERM.
//!
//! How it works (details in `registry.rs`): the first `signal(kind)` for a signal installs ferrio's handler
//! for it, process-wide. The handler marks the signal pending and writes a byte to a self-pipe. Each
//! [`Signal`] listener watches its own duplicate of the pipe's read end through an [`AsyncFd`] in its
//! runtime's reactor; whichever listener wakes first drains the pipe and counts a delivery for every pending
//! signal, waking all of that signal's listeners, in any runtime.
//!
//! A self-pipe rather than `signalfd`: a signalfd only receives signals that every thread of the process has
//! blocked, which an embedded runtime cannot arrange for threads it did not create.
//!
//! Semantics, as users of tokio's `signal::unix` expect:
//! - Deliveries coalesce: several arrivals of a signal between two `recv` calls give one `recv`, never zero.
//! - A listener sees only signals that arrive after it was created.
//! - Once ferrio handles a signal it keeps handling it for the rest of the process, even after every listener
//!   is dropped: the default action (for SIGINT and SIGTERM, terminating the process) no longer happens.
//!   Signals nobody asked for keep their default behaviour. ferrio's handler replaces whatever handler or
//!   disposition the signal had (`SIG_IGN` included) and does not chain to it.
//! - SIGKILL, SIGSTOP, SIGILL, SIGFPE, SIGSEGV and SIGBUS cannot be listened to: `signal` returns
//!   `InvalidInput`.

mod registry;

use crate::io::{AsyncFd, Interest};
use registry::{globals, Globals, MAX_SIGNAL};
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::task::{Context, Poll};

/// Which signal to listen for. Build one from a named constructor or from a raw number.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(libc::c_int);

impl SignalKind {
    /// A signal by number, e.g. `SignalKind::from_raw(libc::SIGRTMIN())`.
    pub const fn from_raw(signo: libc::c_int) -> SignalKind {
        SignalKind(signo)
    }

    /// The signal's number.
    pub const fn as_raw_value(self) -> libc::c_int {
        self.0
    }

    /// SIGINT: Ctrl-C in a terminal.
    pub const fn interrupt() -> SignalKind {
        SignalKind(libc::SIGINT)
    }

    /// SIGTERM: the polite request to stop (`kill PID`, service managers).
    pub const fn terminate() -> SignalKind {
        SignalKind(libc::SIGTERM)
    }

    /// SIGHUP: the terminal went away; daemons often reload their configuration on it.
    pub const fn hangup() -> SignalKind {
        SignalKind(libc::SIGHUP)
    }

    /// SIGQUIT: Ctrl-\ in a terminal.
    pub const fn quit() -> SignalKind {
        SignalKind(libc::SIGQUIT)
    }

    /// SIGUSR1.
    pub const fn user_defined1() -> SignalKind {
        SignalKind(libc::SIGUSR1)
    }

    /// SIGUSR2.
    pub const fn user_defined2() -> SignalKind {
        SignalKind(libc::SIGUSR2)
    }

    /// SIGCHLD: a child process stopped or exited.
    pub const fn child() -> SignalKind {
        SignalKind(libc::SIGCHLD)
    }

    /// SIGWINCH: the terminal was resized.
    pub const fn window_change() -> SignalKind {
        SignalKind(libc::SIGWINCH)
    }

    /// SIGPIPE: a write to a closed pipe (ferrio's sockets never raise it; see `net`).
    pub const fn pipe() -> SignalKind {
        SignalKind(libc::SIGPIPE)
    }

    /// SIGALRM.
    pub const fn alarm() -> SignalKind {
        SignalKind(libc::SIGALRM)
    }

    /// Checks that a handler may be installed for this signal.
    fn validate(self) -> io::Result<()> {
        let forbidden = [
            libc::SIGKILL,
            libc::SIGSTOP,
            libc::SIGILL,
            libc::SIGFPE,
            libc::SIGSEGV,
            libc::SIGBUS,
        ];
        if self.0 <= 0 || self.0 as usize >= MAX_SIGNAL {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("ferrio::signal: {} is not a signal number", self.0),
            ));
        }
        if forbidden.contains(&self.0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "ferrio::signal: signal {} cannot be listened to (SIGKILL and SIGSTOP cannot be caught; \
                     SIGILL, SIGFPE, SIGSEGV and SIGBUS mean the program itself faulted)",
                    self.0
                ),
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignalKind({})", self.0)
    }
}

/// A listener for one signal: `recv().await` returns each time the signal arrived since the last `recv`.
///
/// ```no_run
/// use ferrio::signal::{signal, SignalKind};
/// ferrio::run(async {
///     let mut hangups = signal(SignalKind::hangup()).unwrap();
///     while hangups.recv().await.is_some() {
///         println!("reloading configuration");
///     }
/// });
/// ```
pub struct Signal {
    kind: SignalKind,
    globals: &'static Globals,
    /// The delivery count this listener has reported up to.
    seen: u64,
    /// This listener's key in the signal's waiter list.
    key: usize,
    /// This listener's duplicate of the self-pipe's read end, in its runtime's reactor.
    pipe: AsyncFd<OwnedFd>,
}

/// Starts listening for `kind`, installing ferrio's handler for it on first use (see the module docs for
/// what that changes for the whole process).
///
/// Errors: `InvalidInput` for a signal that cannot be handled (SIGKILL, SIGSTOP, faults, numbers out of range);
/// otherwise what creating the pipe, `sigaction` or registering in the reactor returned.
///
/// # Panics
/// Outside a ferrio runtime.
#[track_caller]
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    kind.validate()?;
    let globals = globals()?;
    let pipe = AsyncFd::with_interest(globals.pipe_reader()?, Interest::READABLE)?;
    // Deliver whatever is pending now (a signal that arrived while nobody listened left its flag and byte
    // behind), so it counts as before this listener and is not reported to it.
    globals.drain(pipe.as_raw_fd());
    globals.dispatch();
    let slot = globals.slot(kind.0);
    // Register before installing, so a signal that arrives right after installation counts for us.
    let seen = slot.deliveries();
    let key = slot.add_listener();
    let listener = Signal {
        kind,
        globals,
        seen,
        key,
        pipe,
    };
    globals.install(kind.0)?;
    Ok(listener)
}

/// Resolves when SIGINT (Ctrl-C) arrives. Listening starts when `ctrl_c()` is called, not when the future is
/// first polled, so a Ctrl-C in between is not missed. Errors as for [`signal`], and an error if the runtime
/// shuts down first.
///
/// ```no_run
/// ferrio::run(async {
///     ferrio::signal::ctrl_c().await.unwrap();
///     println!("stopping");
/// });
/// ```
///
/// # Panics
/// Outside a ferrio runtime.
#[track_caller]
pub fn ctrl_c() -> impl Future<Output = io::Result<()>> + Send {
    let listener = signal(SignalKind::interrupt());
    async move {
        let mut listener = listener?;
        match listener.recv().await {
            Some(()) => Ok(()),
            None => Err(io::Error::other(
                "ferrio::signal::ctrl_c: the runtime it was called in has shut down",
            )),
        }
    }
}

impl Signal {
    /// Waits for the next delivery. `None` once the runtime the listener was created in has shut down (no
    /// delivery can reach it any more).
    pub async fn recv(&mut self) -> Option<()> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next delivery (see [`recv`](Signal::recv)).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        let slot = self.globals.slot(self.kind.0);
        loop {
            let deliveries = slot.deliveries();
            if deliveries != self.seen {
                self.seen = deliveries;
                return Poll::Ready(Some(()));
            }
            // Wait for a dispatch done by any listener (ours or another's)...
            slot.set_waker(self.key, cx.waker());
            if slot.deliveries() != self.seen {
                continue;
            }
            // ...and drive the pipe ourselves, since we may be the only listener whose runtime is running.
            match self.pipe.poll_read_ready(cx) {
                Poll::Ready(Ok(mut ready)) => {
                    self.globals.drain(ready.get_inner().as_raw_fd());
                    ready.clear_ready();
                    self.globals.dispatch();
                }
                Poll::Ready(Err(_)) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// The signal this listener receives.
    pub fn kind(&self) -> SignalKind {
        self.kind
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        self.globals.slot(self.kind.0).remove_listener(self.key);
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("kind", &self.kind)
            .field("seen", &self.seen)
            .finish()
    }
}
