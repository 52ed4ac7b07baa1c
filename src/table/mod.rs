//! Versioned Arrow tables: ArcticDB's library / symbol / version model on top of
//! [`crate::storage`]. Every operation is a method of [`Library`]; this file is the map.
//!
//! | file | holds |
//! |---|---|
//! | `commit` | the chain head, the commit rule (put-if-absent of head + 1, re-base on a lost race), garbage collection |
//! | `write` | write, append, update (and its segment trimming), delete_data_in_range, write_metadata |
//! | `merge` | merge (ArcticDB's `merge_experimental`): source rows matched to stored ones by index and `on` columns |
//! | `read` | resolving `as_of`, read, read_metadata, get_description |
//! | `versions` | listing symbols and versions, delete, prune_previous_versions, compact_data |
//! | `snapshot` | snapshots: their encoding and operations |
//! | `staging` | stage, finalize_staged_data, delete_staged_data |
//! | `batch` | the `*_batch` calls |
//! | `concat` | concatenating reads of several symbols (outer / inner join of columns), a query over the whole |
//! | `sizes` | the storage a library's tables take, by kind of value and symbol (`admin_tools`) |
//! | `verify` | what `Store::verify` / `reclaim` check and remove in a library |
//! | `options` | what each call takes (`AsOf`, `ReadOptions`, `WriteOptions`, ...) |
//! | `results` | what calls return besides data (`VersionInfo`, `Description`, ...) |
//! | `record` | the version record on disk: header, live sets, segment references |
//! | `stats`, `prune` | per-segment column statistics kept in the record, and skipping segments by them |
//! | `segment` | one segment's IPC encoding, type and index checks |
//! | `encode_direct` | a fixed-width segment's IPC stream compressed straight from its arrays into the output |
//! | `segment_writer` | cutting an incoming stream into stored segments |
//! | `reader` | planning a read (segments, columns) and the lazy readers |
//! | `assemble` | a contiguous read: stored buffers decompressed straight into one buffer per column |
//! | `query_read` | planning a read that runs a [`crate::query`] plan |
//! | `string_format` | the Arrow type a read gives its string columns (large, small, views, categorical) |
//! | `parallel` | the ordered worker pool reads use |
//! | `schema` | dynamic-schema merging and index conversions |
//!
//! Where keys live in storage: [`crate::keys`].

mod assemble;
pub mod batch;
mod commit;
pub mod concat;
mod encode_direct;
mod merge;
pub mod options;
mod parallel;
pub mod prune;
mod query_read;
mod read;
pub mod reader;
pub mod record;
pub mod results;
mod schema;
pub mod segment;
mod segment_writer;
pub mod sizes;
pub mod snapshot;
pub mod staging;
pub mod stats;
pub mod string_format;
mod verify;
mod versions;
mod write;

pub use self::batch::{BatchWriteMode, MetadataItem, UpdateItem, WriteItem};
pub use self::concat::{ConcatInput, ConcatOptions, ConcatResult, Join};
pub use self::options::{
    AsOf, DateRange, IndexBound, MergeAction, MergeOptions, ReadOptions, UpdateOptions,
    WriteOptions,
};
pub use self::reader::TableReader;
pub use self::results::{ColumnInfo, Description, ReadResult, SnapshotInfo, VersionInfo};
pub use self::sizes::{KeyKind, Size, StorageSizes};
pub use self::snapshot::Snapshot;
pub use self::staging::{FinalizeMode, FinalizeOptions, StageOptions, StagedChunk};
pub use self::write::CHANGED_SINCE_READ;
use crate::error::Result;
use crate::storage::{KeyRange, ScanOptions};
use crate::store::Library;

/// How many segment keys a library holds in storage (for tests of garbage collection).
#[doc(hidden)]
pub fn debug_segment_count(lib: &Library) -> Result<usize> {
    let prefix = crate::keys::TableKeys {
        prefix: &lib.inner.prefix,
    }
    .segments_of_all();
    let entries = lib.storage()?.scan(
        &KeyRange::prefix(&prefix),
        ScanOptions {
            keys_only: true,
            ..Default::default()
        },
    )?;
    Ok(entries.len())
}
