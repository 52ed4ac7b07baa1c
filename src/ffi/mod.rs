//! The C ABI. Thin: each export checks its arguments, calls the engine, and translates the
//! result. Every export runs inside [`guard`] (`catch_unwind`), so a panic becomes
//! `SHEAF_ERR_INTERNAL` instead of unwinding into C.

// Exports take raw pointers by nature; each one's contract (validity, lengths, ownership) is
// stated in the header, and NULL is checked before any dereference.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

// The header (cbindgen) declares functions in the order these modules appear: the order of
// use. Each group is kept apart so rustfmt does not sort them by name.
pub mod status;

// 1. the runtime: errors, bytes, version, configuration, logging, test hooks
mod runtime;

// 2. stores and libraries
mod store;

// 3. tables: write, read, versions, metadata
mod table;

// 4. snapshots
mod snapshot;

// 5. batch calls
mod batch;

// 6. staged writes
mod staging;

// 7. key spaces
mod kv;

// 8. document collections
mod collection;

// 9. SQL
mod sql;

// helpers, no exports
mod arrow;
mod packed;

use std::any::TypeId;
use std::collections::HashMap;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use parking_lot::RwLock;

pub(crate) use self::arrow::*;
pub use self::batch::*;
pub use self::collection::*;
pub use self::kv::*;
pub use self::runtime::*;
pub use self::snapshot::*;
pub use self::staging::*;
pub use self::status::*;
pub use self::store::*;
pub use self::table::*;
use crate::error::{Error, ErrorKind, Result};

/// An error returned through a `SheafError **err` argument: a status code and a UTF-8 message
/// with its cause chain. Free it with `sheaf_error_free`.
pub struct SheafError {
    code: SheafStatus,
    message: CString,
}

/// Bytes owned by the library (JSON text, metadata). Free with `sheaf_bytes_free`.
/// `data` is NULL when `len` is 0.
#[repr(C)]
pub struct SheafBytes {
    pub data: *mut u8,
    pub len: usize,
}

/// Live handles by address, with the kind of each, so that a second free, a call on a freed
/// handle (whose address was not reused) or a handle of another kind (an error passed as a
/// store, say) is refused instead of corrupting memory.
static LIVE_HANDLES: RwLock<Option<HashMap<usize, TypeId>>> = RwLock::new(None);

pub(crate) fn register_handle<T: 'static>(handle: Box<T>) -> *mut T {
    let ptr = Box::into_raw(handle);
    LIVE_HANDLES
        .write()
        .get_or_insert_with(HashMap::new)
        .insert(ptr as usize, TypeId::of::<T>());
    ptr
}

/// Takes back ownership of a handle; `None` for NULL or a pointer that is not a live handle.
pub(crate) fn unregister_handle<T: 'static>(ptr: *mut T) -> Option<Box<T>> {
    if ptr.is_null() {
        return None;
    }
    let removed = {
        let mut handles = LIVE_HANDLES.write();
        match handles
            .as_mut()
            .and_then(|m| m.get(&(ptr as usize)).copied())
        {
            Some(kind) if kind == TypeId::of::<T>() => {
                handles.as_mut().map(|m| m.remove(&(ptr as usize)));
                true
            }
            _ => false,
        }
    };
    if !removed {
        crate::config::log(crate::config::LogLevel::Error, || {
            format!(
                "ignored a free of {ptr:p}: not a live {} handle (double free, or the wrong free function?)",
                handle_kind::<T>()
            )
        });
        return None;
    }
    // SAFETY: the pointer came from `register_handle` (it was in the live set) and is removed
    // from the set, so it is turned back into a Box exactly once.
    Some(unsafe { Box::from_raw(ptr) })
}

/// The C name of a handle type, for messages (`SheafStore`, ...).
fn handle_kind<T>() -> &'static str {
    std::any::type_name::<T>()
        .rsplit("::")
        .next()
        .unwrap_or("Sheaf")
}

/// Frees a handle of any kind (NULL and non-live pointers are ignored), never unwinding.
pub(crate) fn free_handle<T: 'static>(ptr: *mut T) {
    let _ = catch_unwind(AssertUnwindSafe(|| drop(unregister_handle(ptr))));
}

