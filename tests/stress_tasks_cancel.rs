//! Cancel storms on both flavours: tasks cancelled while idle, while running, while being stolen, while
//! completing, and from many threads at once. Each storm ends by checking that every spawn ended in exactly
//! one outcome, that every future and output was dropped exactly once, and that `Runtime::stats()` counted
//! the same (`stress_support`).
//!
//! Sizes: CI size by default; `FERRIO_STRESS_SCALE=20` gives the sizes (README's table):
//! `FERRIO_STRESS_SCALE=20 cargo test --release --test stress_tasks_cancel -- --nocapture` (each storm prints
//! its counts with `--nocapture`). Spawn and panic storms: `stress_tasks.rs`. Single-task cancel semantics:
//! `task_cancel.rs`, `task_cancel_propagation.rs`.

mod stress_support;
mod support;

use ferrio::{yield_now, Runtime, Task};
use std::future::IntoFuture;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stress_support::{collect, limit, on_thread, scaled, short_body, Counted, Tally, XorShift};
use support::{within, Flavor};

/// A runtime of `flavor` (multi-thread: 2 workers) whose threads are named `name-*`.
fn runtime(flavor: Flavor, name: &str) -> Runtime {
    flavor.builder().thread_name(name).build().unwrap()
}

/// Tasks idle on a future that never completes (each polled once first), cancelled half from a plain thread
/// and half from a task; plus tasks cancelled before their first poll. All end cancelled, none produced an
/// output, every future was dropped.
#[test]
fn cancel_storm_while_idle() {
    within(limit(60), || {
        for flavor in Flavor::ALL {
            let n = scaled(50_000);
            let rt = runtime(flavor, "st-idle");
            let tally = Tally::new();
            let before = rt.stats().total;
            let started = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..n)
                .map(|_| {
                    let started = started.clone();
                    rt.spawn(tally.counted(async move {
                        started.fetch_add(1, SeqCst);
                        std::future::pending::<()>().await
                    }))
                })
                .collect();
            rt.block_on(support::eventually("every task polled once", || {
                started.load(SeqCst) == n
            }));
            let handles = Arc::new(handles);
            // First half from a plain thread, second half from a task, at the same time.
            let h = handles.clone();
            let from_thread = on_thread(move || h[..n / 2].iter().all(|t| t.cancel()));
            let h = handles.clone();
            let from_task = rt.spawn(tally.counted(async move {
                let mut all = true;
                for (i, t) in h[n / 2..].iter().enumerate() {
                    all &= t.cancel();
                    if i % 64 == 0 {
                        yield_now().await;
                    }
                }
                all
            }));
            // Cancelled right after the spawn. On the current-thread flavour nothing runs outside `block_on`,
            // so these are never polled; a multi-thread worker may have started one already (it then ends
            // at its first await).
            let early_polls = Arc::new(AtomicUsize::new(0));
            let unpolled: Vec<_> = (0..n / 10)
                .map(|_| {
                    let p = early_polls.clone();
                    let t = rt.spawn(tally.counted(async move {
                        p.fetch_add(1, SeqCst);
                        std::future::pending::<()>().await
                    }));
                    assert!(t.cancel());
                    t
                })
                .collect();
            let (thread_ok, task_ok) = rt.block_on(async {
                let a = from_thread.await;
                (a, tally.record(from_task.await).unwrap())
            });
            assert!(
                thread_ok && task_ok,
                "{flavor:?}: cancel() refused on an idle task"
            );
            let handles = Arc::try_unwrap(handles).expect("the cancellers let go");
            let idle = collect(&rt, &tally, handles);
            let never = collect(&rt, &tally, unpolled);
            assert!(idle.iter().chain(&never).all(Option::is_none));
            if flavor == Flavor::CurrentThread {
                assert_eq!(
                    early_polls.load(SeqCst),
                    0,
                    "polled after an accepted cancel"
                );
            }
            let c = tally.check(&format!("{flavor:?} cancel while idle"), &before, || {
                rt.stats().total
            });
            assert_eq!(c.cancelled, (n + n / 10) as u64, "{flavor:?}");
            println!("{flavor:?} cancel storm while idle: {c:?}");
        }
    });
}

