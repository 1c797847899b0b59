//! `interval`: ticks at a fixed period.
//!
//! The first tick completes at once; later ticks at `start + n * period`. A tick is *missed* when it is
//! taken more than one full period after it was due (the task was busy); a tick taken late by less than a
//! period keeps the schedule. For missed ticks `MissedTickBehavior` decides: `Burst` (the default) fires
//! them back to back until caught up, `Delay` restarts the schedule one period after the late tick, `Skip`
//! drops them and keeps the original phase.

use super::sleep::{sleep_until, Sleep};
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// What an [`Interval`] does after ticks were missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Fire every missed tick as fast as possible, then resume the original schedule.
    #[default]
    Burst,
    /// Fire once now, then continue one full period after this late tick (when it was missed: more than a
    /// period late; a smaller delay keeps the schedule).
    Delay,
    /// Fire once now, then continue at the next tick of the original schedule.
    Skip,
}

/// Ticks every `period`, the first tick at once.
///
/// # Panics
/// If `period` is zero, or outside a ferrio runtime.
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Ticks every `period`, the first tick at `start`.
///
/// # Panics
/// If `period` is zero, or outside a ferrio runtime.
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "ferrio::time::interval: the period must be greater than zero"
    );
    Interval {
        sleep: Box::pin(sleep_until(start)),
        period,
        missed: MissedTickBehavior::Burst,
    }
}

/// A periodic timer; see [`interval`].
pub struct Interval {
    sleep: Pin<Box<Sleep>>,
    period: Duration,
    missed: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick and returns the instant it was scheduled for.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if self.sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let scheduled = self.sleep.deadline();
        let now = Instant::now();
        let next = match self.missed {
            MissedTickBehavior::Burst => scheduled + self.period,
            MissedTickBehavior::Delay if now > scheduled + self.period => now + self.period,
            MissedTickBehavior::Delay => scheduled + self.period,
            MissedTickBehavior::Skip => {
                let behind =
                    now.saturating_duration_since(scheduled).as_nanos() / self.period.as_nanos();
                let skip = u32::try_from(behind).unwrap_or(u32::MAX);
                scheduled + self.period * skip.saturating_add(1)
            }
        };
        self.sleep.as_mut().reset(next);
        Poll::Ready(scheduled)
    }

    /// Sets the missed-tick behaviour.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }

    /// The missed-tick behaviour.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }
}

impl fmt::Debug for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interval")
            .field("period", &self.period)
            .field("missed", &self.missed)
            .field("next", &self.sleep.deadline())
            .finish()
    }
}
