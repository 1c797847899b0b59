//! `Idle`: which workers sleep and how many search for work, so that a new task wakes at most one sleeper
//! and no more than half the workers ever search (steal) at once.
//!
//! The state word packs `num_searching` (low 16 bits) and `num_unparked` (the rest). The list of sleeping
//! workers sits behind a mutex that only parking and waking take, never the task hot path.
//!
//! # No lost wake-up
//! A thread that queues work calls `worker_to_notify`, which reads the state with a full barrier (an RMW);
//! a worker that parks decrements the state (another RMW) and, if it was the last searcher, checks every
//! queue once more (`Shared::notify_if_work_pending`). The two RMWs are totally ordered: either the producer
//! sees no searcher and wakes a sleeper, or the last searcher's re-check sees the producer's task.

use crate::loom::{AtomicUsize, Mutex};
use std::sync::atomic::Ordering::SeqCst;

const SEARCHING_MASK: usize = 0xFFFF;
const UNPARKED_ONE: usize = 1 << 16;

/// What `transition_worker_to_parked` found.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Parked {
    /// It was the last searcher: it must re-check all queues (module docs).
    pub(crate) last_searcher: bool,
    /// Every other worker was already counted parked. The parks' RMWs are totally ordered, so of workers
    /// that park together exactly one sees this; under `ReactorHandOff::WhenShared` only it (or a parked
    /// worker that later finds nobody awake) goes for the reactor, so the last one to sleep watches it.
    pub(crate) last_awake: bool,
}

pub(crate) struct Idle {
    state: AtomicUsize,
    num_workers: usize,
    sleepers: Mutex<Vec<usize>>,
}

fn num_searching(state: usize) -> usize {
    state & SEARCHING_MASK
}

fn num_unparked(state: usize) -> usize {
    state >> 16
}

impl Idle {
    pub(crate) fn new(num_workers: usize) -> Idle {
        assert!(num_workers < SEARCHING_MASK, "too many workers");
        Idle {
            state: AtomicUsize::new(num_workers * UNPARKED_ONE),
            num_workers,
            sleepers: Mutex::new(Vec::with_capacity(num_workers)),
        }
    }

