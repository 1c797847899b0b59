//! `ferrio::sync::Promise`: asyncio's `Future`. Setting and cancelling once, awaiting from any number of tasks
//! on both flavours, from plain threads and other executors, withdrawing awaiters without cancelling, and the
//! seed chapter's "Awaiting a future" listing.

mod support;

use ferrio::sync::{Cancelled, Promise};
use std::future::IntoFuture;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use support::{eventually, poll_once, within, Flavor, Flavors, Log};

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn set_then_await() {
    Flavors::each(|flavor, rt| {
        let promise = Promise::new();
        assert!(!promise.is_done());
        promise.set_result(String::from("ready")).unwrap();
        assert!(promise.is_done() && !promise.is_cancelled());
        let got = rt.block_on(async { (&promise).await });
        assert_eq!(got.as_deref(), Ok("ready"), "{flavor:?}");
    });
}

#[test]
fn await_then_set_from_a_std_thread() {
    within(LIMIT, || {
        Flavors::each(|flavor, rt| {
            let promise = Promise::new();
            let setter = promise.clone();
            let got = rt.block_on(async move {
                let thread = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(20));
                    setter.set_result(11).unwrap();
                });
                let got = promise.await;
                thread.join().unwrap();
                got
            });
            assert_eq!(got, Ok(11), "{flavor:?}");
        });
    });
}

/// Spawns `n` tasks awaiting `promise`, waits until each has started, completes it with `complete`, and
/// returns what each task got.
fn await_in_tasks(
    rt: &ferrio::Runtime,
    n: usize,
    promise: &Promise<String>,
    complete: impl FnOnce(&Promise<String>),
) -> Vec<Result<String, Cancelled>> {
    rt.block_on(async {
        let started = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let (promise, started) = (promise.clone(), started.clone());
                ferrio::spawn(async move {
                    started.fetch_add(1, SeqCst);
                    promise.await
                })
            })
            .collect();
        eventually("every awaiter started", || started.load(SeqCst) == n).await;
        assert!(!promise.is_done(), "nothing completed the promise yet");
        complete(promise);
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("awaiter task failed"));
        }
        results
    })
}

#[test]
fn many_awaiters_on_both_flavours_all_get_the_value() {
    within(LIMIT, || {
        Flavors::each(|flavor, rt| {
            let promise = Promise::new();
            let results = await_in_tasks(&rt, 100, &promise, |p| {
                p.set_result("shared".to_owned()).unwrap()
            });
            assert_eq!(results.len(), 100);
            assert!(
                results.iter().all(|r| r.as_deref() == Ok("shared")),
                "{flavor:?}: {results:?}"
            );
        });
    });
}

#[test]
fn awaiters_on_many_threads_at_once() {
    within(LIMIT, || {
        let rt = Flavor::MultiThread.build();
        let promise = Promise::new();
        let blockers: Vec<_> = (0..4)
            .map(|_| {
                let promise = promise.clone();
                std::thread::spawn(move || futures_lite::future::block_on(promise.into_future()))
            })
            .collect();
        let results = await_in_tasks(&rt, 50, &promise, |p| p.set_result("x".to_owned()).unwrap());
        assert!(results.iter().all(|r| r.as_deref() == Ok("x")));
        for thread in blockers {
            assert_eq!(thread.join().unwrap().as_deref(), Ok("x"));
        }
    });
}

#[test]
fn a_second_set_fails_and_hands_the_value_back() {
    let promise = Promise::new();
    assert_eq!(promise.set_result(vec![1]), Ok(()));
    assert_eq!(promise.set_result(vec![2, 3]), Err(vec![2, 3]));
    assert_eq!(
        promise.try_result(),
        Some(Ok(vec![1])),
        "the first value stays"
    );
    assert!(!promise.is_cancelled());
}

#[test]
fn a_set_after_cancel_fails() {
    let promise = Promise::new();
    assert!(promise.cancel());
    assert_eq!(promise.set_result(5u8), Err(5));
    assert!(promise.is_done() && promise.is_cancelled());
    assert_eq!(promise.try_result(), Some(Err(Cancelled)));
}

#[test]
fn cancel_wakes_every_awaiter_with_cancelled() {
    within(LIMIT, || {
        Flavors::each(|flavor, rt| {
            let promise = Promise::new();
            let results = await_in_tasks(&rt, 20, &promise, |p| assert!(p.cancel()));
            assert!(
                results.iter().all(|r| *r == Err(Cancelled)),
                "{flavor:?}: {results:?}"
            );
        });
        // From another thread, to an awaiter blocked outside any runtime.
        let promise = Promise::<u8>::new();
        let canceller = promise.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            canceller.cancel()
        });
        assert_eq!(
            futures_lite::future::block_on(promise.into_future()),
            Err(Cancelled)
        );
        assert!(thread.join().unwrap());
    });
}

#[test]
fn cancel_returns_false_once_done() {
    let promise = Promise::new();
    promise.set_result('a').unwrap();
    assert!(!promise.cancel());
    assert!(!promise.is_cancelled());
    assert_eq!(
        promise.try_result(),
        Some(Ok('a')),
        "a refused cancel keeps the value"
    );

    let cancelled = Promise::<char>::new();
    assert!(cancelled.cancel());
    assert!(!cancelled.cancel(), "a second cancel is refused");
    assert!(cancelled.is_cancelled());
}

