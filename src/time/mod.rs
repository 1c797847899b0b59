//! Time: sleeps, timeouts, intervals, with microsecond precision.
//!
//! Files: `wheel.rs` (the hierarchical timing wheel and its intrusive entries), `driver.rs` (per-worker
//! wheels, the timerfd, firing), `sleep.rs` (`Sleep`), `binding.rs` (how a `Sleep` reaches its driver), `timeout.rs` (`timeout`, asyncio's `wait_for`),
//! `interval.rs`, `timed.rs` (the seed chapter's `async_timed`).
//!
//! Life of a timer: `sleep(d)` records the runtime it was made in; its first poll binds it to that runtime's
//! driver (without a reference count when the sleep lives inside one of the runtime's tasks); the first
//! poll that finds the deadline ahead links the `Sleep`'s entry into the wheel of the polling worker and, if it is the new earliest deadline,
//! re-arms the timerfd; the timerfd wakes the thread parked in epoll (or a busy worker notices the deadline
//! passed), which advances every wheel, cascading entries down the levels, and wakes the tasks of expired
//! entries; the next poll of the `Sleep` sees it fired. Dropping the `Sleep` unlinks it.

mod binding;
mod driver;
mod interval;
mod sleep;
mod timed;
mod timeout;
mod wheel;

pub(crate) use driver::{set_timer_slack, TimeDriver};
pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use sleep::{sleep, sleep_until, Sleep};
pub use timed::{timed, Timed};
pub use timeout::{timeout, timeout_at, Elapsed, Timeout};
