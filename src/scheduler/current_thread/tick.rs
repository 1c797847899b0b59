//! The current-thread loop itself: `LoopContext::run` (asyncio's `_run_once` ticks), the reactor turn
//! between ticks, and the waker of the `block_on` future. The state it works on (`Shared`, `Core`, the run
//! queue's `Entry`) is defined in `mod.rs`.

use super::{Core, Entry, LoopContext, Shared, PARKED, RUNNING};
use crate::loom::AtomicBool;
use crate::runtime::stats::Event;
use crate::runtime::trace::{self, Record, WakeKind};
use crate::scheduler::observe;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::Ordering::{AcqRel, Release, SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

impl LoopContext {
    pub(super) fn with_core<R>(&self, f: impl FnOnce(&mut Core) -> R) -> R {
        f(self
            .core
            .borrow_mut()
            .as_mut()
            .expect("ferrio: current-thread core missing"))
    }

    pub(super) fn run<F: Future>(&self, future: F) -> F::Output {
        let shared = &self.shared;
        let generation = shared.main_generation.fetch_add(1, AcqRel) + 1;
        let main_waker = Arc::new(MainWaker {
            shared: shared.clone(),
            generation,
            queued: AtomicBool::new(true),
        });
        let waker = Waker::from(main_waker.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        // Like asyncio's `run_until_complete`, the main task is queued behind the tasks already ready
        // (including those spawned from other threads before this call).
        self.with_core(|core| {
            while let Some(entry) = shared.remote.pop() {
                core.queue.push_back(entry);
            }
            core.queue.push_back(Entry::Main(generation));
        });
        // asyncio's `run_until_complete` stops through a done-callback of the main task, which runs one tick
        // after the main task finished: the rest of that tick and the whole next batch run before it returns.
        let mut output = None;
        loop {
            // Tasks woken by other threads were ready before this tick began. (`is_empty` is two loads;
            // `pop` on an empty `SegQueue` pays a full fence. A push it misses was followed by the pusher's
            // swap to NOTIFIED, so the next reactor turn does not block and the next tick takes it.)
            if !shared.remote.is_empty() {
                self.with_core(|core| {
                    while let Some(entry) = shared.remote.pop() {
                        core.queue.push_back(entry);
                    }
                });
            }
            let stop_after_this_tick = output.is_some();
            let ready_now = self.with_core(|core| core.queue.len());
            shared
                .queue_depth
                .store(ready_now, std::sync::atomic::Ordering::Relaxed);
            for _ in 0..ready_now {
                let Some(entry) = self.with_core(|core| core.queue.pop_front()) else {
                    break;
                };
                match entry {
                    Entry::Task(task) => {
                        shared.stats.record_worker(0, Event::Polled, 1);
                        if self.observed {
                            let id = task.task().id();
                            observe::observed_poll(
                                &shared.debug,
                                shared.trace.as_ref(),
                                id,
                                || task.run(),
                            );
                        } else {
                            task.run();
                        }
                        self.with_core(|core| core.polls_since_reactor += 1);
                    }
                    Entry::Main(g) if g == generation && output.is_none() => {
                        main_waker.queued.store(false, SeqCst);
                        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
                            output = Some(value);
                        }
                    }
                    Entry::Main(_) => {} // a wake-up of an earlier block_on, or after the end
                }
            }
            match output {
                Some(value) if stop_after_this_tick => return value,
                Some(_) => {} // one more batch, without blocking in the reactor
                None => {
                    self.turn_reactor();
                    // asyncio moves due timers to the ready queue before each batch.
                    if shared.time.is_due() {
                        let fired = trace::waking_from(WakeKind::Timer, || shared.time.process());
                        if let Some(tracer) = &shared.trace {
                            tracer.record(Record::TimersFired {
                                count: fired,
                                at: tracer.now(),
                            });
                        }
                        shared
                            .stats
                            .record_worker(0, Event::TimersFired, fired as u64);
                    }
                }
            }
        }
    }

    /// Blocks in the reactor when nothing is ready; otherwise polls it without blocking now and then.
    fn turn_reactor(&self) {
        let shared = &self.shared;
        let (idle, due) = self.with_core(|core| {
            (
                core.queue.is_empty(),
                core.polls_since_reactor >= shared.event_interval,
            )
        });
        if !idle && !due {
            return;
        }
        let mut reactor = self.with_core(|core| {
            core.polls_since_reactor = 0;
            core.reactor.take().expect("ferrio: reactor missing")
        });
        let timeout = if idle
            && shared
                .park_state
                .compare_exchange(RUNNING, PARKED, SeqCst, SeqCst)
                .is_ok()
        {
            None
        } else {
            Some(Duration::ZERO)
        };
        let parks = timeout.is_none();
        if parks {
            shared.stats.record_worker(0, Event::Park, 1);
        }
        let trace_start = shared.trace.as_ref().map(|t| t.now());
        let result = trace::waking_from(WakeKind::Io, || reactor.turn(timeout));
        if let (Some(tracer), Some(start), Ok(report)) = (&shared.trace, trace_start, &result) {
            tracer.record(Record::ReactorTurn {
                events: report.io_events,
                start,
                dur: tracer.now() - start,
            });
        }
        // Release is enough: a remote push that swaps in NOTIFIED after this store is still seen by the
        // next turn's compare-exchange (a read-modify-write reads the latest value), which then does not
        // block, and that compare-exchange synchronises with the swap, so the next tick's pop sees the push.
        shared.park_state.store(RUNNING, Release);
        if parks {
            shared.stats.record_worker(0, Event::Unpark, 1);
        }
        if let Ok(report) = &result {
            shared.stats.record_worker(0, Event::ReactorTurn, 1);
            shared
                .stats
                .record_worker(0, Event::ReactorEvents, report.io_events as u64);
        }
        self.with_core(|core| core.reactor = Some(reactor));
        if let Err(e) = result {
            panic!("ferrio: epoll_wait failed: {e}");
        }
    }
}

/// The waker of the `block_on` future: queues `Entry::Main` once per wake-up.
pub(super) struct MainWaker {
    shared: Arc<Shared>,
    generation: usize,
    queued: AtomicBool,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, SeqCst) {
            self.shared.schedule_entry(Entry::Main(self.generation));
        }
    }
}
