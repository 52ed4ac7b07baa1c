//! The streaming pipeline a plan becomes: stateless stages (filter, project, index range,
//! select) that work batch by batch, row stages (`row_range`, `head`, `tail`), and
//! aggregations that emit one batch at the end.
//!
//! The leading stateless stages form the *prefix*: the table layer runs it on each segment as
//! it loads (on worker threads), and feeds the results to the rest in order.
//! Every stage knows its output schema when it is built, so a bad plan (unknown column, type
//! mismatch) fails before any segment is loaded, and a plan whose segments are all pruned
//! still returns a correctly typed empty result.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{
    make_array, Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, RecordBatchOptions,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::aggregate::{AggSpec, GroupedAggregator};
use super::{Bound, Clause, Origin, Query, Resample};
use crate::error::{Error, ErrorKind, Result};

/// Schema metadata key naming the columns that index an aggregated result (JSON array).
pub const INDEX_METADATA_KEY: &str = "sheaf:index";

/// What the pipeline reads: the schema of the incoming batches and the table's index.
#[derive(Debug, Clone)]
pub struct QueryInput {
    pub schema: SchemaRef,
    pub index: Option<String>,
    pub index_sorted: bool,
}

fn schema_error(message: String) -> Error {
    Error::new(ErrorKind::Schema, message)
}

fn failed(what: &'static str) -> impl FnOnce(arrow_schema::ArrowError) -> Error {
    move |e| Error::internal(format!("{what} failed")).caused_by(e)
}

/// Converts nanoseconds to the index unit: rounding up for a lower bound and down for an
/// upper bound keeps an inclusive range exact.
fn nanos_to_unit(ns: i64, index_type: &DataType, lower: bool) -> Result<i64> {
    let per_unit = super::nanos_per_unit(index_type).ok_or_else(|| {
        schema_error(format!(
            "a date_range in time units needs a timestamp or date index, not {index_type}"
        ))
    })?;
    Ok(if lower {
        ns.div_euclid(per_unit) + i64::from(ns.rem_euclid(per_unit) != 0)
    } else {
        ns.div_euclid(per_unit)
    })
}

/// The inclusive raw index range `[start, end]` means for an index of `index_type`.
pub fn resolve_bounds(
    start: Option<Bound>,
    end: Option<Bound>,
    index_type: &DataType,
) -> Result<(i64, i64)> {
    let lo = match start {
        None => i64::MIN,
        Some(Bound::Raw(v)) => v,
        Some(Bound::Nanos(ns)) => nanos_to_unit(ns, index_type, true)?,
    };
    let hi = match end {
        None => i64::MAX,
        Some(Bound::Raw(v)) => v,
        Some(Bound::Nanos(ns)) => nanos_to_unit(ns, index_type, false)?,
    };
    Ok((lo, hi))
}

/// Python-slice bounds over `total` rows: negatives count from the end, results clamped.
pub fn resolve_rows(start: Option<i64>, end: Option<i64>, total: u64) -> (u64, u64) {
    let total_i = total as i128;
    let clamp = |v: Option<i64>, default: i128| -> u64 {
        let v = v.map_or(default, |v| {
            if v < 0 {
                total_i + v as i128
            } else {
                v as i128
            }
        });
        v.clamp(0, total_i) as u64
    };
    let s = clamp(start, 0);
    let e = clamp(end, total_i);
    (s, e.max(s))
}

/// The values of an integer or temporal column as i64 (temporal types by their storage).
pub(crate) fn as_i64(array: &ArrayRef) -> Result<ArrayRef> {
    let storage = match array.data_type() {
        DataType::Timestamp(_, _)
        | DataType::Date64
        | DataType::Time64(_)
        | DataType::Duration(_) => Some(DataType::Int64),
        DataType::Date32 | DataType::Time32(_) => Some(DataType::Int32),
        _ => None,
    };
    let array = match storage {
        Some(t) => make_array(
            array
                .to_data()
                .into_builder()
                .data_type(t)
                .build()
                .map_err(failed("reading temporal values"))?,
        ),
        None => array.clone(),
    };
    arrow_cast::cast(&array, &DataType::Int64).map_err(failed("reading index values"))
}

