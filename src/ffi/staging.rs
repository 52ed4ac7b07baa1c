//! Staged writes: chunks many writers stage for one symbol, invisible until one finalize
//! commits them all as a single version.

use std::ffi::c_char;

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use serde::Deserialize;

use super::arrow::import_stream;
use super::store::library_ref;
use super::table::metadata_arg;
use super::{
    bytes_out, guard, json_out, opt_str_arg, require_out, str_arg, write_out, SheafBytes,
    SheafError, SheafLibrary, SheafStatus,
};
use crate::error::{Error, ErrorKind, Result};
use crate::table::{FinalizeMode, FinalizeOptions, StageOptions};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct StageJson {
    index: Option<String>,
    validate_index: bool,
    sort_on_index: bool,
    sort_columns: Vec<String>,
}

impl Default for StageJson {
    fn default() -> Self {
        StageJson {
            index: None,
            validate_index: true,
            sort_on_index: false,
            sort_columns: Vec::new(),
        }
    }
}

fn stage_options(text: &str) -> Result<StageOptions> {
    let raw: StageJson = if text.trim().is_empty() {
        StageJson::default()
    } else {
        serde_json::from_str(text)
            .map_err(|e| Error::new(ErrorKind::InvalidJson, "invalid stage options").caused_by(e))?
    };
    Ok(StageOptions {
        index: raw.index,
        validate_index: raw.validate_index,
        sort_on_index: raw.sort_on_index,
        sort_columns: raw.sort_columns,
    })
}

/// Stages `data` as a chunk of `symbol`: stored but invisible until `sheaf_table_finalize_staged`
/// (many writers, threads or processes, may stage one symbol at once). `data` is moved in.
/// `options_json` (may be NULL): `{"index": null | "ts", "validate_index": true,
/// "sort_on_index": false, "sort_columns": []}` — with `sort_on_index` (which needs `index`) or
/// `sort_columns` the chunk is read whole and its rows sorted by the index, then those columns,
/// before it is stored. `sheaf_table_stage_chunk` also returns the chunk's id.
///
/// Errors: SHEAF_ERR_INVALID_NAME, SHEAF_ERR_INVALID_JSON, SHEAF_ERR_INVALID_ARROW,
/// SHEAF_ERR_UNSUPPORTED_TYPE, SHEAF_ERR_SCHEMA (a bad index or sort column),
/// SHEAF_ERR_UNSORTED_INDEX (validate_index and an unsorted chunk), SHEAF_ERR_INVALID_ARGUMENT.
#[no_mangle]
pub extern "C" fn sheaf_table_stage(
    library: *const SheafLibrary,
    symbol: *const c_char,
    symbol_len: usize,
    data: *mut FFI_ArrowArrayStream,
    options_json: *const c_char,
    options_len: usize,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        stage(library, symbol, symbol_len, data, options_json, options_len).map(drop)
    })
}

/// `sheaf_table_stage`, returning the staged chunk's id in `*out_chunk_id` (UTF-8, not
/// NUL-terminated; free with `sheaf_bytes_free`): ArcticDB's stage result, which
/// `sheaf_table_finalize_staged`'s `"chunks"` option takes to finalize only some chunks.
///
/// Errors: as sheaf_table_stage, plus SHEAF_ERR_NULL_POINTER (`out_chunk_id`).
#[no_mangle]
pub extern "C" fn sheaf_table_stage_chunk(
    library: *const SheafLibrary,
    symbol: *const c_char,
    symbol_len: usize,
    data: *mut FFI_ArrowArrayStream,
    options_json: *const c_char,
    options_len: usize,
    out_chunk_id: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        if out_chunk_id.is_null() {
            // The stream is still moved in (released), as every call taking one promises.
            drop(import_stream(data));
        }
        require_out(out_chunk_id, "out_chunk_id")?;
        let id = stage(library, symbol, symbol_len, data, options_json, options_len)?;
        bytes_out(out_chunk_id, "out_chunk_id", id.into_bytes())
    })
}

/// Both stage calls: the stream is taken first, so it is released whatever fails.
fn stage(
    library: *const SheafLibrary,
    symbol: *const c_char,
    symbol_len: usize,
    data: *mut FFI_ArrowArrayStream,
    options_json: *const c_char,
    options_len: usize,
) -> Result<String> {
    let mut reader = import_stream(data)?;
    let lib = library_ref(library)?;
    let symbol = str_arg(symbol, symbol_len, "symbol")?;
    let options = stage_options(opt_str_arg(options_json, options_len, "options_json")?)?;
    lib.stage_with(symbol, &mut reader, &options)
}

