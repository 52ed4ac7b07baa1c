//! Tables: every write of a symbol makes a new immutable version (0, 1, 2, …) that stays
//! readable until deleted; reads choose one with `as_of`.
//!
//! JSON shapes used here:
//! - write options: `{"index": "ts", "validate_index": true, "prune_previous_versions": null,
//!   "content": null}`
//! - read options: `{"as_of": null | <version> | <negative: counts back, -1 = latest>}`
//! - version info: `{"symbol": "s", "version": 3, "timestamp_ns": 1700000000000000000,
//!   "deleted": false, "rows": 10, "index": "ts" | null, "index_sorted": true,
//!   "has_metadata": true, "content": null}` (`index_sorted`: the index column's values
//!   ascend; false without an index; `content`: the format of an opaque object, null for a
//!   table)

use std::ffi::c_char;

use arrow_array::ffi_stream::FFI_ArrowArrayStream;

use super::store::library_ref;
use super::{
    bytes_arg, bytes_out, export_stream, guard, import_stream, json_out, opt_str_arg, require_out,
    str_arg, write_out, SheafBytes, SheafError, SheafLibrary, SheafStatus,
};
use arrow_array::RecordBatchReader;

use crate::error::{Error, ErrorKind, Result};
use crate::store::Library;
use crate::table::options::as_of_from_json;
use crate::table::{AsOf, MergeOptions, ReadOptions, UpdateOptions, WriteOptions};

pub(crate) fn metadata_arg(ptr: *const u8, len: usize) -> Result<Option<Vec<u8>>> {
    if ptr.is_null() && len == 0 {
        return Ok(None);
    }
    Ok(Some(bytes_arg(ptr, len, "metadata")?.to_vec()))
}

/// Writes a new version of `symbol` whose content is the rows of `data`.
///
/// `data` is moved in: the library takes ownership and releases it, also on failure (the
/// caller's struct is left released). Every batch is validated in full; malformed input is
/// `SHEAF_ERR_INVALID_ARROW` and nothing is committed. `metadata` is opaque bytes stored with
/// the version (NULL with length 0 = none; a non-NULL pointer with length 0 = empty metadata).
/// `options_json` (may be NULL): `{"index": "<column>", "validate_index": true,
/// "prune_previous_versions": null|true|false}`; the index column must be a timestamp, date or
/// integer without nulls and, unless `validate_index` is false, sorted ascending
/// (`SHEAF_ERR_UNSORTED_INDEX`). `*out_version` (may be NULL) receives the new version number.
///
/// Opaque objects (`"content": "<format>"`, e.g. "python-pickle": 1 to 64 printable ASCII
/// characters): the version holds one object, not a table. `data` is one binary (or large
/// binary) column and no index; the object's bytes are its values concatenated in order (cut
/// them anywhere, e.g. into 16 MiB values). A read gives the same column back with
/// `"content"` in the version info; append, update, merge and a finalize in append mode refuse
/// such a version (SHEAF_ERR_SCHEMA), a write replaces it. Sheaf never interprets the bytes.
///
/// Errors: SHEAF_ERR_INVALID_NAME, SHEAF_ERR_INVALID_JSON (bad options), SHEAF_ERR_INVALID_ARROW
/// (malformed input or a failing stream), SHEAF_ERR_UNSUPPORTED_TYPE (a column type Sheaf does not
/// store), SHEAF_ERR_SCHEMA (no such index column, or one of a type that cannot index),
/// SHEAF_ERR_UNSORTED_INDEX (validate_index and an unsorted index), SHEAF_ERR_CONFLICT
/// (commit.max_retries lost races), SHEAF_ERR_NO_SUCH_LIBRARY (the library was deleted).
#[no_mangle]
pub extern "C" fn sheaf_table_write(
    library: *const SheafLibrary,
    symbol: *const c_char,
    symbol_len: usize,
    data: *mut FFI_ArrowArrayStream,
    metadata: *const u8,
    metadata_len: usize,
    options_json: *const c_char,
    options_len: usize,
    out_version: *mut u64,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        // Parsed without `?`: the stream must be taken (and released) before any return.
        let options = opt_str_arg(options_json, options_len, "options_json")
            .and_then(WriteOptions::from_json);
        take_stream_then(
            library,
            symbol,
            symbol_len,
            data,
            metadata,
            metadata_len,
            out_version,
            |lib, s, r, m| lib.write(s, r, m, &options?),
        )
    })
}

