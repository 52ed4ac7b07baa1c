//! Options of table operations, as Rust types and as the JSON documents the C ABI takes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::string_format::StringFormats;
use crate::error::{Error, ErrorKind, Result};
use crate::query::Query;

fn parse<T: serde::de::DeserializeOwned + Default>(text: &str, what: &str) -> Result<T> {
    if text.trim().is_empty() {
        return Ok(T::default());
    }
    serde_json::from_str(text)
        .map_err(|e| Error::new(ErrorKind::InvalidJson, format!("invalid {what}")).caused_by(e))
}

/// Options of `write` and `append`. JSON (all optional):
/// `{"index": "ts", "validate_index": true, "prune_previous_versions": null, "content": null}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WriteOptions {
    /// The index column (timestamp, date or integer), if any. `append` takes the stored one.
    pub index: Option<String>,
    /// Refuse an index that is not sorted ascending (equal neighbours allowed).
    pub validate_index: bool,
    /// Delete every earlier version after committing; `None` takes the library's option.
    pub prune_previous_versions: Option<bool>,
    /// `write` only: the data is one opaque object, not a table — its bytes are the data's
    /// one binary column, in order — and this names its format (e.g. "python-pickle"; 1 to
    /// 64 printable ASCII characters). Reads give the same column and say the format in the
    /// version info's `content`; appends, updates and merges refuse such a version.
    pub content: Option<String>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            index: None,
            validate_index: true,
            prune_previous_versions: None,
            content: None,
        }
    }
}

impl WriteOptions {
    /// Parses the JSON shape documented on the type; empty text means the defaults.
    pub fn from_json(text: &str) -> Result<Self> {
        parse(text, "write options")
    }
}

/// One end of a `date_range`: a raw index value, or nanoseconds since the epoch that are
/// converted to the index column's unit (JSON: `123` or `{"ns": 123}`).
pub use crate::query::Bound as IndexBound;

/// An inclusive index range; `None` ends are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DateRange {
    pub start: Option<IndexBound>,
    pub end: Option<IndexBound>,
}

fn bound_from_json(v: &Value) -> Result<Option<IndexBound>> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .map(|x| Some(IndexBound::Raw(x)))
            .ok_or_else(|| Error::invalid(format!("date_range bound {n} is not an i64"))),
        Value::Object(map) if map.len() == 1 && map.contains_key("ns") => map["ns"]
            .as_i64()
            .map(|x| Some(IndexBound::Nanos(x)))
            .ok_or_else(|| Error::invalid("date_range {\"ns\": …} needs an i64")),
        other => Err(Error::invalid(format!(
            "a date_range bound is null, an integer index value or {{\"ns\": <i64>}}, not {other}"
        ))),
    }
}

fn pair(v: &Value, what: &str) -> Result<(Value, Value)> {
    match v {
        Value::Array(items) if items.len() == 2 => Ok((items[0].clone(), items[1].clone())),
        other => Err(Error::invalid(format!(
            "{what} must be a two-element array, not {other}"
        ))),
    }
}

impl DateRange {
    /// Parses `[start, end]` (each `null`, an integer, or `{"ns": N}`).
    pub fn from_value(v: &Value) -> Result<Self> {
        let (a, b) = pair(v, "date_range")?;
        Ok(DateRange {
            start: bound_from_json(&a)?,
            end: bound_from_json(&b)?,
        })
    }
}

/// Which version to read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AsOf {
    /// The newest live version.
    #[default]
    Latest,
    /// A version number; a negative number counts back over live versions (-1 = latest).
    Version(i64),
    /// The version a snapshot holds.
    Snapshot(String),
    /// The newest live version written at or before this time (ns since the epoch).
    Time(i64),
}

impl AsOf {
    /// Parses `null`, an integer, a snapshot name, or `{"timestamp_ns": N}`.
    pub fn from_value(v: &Value) -> Result<Self> {
        Ok(match v {
            Value::Null => AsOf::Latest,
            Value::Number(n) => AsOf::Version(
                n.as_i64().ok_or_else(|| Error::invalid(format!("as_of {n} is not an i64")))?,
            ),
            Value::String(s) => AsOf::Snapshot(s.clone()),
            Value::Object(map) if map.len() == 1 && map.contains_key("timestamp_ns") => AsOf::Time(
                map["timestamp_ns"]
                    .as_i64()
                    .ok_or_else(|| Error::invalid("as_of {\"timestamp_ns\": …} needs an i64"))?,
            ),
            other => {
                return Err(Error::invalid(format!(
                    "as_of is null, a version number, a snapshot name or {{\"timestamp_ns\": N}}, not {other}"
                )))
            }
        })
    }
}