/// Commits every chunk staged for `symbol` (or those `"chunks"` names) as one new version and
/// forgets them. `options_json` (may be NULL): `{"mode": "write" | "append", "sort": false,
/// "prune_previous_versions": null, "chunks": null | ["id", …], "validate_index": true,
/// "delete_staged_data_on_failure": false}`. With an index, chunks are ordered by it and must
/// not overlap each other or (appending) start before the stored end
/// (`SHEAF_ERR_UNSORTED_INDEX`) unless `sort` is true, which sorts all staged rows, or
/// `validate_index` is false, which commits them in chunk order as an unsorted version.
/// `chunks`: ids from `sheaf_table_stage_chunk`; others stay staged; an id not staged (any
/// more) is `SHEAF_ERR_NOT_FOUND`. `delete_staged_data_on_failure`: a finalize refused for its
/// data (SHEAF_ERR_SCHEMA, SHEAF_ERR_UNSORTED_INDEX, SHEAF_ERR_UNSUPPORTED_TYPE,
/// SHEAF_ERR_INVALID_ARGUMENT) drops the chunks it was finalizing. No staged data:
/// `SHEAF_ERR_NOT_FOUND`. `metadata` as in `sheaf_table_write`.
///
/// Errors: SHEAF_ERR_NOT_FOUND (nothing staged, or another finalize or delete consumed it first),
/// SHEAF_ERR_UNSORTED_INDEX (overlapping chunks without sort), SHEAF_ERR_SCHEMA (chunks that do not
/// match each other or the stored symbol), SHEAF_ERR_INVALID_NAME, SHEAF_ERR_INVALID_JSON,
/// SHEAF_ERR_CONFLICT.
#[no_mangle]
pub extern "C" fn sheaf_table_finalize_staged(
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
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    struct Json {
        mode: Option<String>,
        sort: bool,
        prune_previous_versions: Option<bool>,
        chunks: Option<Vec<String>>,
        validate_index: Option<bool>,
        delete_staged_data_on_failure: bool,
    }
    guard(err, || {
        let lib = library_ref(library)?;
        let symbol = str_arg(symbol, symbol_len, "symbol")?;
        let metadata = metadata_arg(metadata, metadata_len)?;
        let text = opt_str_arg(options_json, options_len, "options_json")?;
        let raw: Json = if text.trim().is_empty() {
            Json::default()
        } else {
            serde_json::from_str(text).map_err(|e| {
                Error::new(ErrorKind::InvalidJson, "invalid finalize options").caused_by(e)
            })?
        };
        let mode = match raw.mode.as_deref() {
            None | Some("write") => FinalizeMode::Write,
            Some("append") => FinalizeMode::Append,
            Some(other) => {
                return Err(Error::invalid(format!(
                    "mode must be \"write\" or \"append\", not {other:?}"
                )))
            }
        };
        let options = FinalizeOptions {
            mode,
            sort: raw.sort,
            prune_previous_versions: raw.prune_previous_versions,
            chunks: raw.chunks,
            validate_index: raw.validate_index.unwrap_or(true),
            delete_staged_data_on_failure: raw.delete_staged_data_on_failure,
        };
        let version = lib.finalize_staged_data(symbol, metadata, &options)?;
        if !out_version.is_null() {
            write_out(out_version, "out_version", version)?;
        }
        Ok(())
    })
}

/// The chunks staged for `symbol` and not yet finalized or deleted, as JSON
/// `[{"id": "…", "rows": N, "index_min": null | N, "index_max": null | N}, …]` ordered by their
/// first index value (raw, in the index unit): the ids `sheaf_table_finalize_staged`'s
/// `"chunks"` takes, for a process that lost the ones `sheaf_table_stage_chunk` returned.
///
/// Errors: SHEAF_ERR_INVALID_NAME, SHEAF_ERR_CLOSED, SHEAF_ERR_CORRUPT.
#[no_mangle]
pub extern "C" fn sheaf_table_list_staged_chunks(
    library: *const SheafLibrary,
    symbol: *const c_char,
    symbol_len: usize,
    out_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_json, "out_json")?;
        let chunks =
            library_ref(library)?.list_staged_chunks(str_arg(symbol, symbol_len, "symbol")?)?;
        let listed: Vec<serde_json::Value> = chunks
            .into_iter()
            .map(|c| {
                serde_json::json!({
                    "id": c.id,
                    "rows": c.rows,
                    "index_min": c.index_min,
                    "index_max": c.index_max,
                })
            })
            .collect();
        json_out(out_json, "out_json", &listed)
    })
}

/// The symbols with staged chunks, as a JSON array of names in byte order.
///
/// Errors: SHEAF_ERR_CLOSED, SHEAF_ERR_CORRUPT.
#[no_mangle]
pub extern "C" fn sheaf_table_list_staged_symbols(
    library: *const SheafLibrary,
    out_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_json, "out_json")?;
        json_out(
            out_json,
            "out_json",
            &library_ref(library)?.get_staged_symbols()?,
        )
    })
}

/// Removes the staged chunks of `symbol` and their data; `*out_count` (may be NULL) gets how
/// many chunks there were.
///
/// Errors: SHEAF_ERR_INVALID_NAME, SHEAF_ERR_CONFLICT (nothing staged is `*out_count = 0`, not an
/// error).
#[no_mangle]
pub extern "C" fn sheaf_table_delete_staged(
    library: *const SheafLibrary,
    symbol: *const c_char,
    symbol_len: usize,
    out_count: *mut u64,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let n = library_ref(library)?.delete_staged_data(str_arg(symbol, symbol_len, "symbol")?)?;
        if !out_count.is_null() {
            write_out(out_count, "out_count", n as u64)?;
        }
        Ok(())
    })
}
