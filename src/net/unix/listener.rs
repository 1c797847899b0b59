//! `UnixListener`: a listening Unix stream socket whose `accept` waits on the reactor.

use super::UnixStream;
use crate::io::{AsyncFd, Interest};
use crate::reactor::Direction;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::task::{Context, Poll};

/// A Unix stream socket listening for connections.
///
/// `bind` creates the socket file; dropping the listener closes the socket but leaves the file behind (as
/// every Unix program does): remove it yourself when done, and before binding again.
///
/// ```
/// # ferrio::run(async {
/// use ferrio::io::{AsyncReadExt, AsyncWriteExt};
/// use ferrio::net::{UnixListener, UnixStream};
/// let path = std::env::temp_dir().join(format!("ferrio-doc-{}.sock", std::process::id()));
/// let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path).unwrap();
/// let client = ferrio::spawn({
///     let path = path.clone();
///     async move {
///         let mut s = UnixStream::connect(&path).await.unwrap();
///         s.write_all(b"hi").await.unwrap();
///     }
/// });
/// let (mut conn, _peer) = listener.accept().await.unwrap();
/// let mut buf = [0; 2];
/// conn.read_exact(&mut buf).await.unwrap();
/// assert_eq!(&buf, b"hi");
/// client.await.unwrap();
/// std::fs::remove_file(&path).unwrap();
/// # });
/// ```
pub struct UnixListener {
    io: AsyncFd<mio::net::UnixListener>,
}

impl UnixListener {
    /// Creates the socket file at `path`, binds to it and listens (backlog: the system maximum).
    ///
    /// The file gets mode `0777` minus the process umask, and connecting needs write permission on it. For
    /// other permissions, either set the umask around the call (`libc::umask`; it is process-wide, so no
    /// other thread should create files meanwhile) or `std::fs::set_permissions` the path right after
    /// `bind` (a client may connect in between), or bind inside a directory whose permissions restrict who
    /// can reach the file.
    ///
    /// Errors as the system gives them: `AddrInUse` when anything already exists at `path`, including the
    /// file a previous listener left behind (remove a stale socket file first, after making sure no live
    /// server owns it); `NotFound` when the directory does not exist; `InvalidInput` when the path is longer
    /// than a socket address can hold (about 107 bytes).
    ///
    /// # Panics
    /// Outside a ferrio runtime.
    #[track_caller]
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        UnixListener::from_mio(mio::net::UnixListener::bind(path)?)
    }

    /// Binds to `addr`: a path, or (Linux) an abstract name, which creates no file and needs no cleanup.
    ///
    /// # Panics
    /// Outside a ferrio runtime.
    #[track_caller]
    pub fn bind_addr(addr: &SocketAddr) -> io::Result<UnixListener> {
        UnixListener::from_mio(mio::net::UnixListener::bind_addr(addr)?)
    }

    #[track_caller]
    fn from_mio(listener: mio::net::UnixListener) -> io::Result<UnixListener> {
        Ok(UnixListener {
            io: AsyncFd::with_interest(listener, Interest::READABLE)?,
        })
    }

    /// Waits for a connection and returns it with the peer's address (usually unnamed: clients rarely bind).
    /// The new socket is non-blocking and close-on-exec. Errors such as `EMFILE` (out of file descriptors)
    /// are returned as they come: an accept loop should back off on them instead of retrying at once.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, addr) = poll_fn(|cx| self.poll_accept_raw(cx)).await?;
        Ok((UnixStream::from_mio(stream)?, addr))
    }

    /// Polls for a connection (for hand-written futures and `Stream` adapters).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        match self.poll_accept_raw(cx) {
            Poll::Ready(Ok((stream, addr))) => {
                Poll::Ready(UnixStream::from_mio(stream).map(|s| (s, addr)))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_accept_raw(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(mio::net::UnixStream, SocketAddr)>> {
        self.io.poll_io(cx, Direction::Read, |l| l.accept())
    }

    /// Wraps a listener made with std (or inherited, e.g. through socket activation); it is switched to
    /// non-blocking mode.
    ///
    /// # Panics
    /// Outside a ferrio runtime.
    #[track_caller]
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        UnixListener::from_mio(mio::net::UnixListener::from_std(listener))
    }

    /// Deregisters the listener and returns it as a std listener, still in non-blocking mode.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixListener> {
        Ok(self.io.into_inner().into())
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }
}

crate::net::impl_fd_traits!(UnixListener);

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("addr", &self.local_addr().ok())
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}
