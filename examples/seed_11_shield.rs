//! Seed chapter, listing 11 ("Shielding a task from cancellation"): `wait_for(shield(task), 5)` is
//! `timeout(Duration::from_secs(5), ferrio::shield(&mut task))`: the timeout gives up after 5 seconds but
//! the 10-second task runs on, and awaiting it afterwards gives its result.
//!
//! Run: `cargo run --example seed_11_shield [-- --current-thread]`

#[path = "seed_common/mod.rs"]
mod seed_common;

use seed_common::delay;
use std::time::Duration;

async fn async_main() {
    let mut task = ferrio::spawn(delay(10));

    // Bound first: the shield borrows `task`, which the timeout arm awaits again.
    let waited = ferrio::time::timeout(Duration::from_secs(5), ferrio::shield(&mut task)).await;
    match waited {
        Ok(result) => println!("{}", result.expect("delay(10) failed")),
        Err(ferrio::time::Elapsed { .. }) => {
            println!("Task took longer than five seconds, it will finish soon!");
            let result = task.await.expect("delay(10) failed");
            println!("{result}");
        }
    }
}

fn main() {
    seed_common::run(async_main());
}
