//! Writing a segment's IPC stream straight into the output buffer: the write-side counterpart
//! of `assemble.rs`.
//!
//! arrow-ipc's writer copies every column four times on its way to the output (into the LZ4
//! frame encoder's input buffer, out of its block buffer, into a fresh vector per buffer, and
//! from there into the stream), and allocates per buffer; on a 1M-row write those copies were
//! a seventh of the CPU time. Here each column's bytes are compressed block by block from the
//! array itself into their final place in the output, so a byte is read once by the compressor
//! and written once (plus one copy of a block LZ4 cannot shrink).
//!
//! The result is the same stream arrow-ipc writes — a schema message (made by arrow-ipc), one
//! record batch message, the end-of-stream marker — with the same body layout: per column a
//! validity buffer (empty when there are no nulls) and a values buffer, each padded to 64
//! bytes; compressed buffers are the uncompressed length (or -1 when stored raw, as arrow-ipc
//! does when compression would not save anything) followed by an LZ4 frame of independent
//! 64 KB blocks. Any reader of Arrow IPC reads it; the tests compare every value with what
//! arrow-ipc's own reader gets back.
//!
//! It covers LZ4 and uncompressed segments whose columns are all fixed-width (the types
//! `assemble.rs` covers); for anything else [`encode`] answers `false` and the caller uses
//! arrow-ipc.

use std::sync::OnceLock;

use arrow_array::{Array, RecordBatch};
use arrow_ipc::writer::{write_message, DictionaryTracker, IpcDataGenerator, IpcWriteOptions};
use flatbuffers::FlatBufferBuilder;

use super::assemble::fixed_width;

use crate::error::{Error, Result};
use crate::store::Compression;

/// Body buffers start at multiples of this (arrow-ipc's default alignment).
const ALIGNMENT: usize = 64;
/// The size of an LZ4 frame block (lz4_flex's smallest block size, "Max64KB").
const BLOCK: usize = 64 * 1024;
const CONTINUATION: [u8; 4] = [0xFF; 4];

/// The header of the LZ4 frames written here (independent 64 KB blocks, no checksums: the
/// segment's own checksum covers every byte), as lz4_flex writes it, checksum byte included.
fn frame_header() -> &'static [u8] {
    static HEADER: OnceLock<Vec<u8>> = OnceLock::new();
    HEADER.get_or_init(|| {
        use std::io::Write;
        let info = lz4_flex::frame::FrameInfo::new()
            .block_size(lz4_flex::frame::BlockSize::Max64KB)
            .block_mode(lz4_flex::frame::BlockMode::Independent);
        let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        // An empty frame is its header and the end mark; the flush only forces the header out.
        let _ = encoder.flush();
        let mut frame = encoder.finish().unwrap_or_default();
        frame.truncate(frame.len().saturating_sub(4));
        frame
    })
}

fn padding(len: usize) -> usize {
    (ALIGNMENT - len % ALIGNMENT) % ALIGNMENT
}

