//! An ordered, bounded pool of worker threads: what lets one read load and decode several
//! segments at once while its consumer still sees them in order.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};

/// Runs `task(0..n)` on worker threads and yields the results in index order, with at most
/// `window` results computed ahead of the consumer (bounded memory). Workers stop when the
/// iterator is dropped.
pub struct OrderedParallel<T: Send + 'static> {
    shared: Arc<(Mutex<ParallelState<T>>, Condvar)>,
    workers: Vec<std::thread::JoinHandle<()>>,
    next: usize,
    n: usize,
}

struct ParallelState<T> {
    next_task: usize,
    consumed: usize,
    results: BTreeMap<usize, Result<T>>,
    stop: bool,
}

impl<T: Send + 'static> OrderedParallel<T> {
    pub fn new<F>(n: usize, threads: usize, window: usize, task: F) -> Self
    where
        F: Fn(usize) -> Result<T> + Send + Sync + 'static,
    {
        let shared = Arc::new((
            Mutex::new(ParallelState {
                next_task: 0,
                consumed: 0,
                results: BTreeMap::new(),
                stop: false,
            }),
            Condvar::new(),
        ));
        let task = Arc::new(task);
        let window = window.max(1);
        let workers = (0..threads.clamp(1, n.max(1)))
            .map(|_| {
                let shared = shared.clone();
                let task = task.clone();
                std::thread::spawn(move || loop {
                    let i = {
                        let (lock, cv) = &*shared;
                        let mut st = lock.lock();
                        loop {
                            if st.stop || st.next_task >= n {
                                return;
                            }
                            if st.next_task < st.consumed + window {
                                break;
                            }
                            cv.wait(&mut st);
                        }
                        st.next_task += 1;
                        st.next_task - 1
                    };
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task(i)))
                        .unwrap_or_else(|_| Err(Error::internal("a query worker panicked")));
                    let (lock, cv) = &*shared;
                    lock.lock().results.insert(i, result);
                    cv.notify_all();
                })
            })
            .collect();
        OrderedParallel {
            shared,
            workers,
            next: 0,
            n,
        }
    }
}

impl<T: Send + 'static> Iterator for OrderedParallel<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        if self.next >= self.n {
            return None;
        }
        let (lock, cv) = &*self.shared;
        let mut st = lock.lock();
        loop {
            if let Some(r) = st.results.remove(&self.next) {
                self.next += 1;
                st.consumed = self.next;
                cv.notify_all();
                return Some(r);
            }
            cv.wait(&mut st);
        }
    }
}

impl<T: Send + 'static> Drop for OrderedParallel<T> {
    fn drop(&mut self) {
        {
            let (lock, cv) = &*self.shared;
            lock.lock().stop = true;
            cv.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}
