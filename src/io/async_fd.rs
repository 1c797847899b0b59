//! `AsyncFd<T>`: readiness for any file descriptor, and the building block of every socket type.
//!
//! An `AsyncFd` owns a value that holds a non-blocking file descriptor and one registration in the runtime's
//! reactor (edge-triggered, see `reactor/io_slot.rs`). Data moves like this: a task calls an operation
//! (`poll_io`); the operation charges the cooperative budget, waits until the slot reports readiness for its
//! direction, then runs the non-blocking system call. `WouldBlock` clears exactly the readiness it saw and
//! waits again (a newer edge that arrived meanwhile is kept, so readiness delivered while the task ran is
//! not lost); any other result is returned. Dropping the `AsyncFd` deregisters the descriptor (and, for an
//! owning `T`, closes it when `T` drops).
//!
//! The registration belongs to the runtime that was current when the `AsyncFd` was created. When that
//! runtime shuts down, operations that would wait fail with an error instead of waiting forever.

use super::Interest;
use crate::coop;
use crate::reactor::{Direction, ReactorRegistry, ReadyEvent, Registration};
use crate::runtime::context;
use mio::unix::SourceFd;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

/// A file descriptor registered in the reactor: wait for readiness, then do non-blocking I/O on it.
///
/// The descriptor must be in non-blocking mode (`AsyncFd` does not change it). Works with pipes, eventfds,
/// sockets, terminals and character devices: anything epoll accepts (regular files are refused by epoll
/// with `EPERM`).
///
/// ```
/// # ferrio::run(async {
/// use ferrio::io::AsyncFd;
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
///
/// let (a, mut b) = UnixStream::pair().unwrap();
/// a.set_nonblocking(true).unwrap();
/// let a = AsyncFd::new(a).unwrap();
/// b.write_all(b"ping").unwrap();
/// let mut buf = [0; 4];
/// let n = a.async_io(ferrio::io::Interest::READABLE, |mut s| s.read(&mut buf)).await.unwrap();
/// assert_eq!(&buf[..n], b"ping");
/// # });
/// ```
pub struct AsyncFd<T: AsRawFd> {
    /// `None` only after `into_inner` took it (the registration is gone by then).
    inner: Option<T>,
    registration: Option<Registration>,
    registry: Arc<ReactorRegistry>,
    interest: Interest,
}

/// Proof that a direction of an [`AsyncFd`] was ready; from [`AsyncFd::readable`] or
/// [`AsyncFd::writable`]. Use [`try_io`](AsyncFdReadyGuard::try_io) to run the operation: if it would
/// block, the readiness is cleared and the next wait really waits.
pub struct AsyncFdReadyGuard<'a, T: AsRawFd> {
    fd: &'a AsyncFd<T>,
    event: Option<ReadyEvent>,
}

/// [`AsyncFdReadyGuard::try_io`]'s operation would have blocked; the readiness was cleared.
#[derive(Debug)]
pub struct TryIoError(());

impl fmt::Display for TryIoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("operation would block")
    }
}

impl std::error::Error for TryIoError {}

/// The error of an operation that would wait on a source whose runtime has shut down.
pub(crate) fn shut_down_error() -> io::Error {
    io::Error::other("ferrio: the runtime this I/O object belongs to has shut down")
}

impl<T: AsRawFd> AsyncFd<T> {
    /// Registers `inner` for both reading and writing with the current runtime's reactor.
    ///
    /// # Panics
    /// Outside a ferrio runtime (not inside `block_on`, `run` or a task).
    #[track_caller]
    pub fn new(inner: T) -> io::Result<AsyncFd<T>> {
        AsyncFd::with_interest(inner, Interest::READABLE | Interest::WRITABLE)
    }

    /// Registers `inner` for `interest` only (a waiter on the other direction would never wake).
    ///
    /// # Panics
    /// Outside a ferrio runtime (not inside `block_on`, `run` or a task).
    #[track_caller]
    pub fn with_interest(inner: T, interest: Interest) -> io::Result<AsyncFd<T>> {
        let registry = context::with_current(|h| h.reactor_registry().clone()).unwrap_or_else(|| {
            panic!(
                "ferrio::io: an I/O object (socket, AsyncFd, signal) was created outside a runtime: create \
                 it inside block_on, run or a task of a ferrio Runtime"
            )
        });
        let fd = inner.as_raw_fd();
        let registration = registry.register(&mut SourceFd(&fd), interest.to_mio())?;
        Ok(AsyncFd {
            inner: Some(inner),
            registration: Some(registration),
            registry,
            interest,
        })
    }

    /// The wrapped value.
    pub fn get_ref(&self) -> &T {
        self.inner.as_ref().expect("AsyncFd: inner taken")
    }

