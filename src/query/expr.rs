//! Expressions of a query plan: parsing from JSON, and evaluation over a record batch with
//! Arrow compute kernels.
//!
//! Missing values follow pandas, not SQL: a comparison with a missing operand (null, or NaN in
//! a float column) is false (`ne`: true), so boolean logic stays two-valued and `~(a > 1)`
//! keeps the rows where `a` is missing, as `~(df.a > 1)` does. Literals take the type of the
//! column they meet when they fit (numpy's rule for Python scalars).

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int64Type, TimestampNanosecondType, UInt64Type,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Datum, Float64Array, Int64Array, LargeStringArray, RecordBatch,
    Scalar, StringArray, StringViewArray, TimestampMicrosecondArray, TimestampMillisecondArray,
    TimestampNanosecondArray, TimestampSecondArray, UInt64Array,
};
use arrow_buffer::{BooleanBuffer, NullBuffer};
use arrow_schema::{DataType, TimeUnit};
use serde_json::Value as Json;

use crate::error::{Error, ErrorKind, Result};

/// A literal value of a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Bool(bool),
    /// Nanoseconds since the epoch, UTC.
    Ts(i64),
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Xor,
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
    Abs,
    IsNull,
    NotNull,
}

/// String predicates with a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringOp {
    Regex,
    StartsWith,
    EndsWith,
    Contains,
}

/// An expression tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Column(String),
    Literal(Lit),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    IsIn {
        expr: Box<Expr>,
        values: Vec<Lit>,
        negated: bool,
    },
    Match {
        op: StringOp,
        expr: Box<Expr>,
        pattern: String,
    },
    Where(Box<Expr>, Box<Expr>, Box<Expr>),
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}

fn schema_error(message: String) -> Error {
    Error::new(ErrorKind::Schema, message)
}

fn arrow_error(what: &str) -> impl FnOnce(arrow_schema::ArrowError) -> Error + '_ {
    move |e| Error::new(ErrorKind::Schema, format!("{what} failed")).caused_by(e)
}

impl Lit {
    /// Parses a JSON literal (a number, string or bool; `{"ts": N}` when `allow_ts`).
    pub fn from_json(v: &Json) -> Result<Lit> {
        match v {
            Json::Bool(b) => Ok(Lit::Bool(*b)),
            Json::String(s) => Ok(Lit::Str(s.clone())),
            Json::Number(n) => Ok(if let Some(i) = n.as_i64() {
                Lit::Int(i)
            } else if let Some(u) = n.as_u64() {
                Lit::UInt(u)
            } else {
                Lit::Float(n.as_f64().unwrap_or(f64::NAN))
            }),
            Json::Object(map) if map.len() == 1 && map.contains_key("ts") => map["ts"]
                .as_i64()
                .map(Lit::Ts)
                .ok_or_else(|| invalid("a {\"ts\": N} literal needs an i64 of nanoseconds".into())),
            Json::Null => Err(invalid(
                "a null literal cannot be compared or computed with; use isnull / notnull".into(),
            )),
            other => Err(invalid(format!(
                "a literal is a number, a string, a bool or {{\"ts\": N}}, not {other}"
            ))),
        }
    }

    fn describe(&self) -> String {
        match self {
            Lit::Int(v) => v.to_string(),
            Lit::UInt(v) => v.to_string(),
            Lit::Float(v) => v.to_string(),
            Lit::Str(s) => format!("{s:?}"),
            Lit::Bool(b) => b.to_string(),
            Lit::Ts(ns) => format!("timestamp {ns} ns"),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Lit::Int(_) | Lit::UInt(_) | Lit::Float(_) => "a number",
            Lit::Str(_) => "a string",
            Lit::Bool(_) => "a bool",
            Lit::Ts(_) => "a timestamp",
        }
    }
}

/// The plan's name of each binary operator (parsing and error messages use this one table).
const BINARY_OPS: [(&str, BinaryOp); 14] = [
    ("eq", BinaryOp::Eq),
    ("ne", BinaryOp::Ne),
    ("lt", BinaryOp::Lt),
    ("le", BinaryOp::Le),
    ("gt", BinaryOp::Gt),
    ("ge", BinaryOp::Ge),
    ("and", BinaryOp::And),
    ("or", BinaryOp::Or),
    ("xor", BinaryOp::Xor),
    ("add", BinaryOp::Add),
    ("sub", BinaryOp::Sub),
    ("mul", BinaryOp::Mul),
    ("div", BinaryOp::Div),
    ("pow", BinaryOp::Pow),
];

fn op_name(op: BinaryOp) -> &'static str {
    BINARY_OPS
        .iter()
        .find(|(_, o)| *o == op)
        .map_or("?", |(name, _)| name)
}

fn unary_name(op: UnaryOp) -> &'static str {
    match op {
        UnaryOp::Not => "not",
        UnaryOp::Neg => "neg",
        UnaryOp::Abs => "abs",
        UnaryOp::IsNull => "isnull",
        UnaryOp::NotNull => "notnull",
    }
}

