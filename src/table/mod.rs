//! Versioned Arrow tables: ArcticDB's library / symbol / version model on top of [`crate::storage`].
//!
//! The commit rule (see `record` for the layout): segments are written first; the version
//! record is then put-if-absent at the next number; a writer that loses the race re-reads the
//! head and re-applies its operation, reusing the segments it already wrote. Nothing is locked,
//! and no update is lost.

pub mod record;
pub mod segment;

use std::collections::{HashSet, VecDeque};

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, SchemaRef};
use arrow_select::concat::concat_batches;
use serde::{Deserialize, Serialize};

use self::record::{live, now_ns, Keys, Record, RecordHeader, RecordKind, SegmentRef};
use crate::config::{log, LogLevel};
use crate::error::{Error, ErrorKind, Result};
use crate::storage::{KeyRange, ScanOptions, SharedStorage, WriteOp};
use crate::store::{validate_name, Library};

/// Options of [`Library::write`]. JSON shape (all optional):
/// `{"index": "ts", "validate_index": true, "prune_previous_versions": null}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WriteOptions {
    /// The index column (timestamp, date or integer), if any.
    pub index: Option<String>,
    /// Refuse an index that is not sorted ascending (equal neighbours allowed).
    pub validate_index: bool,
    /// Delete every earlier version after committing; `None` takes the library's option.
    pub prune_previous_versions: Option<bool>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            index: None,
            validate_index: true,
            prune_previous_versions: None,
        }
    }
}

/// Which version to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AsOf {
    /// The newest live version.
    #[default]
    Latest,
    /// A version number; a negative number counts back over live versions (-1 = latest).
    Version(i64),
}

/// Options of [`Library::read`]. JSON shape: `{"as_of": null | <integer>}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadOptions {
    pub as_of: AsOf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadOptionsJson {
    #[serde(default)]
    as_of: serde_json::Value,
}

impl ReadOptions {
    /// Parses the JSON shape documented on the type; empty text means the defaults.
    pub fn from_json(text: &str) -> Result<Self> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let raw: ReadOptionsJson = serde_json::from_str(text)
            .map_err(|e| Error::new(ErrorKind::InvalidJson, "invalid read options").caused_by(e))?;
        let as_of = match raw.as_of {
            serde_json::Value::Null => AsOf::Latest,
            serde_json::Value::Number(n) => AsOf::Version(n.as_i64().ok_or_else(|| {
                Error::invalid(format!("as_of {n} is not a whole number in the i64 range"))
            })?),
            other => {
                return Err(Error::invalid(format!(
                    "as_of must be null or a version number, not {other}"
                )))
            }
        };
        Ok(ReadOptions { as_of })
    }
}

impl WriteOptions {
    /// Parses the JSON shape documented on the type; empty text means the defaults.
    pub fn from_json(text: &str) -> Result<Self> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_json::from_str(text)
            .map_err(|e| Error::new(ErrorKind::InvalidJson, "invalid write options").caused_by(e))
    }
}

/// What is known about one version without reading its data.
///
/// JSON shape: `{"symbol": "s", "version": 3, "timestamp_ns": 1700000000000000000,
/// "deleted": false, "rows": 10, "index": "ts" | null, "has_metadata": true}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub symbol: String,
    pub version: u64,
    pub timestamp_ns: i64,
    pub deleted: bool,
    pub rows: u64,
    pub index: Option<String>,
    pub has_metadata: bool,
}

/// The result of [`Library::read`]: what was read, its metadata, and a reader over its rows.
pub struct ReadResult {
    pub info: VersionInfo,
    pub metadata: Option<Vec<u8>>,
    pub reader: TableReader,
}

/// Streams a version's rows, one record batch per segment, loading each segment lazily.
pub struct TableReader {
    storage: SharedStorage,
    schema: SchemaRef,
    pending: VecDeque<Vec<u8>>,
}

impl TableReader {
    fn load_next(&mut self, key: Vec<u8>) -> Result<RecordBatch> {
        let bytes = self.storage.get(&key)?.ok_or_else(|| {
            Error::new(
                ErrorKind::NoSuchVersion,
                "a segment of this version is gone: the version was deleted while it was being read",
            )
        })?;
        let batch = segment::decode(bytes)?;
        // The stored schema carries the user's metadata; segments may have been written with
        // an equal schema that differs only there.
        RecordBatch::try_new(self.schema.clone(), batch.columns().to_vec()).map_err(|e| {
            Error::corrupt("a segment does not match its version's schema").caused_by(e)
        })
    }
}

