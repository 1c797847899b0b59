//! UDP on both flavours: send_to/recv_from and connected send/recv round trips, datagram boundaries, many
//! sockets ping-ponging at once, peek leaving the datagram queued, ICMP "port unreachable" surfacing as
//! `ConnectionRefused`, `try_*` without readiness, options, and std conversions.

mod support;

use ferrio::net::UdpSocket;
use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;
use support::Flavors;

/// Generous bound for anything that should take microseconds: only a hang trips it.
const HANG: Duration = Duration::from_secs(10);

fn local() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").unwrap()
}

#[test]
fn send_to_recv_from_round_trip() {
    Flavors::each(|_, rt| {
        rt.block_on(async {
            let a = local();
            let b = local();
            let b_addr = b.local_addr().unwrap();
            assert_eq!(a.send_to(b"ping", b_addr).await.unwrap(), 4);
            let mut buf = [0u8; 64];
            let (n, from) = b.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"ping");
            assert_eq!(from, a.local_addr().unwrap());
            // Reply to whoever sent, through a `&str` target this time.
            b.send_to(b"pong", from.to_string().as_str()).await.unwrap();
            let (n, from) = a.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"pong");
            assert_eq!(from, b_addr);
        });
    });
}

#[test]
fn connected_send_recv_round_trip() {
    Flavors::each(|_, rt| {
        rt.block_on(async {
            let a = local();
            let b = local();
            assert_eq!(
                a.peer_addr().unwrap_err().kind(),
                ErrorKind::NotConnected,
                "no peer before connect"
            );
            a.connect(b.local_addr().unwrap()).unwrap();
            b.connect(a.local_addr().unwrap()).unwrap();
            assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
            let mut buf = [0u8; 64];
            for round in 0..10u8 {
                a.send(&[round; 3]).await.unwrap();
                assert_eq!(b.recv(&mut buf).await.unwrap(), 3);
                assert_eq!(&buf[..3], &[round; 3]);
                b.send(&[round + 100]).await.unwrap();
                assert_eq!(a.recv(&mut buf).await.unwrap(), 1);
                assert_eq!(buf[0], round + 100);
            }
        });
    });
}

#[test]
fn connected_socket_drops_datagrams_from_others() {
    Flavors::each(|_, rt| {
        rt.block_on(async {
            let a = local();
            let peer = local();
            let stranger = local();
            a.connect(peer.local_addr().unwrap()).unwrap();
            let a_addr = a.local_addr().unwrap();
            stranger.send_to(b"stranger", a_addr).await.unwrap();
            peer.send_to(b"peer", a_addr).await.unwrap();
            let mut buf = [0u8; 64];
            let n = a.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"peer", "the stranger's datagram was filtered");
        });
    });
}

#[test]
fn datagram_boundaries_are_preserved() {
    Flavors::each(|_, rt| {
        rt.block_on(async {
            let a = local();
            let b = local();
            let to = b.local_addr().unwrap();
            a.send_to(b"abc", to).await.unwrap();
            a.send_to(b"defgh", to).await.unwrap();
            a.send_to(b"", to).await.unwrap();
            a.send_to(b"0123456789", to).await.unwrap();
            let mut buf = [0u8; 64];
            assert_eq!(b.recv_from(&mut buf).await.unwrap().0, 3);
            assert_eq!(&buf[..3], b"abc");
            assert_eq!(b.recv_from(&mut buf).await.unwrap().0, 5);
            assert_eq!(&buf[..5], b"defgh");
            assert_eq!(
                b.recv_from(&mut buf).await.unwrap().0,
                0,
                "an empty datagram"
            );
            // A buffer shorter than the datagram gets its start; the rest is discarded.
            let mut short = [0u8; 4];
            assert_eq!(b.recv_from(&mut short).await.unwrap().0, 4);
            assert_eq!(&short, b"0123");
            assert_eq!(
                b.try_recv_from(&mut buf).unwrap_err().kind(),
                ErrorKind::WouldBlock,
                "nothing of the truncated datagram is left"
            );
        });
    });
}

