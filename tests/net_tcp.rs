//! TCP streams on both flavours: echo with many connections, half-close, split halves (borrowed and owned,
//! from two tasks at once), large transfers with a content check, write readiness after a full buffer,
//! vectored writes past IOV_MAX. Faults and edge cases: `net_tcp_faults.rs`; sockets and the runtime
//! (readiness while busy, the cooperative budget, shutdown): `net_tcp_runtime.rs`.

mod support;

use ferrio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ferrio::net::{ReuniteError, TcpListener, TcpStream};
use ferrio::time::timeout;
use std::io::{ErrorKind, IoSlice};
use std::net::Shutdown;
use std::time::Duration;
use support::tcp::{listen, on_each_flavour, pair};

/// Echoes every connection until its client closes the writing side; then closes it.
async fn echo_server(listener: TcpListener) {
    loop {
        let (mut conn, _) = listener.accept().await.unwrap();
        ferrio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = conn.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                conn.write_all(&buf[..n]).await.unwrap();
            }
        });
    }
}

// ---------------------------------------------------------------------------------------------------------
// Content-checked streams: byte `i` is `i % PERIOD + seed`. The period is prime, so a lost, duplicated or
// reordered chunk of any power-of-two size shows as a mismatch.
// ---------------------------------------------------------------------------------------------------------

const PERIOD: usize = 251;

fn pattern(seed: u8) -> Vec<u8> {
    (0..PERIOD * 256)
        .map(|i| (i % PERIOD) as u8 ^ seed)
        .collect()
}

/// Writes `total` pattern bytes (seed `seed`) in chunks of up to 64 KiB.
async fn write_pattern<W: AsyncWrite + Unpin>(w: &mut W, total: usize, seed: u8) {
    let pat = pattern(seed);
    let mut sent = 0;
    while sent < total {
        let start = sent % PERIOD;
        let len = (total - sent).min(pat.len() - start);
        w.write_all(&pat[start..start + len]).await.unwrap();
        sent += len;
    }
}

/// Reads to end of stream, checking every byte against the pattern of `seed`; returns how many came.
async fn read_pattern<R: AsyncRead + Unpin>(r: &mut R, seed: u8) -> usize {
    let pat = pattern(seed);
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    loop {
        let n = r.read(&mut buf).await.unwrap();
        if n == 0 {
            return got;
        }
        let mut checked = 0;
        while checked < n {
            let start = (got + checked) % PERIOD;
            let len = (n - checked).min(pat.len() - start);
            assert!(
                buf[checked..checked + len] == pat[start..start + len],
                "content mismatch in bytes {}..{}",
                got + checked,
                got + checked + len
            );
            checked += len;
        }
        got += n;
    }
}

// ---------------------------------------------------------------------------------------------------------
// Data paths
// ---------------------------------------------------------------------------------------------------------

#[test]
fn echo_with_100_concurrent_connections() {
    on_each_flavour(|_| async {
        let (listener, addr) = listen();
        let server = ferrio::spawn(echo_server(listener));
        let clients: Vec<_> = (0..100u32)
            .map(|i| {
                ferrio::spawn(async move {
                    let mut s = TcpStream::connect(addr).await.unwrap();
                    s.set_nodelay(true).unwrap();
                    for round in 0..20u32 {
                        let msg = format!("client {i} round {round}");
                        s.write_all(msg.as_bytes()).await.unwrap();
                        let mut back = vec![0u8; msg.len()];
                        s.read_exact(&mut back).await.unwrap();
                        assert_eq!(back, msg.as_bytes());
                    }
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for c in clients {
            sum += c.await.unwrap();
        }
        assert_eq!(sum, (0..100).sum::<u32>());
        server.cancel();
    });
}

/// The client closes its writing side (`shutdown(Write)`, then `close()`); the server reads to end of stream,
/// replies and closes; the client reads the reply, then end of stream, and can no longer write.
#[test]
fn half_close_then_reply() {
    on_each_flavour(|_| async {
        for use_close in [false, true] {
            let (listener, addr) = listen();
            let server = ferrio::spawn(async move {
                let (mut conn, _) = listener.accept().await.unwrap();
                let mut request = Vec::new();
                conn.read_to_end(&mut request).await.unwrap();
                let reply = format!("got {} bytes", request.len());
                conn.write_all(reply.as_bytes()).await.unwrap();
                request
            });
            let mut client = TcpStream::connect(addr).await.unwrap();
            client.write_all(b"request body").await.unwrap();
            if use_close {
                client.close().await.unwrap();
            } else {
                client.shutdown(Shutdown::Write).unwrap();
            }
            let err = client.write(b"more").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::BrokenPipe, "use_close={use_close}");
            let mut reply = String::new();
            client.read_to_string(&mut reply).await.unwrap();
            assert_eq!(reply, "got 12 bytes");
            assert_eq!(client.read(&mut [0; 8]).await.unwrap(), 0, "EOF stays EOF");
            assert_eq!(server.await.unwrap(), b"request body");
        }
    });
}

/// Owned halves moved to a reader task and a writer task, on both ends, carry 8 MiB each way at once; the
/// halves then reunite into the stream they came from.
#[test]
fn owned_halves_in_two_tasks_carry_8_mib_each_way() {
    const SIZE: usize = 8 << 20;
    /// Reads `read_seed` to EOF in one task while writing `write_seed` (then closing) in another.
    async fn duplex(stream: TcpStream, read_seed: u8, write_seed: u8) -> TcpStream {
        let local = stream.local_addr().unwrap();
        let (mut r, mut w) = stream.into_split();
        assert_eq!(r.as_ref().local_addr().unwrap(), local);
        let reader = ferrio::spawn(async move {
            let n = read_pattern(&mut r, read_seed).await;
            (n, r)
        });
        let writer = ferrio::spawn(async move {
            write_pattern(&mut w, SIZE, write_seed).await;
            w.close().await.unwrap();
            w
        });
        let w = writer.await.unwrap();
        let (n, r) = reader.await.unwrap();
        assert_eq!(n, SIZE);
        let stream = r.reunite(w).unwrap();
        assert_eq!(stream.local_addr().unwrap(), local);
        stream
    }
    on_each_flavour(|_| async {
        let (listener, addr) = listen();
        let server = ferrio::spawn(async move {
            let (conn, _) = listener.accept().await.unwrap();
            duplex(conn, 1, 2).await
        });
        let client = TcpStream::connect(addr).await.unwrap();
        let client = ferrio::spawn(duplex(client, 2, 1));
        let (client, server) = (client.await.unwrap(), server.await.unwrap());
        // Both sides are closed by now (no peer address any more); the local ones are kept.
        assert_eq!(server.local_addr().unwrap(), addr);
        assert_ne!(client.local_addr().unwrap(), addr);
    });
}

/// Halves of different streams do not reunite: both come back in the error and still work; dropping an owned
/// write half shuts the writing side down.
#[test]
fn reunite_rejects_halves_of_different_streams() {
    on_each_flavour(|_| async {
        let (a, mut a_peer) = pair().await;
        let (b, mut b_peer) = pair().await;
        let (a_local, b_local) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let (ar, aw) = a.into_split();
        let (br, bw) = b.into_split();
        let err = ar.reunite(bw).map(drop).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tried to reunite halves that are not from the same stream"
        );
        let ReuniteError(ar, bw) = err;
        // The same from the write half's side.
        let ReuniteError(br, aw) = aw.reunite(br).map(drop).unwrap_err();
        let mut bw = bw;
        // The halves handed back are intact: write through one, then drop it (end of stream for the peer).
        bw.write_all(b"still here").await.unwrap();
        drop(bw);
        let mut got = Vec::new();
        b_peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"still here");
        assert_eq!(br.as_ref().local_addr().unwrap(), b_local);

        let mut a = aw.reunite(ar).unwrap();
        assert_eq!(a.local_addr().unwrap(), a_local);
        a.write_all(b"whole again").await.unwrap();
        let mut buf = [0; 11];
        a_peer.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"whole again");
        // Reuniting did not shut the writing side down.
        a_peer.write_all(b"!").await.unwrap();
        a.read_exact(&mut buf[..1]).await.unwrap();
        assert_eq!(&buf[..1], b"!");
    });
}

