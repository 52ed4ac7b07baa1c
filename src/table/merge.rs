//! merge (ArcticDB's `merge_experimental`): rows of a source matched to stored rows by index
//! value and `on` columns; matched rows take the source's values, unmatched source rows are
//! inserted in index order, as one new version. Only segments overlapping the source's index
//! span are rewritten (as update does). The merged rows depend on the base's content, so they
//! are computed inside the commit's build step: a writer that loses the race merges again into
//! the new head, and no concurrent change in the span is overwritten with stale rows.

use std::collections::HashMap;

use arrow_array::{Array, ArrayRef, RecordBatch, RecordBatchReader};
use arrow_row::{RowConverter, SortField};
use arrow_schema::SchemaRef;

use super::commit::{no_such_symbol, summarize};
use super::options::{MergeAction, MergeOptions};
use super::record::Record;
use super::segment_writer::SegmentWriter;
use super::{schema, segment};
use crate::config::{log, LogLevel};
use crate::error::{Error, ErrorKind, Result};
use crate::store::{validate_name, Library};

impl Library {
    /// Merges `data` into the latest version of `symbol` as a new version (see the module
    /// docs and [`MergeOptions`]). `data` must hold the symbol's columns (any order) and be
    /// sorted by the index; a stored row may match at most one source row. `metadata` replaces
    /// the latest version's. An empty source makes a new version with unchanged rows.
    pub fn merge(
        &self,
        symbol: &str,
        data: &mut dyn RecordBatchReader,
        metadata: Option<Vec<u8>>,
        options: &MergeOptions,
    ) -> Result<u64> {
        validate_name("symbol", symbol)?;
        check_actions(options)?;
        let storage = self.storage()?;
        let head = self
            .head(&storage, symbol)?
            .ok_or_else(|| no_such_symbol(self, symbol))?;
        let (_, current) = self
            .latest(&storage, symbol, &head)?
            .filter(|(_, r)| !r.is_metadata_only())
            .ok_or_else(|| {
                no_such_symbol(self, symbol).context("merge needs data to merge into")
            })?;
        let index_name = current.header.index.clone().ok_or_else(|| {
            Error::new(
                ErrorKind::Schema,
                format!("merge matches rows by the index; '{symbol}' has none"),
            )
        })?;
        let source = read_source(data, current.schema()?.as_ref(), &index_name)?;
        let source_index = {
            let column = source
                .column_by_name(&index_name)
                .ok_or_else(|| Error::internal("the source's index column"))?;
            segment::index_values(&index_name, column.as_ref())?
        };
        if let Some(at) = source_index.windows(2).position(|w| w[1] < w[0]) {
            return Err(Error::new(
                ErrorKind::UnsortedIndex,
                format!(
                    "merge needs the source sorted by its index; row {} ({}) comes after {}",
                    at + 1,
                    source_index[at + 1],
                    source_index[at]
                ),
            ));
        }
        for name in &options.on {
            if name == &index_name {
                return Err(Error::invalid(format!(
                    "'{name}' is the index; merge matches on it always, list only other columns in `on`"
                )));
            }
            if source.schema().index_of(name).is_err() {
                return Err(Error::new(
                    ErrorKind::Schema,
                    format!(
                        "merge on '{name}': no such column (columns: {})",
                        crate::query::column_list(source.schema().as_ref())
                    ),
                ));
            }
        }
        let span = source_index
            .first()
            .zip(source_index.last())
            .map(|(a, b)| (*a, *b));
        let prune = options
            .prune_previous_versions
            .unwrap_or(self.options().prune_previous_versions);
        let mut writers: Vec<SegmentWriter> = Vec::new();
        let result = {
            let writers = &mut writers;
            self.commit_data(&storage, symbol, prune, &mut [], |base| {
                for mut w in writers.drain(..) {
                    w.abandon();
                }
                let (_, base) = base
                    .filter(|(_, b)| !b.is_metadata_only())
                    .ok_or_else(|| no_such_symbol(self, symbol))?;
                super::write::refuse_object(symbol, base, "merge into")?;
                if base.header.index.as_deref() != Some(index_name.as_str()) {
                    return Err(Error::new(
                        ErrorKind::Schema,
                        format!("the index of '{symbol}' changed concurrently"),
                    ));
                }
                if !base.header.index_sorted {
                    return Err(Error::new(
                        ErrorKind::UnsortedIndex,
                        format!("merge needs a sorted index; '{symbol}' was written with validate_index=false"),
                    ));
                }
                let base_schema = base.schema()?;
                let mut header = base.header.clone();
                let Some(span) = span else {
                    return Ok((header, base_schema, metadata.clone()));
                };
                let source = conform(symbol, &source, &base_schema)?;
                let at = MergeSite {
                    library: self,
                    storage: &storage,
                    symbol,
                    index_name: &index_name,
                    schema: &base_schema,
                };
                let segments = at.rewrite(base, span, &source, &source_index, options, writers)?;
                let (rows, _) = summarize(&segments);
                header.rows = rows;
                header.segments = segments;
                Ok((header, base_schema, metadata.clone()))
            })
        };
        if result.is_err() {
            for mut w in writers {
                w.abandon();
            }
        }
        if let Ok(version) = &result {
            log(LogLevel::Debug, || {
                format!(
                    "merged {} source rows into '{symbol}' as v{version}",
                    source.num_rows()
                )
            });
        }
        result
    }
}