/// Borrows a handle argument, refusing NULL and freed handles.
pub(crate) fn handle_ref<'a, T: 'static>(ptr: *const T, what: &str) -> Result<&'a T> {
    if ptr.is_null() {
        return Err(Error::new(
            ErrorKind::NullPointer,
            format!("the {what} handle is NULL"),
        ));
    }
    let kind = LIVE_HANDLES
        .read()
        .as_ref()
        .and_then(|m| m.get(&(ptr as usize)).copied());
    match kind {
        Some(k) if k == TypeId::of::<T>() => {}
        Some(_) => {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("the {what} handle is a live handle of another kind, not a {what}"),
            ))
        }
        None => {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("the {what} handle is not live (it was freed, or is not a {what})"),
            ))
        }
    }
    // SAFETY: the pointer is a live handle created by `register_handle`.
    Ok(unsafe { &*ptr })
}

fn new_error(e: &Error) -> *mut SheafError {
    let text = e.to_string().replace('\0', "\u{FFFD}");
    let message = CString::new(text).unwrap_or_default();
    register_handle(Box::new(SheafError {
        code: e.kind().code(),
        message,
    }))
}

thread_local! {
    /// Depth of panic-containing sections on this thread (exports and stream callbacks).
    static CONTAINING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Runs `f` catching panics. While inside, a panic's report goes to Sheaf's log (level error)
/// instead of the default hook's stderr message, since it is turned into a status anyway;
/// panics elsewhere in the process still reach the previous hook.
pub(crate) fn contain<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CONTAINING.with(|c| c.get()) > 0 {
                crate::config::log(crate::config::LogLevel::Error, || {
                    format!("caught a panic: {info}")
                });
            } else {
                previous(info);
            }
        }));
    });
    CONTAINING.with(|c| c.set(c.get() + 1));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    CONTAINING.with(|c| c.set(c.get() - 1));
    outcome
}

/// Runs an export body: catches panics, stores the error in `*err` (when `err` is not NULL),
/// and returns the status.
pub(crate) fn guard(err: *mut *mut SheafError, body: impl FnOnce() -> Result<()>) -> SheafStatus {
    let outcome = contain(body).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Err(Error::internal(format!(
            "internal error (a panic was caught; please report it): {what}"
        )))
    });
    match outcome {
        Ok(()) => SHEAF_OK,
        Err(e) => {
            crate::config::log(crate::config::LogLevel::Debug, || {
                format!("returning {}: {e}", e.kind().name())
            });
            if !err.is_null() {
                // SAFETY: the caller passes either NULL or a valid `SheafError **`.
                unsafe { *err = new_error(&e) };
            }
            e.kind().code()
        }
    }
}

/// Writes through an out-pointer, refusing NULL.
pub(crate) fn write_out<T>(out: *mut T, what: &str, value: T) -> Result<()> {
    if out.is_null() {
        return Err(Error::new(
            ErrorKind::NullPointer,
            format!("the out-pointer {what} is NULL"),
        ));
    }
    // SAFETY: non-NULL and, by the C contract, pointing at writable memory for a T.
    unsafe { out.write(value) };
    Ok(())
}

/// Checks that an out-pointer is not NULL before any work is done.
pub(crate) fn require_out<T>(out: *mut T, what: &str) -> Result<()> {
    if out.is_null() {
        return Err(Error::new(
            ErrorKind::NullPointer,
            format!("the out-pointer {what} is NULL"),
        ));
    }
    Ok(())
}

/// Borrows `(ptr, len)` bytes; NULL is allowed only with `len == 0`.
/// Refuses an item count no real call can have: slices and vectors of that many items cannot
/// exist (Rust and C both cap an object at `isize::MAX` bytes), so such a count is a caller bug
/// to report, not an allocation to attempt.
pub(crate) fn count_arg(n: usize, what: &str) -> Result<()> {
    const MAX_ITEMS: usize = (isize::MAX as usize) / 64;
    if n > MAX_ITEMS {
        return Err(Error::invalid(format!(
            "{what} is {n}, more than any array can hold (at most {MAX_ITEMS})"
        )));
    }
    Ok(())
}

pub(crate) fn bytes_arg<'a>(ptr: *const u8, len: usize, what: &str) -> Result<&'a [u8]> {
    if len > isize::MAX as usize {
        return Err(Error::invalid(format!(
            "{what} has length {len}, more than any buffer can hold"
        )));
    }
    if ptr.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return Err(Error::new(
            ErrorKind::NullPointer,
            format!("{what} is NULL with length {len}"),
        ));
    }
    // SAFETY: the caller guarantees `len` readable bytes at `ptr` for the duration of the call.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows `(ptr, len)` UTF-8 text; NULL is refused.
