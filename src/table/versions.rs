//! Operations on a symbol's chain as a whole: listing symbols and versions, deleting versions
//! (a tombstone commit, then garbage collection), pruning, and compaction.

use super::commit::{lost_race, no_such_symbol};
use super::options::AsOf;
use super::record::{live, now_ns, Record, RecordHeader, RecordKind};
use super::results::VersionInfo;
use super::segment_writer::SegmentWriter;
use crate::error::{Error, ErrorKind, Result};
use crate::storage::SharedStorage;
use crate::store::{validate_name, Library};

impl Library {
    /// Symbols with at least one live version (or held by `snapshot`), in byte order.
    pub fn list_symbols(&self, snapshot: Option<&str>) -> Result<Vec<String>> {
        let storage = self.storage()?;
        if let Some(name) = snapshot {
            let mut symbols: Vec<String> = self
                .read_snapshot(&storage, name)?
                .versions
                .into_iter()
                .map(|(s, _)| s)
                .collect();
            symbols.sort();
            return Ok(symbols);
        }
        let mut out = Vec::new();
        for name in self.all_symbols(&storage)? {
            if self
                .head(&storage, &name)?
                .is_some_and(|h| !h.live().is_empty())
            {
                out.push(name);
            }
        }
        Ok(out)
    }

