//! Staged writes: many writers each `stage` a chunk of a symbol (segments plus a chunk record
//! under `<library prefix>g\0<symbol>\0<chunk id>`, invisible to readers), then one
//! `finalize_staged_data` commits them all as one version — in index order, refusing
//! overlapping chunks unless asked to sort.
//!
//! Consuming chunks is decided in the symbol's version chain, the one place where writers are
//! serialised by a single-key create-if-absent: a finalize commits a version whose record names
//! the chunks it consumed, and `delete_staged_data` commits a record that changes no data but
//! names the chunks it drops. Before every attempt to commit, a consumer reads the records
//! committed since it last looked; if one of them consumed any of its chunks it stops (the
//! chunks are gone, as if it had run second). Chunk keys are removed only after the commit, so
//! a crash in between leaves chunks that the next reader of the staging area recognises as
//! consumed (their chunk record says after which version they were staged, which bounds the
//! walk) and cleans up. Nothing here needs a multi-key transaction.

use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::SchemaRef;

use super::record::{Record, RecordHeader, RecordKind, SegmentRef};
use super::schema;
use super::segment_writer::new_segment_id;
use crate::error::{Error, ErrorKind, Result};
use crate::keys::TableKeys;
use crate::storage::{KeyRange, ScanOptions, SharedStorage, WriteOp};
use crate::store::{validate_name, Library};

/// How staged chunks become a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FinalizeMode {
    /// Replace the symbol's content.
    #[default]
    Write,
    /// Append after the latest version.
    Append,
}

/// Options of [`Library::finalize_staged_data`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalizeOptions {
    pub mode: FinalizeMode,
    /// Sort all staged rows by the index (chunks may then overlap).
    pub sort: bool,
    pub prune_previous_versions: Option<bool>,
    /// Finalize only these chunks (the ids `stage` returned); `None`: every staged chunk.
    /// Chunks not named stay staged.
    pub chunks: Option<Vec<String>>,
    /// Refuse chunks that overlap each other or start before the stored end (default). Off,
    /// they are committed in chunk order and the version is marked unsorted (date_range and
    /// update then refuse it, as for any unsorted index).
    pub validate_index: bool,
    /// When the finalize fails for its data (schema, index order, bad arguments), drop the
    /// chunks it was finalizing instead of leaving them staged.
    pub delete_staged_data_on_failure: bool,
}

impl Default for FinalizeOptions {
    fn default() -> Self {
        FinalizeOptions {
            mode: FinalizeMode::Write,
            sort: false,
            prune_previous_versions: None,
            chunks: None,
            validate_index: true,
            delete_staged_data_on_failure: false,
        }
    }
}

/// A staged chunk, as [`Library::list_staged_chunks`] describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedChunk {
    pub id: String,
    pub rows: u64,
    /// The chunk's smallest and largest index values (raw, in the index unit); `None` without
    /// an index.
    pub index_min: Option<i64>,
    pub index_max: Option<i64>,
}

/// Options of [`Library::stage_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageOptions {
    /// The index column (as `write`'s).
    pub index: Option<String>,
    /// Refuse a chunk whose index is not ascending (after sorting, when sorting).
    pub validate_index: bool,
    /// Sort the chunk's rows by its index before storing it.
    pub sort_on_index: bool,
    /// Sort by these columns too (after the index when `sort_on_index`), in order.
    pub sort_columns: Vec<String>,
}

impl Default for StageOptions {
    fn default() -> Self {
        StageOptions {
            index: None,
            validate_index: true,
            sort_on_index: false,
            sort_columns: Vec::new(),
        }
    }
}

struct Chunk {
    id: String,
    key: Vec<u8>,
    record: Record,
}

/// Staged chunks a commit consumes, and how far the chain was checked for other consumers.
pub(crate) struct Consumption {
    pub(crate) ids: Vec<String>,
    keys: Vec<Vec<u8>>,
    /// Records up to this number were checked (none: no record was checked yet).
    checked_to: Option<u64>,
    /// Set when another commit consumed some of these chunks first: the consumer then starts
    /// over from the chunks still staged (it ran second), since consumers may take different
    /// subsets (`FinalizeOptions::chunks`) and what is left for it may still be its to take.
    lost: bool,
}

