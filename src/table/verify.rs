//! Walking one library's tables for [`crate::verify`]: every record, snapshot and staged chunk
//! decoded (checksums verified), every referenced segment present (and, when checking data,
//! matching its checksum), and the keys nothing refers to listed as leftovers.
//!
//! The walk reads staging first, then the chains, then snapshots, then the segment keys. That
//! order matters to `reclaim` running beside writers: a reference only ever moves forward along
//! it (a finalize moves a chunk's segments into a version before removing the chunk; a snapshot
//! is taken before the version it holds can be deleted), so a segment that is referenced
//! throughout the walk is always seen referenced.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::record::{live, Record, SegmentRef};
use super::snapshot::Snapshot;
use crate::error::Result;
use crate::keys::TableKeys;
use crate::storage::{KeyRange, ScanOptions, SharedStorage};
use crate::store::Library;
use crate::verify::{Leftover, LeftoverKind, VerifyReport};

/// When the segment with this id was written (its id starts with the time in hex ns).
pub(crate) fn segment_written_ns(id: &str) -> Option<u64> {
    u64::from_str_radix(id.get(..16)?, 16).ok()
}

fn split_symbol(rest: &[u8]) -> Option<(String, &[u8])> {
    let end = rest.iter().position(|b| *b == 0)?;
    let name = std::str::from_utf8(&rest[..end]).ok()?.to_string();
    Some((name, &rest[end + 1..]))
}

impl Library {
    /// Adds this library's problems and leftovers to `report`; with `check_data`, every
    /// referenced segment is read and its checksum verified.
    pub(crate) fn verify_tables(
        &self,
        storage: &SharedStorage,
        check_data: bool,
        report: &mut VerifyReport,
    ) -> Result<()> {
        let keys = TableKeys {
            prefix: &self.inner.prefix,
        };
        let all = ScanOptions::default();
        // 1. staged chunks (see the module doc for why first)
        let staging_prefix = keys.staging_of_all();
        let mut chunks: Vec<(String, String, Vec<u8>, Record)> = Vec::new();
        for e in storage.scan(&KeyRange::prefix(&staging_prefix), all)? {
            report.checked += 1;
            let Some((symbol, id)) = split_symbol(&e.key[staging_prefix.len()..]) else {
                report.problem(&e.key, "a staging key is malformed");
                continue;
            };
            match Record::decode(&e.value) {
                Ok(r) => chunks.push((symbol, String::from_utf8_lossy(id).into_owned(), e.key, r)),
                Err(err) => report.problem(&e.key, err.message()),
            }
        }
        // 2. the chains
        let versions_prefix = keys.versions_of_all();
        let mut chains: BTreeMap<String, BTreeMap<u64, Record>> = BTreeMap::new();
        for e in storage.scan(&KeyRange::prefix(&versions_prefix), all)? {
            report.checked += 1;
            let parsed = split_symbol(&e.key[versions_prefix.len()..])
                .and_then(|(s, rest)| Some((s, u64::from_be_bytes(rest.try_into().ok()?))));
            let Some((symbol, version)) = parsed else {
                report.problem(&e.key, "a version key is malformed");
                continue;
            };
            match Record::decode(&e.value) {
                Ok(r) => {
                    chains.entry(symbol).or_default().insert(version, r);
                }
                Err(err) => report.problem(&e.key, err.message()),
            }
        }
        // 3. snapshots
        let snapshot_prefix = keys.snapshots();
        let mut held: HashSet<(String, u64)> = HashSet::new();
        for e in storage.scan(&KeyRange::prefix(&snapshot_prefix), all)? {
            report.checked += 1;
            let name = String::from_utf8_lossy(&e.key[snapshot_prefix.len()..]).into_owned();
            match Snapshot::decode(&name, &e.value) {
                Ok(s) => {
                    for (symbol, v) in s.versions {
                        if !chains.get(&symbol).is_some_and(|c| c.contains_key(&v)) {
                            report.problem(
                                &e.key,
                                &format!("snapshot '{name}' holds version {v} of '{symbol}', which does not exist"),
                            );
                        }
                        held.insert((symbol, v));
                    }
                }
                Err(err) => report.problem(&e.key, err.message()),
            }
        }
        // What refers to segments: live versions, versions snapshots hold, pending chunks.
        let mut referenced: HashMap<(String, String), Option<u64>> = HashMap::new();
        let mut refer = |symbol: &str, s: &SegmentRef| {
            referenced.insert((symbol.to_string(), s.id.clone()), s.checksum);
        };
        for (symbol, chain) in &chains {
            let live_set = chain
                .values()
                .next_back()
                .map(|r| r.header.live.clone())
                .unwrap_or_default();
            for (v, record) in chain {
                if live::contains(&live_set, *v) || held.contains(&(symbol.clone(), *v)) {
                    for s in &record.header.segments {
                        refer(symbol, s);
                    }
                }
            }
        }
        for (symbol, id, key, record) in &chunks {
            let consumed = chains
                .get(symbol)
                .is_some_and(|c| c.values().any(|r| r.header.consumed.contains(id)));
            if consumed {
                report.leftovers.push(Leftover {
                    key: key.clone(),
                    kind: LeftoverKind::ConsumedChunk,
                    written_ns: None,
                });
            } else {
                for s in &record.header.segments {
                    refer(symbol, s);
                }
            }
        }
        // 4. segments
        let segment_prefix = keys.segments_of_all();
        let stored = storage.scan(
            &KeyRange::prefix(&segment_prefix),
            ScanOptions {
                keys_only: true,
                ..Default::default()
            },
        )?;
        let mut present: HashSet<(String, String)> = HashSet::new();
        for e in stored {
            let Some((symbol, id)) = split_symbol(&e.key[segment_prefix.len()..]) else {
                report.problem(&e.key, "a segment key is malformed");
                continue;
            };
            let id = String::from_utf8_lossy(id).into_owned();
            let pair = (symbol, id);
            if !referenced.contains_key(&pair) {
                report.leftovers.push(Leftover {
                    written_ns: segment_written_ns(&pair.1),
                    key: e.key,
                    kind: LeftoverKind::UnreferencedSegment,
                });
            }
            present.insert(pair);
        }
        let mut missing: Vec<&(String, String)> = referenced
            .keys()
            .filter(|p| !present.contains(*p))
            .collect();
        missing.sort();
        for (symbol, id) in missing {
            report.problem(
                &keys.segment(symbol, id),
                &format!("segment {id} of '{symbol}' is referenced but missing"),
            );
        }
        if check_data {
            let mut checked: Vec<(&(String, String), &Option<u64>)> = referenced
                .iter()
                .filter(|(p, _)| present.contains(*p))
                .collect();
            checked.sort();
            for ((symbol, id), checksum) in checked {
                let key = keys.segment(symbol, id);
                report.checked += 1;
                if let Some(bytes) = storage.get(&key)? {
                    if let Err(err) = crate::checksum::verify_segment(&bytes, *checksum, || {
                        format!("segment {id} of '{symbol}'")
                    }) {
                        report.problem(&key, err.message());
                    }
                }
            }
        }
        Ok(())
    }
}
