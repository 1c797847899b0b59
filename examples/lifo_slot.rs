//! The LIFO slot, measured: message-passing latency between two tasks when the woken task runs next
//! (LIFO slot) and when it waits at the back of its worker's ring behind other ready tasks.
//!
//! What it shows: on the multi-thread flavour, a task woken by the task running on the same worker goes
//! into that worker's LIFO slot and runs right after the waker's poll, ahead of everything queued in the
//! ring (at most 3 times in a row). That is what keeps a request/response pair of tasks fast on a busy
//! worker. There is no switch to turn the slot off, so the contrast uses the slot's own rule: the slot
//! holds one task, and a second wake *displaces* the first to the back of the ring
//! (`worker::schedule_local`). Three runs of the same ping-pong (A sends to B, B answers, A times the round
//! trip), each on a fresh 2-worker runtime kept busy by 8 spinner tasks (2 us of work, then `yield_now`):
//!
//! - `lifo`: each send wakes the partner: it takes the LIFO slot.
//! - `lifo + decoy`: each sender first wakes a decoy task of its own, then the partner: the partner takes
//!   the slot, the decoy goes to the back of the ring. The same tasks, polls and wakes as the next run.
//! - `ring`: each sender wakes the partner, then its decoy: the decoy takes the slot, the partner goes to
//!   the back of the ring and runs after the spinners queued there.
//!
//! The runs differ only in the order of two wakes. Each prints the round-trip p50 and p90 and the stats'
//! `lifo_hits` per round trip. `lifo_hits` counts every task run from the slot, whoever it is: in the
//! `ring` run those are the decoys (the partners never run from the slot), in the others the partners.
//! After each round trip A yields, so every round trip starts from the ring with the LIFO chain empty.
//!
//! Run: `cargo run --release --example lifo_slot [-- --round-trips N]`

#[path = "teach_common/mod.rs"]
mod teach_common;

use ferrio::Runtime;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};
use teach_common::{explain, percentile, spin, us};

const WORKERS: usize = 2;
const SPINNERS: usize = 8;
const SPIN: Duration = Duration::from_micros(2);
/// Round trips left out of the percentiles (the runtime settling).
const WARM_UP: usize = 200;

/// Which of the two wakes of each hop comes last (and so holds the LIFO slot).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Only the partner is woken.
    Lifo,
    /// The decoy, then the partner: the partner holds the slot.
    LifoWithDecoy,
    /// The partner, then the decoy: the decoy holds the slot, the partner is pushed to the ring.
    Ring,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Lifo => "lifo",
            Mode::LifoWithDecoy => "lifo + decoy",
            Mode::Ring => "ring",
        }
    }
}

/// A one-value mailbox: `send` stores the value and wakes the waiting receiver (a plain `Waker::wake`, the
/// way any channel wakes its receiver).
#[derive(Default)]
struct Mailbox {
    state: Mutex<(Option<u64>, Option<Waker>)>,
}

