//! Reading a version into one contiguous buffer per column: every stored buffer is
//! decompressed (or, stored raw, copied) straight from the storage's own bytes into its place in
//! the result, on worker threads, so each byte of the result is written once and nothing else is
//! allocated per segment. pandas and numpy then take the columns without copying them again.
//!
//! It covers fixed-width columns (integers, floats, timestamps, dates, times, durations,
//! decimals), with or without nulls. Anything else — strings, booleans, dictionaries, a segment
//! written before a column was added or widened, an unsorted index under a date_range — makes
//! [`assemble`] answer `None`, and the caller decodes segment by segment and concatenates.
//!
//! Why not hand out views of the LMDB map instead (zero copies for `compression="none"`)? A
//! result would then have to keep its read transaction open for as long as any array lives,
//! which pins every page of that snapshot: writers could not reuse them and the file would grow
//! without bound under a long-lived DataFrame. One copy, made once, keeps results independent of
//! the store.

use std::io::Read;
use std::sync::atomic::Ordering;

use arrow_array::{make_array, ArrayRef, RecordBatch};
use arrow_buffer::{BooleanBufferBuilder, Buffer, MutableBuffer, NullBuffer};
use arrow_data::ArrayData;
use arrow_ipc::CompressionType;
use arrow_schema::{DataType, Schema};
use parking_lot::Mutex;

use super::reader::{SegmentLoader, SegmentRead};
use super::segment;
use crate::error::{Error, ErrorKind, Result};

/// Why a segment cannot be assembled in place (the read then takes the general path).
#[derive(Debug)]
enum Outcome<T> {
    Done(T),
    Unsupported,
}

/// Bytes per value of the types assembled in place (and written by `encode_direct`).
pub(super) fn fixed_width(data_type: &DataType) -> Option<usize> {
    match data_type {
        DataType::Dictionary(_, _) | DataType::Boolean => None,
        other => other.primitive_width(),
    }
}

/// One stored segment, located in its bytes: the schema it was written with, and for each of
/// its columns the null count and the body ranges of its buffers.
struct Layout<'a> {
    schema: Schema,
    rows: usize,
    body: &'a [u8],
    codec: Option<CompressionType>,
    /// Per stored column: (null count, index of its first buffer in `buffers`).
    columns: Vec<(usize, usize)>,
    buffers: Vec<(usize, usize)>,
}

fn truncated() -> Error {
    Error::corrupt("a segment is truncated")
}

fn word(bytes: &[u8], at: usize) -> Result<u32> {
    let b = bytes.get(at..at + 4).ok_or_else(truncated)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Locates the record batch of a segment (an IPC stream: a schema message, then one record
/// batch). A segment with dictionaries is not laid out here.
fn layout(bytes: &[u8]) -> Result<Outcome<Layout<'_>>> {
    let mut offset = 0usize;
    let mut schema: Option<Schema> = None;
    loop {
        let mut length = word(bytes, offset)?;
        offset += 4;
        if length == u32::MAX {
            length = word(bytes, offset)?;
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
        let body = bytes
            .get(offset..offset + body_length)
            .ok_or_else(truncated)?;
        offset += body_length;
        match message.header_type() {
            arrow_ipc::MessageHeader::Schema => {
                let fb = message.header_as_schema().ok_or_else(truncated)?;
                schema = Some(segment::schema_from_flatbuffer(fb)?);
            }
            arrow_ipc::MessageHeader::DictionaryBatch => return Ok(Outcome::Unsupported),
            arrow_ipc::MessageHeader::RecordBatch => {
                let schema = schema.ok_or_else(truncated)?;
                let batch = message.header_as_record_batch().ok_or_else(truncated)?;
                let codec = batch.compression().map(|c| c.codec());
                let nodes = batch.nodes().ok_or_else(truncated)?;
                let buffers: Vec<(usize, usize)> = batch
                    .buffers()
                    .ok_or_else(truncated)?
                    .iter()
                    .map(|b| (b.offset() as usize, b.length() as usize))
                    .collect();
                let mut variadic = batch.variadicBufferCounts().into_iter().flatten();
                let mut columns = Vec::with_capacity(schema.fields().len());
                let mut next_buffer = 0usize;
                for (i, field) in schema.fields().iter().enumerate() {
                    if i >= nodes.len() {
                        return Err(truncated());
                    }
                    let node = nodes.get(i);
                    columns.push((node.null_count() as usize, next_buffer));
                    next_buffer += match field.data_type() {
                        DataType::Null => 0,
                        DataType::Utf8
                        | DataType::LargeUtf8
                        | DataType::Binary
                        | DataType::LargeBinary => 3,
                        DataType::Utf8View | DataType::BinaryView => {
                            let extra = variadic.next().ok_or_else(truncated)?;
                            2 + usize::try_from(extra).map_err(|_| truncated())?
                        }
                        _ => 2,
                    };
                }
                if next_buffer > buffers.len() {
                    return Err(truncated());
                }
                return Ok(Outcome::Done(Layout {
                    rows: usize::try_from(batch.length()).map_err(|_| truncated())?,
                    schema,
                    body,
                    codec,
                    columns,
                    buffers,
                }));
            }
            _ => return Err(Error::corrupt("a segment holds an unexpected message")),
        }
    }
}

/// [`layout`] of the segment `read` names, refusing one whose row count is not the one its
/// version records (every size the decoder trusts derives from it).
fn checked_layout<'a>(bytes: &'a [u8], read: &SegmentRead) -> Result<Outcome<Layout<'a>>> {
    let layout = match layout(bytes)? {
        Outcome::Done(layout) => layout,
        Outcome::Unsupported => return Ok(Outcome::Unsupported),
    };
    if layout.rows != read.rows as usize {
        return Err(Error::corrupt(
            "a segment holds another number of rows than its version records",
        ));
    }
    Ok(Outcome::Done(layout))
}

