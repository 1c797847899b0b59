//! Panic isolation: a panic inside a task is caught and delivered to its awaiter as a `TaskError`; other tasks
//! and the worker threads carry on, and the runtime stays usable.

mod support;

use ferrio::{yield_now, TaskError};
use std::error::Error;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;
use support::{
    eventually, expect_panic, panic_message, threads_named, wait_until, DropCounter, Flavor,
    Flavors,
};

#[test]
fn panicking_task_gives_panic_error_with_payload() {
    Flavors::each(|flavor, rt| {
        rt.block_on(async {
            // String payload.
            let t = ferrio::spawn(async {
                yield_now().await;
                // A runtime value, so the payload is a `String` (a constant message would be a `&str`).
                let n = std::hint::black_box(7);
                if n == 7 {
                    panic!("boom {n}");
                }
                1u32
            });
            let id = t.id();
            let err = t.await.unwrap_err();
            assert!(err.is_panic(), "{flavor:?}: {err:?}");
            assert!(!err.is_cancelled());
            assert_eq!(err.id(), id);
            let shown = err.to_string();
            assert!(shown.contains("panicked"), "{flavor:?}: {shown}");
            assert!(shown.contains("boom 7"), "{flavor:?}: {shown}");
            assert!(shown.contains(&id.to_string()), "{flavor:?}: {shown}");
            let payload = err.into_panic();
            assert_eq!(
                payload.downcast_ref::<String>().map(String::as_str),
                Some("boom 7")
            );

            // &'static str payload.
            let err = ferrio::spawn(async { panic!("static boom") })
                .await
                .unwrap_err();
            assert!(err.to_string().contains("panicked: static boom"), "{err}");
            assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "static boom");

            // Non-string payload: the message says it panicked, and the payload comes back as is.
            let err = ferrio::spawn(async { std::panic::panic_any(42u32) })
                .await
                .unwrap_err();
            assert!(err.is_panic());
            assert!(err.to_string().contains("panicked"), "{err}");
            assert_eq!(*err.into_panic().downcast::<u32>().unwrap(), 42);
        });
    });
}

/// A cancelled task's error is not a panic: `into_panic` refuses it with a message, `try_into_panic` gives
/// it back.
#[test]
fn into_panic_on_cancelled_error() {
    let rt = Flavor::CurrentThread.build();
    let err = rt.block_on(async {
        let t = ferrio::spawn(std::future::pending::<()>());
        t.cancel();
        t.await.unwrap_err()
    });
    assert!(err.is_cancelled());
    let err = err.try_into_panic().unwrap_err();
    assert!(err.is_cancelled());
    let msg = expect_panic(move || err.into_panic());
    assert!(msg.contains("into_panic"), "{msg}");
}

/// Other tasks keep running while and after tasks panic, and the runtime stays usable.
#[test]
fn other_tasks_survive_panics() {
    Flavors::each(|flavor, rt| {
        let completed = Arc::new(AtomicUsize::new(0));
        let c = completed.clone();
        let (ok_sum, panics) = rt.block_on(async move {
            let mut handles = Vec::new();
            for i in 0..200u64 {
                let c = c.clone();
                handles.push(ferrio::spawn(async move {
                    yield_now().await;
                    if i % 4 == 0 {
                        panic!("task {i} fails");
                    }
                    yield_now().await;
                    c.fetch_add(1, SeqCst);
                    i
                }));
            }
            let (mut sum, mut panics) = (0, 0);
            for (i, h) in handles.into_iter().enumerate() {
                match h.await {
                    Ok(v) => sum += v,
                    Err(e) => {
                        assert!(e.is_panic());
                        assert_eq!(panic_message(&*e.into_panic()), format!("task {i} fails"));
                        panics += 1;
                    }
                }
            }
            (sum, panics)
        });
        let expected: u64 = (0..200u64).filter(|i| i % 4 != 0).sum();
        assert_eq!(ok_sum, expected, "{flavor:?}");
        assert_eq!(panics, 50, "{flavor:?}");
        assert_eq!(completed.load(SeqCst), 150);
        // Still usable.
        let later = rt.block_on(async {
            let hs: Vec<_> = (0..100u64)
                .map(|i| ferrio::spawn(async move { i * 2 }))
                .collect();
            let mut s = 0;
            for h in hs {
                s += h.await.unwrap();
            }
            s
        });
        assert_eq!(later, 9900, "{flavor:?}");
        let h = rt.handle();
        assert!(wait_until(Duration::from_secs(5), || h.live_tasks() == 0));
    });
}