/// Appends `input` to `out` as an arrow-ipc LZ4 buffer: its length, then a frame; or -1 and
/// the bytes themselves when the frame would be larger.
fn put_lz4(input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    out.extend_from_slice(&(input.len() as i64).to_le_bytes());
    let header = frame_header();
    if header.len() < 7 {
        return Err(Error::internal("cannot make an LZ4 frame header"));
    }
    out.extend_from_slice(header);
    for block in input.chunks(BLOCK) {
        let at = out.len();
        // Zeroing the block's room is cheap (it stays in cache for the compressor).
        out.resize(
            at + 4 + lz4_flex::block::get_maximum_output_size(block.len()),
            0,
        );
        let written = lz4_flex::block::compress_into(block, &mut out[at + 4..])
            .map_err(|e| Error::internal("cannot compress a segment buffer").caused_by(e))?;
        let info = if written < block.len() {
            out.truncate(at + 4 + written);
            written as u32
        } else {
            out.truncate(at + 4);
            out.extend_from_slice(block);
            block.len() as u32 | 0x8000_0000
        };
        out[at..at + 4].copy_from_slice(&info.to_le_bytes());
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    if out.len() - start > input.len() {
        out.truncate(start);
        out.extend_from_slice(&(-1i64).to_le_bytes());
        out.extend_from_slice(input);
    }
    Ok(())
}

/// The most bytes the bodies of buffers of `sizes` bytes take here: each compressed buffer's
/// length, frame header, block sizes and end mark (or its raw copy, never longer), padding, and
/// room for the one block being compressed at a time.
fn body_bound(sizes: impl Iterator<Item = usize>) -> usize {
    let per_buffer: usize = sizes
        .map(|n| n + 8 + 7 + 4 * n.div_ceil(BLOCK) + 4 + ALIGNMENT)
        .sum();
    per_buffer + lz4_flex::block::get_maximum_output_size(BLOCK) + 4
}

/// The capacity to give a buffer [`encode`] will fill with `batch` (its schema message
/// included, up to a few kilobytes of metadata).
pub(crate) fn capacity_hint(batch: &RecordBatch) -> usize {
    let sizes = batch.columns().iter().flat_map(|c| {
        let data = c.to_data();
        let width = fixed_width(c.data_type()).unwrap_or(0);
        [data.len().div_ceil(8), data.len() * width]
    });
    body_bound(sizes) + 512 * batch.num_columns() + 16 * 1024
}

/// The record batch message's flatbuffer. Every field is written even at its default value,
/// so its size depends only on the number of columns and buffers, not on their values.
fn message<'a>(
    fbb: &'a mut FlatBufferBuilder<'static>,
    rows: usize,
    nodes: &[arrow_ipc::FieldNode],
    buffers: &[arrow_ipc::Buffer],
    compressed: bool,
    body_len: usize,
) -> &'a [u8] {
    fbb.reset();
    fbb.force_defaults(true);
    let compression = compressed.then(|| {
        let mut c = arrow_ipc::BodyCompressionBuilder::new(fbb);
        c.add_method(arrow_ipc::BodyCompressionMethod::BUFFER);
        c.add_codec(arrow_ipc::CompressionType::LZ4_FRAME);
        c.finish()
    });
    let buffers = fbb.create_vector(buffers);
    let nodes = fbb.create_vector(nodes);
    let mut batch = arrow_ipc::RecordBatchBuilder::new(fbb);
    batch.add_length(rows as i64);
    batch.add_nodes(nodes);
    batch.add_buffers(buffers);
    if let Some(c) = compression {
        batch.add_compression(c);
    }
    let batch = batch.finish().as_union_value();
    let mut root = arrow_ipc::MessageBuilder::new(fbb);
    root.add_version(arrow_ipc::MetadataVersion::V5);
    root.add_header_type(arrow_ipc::MessageHeader::RecordBatch);
    root.add_bodyLength(body_len as i64);
    root.add_header(batch);
    let root = root.finish();
    fbb.finish(root, None);
    fbb.finished_data()
}

