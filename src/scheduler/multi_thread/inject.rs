//! `InjectQueue`: the multi-thread scheduler's global queue, where tasks go that no worker's ring takes:
//! spawns and wakes from threads that are not workers (one at a time), and the half-ring batches that a
//! full ring moves out (`LocalQueue::push_back`'s overflow).
//!
//! A `VecDeque` behind a `SpinLock`, with its length mirrored in an atomic so that the common "anything
//! there?" look takes no lock. What it is built for is batches: an overflow moves its 129 tasks in under one
//! lock (a copy of pointers), and a worker takes its fair share back into its ring under one lock too
//! (`pop_share`). A lock-free queue (crossbeam's `SegQueue`, used before) pays one or two atomic
//! read-modify-writes per task each way, which made a worker with more runnable tasks than its ring holds
//! spend most of its time in the queue (BENCHMARKS.md, "scaling").
//!
//! Ordering: pushes store the new length (release) before unlocking; a reader that sees 0 may miss a push
//! in flight, as with any queue. What keeps a pushed task from being stranded with every worker asleep is
//! not this load alone: every pusher then makes a read-modify-write on `Idle`'s state word
//! (`notify_parked`), and a worker about to sleep makes one too before its last look at the queue; two
//! read-modify-writes of one word are ordered, so one of the two sees the other's side (loom model in
//! `idle.rs`). At shutdown, a `SeqCst` fence on each side does the same job (`Shared::push_remote`,
//! `Shared::shutdown_tasks`).
//!
//! The queue sits on cache lines of its own (`repr(align(128))`): pushes and shares write it, and the
//! fields beside it in `Shared` are read by every worker all the time. A queue that empties after a burst
//! gives its buffer back (above `KEEP_CAPACITY`), freed after the lock is released.

use crate::loom::AtomicUsize;
use crate::spin_lock::SpinLock;
use crate::task::Notified;
use std::collections::VecDeque;
use std::sync::atomic::Ordering::{Acquire, Release};

/// A buffer this large or smaller is kept when the queue empties; a larger one is freed.
const KEEP_CAPACITY: usize = 4096;

#[repr(align(128))]
pub(crate) struct InjectQueue {
    tasks: SpinLock<VecDeque<Notified>>,
    /// `tasks.len()`, stored under the lock after every change; read without it.
    len: AtomicUsize,
}

impl InjectQueue {
    pub(crate) fn new() -> InjectQueue {
        InjectQueue {
            tasks: SpinLock::new(VecDeque::new()),
            len: AtomicUsize::new(0),
        }
    }

    /// Tasks queued (a snapshot).
    pub(crate) fn len(&self) -> usize {
        self.len.load(Acquire)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn push(&self, task: Notified) {
        let mut tasks = self.tasks.lock();
        tasks.push_back(task);
        self.len.store(tasks.len(), Release);
    }

    /// Queues a whole batch under one lock (the batch's buffer is freed after it).
    pub(crate) fn push_batch(&self, mut batch: Vec<Notified>) {
        let mut tasks = self.tasks.lock();
        tasks.extend(batch.drain(..));
        self.len.store(tasks.len(), Release);
        drop(tasks);
        drop(batch);
    }

    pub(crate) fn pop(&self) -> Option<Notified> {
        // A share of none: `out` stays empty and never allocates.
        self.pop_share(|_| 0, &mut Vec::new())
    }

    /// Pops the oldest task and, under the same lock, moves up to `share(tasks left)` more into `out`
    /// (oldest first). `None` when the queue is empty.
    pub(crate) fn pop_share(
        &self,
        share: impl FnOnce(usize) -> usize,
        out: &mut Vec<Notified>,
    ) -> Option<Notified> {
        if self.is_empty() {
            return None;
        }
        let mut tasks = self.tasks.lock();
        let first = tasks.pop_front()?;
        let n = share(tasks.len()).min(tasks.len());
        out.extend(tasks.drain(..n));
        self.len.store(tasks.len(), Release);
        let spare = Self::spare_buffer(&mut tasks);
        drop(tasks);
        drop(spare);
        Some(first)
    }

    /// An emptied queue's buffer, if it is larger than `KEEP_CAPACITY`, to be freed by the caller once the
    /// lock is released.
    fn spare_buffer(tasks: &mut VecDeque<Notified>) -> Option<VecDeque<Notified>> {
        (tasks.is_empty() && tasks.capacity() > KEEP_CAPACITY).then(|| std::mem::take(tasks))
    }
}

#[cfg(all(test, not(ferrio_loom)))]
mod tests {
    use super::*;
    use crate::task::testing::{counting_task, NoopScheduler};
    use crate::task::TaskId;

