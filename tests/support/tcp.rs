//! TCP helpers of the socket tests: both flavours under a hang guard, a loopback listener, a connected pair,
//! and `SO_LINGER 0` (close with a reset).

use super::{within, Flavor, Flavors};
use ferrio::net::{TcpListener, TcpStream};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::Duration;

/// Hang guard of every test body.
pub const LIMIT: Duration = Duration::from_secs(20);

/// Runs `body` inside `block_on` of a fresh runtime of each flavour; a hang (the runtime's drop included)
/// fails the test after `LIMIT`.
pub fn on_each_flavour<Fut: Future<Output = ()> + 'static>(body: fn(Flavor) -> Fut) {
    Flavors::each(|flavor, rt| {
        within(LIMIT, move || {
            rt.block_on(body(flavor));
            drop(rt);
        })
    });
}

/// A listener on a free loopback port, and its address.
pub fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// A connected pair: (client, accepted server side).
pub async fn pair() -> (TcpStream, TcpStream) {
    let (listener, addr) = listen();
    let client = TcpStream::connect(addr).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// `SO_LINGER` with a zero timeout: closing the socket sends a reset instead of a FIN.
pub fn set_linger_zero(fd: RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `fd` is an open socket owned by the caller for the duration of the call; `linger` is a valid
    // `struct linger` that outlives the call, and its exact size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(
        rc,
        0,
        "setsockopt(SO_LINGER): {}",
        io::Error::last_os_error()
    );
}
