//! Batch calls: one C call, many symbols, one result per item.
//!
//! Batch items are described by a JSON array; results come back as a JSON array of the same
//! length where each entry is either a success object or `{"error": {"code": 302, "name":
//! "SHEAF_ERR_NO_SUCH_SYMBOL", "message": "…"}}`. A batch call itself fails only when the batch
//! as a whole is unusable (bad JSON, wrong counts, a symbol named twice in a writing batch).

use std::ffi::c_char;

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::RecordBatchReader;
use serde::Deserialize;
use serde_json::{json, Value};

use super::arrow::{export_stream, import_stream};
use super::store::library_ref;
use super::table::metadata_arg;
use super::{
    bytes_out, guard, json_out, require_out, str_arg, write_out, SheafBytes, SheafError,
    SheafLibrary, SheafStatus,
};
use crate::error::{Error, ErrorKind, Result};
use crate::table::options::as_of_from_json;
use crate::table::{
    BatchWriteMode, ConcatOptions, MetadataItem, ReadOptions, UpdateItem, UpdateOptions, WriteItem,
    WriteOptions,
};

/// Borrowed bytes passed in by the caller: `data` NULL with `len` 0 means "none".
#[repr(C)]
pub struct SheafSlice {
    pub data: *const u8,
    pub len: usize,
}

fn error_json(e: &Error) -> Value {
    json!({"error": {"code": e.kind().code(), "name": e.kind().name(), "message": e.to_string()}})
}

fn results_json<T>(results: Vec<Result<T>>, ok: impl Fn(T) -> Value) -> Value {
    Value::Array(
        results
            .into_iter()
            .map(|r| r.map(&ok).unwrap_or_else(|e| error_json(&e)))
            .collect(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    symbol: String,
    #[serde(default)]
    options: Value,
}

fn parse_items(text: &str, n: usize) -> Result<Vec<Item>> {
    let items: Vec<Item> = serde_json::from_str(text)
        .map_err(|e| Error::new(ErrorKind::InvalidJson, "invalid batch items").caused_by(e))?;
    if items.len() != n {
        return Err(Error::invalid(format!(
            "the batch describes {} item(s) but n_items is {n}",
            items.len()
        )));
    }
    Ok(items)
}

fn options_text(v: &Value) -> String {
    if v.is_null() {
        String::new()
    } else {
        v.to_string()
    }
}

/// Takes every stream first (so each is released whatever happens), then the rest.
fn import_all(
    streams: *mut FFI_ArrowArrayStream,
    n: usize,
) -> Result<Vec<Result<Box<dyn RecordBatchReader>>>> {
    super::count_arg(n, "n_items")?;
    if n == 0 {
        return Ok(Vec::new());
    }
    if streams.is_null() {
        return Err(Error::new(
            ErrorKind::NullPointer,
            "streams is NULL with n_items > 0",
        ));
    }
    Ok((0..n)
        .map(|i| {
            // SAFETY: the caller passes an array of `n` streams.
            import_stream(unsafe { streams.add(i) })
                .map(|r| Box::new(r) as Box<dyn RecordBatchReader>)
        })
        .collect())
}

fn metadata_at(metadata: *const SheafSlice, i: usize) -> Result<Option<Vec<u8>>> {
    if metadata.is_null() {
        return Ok(None);
    }
    // SAFETY: when not NULL, the caller passes an array of `n_items` slices.
    let slice = unsafe { &*metadata.add(i) };
    metadata_arg(slice.data, slice.len)
}

#[allow(clippy::too_many_arguments)]
fn writing_batch(
    library: *const SheafLibrary,
    items_json: *const c_char,
    items_len: usize,
    streams: *mut FFI_ArrowArrayStream,
    metadata: *const SheafSlice,
    n_items: usize,
    out_results_json: *mut SheafBytes,
    mode: Option<BatchWriteMode>,
) -> Result<()> {
    let readers = import_all(streams, n_items)?;
    require_out(out_results_json, "out_results_json")?;
    let lib = library_ref(library)?;
    let items = parse_items(str_arg(items_json, items_len, "items_json")?, n_items)?;
    // Items whose stream or options are unusable fail alone; the rest go to the engine.
    let mut outcome: Vec<Option<Result<u64>>> = Vec::with_capacity(n_items);
    let mut readers: Vec<Option<Box<dyn RecordBatchReader>>> = readers
        .into_iter()
        .map(|r| match r {
            Ok(r) => {
                outcome.push(None);
                Some(r)
            }
            Err(e) => {
                outcome.push(Some(Err(e)));
                None
            }
        })
        .collect();
    let mut symbols = std::collections::HashSet::new();
    for item in &items {
        if !symbols.insert(item.symbol.as_str()) {
            return Err(Error::invalid(format!(
                "symbol '{}' appears more than once in the batch",
                item.symbol
            )));
        }
    }
    let mut positions = Vec::new();
    let results = match mode {
        Some(mode) => {
            let mut work = Vec::new();
            for ((i, item), slot) in items.iter().enumerate().zip(readers.iter_mut()) {
                let (Some(reader), None) = (slot.as_mut(), &outcome[i]) else {
                    continue;
                };
                match (
                    WriteOptions::from_json(&options_text(&item.options)),
                    metadata_at(metadata, i),
                ) {
                    (Ok(options), Ok(meta)) => {
                        positions.push(i);
                        work.push(WriteItem {
                            symbol: item.symbol.clone(),
                            data: reader.as_mut(),
                            metadata: meta,
                            options,
                        });
                    }
                    (Err(e), _) | (_, Err(e)) => outcome[i] = Some(Err(e)),
                }
            }
            lib.write_batch(work, mode)?
        }
        None => {
            let mut work = Vec::new();
            for ((i, item), slot) in items.iter().enumerate().zip(readers.iter_mut()) {
                let (Some(reader), None) = (slot.as_mut(), &outcome[i]) else {
                    continue;
                };
                match (
                    UpdateOptions::from_json(&options_text(&item.options)),
                    metadata_at(metadata, i),
                ) {
                    (Ok(options), Ok(meta)) => {
                        positions.push(i);
                        work.push(UpdateItem {
                            symbol: item.symbol.clone(),
                            data: reader.as_mut(),
                            metadata: meta,
                            options,
                        });
                    }
                    (Err(e), _) | (_, Err(e)) => outcome[i] = Some(Err(e)),
                }
            }
            lib.update_batch(work)?
        }
    };
    for (position, result) in positions.into_iter().zip(results) {
        outcome[position] = Some(result);
    }
    let all: Vec<Result<u64>> = outcome
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Err(Error::internal("missing batch result"))))
        .collect();
    json_out(
        out_results_json,
        "out_results_json",
        &results_json(all, |v| json!({"version": v})),
    )
}