/// Tasks that never stop running (yield loops, some busy for a few microseconds per poll) are cancelled
/// from a plain thread while the runtime polls them: every cancel is accepted and every task ends cancelled.
#[test]
fn cancel_storm_while_running() {
    within(limit(60), || {
        for flavor in Flavor::ALL {
            let n = scaled(20_000);
            let rt = runtime(flavor, "st-run");
            let tally = Tally::new();
            let before = rt.stats().total;
            let polls = Arc::new(AtomicUsize::new(0));
            let mut rng = XorShift::new(0x5eed_0003);
            let handles: Vec<_> = (0..n)
                .map(|_| {
                    let (polls, busy) = (polls.clone(), rng.chance(1, 10));
                    rt.spawn(tally.counted(async move {
                        loop {
                            polls.fetch_add(1, SeqCst);
                            if busy {
                                let until = Instant::now() + Duration::from_micros(5);
                                while Instant::now() < until {
                                    std::hint::spin_loop();
                                }
                            }
                            yield_now().await;
                        }
                    }))
                })
                .collect();
            let handles = Arc::new(handles);
            let h = handles.clone();
            let p = polls.clone();
            let mut rng2 = rng.fork();
            let accepted = rt.block_on(on_thread(move || {
                // Let them run a while, then cancel in a random order while they keep running.
                support::wait_until(Duration::from_secs(10), || p.load(SeqCst) >= 2 * n);
                let mut order: Vec<usize> = (0..n).collect();
                for i in (1..n).rev() {
                    order.swap(i, rng2.below(i as u64 + 1) as usize);
                }
                order.into_iter().filter(|&i| h[i].cancel()).count()
            }));
            assert_eq!(accepted, n, "{flavor:?}: a running task refused cancel()");
            let handles = Arc::try_unwrap(handles).expect("the canceller let go");
            assert!(collect(&rt, &tally, handles).iter().all(Option::is_none));
            let c = tally.check(&format!("{flavor:?} cancel while running"), &before, || {
                rt.stats().total
            });
            assert_eq!(c.cancelled, n as u64);
            println!("{flavor:?} cancel storm while running: {c:?}");
        }
    });
}

/// Multi-thread, busy: a spawner task fills its worker's queue with children and stays in its poll until
/// another worker has stolen from it; then the spawner (on its worker, from the front) and a plain thread
/// (from the back) cancel the children while the thieves are taking them. Outcomes are mixed; the
/// invariants hold.
#[test]
fn cancel_storm_while_being_stolen() {
    within(limit(60), || {
        let rounds = scaled(50);
        let children = 1000;
        let rt = Runtime::builder()
            .worker_threads(3)
            .thread_name("st-steal")
            .build()
            .unwrap();
        let tally = Tally::new();
        let before = rt.stats().total;
        let mut rng = XorShift::new(0x5eed_0004);
        let mut rounds_with_steals = 0;
        for _ in 0..rounds {
            let (kids_tx, kids_rx) = std::sync::mpsc::channel::<Arc<Vec<Task<Counted<u64>>>>>();
            let go = Arc::new(AtomicBool::new(false));
            let go2 = go.clone();
            let canceller = std::thread::spawn(move || {
                let kids = kids_rx.recv().unwrap();
                while !go2.load(SeqCst) {
                    std::hint::spin_loop();
                }
                for t in kids.iter().rev() {
                    t.cancel();
                }
            });
            let (handle, t2, mut rng2) = (rt.handle(), tally.clone(), rng.fork());
            let spawner = rt.spawn(tally.counted(async move {
                let stolen_before = handle.stats().total.tasks_stolen;
                let kids: Arc<Vec<_>> = Arc::new(
                    (0..children as u64)
                        .map(|i| ferrio::spawn(t2.counted(short_body(rng2.fork(), i))))
                        .collect(),
                );
                kids_tx.send(kids.clone()).unwrap();
                // Stay in this poll (keeping the queue here) until a thief has taken something.
                let deadline = Instant::now() + Duration::from_secs(2);
                while handle.stats().total.tasks_stolen == stolen_before
                    && Instant::now() < deadline
                {
                    std::hint::spin_loop();
                }
                let stole = handle.stats().total.tasks_stolen > stolen_before;
                go.store(true, SeqCst);
                for t in kids.iter().step_by(2) {
                    t.cancel();
                }
                (kids, stole)
            }));
            let (kids, stole) = tally
                .record(rt.block_on(spawner.into_future()))
                .expect("the spawner completes");
            canceller.join().unwrap();
            rounds_with_steals += usize::from(stole);
            let kids = Arc::try_unwrap(kids).unwrap_or_else(|_| unreachable!("shared after join"));
            collect(&rt, &tally, kids);
        }
        let c = tally.check("cancel while being stolen", &before, || rt.stats().total);
        if ferrio::RuntimeStats::enabled() {
            assert!(
                rounds_with_steals > 0,
                "no round saw a steal: the storm did not exercise stealing"
            );
        }
        println!(
            "cancel storm while being stolen: {c:?}, {rounds_with_steals}/{rounds} rounds stole"
        );
    });
}

