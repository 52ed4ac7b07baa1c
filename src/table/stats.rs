//! Per-segment column statistics (min, max, missing count), computed when a segment is written
//! and kept in the version record, so filters can skip segments without loading them.
//!
//! Stored compactly as `[min, max, missing]` per column (min and max `null` when the type has
//! none that Sheaf keeps, e.g. strings, or when every value is missing). Integers, bools (0/1),
//! and temporal types (their raw value in the column's unit) keep exact integers; floats keep
//! f64 and ignore NaN, which counts as missing.

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_buffer::BooleanBuffer;
use arrow_schema::DataType;
use serde::{Deserialize, Serialize};

use crate::query::expr::missing_mask;

/// One number of a statistic, stored as a bare JSON number: integers that fit i64 are `Int`,
/// larger ones `UInt`, numbers written with a fraction or exponent `Float`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum StatValue {
    Int(i64),
    UInt(u64),
    Float(f64),
}

/// Decided from the number's JSON form in one step. serde's derived `untagged` decoding buffers
/// each value and tries the variants in order, building an error (a formatted message) for every
/// variant that does not fit: a version record holds three numbers per column per segment, so a
/// 10M-row symbol's record spent ~2 ms per append on error messages nobody read.
impl<'de> Deserialize<'de> for StatValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberVisitor;
        impl serde::de::Visitor<'_> for NumberVisitor {
            type Value = StatValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E>(self, v: i64) -> Result<StatValue, E> {
                Ok(StatValue::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<StatValue, E> {
                Ok(i64::try_from(v).map_or(StatValue::UInt(v), StatValue::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<StatValue, E> {
                Ok(StatValue::Float(v))
            }
        }
        deserializer.deserialize_any(NumberVisitor)
    }
}

/// `[min, max, missing]` of one column of one segment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ColumnStats(pub Option<StatValue>, pub Option<StatValue>, pub u64);

impl ColumnStats {
    pub fn min(&self) -> Option<StatValue> {
        self.0
    }
    pub fn max(&self) -> Option<StatValue> {
        self.1
    }
    pub fn missing(&self) -> u64 {
        self.2
    }
}

/// Statistics of every column of a segment, by column name.
pub type SegmentStats = BTreeMap<String, ColumnStats>;

/// The column's values as u64 (unsigned integers) or i64 (signed integers, bools, and temporal
/// types by their storage); `None` for other types.
fn integer_values(column: &ArrayRef) -> Option<ArrayRef> {
    use DataType::*;
    match column.data_type() {
        UInt8 | UInt16 | UInt32 | UInt64 => arrow_cast::cast(column, &UInt64).ok(),
        Boolean => arrow_cast::cast(column, &Int64).ok(),
        Int8
        | Int16
        | Int32
        | Int64
        | Timestamp(_, _)
        | Date32
        | Date64
        | Time32(_)
        | Time64(_)
        | Duration(_) => crate::query::exec::as_i64(column).ok(),
        _ => None,
    }
}

/// The smallest and largest of the present values.
fn bounds<T: Ord + Copy>(values: &[T], present: &BooleanBuffer) -> Option<(T, T)> {
    present
        .set_indices()
        .map(|i| values[i])
        .fold(None, |acc, x| {
            Some(acc.map_or((x, x), |(lo, hi): (T, T)| (lo.min(x), hi.max(x))))
        })
}

/// The smallest and largest non-NaN values of `values`, and how many are NaN (a comparison with
/// NaN is false, so NaN never becomes a bound). Eight independent lanes without branches, so the
/// compiler vectorises the scan: a branch per value made this a seventh of a write's CPU time.
fn float_bounds(values: &[f64]) -> (f64, f64, u64) {
    const LANES: usize = 8;
    let mut lo = [f64::INFINITY; LANES];
    let mut hi = [f64::NEG_INFINITY; LANES];
    let mut nan = [0u64; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for lane in 0..LANES {
            let x = chunk[lane];
            lo[lane] = if x < lo[lane] { x } else { lo[lane] };
            hi[lane] = if x > hi[lane] { x } else { hi[lane] };
            nan[lane] += u64::from(x.is_nan());
        }
    }
    let (mut l, mut h, mut n) = (f64::INFINITY, f64::NEG_INFINITY, 0u64);
    for &x in tail.iter().chain(&lo) {
        l = if x < l { x } else { l };
    }
    for &x in tail.iter().chain(&hi) {
        h = if x > h { x } else { h };
    }
    for &x in tail {
        n += u64::from(x.is_nan());
    }
    (l, h, n + nan.iter().sum::<u64>())
}

/// The statistics of a column without nulls stored as f64 or i64, in one pass over its values
/// (the general path builds bitmaps of the missing and present values first, which costs more
/// than the scan itself on the write path). The same figures as the general path.
fn dense_stats(column: &ArrayRef) -> Option<ColumnStats> {
    use DataType::*;
    if column.null_count() != 0 {
        return None;
    }
    let data = column.to_data();
    match column.data_type() {
        Float64 => {
            let values = arrow_buffer::ScalarBuffer::<f64>::new(
                data.buffers()[0].clone(),
                data.offset(),
                data.len(),
            );
            let (lo, hi, nan) = float_bounds(&values);
            let finite = nan < values.len() as u64 && lo.is_finite() && hi.is_finite();
            Some(ColumnStats(
                finite.then_some(StatValue::Float(lo)),
                finite.then_some(StatValue::Float(hi)),
                nan,
            ))
        }
        Int64 | Timestamp(_, _) | Date64 | Time64(_) | Duration(_) => {
            let values = arrow_buffer::ScalarBuffer::<i64>::new(
                data.buffers()[0].clone(),
                data.offset(),
                data.len(),
            );
            let lo = values.iter().copied().min();
            let hi = values.iter().copied().max();
            Some(ColumnStats(
                lo.map(StatValue::Int),
                hi.map(StatValue::Int),
                0,
            ))
        }
        _ => None,
    }
}

/// Computes the statistics of every column of `batch`.
pub fn compute(batch: &RecordBatch) -> SegmentStats {
    let mut out = SegmentStats::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let stats = dense_stats(column).unwrap_or_else(|| general_stats(column));
        out.insert(field.name().clone(), stats);
    }
    out
}

/// The statistics of any column (see the module docs for what each type keeps).
fn general_stats(column: &ArrayRef) -> ColumnStats {
    let missing_bits = missing_mask(column.as_ref());
    let missing = missing_bits.count_set_bits() as u64;
    let present = !&missing_bits;
    let (mut min, mut max) = (None, None);
    let dt = column.data_type();
    if let Some(values) = integer_values(column) {
        if values.data_type() == &DataType::UInt64 {
            let b = bounds(values.as_primitive::<UInt64Type>().values(), &present);
            min = b.map(|b| StatValue::UInt(b.0));
            max = b.map(|b| StatValue::UInt(b.1));
        } else {
            let b = bounds(values.as_primitive::<Int64Type>().values(), &present);
            min = b.map(|b| StatValue::Int(b.0));
            max = b.map(|b| StatValue::Int(b.1));
        }
    } else if matches!(
        dt,
        DataType::Float16 | DataType::Float32 | DataType::Float64
    ) {
        if let Ok(values) = arrow_cast::cast(column, &DataType::Float64) {
            let v = values.as_primitive::<Float64Type>().values();
            let mut lo = f64::INFINITY;
            let mut hi = f64::NEG_INFINITY;
            let mut any = false;
            for i in present.set_indices() {
                lo = lo.min(v[i]);
                hi = hi.max(v[i]);
                any = true;
            }
            if any && lo.is_finite() && hi.is_finite() {
                min = Some(StatValue::Float(lo));
                max = Some(StatValue::Float(hi));
            }
        }
    }
    ColumnStats(min, max, missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float64Array, Int64Array, TimestampNanosecondArray};
    use std::sync::Arc;

    #[test]
    fn statistics_read_back_as_the_variant_they_were_written_as() {
        let written = vec![
            ColumnStats(Some(StatValue::Int(-3)), Some(StatValue::Int(7)), 0),
            ColumnStats(Some(StatValue::Int(0)), Some(StatValue::Int(i64::MAX)), 2),
            ColumnStats(
                Some(StatValue::UInt(u64::MAX)),
                Some(StatValue::UInt(1 << 63)),
                1,
            ),
            ColumnStats(
                Some(StatValue::Float(1.0)),
                Some(StatValue::Float(-2.5e300)),
                3,
            ),
            ColumnStats(
                Some(StatValue::Float(-0.0)),
                Some(StatValue::Float(5e-324)),
                0,
            ),
            ColumnStats(None, None, 9),
        ];
        let json = serde_json::to_string(&written).unwrap();
        let read: Vec<ColumnStats> = serde_json::from_str(&json).unwrap();
        assert_eq!(read, written);
        // -0.0 == 0.0 for PartialEq: the sign must survive too.
        assert!(matches!(read[4].0, Some(StatValue::Float(f)) if f.is_sign_negative()));
        // Records written by earlier versions: the same bare numbers.
        let old: Vec<ColumnStats> =
            serde_json::from_str("[[1,18446744073709551615,0],[2.0,null,4]]").unwrap();
        assert_eq!(
            old,
            vec![
                ColumnStats(Some(StatValue::Int(1)), Some(StatValue::UInt(u64::MAX)), 0),
                ColumnStats(Some(StatValue::Float(2.0)), None, 4),
            ]
        );
        assert!(serde_json::from_str::<ColumnStats>(r#"["a",1,0]"#).is_err());
    }

    #[test]
    fn the_one_pass_figures_equal_the_general_ones() {
        let floats = [
            vec![1.5, -2.0, 7.25],
            vec![f64::NAN, 3.0, f64::NAN, -1.0],
            vec![f64::NAN, f64::NAN],
            vec![f64::INFINITY, 1.0],
            vec![0.0, -0.0, f64::NEG_INFINITY],
            vec![],
            // Longer than the eight lanes: bounds and NaNs in the lanes and in the tail.
            (0..37)
                .map(|i| match i % 7 {
                    3 => f64::NAN,
                    _ => f64::from((i * 13) % 29) - 11.5,
                })
                .collect(),
            (0..16)
                .map(|i| if i == 9 { -4.0 } else { f64::from(i) })
                .collect(),
            (0..17).map(|i| if i == 16 { 99.0 } else { 1.0 }).collect(),
        ];
        let mut columns: Vec<ArrayRef> = Vec::new();
        for values in floats {
            let array: ArrayRef = Arc::new(Float64Array::from(values.clone()));
            columns.push(array.slice(0, values.len()));
            if values.len() > 1 {
                columns.push(array.slice(1, values.len() - 1));
            }
        }
        columns.push(Arc::new(Int64Array::from(vec![5, -3, i64::MAX, i64::MIN])));
        columns.push(Arc::new(Int64Array::from(vec![5, -3, 9]).slice(1, 2)));
        columns.push(Arc::new(TimestampNanosecondArray::from(vec![10, 2, 30])));
        columns.push(Arc::new(Int64Array::from(Vec::<i64>::new())));
        for column in &columns {
            let dense = dense_stats(column).expect("a dense column");
            assert_eq!(
                format!("{dense:?}"),
                format!("{:?}", general_stats(column)),
                "{column:?}"
            );
        }
        let with_nulls: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.0), None]));
        assert!(dense_stats(&with_nulls).is_none());
        assert_eq!(
            dense_stats(&columns[2]),
            Some(ColumnStats(
                Some(StatValue::Float(-1.0)),
                Some(StatValue::Float(3.0)),
                2
            ))
        );
    }
}
