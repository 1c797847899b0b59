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
//! on the runtime's `Arc` while it is not empty. Each thread that runs the runtime's loop (a multi-thread
//! worker; the current-thread loop while `block_on` or shutdown runs) keeps a `RefStash`: spawns there take
//! references from it, and the tasks freed there give theirs back to it. The stash refills from `TaskRefs`,
//! and gives back to it, `BATCH` references at a time, so the shared word is written about once every
//! `BATCH` tasks per thread. Other threads take and give back one reference at a time.
//!
//! `TaskRef<O>` is the reference a task's scheduler hook holds: each flavour's hook is a `TaskRef` of its
//! `Shared` (`RefOwner` finds the set and the current thread's stash). `TaskRefs::add` and `sub` only say
//! when the set gains or loses its reference on the owner's `Arc`; `settle` then clones or drops it, after
//! the call, so that nothing still borrows memory that the last `sub` may free.
//!
//! # Invariant (cited by the hooks that rely on it)
//! **Set reference.** `count` is the number of task references alive: those held by task hooks plus those
//! held in stashes. While `count > 0` the owner is alive. The set holds a counted reference on the owner's
//! `Arc`: the `add` that finds the count at zero obliges its caller to give the set one (`settle`), and the
//! `sub` that brings it back to zero obliges its caller to drop it. Between such an `add` and its `settle`
//! the set holds none yet, but the caller holds a counted `Arc` of its own (every `add` is made by a holder
//! of one: a spawner, a loop thread's context), and the references just taken are handed out only after
//! the `settle`. Around a zero crossing the set may briefly hold two (the old one not yet dropped, the new
//! one already given).
//!
//! `TaskRefs` is only the atomic, with no padding: a `sub` still returning on one thread while another's
//! last `sub` frees the owner then borrows nothing but the atomic's own bytes, inside an `UnsafeCell` (the
//! shape std's `Arc` relies on; whether padding borrowed by a live `&` may be freed is an open question of
//! Rust's aliasing model, so none is borrowed). A runtime embeds it through `PaddedTaskRefs`, which puts it
//! on a cache line of its own.

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

/// The count of task references on one runtime (see the module's invariant). Only the atomic: no padding
/// (module docs).
pub(crate) struct TaskRefs {
    count: AtomicUsize,
}

/// `TaskRefs` on a cache line of its own, as a runtime embeds it: every loop thread writes it, each about
/// once per `BATCH` tasks.
#[repr(align(128))]
pub(crate) struct PaddedTaskRefs(TaskRefs);

impl PaddedTaskRefs {
    pub(crate) fn new() -> PaddedTaskRefs {
        PaddedTaskRefs(TaskRefs::new())
    }
}

impl Deref for PaddedTaskRefs {
    type Target = TaskRefs;

    #[inline]
    fn deref(&self) -> &TaskRefs {
        &self.0
    }
}

impl TaskRefs {
    pub(crate) fn new() -> TaskRefs {
        TaskRefs {
            count: AtomicUsize::new(0),
        }
    }

    /// Takes `n` references. True when the set was empty: the caller must now give it a counted reference
    /// on the owner (an `Arc` clone that is forgotten). The caller holds a counted `Arc` of its own.
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

/// References held by one loop thread for the tasks spawned and freed there, refilled and given back in
/// batches. Only that thread touches it, and only with its runtime's set.
pub(crate) struct RefStash {
    held: Cell<usize>,
}

/// What must be done to the set's reference on the owner after a stash call (see `TaskRefs::add` and
/// `TaskRefs::sub`): hand it to `settle`. Opaque, so that only a call on a set can produce one.
#[must_use = "the set's reference on the owner must be given or dropped: pass this to `settle`"]
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SetRef(Action);

#[derive(Debug, PartialEq, Eq)]
enum Action {
    /// Nothing: the set's reference on the owner is unchanged.
    Unchanged,
    /// The set was empty: give it a counted reference on the owner.
    Give,
    /// The set became empty: drop its reference on the owner.
    Drop,
}

impl SetRef {
    const UNCHANGED: SetRef = SetRef(Action::Unchanged);
    const GIVE: SetRef = SetRef(Action::Give);
    const DROP: SetRef = SetRef(Action::Drop);

    fn added(was_empty: bool) -> SetRef {
        if was_empty {
            SetRef::GIVE
        } else {
            SetRef::UNCHANGED
        }
    }

    fn subtracted(emptied: bool) -> SetRef {
        if emptied {
            SetRef::DROP
        } else {
            SetRef::UNCHANGED
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
            return SetRef::UNCHANGED;
        }
        self.held.set(BATCH - 1);
        SetRef::added(refs.add(BATCH))
    }

    /// Keeps the reference of a freed task, giving the surplus back to `refs` when over the limit.
    pub(crate) fn put(&self, refs: &TaskRefs) -> SetRef {
        let held = self.held.get() + 1;
        if held <= STASH_LIMIT {
            self.held.set(held);
            return SetRef::UNCHANGED;
        }
        self.held.set(BATCH);
        SetRef::subtracted(refs.sub(held - BATCH))
    }