impl Layout<'_> {
    /// Writes bytes `skip..skip + out.len()` of buffer `index` (as stored before compression,
    /// `whole` bytes for the segment's rows) into `out`: decompressed in place when `out` takes
    /// the whole buffer.
    fn decode_into(&self, index: usize, skip: usize, out: &mut [u8], whole: usize) -> Result<()> {
        let (start, length) = self.buffers[index];
        let stored = self
            .body
            .get(start..start.checked_add(length).ok_or_else(truncated)?)
            .ok_or_else(truncated)?;
        let Some(codec) = self.codec else {
            let part = stored.get(skip..skip + out.len()).ok_or_else(truncated)?;
            out.copy_from_slice(part);
            return Ok(());
        };
        if stored.is_empty() {
            return if out.is_empty() {
                Ok(())
            } else {
                Err(truncated())
            };
        }
        let prefix = stored.get(..8).ok_or_else(truncated)?;
        let size = i64::from_le_bytes(prefix.try_into().map_err(|_| truncated())?);
        let payload = &stored[8..];
        if size == -1 {
            let part = payload.get(skip..skip + out.len()).ok_or_else(truncated)?;
            out.copy_from_slice(part);
            return Ok(());
        }
        let size = usize::try_from(size).map_err(|_| truncated())?;
        if skip + out.len() > size {
            return Err(truncated());
        }
        // arrow-ipc writes exactly the bytes a buffer needs (at most padded): a larger stated
        // size is damage, refused before it is allocated.
        if size > whole + 64 {
            return Err(Error::corrupt(
                "a segment buffer states a size its column cannot have",
            ));
        }
        if skip == 0 && out.len() == size {
            return decompress(codec, payload, out);
        }
        let mut whole = vec![0u8; size];
        decompress(codec, payload, &mut whole)?;
        out.copy_from_slice(&whole[skip..skip + out.len()]);
        Ok(())
    }

    /// The validity bits of stored column `column`, whole (only called when it has nulls).
    fn validity(&self, column: usize) -> Result<Vec<u8>> {
        let mut bits = vec![0u8; self.rows.div_ceil(8)];
        let whole = bits.len();
        self.decode_into(self.columns[column].1, 0, &mut bits, whole)?;
        Ok(bits)
    }
}

/// Decompresses one IPC body buffer (after its length prefix) into exactly `out`.
fn decompress(codec: CompressionType, payload: &[u8], out: &mut [u8]) -> Result<()> {
    let corrupt =
        |e: std::io::Error| Error::corrupt("a segment buffer cannot be decompressed").caused_by(e);
    match codec {
        CompressionType::LZ4_FRAME => lz4_frame_into(payload, out),
        CompressionType::ZSTD => {
            let written = zstd::bulk::decompress_to_buffer(payload, out).map_err(corrupt)?;
            if written != out.len() {
                return Err(truncated());
            }
            Ok(())
        }
        other => Err(Error::corrupt(format!(
            "a segment uses an unknown compression ({other:?})"
        ))),
    }
}

