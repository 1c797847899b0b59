//! Where a `Sleep` lives decides how it reaches its runtime's timer driver (src/time/binding.rs): inside a
//! task of that runtime it keeps the driver and the task's own waker without reference counts; anywhere
//! else it holds counted references. These tests drive the uncounted paths where they can go wrong: a
//! sleep polled alternately with its task's waker and a foreign one, a sleep of one runtime inside a task
//! of another, tasks holding registered sleeps cancelled or dropped with their runtime, and a local task.
//! Last, a wheel letting go of a waker that owns a sleep of the same wheel.

mod support;

use ferrio::time::{sleep, Sleep};
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};
use support::{within, DropCounter, Flavor, Flavors};

const MS: Duration = Duration::from_millis(1);

/// A waker that counts its wakes and passes them on to the task's waker.
struct Relay {
    wakes: AtomicUsize,
    task: Waker,
}

impl Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
        self.task.wake_by_ref();
    }
}

/// Polls the sleep it owns with the task's own waker on even polls and with a relay on odd ones, so the
/// registered entry switches between an uncounted and a counted waker. Returns (polls, relay wakes).
async fn sleep_with_alternating_wakers(d: Duration, relay_first: bool) -> (usize, usize) {
    let mut s = pin!(sleep(d));
    let mut polls = 0;
    let mut relays: Vec<Arc<Relay>> = Vec::new();
    std::future::poll_fn(|cx| {
        polls += 1;
        let use_relay = (polls % 2 == 1) == relay_first;
        let ready = if use_relay {
            let relay = Arc::new(Relay {
                wakes: AtomicUsize::new(0),
                task: cx.waker().clone(),
            });
            let waker = Waker::from(relay.clone());
            relays.push(relay);
            s.as_mut().poll(&mut Context::from_waker(&waker))
        } else {
            s.as_mut().poll(cx)
        };
        if ready.is_pending() && polls < 4 {
            // Come back before the deadline, with the other kind of waker.
            cx.waker().wake_by_ref();
        }
        ready
    })
    .await;
    let wakes = relays.iter().map(|r| r.wakes.load(SeqCst)).sum();
    (polls, wakes)
}

/// The sleep fires through whichever waker it was polled with last: the task's own (kept uncounted) or a
/// relay (counted), after switching between them, on both flavours.
#[test]
fn a_sleep_in_a_task_wakes_through_its_latest_waker() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            for relay_first in [false, true] {
                let start = Instant::now();
                let (polls, relay_wakes) = rt.block_on(async move {
                    ferrio::spawn(sleep_with_alternating_wakers(20 * MS, relay_first))
                        .await
                        .unwrap()
                });
                assert!(start.elapsed() >= 20 * MS, "{flavor:?}: woke early");
                // Polls 1-4 happen at once (self-wakes); the fifth comes from the timer. Poll 4 used the
                // task's waker when the relay went first, the relay otherwise.
                assert_eq!(polls, 5, "{flavor:?} relay_first={relay_first}");
                let expected = usize::from(!relay_first);
                assert_eq!(
                    relay_wakes, expected,
                    "{flavor:?} relay_first={relay_first}"
                );
                assert_eq!(rt.handle().pending_timers(), 0, "{flavor:?}");
            }
        });
    });
}

/// A sleep made by one runtime, awaited inside a task of another: it stays with the runtime that made it
/// (fired by that runtime's workers) and wakes the other runtime's task through that task's own waker.
#[test]
fn a_sleep_from_another_runtime_inside_a_task_fires_on_time() {
    within(Duration::from_secs(10), || {
        let maker = Flavor::MultiThread.build();
        Flavors::each(|flavor, rt| {
            let mut made = None;
            maker.block_on(async { made = Some(sleep(30 * MS)) });
            let s = made.unwrap();
            let deadline = s.deadline();
            let woke = rt.block_on(async move {
                ferrio::spawn(async move {
                    s.await;
                    Instant::now()
                })
                .await
                .unwrap()
            });
            assert!(woke >= deadline, "{flavor:?}: early");
            assert!(woke < deadline + Duration::from_secs(1), "{flavor:?}: late");
            assert_eq!(maker.handle().pending_timers(), 0);
            assert_eq!(rt.handle().pending_timers(), 0);
        });
    });
}

