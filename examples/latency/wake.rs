//! Task wake latency, three ways, each against a bare-eventfd floor. Every runtime wake goes through the
//! same [`Signal`] (stamp, then `wake()`; the woken task reads the clock first thing after its `.await`), so
//! the runtimes differ only in what their wakers and schedulers do.
//!
//! - **Same worker**: two tasks ping-pong (A fires B and awaits, B records, fires A and awaits, ...), both
//!   recording their wakes. On the multi-thread flavours only the wakes whose firing thread is the woken
//!   task's thread count (almost all: a task woken on a worker runs on that worker). Floor: one thread
//!   writes an eventfd and then returns from `epoll_wait` on it: the cheapest wake the kernel offers, paid
//!   by a runtime that would route a local wake through its reactor (none of these does, so they may beat
//!   it).
//! - **Other worker** (multi-thread only): nothing can be pinned, so the handoff is forced. A pacer thread
//!   wakes task W after all tasks have been parked for [`GAP`] (both workers idle). W wakes parked tasks S1
//!   then S2 and returns. A woken task goes to the waking worker's queue, S2 (the last one) first; S2 then
//!   keeps that worker busy for [`BUSY`] without yielding. So S1 runs soon only if the runtime gets the
//!   other, idle worker to take it: a real cross-worker wake (worker notified, unparked, steals). Otherwise
//!   it waits out S2 (latency >= `BUSY`). S1 is timed; the table's last column gives the share of samples
//!   that the other worker took. (With a single woken task neither runtime hands off: both run it on the
//!   waking worker once that is free, which is the right call when the waker is about to park.) Floor:
//!   thread A writes the eventfd and spins for `BUSY`; thread B, blocked in `epoll_wait`, wakes.
//! - **Foreign thread**: a plain std thread waits until the task is parked, sleeps [`GAP`] so the runtime
//!   goes idle, then fires. Floor: the same with a thread blocked in `epoll_wait` on an eventfd instead of
//!   a task.

use crate::harness::{run, Entry, Measured, Plan, Progress, Sample, Spec, Subject};
use crate::rt::{now_ns, spin_for, thread_token, yield_now, BoxTask, Family, Rt};
use crate::signal::{Signal, Woken};
use crate::sys::{Epoll, EventFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How long the waiter is left parked (the runtime idle) before a wake from outside its workers.
const GAP: Duration = Duration::from_micros(50);
/// How long the waking worker stays busy after the wake, in the other-worker measurement.
const BUSY: Duration = Duration::from_micros(200);
/// How often a plain thread checks whether the waiter is parked yet (it sleeps in between).
const POLL: Duration = Duration::from_micros(20);

/// Sleeps in steps of `POLL` until `ready()`.
fn wait_until(ready: impl Fn() -> bool) {
    while !ready() {
        thread::sleep(POLL);
    }
}

/// Yields until `signal` has a parked waiter.
async fn until_armed(family: Family, signal: &Signal) {
    while !signal.is_armed() {
        yield_now(family).await;
    }
}

fn latency(woken: Woken, now: u64) -> u64 {
    now.saturating_sub(woken.stamp)
}

// ---------------------------------------------------------------------------------------------------------
// Same worker
// ---------------------------------------------------------------------------------------------------------

/// Floor: eventfd write, then `epoll_wait` on the same thread.
struct FloorSameThread {
    epoll: Epoll,
    efd: EventFd,
}

impl Subject for FloorSameThread {
    fn batch(&mut self, n: usize) -> Vec<Sample> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let start = now_ns();
            self.efd.signal().expect("eventfd write");
            self.epoll.wait_until(0).expect("epoll_wait");
            let end = now_ns();
            self.efd.drain().expect("eventfd read");
            out.push(Sample::new(end - start));
        }
        out
    }
}

/// A wake that the woken task's own thread fired, as a sample (`None` for a cross-thread or unparked one).
fn same_thread_sample(woken: Woken, now: u64) -> Option<Sample> {
    (woken.parked && woken.from == thread_token()).then(|| Sample::new(latency(woken, now)))
}

/// Fires `peer`, then waits on `me`; `n` times.
async fn ping(family: Family, me: Arc<Signal>, peer: Arc<Signal>, n: usize) -> Vec<Sample> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        until_armed(family, &peer).await;
        peer.fire();
        let woken = me.wait().await;
        let now = now_ns();
        out.extend(same_thread_sample(woken, now));
    }
    out
}

