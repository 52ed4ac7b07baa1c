//! Stores and libraries: open a store from a URI; create, open, list and delete its
//! libraries; check the whole store (verify) and remove what crashes and drops left behind
//! (reclaim). A library handle is what the table, snapshot, batch and staging calls take.

use std::ffi::c_char;

use super::{
    bytes_out, free_handle, guard, handle_ref, json_out, opt_str_arg, register_handle, require_out,
    str_arg, write_out, SheafBytes, SheafError, SheafStatus,
};
use crate::store::{LibraryOptions, Store};

/// An open store. Safe to share between threads.
pub struct SheafStore {
    pub(crate) store: Store,
}

/// A library inside a store. Safe to share between threads. Holds its own reference to the
/// store, so it may outlive the `SheafStore` handle (but not `sheaf_store_close`).
pub struct SheafLibrary {
    pub(crate) library: crate::store::Library,
}

pub(crate) fn store_ref<'a>(store: *const SheafStore) -> crate::error::Result<&'a Store> {
    Ok(&handle_ref(store, "store")?.store)
}

pub(crate) fn library_ref<'a>(
    lib: *const SheafLibrary,
) -> crate::error::Result<&'a crate::store::Library> {
    Ok(&handle_ref(lib, "library")?.library)
}

/// Opens a store.
///
/// `uri` (UTF-8, `uri_len` bytes): `mem://` (a new private in-memory store), `mem://NAME` (an
/// in-memory store shared in this process by name), `lmdb:///absolute/path[?map_size=64GB]`,
/// or a plain path (same as `lmdb://`). LMDB stores may be opened by several processes at once.
/// `s3://BUCKET[/PREFIX][?endpoint=URL&region=R&allow_http=true&max_requests=16&timeout=30s&
/// connect_timeout=5s&max_retries=10&retry_timeout=60s]`: an S3 bucket or S3-compatible server,
/// shared by any number of processes and machines; credentials come from `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` (never from the URI; `AWS_REGION`,
/// `AWS_ENDPOINT_URL` too). Commits use conditional writes (the server must support
/// `If-None-Match` / `If-Match` on PUT, as S3 does). On S3 each key changes atomically, but
/// a key-space or collection call that changes several keys does so key by key: a conflict
/// after the first key is `SHEAF_ERR_CONFLICT` with the earlier keys changed. Opening fails
/// with `SHEAF_ERR_STORAGE` when the bucket cannot be listed (missing, unreachable, refused).
/// `gs://BUCKET[/PREFIX]` and `az://CONTAINER[/PREFIX]` go through the same code with the
/// credentials of `GOOGLE_*` / `AZURE_*` variables (untested: no emulator on the test
/// machines). `file://` is refused with `SHEAF_ERR_UNSUPPORTED` (no compare-and-swap; use
/// `lmdb://`). On success `*out` receives a handle to free with `sheaf_store_free`.
///
/// Errors: `SHEAF_ERR_INVALID_URI`, `SHEAF_ERR_UNSUPPORTED`, `SHEAF_ERR_IO`, `SHEAF_ERR_STORAGE`,
/// `SHEAF_ERR_NULL_POINTER`, `SHEAF_ERR_INVALID_UTF8`.
#[no_mangle]
pub extern "C" fn sheaf_store_open(
    uri: *const c_char,
    uri_len: usize,
    out: *mut *mut SheafStore,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out, "out")?;
        let store = Store::open(str_arg(uri, uri_len, "uri")?)?;
        write_out(out, "out", register_handle(Box::new(SheafStore { store })))
    })
}

/// Closes a store: later calls on it, and on libraries opened from it, return
/// `SHEAF_ERR_CLOSED`; calls already running on other threads finish. Idempotent and
/// thread-safe. The handle must still be freed with `sheaf_store_free`.
///
/// Errors: none of its own (see Conventions).
#[no_mangle]
pub extern "C" fn sheaf_store_close(
    store: *mut SheafStore,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        store_ref(store)?.close();
        Ok(())
    })
}

/// Frees a store handle (without closing the store for libraries still open from it). NULL is
/// ignored; a second free is detected and ignored.
#[no_mangle]
pub extern "C" fn sheaf_store_free(store: *mut SheafStore) {
    free_handle(store);
}