    /// If no worker is searching and one is asleep, picks a sleeper to wake, counting it as unparked and
    /// searching. The caller must unpark it.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        if !self.should_wake() {
            return None;
        }
        let mut sleepers = self.sleepers.lock().unwrap();
        if !self.should_wake() {
            return None;
        }
        let index = sleepers.pop()?;
        self.state.fetch_add(UNPARKED_ONE | 1, SeqCst);
        Some(index)
    }

    /// `worker_to_notify` for work a running worker queued for itself: a plain load first, so the common case
    /// (nobody asleep, or someone already searching) costs no locked instruction on a shared cache line.
    /// Missing a concurrent park here strands nothing: the pushing worker runs the task itself.
    pub(crate) fn worker_to_notify_local(&self) -> Option<usize> {
        let state = self.state.load(SeqCst);
        if num_searching(state) > 0 || num_unparked(state) >= self.num_workers {
            return None;
        }
        self.worker_to_notify()
    }

    /// Picks a sleeper to wake whether or not someone searches: the reactor hand-off.
    pub(crate) fn any_sleeper(&self) -> Option<usize> {
        let mut sleepers = self.sleepers.lock().unwrap();
        let index = sleepers.pop()?;
        self.state.fetch_add(UNPARKED_ONE | 1, SeqCst);
        Some(index)
    }

    fn should_wake(&self) -> bool {
        // An RMW, not a load: it orders the caller's queue push before this read (see module docs).
        let state = self.state.fetch_add(0, SeqCst);
        num_searching(state) == 0 && num_unparked(state) < self.num_workers
    }

    /// A worker starts searching, unless half the workers already are.
    pub(crate) fn transition_worker_to_searching(&self) -> bool {
        let mut state = self.state.load(SeqCst);
        loop {
            if 2 * num_searching(state) >= self.num_workers {
                return false;
            }
            match self
                .state
                .compare_exchange_weak(state, state + 1, SeqCst, SeqCst)
            {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
    }

    /// A searching worker found work. True if it was the last searcher (it should then wake another).
    pub(crate) fn transition_worker_from_searching(&self) -> bool {
        let prev = self.state.fetch_sub(1, SeqCst);
        debug_assert!(num_searching(prev) > 0);
        num_searching(prev) == 1
    }

    /// A worker goes to sleep.
    pub(crate) fn transition_worker_to_parked(&self, index: usize, is_searching: bool) -> Parked {
        let mut sleepers = self.sleepers.lock().unwrap();
        let dec = UNPARKED_ONE | usize::from(is_searching);
        let prev = self.state.fetch_sub(dec, SeqCst);
        sleepers.push(index);
        Parked {
            last_searcher: is_searching && num_searching(prev) == 1,
            last_awake: num_unparked(prev) == 1,
        }
    }

    /// True if some worker is counted unparked (awake, or picked to wake). A plain load: a parked worker
    /// that reads a stale "yes" leaves the reactor to the worker whose own park then reads "no" from its
    /// `transition_worker_to_parked` (an RMW), see `Parked::last_awake`. The worker loop reads it only
    /// after taking the sleepers mutex (`is_parked`, `unpark_worker_by_id`), which every park also takes:
    /// that orders the read after any park that finished first, and keeps a returning reactor holder and a
    /// last park racing for the lock from both missing it (whoever comes second sees the other).
    pub(crate) fn any_awake(&self) -> bool {
        num_unparked(self.state.load(SeqCst)) > 0
    }

    /// True while `index` is on the sleeper list (nobody has picked it to wake).
    pub(crate) fn is_parked(&self, index: usize) -> bool {
        self.sleepers.lock().unwrap().contains(&index)
    }

    /// Takes `index` off the sleeper list by itself (it found work on its own); counts it unparked.
    pub(crate) fn unpark_worker_by_id(&self, index: usize) -> bool {
        let mut sleepers = self.sleepers.lock().unwrap();
        match sleepers.iter().position(|&i| i == index) {
            Some(pos) => {
                sleepers.swap_remove(pos);
                self.state.fetch_add(UNPARKED_ONE, SeqCst);
                true
            }
            None => false,
        }
    }

    #[cfg(all(test, not(ferrio_loom)))]
    pub(crate) fn num_sleepers(&self) -> usize {
        self.num_workers - num_unparked(self.state.load(SeqCst))
    }
}

#[cfg(all(test, not(ferrio_loom)))]
mod tests {
    use super::*;

    #[test]
    fn search_limit_and_notify() {
        let idle = Idle::new(4);
        assert!(idle.worker_to_notify().is_none(), "nobody sleeps");
        assert!(!idle.transition_worker_to_parked(3, false).last_searcher);
        assert_eq!(idle.num_sleepers(), 1);
        assert_eq!(idle.worker_to_notify(), Some(3));
        assert!(
            idle.worker_to_notify().is_none(),
            "worker 3 is searching now"
        );
        assert!(idle.transition_worker_to_searching()); // 2 of 4 searching
        assert!(
            !idle.transition_worker_to_searching(),
            "at most half search"
        );
        assert!(!idle.transition_worker_from_searching());
        assert!(idle.transition_worker_from_searching());
    }

    #[test]
    fn last_searcher_parking_is_reported() {
        let idle = Idle::new(2);
        assert!(idle.transition_worker_to_searching());
        assert!(idle.transition_worker_to_parked(0, true).last_searcher);
        assert!(idle.is_parked(0));
        assert!(idle.unpark_worker_by_id(0));
        assert!(!idle.is_parked(0));
    }
}

/// Loom models of the two hand-offs that go through `Idle`, and of the `WhenShared` parking rule (run
/// with `--cfg ferrio_loom`, see README).
#[cfg(all(test, ferrio_loom))]
mod loom_tests {
    use super::*;
    use crate::scheduler::multi_thread::inject::InjectQueue;
    use crate::task::testing::{counting_task, NoopScheduler};
    use loom::sync::Arc;
    use loom::thread;

    /// Injector hand-off: a task pushed to the real global queue (`InjectQueue`, whose length is a plain
    /// release store) while the last searcher parks is never stranded: either the pusher picks a sleeper
    /// to wake, or the parking searcher's re-check sees the queue non-empty. Once for a foreign thread's
    /// single push, once for a ring overflow's batch push; both are followed by `notify_parked`.
    #[test]
    fn push_racing_the_last_searcher_is_never_stranded() {
        for batch in [false, true] {
            loom::model(move || {
                let idle = Arc::new(Idle::new(2));
                let queue = Arc::new(InjectQueue::new());
                // Worker 1 sleeps; worker 0 is the only searcher.
                assert!(!idle.transition_worker_to_parked(1, false).last_searcher);
                assert!(idle.transition_worker_to_searching());
                let (mut tasks, _) = counting_task::<NoopScheduler>(1);
                let (idle2, queue2) = (idle.clone(), queue.clone());
                let pusher = thread::spawn(move || {
                    if batch {
                        queue2.push_batch(tasks);
                    } else {
                        queue2.push(tasks.pop().unwrap());
                    }
                    idle2.worker_to_notify().is_some()
                });
                let last = idle.transition_worker_to_parked(0, true).last_searcher;
                let rechecked = last && !queue.is_empty();
                let woke = pusher.join().unwrap();
                assert!(
                    woke || rechecked,
                    "a queued task woke nobody (batch: {batch})"
                );
            });
        }
    }

    /// `ReactorHandOff::WhenShared` parking: of two workers that park at once, exactly one is told it is
    /// the last awake, so exactly one goes for the reactor and none is left watching nothing. Also with one
    /// of them a searcher.
    #[test]
    fn exactly_one_of_two_parking_workers_is_the_last_awake() {
        for searching in [false, true] {
            loom::model(move || {
                let idle = Arc::new(Idle::new(2));
                if searching {
                    assert!(idle.transition_worker_to_searching());
                }
                let idle2 = idle.clone();
                let other = thread::spawn(move || idle2.transition_worker_to_parked(1, false));
                let mine = idle.transition_worker_to_parked(0, searching);
                let theirs = other.join().unwrap();
                assert!(
                    mine.last_awake ^ theirs.last_awake,
                    "exactly one of the two parks is the last awake"
                );
                assert_eq!(mine.last_searcher, searching);
                assert!(!idle.any_awake());
            });
        }
    }

    /// Reactor hand-off: a worker back from the reactor takes itself off the sleeper list and wakes one
    /// sleeper, while another worker parks. The counts stay consistent with the sleeper list, and a
    /// sleeper is picked at most once.
    #[test]
    fn reactor_hand_off_racing_a_park_keeps_counts_consistent() {
        loom::model(|| {
            let idle = Arc::new(Idle::new(2));
            // Worker 0 was parked in the reactor.
            assert!(!idle.transition_worker_to_parked(0, false).last_searcher);
            let idle2 = idle.clone();
            let parker = thread::spawn(move || {
                idle2.transition_worker_to_parked(1, false);
            });
            assert!(idle.unpark_worker_by_id(0));
            let picked = idle.any_sleeper();
            parker.join().unwrap();
            if let Some(i) = picked {
                assert_eq!(i, 1, "only worker 1 can be asleep");
            }
            let sleepers = idle.sleepers.lock().unwrap().len();
            let unparked = num_unparked(idle.state.load(SeqCst));
            assert_eq!(
                sleepers + unparked,
                2,
                "every worker is either listed asleep or counted unparked"
            );
            assert_eq!(sleepers, usize::from(picked.is_none()));
        });
    }
}
