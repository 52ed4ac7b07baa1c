//! Query plans: filters, projections, group-by, resample and row clauses, executed over a
//! stream of record batches with Arrow compute kernels.
//!
//! The plan's JSON grammar is `docs/query-plan.md` (and the `sheaf_table_read` documentation
//! in the header). This module knows nothing of storage or tables: the table layer hands it
//! batches (one per segment). Which segments a filter can skip is the table layer's business
//! (`table::stats`, `table::prune`), since the statistics are part of the version record.
//!
//! Files: `expr` (expressions and their evaluation), `aggregate` (hash aggregation),
//! `exec` (the streaming pipeline).

pub mod aggregate;
pub mod exec;
pub mod expr;

use serde_json::Value as Json;

pub use self::aggregate::{AggOp, AggSpec};
pub use self::exec::{Pipeline, QueryInput};
pub use self::expr::{Expr, Lit};

use crate::error::{Error, ErrorKind, Result};

/// One end of a `date_range` clause: a raw index value, or nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Raw(i64),
    Nanos(i64),
}

/// How `resample` places its bucket edges (pandas' `origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Epoch,
    Start,
    StartDay,
    End,
    EndDay,
    At(i64),
}

/// A `resample` clause.
#[derive(Debug, Clone, PartialEq)]
pub struct Resample {
    pub rule_ns: i64,
    pub closed_right: bool,
    pub label_right: bool,
    pub origin: Origin,
    pub offset_ns: i64,
    pub aggs: Vec<AggSpec>,
}

/// One clause of a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Clause {
    Filter(Expr),
    Project { name: String, expr: Expr },
    GroupBy { by: Vec<String>, aggs: Vec<AggSpec> },
    Resample(Resample),
    DateRange(Option<Bound>, Option<Bound>),
    RowRange(Option<i64>, Option<i64>),
}

/// A parsed plan.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    pub clauses: Vec<Clause>,
}

/// Nanoseconds per stored unit of a timestamp or date type (`None` for other types).
pub(crate) fn nanos_per_unit(dt: &arrow_schema::DataType) -> Option<i64> {
    use arrow_schema::{DataType, TimeUnit};
    Some(match dt {
        DataType::Timestamp(TimeUnit::Second, _) => 1_000_000_000,
        DataType::Timestamp(TimeUnit::Millisecond, _) | DataType::Date64 => 1_000_000,
        DataType::Timestamp(TimeUnit::Microsecond, _) => 1_000,
        DataType::Timestamp(TimeUnit::Nanosecond, _) => 1,
        DataType::Date32 => 86_400_000_000_000,
        _ => return None,
    })
}

/// A dictionary column as a column of its values (expressions, keys and aggregates work on
/// values); other columns as they are.
pub(crate) fn dictionary_values(array: &arrow_array::ArrayRef) -> Result<arrow_array::ArrayRef> {
    match array.data_type() {
        arrow_schema::DataType::Dictionary(_, value) => arrow_cast::cast(array, value)
            .map_err(|e| Error::internal("decoding a dictionary failed").caused_by(e)),
        _ => Ok(array.clone()),
    }
}

/// The column names of `schema`, comma-separated (for error messages naming what is there).
/// The columns of `schema` for an error message: all of them up to 20, else the first 20 and
/// how many more (a message must stay readable, and cheap, for a table of 100,000 columns).
pub(crate) fn column_list(schema: &arrow_schema::Schema) -> String {
    const SHOWN: usize = 20;
    let fields = schema.fields();
    let mut out = fields
        .iter()
        .take(SHOWN)
        .map(|f| format!("{:?}", f.name()))
        .collect::<Vec<_>>()
        .join(", ");
    if fields.len() > SHOWN {
        out.push_str(&format!(", … and {} more", fields.len() - SHOWN));
    }
    out
}

/// Column positions by name (first occurrence), for lookups that would otherwise scan the
/// schema once per name.
pub(crate) fn positions(schema: &arrow_schema::Schema) -> std::collections::HashMap<&str, usize> {
    let mut map = std::collections::HashMap::with_capacity(schema.fields().len());
    for (i, f) in schema.fields().iter().enumerate() {
        map.entry(f.name().as_str()).or_insert(i);
    }
    map
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}

