//! The chain of versions and the commit rule. A symbol's versions are records at
//! `v\0<symbol>\0<number>` (see `record`); the newest is the head and carries the live set.
//! Segments are written first; the next record is then put-if-absent at head + 1. A writer
//! that loses that race re-reads the head and re-applies its operation to it (append and
//! update re-base and reuse the segments they already wrote), up to `commit.max_retries`
//! times. Nothing is locked and no update is lost. Garbage collection (`collect_garbage`)
//! removes a segment only when no live version and no snapshot references it.

use std::collections::HashSet;

use arrow_schema::SchemaRef;

use super::record::{live, now_ns, Record, RecordHeader, RecordKind, SegmentRef};
use super::segment_writer::SegmentWriter;
use super::staging;
use crate::config::{log, LogLevel};
use crate::error::{Error, ErrorKind, Result};
use crate::keys::TableKeys;
use crate::storage::{KeyRange, ScanOptions, SharedStorage, WriteOp};
use crate::store::Library;

/// The newest record of a symbol's chain and its number.
pub(super) struct Head {
    pub(super) number: u64,
    pub(super) record: Record,
}

impl Head {
    pub(super) fn live(&self) -> &[[u64; 2]] {
        &self.record.header.live
    }
}

pub(super) fn no_such_symbol(lib: &Library, symbol: &str) -> Error {
    Error::new(
        ErrorKind::NoSuchSymbol,
        format!("no symbol '{symbol}' in library '{}'", lib.name()),
    )
}

pub(super) fn data_record(
    header: RecordHeader,
    schema: SchemaRef,
    metadata: Option<Vec<u8>>,
) -> Record {
    Record {
        header,
        schema: Some(schema),
        metadata,
    }
}

/// Spends one retry of `commit.max_retries` on the `attempt`-th lost race of a commit to
/// `symbol`. Every lost race, whichever way it was lost (a taken version number, a segment
/// collected under the reader), spends from the same budget; past it the caller gets
/// `Conflict`, never the error the race happened to surface as.
pub(super) fn lost_race(symbol: &str, attempt: u64, how: &str) -> Result<()> {
    log(LogLevel::Debug, || {
        format!("commit of '{symbol}' {how}; re-basing (attempt {attempt})")
    });
    if attempt > crate::config::max_commit_retries() {
        return Err(Error::new(
            ErrorKind::Conflict,
            format!(
                "gave up committing '{symbol}' after {attempt} lost races (commit.max_retries)"
            ),
        ));
    }
    Ok(())
}

/// Row counts and index facts of a segment list.
pub(super) fn summarize(segments: &[SegmentRef]) -> (u64, Option<i64>) {
    (
        segments.iter().map(|s| s.rows).sum(),
        segments.last().and_then(|s| s.index_max),
    )
}

