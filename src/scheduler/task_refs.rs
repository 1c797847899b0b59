//! The references that tasks hold on their runtime, counted in batches.
//!
//! A task's scheduler hook keeps its runtime's shared state alive: a waker, or the `Task<T>` handle, may use
//! the hook long after the task ran (a wake racing with shutdown, debug mode's report of a panic nobody
//! read), and the runtime may be dropped meanwhile. Counting that reference on the runtime's `Arc` costs a
//! read-modify-write at every spawn and another at every task free, on one word that all workers write: on
//! two workers the spawn fan-out spent about a quarter of its time moving that cache line between cores
//! (BENCHMARKS.md, "Scaling").
//!
//! So task references are counted apart, in `TaskRefs`, and the set of them holds a single counted reference
//! on the runtime's `Arc` while it is not empty. A worker thread keeps a `RefStash`: its spawns take
//! references from it, and the tasks it frees give theirs back to it. The stash refills from `TaskRefs`, and
//! gives back to it, `BATCH` references at a time, so the shared word is written about once every `BATCH`
//! tasks per worker. Threads that are not workers take and give back one reference at a time.
//!
//! `TaskRef<O>` is the reference a task's scheduler hook holds: each flavour's hook is a `TaskRef` of its
//! `Shared` (`RefOwner` finds the set and the current thread's stash). `TaskRefs::add` and `sub` only say
//! when the set gains or loses its reference on the owner's `Arc`; `settle` then clones or drops it, after
//! the call, so that nothing still borrows memory that the last `sub` may free.
//!
//! # Invariant (cited by the hooks that rely on it)
//! **Set reference.** `count` is the number of task references alive: those held by task hooks plus those
//! held in stashes. Whenever `count > 0` the owner is alive, because the set holds a counted reference on
//! the owner's `Arc`: the `add` that finds the count at zero obliges its caller (who holds a reference of
//! its own, so the owner is alive) to give the set one, and the `sub` that brings it back to zero obliges its
//! caller to drop it. Around a zero crossing the set may briefly hold two (the old one not yet dropped, the
//! new one already given) but never none while a reference is held.

use crate::loom::AtomicUsize;
use std::cell::Cell;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::sync::atomic::fence;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::Arc;

/// How many references a stash takes from the set at once, and how many it keeps when it gives back.
pub(crate) const BATCH: usize = 256;

/// A stash gives back what it holds above `BATCH` once it holds more than this.
const STASH_LIMIT: usize = 2 * BATCH;

/// The count of task references on one runtime (see the module's invariant). On a cache line of its own:
/// every worker writes it, each about once per `BATCH` tasks.
#[repr(align(128))]
pub(crate) struct TaskRefs {
    count: AtomicUsize,
}

impl TaskRefs {
    pub(crate) fn new() -> TaskRefs {
        TaskRefs {
            count: AtomicUsize::new(0),
        }
    }

    /// Takes `n` references. True when the set was empty: the caller must now give it a counted reference
    /// on the owner (an `Arc` clone that is forgotten). The caller holds a reference of its own.
    #[must_use = "a set that was empty needs its reference on the owner"]
    pub(crate) fn add(&self, n: usize) -> bool {
        // Relaxed, as for an `Arc` clone: the caller's own reference keeps the owner alive meanwhile.
        self.count.fetch_add(n, Relaxed) == 0
    }

    /// Gives back `n` references. True when that emptied the set: the caller must now drop the set's
    /// reference on the owner, and must not touch the owner through the given-back references afterwards.
    #[must_use = "an emptied set's reference on the owner must be dropped"]
    pub(crate) fn sub(&self, n: usize) -> bool {
        // Release, then Acquire on the emptying side, as for an `Arc` drop: every use of the owner made
        // through a given-back reference happens before the last one drops the set's reference.
        let before = self.count.fetch_sub(n, Release);
        debug_assert!(
            before >= n,
            "ferrio: more task references given back than taken"
        );
        if before == n {
            fence(Acquire);
            return true;
        }
        false
    }

    /// References alive now (tests).
    #[cfg(all(test, not(ferrio_loom)))]
    pub(crate) fn count(&self) -> usize {
        self.count.load(Relaxed)
    }
}

/// References held by one worker thread for the tasks it spawns, refilled and given back in batches. Only
/// that thread touches it.
pub(crate) struct RefStash {
    held: Cell<usize>,
}

