//! Seed chapter, listing 12 (a `Future` set by hand): asyncio's `Future` is `ferrio::sync::Promise`;
//! `done()` is `is_done()`, `set_result` is `set_result` (`Err(value)` where asyncio raises
//! `InvalidStateError`), `result()` is `try_result()` (`None` where asyncio raises `InvalidStateError`,
//! `Some(Err(Cancelled))` where it raises `CancelledError`).
//!
//! Like the listing, this runs no event loop (a promise needs none to be set or read), so the flavour
//! switch does not apply.
//!
//! Run: `cargo run --example seed_12_future`

#[path = "seed_common/mod.rs"]
mod seed_common;

use ferrio::sync::Promise;
use seed_common::py_bool;

fn main() {
    let my_future = Promise::new();

    println!("Is my_future done? {}", py_bool(my_future.is_done()));
    my_future
        .set_result(42)
        .expect("the promise was already done");

    println!("Is my_future done? {}", py_bool(my_future.is_done()));
    let result = my_future.try_result().expect("not done");
    println!(
        "What is the result of my_future? {}",
        result.expect("cancelled")
    );
}
