//! Hash aggregation for `groupby` and `resample`: one state per group and aggregate, fed one
//! batch at a time, so memory grows with the number of groups, not the rows (except `median`,
//! which must keep the values).
//!
//! Keys are encoded with arrow-row, whose byte order is the keys' sort order: the output is
//! sorted by comparing those bytes. Missing values (null, NaN in floats) are skipped by every
//! aggregate, as pandas does; rows with a missing key are dropped (`dropna=True`).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt64Type};
use arrow_array::{new_null_array, Array, ArrayRef, Float64Array, Int64Array, UInt64Array};
use arrow_buffer::BooleanBuffer;
use arrow_row::{RowConverter, SortField};
use arrow_schema::{DataType, SortOptions};

use super::expr::missing_mask;
use crate::error::{Error, ErrorKind, Result};

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggOp {
    Sum,
    Mean,
    Min,
    Max,
    First,
    Last,
    Count,
    Median,
    Std,
}

impl AggOp {
    pub fn parse(name: &str) -> Result<AggOp> {
        Ok(match name {
            "sum" => AggOp::Sum,
            "mean" => AggOp::Mean,
            "min" => AggOp::Min,
            "max" => AggOp::Max,
            "first" => AggOp::First,
            "last" => AggOp::Last,
            "count" => AggOp::Count,
            "median" => AggOp::Median,
            "std" => AggOp::Std,
            other => {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "unknown aggregation '{other}' (known: sum mean min max first last count \
                         median std)"
                    ),
                ))
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            AggOp::Sum => "sum",
            AggOp::Mean => "mean",
            AggOp::Min => "min",
            AggOp::Max => "max",
            AggOp::First => "first",
            AggOp::Last => "last",
            AggOp::Count => "count",
            AggOp::Median => "median",
            AggOp::Std => "std",
        }
    }
}

/// One output column of an aggregation.
#[derive(Debug, Clone, PartialEq)]
pub struct AggSpec {
    pub name: String,
    pub column: String,
    pub op: AggOp,
}

trait Accumulator: Send {
    /// `groups[i]` is the group of row `i` of `values`; `n_groups` counts every group so far.
    fn update(&mut self, groups: &[u32], n_groups: usize, values: &ArrayRef) -> Result<()>;
    fn finish(&mut self, n_groups: usize) -> Result<ArrayRef>;
}

fn arrow_failure(what: &'static str) -> impl FnOnce(arrow_schema::ArrowError) -> Error {
    move |e| Error::internal(format!("{what} failed")).caused_by(e)
}

/// Indices of present (non-missing) rows.
fn present(values: &dyn Array) -> BooleanBuffer {
    !&missing_mask(values)
}

struct Count(Vec<i64>);

impl Accumulator for Count {
    fn update(&mut self, groups: &[u32], n: usize, values: &ArrayRef) -> Result<()> {
        self.0.resize(n, 0);
        for i in present(values.as_ref()).set_indices() {
            self.0[groups[i] as usize] += 1;
        }
        Ok(())
    }
    fn finish(&mut self, n: usize) -> Result<ArrayRef> {
        self.0.resize(n, 0);
        Ok(Arc::new(Int64Array::from(std::mem::take(&mut self.0))))
    }
}

/// Sums in the widest type of the input's kind; an empty group sums to 0.
enum Sum {
    Signed(Vec<i64>),
    Unsigned(Vec<u64>),
    Float(Vec<f64>),
}