pub(crate) fn str_arg<'a>(ptr: *const c_char, len: usize, what: &str) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(Error::new(
            ErrorKind::NullPointer,
            format!("{what} is NULL"),
        ));
    }
    let bytes = bytes_arg(ptr.cast(), len, what)?;
    std::str::from_utf8(bytes).map_err(|e| {
        Error::new(ErrorKind::InvalidUtf8, format!("{what} is not valid UTF-8")).caused_by(e)
    })
}

/// Like [`str_arg`], but NULL means "" (used for optional JSON options).
pub(crate) fn opt_str_arg<'a>(ptr: *const c_char, len: usize, what: &str) -> Result<&'a str> {
    if ptr.is_null() && len == 0 {
        return Ok("");
    }
    str_arg(ptr, len, what)
}

/// Hands bytes to the caller as a `SheafBytes`.
pub(crate) fn bytes_out(out: *mut SheafBytes, what: &str, data: Vec<u8>) -> Result<()> {
    let value = if data.is_empty() {
        SheafBytes {
            data: std::ptr::null_mut(),
            len: 0,
        }
    } else {
        let boxed = data.into_boxed_slice();
        let len = boxed.len();
        SheafBytes {
            data: Box::into_raw(boxed).cast::<u8>(),
            len,
        }
    };
    if out.is_null() {
        // SAFETY: freeing what we just allocated.
        unsafe { free_bytes(value) };
        return Err(Error::new(
            ErrorKind::NullPointer,
            format!("the out-pointer {what} is NULL"),
        ));
    }
    // SAFETY: non-NULL, writable by contract.
    unsafe { out.write(value) };
    Ok(())
}

unsafe fn free_bytes(bytes: SheafBytes) {
    if !bytes.data.is_null() && bytes.len > 0 {
        // SAFETY: `data`/`len` came from `Box<[u8]>::into_raw` in `bytes_out`.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(bytes.data, bytes.len)) });
    }
}

pub(crate) fn json_out<T: serde::Serialize>(
    out: *mut SheafBytes,
    what: &str,
    value: &T,
) -> Result<()> {
    let text = serde_json::to_vec(value)
        .map_err(|e| Error::internal("cannot encode JSON").caused_by(e))?;
    bytes_out(out, what, text)
}

/// The status code of an error. A NULL error gives `SHEAF_OK`.
///
/// Thread safety: safe from any thread.
#[no_mangle]
pub extern "C" fn sheaf_error_code(err: *const SheafError) -> SheafStatus {
    catch_unwind(|| handle_ref(err, "error").map_or(SHEAF_OK, |e| e.code))
        .unwrap_or(SHEAF_ERR_INTERNAL)
}

/// The error's message: NUL-terminated UTF-8, owned by the error and valid until
/// `sheaf_error_free`. A NULL error gives "".
#[no_mangle]
pub extern "C" fn sheaf_error_message(err: *const SheafError) -> *const c_char {
    catch_unwind(|| handle_ref(err, "error").map_or(c"".as_ptr(), |e| e.message.as_ptr()))
        .unwrap_or(c"".as_ptr())
}

/// Frees an error. NULL is ignored; a second free of the same error is detected and ignored.
#[no_mangle]
pub extern "C" fn sheaf_error_free(err: *mut SheafError) {
    free_handle(err);
}

/// Frees bytes returned by the library and resets `*bytes` to `{NULL, 0}`, so a second call
/// does nothing. NULL is ignored.
#[no_mangle]
pub extern "C" fn sheaf_bytes_free(bytes: *mut SheafBytes) {
    if bytes.is_null() {
        return;
    }
    let _ = catch_unwind(|| {
        // SAFETY: non-NULL by the check above; the caller passes a SheafBytes we filled.
        let taken = unsafe {
            std::ptr::replace(
                bytes,
                SheafBytes {
                    data: std::ptr::null_mut(),
                    len: 0,
                },
            )
        };
        // SAFETY: the bytes came from `bytes_out`.
        unsafe { free_bytes(taken) };
    });
}
