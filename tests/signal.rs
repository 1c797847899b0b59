//! `ferrio::signal` on both flavours, with signals raised in this process: `ctrl_c` resolves on SIGINT (and
//! the process survives it), every listener of a signal is woken, deliveries coalesce, a signal sent from
//! another thread or runtime reaches the waiting task, forbidden signals are refused, and a listener whose
//! runtime shut down reports `None` instead of hanging.
//!
//! Signals are process-wide, so the tests that raise the same signal are serialised by `SIGNAL_LOCK`.

mod support;

use ferrio::signal::{ctrl_c, signal, SignalKind};
use std::sync::Mutex;
use std::time::Duration;
use support::{within, Flavors};

static SIGNAL_LOCK: Mutex<()> = Mutex::new(());

/// Raises `signo` on the calling thread: the handler has run when this returns (`kill` to the process could
/// deliver it to another thread a moment later, which would make the coalescing checks racy).
fn raise(signo: i32) {
    // SAFETY: `raise` with a signal ferrio handles; no memory is involved.
    let rc = unsafe { libc::raise(signo) };
    assert_eq!(rc, 0, "raise failed: {}", std::io::Error::last_os_error());
}

#[test]
fn ctrl_c_resolves_on_sigint_and_the_process_survives() {
    let _serial = SIGNAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    within(Duration::from_secs(20), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                let stop = ctrl_c();
                // Raised after `ctrl_c()` was called but before it is polled: must not be missed.
                raise(libc::SIGINT);
                ferrio::time::timeout(Duration::from_secs(5), stop)
                    .await
                    .unwrap_or_else(|_| panic!("{flavor:?}: ctrl_c did not resolve"))
                    .unwrap();
            });
        });
    });
}

#[test]
fn every_listener_wakes_and_deliveries_coalesce() {
    let _serial = SIGNAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    within(Duration::from_secs(20), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                let kind = SignalKind::user_defined1();
                let listeners: Vec<_> = (0..3)
                    .map(|_| {
                        let mut s = signal(kind).unwrap();
                        ferrio::spawn(async move { s.recv().await })
                    })
                    .collect();
                // Let every listener park first.
                ferrio::time::sleep(Duration::from_millis(20)).await;
                raise(libc::SIGUSR1);
                for task in listeners {
                    let got = ferrio::time::timeout(Duration::from_secs(5), task)
                        .await
                        .unwrap_or_else(|_| panic!("{flavor:?}: a listener was not woken"))
                        .unwrap();
                    assert_eq!(got, Some(()));
                }

                // Three arrivals before one `recv`: one delivery, never zero.
                let mut s = signal(kind).unwrap();
                raise(libc::SIGUSR1);
                raise(libc::SIGUSR1);
                raise(libc::SIGUSR1);
                assert_eq!(s.recv().await, Some(()));
                let again = ferrio::time::timeout(Duration::from_millis(50), s.recv()).await;
                assert!(
                    again.is_err(),
                    "{flavor:?}: coalesced arrivals gave a second delivery"
                );
            });
        });
    });
}

#[test]
fn a_listener_only_sees_signals_after_it_was_created() {
    let _serial = SIGNAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    within(Duration::from_secs(20), || {
        let rt = ferrio::Runtime::builder().current_thread().build().unwrap();
        rt.block_on(async {
            let kind = SignalKind::user_defined2();
            let mut first = signal(kind).unwrap();
            raise(libc::SIGUSR2);
            assert_eq!(first.recv().await, Some(()));
            let mut late = signal(kind).unwrap();
            let nothing = ferrio::time::timeout(Duration::from_millis(50), late.recv()).await;
            assert!(
                nothing.is_err(),
                "a listener created after a delivery must not see it"
            );
        });
    });
}