fn check_actions(options: &MergeOptions) -> Result<()> {
    if options.matched == MergeAction::Insert {
        return Err(Error::invalid(
            "merge: `matched` is update or do_nothing (a matched row is already there to update)",
        ));
    }
    if options.not_matched_by_target == MergeAction::Update {
        return Err(Error::invalid(
            "merge: `not_matched_by_target` is insert or do_nothing (there is no stored row to update)",
        ));
    }
    if options.matched == MergeAction::DoNothing
        && options.not_matched_by_target == MergeAction::DoNothing
    {
        return Err(Error::invalid(
            "merge with matched=do_nothing and not_matched_by_target=do_nothing changes nothing",
        ));
    }
    Ok(())
}

/// The whole source as one batch, its index converted to the stored index's type.
fn read_source(
    data: &mut dyn RecordBatchReader,
    stored: &arrow_schema::Schema,
    index_name: &str,
) -> Result<RecordBatch> {
    let schema = data.schema();
    let (effective, conversion) = schema::index_conversion(stored, &schema, index_name);
    Library::check_input_schema(&effective, Some(index_name))?;
    let mut batches = Vec::new();
    for batch in data {
        let batch = batch.map_err(|e| {
            Error::new(ErrorKind::InvalidArrow, "the input stream failed").caused_by(e)
        })?;
        if batch.schema().fields() != schema.fields() {
            return Err(Error::new(
                ErrorKind::InvalidArrow,
                "a batch's schema differs from the stream's schema",
            ));
        }
        segment::validate_batch(&batch)?;
        batches.push(schema::convert_index(
            &batch,
            &effective,
            conversion.as_ref(),
        )?);
    }
    arrow_select::concat::concat_batches(&effective, &batches)
        .map_err(|e| Error::internal(e.to_string()))
}

/// The source's columns in the stored order; the column sets and types must be the same.
fn conform(symbol: &str, source: &RecordBatch, stored: &SchemaRef) -> Result<RecordBatch> {
    let given = source.schema();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(stored.fields().len());
    for field in stored.fields() {
        let position = given.index_of(field.name()).map_err(|_| {
            Error::new(
                ErrorKind::Schema,
                format!(
                    "merge into '{symbol}': the source lacks column '{}' (it needs all of: {})",
                    field.name(),
                    crate::query::column_list(stored.as_ref())
                ),
            )
        })?;
        let column = source.column(position);
        if column.data_type() != field.data_type() {
            return Err(Error::new(
                ErrorKind::Schema,
                format!(
                    "merge into '{symbol}': column '{}' is {} in the source but stored as {}",
                    field.name(),
                    column.data_type(),
                    field.data_type()
                ),
            ));
        }
        columns.push(column.clone());
    }
    if given.fields().len() != stored.fields().len() {
        let extra: Vec<&str> = given
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .filter(|n| stored.index_of(n).is_err())
            .collect();
        return Err(Error::new(
            ErrorKind::Schema,
            format!(
                "merge into '{symbol}': the source has columns the symbol lacks: {}",
                extra.join(", ")
            ),
        ));
    }
    RecordBatch::try_new(stored.clone(), columns).map_err(|e| {
        Error::new(
            ErrorKind::Schema,
            format!("merge into '{symbol}': the source does not fit the stored columns"),
        )
        .caused_by(e)
    })
}

/// Where a merge rewrites segments.
struct MergeSite<'a> {
    library: &'a Library,
    storage: &'a crate::storage::SharedStorage,
    symbol: &'a str,
    index_name: &'a str,
    schema: &'a SchemaRef,
}