impl Library {
    pub(super) fn keys(&self) -> TableKeys<'_> {
        TableKeys {
            prefix: &self.inner.prefix,
        }
    }

    pub(super) fn head(&self, storage: &SharedStorage, symbol: &str) -> Result<Option<Head>> {
        if storage.prefers_point_reads() {
            if let Some(head) = self.head_from_hint(storage, symbol)? {
                return Ok(Some(head));
            }
        }
        let range = KeyRange::prefix(&self.keys().versions_of(symbol));
        let entries = storage.scan(
            &range,
            ScanOptions {
                limit: Some(1),
                reverse: true,
                keys_only: false,
            },
        )?;
        let Some(entry) = entries.into_iter().next() else {
            return Ok(None);
        };
        let number = TableKeys::version_of_key(&entry.key)
            .ok_or_else(|| Error::corrupt("a version key is malformed"))?;
        Ok(Some(Head {
            number,
            record: Record::decode(&entry.value)?,
        }))
    }

    /// The head found from the symbol's hint by point reads: the hinted record, then the
    /// numbers after it until one is missing. Numbers are taken one after the other (head + 1,
    /// by put-if-absent), so the last present one is the head. `None` (scan instead) without a
    /// hint, when the hinted record is gone (pruned), or when the hint lags too far behind.
    fn head_from_hint(&self, storage: &SharedStorage, symbol: &str) -> Result<Option<Head>> {
        const PROBES: usize = 8;
        let Some(hint) = storage.get(&self.keys().head_hint(symbol))? else {
            return Ok(None);
        };
        let Ok(bytes) = <[u8; 8]>::try_from(hint.as_slice()) else {
            return Ok(None);
        };
        let mut number = u64::from_be_bytes(bytes);
        let Some(mut record) = storage.get(&self.keys().version(symbol, number))? else {
            return Ok(None);
        };
        for _ in 0..PROBES {
            match storage.get(&self.keys().version(symbol, number + 1))? {
                None => {
                    return Ok(Some(Head {
                        number,
                        record: Record::decode(&record)?,
                    }))
                }
                Some(next) => {
                    number += 1;
                    record = next;
                }
            }
        }
        Ok(None)
    }

    pub(super) fn record(
        &self,
        storage: &SharedStorage,
        symbol: &str,
        version: u64,
    ) -> Result<Record> {
        let bytes = storage
            .get(&self.keys().version(symbol, version))?
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NoSuchVersion,
                    format!("version {version} of '{symbol}' does not exist"),
                )
            })?;
        Record::decode(&bytes)
    }

    /// The newest live data version of a head, if any.
    pub(super) fn latest(
        &self,
        storage: &SharedStorage,
        symbol: &str,
        head: &Head,
    ) -> Result<Option<(u64, Record)>> {
        match live::latest(head.live()) {
            None => Ok(None),
            Some(v) if v == head.number => Ok(Some((v, head.record.clone()))),
            Some(v) => Ok(Some((v, self.record(storage, symbol, v)?))),
        }
    }

    /// Runs the commit loop: `make` builds the record for the next number from the current
    /// head, and is called again after every lost race.
    pub(super) fn commit(
        &self,
        storage: &SharedStorage,
        symbol: &str,
        mut make: impl FnMut(Option<&Head>, u64) -> Result<Record>,
    ) -> Result<(u64, Record)> {
        let mut attempt = 0u64;
        loop {
            let head = self.head(storage, symbol)?;
            let next = head.as_ref().map_or(0, |h| h.number + 1);
            let record = match make(head.as_ref(), next) {
                Ok(r) => r,
                // A segment of the base vanished: a delete or pruning write committed after we
                // read the head and collected it. That is a lost race, not corruption.
                Err(e)
                    if e.kind() == ErrorKind::Corrupt
                        && self.head_moved(storage, symbol, next)? =>
                {
                    attempt += 1;
                    lost_race(symbol, attempt, "found a segment of its base collected")?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            self.ensure_library_live(storage)?;
            if storage.put_if_absent(&self.keys().version(symbol, next), &record.encode()?)? {
                if storage.prefers_point_reads() {
                    // Only a hint (see `head_from_hint`): a lost or late write of it costs a
                    // few more reads later, never a wrong head, so its failure is ignored.
                    let _ = storage.put(&self.keys().head_hint(symbol), &next.to_be_bytes());
                }
                return Ok((next, record));
            }
            attempt += 1;
            lost_race(symbol, attempt, &format!("v{next} lost a race"))?;
            std::thread::yield_now();
        }
    }

    /// Whether a record at `next` or later exists now (someone committed since we looked).
    pub(super) fn head_moved(
        &self,
        storage: &SharedStorage,
        symbol: &str,
        next: u64,
    ) -> Result<bool> {
        Ok(self
            .head(storage, symbol)?
            .is_some_and(|h| h.number >= next))
    }

    /// Versions of `symbol` that snapshots hold.
    pub(super) fn snapshot_versions(
        &self,
        storage: &SharedStorage,
        symbol: &str,
    ) -> Result<HashSet<u64>> {
        Ok(self
            .load_snapshots(storage)?
            .iter()
            .filter_map(|s| s.version_of(symbol))
            .collect())
    }

    /// Physically deletes the segments of `removed` versions that no live version
    /// (`live_after`) and no snapshot references.
    pub(super) fn collect_garbage(
        &self,
        storage: &SharedStorage,
        symbol: &str,
        removed: &[u64],
        live_after: &[[u64; 2]],
    ) -> Result<()> {
        let mut candidates: HashSet<String> = HashSet::new();
        for v in removed {
            candidates.extend(
                self.record(storage, symbol, *v)?
                    .header
                    .segments
                    .into_iter()
                    .map(|s| s.id),
            );
        }
        if candidates.is_empty() {
            return Ok(());
        }
        let mut kept: HashSet<u64> = live::versions(live_after).collect();
        kept.extend(self.snapshot_versions(storage, symbol)?);
        for v in kept {
            for s in self.record(storage, symbol, v)?.header.segments {
                candidates.remove(&s.id);
            }
        }
        let keys: Vec<Vec<u8>> = candidates
            .iter()
            .map(|id| self.keys().segment(symbol, id))
            .collect();
        let ops: Vec<WriteOp<'_>> = keys.iter().map(|k| WriteOp::Delete(k)).collect();
        storage.write_batch(&ops)?;
        log(LogLevel::Debug, || {
            format!("removed {} segment(s) of '{symbol}'", ops.len())
        });
        Ok(())
    }

    /// Collects the segments of versions live in `before` but not in `after`.
    pub(super) fn collect_removed(
        &self,
        storage: &SharedStorage,
        symbol: &str,
        before: &[[u64; 2]],
        after: &[[u64; 2]],
    ) -> Result<()> {
        let removed: Vec<u64> = live::versions(before)
            .filter(|v| !live::contains(after, *v))
            .collect();
        self.collect_garbage(storage, symbol, &removed, after)
    }

    /// Commits a data record built by `build` from the latest live version, handling pruning
    /// and cleanup of `writers` when the commit fails.
    pub(super) fn commit_data(
        &self,
        storage: &SharedStorage,
        symbol: &str,
        prune: bool,
        writers: &mut [&mut SegmentWriter],
        build: impl FnMut(Option<(u64, &Record)>) -> Result<(RecordHeader, SchemaRef, Option<Vec<u8>>)>,
    ) -> Result<u64> {
        self.commit_data_consuming(storage, symbol, prune, writers, None, build)
    }

    /// [`Self::commit_data`] for a commit that consumes staged chunks: before each attempt it
    /// checks that no record since the last check consumed them and that they still exist, and
    /// the record it commits names them.
    pub(super) fn commit_data_consuming(
        &self,
        storage: &SharedStorage,
        symbol: &str,
        prune: bool,
        writers: &mut [&mut SegmentWriter],
        mut consumes: Option<&mut staging::Consumption>,
        mut build: impl FnMut(
            Option<(u64, &Record)>,
        ) -> Result<(RecordHeader, SchemaRef, Option<Vec<u8>>)>,
    ) -> Result<u64> {
        let mut live_before = Vec::new();
        let committed = self.commit(storage, symbol, |head, next| {
            if let Some(c) = consumes.as_deref_mut() {
                self.claim_chunks(storage, symbol, head.map(|h| h.number), c)?;
            }
            live_before = head.map(|h| h.live().to_vec()).unwrap_or_default();
            let base = match head {
                Some(h) => self.latest(storage, symbol, h)?,
                None => None,
            };
            let (mut header, schema, metadata) = build(base.as_ref().map(|(v, r)| (*v, r)))?;
            header.kind = RecordKind::Data;
            header.timestamp_ns = now_ns();
            header.consumed = consumes.as_ref().map(|c| c.ids.clone()).unwrap_or_default();
            header.staged_after = None;
            header.live = if prune {
                Vec::new()
            } else {
                live_before.clone()
            };
            live::push(&mut header.live, next);
            Ok(data_record(header, schema, metadata))
        });
        let (version, record) = match committed {
            Ok(c) => c,
            Err(e) => {
                for w in writers.iter_mut() {
                    w.abandon();
                }
                return Err(e);
            }
        };
        if prune {
            self.collect_removed(storage, symbol, &live_before, &record.header.live)?;
        }
        Ok(version)
    }
}