/// What the owner of the set must do after a stash call (see `TaskRefs::add` and `TaskRefs::sub`).
#[must_use = "the set's reference on the owner must be given or dropped as told"]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SetRef {
    /// Nothing: the set's reference on the owner is unchanged.
    Unchanged,
    /// The set was empty: give it a counted reference on the owner.
    Give,
    /// The set became empty: drop its reference on the owner.
    Drop,
}

impl SetRef {
    fn added(was_empty: bool) -> SetRef {
        if was_empty {
            SetRef::Give
        } else {
            SetRef::Unchanged
        }
    }

    fn subtracted(emptied: bool) -> SetRef {
        if emptied {
            SetRef::Drop
        } else {
            SetRef::Unchanged
        }
    }
}

impl RefStash {
    pub(crate) fn new() -> RefStash {
        RefStash { held: Cell::new(0) }
    }

    /// Takes one reference for a new task, refilling from `refs` when empty.
    pub(crate) fn take(&self, refs: &TaskRefs) -> SetRef {
        let held = self.held.get();
        if held > 0 {
            self.held.set(held - 1);
            return SetRef::Unchanged;
        }
        self.held.set(BATCH - 1);
        SetRef::added(refs.add(BATCH))
    }

    /// Keeps the reference of a freed task, giving the surplus back to `refs` when over the limit.
    pub(crate) fn put(&self, refs: &TaskRefs) -> SetRef {
        let held = self.held.get() + 1;
        if held <= STASH_LIMIT {
            self.held.set(held);
            return SetRef::Unchanged;
        }
        self.held.set(BATCH);
        SetRef::subtracted(refs.sub(held - BATCH))
    }

    /// Gives everything back (the worker is leaving).
    pub(crate) fn drain(&self, refs: &TaskRefs) -> SetRef {
        match self.held.replace(0) {
            0 => SetRef::Unchanged,
            held => SetRef::subtracted(refs.sub(held)),
        }
    }

    /// References held now (tests).
    #[cfg(all(test, not(ferrio_loom)))]
    pub(crate) fn held(&self) -> usize {
        self.held.get()
    }
}

/// A runtime's shared state, as the owner of a task-reference set.
pub(crate) trait RefOwner: Send + Sync + Sized + 'static {
    /// The set of references that tasks hold on this owner.
    fn task_refs(&self) -> &TaskRefs;

    /// Runs `f` on the current thread's stash for `owner`, if this thread keeps one (it runs `owner`'s
    /// loop); `None` otherwise.
    fn with_ref_stash<R>(owner: &Arc<Self>, f: impl FnOnce(&RefStash) -> R) -> Option<R>;
}

/// One task reference on `O` (see the module's invariant): what a task's scheduler hook holds. The `Arc`
/// inside is not counted for this value: it is a copy of the owner's pointer, kept alive by the reference,
/// and never dropped as an `Arc`; dropping a `TaskRef` gives the reference back instead.
pub(crate) struct TaskRef<O: RefOwner> {
    owner: ManuallyDrop<Arc<O>>,
}

impl<O: RefOwner> TaskRef<O> {
    /// Takes a reference for a new task: from this thread's stash when it keeps one for `owner`, else
    /// from the set directly.
    pub(crate) fn new(owner: &Arc<O>) -> TaskRef<O> {
        let set_ref = O::with_ref_stash(owner, |stash| stash.take(owner.task_refs()))
            .unwrap_or_else(|| SetRef::added(owner.task_refs().add(1)));
        settle(owner, set_ref);
        // SAFETY: `Arc::as_ptr` of a live `Arc`. The copy counts nothing and is never dropped as an `Arc`;
        // the reference just taken keeps the owner alive for as long as it exists (module invariant).
        let copy = unsafe { Arc::from_raw(Arc::as_ptr(owner)) };
        TaskRef {
            owner: ManuallyDrop::new(copy),
        }
    }
}

impl<O: RefOwner> Deref for TaskRef<O> {
    type Target = Arc<O>;

    #[inline]
    fn deref(&self) -> &Arc<O> {
        &self.owner
    }
}

