//! Writing operations: write, append, update, delete_data_in_range and write_metadata. Each
//! streams its input into new segments first (`ingest`), then commits a record built from the
//! head it finds (`commit_data`), re-building it when it loses a race.

use std::sync::Arc;

use arrow_array::{BooleanArray, RecordBatch, RecordBatchReader};
use arrow_schema::{Schema, SchemaRef};

use super::commit::{no_such_symbol, summarize};
use super::options::{DateRange, UpdateOptions, WriteOptions};
use super::reader::resolve_range;
use super::record::{Record, RecordHeader, RecordKind, SegmentRef};
use super::segment_writer::SegmentWriter;
use super::{schema, segment};
use crate::config::{log, LogLevel};
use crate::error::{Error, ErrorKind, Result};
use crate::storage::SharedStorage;
use crate::store::{validate_name, Library};

/// What the `Conflict` of [`Library::write_if_latest`] says when its base is no longer the
/// latest version (callers that recompute and retry look for it).
pub const CHANGED_SINCE_READ: &str = "changed since its rows were read";

/// Keeps some rows of an incoming batch (update drops rows outside its date_range).
type RowFilter<'a> = dyn Fn(&RecordBatch) -> Result<RecordBatch> + 'a;

impl Library {
    pub(super) fn segment_writer(
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

    /// Streams `data` into a segment writer, applying `keep` (a row filter) to each batch;
    /// reports the rows taken in as progress of `stage` (their number is unknown ahead).
    pub(super) fn ingest(
        &self,
        writer: &mut SegmentWriter,
        data: &mut dyn RecordBatchReader,
        schema: &SchemaRef,
        keep: Option<&RowFilter<'_>>,
        stage: &'static str,
    ) -> Result<()> {
        let mut rows = 0u64;
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
                rows += batch.num_rows() as u64;
                writer.push(batch)?;
                crate::progress::report(stage, "rows", rows, 0);
            }
            writer.finish()
        })();
        if streamed.is_err() {
            writer.abandon();
        }
        streamed
    }

    pub(super) fn check_input_schema(
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

    /// Writes `data` as a new version of `symbol`, replacing its content; returns the version.
    pub fn write(
        &self,
        symbol: &str,
        data: &mut dyn RecordBatchReader,
        metadata: Option<Vec<u8>>,
        options: &WriteOptions,
    ) -> Result<u64> {
        self.write_impl(symbol, data, metadata, options, None)
    }

    /// [`Self::write`] for data computed from version `based_on` of `symbol` (`None`: from
    /// nothing — the symbol must have no live version): commits only while that is still the
    /// latest live version, else fails with `Conflict` saying the base changed (the caller
    /// recomputes from the new one). Rewrites that read, change and write back — SQL's
    /// `UPDATE` and `DELETE` — lose no concurrent commit this way.
    pub fn write_if_latest(
        &self,
        symbol: &str,
        based_on: Option<u64>,
        data: &mut dyn RecordBatchReader,
        metadata: Option<Vec<u8>>,
        options: &WriteOptions,
    ) -> Result<u64> {
        self.write_impl(symbol, data, metadata, options, Some(based_on))
    }

    fn write_impl(
        &self,
        symbol: &str,
        data: &mut dyn RecordBatchReader,
        metadata: Option<Vec<u8>>,
        options: &WriteOptions,
        based_on: Option<Option<u64>>,
    ) -> Result<u64> {
        validate_name("symbol", symbol)?;
        let storage = self.storage()?;
        let schema = data.schema();
        let index = Self::check_input_schema(&schema, options.index.as_deref())?;
        if let Some(format) = &options.content {
            check_object(format, &schema, options.index.as_deref())?;
        }
        let mut writer = self.segment_writer(&storage, symbol, index, options.validate_index);
        self.ingest(&mut writer, data, &schema, None, "write")?;
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
            content: options.content.clone(),
        };
        let version = self.commit_data(&storage, symbol, prune, &mut [&mut writer], |base| {
            if let Some(expected) = based_on {
                let found = base.map(|(v, _)| v);
                if found != expected {
                    let was =
                        |v: Option<u64>| v.map_or("no version".to_string(), |v| format!("v{v}"));
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!(
                            "'{symbol}' {CHANGED_SINCE_READ}: the rows were computed from {} and \
                             the latest is now {}; nothing was written",
                            was(expected),
                            was(found)
                        ),
                    ));
                }
            }
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
        if options.content.is_some() {
            return Err(Error::invalid(
                "append takes no `content`: an opaque object is written whole",
            ));
        }
        let storage = self.storage()?;
        let schema = data.schema();
        // The index is the stored one; before the first version it is the one asked for.
        let stored = match self.head(&storage, symbol)? {
            Some(h) => self.latest(&storage, symbol, &h)?.map(|(_, r)| r),
            None => None,
        };
        // A metadata-only version has no columns to keep: the appended data starts the symbol.
        let stored = stored.filter(|r| !r.is_metadata_only());
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
        self.ingest(&mut writer, data, &schema, transform, "append")?;
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
            let base = base.filter(|(_, b)| !b.is_metadata_only());
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
                    content: None,
                };
                return Ok((header, schema.clone(), metadata.clone()));
            };
            refuse_object(symbol, base, "append to")?;
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
                content: None,
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
            // the same), indexed by the column the caller names — or by none (ArcticDB writes
            // an empty or row-numbered frame too; a later update then asks for an index).
            let write_options = WriteOptions {
                index: options.index.clone(),
                validate_index: true,
                prune_previous_versions: options.prune_previous_versions,
                content: None,
            };
            let metadata = match metadata {
                UpdateMetadata::Replace(m) => m,
                UpdateMetadata::Keep => None,
            };
            return self.write(symbol, data, metadata, &write_options);
        };
        let Some(index_name) = current.header.index.clone() else {
            return self.update_unindexed(symbol, data, metadata, options);
        };
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
        self.ingest(&mut writer, data, &schema, Some(&keep_in_span), "update")?;
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
                let target = Target { storage: &storage, symbol, index_name: &index_name };
                let segments = self.trim_around(&target, base, (lo, hi), &new_segments, trims)?;
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

    /// An update of a symbol without index: only empty data without `date_range` applies (a
    /// new version with unchanged rows, as for an indexed symbol); anything else has no rows
    /// to replace by index.
    fn update_unindexed(
        &self,
        symbol: &str,
        data: &mut dyn RecordBatchReader,
        metadata: UpdateMetadata,
        options: &UpdateOptions,
    ) -> Result<u64> {
        let no_index = || {
            Error::new(
                ErrorKind::Schema,
                format!("update needs an index column; '{symbol}' has none"),
            )
        };
        if options.date_range.is_some() {
            return Err(no_index());
        }
        for batch in data {
            let batch = batch.map_err(|e| {
                Error::new(ErrorKind::InvalidArrow, "the input stream failed").caused_by(e)
            })?;
            if batch.num_rows() > 0 {
                return Err(no_index());
            }
        }
        let storage = self.storage()?;
        let prune = options
            .prune_previous_versions
            .unwrap_or(self.options().prune_previous_versions);
        self.commit_data(&storage, symbol, prune, &mut [], |base| {
            let (_, base) = base.ok_or_else(|| no_such_symbol(self, symbol))?;
            if base.header.index.is_some() {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!("'{symbol}' was rewritten with an index while updating; nothing was updated"),
                ));
            }
            let meta = match &metadata {
                UpdateMetadata::Replace(m) => m.clone(),
                UpdateMetadata::Keep => base.metadata.clone(),
            };
            Ok((base.header.clone(), base.schema()?, meta))
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
        self.commit_data(&storage, symbol, prune, &mut [], |base| match base {
            Some((_, base)) => Ok((base.header.clone(), base.schema()?, metadata.clone())),
            // As ArcticDB: metadata for a symbol without data is a version of its own, with a
            // table of no columns and no rows (a later write or append starts the data, see
            // `Record::is_metadata_only`).
            None => {
                let header = RecordHeader {
                    kind: RecordKind::Data,
                    timestamp_ns: 0,
                    live: Vec::new(),
                    index: None,
                    index_sorted: true,
                    rows: 0,
                    segments: Vec::new(),
                    consumed: Vec::new(),
                    staged_after: None,
                    content: None,
                };
                Ok((header, Arc::new(Schema::empty()), metadata.clone()))
            }
        })
    }
}

