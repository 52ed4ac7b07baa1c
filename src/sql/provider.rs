//! Sheaf's symbols as DataFusion tables: the catalog (libraries as schemas), one pinned
//! version of a symbol as a table ([`PinnedTable`]), its scan ([`SheafScanExec`], with what was
//! pushed into Sheaf's read planning) and the sinks through which SQL writes commit.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions, UInt64Array};
use arrow_schema::{ArrowError, DataType, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Column, DataFusionError, ScalarValue};
use datafusion::datasource::provider_as_source;
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{
    col, lit, when, BinaryExpr, CreateMemoryTable, Expr, ExprSchemable, LogicalPlanBuilder,
    Operator, TableProviderFilterPushDown, TableType,
};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use datafusion::prelude::SessionContext;
use futures::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::{json, Value};

use super::{from_datafusion, off_runtime, to_datafusion};
use crate::error::{Error, ErrorKind, Result};
use crate::store::{Library, LibraryOptions, Store};
use crate::table::{AsOf, ReadOptions, WriteOptions};

type DfResult<T> = std::result::Result<T, DataFusionError>;

/// What a write sink does to each batch on its way to the commit (count it, drop a column).
type BatchMap = Box<dyn FnMut(RecordBatch) -> std::result::Result<RecordBatch, ArrowError> + Send>;

/// The column an `UPDATE`'s rewritten rows carry to tell the sink which rows changed.
const CHANGED_COLUMN: &str = "__sheaf_changed";

/// The tables one statement has resolved, by library, symbol and version request: a name
/// met twice (a self-join, a subquery) reads the same version.
#[derive(Debug, Default)]
pub(crate) struct Pins {
    tables: Mutex<HashMap<(String, String, String), Arc<PinnedTable>>>,
    libraries: Mutex<HashMap<String, Library>>,
}

impl Pins {
    /// The library `name` of `store` (opened once per statement).
    pub(crate) fn library(&self, store: &Store, name: &str) -> Result<Library> {
        if let Some(found) = self.libraries.lock().get(name) {
            return Ok(found.clone());
        }
        let opened = off_runtime(|| store.open_library(name, false, LibraryOptions::default()))?;
        self.libraries
            .lock()
            .insert(name.to_string(), opened.clone());
        Ok(opened)
    }

    /// The version `as_of` of `symbol`, resolved once per statement.
    pub(crate) fn pin(
        &self,
        library: &Library,
        symbol: &str,
        as_of: AsOf,
    ) -> Result<Arc<PinnedTable>> {
        let key = (
            library.name().to_string(),
            symbol.to_string(),
            format!("{as_of:?}"),
        );
        if let Some(found) = self.tables.lock().get(&key) {
            return Ok(found.clone());
        }
        let pinned = Arc::new(off_runtime(|| PinnedTable::pin(library, symbol, &as_of))?);
        Ok(self.tables.lock().entry(key).or_insert(pinned).clone())
    }
}

/// The store as a DataFusion catalog: one schema per library (only `library` when given).
#[derive(Debug)]
pub(crate) struct StoreCatalog {
    store: Store,
    library: Option<Library>,
    pins: Arc<Pins>,
}

impl StoreCatalog {
    pub(crate) fn new(store: Store, library: Option<Library>, pins: Arc<Pins>) -> Self {
        StoreCatalog {
            store,
            library,
            pins,
        }
    }
}

impl CatalogProvider for StoreCatalog {
    fn schema_names(&self) -> Vec<String> {
        match &self.library {
            Some(l) => vec![l.name().to_string()],
            None => off_runtime(|| self.store.list_libraries()).unwrap_or_default(),
        }
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let library = match &self.library {
            Some(l) if l.name() == name => l.clone(),
            Some(_) => return None,
            None => self.pins.library(&self.store, name).ok()?,
        };
        Some(Arc::new(LibrarySchema {
            library,
            pins: self.pins.clone(),
        }))
    }
}

/// A library as a DataFusion schema: its symbols are the tables.
#[derive(Debug)]
struct LibrarySchema {
    library: Library,
    pins: Arc<Pins>,
}

