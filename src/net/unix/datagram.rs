//! `UnixDatagram`: a Unix datagram socket, message by message through the reactor.
//!
//! The inner value is std's `UnixDatagram` (it has the abstract-address calls mio's lacks), created
//! non-blocking and close-on-exec by mio. As for UDP, every operation is one system call under
//! `AsyncFd::poll_io`, which clears the readiness only on `WouldBlock`: one call moves one datagram.
//! Sends go through `send`/`sendto` with `MSG_NOSIGNAL`, never `write(2)`.

use crate::io::AsyncFd;
use crate::net::sys;
use crate::reactor::Direction;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::os::unix::net::{self as std_unix, SocketAddr};
use std::path::Path;
use std::task::{Context, Poll};

/// A Unix datagram socket: each send is one message, each receive reads one whole message (the rest of a
/// message longer than the buffer is lost). Messages are reliable and ordered; a sender waits while the
/// receiver's queue is full.
///
/// Bound ([`bind`](Self::bind)) it has a name others can `send_to`; [`unbound`](Self::unbound) it can
/// still send, but the receiver sees an unnamed sender and has nowhere to reply: bind both ends for request
/// and reply. [`pair`](Self::pair) gives two sockets connected to each other, no names needed.
///
/// ```
/// # ferrio::run(async {
/// let (a, b) = ferrio::net::UnixDatagram::pair().unwrap();
/// a.send(b"one").await.unwrap();
/// a.send(b"two").await.unwrap();
/// let mut buf = [0; 16];
/// assert_eq!(b.recv(&mut buf).await.unwrap(), 3);
/// assert_eq!(b.recv(&mut buf).await.unwrap(), 3);
/// assert_eq!(&buf[..3], b"two");
/// # });
/// ```
pub struct UnixDatagram {
    io: AsyncFd<std_unix::UnixDatagram>,
}

