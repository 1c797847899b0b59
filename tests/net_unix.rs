//! Unix-domain streams and listeners on both flavours: echo with many connections, owned halves in two
//! tasks and reunited, half-close, errors surfaced (missing path, stale socket file, path in use),
//! BrokenPipe instead of SIGPIPE (checked in a child process with the signal's default action), peek, peer
//! credentials, abstract names, close-on-exec for every socket type, and std conversions. (Datagrams:
//! `net_unix_datagram.rs`.)

mod support;

use ferrio::io::{AsyncReadExt, AsyncWriteExt};
use ferrio::net::{UnixDatagram, UnixListener, UnixStream};
use std::io::ErrorKind;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::{Flavors, TempPath};

/// Generous bound for anything that should take milliseconds: only a hang trips it.
const HANG: Duration = Duration::from_secs(20);

/// A name in the abstract namespace, unique to this process and call.
fn abstract_name(tag: &str) -> std::os::unix::net::SocketAddr {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("ferrio-{tag}-{}-{n}", std::process::id());
    std::os::unix::net::SocketAddr::from_abstract_name(name).unwrap()
}

async fn echo_server(listener: UnixListener) {
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

#[test]
fn stream_echo_with_many_connections() {
    Flavors::each(|_, rt| {
        let path = TempPath::new("echo");
        rt.block_on(async {
            let listener = UnixListener::bind(&path).unwrap();
            assert_eq!(
                listener.local_addr().unwrap().as_pathname(),
                Some(path.as_ref())
            );
            let server = ferrio::spawn(echo_server(listener));
            let clients: Vec<_> = (0..64u32)
                .map(|i| {
                    let path = path.0.clone();
                    ferrio::spawn(async move {
                        let mut s = UnixStream::connect(&path).await.unwrap();
                        assert_eq!(s.peer_addr().unwrap().as_pathname(), Some(path.as_path()));
                        assert!(s.local_addr().unwrap().is_unnamed());
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
                sum += ferrio::time::timeout(HANG, c).await.unwrap().unwrap();
            }
            assert_eq!(sum, (0..64).sum::<u32>());
            server.cancel();
        });
    });
}

#[test]
fn owned_halves_work_from_two_tasks_and_reunite() {
    // More than the socket buffers hold: the writer can only finish if the reader runs at the same time.
    const TOTAL: usize = 4 << 20;
    Flavors::each(|_, rt| {
        let path = TempPath::new("split");
        rt.block_on(async {
            let listener = UnixListener::bind(&path).unwrap();
            let server = ferrio::spawn(echo_server(listener));
            let stream = UnixStream::connect(&path).await.unwrap();
            let (mut read_half, mut write_half) = stream.into_split();
            let writer = ferrio::spawn(async move {
                let chunk: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
                for _ in 0..TOTAL / chunk.len() {
                    write_half.write_all(&chunk).await.unwrap();
                }
                write_half
            });
            let reader = ferrio::spawn(async move {
                let mut buf = vec![0u8; 32 * 1024];
                let mut seen = 0usize;
                while seen < TOTAL {
                    let n = read_half.read(&mut buf).await.unwrap();
                    assert!(n > 0, "early end of stream after {seen} bytes");
                    for (i, &b) in buf[..n].iter().enumerate() {
                        assert_eq!(b, ((seen + i) % 256) as u8, "byte {}", seen + i);
                    }
                    seen += n;
                }
                read_half
            });
            let write_half = ferrio::time::timeout(HANG, writer).await.unwrap().unwrap();
            let read_half = ferrio::time::timeout(HANG, reader).await.unwrap().unwrap();
            assert!(read_half.as_ref().peer_addr().is_ok());
            let mut stream = read_half.reunite(write_half).unwrap();
            // Reuniting did not shut the writing side down: the stream still echoes.
            stream.write_all(b"again").await.unwrap();
            let mut back = [0u8; 5];
            stream.read_exact(&mut back).await.unwrap();
            assert_eq!(&back, b"again");

            // Halves of two different streams do not reunite.
            let (a, _a_peer) = UnixStream::pair().unwrap();
            let (b, _b_peer) = UnixStream::pair().unwrap();
            let (a_read, _a_write) = a.into_split();
            let (_b_read, b_write) = b.into_split();
            assert!(a_read.reunite(b_write).is_err());
            server.cancel();
        });
    });
}

#[test]
fn borrowed_halves_and_shared_references() {
    Flavors::each(|_, rt| {
        rt.block_on(async {
            let (mut a, b) = UnixStream::pair().unwrap();
            let (mut read, mut write) = a.split();
            write.write_all(b"to b").await.unwrap();
            let mut buf = [0u8; 4];
            (&b).read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"to b");
            (&b).write_all(b"to a").await.unwrap();
            read.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"to a");
        });
    });
}

#[test]
fn shutdown_write_gives_the_peer_end_of_stream() {
    Flavors::each(|_, rt| {
        rt.block_on(async {
            let (mut a, mut b) = UnixStream::pair().unwrap();
            a.write_all(b"last words").await.unwrap();
            a.shutdown(Shutdown::Write).unwrap();
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"last words");
            assert_eq!(
                b.read(&mut [0u8; 8]).await.unwrap(),
                0,
                "end of stream stays"
            );
            // The other direction is still open.
            b.write_all(b"reply").await.unwrap();
            let mut reply = [0u8; 5];
            a.read_exact(&mut reply).await.unwrap();
            assert_eq!(&reply, b"reply");

            // `close` (poll_close) and dropping an owned write half do the same.
            b.close().await.unwrap();
            assert_eq!(a.read(&mut [0u8; 8]).await.unwrap(), 0);
            let (c, d) = UnixStream::pair().unwrap();
            let (_c_read, c_write) = c.into_split();
            drop(c_write);
            assert_eq!((&d).read(&mut [0u8; 8]).await.unwrap(), 0);
        });
    });
}

#[test]
fn peek_waits_for_data_and_does_not_consume_it() {
    Flavors::each(|_, rt| {
        rt.block_on(async {
            let (mut a, mut b) = UnixStream::pair().unwrap();
            let mut buf = [0u8; 16];
            // Nothing written yet: the peek parks this task's waker, which the write below must wake.
            std::future::poll_fn(|cx| {
                assert!(b.poll_peek(cx, &mut buf).is_pending());
                std::task::Poll::Ready(())
            })
            .await;
            a.write_all(b"hello").await.unwrap();
            let n = ferrio::time::timeout(HANG, b.peek(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&buf[..n], b"hello");
            let mut again = [0u8; 3];
            assert_eq!(b.peek(&mut again).await.unwrap(), 3, "a short buffer");
            assert_eq!(&again, b"hel");
            let mut read = [0u8; 5];
            b.read_exact(&mut read).await.unwrap();
            assert_eq!(&read, b"hello", "peeking consumed nothing");
            assert_eq!(
                b.try_read(&mut read).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
            a.shutdown(Shutdown::Write).unwrap();
            assert_eq!(b.peek(&mut read).await.unwrap(), 0, "end of stream");
        });
    });
}

#[test]
fn connect_errors_are_surfaced() {
    Flavors::each(|_, rt| {
        let missing = TempPath::new("missing");
        let stale = TempPath::new("stale");
        rt.block_on(async {
            let err = UnixStream::connect(&missing).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

            // A listener that is gone leaves its file: connecting is refused, binding finds it in use.
            drop(UnixListener::bind(&stale).unwrap());
            assert!(
                stale.0.exists(),
                "dropping a listener keeps its socket file"
            );
            let err = UnixStream::connect(&stale).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");

            let too_long = std::env::temp_dir().join("x".repeat(200));
            let err = UnixStream::connect(&too_long).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        });
    });
}

#[test]
fn connect_waits_while_the_backlog_is_full() {
    Flavors::each(|flavor, rt| {
        let path = TempPath::new("backlog");
        rt.block_on(async {
            let std_listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
            // Listening again only changes the backlog: 0 queues one connection, and refuses the next.
            // SAFETY: `listen` on a descriptor `std_listener` keeps open.
            assert_eq!(unsafe { libc::listen(std_listener.as_raw_fd(), 0) }, 0);
            let listener = UnixListener::from_std(std_listener).unwrap();
            let _queued = UnixStream::connect(&path).await.unwrap();
            let second = ferrio::spawn(UnixStream::connect(path.0.clone()));
            // However long this waits, the second connect cannot finish before an accept makes room.
            ferrio::time::sleep(Duration::from_millis(20)).await;
            assert!(
                !second.is_done(),
                "{flavor:?}: connected past a full backlog"
            );
            let _first = listener.accept().await.unwrap();
            let second = ferrio::time::timeout(HANG, second).await.unwrap().unwrap();
            second.unwrap();
            listener.accept().await.unwrap();
        });
    });
}

#[test]
fn bind_on_an_existing_path_is_addr_in_use() {
    Flavors::each(|_, rt| {
        let path = TempPath::new("inuse");
        rt.block_on(async {
            let _live = UnixListener::bind(&path).unwrap();
            let err = UnixListener::bind(&path).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
            let err = UnixDatagram::bind(&path).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
        });
        // A plain file is in the way just the same; removing it frees the path.
        drop(path);
        let path = TempPath::new("inuse-file");
        std::fs::write(&path.0, b"not a socket").unwrap();
        rt.block_on(async {
            let err = UnixListener::bind(&path).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
            std::fs::remove_file(&path.0).unwrap();
            UnixListener::bind(&path).unwrap();
        });
    });
}

/// Set in the child process that `write_to_a_closed_peer_is_broken_pipe` starts.
const SIGPIPE_CHILD: &str = "FERRIO_TEST_SIGPIPE_DEFAULT";

fn writes_to_a_closed_peer_fail_with_broken_pipe() {
    Flavors::each(|flavor, rt| {
        rt.block_on(async {
            let (mut a, b) = UnixStream::pair().unwrap();
            drop(b);
            let err = a.write_all(b"anyone?").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{flavor:?} write: {err}");
            let bufs = [
                std::io::IoSlice::new(b"vec"),
                std::io::IoSlice::new(b"tored"),
            ];
            let err = a.write_vectored(&bufs).await.unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::BrokenPipe,
                "{flavor:?} vectored: {err}"
            );
            a.writable().await.unwrap();
            let err = a.try_write(b"now").unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::BrokenPipe,
                "{flavor:?} try_write: {err}"
            );
        });
    });
}

#[test]
fn write_to_a_closed_peer_is_broken_pipe() {
    if std::env::var_os(SIGPIPE_CHILD).is_some() {
        // The Rust runtime ignores SIGPIPE before `main`; restore the default action (terminate), as a C
        // host program or a Rust one built with `-Zon-broken-pipe=inherit` would have it.
        // SAFETY: `signal` with `SIG_DFL` installs no handler code; this child process runs only this test.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        writes_to_a_closed_peer_fail_with_broken_pipe();
        return;
    }
    writes_to_a_closed_peer_fail_with_broken_pipe();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "write_to_a_closed_peer_is_broken_pipe",
            "--test-threads=1",
        ])
        .env(SIGPIPE_CHILD, "1")
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        output.status.signal(),
        None,
        "the child was killed by a signal (SIGPIPE is {})",
        libc::SIGPIPE
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn peer_cred_names_this_process() {
    Flavors::each(|_, rt| {
        let path = TempPath::new("cred");
        rt.block_on(async {
            // SAFETY: these calls only read the process's ids.
            let (pid, uid, gid) = unsafe { (libc::getpid(), libc::geteuid(), libc::getegid()) };
            let (a, _b) = UnixStream::pair().unwrap();
            let cred = a.peer_cred().unwrap();
            assert_eq!((cred.pid(), cred.uid(), cred.gid()), (Some(pid), uid, gid));

            let listener = UnixListener::bind(&path).unwrap();
            let client = UnixStream::connect(&path).await.unwrap();
            let (server_side, _) = listener.accept().await.unwrap();
            for s in [&client, &server_side] {
                let cred = s.peer_cred().unwrap();
                assert_eq!((cred.pid(), cred.uid(), cred.gid()), (Some(pid), uid, gid));
            }
        });
    });
}

