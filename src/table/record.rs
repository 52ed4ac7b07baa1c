//! Version records: the immutable entries of a symbol's chain.
//!
//! A symbol's chain is its version keys `v\0<symbol>\0<u64 big-endian>` in the library's
//! prefix; its segments are under `s\0<symbol>\0<segment id>` ([`crate::keys`]). A record is either a *data* version (schema,
//! segment list, metadata) or a *tombstone* (a delete). Both take their number by put-if-absent,
//! which is what serialises writers: a delete is in the chain, so an append that raced it must
//! re-base after it and can never point at collected segments. Every record also carries the
//! symbol's *live set* after it, so the head alone answers "which versions exist".
//!
//! Encoding: `SHV1` | u32 LE header length | header JSON | u32 LE schema length | Arrow IPC
//! schema | u8 has-metadata | u64 LE metadata length | metadata bytes, sealed with a checksum
//! trailer (see [`crate::checksum`]); each segment reference holds its segment's checksum.

use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{Schema, SchemaRef};
use serde::{Deserialize, Serialize};
use std::io::Cursor;

use super::stats::SegmentStats;
use crate::error::{Error, Result};

const MAGIC: &[u8; 4] = b"SHV1";

/// Where one segment lives and what it covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentRef {
    pub id: String,
    pub rows: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_min: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_max: Option<i64>,
    pub bytes: u64,
    /// Column statistics (`[min, max, missing]` by column) for pruning filters; absent in
    /// segments written before they existed (those are never pruned by a filter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<SegmentStats>,
    /// XXH3-64 of the stored segment bytes, verified on every load (absent in segments written
    /// before checksums existed). Kept here rather than in the segment so that damage to a
    /// segment cannot disable its own check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<u64>,
}

/// Data version or tombstone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    Data,
    Tombstone,
}

/// The JSON part of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordHeader {
    pub kind: RecordKind,
    pub timestamp_ns: i64,
    /// Live data versions after this record, as inclusive ranges in ascending order.
    pub live: Vec<[u64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    #[serde(default)]
    pub index_sorted: bool,
    #[serde(default)]
    pub rows: u64,
    #[serde(default)]
    pub segments: Vec<SegmentRef>,
    /// Staged chunks this record consumed (finalized, or deleted by `delete_staged_data`):
    /// the chain is where consumption is decided, so a chunk is consumed at most once, by
    /// whoever commits first, and a re-run after a crash sees that it was.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumed: Vec<String>,
    /// In a staged chunk's record: the symbol's head when the chunk was staged (any record
    /// that consumed it comes after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged_after: Option<u64>,
    /// Set on a version that holds one opaque object rather than a table: the object's format
    /// (e.g. "python-pickle"), named by its writer. Its bytes are the one binary column, in
    /// order (see `WriteOptions::content`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// A decoded record.
#[derive(Debug, Clone)]
pub struct Record {
    pub header: RecordHeader,
    pub schema: Option<SchemaRef>,
    pub metadata: Option<Vec<u8>>,
}

pub(crate) fn encode_schema(schema: &Schema) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut writer = StreamWriter::try_new(&mut buf, schema)
        .map_err(|e| Error::internal("cannot encode the schema").caused_by(e))?;
    writer
        .finish()
        .map_err(|e| Error::internal("cannot encode the schema").caused_by(e))?;
    drop(writer);
    Ok(buf)
}

fn decode_schema(bytes: &[u8]) -> Result<SchemaRef> {
    let reader = StreamReader::try_new(Cursor::new(bytes), None)
        .map_err(|e| Error::corrupt("a stored schema cannot be decoded").caused_by(e))?;
    Ok(reader.schema())
}

