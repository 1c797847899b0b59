//! Unit tests of the state word (`state.rs`): each transition from each state it can meet.

use super::*;

#[test]
fn spawn_run_idle_complete() {
    let s = State::new();
    assert_eq!(s.load().ref_count(), 3);
    assert_eq!(s.transition_to_running(), TransitionToRunning::Success);
    assert!(s.load().is_running() && !s.load().is_notified());
    assert_eq!(s.transition_to_idle(), TransitionToIdle::Ok);
    assert_eq!(s.load().ref_count(), 2);
    assert_eq!(
        s.transition_to_notified_by_ref(),
        TransitionToNotified::Submit
    );
    assert_eq!(s.load().ref_count(), 3);
    assert_eq!(s.transition_to_running(), TransitionToRunning::Success);
    let done = s.transition_to_complete(|_| {});
    assert!(done.is_complete() && !done.is_running());
    assert!(!s.ref_dec_by(2));
    assert!(s.ref_dec());
}

#[test]
fn wake_while_running_reschedules_without_new_ref() {
    let s = State::new();
    assert_eq!(s.transition_to_running(), TransitionToRunning::Success);
    assert_eq!(
        s.transition_to_notified_by_ref(),
        TransitionToNotified::DoNothing
    );
    assert_eq!(s.load().ref_count(), 3);
    assert_eq!(s.transition_to_idle(), TransitionToIdle::OkNotified);
    assert_eq!(s.load().ref_count(), 3);
    assert!(s.load().is_notified());
}

#[test]
fn cancel_idle_running_and_complete() {
    let s = State::new();
    assert_eq!(s.transition_to_running(), TransitionToRunning::Success);
    assert_eq!(s.transition_to_idle(), TransitionToIdle::Ok);
    assert_eq!(s.transition_to_cancelled(), TransitionToCancelled::Submit);
    assert_eq!(
        s.transition_to_cancelled(),
        TransitionToCancelled::Requested
    );
    assert_eq!(s.transition_to_running(), TransitionToRunning::Cancelled);
    let done = s.transition_to_complete(|snap| assert!(snap.is_cancelled()));
    assert!(done.is_cancelled());
    assert_eq!(
        s.transition_to_cancelled(),
        TransitionToCancelled::AlreadyComplete
    );

    let s = State::new();
    assert_eq!(s.transition_to_running(), TransitionToRunning::Success);
    assert_eq!(
        s.transition_to_cancelled(),
        TransitionToCancelled::Requested
    );
    assert_eq!(s.transition_to_idle(), TransitionToIdle::Cancelled);
}

#[test]
fn by_val_wake_on_complete_task_can_dealloc() {
    let s = State::new();
    assert_eq!(s.transition_to_running(), TransitionToRunning::Success);
    let _ = s.transition_to_complete(|_| {});
    assert!(!s.ref_dec_by(2)); // poller + owned list
    s.ref_inc(); // a waker
    let _ = s.drop_join_interest();
    assert!(!s.ref_dec()); // handle
    assert_eq!(
        s.transition_to_notified_by_val(),
        TransitionToNotified::Dealloc
    );
}

#[test]
fn join_waker_slot_handoff() {
    let s = State::new();
    assert!(s.set_join_waker().is_ok());
    assert!(s.unset_join_waker().is_ok());
    assert!(s.set_join_waker().is_ok());
    assert_eq!(s.transition_to_running(), TransitionToRunning::Success);
    let done = s.transition_to_complete(|_| {});
    assert!(done.has_join_waker());
    assert!(s.unset_join_waker().is_err());
    let before = s.unset_waker_after_complete();
    assert!(before.has_join_interest());
    assert!(!s.load().has_join_waker());
}

#[test]
fn fast_handle_drop_only_before_completion_with_the_slot_unshared() {
    // Detached at spawn: one step clears the interest and the handle's reference.
    let s = State::new();
    assert_eq!(s.drop_join_handle_fast(), Some(false));
    assert!(!s.load().has_join_interest());
    assert_eq!(s.load().ref_count(), 2);
    assert!(s.load().is_notified());

    // The runtime owns the slot: nothing changes.
    let s = State::new();
    assert!(s.set_join_waker().is_ok());
    let before = s.load();
    assert_eq!(s.drop_join_handle_fast(), None);
    assert!(s.load() == before);

    // Completed: nothing changes; the handle must drop the output on the general path.
    let s = State::new();
    assert_eq!(s.transition_to_running(), TransitionToRunning::Success);
    let _ = s.transition_to_complete(|_| {});
    assert_eq!(s.drop_join_handle_fast(), None);
    assert!(s.load().has_join_interest());

    // The last reference: the caller deallocates.
    let s = State::new();
    assert!(!s.ref_dec_by(2)); // the list's and the `Notified`'s
    assert_eq!(s.drop_join_handle_fast(), Some(true));
}

#[test]
fn complete_and_free_only_when_detached_and_last() {
    // The handle is alive: refused.
    let s = State::new();
    assert_eq!(s.transition_to_running(), TransitionToRunning::Success);
    assert!(s.transition_to_complete_and_free(2).is_none());
    assert!(s.load().is_running());
    // Detached, but a waker still holds a reference: refused.
    assert_eq!(s.drop_join_handle_fast(), Some(false));
    s.ref_inc();
    assert!(s.transition_to_complete_and_free(2).is_none());
    // That waker gone: the poller's and the list's references are the last ones.
    assert!(!s.ref_dec());
    let before = s
        .transition_to_complete_and_free(2)
        .expect("detached and last");
    assert!(before.is_running() && !before.is_cancelled());
    assert!(s.load().is_complete() && s.load().ref_count() == 0);
}

#[test]
fn shutdown_claims_idle_and_queued_tasks_only() {
    let s = State::new();
    assert!(s.transition_to_shutdown()); // queued (NOTIFIED) but not running
    assert_eq!(s.transition_to_running(), TransitionToRunning::Failed);

    let s = State::new();
    assert_eq!(s.transition_to_running(), TransitionToRunning::Success);
    assert!(!s.transition_to_shutdown());
    assert!(s.load().is_cancelled());
}
