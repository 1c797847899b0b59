//! The lists of every live task of one runtime, so shutdown can cancel and drop each future exactly once.
//!
//! A task is linked at spawn (the list takes one of its references) and unlinked when it completes (the list's
//! reference is released with the poller's) or at shutdown (the reference is handed to `RawTask::shutdown`).
//! Lists are intrusive: the links live in the task header, and who may touch them is raw.rs invariant 4.
//!
//! - `OwnedTasks` is shared by every thread. It is sharded by task id, each shard behind its own `SpinLock`
//!   (a link or unlink is a few pointer writes; no task code runs under it), so spawns and completions on
//!   different workers rarely meet on one lock. Once closed, a shard refuses new tasks: a spawn racing with
//!   shutdown gets a cancelled task, never a leaked one.
//! - `LocalOwnedTasks` lives in the current-thread scheduler's `Core`. Only the thread holding the core
//!   touches it, so its links and unlinks take no lock at all. It holds the tasks spawned on the loop
//!   thread; a task spawned on another thread goes on the runtime's `OwnedTasks` (single shard) and stays
//!   there. At completion the loop reads which list the task is on (`LocalOwnedTasks::remove`) and unlinks
//!   it from that one.

use super::raw::{Header, OnList, OwnedLinks, RawTask};
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
    tasks: TaskList,
    closed: bool,
}

/// The current-thread scheduler's own list (see the module docs). Its methods are called only by the thread
/// that holds the `Core` it lives in.
pub(crate) struct LocalOwnedTasks {
    tasks: TaskList,
    closed: bool,
}

/// An intrusive doubly-linked list of tasks: the list inside a shard or inside a local list. Every method
/// requires what raw.rs invariant 4 names for the tasks on it: the shard lock, or the core.
struct TaskList {
    head: Option<NonNull<Header>>,
    len: usize,
}

// SAFETY: the raw pointers in a shard are only followed under the shard's lock (raw.rs invariant 4), and
// the list owns a reference to each linked task, so they stay valid while linked (invariant 1).
unsafe impl Send for Shard {}

// SAFETY: the pointers are only followed by the thread holding the `Core` this list lives in (raw.rs
// invariant 4), which moves between threads only with the whole core; the list owns a reference to each
// linked task (invariant 1).
unsafe impl Send for LocalOwnedTasks {}

impl OwnedTasks {
    /// `concurrency` is a hint (the number of threads that spawn and complete tasks).
    pub(crate) fn new(concurrency: usize) -> OwnedTasks {
        OwnedTasks::with_shards((concurrency * 32).clamp(1, 256))
    }

    /// One lock for all: for a runtime whose own thread keeps its tasks on a `LocalOwnedTasks`, so this list
    /// only holds the tasks spawned from other threads.
    pub(crate) fn single_shard() -> OwnedTasks {
        OwnedTasks::with_shards(1)
    }

    fn with_shards(n: usize) -> OwnedTasks {
        let n = n.next_power_of_two();
        let shards = (0..n)
            .map(|_| {
                Padded(SpinLock::new(Shard {
                    tasks: TaskList::new(),
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
        // Shard lock held; the new task is alive (the caller holds its references) and on no list.
        shard.tasks.push(task.header_ptr(), OnList::Shared);
        Ok(())
    }

    /// Unlinks a completed task. True if this call unlinked it (the caller then releases the list's
    /// reference); false if shutdown had already taken it off the list.
    pub(crate) fn remove(&self, task: RawTask) -> bool {
        let mut shard = self.shard(&task).lock();
        // Shard lock held; the caller holds a reference, so the header is alive.
        match list_of(task.header_ptr()) {
            OnList::Shared => {
                shard.tasks.unlink(task.header_ptr());
                true
            }
            OnList::None => false,
            OnList::Local => panic!(
                "ferrio: a task on a current-thread runtime's own list was released off its loop thread"
            ),
        }
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
                    // Shard lock held.
                    let Some(head) = shard.tasks.pop() else { break };
                    RawTask::from_header(head)
                };
                // The list's reference moves to `shutdown`.
                task.shutdown();
            }
        }
    }

    /// Number of linked tasks (a snapshot).
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.0.lock().tasks.len).sum()
    }
}

