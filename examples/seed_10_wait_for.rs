//! Seed chapter, listing 10 ("Setting a timeout and canceling with wait_for"): `asyncio.wait_for(task, 1)`
//! is `ferrio::time::timeout(Duration::from_secs(1), &mut task)`; on expiry it gives `Err(Elapsed)`
//! (asyncio's `TimeoutError`) and cancels the task it gave up on.
//!
//! Run: `cargo run --example seed_10_wait_for [-- --current-thread]`

#[path = "seed_common/mod.rs"]
mod seed_common;

use seed_common::delay;
use std::time::Duration;

async fn async_main() {
    let mut delay_task = ferrio::spawn(delay(2));
    match ferrio::time::timeout(Duration::from_secs(1), &mut delay_task).await {
        Ok(result) => println!("{}", result.expect("delay(2) failed")),
        Err(ferrio::time::Elapsed { .. }) => {
            println!("Got a timeout");
            println!(
                "Was the task cancelled? {}",
                seed_common::py_bool(delay_task.is_cancelled())
            );
        }
    }
}

fn main() {
    seed_common::run(async_main());
}
