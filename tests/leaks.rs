//! What the runtime must not leak out of the process or the program: descriptors into child processes (every
//! descriptor it creates is close-on-exec), descriptors after use (all closed once the objects and the
//! runtime are gone, failed operations included), and SIGPIPE (writes to a closed or shut-down stream give
//! `BrokenPipe` or `ConnectionReset`, never the signal, even with SIGPIPE at its default action).
//!
//! The last two count process-wide things, so they run alone in a child process of this test binary
//! (`stress_support::alone`). Close-on-exec of each socket type: `net_unix.rs`; single SIGPIPE cases:
//! `net_tcp_faults.rs`, `net_unix.rs`.

mod stress_support;
mod support;

use ferrio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ferrio::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream};
use ferrio::signal::{signal, SignalKind};
use ferrio::time::sleep;
use std::collections::BTreeSet;
use std::io::{ErrorKind, IoSlice};
use std::net::Shutdown;
use std::time::Duration;
use stress_support::{alone, assert_fds_back_to};
use support::{expect_panic, within, Flavor, TempPath};

/// The descriptors a child shell has open (`ls -l /proc/$$/fd`, run by the shell on itself): fd number ->
/// what it points at.
fn child_fds() -> Vec<(u32, String)> {
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", "ls -l /proc/$$/fd"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run /bin/sh");
    assert!(out.status.success(), "ls failed: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let (left, target) = line.split_once(" -> ")?;
            let fd = left.split_whitespace().last()?.parse().ok()?;
            Some((fd, target.to_owned()))
        })
        .collect()
}

/// Descriptors of this process that are not close-on-exec, with what they point at (0, 1 and 2 excepted).
fn inheritable_fds() -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if fd <= 2 {
            continue;
        }
        // SAFETY: F_GETFD only reads the descriptor's flags; a descriptor closed meanwhile gives EBADF.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
            let target = std::fs::read_link(entry.path())
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            out.push((fd, target));
        }
    }
    out
}

/// Both flavours, with every kind of descriptor the runtime makes alive at once (its epoll, eventfd and
/// timerfd; a TCP listener, client and accepted socket; UDP; a Unix listener, client, accepted socket and
/// pairs; a signal listener and the process's signal pipe; a registered timer; a blocking-pool thread): a
/// child shell inherits none of them, and none of this process's descriptors lacks close-on-exec.
#[test]
fn no_runtime_descriptor_is_inherited_by_a_child_process() {
    within(Duration::from_secs(30), || {
        let baseline: BTreeSet<u32> = child_fds().into_iter().map(|(fd, _)| fd).collect();
        // What the environment already passes down (a jobserver pipe, say) is not ours to judge.
        let inherited_before: BTreeSet<(i32, String)> = inheritable_fds().into_iter().collect();
        for flavor in Flavor::ALL {
            let rt = flavor.build();
            let path = TempPath::new(&format!("{flavor:?}"));
            rt.block_on(async {
                let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
                let client = TcpStream::connect(tcp.local_addr().unwrap()).await.unwrap();
                let (accepted, _) = tcp.accept().await.unwrap();
                let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
                let unix = UnixListener::bind(&path.0).unwrap();
                let unix_client = UnixStream::connect(&path.0).await.unwrap();
                let (unix_accepted, _) = unix.accept().await.unwrap();
                let pair = UnixStream::pair().unwrap();
                let dgram = UnixDatagram::pair().unwrap();
                let sig = signal(SignalKind::user_defined2()).unwrap();
                let mut timer = Box::pin(sleep(Duration::from_secs(600)));
                assert!(support::poll_once(&mut timer).await.is_pending());
                let (job_started, job_wait) = std::sync::mpsc::channel::<()>();
                let (job_release, job_gate) = std::sync::mpsc::channel::<()>();
                let job = ferrio::spawn_blocking(move || {
                    job_started.send(()).unwrap();
                    job_gate.recv().unwrap();
                });
                job_wait.recv().unwrap();

                let leaked: Vec<_> = inheritable_fds()
                    .into_iter()
                    .filter(|fd| !inherited_before.contains(fd))
                    .collect();
                assert!(leaked.is_empty(), "{flavor:?}: not close-on-exec: {leaked:?}");
                let child = child_fds();
                let extra: Vec<_> = child
                    .iter()
                    .filter(|(fd, _)| !baseline.contains(fd))
                    .collect();
                assert!(
                    extra.is_empty(),
                    "{flavor:?}: the child inherited {extra:?} (it had {baseline:?} before the runtime)"
                );
                job_release.send(()).unwrap();
                job.await.unwrap();
                drop((tcp, client, accepted, udp, unix, unix_client, unix_accepted));
                drop((pair, dgram, sig, timer));
            });
        }
    });
}

