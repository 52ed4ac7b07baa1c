//! What table calls return besides data: version facts, descriptions, snapshot listings,
//! and the result of a read. Their JSON forms are part of the C ABI.

use arrow_array::RecordBatchReader;
use serde::{Deserialize, Serialize};

/// What is known about one version without reading its data.
///
/// JSON: `{"symbol": "s", "version": 3, "timestamp_ns": 1700000000000000000, "deleted": false,
/// "rows": 10, "index": "ts" | null, "index_sorted": true, "has_metadata": true,
/// "snapshots": ["snap"], "content": null | "python-pickle"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub symbol: String,
    pub version: u64,
    pub timestamp_ns: i64,
    /// Deleted from the chain but still held by a snapshot.
    pub deleted: bool,
    pub rows: u64,
    pub index: Option<String>,
    /// The index column's values ascend (false without an index), so a reader may mark the
    /// column sorted (polars does).
    pub index_sorted: bool,
    pub has_metadata: bool,
    /// Snapshots holding this version, by name.
    pub snapshots: Vec<String>,
    /// The format of an opaque object (the version holds one binary column of its bytes, not
    /// a table); `None` for a table.
    #[serde(default)]
    pub content: Option<String>,
}

/// One column of a [`Description`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnInfo {
    pub name: String,
    /// The Arrow type, as arrow-rs displays it (e.g. `Float64`, `Timestamp(ns, "UTC")`).
    pub r#type: String,
    pub nullable: bool,
}

/// What `get_description` returns. JSON: the fields below; `index_range` is the raw
/// `[min, max]` of the index column (in its own unit) or null; `sorted` is `"ASCENDING"`,
/// `"UNSORTED"` or `"UNKNOWN"` (no index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description {
    pub symbol: String,
    pub version: u64,
    pub columns: Vec<ColumnInfo>,
    pub index: Option<ColumnInfo>,
    pub row_count: u64,
    pub index_range: Option<[i64; 2]>,
    pub sorted: String,
    pub last_update_time_ns: i64,
    pub segments: u64,
    /// Bytes the version's segments take in storage (after compression).
    pub stored_bytes: u64,
    pub has_metadata: bool,
    /// As in [`VersionInfo::content`].
    #[serde(default)]
    pub content: Option<String>,
}

/// What a snapshot listing shows. JSON: `{"name", "timestamp_ns", "has_metadata", "symbols"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    pub name: String,
    pub timestamp_ns: i64,
    pub has_metadata: bool,
    pub symbols: u64,
}

/// The result of [`Library::read`]: what was read, its metadata, and a reader over its rows
/// (a [`super::TableReader`], or a [`super::reader::QueryReader`] when the options carry a query).
pub struct ReadResult {
    pub info: VersionInfo,
    pub metadata: Option<Vec<u8>>,
    pub reader: Box<dyn RecordBatchReader + Send>,
}