/// Decompresses an LZ4 frame straight into `out`: a block stored raw is copied, a compressed
/// one decoded in place (lz4_flex's frame reader would stage every block in a buffer of its
/// own and copy it out again). Frames whose blocks depend on each other (arrow-ipc writes
/// independent ones) go through that reader. Block and content checksums are not checked
/// here: the segment's checksum already covered every byte.
fn lz4_frame_into(frame: &[u8], out: &mut [u8]) -> Result<()> {
    const MAGIC: u32 = 0x184D_2204;
    let invalid = || Error::corrupt("a segment buffer is not a valid LZ4 frame");
    let flags = *frame.get(4).ok_or_else(invalid)?;
    if word(frame, 0)? != MAGIC || flags >> 6 != 1 {
        return Err(invalid());
    }
    if flags & 0x20 == 0 {
        let mut decoder = lz4_flex::frame::FrameDecoder::new(frame);
        let corrupt = |e: std::io::Error| {
            Error::corrupt("a segment buffer cannot be decompressed").caused_by(e)
        };
        decoder.read_exact(out).map_err(corrupt)?;
        if decoder.read(&mut [0u8]).map_err(corrupt)? != 0 {
            return Err(Error::corrupt(
                "a segment buffer holds more than its stated size",
            ));
        }
        return Ok(());
    }
    let block_checksums = flags & 0x10 != 0;
    let mut at =
        6 + if flags & 0x08 != 0 { 8 } else { 0 } + if flags & 0x01 != 0 { 4 } else { 0 } + 1;
    let mut written = 0usize;
    loop {
        let size = word(frame, at)?;
        at += 4;
        if size == 0 {
            break;
        }
        let len = (size & 0x7FFF_FFFF) as usize;
        let block = frame.get(at..at + len).ok_or_else(invalid)?;
        at += len + if block_checksums { 4 } else { 0 };
        let rest = out.get_mut(written..).ok_or_else(invalid)?;
        if size & 0x8000_0000 != 0 {
            rest.get_mut(..len)
                .ok_or_else(invalid)?
                .copy_from_slice(block);
            written += len;
        } else {
            written += lz4_flex::block::decompress_into(block, rest).map_err(|e| {
                Error::corrupt("a segment buffer cannot be decompressed").caused_by(e)
            })?;
        }
    }
    if written != out.len() {
        return Err(Error::corrupt(
            "a segment buffer holds another size than it states",
        ));
    }
    Ok(())
}

/// A buffer of `len` bytes that is not zeroed first (zeroing was a sixth of a full read's time,
/// and every byte is overwritten anyway). Callers must write every byte before any is read:
/// [`Layout::decode_into`] fails unless it wrote its whole destination (raw copies are whole
/// slices, LZ4 and ZSTD check the decompressed size), and a failed read drops its buffers
/// unread.
fn unfilled_buffer(len: usize) -> MutableBuffer {
    let mut buffer = MutableBuffer::with_capacity(len);
    // SAFETY: the capacity is at least `len`, and `u8` has no invalid values; the bytes are
    // written before they are read (above).
    unsafe { buffer.set_len(len) };
    buffer
}

/// Rows `offset..offset + len` of one segment, landing at one place of the result.
struct Piece<'a> {
    read: &'a SegmentRead,
    offset: usize,
    len: usize,
    /// Per result column, the bytes of the result this piece fills.
    values: Vec<&'a mut [u8]>,
}

/// Per result column, the validity bits of a piece whose stored column has nulls, and where
/// in those bits the piece starts.
type PieceNulls = Vec<Option<(Vec<u8>, usize)>>;

