//! Seed chapter, listing 3: `asyncio.run(coroutine_add_one(1))`, the future run to completion on a new
//! runtime (`seed_common::run`, which is `ferrio::run` with the flavour switch).
//!
//! Run: `cargo run --example seed_03_asyncio_run [-- --current-thread]`

#[path = "seed_common/mod.rs"]
mod seed_common;

async fn coroutine_add_one(number: i64) -> i64 {
    number + 1
}

fn main() {
    let result = seed_common::run(coroutine_add_one(1));
    println!("{result}");
}