/// Checks the data of an opaque object: one binary column, no index, a printable format name.
fn check_object(format: &str, schema: &Schema, index: Option<&str>) -> Result<()> {
    if format.is_empty() || format.len() > 64 || !format.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(format!(
            "content {format:?}: a format name is 1 to 64 printable ASCII characters"
        )));
    }
    let binary = matches!(
        schema.fields().first().map(|f| f.data_type()),
        Some(arrow_schema::DataType::Binary | arrow_schema::DataType::LargeBinary)
    );
    if schema.fields().len() != 1 || !binary || index.is_some() {
        return Err(Error::new(
            ErrorKind::Schema,
            format!(
                "an object ({format}) is written as one binary column without index, not as {}",
                crate::query::column_list(schema)
            ),
        ));
    }
    Ok(())
}

/// Refuses an operation that needs a table on a version holding an opaque object.
pub(super) fn refuse_object(symbol: &str, base: &Record, what: &str) -> Result<()> {
    match &base.header.content {
        Some(format) => Err(Error::new(
            ErrorKind::Schema,
            format!(
                "cannot {what} '{symbol}': its latest version is an object ({format}), not a table"
            ),
        )),
        None => Ok(()),
    }
}

/// Where an update's or merge's segment cutting works: the symbol, its storage and its index
/// column.
pub(super) struct Target<'a> {
    pub(super) storage: &'a SharedStorage,
    pub(super) symbol: &'a str,
    pub(super) index_name: &'a str,
}

