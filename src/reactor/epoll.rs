//! The one system call the reactor makes itself: `epoll_wait` on the epoll instance `mio::Poll` owns.
//!
//! mio registers sources and owns the epoll file descriptor; waiting is done here instead of through
//! `mio::Poll::poll`, because that needs `&mut Poll` and so only ever one waiting thread. The kernel allows
//! any number of threads to wait on one epoll instance, and each edge-triggered event is handed to exactly
//! one of them. That lets a worker that does not hold the `Reactor` collect events that are already
//! waiting (`ReactorRegistry::poll_now`) instead of leaving them for a thread the kernel must first wake.
//!
//! An `EventBuffer` is one caller's space for the events of one wait and for the wakers that dispatching
//! them collects; the `Reactor` has one, and so does each multi-thread worker.

use mio::Token;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::task::Waker;
use std::time::Duration;

/// Room for the events of one `epoll_wait`, and for the wakers their dispatch collects. `len` counts the
/// entries the last wait filled (at most `events.len()`: epoll_wait returns at most the capacity it is
/// given); every entry is initialised, so reading a stale one is a logic error, never undefined behaviour.
pub(crate) struct EventBuffer {
    events: Vec<libc::epoll_event>,
    len: usize,
    /// Wakers gathered during dispatch, woken after the slot table's lock is released (kept to reuse the
    /// allocation).
    pub(super) to_wake: Vec<Waker>,
}

impl EventBuffer {
    pub(crate) fn with_capacity(capacity: usize) -> EventBuffer {
        assert!(
            capacity > 0,
            "ferrio: an event buffer needs room for at least one event"
        );
        EventBuffer {
            events: vec![libc::epoll_event { events: 0, u64: 0 }; capacity],
            len: 0,
            to_wake: Vec::new(),
        }
    }

    /// The events of the last wait, as (token, epoll flags), and the waker list to fill while dispatching
    /// them.
    pub(super) fn events_and_wakers(
        &mut self,
    ) -> (impl Iterator<Item = (Token, u32)> + '_, &mut Vec<Waker>) {
        let events = self.events[..self.len]
            .iter()
            .map(|e| (Token(e.u64 as usize), e.events));
        (events, &mut self.to_wake)
    }

    /// True if the last wait returned `token`.
    pub(super) fn contains(&self, token: Token) -> bool {
        self.events[..self.len]
            .iter()
            .any(|e| e.u64 as usize == token.0)
    }

    #[cfg(all(test, not(ferrio_loom)))]
    fn count(&self) -> usize {
        self.len
    }
}

/// epoll's timeout argument: -1 for none; otherwise milliseconds, rounded up (a short wait never becomes a
/// busy look) and capped at `i32::MAX`.
fn timeout_ms(timeout: Option<Duration>) -> i32 {
    match timeout {
        None => -1,
        Some(d) => d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32,
    }
}

/// Waits on the epoll instance `epfd` for up to `timeout` (`None`: without limit; zero: just look) and fills
/// `buffer`. `Interrupted` is returned as is: the caller decides what a signal means.
pub(crate) fn wait(
    epfd: BorrowedFd<'_>,
    buffer: &mut EventBuffer,
    timeout: Option<Duration>,
) -> io::Result<()> {
    let capacity = buffer.events.len().min(i32::MAX as usize) as i32;
    buffer.len = 0;
    // SAFETY: `events` is a live, writable array of `events.len() >= capacity` epoll_event structs, and
    // epoll_wait writes at most `capacity` entries. `epfd` is borrowed for the call, so it stays open and
    // cannot be closed and reused for another file meanwhile.
    let n = unsafe {
        libc::epoll_wait(
            epfd.as_raw_fd(),
            buffer.events.as_mut_ptr(),
            capacity,
            timeout_ms(timeout),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buffer.len = n as usize;
    Ok(())
}

#[cfg(all(test, not(ferrio_loom)))]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn timeouts_round_up_to_milliseconds_and_saturate() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_nanos(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_millis(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_nanos(1_000_001))), 2);
        assert_eq!(timeout_ms(Some(Duration::MAX)), i32::MAX);
    }

    #[test]
    fn zero_timeout_looks_and_a_short_one_waits() {
        let poll = mio::Poll::new().unwrap();
        let mut buffer = EventBuffer::with_capacity(4);
        let start = std::time::Instant::now();
        wait(poll.registry().as_fd(), &mut buffer, Some(Duration::ZERO)).unwrap();
        assert_eq!(buffer.count(), 0);
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "a zero timeout must not wait"
        );
        // 10 us must wait (rounded up to 1 ms), not return at once.
        let start = std::time::Instant::now();
        wait(
            poll.registry().as_fd(),
            &mut buffer,
            Some(Duration::from_micros(10)),
        )
        .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(1));
    }

    #[test]
    fn a_descriptor_that_is_not_epoll_is_an_error() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut buffer = EventBuffer::with_capacity(1);
        let err = wait(a.as_fd(), &mut buffer, Some(Duration::ZERO)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    }
}