/// Writes many symbols in one call. `items_json`: `[{"symbol": "a", "options": {…write
/// options…}}, …]` with `n_items` entries; `streams`: an array of `n_items` streams, all moved
/// in (and released, whatever happens); `metadata`: NULL, or an array of `n_items` slices
/// (`{NULL, 0}` = none). `*out_results_json`: `[{"version": N} | {"error": {"code": 302,
/// "name": "SHEAF_ERR_NO_SUCH_SYMBOL", "message": "…"}}, …]`. A symbol
/// named twice is `SHEAF_ERR_INVALID_ARGUMENT` for the whole batch (nothing is written).
///
/// Errors: for the whole batch: SHEAF_ERR_INVALID_JSON (bad items), SHEAF_ERR_INVALID_ARGUMENT (a
/// count that does not match, a symbol named twice), SHEAF_ERR_CLOSED; per item (in the results,
/// not the status): the errors of sheaf_table_write.
#[no_mangle]
pub extern "C" fn sheaf_table_write_batch(
    library: *const SheafLibrary,
    items_json: *const c_char,
    items_len: usize,
    streams: *mut FFI_ArrowArrayStream,
    metadata: *const SheafSlice,
    n_items: usize,
    out_results_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        writing_batch(
            library,
            items_json,
            items_len,
            streams,
            metadata,
            n_items,
            out_results_json,
            Some(BatchWriteMode::Write),
        )
    })
}

/// Appends to many symbols in one call; arguments as in `sheaf_table_write_batch`.
///
/// Errors: as sheaf_table_write_batch, per item those of sheaf_table_append.
#[no_mangle]
pub extern "C" fn sheaf_table_append_batch(
    library: *const SheafLibrary,
    items_json: *const c_char,
    items_len: usize,
    streams: *mut FFI_ArrowArrayStream,
    metadata: *const SheafSlice,
    n_items: usize,
    out_results_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        writing_batch(
            library,
            items_json,
            items_len,
            streams,
            metadata,
            n_items,
            out_results_json,
            Some(BatchWriteMode::Append),
        )
    })
}

