//! Timer precision: how long `sleep(d)` really takes for d = 50 us, 100 us, 1 ms, 10 ms, against a bare
//! timerfd floor.
//!
//! One sample: `now` just before the sleep is created, `now` right after its `.await` returns (runtimes:
//! inside one spawned task, sleeps in sequence; floor: a `CLOCK_MONOTONIC` timerfd armed relative and
//! one-shot, waited on with `epoll_wait` on the main thread, then read). The floor is what the kernel
//! delivers; no runtime can wake a task sooner. A sleep shorter than `d` would be a bug: the min column
//! shows it.
//!
//! Slack: ferrio sets its threads' timer slack to 1 ns; every other thread keeps the kernel default (50
//! us). timerfd expirations are not slackened, so the floor does not depend on it. tokio's timer wheel has a
//! 1 ms resolution, so its sleeps under 1 ms round up.

use crate::harness::{run, Entry, Measured, Plan, Progress, Sample, Spec, Subject};
use crate::rt::{now_ns, sleep, BoxTask, Family, Rt};
use crate::sys::{Epoll, TimerFd};
use std::time::Duration;

/// The durations measured (JSON id, duration), with their default sample counts: fewer for the long ones,
/// so the default run stays under a minute (tokio's sleeps under 1 ms take about 1 to 2 ms each).
pub const DURATIONS: [(&str, Duration, usize); 4] = [
    ("timer_50us", Duration::from_micros(50), 2_000),
    ("timer_100us", Duration::from_micros(100), 2_000),
    ("timer_1ms", Duration::from_millis(1), 500),
    ("timer_10ms", Duration::from_millis(10), 100),
];

/// "50 us", "1 ms".
pub fn label(d: Duration) -> String {
    if d.subsec_nanos() % 1_000_000 == 0 {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} us", d.as_micros())
    }
}

struct Floor {
    epoll: Epoll,
    timer: TimerFd,
    d: Duration,
}

impl Subject for Floor {
    fn batch(&mut self, n: usize) -> Vec<Sample> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let start = now_ns();
            self.timer.arm(self.d).expect("timerfd_settime");
            self.epoll.wait_until(0).expect("epoll_wait");
            let end = now_ns();
            self.timer.consume().expect("timerfd read");
            out.push(Sample::new(end - start));
        }
        out
    }
}

async fn sleeps(family: Family, d: Duration, n: usize) -> Vec<Sample> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let start = now_ns();
        sleep(family, d).await;
        out.push(Sample::new(now_ns() - start));
    }
    out
}

struct Sleeps<'a> {
    rt: &'a Rt,
    d: Duration,
}

impl Subject for Sleeps<'_> {
    fn batch(&mut self, n: usize) -> Vec<Sample> {
        let bodies: Vec<BoxTask<Vec<Sample>>> = vec![Box::pin(sleeps(self.rt.family, self.d, n))];
        self.rt.run_tasks(bodies).into_iter().flatten().collect()
    }
}

/// Sleep precision for `d` (JSON id `key`), `full` samples per row by default.
pub fn precision(
    rts: &[Rt],
    (key, d, full): (&'static str, Duration, usize),
    plan: &Plan,
    progress: &mut Progress,
) -> Measured {
    let epoll = Epoll::new().expect("epoll_create1");
    let timer = TimerFd::new().expect("timerfd_create");
    epoll.add(timer.raw(), 0).expect("epoll_ctl");
    let mut entries = vec![Entry::Run(
        "floor",
        Box::new(Floor { epoll, timer, d }) as _,
    )];
    for rt in rts {
        entries.push(Entry::Run(rt.id, Box::new(Sleeps { rt, d })));
    }
    let spec = Spec {
        key,
        title: format!("Timer, sleep({})", label(d)),
        method: "actual duration: clock before the sleep is created -> clock after its `.await` (one task, sleeps \
                 in sequence). Floor: timerfd armed for d -> `epoll_wait` returns"
            .to_owned(),
        samples: plan.samples(full),
        rounds: plan.rounds(),
        show_other_worker: false,
    };
    run(spec, entries, progress)
}
