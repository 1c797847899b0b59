//! The cooperative budget: a task that keeps making progress without ever returning `Pending` is forced to
//! yield after `BUDGET` operations, so it cannot starve the other tasks of its worker.
//!
//! The executor grants a fresh budget around each task poll (`with_budget`); operations that may complete
//! without waiting (awaiting a finished task, and in later layers socket reads and writes) charge one unit
//! through `poll_proceed`. With the budget spent, they wake the task and return `Pending`, which sends it to
//! the back of the run queue. Outside a task poll (`block_on`'s own future, other executors) the budget is
//! unlimited. The budget is a thread-local `Cell`: no atomics on this path.

use std::cell::Cell;
use std::task::{Context, Poll};

/// Operations a task may perform per poll before it is forced to yield.
pub(crate) const BUDGET: u8 = 128;

thread_local! {
    /// `None`: unlimited (not inside a task poll).
    static REMAINING: Cell<Option<u8>> = const { Cell::new(None) };
}

/// Runs `f` (one task poll) with a fresh budget, restoring the previous one afterwards, even on panic.
/// Also returns whether the poll spent the whole budget (it was, or would next have been, made to yield:
/// the stats' budget-forced yields).
pub(crate) fn with_budget<R>(f: impl FnOnce() -> R) -> (R, bool) {
    struct Restore(Option<u8>);
    impl Drop for Restore {
        fn drop(&mut self) {
            REMAINING.with(|r| r.set(self.0));
        }
    }
    let _restore = Restore(REMAINING.with(|r| r.replace(Some(BUDGET))));
    let out = f();
    (out, REMAINING.with(|r| r.get() == Some(0)))
}

/// Charges one unit. `Pending` (after waking the task) when the budget is spent. The returned token refunds
/// the unit on drop unless the operation calls `made_progress`.
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<Charge> {
    REMAINING.with(|r| match r.get() {
        None => Poll::Ready(Charge { charged: false }),
        Some(0) => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Some(n) => {
            r.set(Some(n - 1));
            Poll::Ready(Charge { charged: true })
        }
    })
}

/// One unit of budget taken by `poll_proceed`.
pub(crate) struct Charge {
    charged: bool,
}

impl Charge {
    /// The operation completed: keep the unit spent.
    pub(crate) fn made_progress(mut self) {
        self.charged = false;
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if self.charged {
            REMAINING.with(|r| r.set(r.get().map(|n| n.saturating_add(1))));
        }
    }
}

/// True if the current task has budget left (or no budget applies).
#[cfg(all(test, not(ferrio_loom)))]
pub(crate) fn has_budget_remaining() -> bool {
    REMAINING.with(|r| r.get() != Some(0))
}

#[cfg(all(test, not(ferrio_loom)))]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn budget_runs_out_and_refunds() {
        let mut cx = Context::from_waker(Waker::noop());
        assert!(poll_proceed(&mut cx).is_ready()); // unlimited outside a poll
        let ((), spent) = with_budget(|| {
            for _ in 0..BUDGET {
                let Poll::Ready(c) = poll_proceed(&mut cx) else {
                    panic!("budget ran out early")
                };
                c.made_progress();
            }
            assert!(!has_budget_remaining());
            assert!(poll_proceed(&mut cx).is_pending());
        });
        assert!(
            spent,
            "a poll that used the whole budget is reported as forced to yield"
        );
        let ((), spent) = with_budget(|| {
            let Poll::Ready(c) = poll_proceed(&mut cx) else {
                panic!()
            };
            drop(c); // no progress: refunded
            REMAINING.with(|r| assert_eq!(r.get(), Some(BUDGET)));
        });
        assert!(!spent);
        REMAINING.with(|r| assert_eq!(r.get(), None));
    }
}
