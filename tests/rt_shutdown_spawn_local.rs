//! `spawn_local` futures (not `Send`) at shutdown and around it: polled and dropped only on their runtime's
//! thread, whether they finish, are cancelled, or are dropped with the runtime, and when a foreign thread
//! wakes them or holds (and drops) their last waker; a current-thread runtime dropped on another thread than
//! its owner leaks them instead of dropping them there. Shutdown in general: `rt_shutdown.rs`.

mod support;

use ferrio::yield_now;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use support::{within, Flavor, ThreadDropProbe};

/// A future that hands a clone of its waker to a foreign thread on its first poll, then completes when
/// woken.
struct SendWakerAway {
    tx: Option<mpsc::Sender<Waker>>,
    woken: Arc<AtomicBool>,
    polls_on: Rc<std::cell::RefCell<Vec<std::thread::ThreadId>>>,
}

impl Future for SendWakerAway {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls_on.borrow_mut().push(std::thread::current().id());
        if let Some(tx) = self.tx.take() {
            tx.send(cx.waker().clone()).unwrap();
            return Poll::Pending;
        }
        if self.woken.load(SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// `spawn_local` futures (not `Send`) are polled and dropped only on the runtime's thread: when they finish,
/// when they are cancelled, when the runtime is dropped, and when a foreign thread wakes them or holds (and
/// drops) their last waker.
#[test]
fn spawn_local_futures_dropped_on_their_own_thread() {
    within(Duration::from_secs(20), || {
        let me = std::thread::current().id();
        let probe = ThreadDropProbe::new();
        let rt = Flavor::CurrentThread.build();
        let polls_on = Rc::new(std::cell::RefCell::new(Vec::new()));

        // 1. Woken from a foreign thread, completes, future dropped here.
        let (tx, rx) = mpsc::channel::<Waker>();
        let woken = Arc::new(AtomicBool::new(false));
        let w = woken.clone();
        let foreign = std::thread::spawn(move || {
            let waker = rx.recv().unwrap();
            std::thread::sleep(Duration::from_millis(5));
            w.store(true, SeqCst);
            waker.wake(); // the last use of this waker is on this foreign thread
        });
        let guard = probe.guard();
        let fut = SendWakerAway {
            tx: Some(tx),
            woken,
            polls_on: polls_on.clone(),
        };
        rt.block_on(async {
            ferrio::spawn_local(async move {
                let _guard = Rc::new(guard); // !Send
                fut.await;
            })
            .await
            .unwrap();
        });
        foreign.join().unwrap();
        assert_eq!(probe.drops(), vec![me]);

        // 2. Cancelled while a foreign thread holds its waker; that thread drops the last waker afterwards.
        let (tx, rx) = mpsc::channel::<Waker>();
        let (drop_now_tx, drop_now_rx) = mpsc::channel::<()>();
        let foreign = std::thread::spawn(move || {
            let waker = rx.recv().unwrap();
            drop_now_rx.recv().unwrap();
            drop(waker);
        });
        let guard = probe.guard();
        let fut = SendWakerAway {
            tx: Some(tx),
            woken: Arc::new(AtomicBool::new(false)),
            polls_on: polls_on.clone(),
        };
        rt.block_on(async {
            let t = ferrio::spawn_local(async move {
                let _guard = Rc::new(guard);
                fut.await;
            });
            yield_now().await;
            assert!(t.cancel());
            yield_now().await;
            assert!(t.is_done());
            drop(t); // the foreign waker is now the last reference
        });
        drop_now_tx.send(()).unwrap();
        foreign.join().unwrap();
        assert_eq!(probe.drops(), vec![me, me]);

        // 3. Alive when the runtime is dropped, waker held (and dropped later) by a foreign thread; the task's
        //    !Send output of a detached, finished task is dropped here too.
        let (tx, rx) = mpsc::channel::<Waker>();
        let (drop_now_tx, drop_now_rx) = mpsc::channel::<()>();
        let foreign = std::thread::spawn(move || {
            let waker = rx.recv().unwrap();
            drop_now_rx.recv().unwrap();
            waker.wake();
        });
        let guard = probe.guard();
        let out_guard = probe.guard();
        let fut = SendWakerAway {
            tx: Some(tx),
            woken: Arc::new(AtomicBool::new(false)),
            polls_on: polls_on.clone(),
        };
        rt.block_on(async {
            drop(ferrio::spawn_local(async move {
                let _guard = Rc::new(guard);
                fut.await;
            }));
            drop(ferrio::spawn_local(async move { Rc::new(out_guard) }));
            yield_now().await;
            yield_now().await;
        });
        assert_eq!(
            probe.drops().len(),
            3,
            "the detached task's output was not dropped"
        );
        drop(rt);
        assert_eq!(probe.drops(), vec![me, me, me, me]);
        drop_now_tx.send(()).unwrap();
        foreign.join().unwrap();

        assert!(!polls_on.borrow().is_empty());
        assert!(
            polls_on.borrow().iter().all(|&t| t == me),
            "a spawn_local future was polled on another thread"
        );
    });
}

/// A current-thread runtime dropped on another thread than its owner while `spawn_local` futures are alive
/// must not drop those futures on the wrong thread (they are leaked instead, as documented).
#[test]
fn spawn_local_never_dropped_on_a_foreign_thread() {
    within(Duration::from_secs(20), || {
        let probe = ThreadDropProbe::new();
        let rt = Flavor::CurrentThread.build();
        let guard = probe.guard();
        rt.block_on(async {
            drop(ferrio::spawn_local(async move {
                let _guard = Rc::new(guard);
                std::future::pending::<()>().await
            }));
            yield_now().await;
        });
        let other = std::thread::spawn(move || {
            let id = std::thread::current().id();
            drop(rt);
            id
        })
        .join()
        .unwrap();
        assert!(
            !probe.drops().contains(&other),
            "a spawn_local future was dropped on a foreign thread"
        );
    });
}