fn string_op_name(op: StringOp) -> &'static str {
    match op {
        StringOp::Regex => "regex_match",
        StringOp::StartsWith => "startswith",
        StringOp::EndsWith => "endswith",
        StringOp::Contains => "contains",
    }
}

impl Expr {
    /// Parses the JSON form documented in `docs/query-plan.md`.
    pub fn from_json(v: &Json) -> Result<Expr> {
        let Json::Object(map) = v else {
            return Err(invalid(format!(
                "an expression is an object ({{\"col\"}}, {{\"lit\"}}, {{\"ts\"}} or {{\"op\"}}), not {v}"
            )));
        };
        if let Some(name) = map.get("col") {
            let name = name.as_str().ok_or_else(|| {
                invalid(format!("{{\"col\": …}} takes a column name, not {name}"))
            })?;
            if map.len() != 1 {
                return Err(invalid(format!("unexpected keys next to \"col\" in {v}")));
            }
            return Ok(Expr::Column(name.to_string()));
        }
        if let Some(value) = map.get("lit") {
            if map.len() != 1 {
                return Err(invalid(format!("unexpected keys next to \"lit\" in {v}")));
            }
            if value.is_object() {
                return Err(invalid(format!(
                    "a {{\"lit\": …}} is a number, a string or a bool, not {value}"
                )));
            }
            return Ok(Expr::Literal(Lit::from_json(value)?));
        }
        if map.contains_key("ts") {
            return Ok(Expr::Literal(Lit::from_json(v)?));
        }
        let op = map.get("op").and_then(Json::as_str).ok_or_else(|| {
            invalid(format!(
                "an expression needs \"col\", \"lit\", \"ts\" or \"op\": {v}"
            ))
        })?;
        let args: Vec<Expr> = match map.get("args") {
            Some(Json::Array(items)) => items.iter().map(Expr::from_json).collect::<Result<_>>()?,
            Some(other) => {
                return Err(invalid(format!(
                    "\"args\" of '{op}' must be an array, not {other}"
                )))
            }
            None => Vec::new(),
        };
        let allowed: &[&str] = match op {
            "isin" | "isnotin" => &["op", "args", "values"],
            "regex_match" | "startswith" | "endswith" | "contains" => &["op", "args", "pattern"],
            _ => &["op", "args"],
        };
        if let Some(extra) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(invalid(format!(
                "unexpected key \"{extra}\" in operator '{op}'"
            )));
        }
        let argc = args.len();
        let arity = |n: usize| -> Result<()> {
            if argc == n {
                Ok(())
            } else {
                Err(invalid(format!(
                    "operator '{op}' takes {n} argument(s), got {argc}"
                )))
            }
        };
        let mut args = args.into_iter();
        let mut next = || Box::new(args.next().unwrap_or(Expr::Literal(Lit::Bool(false))));
        let bin = BINARY_OPS
            .iter()
            .find(|(name, _)| *name == op)
            .map(|(_, b)| *b);
        if let Some(b) = bin {
            arity(2)?;
            let l = next();
            let r = next();
            return Ok(Expr::Binary(b, l, r));
        }
        let unary = match op {
            "not" => Some(UnaryOp::Not),
            "neg" => Some(UnaryOp::Neg),
            "abs" => Some(UnaryOp::Abs),
            "isnull" => Some(UnaryOp::IsNull),
            "notnull" => Some(UnaryOp::NotNull),
            _ => None,
        };
        if let Some(u) = unary {
            arity(1)?;
            return Ok(Expr::Unary(u, next()));
        }
        match op {
            "isin" | "isnotin" => {
                arity(1)?;
                let values = match map.get("values") {
                    Some(Json::Array(items)) => {
                        items.iter().map(Lit::from_json).collect::<Result<Vec<_>>>()?
                    }
                    _ => {
                        return Err(invalid(format!(
                            "operator '{op}' needs \"values\": an array of literals"
                        )))
                    }
                };
                Ok(Expr::IsIn {
                    expr: next(),
                    values,
                    negated: op == "isnotin",
                })
            }
            "regex_match" | "startswith" | "endswith" | "contains" => {
                arity(1)?;
                let pattern = map
                    .get("pattern")
                    .and_then(Json::as_str)
                    .ok_or_else(|| invalid(format!("operator '{op}' needs \"pattern\": a string")))?
                    .to_string();
                let sop = match op {
                    "regex_match" => StringOp::Regex,
                    "startswith" => StringOp::StartsWith,
                    "endswith" => StringOp::EndsWith,
                    _ => StringOp::Contains,
                };
                Ok(Expr::Match {
                    op: sop,
                    expr: next(),
                    pattern,
                })
            }
            "where" => {
                arity(3)?;
                let c = next();
                let a = next();
                let b = next();
                Ok(Expr::Where(c, a, b))
            }
            other => Err(invalid(format!(
                "unknown operator '{other}' (known: eq ne lt le gt ge and or xor not add sub mul div \
                 pow neg abs isin isnotin isnull notnull regex_match startswith endswith contains where)"
            ))),
        }
    }

    /// Every column the expression reads.
    pub fn columns(&self, out: &mut Vec<String>) {
        match self {
            Expr::Column(c) => {
                if !out.contains(c) {
                    out.push(c.clone())
                }
            }
            Expr::Literal(_) => {}
            Expr::Unary(_, e) | Expr::IsIn { expr: e, .. } | Expr::Match { expr: e, .. } => {
                e.columns(out)
            }
            Expr::Binary(_, a, b) => {
                a.columns(out);
                b.columns(out);
            }
            Expr::Where(c, a, b) => {
                c.columns(out);
                a.columns(out);
                b.columns(out);
            }
        }
    }

    /// A short rendering for error messages.
    pub fn describe(&self) -> String {
        match self {
            Expr::Column(c) => format!("column '{c}'"),
            Expr::Literal(l) => l.describe(),
            Expr::Unary(op, e) => format!("{}({})", unary_name(*op), e.describe()),
            Expr::Binary(op, a, b) => {
                format!("{}({}, {})", op_name(*op), a.describe(), b.describe())
            }
            Expr::IsIn { expr, negated, .. } => format!(
                "{}({})",
                if *negated { "isnotin" } else { "isin" },
                expr.describe()
            ),
            Expr::Match { op, expr, .. } => format!("{}({})", string_op_name(*op), expr.describe()),
            Expr::Where(c, a, b) => {
                format!(
                    "where({}, {}, {})",
                    c.describe(),
                    a.describe(),
                    b.describe()
                )
            }
        }
    }

    /// Evaluates the expression over `batch`.
    pub fn eval(&self, batch: &RecordBatch) -> Result<Value> {
        match self {
            Expr::Column(name) => {
                let column = batch.column_by_name(name).ok_or_else(|| {
                    schema_error(format!(
                        "the query uses column '{name}', which is not there (columns: {})",
                        crate::query::column_list(&batch.schema())
                    ))
                })?;
                Ok(Value::Array(super::dictionary_values(column)?))
            }
            Expr::Literal(l) => Ok(Value::Scalar(l.clone())),
            Expr::Unary(op, e) => unary(*op, e, batch),
            Expr::Binary(op, a, b) => binary(*op, a, b, batch),
            Expr::IsIn {
                expr,
                values,
                negated,
            } => {
                let array = expr.eval(batch)?.into_column(expr, "isin")?;
                let found = isin(&array, values, &expr.describe())?;
                Ok(Value::Array(Arc::new(if *negated {
                    BooleanArray::new(!found.values(), None)
                } else {
                    found
                })))
            }
            Expr::Match { op, expr, pattern } => {
                let array = expr.eval(batch)?.into_column(expr, string_op_name(*op))?;
                Ok(Value::Array(Arc::new(string_match(
                    *op,
                    &array,
                    pattern,
                    &expr.describe(),
                )?)))
            }
            Expr::Where(c, a, b) => {
                let rows = batch.num_rows();
                let mask = c.eval(batch)?.into_mask(c, "where", rows)?;
                let (a, b) = coerce_pair(a.eval(batch)?, b.eval(batch)?, a, b, "where")?;
                let out = arrow_select::zip::zip(&mask, a.datum().as_ref(), b.datum().as_ref())
                    .map_err(arrow_error("where"))?;
                Ok(Value::Array(out))
            }
        }
    }
}

