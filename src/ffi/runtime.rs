//! The runtime: errors and library-owned bytes, versions, status names, process-wide
//! configuration, the log callback, and the test-build hooks.

use std::ffi::{c_char, c_void};

use super::{guard, str_arg, SheafError, SheafStatus};
use crate::config::{self, LogLevel};
use crate::error::{Error, ErrorKind};

/// Major version of the library.
pub const SHEAF_VERSION_MAJOR: u32 = 0;
/// Minor version of the library.
pub const SHEAF_VERSION_MINOR: u32 = 1;
/// Patch version of the library.
pub const SHEAF_VERSION_PATCH: u32 = 0;
/// Version of the C ABI this header describes. It only grows; a binding built for ABI N works
/// with a library whose `sheaf_abi_version()` is N. Version 2: `SHEAF_MODE_UPDATE_NEW` took
/// Yokan's value (0x8000; it was 0x1000) and `SHEAF_MODE_NO_RDMA` (0x4000) was added. Version 3:
/// `sheaf_table_describe_batch`, `sheaf_table_write_metadata_batch`, `sheaf_table_stage_chunk`,
/// `sheaf_table_list_staged_chunks` and `sheaf_doc_load_into` were added, with stage and
/// finalize options for sorting, chunk ids, index validation and dropping refused chunks;
/// `sheaf_table_write_metadata` gives a symbol without versions a first (metadata-only) version
/// instead of `SHEAF_ERR_NO_SUCH_SYMBOL`; version infos carry `index_sorted`; reads take
/// `"strings"`. Version 4: `sheaf_table_merge`, `sheaf_table_read_concat` and
/// `sheaf_table_storage_sizes` were added, and write options take `"content"` (a version
/// holding one opaque object, named in version infos and descriptions);
/// `sheaf_table_update` with `upsert` of a missing symbol and no `index` writes the data
/// without an index (it was `SHEAF_ERR_INVALID_ARGUMENT`), and empty data updates a symbol
/// without an index (a new version with unchanged rows). Version 5: SQL (`sheaf_sql`,
/// `sheaf_store_sql`, their `_cancellable` forms and `SheafCancel`) and `SHEAF_ERR_CANCELLED`.
/// Version 6: progress of long operations (`sheaf_progress_set_callback`).
pub const SHEAF_ABI_VERSION: u32 = 6;

/// Log levels passed to a `SheafLogCallback` and accepted by config key `log_level`.
pub const SHEAF_LOG_ERROR: i32 = 1;
/// Warnings.
pub const SHEAF_LOG_WARN: i32 = 2;
/// Informational records (store opened, ...).
pub const SHEAF_LOG_INFO: i32 = 3;
/// Debugging records (commits, retries, garbage collection).
pub const SHEAF_LOG_DEBUG: i32 = 4;
/// Everything.
pub const SHEAF_LOG_TRACE: i32 = 5;

/// The library version as "MAJOR.MINOR.PATCH": static, NUL-terminated, never freed.
#[no_mangle]
pub extern "C" fn sheaf_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The C ABI version of the loaded library (compare with `SHEAF_ABI_VERSION`).
#[no_mangle]
pub extern "C" fn sheaf_abi_version() -> u32 {
    SHEAF_ABI_VERSION
}

/// The constant name of a status code, e.g. "SHEAF_ERR_NO_SUCH_SYMBOL"; "SHEAF_OK" for 0 and
/// "SHEAF_ERR_UNKNOWN" for a code this library does not know. Static, never freed.
#[no_mangle]
pub extern "C" fn sheaf_status_name(status: SheafStatus) -> *const c_char {
    if status == 0 {
        return c"SHEAF_OK".as_ptr();
    }
    let name: &'static str = match ErrorKind::from_code(status) {
        Some(kind) => kind.name(),
        None => return c"SHEAF_ERR_UNKNOWN".as_ptr(),
    };
    // The names are interned once so the pointer stays valid forever.
    static NAMES: std::sync::OnceLock<Vec<(i32, std::ffi::CString)>> = std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| {
        ErrorKind::ALL
            .iter()
            .map(|k| {
                (
                    k.code(),
                    std::ffi::CString::new(k.name()).unwrap_or_default(),
                )
            })
            .collect()
    });
    names.iter().find(|(code, _)| *code == status).map_or(
        c"SHEAF_ERR_UNKNOWN".as_ptr(),
        |(_, s)| {
            debug_assert_eq!(s.to_str().ok(), Some(name));
            s.as_ptr()
        },
    )
}