impl<O: RefOwner> Drop for TaskRef<O> {
    fn drop(&mut self) {
        let owner: &Arc<O> = &self.owner;
        let set_ref = O::with_ref_stash(owner, |stash| stash.put(owner.task_refs()))
            .unwrap_or_else(|| SetRef::subtracted(owner.task_refs().sub(1)));
        settle(owner, set_ref);
    }
}

/// Does what a set call asked of the set's reference on `owner` (module invariant). After
/// `SetRef::Drop`, the owner may be gone: the caller must not touch it through a given-back reference.
pub(crate) fn settle<O>(owner: &Arc<O>, set_ref: SetRef) {
    match set_ref {
        SetRef::Unchanged => {}
        SetRef::Give => std::mem::forget(Arc::clone(owner)),
        // SAFETY: the set held a counted reference (given when it last left zero), which the emptying
        // `sub` made ours to drop; `from_raw` of the owner's own pointer takes it back.
        SetRef::Drop => drop(unsafe { Arc::from_raw(Arc::as_ptr(owner)) }),
    }
}

#[cfg(all(test, not(ferrio_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_stash_refills_and_gives_back_in_batches() {
        let refs = TaskRefs::new();
        let stash = RefStash::new();
        assert_eq!(
            stash.take(&refs),
            SetRef::Give,
            "the first take fills an empty set"
        );
        assert_eq!((refs.count(), stash.held()), (BATCH, BATCH - 1));
        for _ in 1..BATCH {
            assert_eq!(stash.take(&refs), SetRef::Unchanged);
        }
        assert_eq!((refs.count(), stash.held()), (BATCH, 0));
        assert_eq!(stash.take(&refs), SetRef::Unchanged, "the set is not empty");
        assert_eq!((refs.count(), stash.held()), (2 * BATCH, BATCH - 1));
        // Free the BATCH + 1 tasks taken so far, then BATCH more taken by other threads one by one.
        for _ in 0..BATCH {
            assert!(!refs.add(1));
        }
        for _ in 0..STASH_LIMIT - (BATCH - 1) {
            assert_eq!(stash.put(&refs), SetRef::Unchanged);
        }
        assert_eq!(stash.held(), STASH_LIMIT);
        assert_eq!(
            stash.put(&refs),
            SetRef::Unchanged,
            "gives back, others still hold"
        );
        // 258 freed of 513 taken: 255 tasks alive, and the stash keeps BATCH.
        assert_eq!((refs.count(), stash.held()), (2 * BATCH - 1, BATCH));
        assert_eq!(stash.drain(&refs), SetRef::Unchanged);
        assert_eq!(refs.count(), BATCH - 1);
        assert!(!refs.sub(BATCH - 2));
        assert!(refs.sub(1), "the last one empties the set");
    }

    /// Stands for a runtime's `Shared`: this thread keeps a stash for it while `LOOP_RUNS` is set.
    struct Owner {
        refs: TaskRefs,
    }

    thread_local! {
        static STASH: RefStash = const { RefStash { held: Cell::new(0) } };
        static LOOP_RUNS: Cell<bool> = const { Cell::new(false) };
    }

    impl RefOwner for Owner {
        fn task_refs(&self) -> &TaskRefs {
            &self.refs
        }
        fn with_ref_stash<R>(_: &Arc<Owner>, f: impl FnOnce(&RefStash) -> R) -> Option<R> {
            LOOP_RUNS.get().then(|| STASH.with(f))
        }
    }

    /// Task references taken through the stash and directly, the owner's last `Arc` dropped while they
    /// live, then given back in mixed order: the owner outlives every reference and is freed by the last
    /// one (under Miri this also checks the uncounted copies and the set's reference for leaks and frees).
    #[test]
    fn task_refs_keep_the_owner_alive_and_the_last_frees_it() {
        let owner = Arc::new(Owner {
            refs: TaskRefs::new(),
        });
        let weak = Arc::downgrade(&owner);
        LOOP_RUNS.set(true);
        let stashed: Vec<TaskRef<Owner>> = (0..3).map(|_| TaskRef::new(&owner)).collect();
        LOOP_RUNS.set(false);
        let direct: Vec<TaskRef<Owner>> = (0..2).map(|_| TaskRef::new(&owner)).collect();
        assert_eq!(
            owner.refs.count(),
            BATCH + 2,
            "a batch for the stash, one each for the others"
        );
        assert_eq!(Arc::strong_count(&owner), 2, "ours and the set's");
        drop(owner);
        LOOP_RUNS.set(true);
        drop(stashed);
        LOOP_RUNS.set(false);
        let first = &direct[0];
        assert_eq!(
            first.refs.count(),
            BATCH + 2,
            "the stash kept what came back"
        );
        STASH.with(|stash| settle(first, stash.drain(&first.refs)));
        assert_eq!(first.refs.count(), 2);
        drop(direct);
        assert!(
            weak.upgrade().is_none(),
            "the last reference freed the owner"
        );
    }

    #[test]
    fn draining_the_last_references_empties_the_set() {
        let refs = TaskRefs::new();
        let stash = RefStash::new();
        assert_eq!(stash.take(&refs), SetRef::Give);
        assert_eq!(stash.put(&refs), SetRef::Unchanged);
        assert_eq!(stash.drain(&refs), SetRef::Drop);
        assert_eq!(
            stash.drain(&refs),
            SetRef::Unchanged,
            "nothing left to give"
        );
        assert_eq!(
            stash.take(&refs),
            SetRef::Give,
            "empty again: the next take gives"
        );
    }
}

