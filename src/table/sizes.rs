//! How much storage a library's tables take (ArcticDB's `admin_tools().get_sizes*`): the
//! bytes and number of stored values of each kind of key, per symbol and for the library.
//! Sizes are measured on the stored values themselves (lent by the storage, not copied),
//! so they count every value present, referenced or not.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::storage::{KeyRange, ScanOptions};
use crate::store::{validate_name, Library};

/// The kinds of stored values of a library, named as ArcticDB's key types where one matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// Segments: the compressed column data (staged chunks' data included).
    TableData,
    /// Version records: each version's schema, segment list, statistics and metadata.
    Version,
    /// Staged chunks' records (their data is `table_data`).
    AppendData,
    /// Snapshots.
    SnapshotRef,
}

/// Bytes and number of values of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Size {
    pub bytes: u64,
    pub count: u64,
}

/// What [`Library::storage_sizes`] returns. JSON: `{"total": {KIND: {"bytes", "count"}},
/// "symbols": {"s": {KIND: {…}}}}` with KIND one of `table_data`, `version`, `append_data`,
/// `snapshot_ref` (kinds with no values are left out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageSizes {
    pub total: BTreeMap<KeyKind, Size>,
    pub symbols: BTreeMap<String, BTreeMap<KeyKind, Size>>,
}

impl StorageSizes {
    fn add(&mut self, symbol: Option<&str>, kind: KeyKind, bytes: u64) {
        for size in [
            Some(self.total.entry(kind).or_default()),
            symbol.map(|s| {
                self.symbols
                    .entry(s.to_string())
                    .or_default()
                    .entry(kind)
                    .or_default()
            }),
        ]
        .into_iter()
        .flatten()
        {
            size.bytes += bytes;
            size.count += 1;
        }
    }
}

impl Library {
    /// The storage the library's tables take, by kind of value, per symbol and in total; with
    /// `symbol`, only that symbol's values (snapshots are the library's, not a symbol's).
    pub fn storage_sizes(&self, symbol: Option<&str>) -> Result<StorageSizes> {
        if let Some(s) = symbol {
            validate_name("symbol", s)?;
        }
        let storage = self.storage()?;
        let keys = self.keys();
        let mut prefixes = match symbol {
            Some(s) => vec![
                (keys.versions_of(s), KeyKind::Version),
                (keys.segments_of(s), KeyKind::TableData),
                (keys.staging_of(s), KeyKind::AppendData),
            ],
            None => vec![
                (keys.versions_of_all(), KeyKind::Version),
                (keys.segments_of_all(), KeyKind::TableData),
                (keys.staging_of_all(), KeyKind::AppendData),
            ],
        };
        if symbol.is_none() {
            prefixes.push((keys.snapshots(), KeyKind::SnapshotRef));
        }
        // Where a symbol's name starts in each key (after the library prefix and the tag).
        let name_at = self.inner.prefix.len() + 2;
        let mut sizes = StorageSizes::default();
        for (prefix, kind) in prefixes {
            let entries = storage.scan(
                &KeyRange::prefix(&prefix),
                ScanOptions {
                    keys_only: true,
                    ..Default::default()
                },
            )?;
            for entry in entries {
                let mut bytes = 0u64;
                storage.with_value(&entry.key, &mut |v| {
                    bytes = v.map_or(0, |v| v.len() as u64);
                    Ok(())
                })?;
                let owner = match kind {
                    KeyKind::SnapshotRef => None,
                    _ => entry.key.get(name_at..).and_then(|rest| {
                        let end = rest.iter().position(|b| *b == 0)?;
                        std::str::from_utf8(&rest[..end]).ok()
                    }),
                };
                sizes.add(owner, kind, bytes);
            }
        }
        Ok(sizes)
    }
}