#[test]
fn abstract_names_need_no_file() {
    Flavors::each(|_, rt| {
        rt.block_on(async {
            let name = abstract_name("listener");
            let listener = UnixListener::bind_addr(&name).unwrap();
            assert_eq!(
                listener.local_addr().unwrap().as_abstract_name(),
                name.as_abstract_name()
            );
            let mut client = UnixStream::connect_addr(&name).await.unwrap();
            let (mut conn, _) = listener.accept().await.unwrap();
            client.write_all(b"abstract").await.unwrap();
            let mut buf = [0u8; 8];
            conn.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"abstract");
            drop(listener);
            let err = UnixStream::connect_addr(&name).await.unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::ConnectionRefused,
                "the name went with the socket"
            );
        });
    });
}

/// Whether `fd` has `FD_CLOEXEC` and `O_NONBLOCK`.
fn fd_flags(fd: RawFd) -> (bool, bool) {
    // SAFETY: F_GETFD and F_GETFL only read the flags of a descriptor the caller keeps open.
    let (fd_flags, fl_flags) = unsafe {
        (
            libc::fcntl(fd, libc::F_GETFD),
            libc::fcntl(fd, libc::F_GETFL),
        )
    };
    assert!(fd_flags >= 0 && fl_flags >= 0, "fcntl failed on fd {fd}");
    (
        fd_flags & libc::FD_CLOEXEC != 0,
        fl_flags & libc::O_NONBLOCK != 0,
    )
}

