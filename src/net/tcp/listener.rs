//! `TcpListener`: a listening socket whose `accept` waits on the reactor.

use super::{each_addr, TcpStream};
use crate::io::{AsyncFd, Interest};
use crate::reactor::Direction;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::task::{Context, Poll};

/// The accept queue `bind` asks for (the kernel caps it at `net.core.somaxconn`). mio's `bind`, like std's,
/// asks for 128, which a burst of connections overflows while the accept loop is busy: the kernel then drops
/// the handshakes that find the queue full, and each of those clients waits a whole SYN retransmission
/// (1 s) before it connects.
const BACKLOG: libc::c_int = 1024;

/// `listen(2)` again on a listening socket: Linux keeps the socket as it is and only changes its backlog.
fn set_backlog(listener: &mio::net::TcpListener, backlog: libc::c_int) -> io::Result<()> {
    // SAFETY: `listen` only reads its two integer arguments; the descriptor is owned by `listener`, which
    // outlives the call.
    if unsafe { libc::listen(listener.as_raw_fd(), backlog) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A TCP socket listening for connections.
///
/// ```
/// # ferrio::run(async {
/// use ferrio::io::{AsyncReadExt, AsyncWriteExt};
/// let listener = ferrio::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let client = ferrio::spawn(async move {
///     let mut s = ferrio::net::TcpStream::connect(addr).await.unwrap();
///     s.write_all(b"hi").await.unwrap();
/// });
/// let (mut conn, _peer) = listener.accept().await.unwrap();
/// let mut buf = [0; 2];
/// conn.read_exact(&mut buf).await.unwrap();
/// assert_eq!(&buf, b"hi");
/// client.await.unwrap();
/// # });
/// ```
pub struct TcpListener {
    io: AsyncFd<mio::net::TcpListener>,
}

impl TcpListener {
    /// Binds to `addr` (the first of its addresses that works) with `SO_REUSEADDR` and a backlog of 1024.
    /// Port 0 picks a free port: read it back with `local_addr`. Errors as the system gives them
    /// (`AddrInUse`, `PermissionDenied`, ...).
    ///
    /// # Panics
    /// Outside a ferrio runtime.
    #[track_caller]
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let listener = each_addr(addr, |addr| {
            let listener = mio::net::TcpListener::bind(addr)?;
            set_backlog(&listener, BACKLOG)?;
            Ok(listener)
        })?;
        TcpListener::from_mio(listener)
    }

    #[track_caller]
    fn from_mio(listener: mio::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            io: AsyncFd::with_interest(listener, Interest::READABLE)?,
        })
    }

    /// Waits for a connection and returns it with the peer's address. The new socket is non-blocking and
    /// close-on-exec. Errors such as `EMFILE` (out of file descriptors) are returned as they come: an
    /// accept loop should back off on them instead of retrying at once (see `examples/echo_server.rs`).
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) = poll_fn(|cx| self.poll_accept_raw(cx)).await?;
        Ok((TcpStream::from_mio(stream)?, addr))
    }

    /// Polls for a connection (for hand-written futures and `Stream` adapters).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        match self.poll_accept_raw(cx) {
            Poll::Ready(Ok((stream, addr))) => {
                Poll::Ready(TcpStream::from_mio(stream).map(|s| (s, addr)))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_accept_raw(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(mio::net::TcpStream, SocketAddr)>> {
        self.io.poll_io(cx, Direction::Read, |l| l.accept())
    }

    /// Wraps a listener made with std (or received from elsewhere); it is switched to non-blocking mode.
    ///
    /// # Panics
    /// Outside a ferrio runtime.
    #[track_caller]
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        TcpListener::from_mio(mio::net::TcpListener::from_std(listener))
    }

    /// Deregisters the listener and returns it as a std listener, still in non-blocking mode (call
    /// `set_nonblocking(false)` to use it with blocking calls).
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        Ok(self.io.into_inner().into())
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// Reads `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }
}

crate::net::impl_fd_traits!(TcpListener);

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("addr", &self.local_addr().ok())
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}
