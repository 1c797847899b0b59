//! Debug mode (asyncio's `debug=True`): warnings about slow polls, tasks still pending when the runtime is
//! dropped, and panics nobody retrieved.
//!
//! Data flow: with debug on (`Builder::debug(true)` or `FERRIO_DEBUG=1`), every spawn records the caller's
//! source location (`#[track_caller]`) under the task's id in `spawned_at`; the task's completion removes it
//! (`Schedule::task_finished`), moving it to a short list of recent panics (the newest `RECENT_PANICS`) when
//! the task panicked, where an unretrieved-panic report finds it. A worker times each poll and reports one longer than the threshold; the
//! runtime's drop reports the locations still recorded (tasks that never finished). A panicking task whose
//! output nobody reads (its handle was dropped, or dropped without being awaited) is reported in debug mode,
//! and otherwise once per runtime. Reports go to the user's callback, or to stderr as one line each; a
//! callback that panics, or a stderr that cannot be written, is ignored: reporting never unwinds into the
//! scheduler.
//!
//! With debug off, the only cost is one branch on `enabled` per spawn and per poll.

use crate::task::TaskId;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::Write;
use std::panic::Location;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Spawn locations of panicked tasks kept for unretrieved-panic reports (bounded: a panic retrieved by its
/// awaiter never asks for its entry back).
const RECENT_PANICS: usize = 256;

/// asyncio's `slow_callback_duration`.
pub(crate) const DEFAULT_SLOW_POLL: Duration = Duration::from_millis(100);

/// Receives debug reports instead of stderr (`Builder::on_debug_event`).
pub(crate) type DebugCallback = Arc<dyn Fn(&DebugEvent) + Send + Sync>;

/// Something debug mode noticed. `Display` gives the one-line warning printed on stderr.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum DebugEvent {
    /// One poll of a task took longer than `Builder::slow_poll_threshold`.
    SlowPoll {
        /// The task whose poll was slow.
        task: TaskId,
        /// Where the task was spawned (known when debug mode was on at the time).
        spawned_at: Option<&'static Location<'static>>,
        /// How long the poll took.
        took: Duration,
    },
    /// The runtime was dropped while these tasks had not finished (they are cancelled now).
    PendingAtDrop {
        /// Each pending task and where it was spawned, by id.
        tasks: Vec<(TaskId, Option<&'static Location<'static>>)>,
    },
    /// A task panicked and nobody retrieved its result (asyncio's "Task exception was never retrieved").
    UnretrievedPanic {
        /// The task that panicked.
        task: TaskId,
        /// Where it was spawned (known in debug mode).
        spawned_at: Option<&'static Location<'static>>,
        /// The panic message, when the payload was a string.
        message: Option<String>,
    },
}

fn location(at: Option<&'static Location<'static>>) -> String {
    at.map_or_else(|| "an unknown location".to_owned(), |l| l.to_string())
}

impl fmt::Display for DebugEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DebugEvent::SlowPoll {
                task,
                spawned_at,
                took,
            } => write!(
                f,
                "ferrio debug: one poll of task {task} (spawned at {}) took {:.3} s",
                location(*spawned_at),
                took.as_secs_f64()
            ),
            DebugEvent::PendingAtDrop { tasks } => {
                write!(
                    f,
                    "ferrio debug: runtime dropped with {} task(s) still pending:",
                    tasks.len()
                )?;
                for (task, at) in tasks {
                    write!(f, " task {task} spawned at {};", location(*at))?;
                }
                Ok(())
            }
            DebugEvent::UnretrievedPanic {
                task,
                spawned_at,
                message,
            } => write!(
                f,
                "ferrio: Task exception was never retrieved: task {task} (spawned at {}) panicked: {}",
                location(*spawned_at),
                message.as_deref().unwrap_or("<non-string panic payload>")
            ),
        }
    }
}

/// One runtime's debug-mode state.
pub(crate) struct DebugState {
    enabled: bool,
    slow_poll: Duration,
    callback: Option<DebugCallback>,
    /// Spawn locations of live tasks (debug mode only).
    spawned_at: Mutex<HashMap<TaskId, &'static Location<'static>>>,
    /// Spawn locations of the newest tasks that ended by panicking (debug mode only).
    recent_panics: Mutex<VecDeque<(TaskId, &'static Location<'static>)>>,
    /// Outside debug mode, only the first unretrieved panic of a runtime is reported.
    reported_panic: AtomicBool,
}

