//! Turning an incoming stream into stored segments: cutting, checking, encoding, writing.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{mpsc, Arc};

use arrow_array::RecordBatch;
use arrow_select::concat::concat_batches;
use parking_lot::Mutex;

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
const SEGMENT_BATCH_BYTES: usize = 8 << 20;

/// What a worker makes of one segment: everything that needs every byte of it.
struct Encoded {
    rows: u64,
    bytes: Vec<u8>,
    stats: super::stats::SegmentStats,
    checksum: u64,
    index: Option<IndexSummary>,
}

/// A segment's index values, summed up so the writer can check the order across segments.
struct IndexSummary {
    first: i64,
    last: i64,
    min: i64,
    max: i64,
    /// The first value below its predecessor inside the segment: (value, predecessor).
    descent: Option<(i64, i64)>,
}

/// Encodes `batch` into `bytes` (a buffer the writer recycles).
fn encode_segment(
    batch: &RecordBatch,
    index: Option<&(String, usize)>,
    compression: Compression,
    mut bytes: Vec<u8>,
) -> Result<Encoded> {
    let index = match index {
        None => None,
        Some((name, col)) => {
            let values = segment::index_values(name, batch.column(*col).as_ref())?;
            let descent = values
                .windows(2)
                .find(|w| w[1] < w[0])
                .map(|w| (w[1], w[0]));
            match (values.first(), values.last()) {
                (Some(&first), Some(&last)) => Some(IndexSummary {
                    first,
                    last,
                    min: values.iter().copied().min().unwrap_or(first),
                    max: values.iter().copied().max().unwrap_or(last),
                    descent,
                }),
                _ => None,
            }
        }
    };
    segment::encode_into(batch, compression, &mut bytes)?;
    Ok(Encoded {
        rows: batch.num_rows() as u64,
        checksum: crate::checksum::hash(&bytes),
        stats: super::stats::compute(batch),
        bytes,
        index,
    })
}

/// One segment to encode, and where its result goes.
struct EncodeJob {
    seq: usize,
    batch: RecordBatch,
    buffer: Vec<u8>,
    index: Option<(String, usize)>,
    compression: Compression,
    reply: mpsc::Sender<(usize, Result<Encoded>)>,
}

/// A writer's encoder threads. They live as long as the write (threads that outlive it would
/// still run when the host process exits, which leak checkers rightly report); what keeps a
/// write from faulting in fresh memory is that it recycles its encoding buffers (below).
struct Encoders {
    jobs: Option<mpsc::Sender<EncodeJob>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Encoders {
    fn start() -> Self {
        let (jobs, queue) = mpsc::channel::<EncodeJob>();
        let queue = Arc::new(Mutex::new(queue));
        let count = crate::config::read_threads().max(1);
        let threads = (0..count)
            .filter_map(|i| {
                let queue = queue.clone();
                std::thread::Builder::new()
                    .name(format!("sheaf-encoder-{i}"))
                    .spawn(move || loop {
                        let job = queue.lock().recv();
                        let Ok(job) = job else { return };
                        let encoded =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                encode_segment(
                                    &job.batch,
                                    job.index.as_ref(),
                                    job.compression,
                                    job.buffer,
                                )
                            }))
                            .unwrap_or_else(|_| Err(Error::internal("a segment encoder panicked")));
                        // The writer may have given up (it failed): nobody wants it then.
                        let _ = job.reply.send((job.seq, encoded));
                    })
                    .ok()
            })
            .collect();
        Encoders {
            jobs: Some(jobs),
            threads,
        }
    }
}

impl Drop for Encoders {
    fn drop(&mut self) {
        self.jobs = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// One writer's segments in flight on the shared encoder threads, handed back in the order
/// they were given; the writer keeps at most a few ahead so memory stays bounded.
struct EncoderPool {
    encoders: Encoders,
    index: Option<(String, usize)>,
    compression: Compression,
    reply: mpsc::Sender<(usize, Result<Encoded>)>,
    results: mpsc::Receiver<(usize, Result<Encoded>)>,
    submitted: usize,
    returned: usize,
    early: BTreeMap<usize, Result<Encoded>>,
}

impl EncoderPool {
    fn new(index: Option<(String, usize)>, compression: Compression) -> Self {
        let (reply, results) = mpsc::channel();
        EncoderPool {
            encoders: Encoders::start(),
            index,
            compression,
            reply,
            results,
            submitted: 0,
            returned: 0,
            early: BTreeMap::new(),
        }
    }

    fn in_flight(&self) -> usize {
        self.submitted - self.returned
    }

    fn submit(&mut self, batch: RecordBatch, buffer: Vec<u8>) -> Result<()> {
        let job = EncodeJob {
            seq: self.submitted,
            batch,
            buffer,
            index: self.index.clone(),
            compression: self.compression,
            reply: self.reply.clone(),
        };
        self.encoders
            .jobs
            .as_ref()
            .ok_or_else(|| Error::internal("the segment encoders stopped"))?
            .send(job)
            .map_err(|_| Error::internal("the segment encoders stopped"))?;
        self.submitted += 1;
        Ok(())
    }

    /// The next segment in submission order (blocks until it is encoded).
    fn next(&mut self) -> Result<Encoded> {
        loop {
            if let Some(done) = self.early.remove(&self.returned) {
                self.returned += 1;
                return done;
            }
            let (seq, done) = self
                .results
                .recv()
                .map_err(|_| Error::internal("the segment encoders stopped"))?;
            self.early.insert(seq, done);
        }
    }
}

/// Splits incoming batches into segments of `rows_per_segment` rows, checks them (full Arrow
/// validation, index order), encodes them (on worker threads once a write spans several
/// segments) and writes them to storage in batches. The segments it wrote are in `written`;
/// `abandon` removes them after a failure.
pub(crate) struct SegmentWriter {
    storage: SharedStorage,
    key_prefix: Vec<u8>,
    compression: Compression,
    index: Option<(String, usize)>,
    validate_index: bool,
    rows_per_segment: usize,
    buffered: VecDeque<RecordBatch>,
    buffered_rows: usize,
    pool: Option<EncoderPool>,
    encoded: Vec<(Vec<u8>, Vec<u8>)>,
    encoded_bytes: usize,
    /// Encoding buffers already stored, kept for the next segments: allocated once per write
    /// on this thread and reused, so a write does not keep faulting in fresh memory.
    spare: Vec<Vec<u8>>,
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
            pool: None,
            encoded: Vec::new(),
            encoded_bytes: 0,
            spare: Vec::new(),
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
            let segment = self.cut(self.rows_per_segment)?;
            self.encode(segment, true)?;
        }
        Ok(())
    }

