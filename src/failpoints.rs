//! A process-wide pause point at the storage seam, for tests that prove concurrency facts by
//! construction instead of by timing.
//!
//! A test arms a storage step by name (`"get"`, `"scan"`, `"put_if_absent"`, ... — the names of
//! [`StepKind`]); the next call of any thread that reaches that step stops there until the test
//! releases it. While one call is stopped inside the library, the test runs Python code and a
//! second library call on another thread: if calls held the GIL, or one lock serialised them,
//! that cannot happen and the test fails (every wait is bounded, so it fails rather than hangs).
//!
//! Only compiled with the `failpoints` cargo feature (the test build); the shipped library has
//! none of it, and its `sheaf_debug_pause_*` functions return `SHEAF_ERR_UNSUPPORTED`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, ErrorKind, Result};
use crate::storage::{HookedStorage, SharedStorage, StepHook, StepKind};

/// How long a stopped call waits for its release before going on by itself (so a test that
/// forgets to release, or dies, never leaves a process hung).
const MAX_PAUSE: Duration = Duration::from_secs(60);

struct PausePoint {
    armed: Option<StepKind>,
    paused: bool,
    released: bool,
    /// The stopped call gave up waiting for its release and went on.
    expired: bool,
}

static POINT: Mutex<PausePoint> = Mutex::new(PausePoint {
    armed: None,
    paused: false,
    released: false,
    expired: false,
});
static CHANGED: Condvar = Condvar::new();

/// Arms `step`: the next storage call of that kind, on any thread, stops until [`release`].
pub fn arm(step: &str) -> Result<()> {
    let kind = StepKind::all()
        .iter()
        .copied()
        .find(|k| k.name() == step)
        .ok_or_else(|| {
            let known: Vec<&str> = StepKind::all().iter().map(|k| k.name()).collect();
            Error::invalid(format!(
                "unknown storage step {step:?} (known: {})",
                known.join(", ")
            ))
        })?;
    let mut point = POINT.lock();
    *point = PausePoint {
        armed: Some(kind),
        paused: false,
        released: false,
        expired: false,
    };
    Ok(())
}

/// Waits until a call is stopped at the armed step: `Ok` only while it is still stopped
/// (not released, not gone on by itself); `Timeout` otherwise.
pub fn wait_paused(timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut point = POINT.lock();
    while !point.paused {
        if CHANGED.wait_until(&mut point, deadline).timed_out() && !point.paused {
            return Err(Error::new(
                ErrorKind::Timeout,
                "no call reached the armed storage step in time",
            ));
        }
    }
    if point.expired || point.released {
        return Err(Error::new(
            ErrorKind::Timeout,
            "the call stopped at the armed step is no longer stopped (released, or it gave up waiting)",
        ));
    }
    Ok(())
}

/// Lets the stopped call go on, and disarms the point.
pub fn release() {
    let mut point = POINT.lock();
    point.armed = None;
    point.released = true;
    CHANGED.notify_all();
}

struct GlobalPause;

impl StepHook for GlobalPause {
    fn before(&self, step: StepKind) -> Result<()> {
        let mut point = POINT.lock();
        if point.armed != Some(step) || point.paused {
            return Ok(());
        }
        point.paused = true;
        CHANGED.notify_all();
        let deadline = Instant::now() + MAX_PAUSE;
        while !point.released {
            if CHANGED.wait_until(&mut point, deadline).timed_out() {
                point.expired = true;
                break;
            }
        }
        point.armed = None;
        Ok(())
    }
}

/// Every storage the library opens goes through the pause point.
pub(crate) fn wrap(storage: SharedStorage) -> SharedStorage {
    Arc::new(HookedStorage::new(storage, Arc::new(GlobalPause)))
}