/// Runtimes of both flavours and every socket type, used and dropped, and operations that fail (connect
/// refused, bind on a used address, I/O objects made outside a runtime, which panic): once everything is
/// gone the process has exactly as many descriptors open as before.
#[test]
fn every_descriptor_is_closed_after_use() {
    alone("every_descriptor_is_closed_after_use", |baseline| {
        within(Duration::from_secs(60), move || {
            let mut settled = baseline;
            for round in 0..3 {
                for flavor in Flavor::ALL {
                    let rt = flavor.build();
                    let path = TempPath::new(&format!("closed-{flavor:?}"));
                    rt.block_on(async {
                        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
                        let addr = tcp.local_addr().unwrap();
                        let mut client = TcpStream::connect(addr).await.unwrap();
                        let (mut accepted, _) = tcp.accept().await.unwrap();
                        client.write_all(b"ping").await.unwrap();
                        let mut buf = [0u8; 4];
                        accepted.read_exact(&mut buf).await.unwrap();
                        // Failures: a second bind, a refused connect.
                        let err = TcpListener::bind(addr).unwrap_err();
                        assert_eq!(err.kind(), ErrorKind::AddrInUse);
                        drop(tcp);
                        for _ in 0..10 {
                            let err = TcpStream::connect(addr).await.unwrap_err();
                            assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
                        }
                        let (r, w) = client.into_split();
                        drop((r, w, accepted));
                        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
                        udp.send_to(b"x", udp.local_addr().unwrap()).await.unwrap();
                        udp.recv_from(&mut buf).await.unwrap();
                        let unix = UnixListener::bind(&path.0).unwrap();
                        let c = UnixStream::connect(&path.0).await.unwrap();
                        let (a, _) = unix.accept().await.unwrap();
                        let (p, q) = UnixStream::pair().unwrap();
                        let (d1, d2) = UnixDatagram::pair().unwrap();
                        d1.send(b"d").await.unwrap();
                        d2.recv(&mut buf).await.unwrap();
                        let sig = signal(SignalKind::user_defined2()).unwrap();
                        drop((udp, unix, c, a, p, q, d1, d2, sig));
                        // A timer registered and dropped, a blocking job run.
                        let mut s = Box::pin(sleep(Duration::from_secs(60)));
                        assert!(support::poll_once(&mut s).await.is_pending());
                        drop(s);
                        ferrio::spawn_blocking(|| 1).await.unwrap();
                    });
                    drop(rt);
                }
                // Outside a runtime: each constructor panics; the socket it made must be closed again.
                for _ in 0..20 {
                    expect_panic(|| TcpListener::bind("127.0.0.1:0"));
                    expect_panic(|| UdpSocket::bind("127.0.0.1:0"));
                    expect_panic(UnixStream::pair);
                    expect_panic(|| signal(SignalKind::user_defined2()));
                }
                // The first round opens what lives for the whole process: the signal pipe's two ends.
                if round == 0 {
                    assert_fds_back_to(baseline + 2, "round 0");
                    settled = stress_support::open_fds();
                } else {
                    assert_fds_back_to(settled, &format!("round {round}"));
                }
            }
            println!("descriptors: {baseline} before, {settled} after every round (signal pipe included)");
        })
    });
}

