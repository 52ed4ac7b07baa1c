//! Reading a version: which segments to load (pruned by index range or row range), which
//! columns to decode, and a lazy reader that loads one segment per batch.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_array::{new_null_array, Array, BooleanArray, RecordBatch, RecordBatchReader};
use arrow_buffer::Buffer;
use arrow_schema::{ArrowError, DataType, Field, SchemaRef};

use super::options::{DateRange, ReadOptions};
use super::parallel::OrderedParallel;
use super::record::{Record, SegmentRef};
use super::segment;
use crate::error::{Error, ErrorKind, Result};
use crate::keys::TableKeys;
use crate::query::exec::{apply_map_stages, MapStage};
use crate::query::Pipeline;
use crate::storage::SharedStorage;

/// One segment to load and what to keep of it.
#[derive(Debug, Clone)]
pub(crate) struct SegmentRead {
    pub key: Vec<u8>,
    /// The rows the segment holds.
    pub rows: u64,
    /// The checksum the version record holds for the segment.
    pub checksum: Option<u64>,
    /// Keep rows whose index lies in this inclusive range.
    pub index_filter: Option<(i64, i64)>,
    /// Keep rows `offset..offset+len` (after the index filter, which never combines with it).
    pub slice: Option<(usize, usize)>,
}

/// The inclusive raw index range a `DateRange` means for an index of `index_type`.
pub(crate) fn resolve_range(range: &DateRange, index_type: &DataType) -> Result<(i64, i64)> {
    crate::query::exec::resolve_bounds(range.start, range.end, index_type)
}

pub(crate) use crate::query::exec::resolve_rows;

/// The output schema and the segment reads for `options` over `record`.
/// `keep` may refuse segments (a query's filter proved false on their statistics); row
/// positions are resolved before it is asked, so a refused segment only drops its own rows.
pub(crate) fn plan(
    record: &Record,
    keys: &TableKeys<'_>,
    symbol: &str,
    options: &ReadOptions,
    keep: &dyn Fn(&SegmentRef) -> bool,
) -> Result<(SchemaRef, Vec<SegmentRead>)> {
    let stored = record.schema()?;
    let index_name = record.header.index.as_deref();
    let schema = match &options.columns {
        None => stored.clone(),
        Some(requested) => {
            let mut names: Vec<&str> = Vec::new();
            let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
            if let Some(ix) = index_name {
                if !requested.iter().any(|c| c == ix) {
                    names.push(ix);
                    seen.insert(ix);
                }
            }
            for c in requested {
                if !seen.insert(c.as_str()) {
                    return Err(Error::invalid(format!("column {c:?} is requested twice")));
                }
                names.push(c);
            }
            let positions = crate::query::positions(&stored);
            let mut indices = Vec::with_capacity(names.len());
            for name in names {
                indices.push(positions.get(name).copied().ok_or_else(|| {
                    Error::new(
                        ErrorKind::Schema,
                        format!(
                            "'{symbol}' has no column '{name}' (columns: {})",
                            crate::query::column_list(&stored)
                        ),
                    )
                })?);
            }
            Arc::new(
                stored
                    .project(&indices)
                    .map_err(|e| Error::internal(e.to_string()))?,
            )
        }
    };
    let segments = &record.header.segments;
    let mut reads = Vec::new();
    if let Some(range) = &options.date_range {
        let ix = index_name.ok_or_else(|| {
            Error::new(
                ErrorKind::Schema,
                format!("date_range needs an index column; '{symbol}' has none"),
            )
        })?;
        let index_type = stored
            .field_with_name(ix)
            .map_err(|e| Error::corrupt(e.to_string()))?
            .data_type();
        let (lo, hi) = resolve_range(range, index_type)?;
        for s in segments {
            let (Some(min), Some(max)) = (s.index_min, s.index_max) else {
                continue;
            };
            if max < lo || min > hi || !keep(s) {
                continue;
            }
            let whole = lo <= min && max <= hi;
            reads.push(SegmentRead {
                key: keys.segment(symbol, &s.id),
                rows: s.rows,
                checksum: s.checksum,
                index_filter: (!whole).then_some((lo, hi)),
                slice: None,
            });
        }
    } else {
        let (start, end) = match options.row_range {
            Some((a, b)) => resolve_rows(a, b, record.header.rows),
            None => (0, record.header.rows),
        };
        let mut offset = 0u64;
        for s in segments {
            let (seg_start, seg_end) = (offset, offset + s.rows);
            offset = seg_end;
            if seg_end <= start || seg_start >= end || !keep(s) {
                continue;
            }
            let keep_start = start.max(seg_start) - seg_start;
            let keep_end = end.min(seg_end) - seg_start;
            let whole = keep_start == 0 && keep_end == s.rows;
            reads.push(SegmentRead {
                key: keys.segment(symbol, &s.id),
                rows: s.rows,
                checksum: s.checksum,
                index_filter: None,
                slice: (!whole).then_some((keep_start as usize, (keep_end - keep_start) as usize)),
            });
        }
    }
    Ok((schema, reads))
}

