//! Segments: one Arrow IPC stream per block of rows, compressed as the library says; plus the
//! checks every incoming column goes through (type support, index values).

use std::io::Cursor;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Int16Type, Int32Type, Int64Type, Int8Type, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type,
    UInt8Type,
};
use arrow_array::{Array, ArrowPrimitiveType, RecordBatch};
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow_ipc::CompressionType;
use arrow_schema::{DataType, Field, Schema, TimeUnit};

use crate::error::{Error, ErrorKind, Result};
use crate::store::Compression;

/// Whether Sheaf stores columns of this type (and so promises an exact round trip).
fn type_supported(dt: &DataType) -> bool {
    use DataType::*;
    match dt {
        Null
        | Boolean
        | Int8
        | Int16
        | Int32
        | Int64
        | UInt8
        | UInt16
        | UInt32
        | UInt64
        | Float16
        | Float32
        | Float64
        | Utf8
        | LargeUtf8
        | Binary
        | LargeBinary
        | FixedSizeBinary(_)
        | Timestamp(_, _)
        | Date32
        | Date64
        | Time32(_)
        | Time64(_)
        | Duration(_)
        | Decimal128(_, _)
        | Decimal256(_, _)
        | Utf8View
        | BinaryView => true,
        Dictionary(key, value) => {
            key.is_dictionary_key_type()
                && type_supported(value)
                && !matches!(**value, Dictionary(_, _))
        }
        _ => false,
    }
}

/// Refuses schemas Sheaf cannot store faithfully, naming the column and type.
pub fn check_schema(schema: &Schema) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for field in schema.fields() {
        if !type_supported(field.data_type()) {
            return Err(Error::new(
                ErrorKind::UnsupportedType,
                format!(
                    "column '{}' has type {}, which Sheaf does not store yet (supported: integers, \
                     floats, bool, strings, binary, timestamps, dates, times, durations, decimals, \
                     dictionary-encoded columns of these)",
                    field.name(),
                    field.data_type()
                ),
            ));
        }
        check_type_parameters(field.name(), field.data_type())?;
        if !seen.insert(field.name().as_str()) {
            return Err(Error::new(
                ErrorKind::Schema,
                format!("column name '{}' appears more than once", field.name()),
            ));
        }
    }
    Ok(())
}

/// Refuses type parameters Arrow's C interface lets through but no reader can use: decimal
/// precision out of range or below the scale, time zones that are neither IANA names nor
/// fixed offsets.
fn check_type_parameters(column: &str, data_type: &DataType) -> Result<()> {
    let refuse = |why: String| {
        Err(Error::new(
            ErrorKind::InvalidArrow,
            format!("column {column:?} has type {data_type}: {why}"),
        ))
    };
    match data_type {
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => {
            let max = if matches!(data_type, DataType::Decimal128(..)) {
                arrow_schema::DECIMAL128_MAX_PRECISION
            } else {
                arrow_schema::DECIMAL256_MAX_PRECISION
            };
            if *p == 0 || *p > max {
                return refuse(format!("the precision must be between 1 and {max}"));
            }
            if i16::from(*s) > i16::from(*p) {
                return refuse("the scale exceeds the precision".into());
            }
            Ok(())
        }
        DataType::Timestamp(_, Some(tz)) => match tz.parse::<arrow_array::timezone::Tz>() {
            Ok(_) => Ok(()),
            Err(_) => refuse(format!(
                "{tz:?} is not a time zone (an IANA name such as \"Europe/Paris\", or an offset such as \"+02:00\")"
            )),
        },
        DataType::Dictionary(_, values) => check_type_parameters(column, values),
        _ => Ok(()),
    }
}

/// Checks that `name` can be the index column: it exists and is a timestamp, date or integer
/// that fits in an i64.
pub fn check_index_field<'a>(schema: &'a Schema, name: &str) -> Result<&'a Field> {
    let field = schema.field_with_name(name).map_err(|_| {
        Error::new(
            ErrorKind::Schema,
            format!(
                "the index column '{name}' is not in the data (columns: {})",
                crate::query::column_list(schema)
            ),
        )
    })?;
    match field.data_type() {
        DataType::Timestamp(_, _)
        | DataType::Date32
        | DataType::Date64
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => Ok(field),
        other => Err(Error::new(
            ErrorKind::Schema,
            format!(
                "the index column '{name}' has type {other}; an index must be a timestamp, a date \
                 or an integer of at most 64 bits (uint64 does not fit)"
            ),
        )),
    }
}

fn widen<T: ArrowPrimitiveType>(array: &dyn Array) -> Vec<i64>
where
    T::Native: Into<i64>,
{
    array
        .as_primitive::<T>()
        .values()
        .iter()
        .map(|v| (*v).into())
        .collect()
}