/// Multi-thread: worker threads survive task panics; the same two workers keep running tasks.
#[test]
fn worker_threads_survive_panics() {
    let rt = ferrio::Runtime::builder()
        .worker_threads(2)
        .thread_name("pan-chk")
        .build()
        .unwrap();
    // A worker names itself when it starts: give both a moment.
    assert!(
        wait_until(Duration::from_secs(5), || threads_named("pan-chk").len()
            == 2),
        "expected 2 workers named pan-chk-*"
    );
    let before: Vec<u32> = threads_named("pan-chk").iter().map(|t| t.tid).collect();
    rt.block_on(async {
        for _ in 0..40 {
            let err = ferrio::spawn(async { panic!("worker-killer") })
                .await
                .unwrap_err();
            assert!(err.is_panic());
        }
        // Detached panicking tasks too: nobody awaits them.
        for _ in 0..40 {
            drop(ferrio::spawn(async { panic!("detached worker-killer") }));
        }
        let live = ferrio::Handle::current();
        eventually("detached panicking tasks finished", || {
            live.live_tasks() == 0
        })
        .await;
    });
    let after: Vec<u32> = threads_named("pan-chk").iter().map(|t| t.tid).collect();
    assert_eq!(before, after, "worker threads changed after panics");
    let names: Vec<String> = rt.block_on(async {
        let hs: Vec<_> = (0..64)
            .map(|_| {
                ferrio::spawn(async {
                    yield_now().await;
                    std::thread::current().name().unwrap_or("").to_owned()
                })
            })
            .collect();
        let mut names = Vec::new();
        for h in hs {
            names.push(h.await.unwrap());
        }
        names
    });
    assert!(
        names.iter().all(|n| n == "pan-chk-0" || n == "pan-chk-1"),
        "{names:?}"
    );
}

/// An awaiting task is woken with the panic error of the task it awaits.
#[test]
fn awaiter_task_receives_panic() {
    Flavors::each(|flavor, rt| {
        let r = rt.block_on(async {
            let (opener, gate) = support::gate();
            let victim = ferrio::spawn(async move {
                gate.await;
                panic!("late boom");
            });
            let awaiter = ferrio::spawn(async move {
                match victim.await {
                    Ok(()) => "ok".to_owned(),
                    Err(e) => e.to_string(),
                }
            });
            yield_now().await;
            yield_now().await;
            opener.open();
            awaiter.await.unwrap()
        });
        assert!(r.contains("panicked: late boom"), "{flavor:?}: {r}");
    });
}

/// `?` converts a `TaskError` into `Box<dyn Error + Send + Sync>`, which can be downcast back.
#[test]
fn question_mark_into_boxed_error() {
    async fn sum_two(fail: bool) -> Result<u32, Box<dyn Error + Send + Sync>> {
        let a = ferrio::spawn(async { 40u32 }).await?;
        let b = ferrio::spawn(async move {
            if fail {
                panic!("second failed");
            }
            2u32
        })
        .await?;
        Ok(a + b)
    }
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<TaskError>();
    Flavors::each(|flavor, rt| {
        assert_eq!(rt.block_on(sum_two(false)).unwrap(), 42, "{flavor:?}");
        let err = rt.block_on(sum_two(true)).unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err}");
        assert!(err.to_string().contains("second failed"), "{err}");
        let task_err = err
            .downcast::<TaskError>()
            .expect("a TaskError inside the box");
        assert!(task_err.is_panic());
        // Usable across threads.
        let shown = std::thread::spawn(move || task_err.to_string())
            .join()
            .unwrap();
        assert!(shown.contains("second failed"));
    });
}