/// A stage that maps one batch to one batch.
#[derive(Debug, Clone)]
pub enum MapStage {
    Filter(crate::query::Expr),
    Project {
        name: String,
        expr: crate::query::Expr,
        schema: SchemaRef,
        /// The column it replaces (by position in the input), or `None` when it is appended:
        /// the output is the input's columns with that one change, so no column is looked up
        /// by name (a plan with thousands of projections over thousands of columns stays
        /// linear).
        replaces: Option<usize>,
    },
    IndexRange {
        column: String,
        lo: i64,
        hi: i64,
    },
    Select {
        schema: SchemaRef,
    },
}

impl MapStage {
    fn apply(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        match self {
            MapStage::Filter(expr) => {
                let mask = expr.eval(&batch)?.into_mask(expr, "filter", rows)?;
                if mask.true_count() == rows {
                    return Ok(batch);
                }
                arrow_select::filter::filter_record_batch(&batch, &mask).map_err(failed("filter"))
            }
            MapStage::Project {
                expr,
                schema,
                replaces,
                ..
            } => {
                let value = expr.eval(&batch)?.into_array(rows)?;
                let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
                match *replaces {
                    Some(i) if i < columns.len() => columns[i] = value,
                    Some(_) => return Err(Error::internal("a projected batch lost a column")),
                    None => columns.push(value),
                }
                batch_with(schema, columns, rows)
            }
            MapStage::IndexRange { column, lo, hi } => {
                let index = batch.column_by_name(column).ok_or_else(|| {
                    schema_error(format!("date_range needs the index column '{column}'"))
                })?;
                let values = as_i64(index)?;
                let values = values.as_primitive::<Int64Type>();
                let mask: BooleanArray = values
                    .iter()
                    .map(|v| Some(v.is_some_and(|v| *lo <= v && v <= *hi)))
                    .collect();
                arrow_select::filter::filter_record_batch(&batch, &mask)
                    .map_err(failed("date_range"))
            }
            MapStage::Select { schema } => {
                let columns = schema
                    .fields()
                    .iter()
                    .map(|f| {
                        batch
                            .column_by_name(f.name())
                            .cloned()
                            .ok_or_else(|| Error::internal("a selected column is missing"))
                    })
                    .collect::<Result<Vec<_>>>()?;
                batch_with(schema, columns, rows)
            }
        }
    }

    fn output_schema(&self, input: &SchemaRef) -> Result<SchemaRef> {
        match self {
            MapStage::Project { schema, .. } | MapStage::Select { schema } => Ok(schema.clone()),
            MapStage::Filter(_) | MapStage::IndexRange { .. } => Ok(input.clone()),
        }
    }
}

/// An empty batch with just the columns `expr` reads (to learn its result type), so typing a
/// plan costs in proportion to the plan, not to the plan times the table's width.
fn empty_batch_for(schema: &SchemaRef, expr: &crate::query::Expr) -> Result<RecordBatch> {
    let mut names = Vec::new();
    expr.columns(&mut names);
    let mut indices: Vec<usize> = names
        .iter()
        .filter_map(|n| schema.index_of(n).ok())
        .collect();
    indices.sort_unstable();
    indices.dedup();
    let projected = Arc::new(
        schema
            .project(&indices)
            .map_err(failed("typing a projection"))?,
    );
    Ok(RecordBatch::new_empty(projected))
}

fn batch_with(schema: &SchemaRef, columns: Vec<ArrayRef>, rows: usize) -> Result<RecordBatch> {
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    RecordBatch::try_new_with_options(schema.clone(), columns, &options)
        .map_err(failed("assembling a batch"))
}

/// Applies stateless stages in order.
pub fn apply_map_stages(stages: &[MapStage], mut batch: RecordBatch) -> Result<RecordBatch> {
    for s in stages {
        batch = s.apply(batch)?;
    }
    Ok(batch)
}

/// `row_range` / `head` / `tail` over the rows reaching it.
struct RowsStage {
    start: Option<i64>,
    end: Option<i64>,
    seen: u64,
    buffered: VecDeque<RecordBatch>,
    buffered_rows: u64,
}

impl RowsStage {
    fn streaming(&self) -> bool {
        self.start.unwrap_or(0) >= 0 && self.end.unwrap_or(0) >= 0
    }

    /// Keeps only the last `k` rows (`tail`).
    fn tail_only(&self) -> Option<u64> {
        match (self.start, self.end) {
            (Some(s), None) if s < 0 => Some(s.unsigned_abs()),
            _ => None,
        }
    }

    fn done(&self) -> bool {
        self.streaming() && self.end.is_some_and(|e| self.seen >= e as u64)
    }