/// The result of evaluating an expression: a column, or a literal not yet given a type.
#[derive(Debug, Clone)]
pub enum Value {
    Array(ArrayRef),
    Scalar(Lit),
}

/// A column, or a one-element array standing for a scalar, as kernels take them.
enum Operand {
    Array(ArrayRef),
    Scalar(ArrayRef),
}

impl Operand {
    fn data_type(&self) -> &DataType {
        match self {
            Operand::Array(a) | Operand::Scalar(a) => a.data_type(),
        }
    }

    fn datum(&self) -> Box<dyn Datum + '_> {
        match self {
            Operand::Array(a) => Box::new(a.clone()),
            Operand::Scalar(a) => Box::new(Scalar::new(a.clone())),
        }
    }

    fn cast(self, to: &DataType) -> Result<Operand> {
        if self.data_type() == to {
            return Ok(self);
        }
        let cast = |a: &ArrayRef| arrow_cast::cast(a.as_ref(), to).map_err(arrow_error("a cast"));
        Ok(match self {
            Operand::Array(a) => Operand::Array(cast(&a)?),
            Operand::Scalar(a) => Operand::Scalar(cast(&a)?),
        })
    }

    fn broadcast(self, rows: usize) -> Result<ArrayRef> {
        match self {
            Operand::Array(a) => Ok(a),
            Operand::Scalar(a) => {
                let indices = arrow_array::UInt32Array::from(vec![0u32; rows]);
                arrow_select::take::take(a.as_ref(), &indices, None)
                    .map_err(arrow_error("broadcast"))
            }
        }
    }
}

impl Value {
    fn into_column(self, expr: &Expr, op: &str) -> Result<ArrayRef> {
        match self {
            Value::Array(a) => Ok(a),
            Value::Scalar(l) => Err(invalid(format!(
                "operator '{op}' needs a column, not the literal {} (in {})",
                l.describe(),
                expr.describe()
            ))),
        }
    }

