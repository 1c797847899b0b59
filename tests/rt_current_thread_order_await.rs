//! The current-thread flavour runs tasks in asyncio's `_run_once` order: each tick runs the entries that were
//! ready when it began, in the order they became ready, and the `block_on` future is one of those entries
//! (asyncio's main task). A spawned task first runs when its spawner awaits something pending.
//!
//! Each scenario below is written next to its asyncio equivalent (`await asyncio.sleep(0)` for
//! `ferrio::yield_now()`), and asserts the sequence that `python3` (3.11.7) printed for it. Every scenario
//! runs twice: with `ferrio::spawn` and with `ferrio::spawn_local`, which share the same run queue (the
//! harness: `support::asyncio_order`).
//!
//! This file: scenarios 5 to 7, awaiting tasks and `block_on`'s boundaries (a task awaiting a task that
//! yields, awaiting tasks that have finished already without suspending, tasks ready before `block_on` and
//! left over from one `block_on` to the next). Scenarios 1 to 4, spawning and yielding:
//! `rt_current_thread_order.rs`.

mod support;

use ferrio::yield_now;
use support::asyncio_order::{check, current_thread, sp};
use support::Log;

// Scenario 5: a task awaits another task (which yields); it is woken behind the tasks already queued when
// that task finishes. Awaiting an already-finished task (`q`) does not suspend the awaiter, so the bystander
// does not run between "main got w 1" and "main got q 2".
//
// ```python
// async def s5():
//     log = []
//     async def leaf():
//         log.append("leaf start")
//         await asyncio.sleep(0)
//         log.append("leaf end")
//         return 1
//     async def quick():
//         log.append("quick")
//         return 2
//     async def waiter(name, t):
//         log.append(f"{name} waits")
//         v = await t
//         log.append(f"{name} woke {v}")
//         return v
//     async def bystander():
//         log.append("b0")
//         await asyncio.sleep(0)
//         log.append("b1")
//         await asyncio.sleep(0)
//         log.append("b2")
//         await asyncio.sleep(0)
//         log.append("b3")
//     l = asyncio.create_task(leaf())
//     q = asyncio.create_task(quick())
//     w = asyncio.create_task(waiter("w", l))
//     b = asyncio.create_task(bystander())
//     await asyncio.sleep(0)
//     log.append("main after 1 yield")
//     v = await w
//     log.append(f"main got w {v}")
//     v = await q
//     log.append(f"main got q {v}")
//     await b
//     log.append("main end")
//     return log
// ```
// python3 printed:
// ['leaf start', 'quick', 'w waits', 'b0', 'main after 1 yield', 'leaf end', 'b1', 'w woke 1', 'b2',
//  'main got w 1', 'main got q 2', 'b3', 'main end']
async fn s5(log: Log, local: bool) {
    let l = log.clone();
    let leaf = sp(local, async move {
        l.push("leaf start");
        yield_now().await;
        l.push("leaf end");
        1
    });
    let l = log.clone();
    let q = sp(local, async move {
        l.push("quick");
        2
    });
    let l = log.clone();
    let w = sp(local, async move {
        l.push("w waits");
        let v = leaf.await.unwrap();
        l.push(format!("w woke {v}"));
        v
    });
    let l = log.clone();
    let b = sp(local, async move {
        l.push("b0");
        yield_now().await;
        l.push("b1");
        yield_now().await;
        l.push("b2");
        yield_now().await;
        l.push("b3");
    });
    yield_now().await;
    log.push("main after 1 yield");
    let v = w.await.unwrap();
    log.push(format!("main got w {v}"));
    assert!(q.is_done());
    let v = q.await.unwrap();
    log.push(format!("main got q {v}"));
    b.await.unwrap();
    log.push("main end");
}

#[test]
fn s5_task_awaits_task_and_finished_await_is_immediate() {
    check(
        "s5",
        s5,
        &[
            "leaf start",
            "quick",
            "w waits",
            "b0",
            "main after 1 yield",
            "leaf end",
            "b1",
            "w woke 1",
            "b2",
            "main got w 1",
            "main got q 2",
            "b3",
            "main end",
        ],
    );
}