/// Appends the rows of `data` to the latest version of `symbol` as a new version, reusing the
/// stored segments; a symbol with no live version is created (with `options_json`'s index).
/// Arguments as in `sheaf_table_write`; `options_json` takes the same fields (`index` must be
/// the stored index if given). The first new index value must not be below the last stored one
/// unless `validate_index` is false (`SHEAF_ERR_UNSORTED_INDEX`). The columns must match the
/// stored ones (`SHEAF_ERR_SCHEMA`) unless the library has `dynamic_schema`. Metadata is not
/// carried over from the previous version. Concurrent appends all land (none is lost).
///
/// Errors: as sheaf_table_write, plus SHEAF_ERR_SCHEMA (columns or index that do not match the
/// stored ones without dynamic_schema, or an `index` other than the stored one),
/// SHEAF_ERR_UNSORTED_INDEX (the first new index value is below the last stored one),
/// SHEAF_ERR_CONFLICT (the symbol was deleted or re-indexed while appending).
#[no_mangle]
pub extern "C" fn sheaf_table_append(
    library: *const SheafLibrary,
    symbol: *const c_char,
    symbol_len: usize,
    data: *mut FFI_ArrowArrayStream,
    metadata: *const u8,
    metadata_len: usize,
    options_json: *const c_char,
    options_len: usize,
    out_version: *mut u64,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        // Parsed without `?`: the stream must be taken (and released) before any return.
        let options = opt_str_arg(options_json, options_len, "options_json")
            .and_then(WriteOptions::from_json);
        take_stream_then(
            library,
            symbol,
            symbol_len,
            data,
            metadata,
            metadata_len,
            out_version,
            |lib, s, r, m| lib.append(s, r, m, &options?),
        )
    })
}

/// Replaces the rows of an indexed `symbol` whose index lies in the span of `data` (its first
/// to last index value) or in `date_range`, keeping every row outside it, as a new version.
/// Only segments overlapping the span are rewritten. `options_json` (may be NULL):
/// `{"date_range": [start, end], "upsert": false, "index": null, "prune_previous_versions":
/// null}` where each bound is null (open), a raw index value, or `{"ns": <nanoseconds since
/// the epoch>}`; with `upsert`, a missing symbol is created from `data` indexed by `index`
/// (or without an index when `index` is null). Rows of
/// `data` outside an explicit `date_range` are dropped. Empty `data` without `date_range` makes
/// a new version with unchanged rows; with `date_range` it deletes the range. `metadata` as in
/// `sheaf_table_write` (not carried over). Missing symbol: `SHEAF_ERR_NO_SUCH_SYMBOL`.
///
/// Errors: as sheaf_table_write, plus SHEAF_ERR_NO_SUCH_SYMBOL (missing symbol without upsert),
/// SHEAF_ERR_INVALID_ARGUMENT (a bad date_range),
/// SHEAF_ERR_SCHEMA (a symbol without index, or columns that do not match),
/// SHEAF_ERR_UNSORTED_INDEX (a symbol written with validate_index=false).
#[no_mangle]
pub extern "C" fn sheaf_table_update(
    library: *const SheafLibrary,
    symbol: *const c_char,
    symbol_len: usize,
    data: *mut FFI_ArrowArrayStream,
    metadata: *const u8,
    metadata_len: usize,
    options_json: *const c_char,
    options_len: usize,
    out_version: *mut u64,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        // Parsed without `?`: the stream must be taken (and released) before any return.
        let options = opt_str_arg(options_json, options_len, "options_json")
            .and_then(UpdateOptions::from_json);
        take_stream_then(
            library,
            symbol,
            symbol_len,
            data,
            metadata,
            metadata_len,
            out_version,
            |lib, s, r, m| lib.update(s, r, m, &options?),
        )
    })
}