    /// A boolean mask without nulls (missing counts as false).
    pub fn into_mask(self, expr: &Expr, op: &str, rows: usize) -> Result<BooleanArray> {
        Ok(nulls_as(&self.into_bool(expr, op, rows)?, false))
    }

    /// A boolean column; a nullable bool column keeps its nulls (Kleene logic, as pandas'
    /// nullable boolean dtype: `~NA` is NA, `NA & False` is False).
    fn into_bool(self, expr: &Expr, op: &str, rows: usize) -> Result<BooleanArray> {
        match self {
            Value::Scalar(Lit::Bool(b)) => Ok(BooleanArray::new(
                if b {
                    BooleanBuffer::new_set(rows)
                } else {
                    BooleanBuffer::new_unset(rows)
                },
                None,
            )),
            Value::Array(a) if a.data_type() == &DataType::Boolean => Ok(a.as_boolean().clone()),
            Value::Array(a) => Err(schema_error(format!(
                "'{op}' needs a boolean expression, but {} is {}",
                expr.describe(),
                a.data_type()
            ))),
            Value::Scalar(l) => Err(schema_error(format!(
                "'{op}' needs a boolean expression, not the literal {}",
                l.describe()
            ))),
        }
    }

    /// A column of `rows` values (literals get their natural type).
    pub fn into_array(self, rows: usize) -> Result<ArrayRef> {
        match self {
            Value::Array(a) => Ok(a),
            Value::Scalar(l) => natural(&l).broadcast(rows),
        }
    }
}

/// Replaces nulls with `value`.
fn nulls_as(array: &BooleanArray, value: bool) -> BooleanArray {
    match array.nulls() {
        None => BooleanArray::new(array.values().clone(), None),
        Some(nulls) if value => BooleanArray::new(array.values() | &!nulls.inner(), None),
        Some(nulls) => BooleanArray::new(array.values() & nulls.inner(), None),
    }
}

fn is_float(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Float16 | DataType::Float32 | DataType::Float64
    )
}

fn is_numeric(dt: &DataType) -> bool {
    dt.is_integer()
        || is_float(dt)
        || matches!(dt, DataType::Decimal128(_, _) | DataType::Decimal256(_, _))
}

fn is_string(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

fn is_temporal(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64
    )
}

/// Float columns with NaN values get those values masked as null (NaN is missing).
fn nan_as_null(array: ArrayRef) -> ArrayRef {
    fn mask<T: arrow_array::ArrowPrimitiveType>(
        array: &ArrayRef,
        is_nan: impl Fn(T::Native) -> bool,
    ) -> Option<ArrayRef> {
        let p = array.as_primitive::<T>();
        if !p.values().iter().any(|v| is_nan(*v)) {
            return None;
        }
        let not_nan = BooleanBuffer::collect_bool(p.len(), |i| !is_nan(p.values()[i]));
        let valid = match p.nulls() {
            Some(n) => n.inner() & &not_nan,
            None => not_nan,
        };
        Some(Arc::new(
            arrow_array::PrimitiveArray::<T>::new(p.values().clone(), Some(NullBuffer::new(valid)))
                .with_data_type(p.data_type().clone()),
        ))
    }
    let masked = match array.data_type() {
        DataType::Float64 => mask::<Float64Type>(&array, f64::is_nan),
        DataType::Float32 => mask::<Float32Type>(&array, f32::is_nan),
        DataType::Float16 => mask::<Float16Type>(&array, |v: half::f16| v.is_nan()),
        _ => None,
    };
    masked.unwrap_or(array)
}

/// Whether each value is missing (null, or NaN for floats).
pub(crate) fn missing_mask(array: &dyn Array) -> BooleanBuffer {
    fn nan<T: arrow_array::ArrowPrimitiveType>(
        array: &dyn Array,
        is_nan: impl Fn(T::Native) -> bool,
    ) -> BooleanBuffer {
        let p = array.as_primitive::<T>();
        BooleanBuffer::collect_bool(p.len(), |i| p.is_null(i) || is_nan(p.values()[i]))
    }
    match array.data_type() {
        DataType::Float64 => nan::<Float64Type>(array, f64::is_nan),
        DataType::Float32 => nan::<Float32Type>(array, f32::is_nan),
        DataType::Float16 => nan::<Float16Type>(array, |v: half::f16| v.is_nan()),
        _ => match array.logical_nulls() {
            Some(n) => !n.inner(),
            None => BooleanBuffer::new_unset(array.len()),
        },
    }
}

/// A literal in its own natural type.
fn natural(lit: &Lit) -> Operand {
    Operand::Scalar(match lit {
        Lit::Int(v) => Arc::new(Int64Array::from(vec![*v])),
        Lit::UInt(v) => Arc::new(UInt64Array::from(vec![*v])),
        Lit::Float(v) => Arc::new(Float64Array::from(vec![*v])),
        Lit::Str(s) => Arc::new(StringArray::from(vec![s.as_str()])),
        Lit::Bool(b) => Arc::new(BooleanArray::from(vec![*b])),
        Lit::Ts(ns) => Arc::new(TimestampNanosecondArray::from(vec![*ns]).with_timezone("UTC")),
    })
}