/// Waits on `me`, then fires `peer`; `n` times.
async fn pong(family: Family, me: Arc<Signal>, peer: Arc<Signal>, n: usize) -> Vec<Sample> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let woken = me.wait().await;
        let now = now_ns();
        out.extend(same_thread_sample(woken, now));
        until_armed(family, &peer).await;
        peer.fire();
    }
    out
}

struct PingPong<'a>(&'a Rt);

impl Subject for PingPong<'_> {
    fn batch(&mut self, n: usize) -> Vec<Sample> {
        let (a, b) = (Arc::new(Signal::default()), Arc::new(Signal::default()));
        let family = self.0.family;
        let half = n.div_ceil(2);
        let bodies: Vec<BoxTask<Vec<Sample>>> = vec![
            Box::pin(ping(family, a.clone(), b.clone(), half)),
            Box::pin(pong(family, b, a, half)),
        ];
        self.0.run_tasks(bodies).into_iter().flatten().collect()
    }
}

/// (a) A task wakes another task on its own worker.
pub fn same_worker(rts: &[Rt], plan: &Plan, progress: &mut Progress) -> Measured {
    let epoll = Epoll::new().expect("epoll_create1");
    let efd = EventFd::new().expect("eventfd");
    epoll.add(efd.raw(), 0).expect("epoll_ctl");
    let mut entries = vec![Entry::Run(
        "floor",
        Box::new(FloorSameThread { epoll, efd }) as _,
    )];
    for rt in rts {
        entries.push(Entry::Run(rt.id, Box::new(PingPong(rt))));
    }
    let spec = Spec {
        key: "wake_same_worker",
        title: "Wake, same worker".to_owned(),
        method: "two tasks ping-pong through a waker cell; each wake timed from just before `wake()` to the \
                 woken task's first instruction after its `.await`; multi-thread rows keep the wakes that stayed \
                 on one worker. Floor: eventfd write -> `epoll_wait` returns, same thread"
            .to_owned(),
        samples: plan.samples(50_000),
        rounds: plan.rounds(),
        show_other_worker: false,
    };
    run(spec, entries, progress)
}

// ---------------------------------------------------------------------------------------------------------
// Other worker, foreign thread
// ---------------------------------------------------------------------------------------------------------

/// Floor: a writer thread (the caller) waits until the reader is about to block, sleeps `GAP`, stamps,
/// writes the eventfd and spins for `busy`; the reader thread, blocked in `epoll_wait`, reads the clock.
struct FloorCrossThread {
    busy: Duration,
}

impl Subject for FloorCrossThread {
    fn batch(&mut self, n: usize) -> Vec<Sample> {
        let efd = Arc::new(EventFd::new().expect("eventfd"));
        let armed = Arc::new(AtomicBool::new(false));
        let stamp = Arc::new(AtomicU64::new(0));
        let reader = {
            let (efd, armed, stamp) = (efd.clone(), armed.clone(), stamp.clone());
            thread::spawn(move || {
                let mut epoll = Epoll::new().expect("epoll_create1");
                epoll.add(efd.raw(), 0).expect("epoll_ctl");
                let mut out = Vec::with_capacity(n);
                for _ in 0..n {
                    armed.store(true, Ordering::Release);
                    epoll.wait_until(0).expect("epoll_wait");
                    let now = now_ns();
                    efd.drain().expect("eventfd read");
                    out.push(Sample {
                        ns: now.saturating_sub(stamp.load(Ordering::Acquire)),
                        other_worker: true, // always another thread
                    });
                }
                out
            })
        };
        for _ in 0..n {
            wait_until(|| armed.swap(false, Ordering::AcqRel));
            thread::sleep(GAP);
            stamp.store(now_ns(), Ordering::Release);
            efd.signal().expect("eventfd write");
            spin_for(self.busy);
        }
        reader.join().expect("floor reader thread")
    }
}

/// Waits on `me` `n` times, recording each real wake; `mark_other` marks those fired from another thread.
async fn sleeper(me: Arc<Signal>, n: usize, mark_other: bool) -> Vec<Sample> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let woken = me.wait().await;
        let now = now_ns();
        if woken.parked {
            out.push(Sample {
                ns: latency(woken, now),
                other_worker: mark_other && woken.from != thread_token(),
            });
        }
    }
    out
}

/// Fires `signal` `n` times from a new plain thread, each time once its waiter is parked and `GAP` later.
fn foreign_firer(signal: Arc<Signal>, n: usize) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for _ in 0..n {
            wait_until(|| signal.is_armed());
            thread::sleep(GAP);
            signal.fire();
        }
    })
}

