//! A tour of ferrio's task model, run on both executor flavours: spawn, cancel, cancellation propagating
//! through awaits, shield, and panic isolation. Each step prints what happens with its time since the step
//! began.
//!
//! Run: `cargo run --release --example tour`
//!
//! Waits use `ferrio::time::sleep` and `ferrio::time::timeout` (asyncio's `sleep` and `wait_for`).

use ferrio::{Runtime, Task};
use std::time::{Duration, Instant};

/// Completes after `d` (asyncio.sleep).
fn after(d: Duration) -> ferrio::time::Sleep {
    ferrio::time::sleep(d)
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

async fn wait_for_step() {
    let clock = Clock::start("wait_for: a timeout cancels the task it abandons");
    let mut task = ferrio::spawn(delay(clock.clone(), "slow", 200));
    match ferrio::time::timeout(Duration::from_millis(100), &mut task).await {
        Ok(v) => clock.say(format!("result {v:?}")),
        Err(e) => {
            clock.say(format!("Got a timeout ({e})"));
            clock.say(format!("Was the task cancelled? {}", task.is_cancelled()));
        }
    }
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
    // wait_for(shield(task), 0.05): the timeout gives up, the shielded task runs on.
    let waited = ferrio::time::timeout(Duration::from_millis(50), ferrio::shield(&mut work)).await;
    clock.say(format!(
        "timeout -> {:?}; task is_cancelled={} is_done={}",
        waited.map(|r| r.map_err(|e| e.to_string())),
        work.is_cancelled(),
        work.is_done()
    ));
    let value = work.await.expect("shielded task should finish");
    clock.say(format!("awaited the shielded task afterwards: {value}"));
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
        wait_for_step().await;
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
