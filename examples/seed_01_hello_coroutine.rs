//! Seed chapter, listing 1 ("使用 async 关键字创建 coroutine"): an `async fn` that prints `Hello World`.
//!
//! The listing only defines the coroutine; like its Python twin in `scripts/seed_golden.py`, this runs it
//! with `asyncio.run` (`seed_common::run`), so there is something to see.
//!
//! Run: `cargo run --example seed_01_hello_coroutine [-- --current-thread]`

#[path = "seed_common/mod.rs"]
mod seed_common;

async fn my_coroutine() {
    println!("Hello World");
}

fn main() {
    seed_common::run(my_coroutine()); // added: the listing only defines the coroutine
}