impl MergeSite<'_> {
    /// The segment list of the merged version: segments of `base` wholly outside `span` kept,
    /// the overlapping ones loaded, merged with `source` and rewritten by a writer pushed to
    /// `writers` (so a failed commit can abandon what it wrote).
    fn rewrite(
        &self,
        base: &Record,
        span: (i64, i64),
        source: &RecordBatch,
        source_index: &[i64],
        options: &MergeOptions,
        writers: &mut Vec<SegmentWriter>,
    ) -> Result<Vec<super::record::SegmentRef>> {
        let ix_position = self
            .schema
            .index_of(self.index_name)
            .map_err(|e| Error::corrupt(e.to_string()))?;
        let at = super::write::Target {
            storage: self.storage,
            symbol: self.symbol,
            index_name: self.index_name,
        };
        let cut = self
            .library
            .cut_around(&at, base, self.schema, ix_position, span)?;
        let target = arrow_select::concat::concat_batches(self.schema, &cut.inside)
            .map_err(|e| Error::internal(e.to_string()))?;
        let merged = merge_rows(
            &target,
            source,
            source_index,
            ix_position,
            &self.key_positions(options)?,
            options,
        )?;
        writers.push(self.library.segment_writer(
            self.storage,
            self.symbol,
            Some((self.index_name.to_string(), ix_position)),
            true,
        ));
        let writer = writers
            .last_mut()
            .ok_or_else(|| Error::internal("no writer"))?;
        for part in cut
            .below
            .into_iter()
            .chain(std::iter::once(merged))
            .chain(cut.above)
        {
            if part.num_rows() > 0 {
                writer.push(part)?;
            }
        }
        writer.finish()?;
        let mut segments = cut.before;
        segments.extend(writer.written.iter().cloned());
        segments.extend(cut.after);
        Ok(segments)
    }

    /// Positions of the columns a match compares: the index, then `on`.
    fn key_positions(&self, options: &MergeOptions) -> Result<Vec<usize>> {
        std::iter::once(self.index_name)
            .chain(options.on.iter().map(String::as_str))
            .map(|name| {
                self.schema
                    .index_of(name)
                    .map_err(|_| Error::new(ErrorKind::Schema, format!("no column '{name}'")))
            })
            .collect()
    }
}

