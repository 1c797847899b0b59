//! The memory of one task: a single heap allocation holding a `Header`, the scheduler hook and the stage
//! (the future, later its output in the same bytes).
//!
//! Everything outside `task/` sees a task only as a `RawTask`: a pointer to the `Header`, from which the
//! vtable recovers the concrete `Cell<F, S>`. This module allocates cells and forwards calls through the vtable;
//! the logic of each call lives in `harness.rs`.
//!
//! # Invariants (cited by `SAFETY:` comments across `task/` and the schedulers)
//!
//! 1. **Liveness.** A `RawTask` is only dereferenced while the caller owns one of the references counted in
//!    the state word (`state.rs` lists who holds them), or while holding the owned list the task is on
//!    (invariant 4) with the task still linked (the list owns a reference then).
//! 2. **Stage access.** The stage is read or written only by the holder of `RUNNING`, or, once `COMPLETE` is
//!    set, by the `Task<T>` handle while `JOIN_INTEREST` is set, or by the completing poller when
//!    `JOIN_INTEREST` was clear at completion. These never overlap (the state word orders them).
//! 3. **Join-waker slot.** Written only by the side that owns it according to `JOIN_WAKER` (see `state.rs`);
//!    the runtime side only reads it (`wake_by_ref`) and, after completion, drops it if the handle is gone.
//!    So the handle may read it at any time while it holds `JOIN_INTEREST`, whoever owns it.
//! 4. **Owned links.** `Header::owned` and `Header::on_list` are written only by the holder of the list the
//!    task is on: under the lock of the shared `OwnedTasks` shard that the task's id selects, or, on a
//!    current-thread runtime's `LocalOwnedTasks`, by the thread holding that scheduler's core; `owned` is
//!    also read only by that holder. A task stays on the list it was bound to. `on_list` changes only at
//!    bind (before the task is shared) and at unlink, and a current-thread runtime unlinks a linked task
//!    only on the thread holding its core (its tasks complete there and its shutdown runs there; a task
//!    refused at bind completes where it was spawned, but it was never linked). So that thread may read
//!    `on_list` of any task of its runtime it holds a reference to, without a lock.
//! 5. **Thread affinity.** A task spawned with `spawn_local` (future not `Send`) is polled and its future
//!    dropped only on its runtime's thread: only the current-thread scheduler runs its `Notified`, and that
//!    scheduler polls only on its owner thread; at completion the future is dropped by the poller. Wakers and
//!    handles may travel, but they never touch the stage after completion unless the output type is `Send`
//!    (`Task<T>` is `Send` only when `T` is).
//! 6. **Layout.** `Cell<F, S>` is `#[repr(C)]` with the `Header` first, so a `*mut Cell<F, S>` and its
//!    `*mut Header` are the same address.
//! 7. **Stage before hook.** Freeing a cell drops the stage before the scheduler hook. A `Sleep` inside the
//!    future may hold an uncounted pointer to the timer driver that the hook keeps alive
//!    (`time/binding.rs`), so the hook must outlive everything in the stage.

use super::error::{TaskError, TaskId};
use super::harness;
use super::state::State;
use super::Schedule;
use crate::loom::UnsafeCell;
use crate::time::TimeDriver;
use std::future::Future;
use std::ptr::NonNull;
use std::task::{Poll, Waker};

/// The type-independent front of every task.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: State,
    pub(crate) vtable: &'static Vtable,
    pub(crate) id: TaskId,
    /// Links of the runtime's owned-task list (invariant 4).
    pub(crate) owned: UnsafeCell<OwnedLinks>,
    /// Which owned-task list the task is on (invariant 4). A cell of its own, apart from the links, so the
    /// current-thread loop can read it while another thread edits the links.
    pub(crate) on_list: UnsafeCell<OnList>,
    /// Waker of whoever awaits the `Task<T>` handle (invariant 3).
    pub(crate) join_waker: UnsafeCell<Option<Waker>>,
}

/// Intrusive doubly-linked list links of an owned-task list (invariant 4 says who may touch them).
#[derive(Clone, Copy)]
pub(crate) struct OwnedLinks {
    pub(crate) prev: Option<NonNull<Header>>,
    pub(crate) next: Option<NonNull<Header>>,
}

/// Which owned-task list a task is on (`owned.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnList {
    /// Not linked: not yet bound, or unlinked at completion or shutdown.
    None,
    /// A shard of the runtime's shared `OwnedTasks`.
    Shared,
    /// The current-thread scheduler's `LocalOwnedTasks`, in its core.
    Local,
}

/// Operations that need the concrete future and scheduler types.
pub(crate) struct Vtable {
    /// Poll (or cancel) the task; consumes the caller's `Notified` reference.
    pub(crate) poll: unsafe fn(NonNull<Header>),
    /// Hand the task to its scheduler; consumes one `Notified` reference.
    pub(crate) schedule: unsafe fn(NonNull<Header>),
    /// Free the allocation; called once the reference count reaches zero.
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
    /// Move the output into `*dst` (a `Poll<Result<T, TaskError>>`) or register the waker.
    pub(crate) try_read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    /// The `Task<T>` handle is dropped; consumes its reference.
    pub(crate) drop_join_handle: unsafe fn(NonNull<Header>),
    /// Runtime shutdown: cancel and drop the future now if idle; consumes one reference.
    pub(crate) shutdown: unsafe fn(NonNull<Header>),
    /// A cancel was accepted on a queued or running task: tell its scheduler (`Schedule::cancel_requested`).
    /// Borrows the caller's reference.
    pub(crate) cancel_requested: unsafe fn(NonNull<Header>),
    /// The timer driver the scheduler hook keeps alive (`Schedule::time_driver`). Borrows the caller's
    /// reference.
    pub(crate) time_driver: unsafe fn(NonNull<Header>) -> Option<NonNull<TimeDriver>>,
    /// Size in bytes of the whole allocation (`Cell<F, S>`), header included.
    pub(crate) size: usize,
}