/// The literal as a one-element array of type `dt`, when it fits that type exactly.
fn lit_as(lit: &Lit, dt: &DataType) -> Option<ArrayRef> {
    let exact_cast = |a: ArrayRef| -> Option<ArrayRef> {
        let out = arrow_cast::cast(a.as_ref(), dt).ok()?;
        (out.null_count() == 0).then_some(out)
    };
    match (lit, dt) {
        (Lit::Int(v), dt) if dt.is_integer() || is_float(dt) => {
            exact_cast(Arc::new(Int64Array::from(vec![*v])))
        }
        (Lit::UInt(v), dt) if dt.is_integer() || is_float(dt) => {
            exact_cast(Arc::new(UInt64Array::from(vec![*v])))
        }
        (Lit::Float(v), dt) if is_float(dt) => exact_cast(Arc::new(Float64Array::from(vec![*v]))),
        (Lit::Str(s), DataType::Utf8) => Some(Arc::new(StringArray::from(vec![s.as_str()]))),
        (Lit::Str(s), DataType::LargeUtf8) => {
            Some(Arc::new(LargeStringArray::from(vec![s.as_str()])))
        }
        (Lit::Str(s), DataType::Utf8View) => {
            Some(Arc::new(StringViewArray::from(vec![s.as_str()])))
        }
        (Lit::Bool(b), DataType::Boolean) => Some(Arc::new(BooleanArray::from(vec![*b]))),
        (Lit::Ts(ns), DataType::Timestamp(unit, tz)) => {
            let f = super::nanos_per_unit(dt).unwrap_or(1);
            if ns % f != 0 {
                return None;
            }
            let v = ns / f;
            let tz = tz.clone();
            Some(match unit {
                TimeUnit::Second => {
                    Arc::new(TimestampSecondArray::from(vec![v]).with_timezone_opt(tz))
                }
                TimeUnit::Millisecond => {
                    Arc::new(TimestampMillisecondArray::from(vec![v]).with_timezone_opt(tz))
                }
                TimeUnit::Microsecond => {
                    Arc::new(TimestampMicrosecondArray::from(vec![v]).with_timezone_opt(tz))
                }
                TimeUnit::Nanosecond => {
                    Arc::new(TimestampNanosecondArray::from(vec![v]).with_timezone_opt(tz))
                }
            })
        }
        _ => None,
    }
}

/// Timestamps and dates as naive nanoseconds (instants compare regardless of zone and unit).
fn as_naive_ns(array: &ArrayRef) -> Result<ArrayRef> {
    let tz = match array.data_type() {
        DataType::Timestamp(_, tz) => tz.clone(),
        _ => None,
    };
    let ns = arrow_cast::cast(
        array.as_ref(),
        &DataType::Timestamp(TimeUnit::Nanosecond, tz),
    )
    .map_err(arrow_error("converting timestamps to nanoseconds"))?;
    Ok(Arc::new(
        ns.as_primitive::<TimestampNanosecondType>()
            .clone()
            .with_timezone_opt(None::<Arc<str>>),
    ))
}

fn naive_ns_lit(ns: i64) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::from(vec![ns]))
}

/// The common numeric type of two column types.
fn numeric_common(a: &DataType, b: &DataType) -> DataType {
    if a == b && !matches!(a, DataType::Decimal128(_, _) | DataType::Decimal256(_, _)) {
        return a.clone();
    }
    if a.is_integer() && b.is_integer() {
        if a.is_unsigned_integer() && b.is_unsigned_integer() {
            DataType::UInt64
        } else {
            DataType::Int64
        }
    } else {
        DataType::Float64
    }
}

fn mismatch(a: &Expr, a_type: &str, b: &Expr, b_type: &str, op: &str) -> Error {
    schema_error(format!(
        "'{op}' cannot combine {} ({a_type}) with {} ({b_type})",
        a.describe(),
        b.describe()
    ))
}

/// Brings two operands to one type a kernel accepts.
fn coerce_pair(l: Value, r: Value, le: &Expr, re: &Expr, op: &str) -> Result<(Operand, Operand)> {
    match (l, r) {
        (Value::Scalar(a), Value::Scalar(b)) => {
            let (a, b) = (natural(&a), natural(&b));
            let (at, bt) = (a.data_type().clone(), b.data_type().clone());
            if at == bt {
                Ok((a, b))
            } else if is_numeric(&at) && is_numeric(&bt) {
                let t = numeric_common(&at, &bt);
                Ok((a.cast(&t)?, b.cast(&t)?))
            } else {
                Err(mismatch(le, &at.to_string(), re, &bt.to_string(), op))
            }
        }
        (Value::Array(a), Value::Scalar(lit)) => {
            let (col, lit) = coerce_with_lit(a, &lit, le, re, op)?;
            Ok((col, lit))
        }
        (Value::Scalar(lit), Value::Array(b)) => {
            let (col, lit) = coerce_with_lit(b, &lit, re, le, op)?;
            Ok((lit, col))
        }
        (Value::Array(a), Value::Array(b)) => {
            let (at, bt) = (a.data_type().clone(), b.data_type().clone());
            if at == bt {
                return Ok((Operand::Array(a), Operand::Array(b)));
            }
            if is_numeric(&at) && is_numeric(&bt) {
                let t = numeric_common(&at, &bt);
                return Ok((Operand::Array(a).cast(&t)?, Operand::Array(b).cast(&t)?));
            }
            if is_string(&at) && is_string(&bt) {
                let t = DataType::LargeUtf8;
                return Ok((Operand::Array(a).cast(&t)?, Operand::Array(b).cast(&t)?));
            }
            if is_temporal(&at) && is_temporal(&bt) {
                return Ok((
                    Operand::Array(as_naive_ns(&a)?),
                    Operand::Array(as_naive_ns(&b)?),
                ));
            }
            Err(mismatch(le, &at.to_string(), re, &bt.to_string(), op))
        }
    }
}