impl Accumulator for Sum {
    fn update(&mut self, groups: &[u32], n: usize, values: &ArrayRef) -> Result<()> {
        let keep = present(values.as_ref());
        match self {
            Sum::Signed(acc) => {
                acc.resize(n, 0);
                let v = arrow_cast::cast(values, &DataType::Int64).map_err(arrow_failure("sum"))?;
                let v = v.as_primitive::<Int64Type>().values();
                for i in keep.set_indices() {
                    let g = groups[i] as usize;
                    acc[g] = acc[g].wrapping_add(v[i]);
                }
            }
            Sum::Unsigned(acc) => {
                acc.resize(n, 0);
                let v =
                    arrow_cast::cast(values, &DataType::UInt64).map_err(arrow_failure("sum"))?;
                let v = v.as_primitive::<UInt64Type>().values();
                for i in keep.set_indices() {
                    let g = groups[i] as usize;
                    acc[g] = acc[g].wrapping_add(v[i]);
                }
            }
            Sum::Float(acc) => {
                acc.resize(n, 0.0);
                let v = as_f64(values)?;
                let v = v.as_primitive::<Float64Type>().values();
                for i in keep.set_indices() {
                    acc[groups[i] as usize] += v[i];
                }
            }
        }
        Ok(())
    }
    fn finish(&mut self, n: usize) -> Result<ArrayRef> {
        Ok(match self {
            Sum::Signed(acc) => {
                acc.resize(n, 0);
                Arc::new(Int64Array::from(std::mem::take(acc)))
            }
            Sum::Unsigned(acc) => {
                acc.resize(n, 0);
                Arc::new(UInt64Array::from(std::mem::take(acc)))
            }
            Sum::Float(acc) => {
                acc.resize(n, 0.0);
                Arc::new(Float64Array::from(std::mem::take(acc)))
            }
        })
    }
}

fn as_f64(values: &ArrayRef) -> Result<ArrayRef> {
    arrow_cast::cast(values, &DataType::Float64).map_err(arrow_failure("conversion to float64"))
}

/// Mean and standard deviation through Welford's update (numerically stable).
struct Moments {
    std: bool,
    count: Vec<f64>,
    mean: Vec<f64>,
    m2: Vec<f64>,
}

impl Accumulator for Moments {
    fn update(&mut self, groups: &[u32], n: usize, values: &ArrayRef) -> Result<()> {
        self.count.resize(n, 0.0);
        self.mean.resize(n, 0.0);
        self.m2.resize(n, 0.0);
        let keep = present(values.as_ref());
        let v = as_f64(values)?;
        let v = v.as_primitive::<Float64Type>().values();
        for i in keep.set_indices() {
            let g = groups[i] as usize;
            self.count[g] += 1.0;
            let delta = v[i] - self.mean[g];
            self.mean[g] += delta / self.count[g];
            self.m2[g] += delta * (v[i] - self.mean[g]);
        }
        Ok(())
    }
    fn finish(&mut self, n: usize) -> Result<ArrayRef> {
        self.count.resize(n, 0.0);
        self.mean.resize(n, 0.0);
        self.m2.resize(n, 0.0);
        let out: Float64Array = (0..n)
            .map(|g| {
                let c = self.count[g];
                if self.std {
                    (c >= 2.0).then(|| (self.m2[g] / (c - 1.0)).sqrt())
                } else {
                    (c >= 1.0).then_some(self.mean[g])
                }
            })
            .collect();
        Ok(Arc::new(out))
    }
}

struct Median(Vec<Vec<f64>>);

impl Accumulator for Median {
    fn update(&mut self, groups: &[u32], n: usize, values: &ArrayRef) -> Result<()> {
        self.0.resize_with(n, Vec::new);
        let keep = present(values.as_ref());
        let v = as_f64(values)?;
        let v = v.as_primitive::<Float64Type>().values();
        for i in keep.set_indices() {
            self.0[groups[i] as usize].push(v[i]);
        }
        Ok(())
    }
    fn finish(&mut self, n: usize) -> Result<ArrayRef> {
        self.0.resize_with(n, Vec::new);
        let out: Float64Array = self
            .0
            .iter_mut()
            .map(|vals| {
                if vals.is_empty() {
                    return None;
                }
                vals.sort_unstable_by(f64::total_cmp);
                let m = vals.len() / 2;
                Some(if vals.len() % 2 == 1 {
                    vals[m]
                } else {
                    (vals[m - 1] + vals[m]) / 2.0
                })
            })
            .collect();
        Ok(Arc::new(out))
    }
}

/// min, max, first, last: the winning value per group, of the input's own type. The state is
/// an array with one slot per group, rebuilt with `interleave` from itself and each batch.
struct Pick {
    op: AggOp,
    null: ArrayRef,
    state: ArrayRef,
}