/// Options of `read`. JSON (all optional):
/// `{"as_of": null | N | -K | "snapshot" | {"timestamp_ns": T},
///   "date_range": [start, end], "row_range": [start, end], "columns": ["a", "b"]}`.
/// `date_range` is inclusive at both ends; `row_range` has Python slice semantics (end
/// exclusive, negatives count from the end, `null` = open); the two cannot be combined.
/// `columns` selects and orders columns; the index column is always returned (first, unless
/// requested elsewhere); `[]` returns only the index. `query` is a plan (`docs/query-plan.md`)
/// run over the selected rows; with a query, `columns` chooses the stored columns the result
/// keeps (columns made by `project` come after them), and the plan may use any stored column.
/// `"contiguous": true` (without a query) makes the stream one batch with one buffer per
/// column, each stored buffer decompressed straight into its place — what a caller that
/// collects the whole result wants (pandas and numpy then take the columns without a copy);
/// the default streams one batch per stored segment, holding only a few in memory at once.
/// `"strings": {"default": FORMAT, "columns": {"name": FORMAT}}` chooses the Arrow type of the
/// result's string columns (`super::string_format`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReadOptions {
    pub as_of: AsOf,
    pub date_range: Option<DateRange>,
    pub row_range: Option<(Option<i64>, Option<i64>)>,
    pub columns: Option<Vec<String>>,
    pub query: Option<Query>,
    pub contiguous: bool,
    pub strings: StringFormats,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct ReadOptionsJson {
    as_of: Value,
    date_range: Value,
    row_range: Value,
    columns: Option<Vec<String>>,
    query: Value,
    contiguous: bool,
    strings: Option<StringFormats>,
}

fn opt_i64(v: &Value, what: &str) -> Result<Option<i64>> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| Error::invalid(format!("{what} bound {n} is not an i64"))),
        other => Err(Error::invalid(format!(
            "{what} bounds are integers or null, not {other}"
        ))),
    }
}

impl ReadOptions {
    /// Parses the JSON shape documented on the type; empty text means the defaults.
    pub fn from_json(text: &str) -> Result<Self> {
        let raw: ReadOptionsJson = parse(text, "read options")?;
        Self::from_parts(raw)
    }

    fn from_parts(raw: ReadOptionsJson) -> Result<Self> {
        let date_range = match &raw.date_range {
            Value::Null => None,
            v => Some(DateRange::from_value(v)?),
        };
        let row_range = match &raw.row_range {
            Value::Null => None,
            v => {
                let (a, b) = pair(v, "row_range")?;
                Some((opt_i64(&a, "row_range")?, opt_i64(&b, "row_range")?))
            }
        };
        if date_range.is_some() && row_range.is_some() {
            return Err(Error::invalid(
                "date_range and row_range cannot be used together",
            ));
        }
        Ok(ReadOptions {
            as_of: AsOf::from_value(&raw.as_of)?,
            date_range,
            row_range,
            columns: raw.columns,
            query: match &raw.query {
                Value::Null => None,
                v => Some(Query::from_json(v)?),
            },
            contiguous: raw.contiguous,
            strings: raw.strings.unwrap_or_default(),
        })
    }

    /// Reads version `as_of` only.
    pub fn as_of(as_of: AsOf) -> Self {
        ReadOptions {
            as_of,
            ..Default::default()
        }
    }
}

/// Options of `update` and `delete_data_in_range`. JSON (all optional):
/// `{"date_range": [start, end], "upsert": false, "index": null, "prune_previous_versions": null}`.
/// `index` names the index column when `upsert` creates a missing symbol.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateOptions {
    pub date_range: Option<DateRange>,
    pub upsert: bool,
    pub index: Option<String>,
    pub prune_previous_versions: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct UpdateOptionsJson {
    date_range: Value,
    upsert: bool,
    index: Option<String>,
    prune_previous_versions: Option<bool>,
}

impl UpdateOptions {
    /// Parses the JSON shape documented on the type; empty text means the defaults.
    pub fn from_json(text: &str) -> Result<Self> {
        let raw: UpdateOptionsJson = parse(text, "update options")?;
        let date_range = match &raw.date_range {
            Value::Null => None,
            v => Some(DateRange::from_value(v)?),
        };
        Ok(UpdateOptions {
            date_range,
            upsert: raw.upsert,
            index: raw.index,
            prune_previous_versions: raw.prune_previous_versions,
        })
    }
}

/// The `as_of` part alone, for calls that take nothing else (`read_metadata`, `has_symbol`,
/// `get_description`). JSON: `{"as_of": …}`.
pub fn as_of_from_json(text: &str) -> Result<AsOf> {
    #[derive(Deserialize, Default)]
    #[serde(deny_unknown_fields, default)]
    struct Only {
        as_of: Value,
    }
    let raw: Only = parse(text, "options")?;
    AsOf::from_value(&raw.as_of)
}

/// What `merge` does with a row. JSON: `"update"`, `"insert"` or `"do_nothing"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeAction {
    DoNothing,
    Update,
    Insert,
}

/// Options of `merge` (ArcticDB's `merge_experimental`). JSON (all optional):
/// `{"matched": "update", "not_matched_by_target": "insert", "on": ["col"],
/// "prune_previous_versions": null}`. A source row matches a stored row when their index
/// values and every `on` column are equal. `matched` is `update` (the stored row takes the
/// source row's values) or `do_nothing`; `not_matched_by_target` is `insert` (the source row
/// is added in index order) or `do_nothing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MergeOptions {
    pub matched: MergeAction,
    pub not_matched_by_target: MergeAction,
    pub on: Vec<String>,
    pub prune_previous_versions: Option<bool>,
}

impl Default for MergeOptions {
    fn default() -> Self {
        MergeOptions {
            matched: MergeAction::Update,
            not_matched_by_target: MergeAction::Insert,
            on: Vec::new(),
            prune_previous_versions: None,
        }
    }
}

impl MergeOptions {
    /// Parses the JSON shape documented on the type; empty text means the defaults.
    pub fn from_json(text: &str) -> Result<Self> {
        parse(text, "merge options")
    }
}
