//! The one error type of the crate and its stable status codes.
//!
//! Codes are grouped in ranges (see [`crate::ffi::status`] for the C names) and are never
//! renumbered: a code, once released, keeps its meaning forever. New errors get new codes.

use std::fmt;

/// Result type used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, as a stable category. The numeric value is the C status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ErrorKind {
    // 100–199: generic
    Generic = 100,
    Unsupported = 101,
    Timeout = 102,
    // 200–299: I/O and storage
    Io = 200,
    Storage = 201,
    StorageFull = 202,
    Corrupt = 203,
    // 300–399: not found
    NotFound = 300,
    NoSuchLibrary = 301,
    NoSuchSymbol = 302,
    NoSuchVersion = 303,
    NoSuchSnapshot = 304,
    NoSuchKey = 305,
    NoSuchCollection = 306,
    NoSuchDocument = 307,
    // 400–499: conflict
    Conflict = 400,
    LibraryExists = 401,
    KeyExists = 402,
    SnapshotExists = 403,
    CollectionExists = 404,
    // 500–599: schema and data
    Schema = 500,
    UnsortedIndex = 501,
    UnsupportedType = 502,
    // 600–699: invalid argument
    InvalidArgument = 600,
    NullPointer = 601,
    InvalidUtf8 = 602,
    InvalidName = 603,
    InvalidUri = 604,
    InvalidJson = 605,
    BufferTooSmall = 606,
    InvalidMode = 607,
    UnknownConfigKey = 608,
    InvalidArrow = 609,
    // 700–799: closed handle
    Closed = 700,
    // 900–999: internal
    Internal = 900,
}

impl ErrorKind {
    /// Every kind, in code order; used to build the C tables and to test them.
    pub const ALL: &'static [ErrorKind] = &[
        ErrorKind::Generic,
        ErrorKind::Unsupported,
        ErrorKind::Timeout,
        ErrorKind::Io,
        ErrorKind::Storage,
        ErrorKind::StorageFull,
        ErrorKind::Corrupt,
        ErrorKind::NotFound,
        ErrorKind::NoSuchLibrary,
        ErrorKind::NoSuchSymbol,
        ErrorKind::NoSuchVersion,
        ErrorKind::NoSuchSnapshot,
        ErrorKind::NoSuchKey,
        ErrorKind::NoSuchCollection,
        ErrorKind::NoSuchDocument,
        ErrorKind::Conflict,
        ErrorKind::LibraryExists,
        ErrorKind::KeyExists,
        ErrorKind::SnapshotExists,
        ErrorKind::CollectionExists,
        ErrorKind::Schema,
        ErrorKind::UnsortedIndex,
        ErrorKind::UnsupportedType,
        ErrorKind::InvalidArgument,
        ErrorKind::NullPointer,
        ErrorKind::InvalidUtf8,
        ErrorKind::InvalidName,
        ErrorKind::InvalidUri,
        ErrorKind::InvalidJson,
        ErrorKind::BufferTooSmall,
        ErrorKind::InvalidMode,
        ErrorKind::UnknownConfigKey,
        ErrorKind::InvalidArrow,
        ErrorKind::Closed,
        ErrorKind::Internal,
    ];

    /// The C status code.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The kind for a status code, if the code is known.
    pub fn from_code(code: i32) -> Option<ErrorKind> {
        Self::ALL.iter().copied().find(|k| k.code() == code)
    }

    /// The C constant name, e.g. `SHEAF_ERR_NO_SUCH_SYMBOL`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Generic => "SHEAF_ERR_GENERIC",
            ErrorKind::Unsupported => "SHEAF_ERR_UNSUPPORTED",
            ErrorKind::Timeout => "SHEAF_ERR_TIMEOUT",
            ErrorKind::Io => "SHEAF_ERR_IO",
            ErrorKind::Storage => "SHEAF_ERR_STORAGE",
            ErrorKind::StorageFull => "SHEAF_ERR_STORAGE_FULL",
            ErrorKind::Corrupt => "SHEAF_ERR_CORRUPT",
            ErrorKind::NotFound => "SHEAF_ERR_NOT_FOUND",
            ErrorKind::NoSuchLibrary => "SHEAF_ERR_NO_SUCH_LIBRARY",
            ErrorKind::NoSuchSymbol => "SHEAF_ERR_NO_SUCH_SYMBOL",
            ErrorKind::NoSuchVersion => "SHEAF_ERR_NO_SUCH_VERSION",
            ErrorKind::NoSuchSnapshot => "SHEAF_ERR_NO_SUCH_SNAPSHOT",
            ErrorKind::NoSuchKey => "SHEAF_ERR_NO_SUCH_KEY",
            ErrorKind::NoSuchCollection => "SHEAF_ERR_NO_SUCH_COLLECTION",
            ErrorKind::NoSuchDocument => "SHEAF_ERR_NO_SUCH_DOCUMENT",
            ErrorKind::Conflict => "SHEAF_ERR_CONFLICT",
            ErrorKind::LibraryExists => "SHEAF_ERR_LIBRARY_EXISTS",
            ErrorKind::KeyExists => "SHEAF_ERR_KEY_EXISTS",
            ErrorKind::SnapshotExists => "SHEAF_ERR_SNAPSHOT_EXISTS",
            ErrorKind::CollectionExists => "SHEAF_ERR_COLLECTION_EXISTS",
            ErrorKind::Schema => "SHEAF_ERR_SCHEMA",
            ErrorKind::UnsortedIndex => "SHEAF_ERR_UNSORTED_INDEX",
            ErrorKind::UnsupportedType => "SHEAF_ERR_UNSUPPORTED_TYPE",
            ErrorKind::InvalidArgument => "SHEAF_ERR_INVALID_ARGUMENT",
            ErrorKind::NullPointer => "SHEAF_ERR_NULL_POINTER",
            ErrorKind::InvalidUtf8 => "SHEAF_ERR_INVALID_UTF8",
            ErrorKind::InvalidName => "SHEAF_ERR_INVALID_NAME",
            ErrorKind::InvalidUri => "SHEAF_ERR_INVALID_URI",
            ErrorKind::InvalidJson => "SHEAF_ERR_INVALID_JSON",
            ErrorKind::BufferTooSmall => "SHEAF_ERR_BUFFER_TOO_SMALL",
            ErrorKind::InvalidMode => "SHEAF_ERR_INVALID_MODE",
            ErrorKind::UnknownConfigKey => "SHEAF_ERR_UNKNOWN_CONFIG_KEY",
            ErrorKind::InvalidArrow => "SHEAF_ERR_INVALID_ARROW",
            ErrorKind::Closed => "SHEAF_ERR_CLOSED",
            ErrorKind::Internal => "SHEAF_ERR_INTERNAL",
        }
    }
}

/// An error: a stable kind, a message for people, and an optional cause chain.
#[derive(Debug, Clone, PartialEq, Eq)]
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

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        for cause in &self.causes {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

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
