//! Unix datagram sockets on both flavours: pairs keep message boundaries and wake a receiver per message,
//! peek and peek_from leave the message queued (peek_from names the sender: a path, an abstract name, or
//! unnamed), bound sockets send_to/recv_from and reply by name, connected sockets
//! refuse strangers, abstract names, and errors for missing paths. (Streams and listeners: `net_unix.rs`.)

mod support;

use ferrio::net::UnixDatagram;
use std::io::ErrorKind;
use std::os::linux::net::SocketAddrExt;
use std::time::Duration;
use support::{Flavors, TempPath};

/// Generous bound for anything that should take milliseconds: only a hang trips it.
const HANG: Duration = Duration::from_secs(20);

#[test]
fn datagram_pair_keeps_message_boundaries() {
    Flavors::each(|_, rt| {
        rt.block_on(async {
            let (a, b) = UnixDatagram::pair().unwrap();
            assert!(a.local_addr().unwrap().is_unnamed());
            assert!(a.peer_addr().unwrap().is_unnamed());
            a.send(b"one").await.unwrap();
            a.send(b"three").await.unwrap();
            a.send(b"").await.unwrap();
            let mut buf = [0u8; 64];
            assert_eq!(b.recv(&mut buf).await.unwrap(), 3);
            assert_eq!(&buf[..3], b"one");
            assert_eq!(b.recv(&mut buf).await.unwrap(), 5);
            assert_eq!(&buf[..5], b"three");
            assert_eq!(b.recv(&mut buf).await.unwrap(), 0);
            assert_eq!(
                b.try_recv(&mut buf).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );

            // A receiver in another task wakes for each message.
            let receiver = ferrio::spawn(async move {
                let mut total = 0;
                let mut buf = [0u8; 64];
                for i in 0..100usize {
                    let n = b.recv(&mut buf).await.unwrap();
                    assert_eq!(n, i % 50, "message {i}");
                    total += n;
                }
                total
            });
            for i in 0..100usize {
                a.send(&vec![7u8; i % 50]).await.unwrap();
            }
            let total = ferrio::time::timeout(HANG, receiver)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(total, (0..100).map(|i| i % 50).sum::<usize>());
        });
    });
}

#[test]
fn peek_leaves_the_message_queued() {
    Flavors::each(|_, rt| {
        rt.block_on(async {
            let (a, b) = UnixDatagram::pair().unwrap();
            let mut buf = [0u8; 64];
            // Nothing sent yet: the peek parks this task's waker, which the send below must wake.
            std::future::poll_fn(|cx| {
                assert!(b.poll_peek(cx, &mut buf).is_pending());
                std::task::Poll::Ready(())
            })
            .await;
            a.send(b"first").await.unwrap();
            a.send(b"second").await.unwrap();
            let n = ferrio::time::timeout(HANG, b.peek(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&buf[..n], b"first");
            assert_eq!(
                b.peek(&mut buf).await.unwrap(),
                5,
                "still the first message"
            );
            assert_eq!(b.recv(&mut buf).await.unwrap(), 5);
            assert_eq!(&buf[..5], b"first");
            assert_eq!(b.recv(&mut buf).await.unwrap(), 6);
            assert_eq!(&buf[..6], b"second");
        });
    });
}

#[test]
fn bound_datagram_sockets_send_to_and_recv_from() {
    Flavors::each(|_, rt| {
        let a_path = TempPath::new("dgram-a");
        let b_path = TempPath::new("dgram-b");
        rt.block_on(async {
            let a = UnixDatagram::bind(&a_path).unwrap();
            let b = UnixDatagram::bind(&b_path).unwrap();
            assert_eq!(a.local_addr().unwrap().as_pathname(), Some(a_path.as_ref()));
            assert_eq!(a.send_to(b"request", &b_path).await.unwrap(), 7);
            let mut buf = [0u8; 64];
            let (n, from) = b.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"request");
            let reply_to = from.as_pathname().expect("a bound sender has a name");
            assert_eq!(reply_to, a_path.as_ref());
            b.send_to(b"reply", reply_to).await.unwrap();
            let (n, from) = a.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"reply");
            assert_eq!(from.as_pathname(), Some(b_path.as_ref()));

            // Connected: `send`/`recv`, and a third socket may no longer send to it.
            a.connect(&b_path).unwrap();
            assert_eq!(a.peer_addr().unwrap().as_pathname(), Some(b_path.as_ref()));
            a.send(b"connected").await.unwrap();
            assert_eq!(b.recv(&mut buf).await.unwrap(), 9);
            let third = UnixDatagram::unbound().unwrap();
            let err = third.send_to(b"x", &a_path).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");

            let missing = TempPath::new("dgram-missing");
            let err = a.send_to(b"x", &missing).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
            let err = a.connect(&missing).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        });
    });
}

