//! The runtime context of spawning and `block_on`: `Handle::current` / `try_current` inside and outside a
//! runtime; `spawn` / `spawn_local` outside a runtime, `spawn_local` on the multi-thread flavour and on a
//! current-thread runtime moved to another thread, spawning through a handle of a dropped runtime; `block_on`
//! running tasks spawned before it, nested `block_on`, `block_on` from several threads at once (either
//! flavour), the current-thread main future woken from a foreign thread; builder errors; worker thread names.
//! Spawning itself (many tasks, detached tasks, wake-ups): `rt_spawn.rs`.

mod support;

use ferrio::{yield_now, Handle, Runtime};
use std::collections::HashSet;
use std::future::IntoFuture;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;
use support::{expect_panic, panic_message, threads_named, wait_until, within, Flavor, Flavors};

#[test]
fn handle_try_current_and_current_outside_and_inside() {
    let err = Handle::try_current().unwrap_err();
    assert!(
        err.to_string().contains("no ferrio runtime"),
        "unexpected message: {err}"
    );
    let msg = expect_panic(Handle::current);
    assert!(
        msg.contains("Handle::current() called outside a runtime"),
        "unexpected panic message: {msg}"
    );
    Flavors::each(|flavor, rt| {
        let v = rt.block_on(async {
            let h = Handle::try_current().expect("inside block_on");
            let from_task = ferrio::spawn(async {
                // Inside a task too.
                let h = Handle::try_current().expect("inside a task");
                h.spawn(async { 20 }).await.unwrap()
            });
            h.spawn(async { 1 }).await.unwrap()
                + Handle::current().spawn(async { 1 }).await.unwrap()
                + from_task.await.unwrap()
        });
        assert_eq!(v, 22, "{flavor:?}");
        // The context is restored when block_on returns.
        assert!(Handle::try_current().is_err(), "{flavor:?}: context leaked");
    });
}

#[test]
fn spawn_outside_runtime_panics_with_message() {
    let msg = expect_panic(|| ferrio::spawn(async {}));
    assert!(
        msg.contains("ferrio::spawn called outside a runtime"),
        "unexpected panic message: {msg}"
    );
    let msg = expect_panic(|| ferrio::spawn_local(async {}));
    assert!(
        msg.contains("spawn_local called outside a runtime"),
        "unexpected panic message: {msg}"
    );
}

/// `spawn_local` on the multi-thread flavour panics naming `spawn_local`, both from `block_on` and from a task.
#[test]
fn spawn_local_on_multi_thread_panics() {
    let rt = Flavor::MultiThread.build();
    let msg = expect_panic(|| rt.block_on(async { ferrio::spawn_local(async {}) }));
    assert!(
        msg.contains("spawn_local"),
        "unexpected panic message: {msg}"
    );
    let err = rt
        .block_on(async {
            ferrio::spawn(async {
                ferrio::spawn_local(async {});
            })
            .await
        })
        .unwrap_err();
    assert!(err.is_panic());
    let msg = panic_message(&*err.into_panic());
    assert!(
        msg.contains("spawn_local"),
        "unexpected panic message: {msg}"
    );
    // The runtime is fine afterwards.
    assert_eq!(
        rt.block_on(async { ferrio::spawn(async { 3 }).await.unwrap() }),
        3
    );
}

#[test]
fn zero_workers_is_invalid_input_not_a_hang() {
    let err = within(Duration::from_secs(5), || {
        Runtime::builder().worker_threads(0).build().unwrap_err()
    });
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("worker_threads"), "{err}");
    let err = Runtime::builder().event_interval(0).build().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let err = Runtime::builder()
        .global_queue_interval(0)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    // A current-thread builder ignores the worker count only if it was never set to zero; one worker is fine.
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    assert_eq!(
        rt.block_on(async { ferrio::spawn(async { 5 }).await.unwrap() }),
        5
    );
}