#[test]
fn many_sockets_ping_pong_concurrently() {
    const PAIRS: u32 = 50;
    const ROUNDS: u32 = 20;
    Flavors::each(|_, rt| {
        rt.block_on(async {
            let mut tasks = Vec::new();
            for pair in 0..PAIRS {
                let server = local();
                let client = local();
                client.connect(server.local_addr().unwrap()).unwrap();
                tasks.push(ferrio::spawn(async move {
                    let mut buf = [0u8; 16];
                    for _ in 0..ROUNDS {
                        let (n, from) = server.recv_from(&mut buf).await.unwrap();
                        let value = u32::from_le_bytes(buf[..n].try_into().unwrap());
                        server
                            .send_to(&(value + 1).to_le_bytes(), from)
                            .await
                            .unwrap();
                    }
                    0
                }));
                tasks.push(ferrio::spawn(async move {
                    let mut value = pair * 1000;
                    let mut buf = [0u8; 16];
                    for _ in 0..ROUNDS {
                        client.send(&value.to_le_bytes()).await.unwrap();
                        let n = client.recv(&mut buf).await.unwrap();
                        value = u32::from_le_bytes(buf[..n].try_into().unwrap());
                    }
                    value
                }));
            }
            let mut finals = Vec::new();
            for task in tasks {
                let value = ferrio::time::timeout(HANG, task).await.unwrap().unwrap();
                if value != 0 {
                    finals.push(value);
                }
            }
            let expected: Vec<u32> = (0..PAIRS).map(|p| p * 1000 + ROUNDS).collect();
            // Pair 0's client ends on `ROUNDS`, never 0, so every client is in `finals`.
            assert_eq!(finals, expected);
        });
    });
}

#[test]
fn sender_and_receiver_tasks_share_one_socket() {
    Flavors::each(|_, rt| {
        rt.block_on(async {
            let echo = local();
            let echo_addr = echo.local_addr().unwrap();
            let echo_task = ferrio::spawn(async move {
                let mut buf = [0u8; 16];
                loop {
                    let (n, from) = echo.recv_from(&mut buf).await.unwrap();
                    echo.send_to(&buf[..n], from).await.unwrap();
                }
            });
            let socket = Arc::new(local());
            socket.connect(echo_addr).unwrap();
            let receiver = ferrio::spawn({
                let socket = socket.clone();
                async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 16];
                    while seen.len() < 100 {
                        let n = socket.recv(&mut buf).await.unwrap();
                        seen.push(buf[..n][0]);
                    }
                    seen
                }
            });
            for i in 0..100u8 {
                socket.send(&[i]).await.unwrap();
                if i % 10 == 0 {
                    ferrio::yield_now().await;
                }
            }
            let mut seen = ferrio::time::timeout(HANG, receiver)
                .await
                .unwrap()
                .unwrap();
            seen.sort_unstable();
            assert_eq!(
                seen,
                (0..100).collect::<Vec<u8>>(),
                "loopback loses nothing"
            );
            echo_task.cancel();
        });
    });
}

#[test]
fn peek_from_leaves_the_datagram_queued() {
    Flavors::each(|_, rt| {
        rt.block_on(async {
            let a = local();
            let b = local();
            a.send_to(b"hello", b.local_addr().unwrap()).await.unwrap();
            a.send_to(b"second", b.local_addr().unwrap()).await.unwrap();
            let mut buf = [0u8; 64];
            for _ in 0..3 {
                let (n, from) = b.peek_from(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], b"hello");
                assert_eq!(from, a.local_addr().unwrap());
            }
            let (n, _) = b.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"hello");
            let (n, _) = b.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"second");
        });
    });
}