fn coerce_with_lit(
    col: ArrayRef,
    lit: &Lit,
    ce: &Expr,
    le: &Expr,
    op: &str,
) -> Result<(Operand, Operand)> {
    let dt = col.data_type().clone();
    if let Some(l) = lit_as(lit, &dt) {
        return Ok((Operand::Array(col), Operand::Scalar(l)));
    }
    match lit {
        Lit::Int(_) | Lit::UInt(_) | Lit::Float(_) if is_numeric(&dt) => {
            let lit = natural(lit);
            let t = numeric_common(&dt, lit.data_type());
            let t = if t == dt { DataType::Float64 } else { t };
            Ok((Operand::Array(col).cast(&t)?, lit.cast(&t)?))
        }
        Lit::Ts(ns) if is_temporal(&dt) => Ok((
            Operand::Array(as_naive_ns(&col)?),
            Operand::Scalar(naive_ns_lit(*ns)),
        )),
        _ => Err(mismatch(ce, &dt.to_string(), le, lit.kind(), op)),
    }
}

fn compare(op: BinaryOp, l: &Operand, r: &Operand) -> Result<BooleanArray> {
    let (l, r) = (l.datum(), r.datum());
    let (l, r) = (l.as_ref(), r.as_ref());
    let out = match op {
        BinaryOp::Eq => arrow_ord::cmp::eq(l, r),
        BinaryOp::Ne => arrow_ord::cmp::neq(l, r),
        BinaryOp::Lt => arrow_ord::cmp::lt(l, r),
        BinaryOp::Le => arrow_ord::cmp::lt_eq(l, r),
        BinaryOp::Gt => arrow_ord::cmp::gt(l, r),
        _ => arrow_ord::cmp::gt_eq(l, r),
    };
    out.map_err(arrow_error(op_name(op)))
}

fn with_nan_masked(o: Operand) -> Operand {
    match o {
        Operand::Array(a) => Operand::Array(nan_as_null(a)),
        s => s,
    }
}

fn binary(op: BinaryOp, a: &Expr, b: &Expr, batch: &RecordBatch) -> Result<Value> {
    let rows = batch.num_rows();
    let name = op_name(op);
    match op {
        BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => {
            let x = a.eval(batch)?.into_bool(a, name, rows)?;
            let y = b.eval(batch)?.into_bool(b, name, rows)?;
            let out = match op {
                BinaryOp::And => arrow_arith::boolean::and_kleene(&x, &y),
                BinaryOp::Or => arrow_arith::boolean::or_kleene(&x, &y),
                _ => Ok(BooleanArray::new(
                    x.values() ^ y.values(),
                    NullBuffer::union(x.nulls(), y.nulls()),
                )),
            }
            .map_err(arrow_error(name))?;
            Ok(Value::Array(Arc::new(out)))
        }
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            let (l, r) = coerce_pair(a.eval(batch)?, b.eval(batch)?, a, b, name)?;
            for (o, e) in [(&l, a), (&r, b)] {
                let t = o.data_type();
                if !(is_numeric(t) || is_string(t) || is_temporal(t) || t == &DataType::Boolean) {
                    return Err(schema_error(format!(
                        "'{name}' cannot compare {} of type {t}",
                        e.describe()
                    )));
                }
            }
            let (l, r) = (with_nan_masked(l), with_nan_masked(r));
            let out = compare(op, &l, &r)?;
            Ok(Value::Array(Arc::new(nulls_as(&out, op == BinaryOp::Ne))))
        }
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Pow => {
            let (l, r) = coerce_pair(a.eval(batch)?, b.eval(batch)?, a, b, name)?;
            for (o, e) in [(&l, a), (&r, b)] {
                if !is_numeric(o.data_type()) {
                    return Err(schema_error(format!(
                        "'{name}' needs numbers, but {} is {}",
                        e.describe(),
                        o.data_type()
                    )));
                }
            }
            let both_scalar = matches!((&l, &r), (Operand::Scalar(_), Operand::Scalar(_)));
            let out = arithmetic(op, l, r, rows)?;
            Ok(Value::Array(if both_scalar {
                Operand::Scalar(out).broadcast(rows)?
            } else {
                out
            }))
        }
    }
}

