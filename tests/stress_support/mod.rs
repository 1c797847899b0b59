//! Helpers of the stress tests (`stress_tasks.rs`, `stress_tasks_cancel.rs`, `stress_timers.rs`,
//! `stress_wakes.rs`, `stress_tcp.rs`): the size knob, a small deterministic RNG, the outcome tally that every
//! storm ends by checking, quiet intended panics, and the resident set size.
//!
//! **Sizes.** Every storm sizes itself with [`scaled`]: `FERRIO_STRESS_SCALE` (a positive float, default
//! 1.0) multiplies the CI size, which keeps each stress file under about 30 s in a debug build on a 2-core
//! machine. `FERRIO_STRESS_SCALE=20` gives the sizes of the reliability issue (1,000,000 tasks in
//! `stress_tasks`' spawn storm, 10,000 TCP connections in `stress_tcp`); run that in release:
//! `FERRIO_STRESS_SCALE=20 cargo test --release --test stress_tasks -- --nocapture`.
//!
//! **Invariants.** A [`Tally`] wraps each task's future ([`Tally::counted`]) with a drop guard in the future
//! and one in the output, counts the spawn, and classifies each join result. [`Tally::check`] then asserts
//! spawned == completed + cancelled + panicked, that every future and every output was dropped exactly once,
//! and that the runtime's own counters (`Runtime::stats().total`, which excludes blocking-pool jobs) agree.
//!
//! Included with `mod support; mod stress_support;` (it uses `support::DropCounter`).
#![allow(dead_code)]

use crate::support::{panic_message, DropCounter, DropGuard};
use ferrio::{TaskError, WorkerStats};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Once};

// ---------------------------------------------------------------------------------------------------------
// Sizes
// ---------------------------------------------------------------------------------------------------------

/// `FERRIO_STRESS_SCALE` (default 1.0).
///
/// # Panics
/// If the variable is set to something that is not a positive number.
pub fn scale() -> f64 {
    match std::env::var("FERRIO_STRESS_SCALE") {
        Err(_) => 1.0,
        Ok(v) => match v.trim().parse::<f64>() {
            Ok(s) if s > 0.0 && s.is_finite() => s,
            _ => panic!("FERRIO_STRESS_SCALE must be a positive number, got {v:?}"),
        },
    }
}

/// `ci_size` times the scale, at least 1.
pub fn scaled(ci_size: usize) -> usize {
    ((ci_size as f64 * scale()).round() as usize).max(1)
}

// ---------------------------------------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------------------------------------

/// xorshift64: deterministic, no dependency. The seed comes from the test (so a failure reproduces), or
/// from `FERRIO_STRESS_SEED` when set (to try other interleavings).
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        let seed = std::env::var("FERRIO_STRESS_SEED")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(seed, |s| s ^ seed);
        XorShift(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// A fresh generator for a sub-stream (a thread, a task).
    pub fn fork(&mut self) -> XorShift {
        XorShift(self.next_u64().max(1))
    }
}

// ---------------------------------------------------------------------------------------------------------
// Outcome tally
// ---------------------------------------------------------------------------------------------------------

/// The output of a counted task: the body's value plus a guard that counts the output's drop.
pub struct Counted<T> {
    pub value: T,
    _guard: DropGuard,
}

/// Spawn and outcome counters plus the future and output drop counters of one storm.
#[derive(Clone, Default)]
pub struct Tally {
    inner: Arc<TallyInner>,
}

#[derive(Default)]
struct TallyInner {
    spawned: AtomicU64,
    completed: AtomicU64,
    cancelled: AtomicU64,
    panicked: AtomicU64,
    futures: DropCounter,
    outputs: DropCounter,
}

/// The tally's counts at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    pub spawned: u64,
    pub completed: u64,
    pub cancelled: u64,
    pub panicked: u64,
}

impl Tally {
    pub fn new() -> Tally {
        Tally::default()
    }

