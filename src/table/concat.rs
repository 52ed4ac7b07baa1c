//! Symbol concatenation (ArcticDB's `concat`): the rows of several reads, each with its own
//! options and query, one after another as one stream, with the union (`outer`) or the
//! intersection (`inner`) of their columns, and a query run over the whole. Nothing is
//! collected: the stream reads each input in turn as the caller pulls batches.

use std::sync::Arc;

use arrow_array::{new_null_array, ArrayRef, RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use serde::Deserialize;
use serde_json::Value;

use super::options::ReadOptions;
use super::results::VersionInfo;
use super::string_format::{StringCastReader, StringFormats};
use crate::error::{Error, ErrorKind, Result};
use crate::query::exec::{PipelineReader, INDEX_METADATA_KEY};
use crate::query::{Clause, Pipeline, Query, QueryInput};
use crate::store::Library;

/// Which columns a concatenation keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Join {
    /// Every column of any input; an input without a column gives nulls there.
    #[default]
    Outer,
    /// Only the columns every input has.
    Inner,
}

/// Options of [`Library::read_concat`]. JSON (all optional): `{"join": "outer" | "inner",
/// "query": [clause, …], "strings": {…}}` — `query` (the grammar of reads) runs over the
/// concatenated rows; `strings` as in read options.
#[derive(Debug, Clone, Default)]
pub struct ConcatOptions {
    pub join: Join,
    pub query: Option<Query>,
    pub strings: StringFormats,
}

impl ConcatOptions {
    /// Parses the JSON shape documented on the type; empty text means the defaults.
    pub fn from_json(text: &str) -> Result<Self> {
        #[derive(Deserialize, Default)]
        #[serde(deny_unknown_fields, default)]
        struct Raw {
            join: Join,
            query: Value,
            strings: Option<StringFormats>,
        }
        let raw: Raw = if text.trim().is_empty() {
            Raw::default()
        } else {
            serde_json::from_str(text).map_err(|e| {
                Error::new(ErrorKind::InvalidJson, "invalid concat options").caused_by(e)
            })?
        };
        let query = match &raw.query {
            Value::Null => None,
            v => Some(Query::from_json(v)?),
        };
        Ok(ConcatOptions {
            join: raw.join,
            query,
            strings: raw.strings.unwrap_or_default(),
        })
    }
}

/// One input of a concatenation: the version read and its metadata.
#[derive(Debug, Clone)]
pub struct ConcatInput {
    pub info: VersionInfo,
    pub metadata: Option<Vec<u8>>,
}

/// What [`Library::read_concat`] returns.
pub struct ConcatResult {
    pub inputs: Vec<ConcatInput>,
    pub reader: Box<dyn RecordBatchReader + Send>,
}

impl Library {
    /// Reads each `(symbol, options)` item (its own `as_of`, ranges, columns and query) and
    /// streams their rows one after another (see the module docs). Every input must have the
    /// same index column (name and type; or none), and a column the result keeps must have one
    /// type across inputs, or types that widen (as dynamic schema does). Inputs whose own query
    /// aggregates are refused (their index is the group keys): aggregate after the concat.
    pub fn read_concat(
        &self,
        items: &[(String, ReadOptions)],
        options: &ConcatOptions,
    ) -> Result<ConcatResult> {
        if items.is_empty() {
            return Err(Error::invalid("concat needs at least one symbol"));
        }
        let mut inputs = Vec::with_capacity(items.len());
        let mut readers = Vec::with_capacity(items.len());
        for (symbol, item) in items {
            let item = ReadOptions {
                strings: StringFormats::default(),
                contiguous: false,
                ..item.clone()
            };
            let read = self.read(symbol, &item)?;
            if read
                .reader
                .schema()
                .metadata()
                .contains_key(INDEX_METADATA_KEY)
            {
                return Err(Error::invalid(format!(
                    "concat of '{symbol}': its query aggregates; aggregate after the concat instead"
                )));
            }
            inputs.push(ConcatInput {
                info: read.info,
                metadata: read.metadata,
            });
            readers.push(read.reader);
        }
        let index = common_index(&inputs, &readers)?;
        let schema = joined_schema(&inputs, &readers, options.join)?;
        let sorted = inputs.iter().all(|i| i.info.index_sorted);
        let needs_sorted = options
            .query
            .as_ref()
            .is_some_and(|q| q.clauses.iter().any(|c| matches!(c, Clause::Resample(_))));
        let chained = ConcatReader::new(
            schema.clone(),
            readers,
            index.clone().filter(|_| needs_sorted),
        );
        let reader: Box<dyn RecordBatchReader + Send> = match &options.query {
            None => Box::new(chained),
            Some(query) => {
                let input = QueryInput {
                    schema,
                    index,
                    // Each input is sorted; the reader checks the seams (and fails the stream
                    // if one goes back) whenever the plan relies on it.
                    index_sorted: sorted,
                };
                let pipeline = Pipeline::new(query, &input, None)?;
                Box::new(PipelineReader::new(Box::new(chained), pipeline))
            }
        };
        Ok(ConcatResult {
            inputs,
            reader: StringCastReader::wrap(reader, &options.strings)?,
        })
    }
}

