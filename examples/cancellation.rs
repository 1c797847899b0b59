//! Cancellation, watched: how it propagates down a chain of awaits, how `shield` stops it, and what
//! `timeout` does to the task it gives up on.
//!
//! What it shows: `Task::cancel` only sets a flag (and reschedules an idle task); the scheduler then drops
//! the task's future instead of polling it, and dropping a future runs its destructors. A future that was
//! awaiting another task holds a join future (`Join` / `JoinRef`), whose destructor cancels that task: so
//! cancelling A, which awaits B, which awaits C, drops all three, each on whichever worker picks it up.
//! `shield(&mut task)` is a join future without that destructor; `timeout(d, &mut task)` drops its inner
//! future on expiry, which cancels the task unless the inner future is a `shield`. Each scene prints the
//! drop guards as they run, `is_cancelled()` / `is_done()` of every task, and the stats' `cancelled` and
//! `completed` counts over the scene (difference of two `stats()` snapshots).
//!
//! Run: `cargo run --release --example cancellation`

#[path = "teach_common/mod.rs"]
mod teach_common;

use ferrio::{Handle, Runtime, Task};
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use teach_common::{explain, thread_name};

/// Prints lines stamped with the time since the scene began.
#[derive(Clone)]
struct Clock(Instant);

impl Clock {
    fn start(title: &str) -> Clock {
        println!("\n-- {title}");
        Clock(Instant::now())
    }

    fn say(&self, msg: impl AsRef<str>) {
        let ms = self.0.elapsed().as_secs_f64() * 1e3;
        println!("  [{ms:7.2} ms] {}", msg.as_ref());
    }
}

/// Says when the future holding it is dropped, and whether it had finished by then.
struct DropGuard {
    name: &'static str,
    clock: Clock,
    finished: bool,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if self.finished {
            self.clock.say(format!("{}: finished normally", self.name));
        } else {
            self.clock.say(format!(
                "{}: drop guard ran on {}: its future was dropped before finishing (cancelled)",
                self.name,
                thread_name()
            ));
        }
    }
}

/// Runs `fut` with a drop guard named `name`.
async fn guarded<F: Future>(name: &'static str, clock: Clock, fut: F) -> F::Output {
    let mut guard = DropGuard {
        name,
        clock,
        finished: false,
    };
    let out = fut.await;
    guard.finished = true;
    out
}

/// A task handle that `main` keeps while another task awaits it: the awaiter borrows it (`lend`), and the
/// loan puts it back when it is dropped, including when the awaiter is cancelled and its future dropped.
/// That lets `main` ask the task `is_cancelled()` after a cancellation went past it.
struct Shelf<T>(Arc<Mutex<Option<Task<T>>>>);

struct Loan<T> {
    task: Option<Task<T>>,
    shelf: Arc<Mutex<Option<Task<T>>>>,
}

impl<T> Shelf<T> {
    fn new(task: Task<T>) -> Shelf<T> {
        Shelf(Arc::new(Mutex::new(Some(task))))
    }

    fn lend(&self) -> Loan<T> {
        Loan {
            task: self.0.lock().unwrap().take(),
            shelf: self.0.clone(),
        }
    }

    /// The handle back, once no loan is out.
    fn take(&self) -> Task<T> {
        self.0.lock().unwrap().take().expect("the task is on loan")
    }

    /// `is_cancelled` / `is_done` of the task, if it is on the shelf.
    fn state(&self) -> String {
        match &*self.0.lock().unwrap() {
            Some(task) => state(task),
            None => "on loan to its awaiter".to_owned(),
        }
    }
}

impl<T> Deref for Loan<T> {
    type Target = Task<T>;
    fn deref(&self) -> &Task<T> {
        self.task.as_ref().expect("lent task")
    }
}

impl<T> DerefMut for Loan<T> {
    fn deref_mut(&mut self) -> &mut Task<T> {
        self.task.as_mut().expect("lent task")
    }
}

impl<T> Drop for Loan<T> {
    fn drop(&mut self) {
        *self.shelf.lock().unwrap() = self.task.take();
    }
}

fn state<T>(task: &Task<T>) -> String {
    format!(
        "is_cancelled={} is_done={}",
        task.is_cancelled(),
        task.is_done()
    )
}

fn outcome<T: std::fmt::Debug>(r: &Result<T, ferrio::TaskError>) -> String {
    match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(e) if e.is_cancelled() => format!("Err(cancelled: {e})"),
        Err(e) => format!("Err({e})"),
    }
}

/// Prints the stats' task outcomes over a scene.
fn print_counts(handle: &Handle, before: &ferrio::RuntimeStats, expected: &str) {
    let d = handle.stats().total.since(&before.total);
    println!(
        "  stats over this scene: cancelled +{}, completed +{} ({expected})",
        d.cancelled, d.completed
    );
}