#[test]
fn every_socket_is_close_on_exec_and_non_blocking() {
    Flavors::each(|_, rt| {
        let path = TempPath::new("cloexec");
        let dgram_path = TempPath::new("cloexec-dgram");
        rt.block_on(async {
            let listener = UnixListener::bind(&path).unwrap();
            let client = UnixStream::connect(&path).await.unwrap();
            let (accepted, _) = listener.accept().await.unwrap();
            let (p, q) = UnixStream::pair().unwrap();
            let (dp, dq) = UnixDatagram::pair().unwrap();
            let bound = UnixDatagram::bind(&dgram_path).unwrap();
            let unbound = UnixDatagram::unbound().unwrap();
            let udp = ferrio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let fds = [
                ("listener", listener.as_raw_fd()),
                ("client", client.as_raw_fd()),
                ("accepted", accepted.as_raw_fd()),
                ("pair", p.as_raw_fd()),
                ("pair", q.as_raw_fd()),
                ("dgram pair", dp.as_raw_fd()),
                ("dgram pair", dq.as_raw_fd()),
                ("dgram bound", bound.as_raw_fd()),
                ("dgram unbound", unbound.as_raw_fd()),
                ("udp", udp.as_raw_fd()),
            ];
            for (what, fd) in fds {
                assert_eq!(fd_flags(fd), (true, true), "{what}: (cloexec, nonblocking)");
            }
        });
    });
}