/// Current-thread: a task spawned from outside block_on waits for the next block_on, then runs.
#[test]
fn current_thread_spawn_before_block_on_runs_inside_it() {
    let rt = Flavor::CurrentThread.build();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let t = rt.spawn(async move {
        r.fetch_add(1, SeqCst);
        7
    });
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(
        ran.load(SeqCst),
        0,
        "a current-thread task ran outside block_on"
    );
    assert!(!t.is_done());
    assert_eq!(rt.block_on(t.into_future()).unwrap(), 7);
}

/// `block_on` inside a runtime (inside a task, or inside another block_on) panics with a clear message
/// instead of deadlocking.
#[test]
fn block_on_inside_runtime_panics() {
    within(Duration::from_secs(10), || {
        let other = Arc::new(Flavor::CurrentThread.build());
        Flavors::each(|flavor, rt| {
            let rt = Arc::new(rt);
            // Inside a task, on another runtime and on the task's own: the task panics, the awaiter gets the
            // message.
            for target in [other.clone(), rt.clone()] {
                let err = rt
                    .block_on(async move {
                        ferrio::spawn(async move { target.block_on(async { 1 }) }).await
                    })
                    .unwrap_err();
                assert!(err.is_panic(), "{flavor:?}");
                let msg = panic_message(&*err.into_panic());
                assert!(msg.contains("cannot block_on"), "{flavor:?}: {msg}");
            }
            // Inside block_on itself, on another runtime and on the same one.
            let msg = expect_panic(|| rt.block_on(async { other.block_on(async { 1 }) }));
            assert!(msg.contains("cannot block_on"), "{flavor:?}: {msg}");
            let msg = expect_panic(|| rt.block_on(async { rt.block_on(async { 1 }) }));
            assert!(msg.contains("cannot block_on"), "{flavor:?}: {msg}");
            // Still usable afterwards.
            assert_eq!(
                rt.block_on(async { ferrio::spawn(async { 4 }).await.unwrap() }),
                4
            );
            // The clones inside the tasks are gone; drop the runtime from this (outside) thread.
            let rt = Arc::try_unwrap(rt).expect("runtime still shared");
            drop(rt);
        });
    });
}

/// Worker threads are named `NAME-0`, `NAME-1`; tasks run on them.
#[test]
fn thread_names_from_builder() {
    let rt = Runtime::builder()
        .worker_threads(2)
        .thread_name("my-pool")
        .build()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || threads_named("my-pool-").len()
            == 2),
        "threads: {:?}",
        threads_named("my-pool-")
    );
    let mut names: Vec<String> = threads_named("my-pool-")
        .into_iter()
        .map(|t| t.name)
        .collect();
    names.sort();
    assert_eq!(names, ["my-pool-0", "my-pool-1"]);
    let seen: HashSet<String> = rt.block_on(async {
        let hs: Vec<_> = (0..200)
            .map(|_| {
                ferrio::spawn(async {
                    yield_now().await;
                    std::thread::current().name().map(str::to_owned)
                })
            })
            .collect();
        let mut seen = HashSet::new();
        for h in hs {
            seen.insert(h.await.unwrap().unwrap_or_default());
        }
        seen
    });
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|n| n == "my-pool-0" || n == "my-pool-1"),
        "{seen:?}"
    );
    drop(rt);
    assert!(
        wait_until(Duration::from_secs(5), || threads_named("my-pool-")
            .is_empty()),
        "worker threads outlived the runtime"
    );

    // The default prefix.
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    let name = rt.block_on(async {
        ferrio::spawn(async { std::thread::current().name().map(str::to_owned) })
            .await
            .unwrap()
    });
    assert_eq!(name.as_deref(), Some("ferrio-worker-0"));
}

/// Spawning through a handle of a dropped runtime panics, saying it was shut down.
#[test]
fn spawn_after_runtime_dropped_panics() {
    Flavors::each(|flavor, rt| {
        let handle = rt.handle();
        drop(rt);
        let msg = expect_panic(|| handle.spawn(async {}));
        assert!(msg.contains("shut down"), "{flavor:?}: {msg}");
    });
}