/// Loads one segment as a batch of the version's (selected) schema.
#[derive(Clone)]
pub(crate) struct SegmentLoader {
    pub storage: SharedStorage,
    pub schema: SchemaRef,
    pub index: Option<String>,
    pub counters: Arc<ReadCounters>,
}

/// What the reads through one library handle have loaded: observability, and the proof that
/// pruning and projection work (exposed by `sheaf_library_stats`).
#[derive(Debug, Default)]
pub(crate) struct ReadCounters {
    /// Stored segments loaded.
    pub segments: AtomicU64,
    /// Bytes of column data produced from them (decompressed, or copied when stored raw):
    /// a read of some columns decodes only those.
    pub bytes_decoded: AtomicU64,
    /// Contiguous reads whose columns were all decompressed in place (the others were decoded
    /// segment by segment and concatenated): tells whether a table gets the fast path.
    pub assembled_in_place: AtomicU64,
}

/// Segment loads in flight at once on storage that prefers point reads (object storage).
const REMOTE_LOADS: usize = 16;

/// Loaded segments in order, each run through `prefix` (a query's stateless stages; empty for
/// a plain read). With several segments and `read.threads` above 1 they are loaded on worker
/// threads, at most one more than there are threads ahead of the consumer (bounded memory);
/// otherwise on the caller's thread.
enum SegmentBatches {
    Inline {
        loader: SegmentLoader,
        reads: VecDeque<SegmentRead>,
        prefix: Arc<Vec<MapStage>>,
    },
    Parallel(OrderedParallel<RecordBatch>),
}

impl SegmentBatches {
    fn new(loader: SegmentLoader, reads: Vec<SegmentRead>, prefix: Arc<Vec<MapStage>>) -> Self {
        // On object storage a load is mostly waiting for a response: as many loads run at once
        // as the store allows requests in flight (decoding still takes a core each).
        let threads = if loader.storage.prefers_point_reads() {
            crate::config::read_threads().max(REMOTE_LOADS)
        } else {
            crate::config::read_threads()
        }
        .min(reads.len());
        if threads > 1 {
            let n = reads.len();
            SegmentBatches::Parallel(OrderedParallel::new(n, threads, threads + 1, move |i| {
                apply_map_stages(&prefix, loader.load(&reads[i])?)
            }))
        } else {
            SegmentBatches::Inline {
                loader,
                reads: reads.into(),
                prefix,
            }
        }
    }

    fn next(&mut self) -> Option<Result<RecordBatch>> {
        match self {
            SegmentBatches::Inline {
                loader,
                reads,
                prefix,
            } => {
                let read = reads.pop_front()?;
                Some(loader.load(&read).and_then(|b| apply_map_stages(prefix, b)))
            }
            SegmentBatches::Parallel(source) => source.next(),
        }
    }
}

/// Streams a version's rows: one record batch per loaded segment (see [`SegmentBatches`]), or
/// — `contiguous` — one batch with one buffer per column (see [`super::assemble`]).
pub struct TableReader {
    schema: SchemaRef,
    source: Option<SegmentBatches>,
    /// Set for a contiguous read until its one batch is made.
    whole: Option<(SegmentLoader, Vec<SegmentRead>, bool)>,
}

impl TableReader {
    /// `index_sorted`: whether the version's index is ascending (only used when contiguous).
    pub(crate) fn new(
        loader: SegmentLoader,
        reads: Vec<SegmentRead>,
        contiguous: bool,
        index_sorted: bool,
    ) -> Self {
        let schema = loader.schema.clone();
        if contiguous {
            TableReader {
                schema,
                source: None,
                whole: Some((loader, reads, index_sorted)),
            }
        } else {
            TableReader {
                schema,
                source: Some(SegmentBatches::new(loader, reads, Arc::new(Vec::new()))),
                whole: None,
            }
        }
    }

    /// The whole read as one batch: assembled in place where every column allows it, else
    /// decoded segment by segment and concatenated.
    fn read_whole(
        loader: SegmentLoader,
        reads: Vec<SegmentRead>,
        index_sorted: bool,
    ) -> Result<RecordBatch> {
        if let Some(batch) = super::assemble::assemble(&loader, &reads, index_sorted)? {
            loader
                .counters
                .assembled_in_place
                .fetch_add(1, Ordering::Relaxed);
            return Ok(batch);
        }
        let schema = loader.schema.clone();
        let mut source = SegmentBatches::new(loader, reads, Arc::new(Vec::new()));
        let mut batches = Vec::new();
        while let Some(batch) = source.next() {
            batches.push(batch?);
        }
        arrow_select::concat::concat_batches(&schema, &batches)
            .map_err(|e| Error::internal("cannot join the segments of a read").caused_by(e))
    }
}

