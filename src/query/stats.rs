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
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use serde::{Deserialize, Serialize};

use super::expr::missing_mask;

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

fn integer_view(dt: &DataType) -> Option<DataType> {
    use DataType::*;
    match dt {
        Int8 | Int16 | Int32 | Int64 | Boolean => Some(Int64),
        UInt8 | UInt16 | UInt32 | UInt64 => Some(UInt64),
        Timestamp(_, _) | Date64 | Time64(_) | Duration(_) => Some(Int64),
        Date32 | Time32(_) => Some(Int32),
        _ => None,
    }
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
        if let Some(view) = integer_view(dt) {
            let cast = match dt {
                DataType::Boolean => arrow_cast::cast(column, &DataType::Int64).ok(),
                _ => {
                    // Temporal types are reinterpreted as their integer storage.
                    let data = column.to_data();
                    let as_int = data.into_builder().data_type(view.clone()).build().ok();
                    as_int.and_then(|d| {
                        arrow_cast::cast(
                            &arrow_array::make_array(d),
                            &if view == DataType::UInt64 {
                                DataType::UInt64
                            } else {
                                DataType::Int64
                            },
                        )
                        .ok()
                    })
                }
            };
            if let Some(values) = cast {
                if values.data_type() == &DataType::UInt64 {
                    let v = values.as_primitive::<UInt64Type>().values();
                    let bounds = present.set_indices().map(|i| v[i]).fold(
                        None,
                        |acc: Option<(u64, u64)>, x| {
                            Some(acc.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))))
                        },
                    );
                    min = bounds.map(|b| StatValue::UInt(b.0));
                    max = bounds.map(|b| StatValue::UInt(b.1));
                } else {
                    let v = values.as_primitive::<Int64Type>().values();
                    let bounds = present.set_indices().map(|i| v[i]).fold(
                        None,
                        |acc: Option<(i64, i64)>, x| {
                            Some(acc.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))))
                        },
                    );
                    min = bounds.map(|b| StatValue::Int(b.0));
                    max = bounds.map(|b| StatValue::Int(b.1));
                }
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