#[async_trait]
impl SchemaProvider for LibrarySchema {
    fn table_names(&self) -> Vec<String> {
        off_runtime(|| self.library.list_symbols(None)).unwrap_or_default()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        match self.pins.pin(&self.library, name, AsOf::Latest) {
            Ok(table) => Ok(Some(table)),
            Err(e) if e.kind() == ErrorKind::NoSuchSymbol => Ok(None),
            Err(e) => Err(to_datafusion(e)),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        off_runtime(|| self.library.has_symbol(name, &AsOf::Latest)).unwrap_or(false)
    }
}

/// One version of one symbol, as a table.
#[derive(Debug, Clone)]
pub(crate) struct PinnedTable {
    library: Library,
    symbol: String,
    version: u64,
    /// Whether this is the latest version (a bare name), which writes may replace.
    latest: bool,
    rows: u64,
    schema: SchemaRef,
    metadata: Option<Vec<u8>>,
    index: Option<String>,
}

impl PinnedTable {
    fn pin(library: &Library, symbol: &str, as_of: &AsOf) -> Result<PinnedTable> {
        let result = library.read(
            symbol,
            &ReadOptions {
                as_of: as_of.clone(),
                row_range: Some((Some(0), Some(0))),
                ..Default::default()
            },
        )?;
        // DataFusion compares schemas with their metadata; Sheaf's (pandas hints) stay out.
        let schema = result.reader.schema();
        let schema = Arc::new(Schema::new(schema.fields().clone()));
        Ok(PinnedTable {
            library: library.clone(),
            symbol: symbol.to_string(),
            version: result.info.version,
            latest: *as_of == AsOf::Latest,
            rows: result.info.rows,
            schema,
            metadata: result.metadata,
            index: result.info.index,
        })
    }

    fn refuse_write(&self, what: &str) -> DfResult<()> {
        if self.latest {
            return Ok(());
        }
        Err(to_datafusion(Error::invalid(format!(
            "{what} writes to the latest version of '{}': name it without a table function",
            self.symbol
        ))))
    }

    /// A plan over this table's rows (the rewrite of `UPDATE` and `DELETE`).
    fn rows_plan(self: &Arc<Self>) -> DfResult<LogicalPlanBuilder> {
        let source = provider_as_source(self.clone() as Arc<dyn TableProvider>);
        LogicalPlanBuilder::scan(self.symbol.as_str(), source, None)
    }

    fn rewrite_sink(
        self: &Arc<Self>,
        input: Arc<dyn ExecutionPlan>,
        kind: RewriteKind,
    ) -> Arc<dyn ExecutionPlan> {
        let sink = RewriteSink {
            table: self.clone(),
            kind,
            schema: input.schema(),
        };
        Arc::new(DataSinkExec::new(input, Arc::new(sink), None))
    }
}

/// `expr` with its columns unqualified: DataFusion hands filters and assignments qualified
/// by the name the statement used, and the rewrite plan scans under the symbol's own name.
fn unqualified(expr: Expr) -> DfResult<Expr> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    expr.transform(|e| {
        Ok(match e {
            Expr::Column(c) => Transformed::yes(Expr::Column(Column::from_name(c.name))),
            other => Transformed::no(other),
        })
    })
    .map(|t| t.data)
}

/// True exactly where all of `filters` are (a missing filter list: everywhere); null counts
/// as false, as SQL's WHERE does.
fn matched(filters: Vec<Expr>) -> DfResult<Expr> {
    let mut all = lit(true);
    for f in filters {
        all = all.and(unqualified(f)?);
    }
    Ok(datafusion::functions::core::expr_fn::coalesce(vec![
        all,
        lit(false),
    ]))
}

