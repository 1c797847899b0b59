//! What the run prints and writes: the machine line, one markdown table per measurement (stdout), and the
//! `--json` file (hand-written JSON: objects, arrays, strings, numbers, `null`; no serde).
//!
//! Who calls it: `main.rs`, after every measurement has finished. It only reads the results.

use crate::harness::{Measured, Row};
use std::fmt::Write;

/// Percentiles (0..=100) at which each row's latency curve is sampled, for the JSON `curve` and the plot.
pub const CURVE: [f64; 19] = [
    0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 97.5, 99.0, 99.5, 99.9, 99.95,
    99.99, 99.999, 100.0,
];

/// The table columns: label and quantile.
const COLUMNS: [(&str, f64); 5] = [
    ("p50", 0.50),
    ("p90", 0.90),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("max", 1.0),
];

/// Where the numbers were taken.
pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub kernel: String,
    pub clocksource: String,
}

impl Machine {
    pub fn probe() -> Machine {
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .map(|s| s.trim().to_owned())
                .unwrap_or_else(|_| "unknown".to_owned())
        };
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or("unknown", |(_, v)| v.trim())
            .to_owned();
        Machine {
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu,
            kernel: read("/proc/sys/kernel/osrelease"),
            clocksource: read("/sys/devices/system/clocksource/clocksource0/current_clocksource"),
        }
    }

    pub fn line(&self) -> String {
        format!(
            "Machine: nproc {}, CPU {}, kernel {}, clocksource {}",
            self.nproc, self.cpu, self.kernel, self.clocksource
        )
    }
}

/// Microseconds with the digits that matter: 0.12, 12.3, 1234.
pub fn us(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 1000.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// One measurement as a markdown table (latencies in microseconds).
pub fn table(m: &Measured) -> String {
    let mut out = String::new();
    let spec = &m.spec;
    let _ = writeln!(
        out,
        "### {} (us; {} samples per row in {} rounds, {:.1} s)\n",
        spec.title, spec.samples, m.rounds_run, m.secs
    );
    let _ = writeln!(out, "{}\n", spec.method);
    let mut header = String::from("| runtime | samples |");
    for (label, _) in COLUMNS {
        let _ = write!(header, " {label} |");
    }
    header.push_str(" p50 / floor |");
    if spec.show_other_worker {
        header.push_str(" on other worker |");
    }
    let cells = header.matches('|').count() - 1;
    let _ = writeln!(out, "{header}");
    let _ = writeln!(out, "|{}", "---|".repeat(cells));
    let floor_p50 = m.rows.first().and_then(|r| r.us_at(0.5));
    let mut skipped = Vec::new();
    for row in &m.rows {
        let _ = writeln!(out, "{}", table_row(row, floor_p50, spec.show_other_worker));
        if let Some(why) = row.skipped {
            skipped.push(format!("{}: {why}", row.id));
        }
    }
    if !skipped.is_empty() {
        let _ = writeln!(out, "\nn/a: {}", skipped.join("; "));
    }
    out
}

fn table_row(row: &Row, floor_p50: Option<f64>, other: bool) -> String {
    let mut line = format!("| {} |", row.id);
    if row.hist.is_none() {
        let blanks = COLUMNS.len() + 2 + usize::from(other);
        line.push_str(&" n/a |".repeat(blanks));
        return line;
    }
    let _ = write!(line, " {} |", row.samples());
    for (_, q) in COLUMNS {
        let cell = row.us_at(q).map_or("-".to_owned(), us);
        let _ = write!(line, " {cell} |");
    }
    let ratio = match (row.us_at(0.5), floor_p50) {
        (Some(p), Some(f)) if f > 0.0 => format!("{:.2}", p / f),
        _ => "-".to_owned(),
    };
    let _ = write!(line, " {ratio} |");
    if other {
        let share = match row.samples() {
            0 => "-".to_owned(),
            n => format!("{:.0}%", 100.0 * row.other_worker as f64 / n as f64),
        };
        let _ = write!(line, " {share} |");
    }
    line
}

/// A JSON string literal.
fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number (finite), or `null`.
fn number(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.3}"),
        _ => "null".to_owned(),
    }
}

/// Every result as one JSON document (latencies in microseconds).
pub fn json(results: &[Measured], machine: &Machine, quick: bool, elapsed_s: f64) -> String {
    let mut out = String::new();
    out.push_str("{\n");
    let _ = writeln!(out, "  \"example\": \"latency\",");
    let _ = writeln!(out, "  \"quick\": {quick},");
    let _ = writeln!(out, "  \"unit\": \"us\",");
    let _ = writeln!(out, "  \"elapsed_s\": {},", number(Some(elapsed_s)));
    let _ = writeln!(
        out,
        "  \"machine\": {{\"nproc\": {}, \"cpu\": {}, \"kernel\": {}, \"clocksource\": {}}},",
        machine.nproc,
        string(&machine.cpu),
        string(&machine.kernel),
        string(&machine.clocksource)
    );
    out.push_str("  \"measurements\": [\n");
    for (i, m) in results.iter().enumerate() {
        out.push_str("    {\n");
        let _ = writeln!(out, "      \"key\": {},", string(m.spec.key));
        let _ = writeln!(out, "      \"title\": {},", string(&m.spec.title));
        let _ = writeln!(out, "      \"method\": {},", string(&m.spec.method));
        let _ = writeln!(out, "      \"samples_per_row\": {},", m.spec.samples);
        let _ = writeln!(out, "      \"rounds\": {},", m.rounds_run);
        let _ = writeln!(out, "      \"seconds\": {},", number(Some(m.secs)));
        out.push_str("      \"rows\": [\n");
        for (j, row) in m.rows.iter().enumerate() {
            let _ = write!(out, "        {}", json_row(row));
            out.push_str(if j + 1 < m.rows.len() { ",\n" } else { "\n" });
        }
        out.push_str("      ]\n");
        out.push_str(if i + 1 < results.len() {
            "    },\n"
        } else {
            "    }\n"
        });
    }
    out.push_str("  ]\n}\n");
    out
}

fn json_row(row: &Row) -> String {
    let mut out = format!("{{\"runtime\": {}", string(row.id));
    match row.skipped {
        Some(why) => {
            let _ = write!(out, ", \"skipped\": {}}}", string(why));
            return out;
        }
        None => out.push_str(", \"skipped\": null"),
    }
    let _ = write!(out, ", \"samples\": {}", row.samples());
    let mean = row
        .hist
        .as_ref()
        .filter(|h| !h.is_empty())
        .map(|h| h.mean() / 1000.0);
    let _ = write!(out, ", \"min\": {}", number(row.us_at(0.0)));
    let _ = write!(out, ", \"mean\": {}", number(mean));
    for (label, q) in COLUMNS {
        let key = label.replace('.', "");
        let _ = write!(out, ", \"{key}\": {}", number(row.us_at(q)));
    }
    let _ = write!(out, ", \"other_worker\": {}", row.other_worker);
    out.push_str(", \"curve\": [");
    for (k, p) in CURVE.iter().enumerate() {
        let sep = if k == 0 { "" } else { ", " };
        let _ = write!(out, "{sep}[{p}, {}]", number(row.us_at(p / 100.0)));
    }
    out.push_str("]}");
    out
}
