//! Status codes as C constants. Grouped in ranges; a released code never changes meaning.
//! They repeat the codes of [`crate::error::ErrorKind`] (declared once there) as literals,
//! because cbindgen cannot expand macros; `tests/it/ffi.rs` checks that the header's codes and
//! `ErrorKind` agree exactly.

/// The result of every fallible call: `SHEAF_OK` or one of the `SHEAF_ERR_*` codes.
pub type SheafStatus = i32;

/// Success.
pub const SHEAF_OK: SheafStatus = 0;

/// 100–199, generic: an error with no better category.
pub const SHEAF_ERR_GENERIC: SheafStatus = 100;
/// The operation or option is not available (yet) in this build.
pub const SHEAF_ERR_UNSUPPORTED: SheafStatus = 101;
/// A wait ran out of time.
pub const SHEAF_ERR_TIMEOUT: SheafStatus = 102;
/// The caller cancelled the call (a SQL query through its SheafCancel).
pub const SHEAF_ERR_CANCELLED: SheafStatus = 103;

/// 200–299, I/O and storage: the operating system refused a file operation.
pub const SHEAF_ERR_IO: SheafStatus = 200;
/// The storage backend (e.g. LMDB) failed.
pub const SHEAF_ERR_STORAGE: SheafStatus = 201;
/// The storage is full (LMDB: raise `?map_size=` in the URI or config `lmdb.map_size`).
pub const SHEAF_ERR_STORAGE_FULL: SheafStatus = 202;
/// Stored bytes could not be decoded.
pub const SHEAF_ERR_CORRUPT: SheafStatus = 203;

/// 300–399, not found: something named does not exist.
pub const SHEAF_ERR_NOT_FOUND: SheafStatus = 300;
/// No library of that name.
pub const SHEAF_ERR_NO_SUCH_LIBRARY: SheafStatus = 301;
/// No symbol of that name (or every version of it was deleted).
pub const SHEAF_ERR_NO_SUCH_SYMBOL: SheafStatus = 302;
/// The symbol exists but not the requested version.
pub const SHEAF_ERR_NO_SUCH_VERSION: SheafStatus = 303;
/// No snapshot of that name.
pub const SHEAF_ERR_NO_SUCH_SNAPSHOT: SheafStatus = 304;
/// No such key in a key space.
pub const SHEAF_ERR_NO_SUCH_KEY: SheafStatus = 305;
/// No collection of that name.
pub const SHEAF_ERR_NO_SUCH_COLLECTION: SheafStatus = 306;
/// No document with that id.
pub const SHEAF_ERR_NO_SUCH_DOCUMENT: SheafStatus = 307;

/// 400–499, conflict: a commit kept losing races (see config `commit.max_retries`).
pub const SHEAF_ERR_CONFLICT: SheafStatus = 400;
/// A library of that name already exists.
pub const SHEAF_ERR_LIBRARY_EXISTS: SheafStatus = 401;
/// The key already exists.
pub const SHEAF_ERR_KEY_EXISTS: SheafStatus = 402;
/// A snapshot of that name already exists.
pub const SHEAF_ERR_SNAPSHOT_EXISTS: SheafStatus = 403;
/// A collection of that name already exists.
pub const SHEAF_ERR_COLLECTION_EXISTS: SheafStatus = 404;

/// 500–599, schema and data: the data does not fit the schema or the operation.
pub const SHEAF_ERR_SCHEMA: SheafStatus = 500;
/// The index column is not sorted ascending.
pub const SHEAF_ERR_UNSORTED_INDEX: SheafStatus = 501;
/// A column type Sheaf does not store; the message names the column and the type.
pub const SHEAF_ERR_UNSUPPORTED_TYPE: SheafStatus = 502;

/// 600–699, invalid argument: the caller passed something unusable.
pub const SHEAF_ERR_INVALID_ARGUMENT: SheafStatus = 600;
/// A required pointer was NULL.
pub const SHEAF_ERR_NULL_POINTER: SheafStatus = 601;
/// Text that must be UTF-8 is not.
pub const SHEAF_ERR_INVALID_UTF8: SheafStatus = 602;
/// A library or symbol name is empty, longer than 255 bytes, or holds a control character.
pub const SHEAF_ERR_INVALID_NAME: SheafStatus = 603;
/// The store URI cannot be understood.
pub const SHEAF_ERR_INVALID_URI: SheafStatus = 604;
/// An options document is not valid JSON or has unknown fields.
pub const SHEAF_ERR_INVALID_JSON: SheafStatus = 605;
/// A caller buffer is too small; the message says the size needed.
pub const SHEAF_ERR_BUFFER_TOO_SMALL: SheafStatus = 606;
/// A mode flag that makes no sense for the call.
pub const SHEAF_ERR_INVALID_MODE: SheafStatus = 607;
/// `sheaf_config_set_*` got a key it does not know.
pub const SHEAF_ERR_UNKNOWN_CONFIG_KEY: SheafStatus = 608;
/// Arrow input is malformed (bad offsets, invalid UTF-8, NULL buffers, a failing stream).
pub const SHEAF_ERR_INVALID_ARROW: SheafStatus = 609;

/// 700–799: the handle (or its store) was closed.
pub const SHEAF_ERR_CLOSED: SheafStatus = 700;

/// 900–999, internal: a bug in Sheaf, including a caught panic. Please report it.
pub const SHEAF_ERR_INTERNAL: SheafStatus = 900;
