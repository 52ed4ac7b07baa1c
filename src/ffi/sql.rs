//! SQL: one statement over a library's symbols (`sheaf_sql`) or over every library of a store
//! (`sheaf_store_sql`, tables named `library.symbol`), run by Apache DataFusion inside the
//! library. Results stream out as Arrow; a write (`INSERT`, `UPDATE`, `DELETE`,
//! `CREATE TABLE … AS`) commits a new version and streams one row, `count` (uint64), the rows it
//! affected. Time travel: the tables `at_version('sym', 3)`, `at_snapshot('sym', 'name')`,
//! `at_time('sym', TIMESTAMP '2024-01-01 00:00:00Z')`. A query can be stopped from another
//! thread through a `SheafCancel` passed to the `_cancellable` forms.

use std::ffi::c_char;

use arrow_array::ffi_stream::FFI_ArrowArrayStream;

use super::arrow::export_stream;
use super::store::{library_ref, store_ref};
use super::{
    free_handle, guard, handle_ref, opt_str_arg, register_handle, require_out, str_arg, write_out,
    SheafError, SheafLibrary, SheafStatus, SheafStore,
};
use crate::sql::{parse_params, Cancel, Params, SqlReader};

/// A cancellation flag for SQL calls, shared between the thread running a query and any
/// thread that wants it stopped. Safe to share between threads.
pub struct SheafCancel {
    cancel: Cancel,
}

/// Creates a cancellation flag; `*out` receives a handle to free with `sheaf_cancel_free`.
///
/// Errors: `SHEAF_ERR_NULL_POINTER`.
#[no_mangle]
pub extern "C" fn sheaf_cancel_new(
    out: *mut *mut SheafCancel,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out, "out")?;
        write_out(
            out,
            "out",
            register_handle(Box::new(SheafCancel {
                cancel: Cancel::new(),
            })),
        )
    })
}

/// Stops the queries running with this flag, from any thread: each fails with
/// `SHEAF_ERR_CANCELLED` (at `sheaf_sql_cancellable`, or at the result stream's next
/// `get_next`). A write that already committed stays committed. The flag stays set: a query
/// started with it later fails at once.
///
/// Errors: `SHEAF_ERR_NULL_POINTER`, `SHEAF_ERR_INVALID_ARGUMENT` (not a live flag).
#[no_mangle]
pub extern "C" fn sheaf_cancel_trigger(
    cancel: *const SheafCancel,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        handle_ref(cancel, "cancel")?.cancel.cancel();
        Ok(())
    })
}

/// Frees a cancellation flag (queries running with it keep their own reference). NULL is
/// ignored; a second free is detected and ignored.
#[no_mangle]
pub extern "C" fn sheaf_cancel_free(cancel: *mut SheafCancel) {
    free_handle(cancel);
}

fn cancel_arg(cancel: *const SheafCancel) -> crate::error::Result<Cancel> {
    if cancel.is_null() {
        return Ok(Cancel::new());
    }
    Ok(handle_ref(cancel, "cancel")?.cancel.clone())
}

/// The arguments every SQL call shares, checked; `run` starts the statement, whose stream
/// fills `out`.
#[allow(clippy::too_many_arguments)]
fn run_into(
    out: *mut FFI_ArrowArrayStream,
    sql: *const c_char,
    sql_len: usize,
    params_json: *const c_char,
    params_len: usize,
    cancel: *const SheafCancel,
    run: impl FnOnce(&str, Params, Cancel) -> crate::error::Result<SqlReader>,
) -> crate::error::Result<()> {
    require_out(out, "out")?;
    let query = str_arg(sql, sql_len, "sql")?;
    let params = parse_params(opt_str_arg(params_json, params_len, "params_json")?)?;
    export_stream(run(query, params, cancel_arg(cancel)?)?, out)
}

