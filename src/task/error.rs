//! `TaskId` and `TaskError`: how a task is named and how it can fail (asyncio's `CancelledError`, or an
//! exception escaping the coroutine, which in Rust is a panic).
//!
//! Ids come from a global counter handed out to each thread in blocks, so spawning on several workers does
//! not bounce one cache line between cores.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// A task's id: unique among the tasks of this process, never reused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(u64);

impl TaskId {
    pub(crate) fn next() -> TaskId {
        const BLOCK: u64 = 1024;
        static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);
        thread_local! {
            /// (next id, end of this thread's block)
            static RANGE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
        }
        RANGE.with(|range| {
            let (mut next, mut end) = range.get();
            if next == end {
                next = NEXT_BLOCK.fetch_add(BLOCK, Ordering::Relaxed);
                end = next + BLOCK;
            }
            range.set((next + 1, end));
            TaskId(next)
        })
    }

    /// The id as a number (for logs and traces).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({})", self.0)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Why awaiting a task gave no value: it was cancelled, or its future panicked.
///
/// `TaskError` is `Send + Sync` and implements `Error`, so `?` converts it into
/// `Box<dyn Error + Send + Sync>`.
pub struct TaskError {
    id: TaskId,
    kind: Kind,
}

enum Kind {
    Cancelled,
    Panicked {
        payload: PanicPayload,
        message: Option<String>,
    },
}

/// A panic payload. Only reachable by value (`into_panic`), never through `&self`, which is what makes
/// sharing `&TaskError` across threads sound even though the payload itself is only `Send`.
struct PanicPayload(Box<dyn Any + Send + 'static>);

// SAFETY: `PanicPayload` offers no access through a shared reference (no method takes `&self` and reads the
// box), so `&PanicPayload` on several threads can never touch the non-`Sync` payload concurrently.
unsafe impl Sync for PanicPayload {}

impl TaskError {
    pub(crate) fn cancelled(id: TaskId) -> TaskError {
        TaskError {
            id,
            kind: Kind::Cancelled,
        }
    }

    pub(crate) fn panicked(id: TaskId, payload: Box<dyn Any + Send + 'static>) -> TaskError {
        let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
            Some((*s).to_owned())
        } else {
            payload.downcast_ref::<String>().cloned()
        };
        TaskError {
            id,
            kind: Kind::Panicked {
                payload: PanicPayload(payload),
                message,
            },
        }
    }

    /// True when the task was cancelled (asyncio's `CancelledError`).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.kind, Kind::Cancelled)
    }

    /// True when the task's future panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.kind, Kind::Panicked { .. })
    }

    /// The panic message (`&str` or `String` payloads), if the task panicked with one.
    pub(crate) fn panic_message(&self) -> Option<&str> {
        match &self.kind {
            Kind::Panicked { message, .. } => message.as_deref(),
            Kind::Cancelled => None,
        }
    }

    /// The id of the task that failed.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The panic payload, to resume the panic with `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the task was cancelled rather than panicking; see `try_into_panic`.
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic().expect(
            "ferrio: TaskError::into_panic called on a cancelled task (check is_panic first)",
        )
    }

    /// The panic payload, or the error itself when the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, TaskError> {
        match self.kind {
            Kind::Panicked { payload, .. } => Ok(payload.0),
            Kind::Cancelled => Err(self),
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Cancelled => write!(f, "task {} was cancelled", self.id),
            Kind::Panicked {
                message: Some(m), ..
            } => write!(f, "task {} panicked: {m}", self.id),
            Kind::Panicked { message: None, .. } => write!(f, "task {} panicked", self.id),
        }
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Cancelled => write!(f, "TaskError::Cancelled({:?})", self.id),
            Kind::Panicked { message, .. } => {
                write!(f, "TaskError::Panicked({:?}, {message:?})", self.id)
            }
        }
    }
}

impl std::error::Error for TaskError {}

#[cfg(all(test, not(ferrio_loom)))]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_threads() {
        let mut ids: Vec<u64> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    (0..3000)
                        .map(|_| TaskId::next().as_u64())
                        .collect::<Vec<_>>()
                })
            })
            .flat_map(|h| h.join().unwrap())
            .collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }

    #[test]
    fn error_kinds_and_messages() {
        let id = TaskId::next();
        let c = TaskError::cancelled(id);
        assert!(c.is_cancelled() && !c.is_panic());
        assert_eq!(c.to_string(), format!("task {id} was cancelled"));
        assert!(c.try_into_panic().is_err());

        let p = TaskError::panicked(id, Box::new("boom"));
        assert!(p.is_panic());
        assert_eq!(p.to_string(), format!("task {id} panicked: boom"));
        assert_eq!(*p.into_panic().downcast::<&str>().unwrap(), "boom");

        fn assert_send_sync_error<E: std::error::Error + Send + Sync + 'static>() {}
        assert_send_sync_error::<TaskError>();
    }
}
