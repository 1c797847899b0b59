//! Wakers that point at the task itself: the waker's data pointer is the task `Header`, and its reference is
//! one of the task's counted references. Creating, cloning, waking and dropping a waker never allocates:
//! clone is one `fetch_add`, drop one `fetch_sub`, wake one compare-and-swap plus, when the task was idle, a
//! hand-off to its scheduler.

use super::raw::{Header, RawTask};
use super::state::TransitionToNotified;
use crate::time::TimeDriver;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(clone, wake_by_val, wake_by_ref, drop_waker);

/// A waker borrowed from the reference the poller holds: it must not outlive the poll. Cloning it takes a
/// reference of its own.
pub(super) struct WakerRef<'a> {
    waker: ManuallyDrop<Waker>,
    _borrow: PhantomData<&'a Header>,
}

impl Deref for WakerRef<'_> {
    type Target = Waker;
    fn deref(&self) -> &Waker {
        &self.waker
    }
}

pub(super) fn waker_ref<'a>(header: NonNull<Header>) -> WakerRef<'a> {
    let raw = RawWaker::new(header.as_ptr() as *const (), &WAKER_VTABLE);
    // SAFETY: the vtable functions uphold the `RawWaker` contract for task headers (see each function); the
    // `ManuallyDrop` keeps this borrowed waker from releasing a reference it does not own.
    let waker = unsafe { Waker::from_raw(raw) };
    WakerRef {
        waker: ManuallyDrop::new(waker),
        _borrow: PhantomData,
    }
}

/// The task `waker` points at, if it is a ferrio task waker (any other waker: `None`).
pub(crate) fn task_of(waker: &Waker) -> Option<NonNull<Header>> {
    if std::ptr::eq(waker.vtable(), &WAKER_VTABLE) {
        NonNull::new(waker.data() as *mut Header)
    } else {
        None
    }
}

/// What a value learns about the task whose allocation holds it (`enclosing_task`).
pub(crate) struct EnclosingTask {
    /// The task's header: `is_waker_of(w, header)` tells its own waker from others.
    pub(crate) header: NonNull<Header>,
    /// The timer driver its scheduler hook keeps alive (`Schedule::time_driver`), if any.
    pub(crate) time_driver: Option<NonNull<TimeDriver>>,
}

/// If `waker` is a ferrio task waker and the `len` bytes at `addr` lie inside that task's allocation, what
/// the value there can rely on: the allocation (and, by raw.rs invariant 7, the hook and its timer
/// driver) outlives the value, since the stage is dropped before the cell is freed.
pub(crate) fn enclosing_task(waker: &Waker, addr: *const u8, len: usize) -> Option<EnclosingTask> {
    let header = task_of(waker)?;
    // SAFETY: the waker owns or borrows a counted reference while we hold `&Waker` (raw.rs invariant 1).
    let vtable = unsafe { header.as_ref() }.vtable;
    let start = header.as_ptr() as usize;
    let addr = addr as usize;
    if addr < start || addr.checked_add(len)? > start + vtable.size {
        return None;
    }
    // SAFETY: as above; `time_driver` borrows the waker's reference.
    let time_driver = unsafe { (vtable.time_driver)(header) };
    Some(EnclosingTask {
        header,
        time_driver,
    })
}

/// True if `waker` is the waker of the task at `header`.
pub(crate) fn is_waker_of(waker: &Waker, header: NonNull<Header>) -> bool {
    task_of(waker) == Some(header)
}

fn task(ptr: *const ()) -> RawTask {
    // SAFETY: every waker built here carries a non-null header pointer.
    RawTask::from_header(unsafe { NonNull::new_unchecked(ptr as *mut Header) })
}

unsafe fn clone(ptr: *const ()) -> RawWaker {
    // The waker being cloned owns or borrows a live reference (raw.rs invariant 1), so the header lives.
    task(ptr).state().ref_inc();
    RawWaker::new(ptr, &WAKER_VTABLE)
}

unsafe fn wake_by_val(ptr: *const ()) {
    let task = task(ptr);
    match task.state().transition_to_notified_by_val() {
        TransitionToNotified::Submit => task.schedule(),
        TransitionToNotified::Dealloc => task.dealloc(),
        TransitionToNotified::DoNothing => {}
    }
}

unsafe fn wake_by_ref(ptr: *const ()) {
    let task = task(ptr);
    match task.state().transition_to_notified_by_ref() {
        TransitionToNotified::Submit => task.schedule(),
        TransitionToNotified::Dealloc | TransitionToNotified::DoNothing => {}
    }
}

unsafe fn drop_waker(ptr: *const ()) {
    task(ptr).drop_reference();
}
