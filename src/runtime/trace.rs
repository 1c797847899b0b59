//! The internals trace, opt in (`Builder::trace(capacity)`): what each worker did, event by event, kept in a
//! ring buffer per worker and written out as Chrome trace-event JSON (`Runtime::dump_trace`) that opens in
//! Perfetto (ui.perfetto.dev) or chrome://tracing, one track per worker.
//!
//! Data flow: the scheduler calls `Tracer::record` at each event (poll with its duration, wake with its
//! kind, steal, park, reactor turn, timers fired); the record goes into the calling thread's ring (found
//! through the stats module's `HOME` thread-local: a worker's own ring, or a shared "other threads" ring),
//! overwriting the oldest record once `capacity` is reached. `dump` locks each ring in turn, copies it and
//! writes the JSON. Each ring has its own mutex, uncontended except while a dump copies it.
//!
//! A wake records where it came from: the waking thread says so through `WAKE_SOURCE` while it dispatches
//! reactor events or fires timers. Off (no `Builder::trace`), the scheduler's only cost is a `None` check
//! per event site.

use crate::runtime::stats;
use std::cell::Cell;
use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

/// Where a wake-up came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WakeKind {
    /// From a task running on the same worker, into its ring (`yield_now`, or behind others).
    Local,
    /// From a task running on the same worker, into its LIFO slot (runs next).
    Lifo,
    /// From another thread, through the global (or remote) queue.
    Remote,
    /// From a reactor turn (I/O readiness).
    Io,
    /// From the timer driver (a deadline passed).
    Timer,
}

impl WakeKind {
    fn name(self) -> &'static str {
        match self {
            WakeKind::Local => "wake (local)",
            WakeKind::Lifo => "wake (lifo)",
            WakeKind::Remote => "wake (remote)",
            WakeKind::Io => "wake (io)",
            WakeKind::Timer => "wake (timer)",
        }
    }
}

thread_local! {
    /// Set while this thread dispatches reactor events (`Io`) or fires timers (`Timer`).
    static WAKE_SOURCE: Cell<Option<WakeKind>> = const { Cell::new(None) };
}

/// Marks wakes made by `f` as coming from `kind` (reactor dispatch, timer firing).
pub(crate) fn waking_from<R>(kind: WakeKind, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<WakeKind>);
    impl Drop for Restore {
        fn drop(&mut self) {
            WAKE_SOURCE.with(|w| w.set(self.0));
        }
    }
    let _restore = Restore(WAKE_SOURCE.with(|w| w.replace(Some(kind))));
    f()
}

/// The kind of a wake made now: the source set by `waking_from`, if any, else `default`.
pub(crate) fn wake_kind(default: WakeKind) -> WakeKind {
    WAKE_SOURCE.with(Cell::get).unwrap_or(default)
}

/// One traced event; times are nanoseconds since the tracer was created.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Record {
    Poll {
        task: u64,
        start: u64,
        dur: u64,
    },
    Wake {
        task: u64,
        kind: WakeKind,
        at: u64,
    },
    Steal {
        victim: usize,
        count: usize,
        at: u64,
    },
    Parked {
        start: u64,
        dur: u64,
    },
    ReactorTurn {
        events: usize,
        start: u64,
        dur: u64,
    },
    TimersFired {
        count: usize,
        at: u64,
    },
}

struct Ring {
    records: Vec<Record>,
    /// Next slot to overwrite once full.
    next: usize,
}

/// One runtime's trace buffers.
pub(crate) struct Tracer {
    runtime_id: u64,
    epoch: Instant,
    capacity: usize,
    /// One per worker, then one for other threads.
    rings: Box<[Mutex<Ring>]>,
}

impl Tracer {
    pub(crate) fn new(runtime_id: u64, workers: usize, capacity: usize) -> Tracer {
        Tracer {
            runtime_id,
            epoch: Instant::now(),
            capacity: capacity.max(1),
            rings: (0..=workers)
                .map(|_| {
                    Mutex::new(Ring {
                        records: Vec::new(),
                        next: 0,
                    })
                })
                .collect(),
        }
    }

    /// Nanoseconds since the tracer started (the trace's clock).
    pub(crate) fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Appends `record` to the calling thread's ring.
    pub(crate) fn record(&self, record: Record) {
        let index = match stats::home() {
            (runtime, index) if runtime == self.runtime_id && index + 1 < self.rings.len() => index,
            _ => self.rings.len() - 1,
        };
        let mut ring = self.rings[index].lock().unwrap_or_else(|e| e.into_inner());
        if ring.records.len() < self.capacity {
            ring.records.push(record);
        } else {
            let next = ring.next;
            ring.records[next] = record;
            ring.next = (next + 1) % self.capacity;
        }
    }