impl LocalOwnedTasks {
    pub(crate) fn new() -> LocalOwnedTasks {
        LocalOwnedTasks {
            tasks: TaskList::new(),
            closed: false,
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Links a new task, taking its list reference. The list must be open (`is_closed` is false).
    pub(crate) fn bind(&mut self, task: RawTask) {
        assert!(!self.closed, "ferrio: task bound to a closed local list");
        // We hold the core; the new task is alive (the caller holds its references) and on no list.
        self.tasks.push(task.header_ptr(), OnList::Local);
    }

    /// Unlinks a completed task: `Some(true)` if this call unlinked it, `Some(false)` if it was on no list
    /// (shutdown took it), `None` if it is still on the shared list (the caller removes it there).
    pub(crate) fn remove(&mut self, task: RawTask) -> Option<bool> {
        // Reading `on_list` needs no lock (raw.rs invariant 4); a spawn on another thread may meanwhile be
        // writing the links of a task on the shared list, which live in another cell.
        match list_of(task.header_ptr()) {
            OnList::Local => {
                // We hold the core; the task is on this list.
                self.tasks.unlink(task.header_ptr());
                Some(true)
            }
            OnList::None => Some(false),
            OnList::Shared => None,
        }
    }

    /// Refuses new tasks from now on (spawns then go to the closed shared list, which cancels them).
    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    /// Unlinks some task for shutdown, handing over the list's reference.
    pub(crate) fn pop(&mut self) -> Option<RawTask> {
        // We hold the core.
        self.tasks.pop().map(RawTask::from_header)
    }

    pub(crate) fn len(&self) -> usize {
        self.tasks.len
    }
}

impl TaskList {
    fn new() -> TaskList {
        TaskList { head: None, len: 0 }
    }

    /// Links `ptr` at the head, marked as being on a list of kind `on`. `ptr` is on no list.
    fn push(&mut self, ptr: NonNull<Header>, on: OnList) {
        let old_head = self.head;
        links_mut(ptr, |links| {
            links.prev = None;
            links.next = old_head;
        });
        set_list_of(ptr, on);
        if let Some(head) = old_head {
            links_mut(head, |links| links.prev = Some(ptr));
        }
        self.head = Some(ptr);
        self.len += 1;
    }

    /// Unlinks `ptr`, which is on this list.
    fn unlink(&mut self, ptr: NonNull<Header>) {
        let OwnedLinks { prev, next, .. } = links(ptr);
        match prev {
            Some(p) => links_mut(p, |l| l.next = next),
            None => self.head = next,
        }
        if let Some(n) = next {
            links_mut(n, |l| l.prev = prev);
        }
        links_mut(ptr, |l| {
            l.prev = None;
            l.next = None;
        });
        set_list_of(ptr, OnList::None);
        self.len -= 1;
    }

    /// Unlinks the head, if any.
    fn pop(&mut self) -> Option<NonNull<Header>> {
        let head = self.head?;
        self.unlink(head);
        Some(head)
    }
}

/// A copy of a task's links. The caller may touch them (raw.rs invariant 4) and the task is alive: it is on
/// a list the caller holds (the list's reference), or the caller holds a reference.
fn links(task: NonNull<Header>) -> OwnedLinks {
    // SAFETY: as above: the header is alive (invariant 1) and nobody writes the links meanwhile
    // (invariant 4).
    let header = unsafe { task.as_ref() };
    // SAFETY: as above.
    header.owned.with(|links| unsafe { *links })
}

/// Which list a task is on. The task is alive (the caller holds a reference), and `on_list` is not being
/// written (raw.rs invariant 4: the caller holds the task's list, or is the current-thread loop thread).
fn list_of(task: NonNull<Header>) -> OnList {
    // SAFETY: as above: the header is alive (raw.rs invariant 1) and `on_list` is not written meanwhile
    // (invariant 4).
    let header = unsafe { task.as_ref() };
    // SAFETY: as above.
    header.on_list.with(|on| unsafe { *on })
}

/// Records which list a task is on. The caller may write it (raw.rs invariant 4: it holds that list, and
/// is linking or unlinking the task), and the task is alive.
fn set_list_of(task: NonNull<Header>, on: OnList) {
    // SAFETY: the header is alive (invariant 1: the list's reference or the caller's).
    let header = unsafe { task.as_ref() };
    // SAFETY: invariant 4 makes this the only access to `on_list` now.
    header.on_list.with_mut(|slot| unsafe { *slot = on });
}

/// Edits a task's links. The caller may touch them (raw.rs invariant 4: it holds the list the task is on,
/// or is linking it), and the task is alive (on that list, or referenced by the caller).
fn links_mut(task: NonNull<Header>, f: impl FnOnce(&mut OwnedLinks)) {
    // SAFETY: the task is linked (the list's reference) or being linked by a caller holding a reference, so
    // the header is alive (raw.rs invariant 1), and the caller holds what invariant 4 asks for, which makes
    // this the only access to the links.
    let header = unsafe { task.as_ref() };
    // SAFETY: as above: exclusive access.
    header.owned.with_mut(|links| f(unsafe { &mut *links }));
}

#[cfg(all(test, not(ferrio_loom)))]
mod tests {
    use super::*;
    use crate::task::testing::NoopScheduler;
    use crate::task::{Notified, Task, TaskId};
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    use std::task::{Context, Poll};

    /// Pending forever; counts its drop.
    struct Parked(Arc<AtomicUsize>);
    impl Future for Parked {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            Poll::Pending
        }
    }
    impl Drop for Parked {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    /// A task holding only the list's reference (its handle and first `Notified` are dropped), so the list
    /// decides when its future is dropped.
    fn parked_task(drops: &Arc<AtomicUsize>) -> RawTask {
        let raw = RawTask::new(Parked(drops.clone()), NoopScheduler, TaskId::next());
        drop(Task::<()>::from_raw(raw));
        drop(Notified::from_raw(raw));
        raw
    }

    #[test]
    fn shared_list_links_unlinks_in_any_order_and_shuts_down_the_rest() {
        let drops = Arc::new(AtomicUsize::new(0));
        let owned = OwnedTasks::new(1);
        let tasks: Vec<RawTask> = (0..6).map(|_| parked_task(&drops)).collect();
        for &t in &tasks {
            assert!(owned.bind(t).is_ok());
        }
        assert_eq!(owned.len(), 6);
        // Head, middle and tail of their shards, each once: the second removal finds it gone.
        for &t in [tasks[5], tasks[2], tasks[0]].iter() {
            assert!(owned.remove(t));
            assert!(!owned.remove(t));
            t.shutdown(); // the list's reference, now ours, drops the future
        }
        assert_eq!(owned.len(), 3);
        assert_eq!(drops.load(SeqCst), 3);
        owned.close_and_shutdown_all();
        assert_eq!(owned.len(), 0);
        assert_eq!(drops.load(SeqCst), 6);
        // Closed: a new task is handed back, and its reference shuts it down.
        let late = parked_task(&drops);
        let late = owned.bind(late).expect_err("a closed list refuses tasks");
        late.shutdown();
        assert_eq!(drops.load(SeqCst), 7);
    }

    #[test]
    fn local_list_removes_its_own_tasks_and_points_at_the_shared_list_for_others() {
        let drops = Arc::new(AtomicUsize::new(0));
        let shared = OwnedTasks::single_shard();
        let mut local = LocalOwnedTasks::new();
        let mine: Vec<RawTask> = (0..4).map(|_| parked_task(&drops)).collect();
        for &t in &mine {
            local.bind(t);
        }
        let theirs = parked_task(&drops);
        assert!(shared.bind(theirs).is_ok());
        assert_eq!(local.len(), 4);

        assert_eq!(local.remove(theirs), None, "on the shared list");
        assert!(shared.remove(theirs));
        assert_eq!(local.remove(theirs), Some(false), "on no list now");
        theirs.shutdown();

        for &t in [mine[1], mine[3]].iter() {
            assert_eq!(local.remove(t), Some(true));
            assert_eq!(local.remove(t), Some(false));
            t.shutdown();
        }
        assert_eq!(local.len(), 2);
        local.close();
        assert!(local.is_closed());
        while let Some(t) = local.pop() {
            t.shutdown();
        }
        assert_eq!(local.len(), 0);
        assert_eq!(drops.load(SeqCst), 5);
    }

    #[test]
    fn a_local_task_released_through_the_shared_list_is_a_bug_that_panics() {
        let drops = Arc::new(AtomicUsize::new(0));
        let shared = OwnedTasks::single_shard();
        let mut local = LocalOwnedTasks::new();
        let t = parked_task(&drops);
        local.bind(t);
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shared.remove(t)))
            .expect_err("removing a local task from the shared list must panic");
        let message = panic.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(
            message.contains("released off its loop thread"),
            "{message}"
        );
        // The task is untouched: it is still on the local list.
        assert_eq!(local.remove(t), Some(true));
        t.shutdown();
        assert_eq!(drops.load(SeqCst), 1);
    }
}
