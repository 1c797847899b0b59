//! A slot a task handle returns to when the future that owned it is dropped, so a test can inspect (and
//! await) a handle that lived inside a cancelled task (`task_cancel.rs`, `task_cancel_propagation.rs`).

use ferrio::Task;
use std::sync::{Arc, Mutex};

/// A slot where a task handle is put back when the future owning it is dropped, so the test can inspect a
/// handle that lived inside a cancelled task.
pub type Slot<T> = Arc<Mutex<Option<Task<T>>>>;

pub struct ReturnOnDrop<T> {
    task: Option<Task<T>>,
    slot: Slot<T>,
}

impl<T> ReturnOnDrop<T> {
    pub fn new(task: Task<T>, slot: &Slot<T>) -> Self {
        ReturnOnDrop {
            task: Some(task),
            slot: slot.clone(),
        }
    }
    pub fn task(&mut self) -> &mut Task<T> {
        self.task.as_mut().unwrap()
    }
}

impl<T> Drop for ReturnOnDrop<T> {
    fn drop(&mut self) {
        *self.slot.lock().unwrap() = self.task.take();
    }
}

pub fn slot<T>() -> Slot<T> {
    Arc::new(Mutex::new(None))
}

pub fn take<T>(slot: &Slot<T>) -> Task<T> {
    slot.lock()
        .unwrap()
        .take()
        .expect("the handle was not returned to its slot")
}

pub fn has<T>(slot: &Slot<T>) -> bool {
    slot.lock().unwrap().is_some()
}