    /// Takes the first `rows` buffered rows as one segment. Large incoming batches are only
    /// sliced (zero-copy); small ones are concatenated.
    fn cut(&mut self, rows: usize) -> Result<Option<RecordBatch>> {
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
        Ok(match parts.len() {
            0 => None,
            1 => Some(parts.swap_remove(0)),
            _ => Some(
                concat_batches(&parts[0].schema(), &parts)
                    .map_err(|e| Error::internal("cannot assemble a segment").caused_by(e))?,
            ),
        })
    }

    /// Encodes one segment: on the worker pool when more are likely to follow (`full`: it was
    /// cut at the segment size from a longer stream), else here.
    fn encode(&mut self, segment: Option<RecordBatch>, full: bool) -> Result<()> {
        let Some(segment) = segment else {
            return Ok(());
        };
        let threads = crate::config::read_threads();
        if self.pool.is_none() && full && threads > 1 {
            self.pool = Some(EncoderPool::new(self.index.clone(), self.compression));
        }
        // Allocated here, on the writer's thread, at about the size a segment encodes to.
        let buffer = self.spare.pop().unwrap_or_else(|| {
            Vec::with_capacity(
                (segment.get_array_memory_size() + 4096)
                    .max(super::encode_direct::capacity_hint(&segment)),
            )
        });
        if let Some(pool) = self.pool.as_mut() {
            pool.submit(segment, buffer)?;
            return self.drain(2 * threads);
        }
        let done = encode_segment(&segment, self.index.as_ref(), self.compression, buffer)?;
        self.accept(done)
    }

    /// Takes encoded segments (in order) until at most `keep` are still being encoded.
    fn drain(&mut self, keep: usize) -> Result<()> {
        loop {
            let done = match self.pool.as_mut() {
                Some(pool) if pool.in_flight() > keep => pool.next()?,
                _ => return Ok(()),
            };
            self.accept(done)?;
        }
    }

    /// Takes one encoded segment, in order: checks the index order, records it, buffers its
    /// bytes for storage.
    fn accept(&mut self, done: Encoded) -> Result<()> {
        let (mut index_min, mut index_max) = (None, None);
        if let (Some((name, _)), Some(summary)) = (&self.index, &done.index) {
            let descent = match self.last_index {
                Some(p) if summary.first < p => Some((summary.first, p)),
                _ => summary.descent,
            };
            if let Some((v, p)) = descent {
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
            if self.first_index.is_none() {
                self.first_index = Some(summary.first);
            }
            self.last_index = Some(summary.last);
            index_min = Some(summary.min);
            index_max = Some(summary.max);
        }
        let id = new_segment_id();
        self.written.push(SegmentRef {
            id: id.clone(),
            rows: done.rows,
            index_min,
            index_max,
            bytes: done.bytes.len() as u64,
            stats: Some(done.stats),
            checksum: Some(done.checksum),
        });
        let mut key = self.key_prefix.clone();
        key.extend_from_slice(id.as_bytes());
        self.encoded_bytes += done.bytes.len();
        self.encoded.push((key, done.bytes));
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
        for (_, bytes) in self.encoded.drain(..) {
            self.spare.push(bytes);
        }
        self.encoded_bytes = 0;
        Ok(())
    }

    /// Writes what is still buffered. The writer can take more batches afterwards.
    pub(crate) fn finish(&mut self) -> Result<()> {
        if self.buffered_rows > 0 {
            let segment = self.cut(self.buffered_rows)?;
            self.encode(segment, false)?;
        }
        self.drain(0)?;
        self.pool = None;
        self.flush()
    }

    /// Removes every segment this writer wrote (best effort: leftovers are only unreferenced).
    pub(crate) fn abandon(&mut self) {
        self.pool = None;
        self.encoded.clear();
        self.encoded_bytes = 0;
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