/// Reads `reads` (in order) into one batch of `loader.schema` with one buffer per column, or
/// `None` when some column or segment needs the general path (see the module docs).
/// `index_sorted`: whether the version's index is ascending (a date_range then keeps one run of
/// rows per segment).
pub(crate) fn assemble(
    loader: &SegmentLoader,
    reads: &[SegmentRead],
    index_sorted: bool,
) -> Result<Option<RecordBatch>> {
    if loader.storage.prefers_point_reads() {
        // Assembling lends each stored segment in turn, one request at a time on object
        // storage; decoding segments on the fetching pool (many requests in flight) and
        // concatenating is faster there.
        return Ok(None);
    }
    let schema = loader.schema.clone();
    let mut widths = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        match fixed_width(field.data_type()) {
            Some(w) => widths.push(w),
            None => return Ok(None),
        }
    }
    // Where each segment's kept rows are; a date_range over a sorted index keeps one run.
    let mut spans = Vec::with_capacity(reads.len());
    for read in reads {
        let rows = read.rows as usize;
        let span = match (read.index_filter, read.slice) {
            (Some(_), _) if !index_sorted => return Ok(None),
            (Some((lo, hi)), _) => match index_run(loader, read, lo, hi)? {
                Outcome::Done(span) => span,
                Outcome::Unsupported => return Ok(None),
            },
            (None, Some((offset, len))) => (offset.min(rows), len.min(rows.saturating_sub(offset))),
            (None, None) => (0, rows),
        };
        spans.push(span);
    }
    let total: usize = spans.iter().map(|s| s.1).sum();
    let mut columns: Vec<MutableBuffer> =
        widths.iter().map(|w| unfilled_buffer(total * w)).collect();
    // Hand every piece its own disjoint part of each column.
    let mut pieces: Vec<Piece<'_>> = reads
        .iter()
        .zip(&spans)
        .map(|(read, &(offset, len))| Piece {
            read,
            offset,
            len,
            values: Vec::with_capacity(widths.len()),
        })
        .collect();
    for (column, width) in columns.iter_mut().zip(&widths) {
        let mut rest: &mut [u8] = column.as_slice_mut();
        for piece in pieces.iter_mut() {
            let (mine, after) = std::mem::take(&mut rest).split_at_mut(piece.len * width);
            piece.values.push(mine);
            rest = after;
        }
    }
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let types: Vec<&DataType> = schema.fields().iter().map(|f| f.data_type()).collect();
    let count = pieces.len();
    let queue = Mutex::new(pieces.into_iter().enumerate().collect::<Vec<_>>());
    let results: Mutex<Vec<Option<Result<Outcome<PieceNulls>>>>> =
        Mutex::new((0..count).map(|_| None).collect());
    let work = || loop {
        let Some((i, piece)) = queue.lock().pop() else {
            return;
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            fill(loader, piece, &names, &types, &widths)
        }))
        .unwrap_or_else(|_| Err(Error::internal("a read worker panicked")));
        let failed = !matches!(outcome, Ok(Outcome::Done(_)));
        results.lock()[i] = Some(outcome);
        if failed {
            queue.lock().clear();
        }
    };
    let threads = crate::config::read_threads().clamp(1, count.max(1));
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        work();
    });
    // The columns leave this function only when every piece reports Done: each piece's
    // decoders fail unless they wrote its slices whole, so no unwritten byte is ever read.
    let mut nulls: Vec<PieceNulls> = Vec::with_capacity(count);
    for result in results.into_inner() {
        match result {
            Some(Ok(Outcome::Done(piece_nulls))) => nulls.push(piece_nulls),
            Some(Ok(Outcome::Unsupported)) => return Ok(None),
            Some(Err(e)) => return Err(e),
            // Left in the queue after another piece failed: that failure is reported.
            None => {}
        }
    }
    if nulls.len() != count {
        return Err(Error::internal(
            "a read left pieces unfilled without a failure",
        ));
    }
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for (c, values) in columns.into_iter().enumerate() {
        let validity = if nulls.iter().any(|n| n[c].is_some()) {
            let mut bits = BooleanBufferBuilder::new(total);
            for (piece_nulls, &(_, len)) in nulls.iter().zip(&spans) {
                match &piece_nulls[c] {
                    Some((stored, start)) => bits.append_packed_range(*start..*start + len, stored),
                    None => bits.append_n(len, true),
                }
            }
            Some(NullBuffer::new(bits.finish()))
        } else {
            None
        };
        let data = ArrayData::builder(types[c].clone())
            .len(total)
            .add_buffer(Buffer::from(values))
            .nulls(validity)
            .build()
            .map_err(|e| Error::corrupt("a column cannot be assembled").caused_by(e))?;
        arrays.push(make_array(data));
    }
    let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(total));
    RecordBatch::try_new_with_options(schema, arrays, &options)
        .map(Some)
        .map_err(|e| Error::corrupt("a segment does not match its version's schema").caused_by(e))
}

