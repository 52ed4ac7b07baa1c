//! SQL over a library's symbols (or a whole store's): Apache DataFusion plans and runs the
//! query; Sheaf supplies the tables ([`provider`]), the time-travel table functions
//! ([`functions`]) and the writes.
//!
//! - **One consistent version per table.** Each table a query names is pinned to one version
//!   when the query is planned (a bare name: the latest; `at_version`, `at_snapshot`,
//!   `at_time`: the one asked for); every scan of it reads that version, whatever commits
//!   meanwhile.
//! - **Pushdown.** A scan reads only the projected columns; comparisons, `IN`, `BETWEEN` and
//!   null tests on integer, string, bool and timestamp columns go to Sheaf's read planning as
//!   a filter (segments whose statistics rule them out are not loaded), still re-checked by
//!   DataFusion (float columns are not pushed: SQL orders NaN above every number, Sheaf's
//!   pandas rules never match it); a limit without filters becomes a row range. `EXPLAIN`
//!   shows what each scan received.
//! - **Writes are commits.** `INSERT INTO` is an append; `CREATE TABLE … AS` a write (refused
//!   when the symbol exists, unless `OR REPLACE`); `DELETE` and `UPDATE` compute the new rows
//!   from the pinned version and commit them only if that version is still the latest, else
//!   the statement runs again on the new one (up to `commit.max_retries` times): no update is
//!   lost. Each returns one row, `count`, the rows affected.
//! - **Parameters** `$1, $2, …` are bound from a JSON list, never spliced into the text.
//! - **Cancellation**: a [`Cancel`] handed to [`run`] stops the query from any thread; the
//!   reader then fails with `Cancelled`.

pub(crate) mod functions;
pub(crate) mod provider;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, SchemaRef};
use datafusion::common::{DataFusionError, ParamValues, ScalarValue};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use futures::StreamExt;
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::store::{Library, Store};
use provider::{Pins, StoreCatalog};

/// The catalog name Sheaf's tables live under (`sheaf.<library>.<symbol>`).
pub const CATALOG: &str = "sheaf";

/// DataFusion's executor: a runtime of its own, apart from object storage's, so a query
/// blocked on storage never starves the storage client it waits for.
fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> =
        OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(
                    std::thread::available_parallelism()
                        .map_or(2, |n| n.get())
                        .clamp(2, 16),
                )
                .thread_name("sheaf-sql")
                .enable_time()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::new(ErrorKind::Io, "the SQL runtime cannot start").caused_by(e))
}

/// Runs `work` on a plain thread and waits for it: Sheaf's storage calls may block on their
/// own runtime, which a thread of the SQL runtime must not do.
pub(crate) fn off_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return work();
    }
    std::thread::scope(|scope| match scope.spawn(work).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Stops a running query from any thread. Cloning shares the flag.
#[derive(Debug, Clone, Default)]
pub struct Cancel {
    flag: Arc<AtomicBool>,
}

impl Cancel {
    pub fn new() -> Self {
        Cancel::default()
    }

    /// Asks the query to stop; the next batch it would deliver is an error instead.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            return Err(Error::new(ErrorKind::Cancelled, "the query was cancelled"));
        }
        Ok(())
    }

    /// Waits for `work`, giving up when cancelled (checked every few milliseconds: the flag
    /// is set from threads that cannot wake a future).
    fn block_on<T>(&self, work: impl std::future::Future<Output = T>) -> Result<T> {
        let cancel = self.clone();
        let watched = async move {
            let stop = async {
                while !cancel.is_cancelled() {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            };
            futures::pin_mut!(work);
            futures::pin_mut!(stop);
            match futures::future::select(work, stop).await {
                futures::future::Either::Left((value, _)) => Some(value),
                futures::future::Either::Right(_) => None,
            }
        };
        self.check()?;
        match runtime()?.block_on(watched) {
            Some(value) => Ok(value),
            None => self
                .check()
                .map(|_| unreachable!("stopped only when cancelled")),
        }
    }
}

/// A Sheaf error from a DataFusion one: Sheaf's own errors (raised by a scan or a write) keep
/// their kind; parse errors and planning errors (unknown table, function, type mismatch) are
/// `InvalidArgument`; unknown or ambiguous columns are `Schema`; DataFusion's message, with the
/// position it reports, is kept.
pub(crate) fn from_datafusion(e: DataFusionError) -> Error {
    if let Some(sheaf) = sheaf_error_inside(&e) {
        return sheaf;
    }
    let kind = match e.find_root() {
        DataFusionError::SQL(..) | DataFusionError::Plan(_) | DataFusionError::Configuration(_) => {
            ErrorKind::InvalidArgument
        }
        DataFusionError::SchemaError(..) => ErrorKind::Schema,
        DataFusionError::NotImplemented(_) => ErrorKind::Unsupported,
        DataFusionError::ArrowError(inner, _) => match inner.as_ref() {
            ArrowError::CastError(_)
            | ArrowError::InvalidArgumentError(_)
            | ArrowError::ParseError(_)
            | ArrowError::DivideByZero
            | ArrowError::ArithmeticOverflow(_)
            | ArrowError::ComputeError(_) => ErrorKind::InvalidArgument,
            ArrowError::SchemaError(_) => ErrorKind::Schema,
            _ => ErrorKind::Generic,
        },
        DataFusionError::Internal(_) => ErrorKind::Internal,
        _ => ErrorKind::Generic,
    };
    let message = e.to_string();
    let message = message
        .strip_prefix("Error during planning: ")
        .unwrap_or(&message)
        .to_string();
    Error::new(kind, format!("SQL: {message}"))
}

