//! Debug mode (asyncio's `debug=True`): slow polls are reported with the task's spawn location, tasks still
//! pending when the runtime is dropped are listed, and panics nobody retrieved are reported (every one in
//! debug mode, the first one per runtime otherwise), on both flavours, through `on_debug_event`.

mod support;

use ferrio::DebugEvent;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::Flavor;

/// A runtime of `flavor` whose debug reports land in the returned list.
fn runtime(flavor: Flavor, debug: bool) -> (ferrio::Runtime, Arc<Mutex<Vec<DebugEvent>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let rt = flavor
        .builder()
        .debug(debug)
        .slow_poll_threshold(Duration::from_millis(20))
        .on_debug_event(move |e| sink.lock().unwrap().push(e.clone()))
        .build()
        .unwrap();
    (rt, events)
}

#[test]
fn a_slow_poll_is_reported_with_where_the_task_was_spawned() {
    for flavor in Flavor::ALL {
        let (rt, events) = runtime(flavor, true);
        let (id, line) = rt.block_on(async {
            let line = line!() + 1;
            let task = ferrio::spawn(async { std::thread::sleep(Duration::from_millis(60)) });
            let id = task.id();
            task.await.unwrap();
            // A quick task is not reported.
            ferrio::spawn(async {}).await.unwrap();
            (id, line)
        });
        // The report is made when the poll returns, which is after the task woke its awaiter: dropping the
        // runtime joins the workers, so every report has been made.
        drop(rt);
        let events = events.lock().unwrap().clone();
        let slow: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                DebugEvent::SlowPoll {
                    task,
                    spawned_at,
                    took,
                } => Some((*task, *spawned_at, *took)),
                _ => None,
            })
            .collect();
        assert_eq!(slow.len(), 1, "{flavor:?}: {events:?}");
        let (task, at, took) = slow[0];
        assert_eq!(task, id);
        assert!(took >= Duration::from_millis(60));
        let at = at.expect("spawn location recorded in debug mode");
        assert!(at.file().ends_with("runtime_debug.rs"), "{at}");
        assert_eq!(at.line(), line, "{flavor:?}");
        let text = DebugEvent::SlowPoll {
            task,
            spawned_at: Some(at),
            took,
        }
        .to_string();
        assert!(
            text.contains(&format!("task {task}")) && text.contains("runtime_debug.rs"),
            "{text}"
        );
    }
}

#[test]
fn dropping_a_runtime_lists_its_pending_tasks() {
    for flavor in Flavor::ALL {
        let (rt, events) = runtime(flavor, true);
        let ids: Vec<_> = rt.block_on(async {
            let done = ferrio::spawn(async {});
            done.await.unwrap();
            (0..3)
                .map(|_| ferrio::spawn(std::future::pending::<()>()).id())
                .collect()
        });
        drop(rt);
        let events = events.lock().unwrap().clone();
        let pending: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                DebugEvent::PendingAtDrop { tasks } => Some(tasks.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(pending.len(), 1, "{flavor:?}: {events:?}");
        let listed: Vec<_> = pending[0].iter().map(|(id, _)| *id).collect();
        assert_eq!(listed, ids, "{flavor:?}: only the unfinished tasks, by id");
        assert!(pending[0]
            .iter()
            .all(|(_, at)| at.is_some_and(|l| l.file().ends_with("runtime_debug.rs"))));
    }
}

fn unretrieved(events: &[DebugEvent]) -> Vec<(ferrio::TaskId, Option<String>)> {
    events
        .iter()
        .filter_map(|e| match e {
            DebugEvent::UnretrievedPanic { task, message, .. } => Some((*task, message.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn every_unretrieved_panic_is_reported_in_debug_mode() {
    for flavor in Flavor::ALL {
        let (rt, events) = runtime(flavor, true);
        let (detached, dropped_after) = rt.block_on(async {
            // Detached before it panics.
            let detached = ferrio::spawn(async { panic!("boom 1") }).id();
            // Finished (panicked), then its handle is dropped without reading the output.
            let task = ferrio::spawn(async { panic!("boom 2") });
            let dropped_after = task.id();
            while !task.is_done() {
                ferrio::yield_now().await;
            }
            drop(task);
            // Awaited: retrieved, not reported.
            assert!(ferrio::spawn(async { panic!("retrieved") })
                .await
                .unwrap_err()
                .is_panic());
            (detached, dropped_after)
        });
        drop(rt);
        let mut got = unretrieved(&events.lock().unwrap());
        got.sort_by_key(|(id, _)| id.as_u64());
        assert_eq!(
            got,
            vec![
                (detached, Some("boom 1".to_owned())),
                (dropped_after, Some("boom 2".to_owned()))
            ],
            "{flavor:?}"
        );
        let text = events
            .lock()
            .unwrap()
            .iter()
            .find(|e| matches!(e, DebugEvent::UnretrievedPanic { .. }))
            .unwrap()
            .to_string();
        assert!(
            text.contains("Task exception was never retrieved"),
            "{text}"
        );
    }
}

#[test]
fn without_debug_mode_only_the_first_unretrieved_panic_is_reported_and_nothing_else() {
    for flavor in Flavor::ALL {
        let (rt, events) = runtime(flavor, false);
        rt.block_on(async {
            for i in 0..3 {
                drop(ferrio::spawn(async move { panic!("boom {i}") }));
            }
            ferrio::spawn(async { std::thread::sleep(Duration::from_millis(40)) })
                .await
                .unwrap();
            for _ in 0..10 {
                ferrio::yield_now().await;
            }
            drop(ferrio::spawn(std::future::pending::<()>()));
        });
        drop(rt);
        let events = events.lock().unwrap().clone();
        assert_eq!(unretrieved(&events).len(), 1, "{flavor:?}: {events:?}");
        assert_eq!(
            events.len(),
            1,
            "{flavor:?}: no slow-poll or pending report: {events:?}"
        );
    }
}

#[test]
fn a_panicking_debug_callback_does_not_kill_the_worker() {
    let rt = ferrio::Runtime::builder()
        .worker_threads(1)
        .debug(true)
        .on_debug_event(|_| panic!("callback exploded"))
        .build()
        .unwrap();
    let handle = rt.handle();
    support::within(Duration::from_secs(10), move || {
        rt.block_on(async {
            // Reported (to the panicking callback) when this task's detached panic completes.
            drop(ferrio::spawn(async { panic!("unretrieved") }));
            for _ in 0..10 {
                ferrio::yield_now().await;
            }
            // The only worker must still run tasks.
            assert_eq!(handle.spawn(async { 7 }).await.unwrap(), 7);
        });
    });
}

#[test]
fn blocking_jobs_report_unretrieved_panics_with_their_spawn_location() {
    let (rt, events) = runtime(Flavor::MultiThread, true);
    let id = rt.block_on(async {
        let line = line!() + 1;
        let job = ferrio::spawn_blocking(|| -> u8 { panic!("job boom") });
        let id = job.id();
        while !job.is_done() {
            ferrio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(job);
        (id, line)
    });
    drop(rt);
    let events = events.lock().unwrap().clone();
    let found = events.iter().find_map(|e| match e {
        DebugEvent::UnretrievedPanic {
            task, spawned_at, ..
        } if *task == id.0 => Some(*spawned_at),
        _ => None,
    });
    let at = found
        .expect("the job's unretrieved panic is reported")
        .expect("with its spawn location");
    assert!(at.file().ends_with("runtime_debug.rs"), "{at}");
    assert_eq!(at.line(), id.1);
}