#[cfg(all(test, ferrio_loom))]
mod loom_tests {
    use super::*;
    use crate::loom::AtomicBool;
    use loom::sync::Arc;
    use loom::thread;
    use std::sync::atomic::Ordering::SeqCst;

    /// Stands for a runtime's `Shared`: says when it is dropped.
    struct Owner {
        refs: TaskRefs,
        dropped: Arc<AtomicBool>,
    }

    impl Drop for Owner {
        fn drop(&mut self) {
            self.dropped.store(true, SeqCst);
        }
    }

    /// The module's `settle`, on loom's `Arc` (the schedulers' `Shared` lives in std's).
    fn settle(owner: &Arc<Owner>, set_ref: SetRef) {
        match set_ref {
            SetRef::Unchanged => {}
            SetRef::Give => std::mem::forget(Arc::clone(owner)),
            // SAFETY: the set's counted reference, now ours to drop (module invariant).
            SetRef::Drop => drop(unsafe { Arc::from_raw(Arc::as_ptr(owner)) }),
        }
    }

    /// An uncounted copy of the owner's `Arc`, as a task hook keeps it.
    fn hook_copy(owner: &Arc<Owner>) -> std::mem::ManuallyDrop<Arc<Owner>> {
        // SAFETY: the caller holds a task reference, which keeps the owner alive (module invariant).
        std::mem::ManuallyDrop::new(unsafe { Arc::from_raw(Arc::as_ptr(owner)) })
    }

    /// The runtime is dropped while a worker refills its stash (the set empty or not), frees a task into
    /// it and drains it, and a foreign thread gives back the last reference of a task spawned from outside:
    /// whichever empties the set last drops the set's reference, the owner is never dropped while a task
    /// reference is held, and it is dropped exactly once at the end.
    #[test]
    fn the_owner_lives_while_a_reference_is_held_and_dies_after_the_last() {
        loom::model(|| {
            let dropped = Arc::new(AtomicBool::new(false));
            let owner = Arc::new(Owner {
                refs: TaskRefs::new(),
                dropped: dropped.clone(),
            });
            // A task spawned from outside the workers: one reference, taken one by one.
            settle(
                &owner,
                if owner.refs.add(1) {
                    SetRef::Give
                } else {
                    SetRef::Unchanged
                },
            );
            let foreign_task = hook_copy(&owner);
            let worker = {
                let owner = owner.clone();
                thread::spawn(move || {
                    let stash = RefStash::new();
                    settle(&owner, stash.take(&owner.refs));
                    let task = hook_copy(&owner);
                    settle(&task, stash.put(&task.refs));
                    settle(&owner, stash.drain(&owner.refs));
                })
            };
            let foreign = thread::spawn(move || {
                let task = foreign_task;
                assert!(
                    !task.dropped.load(SeqCst),
                    "dropped while a task held a reference"
                );
                let emptied = task.refs.sub(1);
                settle(
                    &task,
                    if emptied {
                        SetRef::Drop
                    } else {
                        SetRef::Unchanged
                    },
                );
            });
            drop(owner);
            worker.join().unwrap();
            foreign.join().unwrap();
            assert!(dropped.load(SeqCst), "dropped once every reference is gone");
        });
    }
}
