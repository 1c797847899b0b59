//! What the seed-chapter examples (`examples/seed_NN_*.rs`) share: the chapter's `delay` helper and the
//! executor-flavour switch behind [`run`], ferrio's `asyncio.run`.
//!
//! The chapter's listing "A reusable `delay` function" only defines `delay`, which the later listings import
//! with `from util import delay`; so it is not an example of its own but this module (and `util.py` in
//! `scripts/seed_golden.py`). Each example includes it with
//! `#[path = "seed_common/mod.rs"] mod seed_common;` (Cargo builds only the top-level `.rs` files of
//! `examples/` as examples; this folder has no `main.rs`, so it is not one).
//!
//! Flavour: `--current-thread` on the command line or `FERRIO_FLAVOR=current_thread` selects the
//! current-thread runtime (asyncio's scheduling order: the examples print what their Python twins print, in
//! the same order); otherwise, or with `FERRIO_FLAVOR=multi_thread`, the multi-thread one.
//!
//! Never prints anything but the chapter's lines, so an example's stdout compares with CPython's.

// Each example uses only part of this module.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

/// The executor flavour an example runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `Builder::current_thread()`: one thread, asyncio's order.
    CurrentThread,
    /// The default: one worker per CPU, work stealing.
    MultiThread,
}

/// The flavour chosen by `--current-thread` or `FERRIO_FLAVOR`.
///
/// # Panics
/// If `FERRIO_FLAVOR` is set to something other than `current_thread` or `multi_thread`.
pub fn flavor() -> Flavor {
    if std::env::args().skip(1).any(|a| a == "--current-thread") {
        return Flavor::CurrentThread;
    }
    match std::env::var("FERRIO_FLAVOR") {
        Ok(v) if v == "current_thread" => Flavor::CurrentThread,
        Ok(v) if v == "multi_thread" => Flavor::MultiThread,
        Ok(v) => panic!("FERRIO_FLAVOR must be current_thread or multi_thread, got {v:?}"),
        Err(_) => Flavor::MultiThread,
    }
}

/// `asyncio.run`: runs `future` to completion on a new runtime of the chosen [`flavor`], then drops the
/// runtime, which cancels whatever tasks are still alive and waits for their futures to be dropped.
pub fn run<F: Future>(future: F) -> F::Output {
    match flavor() {
        Flavor::MultiThread => ferrio::run(future),
        Flavor::CurrentThread => {
            let runtime = ferrio::Runtime::builder()
                .current_thread()
                .build()
                .expect("build the current-thread runtime");
            runtime.block_on(future)
        }
    }
}

/// Python's `str(b)`: `True` or `False`, so the lines that print a flag read as the listing's do.
pub fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// The seed's `util.delay`: announces the sleep, sleeps `delay_seconds`, announces the end, returns its
/// argument.
pub async fn delay(delay_seconds: u64) -> u64 {
    println!("sleeping for {delay_seconds} second(s)");
    ferrio::time::sleep(Duration::from_secs(delay_seconds)).await;
    // fix: the seed closes the f-string before `second(s)`, a SyntaxError
    println!("finished sleeping for {delay_seconds} second(s)");
    delay_seconds
}