/// The Sheaf error a DataFusion error carries (a scan's or a write's), if any.
fn sheaf_error_inside(e: &DataFusionError) -> Option<Error> {
    match e {
        DataFusionError::External(inner) => inner.downcast_ref::<Error>().cloned(),
        DataFusionError::ArrowError(inner, _) => error_from_arrow(inner),
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            sheaf_error_inside(inner)
        }
        DataFusionError::Shared(inner) => sheaf_error_inside(inner),
        DataFusionError::Collection(all) => all.iter().find_map(sheaf_error_inside),
        _ => None,
    }
}

fn error_from_arrow(e: &ArrowError) -> Option<Error> {
    match e {
        ArrowError::ExternalError(inner) => inner.downcast_ref::<Error>().cloned().or_else(|| {
            inner
                .downcast_ref::<DataFusionError>()
                .map(from_datafusion_ref)
        }),
        _ => None,
    }
}

fn from_datafusion_ref(e: &DataFusionError) -> Error {
    sheaf_error_inside(e).unwrap_or_else(|| Error::new(ErrorKind::Generic, format!("SQL: {e}")))
}

/// A Sheaf error as the DataFusion error a provider returns.
pub(crate) fn to_datafusion(e: Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// Values bound to `$1, $2, …`, in order.
pub type Params = Vec<ScalarValue>;

/// The positional parameters: a JSON list of `null`, booleans, numbers, strings (compared
/// with a timestamp column, a string is cast to it: ISO 8601 text), or
/// `{"timestamp_ns": N}` (a timestamp without time zone, read as UTC).
pub fn parse_params(text: &str) -> Result<Params> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Error::new(ErrorKind::InvalidJson, "invalid SQL parameters").caused_by(e))?;
    let Value::Array(items) = value else {
        return Err(Error::invalid(
            "SQL parameters are a JSON list (bound to $1, $2, … in order)",
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            Ok(match item {
                Value::Null => ScalarValue::Null,
                Value::Bool(b) => ScalarValue::Boolean(Some(*b)),
                Value::Number(n) => {
                    if let Some(i) = n.as_i64() {
                        ScalarValue::Int64(Some(i))
                    } else if let Some(u) = n.as_u64() {
                        ScalarValue::UInt64(Some(u))
                    } else {
                        ScalarValue::Float64(n.as_f64())
                    }
                }
                Value::String(s) => ScalarValue::Utf8(Some(s.clone())),
                Value::Object(map) if map.len() == 1 && map.contains_key("timestamp_ns") => {
                    let ns = map["timestamp_ns"].as_i64().ok_or_else(|| {
                        Error::invalid(format!("SQL parameter ${}: timestamp_ns is an i64", i + 1))
                    })?;
                    ScalarValue::TimestampNanosecond(Some(ns), None)
                }
                other => {
                    return Err(Error::invalid(format!(
                        "SQL parameter ${} is {other}: parameters are null, bools, numbers, \
                         strings or {{\"timestamp_ns\": N}}",
                        i + 1
                    )))
                }
            })
        })
        .collect()
}

/// What a statement does, read from its syntax before planning: DML runs on one thread so that
/// rows keep their order on the way to the commit (a parallel plan interleaves partitions).
fn is_write(statement: &DfStatement) -> bool {
    match statement {
        DfStatement::Statement(s) => matches!(
            s.as_ref(),
            SqlStatement::Insert(_)
                | SqlStatement::Delete(_)
                | SqlStatement::Update { .. }
                | SqlStatement::CreateTable(_)
        ),
        _ => false,
    }
}

fn parse_one(query: &str) -> Result<DfStatement> {
    let mut statements: VecDeque<DfStatement> =
        DFParser::parse_sql(query).map_err(from_datafusion)?;
    match (statements.pop_front(), statements.is_empty()) {
        (Some(one), true) => Ok(one),
        (None, _) => Err(Error::invalid("SQL: the query is empty")),
        (Some(_), false) => Err(Error::invalid(
            "SQL: one statement per call (the query holds several)",
        )),
    }
}

/// What one statement runs in: a fresh DataFusion session whose catalog is the store (or one
/// library), and the tables the statement has pinned.
struct Statement<'a> {
    context: SessionContext,
    pins: Arc<Pins>,
    store: &'a Store,
    library: Option<&'a Library>,
}

