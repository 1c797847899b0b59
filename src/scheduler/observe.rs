//! What both schedulers do around a task poll when debug mode or the trace is on: time the poll, report it
//! if slow (debug mode), record it (trace). Kept out of the poll loops, which call it only when one of the
//! two is enabled, so the common path stays a plain `task.run()`.

use crate::runtime::debug::DebugState;
use crate::runtime::trace::{self, Record, Tracer, WakeKind};
use crate::task::TaskId;
use std::time::Instant;

/// Whether polls must go through `observed_poll` and wakes be recorded: debug mode or the trace is on.
/// Both are fixed when the runtime is built, so the poll loops read this once into their context.
pub(crate) fn is_on(debug: &DebugState, tracer: Option<&Tracer>) -> bool {
    debug.enabled() || tracer.is_some()
}

/// Runs `poll` (one poll of task `id`), timing it for debug mode and the trace.
pub(crate) fn observed_poll<R>(
    debug: &DebugState,
    tracer: Option<&Tracer>,
    id: TaskId,
    poll: impl FnOnce() -> R,
) -> R {
    // Looked up before the poll, which may complete the task and forget where it was spawned.
    let at = if debug.enabled() {
        debug.spawned_at(id)
    } else {
        None
    };
    let trace_start = tracer.map(Tracer::now);
    let start = Instant::now();
    let out = poll();
    let took = start.elapsed();
    if debug.enabled() && took > debug.slow_poll_threshold() {
        debug.slow_poll(id, at, took);
    }
    if let (Some(tracer), Some(start)) = (tracer, trace_start) {
        tracer.record(Record::Poll {
            task: id.as_u64(),
            start,
            dur: took.as_nanos() as u64,
        });
    }
    out
}

/// Records a wake of task `id` (its kind: the wake source marked by `trace::waking_from`, else `default`).
pub(crate) fn traced_wake(tracer: &Tracer, id: TaskId, default: WakeKind) {
    tracer.record(Record::Wake {
        task: id.as_u64(),
        kind: trace::wake_kind(default),
        at: tracer.now(),
    });
}