/// Borrowed halves read and write in one task at once (`zip`): 4 MiB through an echo server, more than the
/// socket buffers hold, so doing one after the other would deadlock.
#[test]
fn borrowed_halves_joined_with_zip() {
    const SIZE: usize = 4 << 20;
    on_each_flavour(|_| async {
        let (listener, addr) = listen();
        let server = ferrio::spawn(echo_server(listener));
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut r, mut w) = client.split();
        let ((), n) = futures_lite::future::zip(
            async {
                write_pattern(&mut w, SIZE, 3).await;
                w.close().await.unwrap();
            },
            read_pattern(&mut r, 3),
        )
        .await;
        assert_eq!(n, SIZE);
        server.cancel();
    });
}

#[test]
fn transfer_64_mib_with_content_check() {
    const SIZE: usize = 64 << 20;
    on_each_flavour(|_| async {
        let (listener, addr) = listen();
        let server = ferrio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            write_pattern(&mut conn, SIZE, 4).await;
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        assert_eq!(read_pattern(&mut client, 4).await, SIZE);
        server.await.unwrap();
    });
}

/// A full send buffer: `try_write` says `WouldBlock`, after which `writable()` really waits, and it comes back
/// once the peer drains the bytes.
#[test]
fn write_readiness_returns_after_the_peer_drains() {
    on_each_flavour(|_| async {
        let (client, mut server) = pair().await;
        let chunk = vec![5u8; 64 * 1024];
        let mut sent = 0;
        loop {
            match client.try_write(&chunk) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("try_write: {e}"),
            }
        }
        assert!(sent > 0);
        let wait = timeout(Duration::from_millis(50), client.writable()).await;
        assert!(wait.is_err(), "writable with a full send buffer");
        let mut buf = vec![0u8; sent];
        server.read_exact(&mut buf).await.unwrap();
        assert!(buf.iter().all(|&b| b == 5));
        timeout(Duration::from_secs(5), client.writable())
            .await
            .expect("write readiness lost")
            .unwrap();
        assert!(client.try_write(&chunk).unwrap() > 0);
    });
}

/// A vectored write of more slices than the kernel takes in one call (`IOV_MAX`, 1024) writes a prefix, and
/// the rest follows without waiting for an event that will not come (the socket was never full).
#[test]
fn write_vectored_with_more_slices_than_iov_max() {
    on_each_flavour(|_| async {
        let (mut client, mut server) = pair().await;
        let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let mut written = 0;
        while written < data.len() {
            let slices: Vec<IoSlice<'_>> = data[written..].chunks(1).map(IoSlice::new).collect();
            let write = timeout(Duration::from_secs(5), client.write_vectored(&slices));
            let n = write.await.expect("vectored write hung").unwrap();
            assert!(n > 0);
            written += n;
        }
        client.close().await.unwrap();
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, data);
    });
}

// ---------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------
