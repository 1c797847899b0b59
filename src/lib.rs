//! ferrio: an async runtime for Linux x86_64 with asyncio's task model.
//!
//! - [`run`] is `asyncio.run`; [`spawn`] is `asyncio.create_task` and returns a [`Task`] that can be awaited,
//!   cancelled ([`Task::cancel`]), polled for state ([`Task::is_done`], [`Task::is_cancelled`]) or dropped
//!   to detach it.
//! - Cancellation is drop-based and propagates like asyncio's: when a future awaiting a task is dropped
//!   before the task finished, the task is cancelled too, down the whole chain. [`shield`] stops that.
//! - Two executor flavours ([`Builder`]): a multi-thread work-stealing scheduler (the default) and a
//!   current-thread one whose scheduling order is asyncio's (`spawn_local` runs `!Send` futures there).
//! - One epoll reactor per runtime (through `mio`), where idle workers sleep.
//!
//! ```
//! let answer = ferrio::run(async {
//!     let task = ferrio::spawn(async { 6 * 7 });
//!     task.await.unwrap()
//! });
//! assert_eq!(answer, 42);
//! ```
//!
//! See `ARCHITECTURE.md` for how the pieces fit together.

#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs, missing_debug_implementations)]

mod blocking;
pub(crate) mod coop;
pub mod io;
pub(crate) mod loom;
pub mod net;
pub(crate) mod reactor;
mod runtime;
pub(crate) mod scheduler;
pub mod signal;
mod spin_lock;
pub mod sync;
mod task;
pub mod time;
mod yield_now;

pub use blocking::spawn_blocking;
pub use runtime::{
    run, spawn, spawn_local, Builder, DebugEvent, Handle, ReactorHandOff, Runtime, RuntimeStats,
    TryCurrentError, WorkerStats,
};
pub use task::{shield, Join, JoinRef, Shield, Task, TaskError, TaskId};
pub use yield_now::{yield_now, YieldNow};
