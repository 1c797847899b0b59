//! TCP sockets and the runtime, on both flavours where it applies: readiness that arrives while the reading
//! task is busy is kept; the cooperative budget stops a flooded reader from starving other tasks; a runtime
//! shutdown drops a task waiting on a socket; sockets of a runtime that shut down fail instead of hanging
//! when used from another runtime. Faults and edge cases: `net_tcp_faults.rs`; streams and transfers:
//! `net_tcp.rs`.

mod support;

use ferrio::io::{AsyncReadExt, AsyncWriteExt};
use ferrio::net::{TcpListener, TcpStream};
use ferrio::time::timeout;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use support::tcp::{listen, on_each_flavour, pair, LIMIT};
use support::{within, DropCounter, Flavor, Flavors};

/// A listener made inside `rt` (sockets must be created in a runtime).
fn listen_in(rt: &ferrio::Runtime) -> (TcpListener, SocketAddr) {
    rt.block_on(async { listen() })
}

/// Bytes that arrive while the reading task is busy (blocked in a plain sleep, not polling) are read
/// afterwards, with no further event from the peer. On the multi-thread flavour another worker records the
/// readiness during the sleep, so a `try_read` (which never waits) already finds the bytes.
#[test]
fn readiness_arriving_while_the_reader_is_busy_is_kept() {
    on_each_flavour(|flavor| async move {
        let (listener, addr) = listen();
        let (busy_tx, busy_rx) = mpsc::channel::<()>();
        let (sent_tx, sent_rx) = mpsc::channel::<()>();
        let peer = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"first").unwrap();
            busy_rx.recv().unwrap();
            s.write_all(b"second").unwrap();
            sent_tx.send(()).unwrap();
            // Stays open (no end-of-stream event) until the reader is done.
            let _ = s.read(&mut [0; 1]);
        });
        let (conn, _) = listener.accept().await.unwrap();
        let reader = ferrio::spawn(async move {
            let mut conn = conn;
            let mut buf = [0u8; 64];
            let mut got = 0;
            while got < 5 {
                // Short reads: the readiness is cleared once the socket is drained.
                got += conn.read(&mut buf[got..]).await.unwrap();
            }
            assert_eq!(&buf[..5], b"first");
            busy_tx.send(()).unwrap();
            sent_rx.recv().unwrap();
            std::thread::sleep(Duration::from_millis(20)); // busy: the event lands now
            if flavor == Flavor::MultiThread {
                // Still without yielding: `try_read` never waits, it only sees what the reactor recorded.
                let mut n = 0;
                let got = support::wait_until(Duration::from_secs(5), || {
                    conn.try_read(&mut buf).map(|m| n = m).is_ok()
                });
                assert!(got, "readiness never recorded while the task was busy");
                assert_eq!(&buf[..n], b"second");
            } else {
                let n = timeout(Duration::from_secs(5), conn.read(&mut buf))
                    .await
                    .expect("readiness lost")
                    .unwrap();
                assert_eq!(&buf[..n], b"second");
            }
            conn
        });
        let conn = reader.await.unwrap();
        conn.shutdown(Shutdown::Both).unwrap();
        peer.join().unwrap();
    });
}