    /// [`Self::list_symbols`] keeping the names `pattern` matches anywhere (as Python's
    /// `re.search`), in the syntax of Rust's `regex` crate: matching takes time linear in the
    /// name, whatever the pattern (no backtracking, so no backreferences or lookaround).
    pub fn list_symbols_matching(
        &self,
        snapshot: Option<&str>,
        pattern: Option<&str>,
    ) -> Result<Vec<String>> {
        let names = self.list_symbols(snapshot)?;
        let Some(pattern) = pattern else {
            return Ok(names);
        };
        let regex = regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| {
                Error::invalid(format!(
                    "{pattern:?} is not a regular expression Sheaf accepts"
                ))
                .caused_by(e)
            })?;
        Ok(names.into_iter().filter(|n| regex.is_match(n)).collect())
    }

    /// Every symbol with a chain (live or not), by skipping from one symbol's keys to the next.
    pub(super) fn all_symbols(&self, storage: &SharedStorage) -> Result<Vec<String>> {
        let all = self.keys().versions_of_all();
        let end = crate::storage::prefix_successor(&all);
        let mut start = all.clone();
        let mut out = Vec::new();
        let end = end.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        while let Some(key) = crate::storage::first_key_from(storage.as_ref(), &start, &end)? {
            let rest = &key[all.len()..];
            let name_end = rest
                .len()
                .checked_sub(9)
                .ok_or_else(|| Error::corrupt("a version key is malformed"))?;
            let name = std::str::from_utf8(&rest[..name_end])
                .map_err(|_| Error::corrupt("a symbol name is not UTF-8"))?
                .to_string();
            // Skip every version key of this symbol: the next key after `v\0<name>\0...`.
            start = crate::storage::prefix_successor(&self.keys().versions_of(&name))
                .ok_or_else(|| Error::internal("a version prefix has no successor"))?;
            out.push(name);
        }
        Ok(out)
    }

    /// Whether `symbol` has a live version (or, with `as_of`, that version).
    pub fn has_symbol(&self, symbol: &str, as_of: &AsOf) -> Result<bool> {
        validate_name("symbol", symbol)?;
        let storage = self.storage()?;
        match self.resolve(&storage, symbol, as_of) {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::NoSuchSymbol | ErrorKind::NoSuchVersion | ErrorKind::NoSuchSnapshot
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Versions of one symbol (or of every symbol), newest first: the live ones and the deleted
    /// ones snapshots still hold. With `snapshot`, only the versions that snapshot holds; with
    /// `latest_only`, one per symbol.
    pub fn list_versions(
        &self,
        symbol: Option<&str>,
        snapshot: Option<&str>,
        latest_only: bool,
    ) -> Result<Vec<VersionInfo>> {
        let storage = self.storage()?;
        let snapshots = self.load_snapshots(&storage)?;
        if let Some(name) = snapshot {
            if !snapshots.iter().any(|s| s.name == name) {
                return Err(Error::new(
                    ErrorKind::NoSuchSnapshot,
                    format!("no snapshot '{name}' in library '{}'", self.name()),
                ));
            }
        }
        let symbols = match symbol {
            Some(s) => {
                validate_name("symbol", s)?;
                vec![s.to_string()]
            }
            None => self.all_symbols(&storage)?,
        };
        let mut out = Vec::new();
        for s in symbols {
            let Some(head) = self.head(&storage, &s)? else {
                continue;
            };
            let held: Vec<(u64, &str)> = snapshots
                .iter()
                .filter_map(|snap| snap.version_of(&s).map(|v| (v, snap.name.as_str())))
                .collect();
            let mut versions: Vec<u64> = live::versions(head.live()).collect();
            versions.extend(held.iter().map(|(v, _)| *v));
            versions.sort_unstable();
            versions.dedup();
            if let Some(name) = snapshot {
                versions.retain(|v| held.iter().any(|(hv, n)| hv == v && *n == name));
            }
            for v in versions.into_iter().rev() {
                let record = if v == head.number {
                    head.record.clone()
                } else {
                    self.record(&storage, &s, v)?
                };
                let names = held
                    .iter()
                    .filter(|(hv, _)| *hv == v)
                    .map(|(_, n)| n.to_string())
                    .collect();
                out.push(self.info(&s, v, &record, !live::contains(head.live(), v), names));
                if latest_only {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Deletes the given versions of `symbol`, or all of them (`None`). Deleting is itself a
    /// commit, so it takes a number in the chain: the next write gets a number after it.
    pub fn delete(&self, symbol: &str, versions: Option<&[u64]>) -> Result<()> {
        validate_name("symbol", symbol)?;
        let storage = self.storage()?;
        let mut live_before = Vec::new();
        let (_, tombstone) = self.commit(&storage, symbol, |head, _next| {
            let head = head.ok_or_else(|| no_such_symbol(self, symbol))?;
            live_before = head.live().to_vec();
            let mut live_set = live_before.clone();
            if live_set.is_empty() {
                return Err(no_such_symbol(self, symbol).context("every version was already deleted"));
            }
            match versions {
                None => live_set.clear(),
                Some(list) => {
                    for &v in list {
                        if !live::contains(&live_set, v) {
                            return Err(Error::new(
                                ErrorKind::NoSuchVersion,
                                format!("cannot delete version {v} of '{symbol}': it is not a live version"),
                            ));
                        }
                        live::remove(&mut live_set, v);
                    }
                }
            }
            Ok(Record {
                header: RecordHeader {
                    kind: RecordKind::Tombstone,
                    timestamp_ns: now_ns(),
                    live: live_set,
                    index: None,
                    index_sorted: false,
                    rows: 0,
                    segments: Vec::new(),
                    consumed: Vec::new(),
                    staged_after: None,
                    content: None,
                },
                schema: None,
                metadata: None,
            })
        })?;
        self.collect_removed(&storage, symbol, &live_before, &tombstone.header.live)
    }

    /// Deletes every live version of `symbol` but the latest (snapshots keep theirs).
    pub fn prune_previous_versions(&self, symbol: &str) -> Result<()> {
        validate_name("symbol", symbol)?;
        let storage = self.storage()?;
        let head = self
            .head(&storage, symbol)?
            .ok_or_else(|| no_such_symbol(self, symbol))?;
        let latest = live::latest(head.live()).ok_or_else(|| no_such_symbol(self, symbol))?;
        let older: Vec<u64> = live::versions(head.live())
            .filter(|v| *v != latest)
            .collect();
        if older.is_empty() {
            return Ok(());
        }
        match self.delete(symbol, Some(&older)) {
            // A concurrent delete took some of them already: prune what is left.
            Err(e) if e.kind() == ErrorKind::NoSuchVersion => self.prune_previous_versions(symbol),
            other => other,
        }
    }

    /// Rewrites the latest version's segments into full ones (`rows_per_segment` rows, or the
    /// library's) as a new version with the same rows and metadata. Useful after many small
    /// appends. Returns the new version, or the latest one when nothing needed rewriting.
    pub fn compact_data(&self, symbol: &str, rows_per_segment: Option<u64>) -> Result<u64> {
        validate_name("symbol", symbol)?;
        let storage = self.storage()?;
        let target = rows_per_segment.unwrap_or(self.options().rows_per_segment);
        if target == 0 {
            return Err(Error::invalid("rows_per_segment must be positive"));
        }
        let mut attempts = 0u64;
        loop {
            let head = self
                .head(&storage, symbol)?
                .ok_or_else(|| no_such_symbol(self, symbol))?;
            let (base_version, base) = self
                .latest(&storage, symbol, &head)?
                .ok_or_else(|| no_such_symbol(self, symbol))?;
            let segments = &base.header.segments;
            let last = segments.len().saturating_sub(1);
            if segments
                .iter()
                .enumerate()
                .all(|(i, s)| s.rows == target || (i == last && s.rows < target))
            {
                return Ok(base_version);
            }
            let schema = base.schema()?;
            let index = match &base.header.index {
                Some(n) => Some((
                    n.clone(),
                    schema
                        .index_of(n)
                        .map_err(|e| Error::corrupt(e.to_string()))?,
                )),
                None => None,
            };
            let mut writer = SegmentWriter::new(
                storage.clone(),
                &self.keys(),
                symbol,
                self.options().compression,
                index,
                false,
                target as usize,
            );
            let rewritten = (|| {
                let total = segments.len() as u64;
                for (done, s) in segments.iter().enumerate() {
                    writer.push(self.load_segment(&storage, symbol, s, &schema)?)?;
                    crate::progress::report("compact", "segments", done as u64 + 1, total);
                }
                writer.finish()
            })();
            if let Err(e) = rewritten {
                writer.abandon();
                // A segment collected by a racing delete or pruning write: a lost race (as in
                // the commit loop), re-based within the same budget, never reported as Corrupt.
                if e.kind() == ErrorKind::Corrupt
                    && self.head_moved(&storage, symbol, head.number + 1)?
                {
                    attempts += 1;
                    lost_race(
                        symbol,
                        attempts,
                        "found a segment collected during compaction",
                    )?;
                    continue;
                }
                return Err(e);
            }
            let new_segments = writer.written.clone();
            // Compaction only replaces the version it read: if anything committed meanwhile,
            // start again from the new latest.
            let result =
                self.commit_data(
                    &storage,
                    symbol,
                    false,
                    &mut [&mut writer],
                    |latest| match latest {
                        Some((v, _)) if v == base_version => {
                            let mut header = base.header.clone();
                            header.segments = new_segments.clone();
                            Ok((header, schema.clone(), base.metadata.clone()))
                        }
                        _ => Err(Error::new(
                            ErrorKind::Conflict,
                            format!("'{symbol}' changed during compaction"),
                        )),
                    },
                );
            match result {
                Err(e)
                    if e.kind() == ErrorKind::Conflict
                        && attempts < crate::config::max_commit_retries() =>
                {
                    attempts += 1;
                }
                other => return other,
            }
        }
    }
}
