//! Snapshots: library-wide named pins of (symbol, version) pairs, stored under the library's
//! `n\0<name>` key ([`crate::keys`]). A version a snapshot holds keeps its segments after it is
//! deleted from the chain, and stays readable through the snapshot.
//!
//! Encoding: `SHS1` | u32 LE JSON length | JSON `{"timestamp_ns", "versions": [[sym, v], …]}` |
//! u8 has-metadata | u64 LE length | metadata bytes.

use serde::{Deserialize, Serialize};

use super::commit::no_such_symbol;
use super::record::{live, now_ns};
use super::results::SnapshotInfo;
use crate::error::{Error, ErrorKind, Result};
use crate::storage::{KeyRange, ScanOptions, SharedStorage};
use crate::store::{validate_name, Library};

const MAGIC: &[u8; 4] = b"SHS1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SnapshotHeader {
    timestamp_ns: i64,
    versions: Vec<(String, u64)>,
}

/// A decoded snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub name: String,
    pub timestamp_ns: i64,
    /// (symbol, version) pairs, sorted by symbol.
    pub versions: Vec<(String, u64)>,
    pub metadata: Option<Vec<u8>>,
}

impl Snapshot {
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        let header = serde_json::to_vec(&SnapshotHeader {
            timestamp_ns: self.timestamp_ns,
            versions: self.versions.clone(),
        })?;
        let meta = self.metadata.as_deref();
        let mut out = Vec::with_capacity(20 + header.len() + meta.map_or(0, <[u8]>::len));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.push(meta.is_some() as u8);
        out.extend_from_slice(&(meta.map_or(0, <[u8]>::len) as u64).to_le_bytes());
        out.extend_from_slice(meta.unwrap_or_default());
        Ok(crate::checksum::seal(out))
    }

    /// Decodes a snapshot, verifying its checksum (see [`crate::checksum`]).
    pub(crate) fn decode(name: &str, bytes: &[u8]) -> Result<Snapshot> {
        let bytes = crate::checksum::unseal(bytes, || format!("snapshot '{name}'"))?.bytes();
        let bad = || Error::corrupt(format!("snapshot '{name}' cannot be decoded"));
        let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or_else(bad)?;
        let len = u32::from_le_bytes(
            rest.get(..4)
                .ok_or_else(bad)?
                .try_into()
                .map_err(|_| bad())?,
        ) as usize;
        let header: SnapshotHeader = serde_json::from_slice(rest.get(4..4 + len).ok_or_else(bad)?)
            .map_err(|e| bad().caused_by(e))?;
        let rest = &rest[4 + len..];
        let has_meta = *rest.first().ok_or_else(bad)? != 0;
        let meta_len = u64::from_le_bytes(
            rest.get(1..9)
                .ok_or_else(bad)?
                .try_into()
                .map_err(|_| bad())?,
        );
        let meta_end = 9 + usize::try_from(meta_len).map_err(|_| bad())?;
        let meta = rest.get(9..meta_end).ok_or_else(bad)?;
        if rest.len() != meta_end {
            return Err(bad());
        }
        Ok(Snapshot {
            name: name.to_string(),
            timestamp_ns: header.timestamp_ns,
            versions: header.versions,
            metadata: has_meta.then(|| meta.to_vec()),
        })
    }

    /// The version of `symbol` this snapshot holds.
    pub fn version_of(&self, symbol: &str) -> Option<u64> {
        self.versions
            .iter()
            .find(|(s, _)| s == symbol)
            .map(|(_, v)| *v)
    }
}

// ------------------------------------------------------------------ operations

impl Library {
    pub(super) fn snapshot_key(&self, name: &str) -> Vec<u8> {
        self.keys().snapshot(name)
    }

    pub(super) fn load_snapshots(&self, storage: &SharedStorage) -> Result<Vec<Snapshot>> {
        let prefix = self.keys().snapshots();
        let entries = storage.scan(&KeyRange::prefix(&prefix), ScanOptions::default())?;
        entries
            .iter()
            .map(|e| {
                let name = std::str::from_utf8(&e.key[prefix.len()..])
                    .map_err(|_| Error::corrupt("a snapshot name is not UTF-8"))?;
                Snapshot::decode(name, &e.value)
            })
            .collect()
    }

    pub(super) fn read_snapshot(&self, storage: &SharedStorage, name: &str) -> Result<Snapshot> {
        validate_name("snapshot", name)?;
        let bytes = storage.get(&self.snapshot_key(name))?.ok_or_else(|| {
            Error::new(
                ErrorKind::NoSuchSnapshot,
                format!("no snapshot '{name}' in library '{}'", self.name()),
            )
        })?;
        Snapshot::decode(name, &bytes)
    }

