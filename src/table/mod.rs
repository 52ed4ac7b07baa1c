//! Versioned Arrow tables: ArcticDB's library / symbol / version model on top of [`crate::storage`].
//!
//! The commit rule (see `record` for the layout): segments are written first; the version
//! record is then put-if-absent at the next number; a writer that loses the race re-reads the
//! head and re-applies its operation (append and update re-base onto the new head and reuse
//! the segments they already wrote). Nothing is locked, and no update is lost. Segments are
//! removed only when no live version and no snapshot references them.
//!
//! Files: `options` (what each call takes), `record` (version records, keys, live sets),
//! `segment` (IPC encoding, type and index checks), `write` (cutting streams into segments),
//! `read` (planning and the lazy readers), `parallel` (the ordered worker pool reads use), `query` (planning a read that runs a query plan from
//! [`crate::query`]), `schema` (dynamic-schema merging), `snapshot`.

pub mod batch;
pub mod options;
mod parallel;
mod query;
pub mod read;
pub mod record;
mod schema;
pub mod segment;
pub mod snapshot;
pub mod staging;
mod verify;
mod write;

use std::collections::HashSet;

use arrow_array::{BooleanArray, RecordBatch, RecordBatchReader};
use arrow_schema::SchemaRef;
use serde::{Deserialize, Serialize};

pub use self::batch::{BatchWriteMode, UpdateItem, WriteItem};
pub use self::options::{AsOf, DateRange, IndexBound, ReadOptions, UpdateOptions, WriteOptions};
pub use self::read::TableReader;
use self::read::{conform, resolve_range};
use self::record::{live, now_ns, Keys, Record, RecordHeader, RecordKind, SegmentRef};
pub use self::snapshot::Snapshot;
pub use self::staging::{FinalizeMode, FinalizeOptions};
use self::write::SegmentWriter;
use crate::config::{log, LogLevel};
use crate::error::{Error, ErrorKind, Result};
use crate::storage::{KeyRange, ScanOptions, SharedStorage, WriteOp};
use crate::store::{validate_name, Library};

/// What is known about one version without reading its data.
///
/// JSON: `{"symbol": "s", "version": 3, "timestamp_ns": 1700000000000000000, "deleted": false,
/// "rows": 10, "index": "ts" | null, "has_metadata": true, "snapshots": ["snap"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub symbol: String,
    pub version: u64,
    pub timestamp_ns: i64,
    /// Deleted from the chain but still held by a snapshot.
    pub deleted: bool,
    pub rows: u64,
    pub index: Option<String>,
    pub has_metadata: bool,
    /// Snapshots holding this version, by name.
    pub snapshots: Vec<String>,
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
/// (a [`TableReader`], or a [`read::QueryReader`] when the options carry a query).
pub struct ReadResult {
    pub info: VersionInfo,
    pub metadata: Option<Vec<u8>>,
    pub reader: Box<dyn RecordBatchReader + Send>,
}

/// Keeps some rows of an incoming batch (update drops rows outside its date_range).
type RowFilter<'a> = dyn Fn(&RecordBatch) -> Result<RecordBatch> + 'a;

/// The newest record of a symbol's chain and its number.
struct Head {
    number: u64,
    record: Record,
}

impl Head {
    fn live(&self) -> &[[u64; 2]] {
        &self.record.header.live
    }
}

fn no_such_symbol(lib: &Library, symbol: &str) -> Error {
    Error::new(
        ErrorKind::NoSuchSymbol,
        format!("no symbol '{symbol}' in library '{}'", lib.name()),
    )
}

fn data_record(header: RecordHeader, schema: SchemaRef, metadata: Option<Vec<u8>>) -> Record {
    Record {
        header,
        schema: Some(schema),
        metadata,
    }
}

/// Row counts and index facts of a segment list.
fn summarize(segments: &[SegmentRef]) -> (u64, Option<i64>) {
    (
        segments.iter().map(|s| s.rows).sum(),
        segments.last().and_then(|s| s.index_max),
    )
}