/// The stored rows of the span (`target`, sorted by index) merged with `source` (sorted):
/// matched rows take the source's row (`matched = update`), unmatched source rows are placed
/// after the stored rows of the same index value (`not_matched_by_target = insert`).
fn merge_rows(
    target: &RecordBatch,
    source: &RecordBatch,
    source_index: &[i64],
    ix_position: usize,
    keys: &[usize],
    options: &MergeOptions,
) -> Result<RecordBatch> {
    let index_name = target.schema().field(ix_position).name().clone();
    let target_index = segment::index_values(&index_name, target.column(ix_position).as_ref())?;
    let fields: Vec<SortField> = keys
        .iter()
        .map(|k| SortField::new(target.schema().field(*k).data_type().clone()))
        .collect();
    let converter = RowConverter::new(fields).map_err(|e| Error::internal(e.to_string()))?;
    let key_columns = |batch: &RecordBatch| -> Vec<ArrayRef> {
        keys.iter().map(|k| batch.column(*k).clone()).collect()
    };
    let source_rows = converter
        .convert_columns(&key_columns(source))
        .map_err(|e| Error::internal(e.to_string()))?;
    let target_rows = converter
        .convert_columns(&key_columns(target))
        .map_err(|e| Error::internal(e.to_string()))?;
    // Each key's first source row and how many source rows share it.
    let mut by_key: HashMap<arrow_row::Row<'_>, (usize, usize)> =
        HashMap::with_capacity(source.num_rows());
    for (row, key) in source_rows.iter().enumerate() {
        by_key.entry(key).or_insert((row, 0)).1 += 1;
    }
    let mut matched_source = vec![false; source.num_rows()];
    let mut match_of = Vec::with_capacity(target.num_rows());
    for (row, key) in target_rows.iter().enumerate() {
        let found = match by_key.get(&key) {
            Some((_, n)) if *n > 1 => {
                return Err(Error::invalid(format!(
                "merge: stored row {row} of the merged span (index {}) matches {n} source rows; \
                     a stored row may match only one",
                target_index[row]
            )))
            }
            Some((first, _)) => {
                matched_source[*first] = true;
                Some(*first)
            }
            None => None,
        };
        match_of.push(found);
    }
    let update = options.matched == MergeAction::Update;
    let insert = options.not_matched_by_target == MergeAction::Insert;
    let mut picks: Vec<(usize, usize)> = Vec::with_capacity(target.num_rows() + source.num_rows());
    let mut next_source = 0;
    for (row, found) in match_of.iter().enumerate() {
        while next_source < source_index.len() && source_index[next_source] < target_index[row] {
            if insert && !matched_source[next_source] {
                picks.push((1, next_source));
            }
            next_source += 1;
        }
        match found {
            Some(s) if update => picks.push((1, *s)),
            _ => picks.push((0, row)),
        }
    }
    for (s, matched) in matched_source.iter().enumerate().skip(next_source) {
        if insert && !matched {
            picks.push((1, s));
        }
    }
    let columns = (0..target.num_columns())
        .map(|c| {
            let sides: [&dyn Array; 2] = [target.column(c).as_ref(), source.column(c).as_ref()];
            arrow_select::interleave::interleave(&sides, &picks)
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::internal(e.to_string()))?;
    RecordBatch::try_new(target.schema(), columns).map_err(|e| Error::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;

    fn batch(ix: &[i64], key: &[&str], v: &[i64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("ix", DataType::Int64, false),
            Field::new("k", DataType::Utf8, true),
            Field::new("v", DataType::Int64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(ix.to_vec())),
                Arc::new(StringArray::from(key.to_vec())),
                Arc::new(Int64Array::from(v.to_vec())),
            ],
        )
        .unwrap()
    }

    fn rows(b: &RecordBatch) -> Vec<(i64, String, i64)> {
        let ix = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let k = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        let v = b.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
        (0..b.num_rows())
            .map(|i| (ix.value(i), k.value(i).to_string(), v.value(i)))
            .collect()
    }

    fn run(
        target: &RecordBatch,
        source: &RecordBatch,
        on: bool,
        options: MergeOptions,
    ) -> Result<Vec<(i64, String, i64)>> {
        let ix: Vec<i64> = source
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .values()
            .to_vec();
        let keys = if on { vec![0, 1] } else { vec![0] };
        merge_rows(target, source, &ix, 0, &keys, &options).map(|b| rows(&b))
    }

    fn r(ix: i64, k: &str, v: i64) -> (i64, String, i64) {
        (ix, k.to_string(), v)
    }

    #[test]
    fn updates_matches_and_inserts_the_rest_in_index_order() {
        let target = batch(&[1, 2, 2, 4], &["a", "a", "b", "a"], &[10, 20, 21, 40]);
        let source = batch(
            &[0, 2, 3, 4, 5],
            &["x", "b", "x", "a", "x"],
            &[0, 99, 30, 98, 50],
        );
        let merged = run(&target, &source, true, MergeOptions::default()).unwrap();
        assert_eq!(
            merged,
            vec![
                r(0, "x", 0),
                r(1, "a", 10),
                r(2, "a", 20),
                r(2, "b", 99),
                r(3, "x", 30),
                r(4, "a", 98),
                r(5, "x", 50)
            ]
        );
    }

    #[test]
    fn an_unmatched_row_of_an_existing_index_value_goes_after_the_stored_ones() {
        let target = batch(&[2, 2], &["a", "b"], &[1, 2]);
        let source = batch(&[2], &["c"], &[3]);
        let merged = run(&target, &source, true, MergeOptions::default()).unwrap();
        assert_eq!(merged, vec![r(2, "a", 1), r(2, "b", 2), r(2, "c", 3)]);
    }

    #[test]
    fn do_nothing_actions_keep_stored_rows_or_drop_new_ones() {
        let target = batch(&[1, 3], &["a", "a"], &[10, 30]);
        let source = batch(&[1, 2], &["a", "a"], &[11, 20]);
        let only_update = MergeOptions {
            not_matched_by_target: MergeAction::DoNothing,
            ..Default::default()
        };
        assert_eq!(
            run(&target, &source, false, only_update).unwrap(),
            vec![r(1, "a", 11), r(3, "a", 30)]
        );
        let only_insert = MergeOptions {
            matched: MergeAction::DoNothing,
            ..Default::default()
        };
        assert_eq!(
            run(&target, &source, false, only_insert).unwrap(),
            vec![r(1, "a", 10), r(2, "a", 20), r(3, "a", 30)]
        );
    }

    #[test]
    fn every_stored_row_of_a_key_takes_the_source_row() {
        let target = batch(&[1, 1], &["a", "a"], &[10, 11]);
        let source = batch(&[1], &["a"], &[5]);
        assert_eq!(
            run(&target, &source, true, MergeOptions::default()).unwrap(),
            vec![r(1, "a", 5), r(1, "a", 5)]
        );
    }

    #[test]
    fn a_stored_row_matching_two_source_rows_is_refused() {
        let target = batch(&[1], &["a"], &[10]);
        let source = batch(&[1, 1], &["a", "a"], &[5, 6]);
        let err = run(&target, &source, true, MergeOptions::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        // Two new rows sharing a key that nothing stored matches are both inserted.
        let empty = batch(&[], &[], &[]);
        assert_eq!(
            run(&empty, &source, true, MergeOptions::default()).unwrap(),
            vec![r(1, "a", 5), r(1, "a", 6)]
        );
    }

    #[test]
    fn actions_that_cannot_apply_are_refused() {
        for (matched, not_matched) in [
            (MergeAction::Insert, MergeAction::Insert),
            (MergeAction::Update, MergeAction::Update),
            (MergeAction::DoNothing, MergeAction::DoNothing),
        ] {
            let options = MergeOptions {
                matched,
                not_matched_by_target: not_matched,
                ..Default::default()
            };
            assert_eq!(
                check_actions(&options).unwrap_err().kind(),
                ErrorKind::InvalidArgument
            );
        }
    }
}
