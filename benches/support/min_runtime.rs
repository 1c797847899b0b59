//! The least runtime that can run the TCP echo loops of `echo.rs`, for `tcp_rtt`'s `floor_min_runtime` row:
//! what any runtime built on `std::task::Waker` pays per round trip above the hand-written floor.
//!
//! One thread; one epoll (`mio::Poll`), edge-triggered; tasks are `Arc<MinTask>` whose waker is the `Arc`
//! itself (`std::task::Wake`), with a `queued` flag so a task sits in the run queue at most once; the run
//! queue and the table of sources are thread-locals with no lock. A source keeps a "readable" and a
//! "writable" flag and one waker per direction; an operation that hits `WouldBlock`, or moves fewer bytes
//! than offered (the socket is drained or full, as ferrio and tokio also assume), clears its flag, and the
//! next one parks the waker; an event sets the flags and wakes the parked wakers. Per wait that is three atomic read-modify-writes, all on the waker's `Arc`: the clone
//! stored by the source, the `queued` swap of the wake, the release after the poll.
//!
//! Left out, next to ferrio: join handles, cancellation, task outcomes and panics, the owned-task list,
//! wakes from other threads (here one panics), registration from other threads (a runtime's reactor is
//! shared by its workers and by any thread that makes a socket), timers, the cooperative budget, stats.

use futures_io::{AsyncRead, AsyncWrite};
use mio::{Events, Interest, Poll, Token};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll as TaskPoll, Wake, Waker};

thread_local! {
    static QUEUE: RefCell<VecDeque<Arc<MinTask>>> = const { RefCell::new(VecDeque::new()) };
    static SOURCES: RefCell<Vec<Source>> = const { RefCell::new(Vec::new()) };
    static POLL: RefCell<Option<(Poll, Events)>> = const { RefCell::new(None) };
    /// The wakers one turn collects (kept, so a turn does not allocate).
    static WOKEN: RefCell<Vec<Waker>> = const { RefCell::new(Vec::new()) };
    /// This thread's number (0: not drawn yet), cheaper to read than `thread::current()`, which clones an
    /// `Arc`.
    static THREAD_NUMBER: Cell<u64> = const { Cell::new(0) };
}

/// A number no other thread of the process has, ever.
fn thread_number() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    THREAD_NUMBER.with(|n| {
        if n.get() == 0 {
            n.set(NEXT.fetch_add(1, Ordering::Relaxed));
        }
        n.get()
    })
}

/// A spawned future and its queue flag.
///
/// Invariant: `future` is borrowed only on `owner`: `run_queued` polls the tasks of its own thread's queue,
/// which only `spawn` and `wake` on that thread fill, and `wake` panics on any other thread. A poll that
/// re-enters `run_queued` (a task calling `block_on`) finds the cell borrowed and panics.
struct MinTask {
    future: RefCell<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>,
    queued: AtomicBool,
    /// `thread_number()` of the thread that spawned it.
    owner: u64,
}

// SAFETY: the `RefCell` is borrowed on the owner thread only (invariant above), so its unsynchronised
// borrow flag is never touched by two threads; the future is `Send`, so dropping the last `Arc` elsewhere
// is allowed; `queued` is atomic.
unsafe impl Sync for MinTask {}

impl Wake for MinTask {
    fn wake(self: Arc<Self>) {
        assert_eq!(
            thread_number(),
            self.owner,
            "min_runtime: woken from another thread"
        );
        if !self.queued.swap(true, Ordering::AcqRel) {
            QUEUE.with(|q| q.borrow_mut().push_back(self));
        }
    }
}

/// Queues `future` on this thread's runtime.
pub fn spawn(future: impl Future<Output = ()> + Send + 'static) {
    let task = Arc::new(MinTask {
        future: RefCell::new(Some(Box::pin(future))),
        queued: AtomicBool::new(true),
        owner: thread_number(),
    });
    QUEUE.with(|q| q.borrow_mut().push_back(task));
}

fn run_queued() {
    while let Some(task) = QUEUE.with(|q| q.borrow_mut().pop_front()) {
        task.queued.store(false, Ordering::Release);
        // The queue's reference becomes the poll's waker (no clone); the task lives while `waker` does.
        let task_ptr = Arc::as_ptr(&task);
        let waker = Waker::from(task);
        // SAFETY: `waker` owns a reference to the task for as long as this borrow lives.
        let task = unsafe { &*task_ptr };
        let mut slot = task
            .future
            .try_borrow_mut()
            .expect("min_runtime: block_on called from inside a task");
        if let Some(future) = slot.as_mut() {
            if future
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready()
            {
                *slot = None;
            }
        }
    }
}

