//! Seed chapter, listing 2 ("Comparing coroutines to normal functions"): calling an `async fn` runs nothing;
//! it returns a future, as calling a coroutine function returns a coroutine object.
//!
//! Python prints the coroutine's repr and the two types; Rust has no repr for a future, so this prints its
//! type name (`std::any::type_name`, an `async fn`'s future is its `{{closure}}`) and, for the repr, the
//! address as `{:p}`. No event loop runs here, in either language, so the flavour switch does not apply.
//!
//! Run: `cargo run --example seed_02_coroutine_vs_function`

use std::any::type_name_of_val;

async fn coroutine_add_one(number: i64) -> i64 {
    number + 1
}

fn add_one(number: i64) -> i64 {
    number + 1
}

fn main() {
    let function_result = add_one(1);
    let coroutine_result = coroutine_add_one(1);

    println!(
        "Function result is {function_result} and the type is {}",
        type_name_of_val(&function_result)
    );
    println!(
        "Coroutine result is {} at {:p} and the type is {}",
        type_name_of_val(&coroutine_result),
        &coroutine_result,
        type_name_of_val(&coroutine_result)
    );
}