    /// Gives everything back (its thread is leaving the loop).
    pub(crate) fn drain(&self, refs: &TaskRefs) -> SetRef {
        match self.held.replace(0) {
            0 => SetRef::UNCHANGED,
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
/// and never dropped as an `Arc`; dropping a `TaskRef` gives the reference back instead. So a `TaskRef` is
/// not `Clone`, and a bitwise copy of one (`harness::hook_copy`) must never be dropped.
pub(crate) struct TaskRef<O: RefOwner> {
    owner: ManuallyDrop<Arc<O>>,
}

impl<O: RefOwner> TaskRef<O> {
    /// Takes a reference for a new task: from this thread's stash when it keeps one for `owner`, else
    /// from the set directly.
    pub(crate) fn new(owner: &Arc<O>) -> TaskRef<O> {
        let set_ref = O::with_ref_stash(owner, |stash| stash.take(owner.task_refs()))
            .unwrap_or_else(|| SetRef::added(owner.task_refs().add(1)));
        // SAFETY: `set_ref` came from `owner`'s own set.
        unsafe { settle(owner, set_ref) };
        // SAFETY: `Arc::as_ptr` of a live `Arc`. The copy counts nothing and is never dropped as an `Arc`;
        // the reference just taken keeps the owner alive for as long as it exists ("Set reference").
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
        // SAFETY: `set_ref` came from `owner`'s own set.
        unsafe { settle(owner, set_ref) };
    }
}

/// Does what a set call asked of the set's reference on `owner` ("Set reference"). After a drop, the owner
/// may be gone: the caller must not touch it through a given-back reference.
///
/// # Safety
/// `set_ref` came from a call on `owner`'s own set (`owner.task_refs()`, directly or through a stash of
/// that owner); otherwise a drop would release a count that the set does not hold.
pub(crate) unsafe fn settle<O>(owner: &Arc<O>, set_ref: SetRef) {
    match set_ref.0 {
        Action::Unchanged => {}
        Action::Give => std::mem::forget(Arc::clone(owner)),
        // SAFETY: the set held a counted reference ("Set reference": given when it last left zero), which
        // the emptying `sub` on this owner's set (the caller's contract) made ours to drop; `from_raw` of
        // the owner's own pointer takes it back.
        Action::Drop => drop(unsafe { Arc::from_raw(Arc::as_ptr(owner)) }),
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
            SetRef::GIVE,
            "the first take fills an empty set"
        );
        assert_eq!((refs.count(), stash.held()), (BATCH, BATCH - 1));
        for _ in 1..BATCH {
            assert_eq!(stash.take(&refs), SetRef::UNCHANGED);
        }
        assert_eq!((refs.count(), stash.held()), (BATCH, 0));
        assert_eq!(stash.take(&refs), SetRef::UNCHANGED, "the set is not empty");
        assert_eq!((refs.count(), stash.held()), (2 * BATCH, BATCH - 1));
        // Free the BATCH + 1 tasks taken so far, then BATCH more taken by other threads one by one.
        for _ in 0..BATCH {
            assert!(!refs.add(1));
        }
        for _ in 0..STASH_LIMIT - (BATCH - 1) {
            assert_eq!(stash.put(&refs), SetRef::UNCHANGED);
        }
        assert_eq!(stash.held(), STASH_LIMIT);
        assert_eq!(
            stash.put(&refs),
            SetRef::UNCHANGED,
            "gives back, others still hold"
        );
        // 258 freed of 513 taken: 255 tasks alive, and the stash keeps BATCH.
        assert_eq!((refs.count(), stash.held()), (2 * BATCH - 1, BATCH));
        assert_eq!(stash.drain(&refs), SetRef::UNCHANGED);
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
        // SAFETY: the stash is this owner's.
        STASH.with(|stash| unsafe { settle(first, stash.drain(&first.refs)) });
        assert_eq!(first.refs.count(), 2);
        drop(direct);
        assert!(
            weak.upgrade().is_none(),
            "the last reference freed the owner"
        );
    }

    /// Two threads give back the last two references at once, after the owner's own `Arc` is gone: the
    /// later frees the owner while the earlier may still be returning from `sub` (under Miri, with its
    /// random preemption, this checks the frees and the uncounted copies across threads).
    #[test]
    fn the_last_two_references_given_back_at_once_free_the_owner_once() {
        for _ in 0..20 {
            let owner = Arc::new(Owner {
                refs: TaskRefs::new(),
            });
            let weak = Arc::downgrade(&owner);
            let refs = [TaskRef::new(&owner), TaskRef::new(&owner)];
            drop(owner);
            std::thread::scope(|scope| {
                for task_ref in refs {
                    scope.spawn(move || drop(task_ref));
                }
            });
            assert!(weak.upgrade().is_none());
        }
    }

    #[test]
    fn draining_the_last_references_empties_the_set() {
        let refs = TaskRefs::new();
        let stash = RefStash::new();
        assert_eq!(stash.take(&refs), SetRef::GIVE);
        assert_eq!(stash.put(&refs), SetRef::UNCHANGED);
        assert_eq!(stash.drain(&refs), SetRef::DROP);
        assert_eq!(
            stash.drain(&refs),
            SetRef::UNCHANGED,
            "nothing left to give"
        );
        assert_eq!(
            stash.take(&refs),
            SetRef::GIVE,
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
        match set_ref.0 {
            Action::Unchanged => {}
            Action::Give => std::mem::forget(Arc::clone(owner)),
            // SAFETY: the set's counted reference, now ours to drop (module invariant).
            Action::Drop => drop(unsafe { Arc::from_raw(Arc::as_ptr(owner)) }),
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
                    SetRef::GIVE
                } else {
                    SetRef::UNCHANGED
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
                        SetRef::DROP
                    } else {
                        SetRef::UNCHANGED
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