impl DebugState {
    pub(crate) fn new(
        enabled: bool,
        slow_poll: Duration,
        callback: Option<DebugCallback>,
    ) -> DebugState {
        DebugState {
            enabled,
            slow_poll,
            callback,
            spawned_at: Mutex::new(HashMap::new()),
            recent_panics: Mutex::new(VecDeque::new()),
            reported_panic: AtomicBool::new(false),
        }
    }

    #[inline]
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    pub(crate) fn slow_poll_threshold(&self) -> Duration {
        self.slow_poll
    }

    /// Where `task` was spawned, if recorded (looked up before a poll: the poll may finish the task).
    pub(crate) fn spawned_at(&self, task: TaskId) -> Option<&'static Location<'static>> {
        self.spawned_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&task)
            .copied()
    }

    /// Records where `task` was spawned (debug mode only).
    #[inline]
    pub(crate) fn on_spawn(&self, task: TaskId, at: &'static Location<'static>) {
        if self.enabled {
            self.spawned_at
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(task, at);
        }
    }

    /// Forgets a finished task; a panicked one's location moves to the recent panics.
    #[inline]
    pub(crate) fn on_finish(&self, task: TaskId, panicked: bool) {
        if !self.enabled {
            return;
        }
        let at = self
            .spawned_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&task);
        if let (true, Some(at)) = (panicked, at) {
            let mut recent = self.recent_panics.lock().unwrap_or_else(|e| e.into_inner());
            if recent.len() == RECENT_PANICS {
                recent.pop_front();
            }
            recent.push_back((task, at));
        }
    }

    /// A poll of `task` took `took` (the caller checked it against the threshold).
    pub(crate) fn slow_poll(
        &self,
        task: TaskId,
        spawned_at: Option<&'static Location<'static>>,
        took: Duration,
    ) {
        self.report(&DebugEvent::SlowPoll {
            task,
            spawned_at,
            took,
        });
    }

    /// The runtime is being dropped: report the tasks that never finished (debug mode only).
    pub(crate) fn pending_at_drop(&self) {
        if !self.enabled {
            return;
        }
        let mut tasks: Vec<_> = self
            .spawned_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(id, at)| (*id, Some(*at)))
            .collect();
        if tasks.is_empty() {
            return;
        }
        tasks.sort_by_key(|(id, _)| id.as_u64());
        self.report(&DebugEvent::PendingAtDrop { tasks });
    }

    /// A task panicked and its output will never be read.
    pub(crate) fn unretrieved_panic(&self, task: TaskId, message: Option<String>) {
        if !self.enabled && self.reported_panic.swap(true, Ordering::Relaxed) {
            return;
        }
        let spawned_at = if self.enabled {
            let mut recent = self.recent_panics.lock().unwrap_or_else(|e| e.into_inner());
            let found = recent.iter().position(|(id, _)| *id == task);
            found.and_then(|i| recent.remove(i)).map(|(_, at)| at)
        } else {
            None
        };
        let event = DebugEvent::UnretrievedPanic {
            task,
            spawned_at,
            message,
        };
        if self.callback.is_none() && !self.enabled {
            to_stderr(format_args!(
                "{event} (reported once per runtime; Builder::debug(true) or FERRIO_DEBUG=1 reports every one)"
            ));
        } else {
            self.report(&event);
        }
    }

    /// Hands `event` to the callback, or prints it; never unwinds (see the module docs).
    fn report(&self, event: &DebugEvent) {
        match &self.callback {
            Some(callback) => {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| callback(event))) {
                    // A payload whose destructor panics too is leaked rather than allowed to unwind.
                    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
                        std::mem::forget(again);
                    }
                }
            }
            None => to_stderr(format_args!("{event}")),
        }
    }
}

/// Writes one line to stderr, ignoring failure (`eprintln!` would panic on a closed stderr).
fn to_stderr(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Whether `FERRIO_DEBUG` asks for debug mode (`1`, `true`, `yes`, `on`).
pub(crate) fn env_requests_debug() -> bool {
    std::env::var("FERRIO_DEBUG").is_ok_and(|v| is_on(&v))
}

fn is_on(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

#[cfg(all(test, not(ferrio_loom)))]
mod tests {
    use super::*;

    #[test]
    fn ferrio_debug_values() {
        for on in ["1", "true", "TRUE", " yes ", "on"] {
            assert!(is_on(on), "{on:?}");
        }
        for off in ["0", "", "false", "no", "off", "2"] {
            assert!(!is_on(off), "{off:?}");
        }
    }
}