/// A fixed frequency (`"5min"`, `"1h"`, `"D"`, or an integer of nanoseconds) in nanoseconds.
pub fn parse_rule(v: &Json, what: &str) -> Result<i64> {
    if let Some(n) = v.as_i64() {
        return if n > 0 {
            Ok(n)
        } else {
            Err(invalid(format!("{what} must be positive, not {n}")))
        };
    }
    let text = v
        .as_str()
        .ok_or_else(|| {
            invalid(format!(
                "{what} is a string such as \"5min\" or nanoseconds, not {v}"
            ))
        })?
        .trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let count: i64 = if digits.is_empty() {
        1
    } else {
        digits
            .parse()
            .map_err(|_| invalid(format!("{what} {text:?} has a bad count")))?
    };
    let per: i64 = match unit {
        "ns" | "N" => 1,
        "us" | "U" => 1_000,
        "ms" | "L" => 1_000_000,
        "s" | "S" => 1_000_000_000,
        "min" | "T" => 60_000_000_000,
        "h" | "H" => 3_600_000_000_000,
        "D" | "d" => 86_400_000_000_000,
        _ => {
            return Err(invalid(format!(
                "{what} {text:?} is not a fixed frequency (units: ns us ms s min h D)"
            )))
        }
    };
    let ns = count
        .checked_mul(per)
        .filter(|n| *n > 0)
        .ok_or_else(|| invalid(format!("{what} {text:?} is out of range")))?;
    Ok(ns)
}

fn bound(v: &Json) -> Result<Option<Bound>> {
    match v {
        Json::Null => Ok(None),
        Json::Number(n) => n
            .as_i64()
            .map(|x| Some(Bound::Raw(x)))
            .ok_or_else(|| invalid(format!("date_range bound {n} is not an i64"))),
        Json::Object(m) if m.len() == 1 && m.contains_key("ns") => m["ns"]
            .as_i64()
            .map(|x| Some(Bound::Nanos(x)))
            .ok_or_else(|| invalid("date_range {\"ns\": …} needs an i64")),
        other => Err(invalid(format!(
            "a date_range bound is null, an integer or {{\"ns\": N}}, not {other}"
        ))),
    }
}

fn opt_i64(v: &Json, what: &str) -> Result<Option<i64>> {
    match v {
        Json::Null => Ok(None),
        v => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| invalid(format!("{what} takes integers or null, not {v}"))),
    }
}

fn pair<'a>(v: &'a Json, what: &str) -> Result<(&'a Json, &'a Json)> {
    match v {
        Json::Array(items) if items.len() == 2 => Ok((&items[0], &items[1])),
        other => Err(invalid(format!("{what} takes [start, end], not {other}"))),
    }
}

fn aggs(v: Option<&Json>, clause: &str) -> Result<Vec<AggSpec>> {
    let Some(Json::Array(items)) = v else {
        return Err(invalid(format!(
            "'{clause}' needs \"aggs\": an array of {{\"name\", \"column\", \"op\"}}"
        )));
    };
    if items.is_empty() {
        return Err(invalid(format!(
            "'{clause}' needs at least one aggregation"
        )));
    }
    let mut out: Vec<AggSpec> = Vec::with_capacity(items.len());
    for item in items {
        let field = |k: &str| {
            item.get(k)
                .and_then(Json::as_str)
                .ok_or_else(|| invalid(format!("an aggregation needs \"{k}\" (a string): {item}")))
        };
        let spec = AggSpec {
            name: field("name")?.to_string(),
            column: field("column")?.to_string(),
            op: AggOp::parse(field("op")?)?,
        };
        if let Some(k) = item.as_object().and_then(|m| {
            m.keys()
                .find(|k| !["name", "column", "op"].contains(&k.as_str()))
        }) {
            return Err(invalid(format!("unexpected key \"{k}\" in an aggregation")));
        }
        if out.iter().any(|s| s.name == spec.name) {
            return Err(invalid(format!(
                "aggregation output '{}' is named twice",
                spec.name
            )));
        }
        out.push(spec);
    }
    Ok(out)
}

