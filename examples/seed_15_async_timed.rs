//! Seed chapter, listing 15 ("A decorator for timing coroutines"): `async_timed` prints
//! `starting <func> with args <args> <kwargs>` when a call starts and `finished <func> in X second(s)`
//! when it returns, timed with `ferrio::time::timed`.
//!
//! Rust has no decorators: `async_timed(func, args)` is `async_timed()(func)(*args)`, `func` called with
//! its arguments as a tuple (printed with `{:?}`, which writes `()` and `(2,)` as Python does), `func`
//! printed by its type name (a function item's is its path), and `{}` for the keyword arguments Rust has
//! not got. One difference: the `finally` line is not printed if the call is cancelled (nothing here is).
//!
//! The listing only defines the decorator; like its Python twin, this uses it as the book's next listing
//! does: `main` spawns `delay(2)` and `delay(3)`, both timed, and awaits them (3 seconds in all).
//!
//! Run: `cargo run --example seed_15_async_timed [-- --current-thread]`

#[path = "seed_common/mod.rs"]
mod seed_common;

use seed_common::delay;
use std::any::type_name;
use std::fmt::Debug;
use std::future::Future;

/// A function called with a tuple of arguments (Python's `func(*args)`), for zero and one argument.
trait CallWith<Args> {
    type Output;
    fn call_with(self, args: Args) -> Self::Output;
}

impl<F: FnOnce() -> R, R> CallWith<()> for F {
    type Output = R;
    fn call_with(self, (): ()) -> R {
        self()
    }
}

impl<F: FnOnce(A) -> R, A, R> CallWith<(A,)> for F {
    type Output = R;
    fn call_with(self, (a,): (A,)) -> R {
        self(a)
    }
}

/// `async_timed()(func)(*args)`.
// fix: the seed's `return wrapped` sits inside `wrapped` (its decorator returns None); this returns the output
async fn async_timed<F, Args>(func: F, args: Args) -> <F::Output as Future>::Output
where
    F: CallWith<Args>,
    F::Output: Future,
    Args: Debug,
{
    let name = type_name::<F>();
    println!("starting {name} with args {args:?} {{}}");
    let (output, total) = ferrio::time::timed(func.call_with(args)).await;
    println!("finished {name} in {:.4} second(s)", total.as_secs_f64());
    output
}

async fn async_main() {
    let task_one = ferrio::spawn(async_timed(delay, (2,)));
    let task_two = ferrio::spawn(async_timed(delay, (3,)));
    task_one.await.expect("delay(2) failed");
    task_two.await.expect("delay(3) failed");
}

fn main() {
    seed_common::run(async_timed(async_main, ())); // added: the listing only defines the decorator
}
