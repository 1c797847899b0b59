//! Asynchronous I/O: readiness for file descriptors ([`AsyncFd`]), the futures-io traits, and the extension
//! methods users expect (`read`, `read_exact`, `write_all`, `flush`, [`copy`], ...).
//!
//! Every socket type in [`crate::net`] is an [`AsyncFd`] around a `mio` socket, so the path of a readiness
//! event is the same for all of them: epoll -> `Reactor::turn` -> the source's `IoSlot` (readiness bits set,
//! waiter woken) -> the task polls again -> `AsyncFd::poll_io` runs the system call (ARCHITECTURE.md, "Life
//! of an I/O readiness event").
//!
//! The traits are `futures_io::{AsyncRead, AsyncWrite, AsyncBufRead}`, re-exported here, so the futures
//! ecosystem (futures-util combinators, codecs, async-channel users) works on ferrio sockets unchanged. The
//! extension methods are ferrio's own ([`AsyncReadExt`], [`AsyncWriteExt`], [`AsyncBufReadExt`]): a few
//! small futures, instead of a runtime dependency on futures-util for them. They have the same names and
//! meaning as futures-util's and tokio's; import only one of the two extension traits in a module.

mod async_fd;
mod buf_reader;
mod ext;
mod interest;

pub use async_fd::{AsyncFd, AsyncFdReadyGuard, TryIoError};
pub use buf_reader::BufReader;
pub use ext::{copy, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
pub use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};
pub use interest::Interest;