/// A task that reads from a socket that always has data, and never waits otherwise, is made to yield by the
/// cooperative budget: a second task on the same (only) worker keeps making progress. Multi-thread only: the
/// current-thread flavour has no budget by design (asyncio's order: a coroutine awaiting something already
/// done is never suspended; ARCHITECTURE.md).
#[test]
fn coop_budget_stops_a_flooded_reader_from_starving_others() {
    let rt = ferrio::Runtime::builder()
        .multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    within(LIMIT, move || {
        rt.block_on(async move {
            let (listener, addr) = listen();
            let flood = std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                let chunk = vec![7u8; 64 * 1024];
                while s.write_all(&chunk).is_ok() {}
            });
            let (mut conn, _) = listener.accept().await.unwrap();
            // Wait until the receive buffer holds many budgets' worth of small reads.
            while conn.peek(&mut [0u8; 64 * 1024]).await.unwrap() < 64 * 1024 {
                ferrio::time::sleep(Duration::from_millis(1)).await;
            }
            let ticks = Arc::new(AtomicUsize::new(0));
            let t = ticks.clone();
            let ticker = ferrio::spawn(async move {
                loop {
                    t.fetch_add(1, SeqCst);
                    ferrio::yield_now().await;
                }
            });
            // 20,000 small reads are about 150 budgets (128 each): the ticker gets a turn after each.
            const READS: usize = 20_000;
            let seen = ticks.clone();
            let reader = ferrio::spawn(async move {
                let mut buf = [0u8; 16];
                let start = seen.load(SeqCst);
                for _ in 0..READS {
                    assert!(conn.read(&mut buf).await.unwrap() > 0);
                }
                (seen.load(SeqCst) - start, conn)
            });
            let (ticked, conn) = reader.await.unwrap();
            ticker.cancel();
            drop(conn);
            flood.join().unwrap();
            assert!(
                ticked >= 50,
                "the other task ticked {ticked} times during {READS} reads"
            );
        });
    });
}

/// Runtime shutdown with a task waiting in a socket read: the task's future is dropped and the drop returns.
#[test]
fn shutdown_drops_a_task_waiting_on_a_socket() {
    Flavors::each(|flavor, rt| {
        let drops = DropCounter::new();
        let guard = drops.guard();
        let finished = Arc::new(AtomicBool::new(false));
        let f = finished.clone();
        within(LIMIT, move || {
            let client = rt.block_on(async move {
                let (client, mut server) = pair().await;
                let (started_tx, started_rx) = futures_channel::oneshot::channel();
                ferrio::spawn(async move {
                    let _guard = guard;
                    started_tx.send(()).unwrap();
                    let _ = server.read(&mut [0; 1]).await;
                    f.store(true, SeqCst);
                });
                started_rx.await.unwrap();
                client // kept open past the shutdown, so the read cannot end by itself
            });
            drop(rt);
            drop(client);
        });
        assert_eq!(
            drops.dropped(),
            1,
            "{flavor:?}: the waiting task was not dropped"
        );
        assert!(!finished.load(SeqCst), "{flavor:?}: the read completed");
    });
}

fn assert_shut_down<T: std::fmt::Debug>(result: io::Result<T>) {
    let err = result.unwrap_err();
    assert!(err.to_string().contains("shut down"), "{err}");
}

/// Sockets of a runtime that shut down, used from another runtime: operations that would wait fail with a
/// "shut down" error (including one already waiting when the first runtime goes), data already received
/// is still read, and new sockets in the second runtime work.
#[test]
fn sockets_of_a_shut_down_runtime_fail_instead_of_hanging() {
    Flavors::each(|flavor, a| {
        within(LIMIT, move || {
            let (listener, addr) = listen_in(&a);
            let (mut client, server) = a.block_on(async move {
                let client = TcpStream::connect(addr).await.unwrap();
                let (server, _) = listener.accept().await.unwrap();
                (client, server)
            });
            // A read from another runtime's block_on, waiting when `a` shuts down.
            let waiter = std::thread::spawn(move || {
                let b = flavor.build();
                let mut server = server;
                let result = b.block_on(async { server.read(&mut [0; 8]).await });
                (result, server)
            });
            std::thread::sleep(Duration::from_millis(20));
            drop(a);
            let (result, mut server) = waiter.join().unwrap();
            assert_shut_down(result);

            let b = flavor.build();
            b.block_on(async {
                assert_shut_down(server.read(&mut [0; 8]).await);
                assert_shut_down(server.readable().await);
                // A write with room in the buffer needs no wait, so it still goes through...
                assert_eq!(client.write(b"late").await.unwrap(), 4);
                // ...and bytes already received are still read.
                std::thread::sleep(Duration::from_millis(20));
                let mut buf = [0u8; 8];
                let n = server.read(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], b"late");
                assert_shut_down(server.read(&mut buf).await);
                // Sockets of the living runtime are unaffected.
                let (mut c, mut s) = pair().await;
                c.write_all(b"ok").await.unwrap();
                s.read_exact(&mut buf[..2]).await.unwrap();
                assert_eq!(&buf[..2], b"ok");
            });
        });
    });
}
