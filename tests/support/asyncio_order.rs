//! The harness of the asyncio-order scenarios on the current-thread flavour
//! (`rt_current_thread_order.rs`, `rt_current_thread_order_await.rs`): each scenario runs on a fresh
//! current-thread runtime once with `ferrio::spawn` and once with `ferrio::spawn_local`, and its event log is
//! compared with the sequence asyncio printed.

use super::Log;
use ferrio::Task;
use std::future::Future;

/// Spawns through `ferrio::spawn` or `ferrio::spawn_local`, so every scenario runs with both.
pub trait Spawner: Copy + 'static {
    fn spawn<F>(self, f: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
}

#[derive(Clone, Copy)]
pub struct Spawn;
impl Spawner for Spawn {
    fn spawn<F>(self, f: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        ferrio::spawn(f)
    }
}

#[derive(Clone, Copy)]
pub struct SpawnLocal;
impl Spawner for SpawnLocal {
    fn spawn<F>(self, f: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        ferrio::spawn_local(f)
    }
}

pub fn current_thread() -> ferrio::Runtime {
    ferrio::Runtime::builder().current_thread().build().unwrap()
}

/// Runs `scenario` on a fresh current-thread runtime with each spawner and checks the log against `expected`.
pub fn check<Fut>(name: &str, scenario: fn(Log, bool) -> Fut, expected: &[&str])
where
    Fut: Future<Output = ()>,
{
    for local in [false, true] {
        let log = Log::new();
        let rt = current_thread();
        rt.block_on(scenario(log.clone(), local));
        let got = log.events();
        assert_eq!(
            got,
            expected,
            "scenario {name} ({}) ran in a different order than asyncio",
            if local { "spawn_local" } else { "spawn" }
        );
        assert_eq!(rt.handle().live_tasks(), 0, "scenario {name} left tasks");
    }
}

/// Spawns with `ferrio::spawn_local` when `local`, else `ferrio::spawn`.
pub fn sp<F>(local: bool, f: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if local {
        SpawnLocal.spawn(f)
    } else {
        Spawn.spawn(f)
    }
}