    /// Writes the buffered events as Chrome trace-event JSON to `path`.
    pub(crate) fn dump(&self, path: &Path) -> io::Result<()> {
        std::fs::write(path, self.to_json())
    }

    fn to_json(&self) -> String {
        let mut out = String::from("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
        let workers = self.rings.len() - 1;
        let mut first = true;
        let mut push = |out: &mut String, event: String| {
            if !first {
                out.push_str(",\n");
            }
            first = false;
            out.push_str(&event);
        };
        for tid in 0..=workers {
            let name = if tid < workers {
                format!("worker {tid}")
            } else {
                "other threads".to_owned()
            };
            push(
                &mut out,
                format!(
                    "{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":{tid},\"args\":{{\"name\":\"{name}\"}}}}"
                ),
            );
        }
        for (tid, ring) in self.rings.iter().enumerate() {
            let records = {
                let ring = ring.lock().unwrap_or_else(|e| e.into_inner());
                let mut records = ring.records[ring.next..].to_vec();
                records.extend_from_slice(&ring.records[..ring.next]);
                records
            };
            for record in records {
                push(&mut out, event_json(tid, record));
            }
        }
        out.push_str("\n]}\n");
        out
    }
}

/// Microseconds with nanosecond decimals, as the trace format wants.
fn us(ns: u64) -> String {
    format!("{}.{:03}", ns / 1000, ns % 1000)
}

fn event_json(tid: usize, record: Record) -> String {
    let mut e = String::new();
    let head = |e: &mut String, name: &str, ph: &str, ts: u64| {
        let _ = write!(
            e,
            "{{\"name\":\"{name}\",\"ph\":\"{ph}\",\"pid\":1,\"tid\":{tid},\"ts\":{}",
            us(ts)
        );
    };
    match record {
        Record::Poll { task, start, dur } => {
            head(&mut e, "poll", "X", start);
            let _ = write!(e, ",\"dur\":{},\"args\":{{\"task\":{task}}}}}", us(dur));
        }
        Record::Wake { task, kind, at } => {
            head(&mut e, kind.name(), "i", at);
            let _ = write!(e, ",\"s\":\"t\",\"args\":{{\"task\":{task}}}}}");
        }
        Record::Steal { victim, count, at } => {
            head(&mut e, "steal", "i", at);
            let _ = write!(
                e,
                ",\"s\":\"t\",\"args\":{{\"victim\":{victim},\"count\":{count}}}}}"
            );
        }
        Record::Parked { start, dur } => {
            head(&mut e, "parked", "X", start);
            let _ = write!(e, ",\"dur\":{}}}", us(dur));
        }
        Record::ReactorTurn { events, start, dur } => {
            head(&mut e, "reactor turn", "X", start);
            let _ = write!(e, ",\"dur\":{},\"args\":{{\"events\":{events}}}}}", us(dur));
        }
        Record::TimersFired { count, at } => {
            head(&mut e, "timers fired", "i", at);
            let _ = write!(e, ",\"s\":\"t\",\"args\":{{\"count\":{count}}}}}");
        }
    }
    e
}

#[cfg(all(test, not(ferrio_loom)))]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_the_newest_records_in_order() {
        let tracer = Tracer::new(u64::MAX, 1, 3);
        for i in 0..5 {
            tracer.record(Record::TimersFired {
                count: i,
                at: i as u64,
            });
        }
        let json = tracer.to_json();
        let counts: Vec<_> = json
            .match_indices("\"count\":")
            .map(|(i, _)| json[i + 8..].split('}').next().unwrap().to_owned())
            .collect();
        assert_eq!(counts, ["2", "3", "4"], "{json}");
        assert!(json.starts_with("{\"displayTimeUnit\""));
        assert!(json.contains("\"name\":\"other threads\""));
    }

    #[test]
    fn events_have_the_trace_format_fields() {
        let e = event_json(
            0,
            Record::Poll {
                task: 7,
                start: 1500,
                dur: 2001,
            },
        );
        assert_eq!(
            e,
            "{\"name\":\"poll\",\"ph\":\"X\",\"pid\":1,\"tid\":0,\"ts\":1.500,\"dur\":2.001,\"args\":{\"task\":7}}"
        );
        assert!(waking_from(WakeKind::Io, || wake_kind(WakeKind::Lifo)) == WakeKind::Io);
        assert_eq!(wake_kind(WakeKind::Lifo), WakeKind::Lifo);
    }
}
