//! Tests of the reactor: readiness reaching a waiting waker, registration and shutdown, unpark, `poll_now`
//! beside a holder, stale tokens. `TestSource` (a registered socket pair) is shared with the parker's tests.

use super::*;
use mio::unix::SourceFd;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Wake, Waker};

/// Test support: a connected Unix socket pair whose first end is registered, readable, in a registry;
/// `poke` makes it readable, and dropping it deregisters.
pub(crate) struct TestSource {
    ours: UnixStream,
    peer: UnixStream,
    registration: Option<Registration>,
    registry: Arc<ReactorRegistry>,
}

impl TestSource {
    pub(crate) fn new(registry: &Arc<ReactorRegistry>) -> TestSource {
        let (ours, peer) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let registration = registry
            .register(&mut SourceFd(&ours.as_raw_fd()), Interest::READABLE)
            .unwrap();
        TestSource {
            ours,
            peer,
            registration: Some(registration),
            registry: registry.clone(),
        }
    }

    pub(crate) fn slot(&self) -> &IoSlot {
        &self.registration.as_ref().unwrap().slot
    }

    /// Writes a byte from the peer: our end becomes readable.
    pub(crate) fn poke(&self) {
        use std::io::Write;
        (&self.peer).write_all(b"x").unwrap();
    }
}

impl Drop for TestSource {
    fn drop(&mut self) {
        if let Some(registration) = self.registration.take() {
            let fd = self.ours.as_raw_fd();
            let _ = self.registry.deregister(&mut SourceFd(&fd), registration);
        }
    }
}

