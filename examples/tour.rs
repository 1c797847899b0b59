//! A tour of ferrio's task model, run on both executor flavours: spawn, cancel, cancellation propagating
//! through awaits, shield, and panic isolation. Each step prints what happens with its time since the step
//! began.
//!
//! Run: `cargo run --release --example tour`
//!
//! The waits below use `after(d)`, a one-shot completed by a helper thread after `d`: the tour exercises
//! the scheduler and the task API only. (`ferrio::time::sleep` belongs to the time layer.)

use ferrio::{Runtime, Task};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Completes after `d`, woken from a helper thread.
fn after(d: Duration) -> impl Future<Output = ()> {
    let (tx, rx) = futures_channel::oneshot::channel::<()>();
    std::thread::spawn(move || {
        std::thread::sleep(d);
        let _ = tx.send(());
    });
    async move {
        let _ = rx.await;
    }
}

/// Prints lines stamped with the time since the step began.
#[derive(Clone)]
struct Clock(Instant);

impl Clock {
    fn start(title: &str) -> Clock {
        println!("\n== {title}");
        Clock(Instant::now())
    }
    fn say(&self, msg: impl AsRef<str>) {
        let ms = self.0.elapsed().as_secs_f64() * 1e3;
        println!("  [{ms:8.2} ms] {}", msg.as_ref());
    }
}

/// Announces when the future holding it is dropped (how cancellation shows up in Rust).
struct OnDrop(Clock, &'static str);
impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.say(format!("{} dropped", self.1));
    }
}

async fn delay(clock: Clock, name: &'static str, ms: u64) -> u64 {
    let _guard = OnDrop(clock.clone(), name);
    clock.say(format!("{name}: sleeping for {ms} ms"));
    after(Duration::from_millis(ms)).await;
    clock.say(format!("{name}: finished sleeping for {ms} ms"));
    ms
}

async fn spawn_step() {
    let clock = Clock::start("spawn: three 100 ms tasks run concurrently (about 100 ms, not 300)");
    let tasks: Vec<Task<u64>> = ["a", "b", "c"]
        .into_iter()
        .map(|name| ferrio::spawn(delay(clock.clone(), name, 100)))
        .collect();
    clock.say("spawned three tasks; none has run yet on the current-thread flavour");
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("task failed");
    }
    clock.say(format!("all done, results sum to {total}"));
}

async fn cancel_step() {
    let clock = Clock::start("cancel: stop a 10 s task after 50 ms");
    let mut long = ferrio::spawn(delay(clock.clone(), "long", 10_000));
    after(Duration::from_millis(50)).await;
    clock.say(format!("cancel() -> {}", long.cancel()));
    clock.say(format!(
        "is_cancelled={} is_done={} (done once the loop drops it)",
        long.is_cancelled(),
        long.is_done()
    ));
    match (&mut long).await {
        Ok(v) => clock.say(format!("unexpected result {v}")),
        Err(e) => clock.say(format!("await -> Err: {e}")),
    }
    clock.say(format!("is_done={}", long.is_done()));
}

async fn propagation_step() {
    let clock =
        Clock::start("propagation: cancelling a parent cancels what it awaits, down the chain");
    let c = clock.clone();
    let parent = ferrio::spawn(async move {
        let _guard = OnDrop(c.clone(), "parent");
        let c2 = c.clone();
        let child = ferrio::spawn(async move {
            let _guard = OnDrop(c2.clone(), "child");
            let grandchild = ferrio::spawn(delay(c2.clone(), "grandchild", 10_000));
            grandchild.await
        });
        child.await
    });
    after(Duration::from_millis(50)).await;
    clock.say("cancelling parent");
    parent.cancel();
    let result = parent.await;
    clock.say(format!(
        "parent -> {:?}",
        result.map(|_| ()).map_err(|e| e.to_string())
    ));
    // The grandchild was cancelled because its awaiter went away; on the current-thread flavour the loop
    // drops it on its next turn (as asyncio would), so give it that turn.
    for _ in 0..3 {
        ferrio::yield_now().await;
    }
}

async fn shield_step() {
    let clock = Clock::start("shield: an abandoned await does not cancel a shielded task");
    let mut work = ferrio::spawn(delay(clock.clone(), "shielded", 150));
    let c = clock.clone();
    let watcher_done = Arc::new(AtomicUsize::new(0));
    let flag = watcher_done.clone();
    // The watcher gives up after 50 ms, like `wait_for(shield(task), 0.05)`.
    let gave_up = {
        let shielded = ferrio::shield(&mut work);
        let deadline = after(Duration::from_millis(50));
        futures_lite_race(shielded, deadline).await
    };
    flag.fetch_add(1, Ordering::SeqCst);
    c.say(format!(
        "watcher gave up: {gave_up}; task is_cancelled={} is_done={}",
        work.is_cancelled(),
        work.is_done()
    ));
    let value = work.await.expect("shielded task should finish");
    clock.say(format!("awaited the shielded task afterwards: {value}"));
    assert_eq!(watcher_done.load(Ordering::SeqCst), 1);
}

/// Races `work` against `deadline`; true if the deadline won (then `work` is dropped).
async fn futures_lite_race<A: Future, B: Future<Output = ()>>(work: A, deadline: B) -> bool {
    let work = async move {
        work.await;
        false
    };
    let deadline = async move {
        deadline.await;
        true
    };
    futures_lite::future::race(work, deadline).await
}

async fn panic_step() {
    let clock = Clock::start("panic isolation: a panicking task fails alone");
    let bad = ferrio::spawn(async { panic!("something broke") });
    let good = ferrio::spawn(async { 42 });
    match bad.await {
        Err(e) if e.is_panic() => clock.say(format!("bad task -> {e}")),
        other => clock.say(format!("unexpected: {other:?}")),
    }
    clock.say(format!(
        "good task -> {:?}",
        good.await.map_err(|e| e.to_string())
    ));
}

fn tour(rt: &Runtime, label: &str) {
    println!("\n##### {label}");
    let started = Instant::now();
    rt.block_on(async {
        spawn_step().await;
        cancel_step().await;
        propagation_step().await;
        shield_step().await;
        panic_step().await;
    });
    println!(
        "\n{label}: tour finished in {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
}

fn main() {
    // Keep the demo output readable: report task panics through their `TaskError`, not the panic hook.
    std::panic::set_hook(Box::new(|_| {}));
    let mt = Runtime::builder()
        .worker_threads(2)
        .build()
        .expect("build multi-thread runtime");
    tour(&mt, "multi-thread flavour (2 workers)");
    drop(mt);
    let ct = Runtime::builder()
        .current_thread()
        .build()
        .expect("build current-thread runtime");
    tour(&ct, "current-thread flavour (asyncio order)");
}