impl Mailbox {
    fn send(&self, value: u64) {
        let waker = {
            let mut state = self.state.lock().unwrap();
            state.0 = Some(value);
            state.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    async fn recv(&self) -> u64 {
        poll_fn(|cx| {
            let mut state = self.state.lock().unwrap();
            match state.0.take() {
                Some(value) => Poll::Ready(value),
                None => {
                    state.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

/// A task that does nothing but wait to be woken (`poke`), until `stop`.
#[derive(Default)]
struct Decoy {
    waker: Mutex<Option<Waker>>,
}

impl Decoy {
    fn poke(&self) {
        let waker = self.waker.lock().unwrap().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    async fn run(&self, stop: &AtomicBool) {
        poll_fn(|cx| {
            if stop.load(SeqCst) {
                return Poll::Ready(());
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

/// One side's send: the partner's mailbox and this side's decoy, woken in the order `mode` says.
fn send(mode: Mode, to: &Mailbox, decoy: &Decoy, value: u64) {
    match mode {
        Mode::Lifo => to.send(value),
        Mode::LifoWithDecoy => {
            decoy.poke();
            to.send(value);
        }
        Mode::Ring => {
            to.send(value);
            decoy.poke();
        }
    }
}

struct RunResult {
    p50: Duration,
    p90: Duration,
    lifo_hits: u64,
    /// Round trips inside the stats window (warm-up included).
    round_trips: usize,
}

/// The ping-pong on a fresh busy runtime.
fn run(mode: Mode, round_trips: usize) -> RunResult {
    let rt = Runtime::builder()
        .worker_threads(WORKERS)
        .build()
        .expect("build the runtime");
    let stop = Arc::new(AtomicBool::new(false));
    let (before, after, mut samples) = rt.block_on(async {
        let stop = stop.clone();
        let handle = ferrio::Handle::current();
        ferrio::spawn(async move {
            let spinners: Vec<_> = (0..SPINNERS)
                .map(|_| {
                    let stop = stop.clone();
                    ferrio::spawn(async move {
                        while !stop.load(SeqCst) {
                            spin(SPIN);
                            ferrio::yield_now().await;
                        }
                    })
                })
                .collect();
            let ping = Arc::new(Mailbox::default());
            let pong = Arc::new(Mailbox::default());
            let decoys = [Arc::new(Decoy::default()), Arc::new(Decoy::default())];
            let decoy_tasks: Vec<_> = decoys
                .iter()
                .map(|d| {
                    let (d, stop) = (d.clone(), stop.clone());
                    ferrio::spawn(async move { d.run(&stop).await })
                })
                .collect();
            let b = {
                let (ping, pong, decoy) = (ping.clone(), pong.clone(), decoys[1].clone());
                ferrio::spawn(async move {
                    loop {
                        let v = ping.recv().await;
                        if v == u64::MAX {
                            break;
                        }
                        send(mode, &pong, &decoy, v);
                    }
                })
            };
            // Let the spinners spread over both workers first.
            ferrio::time::sleep(Duration::from_millis(20)).await;
            let before = handle.stats();
            let mut samples = Vec::with_capacity(round_trips);
            for i in 0..(WARM_UP + round_trips) as u64 {
                let t0 = Instant::now();
                send(mode, &ping, &decoys[0], i);
                let echoed = pong.recv().await;
                let rtt = t0.elapsed();
                assert_eq!(echoed, i);
                if i >= WARM_UP as u64 {
                    samples.push(rtt);
                }
                // Start the next round trip from the ring, with an empty LIFO chain.
                ferrio::yield_now().await;
            }
            let after = handle.stats();
            stop.store(true, SeqCst);
            ping.send(u64::MAX);
            b.await.expect("B failed");
            for d in &decoys {
                d.poke();
            }
            for t in decoy_tasks.into_iter().chain(spinners) {
                t.await.expect("a helper task failed");
            }
            (before, after, samples)
        })
        .await
        .expect("the ping-pong failed")
    });
    let d = after.total.since(&before.total);
    RunResult {
        p50: percentile(&mut samples, 50.0),
        p90: percentile(&mut samples, 90.0),
        lifo_hits: d.lifo_hits,
        round_trips: WARM_UP + round_trips,
    }
}

fn main() {
    let round_trips = teach_common::flag_number("--round-trips", 5000).max(10);
    explain(
        "LIFO slot: message-passing latency with and without it",
        &[
            "A task woken by the task running on the same worker takes that worker's LIFO slot and runs",
            "right after the waker's poll, ahead of the tasks queued in the ring. The slot holds one task; a",
            "second wake displaces the first to the back of the ring. So the same ping-pong runs three ways",
            "on a worker kept busy by spinner tasks: wake only the partner (lifo); wake a decoy, then the",
            "partner (lifo + decoy: the same work as the next run); wake the partner, then the decoy (ring:",
            "the partner waits behind the spinners). lifo_hits counts whatever ran from the slot: in the",
            "ring run, the decoys.",
        ],
    );
    println!(
        "{round_trips} round trips per run, {WORKERS} workers, {SPINNERS} spinner tasks ({} us of work, then yield_now)\n",
        us(SPIN)
    );
    println!(
        "  {:<14} {:>12} {:>12} {:>22}",
        "run", "RTT p50 (us)", "RTT p90 (us)", "lifo_hits / round trip"
    );
    for mode in [Mode::Lifo, Mode::LifoWithDecoy, Mode::Ring] {
        let r = run(mode, round_trips);
        println!(
            "  {:<14} {:>12.2} {:>12.2} {:>22.2}",
            mode.name(),
            us(r.p50),
            us(r.p90),
            r.lifo_hits as f64 / r.round_trips as f64
        );
    }
    println!();
    println!("  lifo and lifo + decoy: the partner ran from the LIFO slot (2 hits per round trip: B, then A).");
    println!("  ring: the 2 hits per round trip are the decoys; A and B waited in the ring behind the spinners.");
}