    /// Wraps `body` for one spawn: counts the spawn now, puts a drop guard in the future and one in the
    /// output. Spawn what this returns exactly once, and `record` its join result exactly once.
    pub fn counted<F: Future>(&self, body: F) -> impl Future<Output = Counted<F::Output>> {
        self.inner.spawned.fetch_add(1, SeqCst);
        let future_guard = self.inner.futures.guard();
        let outputs = self.inner.outputs.clone();
        async move {
            let _future_guard = future_guard;
            let value = body.await;
            Counted {
                value,
                _guard: outputs.guard(),
            }
        }
    }

    /// Classifies one join result; returns the value of a completed task.
    pub fn record<T>(&self, result: Result<Counted<T>, TaskError>) -> Option<T> {
        match result {
            Ok(out) => {
                self.inner.completed.fetch_add(1, SeqCst);
                Some(out.value)
            }
            Err(e) if e.is_cancelled() => {
                self.inner.cancelled.fetch_add(1, SeqCst);
                None
            }
            Err(e) => {
                assert!(e.is_panic(), "a TaskError is cancelled or panicked: {e:?}");
                let msg = panic_message(&*e.into_panic());
                assert!(
                    msg.contains(PANIC_MARKER),
                    "an unintended panic in a stress task: {msg}"
                );
                self.inner.panicked.fetch_add(1, SeqCst);
                None
            }
        }
    }

    pub fn counts(&self) -> Counts {
        Counts {
            spawned: self.inner.spawned.load(SeqCst),
            completed: self.inner.completed.load(SeqCst),
            cancelled: self.inner.cancelled.load(SeqCst),
            panicked: self.inner.panicked.load(SeqCst),
        }
    }

    /// Asserts the storm's invariants once every spawned task's result was recorded: each spawn ended in
    /// exactly one outcome, every future and every output was dropped exactly once (a guard created and not
    /// dropped is a leak; more drops than guards would be a double drop), and, when the `stats` feature is
    /// on, the runtime counted the same: `after() - before` of `Runtime::stats().total` (`before`: the totals
    /// read before the storm's first spawn; `after` reads them now).
    ///
    /// The runtime's count may lag for a moment: a worker bumps its outcome counter just after publishing the
    /// task's completion (`harness::complete` calls `Schedule::task_finished` after
    /// `transition_to_complete`), so an awaiter that finds the task complete without being woken can get
    /// the result first. The comparison is retried for up to 5 s; a count that never matches is a lost
    /// update, and fails.
    pub fn check(
        &self,
        what: &str,
        before: &WorkerStats,
        after: impl Fn() -> WorkerStats,
    ) -> Counts {
        let c = self.counts();
        assert_eq!(
            c.spawned,
            c.completed + c.cancelled + c.panicked,
            "{what}: spawned != completed + cancelled + panicked: {c:?}"
        );
        let (futures, outputs) = (&self.inner.futures, &self.inner.outputs);
        assert_eq!(
            futures.created() as u64,
            c.spawned,
            "{what}: one future per spawn"
        );
        assert_eq!(
            futures.dropped(),
            futures.created(),
            "{what}: futures created vs dropped ({c:?})"
        );
        assert_eq!(
            outputs.dropped(),
            outputs.created(),
            "{what}: outputs created vs dropped ({c:?})"
        );
        assert!(
            outputs.created() as u64 >= c.completed,
            "{what}: a completed task without an output"
        );
        if ferrio::RuntimeStats::enabled() {
            let runtime = || {
                let d = after().since(before);
                Counts {
                    spawned: d.spawned,
                    completed: d.completed,
                    cancelled: d.cancelled,
                    panicked: d.panicked,
                }
            };
            crate::support::wait_until(std::time::Duration::from_secs(5), || runtime() == c);
            assert_eq!(
                runtime(),
                c,
                "{what}: Runtime::stats() disagrees with the test's own count"
            );
        }
        c
    }

    /// Future guards created and not dropped yet (tasks whose future is alive).
    pub fn futures_alive(&self) -> usize {
        self.inner.futures.alive()
    }
}

// ---------------------------------------------------------------------------------------------------------
// Task bodies
// ---------------------------------------------------------------------------------------------------------

