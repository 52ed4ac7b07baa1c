//! Schema compatibility between a stored version and new data (append, update).

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::read::nullable;
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

/// The narrowest type both `a` and `b` convert to without loss of range: integer → wider
/// integer (unsigned into a signed type with more bits), integer → float64, float32 → float64.
pub(crate) fn widen(a: &DataType, b: &DataType) -> Option<DataType> {
    if a == b {
        return Some(a.clone());
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
            && stored
                .fields()
                .iter()
                .zip(incoming.fields())
                .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
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
                a.as_ref()
                    .clone()
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