    fn push(&mut self, batch: RecordBatch) -> Result<Vec<RecordBatch>> {
        let n = batch.num_rows() as u64;
        if self.streaming() {
            let (lo, hi) = (
                self.start.unwrap_or(0) as u64,
                self.end.map_or(u64::MAX, |e| e as u64),
            );
            let (first, last) = (self.seen, self.seen + n);
            self.seen = last;
            let from = lo.max(first);
            let to = hi.min(last);
            if from >= to {
                return Ok(Vec::new());
            }
            return Ok(vec![
                batch.slice((from - first) as usize, (to - from) as usize)
            ]);
        }
        self.buffered_rows += n;
        self.buffered.push_back(batch);
        if let Some(k) = self.tail_only() {
            while let Some(front) = self.buffered.front() {
                let front_rows = front.num_rows() as u64;
                if self.buffered_rows - front_rows >= k {
                    self.buffered_rows -= front_rows;
                    self.seen += front_rows;
                    self.buffered.pop_front();
                } else {
                    break;
                }
            }
        }
        Ok(Vec::new())
    }

    fn finish(&mut self) -> Result<Vec<RecordBatch>> {
        if self.streaming() {
            return Ok(Vec::new());
        }
        let total = self.seen + self.buffered_rows;
        let (from, to) = resolve_rows(self.start, self.end, total);
        let mut offset = self.seen;
        let mut out = Vec::new();
        for b in self.buffered.drain(..) {
            let (first, last) = (offset, offset + b.num_rows() as u64);
            offset = last;
            let (s, e) = (from.max(first), to.min(last));
            if s < e {
                out.push(b.slice((s - first) as usize, (e - s) as usize));
            }
        }
        Ok(out)
    }
}

/// `groupby`: key columns by name.
struct GroupStage {
    by: Vec<String>,
    aggs: Vec<AggSpec>,
    aggregator: GroupedAggregator,
    schema: SchemaRef,
}

fn missing_column(clause: &str, name: &str, schema: &Schema) -> Error {
    schema_error(format!(
        "'{clause}' uses column '{name}', which is not there (columns: {})",
        super::column_list(schema)
    ))
}

fn column_of(batch: &RecordBatch, name: &str, clause: &str) -> Result<ArrayRef> {
    let c = batch
        .column_by_name(name)
        .ok_or_else(|| missing_column(clause, name, &batch.schema()))?;
    super::dictionary_values(c)
}

fn aggregate_schema(keys: Vec<Field>, aggs: &[AggSpec], outputs: &[ArrayRef]) -> SchemaRef {
    let names: Vec<String> = keys.iter().map(|f| f.name().clone()).collect();
    let mut fields = keys;
    for (a, o) in aggs.iter().zip(outputs) {
        fields.push(Field::new(&a.name, o.data_type().clone(), true));
    }
    let meta: std::collections::HashMap<String, String> = [(
        INDEX_METADATA_KEY.to_string(),
        serde_json::to_string(&names).unwrap_or_else(|_| "[]".into()),
    )]
    .into_iter()
    .collect();
    Arc::new(Schema::new(fields).with_metadata(meta))
}

fn type_of(schema: &Schema, name: &str, clause: &str) -> Result<DataType> {
    let f = schema
        .field_with_name(name)
        .map_err(|_| missing_column(clause, name, schema))?;
    Ok(match f.data_type() {
        DataType::Dictionary(_, v) => v.as_ref().clone(),
        t => t.clone(),
    })
}

impl GroupStage {
    fn new(by: Vec<String>, aggs: Vec<AggSpec>, input: &Schema) -> Result<Self> {
        let key_types = by
            .iter()
            .map(|k| type_of(input, k, "groupby"))
            .collect::<Result<Vec<_>>>()?;
        let value_types = aggs
            .iter()
            .map(|a| type_of(input, &a.column, "groupby"))
            .collect::<Result<Vec<_>>>()?;
        let mut probe = GroupedAggregator::new(key_types.clone(), aggs.clone(), &value_types)?;
        let (_, outputs) = probe.finish()?;
        let keys = by
            .iter()
            .zip(&key_types)
            .map(|(n, t)| Field::new(n, t.clone(), true))
            .collect();
        let schema = aggregate_schema(keys, &aggs, &outputs);
        Ok(GroupStage {
            aggregator: GroupedAggregator::new(key_types, aggs.clone(), &value_types)?,
            by,
            aggs,
            schema,
        })
    }