#[async_trait]
impl TableProvider for PinnedTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if translate(f, &self.schema).is_some() {
                    // DataFusion still applies the filter: Sheaf's (pandas) rules for
                    // missing values may keep a row SQL drops, never the other way round.
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let columns: Vec<usize> = match projection {
            Some(p) => p.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let projected = Arc::new(self.schema.project(&columns)?);
        let (pushed, shown): (Vec<Value>, Vec<String>) = filters
            .iter()
            .filter_map(|f| Some((translate(f, &self.schema)?, f.to_string())))
            .unzip();
        // A limit is a row range only when nothing filters the rows first.
        let limit = if filters.is_empty() { limit } else { None };
        Ok(Arc::new(SheafScanExec::new(
            self.library.clone(),
            self.symbol.clone(),
            self.version,
            projected,
            pushed,
            shown,
            limit,
        )))
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.refuse_write("INSERT")?;
        let sink = AppendSink {
            library: self.library.clone(),
            symbol: self.symbol.clone(),
            schema: self.schema.clone(),
            overwrite: matches!(insert_op, InsertOp::Overwrite | InsertOp::Replace),
            index: self.index.clone(),
        };
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }

    async fn delete_from(
        &self,
        state: &dyn Session,
        filters: Vec<Expr>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.refuse_write("DELETE")?;
        let this = self.pinned_arc();
        let keep = this.rows_plan()?.filter(!matched(filters)?)?.build()?;
        let input = state.create_physical_plan(&keep).await?;
        Ok(this.rewrite_sink(input, RewriteKind::Delete))
    }

    async fn update(
        &self,
        state: &dyn Session,
        assignments: Vec<(String, Expr)>,
        filters: Vec<Expr>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.refuse_write("UPDATE")?;
        let this = self.pinned_arc();
        let hit = matched(filters)?;
        let mut assigned: HashMap<String, Expr> = HashMap::new();
        for (name, value) in assignments {
            assigned.insert(name, unqualified(value)?);
        }
        let mut columns: Vec<Expr> = Vec::new();
        for field in self.schema.fields() {
            let name = field.name();
            let column = col(Column::from_name(name.clone()));
            columns.push(match assigned.remove(name) {
                Some(value) => when(
                    hit.clone(),
                    value.cast_to(field.data_type(), &this.df_schema()?)?,
                )
                .otherwise(column)?
                .alias(name),
                None => column,
            });
        }
        if let Some(unknown) = assigned.keys().next() {
            return Err(to_datafusion(Error::new(
                ErrorKind::Schema,
                format!("UPDATE: '{}' has no column '{unknown}'", self.symbol),
            )));
        }
        columns.push(hit.alias(CHANGED_COLUMN));
        let rewrite = this.rows_plan()?.project(columns)?.build()?;
        let input = state.create_physical_plan(&rewrite).await?;
        Ok(this.rewrite_sink(input, RewriteKind::Update))
    }
}

impl PinnedTable {
    /// A shared copy of this table for plans built from inside its own methods (which get
    /// `&self`): pinned tables are immutable, so a copy reads the same version.
    fn pinned_arc(&self) -> Arc<PinnedTable> {
        Arc::new(self.clone())
    }

    fn df_schema(&self) -> DfResult<datafusion::common::DFSchema> {
        datafusion::common::DFSchema::try_from(self.schema.as_ref().clone())
    }
}

// ------------------------------------------------------------------------------ pushdown

/// Whether Sheaf's filter on a column of this type keeps every row SQL's keeps. Floats are
/// left out: SQL orders NaN above every number, Sheaf's pandas rules never match NaN.
fn pushable_type(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Boolean
            | DataType::Timestamp(..)
    )
}

fn pushable_column(expr: &Expr, schema: &Schema) -> Option<String> {
    let Expr::Column(c) = expr else { return None };
    let field = schema.field_with_name(&c.name).ok()?;
    pushable_type(field.data_type()).then(|| c.name.clone())
}

/// A literal as a Sheaf plan literal.
fn literal(expr: &Expr) -> Option<Value> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    let ns = |v: i64, per: i64| v.checked_mul(per).map(|n| json!({ "ts": n }));
    match value {
        ScalarValue::Boolean(Some(b)) => Some(json!(b)),
        ScalarValue::Int8(Some(v)) => Some(json!(v)),
        ScalarValue::Int16(Some(v)) => Some(json!(v)),
        ScalarValue::Int32(Some(v)) => Some(json!(v)),
        ScalarValue::Int64(Some(v)) => Some(json!(v)),
        ScalarValue::UInt8(Some(v)) => Some(json!(v)),
        ScalarValue::UInt16(Some(v)) => Some(json!(v)),
        ScalarValue::UInt32(Some(v)) => Some(json!(v)),
        ScalarValue::UInt64(Some(v)) => Some(json!(v)),
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(json!(s)),
        ScalarValue::TimestampSecond(Some(v), _) => ns(*v, 1_000_000_000),
        ScalarValue::TimestampMillisecond(Some(v), _) => ns(*v, 1_000_000),
        ScalarValue::TimestampMicrosecond(Some(v), _) => ns(*v, 1_000),
        ScalarValue::TimestampNanosecond(Some(v), _) => ns(*v, 1),
        _ => None,
    }
}