impl Accumulator for Pick {
    fn update(&mut self, groups: &[u32], n: usize, values: &ArrayRef) -> Result<()> {
        let keep = present(values.as_ref());
        let mut candidate: Vec<Option<usize>> = vec![None; n];
        let options = SortOptions::default();
        let within = match self.op {
            AggOp::Min | AggOp::Max => Some(
                arrow_ord::ord::make_comparator(values.as_ref(), values.as_ref(), options)
                    .map_err(|e| {
                        Error::new(
                            ErrorKind::Schema,
                            format!("values of type {} cannot be ordered", values.data_type()),
                        )
                        .caused_by(e)
                    })?,
            ),
            _ => None,
        };
        for i in keep.set_indices() {
            let g = groups[i] as usize;
            let slot = &mut candidate[g];
            *slot = match (self.op, *slot) {
                (AggOp::First, Some(c)) => Some(c),
                (AggOp::Min, Some(c)) if within.as_ref().is_some_and(|f| f(i, c).is_ge()) => {
                    Some(c)
                }
                (AggOp::Max, Some(c)) if within.as_ref().is_some_and(|f| f(i, c).is_le()) => {
                    Some(c)
                }
                _ => Some(i),
            };
        }
        let across = match self.op {
            AggOp::Min | AggOp::Max if !self.state.is_empty() => Some(
                arrow_ord::ord::make_comparator(self.state.as_ref(), values.as_ref(), options)
                    .map_err(arrow_failure("comparing values"))?,
            ),
            _ => None,
        };
        let old = self.state.len();
        let mut changed = n != old;
        let indices: Vec<(usize, usize)> = (0..n)
            .map(|g| {
                let held = g < old && self.state.is_valid(g);
                let from_state = if g < old { (0, g) } else { (2, 0) };
                match candidate[g] {
                    None => from_state,
                    Some(i) if !held => {
                        changed = true;
                        (1, i)
                    }
                    Some(i) => {
                        let take_new = match self.op {
                            AggOp::First => false,
                            AggOp::Last => true,
                            AggOp::Min => across.as_ref().is_some_and(|f| f(g, i).is_gt()),
                            _ => across.as_ref().is_some_and(|f| f(g, i).is_lt()),
                        };
                        if take_new {
                            changed = true;
                            (1, i)
                        } else {
                            (0, g)
                        }
                    }
                }
            })
            .collect();
        if changed {
            self.state = arrow_select::interleave::interleave(
                &[self.state.as_ref(), values.as_ref(), self.null.as_ref()],
                &indices,
            )
            .map_err(arrow_failure(self.op.name()))?;
        }
        Ok(())
    }
    fn finish(&mut self, n: usize) -> Result<ArrayRef> {
        if self.state.len() < n {
            let indices: Vec<(usize, usize)> = (0..n)
                .map(|g| if g < self.state.len() { (0, g) } else { (1, 0) })
                .collect();
            self.state = arrow_select::interleave::interleave(
                &[self.state.as_ref(), self.null.as_ref()],
                &indices,
            )
            .map_err(arrow_failure(self.op.name()))?;
        }
        Ok(self.state.clone())
    }
}

fn accumulator(spec: &AggSpec, input: &DataType) -> Result<Box<dyn Accumulator>> {
    let numeric = input.is_integer()
        || matches!(
            input,
            DataType::Float16
                | DataType::Float32
                | DataType::Float64
                | DataType::Decimal128(_, _)
                | DataType::Decimal256(_, _)
        );
    let refuse = || {
        Error::new(
            ErrorKind::Schema,
            format!(
                "aggregation '{}' of column '{}' needs numbers, but the column is {input}",
                spec.op.name(),
                spec.column
            ),
        )
    };
    Ok(match spec.op {
        AggOp::Count => Box::new(Count(Vec::new())),
        AggOp::Sum => {
            if input.is_signed_integer() || input == &DataType::Boolean {
                Box::new(Sum::Signed(Vec::new()))
            } else if input.is_unsigned_integer() {
                Box::new(Sum::Unsigned(Vec::new()))
            } else if numeric {
                Box::new(Sum::Float(Vec::new()))
            } else {
                return Err(refuse());
            }
        }
        AggOp::Mean | AggOp::Std => {
            if !(numeric || (spec.op == AggOp::Mean && input == &DataType::Boolean)) {
                return Err(refuse());
            }
            Box::new(Moments {
                std: spec.op == AggOp::Std,
                count: Vec::new(),
                mean: Vec::new(),
                m2: Vec::new(),
            })
        }
        AggOp::Median => {
            if !numeric {
                return Err(refuse());
            }
            Box::new(Median(Vec::new()))
        }
        AggOp::Min | AggOp::Max | AggOp::First | AggOp::Last => Box::new(Pick {
            op: spec.op,
            null: new_null_array(input, 1),
            state: new_null_array(input, 0),
        }),
    })
}

