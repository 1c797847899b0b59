//! The `--plot` file: one hand-written SVG with a panel per measurement, each a percentile-vs-latency line
//! chart (latency on a log x axis, percentile on a "nines" y axis so the tail gets room: 0%, 90%, 99%,
//! 99.9%, ... up to the max), one colour per runtime, the floor dashed, and a legend on top.
//!
//! Who calls it: `main.rs`, after every measurement has finished. It only reads the results, sampled at
//! [`CURVE`](crate::report::CURVE) like the JSON curves.

use crate::harness::Measured;
use crate::report::CURVE;
use std::fmt::Write;

const WIDTH: f64 = 1200.0;
const HEADER: f64 = 76.0;
const PANEL_W: f64 = 580.0;
const PANEL_H: f64 = 300.0;
const GAP: f64 = 20.0;
/// Plot area inside a panel: left, right, top, bottom margins.
const MARGIN: (f64, f64, f64, f64) = (64.0, 16.0, 30.0, 42.0);
/// The y axis: nines of the percentile, 0 (p0) to 5 (p99.999), and the max one step above.
const Y_MAX_NINES: f64 = 5.0;
const Y_TOP: f64 = 5.6;

/// The line colour and dash of a runtime row.
fn style(id: &str) -> (&'static str, &'static str) {
    match id {
        "floor" => ("#333333", "6 4"),
        "ferrio_ct" => ("#e66101", "none"),
        "ferrio_mt" => ("#b2182b", "none"),
        "tokio_ct" => ("#4393c3", "none"),
        "tokio_mt" => ("#1b7837", "none"),
        _ => ("#888888", "2 2"),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The y coordinate (in nines) of percentile `p` (0..=100).
fn nines(p: f64) -> f64 {
    if p >= 100.0 {
        Y_TOP
    } else {
        (-(1.0 - p / 100.0).log10()).min(Y_MAX_NINES)
    }
}

/// A tick label for `us` microseconds: "0.2 us", "15 us", "1.5 ms", "1 s".
fn tick_label(us: f64) -> String {
    let (v, unit) = if us >= 1e6 {
        (us / 1e6, "s")
    } else if us >= 1e3 {
        (us / 1e3, "ms")
    } else {
        (us, "us")
    };
    let text = format!("{v:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} {unit}")
}

/// The x axis: log10 of the latency range shown, and the labelled tick values (microseconds) in it.
struct Axis {
    lo: f64,
    hi: f64,
    labelled: Vec<f64>,
    minor: Vec<f64>,
}

impl Axis {
    /// Fits the range `[min, max]` (microseconds, both > 0): at least 0.3 decades wide, a little padding,
    /// and ticks at 1-2-5 steps or finer as the range narrows.
    fn fit(min: f64, max: f64) -> Axis {
        let (mut lo, mut hi) = (min.log10(), max.log10());
        if hi - lo < 0.3 {
            let mid = (lo + hi) / 2.0;
            (lo, hi) = (mid - 0.15, mid + 0.15);
        }
        let pad = ((hi - lo) * 0.04).max(0.02);
        (lo, hi) = (lo - pad, hi + pad);
        let span = hi - lo;
        let steps: &[f64] = if span >= 2.5 {
            &[1.0]
        } else if span >= 1.2 {
            &[1.0, 2.0, 5.0]
        } else if span >= 0.5 {
            &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0]
        } else {
            &[1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
        };
        let (mut labelled, mut minor) = (Vec::new(), Vec::new());
        for k in lo.floor() as i32..=hi.ceil() as i32 {
            let decade = 10f64.powi(k);
            let inside = |v: f64| (lo..=hi).contains(&v.log10());
            labelled.extend(steps.iter().map(|m| m * decade).filter(|&v| inside(v)));
            minor.extend((1..10).map(|m| m as f64 * decade).filter(|&v| inside(v)));
        }
        Axis {
            lo,
            hi,
            labelled,
            minor,
        }
    }
}

/// The whole SVG document.
pub fn svg(results: &[Measured], subtitle: &str) -> String {
    let rows = results.len().div_ceil(2);
    let height = HEADER + rows as f64 * (PANEL_H + GAP);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} \
         {height}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(
        out,
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"20\" y=\"26\" font-size=\"18\" \
         font-weight=\"bold\">ferrio vs tokio: latency percentiles beside the no-runtime floor</text>\n<text \
         x=\"20\" y=\"44\" fill=\"#555\">{}</text>",
        escape(subtitle)
    );
    legend(&mut out, results);
    for (i, m) in results.iter().enumerate() {
        let x = 10.0 + (i % 2) as f64 * (PANEL_W + GAP);
        let y = HEADER + (i / 2) as f64 * (PANEL_H + GAP);
        panel(&mut out, m, x, y);
    }
    out.push_str("</svg>\n");
    out
}

fn legend(out: &mut String, results: &[Measured]) {
    let mut ids: Vec<&str> = Vec::new();
    for row in results.iter().flat_map(|m| &m.rows) {
        if !ids.contains(&row.id) {
            ids.push(row.id);
        }
    }
    let mut x = 20.0;
    for id in ids {
        let (colour, dash) = style(id);
        let _ = writeln!(
            out,
            "<line x1=\"{x}\" y1=\"62\" x2=\"{}\" y2=\"62\" stroke=\"{colour}\" stroke-width=\"3\" \
             stroke-dasharray=\"{dash}\"/><text x=\"{}\" y=\"66\">{id}</text>",
            x + 28.0,
            x + 34.0
        );
        x += 130.0;
    }
}

fn panel(out: &mut String, m: &Measured, px: f64, py: f64) {
    let (ml, mr, mt, mb) = MARGIN;
    let (left, top) = (px + ml, py + mt);
    let (w, h) = (PANEL_W - ml - mr, PANEL_H - mt - mb);
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" font-size=\"14\" font-weight=\"bold\">{}</text>",
        left,
        py + 18.0,
        escape(&m.spec.title)
    );
    let _ = writeln!(
        out,
        "<rect x=\"{left}\" y=\"{top}\" width=\"{w}\" height=\"{h}\" fill=\"#fafafa\" stroke=\"#999\"/>"
    );
    // x range: every row's min to every row's max.
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    for row in &m.rows {
        if let (Some(min), Some(max)) = (row.us_at(0.0), row.us_at(1.0)) {
            lo = lo.min(min.max(0.001));
            hi = hi.max(max.max(0.001));
        }
    }
    if lo > hi {
        return; // nothing measured
    }
    let axis = Axis::fit(lo, hi);
    let x_of = |us: f64| left + (us.max(0.001).log10() - axis.lo) / (axis.hi - axis.lo) * w;
    let y_of = |n: f64| top + h - n / Y_TOP * h;
    for &v in &axis.minor {
        let x = x_of(v);
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#eee\"/>",
            top + h
        );
    }
    for &v in &axis.labelled {
        let x = x_of(v);
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#ccc\"/><text x=\"{x:.1}\" \
             y=\"{}\" text-anchor=\"middle\">{}</text>",
            top + h,
            top + h + 16.0,
            tick_label(v)
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">latency (log scale)</text>",
        left + w / 2.0,
        top + h + 34.0
    );
    let y_ticks = [
        (0.0, "0%"),
        (1.0, "90%"),
        (2.0, "99%"),
        (3.0, "99.9%"),
        (4.0, "99.99%"),
        (5.0, "99.999%"),
        (Y_TOP, "max"),
    ];
    for (n, label) in y_ticks {
        let y = y_of(n);
        let _ = writeln!(
            out,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" \
             y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
            left + w,
            left - 6.0,
            y + 4.0
        );
    }
    for row in &m.rows {
        let points: Vec<String> = CURVE
            .iter()
            .filter_map(|&p| {
                let v = row.us_at(p / 100.0)?;
                Some(format!("{:.1},{:.1}", x_of(v), y_of(nines(p))))
            })
            .collect();
        if points.is_empty() {
            continue;
        }
        let (colour, dash) = style(row.id);
        let _ = writeln!(
            out,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" stroke-dasharray=\"{dash}\" \
             points=\"{}\"><title>{}</title></polyline>",
            points.join(" "),
            row.id
        );
    }
}
