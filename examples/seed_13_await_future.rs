//! Seed chapter, listing 13 ("Awaiting a future"): a task sets a `Promise` after a second while `main`
//! awaits it. `make_request` is a plain function that creates the promise and spawns its setter (dropping the
//! `Task` detaches it, as the listing drops the one `create_task` returns).
//!
//! Run: `cargo run --example seed_13_await_future [-- --current-thread]`

#[path = "seed_common/mod.rs"]
mod seed_common;

use ferrio::sync::Promise;
use seed_common::py_bool;
use std::time::Duration;

async fn set_future_value(future: Promise<i64>) {
    ferrio::time::sleep(Duration::from_secs(1)).await; // Wait 1 second before setting the value of the future
    future.set_result(42).expect("the promise was already done");
}

fn make_request() -> Promise<i64> {
    let future = Promise::new();
    ferrio::spawn(set_future_value(future.clone())); // Create a task to asynchronously set the value of the future.
    future
}

async fn async_main() {
    let future = make_request();
    println!("Is the future done? {}", py_bool(future.is_done()));
    let value = (&future).await.expect("the promise was cancelled");
    println!("Is the future done? {}", py_bool(future.is_done()));
    println!("{value}");
}

fn main() {
    seed_common::run(async_main());
}