fn comparison(op: Operator) -> Option<(&'static str, &'static str)> {
    // (the op, the op with its operands swapped)
    Some(match op {
        Operator::Eq => ("eq", "eq"),
        Operator::NotEq => ("ne", "ne"),
        Operator::Lt => ("lt", "gt"),
        Operator::LtEq => ("le", "ge"),
        Operator::Gt => ("gt", "lt"),
        Operator::GtEq => ("ge", "le"),
        _ => return None,
    })
}

fn column_json(name: &str) -> Value {
    json!({ "col": name })
}

/// A literal (as [`literal`] gives it) as an operand: timestamps are their own expression.
fn operand(value: Value) -> Value {
    if value.is_object() {
        value
    } else {
        json!({ "lit": value })
    }
}

/// A SQL filter as a Sheaf plan expression that keeps at least every row the SQL filter keeps
/// (so that DataFusion, re-checking, gets the exact answer), or `None` when there is none.
pub(crate) fn translate(expr: &Expr, schema: &Schema) -> Option<Value> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And | Operator::Or => {
                let name = if *op == Operator::And { "and" } else { "or" };
                Some(
                    json!({"op": name, "args": [translate(left, schema)?, translate(right, schema)?]}),
                )
            }
            _ => {
                let (direct, swapped) = comparison(*op)?;
                if let (Some(c), Some(v)) = (pushable_column(left, schema), literal(right)) {
                    Some(json!({"op": direct, "args": [column_json(&c), operand(v)]}))
                } else if let (Some(v), Some(c)) = (literal(left), pushable_column(right, schema)) {
                    Some(json!({"op": swapped, "args": [column_json(&c), operand(v)]}))
                } else {
                    None
                }
            }
        },
        Expr::Between(b) if !b.negated => {
            let c = pushable_column(&b.expr, schema)?;
            let (low, high) = (literal(&b.low)?, literal(&b.high)?);
            Some(json!({"op": "and", "args": [
                {"op": "ge", "args": [column_json(&c), operand(low)]},
                {"op": "le", "args": [column_json(&c), operand(high)]},
            ]}))
        }
        Expr::InList(l) if !l.negated => {
            let c = pushable_column(&l.expr, schema)?;
            let values: Option<Vec<Value>> = l.list.iter().map(literal).collect();
            Some(json!({"op": "isin", "args": [column_json(&c)], "values": values?}))
        }
        Expr::IsNull(inner) => {
            let c = pushable_column(inner, schema)?;
            Some(json!({"op": "isnull", "args": [column_json(&c)]}))
        }
        Expr::IsNotNull(inner) => {
            let c = pushable_column(inner, schema)?;
            Some(json!({"op": "notnull", "args": [column_json(&c)]}))
        }
        Expr::Column(_) => {
            let c = pushable_column(expr, schema)?;
            (schema.field_with_name(&c).ok()?.data_type() == &DataType::Boolean)
                .then(|| column_json(&c))
        }
        _ => None,
    }
}

// ------------------------------------------------------------------------------ the scan

/// Reads one pinned version of a symbol: only the projected columns, the pushed filters as a
/// Sheaf query (segments their statistics rule out are skipped), a limit as a row range.
#[derive(Debug)]
pub(crate) struct SheafScanExec {
    library: Library,
    symbol: String,
    version: u64,
    schema: SchemaRef,
    filters: Vec<Value>,
    shown_filters: Vec<String>,
    limit: Option<usize>,
    properties: Arc<PlanProperties>,
}