/// Runs the queued tasks and the reactor until `future` completes; spawned tasks stay for the next call.
pub fn block_on<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> T {
    let out = Arc::new(std::sync::Mutex::new(None));
    let slot = out.clone();
    spawn(async move {
        let value = future.await;
        *slot.lock().unwrap() = Some(value);
    });
    loop {
        run_queued();
        if let Some(value) = out.lock().unwrap().take() {
            return value;
        }
        turn();
    }
}

/// One `epoll_wait`, then the flags set and the parked wakers woken.
fn turn() {
    let mut woken = WOKEN.with(|w| std::mem::take(&mut *w.borrow_mut()));
    POLL.with(|p| {
        let mut p = p.borrow_mut();
        let (poll, events) = p.as_mut().expect("min_runtime: no source registered");
        poll.poll(events, None).expect("epoll_wait");
        SOURCES.with(|s| {
            let mut sources = s.borrow_mut();
            for event in events.iter() {
                let source = &mut sources[event.token().0];
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    source.readable.set(true);
                    woken.extend(source.reader.take());
                }
                if event.is_writable() || event.is_write_closed() || event.is_error() {
                    source.writable.set(true);
                    woken.extend(source.writer.take());
                }
            }
        });
    });
    woken.drain(..).for_each(Waker::wake);
    WOKEN.with(|w| *w.borrow_mut() = woken);
}

/// Which half of a source an operation uses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Read,
    Write,
}

struct Source {
    readable: Cell<bool>,
    writable: Cell<bool>,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

/// A TCP stream on this thread's runtime.
pub struct MinStream {
    io: mio::net::TcpStream,
    token: usize,
}

impl MinStream {
    pub fn new(stream: std::net::TcpStream) -> MinStream {
        stream.set_nonblocking(true).unwrap();
        let mut io = mio::net::TcpStream::from_std(stream);
        let token = SOURCES.with(|s| {
            let mut sources = s.borrow_mut();
            sources.push(Source {
                readable: Cell::new(true),
                writable: Cell::new(true),
                reader: None,
                writer: None,
            });
            sources.len() - 1
        });
        POLL.with(|p| {
            let mut p = p.borrow_mut();
            let (poll, _) =
                p.get_or_insert_with(|| (Poll::new().expect("epoll"), Events::with_capacity(64)));
            poll.registry()
                .register(
                    &mut io,
                    Token(token),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .unwrap();
        });
        MinStream { io, token }
    }

    /// Runs `op` if `direction` is ready. On `WouldBlock` clears the flag and, on the next pass, parks the
    /// waker; on a transfer shorter than `len` clears the flag and returns it (the next call parks).
    fn poll_op(
        &mut self,
        cx: &mut Context<'_>,
        direction: Direction,
        len: usize,
        mut op: impl FnMut(&mut mio::net::TcpStream) -> io::Result<usize>,
    ) -> TaskPoll<io::Result<usize>> {
        loop {
            let ready = SOURCES.with(|s| {
                let mut sources = s.borrow_mut();
                let source = &mut sources[self.token];
                let (flag, waiter) = if direction == Direction::Write {
                    (&source.writable, &mut source.writer)
                } else {
                    (&source.readable, &mut source.reader)
                };
                if !flag.get() {
                    match waiter {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        _ => *waiter = Some(cx.waker().clone()),
                    }
                }
                flag.get()
            });
            if !ready {
                return TaskPoll::Pending;
            }
            match op(&mut self.io) {
                Ok(n) => {
                    if n < len {
                        self.clear(direction);
                    }
                    return TaskPoll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear(direction),
                Err(e) => return TaskPoll::Ready(Err(e)),
            }
        }
    }

    fn clear(&self, direction: Direction) {
        SOURCES.with(|s| {
            let sources = s.borrow();
            let source = &sources[self.token];
            if direction == Direction::Write {
                source.writable.set(false);
            } else {
                source.readable.set(false);
            }
        });
    }
}

impl AsyncRead for MinStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> TaskPoll<io::Result<usize>> {
        let len = buf.len();
        self.get_mut()
            .poll_op(cx, Direction::Read, len, |io| io.read(buf))
    }
}

impl AsyncWrite for MinStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> TaskPoll<io::Result<usize>> {
        self.get_mut()
            .poll_op(cx, Direction::Write, buf.len(), |io| io.write(buf))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> TaskPoll<io::Result<()>> {
        TaskPoll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> TaskPoll<io::Result<()>> {
        TaskPoll::Ready(self.io.shutdown(std::net::Shutdown::Write))
    }
}
