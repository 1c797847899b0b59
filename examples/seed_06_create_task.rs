//! Seed chapter, listing 6 ("Creating a task"): `asyncio.create_task` is `ferrio::spawn`, which returns a
//! `Task` at once; the task starts on the runtime's next turn, and awaiting it gives its result.
//!
//! Python prints `type(task)` (`<class '_asyncio.Task'>`); this prints the Rust type's name.
//!
//! Run: `cargo run --example seed_06_create_task [-- --current-thread]`

#[path = "seed_common/mod.rs"]
mod seed_common;

use seed_common::delay;
use std::any::type_name_of_val;

async fn async_main() {
    let sleep_for_three = ferrio::spawn(delay(3));
    println!("{}", type_name_of_val(&sleep_for_three));
    let result = sleep_for_three.await.expect("delay(3) failed");
    println!("{result}");
}

fn main() {
    seed_common::run(async_main());
}
