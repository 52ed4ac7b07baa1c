//! Snapshots: library-wide named pins of one version per symbol. A pinned version stays
//! readable through the snapshot after it is deleted from its symbol's chain.

use std::ffi::c_char;

use super::store::library_ref;
use super::table::metadata_arg;
use super::{
    bytes_out, guard, json_out, opt_str_arg, require_out, str_arg, write_out, SheafBytes,
    SheafError, SheafLibrary, SheafStatus,
};
use crate::error::{Error, ErrorKind};

/// Pins versions under the snapshot `name` (library-wide). `metadata` as in `sheaf_table_write`.
/// `options_json` (may be NULL): `{"skip_symbols": ["a"], "versions": {"sym": 3}}` — by default
/// the latest version of every symbol; `versions` pins exactly those (mutually exclusive with
/// `skip_symbols`). Versions a snapshot holds stay readable (`{"as_of": "name"}`) and keep their
/// data after they are deleted. Errors: `SHEAF_ERR_SNAPSHOT_EXISTS`, `SHEAF_ERR_NO_SUCH_VERSION`,
/// `SHEAF_ERR_CONFLICT` (a pinned version was deleted meanwhile; nothing is created).
#[no_mangle]
pub extern "C" fn sheaf_snapshot_create(
    library: *const SheafLibrary,
    name: *const c_char,
    name_len: usize,
    metadata: *const u8,
    metadata_len: usize,
    options_json: *const c_char,
    options_len: usize,
    err: *mut *mut SheafError,
) -> SheafStatus {
    #[derive(serde::Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    struct SnapshotOptions {
        skip_symbols: Vec<String>,
        versions: Option<std::collections::BTreeMap<String, u64>>,
    }
    guard(err, || {
        let lib = library_ref(library)?;
        let name = str_arg(name, name_len, "name")?;
        let metadata = metadata_arg(metadata, metadata_len)?;
        let text = opt_str_arg(options_json, options_len, "options_json")?;
        let options: SnapshotOptions = if text.trim().is_empty() {
            SnapshotOptions::default()
        } else {
            serde_json::from_str(text).map_err(|e| {
                Error::new(ErrorKind::InvalidJson, "invalid snapshot options").caused_by(e)
            })?
        };
        let versions: Option<Vec<(String, u64)>> =
            options.versions.map(|m| m.into_iter().collect());
        lib.snapshot(name, metadata, &options.skip_symbols, versions.as_deref())
    })
}

/// Lists snapshots as JSON: `[{"name", "timestamp_ns", "has_metadata", "symbols"}]` by name.
///
/// Errors: SHEAF_ERR_CLOSED, SHEAF_ERR_CORRUPT.
#[no_mangle]
pub extern "C" fn sheaf_snapshot_list(
    library: *const SheafLibrary,
    out_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_json, "out_json")?;
        json_out(
            out_json,
            "out_json",
            &library_ref(library)?.list_snapshots()?,
        )
    })
}

/// A snapshot's metadata into `*out_metadata` (`{NULL, 0}` when none); `*out_has_metadata`
/// (may be NULL) tells none from empty. Missing snapshot: `SHEAF_ERR_NO_SUCH_SNAPSHOT`.
///
/// Errors: SHEAF_ERR_NO_SUCH_SNAPSHOT, SHEAF_ERR_INVALID_NAME.
#[no_mangle]
pub extern "C" fn sheaf_snapshot_read_metadata(
    library: *const SheafLibrary,
    name: *const c_char,
    name_len: usize,
    out_metadata: *mut SheafBytes,
    out_has_metadata: *mut bool,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_metadata, "out_metadata")?;
        let metadata =
            library_ref(library)?.read_snapshot_metadata(str_arg(name, name_len, "name")?)?;
        if !out_has_metadata.is_null() {
            write_out(out_has_metadata, "out_has_metadata", metadata.is_some())?;
        }
        bytes_out(out_metadata, "out_metadata", metadata.unwrap_or_default())
    })
}

/// Deletes a snapshot; data of deleted versions only it held is removed.
/// Missing snapshot: `SHEAF_ERR_NO_SUCH_SNAPSHOT`.
///
/// Errors: SHEAF_ERR_NO_SUCH_SNAPSHOT (also when another caller deleted it first),
/// SHEAF_ERR_INVALID_NAME.
#[no_mangle]
pub extern "C" fn sheaf_snapshot_delete(
    library: *const SheafLibrary,
    name: *const c_char,
    name_len: usize,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        library_ref(library)?.delete_snapshot(str_arg(name, name_len, "name")?)
    })
}

/// The symbols a snapshot holds, as a JSON array of names in byte order.
///
/// Errors: SHEAF_ERR_NO_SUCH_SNAPSHOT, SHEAF_ERR_INVALID_NAME.
#[no_mangle]
pub extern "C" fn sheaf_snapshot_list_symbols(
    library: *const SheafLibrary,
    name: *const c_char,
    name_len: usize,
    out_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_json, "out_json")?;
        let lib = library_ref(library)?;
        json_out(
            out_json,
            "out_json",
            &lib.list_symbols(Some(str_arg(name, name_len, "name")?))?,
        )
    })
}