/// Task W: woken by the pacer, fires the measured task S1, then S2.
async fn fan_out(
    family: Family,
    me: Arc<Signal>,
    s1: Arc<Signal>,
    s2: Arc<Signal>,
    n: usize,
) -> Vec<Sample> {
    for _ in 0..n {
        me.wait().await;
        until_armed(family, &s1).await;
        until_armed(family, &s2).await;
        s1.fire();
        s2.fire();
    }
    Vec::new()
}

/// Task S2: each time it is woken, keeps its worker busy for `BUSY` without yielding.
async fn busy(me: Arc<Signal>, n: usize) -> Vec<Sample> {
    for _ in 0..n {
        me.wait().await;
        spin_for(BUSY);
    }
    Vec::new()
}

struct Handoff<'a>(&'a Rt);

impl Subject for Handoff<'_> {
    fn batch(&mut self, n: usize) -> Vec<Sample> {
        let [w, s1, s2] = [(); 3].map(|_| Arc::new(Signal::default()));
        let pacer = {
            let (w, s1, s2) = (w.clone(), s1.clone(), s2.clone());
            thread::spawn(move || {
                for _ in 0..n {
                    wait_until(|| w.is_armed() && s1.is_armed() && s2.is_armed());
                    thread::sleep(GAP);
                    w.fire();
                }
            })
        };
        let family = self.0.family;
        let bodies: Vec<BoxTask<Vec<Sample>>> = vec![
            Box::pin(fan_out(family, w, s1.clone(), s2.clone(), n)),
            Box::pin(sleeper(s1, n, true)),
            Box::pin(busy(s2, n)),
        ];
        let out = self.0.run_tasks(bodies).into_iter().flatten().collect();
        pacer.join().expect("pacer thread");
        out
    }
}

/// (b) A task on one worker wakes a task that the other worker runs.
pub fn other_worker(rts: &[Rt], plan: &Plan, progress: &mut Progress) -> Measured {
    let mut entries = vec![Entry::Run(
        "floor",
        Box::new(FloorCrossThread { busy: BUSY }) as _,
    )];
    for rt in rts {
        entries.push(if rt.multi_thread {
            Entry::Run(rt.id, Box::new(Handoff(rt)))
        } else {
            Entry::Skip(rt.id, "one thread: no other worker")
        });
    }
    let spec = Spec {
        key: "wake_other_worker",
        title: "Wake, other worker".to_owned(),
        method: format!(
            "task W, woken on a worker after {} us idle, wakes parked tasks S1 then S2; S2 runs next on W's \
             worker and keeps it busy for {} us, so S1 must be taken by the other worker; S1 timed from just \
             before its `wake()` to its first instruction (>= {} us: it waited for W's worker instead). Floor: \
             eventfd write (then {} us spin) -> another thread's `epoll_wait` returns",
            GAP.as_micros(),
            BUSY.as_micros(),
            BUSY.as_micros(),
            BUSY.as_micros()
        ),
        samples: plan.samples(3_000),
        rounds: plan.rounds(),
        show_other_worker: true,
    };
    run(spec, entries, progress)
}

struct Foreign<'a>(&'a Rt);

impl Subject for Foreign<'_> {
    fn batch(&mut self, n: usize) -> Vec<Sample> {
        let signal = Arc::new(Signal::default());
        let firer = foreign_firer(signal.clone(), n);
        let bodies: Vec<BoxTask<Vec<Sample>>> = vec![Box::pin(sleeper(signal, n, false))];
        let out = self.0.run_tasks(bodies).into_iter().flatten().collect();
        firer.join().expect("foreign thread");
        out
    }
}

/// (c) A plain std thread wakes a task.
pub fn foreign_thread(rts: &[Rt], plan: &Plan, progress: &mut Progress) -> Measured {
    let mut entries = vec![Entry::Run(
        "floor",
        Box::new(FloorCrossThread {
            busy: Duration::ZERO,
        }) as _,
    )];
    for rt in rts {
        entries.push(Entry::Run(rt.id, Box::new(Foreign(rt))));
    }
    let spec = Spec {
        key: "wake_foreign_thread",
        title: "Wake from a foreign thread".to_owned(),
        method: format!(
            "a std thread waits until the task is parked, sleeps {} us, fires; timed from just before `wake()` \
             to the task's first instruction after its `.await`. Floor: eventfd write -> another thread's \
             `epoll_wait` returns",
            GAP.as_micros()
        ),
        samples: plan.samples(4_000),
        rounds: plan.rounds(),
        show_other_worker: false,
    };
    run(spec, entries, progress)
}
