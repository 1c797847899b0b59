//! `TcpStream`: a connected TCP socket. Reads and writes go through `net/stream_io.rs`; `connect` waits for
//! the non-blocking connect to finish (writable) and surfaces its error (`SO_ERROR`).

use crate::io::{AsyncFd, Interest};
use crate::net::split::{self, sealed, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::net::stream_io::impl_stream_traits;
use crate::reactor::Direction;
use std::fmt;
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::task::{Context, Poll};

/// A TCP connection. Implements [`AsyncRead`](crate::io::AsyncRead) and
/// [`AsyncWrite`](crate::io::AsyncWrite), also on `&TcpStream`: one task may read while another writes.
/// `poll_close` (`AsyncWriteExt::close`) shuts the writing side down. Dropping the stream closes it.
pub struct TcpStream {
    io: AsyncFd<mio::net::TcpStream>,
}

impl TcpStream {
    /// Connects to `addr`, trying each of its addresses in turn; the error of the last one is returned
    /// (e.g. `ConnectionRefused`). The future may be made outside the runtime, as in
    /// `rt.block_on(TcpStream::connect(addr))`: the socket is registered when it is first polled.
    ///
    /// # Panics
    /// When polled outside a ferrio runtime.
    pub fn connect(
        addr: impl ToSocketAddrs,
    ) -> impl std::future::Future<Output = io::Result<TcpStream>> {
        // Resolve now (see `net`'s docs on names); create, register and connect the socket when polled.
        let addrs: io::Result<Vec<SocketAddr>> = addr.to_socket_addrs().map(Iterator::collect);
        async move {
            let mut last = None;
            for addr in addrs? {
                match TcpStream::connect_addr(addr).await {
                    Ok(stream) => return Ok(stream),
                    Err(e) => last = Some(e),
                }
            }
            Err(last.unwrap_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "could not resolve to any address",
                )
            }))
        }
    }

    async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::from_mio(mio::net::TcpStream::connect(addr)?)?;
        loop {
            let mut ready = stream.io.writable().await?;
            if let Some(e) = stream.io.get_ref().take_error()? {
                return Err(e);
            }
            match stream.io.get_ref().peer_addr() {
                Ok(_) => return Ok(stream),
                // Woken before the handshake finished: wait for the next edge.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => ready.clear_ready(),
                Err(e) => return Err(e),
            }
        }
    }

    #[track_caller]
    pub(crate) fn from_mio(stream: mio::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: AsyncFd::new(stream)?,
        })
    }

    pub(crate) fn io(&self) -> &AsyncFd<mio::net::TcpStream> {
        &self.io
    }

    /// Wraps a connected std stream; it is switched to non-blocking mode.
    ///
    /// # Panics
    /// Outside a ferrio runtime.
    #[track_caller]
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        TcpStream::from_mio(mio::net::TcpStream::from_std(stream))
    }

    /// Deregisters the stream and returns it as a std stream, still in non-blocking mode.
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        Ok(self.io.into_inner().into())
    }

    /// Splits into halves borrowed from the stream, usable from two futures at once.
    pub fn split(&mut self) -> (ReadHalf<'_, TcpStream>, WriteHalf<'_, TcpStream>) {
        (ReadHalf(self), WriteHalf(self))
    }

    /// Splits into owned halves that can move to two tasks; `reunite` puts them back together. Dropping
    /// the write half shuts the writing side down.
    pub fn into_split(self) -> (OwnedReadHalf<TcpStream>, OwnedWriteHalf<TcpStream>) {
        split::into_split(self)
    }

    /// Reads without consuming: the next read returns the same bytes.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.async_io(Interest::READABLE, |s| s.peek(buf)).await
    }

    /// Polls `peek` (for hand-written futures).
    pub fn poll_peek(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_io(cx, Direction::Read, |s| s.peek(buf))
    }

    /// Reads now if data is known to be there: `WouldBlock` otherwise (nothing waits).
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_io(Direction::Read, |mut s| s.read(buf))
    }

    /// Writes now if there is known room: `WouldBlock` otherwise (nothing waits).
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        use std::io::Write;
        self.io.try_io(Direction::Write, |mut s| s.write(buf))
    }

    /// Waits until the stream is readable (data, end of stream, or an error to report).
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await.map(drop)
    }

    /// Waits until the stream is writable.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.writable().await.map(drop)
    }

    /// Shuts down the reading, writing or both sides (`shutdown(2)`).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm: small writes leave at once).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// Reads `TCP_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// Reads `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }
}

impl_stream_traits!(TcpStream);

impl sealed::Stream for TcpStream {
    fn shutdown_stream(&self, how: Shutdown) -> io::Result<()> {
        self.shutdown(how)
    }
}

crate::net::impl_fd_traits!(TcpStream);

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}