/// Merges `data` into the latest version of an indexed `symbol` as a new version (ArcticDB's
/// `merge_experimental`). A row of `data` matches a stored row when their index values and
/// every `on` column are equal. `options_json` (may be NULL): `{"matched": "update",
/// "not_matched_by_target": "insert", "on": [], "prune_previous_versions": null}` — `matched`
/// is "update" (the stored row takes the row of `data`) or "do_nothing"; `not_matched_by_target`
/// is "insert" (the row is added after stored rows of the same index value) or "do_nothing".
/// `data` holds the symbol's columns (any order, same types) sorted by the index; a stored row
/// may match at most one row of `data`. Only segments overlapping the index span of `data` are
/// rewritten. `metadata` as in `sheaf_table_write` (not carried over). A concurrent commit to
/// the symbol makes the merge run again against it, never over it.
///
/// Errors: as sheaf_table_write, plus SHEAF_ERR_NO_SUCH_SYMBOL, SHEAF_ERR_SCHEMA (a symbol
/// without index; columns that differ), SHEAF_ERR_UNSORTED_INDEX (`data` not sorted, or a symbol
/// written with validate_index=false), SHEAF_ERR_INVALID_ARGUMENT (actions that cannot apply; a
/// stored row matching two rows of `data`; the index listed in `on`).
#[no_mangle]
pub extern "C" fn sheaf_table_merge(
    library: *const SheafLibrary,
    symbol: *const c_char,
    symbol_len: usize,
    data: *mut FFI_ArrowArrayStream,
    metadata: *const u8,
    metadata_len: usize,
    options_json: *const c_char,
    options_len: usize,
    out_version: *mut u64,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        // Parsed without `?`: the stream must be taken (and released) before any return.
        let options = opt_str_arg(options_json, options_len, "options_json")
            .and_then(MergeOptions::from_json);
        take_stream_then(
            library,
            symbol,
            symbol_len,
            data,
            metadata,
            metadata_len,
            out_version,
            |lib, s, r, m| lib.merge(s, r, m, &options?),
        )
    })
}

/// A new version of `symbol` without the rows whose index lies in the inclusive `date_range`;
/// the latest metadata is kept. `options_json`: `{"date_range": [start, end],
/// "prune_previous_versions": null}` (bounds as in `sheaf_table_update`; required).
///
/// Errors: SHEAF_ERR_NO_SUCH_SYMBOL, SHEAF_ERR_INVALID_JSON / SHEAF_ERR_INVALID_ARGUMENT (a missing
/// or bad date_range), SHEAF_ERR_SCHEMA (a symbol without index), SHEAF_ERR_UNSORTED_INDEX,
/// SHEAF_ERR_CONFLICT, SHEAF_ERR_INVALID_NAME.
#[no_mangle]
pub extern "C" fn sheaf_table_delete_data_in_range(
    library: *const SheafLibrary,
    symbol: *const c_char,
    symbol_len: usize,
    options_json: *const c_char,
    options_len: usize,
    out_version: *mut u64,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let lib = library_ref(library)?;
        let symbol = str_arg(symbol, symbol_len, "symbol")?;
        let options =
            UpdateOptions::from_json(opt_str_arg(options_json, options_len, "options_json")?)?;
        if options.upsert {
            return Err(Error::invalid("delete_data_in_range takes no upsert"));
        }
        let range = options
            .date_range
            .ok_or_else(|| Error::invalid("delete_data_in_range needs a date_range"))?;
        let version = lib.delete_data_in_range(symbol, range, options.prune_previous_versions)?;
        if !out_version.is_null() {
            write_out(out_version, "out_version", version)?;
        }
        Ok(())
    })
}

