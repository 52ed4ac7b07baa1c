//! Staged writes: chunks many writers stage for one symbol, invisible until one finalize
//! commits them all as a single version.

use std::ffi::c_char;

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use serde::Deserialize;

use super::arrow::import_stream;
use super::store::library_ref;
use super::table::metadata_arg;
use super::{
    guard, json_out, opt_str_arg, require_out, str_arg, write_out, SheafBytes, SheafError,
    SheafLibrary, SheafStatus,
};
use crate::error::{Error, ErrorKind};
use crate::table::{FinalizeMode, FinalizeOptions, WriteOptions};

/// Stages `data` as a chunk of `symbol`: stored but invisible until `sheaf_table_finalize_staged`
/// (many writers, threads or processes, may stage one symbol at once). `data` is moved in.
/// `options_json` (may be NULL): `{"index": null | "ts", "validate_index": true}`.
///
/// Errors: SHEAF_ERR_INVALID_NAME, SHEAF_ERR_INVALID_JSON, SHEAF_ERR_INVALID_ARROW,
/// SHEAF_ERR_UNSUPPORTED_TYPE, SHEAF_ERR_SCHEMA (a bad index column), SHEAF_ERR_UNSORTED_INDEX
/// (validate_index and an unsorted chunk).
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
        let mut reader = import_stream(data)?;
        let lib = library_ref(library)?;
        let symbol = str_arg(symbol, symbol_len, "symbol")?;
        let options =
            WriteOptions::from_json(opt_str_arg(options_json, options_len, "options_json")?)?;
        if options.prune_previous_versions.is_some() {
            return Err(Error::invalid(
                "stage takes index and validate_index; pruning belongs to finalize",
            ));
        }
        lib.stage(
            symbol,
            &mut reader,
            options.index.as_deref(),
            options.validate_index,
        )
    })
}

/// Commits every chunk staged for `symbol` as one new version and forgets the chunks.
/// `options_json` (may be NULL): `{"mode": "write" | "append", "sort": false,
/// "prune_previous_versions": null}`. With an index, chunks are ordered by it and must not
/// overlap (`SHEAF_ERR_UNSORTED_INDEX`) unless `sort` is true, which sorts all staged rows.
/// No staged data: `SHEAF_ERR_NOT_FOUND`. `metadata` as in `sheaf_table_write`.
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
        };
        let version = lib.finalize_staged_data(symbol, metadata, &options)?;
        if !out_version.is_null() {
            write_out(out_version, "out_version", version)?;
        }
        Ok(())
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