#[test]
fn a_signal_that_arrived_while_nobody_listened_is_not_delivered_to_a_later_listener() {
    let _serial = SIGNAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    within(Duration::from_secs(20), || {
        let rt = ferrio::Runtime::builder().current_thread().build().unwrap();
        rt.block_on(async {
            let kind = SignalKind::from_raw(libc::SIGRTMIN() + 2);
            // Installs the handler, receives once, then goes away.
            let mut first = signal(kind).unwrap();
            raise(kind.as_raw_value());
            assert_eq!(first.recv().await, Some(()));
            drop(first);
            // Nobody listens now: the handler still records this one (before `raise` returns).
            raise(kind.as_raw_value());
            let mut late = signal(kind).unwrap();
            let nothing = ferrio::time::timeout(Duration::from_millis(50), late.recv()).await;
            assert!(
                nothing.is_err(),
                "a signal that predates the listener was delivered to it"
            );
            raise(kind.as_raw_value());
            assert_eq!(
                late.recv().await,
                Some(()),
                "a signal after creation is delivered"
            );
        });
    });
}

#[test]
fn a_signal_from_another_thread_wakes_a_parked_runtime() {
    let _serial = SIGNAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    within(Duration::from_secs(20), || {
        Flavors::each(|flavor, rt| {
            rt.block_on(async {
                let mut hup = signal(SignalKind::hangup()).unwrap();
                let sender = std::thread::spawn(|| {
                    std::thread::sleep(Duration::from_millis(30));
                    raise(libc::SIGHUP);
                });
                let got = ferrio::time::timeout(Duration::from_secs(5), hup.recv())
                    .await
                    .unwrap_or_else(|_| panic!("{flavor:?}: SIGHUP not received"));
                assert_eq!(got, Some(()));
                sender.join().unwrap();
            });
        });
    });
}

#[test]
fn listeners_in_two_runtimes_both_receive() {
    let _serial = SIGNAL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    within(Duration::from_secs(20), || {
        let kind = SignalKind::from_raw(libc::SIGRTMIN() + 1);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let other = std::thread::spawn(move || {
            let rt = ferrio::Runtime::builder().current_thread().build().unwrap();
            rt.block_on(async move {
                let mut s = signal(kind).unwrap();
                ready_tx.send(()).unwrap();
                ferrio::time::timeout(Duration::from_secs(5), s.recv()).await
            })
        });
        let rt = ferrio::Runtime::builder()
            .worker_threads(1)
            .build()
            .unwrap();
        let here = rt.block_on(async move {
            let mut s = signal(kind).unwrap();
            ready_rx.recv().unwrap();
            raise(kind.as_raw_value());
            ferrio::time::timeout(Duration::from_secs(5), s.recv()).await
        });
        assert_eq!(here.expect("this runtime's listener"), Some(()));
        assert_eq!(
            other.join().unwrap().expect("the other runtime's listener"),
            Some(())
        );
    });
}

#[test]
fn forbidden_and_invalid_signals_are_refused() {
    let rt = ferrio::Runtime::builder().current_thread().build().unwrap();
    rt.block_on(async {
        for signo in [
            libc::SIGKILL,
            libc::SIGSTOP,
            libc::SIGSEGV,
            libc::SIGFPE,
            0,
            -1,
            4096,
        ] {
            let err = signal(SignalKind::from_raw(signo)).unwrap_err();
            assert_eq!(
                err.kind(),
                std::io::ErrorKind::InvalidInput,
                "signal {signo}"
            );
            assert!(err.to_string().contains("ferrio::signal"), "{err}");
        }
    });
}

#[test]
fn recv_after_the_runtime_shut_down_returns_none() {
    let rt = ferrio::Runtime::builder().current_thread().build().unwrap();
    let mut s = rt.block_on(async { signal(SignalKind::window_change()).unwrap() });
    drop(rt);
    let other = ferrio::Runtime::builder().current_thread().build().unwrap();
    let got = within(Duration::from_secs(10), move || {
        other.block_on(async move { s.recv().await })
    });
    assert_eq!(got, None);
}

#[test]
fn signal_outside_a_runtime_names_the_mistake() {
    let msg = support::expect_panic(|| signal(SignalKind::user_defined1()));
    assert!(msg.contains("outside a runtime"), "{msg}");
}
