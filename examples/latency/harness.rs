//! How every measurement is run: subjects (the floor and the runtimes) take turns in interleaved rounds,
//! their samples go into one hdrhistogram each, and a progress line on stderr says what runs.
//!
//! Who calls it: the measurement modules (`wake.rs`, `timer.rs`, `tcp.rs`) build a [`Spec`] and one
//! [`Entry`] per row and call [`run`]; `report.rs` and `plot.rs` read the [`Measured`] results. It never
//! measures anything itself and keeps nothing of a subject between measurements.
//!
//! Noise: each subject first runs a short warm-up batch that is not recorded. Then the samples are split into
//! rounds; each round runs one batch per subject, the starting subject rotating every round, so a noisy
//! stretch of a shared machine hits every row alike.

use hdrhistogram::Histogram;
use std::io::Write;
use std::time::Instant;

/// One sample: a latency, and whether it crossed to another worker (only the handoff measurement sets it).
#[derive(Clone, Copy)]
pub struct Sample {
    pub ns: u64,
    pub other_worker: bool,
}

impl Sample {
    pub fn new(ns: u64) -> Sample {
        Sample {
            ns,
            other_worker: false,
        }
    }
}

/// One row of a measurement, ready to run.
pub trait Subject {
    /// Runs about `n` samples in sequence and returns them (a subject may return fewer when it drops
    /// samples that are not what the measurement means, e.g. a wake that crossed workers).
    fn batch(&mut self, n: usize) -> Vec<Sample>;
}

/// A row: measured, or not applicable to this measurement (with the reason printed in its place).
pub enum Entry<'a> {
    Run(&'static str, Box<dyn Subject + 'a>),
    Skip(&'static str, &'static str),
}

/// What a measurement is called and how much of it to run.
pub struct Spec {
    /// Stable id for JSON (`wake_same_worker`, `timer_1ms`, ...).
    pub key: &'static str,
    /// Table title.
    pub title: String,
    /// How one sample is taken, one line.
    pub method: String,
    /// Samples per row.
    pub samples: usize,
    /// Rounds the samples are split into.
    pub rounds: usize,
    /// Whether the table shows the share of samples that ran on another worker.
    pub show_other_worker: bool,
}

/// One row's results.
pub struct Row {
    pub id: &'static str,
    /// `None` for a skipped row.
    pub hist: Option<Histogram<u64>>,
    pub skipped: Option<&'static str>,
    /// Samples that ran on another worker than the firing one.
    pub other_worker: u64,
}

impl Row {
    /// The value at `quantile` in microseconds (`None` for a skipped or empty row).
    pub fn us_at(&self, quantile: f64) -> Option<f64> {
        let hist = self.hist.as_ref().filter(|h| !h.is_empty())?;
        Some(hist.value_at_quantile(quantile) as f64 / 1000.0)
    }

    pub fn samples(&self) -> u64 {
        self.hist.as_ref().map_or(0, |h| h.len())
    }
}

/// A finished measurement.
pub struct Measured {
    pub spec: Spec,
    pub rows: Vec<Row>,
    pub rounds_run: usize,
    pub secs: f64,
}

/// Runs `entries` (one per row, floor first) for `spec`, interleaved in rounds.
pub fn run(spec: Spec, mut entries: Vec<Entry<'_>>, progress: &mut Progress) -> Measured {
    let started = Instant::now();
    let mut rows: Vec<Row> = entries
        .iter()
        .map(|entry| match entry {
            Entry::Run(id, _) => Row {
                id,
                hist: Some(Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("bounds")),
                skipped: None,
                other_worker: 0,
            },
            Entry::Skip(id, why) => Row {
                id,
                hist: None,
                skipped: Some(why),
                other_worker: 0,
            },
        })
        .collect();
    let warmup = (spec.samples / 20).clamp(2, 200);
    for entry in entries.iter_mut() {
        if let Entry::Run(id, subject) = entry {
            progress.show(&spec.title, id, "warm-up");
            subject.batch(warmup);
        }
    }
    let rounds = spec.rounds.max(1);
    let per_round = spec.samples.div_ceil(rounds).max(1);
    let mut remaining = spec.samples;
    let mut round = 0;
    while remaining > 0 {
        let batch = per_round.min(remaining);
        let count = entries.len();
        for k in 0..count {
            let i = (round + k) % count;
            if let Entry::Run(id, subject) = &mut entries[i] {
                progress.show(&spec.title, id, &format!("round {}/{rounds}", round + 1));
                let row = &mut rows[i];
                let hist = row.hist.as_mut().expect("a run row has a histogram");
                for sample in subject.batch(batch) {
                    hist.saturating_record(sample.ns.max(1));
                    row.other_worker += u64::from(sample.other_worker);
                }
            }
        }
        remaining -= batch;
        round += 1;
    }
    progress.done_one();
    Measured {
        spec,
        rows,
        rounds_run: round,
        secs: started.elapsed().as_secs_f64(),
    }
}

/// The progress line on stderr (`\r`-updated): measurement k of n, its row, its round, time so far.
pub struct Progress {
    started: Instant,
    total: usize,
    done: usize,
}

impl Progress {
    pub fn new(total: usize) -> Progress {
        Progress {
            started: Instant::now(),
            total,
            done: 0,
        }
    }

    fn show(&self, title: &str, id: &str, what: &str) {
        let title: String = title.chars().take(44).collect();
        let line = format!(
            "[{}/{}] {title}: {id} {what}  ({:.1} s)",
            (self.done + 1).min(self.total),
            self.total,
            self.started.elapsed().as_secs_f64()
        );
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line:<100}");
        let _ = err.flush();
    }

    fn done_one(&mut self) {
        self.done += 1;
    }

    /// Clears the line (call before printing the tables).
    pub fn finish(&self) {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{:<100}\r", "");
        let _ = err.flush();
    }

    pub fn elapsed_secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// How big a run is: the default, or `--quick` (a twentieth of the samples, at least 10 per row, in 2
/// rounds instead of 4).
pub struct Plan {
    pub quick: bool,
}

impl Plan {
    /// Samples per row for a measurement whose default is `full`.
    pub fn samples(&self, full: usize) -> usize {
        if self.quick {
            (full / 20).max(10)
        } else {
            full
        }
    }

    pub fn rounds(&self) -> usize {
        if self.quick {
            2
        } else {
            4
        }
    }
}