/// Updates many symbols in one call; `options` of each item are update options (see
/// `sheaf_table_update`); otherwise as `sheaf_table_write_batch`.
///
/// Errors: as sheaf_table_write_batch, per item those of sheaf_table_update.
#[no_mangle]
pub extern "C" fn sheaf_table_update_batch(
    library: *const SheafLibrary,
    items_json: *const c_char,
    items_len: usize,
    streams: *mut FFI_ArrowArrayStream,
    metadata: *const SheafSlice,
    n_items: usize,
    out_results_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        writing_batch(
            library,
            items_json,
            items_len,
            streams,
            metadata,
            n_items,
            out_results_json,
            None,
        )
    })
}

/// Reads many symbols in one call. `items_json`: `[{"symbol": "a", "options": {…read
/// options, a "query" plan included…}}, …]` (a symbol may appear more than once; each item
/// has its own plan, and a bad plan fails only its item). `out_streams`: a caller-allocated
/// array of `n_items` streams, each filled (a failed item's is left released: `release` NULL);
/// `out_metadata`: NULL or an array of `n_items` SheafBytes. `*out_results_json`:
/// `[{"info": {…version info…}} | {"error": {…}}, …]`.
///
/// Errors: for the whole batch: SHEAF_ERR_INVALID_JSON, SHEAF_ERR_INVALID_ARGUMENT,
/// SHEAF_ERR_CLOSED; per item: the errors of sheaf_table_read.
#[no_mangle]
pub extern "C" fn sheaf_table_read_batch(
    library: *const SheafLibrary,
    items_json: *const c_char,
    items_len: usize,
    out_streams: *mut FFI_ArrowArrayStream,
    out_metadata: *mut SheafBytes,
    n_items: usize,
    out_results_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_results_json, "out_results_json")?;
        if n_items > 0 {
            require_out(out_streams, "out_streams")?;
        }
        let lib = library_ref(library)?;
        super::count_arg(n_items, "n_items")?;
        let items = parse_items(str_arg(items_json, items_len, "items_json")?, n_items)?;
        let mut requests = Vec::with_capacity(n_items);
        let mut bad_options = Vec::with_capacity(n_items);
        for item in &items {
            match ReadOptions::from_json(&options_text(&item.options)) {
                Ok(o) => {
                    requests.push((item.symbol.clone(), o));
                    bad_options.push(None);
                }
                Err(e) => {
                    requests.push((item.symbol.clone(), ReadOptions::default()));
                    bad_options.push(Some(e));
                }
            }
        }
        let results = lib.read_batch(&requests)?;
        let mut out = Vec::with_capacity(n_items);
        for (i, (result, bad)) in results.into_iter().zip(bad_options).enumerate() {
            // SAFETY: the caller passes arrays of `n_items` entries.
            let stream_slot = unsafe { out_streams.add(i) };
            let meta_slot = if out_metadata.is_null() {
                std::ptr::null_mut()
            } else {
                unsafe { out_metadata.add(i) }
            };
            let result = match bad {
                Some(e) => Err(e),
                None => result,
            };
            match result {
                Ok(r) => {
                    if !meta_slot.is_null() {
                        bytes_out(meta_slot, "out_metadata", r.metadata.unwrap_or_default())?;
                    }
                    out.push(json!({"info": r.info}));
                    export_stream(r.reader, stream_slot)?;
                }
                Err(e) => {
                    write_out(stream_slot, "out_streams", FFI_ArrowArrayStream::empty())?;
                    if !meta_slot.is_null() {
                        bytes_out(meta_slot, "out_metadata", Vec::new())?;
                    }
                    out.push(error_json(&e));
                }
            }
        }
        json_out(out_results_json, "out_results_json", &out)
    })
}