    fn ids(tasks: &[Notified]) -> Vec<TaskId> {
        tasks.iter().map(|t| t.task().id()).collect()
    }

    #[test]
    fn fifo_across_single_pushes_and_batches() {
        let (all, _) = counting_task::<NoopScheduler>(6);
        let expected = ids(&all);
        let mut all = all.into_iter();
        let queue = InjectQueue::new();
        assert!(queue.is_empty() && queue.pop().is_none());
        queue.push(all.next().unwrap());
        queue.push_batch(all.by_ref().take(4).collect());
        queue.push(all.next().unwrap());
        assert_eq!(queue.len(), 6);
        let mut got = Vec::new();
        while let Some(task) = queue.pop() {
            got.push(task);
        }
        assert_eq!(ids(&got), expected);
        assert!(queue.is_empty());
    }

    #[test]
    fn pop_share_takes_the_first_and_at_most_its_share() {
        let (all, _) = counting_task::<NoopScheduler>(10);
        let expected = ids(&all);
        let queue = InjectQueue::new();
        queue.push_batch(all);
        let mut out = Vec::new();
        let first = queue
            .pop_share(
                |left| {
                    assert_eq!(left, 9, "the share is computed from what is left");
                    4
                },
                &mut out,
            )
            .unwrap();
        assert_eq!(first.task().id(), expected[0]);
        assert_eq!(ids(&out), expected[1..5]);
        assert_eq!(queue.len(), 5);
        // A share larger than what is left takes what is left.
        out.clear();
        let next = queue.pop_share(|_| 100, &mut out).unwrap();
        assert_eq!(next.task().id(), expected[5]);
        assert_eq!(ids(&out), expected[6..]);
        assert!(queue.is_empty());
        assert!(queue.pop_share(|_| 1, &mut out).is_none());
    }
}

#[cfg(all(test, ferrio_loom))]
mod loom_tests {
    use super::*;
    use crate::task::testing::{counting_task, NoopScheduler};
    use loom::sync::Arc;
    use loom::thread;
    use std::sync::atomic::Ordering::Relaxed;

    /// A foreign push and an overflow batch race a worker taking its share, then the rest is popped: every
    /// task comes out exactly once (each runs once) and the length ends at 0.
    #[test]
    fn pushes_racing_a_share_lose_and_duplicate_nothing() {
        loom::model(|| {
            let (mut tasks, ran) = counting_task::<NoopScheduler>(3);
            let queue = Arc::new(InjectQueue::new());
            let single = tasks.pop().unwrap();
            let foreign = {
                let queue = queue.clone();
                thread::spawn(move || queue.push(single))
            };
            let overflow = {
                let queue = queue.clone();
                thread::spawn(move || queue.push_batch(tasks))
            };
            let mut share = Vec::new();
            if let Some(first) = queue.pop_share(|left| left, &mut share) {
                first.run();
            }
            share.drain(..).for_each(Notified::run);
            foreign.join().unwrap();
            overflow.join().unwrap();
            while let Some(task) = queue.pop() {
                task.run();
            }
            assert_eq!(ran.load(Relaxed), 3);
            assert!(queue.is_empty());
        });
    }
}