async fn propagation(handle: Handle) {
    let clock = Clock::start("propagation: A awaits B, B awaits C; cancel A");
    let before = handle.stats();
    let c = ferrio::spawn(guarded(
        "C",
        clock.clone(),
        ferrio::time::sleep(Duration::from_secs(10)),
    ));
    let c = Shelf::new(c);
    let mut c_loan = c.lend();
    let b = ferrio::spawn(guarded(
        "B",
        clock.clone(),
        async move { (&mut *c_loan).await },
    ));
    let b = Shelf::new(b);
    let mut b_loan = b.lend();
    let mut a = ferrio::spawn(guarded(
        "A",
        clock.clone(),
        async move { (&mut *b_loan).await },
    ));
    ferrio::time::sleep(Duration::from_millis(20)).await;
    clock.say(format!(
        "before: A {}; B and C are on loan to A and B",
        state(&a)
    ));
    clock.say(format!("A.cancel() -> {}", a.cancel()));
    clock.say(format!("right after cancel(): A {}", state(&a)));
    let result = (&mut a).await;
    clock.say(format!("await A -> {}", outcome(&result)));
    clock.say(format!("A {}", state(&a)));
    // A's future is gone, so its loan of B is back on the shelf; B's loan of C comes back once B's future
    // is dropped, on B's next turn.
    clock.say(format!("B {}", b.state()));
    let result = b.take().await;
    clock.say(format!("await B -> {}", outcome(&result)));
    let mut c = c.take();
    clock.say(format!("C {}", state(&c)));
    let result = (&mut c).await;
    clock.say(format!("await C -> {}", outcome(&result)));
    clock.say(format!("C {}", state(&c)));
    print_counts(&handle, &before, "A, B and C ended cancelled");
}

async fn shield(handle: Handle) {
    let clock = Clock::start("shield: the outer task awaits shield(inner); cancel the outer");
    let before = handle.stats();
    let inner = ferrio::spawn(guarded("inner", clock.clone(), async {
        ferrio::time::sleep(Duration::from_millis(100)).await;
        7
    }));
    let inner = Shelf::new(inner);
    let mut loan = inner.lend();
    let mut outer = ferrio::spawn(guarded("outer", clock.clone(), async move {
        ferrio::shield(&mut *loan).await
    }));
    ferrio::time::sleep(Duration::from_millis(20)).await;
    clock.say(format!("outer.cancel() -> {}", outer.cancel()));
    let result = (&mut outer).await;
    clock.say(format!("await outer -> {}", outcome(&result)));
    clock.say(format!("outer {}", state(&outer)));
    let mut inner = inner.take();
    clock.say(format!("inner {} (still running)", state(&inner)));
    let result = (&mut inner).await;
    clock.say(format!("await inner -> {}", outcome(&result)));
    print_counts(&handle, &before, "only the outer task ended cancelled");
}

async fn timeout(handle: Handle) {
    let clock = Clock::start("timeout: timeout(50 ms, &mut task) on a 200 ms task");
    let before = handle.stats();
    let mut slow = ferrio::spawn(guarded("slow", clock.clone(), async {
        ferrio::time::sleep(Duration::from_millis(200)).await;
        1
    }));
    let waited = ferrio::time::timeout(Duration::from_millis(50), &mut slow).await;
    clock.say(format!(
        "timeout -> {}",
        match &waited {
            Ok(r) => outcome(r),
            Err(e) => format!("Err({e})"),
        }
    ));
    clock.say(format!("slow {}", state(&slow)));
    let result = (&mut slow).await;
    clock.say(format!("await slow -> {}", outcome(&result)));
    print_counts(&handle, &before, "the abandoned task ended cancelled");

    let clock =
        Clock::start("timeout + shield: timeout(50 ms, shield(&mut task)) on a 100 ms task");
    let before = handle.stats();
    let mut kept = ferrio::spawn(guarded("kept", clock.clone(), async {
        ferrio::time::sleep(Duration::from_millis(100)).await;
        2
    }));
    let waited = ferrio::time::timeout(Duration::from_millis(50), ferrio::shield(&mut kept)).await;
    clock.say(format!(
        "timeout -> {}",
        match &waited {
            Ok(r) => outcome(r),
            Err(e) => format!("Err({e})"),
        }
    ));
    clock.say(format!("kept {} (still running)", state(&kept)));
    let result = (&mut kept).await;
    clock.say(format!("await kept -> {}", outcome(&result)));
    print_counts(&handle, &before, "nothing was cancelled");
}

fn main() {
    explain(
        "cancellation: propagation, shield, timeout",
        &[
            "cancel() marks a task; the scheduler then drops its future instead of polling it, and the",
            "future's destructors run. A future awaiting a task holds a join future whose destructor cancels",
            "that task: so cancelling A (awaiting B, awaiting C) drops all three. shield(&mut task) awaits",
            "without that destructor. timeout(d, &mut task) drops its inner future on expiry: the task is",
            "cancelled, unless the inner future is shield(&mut task). Drop guards print as they run; each",
            "scene ends with the stats' cancelled and completed counts.",
        ],
    );
    let rt = Runtime::builder()
        .worker_threads(2)
        .build()
        .expect("build the runtime");
    let handle = rt.handle();
    rt.block_on(async move {
        ferrio::spawn(async move {
            propagation(handle.clone()).await;
            shield(handle.clone()).await;
            timeout(handle).await;
        })
        .await
        .expect("the scenes failed");
    });
}