/// The index values of a column as i64, refusing nulls.
pub fn index_values(name: &str, array: &dyn Array) -> Result<Vec<i64>> {
    if array.null_count() > 0 {
        return Err(Error::new(
            ErrorKind::Schema,
            format!(
                "the index column '{name}' holds {} null value(s); an index may not",
                array.null_count()
            ),
        ));
    }
    Ok(match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => widen::<TimestampSecondType>(array),
        DataType::Timestamp(TimeUnit::Millisecond, _) => widen::<TimestampMillisecondType>(array),
        DataType::Timestamp(TimeUnit::Microsecond, _) => widen::<TimestampMicrosecondType>(array),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => widen::<TimestampNanosecondType>(array),
        DataType::Date32 => widen::<Date32Type>(array),
        DataType::Date64 => widen::<Date64Type>(array),
        DataType::Int8 => widen::<Int8Type>(array),
        DataType::Int16 => widen::<Int16Type>(array),
        DataType::Int32 => widen::<Int32Type>(array),
        DataType::Int64 => widen::<Int64Type>(array),
        DataType::UInt8 => widen::<UInt8Type>(array),
        DataType::UInt16 => widen::<UInt16Type>(array),
        DataType::UInt32 => widen::<UInt32Type>(array),
        other => return Err(Error::internal(format!("index values of type {other}"))),
    })
}

/// Validates every column of an incoming batch in full (offsets, UTF-8, dictionary keys,
/// buffer sizes), because imported C data is not validated by arrow-rs.
pub fn validate_batch(batch: &RecordBatch) -> Result<()> {
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        column.to_data().validate_full().map_err(|e| {
            Error::new(
                ErrorKind::InvalidArrow,
                format!("column '{}' is malformed", field.name()),
            )
            .caused_by(e)
        })?;
    }
    Ok(())
}

/// Encodes one batch as an IPC stream.
pub fn encode(batch: &RecordBatch, compression: Compression) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(batch.get_array_memory_size() / 2 + 1024);
    encode_into(batch, compression, &mut buf)?;
    Ok(buf)
}

/// [`encode`] into `buf` (cleared first): a writer reuses its buffers from segment to segment.
pub fn encode_into(batch: &RecordBatch, compression: Compression, buf: &mut Vec<u8>) -> Result<()> {
    if super::encode_direct::encode(batch, compression, buf)? {
        return Ok(());
    }
    encode_with_arrow_ipc(batch, compression, buf)
}

/// [`encode_into`] through arrow-ipc's writer, whatever the columns (the encoder for what
/// `encode_direct` does not write, and the reference its tests compare with).
pub(crate) fn encode_with_arrow_ipc(
    batch: &RecordBatch,
    compression: Compression,
    buf: &mut Vec<u8>,
) -> Result<()> {
    let codec = match compression {
        Compression::Lz4 => Some(CompressionType::LZ4_FRAME),
        Compression::Zstd => Some(CompressionType::ZSTD),
        Compression::None => None,
    };
    let options = IpcWriteOptions::default()
        .try_with_compression(codec)
        .map_err(|e| Error::internal("cannot set IPC compression").caused_by(e))?;
    buf.clear();
    let fail = |e| Error::internal("cannot encode a segment").caused_by(e);
    let mut writer =
        StreamWriter::try_new_with_options(&mut *buf, &batch.schema(), options).map_err(fail)?;
    writer.write(batch).map_err(fail)?;
    writer.finish().map_err(fail)?;
    drop(writer);
    Ok(())
}

/// Decodes a segment written by [`encode`].
/// The Arrow schema a segment's IPC schema message describes. arrow-ipc's converter panics on a
/// malformed message (a missing field list, an unknown type) instead of returning an error, so
/// a damaged segment is contained here and reported as corrupt rather than unwinding further.
pub(crate) fn schema_from_flatbuffer(fb: arrow_ipc::Schema<'_>) -> Result<Schema> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        arrow_ipc::convert::fb_to_schema(fb)
    }))
    .map_err(|_| Error::corrupt("a segment's schema message is malformed"))
}

pub fn decode(bytes: Vec<u8>) -> Result<RecordBatch> {
    let corrupt = |e| Error::corrupt("a segment cannot be decoded").caused_by(e);
    let mut reader = StreamReader::try_new(Cursor::new(bytes), None).map_err(corrupt)?;
    match reader.next() {
        Some(batch) => batch.map_err(corrupt),
        None => Err(Error::corrupt("a segment holds no rows")),
    }
}

#[cfg(test)]
mod parameter_tests {
    use super::*;

    fn check(t: DataType) -> Result<()> {
        check_schema(&Schema::new(vec![Field::new("c\nx", t, true)]))
    }

    #[test]
    fn invalid_type_parameters_are_refused_up_front() {
        for bad in [
            DataType::Decimal128(99, 2),
            DataType::Decimal128(0, 0),
            DataType::Decimal128(5, 6),
            DataType::Decimal256(77, 0),
            DataType::Timestamp(TimeUnit::Second, Some("Not/AZone".into())),
            DataType::Dictionary(
                Box::new(DataType::Int32),
                Box::new(DataType::Timestamp(
                    TimeUnit::Nanosecond,
                    Some("+25:99".into()),
                )),
            ),
        ] {
            let err = check(bad.clone()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArrow, "{bad}");
            assert!(
                err.message().contains("\"c\\nx\""),
                "the name is quoted: {}",
                err.message()
            );
        }
        for good in [
            DataType::Decimal128(38, 10),
            DataType::Decimal128(5, -2),
            DataType::Decimal256(76, 76),
            DataType::Timestamp(TimeUnit::Second, Some("Europe/Paris".into())),
            DataType::Timestamp(TimeUnit::Second, Some("+05:30".into())),
            DataType::Timestamp(TimeUnit::Second, Some("UTC".into())),
        ] {
            check(good.clone()).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
    }
}