    /// Pins versions under `name`: the latest version of every symbol but `skip_symbols`, or
    /// exactly `versions` (symbol → version) when given. An existing name is `SnapshotExists`.
    pub fn snapshot(
        &self,
        name: &str,
        metadata: Option<Vec<u8>>,
        skip_symbols: &[String],
        versions: Option<&[(String, u64)]>,
    ) -> Result<()> {
        validate_name("snapshot", name)?;
        let storage = self.storage()?;
        if versions.is_some() && !skip_symbols.is_empty() {
            return Err(Error::invalid(
                "snapshot takes skip_symbols or versions, not both",
            ));
        }
        let mut pinned: Vec<(String, u64)> = match versions {
            Some(list) => {
                for (s, v) in list {
                    let head = self
                        .head(&storage, s)?
                        .ok_or_else(|| no_such_symbol(self, s))?;
                    if !live::contains(head.live(), *v) {
                        return Err(Error::new(
                            ErrorKind::NoSuchVersion,
                            format!("version {v} of '{s}' is not live"),
                        ));
                    }
                }
                list.to_vec()
            }
            None => {
                let mut out = Vec::new();
                for s in self.list_symbols(None)? {
                    if skip_symbols.contains(&s) {
                        continue;
                    }
                    if let Some(v) = self
                        .head(&storage, &s)?
                        .and_then(|h| live::latest(h.live()))
                    {
                        out.push((s, v));
                    }
                }
                out
            }
        };
        pinned.sort();
        let duplicates = pinned.windows(2).any(|w| w[0].0 == w[1].0);
        if duplicates {
            return Err(Error::invalid("a snapshot holds one version per symbol"));
        }
        let snapshot = Snapshot {
            name: name.to_string(),
            timestamp_ns: now_ns(),
            versions: pinned,
            metadata,
        };
        if !storage.put_if_absent(&self.snapshot_key(name), &snapshot.encode()?)? {
            return Err(Error::new(
                ErrorKind::SnapshotExists,
                format!("snapshot '{name}' already exists"),
            ));
        }
        // A delete that committed between our check and our put may already have collected the
        // segments of a pinned version: verify after the put, and undo if so. Deletes that
        // commit after this point see the snapshot and keep the segments.
        for (s, v) in &snapshot.versions {
            let still_live = self
                .head(&storage, s)?
                .is_some_and(|h| live::contains(h.live(), *v));
            if !still_live {
                storage.delete(&self.snapshot_key(name))?;
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "version {v} of '{s}' was deleted while snapshot '{name}' was being taken"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Every snapshot, by name.
    pub fn list_snapshots(&self) -> Result<Vec<SnapshotInfo>> {
        let storage = self.storage()?;
        Ok(self
            .load_snapshots(&storage)?
            .into_iter()
            .map(|s| SnapshotInfo {
                name: s.name,
                timestamp_ns: s.timestamp_ns,
                has_metadata: s.metadata.is_some(),
                symbols: s.versions.len() as u64,
            })
            .collect())
    }

    /// A snapshot's metadata.
    pub fn read_snapshot_metadata(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let storage = self.storage()?;
        Ok(self.read_snapshot(&storage, name)?.metadata)
    }

    /// Deletes a snapshot, and the segments of deleted versions only it held.
    pub fn delete_snapshot(&self, name: &str) -> Result<()> {
        let storage = self.storage()?;
        validate_name("snapshot", name)?;
        let key = self.snapshot_key(name);
        let bytes = storage.get(&key)?.ok_or_else(|| {
            Error::new(
                ErrorKind::NoSuchSnapshot,
                format!("no snapshot '{name}' in library '{}'", self.name()),
            )
        })?;
        let snapshot = Snapshot::decode(name, &bytes)?;
        // Only the caller that removes the key deletes the snapshot (and collects after it).
        if !storage.compare_and_swap(&key, Some(&bytes), None)? {
            return Err(Error::new(
                ErrorKind::NoSuchSnapshot,
                format!("snapshot '{name}' was deleted concurrently"),
            ));
        }
        for (symbol, version) in &snapshot.versions {
            let live_now = self
                .head(&storage, symbol)?
                .map(|h| h.live().to_vec())
                .unwrap_or_default();
            if !live::contains(&live_now, *version) {
                self.collect_garbage(&storage, symbol, &[*version], &live_now)?;
            }
        }
        Ok(())
    }
}
