//! Planning a read that carries a query: which leading row clauses become part of the read
//! (so only their segments load), which segments the leading filters rule out by their
//! statistics, and which stored columns must be decoded at all.

use super::options::{DateRange, IndexBound, ReadOptions};
use super::prune;
use super::reader::{self, QueryReader, SegmentLoader};
use super::record::{Record, SegmentRef};
use crate::error::Result;
use crate::keys::TableKeys;
use crate::query::exec::resolve_bounds;
use crate::query::{Clause, Expr, Pipeline, Query, QueryInput};

/// The reader of `options` (which carries `query`) over `record`.
pub(crate) fn reader(
    record: &Record,
    keys: &TableKeys<'_>,
    symbol: &str,
    options: &ReadOptions,
    query: &Query,
    loader: impl FnOnce(arrow_schema::SchemaRef) -> SegmentLoader,
) -> Result<QueryReader> {
    let stored = record.schema()?;
    let index = record.header.index.clone();
    let index_type = index
        .as_deref()
        .and_then(|i| stored.field_with_name(i).ok())
        .map(|f| f.data_type().clone());

    // Leading row clauses narrow the read itself.
    let mut base = ReadOptions {
        query: None,
        ..options.clone()
    };
    let mut rest: &[Clause] = &query.clauses;
    while let Some(first) = rest.first() {
        match (first, &index_type) {
            (Clause::DateRange(a, b), Some(index_type)) if base.row_range.is_none() => {
                let (mut lo, mut hi) = resolve_bounds(*a, *b, index_type)?;
                if let Some(r) = &base.date_range {
                    let (l0, h0) = reader::resolve_range(r, index_type)?;
                    lo = lo.max(l0);
                    hi = hi.min(h0);
                }
                base.date_range = Some(DateRange {
                    start: Some(IndexBound::Raw(lo)),
                    end: Some(IndexBound::Raw(hi)),
                });
            }
            (Clause::RowRange(a, b), _)
                if base.row_range.is_none() && base.date_range.is_none() =>
            {
                base.row_range = Some((*a, *b));
            }
            _ => break,
        }
        rest = &rest[1..];
    }
    let rest = Query {
        clauses: rest.to_vec(),
    };

    // The columns the result keeps (without aggregation) and the columns to decode.
    let select: Option<Vec<String>> = match (&options.columns, rest.aggregates()) {
        (Some(cols), false) => {
            let mut names: Vec<String> = Vec::new();
            if let Some(ix) = &index {
                if !cols.contains(ix) {
                    names.push(ix.clone());
                }
            }
            names.extend(cols.iter().cloned());
            Some(names)
        }
        _ => None,
    };
    // `plan` adds the index column to a column list that leaves it out.
    let decode: Option<Vec<String>> = (select.is_some() || rest.aggregates()).then(|| {
        let mut names: Vec<String> = select.clone().unwrap_or_default();
        let mut seen: std::collections::HashSet<String> = names.iter().cloned().collect();
        for c in rest.referenced_columns() {
            if seen.insert(c.clone()) {
                names.push(c);
            }
        }
        names
    });
    base.columns = decode;

    let filters: Vec<&Expr> = rest
        .clauses
        .iter()
        .map_while(|c| match c {
            Clause::Filter(e) => Some(e),
            _ => None,
        })
        .collect();
    let keep = |s: &SegmentRef| match &s.stats {
        Some(stats) => filters
            .iter()
            .all(|f| prune::may_match(f, &stored, stats, s.rows)),
        None => true,
    };
    let (schema, reads) = reader::plan(record, keys, symbol, &base, &keep)?;
    let input = QueryInput {
        schema: schema.clone(),
        index,
        index_sorted: record.header.index_sorted,
    };
    let pipeline = Pipeline::new(&rest, &input, select.as_deref())?;
    Ok(QueryReader::new(loader(schema), reads, pipeline))
}