/// Sets an integer configuration value for the whole process.
///
/// Keys: `log_level` (0 off, 1 error, 2 warn — the default —, 3 info, 4 debug, 5 trace);
/// `lmdb.map_size` (bytes; default 64 GiB; applies to LMDB stores opened afterwards without
/// `?map_size=`); `commit.max_retries` (default 1000; how often a commit that lost a race is
/// re-based before `SHEAF_ERR_CONFLICT`); `read.threads` (default 0 = one per core: how many
/// threads one read uses to load and decode segments, in order; 1 = only the calling thread).
///
/// Returns `SHEAF_ERR_UNKNOWN_CONFIG_KEY` for another key, `SHEAF_ERR_INVALID_ARGUMENT` for a
/// value out of range. Thread safety: safe from any thread.
///
/// Errors: SHEAF_ERR_UNKNOWN_CONFIG_KEY (a key it does not know), SHEAF_ERR_INVALID_ARGUMENT (a
/// value out of range for the key).
#[no_mangle]
pub extern "C" fn sheaf_config_set_int(
    key: *const c_char,
    key_len: usize,
    value: i64,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        config::set_int(str_arg(key, key_len, "key")?, value)
    })
}

/// Sets a configuration value from text: the keys of `sheaf_config_set_int`, where `log_level`
/// also takes "off", "error", "warn", "info", "debug", "trace" and `lmdb.map_size` takes sizes
/// like "64GB" or "1TB" (binary multiples).
///
/// Errors: SHEAF_ERR_UNKNOWN_CONFIG_KEY, SHEAF_ERR_INVALID_ARGUMENT (text the key cannot take, e.g.
/// "12XB").
#[no_mangle]
pub extern "C" fn sheaf_config_set_string(
    key: *const c_char,
    key_len: usize,
    value: *const c_char,
    value_len: usize,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        config::set_string(
            str_arg(key, key_len, "key")?,
            str_arg(value, value_len, "value")?,
        )
    })
}

/// Receives log records: `level` is one of `SHEAF_LOG_*`; `message` is UTF-8 of `len` bytes,
/// valid only during the call (also NUL-terminated). May be called from any thread, from inside
/// any Sheaf call; it must not call back into Sheaf's configuration functions.
pub type SheafLogCallback = Option<
    unsafe extern "C" fn(level: i32, message: *const c_char, len: usize, user_data: *mut c_void),
>;

struct CallbackTarget {
    callback: unsafe extern "C" fn(i32, *const c_char, usize, *mut c_void),
    user_data: *mut c_void,
}

impl CallbackTarget {
    fn deliver(&self, level: LogLevel, message: &str) {
        let mut text = message.replace('\0', " ").into_bytes();
        let len = text.len();
        text.push(0);
        // SAFETY: the callback was supplied by the caller for exactly this use.
        unsafe { (self.callback)(level as i32, text.as_ptr().cast(), len, self.user_data) };
    }
}

// SAFETY: the C contract of `sheaf_log_set_callback` makes the callback and its user data
// usable from any thread.
unsafe impl Send for CallbackTarget {}
// SAFETY: as above.
unsafe impl Sync for CallbackTarget {}

/// Installs the function that receives log records (NULL removes it). Records below the level
/// set with config `log_level` are not produced at all. `user_data` is passed back unchanged.
///
/// Errors: none of its own (see Conventions).
#[no_mangle]
pub extern "C" fn sheaf_log_set_callback(
    callback: SheafLogCallback,
    user_data: *mut c_void,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let sink: Option<config::LogSink> = callback.map(|callback| {
            let target = CallbackTarget {
                callback,
                user_data,
            };
            Box::new(move |level: LogLevel, message: &str| target.deliver(level, message))
                as config::LogSink
        });
        config::set_log_sink(sink);
        Ok(())
    })
}

/// Receives progress of a long operation: `done` of `total` `unit`s of `stage` (`total` 0 = not
/// known in advance, as for the rows of a stream). `stage` is `"write"`, `"append"`,
/// `"update"`, `"stage"` (unit `"rows"`), `"batch"` (`"items"`: a batch call's finished
/// items), `"compact"` (`"segments"`), `"finalize"` (`"chunks"`), `"verify"` (`"entries"`:
/// libraries, key spaces, collections) or `"reclaim"` (`"entries"`, then `"keys"` removed);
/// more may come, so ignore what you do not know. Both are NUL-terminated ASCII, valid only
/// during the call. Called on the thread that made the Sheaf call, while that call runs; it
/// should return quickly and must not call Sheaf.
pub type SheafProgressCallback = Option<
    unsafe extern "C" fn(
        stage: *const c_char,
        unit: *const c_char,
        done: u64,
        total: u64,
        user_data: *mut c_void,
    ),
>;

struct ProgressTarget {
    callback: unsafe extern "C" fn(*const c_char, *const c_char, u64, u64, *mut c_void),
    user_data: *mut c_void,
}

impl ProgressTarget {
    fn deliver(&self, p: &crate::progress::Progress) {
        // The engine's names are static ASCII without NULs; a CString adds the NUL.
        let stage = std::ffi::CString::new(p.stage).unwrap_or_default();
        let unit = std::ffi::CString::new(p.unit).unwrap_or_default();
        // SAFETY: the callback was supplied by the caller for exactly this use.
        unsafe {
            (self.callback)(
                stage.as_ptr(),
                unit.as_ptr(),
                p.done,
                p.total,
                self.user_data,
            )
        };
    }
}

