//! The current-thread flavour runs tasks in asyncio's `_run_once` order: each tick runs the entries that were
//! ready when it began, in the order they became ready, and the `block_on` future is one of those entries
//! (asyncio's main task). A spawned task first runs when its spawner awaits something pending.
//!
//! Each scenario below is written next to its asyncio equivalent (`await asyncio.sleep(0)` for
//! `ferrio::yield_now()`), and asserts the sequence that `python3` (3.11.7) printed for it. Every scenario
//! runs twice: with `ferrio::spawn` and with `ferrio::spawn_local`, which share the same run queue (the
//! harness: `support::asyncio_order`).
//!
//! This file: scenarios 1 to 4, spawning and yielding (three tasks created then the first awaited, yielding
//! tasks interleaved with the main task's yields, a task that spawns another, the main task awaiting a
//! yielding task). Scenarios 5 to 7, awaiting tasks and `block_on`'s boundaries:
//! `rt_current_thread_order_await.rs`.

mod support;

use ferrio::yield_now;
use support::asyncio_order::{check, sp};
use support::Log;

// Scenario 1: create three tasks, then await the first one.
//
// ```python
// async def s1():
//     log = []
//     async def worker(name, n):
//         log.append(f"{name} start")
//         for i in range(n):
//             await asyncio.sleep(0)
//             log.append(f"{name} step{i}")
//         log.append(f"{name} end")
//         return name
//     log.append("main start")
//     a = asyncio.create_task(worker("a", 2))
//     b = asyncio.create_task(worker("b", 0))
//     c = asyncio.create_task(worker("c", 3))
//     log.append("main spawned")
//     r = await a
//     log.append(f"main got {r}")
//     await c
//     log.append("main got c")
//     await b
//     log.append("main end")
//     return log
// ```
// python3 printed:
// ['main start', 'main spawned', 'a start', 'b start', 'b end', 'c start', 'a step0', 'c step0', 'a step1',
//  'a end', 'c step1', 'main got a', 'c step2', 'c end', 'main got c', 'main end']
async fn s1_worker(log: Log, name: &'static str, n: usize) -> &'static str {
    log.push(format!("{name} start"));
    for i in 0..n {
        yield_now().await;
        log.push(format!("{name} step{i}"));
    }
    log.push(format!("{name} end"));
    name
}

async fn s1(log: Log, local: bool) {
    log.push("main start");
    let a = sp(local, s1_worker(log.clone(), "a", 2));
    let b = sp(local, s1_worker(log.clone(), "b", 0));
    let c = sp(local, s1_worker(log.clone(), "c", 3));
    log.push("main spawned");
    let r = a.await.unwrap();
    log.push(format!("main got {r}"));
    assert_eq!(c.await.unwrap(), "c");
    log.push("main got c");
    assert_eq!(b.await.unwrap(), "b");
    log.push("main end");
}

#[test]
fn s1_create_three_then_await_first() {
    check(
        "s1",
        s1,
        &[
            "main start",
            "main spawned",
            "a start",
            "b start",
            "b end",
            "c start",
            "a step0",
            "c step0",
            "a step1",
            "a end",
            "c step1",
            "main got a",
            "c step2",
            "c end",
            "main got c",
            "main end",
        ],
    );
}

// Scenario 2: tasks that yield several times, interleaving with the main task's own yields; a task spawned
// mid-way joins the rotation behind the main task.
//
// ```python
// async def s2():
//     log = []
//     async def t(name, n):
//         for i in range(n):
//             log.append(f"{name}{i}")
//             await asyncio.sleep(0)
//         log.append(f"{name} done")
//     x = asyncio.create_task(t("x", 3))
//     y = asyncio.create_task(t("y", 2))
//     log.append("m0")
//     await asyncio.sleep(0)
//     log.append("m1")
//     z = asyncio.create_task(t("z", 1))
//     await asyncio.sleep(0)
//     log.append("m2")
//     await asyncio.sleep(0)
//     log.append("m3")
//     await x; await y; await z
//     log.append("m end")
//     return log
// ```
// python3 printed:
// ['m0', 'x0', 'y0', 'm1', 'x1', 'y1', 'z0', 'm2', 'x2', 'y done', 'z done', 'm3', 'x done', 'm end']
async fn s2_t(log: Log, name: &'static str, n: usize) {
    for i in 0..n {
        log.push(format!("{name}{i}"));
        yield_now().await;
    }
    log.push(format!("{name} done"));
}

async fn s2(log: Log, local: bool) {
    let x = sp(local, s2_t(log.clone(), "x", 3));
    let y = sp(local, s2_t(log.clone(), "y", 2));
    log.push("m0");
    yield_now().await;
    log.push("m1");
    let z = sp(local, s2_t(log.clone(), "z", 1));
    yield_now().await;
    log.push("m2");
    yield_now().await;
    log.push("m3");
    x.await.unwrap();
    y.await.unwrap();
    z.await.unwrap();
    log.push("m end");
}

#[test]
fn s2_yielding_tasks_interleave() {
    check(
        "s2",
        s2,
        &[
            "m0", "x0", "y0", "m1", "x1", "y1", "z0", "m2", "x2", "y done", "z done", "m3",
            "x done", "m end",
        ],
    );
}

// Scenario 3: a spawned task spawns another one; the grandchild runs when the child awaits something pending,
// after the tasks already queued.
//
// ```python
// async def s3():
//     log = []
//     async def grandchild():
//         log.append("g run")
//         await asyncio.sleep(0)
//         log.append("g end")
//         return 3
//     async def child():
//         log.append("c start")
//         g = asyncio.create_task(grandchild())
//         log.append("c spawned g")
//         await asyncio.sleep(0)
//         log.append("c after yield")
//         v = await g
//         log.append(f"c got {v}")
//         return v + 1
//     async def other():
//         log.append("o start")
//         await asyncio.sleep(0)
//         log.append("o mid")
//         await asyncio.sleep(0)
//         log.append("o end")
//     c = asyncio.create_task(child())
//     o = asyncio.create_task(other())
//     log.append("main spawned")
//     v = await c
//     log.append(f"main got {v}")
//     await o
//     log.append("main end")
//     return log
// ```
// python3 printed:
// ['main spawned', 'c start', 'c spawned g', 'o start', 'g run', 'c after yield', 'o mid', 'g end', 'o end',
//  'c got 3', 'main got 4', 'main end']
async fn s3(log: Log, local: bool) {
    let l = log.clone();
    let child = async move {
        l.push("c start");
        let lg = l.clone();
        let g = sp(local, async move {
            lg.push("g run");
            yield_now().await;
            lg.push("g end");
            3
        });
        l.push("c spawned g");
        yield_now().await;
        l.push("c after yield");
        let v = g.await.unwrap();
        l.push(format!("c got {v}"));
        v + 1
    };
    let l = log.clone();
    let other = async move {
        l.push("o start");
        yield_now().await;
        l.push("o mid");
        yield_now().await;
        l.push("o end");
    };
    let c = sp(local, child);
    let o = sp(local, other);
    log.push("main spawned");
    let v = c.await.unwrap();
    log.push(format!("main got {v}"));
    o.await.unwrap();
    log.push("main end");
}

#[test]
fn s3_spawned_task_spawns_another() {
    check(
        "s3",
        s3,
        &[
            "main spawned",
            "c start",
            "c spawned g",
            "o start",
            "g run",
            "c after yield",
            "o mid",
            "g end",
            "o end",
            "c got 3",
            "main got 4",
            "main end",
        ],
    );
}

// Scenario 4: the main task awaits a task that yields while another task runs too; main resumes in the tick
// after the awaited task finished, behind the tasks already queued.
//
// ```python
// async def s4():
//     log = []
//     async def y(name, n):
//         log.append(f"{name} start")
//         for i in range(n):
//             await asyncio.sleep(0)
//             log.append(f"{name} {i}")
//         return n
//     t = asyncio.create_task(y("t", 3))
//     u = asyncio.create_task(y("u", 5))
//     log.append("main awaits t")
//     v = await t
//     log.append(f"main got {v}")
//     await asyncio.sleep(0)
//     log.append("main yielded")
//     v = await u
//     log.append(f"main got {v}")
//     return log
// ```
// python3 printed:
// ['main awaits t', 't start', 'u start', 't 0', 'u 0', 't 1', 'u 1', 't 2', 'u 2', 'main got 3', 'u 3',
//  'main yielded', 'u 4', 'main got 5']
async fn s4_y(log: Log, name: &'static str, n: usize) -> usize {
    log.push(format!("{name} start"));
    for i in 0..n {
        yield_now().await;
        log.push(format!("{name} {i}"));
    }
    n
}

async fn s4(log: Log, local: bool) {
    let t = sp(local, s4_y(log.clone(), "t", 3));
    let u = sp(local, s4_y(log.clone(), "u", 5));
    log.push("main awaits t");
    let v = t.await.unwrap();
    log.push(format!("main got {v}"));
    yield_now().await;
    log.push("main yielded");
    let v = u.await.unwrap();
    log.push(format!("main got {v}"));
}

#[test]
fn s4_main_awaits_a_yielding_task() {
    check(
        "s4",
        s4,
        &[
            "main awaits t",
            "t start",
            "u start",
            "t 0",
            "u 0",
            "t 1",
            "u 1",
            "t 2",
            "u 2",
            "main got 3",
            "u 3",
            "main yielded",
            "u 4",
            "main got 5",
        ],
    );
}