    fn push(&mut self, batch: RecordBatch) -> Result<()> {
        let keys = self
            .by
            .iter()
            .map(|k| column_of(&batch, k, "groupby"))
            .collect::<Result<Vec<_>>>()?;
        let values = self
            .aggs
            .iter()
            .map(|a| column_of(&batch, &a.column, "groupby"))
            .collect::<Result<Vec<_>>>()?;
        self.aggregator.update(&keys, &values)
    }

    fn finish(&mut self) -> Result<Vec<RecordBatch>> {
        let (mut keys, outputs) = self.aggregator.finish()?;
        let rows = keys.first().map_or(0, |k| k.len());
        keys.extend(outputs);
        Ok(vec![batch_with(&self.schema, keys, rows)?])
    }
}

/// `resample`: buckets of the timestamp index.
struct ResampleStage {
    spec: Resample,
    index: String,
    index_type: DataType,
    per_unit: i64,
    origin: Option<i64>,
    pending: Vec<RecordBatch>,
    last: Option<i64>,
    aggregator: GroupedAggregator,
    schema: SchemaRef,
}

const DAY_NS: i64 = 86_400_000_000_000;

impl ResampleStage {
    fn new(spec: Resample, input: &QueryInput, schema_in: &Schema) -> Result<Self> {
        let index = input
            .index
            .clone()
            .filter(|i| schema_in.field_with_name(i).is_ok())
            .ok_or_else(|| schema_error("'resample' needs a timestamp index column".into()))?;
        let index_type = schema_in
            .field_with_name(&index)
            .map_err(|_| schema_error("'resample' needs the index column".into()))?
            .data_type()
            .clone();
        let DataType::Timestamp(unit, _) = &index_type else {
            return Err(schema_error(format!(
                "'resample' needs a timestamp index; '{index}' is {index_type}"
            )));
        };
        if !input.index_sorted {
            return Err(schema_error(format!(
                "'resample' needs an index sorted ascending; '{index}' is not (it was written \
                 with validate_index=false)"
            )));
        }
        let per_unit = super::nanos_per_unit(&index_type).unwrap_or(1);
        if spec.rule_ns % per_unit != 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "the resample rule ({} ns) is finer than the index unit {unit:?}",
                    spec.rule_ns
                ),
            ));
        }
        let value_types = spec
            .aggs
            .iter()
            .map(|a| type_of(schema_in, &a.column, "resample"))
            .collect::<Result<Vec<_>>>()?;
        let mut probe =
            GroupedAggregator::new(vec![DataType::Int64], spec.aggs.clone(), &value_types)?;
        let (_, outputs) = probe.finish()?;
        let schema = aggregate_schema(
            vec![Field::new(&index, index_type.clone(), false)],
            &spec.aggs,
            &outputs,
        );
        let origin = match spec.origin {
            Origin::Epoch => Some(0),
            Origin::At(ns) => Some(ns),
            _ => None,
        };
        Ok(ResampleStage {
            aggregator: GroupedAggregator::new(
                vec![DataType::Int64],
                spec.aggs.clone(),
                &value_types,
            )?,
            spec,
            index,
            index_type,
            per_unit,
            origin,
            pending: Vec::new(),
            last: None,
            schema,
        })
    }

    /// The midnight that starts (or, `after`, ends) the day of `utc_ns` in the index's time
    /// zone, as UTC nanoseconds — pandas' `normalize()` / `ceil("D")` of a zoned timestamp.
    fn local_midnight(&self, utc_ns: i64, after: bool) -> Result<i64> {
        use chrono::{Offset, TimeZone};
        let round = |local: i64| {
            let floor = local.div_euclid(DAY_NS) * DAY_NS;
            if after && floor != local {
                floor + DAY_NS
            } else {
                floor
            }
        };
        let DataType::Timestamp(_, Some(zone)) = &self.index_type else {
            return Ok(round(utc_ns));
        };
        let tz: arrow_array::timezone::Tz = zone.parse().map_err(|e| {
            schema_error(format!("the index time zone {zone:?} is not known")).caused_by(e)
        })?;
        let offset_ns = |utc: i64| -> i64 {
            let at = chrono::DateTime::from_timestamp_nanos(utc).naive_utc();
            tz.offset_from_utc_datetime(&at).fix().local_minus_utc() as i64 * 1_000_000_000
        };
        let midnight_local = round(utc_ns + offset_ns(utc_ns));
        let naive = chrono::DateTime::from_timestamp_nanos(midnight_local).naive_utc();
        // A midnight that is ambiguous takes its first instant; one that does not exist (a
        // daylight-saving gap) takes the offset in force before the gap.
        let offset = match tz.offset_from_local_datetime(&naive) {
            chrono::LocalResult::Single(o) | chrono::LocalResult::Ambiguous(o, _) => {
                o.fix().local_minus_utc() as i64 * 1_000_000_000
            }
            chrono::LocalResult::None => offset_ns(midnight_local - DAY_NS / 24),
        };
        Ok(midnight_local - offset)
    }

    fn needs_end(&self) -> bool {
        matches!(self.spec.origin, Origin::End | Origin::EndDay)
    }

    fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let index = as_i64(&column_of(&batch, &self.index, "resample")?)?;
        let values = index.as_primitive::<Int64Type>();
        if self.needs_end() {
            self.last = Some(values.value(values.len() - 1) * self.per_unit);
            self.pending.push(batch);
            return Ok(());
        }
        if self.origin.is_none() {
            let first = values.value(0) * self.per_unit;
            self.origin = Some(match self.spec.origin {
                Origin::Start => first,
                _ => self.local_midnight(first, false)?,
            });
        }
        self.bucket(&batch, values)
    }

    fn bucket(&mut self, batch: &RecordBatch, values: &arrow_array::Int64Array) -> Result<()> {
        let origin = self.origin.unwrap_or(0) as i128 + self.spec.offset_ns as i128;
        let rule = self.spec.rule_ns as i128;
        let per = self.per_unit as i128;
        let (closed_right, label_right) = (self.spec.closed_right, self.spec.label_right);
        let keys: Int64Array = values
            .values()
            .iter()
            .map(|v| {
                let rel = *v as i128 * per - origin;
                let k = if closed_right {
                    // (edge, edge + rule]
                    -((-rel).div_euclid(rule)) - 1
                } else {
                    rel.div_euclid(rule)
                };
                let edge = origin + k * rule + if label_right { rule } else { 0 };
                (edge / per) as i64
            })
            .collect();
        let keys: ArrayRef = Arc::new(keys);
        let values = self
            .spec
            .aggs
            .iter()
            .map(|a| column_of(batch, &a.column, "resample"))
            .collect::<Result<Vec<_>>>()?;
        self.aggregator.update(&[keys], &values)
    }

    fn finish(&mut self) -> Result<Vec<RecordBatch>> {
        if self.needs_end() {
            if let Some(last) = self.last {
                self.origin = Some(match self.spec.origin {
                    Origin::End => last,
                    _ => self.local_midnight(last, true)?,
                });
            }
            for batch in std::mem::take(&mut self.pending) {
                let index = as_i64(&column_of(&batch, &self.index, "resample")?)?;
                self.bucket(&batch, index.as_primitive::<Int64Type>())?;
            }
        }
        let (keys, outputs) = self.aggregator.finish()?;
        let key = keys
            .into_iter()
            .next()
            .ok_or_else(|| Error::internal("resample lost its key"))?;
        let rows = key.len();
        let key = make_array(
            key.to_data()
                .into_builder()
                .data_type(self.index_type.clone())
                .build()
                .map_err(failed("labelling buckets"))?,
        );
        let mut columns = vec![key];
        columns.extend(outputs);
        Ok(vec![batch_with(&self.schema, columns, rows)?])
    }
}

