//! Seed chapter, listing 9 ("Canceling a task"): a 10-second task polled every second and cancelled after
//! five; awaiting it then gives `Err(TaskError)` with `is_cancelled()`, asyncio's `CancelledError`.
//!
//! As in asyncio, `cancel()` only asks: the task ends at its next await point, on the runtime's next turn,
//! so `is_done()` is still false right after it and the loop prints its line a sixth time.
//!
//! Run: `cargo run --example seed_09_cancel [-- --current-thread]`

#[path = "seed_common/mod.rs"]
mod seed_common;

use seed_common::delay;
use std::time::Duration;

async fn async_main() {
    let long_task = ferrio::spawn(delay(10));
    let mut seconds_elapsed = 0;

    while !long_task.is_done() {
        println!("Task not finished, checking again in a second.");
        ferrio::time::sleep(Duration::from_secs(1)).await;
        seconds_elapsed += 1;
        if seconds_elapsed == 5 {
            long_task.cancel();
        }
    }

    match long_task.await {
        Ok(_) => {}
        Err(e) if e.is_cancelled() => println!("Our task was cancelled"),
        Err(e) => panic!("{e}"),
    }
}

fn main() {
    seed_common::run(async_main());
}