#[test]
fn try_result_is_none_until_done() {
    let promise = Promise::default();
    assert_eq!(promise.try_result(), None);
    assert!(!promise.is_done());
    let handle = promise.clone();
    handle.set_result(1.5f64).unwrap();
    assert_eq!(
        promise.try_result(),
        Some(Ok(1.5)),
        "clones share one promise"
    );
    assert!(promise.is_done());
}

#[test]
fn dropping_an_awaiter_cancels_nothing() {
    within(LIMIT, || {
        Flavors::each(|flavor, rt| {
            let promise = Promise::new();
            let got = rt.block_on(async {
                // An awaiter polled once (registered), then dropped.
                let mut dropped = (&promise).into_future();
                assert_eq!(poll_once(&mut dropped).await, Poll::Pending);
                drop(dropped);
                // An awaiting task cancelled: its future, and the awaiter inside, are dropped.
                let doomed = {
                    let promise = promise.clone();
                    ferrio::spawn(async move { promise.await })
                };
                let survivor = {
                    let promise = promise.clone();
                    ferrio::spawn(async move { promise.await })
                };
                ferrio::yield_now().await;
                assert!(doomed.cancel());
                eventually("the cancelled awaiter is gone", || doomed.is_done()).await;
                assert!(!promise.is_done() && !promise.is_cancelled(), "{flavor:?}");
                promise.set_result(8u64).unwrap();
                survivor.await.unwrap()
            });
            assert_eq!(got, Ok(8), "{flavor:?}");
        });
    });
}

#[test]
fn awaiting_outside_any_runtime() {
    within(LIMIT, || {
        let promise = Promise::new();
        let setter = promise.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            setter.set_result("late").unwrap();
        });
        assert_eq!(
            futures_lite::future::block_on((&promise).into_future()),
            Ok("late")
        );
        thread.join().unwrap();
        // Again, already done.
        assert_eq!(
            futures_lite::future::block_on(promise.into_future()),
            Ok("late")
        );
    });
}

#[test]
fn a_tokio_task_awaits_a_promise_set_by_a_ferrio_task() {
    within(LIMIT, || {
        let promise = Promise::new();
        let tokio_rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let awaiter = tokio_rt.spawn(promise.clone().into_future());
        let ferrio_rt = Flavor::MultiThread.build();
        let setter = promise.clone();
        ferrio_rt.block_on(async move {
            ferrio::spawn(async move { setter.set_result(99i32).unwrap() })
                .await
                .unwrap()
        });
        assert_eq!(tokio_rt.block_on(awaiter).unwrap(), Ok(99));
    });
}

#[test]
fn awaiting_by_reference_and_by_clone() {
    let rt = Flavor::CurrentThread.build();
    let promise = Promise::new();
    let (by_ref, by_clone, by_value) = rt.block_on(async {
        let setter = promise.clone();
        ferrio::spawn(async move { setter.set_result(3u16).unwrap() });
        let by_ref = (&promise).await;
        let by_clone = promise.clone().await;
        let by_value = promise.clone().await;
        (by_ref, by_clone, by_value)
    });
    assert_eq!((by_ref, by_clone, by_value), (Ok(3), Ok(3), Ok(3)));
    assert_eq!(
        promise.try_result(),
        Some(Ok(3)),
        "awaiting does not consume the value"
    );
}

#[test]
fn cancelled_is_an_error_type() {
    fn error<E: std::error::Error + Send + Sync + Copy + Eq + 'static>(_: E) {}
    error(Cancelled);
    assert_eq!(Cancelled.to_string(), "promise was cancelled");
    assert_eq!(format!("{Cancelled:?}"), "Cancelled");
    fn send_sync<X: Send + Sync>() {}
    send_sync::<Promise<std::cell::Cell<u8>>>();
    assert!(format!("{:?}", Promise::<u8>::new()).contains("pending"));
}

/// The seed chapter's "Awaiting a future" listing (asyncio-basics.md), with a few `yield_now` instead of the
/// one-second sleep. Python prints `Is the future done? False`, `Is the future done? True`, `42`.
#[test]
fn seed_listing_awaiting_a_future() {
    async fn set_future_value(future: Promise<i32>) {
        for _ in 0..3 {
            ferrio::yield_now().await;
        }
        future.set_result(42).unwrap();
    }

    fn make_request() -> Promise<i32> {
        let future = Promise::new();
        // Detached, as in the listing: dropping the `Task` does not cancel it.
        ferrio::spawn(set_future_value(future.clone()));
        future
    }

    async fn main(log: Log) {
        let future = make_request();
        log.push(format!("Is the future done? {}", future.is_done()));
        let value = (&future).await.unwrap();
        log.push(format!("Is the future done? {}", future.is_done()));
        log.push(value.to_string());
    }

    within(LIMIT, || {
        let log = Log::new();
        Flavor::CurrentThread.build().block_on(main(log.clone()));
        assert_eq!(
            log.events(),
            [
                "Is the future done? false",
                "Is the future done? true",
                "42"
            ]
        );
    });
}
