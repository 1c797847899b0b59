//! The four runtimes under test and the few runtime calls the measurements need, with one spelling for both
//! families: spawn and join a task, yield, sleep. Also the clock and thread helpers every module shares.
//!
//! Who calls it: every measurement module. What it must never do: add work on a measured path. The helpers
//! here are thin `match`es on the family, used once per task or once per sample at most.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A boxed task body (one allocation per batch, never per sample).
pub type BoxTask<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Which crate a runtime comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Ferrio,
    Tokio,
}

enum Inner {
    Ferrio(ferrio::Runtime),
    Tokio(tokio::runtime::Runtime),
}

/// One runtime, built once before any measurement and kept for the whole run (idle runtimes park and use
/// no CPU).
pub struct Rt {
    /// The row name: `ferrio_ct`, `ferrio_mt`, `tokio_ct`, `tokio_mt`.
    pub id: &'static str,
    pub family: Family,
    /// Two workers when true; one thread (the caller of `block_on`) when false.
    pub multi_thread: bool,
    inner: Inner,
}

impl Rt {
    /// The runtimes in table order: `ferrio_ct`, `ferrio_mt` (2 workers), `tokio_ct`, `tokio_mt` (2
    /// workers, `enable_all`).
    pub fn all() -> Vec<Rt> {
        let ferrio_ct = ferrio::Runtime::builder()
            .current_thread()
            .build()
            .expect("build ferrio current-thread runtime");
        let ferrio_mt = ferrio::Runtime::builder()
            .worker_threads(2)
            .build()
            .expect("build ferrio multi-thread runtime");
        let tokio_ct = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("build tokio current-thread runtime");
        let tokio_mt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("build tokio multi-thread runtime");
        vec![
            Rt::ferrio("ferrio_ct", false, ferrio_ct),
            Rt::ferrio("ferrio_mt", true, ferrio_mt),
            Rt::tokio("tokio_ct", false, tokio_ct),
            Rt::tokio("tokio_mt", true, tokio_mt),
        ]
    }

    fn ferrio(id: &'static str, multi_thread: bool, rt: ferrio::Runtime) -> Rt {
        Rt {
            id,
            family: Family::Ferrio,
            multi_thread,
            inner: Inner::Ferrio(rt),
        }
    }

    fn tokio(id: &'static str, multi_thread: bool, rt: tokio::runtime::Runtime) -> Rt {
        Rt {
            id,
            family: Family::Tokio,
            multi_thread,
            inner: Inner::Tokio(rt),
        }
    }

    /// Runs `future` on the calling thread (where the current-thread flavours run their tasks).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        match &self.inner {
            Inner::Ferrio(rt) => rt.block_on(future),
            Inner::Tokio(rt) => rt.block_on(future),
        }
    }

    /// Spawns each body as a task (inside `block_on`, in order), waits for all, returns their outputs in
    /// order. On the multi-thread flavours the tasks run on the workers, the calling thread only waits.
    pub fn run_tasks<T: Send + 'static>(&self, bodies: Vec<BoxTask<T>>) -> Vec<T> {
        let family = self.family;
        self.block_on(async move {
            let joins: Vec<Join<T>> = bodies.into_iter().map(|b| spawn(family, b)).collect();
            let mut outputs = Vec::with_capacity(joins.len());
            for join in joins {
                outputs.push(join.join().await);
            }
            outputs
        })
    }
}

/// A spawned task's join handle, either family.
pub enum Join<T> {
    Ferrio(ferrio::Task<T>),
    Tokio(tokio::task::JoinHandle<T>),
}

impl<T> Join<T> {
    /// Waits for the task; a task that panicked or was cancelled aborts the example with its error.
    pub async fn join(self) -> T {
        match self {
            Join::Ferrio(task) => task.await.expect("ferrio task failed"),
            Join::Tokio(handle) => handle.await.expect("tokio task failed"),
        }
    }
}

/// Spawns `future` on the current runtime of `family` (call from inside its `block_on` or a task).
pub fn spawn<T, F>(family: Family, future: F) -> Join<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    match family {
        Family::Ferrio => Join::Ferrio(ferrio::spawn(future)),
        Family::Tokio => Join::Tokio(tokio::spawn(future)),
    }
}

/// The family's `yield_now`.
pub async fn yield_now(family: Family) {
    match family {
        Family::Ferrio => ferrio::yield_now().await,
        Family::Tokio => tokio::task::yield_now().await,
    }
}

/// The family's `sleep(d)`, created when this future is first polled (at once, in the measurement loops).
pub async fn sleep(family: Family, d: Duration) {
    match family {
        Family::Ferrio => ferrio::time::sleep(d).await,
        Family::Tokio => tokio::time::sleep(d).await,
    }
}

/// Nanoseconds since the first call in this process (a monotonic clock readable from any thread and
/// storable in an atomic); never 0.
pub fn now_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = *BASE.get_or_init(Instant::now);
    base.elapsed().as_nanos() as u64 + 1
}

/// A small number naming the calling thread (cheaper to compare and store than a `ThreadId`).
pub fn thread_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    TOKEN.with(|t| *t)
}

/// Keeps the calling thread busy (no syscall, no yield) for `d`.
pub fn spin_for(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}
