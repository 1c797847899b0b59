//! Sockets on the reactor: TCP ([`TcpListener`], [`TcpStream`]), UDP ([`UdpSocket`]) and Unix-domain
//! streams and datagrams ([`UnixListener`], [`UnixStream`], [`UnixDatagram`]).
//!
//! Each socket type is an [`AsyncFd`](crate::io::AsyncFd) around a socket created non-blocking and
//! close-on-exec (by `mio`; `UnixDatagram` keeps std's type inside, for its abstract-address calls).
//! Operations wait for readiness and then run the non-blocking system call; `WouldBlock` clears the
//! readiness seen and waits again (`io/async_fd.rs`).
//!
//! Streams (`tcp/`, `unix/stream.rs`) share their read and write paths (`stream_io.rs`) and implement the
//! futures-io traits, for `TcpStream` and `&TcpStream` alike, so one task may read while another writes
//! through a shared reference, or through the owned halves of `into_split` (`split.rs`); readers and writers
//! wait in separate slots and never take each other's wake-up. Datagram sockets (`udp.rs`,
//! `unix/datagram.rs`) move one whole datagram per call, with `&self` methods (`send`/`recv`,
//! `send_to`/`recv_from`, their `poll_*` and `try_*` forms), so they too can be shared between a sending and
//! a receiving task.
//!
//! Writes never raise SIGPIPE: plain writes go through `send(MSG_NOSIGNAL)`, vectored writes through
//! `sendmsg(MSG_NOSIGNAL)` (`sys.rs`), so a closed peer gives `BrokenPipe` even in a program that did not
//! ignore the signal. (A plain `write(2)` on a socket whose peer is gone would raise it.)
//!
//! Name resolution: `bind`, `connect` and `send_to` of the IP sockets accept anything
//! `std::net::ToSocketAddrs` does. Socket addresses and literal IPs (`"127.0.0.1:7000"`, `"[::1]:80"`) are
//! parsed without any lookup; a host name is resolved by `getaddrinfo` on the calling thread, which blocks
//! it: resolve names inside `spawn_blocking` first when DNS may be slow. Unix sockets take a path
//! (`AsRef<Path>`), or std's [`SocketAddr`](std::os::unix::net::SocketAddr) in the `*_addr` variants, which
//! also names abstract (Linux) and unnamed addresses. A Unix socket file is created by `bind` with the
//! process umask and is never removed by ferrio: see [`UnixListener::bind`].

/// `AsRawFd` and `AsFd` for a socket type whose `io` field is an `AsyncFd` of an `AsFd` socket.
macro_rules! impl_fd_traits {
    ($socket:ty) => {
        impl std::os::fd::AsRawFd for $socket {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(&self.io)
            }
        }

        impl std::os::fd::AsFd for $socket {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(self.io.get_ref())
            }
        }
    };
}
pub(crate) use impl_fd_traits;

mod split;
mod stream_io;
mod sys;
mod tcp;
mod udp;
mod unix;

pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{PeerCred, UnixDatagram, UnixListener, UnixStream};
