//! Seed chapter, listing 4 ("Using `await` to wait for the result of coroutine"): `main` awaits two calls
//! in turn.
//!
//! The listing only defines `main`; like its Python twin, this runs it.
//!
//! Run: `cargo run --example seed_04_await [-- --current-thread]`

#[path = "seed_common/mod.rs"]
mod seed_common;

async fn add_one(number: i64) -> i64 {
    number + 1
}

async fn async_main() {
    let one_plus_one = add_one(1).await; // Pause, and wait for the result of add_one(1).
    let two_plus_one = add_one(2).await; // Pause, and wait for the result of add_one(2).

    println!("{one_plus_one}");
    println!("{two_plus_one}");
}

fn main() {
    seed_common::run(async_main()); // added: the listing only defines main
}
