//! The reactor duties of a multi-thread worker, besides parking in it (`Parker::park`): the
//! non-blocking poll a busy worker makes every `event_interval` ticks (`poll_reactor`), the collection of
//! events already waiting while another worker sleeps in the reactor, or under `ReactorHandOff::WhenShared`
//! whenever a worker runs out of work (`collect_waiting`), the hand-off to a sleeper when this worker
//! leaves the reactor with work to do (under `WhenShared`, with more than one task), and firing due
//! timers. Each runs with the worker's core in its context, so the tasks it wakes land in this worker's
//! ring.

use super::{Core, WorkerContext};
use crate::runtime::stats::Event;
use crate::runtime::trace::{self, Record, WakeKind};
use crate::ReactorHandOff;
use std::time::Duration;

impl WorkerContext {
    /// Fires due timers with the core in place, so woken tasks go to this worker's ring.
    pub(super) fn fire_timers(&self, core: Box<Core>) -> Box<Core> {
        let (core, fired) = self.with_core_in_context(core, || {
            trace::waking_from(WakeKind::Timer, || self.shared.time.process())
        });
        if let Some(tracer) = &self.shared.trace {
            tracer.record(Record::TimersFired {
                count: fired,
                at: tracer.now(),
            });
        }
        self.shared
            .stats
            .record_worker(self.index, Event::TimersFired, fired as u64);
        core
    }

    /// A reactor turn that started at `trace_start` (trace clock, when tracing) made `report`.
    pub(super) fn record_turn(
        &self,
        report: &crate::reactor::TurnReport,
        trace_start: Option<u64>,
    ) {
        let stats = &self.shared.stats;
        stats.record_worker(self.index, Event::ReactorTurn, 1);
        stats.record_worker(self.index, Event::ReactorEvents, report.io_events as u64);
        if let (Some(tracer), Some(start)) = (&self.shared.trace, trace_start) {
            tracer.record(Record::ReactorTurn {
                events: report.io_events,
                start,
                dur: tracer.now() - start,
            });
        }
    }

    /// Out of local work while another worker sleeps in the reactor (under `WhenShared`, also while nobody
    /// does): run what is already waiting in epoll before searching (`ReactorRegistry::poll_now`; the woken
    /// tasks land in this worker's ring). A holder's queue is empty (it is asleep), so a search would first
    /// have looked at the others'.
    pub(super) fn collect_waiting(&self, core: Box<Core>) -> Box<Core> {
        // Not `reactor.try_lock()`: holding the lock even for a moment could make a parking worker fail its
        // own try-lock and sleep on its condvar, leaving nobody in the reactor.
        if !self.shared.registry.has_sleeper()
            && self.shared.config.hand_off == ReactorHandOff::Always
        {
            // Nobody waits in the reactor: this worker takes it if it parks. (Under `WhenShared` nobody
            // waits there while a worker runs a lone task, so a look costs less than a park and a turn.)
            return core;
        }
        let start = self.shared.trace.as_ref().map(|t| t.now());
        let mut events = self.events.borrow_mut();
        let (mut core, result) = self.with_core_in_context(core, || {
            trace::waking_from(WakeKind::Io, || self.shared.registry.poll_now(&mut events))
        });
        match result {
            Ok(report) if report.io_events > 0 => self.record_turn(&report, start),
            Ok(_) => {}
            Err(e) => panic!("ferrio: epoll_wait failed: {e}"),
        }
        self.call_help_for_queued(&mut core);
        // The timerfd's edge may have been among the events: the holder will not see it, so the timers are
        // ours to fire.
        if self.shared.time.is_due() {
            return self.fire_timers(core);
        }
        core
    }

    /// This worker held the reactor and goes back to work. If nobody waits in it now, wake a sleeper to
    /// take it (`any_sleeper` counts it as searching): a worker that parked while we held the lock found
    /// it taken and sleeps on its condvar, and a long poll here must not leave the reactor unwatched.
    /// Under `ReactorHandOff::WhenShared` that is done only when this worker has more than one task to run
    /// (the sleeper then also steals); with one, it runs it and takes the reactor back when it parks.
    pub(super) fn hand_off_reactor(&self, core: &Core) {
        if self.shared.config.hand_off == ReactorHandOff::WhenShared && self.runnable(core) <= 1 {
            return;
        }
        if !self.shared.registry.has_sleeper() {
            if let Some(i) = self.shared.idle.any_sleeper() {
                self.shared.remotes[i].parker.unpark(&self.shared.registry);
            }
        }
    }

    /// Events collected beside the reactor queued more than this worker runs next: wake a sleeper to steal
    /// now, as `run_task` would only after the next poll (which may be long).
    pub(super) fn call_help_for_queued(&self, core: &mut Core) {
        if std::mem::take(&mut core.notify_after_poll)
            && !core.is_searching
            && !core.queue.is_empty()
        {
            self.shared.notify_parked_local();
        }
    }

    /// Non-blocking reactor poll from a busy worker, with the core in place so wakes land in its ring.
    pub(super) fn poll_reactor(&self, core: Box<Core>) -> Box<Core> {
        let Ok(mut reactor) = self.shared.reactor.try_lock() else {
            return core;
        };
        let start = self.shared.trace.as_ref().map(|t| t.now());
        let (core, result) = self.with_core_in_context(core, || {
            trace::waking_from(WakeKind::Io, || reactor.turn(Some(Duration::ZERO)))
        });
        drop(reactor);
        match result {
            Ok(report) => self.record_turn(&report, start),
            Err(e) => panic!("ferrio: epoll_wait failed: {e}"),
        }
        let core = if self.shared.time.is_due() {
            self.fire_timers(core)
        } else {
            core
        };
        // After the timers: the tasks they woke count among those `WhenShared` weighs.
        self.hand_off_reactor(&core);
        core
    }
}