/// Writes (plain, vectored, `write_all`, through owned write halves, through the futures-io trait, and
/// `try_write`) to TCP and Unix streams whose peer is gone, or whose own writing side was shut down, and
/// datagram sends after a shutdown or to a closed peer: each gives an error (`BrokenPipe` or
/// `ConnectionReset`; `ConnectionRefused` for a datagram to a closed peer) and never raises SIGPIPE. Runs
/// in a child process with SIGPIPE back at its default action (kill), which the Rust runtime changes to
/// "ignore" before `main`, hiding a write that raises it.
#[test]
fn writes_to_closed_peers_never_raise_sigpipe() {
    alone("writes_to_closed_peers_never_raise_sigpipe", |_| {
        // SAFETY: `signal` with `SIG_DFL` installs no handler code; this child process runs only this test.
        let old = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        assert_ne!(old, libc::SIG_ERR);
        within(Duration::from_secs(60), || {
            for flavor in Flavor::ALL {
                let rt = flavor.build();
                rt.block_on(async {
                    let broken = |e: std::io::Error| {
                        assert!(
                            matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
                            "{flavor:?}: {e}"
                        );
                    };
                    let chunk = vec![7u8; 64 * 1024];
                    // TCP, peer closed: through the owned write half, until the reset comes back.
                    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
                    let client = TcpStream::connect(tcp.local_addr().unwrap()).await.unwrap();
                    drop(tcp.accept().await.unwrap());
                    let (_r, mut w) = client.into_split();
                    let mut failed = None;
                    for _ in 0..1000 {
                        if let Err(e) = w.write_all(&chunk).await {
                            failed = Some(e);
                            break;
                        }
                        sleep(Duration::from_millis(1)).await;
                    }
                    broken(failed.expect("writes to a closed TCP peer kept succeeding"));
                    let bufs = [IoSlice::new(&chunk), IoSlice::new(b"more")];
                    broken(w.write_vectored(&bufs).await.unwrap_err());
                    // TCP, own writing side shut down: EPIPE at once, plain, vectored, futures-io, try_write.
                    let client = TcpStream::connect(tcp.local_addr().unwrap()).await.unwrap();
                    let _server = tcp.accept().await.unwrap();
                    client.shutdown(Shutdown::Write).unwrap();
                    let mut c = &client;
                    broken(c.write(b"after shutdown").await.unwrap_err());
                    broken(c.write_vectored(&bufs).await.unwrap_err());
                    broken(
                        std::future::poll_fn(|cx| std::pin::Pin::new(&mut c).poll_write(cx, b"x"))
                            .await
                            .unwrap_err(),
                    );
                    broken(client.try_write(b"x").unwrap_err());
                    // Unix stream, peer closed and own side shut down, through every write path.
                    let (a, b) = UnixStream::pair().unwrap();
                    drop(b);
                    let (_r, mut w) = a.into_split();
                    broken(w.write_all(b"gone").await.unwrap_err());
                    broken(w.write_vectored(&bufs).await.unwrap_err());
                    let (a, _b) = UnixStream::pair().unwrap();
                    a.shutdown(Shutdown::Write).unwrap();
                    broken((&a).write(b"x").await.unwrap_err());
                    broken(a.try_write(b"x").unwrap_err());
                    // Unix datagrams: after our own shutdown (EPIPE), and to a closed peer.
                    let (d1, _d2) = UnixDatagram::pair().unwrap();
                    d1.shutdown(Shutdown::Write).unwrap();
                    broken(d1.send(b"x").await.unwrap_err());
                    broken(d1.try_send(b"x").unwrap_err());
                    let (d1, d2) = UnixDatagram::pair().unwrap();
                    drop(d2);
                    let e = d1.send(b"x").await.unwrap_err();
                    assert!(
                        matches!(
                            e.kind(),
                            ErrorKind::ConnectionRefused | ErrorKind::BrokenPipe
                        ),
                        "{flavor:?}: datagram to a closed peer: {e}"
                    );
                });
            }
        });
        println!("no SIGPIPE on either flavour");
    });
}
