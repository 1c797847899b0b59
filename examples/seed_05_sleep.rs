//! Seed chapter, listing 5 ("A first application with `sleep`"): `asyncio.sleep(1)` is
//! `ferrio::time::sleep(Duration::from_secs(1))`.
//!
//! Run: `cargo run --example seed_05_sleep [-- --current-thread]`

#[path = "seed_common/mod.rs"]
mod seed_common;

use std::time::Duration;

async fn hello_god_message() -> &'static str {
    ferrio::time::sleep(Duration::from_secs(1)).await; // Pause hello_god_message for 1 second.
    "Hello God!"
}

async fn async_main() {
    let message = hello_god_message().await; // Pause main until hello_god_message finishes.
    println!("{message}");
}

fn main() {
    seed_common::run(async_main());
}
