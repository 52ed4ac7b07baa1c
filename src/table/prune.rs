//! Segment pruning: whether a filter can be true for any row of a segment, judged from the
//! segment's column statistics alone. Every answer errs on "may match": only a segment that the
//! statistics prove false is skipped.

use std::cmp::Ordering;

use arrow_schema::{DataType, Schema};

use super::stats::{ColumnStats, SegmentStats, StatValue};
use crate::query::expr::{BinaryOp, Expr, Lit, UnaryOp};

#[derive(Debug, Clone, Copy)]
enum Num {
    I(i128),
    F(f64),
}

fn cmp(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::I(x), Num::I(y)) => Some(x.cmp(&y)),
        (Num::I(x), Num::F(y)) => (x as f64).partial_cmp(&y),
        (Num::F(x), Num::I(y)) => x.partial_cmp(&(y as f64)),
        (Num::F(x), Num::F(y)) => x.partial_cmp(&y),
    }
}

fn stat_num(v: StatValue, dt: &DataType) -> Num {
    let scale = crate::query::nanos_per_unit(dt).unwrap_or(1) as i128;
    match v {
        StatValue::Int(i) => Num::I(i as i128 * scale),
        StatValue::UInt(u) => Num::I(u as i128 * scale),
        StatValue::Float(f) => Num::F(f),
    }
}

/// The literal in the scale of the column's statistics, when they are comparable.
fn lit_num(l: &Lit, dt: &DataType) -> Option<Num> {
    let numeric = dt.is_integer()
        || matches!(
            dt,
            DataType::Float16 | DataType::Float32 | DataType::Float64
        );
    match l {
        Lit::Int(i) if numeric => Some(Num::I(*i as i128)),
        Lit::UInt(u) if numeric => Some(Num::I(*u as i128)),
        Lit::Float(f) if numeric => Some(Num::F(*f)),
        Lit::Bool(b) if dt == &DataType::Boolean => Some(Num::I(*b as i128)),
        Lit::Ts(ns) if crate::query::nanos_per_unit(dt).is_some() => Some(Num::I(*ns as i128)),
        _ => None,
    }
}

fn flip(op: BinaryOp) -> BinaryOp {
    match op {
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::Le => BinaryOp::Ge,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::Ge => BinaryOp::Le,
        other => other,
    }
}

struct Segment<'a> {
    schema: &'a Schema,
    stats: &'a SegmentStats,
    rows: u64,
}

impl Segment<'_> {
    /// The column's statistics and type; a stored column the segment lacks is all missing.
    fn column(&self, name: &str) -> Option<(ColumnStats, &DataType)> {
        let field = self.schema.field_with_name(name).ok()?;
        let stats = self
            .stats
            .get(name)
            .copied()
            .unwrap_or(ColumnStats(None, None, self.rows));
        Some((stats, field.data_type()))
    }

    fn compare_can_be(&self, op: BinaryOp, column: &str, lit: &Lit, want: bool) -> bool {
        let Some((stats, dt)) = self.column(column) else {
            return true;
        };
        let missing = stats.missing() > 0;
        let (Some(lo), Some(hi)) = (stats.min(), stats.max()) else {
            if stats.missing() < self.rows {
                return true; // values without kept bounds (e.g. strings)
            }
            // Every value is missing: only `ne` is true.
            return (op == BinaryOp::Ne) == want;
        };
        let Some(v) = lit_num(lit, dt) else {
            return true;
        };
        let (lo, hi) = (stat_num(lo, dt), stat_num(hi, dt));
        let (Some(lo_v), Some(hi_v)) = (cmp(lo, v), cmp(hi, v)) else {
            return true;
        };
        let all_equal = lo_v == Ordering::Equal && hi_v == Ordering::Equal;
        let within = lo_v != Ordering::Greater && hi_v != Ordering::Less;
        use BinaryOp::*;
        if want {
            match op {
                Gt => hi_v == Ordering::Greater,
                Ge => hi_v != Ordering::Less,
                Lt => lo_v == Ordering::Less,
                Le => lo_v != Ordering::Greater,
                Eq => within,
                Ne => missing || !all_equal,
                _ => true,
            }
        } else {
            missing
                || match op {
                    Gt => lo_v != Ordering::Greater,
                    Ge => lo_v == Ordering::Less,
                    Lt => hi_v != Ordering::Less,
                    Le => hi_v == Ordering::Greater,
                    Eq => !all_equal,
                    Ne => within,
                    _ => true,
                }
        }
    }

    fn can_be(&self, expr: &Expr, want: bool) -> bool {
        match expr {
            Expr::Binary(BinaryOp::And, a, b) => {
                if want {
                    self.can_be(a, true) && self.can_be(b, true)
                } else {
                    self.can_be(a, false) || self.can_be(b, false)
                }
            }
            Expr::Binary(BinaryOp::Or, a, b) => {
                if want {
                    self.can_be(a, true) || self.can_be(b, true)
                } else {
                    self.can_be(a, false) && self.can_be(b, false)
                }
            }
            Expr::Unary(UnaryOp::Not, e) => self.can_be(e, !want),
            Expr::Binary(
                op @ (BinaryOp::Eq
                | BinaryOp::Ne
                | BinaryOp::Lt
                | BinaryOp::Le
                | BinaryOp::Gt
                | BinaryOp::Ge),
                a,
                b,
            ) => match (a.as_ref(), b.as_ref()) {
                (Expr::Column(c), Expr::Literal(l)) => self.compare_can_be(*op, c, l, want),
                (Expr::Literal(l), Expr::Column(c)) => self.compare_can_be(flip(*op), c, l, want),
                _ => true,
            },
            Expr::Unary(op @ (UnaryOp::IsNull | UnaryOp::NotNull), e) => {
                let Expr::Column(c) = e.as_ref() else {
                    return true;
                };
                let Some((stats, _)) = self.column(c) else {
                    return true;
                };
                let some_missing = stats.missing() > 0;
                let some_present = stats.missing() < self.rows;
                match (op, want) {
                    (UnaryOp::IsNull, true) | (UnaryOp::NotNull, false) => some_missing,
                    _ => some_present,
                }
            }
            Expr::IsIn {
                expr,
                values,
                negated,
            } => {
                let Expr::Column(c) = expr.as_ref() else {
                    return true;
                };
                // "Some row is in the list" is what the bounds can refute.
                if want == *negated {
                    return true;
                }
                values
                    .iter()
                    .any(|v| self.compare_can_be(BinaryOp::Eq, c, v, true))
            }
            Expr::Column(c) => match self.column(c) {
                Some((_, DataType::Boolean)) => {
                    self.compare_can_be(BinaryOp::Eq, c, &Lit::Bool(true), want)
                }
                _ => true,
            },
            _ => true,
        }
    }
}

/// Whether `filter` may hold for some row of a segment with these statistics.
pub fn may_match(filter: &Expr, schema: &Schema, stats: &SegmentStats, rows: u64) -> bool {
    Segment {
        schema,
        stats,
        rows,
    }
    .can_be(filter, true)
}
