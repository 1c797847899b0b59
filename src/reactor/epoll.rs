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
use std::os::fd::RawFd;
use std::task::Waker;
use std::time::Duration;

/// Room for the events of one `epoll_wait`, and for the wakers their dispatch collects.
///
/// Invariant: `len <= events.len()`; `len` is set only from `epoll_wait`'s return value, which is at most the
/// capacity passed to it, so only entries the kernel wrote are ever read.
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

    #[cfg(test)]
    fn count(&self) -> usize {
        self.len
    }
}

/// Waits on `epfd` for up to `timeout` (`None`: without limit; zero: just look) and fills `buffer`.
///
/// A timeout below one millisecond is rounded up to one (epoll's unit), so a short wait never becomes a
/// busy look. `Interrupted` is returned as is: the caller decides what a signal means.
pub(crate) fn wait(
    epfd: RawFd,
    buffer: &mut EventBuffer,
    timeout: Option<Duration>,
) -> io::Result<()> {
    let timeout_ms = match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            ms.min(i32::MAX as u128) as i32
        }
    };
    let capacity = buffer.events.len().min(i32::MAX as usize) as i32;
    buffer.len = 0;
    // SAFETY: `events` is a live, writable array of at least `capacity` epoll_event structs, and the kernel
    // writes at most `capacity` entries into it (the `EventBuffer` invariant). `epfd` is only a number: a
    // closed one fails with EBADF; callers pass the registry's descriptor, open while they can call this.
    let n = unsafe { libc::epoll_wait(epfd, buffer.events.as_mut_ptr(), capacity, timeout_ms) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buffer.len = n as usize;
    Ok(())
}

#[cfg(all(test, not(ferrio_loom)))]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn zero_timeout_returns_at_once_and_rounding_goes_up() {
        let poll = mio::Poll::new().unwrap();
        let mut buffer = EventBuffer::with_capacity(4);
        let start = std::time::Instant::now();
        wait(poll.as_raw_fd(), &mut buffer, Some(Duration::ZERO)).unwrap();
        assert_eq!(buffer.count(), 0);
        // 10 us must wait (rounded up to 1 ms), not return at once.
        wait(
            poll.as_raw_fd(),
            &mut buffer,
            Some(Duration::from_micros(10)),
        )
        .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(1));
    }

    #[test]
    fn a_bad_descriptor_is_an_error() {
        let mut buffer = EventBuffer::with_capacity(1);
        let err = wait(-1, &mut buffer, Some(Duration::ZERO)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }
}