/// The index column every input shares (or none if none has one).
fn common_index(
    inputs: &[ConcatInput],
    readers: &[Box<dyn RecordBatchReader + Send>],
) -> Result<Option<String>> {
    let first = &inputs[0].info;
    let type_of = |reader: &dyn RecordBatchReader, name: &str| {
        reader
            .schema()
            .field_with_name(name)
            .map(|f| f.data_type().clone())
            .ok()
    };
    let first_type = first
        .index
        .as_deref()
        .and_then(|ix| type_of(readers[0].as_ref(), ix));
    for (input, reader) in inputs.iter().zip(readers).skip(1) {
        let this_type = input
            .info
            .index
            .as_deref()
            .and_then(|ix| type_of(reader.as_ref(), ix));
        if input.info.index != first.index || this_type != first_type {
            return Err(Error::new(
                ErrorKind::Schema,
                format!(
                    "concat needs one kind of index: '{}' is indexed by {}, '{}' by {}",
                    first.symbol,
                    describe_index(&first.index, &first_type),
                    input.info.symbol,
                    describe_index(&input.info.index, &this_type)
                ),
            ));
        }
    }
    Ok(first.index.clone())
}

fn describe_index(name: &Option<String>, data_type: &Option<DataType>) -> String {
    match (name, data_type) {
        (Some(n), Some(t)) => format!("'{n}' ({t})"),
        (Some(n), None) => format!("'{n}'"),
        _ => "row numbers".into(),
    }
}

/// The result's columns: in order of first appearance (`outer`) or of the first input
/// (`inner`), each with the type its inputs widen to; nullable where an input lacks it.
fn joined_schema(
    inputs: &[ConcatInput],
    readers: &[Box<dyn RecordBatchReader + Send>],
    join: Join,
) -> Result<SchemaRef> {
    let schemas: Vec<SchemaRef> = readers.iter().map(|r| r.schema()).collect();
    let mut names: Vec<String> = Vec::new();
    for schema in &schemas {
        for field in schema.fields() {
            if !names.contains(field.name()) {
                names.push(field.name().clone());
            }
        }
    }
    if join == Join::Inner {
        names.retain(|n| schemas.iter().all(|s| s.field_with_name(n).is_ok()));
    }
    let mut fields = Vec::with_capacity(names.len());
    for name in names {
        let mut data_type: Option<DataType> = None;
        let mut nullable = false;
        for (schema, input) in schemas.iter().zip(inputs) {
            let Ok(field) = schema.field_with_name(&name) else {
                nullable = true;
                continue;
            };
            nullable |= field.is_nullable();
            data_type = Some(match data_type {
                None => field.data_type().clone(),
                Some(t) if &t == field.data_type() => t,
                Some(t) => super::schema::widen(&t, field.data_type()).ok_or_else(|| {
                    Error::new(
                        ErrorKind::Schema,
                        format!(
                            "concat: column '{name}' is {t} in an earlier input but {} in '{}'",
                            field.data_type(),
                            input.info.symbol
                        ),
                    )
                })?,
            });
        }
        let data_type = data_type.ok_or_else(|| Error::internal("a column of no input"))?;
        fields.push(Field::new(name, data_type, nullable));
    }
    Ok(Arc::new(
        Schema::new(fields).with_metadata(schemas[0].metadata().clone()),
    ))
}

/// The inputs' batches one after another, each conformed to the joined schema.
struct ConcatReader {
    schema: SchemaRef,
    inputs: std::vec::IntoIter<Box<dyn RecordBatchReader + Send>>,
    current: Option<Box<dyn RecordBatchReader + Send>>,
    /// Checks that this column never goes back (when the plan after needs it sorted).
    check_sorted: Option<String>,
    last_index: Option<i64>,
}

impl ConcatReader {
    fn new(
        schema: SchemaRef,
        inputs: Vec<Box<dyn RecordBatchReader + Send>>,
        check_sorted: Option<String>,
    ) -> Self {
        ConcatReader {
            schema,
            inputs: inputs.into_iter(),
            current: None,
            check_sorted,
            last_index: None,
        }
    }

    fn conform(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        let columns = self
            .schema
            .fields()
            .iter()
            .map(|field| -> Result<ArrayRef> {
                match batch.column_by_name(field.name()) {
                    None => Ok(new_null_array(field.data_type(), rows)),
                    Some(c) if c.data_type() == field.data_type() => Ok(c.clone()),
                    Some(c) => arrow_cast::cast(c, field.data_type()).map_err(|e| {
                        Error::new(
                            ErrorKind::Schema,
                            format!("concat: column '{}'", field.name()),
                        )
                        .caused_by(e)
                    }),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| Error::internal(e.to_string()))?;
        if let Some(ix) = &self.check_sorted {
            let column = batch
                .column_by_name(ix)
                .ok_or_else(|| Error::internal("the index column"))?;
            let values = super::segment::index_values(ix, column.as_ref())?;
            let mut last = self.last_index;
            for v in values {
                if last.is_some_and(|l| v < l) {
                    return Err(Error::new(
                        ErrorKind::UnsortedIndex,
                        format!(
                            "the concatenated index goes back (from {} to {v}); the query after \
                             the concat needs it ascending (concatenate in index order)",
                            last.unwrap_or_default()
                        ),
                    ));
                }
                last = Some(v);
            }
            self.last_index = last;
        }
        Ok(batch)
    }
}

impl Iterator for ConcatReader {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.current.is_none() {
                self.current = Some(self.inputs.next()?);
            }
            let next = self.current.as_mut().and_then(|r| r.next());
            match next {
                None => self.current = None,
                Some(Err(e)) => return Some(Err(e)),
                Some(Ok(batch)) => {
                    return Some(
                        self.conform(batch)
                            .map_err(|e| ArrowError::ExternalError(Box::new(e))),
                    )
                }
            }
        }
    }
}

impl RecordBatchReader for ConcatReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}