/// Creates a library. `options_json` may be NULL (defaults) or
/// `{"rows_per_segment": 100000, "compression": "lz4"|"zstd"|"none",
///   "prune_previous_versions": false, "dynamic_schema": false}` (every field optional).
/// With `dynamic_schema`, append/update may add columns (null in older rows), omit columns
/// (null in new rows) and widen types (integer → wider integer or float64, float32 → float64).
///
/// Errors: `SHEAF_ERR_LIBRARY_EXISTS`, `SHEAF_ERR_INVALID_NAME`, `SHEAF_ERR_INVALID_JSON`,
/// `SHEAF_ERR_INVALID_ARGUMENT`, `SHEAF_ERR_CLOSED`, storage errors.
#[no_mangle]
pub extern "C" fn sheaf_library_create(
    store: *const SheafStore,
    name: *const c_char,
    name_len: usize,
    options_json: *const c_char,
    options_len: usize,
    out: *mut *mut SheafLibrary,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out, "out")?;
        let store = store_ref(store)?;
        let options =
            LibraryOptions::from_json(opt_str_arg(options_json, options_len, "options_json")?)?;
        let library = store.create_library(str_arg(name, name_len, "name")?, options)?;
        write_out(
            out,
            "out",
            register_handle(Box::new(SheafLibrary { library })),
        )
    })
}

/// Opens a library. A missing library is `SHEAF_ERR_NO_SUCH_LIBRARY` unless `create_if_missing`
/// is true, in which case it is created with `options_json` (as in `sheaf_library_create`;
/// NULL = defaults; ignored when the library exists).
///
/// Errors: SHEAF_ERR_NO_SUCH_LIBRARY (missing, without create_if_missing), SHEAF_ERR_INVALID_NAME,
/// SHEAF_ERR_INVALID_JSON (bad options), SHEAF_ERR_CLOSED.
#[no_mangle]
pub extern "C" fn sheaf_library_open(
    store: *const SheafStore,
    name: *const c_char,
    name_len: usize,
    create_if_missing: bool,
    options_json: *const c_char,
    options_len: usize,
    out: *mut *mut SheafLibrary,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out, "out")?;
        let store = store_ref(store)?;
        let options =
            LibraryOptions::from_json(opt_str_arg(options_json, options_len, "options_json")?)?;
        let library =
            store.open_library(str_arg(name, name_len, "name")?, create_if_missing, options)?;
        write_out(
            out,
            "out",
            register_handle(Box::new(SheafLibrary { library })),
        )
    })
}

/// Deletes a library and all its data. A missing library is not an error;
/// `*out_existed` (may be NULL) says whether it existed.
///
/// Errors: SHEAF_ERR_INVALID_NAME, SHEAF_ERR_CLOSED.
#[no_mangle]
pub extern "C" fn sheaf_library_delete(
    store: *const SheafStore,
    name: *const c_char,
    name_len: usize,
    out_existed: *mut bool,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let existed = store_ref(store)?.delete_library(str_arg(name, name_len, "name")?)?;
        if !out_existed.is_null() {
            write_out(out_existed, "out_existed", existed)?;
        }
        Ok(())
    })
}

/// Sets `*out` to whether a library exists.
///
/// Errors: SHEAF_ERR_INVALID_NAME, SHEAF_ERR_CLOSED.
#[no_mangle]
pub extern "C" fn sheaf_library_exists(
    store: *const SheafStore,
    name: *const c_char,
    name_len: usize,
    out: *mut bool,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out, "out")?;
        let exists = store_ref(store)?.has_library(str_arg(name, name_len, "name")?)?;
        write_out(out, "out", exists)
    })
}

/// Lists the libraries as a JSON array of names in byte order, e.g. `["prices","trades"]`.
/// Free `*out_json` with `sheaf_bytes_free`.
///
/// Errors: SHEAF_ERR_CLOSED, SHEAF_ERR_CORRUPT (a damaged registry entry).
#[no_mangle]
pub extern "C" fn sheaf_library_list(
    store: *const SheafStore,
    out_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_json, "out_json")?;
        json_out(out_json, "out_json", &store_ref(store)?.list_libraries()?)
    })
}