#[test]
fn std_conversions_keep_the_sockets() {
    Flavors::each(|_, rt| {
        let path = TempPath::new("std");
        rt.block_on(async {
            let std_listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
            let listener = UnixListener::from_std(std_listener).unwrap();
            let std_client = std::os::unix::net::UnixStream::connect(&path).unwrap();
            let mut client = UnixStream::from_std(std_client).unwrap();
            let (conn, _) = listener.accept().await.unwrap();
            client.write_all(b"from std").await.unwrap();
            let mut std_conn = conn.into_std().unwrap();
            std_conn.set_nonblocking(false).unwrap();
            let mut buf = [0u8; 8];
            std::io::Read::read_exact(&mut std_conn, &mut buf).unwrap();
            assert_eq!(&buf, b"from std");
            let back = listener.into_std().unwrap();
            assert_eq!(
                back.local_addr().unwrap().as_pathname(),
                Some(path.as_ref())
            );

            let (std_a, std_b) = std::os::unix::net::UnixDatagram::pair().unwrap();
            let a = UnixDatagram::from_std(std_a).unwrap();
            std_b.send(b"dgram").unwrap();
            assert_eq!(a.recv(&mut buf).await.unwrap(), 5);
            let std_a = a.into_std().unwrap();
            std_a.set_nonblocking(false).unwrap();
            std_b.send(b"blocking").unwrap();
            assert_eq!(std_a.recv(&mut buf).unwrap(), 8);
            assert!(format!("{client:?}").starts_with("UnixStream"));
        });
    });
}