// Scenario 6: a task awaits 200 tasks that have all finished already: in asyncio none of those awaits
// suspends it, so the bystander does not run in between.
//
// ```python
// async def s6():
//     log = []
//     async def leaf(i):
//         return i
//     async def collector():
//         ts = [asyncio.create_task(leaf(i)) for i in range(200)]
//         await asyncio.sleep(0)
//         log.append("collector awaiting")
//         s = 0
//         for t in ts:
//             s += await t
//         log.append(f"collector sum {s}")
//     async def bystander():
//         for i in range(3):
//             log.append(f"b{i}")
//             await asyncio.sleep(0)
//     c = asyncio.create_task(collector())
//     b = asyncio.create_task(bystander())
//     await c
//     await b
//     log.append("main end")
//     return log
// ```
// python3 printed:
// ['b0', 'collector awaiting', 'collector sum 19900', 'b1', 'b2', 'main end']
async fn s6(log: Log, local: bool) {
    let l = log.clone();
    let c = sp(local, async move {
        let tasks: Vec<_> = (0..200u64).map(|i| sp(local, async move { i })).collect();
        yield_now().await;
        l.push("collector awaiting");
        let mut s = 0;
        for t in tasks {
            s += t.await.unwrap();
        }
        l.push(format!("collector sum {s}"));
    });
    let l = log.clone();
    let b = sp(local, async move {
        for i in 0..3 {
            l.push(format!("b{i}"));
            yield_now().await;
        }
    });
    c.await.unwrap();
    b.await.unwrap();
    log.push("main end");
}

#[test]
fn s6_awaiting_many_finished_tasks_does_not_suspend() {
    check(
        "s6",
        s6,
        &[
            "b0",
            "collector awaiting",
            "collector sum 19900",
            "b1",
            "b2",
            "main end",
        ],
    );
}

// Scenario 7: tasks spawned before `block_on` (through the runtime, while no loop runs), and tasks left over
// from one `block_on` to the next. asyncio's analogue is `loop.run_until_complete`, which wraps the main
// coroutine in a task with `create_task`: the main task is appended *behind* the tasks already ready, and
// the loop stops only after the callback that the finished main task scheduled has run (one more tick).
//
// ```python
// log = []
// async def t(name, n):
//     log.append(f"{name} run")
//     for i in range(n):
//         await asyncio.sleep(0)
//         log.append(f"{name} {i}")
//     log.append(f"{name} end")
// async def main1():
//     log.append("main1 start")
//     await asyncio.sleep(0)
//     log.append("main1 end")
// async def main2():
//     log.append("main2 start")
//     await asyncio.sleep(0)
//     log.append("main2 end")
// loop = asyncio.new_event_loop()
// a = loop.create_task(t("a", 4))
// b = loop.create_task(t("b", 4))
// loop.run_until_complete(main1())
// log.append("between")
// loop.run_until_complete(main2())
// log.append("after")
// ```
// python3 printed:
// ['a run', 'b run', 'main1 start', 'a 0', 'b 0', 'main1 end', 'a 1', 'b 1', 'between', 'a 2', 'b 2',
//  'main2 start', 'a 3', 'a end', 'b 3', 'b end', 'main2 end', 'after']
fn s7_run(log: &Log) {
    async fn t(log: Log, name: &'static str, n: usize) {
        log.push(format!("{name} run"));
        for i in 0..n {
            yield_now().await;
            log.push(format!("{name} {i}"));
        }
        log.push(format!("{name} end"));
    }
    let rt = current_thread();
    let a = rt.spawn(t(log.clone(), "a", 4));
    let b = rt.spawn(t(log.clone(), "b", 4));
    rt.block_on(async {
        log.push("main1 start");
        yield_now().await;
        log.push("main1 end");
    });
    log.push("between");
    rt.block_on(async {
        log.push("main2 start");
        yield_now().await;
        log.push("main2 end");
    });
    log.push("after");
    drop((a, b));
}

/// The part of scenario 7 about the start of `block_on`: tasks that were ready before it began run before the
/// main future's first poll.
///
/// Regression (fixed): `LoopContext::run` (src/scheduler/current_thread.rs) used to put the main entry at the *front* of the queue
/// (`push_front(Entry::Main(..))`), so the main future runs before the tasks already ready; asyncio appends
/// the main task behind them. ferrio gives ["main1 start", "a run", "b run", ...].
#[test]
fn s7a_tasks_ready_before_block_on_run_first() {
    let log = Log::new();
    s7_run(&log);
    let got = log.events();
    assert_eq!(
        got[..3],
        ["a run", "b run", "main1 start"],
        "full log: {got:?}"
    );
}

/// Scenario 7 in full: also, when the main future finishes, the loop completes the current tick and the next
/// one up to the stop callback (so "a 1" and "b 1" run before `block_on` returns), and the second `block_on`
/// queues its main future behind the leftover tasks.
///
/// Regression (fixed): `LoopContext::run` used to return the moment the main future is
/// ready, in the middle of a tick, instead of finishing the tick that holds asyncio's stop callback.
#[test]
fn s7b_block_on_boundaries_match_run_until_complete() {
    let log = Log::new();
    s7_run(&log);
    assert_eq!(
        log.events(),
        [
            "a run",
            "b run",
            "main1 start",
            "a 0",
            "b 0",
            "main1 end",
            "a 1",
            "b 1",
            "between",
            "a 2",
            "b 2",
            "main2 start",
            "a 3",
            "a end",
            "b 3",
            "b end",
            "main2 end",
            "after",
        ]
    );
}
