//! `AsyncFd` on a descriptor that is not a socket: a pipe made with `pipe2(O_NONBLOCK | O_CLOEXEC)`, written
//! from a plain thread and read in a task (readiness across threads, end of file), and the ready guard's
//! `try_io` clearing readiness on `WouldBlock`.

mod support;

use ferrio::io::{AsyncFd, Interest};
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;
use support::Flavors;

/// A pipe, both ends non-blocking and close-on-exec: (read end, write end).
fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: pipe2 succeeded, so both are open descriptors that nothing else owns.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    (File::from(read), File::from(write))
}

/// Writes all of `data` to a non-blocking `file`, pausing while the pipe is full.
fn write_all_nonblocking(file: &mut File, mut data: &[u8]) {
    while !data.is_empty() {
        match file.write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_micros(200))
            }
            Err(e) => panic!("pipe write: {e}"),
        }
    }
}

#[test]
fn pipe_written_by_a_thread_is_read_by_a_task_to_eof() {
    // Several pipe buffers' worth (64 KiB each), in uneven chunks with pauses, so the task waits often.
    const TOTAL: usize = 512 * 1024;
    Flavors::each(|flavor, rt| {
        let (read, mut write) = pipe();
        let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        let writer = std::thread::spawn(move || {
            for (i, chunk) in data.chunks(7919).enumerate() {
                write_all_nonblocking(&mut write, chunk);
                if i % 16 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            // Dropping `write` closes it: the reader sees end of file.
        });
        let got = rt.block_on(async move {
            let reader = ferrio::spawn(async move {
                let fd = AsyncFd::with_interest(read, Interest::READABLE).unwrap();
                let mut got = Vec::new();
                let mut buf = vec![0u8; 10_000];
                loop {
                    let n = fd
                        .async_io(Interest::READABLE, |mut f| f.read(&mut buf))
                        .await
                        .unwrap();
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                got
            });
            ferrio::time::timeout(Duration::from_secs(30), reader)
                .await
                .expect("reader hung")
                .unwrap()
        });
        writer.join().unwrap();
        assert_eq!(got.len(), TOTAL, "{flavor:?}");
        assert!(got == expected, "{flavor:?}: bytes differ");
    });
}

#[test]
fn ready_guard_try_io_clears_readiness_on_would_block() {
    Flavors::each(|_, rt| {
        let (read, mut write) = pipe();
        // SAFETY: F_GETFD only reads the flags of a descriptor `read` keeps open.
        let fd_flags = unsafe { libc::fcntl(read.as_raw_fd(), libc::F_GETFD) };
        assert!(fd_flags & libc::FD_CLOEXEC != 0);
        rt.block_on(async move {
            let fd = AsyncFd::new(read).unwrap();
            assert_eq!(fd.interest(), Interest::READABLE | Interest::WRITABLE);
            let writer = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                write_all_nonblocking(&mut write, b"wake");
                write
            });
            let mut buf = [0u8; 16];
            let n = loop {
                let mut guard = fd.readable().await.unwrap();
                match guard.try_io(|fd| fd.get_ref().read(&mut buf)) {
                    Ok(result) => break result.unwrap(),
                    Err(_would_block) => continue,
                }
            };
            assert_eq!(&buf[..n], b"wake");
            // Drained: the next try_io says WouldBlock, and a later write wakes the next wait.
            let mut guard = fd.readable().await.unwrap();
            assert!(guard.try_io(|fd| fd.get_ref().read(&mut buf)).is_err());
            let mut write = writer.join().unwrap();
            write_all_nonblocking(&mut write, b"again");
            let n = fd
                .async_io(Interest::READABLE, |mut f| f.read(&mut buf))
                .await
                .unwrap();
            assert_eq!(&buf[..n], b"again");
        });
    });
}
