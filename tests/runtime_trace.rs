//! The internals trace (`Builder::trace`, `Runtime::dump_trace`): the dump is Chrome trace-event JSON with
//! one named track per worker and the events the workload caused (polls, wakes of each kind, steals, reactor
//! turns, timer firings); each worker keeps only its newest `capacity` events; a runtime without a trace
//! refuses to dump with a clear error.

mod support;

use std::time::{Duration, Instant};
use support::{Flavor, TempPath};

/// Sleeps, spawns, a wake from another thread and busy tasks that an idle worker steals.
async fn workload() {
    for _ in 0..3 {
        ferrio::time::sleep(Duration::from_millis(1)).await;
    }
    for _ in 0..20 {
        ferrio::spawn(async {}).await.unwrap();
    }
    let promise = ferrio::sync::Promise::new();
    let setter = promise.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        setter.set_result(1u8).unwrap();
    });
    promise.await.unwrap();
    let busy: Vec<_> = (0..32)
        .map(|_| {
            ferrio::spawn(async {
                let end = Instant::now() + Duration::from_micros(300);
                while Instant::now() < end {}
            })
        })
        .collect();
    let end = Instant::now() + Duration::from_millis(20);
    while Instant::now() < end {}
    for t in busy {
        t.await.unwrap();
    }
}

/// Checks the JSON with Python's parser when python3 is there (the structure checks below run anyway).
fn python_parses(path: &std::path::Path) -> Option<bool> {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import json,sys; d=json.load(open(sys.argv[1])); assert isinstance(d['traceEvents'], list); print(len(d['traceEvents']))")
        .arg(path)
        .output()
        .ok()?;
    Some(out.status.success())
}

#[test]
fn the_dump_is_chrome_trace_json_with_every_kind_of_event() {
    let rt = Flavor::MultiThread
        .builder()
        .trace(100_000)
        .build()
        .unwrap();
    rt.block_on(async { ferrio::spawn(workload()).await.unwrap() });
    let path = TempPath::new("trace-mt.json");
    rt.dump_trace(&path).unwrap();
    let json = std::fs::read_to_string(&path).unwrap();
    assert!(json.starts_with('{') && json.trim_end().ends_with('}'));
    for needle in [
        "\"traceEvents\"",
        "\"name\":\"worker 0\"",
        "\"name\":\"worker 1\"",
        "\"name\":\"poll\",\"ph\":\"X\"",
        "\"name\":\"wake (lifo)\"",
        "\"name\":\"wake (timer)\"",
        "\"name\":\"wake (remote)\"",
        "\"name\":\"reactor turn\"",
        "\"name\":\"timers fired\"",
        "\"name\":\"steal\"",
    ] {
        assert!(json.contains(needle), "{needle} missing from the trace");
    }
    if let Some(ok) = python_parses(&path.0) {
        assert!(ok, "python's json module rejected {}", path.0.display());
    }
}

#[test]
fn the_current_thread_flavour_traces_on_one_track() {
    let rt = Flavor::CurrentThread.builder().trace(1000).build().unwrap();
    rt.block_on(async {
        for _ in 0..3 {
            ferrio::time::sleep(Duration::from_millis(1)).await;
        }
        ferrio::spawn(async {}).await.unwrap();
    });
    let path = TempPath::new("trace-ct.json");
    rt.dump_trace(&path).unwrap();
    let json = std::fs::read_to_string(&path).unwrap();
    assert!(json.contains("\"name\":\"worker 0\""));
    assert!(!json.contains("\"name\":\"worker 1\""));
    assert!(json.contains("\"name\":\"poll\""));
    assert!(json.contains("\"name\":\"wake (local)\""));
    assert!(json.contains("\"name\":\"timers fired\""));
}

#[test]
fn each_worker_keeps_only_its_newest_events() {
    let rt = Flavor::CurrentThread.builder().trace(10).build().unwrap();
    rt.block_on(async {
        for _ in 0..100 {
            ferrio::spawn(async {}).await.unwrap();
        }
    });
    let path = TempPath::new("trace-cap.json");
    rt.dump_trace(&path).unwrap();
    let json = std::fs::read_to_string(&path).unwrap();
    // Records are one per line after the metadata (2 tracks: worker 0, other threads).
    let records = json
        .lines()
        .filter(|l| l.contains("\"tid\":0,\"ts\""))
        .count();
    assert_eq!(records, 10, "{json}");
}

#[test]
fn dump_without_trace_and_trace_zero_are_refused() {
    let rt = Flavor::CurrentThread.build();
    let err = rt.dump_trace(TempPath::new("trace-none.json")).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("Builder::trace"), "{err}");
    let err = ferrio::Runtime::builder().trace(0).build().unwrap_err();
    assert!(err.to_string().contains("trace(0)"), "{err}");
}