/// A future whose destructor panics while it is being cancelled: the task ends as a panic, not a
/// cancellation. A destructor panic after the future completed normally is discarded: the value stays.
#[test]
fn panic_in_drop_of_future() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                panic!("drop boom");
            }
        }
    }
    Flavors::each(|flavor, rt| {
        rt.block_on(async {
            let started = Arc::new(AtomicUsize::new(0));
            let st = started.clone();
            let t = ferrio::spawn(async move {
                let _p = PanicOnDrop;
                st.store(1, SeqCst);
                std::future::pending::<()>().await;
            });
            eventually("task holds its PanicOnDrop", || started.load(SeqCst) == 1).await;
            assert!(t.cancel());
            let err = t.await.unwrap_err();
            assert!(err.is_panic(), "{flavor:?}: {err:?}");
            assert!(err.to_string().contains("drop boom"), "{err}");

            // A future that is Ready at once and panics when dropped afterwards (an async block would drop its
            // locals inside the poll, which is an ordinary task panic).
            struct ReadyThenPanicOnDrop(PanicOnDrop);
            impl std::future::Future for ReadyThenPanicOnDrop {
                type Output = u32;
                fn poll(
                    self: std::pin::Pin<&mut Self>,
                    _: &mut std::task::Context<'_>,
                ) -> std::task::Poll<u32> {
                    std::task::Poll::Ready(5)
                }
            }
            let r = ferrio::spawn(ReadyThenPanicOnDrop(PanicOnDrop)).await;
            assert_eq!(
                r.unwrap(),
                5,
                "{flavor:?}: a destructor panic after completion replaced the value"
            );

            // And the runtime still works.
            assert_eq!(ferrio::spawn(async { 1 }).await.unwrap(), 1);
        });
    });
}

/// A panic in the `block_on` future itself propagates to the caller; the runtime is usable afterwards and its
/// tasks are intact.
#[test]
fn panic_in_block_on_future_propagates_and_runtime_survives() {
    Flavors::each(|flavor, rt| {
        let drops = DropCounter::new();
        let (opener, gate) = support::gate();
        let guard = drops.guard();
        let survivor = rt.spawn(async move {
            let _g = guard;
            gate.await;
            11
        });
        let msg = expect_panic(|| {
            rt.block_on(async {
                yield_now().await;
                panic!("main boom");
            })
        });
        assert_eq!(msg, "main boom", "{flavor:?}");
        assert_eq!(
            drops.dropped(),
            0,
            "{flavor:?}: a task was dropped by the main panic"
        );
        opener.open();
        let v = rt.block_on(async move { survivor.await.unwrap() });
        assert_eq!(v, 11, "{flavor:?}");
        assert_eq!(
            rt.block_on(async { ferrio::spawn(async { 2 }).await.unwrap() }),
            2
        );
    });
}

/// Awaiting a task again after its output was taken is a usage error reported by a clear panic.
#[test]
fn awaiting_a_task_twice_panics_clearly() {
    Flavors::each(|flavor, rt| {
        let msg = expect_panic(|| {
            rt.block_on(async {
                let mut t = ferrio::spawn(async { 1 });
                assert_eq!((&mut t).await.unwrap(), 1);
                let _ = (&mut t).await;
            })
        });
        assert!(msg.contains("already taken"), "{flavor:?}: {msg}");
        // The runtime is still usable.
        assert_eq!(
            rt.block_on(async { ferrio::spawn(async { 2 }).await.unwrap() }),
            2
        );
    });
}

/// Regression (review finding): a join waker that panics when the task completes (a foreign executor's
/// waker) used to unwind through the worker, killing it and stranding the tasks in its queue.
#[test]
fn a_panicking_join_waker_does_not_kill_the_worker() {
    use std::future::{Future, IntoFuture};
    use std::pin::Pin;
    use std::task::{Context, Wake, Waker};

    struct PanickingWaker;
    impl Wake for PanickingWaker {
        fn wake(self: Arc<Self>) {
            panic!("waker exploded");
        }
        fn wake_by_ref(self: &Arc<Self>) {
            panic!("waker exploded");
        }
    }

    let rt = ferrio::Runtime::builder()
        .worker_threads(1)
        .build()
        .unwrap();
    let (tx, rx) = futures_channel::oneshot::channel::<()>();
    let mut task = rt.spawn(async move {
        let _ = rx.await;
        7
    });
    {
        // Register the panicking waker as the join waker, through a shield so dropping the poll does not
        // cancel the task.
        let waker = Waker::from(Arc::new(PanickingWaker));
        let mut shield = ferrio::shield(&mut task).into_future();
        assert!(Pin::new(&mut shield)
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
    }
    tx.send(()).unwrap(); // the task completes on the only worker and wakes the panicking waker
                          // The worker survived: new tasks still run, and the finished task still has its value.
    let after = rt.block_on(async { ferrio::spawn(async { 40 + 2 }).await.unwrap() });
    assert_eq!(after, 42);
    assert_eq!(rt.block_on(async { (&mut task).await.unwrap() }), 7);
    assert_eq!(rt.handle().live_tasks(), 0);
}
