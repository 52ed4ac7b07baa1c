//! Turning an incoming stream into stored segments: cutting, checking, encoding, writing.

use std::collections::VecDeque;

use arrow_array::RecordBatch;
use arrow_select::concat::concat_batches;

use super::record::{now_ns, SegmentRef};
use super::segment;
use crate::error::{Error, ErrorKind, Result};
use crate::keys::TableKeys;
use crate::storage::{SharedStorage, WriteOp};
use crate::store::Compression;

/// Unique within and across processes: time, pid, and a per-process counter.
pub(crate) fn new_segment_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{:016x}-{:08x}-{:08x}",
        now_ns(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Bytes of encoded segments to gather before writing them in one storage batch.
const SEGMENT_BATCH_BYTES: usize = 64 << 20;

/// Splits incoming batches into segments of `rows_per_segment` rows, checks them (full Arrow
/// validation, index order), and writes them to storage in batches. The segments it wrote are
/// in `written`; `abandon` removes them after a failure.
pub(crate) struct SegmentWriter {
    storage: SharedStorage,
    key_prefix: Vec<u8>,
    compression: Compression,
    index: Option<(String, usize)>,
    validate_index: bool,
    rows_per_segment: usize,
    buffered: VecDeque<RecordBatch>,
    buffered_rows: usize,
    encoded: Vec<(Vec<u8>, Vec<u8>)>,
    encoded_bytes: usize,
    pub written: Vec<SegmentRef>,
    pub first_index: Option<i64>,
    pub last_index: Option<i64>,
    pub sorted: bool,
    pub rows: u64,
}

impl SegmentWriter {
    pub(crate) fn new(
        storage: SharedStorage,
        keys: &TableKeys<'_>,
        symbol: &str,
        compression: Compression,
        index: Option<(String, usize)>,
        validate_index: bool,
        rows_per_segment: usize,
    ) -> Self {
        SegmentWriter {
            storage,
            key_prefix: keys.segments_of(symbol),
            compression,
            index,
            validate_index,
            rows_per_segment: rows_per_segment.max(1),
            buffered: VecDeque::new(),
            buffered_rows: 0,
            encoded: Vec::new(),
            encoded_bytes: 0,
            written: Vec::new(),
            first_index: None,
            last_index: None,
            sorted: true,
            rows: 0,
        }
    }

    /// Takes one incoming batch.
    pub(crate) fn push(&mut self, batch: RecordBatch) -> Result<()> {
        segment::validate_batch(&batch)?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.rows += batch.num_rows() as u64;
        self.buffered_rows += batch.num_rows();
        self.buffered.push_back(batch);
        while self.buffered_rows >= self.rows_per_segment {
            self.cut(self.rows_per_segment)?;
        }
        Ok(())
    }

    /// Turns the first `rows` buffered rows into a segment. Large incoming batches are only
    /// sliced (zero-copy); small ones are concatenated.
    fn cut(&mut self, rows: usize) -> Result<()> {
        let mut parts = Vec::new();
        let mut needed = rows;
        while needed > 0 {
            let Some(front) = self.buffered.pop_front() else {
                break;
            };
            if front.num_rows() <= needed {
                needed -= front.num_rows();
                parts.push(front);
            } else {
                parts.push(front.slice(0, needed));
                self.buffered
                    .push_front(front.slice(needed, front.num_rows() - needed));
                needed = 0;
            }
        }
        self.buffered_rows -= rows - needed;
        let segment = match parts.len() {
            0 => return Ok(()),
            1 => parts.swap_remove(0),
            _ => concat_batches(&parts[0].schema(), &parts)
                .map_err(|e| Error::internal("cannot assemble a segment").caused_by(e))?,
        };
        self.encode_segment(&segment)
    }

    fn encode_segment(&mut self, batch: &RecordBatch) -> Result<()> {
        let (mut index_min, mut index_max) = (None, None);
        if let Some((name, col)) = &self.index {
            let values = segment::index_values(name, batch.column(*col).as_ref())?;
            let mut previous = self.last_index;
            for &v in &values {
                if let Some(p) = previous.filter(|p| v < *p) {
                    if self.validate_index {
                        return Err(Error::new(
                            ErrorKind::UnsortedIndex,
                            format!(
                                "the index column '{name}' is not sorted ascending (value {v} follows {p}); \
                                 sort the data or pass validate_index=false"
                            ),
                        ));
                    }
                    self.sorted = false;
                }
                previous = Some(v);
            }
            if self.first_index.is_none() {
                self.first_index = values.first().copied();
            }
            self.last_index = previous;
            index_min = values.iter().min().copied();
            index_max = values.iter().max().copied();
        }
        let bytes = segment::encode(batch, self.compression)?;
        let id = new_segment_id();
        self.written.push(SegmentRef {
            id: id.clone(),
            rows: batch.num_rows() as u64,
            index_min,
            index_max,
            bytes: bytes.len() as u64,
            stats: Some(super::stats::compute(batch)),
            checksum: Some(crate::checksum::hash(&bytes)),
        });
        let mut key = self.key_prefix.clone();
        key.extend_from_slice(id.as_bytes());
        self.encoded_bytes += bytes.len();
        self.encoded.push((key, bytes));
        if self.encoded_bytes >= SEGMENT_BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.encoded.is_empty() {
            return Ok(());
        }
        let ops: Vec<WriteOp<'_>> = self
            .encoded
            .iter()
            .map(|(k, v)| WriteOp::Put(k, v))
            .collect();
        self.storage.write_batch(&ops)?;
        self.encoded.clear();
        self.encoded_bytes = 0;
        Ok(())
    }

    /// Writes what is still buffered. The writer can take more batches afterwards.
    pub(crate) fn finish(&mut self) -> Result<()> {
        if self.buffered_rows > 0 {
            self.cut(self.buffered_rows)?;
        }
        self.flush()
    }

    /// Removes every segment this writer wrote (best effort: leftovers are only unreferenced).
    pub(crate) fn abandon(&mut self) {
        let keys: Vec<Vec<u8>> = self
            .written
            .drain(..)
            .map(|s| {
                let mut key = self.key_prefix.clone();
                key.extend_from_slice(s.id.as_bytes());
                key
            })
            .collect();
        let ops: Vec<WriteOp<'_>> = keys.iter().map(|k| WriteOp::Delete(k)).collect();
        let _ = self.storage.write_batch(&ops);
    }
}
