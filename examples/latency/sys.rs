//! The bare Linux calls the floors use, with no runtime in between: epoll, eventfd, timerfd.
//!
//! Who calls it: the floor subjects in `wake.rs`, `timer.rs` and `tcp.rs`. Every `unsafe` block is one
//! system call on a file descriptor this module owns (or a caller's live socket) and a buffer of the right
//! size; a -1 return becomes `io::Error` in [`check`]. Interrupted waits (`EINTR`) are retried.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Turns a -1 return into the thread's `errno` as an `io::Error`.
fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// An epoll instance with level-triggered registrations.
pub struct Epoll {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: plain system call with an integer flag.
        let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        Ok(Epoll {
            // SAFETY: `fd` was just returned by epoll_create1 and nothing else owns it.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 8],
        })
    }

    /// Registers `fd` for readability (level-triggered), reported with `token`.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: both descriptors are open; `event` is a valid epoll_event for the call's duration.
        check(unsafe {
            libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event)
        })?;
        Ok(())
    }

    /// Blocks in `epoll_wait` (no timeout) until at least one registered fd is ready; returns whether
    /// `token` is among the ready ones.
    pub fn wait_for(&mut self, token: u64) -> io::Result<bool> {
        loop {
            // SAFETY: `events` holds `len` initialised epoll_event slots that the kernel may overwrite.
            let n = unsafe {
                libc::epoll_wait(
                    self.fd.as_raw_fd(),
                    self.events.as_mut_ptr(),
                    self.events.len() as libc::c_int,
                    -1,
                )
            };
            match check(n) {
                Ok(n) => {
                    return Ok(self.events[..n as usize].iter().any(|e| {
                        let t = e.u64;
                        t == token
                    }))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// `wait_for(token)` until it says yes.
    pub fn wait_until(&mut self, token: u64) -> io::Result<()> {
        while !self.wait_for(token)? {}
        Ok(())
    }
}

/// An eventfd counter: `signal` adds 1 (a `write`), `drain` reads the count back to 0.
pub struct EventFd(OwnedFd);

impl EventFd {
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: plain system call with integer arguments.
        let fd = check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by eventfd and nothing else owns it.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    pub fn signal(&self) -> io::Result<()> {
        let one: u64 = 1;
        // SAFETY: writes the 8 bytes of `one` to an open eventfd.
        let n = unsafe { libc::write(self.raw(), (&one as *const u64).cast(), 8) };
        check(n as libc::c_int).map(drop)
    }

    pub fn drain(&self) -> io::Result<u64> {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into `count` from an open eventfd.
        let n = unsafe { libc::read(self.raw(), (&mut count as *mut u64).cast(), 8) };
        check(n as libc::c_int).map(|_| count)
    }
}

/// A `CLOCK_MONOTONIC` timerfd, armed one-shot and relative.
pub struct TimerFd(OwnedFd);

impl TimerFd {
    pub fn new() -> io::Result<TimerFd> {
        // SAFETY: plain system call with integer arguments.
        let fd = check(unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by timerfd_create and nothing else owns it.
        Ok(TimerFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }

    /// Arms the timer to expire once, `d` from now.
    pub fn arm(&self, d: Duration) -> io::Result<()> {
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: d.as_secs() as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: `spec` is a valid itimerspec; the old value is not asked for (null).
        check(unsafe { libc::timerfd_settime(self.raw(), 0, &spec, std::ptr::null_mut()) })?;
        Ok(())
    }

    /// Reads the expiration count (resets readability).
    pub fn consume(&self) -> io::Result<u64> {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into `count` from an open timerfd.
        let n = unsafe { libc::read(self.raw(), (&mut count as *mut u64).cast(), 8) };
        check(n as libc::c_int).map(|_| count)
    }
}
