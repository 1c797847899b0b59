//! `UnixStream`: a connected Unix stream socket. Reads and writes go through `net/stream_io.rs` (writes as
//! `send(MSG_NOSIGNAL)`, so a closed peer gives `BrokenPipe`, never SIGPIPE); `connect` completes at once or
//! fails at once, as Unix connects do, except when the listener's backlog is full.

use super::PeerCred;
use crate::io::AsyncFd;
use crate::net::split::{self, sealed, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::net::stream_io::impl_stream_traits;
use crate::net::sys;
use crate::reactor::Direction;
use std::fmt;
use std::io::{self, Read};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::task::{Context, Poll};
use std::time::Duration;

/// The first and the longest pause between connect attempts while the listener's backlog is full.
const BACKLOG_RETRY_FIRST: Duration = Duration::from_millis(1);
const BACKLOG_RETRY_MAX: Duration = Duration::from_millis(64);

/// A connected Unix stream socket. Implements [`AsyncRead`](crate::io::AsyncRead) and
/// [`AsyncWrite`](crate::io::AsyncWrite), also on `&UnixStream`: one task may read while another writes.
/// `poll_close` (`AsyncWriteExt::close`) shuts the writing side down. Dropping the stream closes it.
///
/// ```
/// # ferrio::run(async {
/// use ferrio::io::{AsyncReadExt, AsyncWriteExt};
/// let (mut a, mut b) = ferrio::net::UnixStream::pair().unwrap();
/// a.write_all(b"ping").await.unwrap();
/// let mut buf = [0; 4];
/// b.read_exact(&mut buf).await.unwrap();
/// assert_eq!(&buf, b"ping");
/// # });
/// ```
pub struct UnixStream {
    io: AsyncFd<mio::net::UnixStream>,
}

impl UnixStream {
    /// Connects to the socket file at `path`. Errors as the system gives them: `NotFound` when nothing is
    /// there, `ConnectionRefused` when the file is a socket nobody listens on any more (a stale file),
    /// `PermissionDenied` without write permission on it.
    ///
    /// A Unix connect needs no round trip, so this finishes at its first poll, except while the listener's
    /// backlog is full: Linux then refuses a non-blocking connect and announces no readiness when room
    /// appears, so this retries after short pauses (1 ms, doubling up to 64 ms) for as long as it is
    /// awaited, as a blocking connect would wait. Wrap it in [`timeout`](crate::time::timeout) to bound that.
    ///
    /// # Panics
    /// When polled outside a ferrio runtime.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let addr = SocketAddr::from_pathname(path)?;
        UnixStream::connect_addr(&addr).await
    }

    /// Connects to `addr`: a path, or (Linux) an abstract name. Same behaviour as [`connect`](Self::connect).
    ///
    /// # Panics
    /// When polled outside a ferrio runtime.
    pub async fn connect_addr(addr: &SocketAddr) -> io::Result<UnixStream> {
        let mut pause = BACKLOG_RETRY_FIRST;
        loop {
            match mio::net::UnixStream::connect_addr(addr) {
                Ok(stream) => return UnixStream::from_mio(stream),
                // EAGAIN: the backlog is full (module docs). The failed socket is closed; a new one tries.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    crate::time::sleep(pause).await;
                    pause = (pause * 2).min(BACKLOG_RETRY_MAX);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Two streams connected to each other (`socketpair`), both unnamed.
    ///
    /// # Panics
    /// Outside a ferrio runtime.
    #[track_caller]
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((UnixStream::from_mio(a)?, UnixStream::from_mio(b)?))
    }

    #[track_caller]
    pub(crate) fn from_mio(stream: mio::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            io: AsyncFd::new(stream)?,
        })
    }

    pub(crate) fn io(&self) -> &AsyncFd<mio::net::UnixStream> {
        &self.io
    }

    /// Wraps a connected std stream; it is switched to non-blocking mode.
    ///
    /// # Panics
    /// Outside a ferrio runtime.
    #[track_caller]
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        UnixStream::from_mio(mio::net::UnixStream::from_std(stream))
    }

    /// Deregisters the stream and returns it as a std stream, still in non-blocking mode. Note that std's
    /// `write` on it is `write(2)`, which raises SIGPIPE when the peer is gone.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixStream> {
        Ok(self.io.into_inner().into())
    }

    /// Splits into halves borrowed from the stream, usable from two futures at once.
    pub fn split(&mut self) -> (ReadHalf<'_, UnixStream>, WriteHalf<'_, UnixStream>) {
        (ReadHalf(self), WriteHalf(self))
    }

    /// Splits into owned halves that can move to two tasks; `reunite` puts them back together. Dropping
    /// the write half shuts the writing side down.
    pub fn into_split(self) -> (OwnedReadHalf<UnixStream>, OwnedWriteHalf<UnixStream>) {
        split::into_split(self)
    }

    /// Reads without consuming: the next read returns the same bytes. Waits until data is there, or the
    /// end of stream, which gives 0 (as does an empty `buf`, at once).
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_peek(cx, buf)).await
    }

    /// Polls `peek` (for hand-written futures).
    pub fn poll_peek(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io
            .poll_io(cx, Direction::Read, |s| sys::peek(s.as_raw_fd(), buf))
    }

    /// Reads now if data is known to be there: `WouldBlock` otherwise (nothing waits).
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_io(Direction::Read, |mut s| s.read(buf))
    }

    /// Writes now if there is known room: `WouldBlock` otherwise (nothing waits). `BrokenPipe` when the
    /// peer is gone.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io
            .try_io(Direction::Write, |s| sys::send(s.as_raw_fd(), buf))
    }

    /// Waits until the stream is readable (data, end of stream, or an error to report).
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await.map(drop)
    }

    /// Waits until the stream is writable.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.writable().await.map(drop)
    }

    /// Shuts down the reading, writing or both sides (`shutdown(2)`). After `Shutdown::Write` the peer reads
    /// end of stream once it has read what was sent.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Who is at the other end (`SO_PEERCRED`): the peer's pid, uid and gid when it connected, or when the
    /// pair was made.
    pub fn peer_cred(&self) -> io::Result<PeerCred> {
        PeerCred::of(self.as_raw_fd())
    }

    /// This end's address (usually unnamed for a client).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer's address (the listener's path for a client).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }
}

impl_stream_traits!(UnixStream);

impl sealed::Stream for UnixStream {
    fn shutdown_stream(&self, how: Shutdown) -> io::Result<()> {
        self.shutdown(how)
    }
}

crate::net::impl_fd_traits!(UnixStream);

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}
