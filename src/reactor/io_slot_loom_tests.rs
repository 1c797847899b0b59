//! Loom models of `IoSlot`: a task that waits on a source while the reactor delivers an event for it. Each
//! model is a small "socket" (an atomic count of bytes queued) read by a task through `poll_ready` /
//! `clear_readiness` exactly as `AsyncFd::poll_io` does, while another thread queues bytes and calls
//! `set_readiness` as the reactor's dispatch does. A lost wake-up leaves the task blocked for good, which
//! loom reports as a deadlock.

use super::*;
use loom::future::block_on;
use loom::sync::atomic::AtomicUsize as QueuedBytes;
use loom::sync::Arc;
use loom::thread;
use std::future::poll_fn;
use std::sync::atomic::Ordering::SeqCst;

/// Runs a model with at most 4 preemptions unless `LOOM_MAX_PREEMPTIONS` says otherwise (the short CI run
/// uses 2): unbounded, the task's retry loop and the spurious wake-ups `block_on` explores make these models
/// run for tens of minutes. A bound of 2 already reaches the interleavings that break either guard of the
/// protocol (the re-check under the lock, the tick test of the clear); 4 gives a wider margin.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(4);
    }
    builder.check(f);
}

/// The reactor's part: queue `n` bytes, then report the edge and wake what it collected (after the slot's
/// lock is released, as `ReactorRegistry::dispatch` does).
fn deliver(slot: &IoSlot, bytes: &QueuedBytes, n: usize, flags: libc::c_int) {
    bytes.fetch_add(n, SeqCst);
    let mut to_wake = Vec::new();
    slot.set_readiness(flags as u32, &mut to_wake);
    to_wake.into_iter().for_each(Waker::wake);
}

/// The task's part: read until `want` bytes came, parking on the slot whenever the "socket" is empty.
async fn read_until(slot: &IoSlot, bytes: &QueuedBytes, want: usize) {
    let mut got = 0;
    poll_fn(|cx| loop {
        let event = match slot.poll_ready(cx, Direction::Read) {
            Poll::Ready(event) => event,
            Poll::Pending => return Poll::Pending,
        };
        got += bytes.swap(0, SeqCst);
        if got >= want {
            return Poll::Ready(());
        }
        // `WouldBlock`: clear what was seen, then look again (the slot decides whether to park).
        slot.clear_readiness(event);
    })
    .await
}

/// The readiness the task saw is stale (an earlier event whose bytes it already read), so its read hits
/// `WouldBlock` and it clears that readiness while the reactor reports new bytes: whichever order the clear
/// and the new event take, the task must see the bytes or be woken for them.
#[test]
fn a_clear_racing_a_new_event_never_loses_it() {
    model(|| {
        let slot = Arc::new(IoSlot::new());
        let bytes = Arc::new(QueuedBytes::new(0));
        // The earlier event: readable, nothing queued any more.
        slot.set_readiness(libc::EPOLLIN as u32, &mut Vec::new());
        let reactor = {
            let (slot, bytes) = (slot.clone(), bytes.clone());
            thread::spawn(move || deliver(&slot, &bytes, 1, libc::EPOLLIN))
        };
        block_on(read_until(&slot, &bytes, 1));
        reactor.join().unwrap();
    });
}

/// Two events in a row from two dispatching threads (a multi-thread worker collecting beside the reactor's
/// holder), while the task parks and re-parks between them: both bytes arrive.
#[test]
fn two_events_from_two_threads_both_reach_the_task() {
    model(|| {
        let slot = Arc::new(IoSlot::new());
        let bytes = Arc::new(QueuedBytes::new(0));
        let dispatchers: Vec<_> = (0..2)
            .map(|_| {
                let (slot, bytes) = (slot.clone(), bytes.clone());
                thread::spawn(move || deliver(&slot, &bytes, 1, libc::EPOLLIN))
            })
            .collect();
        block_on(read_until(&slot, &bytes, 2));
        for dispatcher in dispatchers {
            dispatcher.join().unwrap();
        }
    });
}

/// A writer's event does not wake or satisfy the reader, and the reader's does not clear the writer's
/// readiness: an `EPOLLOUT` edge racing a reader that parks leaves `WRITABLE` set and the reader waiting for
/// its own byte.
#[test]
fn directions_do_not_steal_each_other() {
    model(|| {
        let slot = Arc::new(IoSlot::new());
        let bytes = Arc::new(QueuedBytes::new(0));
        let writer_edge = {
            let slot = slot.clone();
            thread::spawn(move || {
                let mut to_wake = Vec::new();
                slot.set_readiness(libc::EPOLLOUT as u32, &mut to_wake);
                assert!(to_wake.is_empty(), "no writer waits");
            })
        };
        let reactor = {
            let (slot, bytes) = (slot.clone(), bytes.clone());
            thread::spawn(move || deliver(&slot, &bytes, 1, libc::EPOLLIN))
        };
        block_on(read_until(&slot, &bytes, 1));
        writer_edge.join().unwrap();
        reactor.join().unwrap();
        assert!(
            slot.ready_now(Direction::Write).is_some(),
            "the write readiness survives the reader's clears"
        );
    });
}