/// The encoded keys of every group, back to back, by group id.
#[derive(Default)]
struct GroupKeys {
    bytes: Vec<u8>,
    /// `ends[g]` is where group `g`'s key ends; it starts where the previous one ends.
    ends: Vec<usize>,
}

impl GroupKeys {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, id: u32) -> &[u8] {
        let id = id as usize;
        let start = if id == 0 { 0 } else { self.ends[id - 1] };
        &self.bytes[start..self.ends[id]]
    }

    fn push(&mut self, key: &[u8]) {
        self.bytes.extend_from_slice(key);
        self.ends.push(self.bytes.len());
    }
}

/// Groups rows by key columns and aggregates value columns.
pub struct GroupedAggregator {
    specs: Vec<AggSpec>,
    converter: RowConverter,
    key_types: Vec<DataType>,
    /// Group ids, found by their key bytes (foldhash: keys are Sheaf's own encodings, not
    /// attacker input to a long-lived server table). The bytes live once, in `keys`: a group
    /// costs no allocation of its own (100k-1M groups are the H2O benchmark's).
    groups: hashbrown::HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
    keys: GroupKeys,
    accumulators: Vec<Box<dyn Accumulator>>,
}

impl GroupedAggregator {
    /// `key_types` and `value_types` are the (dictionary-decoded) types of the key columns and
    /// of each spec's column.
    pub fn new(
        key_types: Vec<DataType>,
        specs: Vec<AggSpec>,
        value_types: &[DataType],
    ) -> Result<Self> {
        let converter = RowConverter::new(key_types.iter().cloned().map(SortField::new).collect())
            .map_err(|e| {
                Error::new(ErrorKind::Schema, "these key columns cannot be grouped by").caused_by(e)
            })?;
        let accumulators = specs
            .iter()
            .zip(value_types)
            .map(|(s, t)| accumulator(s, t))
            .collect::<Result<Vec<_>>>()?;
        Ok(GroupedAggregator {
            specs,
            converter,
            key_types,
            groups: hashbrown::HashTable::new(),
            hasher: hashbrown::DefaultHashBuilder::default(),
            keys: GroupKeys::default(),
            accumulators,
        })
    }

    /// Adds rows: `keys` are the key columns, `values` one column per spec.
    pub fn update(&mut self, keys: &[ArrayRef], values: &[ArrayRef]) -> Result<()> {
        let rows_n = keys.first().map_or(0, |k| k.len());
        if rows_n == 0 {
            return Ok(());
        }
        let mut keep = BooleanBuffer::new_set(rows_n);
        for k in keys {
            keep = &keep & &present(k.as_ref());
        }
        let all = keep.count_set_bits() == rows_n;
        let (keys, values): (Vec<ArrayRef>, Vec<ArrayRef>) = if all {
            (keys.to_vec(), values.to_vec())
        } else {
            let mask = arrow_array::BooleanArray::new(keep, None);
            let f = |a: &ArrayRef| {
                arrow_select::filter::filter(a.as_ref(), &mask)
                    .map_err(arrow_failure("dropping missing keys"))
            };
            (
                keys.iter().map(f).collect::<Result<_>>()?,
                values.iter().map(f).collect::<Result<_>>()?,
            )
        };
        let ids = self.group_ids(&keys)?;
        let n = self.keys.len();
        for (acc, v) in self.accumulators.iter_mut().zip(&values) {
            acc.update(&ids, n, v)?;
        }
        Ok(())
    }