struct CountWake(AtomicUsize);
impl Wake for CountWake {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Parks a counting waker on `source`'s read side, which must not be ready yet; returns the count and
/// the waker (to poll again with).
fn wait_for_read(source: &TestSource) -> (Arc<CountWake>, Waker) {
    let counter = Arc::new(CountWake(AtomicUsize::new(0)));
    let waker = Waker::from(counter.clone());
    let pending = source
        .slot()
        .poll_ready(&mut Context::from_waker(&waker), Direction::Read)
        .is_pending();
    assert!(pending, "nothing was written yet");
    (counter, waker)
}

#[test]
fn readiness_reaches_the_waiting_waker() {
    let mut reactor = Reactor::new().unwrap();
    let source = TestSource::new(reactor.registry());

    // A socket with nothing to read: the first turn may report its initial state, or nothing.
    reactor.turn(Some(Duration::ZERO)).unwrap();
    let (counter, waker) = wait_for_read(&source);
    let mut cx = Context::from_waker(&waker);

    source.poke();
    let report = reactor.turn(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(report.io_events, 1);
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
    let std::task::Poll::Ready(ev) = source.slot().poll_ready(&mut cx, Direction::Read) else {
        panic!("readable after the event")
    };
    source.slot().clear_readiness(ev);
    assert!(source
        .slot()
        .poll_ready(&mut cx, Direction::Read)
        .is_pending());
}

#[test]
fn deregister_and_shutdown_free_slots_and_refuse_registration() {
    let reactor = Reactor::new().unwrap();
    let registry = reactor.registry();
    let (a, _b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let fd = a.as_raw_fd();
    assert_eq!(registry.registered(), 0);
    let reg = registry
        .register(&mut SourceFd(&fd), Interest::READABLE)
        .unwrap();
    assert_eq!(registry.registered(), 1);
    let slot = reg.slot.clone();
    registry.deregister(&mut SourceFd(&fd), reg).unwrap();
    assert_eq!(registry.registered(), 0);
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    let std::task::Poll::Ready(ev) = slot.poll_ready(&mut cx, Direction::Read) else {
        panic!("a deregistered slot must not leave its waiter pending")
    };
    assert!(ev.is_shutdown());

    let reg = registry
        .register(&mut SourceFd(&fd), Interest::READABLE)
        .unwrap();
    registry.shutdown();
    let std::task::Poll::Ready(ev) = reg.slot.poll_ready(&mut cx, Direction::Read) else {
        panic!("shutdown must end every wait")
    };
    assert!(ev.is_shutdown());
    let err = registry
        .register(&mut SourceFd(&fd), Interest::WRITABLE)
        .err()
        .expect("registering after shutdown must fail");
    assert!(err.to_string().contains("shut down"), "{err}");
    registry.deregister(&mut SourceFd(&fd), reg).unwrap();
}

#[test]
fn unpark_interrupts_a_blocking_turn() {
    let mut reactor = Reactor::new().unwrap();
    let registry = reactor.registry().clone();
    assert!(!registry.has_sleeper());
    let t = std::thread::spawn(move || {
        // The blocked turn is visible to other threads (the hint `poll_now` callers read).
        let start = std::time::Instant::now();
        while !registry.has_sleeper() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the sleeper never showed"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        registry.unpark();
    });
    let report = reactor.turn(None).unwrap();
    assert!(report.unparked);
    assert!(!reactor.registry().has_sleeper());
    t.join().unwrap();
}

#[test]
fn poll_now_collects_waiting_events_and_passes_an_unpark_on_to_an_announced_holder() {
    let mut reactor = Reactor::new().unwrap();
    let registry = reactor.registry().clone();
    let source = TestSource::new(&registry);
    let (counter, waker) = wait_for_read(&source);
    let mut cx = Context::from_waker(&waker);

    // A thread that does not hold the reactor takes the readable edge and wakes the waiter itself.
    let mut buffer = EventBuffer::with_capacity(4);
    source.poke();
    let report = registry.poll_now(&mut buffer).unwrap();
    assert_eq!(report.io_events, 1);
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
    assert!(source
        .slot()
        .poll_ready(&mut cx, Direction::Read)
        .is_ready());
    // The edge went to one thread only: the reactor's own turn does not see it again.
    assert_eq!(reactor.turn(Some(Duration::ZERO)).unwrap().io_events, 0);

    // An unpark is meant for the reactor's holder: collecting it here writes it again for the holder,
    // which announced itself before it could be unparked.
    registry.announce_sleeper(true);
    registry.unpark();
    let report = registry.poll_now(&mut buffer).unwrap();
    assert_eq!(report, TurnReport::default());
    let report = reactor.turn(Some(Duration::from_secs(5))).unwrap();
    assert!(report.unparked, "the holder must still be woken");

    // With no holder announced, the unpark was for a wait that already ended: it is not written again
    // (it would only bounce between collecting threads).
    registry.announce_sleeper(false);
    registry.unpark();
    assert_eq!(
        registry.poll_now(&mut buffer).unwrap(),
        TurnReport::default()
    );
    let report = reactor.turn(Some(Duration::from_millis(50))).unwrap();
    assert!(
        !report.unparked,
        "a collected unpark with no holder is not passed on"
    );
}

#[test]
fn poll_now_takes_what_fits_and_leaves_the_rest_to_the_holder() {
    let mut reactor = Reactor::new().unwrap();
    let registry = reactor.registry().clone();
    let sources = [TestSource::new(&registry), TestSource::new(&registry)];
    reactor.turn(Some(Duration::ZERO)).unwrap();
    for source in &sources {
        source.poke();
    }
    let mut buffer = EventBuffer::with_capacity(1);
    assert_eq!(registry.poll_now(&mut buffer).unwrap().io_events, 1);
    assert_eq!(reactor.turn(Some(Duration::ZERO)).unwrap().io_events, 1);
    assert_eq!(registry.poll_now(&mut buffer).unwrap().io_events, 0);
}

#[test]
fn stale_tokens_are_ignored() {
    let mut table = SlotTable {
        entries: Vec::new(),
        free: Vec::new(),
        closed: false,
    };
    let t1 = table.insert(Arc::new(IoSlot::new()));
    table.remove(t1);
    let t2 = table.insert(Arc::new(IoSlot::new()));
    assert_eq!(t1.0 & 0xffff_ffff, t2.0 & 0xffff_ffff);
    assert!(table.get(t1).is_none());
    assert!(table.get(t2).is_some());
}
