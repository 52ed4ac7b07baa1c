//! Reading operations: resolving `as_of` to a version, `read` (a lazy reader over the
//! version's segments, or a query reader), `read_metadata` and `get_description`. Planning
//! which segments and columns to load is `reader`; a read with a query is `query_read`.

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::SchemaRef;

use super::commit::no_such_symbol;
use super::options::{AsOf, ReadOptions};
use super::reader::{self, conform, TableReader};
use super::record::{live, Record, SegmentRef};
use super::results::{ColumnInfo, Description, ReadResult, VersionInfo};
use super::{query_read, segment};
use crate::error::{Error, ErrorKind, Result};
use crate::storage::SharedStorage;
use crate::store::{validate_name, Library};

impl Library {
    pub(super) fn load_segment(
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
            .read_counters
            .segments
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        conform(&segment::decode(bytes)?, schema)
    }

    /// Resolves `as_of` to a version number and its record.
    pub(super) fn resolve(
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

    pub(super) fn info(
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
            index_sorted: record.header.index.is_some() && record.header.index_sorted,
            has_metadata: record.metadata.is_some(),
            snapshots,
            content: record.header.content.clone(),
        }
    }

    /// Reads a version of `symbol`, optionally only some rows and columns.
    pub fn read(&self, symbol: &str, options: &ReadOptions) -> Result<ReadResult> {
        let storage = self.storage()?;
        let (version, record, deleted) = self.resolve(&storage, symbol, &options.as_of)?;
        let loader = |schema| reader::SegmentLoader {
            storage: storage.clone(),
            schema,
            index: record.header.index.clone(),
            counters: self.inner.read_counters.clone(),
        };
        let reader: Box<dyn RecordBatchReader + Send> = match &options.query {
            None => {
                let (schema, reads) =
                    reader::plan(&record, &self.keys(), symbol, options, &|_| true)?;
                Box::new(TableReader::new(
                    loader(schema),
                    reads,
                    options.contiguous,
                    record.header.index_sorted,
                ))
            }
            Some(q) => Box::new(query_read::reader(
                &record,
                &self.keys(),
                symbol,
                options,
                q,
                loader,
            )?),
        };
        let reader = super::string_format::StringCastReader::wrap(reader, &options.strings)?;
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
            content: record.header.content.clone(),
        })
    }
}