/// Lends the stored bytes of `read` to `f`. `fill` (the load that produces the piece, and
/// counts as one of the segments the read loaded) checks them against the version's checksum
/// first; the look at a boundary segment's index before it does not, since every step of the
/// parse is bounds-checked and `fill` then verifies the same immutable bytes before any of them
/// reaches the result.
fn with_segment<T>(
    loader: &SegmentLoader,
    read: &SegmentRead,
    fill: bool,
    f: impl FnOnce(&[u8]) -> Result<T>,
) -> Result<T> {
    let mut f = Some(f);
    let mut out = None;
    loader.storage.with_value(&read.key, &mut |bytes| {
        let bytes = bytes.ok_or_else(|| {
            Error::new(
                ErrorKind::NoSuchVersion,
                "a segment of this version is gone: the version was deleted while it was being read",
            )
        })?;
        if fill {
            crate::checksum::verify_segment(bytes, read.checksum, || "a segment".to_string())?;
            loader.counters.segments.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(f) = f.take() {
            out = Some(f(bytes)?);
        }
        Ok(())
    })?;
    out.ok_or_else(|| Error::internal("a segment visitor was not called"))
}

/// Decodes one piece into its parts of the result; returns the validity bits of its columns
/// that have nulls.
fn fill(
    loader: &SegmentLoader,
    mut piece: Piece<'_>,
    names: &[&str],
    types: &[&DataType],
    widths: &[usize],
) -> Result<Outcome<PieceNulls>> {
    let read = piece.read;
    with_segment(loader, read, true, |bytes| {
        let layout = match checked_layout(bytes, read)? {
            Outcome::Done(layout) => layout,
            Outcome::Unsupported => return Ok(Outcome::Unsupported),
        };
        let mut nulls = Vec::with_capacity(names.len());
        let mut decoded = 0usize;
        for (c, out) in piece.values.iter_mut().enumerate() {
            let Ok(stored) = layout.schema.index_of(names[c]) else {
                return Ok(Outcome::Unsupported);
            };
            if layout.schema.field(stored).data_type() != types[c] {
                return Ok(Outcome::Unsupported);
            }
            let (null_count, first_buffer) = layout.columns[stored];
            layout.decode_into(
                first_buffer + 1,
                piece.offset * widths[c],
                out,
                layout.rows * widths[c],
            )?;
            decoded += out.len();
            if null_count > 0 && piece.len > 0 {
                let bits = layout.validity(stored)?;
                decoded += bits.len();
                nulls.push(Some((bits, piece.offset)));
            } else {
                nulls.push(None);
            }
        }
        loader
            .counters
            .bytes_decoded
            .fetch_add(decoded as u64, Ordering::Relaxed);
        Ok(Outcome::Done(nulls))
    })
}

/// The run of rows of a segment whose index lies in `lo..=hi` (the index being ascending):
/// (first row, number of rows).
fn index_run(
    loader: &SegmentLoader,
    read: &SegmentRead,
    lo: i64,
    hi: i64,
) -> Result<Outcome<(usize, usize)>> {
    let Some(index) = loader.index.as_deref() else {
        return Err(Error::corrupt(
            "a date_range read of a version without index",
        ));
    };
    with_segment(loader, read, false, |bytes| {
        // Unverified bytes: a failure to make sense of them is reported as the damage it is
        // when the checksum says so.
        index_span(bytes, read, index, lo, hi).or_else(|e| {
            crate::checksum::verify_segment(bytes, read.checksum, || "a segment".to_string())?;
            Err(e)
        })
    })
}

fn index_span(
    bytes: &[u8],
    read: &SegmentRead,
    index: &str,
    lo: i64,
    hi: i64,
) -> Result<Outcome<(usize, usize)>> {
    let layout = match checked_layout(bytes, read)? {
        Outcome::Done(layout) => layout,
        Outcome::Unsupported => return Ok(Outcome::Unsupported),
    };
    let Ok(stored) = layout.schema.index_of(index) else {
        return Err(Error::corrupt("a segment lacks its index column"));
    };
    let data_type = layout.schema.field(stored).data_type().clone();
    let Some(width) = fixed_width(&data_type) else {
        return Ok(Outcome::Unsupported);
    };
    let mut values = unfilled_buffer(layout.rows * width);
    // `decode_into` writes every byte or fails (and `values` is dropped unread).
    layout.decode_into(
        layout.columns[stored].1 + 1,
        0,
        values.as_slice_mut(),
        layout.rows * width,
    )?;
    let data = ArrayData::builder(data_type)
        .len(layout.rows)
        .add_buffer(values.into())
        .build()
        .map_err(|e| Error::corrupt("a segment's index cannot be read").caused_by(e))?;
    let values = segment::index_values(index, make_array(data).as_ref())?;
    let start = values.partition_point(|v| *v < lo);
    let end = values.partition_point(|v| *v <= hi);
    Ok(Outcome::Done((start, end.saturating_sub(start))))
}