    /// The group of each row (keys have no missing values here).
    fn group_ids(&mut self, keys: &[ArrayRef]) -> Result<Vec<u32>> {
        if let [key] = keys {
            // One key column: deduplicate the batch by value first, so arrow-row encodes and
            // the group table sees each distinct value of the batch once.
            match key.data_type() {
                DataType::Utf8 => {
                    let a = key.as_string::<i32>();
                    return self.ids_by_value(key, |i| a.value(i));
                }
                DataType::LargeUtf8 => {
                    let a = key.as_string::<i64>();
                    return self.ids_by_value(key, |i| a.value(i));
                }
                DataType::Utf8View => {
                    let a = key.as_string_view();
                    return self.ids_by_value(key, |i| a.value(i));
                }
                dt if dt.is_integer() => {
                    let wide_type = if dt.is_unsigned_integer() {
                        DataType::UInt64
                    } else {
                        DataType::Int64
                    };
                    let wide = arrow_cast::cast(key, &wide_type)
                        .map_err(arrow_failure("reading integer keys"))?;
                    if let Some(v) = wide.as_primitive_opt::<Int64Type>() {
                        let v = v.values();
                        return self.ids_by_value(key, |i| v[i]);
                    }
                    let v = wide.as_primitive::<UInt64Type>().values();
                    return self.ids_by_value(key, |i| v[i]);
                }
                _ => {}
            }
        }
        let rows = self
            .converter
            .convert_columns(keys)
            .map_err(arrow_failure("encoding group keys"))?;
        let mut ids = Vec::with_capacity(rows.num_rows());
        // Sorted or clustered keys (resample buckets, grouped data) repeat: skip the hash then.
        let mut previous: Option<(&[u8], u32)> = None;
        for row in rows.iter() {
            let bytes = row.data();
            if let Some((p, id)) = previous {
                if p == bytes {
                    ids.push(id);
                    continue;
                }
            }
            let id = self.global_id(bytes)?;
            previous = Some((bytes, id));
            ids.push(id);
        }
        Ok(ids)
    }

    fn global_id(&mut self, bytes: &[u8]) -> Result<u32> {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one(bytes);
        let keys = &self.keys;
        if let Some(id) = self.groups.find(hash, |&id| keys.get(id) == bytes) {
            return Ok(*id);
        }
        let id = u32::try_from(self.keys.len())
            .map_err(|_| Error::new(ErrorKind::InvalidArgument, "more than 4 billion groups"))?;
        self.keys.push(bytes);
        let (keys, hasher) = (&self.keys, &self.hasher);
        self.groups
            .insert_unique(hash, id, |&g| hasher.hash_one(keys.get(g)));
        Ok(id)
    }

    fn ids_by_value<K: std::hash::Hash + Eq>(
        &mut self,
        key: &ArrayRef,
        value: impl Fn(usize) -> K,
    ) -> Result<Vec<u32>> {
        let n = key.len();
        // Sized once for the batch: growing it step by step rehashed every key several times.
        let mut local: hashbrown::HashMap<K, u32> = hashbrown::HashMap::with_capacity(n);
        let mut firsts: Vec<u32> = Vec::new();
        let mut local_ids = Vec::with_capacity(n);
        for i in 0..n {
            let next = firsts.len() as u32;
            let id = *local.entry(value(i)).or_insert_with(|| {
                firsts.push(i as u32);
                next
            });
            local_ids.push(id);
        }
        let distinct =
            arrow_select::take::take(key.as_ref(), &arrow_array::UInt32Array::from(firsts), None)
                .map_err(arrow_failure("collecting distinct keys"))?;
        let rows = self
            .converter
            .convert_columns(&[distinct])
            .map_err(arrow_failure("encoding group keys"))?;
        let globals = rows
            .iter()
            .map(|r| self.global_id(r.data()))
            .collect::<Result<Vec<u32>>>()?;
        Ok(local_ids.into_iter().map(|l| globals[l as usize]).collect())
    }

    /// The key columns then one column per spec, sorted by the keys.
    pub fn finish(&mut self) -> Result<(Vec<ArrayRef>, Vec<ArrayRef>)> {
        let n = self.keys.len();
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_unstable_by(|a, b| self.keys.get(*a).cmp(self.keys.get(*b)));
        let parser = self.converter.parser();
        let key_columns = if n == 0 {
            self.key_types
                .iter()
                .map(|t| new_null_array(t, 0))
                .collect()
        } else {
            self.converter
                .convert_rows(order.iter().map(|g| parser.parse(self.keys.get(*g))))
                .map_err(arrow_failure("decoding group keys"))?
        };
        let take = arrow_array::UInt32Array::from(order);
        let mut outputs = Vec::with_capacity(self.specs.len());
        for acc in &mut self.accumulators {
            let column = acc.finish(n)?;
            outputs.push(
                arrow_select::take::take(column.as_ref(), &take, None)
                    .map_err(arrow_failure("ordering groups"))?,
            );
        }
        Ok((key_columns, outputs))
    }
}