/// Runs one SQL statement over the symbols of `library` (bare names; `information_schema`
/// lists them) and fills the caller-allocated `out` with its result stream.
///
/// `sql` (UTF-8, `sql_len` bytes): one statement. `params_json` (may be NULL): a JSON list
/// bound to `$1, $2, …` — `null`, booleans, numbers, strings (a string compared with a
/// timestamp column is read as ISO 8601), or `{"timestamp_ns": N}` (UTC); never spliced into
/// the text. Each table is pinned to one version when the statement is planned (a bare name:
/// the latest) and every scan of it reads that version. Projections, filters on integer,
/// string, bool and timestamp columns (comparisons, `IN`, `BETWEEN`, `IS [NOT] NULL`) and
/// limits are pushed into Sheaf's reads (segments ruled out by their statistics are not
/// loaded); `EXPLAIN` shows each scan's `SheafScan` line with what it received.
///
/// Writes commit like the API's calls: `INSERT INTO sym …` appends (`INSERT OVERWRITE`
/// writes); `CREATE TABLE sym AS SELECT …` writes a symbol that has no live version (`OR
/// REPLACE`: a new version of any); `DELETE FROM sym WHERE …` and `UPDATE sym SET … WHERE …`
/// write a new version computed from the pinned one, committed only if that is still the
/// latest, else re-run on the new one (up to `commit.max_retries` times). The old version
/// stays readable (`at_version`). A write's stream is one row, `count` (uint64).
///
/// Errors: `SHEAF_ERR_INVALID_ARGUMENT` (a syntax error, an unknown table or function, a type
/// error: the message is DataFusion's, with the position), `SHEAF_ERR_SCHEMA` (an unknown or
/// ambiguous column), `SHEAF_ERR_INVALID_JSON`, `SHEAF_ERR_UNSUPPORTED` (DDL other than
/// `CREATE TABLE … AS`, transactions), `SHEAF_ERR_NO_SUCH_VERSION`, `SHEAF_ERR_NO_SUCH_SNAPSHOT`,
/// `SHEAF_ERR_CONFLICT`, `SHEAF_ERR_CLOSED`, storage errors. Errors while streaming come
/// through the stream's `get_next` / `get_last_error`.
#[no_mangle]
pub extern "C" fn sheaf_sql(
    library: *const SheafLibrary,
    sql: *const c_char,
    sql_len: usize,
    params_json: *const c_char,
    params_len: usize,
    out: *mut FFI_ArrowArrayStream,
    err: *mut *mut SheafError,
) -> SheafStatus {
    sheaf_sql_cancellable(
        library,
        sql,
        sql_len,
        params_json,
        params_len,
        std::ptr::null(),
        out,
        err,
    )
}

/// `sheaf_sql` that `sheaf_cancel_trigger(cancel)` stops from another thread (`cancel` may be
/// NULL: not cancellable).
///
/// Errors: those of `sheaf_sql`, and `SHEAF_ERR_CANCELLED`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn sheaf_sql_cancellable(
    library: *const SheafLibrary,
    sql: *const c_char,
    sql_len: usize,
    params_json: *const c_char,
    params_len: usize,
    cancel: *const SheafCancel,
    out: *mut FFI_ArrowArrayStream,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let lib = library_ref(library)?;
        run_into(
            out,
            sql,
            sql_len,
            params_json,
            params_len,
            cancel,
            |q, p, c| lib.sql(q, p, c),
        )
    })
}

/// `sheaf_sql` over every library of `store`: tables are `library.symbol` (quote names that
/// need it: `"my lib"."sym"`), the time-travel functions take `'library.symbol'`.
///
/// Errors: those of `sheaf_sql`.
#[no_mangle]
pub extern "C" fn sheaf_store_sql(
    store: *const SheafStore,
    sql: *const c_char,
    sql_len: usize,
    params_json: *const c_char,
    params_len: usize,
    out: *mut FFI_ArrowArrayStream,
    err: *mut *mut SheafError,
) -> SheafStatus {
    sheaf_store_sql_cancellable(
        store,
        sql,
        sql_len,
        params_json,
        params_len,
        std::ptr::null(),
        out,
        err,
    )
}

/// `sheaf_store_sql` that `sheaf_cancel_trigger(cancel)` stops from another thread.
///
/// Errors: those of `sheaf_sql`, and `SHEAF_ERR_CANCELLED`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn sheaf_store_sql_cancellable(
    store: *const SheafStore,
    sql: *const c_char,
    sql_len: usize,
    params_json: *const c_char,
    params_len: usize,
    cancel: *const SheafCancel,
    out: *mut FFI_ArrowArrayStream,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let store = store_ref(store)?;
        run_into(
            out,
            sql,
            sql_len,
            params_json,
            params_len,
            cancel,
            |q, p, c| store.sql(q, p, c),
        )
    })
}
