//! Shared helpers of the integration tests: drop guards, both runtime flavours, a manual gate future, event
//! logs, panic-message extraction, a watchdog for tests that could hang, and /proc thread inspection.
//!
//! Every test file includes this with `mod support;` and uses only part of it. Submodules, used by a few
//! files each: `asyncio_order` (the current-thread order scenarios), `example_servers` and `process` (the
//! example programs as child processes), `rng`, `task_slot` (handles returned by cancelled tasks), `tcp`.
#![allow(dead_code)]

pub mod asyncio_order;
pub mod example_servers;
pub mod process;
pub mod rng;
pub mod task_slot;
pub mod tcp;

use futures_channel::oneshot;
use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------------------
// Drop guards
// ---------------------------------------------------------------------------------------------------------

/// Counts how many of its guards have been dropped (a future holding a guard counts its own drop).
#[derive(Clone, Default)]
pub struct DropCounter {
    dropped: Arc<AtomicUsize>,
    created: Arc<AtomicUsize>,
}

impl DropCounter {
    pub fn new() -> DropCounter {
        DropCounter::default()
    }

    /// A guard that bumps the counter when dropped. Move it into the future under test.
    pub fn guard(&self) -> DropGuard {
        self.created.fetch_add(1, SeqCst);
        DropGuard {
            dropped: self.dropped.clone(),
        }
    }

    /// Guards dropped so far.
    pub fn dropped(&self) -> usize {
        self.dropped.load(SeqCst)
    }

    /// Guards created so far.
    pub fn created(&self) -> usize {
        self.created.load(SeqCst)
    }

    /// Guards created and not dropped yet.
    pub fn alive(&self) -> usize {
        self.created() - self.dropped()
    }
}

/// Bumps its `DropCounter` once, when dropped.
pub struct DropGuard {
    dropped: Arc<AtomicUsize>,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, SeqCst);
    }
}

/// Records the id of the thread its guards are dropped on.
#[derive(Clone, Default)]
pub struct ThreadDropProbe {
    drops: Arc<Mutex<Vec<ThreadId>>>,
}

impl ThreadDropProbe {
    pub fn new() -> ThreadDropProbe {
        ThreadDropProbe::default()
    }

    pub fn guard(&self) -> ThreadDropGuard {
        ThreadDropGuard {
            drops: self.drops.clone(),
        }
    }

    /// The threads the guards were dropped on, in drop order.
    pub fn drops(&self) -> Vec<ThreadId> {
        self.drops.lock().unwrap().clone()
    }
}

/// Pushes `std::thread::current().id()` into its probe when dropped.
pub struct ThreadDropGuard {
    drops: Arc<Mutex<Vec<ThreadId>>>,
}

impl Drop for ThreadDropGuard {
    fn drop(&mut self) {
        self.drops.lock().unwrap().push(std::thread::current().id());
    }
}

// ---------------------------------------------------------------------------------------------------------
// Temporary paths
// ---------------------------------------------------------------------------------------------------------

/// A path in the temp directory unique to this process and call (`ferrio-PID-N-TAG`, so `TAG` may carry an
/// extension); a stale file there is removed first, and the file is removed on drop.
pub struct TempPath(pub std::path::PathBuf);

impl TempPath {
    pub fn new(tag: &str) -> TempPath {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, SeqCst);
        let path = std::env::temp_dir().join(format!("ferrio-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TempPath(path)
    }
}

impl AsRef<std::path::Path> for TempPath {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------------------
// Flavours
// ---------------------------------------------------------------------------------------------------------

/// The two executor flavours the tests run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// Multi-thread, 2 workers.
    MultiThread,
    /// Current-thread.
    CurrentThread,
}

impl Flavor {
    pub const ALL: [Flavor; 2] = [Flavor::MultiThread, Flavor::CurrentThread];

    /// A builder configured for this flavour.
    pub fn builder(self) -> ferrio::Builder {
        let mut b = ferrio::Runtime::builder();
        match self {
            Flavor::MultiThread => {
                b.multi_thread().worker_threads(2);
            }
            Flavor::CurrentThread => {
                b.current_thread();
            }
        }
        b
    }