/// What the stage holds over the task's life. `Finished` reuses the bytes of `Running`.
pub(crate) enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, TaskError>),
    Consumed,
}

/// The whole allocation (invariant 6).
#[repr(C)]
pub(crate) struct Cell<F: Future, S> {
    pub(crate) header: Header,
    pub(crate) scheduler: S,
    pub(crate) stage: UnsafeCell<Stage<F>>,
}

impl<F: Future, S: Schedule> Cell<F, S> {
    const VTABLE: Vtable = Vtable {
        poll: harness::poll::<F, S>,
        schedule: harness::schedule::<F, S>,
        dealloc: harness::dealloc::<F, S>,
        try_read_output: harness::try_read_output::<F, S>,
        drop_join_handle: harness::drop_join_handle::<F, S>,
        shutdown: harness::shutdown::<F, S>,
        cancel_requested: harness::cancel_requested::<F, S>,
        time_driver: harness::time_driver::<F, S>,
        size: std::mem::size_of::<Cell<F, S>>(),
    };

    fn allocate(future: F, scheduler: S, id: TaskId) -> NonNull<Header> {
        let cell = Box::new(Cell {
            header: Header {
                state: State::new(),
                vtable: &Self::VTABLE,
                id,
                owned: UnsafeCell::new(OwnedLinks {
                    prev: None,
                    next: None,
                }),
                on_list: UnsafeCell::new(OnList::None),
                join_waker: UnsafeCell::new(None),
            },
            scheduler,
            stage: UnsafeCell::new(Stage::Running(future)),
        });
        NonNull::from(Box::leak(cell)).cast()
    }
}

/// An untyped pointer to a task. Copying it does not count a reference: the code holding it owns (or
/// borrows) one by the rules of `state.rs`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct RawTask {
    ptr: NonNull<Header>,
}

// SAFETY: a `RawTask` is a pointer whose referent is shared through atomics (the state word) and cells
// guarded by the state protocol (invariants 1-4). Thread affinity of `!Send` futures is upheld by the
// schedulers (invariant 5), not by the pointer's type.
unsafe impl Send for RawTask {}
// SAFETY: as for `Send`: all shared access goes through the header's atomics and guarded cells.
unsafe impl Sync for RawTask {}

impl RawTask {
    /// Allocates a task holding `future`, with the initial three references (see `state.rs`).
    pub(crate) fn new<F: Future, S: Schedule>(future: F, scheduler: S, id: TaskId) -> RawTask {
        RawTask {
            ptr: Cell::<F, S>::allocate(future, scheduler, id),
        }
    }

    pub(crate) fn from_header(ptr: NonNull<Header>) -> RawTask {
        RawTask { ptr }
    }

    pub(crate) fn header_ptr(self) -> NonNull<Header> {
        self.ptr
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: invariant 1: whoever holds a `RawTask` holds (or borrows) a reference, so the header lives.
        unsafe { self.ptr.as_ref() }
    }

    pub(crate) fn state(&self) -> &State {
        &self.header().state
    }

    pub(crate) fn id(&self) -> TaskId {
        self.header().id
    }

    /// Polls the task, consuming a `Notified` reference.
    pub(crate) fn poll(self) {
        // SAFETY: the vtable matches the cell it was created with; the caller passes its reference on.
        unsafe { (self.header().vtable.poll)(self.ptr) }
    }

    /// Gives a `Notified` reference to the task's scheduler.
    pub(crate) fn schedule(self) {
        // SAFETY: as for `poll`.
        unsafe { (self.header().vtable.schedule)(self.ptr) }
    }

    pub(crate) fn dealloc(self) {
        // SAFETY: called only when the reference count reached zero, by the one caller that observed it.
        unsafe { (self.header().vtable.dealloc)(self.ptr) }
    }

    /// Reads the output into `dst` (a `*mut Poll<Result<T, TaskError>>` of the task's output type).
    ///
    /// # Safety
    /// The caller is the `Task<T>` handle with `JOIN_INTEREST` set and `dst` points to a valid
    /// `Poll<Result<T, TaskError>>` where `T` is the task's output type.
    pub(crate) unsafe fn try_read_output<T>(
        self,
        dst: &mut Poll<Result<T, TaskError>>,
        waker: &Waker,
    ) {
        // SAFETY: forwarded from the caller's contract.
        unsafe { (self.header().vtable.try_read_output)(self.ptr, dst as *mut _ as *mut (), waker) }
    }

    pub(crate) fn drop_join_handle(self) {
        // SAFETY: called once, by the `Task<T>` handle's `Drop`, which owns a reference.
        unsafe { (self.header().vtable.drop_join_handle)(self.ptr) }
    }

    /// Cancels the task at runtime shutdown, consuming one reference.
    pub(crate) fn shutdown(self) {
        // SAFETY: the caller (the owned list after unlinking) passes its reference on.
        unsafe { (self.header().vtable.shutdown)(self.ptr) }
    }

    /// Tells the task's scheduler that a cancel was accepted while the task was queued or running. The
    /// caller holds a reference for the whole call.
    pub(crate) fn cancel_requested(self) {
        // SAFETY: as for `poll`; the caller's reference is only borrowed, and keeps the task alive meanwhile.
        unsafe { (self.header().vtable.cancel_requested)(self.ptr) }
    }

    /// Releases one reference, deallocating on the last.
    pub(crate) fn drop_reference(self) {
        if self.state().ref_dec() {
            self.dealloc();
        }
    }
}
