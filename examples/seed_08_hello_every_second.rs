//! Seed chapter, listing 8: other code (a status line every second) runs while two 3-second tasks wait.
//!
//! Run: `cargo run --example seed_08_hello_every_second [-- --current-thread]`

#[path = "seed_common/mod.rs"]
mod seed_common;

use seed_common::delay;
use std::time::Duration;

async fn hello_every_second() {
    for _i in 0..2 {
        ferrio::time::sleep(Duration::from_secs(1)).await;
        println!("I'm running other code while I'm waiting!");
    }
}

async fn async_main() {
    let first_delay = ferrio::spawn(delay(3));
    let second_delay = ferrio::spawn(delay(3));

    hello_every_second().await;
    first_delay.await.expect("delay(3) failed");
    second_delay.await.expect("delay(3) failed");
}

fn main() {
    seed_common::run(async_main());
}