/// Writes a new version of `symbol` with the data of its latest version and new `metadata`
/// (NULL with length 0 = none). `options_json` (may be NULL):
/// `{"prune_previous_versions": null|true|false}`. A symbol without live versions gets a first
/// version holding only the metadata: a table with no columns and no rows (as ArcticDB); a
/// later write or append starts the data.
///
/// Errors: SHEAF_ERR_INVALID_NAME, SHEAF_ERR_INVALID_JSON, SHEAF_ERR_CONFLICT.
#[no_mangle]
pub extern "C" fn sheaf_table_write_metadata(
    library: *const SheafLibrary,
    symbol: *const c_char,
    symbol_len: usize,
    metadata: *const u8,
    metadata_len: usize,
    options_json: *const c_char,
    options_len: usize,
    out_version: *mut u64,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let lib = library_ref(library)?;
        let options =
            WriteOptions::from_json(opt_str_arg(options_json, options_len, "options_json")?)?;
        if options.index.is_some() || !options.validate_index {
            return Err(Error::invalid(
                "write_metadata takes only prune_previous_versions as an option",
            ));
        }
        let version = lib.write_metadata(
            str_arg(symbol, symbol_len, "symbol")?,
            metadata_arg(metadata, metadata_len)?,
            options.prune_previous_versions,
        )?;
        if !out_version.is_null() {
            write_out(out_version, "out_version", version)?;
        }
        Ok(())
    })
}

/// Reads a version of `symbol` into the caller-allocated `*out_stream` (one batch per stored
/// segment, loaded lazily; the stream has a single consumer and keeps the library alive until
/// released). `options_json` (may be NULL): `{"as_of": null | N | -K | "snapshot" |
/// {"timestamp_ns": T}, "date_range": [start, end], "row_range": [start, end], "columns":
/// ["a", "b"]}` — `as_of` counts negative numbers back over live versions (-1 = latest), a
/// string names a snapshot, a time picks the newest live version written at or before it;
/// `date_range` is inclusive, each bound null (open), a raw index value or `{"ns": N}`
/// (nanoseconds since the epoch, converted to the index unit), and only segments whose index
/// range overlaps it are loaded; `row_range` has Python slice semantics (end exclusive,
/// negatives from the end, null = open; head/tail are row ranges) and cannot be combined with
/// `date_range`; `columns` selects and orders columns (unknown name: `SHEAF_ERR_SCHEMA`), the
/// index column always comes along (first unless listed), `[]` returns only the index;
/// `"contiguous": true` (without a query) makes the stream one batch with one buffer per column,
/// each stored buffer decompressed straight into its place (for callers that collect the whole
/// result; the default streams a batch per segment). `"strings": {"default": FORMAT, "columns":
/// {"name": FORMAT}}` gives string columns the Arrow type FORMAT names: `"large_string"`
/// (LargeUtf8), `"string"` (Utf8), `"string_view"` (Utf8View) or `"categorical"`
/// (Dictionary<Int32, LargeUtf8>); a listed column takes its own, other string columns the
/// default, and without either they come as stored (a column listed that is not a string column
/// of the result: `SHEAF_ERR_SCHEMA`). `*out_info` (may be
/// NULL) receives the version info JSON; `*out_metadata` (may be NULL) the metadata bytes, or
/// `{NULL, 0}` when there are none (`has_metadata` in the info tells none from empty).
///
/// Queries: `"query": [clause, …]` runs a plan over the rows the other options select
/// (`docs/query-plan.md` is the full grammar). Clauses, applied in order:
/// `{"filter": EXPR}`, `{"project": {"name": N, "expr": EXPR}}`,
/// `{"groupby": {"by": [K, …], "aggs": [AGG, …]}}`,
/// `{"resample": {"rule": "5min", "closed": "left"|"right", "label": "left"|"right",
/// "origin": "epoch"|"start"|"start_day"|"end"|"end_day"|{"ns": N}, "offset": null|"1min",
/// "aggs": [AGG, …]}}`, `{"date_range": [start, end]}`, `{"row_range": [start, end]}`,
/// `{"head": n}`, `{"tail": n}`. AGG: `{"name": OUT, "column": C, "op": "sum"|"mean"|"min"|
/// "max"|"first"|"last"|"count"|"median"|"std"}`. EXPR: `{"col": NAME}`, `{"lit": number |
/// string | bool}`, `{"ts": NANOS}`, or `{"op": OP, "args": [EXPR, …]}` with OP one of `eq ne lt
/// le gt ge` (a missing operand — null, or NaN — is false, `ne` true), `and or xor not`,
/// `add sub mul div pow neg abs`, `isnull notnull`, `isin isnotin` (+ `"values": [lit, …]`),
/// `regex_match startswith endswith contains` (+ `"pattern": "…"`), `where` (cond, a, b).
/// With a query, `columns` picks the stored columns the result keeps (projected ones follow);
/// aggregated results have one row per group, sorted by key, and their schema metadata
/// `"sheaf:index"` lists the key columns. Leading filters skip segments whose stored column
/// min/max prove them false; segments are decoded and filtered on worker threads, and the
/// stream stays bounded by a few segments (aggregations: by the number of groups).
///
/// Errors: `SHEAF_ERR_NO_SUCH_SYMBOL`, `SHEAF_ERR_NO_SUCH_VERSION`, `SHEAF_ERR_INVALID_JSON`,
/// `SHEAF_ERR_INVALID_ARGUMENT` (also an unknown clause, operator or aggregation),
/// `SHEAF_ERR_SCHEMA` (also a plan naming a missing column or mixing types, e.g. a string
/// compared with a number; plans are checked before any segment loads), `SHEAF_ERR_CLOSED`,
/// storage errors. A segment that fails to load later is reported through the stream's
/// `get_next` / `get_last_error`.
#[no_mangle]
pub extern "C" fn sheaf_table_read(
    library: *const SheafLibrary,
    symbol: *const c_char,
    symbol_len: usize,
    options_json: *const c_char,
    options_len: usize,
    out_stream: *mut FFI_ArrowArrayStream,
    out_info: *mut SheafBytes,
    out_metadata: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_stream, "out_stream")?;
        let lib = library_ref(library)?;
        let options =
            ReadOptions::from_json(opt_str_arg(options_json, options_len, "options_json")?)?;
        let result = lib.read(str_arg(symbol, symbol_len, "symbol")?, &options)?;
        if !out_info.is_null() {
            json_out(out_info, "out_info", &result.info)?;
        }
        if !out_metadata.is_null() {
            bytes_out(
                out_metadata,
                "out_metadata",
                result.metadata.unwrap_or_default(),
            )?;
        }
        export_stream(result.reader, out_stream)
    })
}

