//! Task bookkeeping: `Handle::live_tasks` and shutdown over tasks spawned on the runtime's own thread, from
//! the thread that built it before `block_on`, and from other threads while it runs. (The current-thread
//! flavour keeps the tasks its loop spawns on a list of its own and adopts the others: every path must
//! count each task once and drop each future at shutdown.)

mod support;

use ferrio::{yield_now, Task};
use std::time::Duration;
use support::{gates, wait_until, DropCounter, Flavor, Flavors, Gate};

/// Spawns `gate` from a new thread through `handle`, while the caller's runtime may be running.
fn spawn_from_other_thread(handle: &ferrio::Handle, gate: Gate) -> Task<bool> {
    let handle = handle.clone();
    std::thread::spawn(move || handle.spawn(gate))
        .join()
        .expect("spawning thread panicked")
}

#[test]
fn live_tasks_counts_tasks_from_every_spawn_path_until_they_complete() {
    Flavors::each(|flavor, rt| {
        let (openers, gates) = gates(7);
        let mut gates = gates.into_iter();
        let h = rt.handle();
        // Before `block_on`, from the building thread: not on the runtime's thread yet.
        let early: Vec<Task<bool>> = (0..3).map(|_| rt.spawn(gates.next().unwrap())).collect();
        assert_eq!(h.live_tasks(), 3, "{flavor:?}: spawned before block_on");
        let rest: Vec<Gate> = gates.collect();
        let left = rt.block_on(async move {
            let mut rest = rest.into_iter();
            let mut tasks = early;
            tasks.push(ferrio::spawn(rest.next().unwrap()));
            tasks.push(ferrio::spawn(rest.next().unwrap()));
            tasks.push(spawn_from_other_thread(&h, rest.next().unwrap()));
            tasks.push(spawn_from_other_thread(&h, rest.next().unwrap()));
            // Every task gets to run and wait on its gate (on the current-thread flavour the loop has then
            // adopted the ones spawned elsewhere).
            for _ in 0..4 {
                yield_now().await;
            }
            assert_eq!(h.live_tasks(), 7, "{flavor:?}: all waiting on their gates");
            for opener in openers {
                opener.open();
            }
            for task in tasks {
                assert!(task.await.expect("gate task failed"), "{flavor:?}");
            }
            h.live_tasks()
        });
        match flavor {
            // A completed task is unlinked before its awaiter is woken.
            Flavor::CurrentThread => assert_eq!(left, 0, "completed tasks still counted"),
            Flavor::MultiThread => assert!(
                wait_until(Duration::from_secs(5), || rt.handle().live_tasks() == 0),
                "completed tasks still counted"
            ),
        }
    });
}

#[test]
fn shutdown_drops_the_futures_of_tasks_from_every_spawn_path() {
    Flavors::each(|flavor, rt| {
        let drops = DropCounter::new();
        let pending_forever = |guard: support::DropGuard| async move {
            let _guard = guard;
            std::future::pending::<()>().await
        };
        let h = rt.handle();
        // Never run if `block_on` never started; here it runs before the other spawns.
        let _early = rt.spawn(pending_forever(drops.guard()));
        let guards: Vec<_> = (0..4).map(|_| drops.guard()).collect();
        rt.block_on(async {
            let mut guards = guards.into_iter();
            drop(ferrio::spawn(pending_forever(guards.next().unwrap())));
            drop(ferrio::spawn(pending_forever(guards.next().unwrap())));
            for guard in guards {
                let h = h.clone();
                let future = pending_forever(guard);
                std::thread::spawn(move || drop(h.spawn(future)))
                    .join()
                    .unwrap();
            }
            for _ in 0..4 {
                yield_now().await;
            }
        });
        // After `block_on`: from the building thread again, never run.
        drop(rt.spawn(pending_forever(drops.guard())));
        assert_eq!(drops.dropped(), 0, "{flavor:?}: dropped before shutdown");
        assert_eq!(rt.handle().live_tasks(), 6, "{flavor:?}");
        drop(rt);
        assert_eq!(drops.dropped(), 6, "{flavor:?}: futures left alive");
    });
}

#[test]
fn current_thread_tasks_left_by_one_block_on_finish_under_another_on_another_thread() {
    let rt = Flavor::CurrentThread.build();
    let (openers, gates) = gates(3);
    let tasks: Vec<Task<bool>> = rt.block_on(async move {
        let tasks: Vec<Task<bool>> = gates.into_iter().map(ferrio::spawn).collect();
        yield_now().await; // they run and wait on their gates
        tasks
    });
    assert_eq!(rt.handle().live_tasks(), 3);
    let (rt, results) = std::thread::spawn(move || {
        let results = rt.block_on(async move {
            for opener in openers {
                opener.open();
            }
            let mut results = Vec::new();
            for task in tasks {
                results.push(task.await.expect("gate task failed"));
            }
            results
        });
        (rt, results)
    })
    .join()
    .expect("second block_on panicked");
    assert_eq!(results, vec![true; 3]);
    assert_eq!(rt.handle().live_tasks(), 0);
}
