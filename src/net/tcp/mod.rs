//! TCP: `TcpListener` (bind, accept) and `TcpStream` (connect, read, write, split, options).

mod listener;
mod stream;

pub use listener::TcpListener;
pub use stream::TcpStream;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Tries `op` on each address `addr` resolves to, returning the first success or the last error.
pub(crate) fn each_addr<A: ToSocketAddrs, R>(
    addr: A,
    mut op: impl FnMut(SocketAddr) -> io::Result<R>,
) -> io::Result<R> {
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        match op(a) {
            Ok(r) => return Ok(r),
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