enum Stage {
    Map(MapStage),
    Rows(RowsStage),
    Group(Box<GroupStage>),
    Resample(Box<ResampleStage>),
}

/// A plan ready to run over batches of [`QueryInput::schema`].
pub struct Pipeline {
    prefix: Arc<Vec<MapStage>>,
    stages: Vec<Stage>,
    schema: SchemaRef,
}

fn select_schema(input: &SchemaRef, names: &[String]) -> Result<SchemaRef> {
    let positions = crate::query::positions(input);
    let mut indices = Vec::with_capacity(names.len());
    for n in names {
        indices.push(positions.get(n.as_str()).copied().ok_or_else(|| {
            schema_error(format!(
                "column '{n}' is not in the query's result (columns: {})",
                crate::query::column_list(input)
            ))
        })?);
    }
    Ok(Arc::new(
        input
            .project(&indices)
            .map_err(failed("selecting columns"))?,
    ))
}

impl Pipeline {
    /// Builds the stages of `query` over `input`; `select` (when given) is the final column
    /// list of a plan that does not aggregate.
    pub fn new(query: &Query, input: &QueryInput, select: Option<&[String]>) -> Result<Pipeline> {
        let mut schema = input.schema.clone();
        let mut stages: Vec<Stage> = Vec::new();
        let mut aggregated = false;
        // The column `date_range` clauses select on: the table's index, then the first group
        // key of a group-by (a resample keeps the index).
        let mut index = input.index.clone();
        for clause in &query.clauses {
            let stage = match clause {
                Clause::Filter(e) => {
                    // Type-checks the filter (columns, operand types, patterns) up front.
                    let empty = RecordBatch::new_empty(schema.clone());
                    e.eval(&empty)?.into_mask(e, "filter", 0)?;
                    Stage::Map(MapStage::Filter(e.clone()))
                }
                Clause::Project { name, expr } => {
                    if !aggregated && input.index.as_deref() == Some(name.as_str()) {
                        return Err(Error::new(
                            ErrorKind::InvalidArgument,
                            format!("'project' cannot replace the index column '{name}'"),
                        ));
                    }
                    let value = expr.eval(&empty_batch_for(&schema, expr)?)?.into_array(0)?;
                    let field = Arc::new(Field::new(name, value.data_type().clone(), true));
                    let mut fields: Vec<arrow_schema::FieldRef> =
                        schema.fields().iter().cloned().collect();
                    let replaces = fields.iter().position(|f| f.name() == name);
                    match replaces {
                        Some(i) => fields[i] = field,
                        None => fields.push(field),
                    }
                    let out =
                        Arc::new(Schema::new(fields).with_metadata(schema.metadata().clone()));
                    Stage::Map(MapStage::Project {
                        name: name.clone(),
                        expr: expr.clone(),
                        schema: out,
                        replaces,
                    })
                }
                Clause::DateRange(a, b) => {
                    let column = index
                        .clone()
                        .filter(|c| schema.field_with_name(c).is_ok())
                        .ok_or_else(|| schema_error("'date_range' needs an index column".into()))?;
                    let index_type = schema
                        .field_with_name(&column)
                        .map_err(|_| schema_error("no index".into()))?
                        .data_type()
                        .clone();
                    if !(matches!(
                        index_type,
                        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64
                    ) || index_type.is_integer())
                    {
                        return Err(schema_error(format!("'date_range' needs a timestamp, date or integer index; '{column}' is {index_type}")));
                    }
                    let (lo, hi) = resolve_bounds(*a, *b, &index_type)?;
                    Stage::Map(MapStage::IndexRange { column, lo, hi })
                }
                Clause::RowRange(a, b) => Stage::Rows(RowsStage {
                    start: *a,
                    end: *b,
                    seen: 0,
                    buffered: VecDeque::new(),
                    buffered_rows: 0,
                }),
                Clause::GroupBy { by, aggs } => {
                    if aggregated {
                        return Err(Error::new(
                            ErrorKind::InvalidArgument,
                            "a plan aggregates once ('groupby' after an aggregation)",
                        ));
                    }
                    aggregated = true;
                    index = by.first().cloned();
                    Stage::Group(Box::new(GroupStage::new(
                        by.clone(),
                        aggs.clone(),
                        &schema,
                    )?))
                }
                Clause::Resample(spec) => {
                    if aggregated {
                        return Err(Error::new(
                            ErrorKind::InvalidArgument,
                            "a plan aggregates once ('resample' after an aggregation)",
                        ));
                    }
                    aggregated = true;
                    Stage::Resample(Box::new(ResampleStage::new(spec.clone(), input, &schema)?))
                }
            };
            schema = match &stage {
                Stage::Map(m) => m.output_schema(&schema)?,
                Stage::Rows(_) => schema,
                Stage::Group(g) => g.schema.clone(),
                Stage::Resample(r) => r.schema.clone(),
            };
            stages.push(stage);
        }
        if let (Some(names), false) = (select, aggregated) {
            let mut names = names.to_vec();
            let mut seen: std::collections::HashSet<String> = names.iter().cloned().collect();
            for p in query.projected_columns() {
                if seen.insert(p.clone()) {
                    names.push(p);
                }
            }
            let out = select_schema(&schema, &names)?;
            schema = out.clone();
            stages.push(Stage::Map(MapStage::Select { schema: out }));
        }
        let split = stages
            .iter()
            .position(|s| !matches!(s, Stage::Map(_)))
            .unwrap_or(stages.len());
        let rest = stages.split_off(split);
        let prefix = stages
            .into_iter()
            .filter_map(|s| match s {
                Stage::Map(m) => Some(m),
                _ => None,
            })
            .collect();
        Ok(Pipeline {
            prefix: Arc::new(prefix),
            stages: rest,
            schema,
        })
    }