impl UnixDatagram {
    /// Creates the socket file at `path` and binds to it. Like
    /// [`UnixListener::bind`](crate::net::UnixListener::bind): the file's mode is `0777` minus the umask,
    /// `AddrInUse` if anything exists at `path`, and the file stays after the socket is dropped.
    ///
    /// # Panics
    /// Outside a ferrio runtime.
    #[track_caller]
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        UnixDatagram::from_mio(mio::net::UnixDatagram::bind(path)?)
    }

    /// Binds to `addr`: a path, or (Linux) an abstract name.
    ///
    /// # Panics
    /// Outside a ferrio runtime.
    #[track_caller]
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixDatagram> {
        UnixDatagram::from_mio(mio::net::UnixDatagram::bind_addr(addr)?)
    }

    /// A socket with no name: it can send (`send_to`, or `connect` then `send`), but no reply can be
    /// addressed to it.
    ///
    /// # Panics
    /// Outside a ferrio runtime.
    #[track_caller]
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_mio(mio::net::UnixDatagram::unbound()?)
    }

    /// Two unnamed sockets connected to each other (`socketpair`).
    ///
    /// # Panics
    /// Outside a ferrio runtime.
    #[track_caller]
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = mio::net::UnixDatagram::pair()?;
        Ok((UnixDatagram::from_mio(a)?, UnixDatagram::from_mio(b)?))
    }

    #[track_caller]
    fn from_mio(socket: mio::net::UnixDatagram) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            io: AsyncFd::new(socket.into())?,
        })
    }

    /// Wraps a socket made with std; it is switched to non-blocking mode.
    ///
    /// # Panics
    /// Outside a ferrio runtime.
    #[track_caller]
    pub fn from_std(socket: std_unix::UnixDatagram) -> io::Result<UnixDatagram> {
        socket.set_nonblocking(true)?;
        Ok(UnixDatagram {
            io: AsyncFd::new(socket)?,
        })
    }

    /// Deregisters the socket and returns it as a std socket, still in non-blocking mode.
    pub fn into_std(self) -> io::Result<std_unix::UnixDatagram> {
        Ok(self.io.into_inner())
    }

    /// Sets the default peer to the socket bound at `path`: `send` goes there and only its messages are
    /// received. Not `async`: a Unix connect never waits. `NotFound` or `ConnectionRefused` as the system
    /// gives them.
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.io.get_ref().connect(path)
    }

    /// Sets the default peer to `addr`: a path, or (Linux) an abstract name.
    pub fn connect_addr(&self, addr: &SocketAddr) -> io::Result<()> {
        self.io.get_ref().connect_addr(addr)
    }

    /// Sends `buf` as one message to the connected peer, waiting while its queue is full.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_send(cx, buf)).await
    }

    /// Polls `send` (for hand-written futures).
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io
            .poll_io(cx, Direction::Write, |s| sys::send(s.as_raw_fd(), buf))
    }

    /// Sends now if there is known room: `WouldBlock` otherwise (nothing waits).
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io
            .try_io(Direction::Write, |s| sys::send(s.as_raw_fd(), buf))
    }

    /// Receives one message from the connected peer, waiting until one arrives; returns its length.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_recv(cx, buf)).await
    }

    /// Polls `recv` (for hand-written futures).
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_io(cx, Direction::Read, |s| s.recv(buf))
    }

    /// Reads the next queued message without taking it off the queue: the next `recv` returns the same
    /// message. Waits until one arrives; returns the length copied.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_peek(cx, buf)).await
    }

    /// Polls `peek` (for hand-written futures).
    pub fn poll_peek(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io
            .poll_io(cx, Direction::Read, |s| sys::peek(s.as_raw_fd(), buf))
    }

    /// Receives now if a message is known to be there: `WouldBlock` otherwise (nothing waits).
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_io(Direction::Read, |s| s.recv(buf))
    }

    /// Sends `buf` as one message to the socket bound at `path`, waiting while its queue is full.
    pub async fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let target = SocketAddr::from_pathname(path)?;
        self.send_to_addr(buf, &target).await
    }

    /// Sends `buf` as one message to `target`: a path, or (Linux) an abstract name.
    pub async fn send_to_addr(&self, buf: &[u8], target: &SocketAddr) -> io::Result<usize> {
        poll_fn(|cx| self.poll_send_to_addr(cx, buf, target)).await
    }

    /// Polls `send_to_addr` (for hand-written futures).
    pub fn poll_send_to_addr(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: &SocketAddr,
    ) -> Poll<io::Result<usize>> {
        // std's `send_to_addr` is `sendto(MSG_NOSIGNAL)`.
        self.io
            .poll_io(cx, Direction::Write, |s| s.send_to_addr(buf, target))
    }

    /// Receives one message, waiting until one arrives; returns its length and the sender's address
    /// (unnamed if the sender is not bound).
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    /// Polls `recv_from` (for hand-written futures).
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_io(cx, Direction::Read, |s| s.recv_from(buf))
    }

    /// Reads the next queued message and its sender's address without taking it off the queue: the next
    /// `recv_from` returns the same message. Waits until one arrives; returns the length copied.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_peek_from(cx, buf)).await
    }

    /// Polls `peek_from` (for hand-written futures).
    pub fn poll_peek_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        let (n, addr) = std::task::ready!(self.io.poll_io(cx, Direction::Read, |s| {
            sys::peek_from_unix(s.as_raw_fd(), buf)
        }))?;
        Poll::Ready(Ok((n, std_addr(addr)?)))
    }

    /// Receives now if a message is known to be there: `WouldBlock` otherwise (nothing waits).
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.try_io(Direction::Read, |s| s.recv_from(buf))
    }

    /// Waits until a message (or an error to report) is there to receive.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await.map(drop)
    }

    /// Waits until there is room to send.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.writable().await.map(drop)
    }

    /// Shuts down the receiving, sending or both sides (`shutdown(2)`).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// The address the socket is bound to (unnamed if it is not).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer's address (`NotConnected` if there is none).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }
}

crate::net::impl_fd_traits!(UnixDatagram);

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagram")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}

/// std's `SocketAddr` for an address `recvfrom` reported. std has no constructor for an unnamed address;
/// an unbound socket's own `local_addr` is one (one `socket` and one `getsockname` call, only for messages
/// from unbound senders).
fn std_addr(addr: sys::UnixAddr) -> io::Result<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    match addr {
        sys::UnixAddr::Unnamed => std_unix::UnixDatagram::unbound()?.local_addr(),
        sys::UnixAddr::Path(path) => SocketAddr::from_pathname(path),
        sys::UnixAddr::Abstract(name) => SocketAddr::from_abstract_name(name),
    }
}