impl<'a> Statement<'a> {
    fn new(store: &'a Store, library: Option<&'a Library>, write: bool) -> Self {
        let default_schema = library.map_or("public", |l| l.name());
        let mut config = SessionConfig::new()
            .with_default_catalog_and_schema(CATALOG, default_schema)
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(true)
            // Symbol and library names are case-sensitive, as in the rest of the API.
            .set_bool("datafusion.sql_parser.enable_ident_normalization", false);
        if write {
            config = config.with_target_partitions(1);
        }
        let context = SessionContext::new_with_config(config);
        let pins = Arc::new(Pins::default());
        context.register_catalog(
            CATALOG,
            Arc::new(StoreCatalog::new(
                store.clone(),
                library.cloned(),
                pins.clone(),
            )),
        );
        functions::register(&context, store, library, &pins);
        Statement {
            context,
            pins,
            store,
            library,
        }
    }
}

/// Runs one SQL statement. `library` sets the default schema (tables are its symbols, by bare
/// name); without it, tables are named `library.symbol`. A query's rows stream from the
/// reader; a write returns one row with its `count`.
pub fn run(
    store: &Store,
    library: Option<&Library>,
    query: &str,
    params: Vec<ScalarValue>,
    cancel: Cancel,
) -> Result<SqlReader> {
    match library {
        Some(l) => l.ensure_open()?,
        None => store.storage().map(|_| ())?,
    }
    let write = is_write(&parse_one(query)?);
    let mut attempt = 0u64;
    loop {
        let statement = Statement::new(store, library, write);
        let outcome = cancel.block_on(start(&statement, query, params.clone(), write))?;
        match outcome {
            Err(e)
                if write
                    && e.kind() == ErrorKind::Conflict
                    && e.message().contains(crate::table::CHANGED_SINCE_READ)
                    && attempt < crate::config::max_commit_retries() =>
            {
                attempt += 1;
                continue;
            }
            Err(e) => return Err(e),
            Ok(stream) => return Ok(SqlReader { stream, cancel }),
        }
    }
}

/// Plans the statement and starts it: a query's stream is lazy; a write has run to its commit
/// (its one-row result is in memory) when this returns.
async fn start(
    statement: &Statement<'_>,
    query: &str,
    params: Vec<ScalarValue>,
    write: bool,
) -> Result<SendableRecordBatchStream> {
    let context = &statement.context;
    let state = context.state();
    let plan = state
        .create_logical_plan(query)
        .await
        .map_err(from_datafusion)?;
    let plan = plan
        .with_param_values(ParamValues::from(params))
        .map_err(from_datafusion)?;
    let plan =
        match plan {
            LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create)) => {
                return provider::create_table_as(
                    context,
                    create,
                    statement.library,
                    &statement.pins,
                    statement.store,
                )
                .await;
            }
            LogicalPlan::Ddl(other) => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                    "SQL: {} is not supported (symbols are made by CREATE TABLE … AS SELECT or \
                     the write API, removed by the delete API)",
                    other.name()
                ),
                ))
            }
            LogicalPlan::Statement(_) | LogicalPlan::Copy(_) => return Err(Error::new(
                ErrorKind::Unsupported,
                "SQL: only queries and INSERT / UPDATE / DELETE / CREATE TABLE … AS are supported",
            )),
            plan => plan,
        };
    let frame = context
        .execute_logical_plan(plan)
        .await
        .map_err(from_datafusion)?;
    let stream = frame.execute_stream().await.map_err(from_datafusion)?;
    if !write {
        return Ok(stream);
    }
    // A write runs now, so that a lost race can re-run the statement before any result is
    // handed out.
    let schema = stream.schema();
    let batches: Vec<RecordBatch> = stream
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<std::result::Result<_, _>>()
        .map_err(from_datafusion)?;
    Ok(provider::batches_stream(schema, batches))
}

/// The rows of a statement, batch by batch (a write: one row, `count`).
pub struct SqlReader {
    stream: SendableRecordBatchStream,
    cancel: Cancel,
}

impl std::fmt::Debug for SqlReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlReader")
            .field("schema", &self.stream.schema())
            .finish()
    }
}

impl Iterator for SqlReader {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = match self.cancel.block_on(self.stream.next()) {
            Ok(next) => next?,
            Err(e) => return Some(Err(ArrowError::ExternalError(Box::new(e)))),
        };
        Some(next.map_err(|e| ArrowError::ExternalError(Box::new(from_datafusion(e)))))
    }
}

impl RecordBatchReader for SqlReader {
    fn schema(&self) -> SchemaRef {
        self.stream.schema()
    }
}

impl Library {
    /// Runs `query` over this library's symbols (see [`run`]).
    pub fn sql(&self, query: &str, params: Vec<ScalarValue>, cancel: Cancel) -> Result<SqlReader> {
        run(self.store(), Some(self), query, params, cancel)
    }
}

impl Store {
    /// Runs `query` over every library of the store; tables are `library.symbol`.
    pub fn sql(&self, query: &str, params: Vec<ScalarValue>, cancel: Cancel) -> Result<SqlReader> {
        run(self, None, query, params, cancel)
    }
}
