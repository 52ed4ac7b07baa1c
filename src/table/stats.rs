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

/// One number of a statistic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StatValue {
    Int(i64),
    UInt(u64),
    Float(f64),
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

/// Computes the statistics of every column of `batch`.
pub fn compute(batch: &RecordBatch) -> SegmentStats {
    let mut out = SegmentStats::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
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
        out.insert(field.name().clone(), ColumnStats(min, max, missing));
    }
    out
}