/// How many times a finalize or delete of staged chunks starts over after losing some of its
/// chunks to another consumer; each loss means another consumer made progress.
const MAX_RESTARTS: usize = 64;

fn consumed_concurrently(symbol: &str) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("no staged data for '{symbol}': it was finalized or deleted concurrently"),
    )
}

impl Library {
    fn staged_chunks(&self, storage: &SharedStorage, symbol: &str) -> Result<Vec<Chunk>> {
        let prefix = self.keys().staging_of(symbol);
        let entries = storage.scan(&KeyRange::prefix(&prefix), ScanOptions::default())?;
        let prefix_len = prefix.len();
        entries
            .into_iter()
            .map(|e| {
                let id = std::str::from_utf8(&e.key[prefix_len..])
                    .map_err(|_| Error::corrupt("a staged chunk id is not UTF-8"))?
                    .to_string();
                Ok(Chunk {
                    id,
                    record: Record::decode(&e.value)?,
                    key: e.key,
                })
            })
            .collect()
    }

    /// Chunk ids consumed by the records numbered `from..=to`, with the record of each.
    fn consumed_between(
        &self,
        storage: &SharedStorage,
        symbol: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<(String, Record)>> {
        if from > to {
            return Ok(Vec::new());
        }
        let keys = self.keys();
        let range = KeyRange {
            start: std::ops::Bound::Included(keys.version(symbol, from)),
            end: std::ops::Bound::Included(keys.version(symbol, to)),
        };
        let mut out = Vec::new();
        for entry in storage.scan(&range, ScanOptions::default())? {
            let record = Record::decode(&entry.value)?;
            for id in &record.header.consumed {
                out.push((id.clone(), record.clone()));
            }
        }
        Ok(out)
    }

    /// The staged chunks of `symbol` that no record consumed yet, and the head number the
    /// chain was checked up to. Chunks a committed record consumed but a crash left behind are
    /// removed on the way (with their segments, unless the consuming record uses them).
    fn pending_chunks(
        &self,
        storage: &SharedStorage,
        symbol: &str,
    ) -> Result<(Vec<Chunk>, Option<u64>)> {
        let chunks = self.staged_chunks(storage, symbol)?;
        if chunks.is_empty() {
            return Ok((chunks, None));
        }
        let head = self.head(storage, symbol)?.map(|h| h.number);
        let Some(head_number) = head else {
            return Ok((chunks, None));
        };
        let from = chunks
            .iter()
            .map(|c| c.record.header.staged_after.map_or(0, |v| v + 1))
            .min()
            .unwrap_or(0);
        let consumed = self.consumed_between(storage, symbol, from, head_number)?;
        let (done, pending): (Vec<Chunk>, Vec<Chunk>) = chunks
            .into_iter()
            .partition(|c| consumed.iter().any(|(id, _)| *id == c.id));
        for chunk in &done {
            let used_by = consumed
                .iter()
                .find(|(id, _)| *id == chunk.id)
                .map(|(_, r)| r);
            let unused: Vec<&SegmentRef> = chunk
                .record
                .header
                .segments
                .iter()
                .filter(|s| used_by.is_none_or(|r| !r.header.segments.iter().any(|u| u.id == s.id)))
                .collect();
            self.remove_chunk(storage, symbol, chunk, &unused)?;
        }
        Ok((pending, head))
    }

    fn remove_chunk(
        &self,
        storage: &SharedStorage,
        symbol: &str,
        chunk: &Chunk,
        segments: &[&SegmentRef],
    ) -> Result<()> {
        let keys = self.keys();
        let mut doomed = vec![chunk.key.clone()];
        doomed.extend(segments.iter().map(|s| keys.segment(symbol, &s.id)));
        let ops: Vec<WriteOp<'_>> = doomed.iter().map(|k| WriteOp::Delete(k)).collect();
        storage.write_batch(&ops)
    }

    /// Called before each attempt to commit a record consuming `c`: fails when a record
    /// committed since the last check consumed one of its chunks, or a chunk is gone.
    pub(crate) fn claim_chunks(
        &self,
        storage: &SharedStorage,
        symbol: &str,
        head: Option<u64>,
        c: &mut Consumption,
    ) -> Result<()> {
        if let Some(head) = head {
            let from = c.checked_to.map_or(0, |v| v + 1);
            let taken = self.consumed_between(storage, symbol, from, head)?;
            if taken.iter().any(|(id, _)| c.ids.contains(id)) {
                c.lost = true;
                return Err(consumed_concurrently(symbol));
            }
            c.checked_to = Some(head);
        }
        let keys: Vec<&[u8]> = c.keys.iter().map(Vec::as_slice).collect();
        if storage.get_many(&keys)?.iter().any(Option::is_none) {
            c.lost = true;
            return Err(consumed_concurrently(symbol));
        }
        Ok(())
    }

    fn consumption(chunks: &[Chunk], checked_to: Option<u64>) -> Consumption {
        Consumption {
            ids: chunks.iter().map(|c| c.id.clone()).collect(),
            keys: chunks.iter().map(|c| c.key.clone()).collect(),
            checked_to,
            lost: false,
        }
    }

    /// Writes `data` as a staged chunk of `symbol`: stored, but invisible until finalized.
    /// Chunks from many writers (threads or processes) may be staged at once. Returns the
    /// chunk's id, which `FinalizeOptions::chunks` takes to finalize only some chunks.
    pub fn stage(
        &self,
        symbol: &str,
        data: &mut dyn RecordBatchReader,
        index: Option<&str>,
        validate_index: bool,
    ) -> Result<String> {
        let options = StageOptions {
            index: index.map(str::to_string),
            validate_index,
            ..StageOptions::default()
        };
        self.stage_with(symbol, data, &options)
    }

    /// [`Library::stage`] with sorting: the chunk is read whole and its rows sorted (by the
    /// index, then `sort_columns`) before it is stored.
    pub fn stage_with(
        &self,
        symbol: &str,
        data: &mut dyn RecordBatchReader,
        options: &StageOptions,
    ) -> Result<String> {
        validate_name("symbol", symbol)?;
        let index = options.index.as_deref();
        if options.sort_on_index && index.is_none() {
            return Err(Error::invalid(
                "sort_on_index needs the index column named (index)",
            ));
        }
        if options.sort_on_index || !options.sort_columns.is_empty() {
            let mut keys: Vec<&str> = Vec::new();
            if options.sort_on_index {
                keys.extend(index);
            }
            keys.extend(options.sort_columns.iter().map(String::as_str));
            let sorted = sort_rows(data, &keys)?;
            let schema = sorted.schema();
            let mut reader = arrow_array::RecordBatchIterator::new(vec![Ok(sorted)], schema);
            return self.stage_rows(symbol, &mut reader, index, options.validate_index);
        }
        self.stage_rows(symbol, data, index, options.validate_index)
    }

    fn stage_rows(
        &self,
        symbol: &str,
        data: &mut dyn RecordBatchReader,
        index: Option<&str>,
        validate_index: bool,
    ) -> Result<String> {
        let storage = self.storage()?;
        let staged_after = self.head(&storage, symbol)?.map(|h| h.number);
        let schema = data.schema();
        let index_spec = Self::check_input_schema(&schema, index)?;
        let mut writer = self.segment_writer(&storage, symbol, index_spec, validate_index);
        self.ingest(&mut writer, data, &schema, None, "stage")?;
        let record = Record {
            header: RecordHeader {
                kind: RecordKind::Data,
                timestamp_ns: super::record::now_ns(),
                live: Vec::new(),
                index: index.map(str::to_string),
                index_sorted: writer.sorted,
                rows: writer.rows,
                segments: writer.written.clone(),
                consumed: Vec::new(),
                staged_after,
                content: None,
            },
            schema: Some(schema),
            metadata: None,
        };
        let id = new_segment_id();
        let key = self.keys().staged_chunk(symbol, &id);
        let stored = self
            .ensure_library_live(&storage)
            .and_then(|_| record.encode())
            .and_then(|bytes| storage.put(&key, &bytes));
        if let Err(e) = stored {
            writer.abandon();
            return Err(e);
        }
        Ok(id)
    }

    /// Symbols with staged chunks, in byte order.
    pub fn get_staged_symbols(&self) -> Result<Vec<String>> {
        let storage = self.storage()?;
        let prefix = self.keys().staging_of_all();
        let entries = storage.scan(
            &KeyRange::prefix(&prefix),
            ScanOptions {
                keys_only: true,
                ..Default::default()
            },
        )?;
        let mut out: Vec<String> = Vec::new();
        for e in entries {
            let rest = &e.key[prefix.len()..];
            let end = rest
                .iter()
                .position(|b| *b == 0)
                .ok_or_else(|| Error::corrupt("a staging key is malformed"))?;
            let name = String::from_utf8(rest[..end].to_vec())
                .map_err(|_| Error::corrupt("a staged symbol is not UTF-8"))?;
            if out.last() != Some(&name) {
                out.push(name);
            }
        }
        // Chunks a committed record consumed (a crash left them) are not staged data.
        let mut pending = Vec::with_capacity(out.len());
        for name in out {
            if !self.pending_chunks(&storage, &name)?.0.is_empty() {
                pending.push(name);
            }
        }
        Ok(pending)
    }

    /// The chunks staged for `symbol` and not yet finalized or deleted, ordered by their first
    /// index value (then id): the ids `FinalizeOptions::chunks` takes, with each chunk's rows and
    /// index range — for a process that lost the ids `stage` returned.
    pub fn list_staged_chunks(&self, symbol: &str) -> Result<Vec<StagedChunk>> {
        validate_name("symbol", symbol)?;
        let storage = self.storage()?;
        let (chunks, _) = self.pending_chunks(&storage, symbol)?;
        let mut listed: Vec<StagedChunk> = chunks
            .into_iter()
            .map(|c| {
                let segments = &c.record.header.segments;
                StagedChunk {
                    id: c.id,
                    rows: c.record.header.rows,
                    index_min: segments.iter().filter_map(|s| s.index_min).min(),
                    index_max: segments.iter().filter_map(|s| s.index_max).max(),
                }
            })
            .collect();
        listed.sort_by(|a, b| (a.index_min, &a.id).cmp(&(b.index_min, &b.id)));
        Ok(listed)
    }

    /// Removes the staged chunks of `symbol` and their segments. Returns how many there were.
    pub fn delete_staged_data(&self, symbol: &str) -> Result<usize> {
        self.delete_staged_chunks(symbol, None)
    }

    /// Removes staged chunks of `symbol` (those named in `only`, or all) and their segments.
    /// Returns how many it removed; ids no longer staged are skipped.
    pub fn delete_staged_chunks(&self, symbol: &str, only: Option<&[String]>) -> Result<usize> {
        validate_name("symbol", symbol)?;
        let storage = self.storage()?;
        for _ in 0..MAX_RESTARTS {
            if let Some(n) = self.delete_pending_chunks(&storage, symbol, only)? {
                return Ok(n);
            }
        }
        Err(consumed_concurrently(symbol))
    }

    /// One attempt of `delete_staged_chunks`; `None` when another consumer took some of the
    /// chunks first (start over).
    fn delete_pending_chunks(
        &self,
        storage: &SharedStorage,
        symbol: &str,
        only: Option<&[String]>,
    ) -> Result<Option<usize>> {
        let storage = storage.clone();
        let (mut chunks, checked_to) = self.pending_chunks(&storage, symbol)?;
        if let Some(ids) = only {
            chunks.retain(|c| ids.contains(&c.id));
        }
        if chunks.is_empty() {
            return Ok(Some(0));
        }
        // The drop is a record in the chain (no data change), so that it and a finalize of the
        // same chunks are ordered: whichever commits first consumes them.
        let mut claim = Self::consumption(&chunks, checked_to);
        let committed = self.commit(&storage, symbol, |head, _next| {
            self.claim_chunks(&storage, symbol, head.map(|h| h.number), &mut claim)?;
            Ok(Record {
                header: RecordHeader {
                    kind: RecordKind::Tombstone,
                    timestamp_ns: super::record::now_ns(),
                    live: head.map(|h| h.live().to_vec()).unwrap_or_default(),
                    index: None,
                    index_sorted: false,
                    rows: 0,
                    segments: Vec::new(),
                    consumed: claim.ids.clone(),
                    staged_after: None,
                    content: None,
                },
                schema: None,
                metadata: None,
            })
        });
        match committed {
            Ok(_) => {}
            Err(_) if claim.lost => return Ok(None),
            Err(e) => return Err(e),
        }
        self.drop_chunks(&storage, symbol, &chunks, true)?;
        Ok(Some(chunks.len()))
    }

    fn drop_chunks(
        &self,
        storage: &SharedStorage,
        symbol: &str,
        chunks: &[Chunk],
        with_segments: bool,
    ) -> Result<()> {
        let keys = TableKeys {
            prefix: &self.inner.prefix,
        };
        let mut doomed: Vec<Vec<u8>> = chunks.iter().map(|c| c.key.clone()).collect();
        if with_segments {
            for c in chunks {
                doomed.extend(
                    c.record
                        .header
                        .segments
                        .iter()
                        .map(|s| keys.segment(symbol, &s.id)),
                );
            }
        }
        let ops: Vec<WriteOp<'_>> = doomed.iter().map(|k| WriteOp::Delete(k)).collect();
        storage.write_batch(&ops)
    }

    /// Commits every chunk staged for `symbol` as one new version (replacing the content, or
    /// appended after the latest version), then forgets the chunks. With an index, chunks are
    /// ordered by it and must not overlap unless `sort` is set, which sorts all staged rows.
    pub fn finalize_staged_data(
        &self,
        symbol: &str,
        metadata: Option<Vec<u8>>,
        options: &FinalizeOptions,
    ) -> Result<u64> {
        validate_name("symbol", symbol)?;
        let storage = self.storage()?;
        for _ in 0..MAX_RESTARTS {
            if let Some(version) =
                self.finalize_pending_chunks(&storage, symbol, metadata.clone(), options)?
            {
                return Ok(version);
            }
        }
        Err(consumed_concurrently(symbol))
    }

    /// One attempt of `finalize_staged_data`; `None` when another consumer took some of the
    /// chunks first (start over with those still staged).
    fn finalize_pending_chunks(
        &self,
        storage: &SharedStorage,
        symbol: &str,
        metadata: Option<Vec<u8>>,
        options: &FinalizeOptions,
    ) -> Result<Option<u64>> {
        let (mut chunks, checked_to) = self.pending_chunks(storage, symbol)?;
        if let Some(ids) = &options.chunks {
            if let Some(gone) = ids.iter().find(|id| !chunks.iter().any(|c| &c.id == *id)) {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("'{symbol}' has no staged chunk {gone} (never staged, or already finalized or deleted)"),
                ));
            }
            chunks.retain(|c| ids.contains(&c.id));
        }
        if chunks.is_empty() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("no staged data for '{symbol}'"),
            ));
        }
        let ids: Vec<String> = chunks.iter().map(|c| c.id.clone()).collect();
        let outcome = self.finalize_chunks(storage, symbol, chunks, checked_to, metadata, options);
        match outcome {
            Err(e) if options.delete_staged_data_on_failure && data_failure(e.kind()) => {
                self.delete_staged_chunks(symbol, Some(&ids)).map_err(|d| {
                    Error::new(
                        d.kind(),
                        format!("{e}; then dropping the staged chunks failed: {d}"),
                    )
                })?;
                Err(e)
            }
            other => other,
        }
    }

    fn finalize_chunks(
        &self,
        storage: &SharedStorage,
        symbol: &str,
        mut chunks: Vec<Chunk>,
        checked_to: Option<u64>,
        metadata: Option<Vec<u8>>,
        options: &FinalizeOptions,
    ) -> Result<Option<u64>> {
        let storage = storage.clone();
        let first_schema = chunks[0].record.schema()?;
        let index = chunks[0].record.header.index.clone();
        let mut schema: SchemaRef = first_schema.clone();
        for c in &chunks[1..] {
            if c.record.header.index != index {
                return Err(Error::new(
                    ErrorKind::Schema,
                    format!("staged chunks of '{symbol}' declare different index columns"),
                ));
            }
            schema = schema::merge(
                symbol,
                schema.as_ref(),
                c.record.schema()?.as_ref(),
                self.options().dynamic_schema,
            )?;
        }
        if index.is_some() {
            chunks.sort_by_key(|c| c.record.header.segments.first().and_then(|s| s.index_min));
        }
        let (segments, sorted, rewritten) = if options.sort && index.is_some() {
            let sorted_chunks = self.sort_chunks(
                &storage,
                symbol,
                &chunks,
                &schema,
                index.as_deref().unwrap_or_default(),
            );
            let (segments, sorted) = match sorted_chunks {
                // Another consumer took chunks (and removed their segments) meanwhile.
                Err(e) if e.kind() == ErrorKind::Corrupt => {
                    let keys: Vec<&[u8]> = chunks.iter().map(|c| c.key.as_slice()).collect();
                    if storage.get_many(&keys)?.iter().any(Option::is_none) {
                        return Ok(None);
                    }
                    return Err(e);
                }
                other => other?,
            };
            (segments, sorted, true)
        } else {
            let mut segments: Vec<SegmentRef> = Vec::new();
            let mut sorted = true;
            let mut last_max: Option<i64> = None;
            for (done, c) in chunks.iter().enumerate() {
                crate::progress::report("finalize", "chunks", done as u64 + 1, chunks.len() as u64);
                let h = &c.record.header;
                sorted &= h.index_sorted;
                if let (Some(prev), Some(min)) =
                    (last_max, h.segments.first().and_then(|s| s.index_min))
                {
                    if min < prev && !options.validate_index {
                        sorted = false;
                    } else if min < prev {
                        return Err(Error::new(
                            ErrorKind::UnsortedIndex,
                            format!(
                                "staged chunks of '{symbol}' overlap (one starts at {min}, below the previous chunk's end {prev}); \
                                 finalize with sort=true to sort them"
                            ),
                        ));
                    }
                }
                last_max = h
                    .segments
                    .iter()
                    .filter_map(|s| s.index_max)
                    .max()
                    .or(last_max);
                segments.extend(h.segments.iter().cloned());
            }
            (segments, sorted, false)
        };
        let rows: u64 = segments.iter().map(|s| s.rows).sum();
        let prune = options
            .prune_previous_versions
            .unwrap_or(self.options().prune_previous_versions);
        let dynamic = self.options().dynamic_schema;
        let first_new = segments.first().and_then(|s| s.index_min);
        let mut claim = Self::consumption(&chunks, checked_to);
        let version = self.commit_data_consuming(&storage, symbol, prune, &mut [], Some(&mut claim), |base| {
            let fresh = || RecordHeader {
                kind: RecordKind::Data,
                timestamp_ns: 0,
                live: Vec::new(),
                index: index.clone(),
                index_sorted: sorted,
                rows,
                segments: segments.clone(),
                consumed: Vec::new(),
                staged_after: None,
                content: None,
            };
            // A metadata-only version has no columns to keep: the chunks start the data.
            let base = base.filter(|(_, b)| !b.is_metadata_only());
            match (options.mode, base) {
                (FinalizeMode::Write, _) | (FinalizeMode::Append, None) => Ok((fresh(), schema.clone(), metadata.clone())),
                (FinalizeMode::Append, Some((_, base))) => {
                    super::write::refuse_object(symbol, base, "append staged data to")?;
                    if base.header.index != index {
                        return Err(Error::new(ErrorKind::Schema, format!("staged data and '{symbol}' have different index columns")));
                    }
                    let merged = schema::merge(symbol, base.schema()?.as_ref(), schema.as_ref(), dynamic)?;
                    let last = base.header.segments.last().and_then(|s| s.index_max);
                    let mut after_stored = true;
                    if let (Some(last), Some(first)) = (last, first_new) {
                        after_stored = first >= last;
                        if !after_stored && options.validate_index {
                            return Err(Error::new(
                                ErrorKind::UnsortedIndex,
                                format!("staged data of '{symbol}' starts at {first}, below the stored end {last}"),
                            ));
                        }
                    }
                    let mut header = fresh();
                    header.index_sorted &= base.header.index_sorted && after_stored;
                    header.rows += base.header.rows;
                    header.segments = base.header.segments.iter().cloned().chain(segments.iter().cloned()).collect();
                    Ok((header, merged, metadata.clone()))
                }
            }
        });
        let version = match version {
            Ok(v) => v,
            Err(e) => {
                if rewritten {
                    let keys = TableKeys {
                        prefix: &self.inner.prefix,
                    };
                    let doomed: Vec<Vec<u8>> = segments
                        .iter()
                        .map(|s| keys.segment(symbol, &s.id))
                        .collect();
                    let _ = storage.write_batch(
                        &doomed
                            .iter()
                            .map(|k| WriteOp::Delete(k))
                            .collect::<Vec<_>>(),
                    );
                }
                if claim.lost {
                    return Ok(None);
                }
                return Err(e);
            }
        };
        // The chunks are consumed; when sorting rewrote them, their original segments go too.
        self.drop_chunks(&storage, symbol, &chunks, rewritten)?;
        Ok(Some(version))
    }

    /// Loads every staged row, sorts by the index, and writes fresh segments.
    fn sort_chunks(
        &self,
        storage: &SharedStorage,
        symbol: &str,
        chunks: &[Chunk],
        schema: &SchemaRef,
        index: &str,
    ) -> Result<(Vec<SegmentRef>, bool)> {
        let mut batches: Vec<RecordBatch> = Vec::new();
        for (done, c) in chunks.iter().enumerate() {
            for s in &c.record.header.segments {
                batches.push(self.load_segment(storage, symbol, s, schema)?);
            }
            crate::progress::report("finalize", "chunks", done as u64 + 1, chunks.len() as u64);
        }
        let all = arrow_select::concat::concat_batches(schema, &batches)
            .map_err(|e| Error::internal(e.to_string()))?;
        let position = schema
            .index_of(index)
            .map_err(|e| Error::corrupt(e.to_string()))?;
        let order = arrow_ord::sort::sort_to_indices(all.column(position), None, None)
            .map_err(|e| Error::internal("cannot sort staged data").caused_by(e))?;
        let columns = all
            .columns()
            .iter()
            .map(|c| arrow_select::take::take(c.as_ref(), &order, None))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::internal(e.to_string()))?;
        let sorted = RecordBatch::try_new(Arc::clone(schema), columns)
            .map_err(|e| Error::internal(e.to_string()))?;
        let mut writer =
            self.segment_writer(storage, symbol, Some((index.to_string(), position)), true);
        let written = writer.push(sorted).and_then(|_| writer.finish());
        if let Err(e) = written {
            writer.abandon();
            return Err(e);
        }
        Ok((writer.written.clone(), true))
    }
}

