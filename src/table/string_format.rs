//! The Arrow type string columns are read as (ArcticDB's `arrow_string_format_default` and
//! `arrow_string_format_per_column`): what is stored stays as written; a read may ask for
//! another string layout, for all its string columns or column by column, and gets every batch
//! cast to it. Consumers differ in what they take without a copy (polars and DuckDB prefer
//! views, older pyarrow code 32-bit offsets), so the choice is the reader's.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use serde::Deserialize;

use crate::error::{Error, ErrorKind, Result};

/// A layout of string columns in read results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StringFormat {
    /// 64-bit offsets (`LargeUtf8`).
    LargeString,
    /// 32-bit offsets (`Utf8`); a column over 2 GiB of text in one batch cannot take it.
    String,
    /// Views (`Utf8View`): short strings inline, longer ones in shared buffers.
    StringView,
    /// Dictionary-encoded (`Dictionary<Int32, LargeUtf8>`): each distinct value stored once.
    Categorical,
}

impl StringFormat {
    fn data_type(self) -> DataType {
        match self {
            StringFormat::LargeString => DataType::LargeUtf8,
            StringFormat::String => DataType::Utf8,
            StringFormat::StringView => DataType::Utf8View,
            StringFormat::Categorical => {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::LargeUtf8))
            }
        }
    }
}

/// What a read asks of its string columns. JSON: `{"default": null | FORMAT, "columns":
/// {"name": FORMAT, …}}` with FORMAT one of `"large_string"`, `"string"`, `"string_view"`,
/// `"categorical"`; a column listed takes its own format, other string columns the default,
/// and with neither they come as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StringFormats {
    pub default: Option<StringFormat>,
    pub columns: BTreeMap<String, StringFormat>,
}

fn is_string(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, values) => is_string(values),
        _ => false,
    }
}

impl StringFormats {
    pub fn is_empty(&self) -> bool {
        self.default.is_none() && self.columns.is_empty()
    }

    /// The result schema: each string column's type replaced by the format asked for it.
    /// A format named for a column that is not a string column of the result is refused
    /// (a typo would otherwise be silently ignored).
    pub fn apply(&self, schema: &Schema) -> Result<SchemaRef> {
        for name in self.columns.keys() {
            match schema.field_with_name(name) {
                Ok(f) if is_string(f.data_type()) => {}
                Ok(f) => {
                    return Err(Error::new(ErrorKind::Schema, format!(
                        "a string format was asked for column '{name}', which holds {}",
                        f.data_type()
                    )))
                }
                Err(_) => {
                    return Err(Error::new(ErrorKind::Schema, format!(
                        "a string format was asked for column '{name}', which the result does not have"
                    )))
                }
            }
        }
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| {
                let wanted = self.columns.get(f.name()).copied().or(self.default);
                match wanted {
                    Some(format) if is_string(f.data_type()) => {
                        f.as_ref().clone().with_data_type(format.data_type())
                    }
                    _ => f.as_ref().clone(),
                }
            })
            .collect();
        Ok(Arc::new(Schema::new_with_metadata(
            fields,
            schema.metadata().clone(),
        )))
    }
}

/// Casts every batch of `inner` to `schema` (made by [`StringFormats::apply`] from its schema).
pub struct StringCastReader {
    inner: Box<dyn RecordBatchReader + Send>,
    schema: SchemaRef,
}

impl StringCastReader {
    /// `inner` as it is when `formats` change nothing.
    pub fn wrap(
        inner: Box<dyn RecordBatchReader + Send>,
        formats: &StringFormats,
    ) -> Result<Box<dyn RecordBatchReader + Send>> {
        if formats.is_empty() {
            return Ok(inner);
        }
        let schema = formats.apply(&inner.schema())?;
        if schema == inner.schema() {
            return Ok(inner);
        }
        Ok(Box::new(StringCastReader { inner, schema }))
    }

    fn cast(&self, batch: RecordBatch) -> std::result::Result<RecordBatch, ArrowError> {
        let columns = batch
            .columns()
            .iter()
            .zip(self.schema.fields())
            .map(|(c, f)| {
                if c.data_type() == f.data_type() {
                    Ok(c.clone())
                } else {
                    arrow_cast::cast(c.as_ref(), f.data_type())
                }
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)
    }
}

impl Iterator for StringCastReader {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.inner.next()?.and_then(|b| self.cast(b)))
    }
}

impl RecordBatchReader for StringCastReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::{ArrayRef, Int64Array, RecordBatchIterator, StringArray};

    fn reader() -> Box<dyn RecordBatchReader + Send> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Utf8, true),
            Field::new("b", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![
                    Some("x"),
                    None,
                    Some("a long enough value"),
                ])) as ArrayRef,
                Arc::new(StringArray::from(vec!["p", "q", "p"])),
                Arc::new(Int64Array::from(vec![1, 2, 3])),
            ],
        )
        .unwrap();
        Box::new(RecordBatchIterator::new(vec![Ok(batch)], schema))
    }

    #[test]
    fn columns_take_their_own_format_and_the_rest_the_default() {
        let formats: StringFormats =
            serde_json::from_str(r#"{"default": "string_view", "columns": {"b": "categorical"}}"#)
                .unwrap();
        let mut out = StringCastReader::wrap(reader(), &formats).unwrap();
        let types: Vec<DataType> = out
            .schema()
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        assert_eq!(
            types,
            [
                DataType::Utf8View,
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::LargeUtf8)),
                DataType::Int64
            ]
        );
        let batch = out.next().unwrap().unwrap();
        let a = batch.column(0).as_string_view();
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            [Some("x"), None, Some("a long enough value")]
        );
        let b = batch
            .column(1)
            .as_dictionary::<arrow_array::types::Int32Type>();
        assert_eq!(b.values().len(), 2); // "p" once
        assert_eq!(b.keys().values().to_vec(), [0, 1, 0]);
        assert!(out.next().is_none());
    }

    #[test]
    fn no_formats_leave_the_reader_as_it_is_and_bad_names_are_refused() {
        let none = StringFormats::default();
        let out = StringCastReader::wrap(reader(), &none).unwrap();
        assert_eq!(out.schema().field(0).data_type(), &DataType::Utf8);
        for bad in [
            r#"{"columns": {"n": "string"}}"#,
            r#"{"columns": {"zz": "string"}}"#,
        ] {
            let formats: StringFormats = serde_json::from_str(bad).unwrap();
            let err = StringCastReader::wrap(reader(), &formats).err().unwrap();
            assert_eq!(err.kind(), crate::error::ErrorKind::Schema, "{bad}");
        }
        assert!(serde_json::from_str::<StringFormats>(r#"{"default": "utf16"}"#).is_err());
        let large: StringFormats = serde_json::from_str(r#"{"default": "large_string"}"#).unwrap();
        let mut out = StringCastReader::wrap(reader(), &large).unwrap();
        let batch = out.next().unwrap().unwrap();
        assert_eq!(batch.column(1).as_string::<i64>().value(1), "q");
    }
}