fn side(v: Option<&Json>, what: &str) -> Result<Option<bool>> {
    match v {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) if s == "left" => Ok(Some(false)),
        Some(Json::String(s)) if s == "right" => Ok(Some(true)),
        Some(other) => Err(invalid(format!(
            "{what} is \"left\" or \"right\", not {other}"
        ))),
    }
}

fn resample(v: &Json) -> Result<Resample> {
    let Json::Object(m) = v else {
        return Err(invalid(format!("'resample' takes an object, not {v}")));
    };
    const KEYS: [&str; 6] = ["rule", "closed", "label", "origin", "offset", "aggs"];
    if let Some(k) = m.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(invalid(format!("unexpected key \"{k}\" in 'resample'")));
    }
    let rule_ns = parse_rule(
        m.get("rule")
            .ok_or_else(|| invalid("'resample' needs \"rule\""))?,
        "the resample rule",
    )?;
    let origin = match m.get("origin") {
        None | Some(Json::Null) => Origin::StartDay,
        Some(Json::String(s)) => match s.as_str() {
            "epoch" => Origin::Epoch,
            "start" => Origin::Start,
            "start_day" => Origin::StartDay,
            "end" => Origin::End,
            "end_day" => Origin::EndDay,
            other => {
                return Err(invalid(format!(
                    "origin {other:?} is not epoch, start, start_day, end, end_day or {{\"ns\": N}}"
                )))
            }
        },
        Some(Json::Object(o)) if o.len() == 1 && o.contains_key("ns") => Origin::At(
            o["ns"]
                .as_i64()
                .ok_or_else(|| invalid("origin {\"ns\": …} needs an i64"))?,
        ),
        Some(other) => return Err(invalid(format!("bad resample origin {other}"))),
    };
    let end = matches!(origin, Origin::End | Origin::EndDay);
    let offset_ns = match m.get("offset") {
        None | Some(Json::Null) => 0,
        Some(Json::Number(n)) => n
            .as_i64()
            .ok_or_else(|| invalid(format!("resample offset {n} is not an i64")))?,
        Some(v) => parse_rule(v, "the resample offset")?,
    };
    Ok(Resample {
        rule_ns,
        closed_right: side(m.get("closed"), "closed")?.unwrap_or(end),
        label_right: side(m.get("label"), "label")?.unwrap_or(end),
        origin,
        offset_ns,
        aggs: aggs(m.get("aggs"), "resample")?,
    })
}