/// Concatenates the reads of several symbols into one stream (ArcticDB's `concat`). `items_json`
/// as in `sheaf_table_read_batch` (each item's read options and query apply to that symbol
/// before the concatenation; a query that aggregates is refused there). `options_json` (may be
/// NULL): `{"join": "outer" | "inner", "query": [clause, …], "strings": {…}}` — `outer` (the
/// default) keeps every column of any input, null where an input lacks it; `inner` only the
/// columns every input has; `query` runs over the concatenated rows (grammar as in
/// `sheaf_table_read`); `strings` as in read options. Rows come in item order; every input must
/// have the same index column (name and type) or none; a kept column has one type across
/// inputs or types that widen (ints to wider ints or floats). `*out_stream` receives the rows;
/// `out_metadata`: NULL or an array of `n_items` SheafBytes (each input's metadata);
/// `*out_infos_json`: `[{…version info…}, …]` of the versions read.
///
/// Errors: SHEAF_ERR_INVALID_JSON, SHEAF_ERR_INVALID_ARGUMENT (no items; an input query that
/// aggregates), SHEAF_ERR_SCHEMA (different indexes; column types that do not widen), and those
/// of sheaf_table_read for any item (the call fails as a whole). SHEAF_ERR_UNSORTED_INDEX comes
/// through the stream when a `resample` after the concat meets an index that goes back.
#[no_mangle]
pub extern "C" fn sheaf_table_read_concat(
    library: *const SheafLibrary,
    items_json: *const c_char,
    items_len: usize,
    options_json: *const c_char,
    options_len: usize,
    out_stream: *mut FFI_ArrowArrayStream,
    out_metadata: *mut SheafBytes,
    n_items: usize,
    out_infos_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_stream, "out_stream")?;
        require_out(out_infos_json, "out_infos_json")?;
        let lib = library_ref(library)?;
        super::count_arg(n_items, "n_items")?;
        let items = parse_items(str_arg(items_json, items_len, "items_json")?, n_items)?;
        let requests = items
            .iter()
            .map(|item| {
                ReadOptions::from_json(&options_text(&item.options))
                    .map(|o| (item.symbol.clone(), o))
            })
            .collect::<Result<Vec<_>>>()?;
        let options = ConcatOptions::from_json(super::opt_str_arg(
            options_json,
            options_len,
            "options_json",
        )?)?;
        let result = lib.read_concat(&requests, &options)?;
        let mut infos = Vec::with_capacity(n_items);
        for (i, input) in result.inputs.into_iter().enumerate() {
            if !out_metadata.is_null() {
                // SAFETY: the caller passes an array of `n_items` entries.
                let slot = unsafe { out_metadata.add(i) };
                bytes_out(slot, "out_metadata", input.metadata.unwrap_or_default())?;
            }
            infos.push(input.info);
        }
        json_out(out_infos_json, "out_infos_json", &infos)?;
        export_stream(result.reader, out_stream)
    })
}

/// Reads the metadata of many symbols in one call. `items_json`: `[{"symbol": "a", "options":
/// {"as_of": …}}, …]`; `out_metadata`: an array of `n_items` SheafBytes (`{NULL, 0}` for none
/// or for a failed item); `*out_results_json`: `[{"info": {…}} | {"error": {…}}, …]`.
///
/// Errors: for the whole batch: SHEAF_ERR_INVALID_JSON, SHEAF_ERR_INVALID_ARGUMENT,
/// SHEAF_ERR_CLOSED; per item: those of sheaf_table_read_metadata.
#[no_mangle]
pub extern "C" fn sheaf_table_read_metadata_batch(
    library: *const SheafLibrary,
    items_json: *const c_char,
    items_len: usize,
    out_metadata: *mut SheafBytes,
    n_items: usize,
    out_results_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_results_json, "out_results_json")?;
        if n_items > 0 {
            require_out(out_metadata, "out_metadata")?;
        }
        let lib = library_ref(library)?;
        // A closed library or store fails the whole call, not each item (the engine's batch calls check this themselves; this loop calls it item by item).
        lib.ensure_open()?;
        let items = parse_items(str_arg(items_json, items_len, "items_json")?, n_items)?;
        let mut out = Vec::with_capacity(n_items);
        for (i, item) in items.iter().enumerate() {
            // SAFETY: the caller passes an array of `n_items` SheafBytes.
            let slot = unsafe { out_metadata.add(i) };
            match as_of_from_json(&options_text(&item.options))
                .and_then(|as_of| lib.read_metadata(&item.symbol, &as_of))
            {
                Ok((info, meta)) => {
                    bytes_out(slot, "out_metadata", meta.unwrap_or_default())?;
                    out.push(json!({"info": info}));
                }
                Err(e) => {
                    bytes_out(slot, "out_metadata", Vec::new())?;
                    out.push(error_json(&e));
                }
            }
        }
        json_out(out_results_json, "out_results_json", &out)
    })
}

