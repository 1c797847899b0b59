//! Synchronisation primitives that tasks await.
//!
//! - `Promise<T>`: asyncio's `Future`: one value set once (or cancelled), awaited by any number of tasks on any
//!   threads and executors.

mod promise;

pub use promise::{Cancelled, Promise, Wait};
