//! Seed chapter, listing 14 (timing a coroutine by hand): the time around `sleep(1)`, printed in seconds.
//!
//! `time.time()` becomes `Instant::now()` (a monotonic clock, what measuring an interval wants), and the
//! difference prints as a float of seconds, as Python's does.
//!
//! Run: `cargo run --example seed_14_measure_sleep [-- --current-thread]`

#[path = "seed_common/mod.rs"]
mod seed_common;

use std::time::{Duration, Instant};

async fn async_main() {
    let start = Instant::now();
    ferrio::time::sleep(Duration::from_secs(1)).await;
    let end = Instant::now();
    println!(
        "Sleeping took {} seconds",
        end.duration_since(start).as_secs_f64()
    );
}

fn main() {
    seed_common::run(async_main());
}