#[test]
fn abstract_names_need_no_file() {
    Flavors::each(|_, rt| {
        rt.block_on(async {
            let mut buf = [0u8; 8];
            let a_name = std::os::unix::net::SocketAddr::from_abstract_name(format!(
                "ferrio-dgram-{}",
                std::process::id()
            ))
            .unwrap();
            let a = UnixDatagram::bind_addr(&a_name).unwrap();
            let b = UnixDatagram::unbound().unwrap();
            b.connect_addr(&a_name).unwrap();
            b.send(b"hi").await.unwrap();
            let (n, from) = a.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"hi");
            assert!(from.is_unnamed(), "an unbound sender has no name");
            b.send_to_addr(b"to", &a_name).await.unwrap();
            assert_eq!(a.recv(&mut buf).await.unwrap(), 2);
        });
    });
}

#[test]
fn peek_from_names_the_sender_and_leaves_the_message_queued() {
    Flavors::each(|_, rt| {
        let a_path = TempPath::new("dgram-peek-a");
        let b_path = TempPath::new("dgram-peek-b");
        rt.block_on(async {
            let a = UnixDatagram::bind(&a_path).unwrap();
            let b = UnixDatagram::bind(&b_path).unwrap();
            let mut buf = [0u8; 64];
            // Nothing sent yet: the peek parks this task's waker, which the send below must wake.
            std::future::poll_fn(|cx| {
                assert!(b.poll_peek_from(cx, &mut buf).is_pending());
                std::task::Poll::Ready(())
            })
            .await;
            a.send_to(b"by path", &b_path).await.unwrap();
            let (n, from) = ferrio::time::timeout(HANG, b.peek_from(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&buf[..n], b"by path");
            assert_eq!(from.as_pathname(), Some(a_path.as_ref()));
            // Still queued: peek again, then receive the same message.
            let (n, _) = b.peek_from(&mut buf).await.unwrap();
            assert_eq!(n, 7);
            let (n, from) = b.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"by path");
            assert_eq!(from.as_pathname(), Some(a_path.as_ref()));

            // An unbound sender: peek_from reports an unnamed address.
            let stranger = UnixDatagram::unbound().unwrap();
            stranger.send_to(b"anon", &b_path).await.unwrap();
            let (n, from) = b.peek_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"anon");
            assert!(from.is_unnamed(), "{from:?}");
            assert_eq!(b.recv(&mut buf).await.unwrap(), 4);

            // An abstract name, and a buffer shorter than the message (truncated copy, message kept).
            let name = format!("ferrio-peek-{}", std::process::id());
            let abstract_addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).unwrap();
            let c = UnixDatagram::bind_addr(&abstract_addr).unwrap();
            c.send_to(b"abstract", &b_path).await.unwrap();
            let mut short = [0u8; 3];
            let (n, from) = b.peek_from(&mut short).await.unwrap();
            assert_eq!((n, &short), (3, b"abs"));
            assert_eq!(from.as_abstract_name(), Some(name.as_bytes()));
            let (n, _) = b.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"abstract");
        });
    });
}