impl Library {
    /// Update's segment trimming. The segments of `base` wholly before or after `span` (an
    /// inclusive index range) are kept as they are; each segment overlapping it is loaded and
    /// cut, and its rows before and after the span are rewritten around `new_segments`.
    /// Returns the new segment list in index order. The writer of the rewritten segments is
    /// pushed to `writers` before it writes anything, so a failed commit can abandon them.
    fn trim_around(
        &self,
        at: &Target<'_>,
        base: &Record,
        span: (i64, i64),
        new_segments: &[SegmentRef],
        writers: &mut Vec<SegmentWriter>,
    ) -> Result<Vec<SegmentRef>> {
        let base_schema = base.schema()?;
        let ix_position = base_schema
            .index_of(at.index_name)
            .map_err(|e| Error::corrupt(e.to_string()))?;
        writers.push(self.segment_writer(
            at.storage,
            at.symbol,
            Some((at.index_name.to_string(), ix_position)),
            true,
        ));
        let trim = writers
            .last_mut()
            .ok_or_else(|| Error::internal("no writer"))?;
        let cut = self.cut_around(at, base, &base_schema, ix_position, span)?;
        let mut segments = cut.before;
        for part in cut.below {
            trim.push(part)?;
        }
        trim.finish()?;
        segments.extend(trim.written.iter().cloned());
        let trimmed_head = trim.written.len();
        segments.extend(new_segments.iter().cloned());
        for part in cut.above {
            trim.push(part)?;
        }
        trim.finish()?;
        segments.extend(trim.written[trimmed_head..].iter().cloned());
        segments.extend(cut.after);
        Ok(segments)
    }

    /// The segments of `base` around an inclusive index `span`: those wholly before or after
    /// it kept as they are, each overlapping one loaded and cut into its rows below, inside
    /// and above the span (update rewrites the outer parts around new rows; merge also merges
    /// the inside ones).
    pub(super) fn cut_around(
        &self,
        at: &Target<'_>,
        base: &Record,
        schema: &SchemaRef,
        ix_position: usize,
        span: (i64, i64),
    ) -> Result<SpanCut> {
        let (lo, hi) = span;
        let mut cut = SpanCut::default();
        for s in &base.header.segments {
            let (min, max) = (
                s.index_min.unwrap_or(i64::MIN),
                s.index_max.unwrap_or(i64::MAX),
            );
            if max < lo {
                cut.before.push(s.clone());
            } else if min > hi {
                cut.after.push(s.clone());
            } else {
                let batch = self.load_segment(at.storage, at.symbol, s, schema)?;
                let values =
                    segment::index_values(at.index_name, batch.column(ix_position).as_ref())?;
                let below = values.partition_point(|v| *v < lo);
                let above = values.partition_point(|v| *v <= hi);
                if below > 0 {
                    cut.below.push(batch.slice(0, below));
                }
                if above > below {
                    cut.inside.push(batch.slice(below, above - below));
                }
                if above < values.len() {
                    cut.above.push(batch.slice(above, values.len() - above));
                }
            }
        }
        Ok(cut)
    }
}

/// What [`Library::cut_around`] gives: kept segments and the cut rows of overlapping ones.
#[derive(Default)]
pub(super) struct SpanCut {
    pub(super) before: Vec<SegmentRef>,
    pub(super) below: Vec<RecordBatch>,
    pub(super) inside: Vec<RecordBatch>,
    pub(super) above: Vec<RecordBatch>,
    pub(super) after: Vec<SegmentRef>,
}

enum UpdateMetadata {
    Replace(Option<Vec<u8>>),
    Keep,
}