impl Library {
    fn keys(&self) -> Keys<'_> {
        Keys {
            prefix: &self.inner.prefix,
        }
    }

    fn head(&self, storage: &SharedStorage, symbol: &str) -> Result<Option<Head>> {
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
        let number = Keys::version_of_key(&entry.key)
            .ok_or_else(|| Error::corrupt("a version key is malformed"))?;
        Ok(Some(Head {
            number,
            record: Record::decode(&entry.value)?,
        }))
    }

    fn record(&self, storage: &SharedStorage, symbol: &str, version: u64) -> Result<Record> {
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
    fn latest(
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
    fn commit(
        &self,
        storage: &SharedStorage,
        symbol: &str,
        mut make: impl FnMut(Option<&Head>, u64) -> Result<Record>,
    ) -> Result<(u64, Record)> {
        let max_retries = crate::config::max_commit_retries();
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
                    if attempt > max_retries {
                        return Err(e);
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            self.ensure_library_live(storage)?;
            if storage.put_if_absent(&self.keys().version(symbol, next), &record.encode()?)? {
                return Ok((next, record));
            }
            attempt += 1;
            log(LogLevel::Debug, || {
                format!("commit of '{symbol}' v{next} lost a race; re-basing (attempt {attempt})")
            });
            if attempt > max_retries {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!("gave up committing '{symbol}' after {attempt} lost races (commit.max_retries)"),
                ));
            }
            std::thread::yield_now();
        }
    }

    /// Whether a record at `next` or later exists now (someone committed since we looked).
    fn head_moved(&self, storage: &SharedStorage, symbol: &str, next: u64) -> Result<bool> {
        Ok(self
            .head(storage, symbol)?
            .is_some_and(|h| h.number >= next))
    }

    /// Versions of `symbol` that snapshots hold.
    fn snapshot_versions(&self, storage: &SharedStorage, symbol: &str) -> Result<HashSet<u64>> {
        Ok(self
            .load_snapshots(storage)?
            .iter()
            .filter_map(|s| s.version_of(symbol))
            .collect())
    }

    /// Physically deletes the segments of `removed` versions that no live version
    /// (`live_after`) and no snapshot references.
    fn collect_garbage(
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
    fn collect_removed(
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

    fn segment_writer(
        &self,
        storage: &SharedStorage,
        symbol: &str,
        index: Option<(String, usize)>,
        validate: bool,
    ) -> SegmentWriter {
        SegmentWriter::new(
            storage.clone(),
            &self.keys(),
            symbol,
            self.options().compression,
            index,
            validate,
            self.options().rows_per_segment as usize,
        )
    }

    /// Streams `data` into a segment writer, applying `keep` (a row filter) to each batch.
    fn ingest(
        &self,
        writer: &mut SegmentWriter,
        data: &mut dyn RecordBatchReader,
        schema: &SchemaRef,
        keep: Option<&RowFilter<'_>>,
    ) -> Result<()> {
        let streamed = (|| {
            for batch in &mut *data {
                let batch = batch.map_err(|e| {
                    Error::new(ErrorKind::InvalidArrow, "the input stream failed").caused_by(e)
                })?;
                if batch.schema().fields() != schema.fields() {
                    return Err(Error::new(
                        ErrorKind::InvalidArrow,
                        "a batch's schema differs from the stream's schema",
                    ));
                }
                let batch = match keep {
                    Some(f) => {
                        segment::validate_batch(&batch)?;
                        f(&batch)?
                    }
                    None => batch,
                };
                writer.push(batch)?;
            }
            writer.finish()
        })();
        if streamed.is_err() {
            writer.abandon();
        }
        streamed
    }

    fn check_input_schema(
        schema: &SchemaRef,
        index: Option<&str>,
    ) -> Result<Option<(String, usize)>> {
        segment::check_schema(schema)?;
        match index {
            Some(name) => {
                segment::check_index_field(schema, name)?;
                let position = schema
                    .index_of(name)
                    .map_err(|e| Error::internal(e.to_string()))?;
                Ok(Some((name.to_string(), position)))
            }
            None => Ok(None),
        }
    }

    /// Commits a data record built by `build` from the latest live version, handling pruning
    /// and cleanup of `writers` when the commit fails.
    fn commit_data(
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
    fn commit_data_consuming(
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

    /// Writes `data` as a new version of `symbol`, replacing its content; returns the version.
    pub fn write(
        &self,
        symbol: &str,
        data: &mut dyn RecordBatchReader,
        metadata: Option<Vec<u8>>,
        options: &WriteOptions,
    ) -> Result<u64> {
        validate_name("symbol", symbol)?;
        let storage = self.storage()?;
        let schema = data.schema();
        let index = Self::check_input_schema(&schema, options.index.as_deref())?;
        let mut writer = self.segment_writer(&storage, symbol, index, options.validate_index);
        self.ingest(&mut writer, data, &schema, None)?;
        let prune = options
            .prune_previous_versions
            .unwrap_or(self.options().prune_previous_versions);
        let header = RecordHeader {
            kind: RecordKind::Data,
            timestamp_ns: 0,
            live: Vec::new(),
            index: options.index.clone(),
            index_sorted: writer.sorted,
            rows: writer.rows,
            segments: writer.written.clone(),
            consumed: Vec::new(),
            staged_after: None,
        };
        let version = self.commit_data(&storage, symbol, prune, &mut [&mut writer], |_| {
            Ok((header.clone(), schema.clone(), metadata.clone()))
        })?;
        log(LogLevel::Debug, || {
            format!("wrote '{symbol}' v{version}: {} rows", header.rows)
        });
        Ok(version)
    }

    /// Appends the rows of `data` to the latest version of `symbol` (creating the symbol when
    /// it has no live version). The earlier segments are reused; the first new index value must
    /// not be below the last stored one (when validating). Metadata is not carried over.
    pub fn append(
        &self,
        symbol: &str,
        data: &mut dyn RecordBatchReader,
        metadata: Option<Vec<u8>>,
        options: &WriteOptions,
    ) -> Result<u64> {
        validate_name("symbol", symbol)?;
        let storage = self.storage()?;
        let schema = data.schema();
        // The index is the stored one; before the first version it is the one asked for.
        let stored = match self.head(&storage, symbol)? {
            Some(h) => self.latest(&storage, symbol, &h)?.map(|(_, r)| r),
            None => None,
        };
        let stored_index = stored.as_ref().and_then(|r| r.header.index.clone());
        let index_name = stored_index.or_else(|| options.index.clone());
        if let (Some(asked), Some(actual)) = (&options.index, &index_name) {
            if asked != actual {
                return Err(Error::new(
                    ErrorKind::Schema,
                    format!("'{symbol}' is indexed by '{actual}', not '{asked}'"),
                ));
            }
        }
        let (effective, conversion) = match (&stored, &index_name) {
            (Some(r), Some(ix)) => schema::index_conversion(r.schema()?.as_ref(), &schema, ix),
            _ => (schema.clone(), None),
        };
        let index = Self::check_input_schema(&effective, index_name.as_deref())?;
        let mut writer = self.segment_writer(&storage, symbol, index, options.validate_index);
        let convert =
            |batch: &RecordBatch| schema::convert_index(batch, &effective, conversion.as_ref());
        let transform: Option<&RowFilter<'_>> = conversion.is_some().then_some(&convert);
        self.ingest(&mut writer, data, &schema, transform)?;
        let schema = effective.clone();
        let prune = options
            .prune_previous_versions
            .unwrap_or(self.options().prune_previous_versions);
        let dynamic = self.options().dynamic_schema;
        let (new_segments, new_rows, new_sorted, first_new) = (
            writer.written.clone(),
            writer.rows,
            writer.sorted,
            writer.first_index,
        );
        let version = self.commit_data(&storage, symbol, prune, &mut [&mut writer], |base| {
            let Some((_, base)) = base else {
                // The index came from a version deleted since: appending to nothing must
                // behave as if the delete came first, where no index is inherited.
                if index_name != options.index {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!("'{symbol}' was deleted while appending; nothing was appended"),
                    ));
                }
                let header = RecordHeader {
                    kind: RecordKind::Data,
                    timestamp_ns: 0,
                    live: Vec::new(),
                    index: index_name.clone(),
                    index_sorted: new_sorted,
                    rows: new_rows,
                    segments: new_segments.clone(),
                    consumed: Vec::new(),
                    staged_after: None,
                };
                return Ok((header, schema.clone(), metadata.clone()));
            };
            // The new segments' index facts were computed for `index_name`: if a concurrent
            // write created the symbol or changed its index, they describe the wrong column.
            if base.header.index != index_name {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "the index of '{symbol}' changed while appending (now {:?}, the appended rows were checked against {:?}); nothing was appended",
                        base.header.index, index_name
                    ),
                ));
            }
            let merged = schema::merge(symbol, base.schema()?.as_ref(), &schema, dynamic)?;
            let (_, last_stored) = summarize(&base.header.segments);
            let mut sorted = base.header.index_sorted && new_sorted;
            if let (Some(last), Some(first)) = (last_stored, first_new) {
                if first < last {
                    if options.validate_index {
                        return Err(Error::new(
                            ErrorKind::UnsortedIndex,
                            format!(
                                "cannot append to '{symbol}': the first new index value {first} is below the \
                                 last stored one {last}; pass validate_index=false to append anyway"
                            ),
                        ));
                    }
                    sorted = false;
                }
            }
            let mut segments = base.header.segments.clone();
            segments.extend(new_segments.iter().cloned());
            let header = RecordHeader {
                kind: RecordKind::Data,
                timestamp_ns: 0,
                live: Vec::new(),
                index: base.header.index.clone(),
                index_sorted: sorted,
                rows: base.header.rows + new_rows,
                segments,
                consumed: Vec::new(),
                staged_after: None,
            };
            Ok((header, merged, metadata.clone()))
        })?;
        log(LogLevel::Debug, || {
            format!("appended {new_rows} rows to '{symbol}' as v{version}")
        });
        Ok(version)
    }

    /// Replaces the rows of `symbol` whose index lies in the span of `data` (its first to last
    /// index value) or in `options.date_range`, keeping everything outside it. Only segments that
    /// overlap the span are rewritten. Rows of `data` outside an explicit `date_range` are
    /// dropped (as in ArcticDB). An empty `data` without `date_range` still makes a new version
    /// with unchanged rows (as in ArcticDB); with `date_range` it deletes that range.
    pub fn update(
        &self,
        symbol: &str,
        data: &mut dyn RecordBatchReader,
        metadata: Option<Vec<u8>>,
        options: &UpdateOptions,
    ) -> Result<u64> {
        self.update_impl(symbol, data, UpdateMetadata::Replace(metadata), options)
    }

    /// A new version without the rows whose index lies in `range` (inclusive). The metadata of
    /// the latest version is kept.
    pub fn delete_data_in_range(
        &self,
        symbol: &str,
        range: DateRange,
        prune_previous_versions: Option<bool>,
    ) -> Result<u64> {
        validate_name("symbol", symbol)?;
        let storage = self.storage()?;
        let head = self
            .head(&storage, symbol)?
            .ok_or_else(|| no_such_symbol(self, symbol))?;
        let (_, base) = self
            .latest(&storage, symbol, &head)?
            .ok_or_else(|| no_such_symbol(self, symbol))?;
        let schema = base.schema()?;
        let mut empty = arrow_array::RecordBatchIterator::new(
            Vec::<Result<RecordBatch, arrow_schema::ArrowError>>::new(),
            schema,
        );
        let options = UpdateOptions {
            date_range: Some(range),
            prune_previous_versions,
            ..Default::default()
        };
        self.update_impl(symbol, &mut empty, UpdateMetadata::Keep, &options)
    }

    fn update_impl(
        &self,
        symbol: &str,
        data: &mut dyn RecordBatchReader,
        metadata: UpdateMetadata,
        options: &UpdateOptions,
    ) -> Result<u64> {
        validate_name("symbol", symbol)?;
        let storage = self.storage()?;
        let schema = data.schema();
        let head = self.head(&storage, symbol)?;
        let latest = match &head {
            Some(h) => self.latest(&storage, symbol, h)?,
            None => None,
        };
        let Some((_, current)) = latest else {
            if !options.upsert {
                return Err(no_such_symbol(self, symbol)
                    .context("update needs an existing symbol (or upsert=true)"));
            }
            // Upsert of a missing symbol: the data becomes its first version (ArcticDB does
            // the same), indexed by the column the caller names.
            let index = options.index.clone().ok_or_else(|| {
                Error::invalid(
                    "update with upsert of a missing symbol needs options.index (the index column)",
                )
            })?;
            let write_options = WriteOptions {
                index: Some(index),
                validate_index: true,
                prune_previous_versions: options.prune_previous_versions,
            };
            let metadata = match metadata {
                UpdateMetadata::Replace(m) => m,
                UpdateMetadata::Keep => None,
            };
            return self.write(symbol, data, metadata, &write_options);
        };
        let index_name = current.header.index.clone().ok_or_else(|| {
            Error::new(
                ErrorKind::Schema,
                format!("update needs an index column; '{symbol}' has none"),
            )
        })?;
        let (effective, conversion) =
            schema::index_conversion(current.schema()?.as_ref(), &schema, &index_name);
        let index = Self::check_input_schema(&effective, Some(&index_name))?;
        let index_type = effective
            .field_with_name(&index_name)
            .map_err(|e| Error::internal(e.to_string()))?
            .data_type()
            .clone();
        let span = match &options.date_range {
            Some(r) => Some(resolve_range(r, &index_type)?),
            None => None,
        };
        let mut writer = self.segment_writer(&storage, symbol, index, true);
        let keep_in_span = |batch: &RecordBatch| -> Result<RecordBatch> {
            let batch = &schema::convert_index(batch, &effective, conversion.as_ref())?;
            let Some((lo, hi)) = span else {
                return Ok(batch.clone());
            };
            let column = batch
                .column_by_name(&index_name)
                .ok_or_else(|| Error::internal("index column"))?;
            let values = segment::index_values(&index_name, column.as_ref())?;
            let mask = BooleanArray::from_iter(values.iter().map(|v| Some(lo <= *v && *v <= hi)));
            arrow_select::filter::filter_record_batch(batch, &mask)
                .map_err(|e| Error::internal(e.to_string()))
        };
        self.ingest(&mut writer, data, &schema, Some(&keep_in_span))?;
        let schema = effective.clone();
        let span = span.or(match (writer.first_index, writer.last_index) {
            (Some(a), Some(b)) => Some((a, b)),
            _ => None,
        });
        let prune = options
            .prune_previous_versions
            .unwrap_or(self.options().prune_previous_versions);
        let dynamic = self.options().dynamic_schema;
        let new_segments = writer.written.clone();
        let mut trims: Vec<SegmentWriter> = Vec::new();
        let result = {
            let trims = &mut trims;
            self.commit_data(&storage, symbol, prune, &mut [&mut writer], |base| {
                for mut t in trims.drain(..) {
                    t.abandon();
                }
                let (_, base) = base.ok_or_else(|| no_such_symbol(self, symbol))?;
                if base.header.index.as_deref() != Some(index_name.as_str()) {
                    return Err(Error::new(ErrorKind::Schema, format!("the index of '{symbol}' changed concurrently")));
                }
                if !base.header.index_sorted {
                    return Err(Error::new(
                        ErrorKind::UnsortedIndex,
                        format!("update needs a sorted index; '{symbol}' was written with validate_index=false"),
                    ));
                }
                let base_schema = base.schema()?;
                let merged = schema::merge(symbol, base_schema.as_ref(), &schema, dynamic)?;
                let meta = match &metadata {
                    UpdateMetadata::Replace(m) => m.clone(),
                    UpdateMetadata::Keep => base.metadata.clone(),
                };
                let mut header = base.header.clone();
                let Some((lo, hi)) = span else {
                    return Ok((header, merged, meta));
                };
                let ix_position = base_schema.index_of(&index_name).map_err(|e| Error::corrupt(e.to_string()))?;
                let mut trim = self.segment_writer(&storage, symbol, Some((index_name.clone(), ix_position)), true);
                let (mut before, mut after, mut head_part, mut tail_part) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
                for s in &base.header.segments {
                    let (min, max) = (s.index_min.unwrap_or(i64::MIN), s.index_max.unwrap_or(i64::MAX));
                    if max < lo {
                        before.push(s.clone());
                    } else if min > hi {
                        after.push(s.clone());
                    } else {
                        let batch = self.load_segment(&storage, symbol, s, &base_schema)?;
                        let values = segment::index_values(&index_name, batch.column(ix_position).as_ref())?;
                        let below = values.partition_point(|v| *v < lo);
                        let above = values.partition_point(|v| *v <= hi);
                        if below > 0 {
                            head_part.push(batch.slice(0, below));
                        }
                        if above < values.len() {
                            tail_part.push(batch.slice(above, values.len() - above));
                        }
                    }
                }
                let mut segments = before;
                for part in head_part {
                    trim.push(part)?;
                }
                trim.finish()?;
                segments.append(&mut trim.written.clone());
                let trimmed_head = trim.written.len();
                segments.extend(new_segments.iter().cloned());
                for part in tail_part {
                    trim.push(part)?;
                }
                trim.finish()?;
                segments.extend(trim.written[trimmed_head..].iter().cloned());
                segments.extend(after);
                trims.push(trim);
                let (rows, _) = summarize(&segments);
                header.rows = rows;
                header.segments = segments;
                Ok((header, merged, meta))
            })
        };
        if result.is_err() {
            for mut t in trims {
                t.abandon();
            }
        }
        result
    }

    fn load_segment(
        &self,
        storage: &SharedStorage,
        symbol: &str,
        segment: &SegmentRef,
        schema: &SchemaRef,
    ) -> Result<RecordBatch> {
        let Some(bytes) = storage.get(&self.keys().segment(symbol, &segment.id))? else {
            // A library deleted under us explains a missing segment; otherwise the callers
            // re-check the chain (a lost race) before calling it corruption.
            self.ensure_library_live(storage)?;
            return Err(Error::corrupt(format!(
                "a segment of '{symbol}' is missing"
            )));
        };
        crate::checksum::verify_segment(&bytes, segment.checksum, || {
            format!("segment {} of '{symbol}'", segment.id)
        })?;
        self.inner
            .segment_loads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        conform(&segment::decode(bytes)?, schema)
    }

    /// Resolves `as_of` to a version number and its record.
    fn resolve(
        &self,
        storage: &SharedStorage,
        symbol: &str,
        as_of: &AsOf,
    ) -> Result<(u64, Record, bool)> {
        validate_name("symbol", symbol)?;
        if let AsOf::Snapshot(name) = as_of {
            let snap = self.read_snapshot(storage, name)?;
            let v = snap.version_of(symbol).ok_or_else(|| {
                Error::new(
                    ErrorKind::NoSuchSymbol,
                    format!("snapshot '{name}' does not hold '{symbol}'"),
                )
            })?;
            let live = self
                .head(storage, symbol)?
                .is_some_and(|h| live::contains(h.live(), v));
            return Ok((v, self.record(storage, symbol, v)?, !live));
        }
        let head = self
            .head(storage, symbol)?
            .ok_or_else(|| no_such_symbol(self, symbol))?;
        let live_set = head.live();
        if live_set.is_empty() {
            return Err(no_such_symbol(self, symbol).context("every version was deleted"));
        }
        let latest = live::latest(live_set).unwrap_or_default();
        let version = match as_of {
            AsOf::Latest => latest,
            AsOf::Version(v) if *v >= 0 => {
                let v = *v as u64;
                if !live::contains(live_set, v) {
                    let why = if v > head.number {
                        "does not exist"
                    } else {
                        "was deleted (or is a delete marker)"
                    };
                    return Err(Error::new(
                        ErrorKind::NoSuchVersion,
                        format!("version {v} of '{symbol}' {why}; the latest is {latest}"),
                    ));
                }
                v
            }
            AsOf::Version(v) => {
                live::nth_latest(live_set, v.unsigned_abs() - 1).ok_or_else(|| {
                    Error::new(
                        ErrorKind::NoSuchVersion,
                        format!(
                            "as_of={v}: '{symbol}' has only {} live version(s)",
                            live::versions(live_set).count()
                        ),
                    )
                })?
            }
            AsOf::Time(t) => {
                let mut found = None;
                for v in live::versions(live_set).rev() {
                    let record = if v == head.number {
                        head.record.clone()
                    } else {
                        self.record(storage, symbol, v)?
                    };
                    if record.header.timestamp_ns <= *t {
                        found = Some((v, record));
                        break;
                    }
                }
                return found.map(|(v, r)| (v, r, false)).ok_or_else(|| {
                    Error::new(
                        ErrorKind::NoSuchVersion,
                        format!("'{symbol}' has no live version written at or before {t} ns"),
                    )
                });
            }
            AsOf::Snapshot(_) => unreachable!("handled above"),
        };
        let record = if version == head.number {
            head.record
        } else {
            self.record(storage, symbol, version)?
        };
        Ok((version, record, false))
    }

    fn info(
        &self,
        symbol: &str,
        version: u64,
        record: &Record,
        deleted: bool,
        snapshots: Vec<String>,
    ) -> VersionInfo {
        VersionInfo {
            symbol: symbol.to_string(),
            version,
            timestamp_ns: record.header.timestamp_ns,
            deleted,
            rows: record.header.rows,
            index: record.header.index.clone(),
            has_metadata: record.metadata.is_some(),
            snapshots,
        }
    }

    /// Reads a version of `symbol`, optionally only some rows and columns.
    pub fn read(&self, symbol: &str, options: &ReadOptions) -> Result<ReadResult> {
        let storage = self.storage()?;
        let (version, record, deleted) = self.resolve(&storage, symbol, &options.as_of)?;
        let loader = |schema| read::SegmentLoader {
            storage: storage.clone(),
            schema,
            index: record.header.index.clone(),
            loads: self.inner.segment_loads.clone(),
        };
        let reader: Box<dyn RecordBatchReader + Send> = match &options.query {
            None => {
                let (schema, reads) =
                    read::plan(&record, &self.keys(), symbol, options, &|_| true)?;
                Box::new(TableReader::new(loader(schema), reads))
            }
            Some(q) => Box::new(query::reader(
                &record,
                &self.keys(),
                symbol,
                options,
                q,
                loader,
            )?),
        };
        Ok(ReadResult {
            info: self.info(symbol, version, &record, deleted, Vec::new()),
            reader,
            metadata: record.metadata,
        })
    }

    /// The metadata of a version (without its data).
    pub fn read_metadata(
        &self,
        symbol: &str,
        as_of: &AsOf,
    ) -> Result<(VersionInfo, Option<Vec<u8>>)> {
        let storage = self.storage()?;
        let (version, record, deleted) = self.resolve(&storage, symbol, as_of)?;
        Ok((
            self.info(symbol, version, &record, deleted, Vec::new()),
            record.metadata,
        ))
    }

    /// Columns, index, row count, index range and sortedness of a version.
    pub fn get_description(&self, symbol: &str, as_of: &AsOf) -> Result<Description> {
        let storage = self.storage()?;
        let (version, record, _) = self.resolve(&storage, symbol, as_of)?;
        let schema = record.schema()?;
        let column = |f: &arrow_schema::Field| ColumnInfo {
            name: f.name().clone(),
            r#type: f.data_type().to_string(),
            nullable: f.is_nullable(),
        };
        let index_name = record.header.index.as_deref();
        let segments = &record.header.segments;
        let index_range = index_name.and_then(|_| {
            let min = segments.iter().filter_map(|s| s.index_min).min()?;
            let max = segments.iter().filter_map(|s| s.index_max).max()?;
            Some([min, max])
        });
        Ok(Description {
            symbol: symbol.to_string(),
            version,
            columns: schema
                .fields()
                .iter()
                .filter(|f| Some(f.name().as_str()) != index_name)
                .map(|f| column(f))
                .collect(),
            index: index_name
                .and_then(|n| schema.field_with_name(n).ok())
                .map(column),
            row_count: record.header.rows,
            index_range,
            sorted: match (index_name, record.header.index_sorted) {
                (None, _) => "UNKNOWN",
                (Some(_), true) => "ASCENDING",
                (Some(_), false) => "UNSORTED",
            }
            .to_string(),
            last_update_time_ns: record.header.timestamp_ns,
            segments: segments.len() as u64,
            stored_bytes: segments.iter().map(|s| s.bytes).sum(),
            has_metadata: record.metadata.is_some(),
        })
    }

    /// A new version with the data of the latest and new metadata.
    pub fn write_metadata(
        &self,
        symbol: &str,
        metadata: Option<Vec<u8>>,
        prune_previous_versions: Option<bool>,
    ) -> Result<u64> {
        validate_name("symbol", symbol)?;
        let storage = self.storage()?;
        let prune = prune_previous_versions.unwrap_or(self.options().prune_previous_versions);
        self.commit_data(&storage, symbol, prune, &mut [], |base| {
            let (_, base) = base.ok_or_else(|| no_such_symbol(self, symbol))?;
            Ok((base.header.clone(), base.schema()?, metadata.clone()))
        })
    }

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
    fn all_symbols(&self, storage: &SharedStorage) -> Result<Vec<String>> {
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
            start = all.clone();
            start.extend_from_slice(name.as_bytes());
            start.push(1);
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
                for s in segments {
                    writer.push(self.load_segment(&storage, symbol, s, &schema)?)?;
                }
                writer.finish()
            })();
            if let Err(e) = rewritten {
                writer.abandon();
                if e.kind() == ErrorKind::Corrupt
                    && attempts < crate::config::max_commit_retries()
                    && self.head_moved(&storage, symbol, head.number + 1)?
                {
                    attempts += 1;
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

    // ------------------------------------------------------------------ snapshots

    fn snapshot_key(&self, name: &str) -> Vec<u8> {
        let mut k = self.inner.prefix.clone();
        k.extend_from_slice(b"n\0");
        k.extend_from_slice(name.as_bytes());
        k
    }

    fn load_snapshots(&self, storage: &SharedStorage) -> Result<Vec<Snapshot>> {
        let mut prefix = self.inner.prefix.clone();
        prefix.extend_from_slice(b"n\0");
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

    fn read_snapshot(&self, storage: &SharedStorage, name: &str) -> Result<Snapshot> {
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

enum UpdateMetadata {
    Replace(Option<Vec<u8>>),
    Keep,
}

/// How many segment keys a library holds in storage (for tests of garbage collection).
#[doc(hidden)]
pub fn debug_segment_count(lib: &Library) -> Result<usize> {
    let mut prefix = lib.inner.prefix.clone();
    prefix.extend_from_slice(b"s\0");
    let entries = lib.storage()?.scan(
        &KeyRange::prefix(&prefix),
        ScanOptions {
            keys_only: true,
            ..Default::default()
        },
    )?;
    Ok(entries.len())
}