impl SheafScanExec {
    fn new(
        library: Library,
        symbol: String,
        version: u64,
        schema: SchemaRef,
        filters: Vec<Value>,
        shown_filters: Vec<String>,
        limit: Option<usize>,
    ) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        SheafScanExec {
            library,
            symbol,
            version,
            schema,
            filters,
            shown_filters,
            limit,
            properties,
        }
    }

    fn read_options(&self) -> Result<ReadOptions> {
        let mut options = ReadOptions::as_of(AsOf::Version(self.version as i64));
        // The stored columns to load; with none projected (COUNT(*)), the index or the first
        // column carries the row count.
        let names: Vec<String> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        options.columns = Some(names);
        if !self.filters.is_empty() {
            let all = self
                .filters
                .iter()
                .cloned()
                .reduce(|a, b| json!({"op": "and", "args": [a, b]}))
                .unwrap_or(Value::Null);
            options.query = Some(crate::query::Query::from_json(&json!([{ "filter": all }]))?);
        }
        if let Some(n) = self.limit {
            options.row_range = Some((Some(0), Some(n as i64)));
        }
        Ok(options)
    }
}

impl DisplayAs for SheafScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let columns: Vec<&str> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        write!(
            f,
            "SheafScan: {}.{} version={} columns=[{}]",
            self.library.name(),
            self.symbol,
            self.version,
            columns.join(", ")
        )?;
        if !self.shown_filters.is_empty() {
            write!(f, " pushed_filters=[{}]", self.shown_filters.join(", "))?;
        }
        if let Some(n) = self.limit {
            write!(f, " limit={n}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for SheafScanExec {
    fn name(&self) -> &str {
        "SheafScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let options = self.read_options().map_err(to_datafusion)?;
        let library = self.library.clone();
        let symbol = self.symbol.clone();
        let schema = self.schema.clone();
        let (mut sender, receiver) = futures::channel::mpsc::channel::<DfResult<RecordBatch>>(2);
        // Sheaf's reads block (on LMDB, or on object storage's own runtime): they run on a
        // thread of their own and hand batches over; a dropped stream stops the thread.
        let stream_schema = schema.clone();
        std::thread::Builder::new()
            .name("sheaf-sql-scan".into())
            .spawn(move || {
                let send = |sender: &mut futures::channel::mpsc::Sender<_>, item| {
                    futures::executor::block_on(sender.send(item)).is_ok()
                };
                let result = match library.read(&symbol, &options) {
                    Ok(r) => r,
                    Err(e) => {
                        send(&mut sender, Err(to_datafusion(e)));
                        return;
                    }
                };
                for batch in result.reader {
                    let item = batch
                        .map_err(|e| match super::error_from_arrow(&e) {
                            Some(sheaf) => to_datafusion(sheaf),
                            None => DataFusionError::ArrowError(Box::new(e), None),
                        })
                        .and_then(|b| project(&b, &stream_schema));
                    let failed = item.is_err();
                    if !send(&mut sender, item) || failed {
                        return;
                    }
                }
            })
            .map_err(|e| DataFusionError::Execution(format!("cannot start a scan thread: {e}")))?;
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, receiver)))
    }
}

/// The columns of `schema` out of a read batch (which also carries the index), with the
/// batch's row count when no column is projected.
fn project(batch: &RecordBatch, schema: &SchemaRef) -> DfResult<RecordBatch> {
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| {
            batch.column_by_name(f.name()).cloned().ok_or_else(|| {
                DataFusionError::Internal(format!("the read did not return column {}", f.name()))
            })
        })
        .collect::<DfResult<_>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &options,
    )?)
}

// ------------------------------------------------------------------------------ writes