impl Iterator for TableReader {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let key = self.pending.pop_front()?;
        Some(
            self.load_next(key)
                .map_err(|e| ArrowError::ExternalError(Box::new(e))),
        )
    }
}

impl RecordBatchReader for TableReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// The newest record of a symbol's chain and its number.
struct Head {
    number: u64,
    record: Record,
}

fn no_such_symbol(lib: &Library, symbol: &str) -> Error {
    Error::new(
        ErrorKind::NoSuchSymbol,
        format!("no symbol '{symbol}' in library '{}'", lib.name()),
    )
}

/// Unique within and across processes: time, pid, and a per-process counter.
fn new_segment_id() -> String {
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

/// Splits an incoming stream into segments, checks it, and writes the segments to storage.
struct SegmentWriter<'a> {
    lib: &'a Library,
    storage: &'a SharedStorage,
    symbol: &'a str,
    index: Option<(String, usize)>,
    validate_index: bool,
    rows_per_segment: usize,
    buffered: VecDeque<RecordBatch>,
    buffered_rows: usize,
    encoded: Vec<(Vec<u8>, Vec<u8>)>,
    encoded_bytes: usize,
    written: Vec<SegmentRef>,
    last_index: Option<i64>,
    sorted: bool,
    rows: u64,
}

impl SegmentWriter<'_> {
    fn push(&mut self, batch: RecordBatch) -> Result<()> {
        segment::validate_batch(&batch)?;
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
                if previous.is_some_and(|p| v < p) {
                    if self.validate_index {
                        return Err(Error::new(
                            ErrorKind::UnsortedIndex,
                            format!(
                                "the index column '{name}' is not sorted ascending (value {v} follows {}); \
                                 sort the data or write with validate_index=false",
                                previous.unwrap_or_default()
                            ),
                        ));
                    }
                    self.sorted = false;
                }
                previous = Some(v);
            }
            self.last_index = previous;
            index_min = values.iter().min().copied();
            index_max = values.iter().max().copied();
        }
        let bytes = segment::encode(batch, self.lib.options().compression)?;
        let id = new_segment_id();
        self.written.push(SegmentRef {
            id: id.clone(),
            rows: batch.num_rows() as u64,
            index_min,
            index_max,
            bytes: bytes.len() as u64,
        });
        let key = Keys {
            prefix: &self.lib.inner.prefix,
        }
        .segment(self.symbol, &id);
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

    fn finish(&mut self) -> Result<()> {
        if self.buffered_rows > 0 {
            self.cut(self.buffered_rows)?;
        }
        self.flush()
    }

    /// Removes what was written, after a failure (best effort: leftovers are unreferenced).
    fn abandon(&mut self) {
        let keys: Vec<Vec<u8>> = self
            .written
            .iter()
            .map(|s| {
                Keys {
                    prefix: &self.lib.inner.prefix,
                }
                .segment(self.symbol, &s.id)
            })
            .collect();
        let ops: Vec<WriteOp<'_>> = keys.iter().map(|k| WriteOp::Delete(k)).collect();
        let _ = self.storage.write_batch(&ops);
    }
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
                    format!("version {version} of '{symbol}' is missing"),
                )
            })?;
        Record::decode(&bytes)
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
            let record = make(head.as_ref(), next)?;
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

    /// Physically deletes segments referenced by `removed` versions and by no live one.
    fn collect_garbage(
        &self,
        storage: &SharedStorage,
        symbol: &str,
        removed: &[Record],
        live_after: &[[u64; 2]],
    ) -> Result<()> {
        let mut candidates: HashSet<&str> = removed
            .iter()
            .flat_map(|r| r.header.segments.iter().map(|s| s.id.as_str()))
            .collect();
        if candidates.is_empty() {
            return Ok(());
        }
        let mut kept = Vec::new();
        for v in live::versions(live_after) {
            kept.push(self.record(storage, symbol, v)?);
        }
        for r in &kept {
            for s in &r.header.segments {
                candidates.remove(s.id.as_str());
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
        segment::check_schema(&schema)?;
        let index = match &options.index {
            Some(name) => {
                segment::check_index_field(&schema, name)?;
                Some((
                    name.clone(),
                    schema
                        .index_of(name)
                        .map_err(|e| Error::internal(e.to_string()))?,
                ))
            }
            None => None,
        };
        let mut writer = SegmentWriter {
            lib: self,
            storage: &storage,
            symbol,
            index,
            validate_index: options.validate_index,
            rows_per_segment: self.options().rows_per_segment as usize,
            buffered: VecDeque::new(),
            buffered_rows: 0,
            encoded: Vec::new(),
            encoded_bytes: 0,
            written: Vec::new(),
            last_index: None,
            sorted: true,
            rows: 0,
        };
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
                writer.push(batch)?;
            }
            writer.finish()
        })();
        if let Err(e) = streamed {
            writer.abandon();
            return Err(e);
        }
        let prune = options
            .prune_previous_versions
            .unwrap_or(self.options().prune_previous_versions);
        let header_base = RecordHeader {
            kind: RecordKind::Data,
            timestamp_ns: 0,
            live: Vec::new(),
            index: options.index.clone(),
            index_sorted: writer.sorted,
            rows: writer.rows,
            segments: writer.written.clone(),
        };
        let mut live_before = Vec::new();
        let committed = self.commit(&storage, symbol, |head, next| {
            let mut header = header_base.clone();
            header.timestamp_ns = now_ns();
            live_before = head
                .map(|h| h.record.header.live.clone())
                .unwrap_or_default();
            if !prune {
                header.live = live_before.clone();
            }
            live::push(&mut header.live, next);
            Ok(Record {
                header,
                schema: Some(schema.clone()),
                metadata: metadata.clone(),
            })
        });
        let (version, record) = match committed {
            Ok(c) => c,
            Err(e) => {
                writer.abandon();
                return Err(e);
            }
        };
        if prune {
            self.collect_removed(&storage, symbol, &live_before, &record.header.live)?;
        }
        log(LogLevel::Debug, || {
            format!("wrote '{symbol}' v{version}: {} rows", writer.rows)
        });
        Ok(version)
    }

    /// Resolves `as_of` to a live version number.
    fn resolve(&self, storage: &SharedStorage, symbol: &str, as_of: AsOf) -> Result<(u64, Head)> {
        validate_name("symbol", symbol)?;
        let head = self
            .head(storage, symbol)?
            .ok_or_else(|| no_such_symbol(self, symbol))?;
        let live_set = &head.record.header.live;
        if live_set.is_empty() {
            return Err(no_such_symbol(self, symbol).context("every version was deleted"));
        }
        let version = match as_of {
            AsOf::Latest => live::latest(live_set),
            AsOf::Version(v) if v >= 0 => {
                let v = v as u64;
                if !live::contains(live_set, v) {
                    let why = if v > head.number {
                        "does not exist yet".to_string()
                    } else {
                        "was deleted or is not a data version".to_string()
                    };
                    return Err(Error::new(
                        ErrorKind::NoSuchVersion,
                        format!(
                            "version {v} of '{symbol}' {why} (latest is {})",
                            live::latest(live_set).unwrap_or_default()
                        ),
                    ));
                }
                Some(v)
            }
            AsOf::Version(v) => {
                let back = v.unsigned_abs() - 1;
                live::nth_latest(live_set, back).map(Some).ok_or_else(|| {
                    Error::new(
                        ErrorKind::NoSuchVersion,
                        format!(
                            "as_of={v}: '{symbol}' has only {} live version(s)",
                            live::versions(live_set).count()
                        ),
                    )
                })?
            }
        };
        let version = version.ok_or_else(|| no_such_symbol(self, symbol))?;
        Ok((version, head))
    }

    fn load(&self, storage: &SharedStorage, symbol: &str, as_of: AsOf) -> Result<(u64, Record)> {
        let (version, head) = self.resolve(storage, symbol, as_of)?;
        let record = if version == head.number {
            head.record
        } else {
            self.record(storage, symbol, version)?
        };
        Ok((version, record))
    }

    fn info(&self, symbol: &str, version: u64, record: &Record, deleted: bool) -> VersionInfo {
        VersionInfo {
            symbol: symbol.to_string(),
            version,
            timestamp_ns: record.header.timestamp_ns,
            deleted,
            rows: record.header.rows,
            index: record.header.index.clone(),
            has_metadata: record.metadata.is_some(),
        }
    }

    /// Reads a version of `symbol`.
    pub fn read(&self, symbol: &str, options: &ReadOptions) -> Result<ReadResult> {
        let storage = self.storage()?;
        let (version, record) = self.load(&storage, symbol, options.as_of)?;
        let pending = record
            .header
            .segments
            .iter()
            .map(|s| self.keys().segment(symbol, &s.id))
            .collect();
        Ok(ReadResult {
            info: self.info(symbol, version, &record, false),
            reader: TableReader {
                storage: storage.clone(),
                schema: record.schema()?,
                pending,
            },
            metadata: record.metadata,
        })
    }

    /// The metadata of a version (without its data).
    pub fn read_metadata(
        &self,
        symbol: &str,
        options: &ReadOptions,
    ) -> Result<(VersionInfo, Option<Vec<u8>>)> {
        let storage = self.storage()?;
        let (version, record) = self.load(&storage, symbol, options.as_of)?;
        Ok((self.info(symbol, version, &record, false), record.metadata))
    }

    /// A new version with the same data as the latest and new metadata.
    pub fn write_metadata(
        &self,
        symbol: &str,
        metadata: Option<Vec<u8>>,
        prune_previous_versions: Option<bool>,
    ) -> Result<u64> {
        validate_name("symbol", symbol)?;
        let storage = self.storage()?;
        let prune = prune_previous_versions.unwrap_or(self.options().prune_previous_versions);
        let mut live_before = Vec::new();
        let (version, record) = self.commit(&storage, symbol, |head, next| {
            let head = head.ok_or_else(|| no_such_symbol(self, symbol))?;
            live_before = head.record.header.live.clone();
            let latest = live::latest(&head.record.header.live)
                .ok_or_else(|| no_such_symbol(self, symbol))?;
            let base = if latest == head.number {
                head.record.clone()
            } else {
                self.record(&storage, symbol, latest)?
            };
            let mut header = base.header;
            header.timestamp_ns = now_ns();
            header.live = if prune {
                Vec::new()
            } else {
                head.record.header.live.clone()
            };
            live::push(&mut header.live, next);
            Ok(Record {
                header,
                schema: base.schema,
                metadata: metadata.clone(),
            })
        })?;
        if prune {
            self.collect_removed(&storage, symbol, &live_before, &record.header.live)?;
        }
        Ok(version)
    }

    /// Symbols with at least one live version, in byte order.
    pub fn list_symbols(&self) -> Result<Vec<String>> {
        let storage = self.storage()?;
        let all = self.keys().versions_of_all();
        let mut start = all.clone();
        let end = crate::storage::prefix_successor(&all);
        let mut out = Vec::new();
        loop {
            let range = KeyRange {
                start: std::ops::Bound::Included(start.clone()),
                end: end
                    .clone()
                    .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded),
            };
            let page = storage.scan(
                &range,
                ScanOptions {
                    limit: Some(1),
                    keys_only: true,
                    reverse: false,
                },
            )?;
            let Some(entry) = page.into_iter().next() else {
                break;
            };
            let rest = &entry.key[all.len()..];
            let name_end = rest
                .len()
                .checked_sub(9)
                .ok_or_else(|| Error::corrupt("a version key is malformed"))?;
            let name = std::str::from_utf8(&rest[..name_end])
                .map_err(|_| Error::corrupt("a symbol name is not UTF-8"))?
                .to_string();
            if self
                .head(&storage, &name)?
                .is_some_and(|h| !h.record.header.live.is_empty())
            {
                out.push(name.clone());
            }
            start = all.clone();
            start.extend_from_slice(name.as_bytes());
            start.push(1);
        }
        Ok(out)
    }

    /// Whether `symbol` has a live version.
    pub fn has_symbol(&self, symbol: &str) -> Result<bool> {
        validate_name("symbol", symbol)?;
        let storage = self.storage()?;
        Ok(self
            .head(&storage, symbol)?
            .is_some_and(|h| !h.record.header.live.is_empty()))
    }

    /// Live versions of one symbol (or of every symbol), newest first.
    pub fn list_versions(&self, symbol: Option<&str>) -> Result<Vec<VersionInfo>> {
        let symbols = match symbol {
            Some(s) => {
                validate_name("symbol", s)?;
                vec![s.to_string()]
            }
            None => self.list_symbols()?,
        };
        let storage = self.storage()?;
        let mut out = Vec::new();
        for s in symbols {
            let Some(head) = self.head(&storage, &s)? else {
                continue;
            };
            for v in live::versions(&head.record.header.live).rev() {
                let record = if v == head.number {
                    head.record.clone()
                } else {
                    self.record(&storage, &s, v)?
                };
                out.push(self.info(&s, v, &record, false));
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
            live_before = head.record.header.live.clone();
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
                },
                schema: None,
                metadata: None,
            })
        })?;
        self.collect_removed(&storage, symbol, &live_before, &tombstone.header.live)
    }

    /// Collects the segments of versions live in `before` but not in `after`.
    fn collect_removed(
        &self,
        storage: &SharedStorage,
        symbol: &str,
        before: &[[u64; 2]],
        after: &[[u64; 2]],
    ) -> Result<()> {
        let removed = live::versions(before)
            .filter(|v| !live::contains(after, *v))
            .map(|v| self.record(storage, symbol, v))
            .collect::<Result<Vec<_>>>()?;
        self.collect_garbage(storage, symbol, &removed, after)
    }
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