impl SegmentLoader {
    fn load(&self, read: &SegmentRead) -> Result<RecordBatch> {
        let bytes = self.storage.get(&read.key)?.ok_or_else(|| {
            Error::new(
                ErrorKind::NoSuchVersion,
                "a segment of this version is gone: the version was deleted while it was being read",
            )
        })?;
        crate::checksum::verify_segment(&bytes, read.checksum, || "a segment".to_string())?;
        self.counters.segments.fetch_add(1, Ordering::Relaxed);
        let mut names: Vec<&str> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        if read.index_filter.is_some() {
            if let Some(ix) = self.index.as_deref().filter(|ix| !names.contains(ix)) {
                names.push(ix);
            }
        }
        let mut batch = decode_columns(bytes, &names)?;
        let decoded: usize = batch
            .columns()
            .iter()
            .map(|c| {
                let data = c.to_data();
                data.buffers().iter().map(|b| b.len()).sum::<usize>()
                    + data.nulls().map_or(0, |n| n.buffer().len())
            })
            .sum();
        self.counters
            .bytes_decoded
            .fetch_add(decoded as u64, Ordering::Relaxed);
        if let Some((lo, hi)) = read.index_filter {
            let ix = self.index.as_deref().unwrap_or_default();
            let column = batch
                .column_by_name(ix)
                .ok_or_else(|| Error::corrupt("a segment lacks its index column"))?;
            let values = segment::index_values(ix, column.as_ref())?;
            let mask = BooleanArray::from_iter(values.iter().map(|v| Some(lo <= *v && *v <= hi)));
            batch = arrow_select::filter::filter_record_batch(&batch, &mask)
                .map_err(|e| Error::internal("cannot filter a segment").caused_by(e))?;
        }
        if let Some((offset, len)) = read.slice {
            batch = batch.slice(offset, len.min(batch.num_rows().saturating_sub(offset)));
        }
        conform(&batch, &self.schema)
    }
}

/// Decodes only the named columns of a segment (those it has), straight from the loaded
/// bytes: uncompressed (and incompressible) buffers become slices of them rather than copies,
/// and the buffers of columns left out are neither copied nor decompressed.
fn decode_columns(bytes: Vec<u8>, names: &[&str]) -> Result<RecordBatch> {
    let corrupt = |e| Error::corrupt("a segment cannot be decoded").caused_by(e);
    let truncated = || Error::corrupt("a segment is truncated");
    let bytes = Buffer::from_vec(bytes);
    let mut offset = 0usize;
    let mut schema: Option<SchemaRef> = None;
    let mut dictionaries = std::collections::HashMap::new();
    let word = |at: usize| -> Result<u32> {
        let b = bytes.get(at..at + 4).ok_or_else(truncated)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    loop {
        let mut length = word(offset)?;
        offset += 4;
        if length == u32::MAX {
            length = word(offset)?;
            offset += 4;
        }
        if length == 0 {
            return Err(Error::corrupt("a segment holds no rows"));
        }
        let meta = bytes
            .get(offset..offset + length as usize)
            .ok_or_else(truncated)?;
        let message = arrow_ipc::root_as_message(meta)
            .map_err(|e| Error::corrupt(format!("a segment message cannot be read: {e}")))?;
        offset += length as usize;
        let body_length = usize::try_from(message.bodyLength()).map_err(|_| truncated())?;
        if offset + body_length > bytes.len() {
            return Err(truncated());
        }
        let body = bytes.slice_with_length(offset, body_length);
        offset += body_length;
        let version = message.version();
        match message.header_type() {
            arrow_ipc::MessageHeader::Schema => {
                let fb = message.header_as_schema().ok_or_else(truncated)?;
                schema = Some(Arc::new(segment::schema_from_flatbuffer(fb)?));
            }
            arrow_ipc::MessageHeader::DictionaryBatch => {
                let stored = schema.as_ref().ok_or_else(truncated)?;
                let batch = message.header_as_dictionary_batch().ok_or_else(truncated)?;
                arrow_ipc::reader::read_dictionary(
                    &body,
                    batch,
                    stored,
                    &mut dictionaries,
                    &version,
                )
                .map_err(corrupt)?;
            }
            arrow_ipc::MessageHeader::RecordBatch => {
                let stored = schema.clone().ok_or_else(truncated)?;
                let positions = crate::query::positions(&stored);
                let projection: Vec<usize> = names
                    .iter()
                    .filter_map(|n| positions.get(n).copied())
                    .collect();
                let full = projection.len() == stored.fields().len()
                    && projection.iter().enumerate().all(|(i, p)| i == *p);
                let batch = message.header_as_record_batch().ok_or_else(truncated)?;
                return arrow_ipc::reader::read_record_batch(
                    &body,
                    batch,
                    stored,
                    &dictionaries,
                    (!full).then_some(projection.as_slice()),
                    &version,
                )
                .map_err(corrupt);
            }
            _ => return Err(Error::corrupt("a segment holds an unexpected message")),
        }
    }
}

/// Shapes a decoded batch to the version's schema: columns in schema order, missing ones
/// (segments written before a column was added) null-filled, older types cast to the wider
/// type the schema now has.
pub(crate) fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    if batch.schema().fields() == schema.fields() {
        let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows));
        return RecordBatch::try_new_with_options(
            schema.clone(),
            batch.columns().to_vec(),
            &options,
        )
        .map_err(|e| Error::corrupt("a segment does not match its version's schema").caused_by(e));
    }
    let batch_schema = batch.schema();
    let positions = crate::query::positions(&batch_schema);
    let mut columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let column = match positions
            .get(field.name().as_str())
            .map(|i| batch.column(*i))
        {
            Some(c) if c.data_type() == field.data_type() => c.clone(),
            Some(c) => arrow_cast::cast(c.as_ref(), field.data_type()).map_err(|e| {
                Error::corrupt(format!(
                    "column '{}' cannot be read as {}",
                    field.name(),
                    field.data_type()
                ))
                .caused_by(e)
            })?,
            None => new_null_array(field.data_type(), rows),
        };
        columns.push(column);
    }
    let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(schema.clone(), columns, &options)
        .map_err(|e| Error::corrupt("a segment does not match its version's schema").caused_by(e))
}

