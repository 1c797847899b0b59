//! The seed chapter's `async_timed` decorator (section 2.6), with `ferrio::time::timed`.
//!
//! Python wraps a coroutine function so every call prints `starting <func> with args ...` and, when it
//! returns, `finished <func> in X second(s)`. In Rust the same wrapper is a function that takes the call's
//! name, its arguments and the future, and awaits it through `timed`, which yields `(output, elapsed)`.
//! (The seed listing's `return wrapped` sits inside `wrapped`, so the decorator would return None; the
//! working decorator returns `wrapped` from `wrapper`, which is what this mirrors.)
//!
//! Run: `cargo run --example async_timed` (add `--current-thread` for that flavour).

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

/// Prints the decorator's two lines around `future`.
async fn async_timed<F: Future>(name: &str, args: impl Debug, future: F) -> F::Output {
    println!("starting {name} with args {args:?} {{}}");
    let (output, elapsed) = ferrio::time::timed(future).await;
    println!("finished {name} in {:.4} second(s)", elapsed.as_secs_f64());
    output
}

async fn delay(seconds: u64) -> u64 {
    println!("sleeping for {seconds} second(s)");
    ferrio::time::sleep(Duration::from_secs(seconds)).await;
    println!("finished sleeping for {seconds} second(s)");
    seconds
}

async fn main_async() {
    let task_one = ferrio::spawn(async_timed("delay", (2,), delay(2)));
    let task_two = ferrio::spawn(async_timed("delay", (3,), delay(3)));
    let (one, two) = async_timed("main", (), async move { (task_one.await, task_two.await) }).await;
    println!("results: {} and {}", one.unwrap(), two.unwrap());
}

fn main() {
    let mut builder = ferrio::Runtime::builder();
    if std::env::args().any(|a| a == "--current-thread") {
        builder.current_thread();
    }
    let runtime = builder.build().expect("build runtime");
    runtime.block_on(main_async());
}