/// Whether a failed finalize failed for its data, so `delete_staged_data_on_failure` applies
/// (not for storage trouble or a closed handle, where the chunks may yet be finalized).
fn data_failure(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Schema
            | ErrorKind::UnsortedIndex
            | ErrorKind::UnsupportedType
            | ErrorKind::InvalidArgument
    )
}

/// All of `data`'s rows in one batch, sorted by the columns `keys` (ascending, nulls first;
/// stable for equal keys).
fn sort_rows(data: &mut dyn RecordBatchReader, keys: &[&str]) -> Result<RecordBatch> {
    let schema = data.schema();
    let batches = data
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::new(ErrorKind::InvalidArrow, "the staged data cannot be read").caused_by(e)
        })?;
    let all = arrow_select::concat::concat_batches(&schema, &batches)
        .map_err(|e| Error::internal("cannot join the staged data").caused_by(e))?;
    let mut columns = Vec::with_capacity(keys.len());
    for key in keys {
        let column = all.column_by_name(key).ok_or_else(|| {
            Error::new(
                ErrorKind::Schema,
                format!("cannot sort the staged data by '{key}': no such column"),
            )
        })?;
        columns.push(arrow_ord::sort::SortColumn {
            values: column.clone(),
            options: None,
        });
    }
    // lexsort is not stable; the row number as a last key makes it so.
    columns.push(arrow_ord::sort::SortColumn {
        values: Arc::new(arrow_array::UInt64Array::from_iter_values(
            0..all.num_rows() as u64,
        )),
        options: None,
    });
    let order = arrow_ord::sort::lexsort_to_indices(&columns, None).map_err(|e| {
        Error::new(
            ErrorKind::Schema,
            "the staged data cannot be sorted by these columns",
        )
        .caused_by(e)
    })?;
    let sorted = all
        .columns()
        .iter()
        .map(|c| arrow_select::take::take(c.as_ref(), &order, None))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::internal("cannot reorder the staged data").caused_by(e))?;
    let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(all.num_rows()));
    RecordBatch::try_new_with_options(schema, sorted, &options)
        .map_err(|e| Error::internal("cannot reorder the staged data").caused_by(e))
}