// SAFETY: a progress sink is thread-local (crate::progress) and only ever called on the
// thread that installed it; Send + Sync are what the sink type asks for, not what it uses.
unsafe impl Send for ProgressTarget {}
// SAFETY: as above.
unsafe impl Sync for ProgressTarget {}

/// Installs the function that receives the progress of the long calls THIS THREAD makes from
/// now on (NULL removes it; each thread has its own, so concurrent calls on other threads do
/// not report here). `user_data` is passed back unchanged. Reporting calls: the table writes,
/// appends, updates and stages of streams, the batch calls (`sheaf_table_*_batch`, not reads),
/// `sheaf_table_compact`, `sheaf_table_finalize_staged`, `sheaf_store_verify` and
/// `sheaf_store_reclaim`.
///
/// Errors: none of its own (see Conventions).
#[no_mangle]
pub extern "C" fn sheaf_progress_set_callback(
    callback: SheafProgressCallback,
    user_data: *mut c_void,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let sink: Option<crate::progress::Sink> = callback.map(|callback| {
            let target = ProgressTarget {
                callback,
                user_data,
            };
            std::sync::Arc::new(move |p: &crate::progress::Progress| target.deliver(p))
                as crate::progress::Sink
        });
        crate::progress::set_thread_sink(sink);
        Ok(())
    })
}

/// For tests of the error path: panics inside the library and returns the status the panic
/// became (always `SHEAF_ERR_INTERNAL`), proving no panic crosses the C boundary. Only in the
/// test build (the `failpoints` feature); the shipped library does not export it.
///
/// Errors: always SHEAF_ERR_INTERNAL (that is its purpose).
#[cfg(feature = "failpoints")]
#[no_mangle]
pub extern "C" fn sheaf_debug_panic(err: *mut *mut SheafError) -> SheafStatus {
    guard(err, || -> crate::error::Result<()> {
        let trigger: Option<Error> = None;
        panic!(
            "sheaf_debug_panic was called ({:?})",
            trigger.map(|e| e.kind())
        )
    })
}

/// For tests that prove two calls run inside the library at once: arms the storage step named
/// `step` (`"get"`, `"get_many"`, `"put"`, `"put_if_absent"`, `"compare_and_swap"`, `"delete"`,
/// `"scan"`, `"write_batch"`, `"transact"`), so that the next call of any thread reaching that
/// step stops there until `sheaf_debug_pause_release` (or 60 s pass).
///
/// Only a library built with the `failpoints` feature (the test build) has the pause point;
/// the shipped library returns `SHEAF_ERR_UNSUPPORTED`. Errors: `SHEAF_ERR_INVALID_ARGUMENT`
/// for an unknown step, `SHEAF_ERR_INVALID_UTF8`.
#[no_mangle]
pub extern "C" fn sheaf_debug_pause_arm(
    step: *const c_char,
    step_len: usize,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let step = str_arg(step, step_len, "step")?;
        #[cfg(feature = "failpoints")]
        return crate::failpoints::arm(step);
        #[cfg(not(feature = "failpoints"))]
        return Err(no_failpoints(step));
    })
}

/// Waits up to `timeout_ms` for a call to stop at the armed step: `SHEAF_OK` while one is
/// stopped there, `SHEAF_ERR_TIMEOUT` if none got there or it is no longer stopped (released,
/// or it gave up after 60 s). `SHEAF_ERR_UNSUPPORTED` without the `failpoints` feature.
///
/// Errors: SHEAF_ERR_TIMEOUT (no call stopped at the armed step in time), SHEAF_ERR_UNSUPPORTED
/// (shipped build).
#[no_mangle]
pub extern "C" fn sheaf_debug_pause_wait(
    timeout_ms: u64,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        #[cfg(feature = "failpoints")]
        return crate::failpoints::wait_paused(std::time::Duration::from_millis(timeout_ms));
        #[cfg(not(feature = "failpoints"))]
        return Err(no_failpoints(&timeout_ms.to_string()));
    })
}

/// Lets the stopped call go on and disarms the step. `SHEAF_ERR_UNSUPPORTED` without the
/// `failpoints` feature.
///
/// Errors: SHEAF_ERR_UNSUPPORTED (shipped build).
#[no_mangle]
pub extern "C" fn sheaf_debug_pause_release(err: *mut *mut SheafError) -> SheafStatus {
    guard(err, || {
        #[cfg(feature = "failpoints")]
        {
            crate::failpoints::release();
            Ok(())
        }
        #[cfg(not(feature = "failpoints"))]
        return Err(no_failpoints("release"));
    })
}

#[cfg(not(feature = "failpoints"))]
fn no_failpoints(what: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "pause points ({what}) exist only in a library built with the `failpoints` feature"
        ),
    )
}