fn arithmetic(op: BinaryOp, l: Operand, r: Operand, rows: usize) -> Result<ArrayRef> {
    let name = op_name(op);
    let t = l.data_type().clone();
    let (l, r) = if matches!(t, DataType::Decimal128(_, _) | DataType::Decimal256(_, _)) {
        (l.cast(&DataType::Float64)?, r.cast(&DataType::Float64)?)
    } else {
        (l, r)
    };
    match op {
        BinaryOp::Add => arrow_arith::numeric::add_wrapping(l.datum().as_ref(), r.datum().as_ref()),
        BinaryOp::Sub => arrow_arith::numeric::sub_wrapping(l.datum().as_ref(), r.datum().as_ref()),
        BinaryOp::Mul => arrow_arith::numeric::mul_wrapping(l.datum().as_ref(), r.datum().as_ref()),
        BinaryOp::Div => {
            let (l, r) = (l.cast(&DataType::Float64)?, r.cast(&DataType::Float64)?);
            let (l, r) = (l.datum(), r.datum());
            let out = arrow_arith::numeric::div(l.as_ref(), r.as_ref());
            out
        }
        _ => {
            let n = match (&l, &r) {
                (Operand::Scalar(_), Operand::Scalar(_)) => 1,
                _ => rows,
            };
            let integers = l.data_type().is_integer() && r.data_type().is_integer();
            if integers {
                let (l, r) = (
                    l.cast(&DataType::Int64)?.broadcast(n)?,
                    r.cast(&DataType::Int64)?.broadcast(n)?,
                );
                let out: Int64Array = arrow_arith::arity::try_binary(
                    l.as_primitive::<Int64Type>(),
                    r.as_primitive::<Int64Type>(),
                    |x: i64, y: i64| {
                        u32::try_from(y).map(|y| x.wrapping_pow(y)).map_err(|_| {
                            arrow_schema::ArrowError::ComputeError(format!(
                                "integers cannot be raised to the power {y} (negative or too \
                                 large); use a float exponent"
                            ))
                        })
                    },
                )
                .map_err(|e| invalid(format!("'{name}' failed")).caused_by(e))?;
                return Ok(Arc::new(out));
            }
            let (l, r) = (
                l.cast(&DataType::Float64)?.broadcast(n)?,
                r.cast(&DataType::Float64)?.broadcast(n)?,
            );
            let out: Float64Array = arrow_arith::arity::binary(
                l.as_primitive::<Float64Type>(),
                r.as_primitive::<Float64Type>(),
                f64::powf,
            )
            .map_err(arrow_error(name))?;
            return Ok(Arc::new(out));
        }
    }
    .map_err(|e| invalid(format!("'{name}' failed")).caused_by(e))
}

fn unary(op: UnaryOp, e: &Expr, batch: &RecordBatch) -> Result<Value> {
    let rows = batch.num_rows();
    let name = unary_name(op);
    match op {
        UnaryOp::Not => {
            let m = e.eval(batch)?.into_bool(e, name, rows)?;
            Ok(Value::Array(Arc::new(BooleanArray::new(
                !m.values(),
                m.nulls().cloned(),
            ))))
        }
        UnaryOp::IsNull | UnaryOp::NotNull => {
            let a = e.eval(batch)?.into_column(e, name)?;
            let missing = missing_mask(a.as_ref());
            let out = if op == UnaryOp::IsNull {
                missing
            } else {
                !&missing
            };
            Ok(Value::Array(Arc::new(BooleanArray::new(out, None))))
        }
        UnaryOp::Neg | UnaryOp::Abs => {
            let v = e.eval(batch)?;
            let (operand, scalar) = match v {
                Value::Array(a) => (Operand::Array(a), false),
                Value::Scalar(l) => (natural(&l), true),
            };
            let t = operand.data_type().clone();
            if !is_numeric(&t) {
                return Err(schema_error(format!(
                    "'{name}' needs numbers, but {} is {t}",
                    e.describe()
                )));
            }
            let wide = if t.is_integer() {
                DataType::Int64
            } else {
                DataType::Float64
            };
            let a = operand
                .cast(&wide)?
                .broadcast(if scalar { rows } else { 0 })?;
            let out: ArrayRef = if wide == DataType::Int64 {
                let p = a.as_primitive::<Int64Type>();
                Arc::new(if op == UnaryOp::Neg {
                    arrow_arith::arity::unary::<_, _, Int64Type>(p, i64::wrapping_neg)
                } else {
                    arrow_arith::arity::unary::<_, _, Int64Type>(p, i64::wrapping_abs)
                })
            } else {
                let p = a.as_primitive::<Float64Type>();
                Arc::new(if op == UnaryOp::Neg {
                    arrow_arith::arity::unary::<_, _, Float64Type>(p, |v| -v)
                } else {
                    arrow_arith::arity::unary::<_, _, Float64Type>(p, f64::abs)
                })
            };
            Ok(Value::Array(out))
        }
    }
}

