//! `UdpSocket`: datagrams over IP, sent and received through the reactor.
//!
//! The socket is an `AsyncFd` around a `mio` UDP socket, registered for both directions. Every operation
//! goes through `AsyncFd::poll_io`: wait for readiness in its direction, run one non-blocking system call,
//! and clear the readiness seen when that call says `WouldBlock`. One call moves exactly one datagram, so the
//! "short transfer means drained" shortcut of the stream sockets (`poll_io_stream`) must never be used here:
//! a datagram shorter than the buffer says nothing about the next one.

use super::tcp::each_addr;
use crate::io::AsyncFd;
use crate::reactor::Direction;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::task::{Context, Poll};

/// A UDP socket.
///
/// Unconnected, it sends to and receives from anyone ([`send_to`](UdpSocket::send_to),
/// [`recv_from`](UdpSocket::recv_from)). After [`connect`](UdpSocket::connect) it has a default peer:
/// [`send`](UdpSocket::send) and [`recv`](UdpSocket::recv) talk to it only, datagrams from other
/// addresses are dropped by the kernel, and errors reported by the network for that peer (ICMP "port
/// unreachable" gives `ConnectionRefused`) come back from a later call.
///
/// Each receive reads one whole datagram; if the buffer is shorter, the rest of that datagram is discarded.
/// All methods take `&self`, so one socket may be shared (`Arc<UdpSocket>`) between a task that sends and
/// one that receives; they wait in separate slots.
///
/// ```
/// # ferrio::run(async {
/// use ferrio::net::UdpSocket;
/// let a = UdpSocket::bind("127.0.0.1:0").unwrap();
/// let b = UdpSocket::bind("127.0.0.1:0").unwrap();
/// a.send_to(b"ping", b.local_addr().unwrap()).await.unwrap();
/// let mut buf = [0; 16];
/// let (n, from) = b.recv_from(&mut buf).await.unwrap();
/// assert_eq!(&buf[..n], b"ping");
/// assert_eq!(from, a.local_addr().unwrap());
/// # });
/// ```
pub struct UdpSocket {
    io: AsyncFd<mio::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to `addr` (the first of its addresses that works). Port 0 picks a free port: read it back with
    /// `local_addr`. The socket is non-blocking and close-on-exec.
    ///
    /// # Panics
    /// Outside a ferrio runtime.
    #[track_caller]
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let socket = each_addr(addr, mio::net::UdpSocket::bind)?;
        UdpSocket::from_mio(socket)
    }

    #[track_caller]
    fn from_mio(socket: mio::net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            io: AsyncFd::new(socket)?,
        })
    }

    /// Wraps a socket made with std; it is switched to non-blocking mode.
    ///
    /// # Panics
    /// Outside a ferrio runtime.
    #[track_caller]
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        UdpSocket::from_mio(mio::net::UdpSocket::from_std(socket))
    }

    /// Deregisters the socket and returns it as a std socket, still in non-blocking mode (call
    /// `set_nonblocking(false)` to use it with blocking calls).
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        Ok(self.io.into_inner().into())
    }

    /// Sets the default peer to `addr` (the first of its addresses that works): `send` goes there, and only
    /// datagrams from there are received. Connecting again replaces the peer.
    ///
    /// This is not `async`, unlike tokio's: connecting a UDP socket sends nothing and never waits, it only
    /// records the peer in the kernel (a host name is still resolved on the calling thread, see
    /// [`net`](crate::net)).
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        each_addr(addr, |a| self.io.get_ref().connect(a))
    }

    /// Sends `buf` as one datagram to the connected peer, waiting while the send buffer is full. Returns the
    /// bytes sent (all of `buf`; a datagram too large for the protocol is an error).
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_send(cx, buf)).await
    }

    /// Polls `send` (for hand-written futures).
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_io(cx, Direction::Write, |s| s.send(buf))
    }

    /// Sends now if there is known room: `WouldBlock` otherwise (nothing waits).
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.try_io(Direction::Write, |s| s.send(buf))
    }

    /// Receives one datagram from the connected peer into `buf`, waiting until one arrives. Returns its
    /// length (at most `buf.len()`: the rest of a longer datagram is lost). A pending error for the peer,
    /// such as `ConnectionRefused` after an earlier send reached a closed port, is returned instead.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_recv(cx, buf)).await
    }

    /// Polls `recv` (for hand-written futures).
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_io(cx, Direction::Read, |s| s.recv(buf))
    }

    /// Receives now if a datagram is known to be there: `WouldBlock` otherwise (nothing waits).
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_io(Direction::Read, |s| s.recv(buf))
    }

    /// Like `recv`, but leaves the datagram queued: the next receive returns it again.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.io.poll_io(cx, Direction::Read, |s| s.peek(buf))).await
    }

    /// Sends `buf` as one datagram to `target`. When `target` resolves to several addresses, only the first
    /// is used (like std); resolving a host name blocks the calling thread (see [`net`](crate::net)).
    pub async fn send_to(&self, buf: &[u8], target: impl ToSocketAddrs) -> io::Result<usize> {
        let target = first_addr(target)?;
        poll_fn(|cx| self.poll_send_to(cx, buf, target)).await
    }

    /// Polls `send_to` (for hand-written futures).
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.io
            .poll_io(cx, Direction::Write, |s| s.send_to(buf, target))
    }

    /// Sends to `target` now if there is known room: `WouldBlock` otherwise (nothing waits).
    pub fn try_send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.io.try_io(Direction::Write, |s| s.send_to(buf, target))
    }

    /// Receives one datagram into `buf`, waiting until one arrives. Returns its length (the rest of a
    /// datagram longer than `buf` is lost) and the sender's address.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    /// Polls `recv_from` (for hand-written futures).
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_io(cx, Direction::Read, |s| s.recv_from(buf))
    }

    /// Receives now if a datagram is known to be there: `WouldBlock` otherwise (nothing waits).
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.try_io(Direction::Read, |s| s.recv_from(buf))
    }

    /// Like `recv_from`, but leaves the datagram queued: the next receive returns it again.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_peek_from(cx, buf)).await
    }

    /// Polls `peek_from` (for hand-written futures).
    pub fn poll_peek_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_io(cx, Direction::Read, |s| s.peek_from(buf))
    }

    /// Waits until a datagram (or an error to report) is there to receive. Readiness can be spurious: the
    /// receive that follows may still say `WouldBlock`.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await.map(drop)
    }

    /// Waits until there is room to send.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.writable().await.map(drop)
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer's address (`NotConnected` before `connect`).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Sets `SO_BROADCAST`: allows sending to broadcast addresses.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_broadcast(on)
    }

    /// Reads `SO_BROADCAST`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.io.get_ref().broadcast()
    }

    /// Sets `IP_TTL` (hop limit of unicast datagrams).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// Reads `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// Joins the IPv4 multicast group `multiaddr` on the interface with address `interface`
    /// (`Ipv4Addr::UNSPECIFIED`: the kernel picks one).
    pub fn join_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.io.get_ref().join_multicast_v4(&multiaddr, &interface)
    }

    /// Leaves a group joined with `join_multicast_v4`.
    pub fn leave_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.io.get_ref().leave_multicast_v4(&multiaddr, &interface)
    }

    /// Joins the IPv6 multicast group `multiaddr` on the interface with index `interface` (0: the kernel
    /// picks one).
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.io.get_ref().join_multicast_v6(multiaddr, interface)
    }

    /// Leaves a group joined with `join_multicast_v6`.
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.io.get_ref().leave_multicast_v6(multiaddr, interface)
    }

    /// Sets `IP_MULTICAST_LOOP`: whether IPv4 multicast datagrams sent are also delivered to this host.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_multicast_loop_v4(on)
    }

    /// Reads `IP_MULTICAST_LOOP`.
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.io.get_ref().multicast_loop_v4()
    }

    /// Sets `IP_MULTICAST_TTL` (hop limit of IPv4 multicast datagrams; 1 keeps them on the local network).
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_multicast_ttl_v4(ttl)
    }

    /// Reads `IP_MULTICAST_TTL`.
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.io.get_ref().multicast_ttl_v4()
    }

    /// Sets `IPV6_MULTICAST_LOOP`: whether IPv6 multicast datagrams sent are also delivered to this host.
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_multicast_loop_v6(on)
    }

    /// Reads `IPV6_MULTICAST_LOOP`.
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        self.io.get_ref().multicast_loop_v6()
    }

    /// Takes the pending socket error (`SO_ERROR`), if any: it is then not reported by the next call.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }
}

/// The first address `target` resolves to.
fn first_addr(target: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    target.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "no address to send to: the target resolved to nothing",
        )
    })
}

crate::net::impl_fd_traits!(UdpSocket);

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}
