//! TCP faults and edge cases on both flavours: errors surfaced (refused, address in use, broken pipe without
//! SIGPIPE, reset by peer), connect over several addresses and a connect future made outside the runtime,
//! peek / try_read / options / addresses, std round trips, and bursts of connections (accept loop, accept
//! queue). Streams and transfers: `net_tcp.rs`; sockets and the runtime (readiness while busy, the
//! cooperative budget, shutdown): `net_tcp_runtime.rs`.
//!
//! EINTR is not tested: reads and writes on non-blocking sockets never return it, and the reactor's
//! `epoll_wait` retry cannot be reached from here without sending signals to a runtime thread.

mod support;

use ferrio::io::{AsyncReadExt, AsyncWriteExt};
use ferrio::net::{TcpListener, TcpStream};
use ferrio::time::timeout;
use std::io::{ErrorKind, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;
use support::tcp::{listen, on_each_flavour, pair, set_linger_zero, LIMIT};
use support::{within, Flavors};

/// A loopback address nobody listens on (a port that was free a moment ago).
fn closed_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// A listener made inside `rt` (sockets must be created in a runtime).
fn listen_in(rt: &ferrio::Runtime) -> (TcpListener, SocketAddr) {
    rt.block_on(async { listen() })
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    on_each_flavour(|_| async {
        let err = TcpStream::connect(closed_addr()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    });
}

/// `connect` tries each address in turn: a refused one is skipped, the error of the last one is returned.
#[test]
fn connect_tries_each_address() {
    on_each_flavour(|_| async {
        let (listener, addr) = listen();
        let closed = closed_addr();
        let client = TcpStream::connect(&[closed, addr][..]).await.unwrap();
        let (_, from) = listener.accept().await.unwrap();
        assert_eq!(from, client.local_addr().unwrap());
        let err = TcpStream::connect(&[closed, closed_addr()][..])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
        let err = TcpStream::connect(&[][..]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    });
}

/// A `connect` future may be made outside the runtime (nothing is registered until it is polled), as in
/// `rt.block_on(TcpStream::connect(addr))`.
#[test]
fn connect_future_made_outside_the_runtime() {
    Flavors::each(|_, rt| {
        within(LIMIT, move || {
            let (listener, addr) = listen_in(&rt);
            let connect = TcpStream::connect(addr);
            let client = rt.block_on(connect).unwrap();
            let (_, from) = rt.block_on(listener.accept()).unwrap();
            assert_eq!(from, client.local_addr().unwrap());
        })
    });
}

#[test]
fn binding_an_address_twice_is_addr_in_use() {
    on_each_flavour(|_| async {
        let (_listener, addr) = listen();
        let err = TcpListener::bind(addr).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
    });
}

/// Set in the child process of `writing_to_a_closed_peer_fails_without_sigpipe`.
const SIGPIPE_CHILD: &str = "FERRIO_NET_TCP_SIGPIPE_CHILD";

/// Writes (plain and vectored) to a peer that closed its socket fail with `BrokenPipe` or `ConnectionReset`.
/// The Rust runtime ignores SIGPIPE, which would hide a write that raises it, so the check runs in a child
/// process (this test binary, filtered to this test) with SIGPIPE back at its default action: killing.
#[test]
fn writing_to_a_closed_peer_fails_without_sigpipe() {
    const NAME: &str = "writing_to_a_closed_peer_fails_without_sigpipe";
    if std::env::var_os(SIGPIPE_CHILD).is_some() {
        // SAFETY: `signal` with `SIG_DFL` only changes this process's disposition of SIGPIPE; no handler
        // runs Rust code. The child runs this one test, so nothing else relies on the old disposition.
        let old = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        assert_ne!(old, libc::SIG_ERR);
        on_each_flavour(|_| async {
            for vectored in [false, true] {
                let (mut client, server) = pair().await;
                drop(server);
                let chunk = vec![9u8; 16 * 1024];
                let mut result = Ok(0);
                // The first writes may succeed (queued before the peer's reset comes back).
                for _ in 0..1000 {
                    result = if vectored {
                        let bufs = [IoSlice::new(&chunk), IoSlice::new(&chunk)];
                        client.write_vectored(&bufs).await
                    } else {
                        client.write(&chunk).await
                    };
                    if result.is_err() {
                        break;
                    }
                    ferrio::time::sleep(Duration::from_millis(1)).await;
                }
                let err = result.unwrap_err();
                assert!(
                    matches!(
                        err.kind(),
                        ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
                    ),
                    "vectored={vectored}: {err}"
                );
                // Later writes keep failing, and still raise no signal.
                let err = client.write(&chunk).await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
            }
        });
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args([NAME, "--exact", "--test-threads=1", "--nocapture"])
        .env(SIGPIPE_CHILD, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let finished = support::wait_until(LIMIT, || child.try_wait().unwrap().is_some());
    if !finished {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(finished, "child hung\n{stdout}\n{stderr}");
    assert!(
        out.status.success(),
        "child failed ({:?}; signal 13 is SIGPIPE)\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("1 passed"), "child ran no test\n{stdout}");
}

/// A peer that resets the connection: a read already waiting fails with `ConnectionReset`, and so does one
/// issued after the reset arrived.
#[test]
fn reset_by_peer_is_connection_reset() {
    on_each_flavour(|_| async {
        // A read waiting when the reset comes.
        let (client, server) = pair().await;
        let reader = ferrio::spawn(async move {
            let mut client = client;
            client.read(&mut [0; 16]).await
        });
        ferrio::time::sleep(Duration::from_millis(20)).await;
        set_linger_zero(server.as_raw_fd());
        drop(server);
        let err = reader.await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");

        // A read issued after the reset arrived.
        let (mut client, server) = pair().await;
        set_linger_zero(server.as_raw_fd());
        drop(server);
        ferrio::time::sleep(Duration::from_millis(20)).await;
        let err = client.read(&mut [0; 16]).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    });
}

// ---------------------------------------------------------------------------------------------------------
// Peek, try_read, options, addresses, std round trips
// ---------------------------------------------------------------------------------------------------------

#[test]
fn peek_does_not_consume_and_try_read_does_not_wait() {
    on_each_flavour(|_| async {
        let (mut client, mut server) = pair().await;
        let mut buf = [0u8; 64];
        assert_eq!(
            server.try_read(&mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        client.write_all(b"hello world").await.unwrap();
        let n = server.peek(&mut buf[..5]).await.unwrap();
        assert_eq!(&buf[..n], b"hello");
        let n = server.peek(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hello world");
        let mut word = [0u8; 6];
        server.read_exact(&mut word).await.unwrap();
        assert_eq!(&word, b"hello ");

        // Readable: try_read takes what is there, then says WouldBlock without waiting.
        server.readable().await.unwrap();
        let n = server.try_read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"world");
        assert_eq!(
            server.try_read(&mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        // The connected client saw its socket writable (connect waits for that): try_write goes through.
        assert_eq!(client.try_write(b"!").unwrap(), 1);
        server.read_exact(&mut buf[..1]).await.unwrap();
        assert_eq!(&buf[..1], b"!");
    });
}

#[test]
fn options_and_addresses() {
    on_each_flavour(|_| async {
        let (listener, addr) = listen();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, from) = listener.accept().await.unwrap();
        assert_eq!(from, client.local_addr().unwrap());
        assert_eq!(server.peer_addr().unwrap(), client.local_addr().unwrap());
        assert_eq!(client.peer_addr().unwrap(), server.local_addr().unwrap());
        assert_eq!(server.local_addr().unwrap(), addr);

        for on in [true, false, true] {
            client.set_nodelay(on).unwrap();
            assert_eq!(client.nodelay().unwrap(), on);
        }
        client.set_ttl(42).unwrap();
        assert_eq!(client.ttl().unwrap(), 42);
        listener.set_ttl(7).unwrap();
        assert_eq!(listener.ttl().unwrap(), 7);
        assert!(client.take_error().unwrap().is_none());
        assert!(listener.take_error().unwrap().is_none());
        let debug = format!("{client:?}");
        assert!(debug.contains(&addr.to_string()), "{debug}");
    });
}

/// `from_std` / `into_std` on both stream and listener: the connection survives each conversion, in both
/// directions, with blocking std I/O in between.
#[test]
fn std_round_trip_keeps_the_connection() {
    on_each_flavour(|_| async {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let listener = TcpListener::from_std(std_listener).unwrap();
        let std_client = std::net::TcpStream::connect(addr).unwrap();
        let mut client = TcpStream::from_std(std_client).unwrap();
        let (mut server, _) = listener.accept().await.unwrap();

        client.write_all(b"async").await.unwrap();
        let mut buf = [0u8; 5];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"async");

        // To std and back: the bytes the server sent meanwhile are read with blocking std calls.
        server.write_all(b"ping").await.unwrap();
        let mut std_client = client.into_std().unwrap();
        std_client.set_nonblocking(false).unwrap();
        std_client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        std_client.read_exact(&mut buf[..4]).unwrap();
        assert_eq!(&buf[..4], b"ping");
        std_client.write_all(b"pong").unwrap();
        server.read_exact(&mut buf[..4]).await.unwrap();
        assert_eq!(&buf[..4], b"pong");
        let mut client = TcpStream::from_std(std_client).unwrap();
        client.write_all(b"again").await.unwrap();
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"again");

        // The listener too: a connection made while it is a std listener is accepted by the ferrio one.
        let std_listener = listener.into_std().unwrap();
        let late = std::net::TcpStream::connect(addr).unwrap();
        let listener = TcpListener::from_std(std_listener).unwrap();
        let (_, from) = listener.accept().await.unwrap();
        assert_eq!(from, late.local_addr().unwrap());
    });
}

// ---------------------------------------------------------------------------------------------------------
// Bursts of connections
// ---------------------------------------------------------------------------------------------------------

/// An accept loop takes 500 connections whose clients close at once: all are accepted, each from the address
/// its client had, and each reads end of stream. (Addresses are compared as lists: on loopback Linux may
/// reuse a client port still in TIME_WAIT, so one address can come twice.)
#[test]
fn accept_500_connections_that_close_at_once() {
    const N: usize = 500;
    on_each_flavour(|_| async {
        let (listener, addr) = listen();
        let acceptor = ferrio::spawn(async move {
            let mut peers = Vec::new();
            for _ in 0..N {
                let (mut conn, peer) = listener.accept().await.unwrap();
                assert_eq!(conn.read(&mut [0; 8]).await.unwrap(), 0);
                peers.push(peer);
            }
            peers
        });
        let connectors: Vec<_> = (0..10)
            .map(|_| {
                ferrio::spawn(async move {
                    let mut locals = Vec::new();
                    for _ in 0..N / 10 {
                        let s = TcpStream::connect(addr).await.unwrap();
                        locals.push(s.local_addr().unwrap());
                    }
                    locals
                })
            })
            .collect();
        let mut locals = Vec::new();
        for c in connectors {
            locals.extend(c.await.unwrap());
        }
        let mut peers = acceptor.await.unwrap();
        locals.sort();
        peers.sort();
        assert_eq!(locals.len(), N);
        assert_eq!(peers, locals);
    });
}

/// Connections made while nobody accepts wait in the accept queue (`bind` asks for a backlog of 1024): 300
/// connect at once, none waits for a SYN retransmission (1 s), and all are accepted afterwards. With std's
/// and mio's backlog of 128 the 130th would stall.
#[test]
fn a_burst_of_300_waits_in_the_accept_queue() {
    const N: usize = 300;
    on_each_flavour(|_| async {
        let (listener, addr) = listen();
        let mut clients = Vec::new();
        for i in 0..N {
            let connect = timeout(Duration::from_millis(500), TcpStream::connect(addr));
            let client = connect
                .await
                .unwrap_or_else(|_| panic!("connection {i} was not queued"))
                .unwrap();
            clients.push(client);
        }
        for client in &clients {
            let (_, from) = listener.accept().await.unwrap();
            assert_eq!(from, client.local_addr().unwrap());
        }
    });
}