fn isin(array: &ArrayRef, values: &[Lit], what: &str) -> Result<BooleanArray> {
    let dt = array.data_type().clone();
    let bad = |l: &Lit| {
        schema_error(format!(
            "'isin' cannot look for {} {} in {what} of type {dt}",
            l.kind(),
            l.describe()
        ))
    };
    let n = array.len();
    let present = !&missing_mask(array.as_ref());
    let hits: BooleanBuffer = if dt.is_integer() || dt == DataType::Boolean {
        let mut ints: HashSet<i128> = HashSet::new();
        let mut floats: Vec<f64> = Vec::new();
        for l in values {
            match (l, &dt) {
                (Lit::Int(v), dt) if dt.is_integer() => {
                    ints.insert(*v as i128);
                }
                (Lit::UInt(v), dt) if dt.is_integer() => {
                    ints.insert(*v as i128);
                }
                (Lit::Float(v), dt) if dt.is_integer() => floats.push(*v),
                (Lit::Bool(b), DataType::Boolean) => {
                    ints.insert(*b as i128);
                }
                _ => return Err(bad(l)),
            }
        }
        for f in floats {
            if f.fract() == 0.0 && f.is_finite() {
                ints.insert(f as i128);
            }
        }
        if dt == DataType::Boolean {
            let b = array.as_boolean();
            BooleanBuffer::collect_bool(n, |i| ints.contains(&(b.value(i) as i128)))
        } else if dt.is_unsigned_integer() {
            let u =
                arrow_cast::cast(array.as_ref(), &DataType::UInt64).map_err(arrow_error("isin"))?;
            let u = u.as_primitive::<UInt64Type>();
            BooleanBuffer::collect_bool(n, |i| ints.contains(&(u.value(i) as i128)))
        } else {
            let s =
                arrow_cast::cast(array.as_ref(), &DataType::Int64).map_err(arrow_error("isin"))?;
            let s = s.as_primitive::<Int64Type>();
            BooleanBuffer::collect_bool(n, |i| ints.contains(&(s.value(i) as i128)))
        }
    } else if is_numeric(&dt) {
        let mut bits: HashSet<u64> = HashSet::new();
        for l in values {
            let v = match l {
                Lit::Int(v) => *v as f64,
                Lit::UInt(v) => *v as f64,
                Lit::Float(v) => *v,
                _ => return Err(bad(l)),
            };
            bits.insert((v + 0.0).to_bits());
        }
        let f =
            arrow_cast::cast(array.as_ref(), &DataType::Float64).map_err(arrow_error("isin"))?;
        let f = f.as_primitive::<Float64Type>();
        BooleanBuffer::collect_bool(n, |i| bits.contains(&(f.value(i) + 0.0).to_bits()))
    } else if is_temporal(&dt) {
        let mut set: HashSet<i64> = HashSet::new();
        for l in values {
            match l {
                Lit::Ts(ns) => set.insert(*ns),
                _ => return Err(bad(l)),
            };
        }
        let ns = as_naive_ns(array)?;
        let ns = ns.as_primitive::<TimestampNanosecondType>();
        BooleanBuffer::collect_bool(n, |i| set.contains(&ns.value(i)))
    } else if is_string(&dt) {
        let mut set: HashSet<&str> = HashSet::new();
        for l in values {
            match l {
                Lit::Str(s) => set.insert(s.as_str()),
                _ => return Err(bad(l)),
            };
        }
        let s =
            arrow_cast::cast(array.as_ref(), &DataType::LargeUtf8).map_err(arrow_error("isin"))?;
        let s = s.as_string::<i64>();
        BooleanBuffer::collect_bool(n, |i| set.contains(s.value(i)))
    } else {
        return Err(schema_error(format!(
            "'isin' does not support {what} of type {dt}"
        )));
    };
    Ok(BooleanArray::new(&hits & &present, None))
}

fn string_match(op: StringOp, array: &ArrayRef, pattern: &str, what: &str) -> Result<BooleanArray> {
    let name = string_op_name(op);
    let dt = array.data_type();
    if !is_string(dt) {
        return Err(schema_error(format!(
            "'{name}' needs strings, but {what} is {dt}"
        )));
    }
    let out = if op == StringOp::Regex {
        match dt {
            DataType::Utf8 => arrow_string::regexp::regexp_is_match_scalar(
                array.as_string::<i32>(),
                pattern,
                None,
            ),
            DataType::LargeUtf8 => arrow_string::regexp::regexp_is_match_scalar(
                array.as_string::<i64>(),
                pattern,
                None,
            ),
            _ => {
                arrow_string::regexp::regexp_is_match_scalar(array.as_string_view(), pattern, None)
            }
        }
        .map_err(|e| {
            invalid(format!("'regex_match' has an invalid pattern {pattern:?}")).caused_by(e)
        })?
    } else {
        let lit = lit_as(&Lit::Str(pattern.to_string()), dt)
            .ok_or_else(|| Error::internal("a string pattern literal"))?;
        let scalar = Scalar::new(lit);
        let result = match op {
            StringOp::StartsWith => arrow_string::like::starts_with(array, &scalar),
            StringOp::EndsWith => arrow_string::like::ends_with(array, &scalar),
            _ => arrow_string::like::contains(array, &scalar),
        };
        result.map_err(arrow_error(name))?
    };
    Ok(nulls_as(&out, false))
}
