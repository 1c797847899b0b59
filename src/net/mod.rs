//! Sockets on the reactor: TCP, UDP and Unix-domain streams and datagrams.
//!
//! Each socket type is an [`AsyncFd`](crate::io::AsyncFd) around the matching `mio` socket (created
//! non-blocking and close-on-exec). Operations wait for readiness and then run the non-blocking system call;
//! `WouldBlock` clears the readiness seen and waits again (`io/async_fd.rs`). Streams implement the
//! futures-io traits, for `TcpStream` and `&TcpStream` alike, so one task may read while another writes
//! through a shared reference, or through the owned halves of `into_split`; readers and writers wait in
//! separate slots and never take each other's wake-up.
//!
//! Writes never raise SIGPIPE: plain writes go through `send(MSG_NOSIGNAL)`, vectored writes through
//! `sendmsg(MSG_NOSIGNAL)` (`sys.rs`), so a closed peer gives `BrokenPipe` even in a program that did not
//! ignore the signal.
//!
//! Name resolution: `bind` and `connect` accept anything `std::net::ToSocketAddrs` does. Socket addresses
//! and literal IPs (`"127.0.0.1:7000"`, `"[::1]:80"`) are parsed without any lookup; a host name is resolved
//! by `getaddrinfo` on the calling thread, which blocks it: resolve names inside `spawn_blocking` first when
//! DNS may be slow.

mod split;
mod stream_io;
mod sys;
mod tcp;

pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use tcp::{TcpListener, TcpStream};