#[test]
fn connected_send_to_closed_port_surfaces_connection_refused() {
    Flavors::each(|flavor, rt| {
        rt.block_on(async {
            // A port that was free a moment ago and is closed now.
            let closed = local().local_addr().unwrap();
            let socket = local();
            socket.connect(closed).unwrap();
            let mut buf = [0u8; 16];
            // The ICMP "port unreachable" comes back through loopback at once; send again only if one got
            // lost, so a slow machine does not fail the test.
            let mut kind = None;
            for _ in 0..5 {
                match socket.send(b"anyone?").await {
                    Ok(n) => assert_eq!(n, 7),
                    Err(e) => {
                        kind = Some(e.kind());
                        break;
                    }
                }
                match ferrio::time::timeout(Duration::from_secs(2), socket.recv(&mut buf)).await {
                    Ok(Ok(n)) => panic!("{flavor:?}: received {n} bytes from a closed port"),
                    Ok(Err(e)) => {
                        kind = Some(e.kind());
                        break;
                    }
                    Err(_elapsed) => continue,
                }
            }
            assert_eq!(kind, Some(ErrorKind::ConnectionRefused), "{flavor:?}");
            // The error was taken by the call that reported it.
            assert!(socket.take_error().unwrap().is_none());
        });
    });
}

#[test]
fn try_recv_would_block_when_empty_and_succeeds_once_readable() {
    Flavors::each(|_, rt| {
        rt.block_on(async {
            let a = local();
            let b = local();
            a.connect(b.local_addr().unwrap()).unwrap();
            b.connect(a.local_addr().unwrap()).unwrap();
            let mut buf = [0u8; 16];
            assert_eq!(
                b.try_recv(&mut buf).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
            assert_eq!(
                b.try_recv_from(&mut buf).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
            // An empty socket is writable at once.
            ferrio::time::timeout(HANG, a.writable())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(a.try_send(b"now").unwrap(), 3);
            loop {
                ferrio::time::timeout(HANG, b.readable())
                    .await
                    .unwrap()
                    .unwrap();
                match b.try_recv(&mut buf) {
                    Ok(n) => {
                        assert_eq!(&buf[..n], b"now");
                        break;
                    }
                    // Readiness may be spurious: wait again.
                    Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                    Err(e) => panic!("try_recv: {e}"),
                }
            }
            assert_eq!(
                b.try_recv(&mut buf).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
        });
    });
}

#[test]
fn options_round_trip() {
    Flavors::each(|_, rt| {
        rt.block_on(async {
            let s = local();
            assert!(!s.broadcast().unwrap());
            s.set_broadcast(true).unwrap();
            assert!(s.broadcast().unwrap());
            s.set_ttl(17).unwrap();
            assert_eq!(s.ttl().unwrap(), 17);
            s.set_multicast_ttl_v4(3).unwrap();
            assert_eq!(s.multicast_ttl_v4().unwrap(), 3);
            s.set_multicast_loop_v4(false).unwrap();
            assert!(!s.multicast_loop_v4().unwrap());
            assert!(s.take_error().unwrap().is_none());
            let debug = format!("{s:?}");
            assert!(debug.starts_with("UdpSocket"), "{debug}");
        });
    });
}

#[test]
fn bind_errors_are_surfaced() {
    Flavors::each(|_, rt| {
        rt.block_on(async {
            let taken = local().local_addr().unwrap();
            let holder = UdpSocket::bind(taken).unwrap();
            assert_eq!(
                UdpSocket::bind(taken).unwrap_err().kind(),
                ErrorKind::AddrInUse
            );
            drop(holder);
            let empty: &[std::net::SocketAddr] = &[];
            assert_eq!(
                UdpSocket::bind(empty).unwrap_err().kind(),
                ErrorKind::InvalidInput
            );
        });
    });
}

#[test]
fn std_conversions_keep_the_socket() {
    Flavors::each(|_, rt| {
        rt.block_on(async {
            let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let addr = std_socket.local_addr().unwrap();
            let socket = UdpSocket::from_std(std_socket).unwrap();
            assert_eq!(socket.local_addr().unwrap(), addr);
            let sender = local();
            sender.send_to(b"via std", addr).await.unwrap();
            let mut buf = [0u8; 16];
            let (n, _) = socket.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"via std");

            let back = socket.into_std().unwrap();
            assert_eq!(back.local_addr().unwrap(), addr);
            back.set_nonblocking(false).unwrap();
            sender.send_to(b"blocking", addr).await.unwrap();
            let (n, _) = back.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"blocking");
        });
    });
}