/// Checks the whole store: every version record, staged chunk, snapshot and registry entry is
/// decoded with its checksum verified, and every segment that a live version, a snapshot or a
/// pending staged chunk refers to is read and checked against the checksum its record holds.
/// Keys nothing refers to are listed as leftovers (segments of interrupted writes, staged
/// chunks a crash left after they were consumed, data of dropped libraries, key spaces and
/// collections). Reads all data, so it takes as long as reading everything once.
///
/// `*out_json` receives `{"checked": N, "problems": [{"key": "...", "problem": "..."}],
/// "leftovers": [{"key": "...", "kind": "unreferenced_segment" | "consumed_chunk" |
/// "dropped_data", "written_ns": N | null}]}` (keys with `\0` shown as `/`); free it with
/// `sheaf_bytes_free`. Damage is reported in `problems`, not as an error status.
///
/// Errors: `SHEAF_ERR_CLOSED`, `SHEAF_ERR_NULL_POINTER`, storage errors. Safe beside other
/// threads and processes using the store.
#[no_mangle]
pub extern "C" fn sheaf_store_verify(
    store: *const SheafStore,
    out_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_json, "out_json")?;
        let report = store_ref(store)?.verify()?;
        bytes_out(out_json, "out_json", report.to_json().into_bytes())
    })
}

/// Removes the leftovers `sheaf_store_verify` lists: data of dropped libraries, key spaces and
/// collections and consumed staged chunks at once, unreferenced segments only once they are
/// older than a grace period (a write in progress has written segments its version record will
/// refer to when it commits). Safe beside other threads and processes, provided no single
/// write runs longer than the grace period.
///
/// `options` (JSON, may be empty): `{"grace_seconds": 86400}` (the default: a day).
/// `*out_json` receives `{"removed_keys": N, "kept_young_segments": M}`.
///
/// Errors: `SHEAF_ERR_INVALID_JSON`, `SHEAF_ERR_INVALID_ARGUMENT`, `SHEAF_ERR_CLOSED`,
/// `SHEAF_ERR_NULL_POINTER`, storage errors.
#[no_mangle]
pub extern "C" fn sheaf_store_reclaim(
    store: *const SheafStore,
    options: *const c_char,
    options_len: usize,
    out_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_json, "out_json")?;
        let text = opt_str_arg(options, options_len, "options")?;
        let grace = crate::verify::parse_reclaim_options(text)?;
        let report = store_ref(store)?.reclaim(grace)?;
        json_out(out_json, "out_json", &report)
    })
}

/// The library's options as JSON (the shape `sheaf_library_create` takes, every field present)
/// together with its name: `{"name": "prices", "options": {...}}`.
///
/// Errors: SHEAF_ERR_CLOSED.
#[no_mangle]
pub extern "C" fn sheaf_library_describe(
    library: *const SheafLibrary,
    out_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_json, "out_json")?;
        let lib = library_ref(library)?;
        lib.ensure_open()?;
        json_out(
            out_json,
            "out_json",
            &serde_json::json!({"name": lib.name(), "options": lib.options()}),
        )
    })
}

/// Counters of this library handle as JSON: `{"segments_loaded": N, "bytes_decoded": B,
/// "reads_assembled_in_place": R}` — how many stored segments reads through it have loaded
/// (date_range reads load only overlapping ones), how many bytes of column data they decoded (a
/// read of some columns decodes only those), and how many contiguous reads had every column
/// decompressed straight into place.
///
/// Errors: SHEAF_ERR_CLOSED.
#[no_mangle]
pub extern "C" fn sheaf_library_stats(
    library: *const SheafLibrary,
    out_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_json, "out_json")?;
        let lib = library_ref(library)?;
        json_out(
            out_json,
            "out_json",
            &serde_json::json!({
                "segments_loaded": lib.segments_loaded(),
                "bytes_decoded": lib.bytes_decoded(),
                "reads_assembled_in_place": lib.reads_assembled_in_place(),
            }),
        )
    })
}

/// Closes a library handle: later calls on it return `SHEAF_ERR_CLOSED`. Idempotent and
/// thread-safe; free it afterwards with `sheaf_library_free`.
///
/// Errors: none of its own (see Conventions).
#[no_mangle]
pub extern "C" fn sheaf_library_close(
    library: *mut SheafLibrary,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        library_ref(library)?.close();
        Ok(())
    })
}

/// Frees a library handle. NULL is ignored; a second free is detected and ignored.
#[no_mangle]
pub extern "C" fn sheaf_library_free(library: *mut SheafLibrary) {
    free_handle(library);
}
