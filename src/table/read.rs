//! Reading a version: which segments to load (pruned by index range or row range), which
//! columns to decode, and a lazy reader that loads one segment per batch.

use std::collections::VecDeque;
use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow_array::{new_null_array, Array, BooleanArray, RecordBatch, RecordBatchReader};
use arrow_ipc::reader::StreamReader;
use arrow_schema::{ArrowError, DataType, Field, SchemaRef, TimeUnit};

use super::options::{DateRange, IndexBound, ReadOptions};
use super::record::{Keys, Record};
use super::segment;
use crate::error::{Error, ErrorKind, Result};
use crate::storage::SharedStorage;

/// One segment to load and what to keep of it.
#[derive(Debug, Clone)]
pub(crate) struct SegmentRead {
    pub key: Vec<u8>,
    /// Keep rows whose index lies in this inclusive range.
    pub index_filter: Option<(i64, i64)>,
    /// Keep rows `offset..offset+len` (after the index filter, which never combines with it).
    pub slice: Option<(usize, usize)>,
}

/// Converts nanoseconds to the index column's unit: rounding up for a lower bound and down
/// for an upper bound keeps the range inclusive and exact.
fn nanos_to_index_unit(ns: i64, index_type: &DataType, lower: bool) -> Result<i64> {
    let per_unit: i64 = match index_type {
        DataType::Timestamp(TimeUnit::Second, _) => 1_000_000_000,
        DataType::Timestamp(TimeUnit::Millisecond, _) | DataType::Date64 => 1_000_000,
        DataType::Timestamp(TimeUnit::Microsecond, _) => 1_000,
        DataType::Timestamp(TimeUnit::Nanosecond, _) => 1,
        DataType::Date32 => 86_400_000_000_000,
        other => {
            return Err(Error::new(
                ErrorKind::Schema,
                format!("a date_range in time units needs a timestamp or date index, not {other}"),
            ))
        }
    };
    Ok(if lower {
        ns.div_euclid(per_unit) + i64::from(ns.rem_euclid(per_unit) != 0)
    } else {
        ns.div_euclid(per_unit)
    })
}

/// The inclusive raw index range a `DateRange` means for an index of `index_type`.
pub(crate) fn resolve_range(range: &DateRange, index_type: &DataType) -> Result<(i64, i64)> {
    let lo = match range.start {
        None => i64::MIN,
        Some(IndexBound::Raw(v)) => v,
        Some(IndexBound::Nanos(ns)) => nanos_to_index_unit(ns, index_type, true)?,
    };
    let hi = match range.end {
        None => i64::MAX,
        Some(IndexBound::Raw(v)) => v,
        Some(IndexBound::Nanos(ns)) => nanos_to_index_unit(ns, index_type, false)?,
    };
    Ok((lo, hi))
}

/// Python-slice bounds over `total` rows: negatives count from the end, results are clamped.
pub(crate) fn resolve_rows(start: Option<i64>, end: Option<i64>, total: u64) -> (u64, u64) {
    let total_i = total as i128;
    let clamp = |v: Option<i64>, default: i128| -> u64 {
        let v = v.map_or(default, |v| {
            if v < 0 {
                total_i + v as i128
            } else {
                v as i128
            }
        });
        v.clamp(0, total_i) as u64
    };
    let s = clamp(start, 0);
    let e = clamp(end, total_i);
    (s, e.max(s))
}

/// The output schema and the segment reads for `options` over `record`.
pub(crate) fn plan(
    record: &Record,
    keys: &Keys<'_>,
    symbol: &str,
    options: &ReadOptions,
) -> Result<(SchemaRef, Vec<SegmentRead>)> {
    let stored = record.schema()?;
    let index_name = record.header.index.as_deref();
    let schema = match &options.columns {
        None => stored.clone(),
        Some(requested) => {
            let mut names: Vec<&str> = Vec::new();
            if let Some(ix) = index_name {
                if !requested.iter().any(|c| c == ix) {
                    names.push(ix);
                }
            }
            for c in requested {
                if names.contains(&c.as_str()) {
                    return Err(Error::invalid(format!("column '{c}' is requested twice")));
                }
                names.push(c);
            }
            let mut indices = Vec::with_capacity(names.len());
            for name in names {
                indices.push(stored.index_of(name).map_err(|_| {
                    Error::new(
                        ErrorKind::Schema,
                        format!(
                            "'{symbol}' has no column '{name}' (columns: {})",
                            stored
                                .fields()
                                .iter()
                                .map(|f| f.name().as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
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
            if max < lo || min > hi {
                continue;
            }
            let whole = lo <= min && max <= hi;
            reads.push(SegmentRead {
                key: keys.segment(symbol, &s.id),
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
            if seg_end <= start || seg_start >= end {
                continue;
            }
            let keep_start = start.max(seg_start) - seg_start;
            let keep_end = end.min(seg_end) - seg_start;
            let whole = keep_start == 0 && keep_end == s.rows;
            reads.push(SegmentRead {
                key: keys.segment(symbol, &s.id),
                index_filter: None,
                slice: (!whole).then_some((keep_start as usize, (keep_end - keep_start) as usize)),
            });
        }
    }
    Ok((schema, reads))
}

/// Streams a version's rows, one record batch per loaded segment.
pub struct TableReader {
    storage: SharedStorage,
    schema: SchemaRef,
    index: Option<String>,
    reads: VecDeque<SegmentRead>,
    loads: Arc<AtomicU64>,
}

impl TableReader {
    pub(crate) fn new(
        storage: SharedStorage,
        schema: SchemaRef,
        index: Option<String>,
        reads: Vec<SegmentRead>,
        loads: Arc<AtomicU64>,
    ) -> Self {
        TableReader {
            storage,
            schema,
            index,
            reads: reads.into(),
            loads,
        }
    }

    fn load(&self, read: &SegmentRead) -> Result<RecordBatch> {
        let bytes = self.storage.get(&read.key)?.ok_or_else(|| {
            Error::new(
                ErrorKind::NoSuchVersion,
                "a segment of this version is gone: the version was deleted while it was being read",
            )
        })?;
        self.loads.fetch_add(1, Ordering::Relaxed);
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

/// Decodes only the named columns of a segment (those it has).
fn decode_columns(bytes: Vec<u8>, names: &[&str]) -> Result<RecordBatch> {
    let corrupt = |e| Error::corrupt("a segment cannot be decoded").caused_by(e);
    // The first reader only parses the schema message, to map names to this segment's indices.
    let stored = StreamReader::try_new(Cursor::new(bytes.as_slice()), None)
        .map_err(corrupt)?
        .schema();
    let projection: Vec<usize> = names
        .iter()
        .filter_map(|n| stored.index_of(n).ok())
        .collect();
    let full = projection.len() == stored.fields().len()
        && projection.iter().enumerate().all(|(i, p)| i == *p);
    let mut reader = StreamReader::try_new(
        Cursor::new(bytes),
        if full { None } else { Some(projection) },
    )
    .map_err(corrupt)?;
    match reader.next() {
        Some(batch) => batch.map_err(corrupt),
        None => Err(Error::corrupt("a segment holds no rows")),
    }
}

/// Shapes a decoded batch to the version's schema: columns in schema order, missing ones
/// (segments written before a column was added) null-filled, older types cast to the wider
/// type the schema now has.
pub(crate) fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    let mut columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let column = match batch.column_by_name(field.name()) {
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
        loop {
            let read = self.reads.pop_front()?;
            match self.load(&read) {
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

/// A schema's fields made nullable (used where a column may be null-filled).
pub(crate) fn nullable(field: &Field) -> Field {
    field.clone().with_nullable(true)
}