/// Reads only the info and metadata of a version. `options_json` (may be NULL):
/// `{"as_of": …}` as in `sheaf_table_read`; `*out_info` and `*out_metadata` may each be NULL.
///
/// Errors: SHEAF_ERR_NO_SUCH_SYMBOL, SHEAF_ERR_NO_SUCH_VERSION, SHEAF_ERR_NO_SUCH_SNAPSHOT (as_of
/// names a missing snapshot), SHEAF_ERR_INVALID_NAME, SHEAF_ERR_INVALID_JSON.
#[no_mangle]
pub extern "C" fn sheaf_table_read_metadata(
    library: *const SheafLibrary,
    symbol: *const c_char,
    symbol_len: usize,
    options_json: *const c_char,
    options_len: usize,
    out_info: *mut SheafBytes,
    out_metadata: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let lib = library_ref(library)?;
        let as_of = as_of_from_json(opt_str_arg(options_json, options_len, "options_json")?)?;
        let (info, metadata) = lib.read_metadata(str_arg(symbol, symbol_len, "symbol")?, &as_of)?;
        if !out_info.is_null() {
            json_out(out_info, "out_info", &info)?;
        }
        if out_metadata.is_null() {
            return Ok(());
        }
        bytes_out(out_metadata, "out_metadata", metadata.unwrap_or_default())
    })
}

