//! Time travel in SQL: `at_version('sym', 3)`, `at_snapshot('sym', 'name')` and
//! `at_time('sym', TIMESTAMP '2024-01-01 00:00:00Z')` are tables holding that version of the
//! symbol (a negative version counts back from the latest, as `as_of` does). Store-wide, the
//! symbol is named `'library.symbol'`.

use std::sync::Arc;

use arrow_schema::{DataType, TimeUnit};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;

use super::provider::Pins;
use super::to_datafusion;
use crate::error::Error;
use crate::store::{Library, Store};
use crate::table::AsOf;

type DfResult<T> = std::result::Result<T, DataFusionError>;

#[derive(Debug, Clone, Copy)]
enum Travel {
    Version,
    Snapshot,
    Time,
}

impl Travel {
    fn name(self) -> &'static str {
        match self {
            Travel::Version => "at_version",
            Travel::Snapshot => "at_snapshot",
            Travel::Time => "at_time",
        }
    }
}

#[derive(Debug)]
struct TimeTravel {
    travel: Travel,
    store: Store,
    library: Option<Library>,
    pins: Arc<Pins>,
}

pub(crate) fn register(
    context: &SessionContext,
    store: &Store,
    library: Option<&Library>,
    pins: &Arc<Pins>,
) {
    for travel in [Travel::Version, Travel::Snapshot, Travel::Time] {
        context.register_udtf(
            travel.name(),
            Arc::new(TimeTravel {
                travel,
                store: store.clone(),
                library: library.cloned(),
                pins: pins.clone(),
            }),
        );
    }
}

/// A constant argument's value (a literal, or a cast of one such as `TIMESTAMP '…'`).
fn constant(expr: &Expr) -> Option<ScalarValue> {
    match expr {
        Expr::Literal(value, _) => Some(value.clone()),
        Expr::Cast(cast) => constant(&cast.expr)?.cast_to(cast.field.data_type()).ok(),
        Expr::TryCast(cast) => constant(&cast.expr)?.cast_to(cast.field.data_type()).ok(),
        Expr::Negative(inner) => constant(inner)?.arithmetic_negate().ok(),
        _ => None,
    }
}

impl TimeTravel {
    fn usage(&self) -> DataFusionError {
        let second = match self.travel {
            Travel::Version => "a version number",
            Travel::Snapshot => "a snapshot name",
            Travel::Time => "a TIMESTAMP (or nanoseconds since the epoch)",
        };
        to_datafusion(Error::invalid(format!(
            "{}(symbol, {second}): the symbol is a string literal{}",
            self.travel.name(),
            if self.library.is_none() {
                " naming 'library.symbol'"
            } else {
                ""
            }
        )))
    }

    fn as_of(&self, value: ScalarValue) -> Option<AsOf> {
        match self.travel {
            Travel::Version => match value.cast_to(&DataType::Int64).ok()? {
                ScalarValue::Int64(Some(v)) => Some(AsOf::Version(v)),
                _ => None,
            },
            Travel::Snapshot => match value {
                ScalarValue::Utf8(Some(s))
                | ScalarValue::LargeUtf8(Some(s))
                | ScalarValue::Utf8View(Some(s)) => Some(AsOf::Snapshot(s)),
                _ => None,
            },
            Travel::Time => {
                let utc = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
                let value = match value {
                    ScalarValue::Int64(Some(ns)) => return Some(AsOf::Time(ns)),
                    other => other.cast_to(&utc).ok()?,
                };
                match value {
                    ScalarValue::TimestampNanosecond(Some(ns), _) => Some(AsOf::Time(ns)),
                    _ => None,
                }
            }
        }
    }
}

impl TableFunctionImpl for TimeTravel {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        let [symbol, when] = args.exprs() else {
            return Err(self.usage());
        };
        let Some(ScalarValue::Utf8(Some(symbol))) = constant(symbol) else {
            return Err(self.usage());
        };
        let as_of = constant(when)
            .and_then(|v| self.as_of(v))
            .ok_or_else(|| self.usage())?;
        let (library, symbol) = match &self.library {
            Some(l) => (l.clone(), symbol),
            None => {
                let Some((library, symbol)) = symbol.split_once('.') else {
                    return Err(self.usage());
                };
                (
                    self.pins
                        .library(&self.store, library)
                        .map_err(to_datafusion)?,
                    symbol.to_string(),
                )
            }
        };
        let table = self
            .pins
            .pin(&library, &symbol, as_of)
            .map_err(to_datafusion)?;
        Ok(table)
    }
}
