//! Schema compatibility between a stored version and new data (append, update).

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::reader::nullable;
use crate::error::{Error, ErrorKind, Result};

fn int_bits(dt: &DataType) -> Option<(bool, u32)> {
    use DataType::*;
    Some(match dt {
        Int8 => (true, 8),
        Int16 => (true, 16),
        Int32 => (true, 32),
        Int64 => (true, 64),
        UInt8 => (false, 8),
        UInt16 => (false, 16),
        UInt32 => (false, 32),
        UInt64 => (false, 64),
        _ => return None,
    })
}

fn signed(bits: u32) -> Option<DataType> {
    Some(match bits {
        8 => DataType::Int8,
        16 => DataType::Int16,
        32 => DataType::Int32,
        64 => DataType::Int64,
        _ => return None,
    })
}

/// The type a version keeps when stored data of type `stored` meets new data of type `incoming`
/// that holds the same kind of values in another representation: the string types (utf8,
/// large_utf8, utf8_view) keep the stored one, likewise the binary types; timestamps with the
/// same time zone take the finer unit (a lossless cast). Segments keep the type they were
/// written with; reads cast them to the version's type.
pub(crate) fn same_kind(stored: &DataType, incoming: &DataType) -> Option<DataType> {
    use DataType::*;
    let finer = |a: &TimeUnit, b: &TimeUnit| -> TimeUnit {
        let rank = |u: &TimeUnit| match u {
            TimeUnit::Second => 0,
            TimeUnit::Millisecond => 1,
            TimeUnit::Microsecond => 2,
            TimeUnit::Nanosecond => 3,
        };
        if rank(a) >= rank(b) {
            *a
        } else {
            *b
        }
    };
    match (stored, incoming) {
        _ if stored == incoming => Some(stored.clone()),
        (Utf8 | LargeUtf8 | Utf8View, Utf8 | LargeUtf8 | Utf8View)
        | (Binary | LargeBinary | BinaryView, Binary | LargeBinary | BinaryView) => {
            Some(stored.clone())
        }
        (Timestamp(a, tz_a), Timestamp(b, tz_b)) if tz_a == tz_b => {
            Some(Timestamp(finer(a, b), tz_a.clone()))
        }
        _ => None,
    }
}

/// The narrowest type both `a` and `b` convert to without loss of range: integer → wider
/// integer (unsigned into a signed type with more bits), integer → float64, float32 → float64.
pub(crate) fn widen(a: &DataType, b: &DataType) -> Option<DataType> {
    if let Some(dt) = same_kind(a, b) {
        return Some(dt);
    }
    let float = |dt: &DataType| matches!(dt, DataType::Float32 | DataType::Float64);
    match (int_bits(a), int_bits(b)) {
        (Some((sa, ba)), Some((sb, bb))) => {
            if sa == sb {
                return Some(if ba >= bb { a.clone() } else { b.clone() });
            }
            let (s_bits, u_bits) = if sa { (ba, bb) } else { (bb, ba) };
            if s_bits > u_bits {
                return signed(s_bits);
            }
            signed(u_bits * 2)
        }
        (Some(_), None) if float(b) => Some(DataType::Float64),
        (None, Some(_)) if float(a) => Some(DataType::Float64),
        _ if float(a) && float(b) => Some(DataType::Float64),
        _ => None,
    }
}