/// Describes a version without reading its data. `options_json`: `{"as_of": …}` (may be NULL).
/// `*out_json`: `{"symbol", "version", "columns": [{"name", "type", "nullable"}], "index":
/// {"name", "type", "nullable"} | null, "row_count", "index_range": [min, max] | null (raw
/// index values), "sorted": "ASCENDING" | "UNSORTED" | "UNKNOWN", "last_update_time_ns",
/// "segments", "stored_bytes" (bytes the segments take in storage, after compression),
/// "has_metadata", "content"}` (`content` as in version infos).
///
/// Errors: as sheaf_table_read_metadata.
#[no_mangle]
pub extern "C" fn sheaf_table_describe(
    library: *const SheafLibrary,
    symbol: *const c_char,
    symbol_len: usize,
    options_json: *const c_char,
    options_len: usize,
    out_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_json, "out_json")?;
        let lib = library_ref(library)?;
        let as_of = as_of_from_json(opt_str_arg(options_json, options_len, "options_json")?)?;
        json_out(
            out_json,
            "out_json",
            &lib.get_description(str_arg(symbol, symbol_len, "symbol")?, &as_of)?,
        )
    })
}

/// The storage the library's tables take (ArcticDB's `admin_tools().get_sizes*`), measured on
/// the stored values. `symbol` NULL: every symbol and the library's snapshots; otherwise only
/// that symbol's values. `*out_json`: `{"total": {KIND: {"bytes": N, "count": M}, …},
/// "symbols": {"<symbol>": {KIND: {…}, …}, …}}` where KIND is `table_data` (segments: column
/// data, staged chunks' included), `version` (version records), `append_data` (staged chunks'
/// records) or `snapshot_ref` (snapshots); kinds with no values are left out.
///
/// Errors: SHEAF_ERR_INVALID_NAME, SHEAF_ERR_CLOSED, SHEAF_ERR_NO_SUCH_LIBRARY, storage errors.
#[no_mangle]
pub extern "C" fn sheaf_table_storage_sizes(
    library: *const SheafLibrary,
    symbol: *const c_char,
    symbol_len: usize,
    out_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_json, "out_json")?;
        let lib = library_ref(library)?;
        let symbol = if symbol.is_null() {
            None
        } else {
            Some(str_arg(symbol, symbol_len, "symbol")?)
        };
        json_out(out_json, "out_json", &lib.storage_sizes(symbol)?)
    })
}

/// Lists the symbols that have a live version, as a JSON array of names in byte order.
///
/// Errors: SHEAF_ERR_CLOSED, SHEAF_ERR_NO_SUCH_LIBRARY (the library was deleted),
/// SHEAF_ERR_CORRUPT.
#[no_mangle]
pub extern "C" fn sheaf_table_list_symbols(
    library: *const SheafLibrary,
    out_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_json, "out_json")?;
        json_out(
            out_json,
            "out_json",
            &library_ref(library)?.list_symbols(None)?,
        )
    })
}

/// Lists symbols, filtered. `options` (JSON, may be empty): `{"snapshot": NAME | null,
/// "regex": PATTERN | null}` — the symbols a snapshot holds instead of the live ones, and only
/// those `PATTERN` matches anywhere in the name (Rust `regex` syntax: matching is linear in the
/// name's length whatever the pattern; backreferences and lookaround are refused with
/// `SHEAF_ERR_INVALID_ARGUMENT`). `*out_json` receives a JSON array of names in byte order.
///
/// Errors: `SHEAF_ERR_NO_SUCH_SNAPSHOT`, `SHEAF_ERR_INVALID_ARGUMENT` (a bad pattern),
/// `SHEAF_ERR_INVALID_JSON`, `SHEAF_ERR_NULL_POINTER`, `SHEAF_ERR_CLOSED`.
#[no_mangle]
pub extern "C" fn sheaf_table_list_symbols_filtered(
    library: *const SheafLibrary,
    options: *const c_char,
    options_len: usize,
    out_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    #[derive(serde::Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    struct Filter {
        snapshot: Option<String>,
        regex: Option<String>,
    }
    guard(err, || {
        require_out(out_json, "out_json")?;
        let text = super::opt_str_arg(options, options_len, "options")?;
        let filter: Filter = if text.trim().is_empty() {
            Filter::default()
        } else {
            serde_json::from_str(text).map_err(|e| {
                Error::new(ErrorKind::InvalidJson, "invalid symbol list options").caused_by(e)
            })?
        };
        let names = library_ref(library)?
            .list_symbols_matching(filter.snapshot.as_deref(), filter.regex.as_deref())?;
        json_out(out_json, "out_json", &names)
    })
}

