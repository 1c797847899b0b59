//! Unix-domain sockets: `UnixListener` (bind, accept), `UnixStream` (connect, read, write, split) and
//! `UnixDatagram` (one message per send and receive), plus `PeerCred`, who is at the other end.
//!
//! Same shape as `net/tcp/`: each type is an `AsyncFd` around a socket created non-blocking and
//! close-on-exec; stream reads and writes go through `net/stream_io.rs`, datagrams through `AsyncFd::poll_io`
//! (one datagram per system call). Nothing here touches the file system beyond what `bind` itself does.
//!
//! Addresses: a path (`AsRef<Path>`) names a socket file; std's
//! [`SocketAddr`](std::os::unix::net::SocketAddr) also carries abstract names (Linux: no file, the name
//! vanishes with the last socket; build one with `std::os::linux::net::SocketAddrExt::from_abstract_name`)
//! and unnamed addresses (sockets from `pair` or never bound), for the `*_addr` variants of the calls.

mod datagram;
mod listener;
mod stream;

pub use datagram::UnixDatagram;
pub use listener::UnixListener;
pub use stream::UnixStream;

/// The credentials of the process at the other end of a Unix socket, as they were when it connected (or
/// when the pair was made): they do not follow later `setuid` calls or a change of hands of the socket.
/// From [`UnixStream::peer_cred`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeerCred {
    pid: i32,
    uid: u32,
    gid: u32,
}

impl PeerCred {
    fn of(fd: std::os::fd::RawFd) -> std::io::Result<PeerCred> {
        let cred = super::sys::peer_cred(fd)?;
        Ok(PeerCred {
            pid: cred.pid,
            uid: cred.uid,
            gid: cred.gid,
        })
    }

    /// The peer's process id; `None` when the kernel does not know it (the peer is in another pid
    /// namespace it cannot name, or the socket is not connected).
    pub fn pid(&self) -> Option<i32> {
        (self.pid > 0).then_some(self.pid)
    }

    /// The peer's effective user id.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The peer's effective group id.
    pub fn gid(&self) -> u32 {
        self.gid
    }
}