/// A short task body: returns `value` at once, after a few yields, or after a busy spin of a few
/// microseconds (so some polls are still running when other threads act on the task).
pub async fn short_body(mut rng: XorShift, value: u64) -> u64 {
    match rng.below(10) {
        0..=3 => {}
        4..=8 => {
            for _ in 0..=rng.below(3) {
                ferrio::yield_now().await;
            }
        }
        _ => {
            let until = std::time::Instant::now() + std::time::Duration::from_micros(rng.below(20));
            while std::time::Instant::now() < until {
                std::hint::spin_loop();
            }
            ferrio::yield_now().await;
        }
    }
    value
}

/// Awaits every handle on `rt` (inside `block_on`, so a current-thread runtime runs them meanwhile) and
/// records each result; returns the completed values in order (`None` for cancelled or panicked).
pub fn collect<T: Send + 'static>(
    rt: &ferrio::Runtime,
    tally: &Tally,
    handles: Vec<ferrio::Task<Counted<T>>>,
) -> Vec<Option<T>> {
    rt.block_on(async {
        let mut out = Vec::with_capacity(handles.len());
        for h in handles {
            out.push(tally.record(h.await));
        }
        out
    })
}

// ---------------------------------------------------------------------------------------------------------
// Intended panics
// ---------------------------------------------------------------------------------------------------------

/// Every intended panic of a stress test carries this in its message; [`quiet_intended_panics`] keeps them
/// off stderr.
pub const PANIC_MARKER: &str = "stress: intended panic";

/// Installs (once per process) a panic hook that skips panics whose message contains [`PANIC_MARKER`] and
/// passes every other panic to the previous hook. Thousands of printed backtraces would slow a storm down
/// and bury a real failure.
pub fn quiet_intended_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if panic_message(info.payload()).contains(PANIC_MARKER) {
                return;
            }
            previous(info);
        }));
    });
}

// ---------------------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------------------

/// This process's resident set size in bytes (/proc/self/statm, second field, times the page size).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .expect("statm's resident field");
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * if page > 0 { page as u64 } else { 4096 }
}

/// Runs `f` on a new plain thread; the returned future completes with its result (re-raising its panic).
/// Awaiting it from `block_on` keeps a current-thread loop running while the thread works, where joining the
/// thread would block the loop.
pub fn on_thread<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> impl Future<Output = R> {
    let (tx, rx) = futures_channel::oneshot::channel();
    std::thread::Builder::new()
        .name("stress-thread".into())
        .spawn(move || {
            let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
        })
        .expect("spawn a plain thread");
    async move {
        match rx.await.expect("the thread sends its result") {
            Ok(r) => r,
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
}

/// The hang guard of a stress test: `ci_secs` at the CI size, scaled up with `FERRIO_STRESS_SCALE`.
pub fn limit(ci_secs: u64) -> std::time::Duration {
    std::time::Duration::from_secs_f64(ci_secs as f64 * scale().max(1.0))
}

/// Names the test that a child process started by [`alone`] runs.
const ALONE: &str = "FERRIO_STRESS_ALONE";

/// Runs the test `name` in a child process of this test binary, where it is the only test running (so
/// counts of process-wide things, like open descriptors, are exact), and fails if the child fails; its
/// output is printed here. In that child (`FERRIO_STRESS_ALONE` holds the name) it runs `body` instead,
/// with the number of descriptors open before `body` started.
pub fn alone(name: &str, body: impl FnOnce(usize)) {
    if std::env::var(ALONE).as_deref() == Ok(name) {
        body(open_fds());
        return;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let name2 = name.to_owned();
    let out = crate::support::within(limit(300), move || {
        std::process::Command::new(exe)
            .args([&name2, "--exact", "--test-threads=1", "--nocapture"])
            .env(ALONE, &name2)
            .output()
            .expect("start the child test process")
    });
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    print!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} failed in its child process ({:?})\n{stdout}\n{stderr}",
        out.status
    );
}

/// Waits (5 s at most) until no more than `baseline` descriptors are open, else fails naming `what`. Use it
/// in a test run `alone`, once everything the test made is gone.
pub fn assert_fds_back_to(baseline: usize, what: &str) {
    let back =
        crate::support::wait_until(std::time::Duration::from_secs(5), || open_fds() <= baseline);
    assert!(
        back,
        "{what}: {} descriptors open, {baseline} before: something (a socket, or a runtime kept alive by a \
         leaked task reference) was not closed",
        open_fds()
    );
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}