/// Tasks holding registered sleeps: cancelling them removes their timers, and dropping the runtime with
/// the rest still waiting drops every future (the sleeps inside unlink from the driver the tasks keep
/// alive), even while a sleep outside any task still holds the driver.
#[test]
fn tasks_holding_registered_sleeps_cancelled_or_dropped_with_the_runtime() {
    const TASKS: usize = 200;
    within(Duration::from_secs(20), || {
        Flavors::each(|flavor, rt| {
            let drops = DropCounter::new();
            let (tasks, outside) = rt.block_on(async {
                let tasks: Vec<_> = (0..TASKS)
                    .map(|i| {
                        let guard = drops.guard();
                        ferrio::spawn(async move {
                            let _guard = guard;
                            sleep(Duration::from_secs(30 + i as u64)).await;
                        })
                    })
                    .collect();
                let mut outside = Box::pin(sleep(Duration::from_secs(60)));
                assert!(futures_lite::future::poll_once(outside.as_mut())
                    .await
                    .is_none());
                // Let every task run once and register.
                while ferrio::Handle::current().pending_timers() < TASKS + 1 {
                    sleep(MS).await;
                }
                (tasks, outside)
            });
            for task in &tasks[..TASKS / 2] {
                assert!(task.cancel(), "{flavor:?}");
            }
            rt.block_on(async {
                while !tasks[..TASKS / 2].iter().all(|t| t.is_done()) {
                    ferrio::yield_now().await;
                }
            });
            assert_eq!(drops.dropped(), TASKS / 2, "{flavor:?}");
            assert_eq!(rt.handle().pending_timers(), TASKS / 2 + 1, "{flavor:?}");
            drop(tasks);
            drop(rt);
            assert_eq!(
                drops.dropped(),
                TASKS,
                "{flavor:?}: runtime drop left futures alive"
            );
            drop(outside);
        });
    });
}

/// A `spawn_local` task's sleep (the current-thread flavour's local hook also lends its driver).
#[test]
fn a_local_task_sleeps_and_wakes() {
    within(Duration::from_secs(10), || {
        let rt = Flavor::CurrentThread.build();
        let elapsed = rt.block_on(async {
            let not_send = std::rc::Rc::new(());
            ferrio::spawn_local(async move {
                let start = Instant::now();
                sleep(15 * MS).await;
                drop(not_send);
                start.elapsed()
            })
            .await
            .unwrap()
        });
        assert!(elapsed >= 15 * MS, "woke early: {elapsed:?}");
        assert_eq!(rt.handle().pending_timers(), 0);
    });
}

/// Pinned on the heap or in the task: the same deadlines, the same results (both ways registered, then
/// fired), many times over, so uncounted and counted entries share the wheels.
#[test]
fn boxed_and_in_task_sleeps_mixed_all_fire() {
    within(Duration::from_secs(20), || {
        Flavors::each(|flavor, rt| {
            let fired = rt.block_on(async {
                let tasks: Vec<_> = (0..2_000u64)
                    .map(|i| {
                        ferrio::spawn(async move {
                            let d = Duration::from_micros(100 + (i * 37) % 5_000);
                            let start = Instant::now();
                            if i % 2 == 0 {
                                sleep(d).await;
                            } else {
                                Box::pin(sleep(d)).await;
                            }
                            start.elapsed() >= d
                        })
                    })
                    .collect();
                let mut on_time = 0;
                for t in tasks {
                    on_time += usize::from(t.await.unwrap());
                }
                on_time
            });
            assert_eq!(fired, 2_000, "{flavor:?}: a sleep woke early");
            assert_eq!(rt.handle().pending_timers(), 0);
        });
    });
}

/// A waker that owns a registered sleep of the same runtime.
struct SleepOwningWaker {
    _sleep: Pin<Box<Sleep>>,
}

impl Wake for SleepOwningWaker {
    fn wake(self: Arc<Self>) {}
}

/// Regression: wheels dropped a replaced or removed waker while holding their lock, so a waker whose
/// destructor drops a sleep of the same wheel (its removal waits for that lock) hung the thread. Both ways
/// a wheel lets go of a waker, on both flavours, from `block_on` (one wheel for the thread).
#[test]
fn a_waker_that_owns_a_sleep_can_be_dropped_by_the_wheel() {
    within(Duration::from_secs(10), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                for replace in [false, true] {
                    let mut inner = Box::pin(sleep(Duration::from_secs(10)));
                    assert!(futures_lite::future::poll_once(inner.as_mut())
                        .await
                        .is_none());
                    let owner = Arc::new(SleepOwningWaker { _sleep: inner });
                    let waker = Waker::from(owner);
                    let mut outer = Box::pin(sleep(Duration::from_secs(10)));
                    let cx = &mut Context::from_waker(&waker);
                    assert!(outer.as_mut().poll(cx).is_pending());
                    drop(waker); // the wheel's clone is now the last: dropping it drops `inner`
                    assert_eq!(ferrio::Handle::current().pending_timers(), 2, "{flavor:?}");
                    if replace {
                        let cx = &mut Context::from_waker(Waker::noop());
                        assert!(outer.as_mut().poll(cx).is_pending());
                        assert_eq!(ferrio::Handle::current().pending_timers(), 1, "{flavor:?}");
                    }
                    drop(outer);
                    assert_eq!(ferrio::Handle::current().pending_timers(), 0, "{flavor:?}");
                }
            });
        });
    });
}