/// A stream of batches already in memory.
pub(crate) fn batches_stream(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> SendableRecordBatchStream {
    Box::pin(RecordBatchStreamAdapter::new(
        schema,
        futures::stream::iter(batches.into_iter().map(Ok)),
    ))
}

/// The one-row result of a write: `count`, the rows affected.
fn count_batch(count: u64) -> SendableRecordBatchStream {
    let schema = Arc::new(Schema::new(vec![arrow_schema::Field::new(
        "count",
        DataType::UInt64,
        false,
    )]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(UInt64Array::from(vec![count])) as ArrayRef],
    )
    .expect("one u64 column matches its schema");
    batches_stream(schema, vec![batch])
}

/// Batches of an async stream as a blocking `RecordBatchReader`, for Sheaf's write calls (run
/// on a plain thread while the stream is pumped in).
struct ChannelReader {
    schema: SchemaRef,
    receiver: futures::channel::mpsc::Receiver<DfResult<RecordBatch>>,
    /// Turns each batch into what is written (an `UPDATE` drops its marker column).
    map: BatchMap,
}

impl Iterator for ChannelReader {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = futures::executor::block_on(self.receiver.next())?;
        Some(
            item.map_err(|e| ArrowError::ExternalError(Box::new(from_datafusion(e))))
                .and_then(&mut self.map),
        )
    }
}

impl arrow_array::RecordBatchReader for ChannelReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// Runs `commit` on a plain thread with a reader of `data`'s batches, pumping them across.
async fn commit_stream<T: Send + 'static>(
    mut data: SendableRecordBatchStream,
    schema: SchemaRef,
    map: BatchMap,
    commit: impl FnOnce(&mut ChannelReader) -> Result<T> + Send + 'static,
) -> DfResult<T> {
    let (mut sender, receiver) = futures::channel::mpsc::channel(2);
    let (done, outcome) = futures::channel::oneshot::channel();
    std::thread::Builder::new()
        .name("sheaf-sql-write".into())
        .spawn(move || {
            let mut reader = ChannelReader {
                schema,
                receiver,
                map,
            };
            let result = commit(&mut reader);
            let _ = done.send(result);
        })
        .map_err(|e| DataFusionError::Execution(format!("cannot start a write thread: {e}")))?;
    while let Some(batch) = data.next().await {
        if sender.send(batch).await.is_err() {
            break; // the write ended early (it failed): its outcome says why
        }
    }
    drop(sender);
    match outcome.await {
        Ok(result) => result.map_err(to_datafusion),
        Err(_) => Err(DataFusionError::Internal(
            "the write thread ended without an outcome".into(),
        )),
    }
}

/// `INSERT INTO`: an append (`INSERT OVERWRITE`: a write).
#[derive(Debug)]
struct AppendSink {
    library: Library,
    symbol: String,
    schema: SchemaRef,
    overwrite: bool,
    index: Option<String>,
}

impl DisplayAs for AppendSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let how = if self.overwrite { "write" } else { "append" };
        write!(
            f,
            "SheafSink: {how} {}.{}",
            self.library.name(),
            self.symbol
        )
    }
}

/// The row count a write stream delivered (counted as it passes).
fn counting(rows: Arc<std::sync::atomic::AtomicU64>) -> BatchMap {
    Box::new(move |b: RecordBatch| {
        rows.fetch_add(b.num_rows() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(b)
    })
}

#[async_trait]
impl DataSink for AppendSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> DfResult<u64> {
        let rows = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let library = self.library.clone();
        let symbol = self.symbol.clone();
        let overwrite = self.overwrite;
        let index = self.index.clone();
        let schema = data.schema();
        commit_stream(data, schema, counting(rows.clone()), move |reader| {
            if overwrite {
                let options = WriteOptions {
                    index,
                    ..Default::default()
                };
                library.write(&symbol, reader, None, &options)
            } else {
                library.append(&symbol, reader, None, &WriteOptions::default())
            }
        })
        .await?;
        Ok(rows.load(std::sync::atomic::Ordering::Relaxed))
    }
}

#[derive(Debug, Clone, Copy)]
enum RewriteKind {
    Delete,
    Update,
}

/// `DELETE` and `UPDATE`: the rewritten rows become the next version, committed only if the
/// version they were computed from is still the latest.
#[derive(Debug)]
struct RewriteSink {
    table: Arc<PinnedTable>,
    kind: RewriteKind,
    schema: SchemaRef,
}

