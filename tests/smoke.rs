use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
#[test]
fn smoke() {
    for flavor in [false, true] {
        let mut b = ferrio::Runtime::builder();
        if flavor {
            b.current_thread();
        } else {
            b.worker_threads(2);
        }
        let rt = b.build().unwrap();
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = n.clone();
        let out = rt.block_on(async move {
            let mut tasks = Vec::new();
            for i in 0..1000 {
                let n = n2.clone();
                tasks.push(ferrio::spawn(async move {
                    ferrio::yield_now().await;
                    n.fetch_add(1, Ordering::SeqCst);
                    i
                }));
            }
            let mut sum = 0;
            for t in tasks {
                sum += t.await.unwrap();
            }
            sum
        });
        assert_eq!(out, 999 * 1000 / 2);
        assert_eq!(n.load(Ordering::SeqCst), 1000);
    }
}