/// Sets `*out` to whether `symbol` has a live version.
///
/// Errors: SHEAF_ERR_INVALID_NAME (a missing symbol is `*out = false`, not an error).
#[no_mangle]
pub extern "C" fn sheaf_table_has_symbol(
    library: *const SheafLibrary,
    symbol: *const c_char,
    symbol_len: usize,
    out: *mut bool,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out, "out")?;
        let has = library_ref(library)?
            .has_symbol(str_arg(symbol, symbol_len, "symbol")?, &AsOf::Latest)?;
        write_out(out, "out", has)
    })
}

/// Lists the versions of `symbol` (or, when `symbol` is NULL, of every symbol), newest first,
/// as a JSON array of version infos: `{"symbol": "s", "version": 3, "timestamp_ns": N,
/// "deleted": false, "rows": 10, "index": "ts" | null, "index_sorted": true, "has_metadata":
/// true, "snapshots": ["name", …], "content": null}` — the live versions and the deleted ones snapshots still hold
/// (`"deleted": true`). `sheaf_table_query_versions` filters the same list.
///
/// Errors: SHEAF_ERR_INVALID_NAME, SHEAF_ERR_CORRUPT (a missing symbol gives `[]`).
#[no_mangle]
pub extern "C" fn sheaf_table_list_versions(
    library: *const SheafLibrary,
    symbol: *const c_char,
    symbol_len: usize,
    out_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_json, "out_json")?;
        let lib = library_ref(library)?;
        let symbol = if symbol.is_null() {
            None
        } else {
            Some(str_arg(symbol, symbol_len, "symbol")?)
        };
        json_out(
            out_json,
            "out_json",
            &lib.list_versions(symbol, None, false)?,
        )
    })
}

/// Lists versions, newest first, as a JSON array of version infos (the shape documented at
/// `sheaf_table_list_versions`): the live ones and the deleted ones snapshots still hold (`"deleted": true`).
/// `options_json` (may be NULL): `{"symbol": null | "s", "snapshot": null | "name",
/// "latest_only": false}` — one symbol or all; only the versions a snapshot holds; only the
/// newest per symbol.
///
/// Errors: SHEAF_ERR_NO_SUCH_SNAPSHOT (a `snapshot` that does not exist), SHEAF_ERR_INVALID_NAME,
/// SHEAF_ERR_INVALID_JSON.
#[no_mangle]
pub extern "C" fn sheaf_table_query_versions(
    library: *const SheafLibrary,
    options_json: *const c_char,
    options_len: usize,
    out_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    #[derive(serde::Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    struct QueryOptions {
        symbol: Option<String>,
        snapshot: Option<String>,
        latest_only: bool,
    }
    guard(err, || {
        require_out(out_json, "out_json")?;
        let lib = library_ref(library)?;
        let text = opt_str_arg(options_json, options_len, "options_json")?;
        let q: QueryOptions = if text.trim().is_empty() {
            QueryOptions::default()
        } else {
            serde_json::from_str(text).map_err(|e| {
                Error::new(ErrorKind::InvalidJson, "invalid version query").caused_by(e)
            })?
        };
        json_out(
            out_json,
            "out_json",
            &lib.list_versions(q.symbol.as_deref(), q.snapshot.as_deref(), q.latest_only)?,
        )
    })
}