fn clause(v: &Json) -> Result<Clause> {
    let Json::Object(m) = v else {
        return Err(invalid(format!(
            "a clause is an object with one key, not {v}"
        )));
    };
    if m.len() != 1 {
        return Err(invalid(format!("a clause has exactly one key, not {v}")));
    }
    let (name, body) = m.iter().next().ok_or_else(|| invalid("an empty clause"))?;
    Ok(match name.as_str() {
        "filter" => Clause::Filter(Expr::from_json(body)?),
        "project" => {
            let name = body
                .get("name")
                .and_then(Json::as_str)
                .ok_or_else(|| invalid("'project' needs \"name\": the new column's name"))?;
            let expr = body
                .get("expr")
                .ok_or_else(|| invalid("'project' needs \"expr\""))?;
            if let Some(k) = body
                .as_object()
                .and_then(|o| o.keys().find(|k| !["name", "expr"].contains(&k.as_str())))
            {
                return Err(invalid(format!("unexpected key \"{k}\" in 'project'")));
            }
            Clause::Project {
                name: name.to_string(),
                expr: Expr::from_json(expr)?,
            }
        }
        "groupby" => {
            let by = match body.get("by") {
                Some(Json::String(s)) => vec![s.clone()],
                Some(Json::Array(items)) if !items.is_empty() => items
                    .iter()
                    .map(|i| {
                        i.as_str().map(str::to_string).ok_or_else(|| {
                            invalid(format!("'groupby' keys are column names, not {i}"))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
                _ => return Err(invalid("'groupby' needs \"by\": one or more column names")),
            };
            if let Some(k) = body
                .as_object()
                .and_then(|o| o.keys().find(|k| !["by", "aggs"].contains(&k.as_str())))
            {
                return Err(invalid(format!("unexpected key \"{k}\" in 'groupby'")));
            }
            let aggs = aggs(body.get("aggs"), "groupby")?;
            for a in &aggs {
                if by.contains(&a.name) {
                    return Err(invalid(format!(
                        "aggregation output '{}' has the name of a group key",
                        a.name
                    )));
                }
            }
            Clause::GroupBy { by, aggs }
        }
        "resample" => Clause::Resample(resample(body)?),
        "date_range" => {
            let (a, b) = pair(body, "'date_range'")?;
            Clause::DateRange(bound(a)?, bound(b)?)
        }
        "row_range" => {
            let (a, b) = pair(body, "'row_range'")?;
            Clause::RowRange(opt_i64(a, "'row_range'")?, opt_i64(b, "'row_range'")?)
        }
        "head" => {
            let n = body
                .as_i64()
                .ok_or_else(|| invalid(format!("'head' takes an integer, not {body}")))?;
            Clause::RowRange(Some(0), Some(n))
        }
        "tail" => {
            let n = body
                .as_i64()
                .ok_or_else(|| invalid(format!("'tail' takes an integer, not {body}")))?;
            if n == 0 {
                Clause::RowRange(Some(0), Some(0))
            } else {
                Clause::RowRange(Some(n.saturating_neg()), None)
            }
        }
        other => {
            return Err(invalid(format!(
                "unknown clause '{other}' (known: filter project groupby resample date_range \
                 row_range head tail)"
            )))
        }
    })
}

impl Query {
    /// Parses a plan: a JSON array of clauses.
    pub fn from_json(v: &Json) -> Result<Query> {
        let Json::Array(items) = v else {
            return Err(invalid(format!(
                "\"query\" is an array of clauses, not {v}"
            )));
        };
        Ok(Query {
            clauses: items.iter().map(clause).collect::<Result<_>>()?,
        })
    }

    /// Whether the plan aggregates (its output is one row per group).
    pub fn aggregates(&self) -> bool {
        self.clauses
            .iter()
            .any(|c| matches!(c, Clause::GroupBy { .. } | Clause::Resample(_)))
    }

    /// The stored columns the plan reads (columns made by `project` excluded where they are
    /// made before they are used).
    pub fn referenced_columns(&self) -> Vec<String> {
        let mut made: Vec<String> = Vec::new();
        let mut out = Vec::new();
        let add = |cols: Vec<String>, made: &Vec<String>, out: &mut Vec<String>| {
            for c in cols {
                if !made.contains(&c) && !out.contains(&c) {
                    out.push(c);
                }
            }
        };
        for c in &self.clauses {
            match c {
                Clause::Filter(e) => {
                    let mut cols = Vec::new();
                    e.columns(&mut cols);
                    add(cols, &made, &mut out);
                }
                Clause::Project { name, expr } => {
                    let mut cols = Vec::new();
                    expr.columns(&mut cols);
                    add(cols, &made, &mut out);
                    made.push(name.clone());
                }
                Clause::GroupBy { by, aggs } => {
                    let mut cols = by.clone();
                    cols.extend(aggs.iter().map(|a| a.column.clone()));
                    add(cols, &made, &mut out);
                    // After an aggregation every later column is one it made.
                    break;
                }
                Clause::Resample(r) => {
                    add(
                        r.aggs.iter().map(|a| a.column.clone()).collect(),
                        &made,
                        &mut out,
                    );
                    break;
                }
                Clause::DateRange(..) | Clause::RowRange(..) => {}
            }
        }
        out
    }

    /// The columns `project` clauses add, in order (before any aggregation).
    pub fn projected_columns(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in &self.clauses {
            match c {
                Clause::Project { name, .. } if !out.contains(name) => out.push(name.clone()),
                Clause::GroupBy { .. } | Clause::Resample(_) => break,
                _ => {}
            }
        }
        out
    }
}