/// Describes many versions in one call (as sheaf_table_describe, without reading data).
/// `items_json`: `[{"symbol": "a", "options": {"as_of": …}}, …]` (a symbol may appear more than
/// once); `*out_results_json`: `[{"description": {…}} | {"error": {…}}, …]`, each description
/// the JSON sheaf_table_describe gives.
///
/// Errors: for the whole batch: SHEAF_ERR_INVALID_JSON, SHEAF_ERR_INVALID_ARGUMENT,
/// SHEAF_ERR_CLOSED; per item: those of sheaf_table_describe.
#[no_mangle]
pub extern "C" fn sheaf_table_describe_batch(
    library: *const SheafLibrary,
    items_json: *const c_char,
    items_len: usize,
    n_items: usize,
    out_results_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_results_json, "out_results_json")?;
        let lib = library_ref(library)?;
        let items = parse_items(str_arg(items_json, items_len, "items_json")?, n_items)?;
        let requests = items
            .into_iter()
            .map(|item| Ok((item.symbol, as_of_from_json(&options_text(&item.options))?)))
            .collect::<Result<Vec<_>>>()?;
        let results = lib.get_description_batch(&requests)?;
        json_out(
            out_results_json,
            "out_results_json",
            &results_json(results, |d| json!({ "description": d })),
        )
    })
}

/// Writes new metadata for many symbols in one call, each a version of its own (as
/// sheaf_table_write_metadata; a symbol without versions gets a first version with no columns
/// and no rows). `items_json`: `[{"symbol": "a", "options": {"prune_previous_versions": null |
/// true | false}}, …]`; `metadata`: an array of `n_items` slices (`{NULL, 0}` = no metadata), or
/// NULL for none at all; `*out_results_json`: `[{"version": N} | {"error": {…}}, …]`. A symbol
/// named twice fails the whole batch.
///
/// Errors: for the whole batch: SHEAF_ERR_INVALID_JSON, SHEAF_ERR_INVALID_ARGUMENT (also a symbol
/// named twice), SHEAF_ERR_CLOSED; per item: those of sheaf_table_write_metadata.
#[no_mangle]
pub extern "C" fn sheaf_table_write_metadata_batch(
    library: *const SheafLibrary,
    items_json: *const c_char,
    items_len: usize,
    metadata: *const SheafSlice,
    n_items: usize,
    out_results_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    struct MetadataOptions {
        prune_previous_versions: Option<bool>,
    }
    guard(err, || {
        require_out(out_results_json, "out_results_json")?;
        let lib = library_ref(library)?;
        let items = parse_items(str_arg(items_json, items_len, "items_json")?, n_items)?;
        let mut requests = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let options: MetadataOptions = if item.options.is_null() {
                MetadataOptions::default()
            } else {
                serde_json::from_value(item.options).map_err(|e| {
                    Error::new(ErrorKind::InvalidJson, "invalid write_metadata options")
                        .caused_by(e)
                })?
            };
            requests.push(MetadataItem {
                symbol: item.symbol,
                metadata: metadata_at(metadata, i)?,
                prune_previous_versions: options.prune_previous_versions,
            });
        }
        let results = lib.write_metadata_batch(requests)?;
        json_out(
            out_results_json,
            "out_results_json",
            &results_json(results, |v| json!({ "version": v })),
        )
    })
}

/// Deletes many symbols (or some of their versions) in one call. `items_json`:
/// `[{"symbol": "a", "options": {"versions": null | [1, 2]}}, …]`; `*out_results_json`:
/// `[{} | {"error": {…}}, …]`. A symbol named twice fails the whole batch.
///
/// Errors: for the whole batch: SHEAF_ERR_INVALID_JSON, SHEAF_ERR_INVALID_ARGUMENT (a symbol named
/// twice), SHEAF_ERR_CLOSED; per item: those of sheaf_table_delete.
#[no_mangle]
pub extern "C" fn sheaf_table_delete_batch(
    library: *const SheafLibrary,
    items_json: *const c_char,
    items_len: usize,
    out_results_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    struct DeleteOptions {
        versions: Option<Vec<u64>>,
    }
    guard(err, || {
        require_out(out_results_json, "out_results_json")?;
        let lib = library_ref(library)?;
        let text = str_arg(items_json, items_len, "items_json")?;
        let items: Vec<Item> = serde_json::from_str(text)
            .map_err(|e| Error::new(ErrorKind::InvalidJson, "invalid batch items").caused_by(e))?;
        let mut requests = Vec::with_capacity(items.len());
        for item in items {
            let options: DeleteOptions = if item.options.is_null() {
                DeleteOptions::default()
            } else {
                serde_json::from_value(item.options).map_err(|e| {
                    Error::new(ErrorKind::InvalidJson, "invalid delete options").caused_by(e)
                })?
            };
            requests.push((item.symbol, options.versions));
        }
        let results = lib.delete_batch(&requests)?;
        json_out(
            out_results_json,
            "out_results_json",
            &results_json(results, |()| json!({})),
        )
    })
}