/// The schema of a version made of `stored` rows and `incoming` rows. Without `dynamic`, the
/// columns must match by name and type (nullability is merged). With it, columns are united,
/// types widened, and columns missing on either side become nullable. The stored schema's
/// metadata is kept.
pub(crate) fn merge(
    symbol: &str,
    stored: &Schema,
    incoming: &Schema,
    dynamic: bool,
) -> Result<SchemaRef> {
    if !dynamic {
        let same = stored.fields().len() == incoming.fields().len()
            && stored.fields().iter().zip(incoming.fields()).all(|(a, b)| {
                a.name() == b.name() && same_kind(a.data_type(), b.data_type()).is_some()
            });
        if !same {
            let describe = |s: &Schema| {
                s.fields()
                    .iter()
                    .map(|f| format!("{}: {}", f.name(), f.data_type()))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(Error::new(
                ErrorKind::Schema,
                format!(
                    "the new data's columns [{}] differ from those of '{symbol}' [{}]; columns must match \
                     unless the library has dynamic_schema=true",
                    describe(incoming),
                    describe(stored)
                ),
            ));
        }
        let fields: Vec<Field> = stored
            .fields()
            .iter()
            .zip(incoming.fields())
            .map(|(a, b)| {
                let dt = same_kind(a.data_type(), b.data_type())
                    .unwrap_or_else(|| a.data_type().clone());
                a.as_ref()
                    .clone()
                    .with_data_type(dt)
                    .with_nullable(a.is_nullable() || b.is_nullable())
            })
            .collect();
        return Ok(Arc::new(Schema::new_with_metadata(
            fields,
            stored.metadata().clone(),
        )));
    }
    let mut fields: Vec<Field> = Vec::new();
    for field in stored.fields() {
        match incoming.field_with_name(field.name()) {
            Ok(other) => {
                let dt = widen(field.data_type(), other.data_type()).ok_or_else(|| {
                    Error::new(
                        ErrorKind::Schema,
                        format!(
                            "column '{}' of '{symbol}' is {}; new data of type {} cannot be merged into it",
                            field.name(),
                            field.data_type(),
                            other.data_type()
                        ),
                    )
                })?;
                fields.push(Field::new(
                    field.name(),
                    dt,
                    field.is_nullable() || other.is_nullable(),
                ));
            }
            Err(_) => fields.push(nullable(field)),
        }
    }
    for field in incoming.fields() {
        if stored.field_with_name(field.name()).is_err() {
            fields.push(nullable(field));
        }
    }
    Ok(Arc::new(Schema::new_with_metadata(
        fields,
        stored.metadata().clone(),
    )))
}

/// How new data's index column must be converted to the stored index type: the stored
/// segments' index min/max are in the stored unit, so an index that differs only in timestamp
/// unit is converted at ingest (see [`convert_index`]) instead of widening the version's type.
/// Returns the schema the ingested batches will have and the (position, type) to convert.
pub(crate) fn index_conversion(
    stored: &Schema,
    incoming: &SchemaRef,
    index: &str,
) -> (SchemaRef, Option<(usize, DataType)>) {
    let (Ok(target), Ok(position)) = (stored.field_with_name(index), incoming.index_of(index))
    else {
        return (incoming.clone(), None);
    };
    let given = incoming.field(position);
    match (target.data_type(), given.data_type()) {
        (DataType::Timestamp(a, tz_a), DataType::Timestamp(b, tz_b)) if a != b && tz_a == tz_b => {
            let mut fields: Vec<Field> = incoming
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            fields[position] = given.clone().with_data_type(target.data_type().clone());
            let schema = Arc::new(Schema::new_with_metadata(
                fields,
                incoming.metadata().clone(),
            ));
            (schema, Some((position, target.data_type().clone())))
        }
        _ => (incoming.clone(), None),
    }
}

/// Applies an [`index_conversion`] to one batch, refusing values the stored unit cannot hold
/// exactly (e.g. nanoseconds into a microsecond index).
pub(crate) fn convert_index(
    batch: &RecordBatch,
    schema: &SchemaRef,
    conversion: Option<&(usize, DataType)>,
) -> Result<RecordBatch> {
    let Some((position, target)) = conversion else {
        return Ok(batch.clone());
    };
    let column = batch.column(*position);
    let fail = |e: arrow_schema::ArrowError| {
        Error::new(ErrorKind::Schema, "cannot convert the index column").caused_by(e)
    };
    let converted = arrow_cast::cast(column.as_ref(), target).map_err(fail)?;
    let back = arrow_cast::cast(converted.as_ref(), column.data_type()).map_err(fail)?;
    if back.to_data() != column.to_data() {
        return Err(Error::new(
            ErrorKind::Schema,
            format!(
                "the index column '{}' holds values finer than the stored index type {target}; \
                 they would lose precision",
                schema.field(*position).name()
            ),
        ));
    }
    let mut columns = batch.columns().to_vec();
    columns[*position] = converted;
    RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| Error::internal("index conversion").caused_by(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening() {
        use DataType::*;
        assert_eq!(widen(&Int8, &Int32), Some(Int32));
        assert_eq!(widen(&UInt8, &Int8), Some(Int16));
        assert_eq!(widen(&UInt32, &Int64), Some(Int64));
        assert_eq!(widen(&UInt64, &Int64), None);
        assert_eq!(widen(&Int64, &Float32), Some(Float64));
        assert_eq!(widen(&Float32, &Float64), Some(Float64));
        assert_eq!(widen(&Utf8, &Int64), None);
    }
}