/// Encodes `batch` into `buf` (cleared first) as one IPC stream, straight from its arrays.
/// `Ok(false)`: a column or the compression is not one written here; `buf` is then cleared
/// and the caller encodes with arrow-ipc.
pub(crate) fn encode(
    batch: &RecordBatch,
    compression: Compression,
    buf: &mut Vec<u8>,
) -> Result<bool> {
    buf.clear();
    let compressed = match compression {
        Compression::Lz4 => true,
        Compression::None => false,
        Compression::Zstd => return Ok(false),
    };
    let rows = batch.num_rows();
    let mut columns = Vec::with_capacity(batch.num_columns());
    for column in batch.columns() {
        let Some(width) = fixed_width(column.data_type()) else {
            return Ok(false);
        };
        let data = column.to_data();
        let values = data
            .buffers()
            .first()
            .ok_or_else(|| Error::internal("a fixed-width column without values"))?;
        let start = data.offset() * width;
        if values.len() < start + rows * width {
            return Err(Error::internal("a column is shorter than its batch"));
        }
        let bytes = values.slice_with_length(start, rows * width);
        // Validity bits starting at bit 0 (a copy only when the array's offset is not a
        // whole byte); arrow-ipc writes an empty buffer for a column without nulls.
        let validity = match data.nulls() {
            Some(nulls) if nulls.null_count() > 0 => Some(nulls.inner().sliced()),
            _ => None,
        };
        columns.push((data.null_count(), validity, bytes));
    }

    let options = IpcWriteOptions::default();
    let schema = IpcDataGenerator::default().schema_to_bytes_with_dictionary_tracker(
        batch.schema_ref(),
        &mut DictionaryTracker::new(false),
        &options,
    );
    let mut schema_message = Vec::new();
    write_message(&mut schema_message, schema, &options)
        .map_err(|e| Error::internal("cannot encode a segment's schema").caused_by(e))?;

    let nodes: Vec<arrow_ipc::FieldNode> = columns
        .iter()
        .map(|(nulls, _, _)| arrow_ipc::FieldNode::new(rows as i64, *nulls as i64))
        .collect();
    let mut buffers = vec![arrow_ipc::Buffer::new(0, 0); 2 * columns.len()];
    let mut fbb = FlatBufferBuilder::new();
    let placeholder = message(&mut fbb, rows, &nodes, &buffers, compressed, 0).len();
    let header_len = 8 + placeholder + padding(8 + placeholder);
    let parts = columns
        .iter()
        .flat_map(|(_, v, b)| [v.as_ref().map_or(0, |v| v.len()), b.len()]);
    let needed = schema_message.len() + header_len + body_bound(parts) + 8;
    // Room for everything at once: growing the vector would copy what it holds (and fault in
    // fresh pages on this encoder thread).
    if buf.capacity() < needed {
        *buf = Vec::with_capacity(needed);
    }
    buf.extend_from_slice(&schema_message);
    // The message goes before the body but is only known after it: its room is kept here.
    let header_at = buf.len();
    buf.resize(header_at + header_len, 0);
    let body_at = buf.len();
    for (c, (_, validity, values)) in columns.iter().enumerate() {
        let parts = [
            validity.as_ref().map_or(&[][..], |v| v.as_slice()),
            values.as_slice(),
        ];
        for (b, part) in parts.into_iter().enumerate() {
            let at = buf.len();
            if !part.is_empty() {
                if compressed {
                    put_lz4(part, buf)?;
                } else {
                    buf.extend_from_slice(part);
                }
            }
            let len = buf.len() - at;
            buf.resize(buf.len() + padding(len), 0);
            buffers[2 * c + b] = arrow_ipc::Buffer::new((at - body_at) as i64, len as i64);
        }
    }
    let body_len = buf.len() - body_at;
    let meta = message(&mut fbb, rows, &nodes, &buffers, compressed, body_len);
    if meta.len() != placeholder {
        return Err(Error::internal(
            "a segment's message changed size with its values",
        ));
    }
    let room = &mut buf[header_at..body_at];
    room[..4].copy_from_slice(&CONTINUATION);
    room[4..8].copy_from_slice(&((header_len - 8) as i32).to_le_bytes());
    room[8..8 + meta.len()].copy_from_slice(meta);
    // End of stream: the continuation marker and a zero length.
    buf.extend_from_slice(&CONTINUATION);
    buf.extend_from_slice(&0u32.to_le_bytes());
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::types::*;
    use arrow_array::*;
    use arrow_buffer::i256;
    use arrow_schema::{DataType, Field, Schema};

    use super::*;
    use crate::table::segment;

    /// Values a wrong layout would scramble: distinct per row, some repeated (compressible)
    /// and some not, with nulls at irregular rows when asked.
    fn columns(rows: usize, nulls: bool) -> Vec<(&'static str, ArrayRef)> {
        let null_at = |i: usize| nulls && (i % 7 == 3 || i.is_multiple_of(11));
        let ints = |f: fn(usize) -> i64| -> Vec<Option<i64>> {
            (0..rows).map(|i| (!null_at(i)).then(|| f(i))).collect()
        };
        let noise = |i: usize| (i as i64).wrapping_mul(0x9E37_79B9_7F4A_7C15u64 as i64);
        let i64s = ints(noise);
        let small = ints(|i| (i % 5) as i64);
        vec![
            ("i64", Arc::new(Int64Array::from(i64s.clone())) as ArrayRef),
            (
                "i8",
                Arc::new(Int8Array::from_iter(
                    small.iter().map(|v| v.map(|v| v as i8)),
                )),
            ),
            (
                "u16",
                Arc::new(UInt16Array::from_iter(
                    i64s.iter().map(|v| v.map(|v| v as u16)),
                )),
            ),
            (
                "i32",
                Arc::new(Int32Array::from_iter(
                    i64s.iter().map(|v| v.map(|v| v as i32)),
                )),
            ),
            (
                "u64",
                Arc::new(UInt64Array::from_iter(
                    i64s.iter().map(|v| v.map(|v| v as u64)),
                )),
            ),
            (
                "f64",
                Arc::new(Float64Array::from_iter(
                    i64s.iter().map(|v| v.map(|v| v as f64 / 3.0)),
                )),
            ),
            (
                "f32",
                Arc::new(Float32Array::from_iter(
                    small.iter().map(|v| v.map(|v| v as f32 + 0.5)),
                )),
            ),
            (
                "ts",
                Arc::new(
                    TimestampNanosecondArray::from(ints(|i| 1_600_000_000_000_000_000 + i as i64))
                        .with_timezone("America/New_York"),
                ),
            ),
            (
                "date",
                Arc::new(Date32Array::from_iter(
                    small.iter().map(|v| v.map(|v| v as i32 + 18000)),
                )),
            ),
            (
                "dur",
                Arc::new(DurationMicrosecondArray::from(i64s.clone())),
            ),
            (
                "dec",
                Arc::new(
                    Decimal128Array::from_iter(i64s.iter().map(|v| v.map(i128::from)))
                        .with_precision_and_scale(38, 4)
                        .expect("a valid decimal"),
                ),
            ),
            (
                "dec256",
                Arc::new(
                    Decimal256Array::from_iter(i64s.iter().map(|v| v.map(i256::from)))
                        .with_precision_and_scale(60, 2)
                        .expect("a valid decimal"),
                ),
            ),
            (
                "t64",
                Arc::new(Time64NanosecondArray::from(ints(|i| (i as i64) * 1000))),
            ),
        ]
    }

    fn batch(rows: usize, nulls: bool) -> RecordBatch {
        let columns = columns(rows, nulls);
        let fields: Vec<Field> = columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        let schema = Arc::new(
            Schema::new(fields).with_metadata(
                [("pandas".to_string(), "{}".to_string())]
                    .into_iter()
                    .collect::<std::collections::HashMap<_, _>>(),
            ),
        );
        RecordBatch::try_new(schema, columns.into_iter().map(|(_, a)| a).collect())
            .expect("a valid batch")
    }

    fn round_trip(batch: &RecordBatch, compression: Compression) -> Vec<u8> {
        let mut buf = vec![1, 2, 3];
        assert!(encode(batch, compression, &mut buf).expect("encodes"));
        let back = segment::decode(buf.clone()).expect("arrow-ipc reads it");
        assert_eq!(&back, batch, "{compression:?}");
        assert_eq!(back.schema(), batch.schema());
        // A buffer of the hinted capacity is filled without growing (and so without a copy).
        let mut hinted = Vec::with_capacity(capacity_hint(batch));
        let at = hinted.as_ptr();
        assert!(encode(batch, compression, &mut hinted).expect("encodes"));
        assert_eq!(hinted.as_ptr(), at, "the buffer was reallocated");
        assert_eq!(hinted, buf);
        buf
    }

    #[test]
    fn arrow_ipc_reads_back_every_value() {
        for rows in [0, 1, 9, 1000, 70_000] {
            for nulls in [false, true] {
                let whole = batch(rows, nulls);
                for compression in [Compression::Lz4, Compression::None] {
                    round_trip(&whole, compression);
                    // Sliced at offsets that are not whole bytes of the validity bits.
                    if rows > 20 {
                        round_trip(&whole.slice(3, rows - 20), compression);
                        round_trip(&whole.slice(rows / 2 + 5, rows / 3), compression);
                    }
                }
            }
        }
    }

    #[test]
    fn lz4_shrinks_what_it_can_and_stores_the_rest_raw() {
        let rows = 200_000;
        let repeated: ArrayRef = Arc::new(Int64Array::from(vec![7i64; rows]));
        let noise: ArrayRef =
            Arc::new(Int64Array::from_iter_values((0..rows as i64).map(|i| {
                i.wrapping_mul(0x9E37_79B9_7F4A_7C15u64 as i64) ^ (i << 7)
            })));
        for (column, small) in [(repeated, true), (noise, false)] {
            let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
            let batch = RecordBatch::try_new(schema, vec![column]).expect("a batch");
            let buf = round_trip(&batch, Compression::Lz4);
            let raw = rows * 8;
            if small {
                assert!(buf.len() < raw / 20, "{} bytes for {raw}", buf.len());
            } else {
                // Stored raw (-1 prefix): barely more than the values themselves.
                assert!(buf.len() < raw + 2048 && buf.len() > raw, "{}", buf.len());
                let raw_marker = (-1i64).to_le_bytes();
                assert!(buf.windows(8).any(|w| w == raw_marker));
            }
        }
    }

    #[test]
    fn other_columns_and_zstd_are_left_to_arrow_ipc() {
        let strings: ArrayRef = Arc::new(StringArray::from(vec!["a", "b"]));
        let bools: ArrayRef = Arc::new(BooleanArray::from(vec![true, false]));
        let dict: ArrayRef = Arc::new(
            vec!["x", "y"]
                .into_iter()
                .collect::<DictionaryArray<Int32Type>>(),
        );
        for column in [strings, bools, dict] {
            let schema = Arc::new(Schema::new(vec![Field::new(
                "c",
                column.data_type().clone(),
                false,
            )]));
            let batch = RecordBatch::try_new(schema, vec![column]).expect("a batch");
            let mut buf = vec![9u8; 4];
            assert!(!encode(&batch, Compression::Lz4, &mut buf).expect("no error"));
            assert!(buf.is_empty());
        }
        let mut buf = Vec::new();
        assert!(!encode(&batch(10, false), Compression::Zstd, &mut buf).expect("no error"));
    }

    /// The record batch message of an encoded stream: its buffers and body length.
    fn record_batch_layout(stream: &[u8]) -> (Vec<(usize, usize)>, usize, usize) {
        let mut at = 0;
        loop {
            assert_eq!(stream[at..at + 4], CONTINUATION);
            let len = u32::from_le_bytes(stream[at + 4..at + 8].try_into().unwrap()) as usize;
            assert_eq!(
                (8 + len) % ALIGNMENT,
                0,
                "a message's header is padded to 64"
            );
            let message = arrow_ipc::root_as_message(&stream[at + 8..at + 8 + len]).unwrap();
            let body = message.bodyLength() as usize;
            if let Some(batch) = message.header_as_record_batch() {
                let buffers = batch.buffers().unwrap();
                let spans = buffers
                    .iter()
                    .map(|b| (b.offset() as usize, b.length() as usize))
                    .collect();
                return (spans, body, at + 8 + len);
            }
            at += 8 + len + body;
        }
    }

    #[test]
    fn buffers_are_laid_out_as_arrow_ipc_lays_them_out() {
        for (compression, nulls) in [
            (Compression::Lz4, true),
            (Compression::None, true),
            (Compression::Lz4, false),
        ] {
            let batch = batch(1000, nulls).slice(3, 990);
            let mut ours = Vec::new();
            assert!(encode(&batch, compression, &mut ours).unwrap());
            let (spans, body, body_at) = record_batch_layout(&ours);
            assert_eq!(spans.len(), 2 * batch.num_columns());
            let mut next = 0;
            for &(offset, len) in &spans {
                // Each buffer starts where the previous one ended, padded to 64 bytes.
                assert_eq!(offset, next, "{compression:?}");
                assert_eq!(offset % ALIGNMENT, 0);
                next = offset + len + padding(len);
            }
            assert_eq!(next, body);
            // Then the end-of-stream marker, and nothing else.
            assert_eq!(ours.len(), body_at + body + 8);
            assert_eq!(ours[ours.len() - 8..], [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]);
            // Columns without nulls have an empty validity buffer, as arrow-ipc writes them.
            let mut theirs = Vec::new();
            segment::encode_with_arrow_ipc(&batch, compression, &mut theirs).unwrap();
            let (their_spans, _, _) = record_batch_layout(&theirs);
            let empty = |s: &[(usize, usize)]| -> Vec<bool> {
                s.iter().step_by(2).map(|&(_, len)| len == 0).collect()
            };
            assert_eq!(empty(&spans), empty(&their_spans));
            assert_eq!(spans.len(), their_spans.len());
        }
    }

    #[test]
    fn the_frame_header_is_lz4_flex_own() {
        let header = frame_header();
        assert_eq!(&header[..4], &0x184D_2204u32.to_le_bytes());
        // Independent blocks (0x20) of format version 1 (0x40), 64 KB blocks (4 << 4).
        assert_eq!(header[4] & 0xE0, 0x60);
        assert_eq!(header[5], 0x40);
        let mut decoded = Vec::new();
        let mut frame = header.to_vec();
        frame.extend_from_slice(&(3u32 | 0x8000_0000).to_le_bytes());
        frame.extend_from_slice(b"abc");
        frame.extend_from_slice(&0u32.to_le_bytes());
        std::io::Read::read_to_end(
            &mut lz4_flex::frame::FrameDecoder::new(&frame[..]),
            &mut decoded,
        )
        .expect("lz4_flex accepts the header");
        assert_eq!(decoded, b"abc");
    }
}
