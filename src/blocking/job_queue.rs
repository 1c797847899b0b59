//! `JobQueue`: the blocking pool's FIFO of jobs waiting for a thread, with removal of any one job in O(1).
//!
//! A job is cancelled before it starts by taking it out of this queue (`Schedule::cancel_requested`), and a
//! timeout wrapped around many `spawn_blocking` calls can cancel thousands of queued jobs at once: a scan
//! per cancel would make that quadratic under the pool's lock. So every pushed job gets the next sequence
//! number and sits at `slots[seq - first]`; `index` finds a task's number; a removed job leaves `None`
//! behind, which pops skip. Every pop and removal trims both ends of `None`s, so the `slots` run from the
//! oldest queued job to the newest.

use crate::task::{Notified, RawTask, TaskId};
use std::collections::{HashMap, VecDeque};

#[derive(Default)]
pub(super) struct JobQueue {
    /// Queued jobs, and `None` where one was removed. Never a `None` at either end (`trim` runs after every
    /// pop and removal), so a pop from an end takes a job at once.
    slots: VecDeque<Option<Notified>>,
    /// The sequence number of `slots[0]`.
    first: u64,
    /// The sequence number of each queued job, by task. A task has at most one `Notified`, so at most one
    /// entry.
    index: HashMap<TaskId, u64>,
}

impl JobQueue {
    /// Jobs queued (removed ones not counted).
    #[cfg(all(test, not(ferrio_loom)))]
    fn len(&self) -> usize {
        self.index.len()
    }

    pub(super) fn push_back(&mut self, job: Notified) {
        let seq = self.first + self.slots.len() as u64;
        let previous = self.index.insert(job.task().id(), seq);
        debug_assert!(previous.is_none(), "a task queued twice");
        self.slots.push_back(Some(job));
    }

    /// The oldest job.
    pub(super) fn pop_front(&mut self) -> Option<Notified> {
        let job = self.slots.pop_front()??;
        self.first += 1;
        self.index.remove(&job.task().id());
        self.trim();
        Some(job)
    }

    /// The newest job (taken back by a `spawn` that could start no thread to run it).
    pub(super) fn pop_back(&mut self) -> Option<Notified> {
        let job = self.slots.pop_back()??;
        self.index.remove(&job.task().id());
        self.trim();
        Some(job)
    }

    /// Takes `task`'s job out of the queue, wherever it is; `None` if it is not queued (a thread took it).
    pub(super) fn remove(&mut self, task: RawTask) -> Option<Notified> {
        let seq = self.index.remove(&task.id())?;
        let job = self.slots[(seq - self.first) as usize].take();
        debug_assert!(job.is_some(), "the index points at a live job");
        self.trim();
        job
    }

    /// Drops the `None`s at both ends, so that each end is a queued job (or the queue is empty).
    fn trim(&mut self) {
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.first += 1;
        }
        while let Some(None) = self.slots.back() {
            self.slots.pop_back();
        }
    }

    /// Empties the queue (shutdown), oldest first.
    pub(super) fn take_all(&mut self) -> Vec<Notified> {
        self.index.clear();
        self.first += self.slots.len() as u64;
        self.slots.drain(..).flatten().collect()
    }
}

#[cfg(all(test, not(ferrio_loom)))]
mod tests {
    use super::*;
    use crate::task::testing::NoopScheduler;
    use crate::task::{self, OwnedTasks, Task};

    /// A job and its handle. The tests keep the handles: they hold the tasks alive after a removed or
    /// popped `Notified` is dropped, so `remove` can be called again with the same task (as a late
    /// `cancel_requested` would be, by a caller that owns a reference).
    fn job(owned: &OwnedTasks) -> (Task<()>, Notified) {
        let (task, notified) = task::bind(async {}, NoopScheduler, owned);
        (task, notified.expect("the list is open"))
    }

    fn ids(jobs: impl IntoIterator<Item = Notified>) -> Vec<TaskId> {
        jobs.into_iter().map(|n| n.task().id()).collect()
    }

    #[test]
    fn fifo_with_removal_anywhere() {
        let owned = OwnedTasks::new(1);
        let (handles, notified): (Vec<_>, Vec<_>) = (0..6).map(|_| job(&owned)).unzip();
        let raws: Vec<RawTask> = notified.iter().map(|n| n.task()).collect();
        let id = |n: Option<Notified>| n.map(|n| n.task().id());
        let mut queue = JobQueue::default();
        for n in notified {
            queue.push_back(n);
        }
        assert_eq!(queue.len(), 6);
        // The middle, the front and the back.
        assert_eq!(id(queue.remove(raws[2])), Some(handles[2].id()));
        assert_eq!(id(queue.remove(raws[0])), Some(handles[0].id()));
        assert_eq!(id(queue.remove(raws[5])), Some(handles[5].id()));
        assert!(queue.remove(raws[2]).is_none(), "removed once");
        assert_eq!(queue.len(), 3);
        assert_eq!(id(queue.pop_front()), Some(handles[1].id()));
        assert!(
            queue.remove(raws[1]).is_none(),
            "popped jobs are not queued"
        );
        // A push after removals takes its place at the back.
        let (late, late_notified) = job(&owned);
        queue.push_back(late_notified);
        assert_eq!(id(queue.pop_back()), Some(late.id()));
        assert_eq!(
            ids(queue.take_all()),
            vec![handles[3].id(), handles[4].id()]
        );
        assert_eq!(queue.len(), 0);
        assert!(queue.pop_front().is_none() && queue.pop_back().is_none());
        owned.close_and_shutdown_all();
    }

    #[test]
    fn removing_many_keeps_the_slots_trimmed() {
        let owned = OwnedTasks::new(1);
        let mut queue = JobQueue::default();
        let mut handles = Vec::new();
        let mut raws = Vec::new();
        for _ in 0..100 {
            let (task, n) = job(&owned);
            raws.push(n.task());
            handles.push(task);
            queue.push_back(n);
        }
        // Cancel every job but the last, newest first then oldest first: the slots shrink to one.
        for &r in raws[50..99].iter().rev() {
            queue.remove(r).expect("queued");
        }
        for &r in &raws[..50] {
            queue.remove(r).expect("queued");
        }
        assert_eq!(queue.slots.len(), 1);
        assert_eq!(
            queue.pop_front().map(|n| n.task().id()),
            Some(handles[99].id())
        );
        assert!(queue.slots.is_empty());
        owned.close_and_shutdown_all();
    }
}
