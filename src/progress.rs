//! Progress of long operations (large writes, batch calls, compaction, staging finalize,
//! verify, reclaim), reported to a sink the calling thread installed.
//!
//! Why a per-thread sink rather than a parameter: progress is wanted on a dozen existing calls,
//! and the C ABI must stay stable. A caller installs a sink ([`set_thread_sink`], or
//! [`scoped`] for one block); the engine's long loops call [`report`], which costs one
//! thread-local read when nobody listens. Reports are made from the thread that runs the
//! operation's loop (the caller's), so a sink is only ever called while one of that thread's
//! calls runs, never after it returns.

use std::cell::RefCell;
use std::sync::Arc;

/// One step of a long operation: `done` of `total` `unit`s of `stage` (`total` 0 = unknown,
/// as for a stream whose length nobody knows in advance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// What runs: `"write"`, `"append"`, `"update"`, `"batch"`, `"compact"`, `"finalize"`,
    /// `"verify"`, `"reclaim"`.
    pub stage: &'static str,
    /// What `done` counts: `"rows"`, `"items"`, `"segments"`, `"chunks"`, `"entries"`, `"keys"`.
    pub unit: &'static str,
    pub done: u64,
    pub total: u64,
}

/// Receives progress; called on the thread that runs the operation.
pub type Sink = Arc<dyn Fn(&Progress) + Send + Sync>;

thread_local! {
    static SINK: RefCell<Option<Sink>> = const { RefCell::new(None) };
}

/// Installs `sink` for the operations this thread starts from now on (`None` removes it);
/// returns the one it replaces.
pub fn set_thread_sink(sink: Option<Sink>) -> Option<Sink> {
    SINK.with(|s| std::mem::replace(&mut *s.borrow_mut(), sink))
}

/// Runs `f` with `sink` installed, then puts back what was installed before (also when `f`
/// panics).
pub fn scoped<R>(sink: Option<Sink>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Option<Sink>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(previous) = self.0.take() {
                set_thread_sink(previous);
            }
        }
    }
    let _restore = Restore(Some(set_thread_sink(sink)));
    f()
}

/// Whether this thread has a sink (lets a loop skip counting nobody reads).
pub fn active() -> bool {
    SINK.with(|s| s.borrow().is_some())
}

/// Tells this thread's sink, if any, that `done` of `total` `unit`s of `stage` are done.
pub fn report(stage: &'static str, unit: &'static str, done: u64, total: u64) {
    // Cloned out of the cell so that a sink may itself install or clear sinks.
    let sink = SINK.with(|s| s.borrow().clone());
    if let Some(sink) = sink {
        sink(&Progress {
            stage,
            unit,
            done,
            total,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    fn recorder() -> (Sink, Arc<Mutex<Vec<Progress>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink_seen = seen.clone();
        let sink: Sink = Arc::new(move |p: &Progress| sink_seen.lock().push(*p));
        (sink, seen)
    }

    #[test]
    fn reports_reach_the_installed_sink_only_while_it_is_installed() {
        let (sink, seen) = recorder();
        report("write", "rows", 1, 0);
        scoped(Some(sink), || {
            assert!(active());
            report("write", "rows", 10, 0);
            report("batch", "items", 1, 2);
        });
        assert!(!active());
        report("write", "rows", 20, 0);
        let got = seen.lock().clone();
        assert_eq!(
            got,
            vec![
                Progress {
                    stage: "write",
                    unit: "rows",
                    done: 10,
                    total: 0
                },
                Progress {
                    stage: "batch",
                    unit: "items",
                    done: 1,
                    total: 2
                },
            ]
        );
    }

    #[test]
    fn a_sink_is_per_thread_and_scopes_nest() {
        let (outer, outer_seen) = recorder();
        let (inner, inner_seen) = recorder();
        scoped(Some(outer), || {
            std::thread::spawn(|| report("verify", "entries", 1, 1))
                .join()
                .ok();
            scoped(Some(inner), || report("compact", "segments", 1, 3));
            report("compact", "segments", 2, 3);
        });
        assert_eq!(outer_seen.lock().len(), 1);
        assert_eq!(outer_seen.lock()[0].done, 2);
        assert_eq!(inner_seen.lock().len(), 1);
        assert_eq!(inner_seen.lock()[0].done, 1);
    }
}