impl DisplayAs for RewriteSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let what = match self.kind {
            RewriteKind::Delete => "delete",
            RewriteKind::Update => "update",
        };
        write!(
            f,
            "SheafSink: {what} in {}.{} based_on=v{}",
            self.table.library.name(),
            self.table.symbol,
            self.table.version
        )
    }
}

#[async_trait]
impl DataSink for RewriteSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> DfResult<u64> {
        let table = self.table.clone();
        let written = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let changed = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let map: BatchMap = match self.kind {
            RewriteKind::Delete => counting(written.clone()),
            RewriteKind::Update => {
                let changed = changed.clone();
                let schema = table.schema.clone();
                Box::new(move |b: RecordBatch| {
                    let marker = b.num_columns() - 1;
                    let hits = b
                        .column(marker)
                        .as_any()
                        .downcast_ref::<BooleanArray>()
                        .map_or(0, |m| m.true_count());
                    changed.fetch_add(hits as u64, std::sync::atomic::Ordering::Relaxed);
                    let mut columns = b.columns().to_vec();
                    columns.truncate(marker);
                    RecordBatch::try_new(schema.clone(), columns)
                })
            }
        };
        let schema = self.table.schema.clone();
        let writing = table.clone();
        commit_stream(data, schema, map, move |reader| {
            let options = WriteOptions {
                index: writing.index.clone(),
                ..Default::default()
            };
            writing.library.write_if_latest(
                &writing.symbol,
                Some(writing.version),
                reader,
                writing.metadata.clone(),
                &options,
            )
        })
        .await?;
        Ok(match self.kind {
            RewriteKind::Delete => table
                .rows
                .saturating_sub(written.load(std::sync::atomic::Ordering::Relaxed)),
            RewriteKind::Update => changed.load(std::sync::atomic::Ordering::Relaxed),
        })
    }
}

/// `CREATE TABLE sym AS SELECT …`: a write of the query's rows to a symbol that has no live
/// version (`OR REPLACE`: a new version of any symbol; `IF NOT EXISTS`: nothing when it has).
pub(crate) async fn create_table_as(
    context: &SessionContext,
    create: CreateMemoryTable,
    library: Option<&Library>,
    pins: &Pins,
    store: &Store,
) -> Result<SendableRecordBatchStream> {
    let (library, symbol) = match (create.name.schema(), library) {
        (None, Some(l)) => (l.clone(), create.name.table().to_string()),
        (Some(schema), Some(l)) if schema == l.name() => {
            (l.clone(), create.name.table().to_string())
        }
        (Some(schema), None) => (
            pins.library(store, schema)?,
            create.name.table().to_string(),
        ),
        _ => {
            return Err(Error::invalid(format!(
                "CREATE TABLE {}: name a symbol of this library (or, store-wide, library.symbol)",
                create.name
            )))
        }
    };
    let exists = off_runtime(|| library.has_symbol(&symbol, &AsOf::Latest))?;
    if exists && create.if_not_exists && !create.or_replace {
        return Ok(count_batch(0));
    }
    if exists && !create.or_replace {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "CREATE TABLE: '{symbol}' already exists in library '{}' (CREATE OR REPLACE \
                 TABLE writes a new version of it)",
                library.name()
            ),
        ));
    }
    let frame = context
        .execute_logical_plan(create.input.as_ref().clone())
        .await
        .map_err(from_datafusion)?;
    let data = frame.execute_stream().await.map_err(from_datafusion)?;
    let schema = Arc::new(Schema::new(data.schema().fields().clone()));
    let rows = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let replace = create.or_replace;
    let plain = schema.clone();
    let map = {
        let rows = rows.clone();
        Box::new(move |b: RecordBatch| {
            rows.fetch_add(b.num_rows() as u64, std::sync::atomic::Ordering::Relaxed);
            RecordBatch::try_new(plain.clone(), b.columns().to_vec())
        })
    };
    commit_stream(data, schema, map, move |reader| {
        if replace {
            library.write(&symbol, reader, None, &WriteOptions::default())
        } else {
            library.write_if_latest(&symbol, None, reader, None, &WriteOptions::default())
        }
    })
    .await
    .map_err(from_datafusion)?;
    Ok(count_batch(rows.load(std::sync::atomic::Ordering::Relaxed)))
}
