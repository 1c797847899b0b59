//! `OwnedTasks`: every live task of one runtime, so shutdown can cancel and drop each future exactly once.
//!
//! A task is linked at spawn (the list takes one of its references) and unlinked when it completes (the list's
//! reference is released with the poller's) or at shutdown (the reference is handed to `RawTask::shutdown`).
//! The list is intrusive (links live in the task header, raw.rs invariant 4) and sharded by task id, each shard
//! behind its own `SpinLock` (a link or unlink is a few pointer writes; no task code runs under it), so spawns and completions on different workers rarely meet on one lock. Once closed,
//! a shard refuses new tasks: a spawn racing with shutdown gets a cancelled task, never a leaked one.

use super::raw::{Header, OwnedLinks, RawTask};
use crate::loom::AtomicBool;
use crate::spin_lock::SpinLock;
use std::ptr::NonNull;
use std::sync::atomic::Ordering::SeqCst;

pub(crate) struct OwnedTasks {
    shards: Box<[Padded<SpinLock<Shard>>]>,
    mask: usize,
    closed: AtomicBool,
}

/// Keeps each shard's lock on its own cache lines.
#[repr(align(128))]
struct Padded<T>(T);

struct Shard {
    head: Option<NonNull<Header>>,
    len: usize,
    closed: bool,
}

// SAFETY: the raw pointers in a shard are only followed under the shard's lock (raw.rs invariant 4), and
// the list owns a reference to each linked task, so they stay valid while linked (invariant 1).
unsafe impl Send for Shard {}

impl OwnedTasks {
    /// `concurrency` is a hint (the number of threads that spawn and complete tasks).
    pub(crate) fn new(concurrency: usize) -> OwnedTasks {
        let n = (concurrency * 32).clamp(1, 256).next_power_of_two();
        let shards = (0..n)
            .map(|_| {
                Padded(SpinLock::new(Shard {
                    head: None,
                    len: 0,
                    closed: false,
                }))
            })
            .collect();
        OwnedTasks {
            shards,
            mask: n - 1,
            closed: AtomicBool::new(false),
        }
    }

    fn shard(&self, task: &RawTask) -> &SpinLock<Shard> {
        &self.shards[task.id().as_u64() as usize & self.mask].0
    }

    /// True once `close_and_shutdown_all` has started: spawns should be refused.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(SeqCst)
    }

    /// Links a new task, taking its list reference. Fails when the list is closed; the caller must then shut
    /// the task down with that reference.
    pub(crate) fn bind(&self, task: RawTask) -> Result<(), RawTask> {
        let mut shard = self.shard(&task).lock();
        if shard.closed {
            return Err(task);
        }
        let ptr = task.header_ptr();
        let old_head = shard.head;
        // The new task is alive (the caller holds its references) and about to be linked; the old head is
        // linked. Both under the shard lock, as `links_mut` requires.
        links_mut(ptr, |links| {
            links.prev = None;
            links.next = old_head;
            links.linked = true;
        });
        if let Some(head) = old_head {
            links_mut(head, |links| links.prev = Some(ptr));
        }
        shard.head = Some(ptr);
        shard.len += 1;
        Ok(())
    }

    /// Unlinks a completed task. True if this call unlinked it (the caller then releases the list's
    /// reference); false if shutdown had already taken it off the list.
    pub(crate) fn remove(&self, task: RawTask) -> bool {
        let mut shard = self.shard(&task).lock();
        // SAFETY: shard lock held; the caller holds a reference, so the header is alive.
        let (linked, prev, next) = task
            .header()
            .owned
            .with(|links| unsafe { ((*links).linked, (*links).prev, (*links).next) });
        if !linked {
            return false;
        }
        unlink(&mut shard, task.header_ptr(), prev, next);
        true
    }

    /// Refuses new tasks from now on, without touching the live ones.
    pub(crate) fn close(&self) {
        self.closed.store(true, SeqCst);
        for shard in self.shards.iter() {
            shard.0.lock().closed = true;
        }
    }

    /// Closes the list and shuts down every task still on it, one at a time, outside the shard lock (a
    /// task's destructor may spawn, wake or complete other tasks).
    pub(crate) fn close_and_shutdown_all(&self) {
        self.closed.store(true, SeqCst);
        for shard in self.shards.iter() {
            loop {
                let task = {
                    let mut shard = shard.0.lock();
                    shard.closed = true;
                    let Some(head) = shard.head else { break };
                    // SAFETY: lock held; the head is linked, so alive.
                    let next = unsafe { head.as_ref() }
                        .owned
                        .with(|links| unsafe { (*links).next });
                    unlink(&mut shard, head, None, next);
                    RawTask::from_header(head)
                };
                // The list's reference moves to `shutdown`.
                task.shutdown();
            }
        }
    }

    /// Number of linked tasks (a snapshot).
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.0.lock().len).sum()
    }
}

fn unlink(
    shard: &mut Shard,
    ptr: NonNull<Header>,
    prev: Option<NonNull<Header>>,
    next: Option<NonNull<Header>>,
) {
    // The caller holds the shard lock (raw.rs invariant 4), and `ptr`, `prev` and `next` are linked tasks of
    // this shard, so the list's references keep them alive (invariant 1).
    match prev {
        Some(p) => links_mut(p, |l| l.next = next),
        None => shard.head = next,
    }
    if let Some(n) = next {
        links_mut(n, |l| l.prev = prev);
    }
    links_mut(ptr, |l| {
        l.linked = false;
        l.prev = None;
        l.next = None;
    });
    shard.len -= 1;
}

/// Edits a task's links. The caller holds the task's shard lock, and the task is linked (or being linked
/// by the caller, who holds a reference to it).
fn links_mut(task: NonNull<Header>, f: impl FnOnce(&mut OwnedLinks)) {
    // SAFETY: the task is linked (the list's reference) or being linked by a caller holding a reference, so
    // the header is alive (raw.rs invariant 1), and
    // the caller holds the shard lock, which makes this the only access to the links (invariant 4).
    let header = unsafe { task.as_ref() };
    // SAFETY: as above: exclusive access under the shard lock.
    header.owned.with_mut(|links| f(unsafe { &mut *links }));
}
