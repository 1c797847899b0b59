//! Seed chapter, listing 7 ("Running multiple tasks concurrently"): three 3-second tasks spawned first, then
//! awaited in turn, take about 3 seconds, not 9.
//!
//! Run: `cargo run --example seed_07_concurrent_tasks [-- --current-thread]`

#[path = "seed_common/mod.rs"]
mod seed_common;

use seed_common::delay;

async fn async_main() {
    let sleep_for_three = ferrio::spawn(delay(3));
    let sleep_again = ferrio::spawn(delay(3));
    let sleep_once_more = ferrio::spawn(delay(3));

    sleep_for_three.await.expect("delay(3) failed");
    sleep_again.await.expect("delay(3) failed");
    sleep_once_more.await.expect("delay(3) failed");
}

fn main() {
    seed_common::run(async_main());
}