impl Iterator for TableReader {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some((loader, reads, index_sorted)) = self.whole.take() {
            return match Self::read_whole(loader, reads, index_sorted) {
                Ok(batch) if batch.num_rows() == 0 => None,
                Ok(batch) => Some(Ok(batch)),
                Err(e) => Some(Err(ArrowError::ExternalError(Box::new(e)))),
            };
        }
        loop {
            match self.source.as_mut()?.next()? {
                Ok(batch) if batch.num_rows() == 0 => continue,
                Ok(batch) => return Some(Ok(batch)),
                Err(e) => return Some(Err(ArrowError::ExternalError(Box::new(e)))),
            }
        }
    }
}

impl RecordBatchReader for TableReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// Streams the result of a query: segments are loaded and run through the plan's stateless
/// prefix as [`SegmentBatches`] (on worker threads where there are several), in order, then
/// through the rest of the plan on the consumer's thread.
pub struct QueryReader {
    source: Option<SegmentBatches>,
    pipeline: Pipeline,
    ready: VecDeque<RecordBatch>,
    finished: bool,
}

impl QueryReader {
    pub(crate) fn new(loader: SegmentLoader, reads: Vec<SegmentRead>, pipeline: Pipeline) -> Self {
        QueryReader {
            source: Some(SegmentBatches::new(loader, reads, pipeline.prefix())),
            pipeline,
            ready: VecDeque::new(),
            finished: false,
        }
    }

    fn advance(&mut self) -> Result<()> {
        loop {
            if !self.ready.is_empty() || self.finished {
                return Ok(());
            }
            let next = match self.source.as_mut() {
                Some(source) if !self.pipeline.done() => source.next(),
                _ => None,
            };
            match next {
                Some(batch) => {
                    let out = self.pipeline.push(batch?)?;
                    self.ready.extend(out);
                }
                None => {
                    // Stops the workers before the (possibly long) finishing stages.
                    self.source = None;
                    self.finished = true;
                    let out = self.pipeline.finish()?;
                    self.ready.extend(out);
                }
            }
        }
    }
}

impl Iterator for QueryReader {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Err(e) = self.advance() {
            self.finished = true;
            self.source = None;
            self.ready.clear();
            return Some(Err(ArrowError::ExternalError(Box::new(e))));
        }
        self.ready.pop_front().map(Ok)
    }
}

impl RecordBatchReader for QueryReader {
    fn schema(&self) -> SchemaRef {
        self.pipeline.schema()
    }
}

/// A schema's fields made nullable (used where a column may be null-filled).
pub(crate) fn nullable(field: &Field) -> Field {
    field.clone().with_nullable(true)
}