    /// The wrapped value, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.as_mut().expect("AsyncFd: inner taken")
    }

    /// Deregisters the descriptor and hands the value back (still in non-blocking mode).
    pub fn into_inner(mut self) -> T {
        self.deregister();
        self.inner.take().expect("AsyncFd: inner taken")
    }

    /// The interest this descriptor was registered with.
    pub fn interest(&self) -> Interest {
        self.interest
    }

    /// Waits until the descriptor is readable (or closed, or in error).
    pub async fn readable(&self) -> io::Result<AsyncFdReadyGuard<'_, T>> {
        poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    /// Waits until the descriptor is writable (or closed, or in error).
    pub async fn writable(&self) -> io::Result<AsyncFdReadyGuard<'_, T>> {
        poll_fn(|cx| self.poll_write_ready(cx)).await
    }

    /// Polls for read readiness, storing the waker if not ready.
    pub fn poll_read_ready(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<AsyncFdReadyGuard<'_, T>>> {
        self.poll_ready_guard(cx, Direction::Read)
    }

    /// Polls for write readiness, storing the waker if not ready.
    pub fn poll_write_ready(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<AsyncFdReadyGuard<'_, T>>> {
        self.poll_ready_guard(cx, Direction::Write)
    }

    fn poll_ready_guard(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
    ) -> Poll<io::Result<AsyncFdReadyGuard<'_, T>>> {
        let event = ready!(self.slot_poll_ready(cx, direction));
        if event.is_shutdown() {
            return Poll::Ready(Err(shut_down_error()));
        }
        Poll::Ready(Ok(AsyncFdReadyGuard {
            fd: self,
            event: Some(event),
        }))
    }

    /// Runs `op` once the descriptor is ready for `interest` (readable wins if both are asked), retrying
    /// after each `WouldBlock`. Charges the cooperative budget.
    pub async fn async_io<R>(
        &self,
        interest: Interest,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        let direction = if interest.is_readable() {
            Direction::Read
        } else {
            Direction::Write
        };
        poll_fn(|cx| self.poll_io(cx, direction, &mut op)).await
    }

    /// The heart of every operation: budget, readiness, syscall, clear on `WouldBlock` (module docs).
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io_then(cx, direction, op, |_, _| {})
    }

    /// `poll_io` for stream reads and writes of `len` bytes: a transfer shorter than asked means the kernel
    /// buffer was drained (read) or filled (write), so the readiness is cleared right away and the next call
    /// waits without first paying for a system call that would only say `WouldBlock`.
    pub(crate) fn poll_io_stream(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        len: usize,
        op: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        self.poll_io_then(cx, direction, op, |&n, event| {
            if n > 0 && n < len && !event.is_closed() {
                self.clear(event);
            }
        })
    }

    /// `poll_io`, calling `after` with a successful result and the readiness it used.
    fn poll_io_then<R>(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        mut op: impl FnMut(&T) -> io::Result<R>,
        after: impl FnOnce(&R, ReadyEvent),
    ) -> Poll<io::Result<R>> {
        let charge = ready!(coop::poll_proceed(cx));
        loop {
            let event = ready!(self.slot_poll_ready(cx, direction));
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if event.is_shutdown() {
                        return Poll::Ready(Err(shut_down_error()));
                    }
                    self.clear(event);
                }
                result => {
                    if let Ok(value) = &result {
                        after(value, event);
                    }
                    charge.made_progress();
                    return Poll::Ready(result);
                }
            }
        }
    }

    /// Runs `op` now if the last known readiness allows it, without waiting: `WouldBlock` if not ready or if
    /// the operation would block (the readiness is then cleared).
    pub(crate) fn try_io<R>(
        &self,
        direction: Direction,
        op: impl FnOnce(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        let Some(event) = self.slot().ready_now(direction) else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let result = op(self.get_ref());
        if matches!(&result, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            self.clear(event);
        }
        result
    }

    fn slot_poll_ready(&self, cx: &mut Context<'_>, direction: Direction) -> Poll<ReadyEvent> {
        self.slot().poll_ready(cx, direction)
    }

    fn slot(&self) -> &crate::reactor::IoSlot {
        &self
            .registration
            .as_ref()
            .expect("AsyncFd: registration taken")
            .slot
    }

    fn clear(&self, event: ReadyEvent) {
        self.slot().clear_readiness(event);
    }

    fn deregister(&mut self) {
        if let (Some(registration), Some(inner)) = (self.registration.take(), self.inner.as_ref()) {
            let fd: RawFd = inner.as_raw_fd();
            // Fails only if the descriptor was closed behind our back or the epoll instance is gone; the
            // slot is released either way.
            let _ = self.registry.deregister(&mut SourceFd(&fd), registration);
        }
    }
}

impl<T: AsRawFd> AsRawFd for AsyncFd<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.get_ref().as_raw_fd()
    }
}

impl<T: AsRawFd> Drop for AsyncFd<T> {
    fn drop(&mut self) {
        self.deregister();
    }
}

impl<T: AsRawFd + fmt::Debug> fmt::Debug for AsyncFd<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncFd")
            .field("inner", &self.inner)
            .field("interest", &self.interest)
            .finish()
    }
}

impl<'a, T: AsRawFd> AsyncFdReadyGuard<'a, T> {
    /// Forgets the readiness this guard saw: the next wait waits for a new edge. Call it after an operation
    /// returned `WouldBlock` outside `try_io`.
    pub fn clear_ready(&mut self) {
        if let Some(event) = self.event.take() {
            self.fd.clear(event);
        }
    }

    /// Keeps the readiness (the default when the guard is dropped): the next wait returns at once.
    pub fn retain_ready(&mut self) {
        self.event = None;
    }

    /// Runs `op`; if it returns `WouldBlock`, clears the readiness and returns `Err(TryIoError)` so the
    /// caller waits again.
    pub fn try_io<R>(
        &mut self,
        op: impl FnOnce(&'a AsyncFd<T>) -> io::Result<R>,
    ) -> Result<io::Result<R>, TryIoError> {
        match op(self.fd) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.clear_ready();
                Err(TryIoError(()))
            }
            result => Ok(result),
        }
    }

    /// The `AsyncFd` this guard belongs to.
    pub fn get_ref(&self) -> &'a AsyncFd<T> {
        self.fd
    }

    /// The wrapped value.
    pub fn get_inner(&self) -> &'a T {
        self.fd.get_ref()
    }
}

impl<T: AsRawFd> fmt::Debug for AsyncFdReadyGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncFdReadyGuard")
            .field("fd", &self.fd.get_ref().as_raw_fd())
            .finish()
    }
}