    pub fn build(self) -> ferrio::Runtime {
        self.builder()
            .build()
            .unwrap_or_else(|e| panic!("cannot build a {self:?} runtime: {e}"))
    }
}

/// Builds both flavours (multi-thread with 2 workers, current-thread).
pub struct Flavors;

impl Flavors {
    /// Calls `f` once per flavour with a fresh runtime of that flavour (dropped after `f` returns).
    pub fn each(mut f: impl FnMut(Flavor, ferrio::Runtime)) {
        for flavor in Flavor::ALL {
            f(flavor, flavor.build());
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Gate: a future that completes when the test opens it
// ---------------------------------------------------------------------------------------------------------

/// Opens its `Gate`.
pub struct GateOpener(oneshot::Sender<()>);

impl GateOpener {
    pub fn open(self) {
        // The gate may be gone already (its task was cancelled): nothing to open then.
        let _ = self.0.send(());
    }
}

/// Completes with `true` when opened, or `false` if its opener was dropped unopened.
pub struct Gate(oneshot::Receiver<()>);

impl Future for Gate {
    type Output = bool;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        Pin::new(&mut self.0).poll(cx).map(|r| r.is_ok())
    }
}

/// A manual oneshot gate: `gate.await` stays pending until `opener.open()`.
pub fn gate() -> (GateOpener, Gate) {
    let (tx, rx) = oneshot::channel();
    (GateOpener(tx), Gate(rx))
}

/// `n` gates: the openers and the gates, in the same order.
pub fn gates(n: usize) -> (Vec<GateOpener>, Vec<Gate>) {
    (0..n).map(|_| gate()).unzip()
}

// ---------------------------------------------------------------------------------------------------------
// Event logs
// ---------------------------------------------------------------------------------------------------------

/// A thread-safe event log: tasks push, the test reads the sequence.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn new() -> Log {
        Log::default()
    }

    pub fn push(&self, event: impl Into<String>) {
        self.0.lock().unwrap().push(event.into());
    }

    pub fn events(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------------------------------------
// Futures helpers
// ---------------------------------------------------------------------------------------------------------

/// Polls `fut` exactly once from inside the current task, returning what it returned.
pub async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx))).await
}

/// Yields (`ferrio::yield_now`) until `cond` holds; panics after `max` yields.
pub async fn yield_until(max: usize, mut cond: impl FnMut() -> bool) {
    for _ in 0..max {
        if cond() {
            return;
        }
        ferrio::yield_now().await;
    }
    assert!(cond(), "condition still false after {max} yields");
}

/// Sleeps in small steps (on a plain thread) until `cond` holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

// ---------------------------------------------------------------------------------------------------------
// Panics and hangs
// ---------------------------------------------------------------------------------------------------------

/// The message of a panic payload (`&str` or `String`), or a placeholder.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

/// Runs `f`, expecting it to panic; returns the panic message.
pub fn expect_panic<R>(f: impl FnOnce() -> R) -> String {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic, but the call returned"),
        Err(payload) => panic_message(&*payload),
    }
}

/// Runs `f` on its own thread and fails the test if it has not finished within `limit` (a hang is reported
/// as a failure instead of blocking the whole suite). Panics of `f` are propagated.
pub fn within<R: Send + 'static>(limit: Duration, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("test-body".into())
        .spawn(move || {
            let out = catch_unwind(AssertUnwindSafe(f));
            let _ = tx.send(());
            out
        })
        .expect("spawn test thread");
    match rx.recv_timeout(limit) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join().unwrap() {
            Ok(r) => r,
            Err(payload) => std::panic::resume_unwind(payload),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("test body did not finish within {limit:?} (hang)")
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// /proc inspection
// ---------------------------------------------------------------------------------------------------------

/// One thread of this process, from /proc/self/task/TID/status.
#[derive(Debug, Clone)]
pub struct ThreadInfo {
    pub tid: u32,
    pub name: String,
    pub voluntary_ctxt_switches: u64,
    pub nonvoluntary_ctxt_switches: u64,
}

impl ThreadInfo {
    pub fn ctxt_switches(&self) -> u64 {
        self.voluntary_ctxt_switches + self.nonvoluntary_ctxt_switches
    }
}

/// Threads of this process whose name (as the kernel knows it: at most 15 bytes) starts with `prefix`.
pub fn threads_named(prefix: &str) -> Vec<ThreadInfo> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(tid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // The thread may exit between the listing and the read.
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let field = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_owned())
        };
        let name = field("Name:").unwrap_or_default();
        if !name.starts_with(prefix) {
            continue;
        }
        let num = |key: &str| field(key).and_then(|v| v.parse().ok()).unwrap_or(0);
        out.push(ThreadInfo {
            tid,
            name,
            voluntary_ctxt_switches: num("voluntary_ctxt_switches:"),
            nonvoluntary_ctxt_switches: num("nonvoluntary_ctxt_switches:"),
        });
    }
    out.sort_by_key(|t| t.tid);
    out
}

/// Yields (plus a short sleep, so other threads get the CPU) until `cond` holds; fails the test after 5 s.
/// Works on both flavours from `block_on` or from a task.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        ferrio::yield_now().await;
        std::thread::sleep(Duration::from_micros(50));
    }
}