    /// The schema of every batch the pipeline emits.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The stateless stages to run on each segment before [`Pipeline::push`].
    pub fn prefix(&self) -> Arc<Vec<MapStage>> {
        self.prefix.clone()
    }

    /// Whether no further input can change the result (a satisfied `head`).
    pub fn done(&self) -> bool {
        for s in &self.stages {
            match s {
                Stage::Rows(r) if r.done() => return true,
                Stage::Map(_) | Stage::Rows(_) => {}
                _ => return false,
            }
        }
        false
    }

    /// Feeds a batch that went through the prefix; returns what is ready.
    pub fn push(&mut self, batch: RecordBatch) -> Result<Vec<RecordBatch>> {
        let out = self.run_from(0, vec![batch])?;
        self.conform(out)
    }

    fn run_from(
        &mut self,
        start: usize,
        mut batches: Vec<RecordBatch>,
    ) -> Result<Vec<RecordBatch>> {
        for i in start..self.stages.len() {
            let mut next = Vec::new();
            for b in batches {
                match &mut self.stages[i] {
                    Stage::Map(m) => next.push(m.apply(b)?),
                    Stage::Rows(r) => next.extend(r.push(b)?),
                    Stage::Group(g) => g.push(b)?,
                    Stage::Resample(r) => r.push(b)?,
                }
            }
            batches = next;
            if batches.is_empty() {
                break;
            }
        }
        Ok(batches)
    }