impl Record {
    pub fn encode(&self) -> Result<Vec<u8>> {
        let header = serde_json::to_vec(&self.header)?;
        let schema = match &self.schema {
            Some(s) => encode_schema(s)?,
            None => Vec::new(),
        };
        let meta = self.metadata.as_deref();
        let mut out =
            Vec::with_capacity(32 + header.len() + schema.len() + meta.map_or(0, <[u8]>::len));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&(schema.len() as u32).to_le_bytes());
        out.extend_from_slice(&schema);
        out.push(meta.is_some() as u8);
        out.extend_from_slice(&(meta.map_or(0, <[u8]>::len) as u64).to_le_bytes());
        out.extend_from_slice(meta.unwrap_or_default());
        Ok(crate::checksum::seal(out))
    }

    /// Decodes a record, verifying its checksum (records written before checksums existed
    /// are parsed strictly: every byte must belong to the record).
    pub fn decode(bytes: &[u8]) -> Result<Record> {
        let bytes = crate::checksum::unseal(bytes, || "a version record".to_string())?.bytes();
        let bad = || Error::corrupt("a version record is truncated or not a Sheaf record");
        let mut rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or_else(bad)?;
        let mut take = |n: usize| -> Result<&[u8]> {
            if rest.len() < n {
                return Err(bad());
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        let header_len = u32::from_le_bytes(take(4)?.try_into().map_err(|_| bad())?) as usize;
        let header: RecordHeader = serde_json::from_slice(take(header_len)?)
            .map_err(|e| Error::corrupt("a version record header cannot be read").caused_by(e))?;
        let schema_len = u32::from_le_bytes(take(4)?.try_into().map_err(|_| bad())?) as usize;
        let schema_bytes = take(schema_len)?;
        let schema = if schema_bytes.is_empty() {
            None
        } else {
            Some(decode_schema(schema_bytes)?)
        };
        let has_meta = take(1)?[0] != 0;
        let meta_len = u64::from_le_bytes(take(8)?.try_into().map_err(|_| bad())?);
        let meta_len = usize::try_from(meta_len).map_err(|_| bad())?;
        let meta = take(meta_len)?;
        if !rest.is_empty() {
            return Err(bad());
        }
        Ok(Record {
            header,
            schema,
            metadata: has_meta.then(|| meta.to_vec()),
        })
    }

    /// The schema of a data record.
    pub fn schema(&self) -> Result<SchemaRef> {
        self.schema
            .clone()
            .ok_or_else(|| Error::corrupt("a data version has no schema"))
    }
    /// A version that holds only metadata (`write_metadata` of a symbol without data): no
    /// columns, no rows. Appends start the data there, as if there were no version before.
    pub fn is_metadata_only(&self) -> bool {
        self.header.rows == 0
            && self.header.segments.is_empty()
            && self.header.index.is_none()
            && self.schema.as_ref().is_some_and(|s| s.fields().is_empty())
    }
}

/// Live-set helpers over sorted inclusive ranges.
pub mod live {
    /// Whether `v` is live.
    pub fn contains(ranges: &[[u64; 2]], v: u64) -> bool {
        ranges.iter().any(|r| r[0] <= v && v <= r[1])
    }

    /// Adds `v`, which must be larger than every live version.
    pub fn push(ranges: &mut Vec<[u64; 2]>, v: u64) {
        match ranges.last_mut() {
            Some(last) if last[1] + 1 == v => last[1] = v,
            _ => ranges.push([v, v]),
        }
    }

    /// Removes `v` if live.
    pub fn remove(ranges: &mut Vec<[u64; 2]>, v: u64) {
        if let Some(i) = ranges.iter().position(|r| r[0] <= v && v <= r[1]) {
            let [a, b] = ranges[i];
            let mut replacement = Vec::with_capacity(2);
            if a < v {
                replacement.push([a, v - 1]);
            }
            if v < b {
                replacement.push([v + 1, b]);
            }
            ranges.splice(i..=i, replacement);
        }
    }

    /// Every live version, ascending.
    pub fn versions(ranges: &[[u64; 2]]) -> impl DoubleEndedIterator<Item = u64> + '_ {
        ranges.iter().flat_map(|r| r[0]..=r[1])
    }

    /// The newest live version.
    pub fn latest(ranges: &[[u64; 2]]) -> Option<u64> {
        ranges.last().map(|r| r[1])
    }

    /// The `n`-th newest live version (0 = latest).
    pub fn nth_latest(ranges: &[[u64; 2]], mut n: u64) -> Option<u64> {
        for r in ranges.iter().rev() {
            let width = r[1] - r[0] + 1;
            if n < width {
                return Some(r[1] - n);
            }
            n -= width;
        }
        None
    }
}

pub(crate) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::live;

    #[test]
    fn live_set_operations() {
        let mut r = Vec::new();
        for v in 0..5 {
            live::push(&mut r, v);
        }
        assert_eq!(r, vec![[0, 4]]);
        live::remove(&mut r, 2);
        assert_eq!(r, vec![[0, 1], [3, 4]]);
        assert!(!live::contains(&r, 2));
        assert_eq!(live::nth_latest(&r, 2), Some(1));
        assert_eq!(live::nth_latest(&r, 4), None);
        live::push(&mut r, 7);
        assert_eq!(live::versions(&r).collect::<Vec<_>>(), vec![0, 1, 3, 4, 7]);
        live::remove(&mut r, 7);
        live::remove(&mut r, 0);
        assert_eq!(r, vec![[1, 1], [3, 4]]);
    }
}
