//! The one error type of the crate and its stable status codes.
//!
//! Codes are grouped in ranges (see [`crate::ffi::status`] for the C names) and are never
//! renumbered: a code, once released, keeps its meaning forever. New errors get new codes.

use std::fmt;

/// Result type used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Declares [`ErrorKind`] once: each kind's variant, C status code, C constant name and
/// meaning. The enum, [`ErrorKind::ALL`], [`ErrorKind::name`] and [`ErrorKind::meaning`] all
/// come from this one list; `src/ffi/status.rs` repeats the codes as C constants for the
/// header (cbindgen cannot expand macros) and `tests/it/ffi.rs` checks the two agree.
macro_rules! error_kinds {
    ($($variant:ident = $code:literal, $name:literal, $meaning:literal;)*) => {
        /// What went wrong, as a stable category. The numeric value is the C status code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum ErrorKind {
            $(#[doc = $meaning] $variant = $code,)*
        }

        impl ErrorKind {
            /// Every kind, in code order; used to build the C tables and to test them.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$variant,)*];

            /// The C constant name, e.g. `SHEAF_ERR_NO_SUCH_SYMBOL`.
            pub fn name(self) -> &'static str {
                match self {
                    $(ErrorKind::$variant => $name,)*
                }
            }

            /// One sentence on what the kind means (the C constant's documentation).
            pub fn meaning(self) -> &'static str {
                match self {
                    $(ErrorKind::$variant => $meaning,)*
                }
            }
        }
    };
}

error_kinds! {
    // 100–199: generic
    Generic = 100, "SHEAF_ERR_GENERIC", "An error with no better category.";
    Unsupported = 101, "SHEAF_ERR_UNSUPPORTED", "The operation or option is not available (yet) in this build.";
    Timeout = 102, "SHEAF_ERR_TIMEOUT", "A wait ran out of time.";
    Cancelled = 103, "SHEAF_ERR_CANCELLED", "The caller cancelled the call (a SQL query through its SheafCancel).";
    // 200–299: I/O and storage
    Io = 200, "SHEAF_ERR_IO", "The operating system refused a file operation.";
    Storage = 201, "SHEAF_ERR_STORAGE", "The storage backend (e.g. LMDB) failed.";
    StorageFull = 202, "SHEAF_ERR_STORAGE_FULL", "The storage is full (LMDB: raise `?map_size=` in the URI or config `lmdb.map_size`).";
    Corrupt = 203, "SHEAF_ERR_CORRUPT", "Stored bytes could not be decoded or fail their checksum.";
    // 300–399: not found
    NotFound = 300, "SHEAF_ERR_NOT_FOUND", "Something named does not exist.";
    NoSuchLibrary = 301, "SHEAF_ERR_NO_SUCH_LIBRARY", "No library of that name.";
    NoSuchSymbol = 302, "SHEAF_ERR_NO_SUCH_SYMBOL", "No symbol of that name (or every version of it was deleted).";
    NoSuchVersion = 303, "SHEAF_ERR_NO_SUCH_VERSION", "The symbol exists but not the requested version.";
    NoSuchSnapshot = 304, "SHEAF_ERR_NO_SUCH_SNAPSHOT", "No snapshot of that name.";
    NoSuchKey = 305, "SHEAF_ERR_NO_SUCH_KEY", "No such key in a key space.";
    NoSuchCollection = 306, "SHEAF_ERR_NO_SUCH_COLLECTION", "No collection of that name.";
    NoSuchDocument = 307, "SHEAF_ERR_NO_SUCH_DOCUMENT", "No document with that id.";
    // 400–499: conflict
    Conflict = 400, "SHEAF_ERR_CONFLICT", "A commit kept losing races (see config `commit.max_retries`).";
    LibraryExists = 401, "SHEAF_ERR_LIBRARY_EXISTS", "A library of that name already exists.";
    KeyExists = 402, "SHEAF_ERR_KEY_EXISTS", "The key already exists.";
    SnapshotExists = 403, "SHEAF_ERR_SNAPSHOT_EXISTS", "A snapshot of that name already exists.";
    CollectionExists = 404, "SHEAF_ERR_COLLECTION_EXISTS", "A collection of that name already exists.";
    // 500–599: schema and data
    Schema = 500, "SHEAF_ERR_SCHEMA", "The data does not fit the schema or the operation.";
    UnsortedIndex = 501, "SHEAF_ERR_UNSORTED_INDEX", "The index column is not sorted ascending.";
    UnsupportedType = 502, "SHEAF_ERR_UNSUPPORTED_TYPE", "A column type Sheaf does not store; the message names the column and the type.";
    // 600–699: invalid argument
    InvalidArgument = 600, "SHEAF_ERR_INVALID_ARGUMENT", "The caller passed something unusable.";
    NullPointer = 601, "SHEAF_ERR_NULL_POINTER", "A required pointer was NULL.";
    InvalidUtf8 = 602, "SHEAF_ERR_INVALID_UTF8", "Text that must be UTF-8 is not.";
    InvalidName = 603, "SHEAF_ERR_INVALID_NAME", "A library or symbol name is empty, longer than 255 bytes, or holds a control character.";
    InvalidUri = 604, "SHEAF_ERR_INVALID_URI", "The store URI cannot be understood.";
    InvalidJson = 605, "SHEAF_ERR_INVALID_JSON", "An options document is not valid JSON or has unknown fields.";
    BufferTooSmall = 606, "SHEAF_ERR_BUFFER_TOO_SMALL", "A caller buffer is too small; the message says the size needed.";
    InvalidMode = 607, "SHEAF_ERR_INVALID_MODE", "A mode flag that makes no sense for the call.";
    UnknownConfigKey = 608, "SHEAF_ERR_UNKNOWN_CONFIG_KEY", "`sheaf_config_set_*` got a key it does not know.";
    InvalidArrow = 609, "SHEAF_ERR_INVALID_ARROW", "Arrow input is malformed (bad offsets, invalid UTF-8, NULL buffers, a failing stream).";
    // 700–799: closed handle
    Closed = 700, "SHEAF_ERR_CLOSED", "The handle (or its store) was closed.";
    // 900–999: internal
    Internal = 900, "SHEAF_ERR_INTERNAL", "A bug in Sheaf, including a caught panic. Please report it.";
}

impl ErrorKind {
    /// The C status code.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The kind for a status code, if the code is known.
    pub fn from_code(code: i32) -> Option<ErrorKind> {
        Self::ALL.iter().copied().find(|k| k.code() == code)
    }
}

/// An error: a stable kind, a message for people, and an optional cause chain. It displays as
/// the message followed by each cause, separated by `: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}{}", .causes.iter().map(|c| format!(": {c}")).collect::<String>())]
pub struct Error {
    kind: ErrorKind,
    message: String,
    causes: Vec<String>,
}

impl Error {
    /// A new error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            causes: Vec::new(),
        }
    }

    /// Adds the text of an underlying error to the cause chain.
    pub fn caused_by(mut self, cause: impl fmt::Display) -> Self {
        self.causes.push(cause.to_string());
        self
    }

    /// Prefixes the message with where it happened, keeping the kind.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// The stable category.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without the cause chain.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub(crate) fn storage(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Storage, message)
    }

    pub(crate) fn corrupt(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Corrupt, message)
    }

    pub(crate) fn closed(what: &str) -> Self {
        Error::new(ErrorKind::Closed, format!("the {what} is closed"))
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, "I/O error").caused_by(e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::new(ErrorKind::InvalidJson, "invalid JSON").caused_by(e)
    }
}