/// Tasks finishing after a few yields race a plain thread that cancels each of them once, at a random
/// moment (before the first poll, while idle or queued, during the last poll, after completion). With a
/// single canceller the outcome must match `cancel()`'s answer exactly: accepted means the task ends
/// cancelled (even if its body had returned, as in asyncio), refused means it had completed.
#[test]
fn cancel_storm_racing_completion() {
    within(limit(60), || {
        for flavor in Flavor::ALL {
            let n = scaled(50_000);
            let rt = runtime(flavor, "st-race");
            let tally = Tally::new();
            let before = rt.stats().total;
            let mut rng = XorShift::new(0x5eed_0005);
            let handles: Arc<Vec<_>> = Arc::new(
                (0..n as u64)
                    .map(|i| rt.spawn(tally.counted(short_body(rng.fork(), i))))
                    .collect(),
            );
            let h = handles.clone();
            let mut rng2 = rng.fork();
            let accepted: Vec<bool> = rt.block_on(on_thread(move || {
                h.iter()
                    .map(|t| {
                        for _ in 0..rng2.below(200) {
                            std::hint::spin_loop();
                        }
                        t.cancel()
                    })
                    .collect()
            }));
            let handles = Arc::try_unwrap(handles).unwrap_or_else(|_| unreachable!());
            let results = collect(&rt, &tally, handles);
            for (i, (r, a)) in results.iter().zip(&accepted).enumerate() {
                assert_eq!(
                    r.is_none(),
                    *a,
                    "{flavor:?}: task {i}: cancel() said {a} but the task ended {r:?}"
                );
            }
            let c = tally.check(
                &format!("{flavor:?} cancel racing completion"),
                &before,
                || rt.stats().total,
            );
            println!("{flavor:?} cancel storm racing completion: {c:?}");
        }
    });
}

/// Four plain threads cancel every task at once, each in its own random order, while the tasks idle, spin
/// in yields, or complete. A task ends cancelled exactly when at least one `cancel()` was accepted; the idle
/// and spinning ones always do.
#[test]
fn cancel_storm_from_many_threads_at_once() {
    within(limit(60), || {
        for flavor in Flavor::ALL {
            let n = scaled(20_000);
            let threads = 4;
            let rt = runtime(flavor, "st-many");
            let tally = Tally::new();
            let before = rt.stats().total;
            let mut rng = XorShift::new(0x5eed_0006);
            // Kind 0: idle forever; 1: yields forever; 2: completes after a few yields.
            let kinds: Vec<u64> = (0..n).map(|_| rng.below(3)).collect();
            let handles: Arc<Vec<_>> = Arc::new(
                kinds
                    .iter()
                    .enumerate()
                    .map(|(i, &kind)| {
                        let rng = rng.fork();
                        rt.spawn(tally.counted(async move {
                            match kind {
                                0 => std::future::pending().await,
                                1 => loop {
                                    yield_now().await;
                                },
                                _ => short_body(rng, i as u64).await,
                            }
                        }))
                    })
                    .collect(),
            );
            let accepted: Arc<Vec<AtomicBool>> =
                Arc::new((0..n).map(|_| AtomicBool::new(false)).collect());
            let cancellers: Vec<_> = (0..threads)
                .map(|_| {
                    let (h, acc, mut rng) = (handles.clone(), accepted.clone(), rng.fork());
                    on_thread(move || {
                        let mut order: Vec<usize> = (0..n).collect();
                        for i in (1..n).rev() {
                            order.swap(i, rng.below(i as u64 + 1) as usize);
                        }
                        for i in order {
                            if h[i].cancel() {
                                acc[i].store(true, SeqCst);
                            }
                        }
                    })
                })
                .collect();
            rt.block_on(async {
                for c in cancellers {
                    c.await;
                }
            });
            let handles = Arc::try_unwrap(handles).unwrap_or_else(|_| unreachable!());
            let results = collect(&rt, &tally, handles);
            for (i, r) in results.iter().enumerate() {
                let acc = accepted[i].load(SeqCst);
                assert_eq!(r.is_none(), acc, "{flavor:?}: task {i} (kind {})", kinds[i]);
                if kinds[i] < 2 {
                    assert!(acc, "{flavor:?}: task {i} never finishes by itself");
                }
            }
            let c = tally.check(
                &format!("{flavor:?} cancel from many threads"),
                &before,
                || rt.stats().total,
            );
            println!("{flavor:?} cancel storm from {threads} threads: {c:?}");
        }
    });
}