    /// Flushes every stage in order; returns the last batches.
    pub fn finish(&mut self) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        for i in 0..self.stages.len() {
            let flushed = match &mut self.stages[i] {
                Stage::Map(_) => Vec::new(),
                Stage::Rows(r) => r.finish()?,
                Stage::Group(g) => g.finish()?,
                Stage::Resample(r) => r.finish()?,
            };
            out.extend(self.run_from(i + 1, flushed)?);
        }
        self.conform(out)
    }

    fn conform(&self, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
        batches
            .into_iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| {
                let rows = b.num_rows();
                batch_with(&self.schema, b.columns().to_vec(), rows)
            })
            .collect()
    }
}

/// A plan run over any stream of batches of its input schema (the table layer runs plans over
/// segments with its own reader; this one serves inputs that are already streams, such as a
/// concatenation).
pub struct PipelineReader {
    input: Box<dyn arrow_array::RecordBatchReader + Send>,
    prefix: Arc<Vec<MapStage>>,
    pipeline: Pipeline,
    ready: VecDeque<RecordBatch>,
    finished: bool,
}

impl PipelineReader {
    pub fn new(input: Box<dyn arrow_array::RecordBatchReader + Send>, pipeline: Pipeline) -> Self {
        PipelineReader {
            input,
            prefix: pipeline.prefix(),
            pipeline,
            ready: VecDeque::new(),
            finished: false,
        }
    }

    fn advance(&mut self) -> std::result::Result<(), arrow_schema::ArrowError> {
        let external = |e: Error| arrow_schema::ArrowError::ExternalError(Box::new(e));
        while self.ready.is_empty() && !self.finished {
            let next = if self.pipeline.done() {
                None
            } else {
                self.input.next()
            };
            match next {
                Some(batch) => {
                    let batch = apply_map_stages(&self.prefix, batch?).map_err(external)?;
                    self.ready
                        .extend(self.pipeline.push(batch).map_err(external)?);
                }
                None => {
                    self.finished = true;
                    self.ready.extend(self.pipeline.finish().map_err(external)?);
                }
            }
        }
        Ok(())
    }
}

impl Iterator for PipelineReader {
    type Item = std::result::Result<RecordBatch, arrow_schema::ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Err(e) = self.advance() {
            self.finished = true;
            self.ready.clear();
            return Some(Err(e));
        }
        self.ready.pop_front().map(Ok)
    }
}

impl arrow_array::RecordBatchReader for PipelineReader {
    fn schema(&self) -> SchemaRef {
        self.pipeline.schema()
    }
}