/// A current-thread runtime can be driven from another thread than the one that built it (it is `Send`),
/// but `spawn_local` there panics, naming the thread rule.
#[test]
fn current_thread_runtime_moved_to_another_thread() {
    let rt = Flavor::CurrentThread.build();
    let (v, msg) = std::thread::spawn(move || {
        let v = rt.block_on(async { ferrio::spawn(async { 1 }).await.unwrap() });
        let msg = expect_panic(|| rt.block_on(async { drop(ferrio::spawn_local(async {})) }));
        (v, msg)
    })
    .join()
    .unwrap();
    assert_eq!(v, 1);
    assert!(
        msg.contains("spawn_local") && msg.contains("thread other than"),
        "{msg}"
    );
}

/// The multi-thread flavour accepts `block_on` from several threads at once.
#[test]
fn concurrent_block_on_from_several_threads_multi_thread() {
    within(Duration::from_secs(20), || {
        let rt = Arc::new(Flavor::MultiThread.build());
        let threads: Vec<_> = (0..4u64)
            .map(|k| {
                let rt = rt.clone();
                std::thread::spawn(move || {
                    rt.block_on(async move {
                        let hs: Vec<_> = (0..500u64)
                            .map(|i| ferrio::spawn(async move { k * 1000 + i }))
                            .collect();
                        let mut s = 0;
                        for h in hs {
                            s += h.await.unwrap();
                        }
                        s
                    })
                })
            })
            .collect();
        let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        let expected: u64 = (0..4u64)
            .map(|k| (0..500u64).map(|i| k * 1000 + i).sum::<u64>())
            .sum();
        assert_eq!(total, expected);
    });
}

/// The current-thread `block_on` future, parked in the reactor, is woken by a foreign thread.
#[test]
fn current_thread_main_future_woken_from_foreign_thread() {
    within(Duration::from_secs(10), || {
        let rt = Flavor::CurrentThread.build();
        let (opener, gate) = support::gate();
        let opener_thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            opener.open();
        });
        assert!(rt.block_on(gate));
        opener_thread.join().unwrap();
    });
}

/// A second thread calling `block_on` on a current-thread runtime that another thread is driving gets the
/// documented panic ("already driving"), and the runtime is unharmed: the driving thread's `block_on`
/// returns normally, the runtime stays usable and can be dropped.
///
/// Regression (fixed) in src/scheduler/current_thread.rs, `Shared::block_on`:
/// `self.core.lock().unwrap().take().expect("...already driving...")` panicked while the `MutexGuard`
/// temporary is still alive, which poisons `core`'s mutex. The driving thread then panics with a
/// `PoisonError` when its `block_on` ends (`Leave::drop`), later `block_on`s panic the same way, and dropping
/// the runtime panics again in `shutdown` (a panic during unwinding aborts the process). Fix: take the core
/// out in one statement and panic after the guard is dropped.
#[test]
fn concurrent_block_on_on_current_thread_leaves_runtime_intact() {
    use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
    use std::sync::atomic::AtomicBool;
    let rt = Arc::new(Flavor::CurrentThread.build());
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let (opener, gate) = support::gate();
        let driving = Arc::new(AtomicBool::new(false));
        let (r2, d) = (rt.clone(), driving.clone());
        let driver = std::thread::spawn(move || {
            catch_unwind(AssertUnwindSafe(|| {
                r2.block_on(async move {
                    d.store(true, SeqCst);
                    gate.await
                })
            }))
            .map_err(|p| panic_message(&*p))
        });
        assert!(wait_until(Duration::from_secs(5), || driving.load(SeqCst)));
        let msg = expect_panic(|| rt.block_on(async { 1 }));
        assert!(msg.contains("already driving"), "{msg}");
        opener.open();
        let first = driver.join().unwrap();
        assert_eq!(first, Ok(true), "the driving thread's block_on failed");
        assert_eq!(
            rt.block_on(async { ferrio::spawn(async { 3 }).await.unwrap() }),
            3
        );
    }));
    if let Err(p) = outcome {
        // Dropping a runtime whose mutex is poisoned would panic again (and abort while unwinding).
        std::mem::forget(rt);
        resume_unwind(p);
    }
}