/// Deletes versions of `symbol`: the `n_versions` numbers at `versions`, or every version when
/// `versions` is NULL. Segments no live version uses any more are removed from storage.
/// A delete is itself a commit in the symbol's chain and takes a number: the next write gets
/// a number after it (version numbers are never reused).
///
/// Errors: `SHEAF_ERR_NO_SUCH_SYMBOL`, `SHEAF_ERR_NO_SUCH_VERSION` (a version that is not live;
/// nothing is deleted then), `SHEAF_ERR_CLOSED`, storage errors.
#[no_mangle]
pub extern "C" fn sheaf_table_delete(
    library: *const SheafLibrary,
    symbol: *const c_char,
    symbol_len: usize,
    versions: *const u64,
    n_versions: usize,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let lib = library_ref(library)?;
        let symbol = str_arg(symbol, symbol_len, "symbol")?;
        let list = if versions.is_null() {
            if n_versions != 0 {
                return Err(Error::new(
                    ErrorKind::NullPointer,
                    "versions is NULL with n_versions > 0",
                ));
            }
            None
        } else {
            super::count_arg(n_versions, "n_versions")?;
            // SAFETY: the caller guarantees `n_versions` readable u64 values at `versions`.
            Some(unsafe { std::slice::from_raw_parts(versions, n_versions) })
        };
        lib.delete(symbol, list)
    })
}

/// Deletes every live version of `symbol` but the latest; segments only they used are removed
/// (versions held by snapshots keep theirs).
///
/// Errors: SHEAF_ERR_NO_SUCH_SYMBOL, SHEAF_ERR_INVALID_NAME, SHEAF_ERR_CONFLICT.
#[no_mangle]
pub extern "C" fn sheaf_table_prune_previous_versions(
    library: *const SheafLibrary,
    symbol: *const c_char,
    symbol_len: usize,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        library_ref(library)?.prune_previous_versions(str_arg(symbol, symbol_len, "symbol")?)
    })
}

/// Rewrites the latest version of `symbol` into full segments as a new version with the same
/// rows and metadata (useful after many small appends). `options_json` (may be NULL):
/// `{"rows_per_segment": null | N}` (null = the library's). `*out_version` (may be NULL) gets the
/// new version, or the latest one when it was already compact.
///
/// Errors: SHEAF_ERR_NO_SUCH_SYMBOL, SHEAF_ERR_INVALID_ARGUMENT (rows_per_segment 0),
/// SHEAF_ERR_INVALID_NAME, SHEAF_ERR_INVALID_JSON, SHEAF_ERR_CONFLICT (the symbol kept changing
/// during compaction).
#[no_mangle]
pub extern "C" fn sheaf_table_compact(
    library: *const SheafLibrary,
    symbol: *const c_char,
    symbol_len: usize,
    options_json: *const c_char,
    options_len: usize,
    out_version: *mut u64,
    err: *mut *mut SheafError,
) -> SheafStatus {
    #[derive(serde::Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    struct CompactOptions {
        rows_per_segment: Option<u64>,
    }
    guard(err, || {
        let lib = library_ref(library)?;
        let symbol = str_arg(symbol, symbol_len, "symbol")?;
        let text = opt_str_arg(options_json, options_len, "options_json")?;
        let options: CompactOptions = if text.trim().is_empty() {
            CompactOptions::default()
        } else {
            serde_json::from_str(text).map_err(|e| {
                Error::new(ErrorKind::InvalidJson, "invalid compact options").caused_by(e)
            })?
        };
        let version = lib.compact_data(symbol, options.rows_per_segment)?;
        if !out_version.is_null() {
            write_out(out_version, "out_version", version)?;
        }
        Ok(())
    })
}

/// The common part of the calls that move a stream in: the stream is taken first so that it
/// is released on every path, then the arguments are checked and `op` runs.
#[allow(clippy::too_many_arguments)]
fn take_stream_then(
    library: *const SheafLibrary,
    symbol: *const c_char,
    symbol_len: usize,
    data: *mut FFI_ArrowArrayStream,
    metadata: *const u8,
    metadata_len: usize,
    out_version: *mut u64,
    op: impl FnOnce(&Library, &str, &mut dyn RecordBatchReader, Option<Vec<u8>>) -> Result<u64>,
) -> Result<()> {
    let mut reader = import_stream(data)?;
    let lib = library_ref(library)?;
    let symbol = str_arg(symbol, symbol_len, "symbol")?;
    let metadata = metadata_arg(metadata, metadata_len)?;
    let version = op(lib, symbol, &mut reader, metadata)?;
    if !out_version.is_null() {
        write_out(out_version, "out_version", version)?;
    }
    Ok(())
}
