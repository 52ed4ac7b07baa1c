//! Time-series operations through the Rust API: append, update, delete_data_in_range, ranged
//! and projected reads (with proof of segment pruning), as_of by time and snapshot, snapshots
//! and what they keep alive, descriptions, pruning, compaction and dynamic schemas.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampNanosecondType};
use arrow_array::*;
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use sheaf::table::{
    debug_segment_count, ConcatOptions, ConcatResult, DateRange, IndexBound, Join, MergeAction,
    MergeOptions, UpdateOptions,
};
use sheaf::{AsOf, ErrorKind, Library, LibraryOptions, ReadOptions, Store, WriteOptions};

const SEC: i64 = 1_000_000_000;

fn lib(rows_per_segment: u64, dynamic: bool) -> (Store, Library) {
    let store = Store::open("mem://").unwrap();
    let options = LibraryOptions {
        rows_per_segment,
        dynamic_schema: dynamic,
        ..Default::default()
    };
    let lib = store.create_library("ts", options).unwrap();
    (store, lib)
}

/// Rows at seconds `secs`, with value = 10 × second + `tag`.
fn frame(secs: &[i64], tag: f64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
        Field::new("v", DataType::Float64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(
                TimestampNanosecondArray::from(secs.iter().map(|s| s * SEC).collect::<Vec<_>>())
                    .with_timezone("UTC"),
            ),
            Arc::new(Float64Array::from(
                secs.iter()
                    .map(|s| *s as f64 * 10.0 + tag)
                    .collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap()
}

fn src(
    batch: RecordBatch,
) -> RecordBatchIterator<std::vec::IntoIter<Result<RecordBatch, arrow_schema::ArrowError>>> {
    let schema = batch.schema();
    RecordBatchIterator::new(vec![Ok(batch)].into_iter(), schema)
}

fn ix() -> WriteOptions {
    WriteOptions {
        index: Some("ts".into()),
        ..Default::default()
    }
}

/// (second, value) pairs of a read.
fn rows(lib: &Library, options: &ReadOptions) -> Vec<(i64, f64)> {
    let r = lib.read("s", options).unwrap();
    let mut out = Vec::new();
    for b in r.reader {
        let b = b.unwrap();
        let ts = b
            .column_by_name("ts")
            .unwrap()
            .as_primitive::<TimestampNanosecondType>();
        let v = b.column_by_name("v").unwrap().as_primitive::<Float64Type>();
        out.extend(
            ts.values()
                .iter()
                .zip(v.values().iter())
                .map(|(t, v)| (t / SEC, *v)),
        );
    }
    out
}

fn secs(range: std::ops::Range<i64>) -> Vec<i64> {
    range.collect()
}

fn expect(pairs: &[(i64, f64)]) -> Vec<(i64, f64)> {
    pairs.to_vec()
}

fn tagged(range: std::ops::Range<i64>, tag: f64) -> Vec<(i64, f64)> {
    range.map(|s| (s, s as f64 * 10.0 + tag)).collect()
}

#[test]
fn append_reuses_segments_and_checks_order() {
    let (_store, lib) = lib(4, false);
    lib.write(
        "s",
        &mut src(frame(&secs(0..6), 0.0)),
        Some(b"m0".to_vec()),
        &ix(),
    )
    .unwrap();
    let before = debug_segment_count(&lib).unwrap();
    let v = lib
        .append(
            "s",
            &mut src(frame(&secs(6..9), 1.0)),
            None,
            &WriteOptions::default(),
        )
        .unwrap();
    assert_eq!(v, 1);
    assert_eq!(
        debug_segment_count(&lib).unwrap(),
        before + 1,
        "old segments reused, one new"
    );
    let mut want = tagged(0..6, 0.0);
    want.extend(tagged(6..9, 1.0));
    assert_eq!(rows(&lib, &ReadOptions::default()), want);
    assert_eq!(
        rows(&lib, &ReadOptions::as_of(AsOf::Version(0))),
        tagged(0..6, 0.0)
    );
    let (info, meta) = lib.read_metadata("s", &AsOf::Latest).unwrap();
    assert_eq!((info.rows, meta), (9, None), "metadata is not carried over");
    // Equal first index is allowed; a lower one is refused.
    lib.append(
        "s",
        &mut src(frame(&[8, 9], 2.0)),
        None,
        &WriteOptions::default(),
    )
    .unwrap();
    let err = lib
        .append(
            "s",
            &mut src(frame(&[3], 2.0)),
            None,
            &WriteOptions::default(),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsortedIndex, "{err}");
    assert_eq!(
        lib.list_versions(Some("s"), None, false).unwrap().len(),
        3,
        "nothing committed"
    );
    // Schema must match without dynamic_schema.
    let other = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        )])),
        vec![Arc::new(
            TimestampNanosecondArray::from(vec![100 * SEC]).with_timezone("UTC"),
        )],
    )
    .unwrap();
    let err = lib
        .append("s", &mut src(other), None, &WriteOptions::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Schema, "{err}");
    // Append creates a missing symbol.
    assert_eq!(
        lib.append("new", &mut src(frame(&[1, 2], 0.0)), None, &ix())
            .unwrap(),
        0
    );
    assert_eq!(
        lib.get_description("new", &AsOf::Latest)
            .unwrap()
            .index
            .unwrap()
            .name,
        "ts"
    );
}

#[test]
fn update_replaces_the_span_and_rewrites_only_overlapping_segments() {
    let (_store, lib) = lib(5, false);
    lib.write("s", &mut src(frame(&secs(0..20), 0.0)), None, &ix())
        .unwrap();
    let loads_before = lib.segments_loaded();
    // New data covers seconds 7..=12 but only has 7, 9, 12: 8, 10, 11 disappear.
    lib.update(
        "s",
        &mut src(frame(&[7, 9, 12], 5.0)),
        None,
        &UpdateOptions::default(),
    )
    .unwrap();
    assert_eq!(
        lib.segments_loaded() - loads_before,
        2,
        "only segments [5..10) and [10..15) were read"
    );
    let mut want = tagged(0..7, 0.0);
    want.extend(expect(&[(7, 75.0), (9, 95.0), (12, 125.0)]));
    want.extend(tagged(13..20, 0.0));
    assert_eq!(rows(&lib, &ReadOptions::default()), want);
    // An explicit date_range wider than the data removes everything in it; data outside it is dropped.
    let range = DateRange {
        start: Some(IndexBound::Nanos(2 * SEC)),
        end: Some(IndexBound::Nanos(4 * SEC)),
    };
    lib.update(
        "s",
        &mut src(frame(&[1, 3, 30], 9.0)),
        None,
        &UpdateOptions {
            date_range: Some(range),
            ..Default::default()
        },
    )
    .unwrap();
    let got = rows(&lib, &ReadOptions::default());
    assert_eq!(&got[..4], &[(0, 0.0), (1, 10.0), (3, 39.0), (5, 50.0)]);
    assert!(
        !got.iter().any(|(s, _)| *s == 30),
        "rows outside date_range are dropped"
    );
    // Empty update without a range: a new version, same rows (ArcticDB's behaviour).
    let n = got.len();
    let empty = frame(&[], 0.0);
    let v = lib
        .update("s", &mut src(empty), None, &UpdateOptions::default())
        .unwrap();
    assert_eq!(
        rows(&lib, &ReadOptions::as_of(AsOf::Version(v as i64))).len(),
        n
    );
    // Missing symbol: an error unless upsert.
    let err = lib
        .update(
            "nope",
            &mut src(frame(&[1], 0.0)),
            None,
            &UpdateOptions::default(),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoSuchSymbol);
    // Upsert creates the symbol with the named index.
    let upsert = UpdateOptions {
        upsert: true,
        index: Some("ts".into()),
        ..Default::default()
    };
    assert_eq!(
        lib.update("fresh", &mut src(frame(&[4, 5], 1.0)), None, &upsert)
            .unwrap(),
        0
    );
    assert_eq!(
        lib.get_description("fresh", &AsOf::Latest)
            .unwrap()
            .row_count,
        2
    );
    let no_index = UpdateOptions {
        upsert: true,
        ..Default::default()
    };
    // Without an index named the data is written unindexed (as ArcticDB writes an upserted
    // frame without a timestamp index); updating it then needs an index, unless it is empty.
    assert_eq!(
        lib.update("other", &mut src(frame(&[4], 1.0)), None, &no_index)
            .unwrap(),
        0
    );
    let description = lib.get_description("other", &AsOf::Latest).unwrap();
    assert_eq!(description.row_count, 1);
    assert!(description.index.is_none());
    assert_eq!(
        lib.update("other", &mut src(frame(&[5], 1.0)), None, &no_index)
            .unwrap_err()
            .kind(),
        ErrorKind::Schema
    );
    assert_eq!(
        lib.update(
            "other",
            &mut src(frame(&[], 1.0)),
            Some(b"m".to_vec()),
            &no_index
        )
        .unwrap(),
        1
    );
    assert_eq!(
        lib.read_metadata("other", &AsOf::Latest).unwrap().1,
        Some(b"m".to_vec())
    );
    assert_eq!(
        lib.get_description("other", &AsOf::Latest)
            .unwrap()
            .row_count,
        1
    );
}

#[test]
fn merge_updates_matches_inserts_the_rest_and_rewrites_only_overlapping_segments() {
    let (_store, lib) = lib(5, false);
    lib.write(
        "s",
        &mut src(frame(&secs(0..20), 0.0)),
        Some(b"m".to_vec()),
        &ix(),
    )
    .unwrap();
    let loads_before = lib.segments_loaded();
    // 7 and 12 match stored rows; 8.5 s does not exist (a new row between 8 and 9).
    let mut source = frame(&[7, 12], 5.0);
    let between = frame(&[0], 0.0);
    let between = RecordBatch::try_new(
        between.schema(),
        vec![
            Arc::new(TimestampNanosecondArray::from(vec![8 * SEC + SEC / 2]).with_timezone("UTC")),
            Arc::new(Float64Array::from(vec![-1.0])),
        ],
    )
    .unwrap();
    source = arrow_select::concat::concat_batches(
        &source.schema(),
        &[source.slice(0, 1), between, source.slice(1, 1)],
    )
    .unwrap();
    let v = lib
        .merge(
            "s",
            &mut src(source.clone()),
            None,
            &MergeOptions::default(),
        )
        .unwrap();
    assert_eq!(v, 1);
    assert_eq!(
        lib.segments_loaded() - loads_before,
        2,
        "only segments [5..10) and [10..15) were read"
    );
    let got = rows(&lib, &ReadOptions::default());
    assert_eq!(got.len(), 21);
    assert_eq!(
        &got[6..11],
        &[(6, 60.0), (7, 75.0), (8, 80.0), (8, -1.0), (9, 90.0)]
    );
    assert_eq!(got[13], (12, 125.0));
    assert_eq!(got[20], (19, 190.0));
    assert_eq!(lib.read_metadata("s", &AsOf::Latest).unwrap().1, None);
    // Only inserts: matched rows keep their values.
    let only_insert = MergeOptions {
        matched: MergeAction::DoNothing,
        ..Default::default()
    };
    lib.merge("s", &mut src(frame(&[3, 40], 7.0)), None, &only_insert)
        .unwrap();
    let got = rows(&lib, &ReadOptions::default());
    assert_eq!(got[3], (3, 30.0));
    assert_eq!(*got.last().unwrap(), (40, 407.0));
    // Refusals leave no version behind.
    let versions = lib.list_versions(Some("s"), None, false).unwrap().len();
    let unsorted = frame(&[5, 4], 0.0);
    assert_eq!(
        lib.merge("s", &mut src(unsorted), None, &MergeOptions::default())
            .unwrap_err()
            .kind(),
        ErrorKind::UnsortedIndex
    );
    let twice = frame(&[5, 5], 0.0);
    assert_eq!(
        lib.merge("s", &mut src(twice), None, &MergeOptions::default())
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    let on_missing = MergeOptions {
        on: vec!["nope".into()],
        ..Default::default()
    };
    assert_eq!(
        lib.merge("s", &mut src(frame(&[5], 0.0)), None, &on_missing)
            .unwrap_err()
            .kind(),
        ErrorKind::Schema
    );
    assert_eq!(
        lib.merge(
            "nope",
            &mut src(frame(&[5], 0.0)),
            None,
            &MergeOptions::default()
        )
        .unwrap_err()
        .kind(),
        ErrorKind::NoSuchSymbol
    );
    assert_eq!(
        lib.list_versions(Some("s"), None, false).unwrap().len(),
        versions
    );
}

#[test]
fn merge_needs_the_stored_columns() {
    let (_store, lib) = lib(5, false);
    lib.write("s", &mut src(frame(&secs(0..4), 0.0)), None, &ix())
        .unwrap();
    let extra = frame(&[1], 0.0);
    let extra = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            extra.schema().field(0).clone(),
            extra.schema().field(1).clone(),
            Field::new("w", DataType::Int64, true),
        ])),
        vec![
            extra.column(0).clone(),
            extra.column(1).clone(),
            Arc::new(Int64Array::from(vec![1])),
        ],
    )
    .unwrap();
    assert_eq!(
        lib.merge("s", &mut src(extra.clone()), None, &MergeOptions::default())
            .unwrap_err()
            .kind(),
        ErrorKind::Schema
    );
    // Columns in another order are matched by name.
    let reordered = extra.project(&[1, 0]).unwrap();
    lib.merge("s", &mut src(reordered), None, &MergeOptions::default())
        .unwrap();
    assert_eq!(rows(&lib, &ReadOptions::default())[1], (1, 10.0));
}

#[test]
fn concat_chains_reads_with_joined_columns_and_a_query_over_the_whole() {
    let (_store, lib) = lib(3, false);
    lib.write(
        "a",
        &mut src(frame(&secs(0..5), 0.0)),
        Some(b"ma".to_vec()),
        &ix(),
    )
    .unwrap();
    let b = frame(&secs(10..13), 1.0);
    let b = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            b.schema().field(0).clone(),
            b.schema().field(1).clone(),
            Field::new("w", DataType::Int32, true),
        ])),
        vec![
            b.column(0).clone(),
            b.column(1).clone(),
            Arc::new(Int32Array::from(vec![1, 2, 3])),
        ],
    )
    .unwrap();
    lib.write("b", &mut src(b), None, &ix()).unwrap();
    let collect = |r: ConcatResult| {
        let schema = r.reader.schema();
        let batches: Vec<RecordBatch> = r.reader.map(|b| b.unwrap()).collect();
        arrow_select::concat::concat_batches(&schema, &batches).unwrap()
    };
    let items = vec![
        ("a".to_string(), ReadOptions::default()),
        (
            "b".to_string(),
            ReadOptions {
                row_range: Some((Some(1), None)),
                ..Default::default()
            },
        ),
    ];
    let outer = lib.read_concat(&items, &ConcatOptions::default()).unwrap();
    assert_eq!(outer.inputs[0].metadata, Some(b"ma".to_vec()));
    assert_eq!(outer.inputs[1].info.symbol, "b");
    let all = collect(outer);
    assert_eq!(all.num_rows(), 7);
    let w = all.column_by_name("w").unwrap();
    assert_eq!(w.null_count(), 5);
    let v = all
        .column_by_name("v")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(v.value(4), 40.0);
    assert_eq!(v.value(5), 111.0);
    let inner = ConcatOptions {
        join: Join::Inner,
        ..Default::default()
    };
    let names: Vec<String> = collect(lib.read_concat(&items, &inner).unwrap())
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["ts", "v"]);
    // A query after the concat sees the rows of both symbols.
    let plan = serde_json::json!([{"filter": {"op": "gt", "args": [{"col": "v"}, {"lit": 35}]}}]);
    let filtered = ConcatOptions {
        query: Some(sheaf::query::Query::from_json(&plan).unwrap()),
        ..Default::default()
    };
    let kept = collect(lib.read_concat(&items, &filtered).unwrap());
    let v = kept
        .column_by_name("v")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(v.values().to_vec(), vec![40.0, 111.0, 121.0]);
    // Inputs must share their index; a resample after the concat needs it ascending.
    lib.write(
        "plain",
        &mut src(frame(&[1], 0.0)),
        None,
        &WriteOptions::default(),
    )
    .unwrap();
    let mixed = vec![
        ("a".to_string(), ReadOptions::default()),
        ("plain".to_string(), ReadOptions::default()),
    ];
    assert_eq!(
        lib.read_concat(&mixed, &ConcatOptions::default())
            .err()
            .unwrap()
            .kind(),
        ErrorKind::Schema
    );
    let backwards = vec![
        ("b".to_string(), ReadOptions::default()),
        ("a".to_string(), ReadOptions::default()),
    ];
    let plan = serde_json::json!([{"resample": {"rule": "10s", "aggs": [{"name": "v", "column": "v", "op": "sum"}]}}]);
    let resampled = ConcatOptions {
        query: Some(sheaf::query::Query::from_json(&plan).unwrap()),
        ..Default::default()
    };
    let result = lib.read_concat(&backwards, &resampled).unwrap();
    let err = result
        .reader
        .map(|b| b.map(drop))
        .collect::<Result<Vec<()>, _>>();
    assert!(err.unwrap_err().to_string().contains("goes back"));
    let forwards: Vec<(String, ReadOptions)> = backwards.into_iter().rev().collect();
    let sums = collect(lib.read_concat(&forwards, &resampled).unwrap());
    assert_eq!(sums.num_rows(), 2);
    let v = sums
        .column_by_name("v")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!((v.value(0), v.value(1)), (100.0, 333.0));
    assert_eq!(
        lib.read_concat(&[], &ConcatOptions::default())
            .err()
            .unwrap()
            .kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn delete_data_in_range_keeps_metadata_and_outside_rows() {
    let (_store, lib) = lib(3, false);
    lib.write(
        "s",
        &mut src(frame(&secs(0..10), 0.0)),
        Some(b"keep".to_vec()),
        &ix(),
    )
    .unwrap();
    let range = DateRange {
        start: Some(IndexBound::Nanos(3 * SEC)),
        end: Some(IndexBound::Nanos(6 * SEC)),
    };
    lib.delete_data_in_range("s", range, None).unwrap();
    let got: Vec<i64> = rows(&lib, &ReadOptions::default())
        .iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(got, vec![0, 1, 2, 7, 8, 9]);
    assert_eq!(
        lib.read_metadata("s", &AsOf::Latest).unwrap().1,
        Some(b"keep".to_vec())
    );
    let open_end = DateRange {
        start: Some(IndexBound::Nanos(8 * SEC)),
        end: None,
    };
    lib.delete_data_in_range("s", open_end, None).unwrap();
    let got: Vec<i64> = rows(&lib, &ReadOptions::default())
        .iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(got, vec![0, 1, 2, 7]);
}

#[test]
fn date_range_reads_touch_only_overlapping_segments() {
    let (_store, lib) = lib(10, false);
    lib.write("s", &mut src(frame(&secs(0..100), 0.0)), None, &ix())
        .unwrap();
    let before = lib.segments_loaded();
    let range = DateRange {
        start: Some(IndexBound::Nanos(25 * SEC)),
        end: Some(IndexBound::Nanos(34 * SEC)),
    };
    let got = rows(
        &lib,
        &ReadOptions {
            date_range: Some(range),
            ..Default::default()
        },
    );
    assert_eq!(got, tagged(25..35, 0.0), "inclusive at both ends");
    assert_eq!(
        lib.segments_loaded() - before,
        2,
        "segments [20..30) and [30..40) only"
    );
    // Bounds between index values, open ends, and raw bounds in the index unit.
    let between = DateRange {
        start: Some(IndexBound::Nanos(95 * SEC - 1)),
        end: None,
    };
    assert_eq!(
        rows(
            &lib,
            &ReadOptions {
                date_range: Some(between),
                ..Default::default()
            }
        ),
        tagged(95..100, 0.0)
    );
    let raw = DateRange {
        start: None,
        end: Some(IndexBound::Raw(2 * SEC)),
    };
    assert_eq!(
        rows(
            &lib,
            &ReadOptions {
                date_range: Some(raw),
                ..Default::default()
            }
        ),
        tagged(0..3, 0.0)
    );
    let nothing = DateRange {
        start: Some(IndexBound::Nanos(500 * SEC)),
        end: None,
    };
    let before = lib.segments_loaded();
    assert!(rows(
        &lib,
        &ReadOptions {
            date_range: Some(nothing),
            ..Default::default()
        }
    )
    .is_empty());
    assert_eq!(
        lib.segments_loaded(),
        before,
        "no segment loaded for a range outside the data"
    );
}

#[test]
fn row_ranges_have_slice_semantics() {
    let (_store, lib) = lib(4, false);
    lib.write("s", &mut src(frame(&secs(0..10), 0.0)), None, &ix())
        .unwrap();
    let take = |a: Option<i64>, b: Option<i64>| -> Vec<i64> {
        rows(
            &lib,
            &ReadOptions {
                row_range: Some((a, b)),
                ..Default::default()
            },
        )
        .iter()
        .map(|r| r.0)
        .collect()
    };
    assert_eq!(take(Some(2), Some(6)), vec![2, 3, 4, 5]);
    assert_eq!(take(Some(-3), None), vec![7, 8, 9], "tail(3)");
    assert_eq!(
        take(None, Some(-8)),
        vec![0, 1],
        "head(-8): all but the last 8"
    );
    assert_eq!(take(Some(8), Some(100)), vec![8, 9]);
    assert_eq!(take(Some(6), Some(2)), Vec::<i64>::new());
    assert!(
        ReadOptions::from_json(r#"{"row_range": [0, 1], "date_range": [null, null]}"#).is_err()
    );
}

#[test]
fn columns_are_selected_in_the_requested_order() {
    let store = Store::open("mem://").unwrap();
    let lib = store
        .create_library("c", LibraryOptions::default())
        .unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("a", DataType::Int64, true),
        Field::new("b", DataType::Int64, true),
        Field::new("c", DataType::Int64, true),
    ]));
    let col = |base: i64| -> ArrayRef { Arc::new(Int64Array::from(vec![base, base + 1])) };
    let batch = RecordBatch::try_new(schema, vec![col(0), col(10), col(20), col(30)]).unwrap();
    lib.write(
        "s",
        &mut src(batch),
        None,
        &WriteOptions {
            index: Some("k".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let read = |cols: Vec<&str>| -> RecordBatch {
        let options = ReadOptions {
            columns: Some(cols.into_iter().map(String::from).collect()),
            ..Default::default()
        };
        lib.read("s", &options)
            .unwrap()
            .reader
            .next()
            .unwrap()
            .unwrap()
    };
    let b = read(vec!["c", "a"]);
    let names: Vec<String> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        vec!["k", "c", "a"],
        "index first, then the requested order"
    );
    assert_eq!(
        b.column(1).as_primitive::<Int64Type>().values().to_vec(),
        vec![30, 31]
    );
    let only_index = read(vec![]);
    assert_eq!(only_index.num_columns(), 1);
    let err = lib
        .read(
            "s",
            &ReadOptions {
                columns: Some(vec!["zz".into()]),
                ..Default::default()
            },
        )
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::Schema);
    assert!(err.to_string().contains("'zz'"), "{err}");
}

#[test]
fn snapshots_pin_versions_and_keep_their_segments() {
    let (_store, lib) = lib(4, false);
    lib.write("s", &mut src(frame(&secs(0..6), 0.0)), None, &ix())
        .unwrap();
    lib.write("t", &mut src(frame(&secs(0..2), 0.0)), None, &ix())
        .unwrap();
    lib.snapshot("snap", Some(b"why".to_vec()), &[], None)
        .unwrap();
    assert_eq!(
        lib.snapshot("snap", None, &[], None).unwrap_err().kind(),
        ErrorKind::SnapshotExists
    );
    lib.write("s", &mut src(frame(&secs(0..3), 1.0)), None, &ix())
        .unwrap();
    lib.delete("s", Some(&[0])).unwrap();
    // Version 0 is deleted from the chain but readable through the snapshot.
    assert_eq!(
        lib.read("s", &ReadOptions::as_of(AsOf::Version(0)))
            .err()
            .unwrap()
            .kind(),
        ErrorKind::NoSuchVersion
    );
    assert_eq!(
        rows(&lib, &ReadOptions::as_of(AsOf::Snapshot("snap".into()))),
        tagged(0..6, 0.0)
    );
    let versions = lib.list_versions(Some("s"), None, false).unwrap();
    let v0 = versions.iter().find(|v| v.version == 0).unwrap();
    assert!(v0.deleted);
    assert_eq!(v0.snapshots, vec!["snap"]);
    assert_eq!(lib.list_symbols(Some("snap")).unwrap(), vec!["s", "t"]);
    assert_eq!(
        lib.read_snapshot_metadata("snap").unwrap(),
        Some(b"why".to_vec())
    );
    let listed = lib.list_snapshots().unwrap();
    assert_eq!((listed.len(), listed[0].symbols), (1, 2));
    // Deleting the snapshot collects version 0's segments (and nothing else).
    let before = debug_segment_count(&lib).unwrap();
    lib.delete_snapshot("snap").unwrap();
    assert_eq!(
        debug_segment_count(&lib).unwrap(),
        before - 2,
        "v0 of 's' had 2 segments"
    );
    assert_eq!(rows(&lib, &ReadOptions::default()), tagged(0..3, 1.0));
    assert_eq!(
        lib.delete_snapshot("snap").unwrap_err().kind(),
        ErrorKind::NoSuchSnapshot
    );
    // skip_symbols and explicit versions.
    lib.snapshot("only-t", None, &["s".to_string()], None)
        .unwrap();
    assert_eq!(lib.list_symbols(Some("only-t")).unwrap(), vec!["t"]);
    lib.snapshot("explicit", None, &[], Some(&[("s".to_string(), 1)]))
        .unwrap();
    assert_eq!(
        lib.list_versions(None, Some("explicit"), false)
            .unwrap()
            .len(),
        1
    );
    let err = lib
        .snapshot("bad", None, &[], Some(&[("s".to_string(), 0)]))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoSuchVersion);
}

#[test]
fn as_of_a_time_picks_the_last_version_written_before_it() {
    let (_store, lib) = lib(10, false);
    lib.write("s", &mut src(frame(&[1], 0.0)), None, &ix())
        .unwrap();
    let t0 = lib
        .read_metadata("s", &AsOf::Latest)
        .unwrap()
        .0
        .timestamp_ns;
    std::thread::sleep(std::time::Duration::from_millis(5));
    lib.write("s", &mut src(frame(&[1, 2], 0.0)), None, &ix())
        .unwrap();
    assert_eq!(
        lib.read_metadata("s", &AsOf::Time(t0)).unwrap().0.version,
        0
    );
    assert_eq!(
        lib.read_metadata("s", &AsOf::Time(i64::MAX))
            .unwrap()
            .0
            .version,
        1
    );
    assert_eq!(
        lib.read_metadata("s", &AsOf::Time(t0 - 1))
            .err()
            .unwrap()
            .kind(),
        ErrorKind::NoSuchVersion
    );
}

#[test]
fn description_reports_columns_index_rows_and_order() {
    let (_store, lib) = lib(3, false);
    lib.write(
        "s",
        &mut src(frame(&[5, 6, 9, 12], 0.0)),
        Some(vec![1]),
        &ix(),
    )
    .unwrap();
    let d = lib.get_description("s", &AsOf::Latest).unwrap();
    assert_eq!(d.row_count, 4);
    assert_eq!(d.index_range, Some([5 * SEC, 12 * SEC]));
    assert_eq!(d.sorted, "ASCENDING");
    assert_eq!(
        d.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        vec!["v"]
    );
    assert_eq!(d.index.as_ref().unwrap().name, "ts");
    assert!(d.index.unwrap().r#type.contains("Timestamp"));
    assert_eq!(d.segments, 2);
    assert!(d.has_metadata);
    let unsorted = WriteOptions {
        validate_index: false,
        ..ix()
    };
    lib.write("u", &mut src(frame(&[3, 1], 0.0)), None, &unsorted)
        .unwrap();
    assert_eq!(
        lib.get_description("u", &AsOf::Latest).unwrap().sorted,
        "UNSORTED"
    );
}

#[test]
fn prune_and_compact() {
    let (_store, lib) = lib(4, false);
    lib.write("s", &mut src(frame(&[0], 0.0)), None, &ix())
        .unwrap();
    for i in 1..10 {
        lib.append(
            "s",
            &mut src(frame(&[i], 0.0)),
            None,
            &WriteOptions::default(),
        )
        .unwrap();
    }
    assert_eq!(
        lib.get_description("s", &AsOf::Latest).unwrap().segments,
        10
    );
    let v = lib.compact_data("s", None).unwrap();
    let d = lib.get_description("s", &AsOf::Latest).unwrap();
    assert_eq!(
        (d.version, d.segments, d.row_count),
        (v, 3, 10),
        "4 + 4 + 2 rows"
    );
    assert_eq!(rows(&lib, &ReadOptions::default()), tagged(0..10, 0.0));
    assert_eq!(
        lib.compact_data("s", None).unwrap(),
        v,
        "already compact: no new version"
    );
    lib.prune_previous_versions("s").unwrap();
    let versions: Vec<u64> = lib
        .list_versions(Some("s"), None, false)
        .unwrap()
        .iter()
        .map(|i| i.version)
        .collect();
    assert_eq!(versions, vec![v]);
    assert_eq!(
        debug_segment_count(&lib).unwrap(),
        3,
        "only the compacted segments remain"
    );
}

#[test]
fn dynamic_schema_adds_columns_and_widens_types() {
    let (_store, lib) = lib(10, true);
    let first = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("a", DataType::Int32, true),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(Int32Array::from(vec![10, 20])),
        ],
    )
    .unwrap();
    lib.write(
        "s",
        &mut src(first),
        None,
        &WriteOptions {
            index: Some("k".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let second = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("a", DataType::Float64, true),
            Field::new("b", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![3])),
            Arc::new(Float64Array::from(vec![2.5])),
            Arc::new(StringArray::from(vec!["x"])),
        ],
    )
    .unwrap();
    lib.append("s", &mut src(second), None, &WriteOptions::default())
        .unwrap();
    let batches: Vec<RecordBatch> = lib
        .read("s", &ReadOptions::default())
        .unwrap()
        .reader
        .map(|b| b.unwrap())
        .collect();
    let all = arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap();
    assert_eq!(
        all.schema().field_with_name("a").unwrap().data_type(),
        &DataType::Float64
    );
    assert_eq!(
        all.column_by_name("a")
            .unwrap()
            .as_primitive::<Float64Type>()
            .values()
            .to_vec(),
        vec![10.0, 20.0, 2.5]
    );
    let b = all.column_by_name("b").unwrap().as_string::<i32>();
    assert_eq!((b.is_null(0), b.is_null(1), b.value(2)), (true, true, "x"));
    let incompatible = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("a", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![4])),
            Arc::new(StringArray::from(vec!["no"])),
        ],
    )
    .unwrap();
    let err = lib
        .append("s", &mut src(incompatible), None, &WriteOptions::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Schema, "{err}");
}

#[test]
fn concurrent_appends_and_metadata_writes_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).unwrap();
    let lib = store
        .create_library("c", LibraryOptions::default())
        .unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("writer", DataType::Int64, false),
        Field::new("i", DataType::Int64, false),
    ]));
    std::thread::scope(|scope| {
        for w in 0..3i64 {
            let lib = lib.clone();
            let schema = schema.clone();
            scope.spawn(move || {
                for i in 0..40i64 {
                    let b = RecordBatch::try_new(
                        schema.clone(),
                        vec![
                            Arc::new(Int64Array::from(vec![w])),
                            Arc::new(Int64Array::from(vec![i])),
                        ],
                    )
                    .unwrap();
                    lib.append("s", &mut src(b), None, &WriteOptions::default())
                        .unwrap();
                }
            });
        }
        let lib = lib.clone();
        scope.spawn(move || {
            for i in 0..20u8 {
                let _ = lib.write_metadata("s", Some(vec![i]), None);
            }
        });
    });
    let batches: Vec<RecordBatch> = lib
        .read("s", &ReadOptions::default())
        .unwrap()
        .reader
        .map(|b| b.unwrap())
        .collect();
    let mut seen: Vec<(i64, i64)> = batches
        .iter()
        .flat_map(|b| {
            let w = b.column(0).as_primitive::<Int64Type>().values().to_vec();
            let i = b.column(1).as_primitive::<Int64Type>().values().to_vec();
            w.into_iter().zip(i).collect::<Vec<_>>()
        })
        .collect();
    // Each writer's appends are in its own order, and none is missing.
    for w in 0..3 {
        let mine: Vec<i64> = seen
            .iter()
            .filter(|(x, _)| *x == w)
            .map(|(_, i)| *i)
            .collect();
        assert_eq!(mine, (0..40).collect::<Vec<_>>(), "writer {w}");
    }
    seen.sort();
    assert_eq!(seen.len(), 120);
    let versions = lib.list_versions(Some("s"), None, false).unwrap();
    let numbers: Vec<u64> = versions.iter().rev().map(|v| v.version).collect();
    assert_eq!(
        numbers,
        (0..numbers.len() as u64).collect::<Vec<_>>(),
        "contiguous version numbers"
    );
}

#[test]
fn staged_chunks_finalize_in_index_order() {
    use sheaf::table::{FinalizeMode, FinalizeOptions};
    let (_store, lib) = lib(4, false);
    // Three writers stage out of order; nothing is visible before finalizing.
    std::thread::scope(|scope| {
        for start in [20i64, 0, 10] {
            let lib = lib.clone();
            scope.spawn(move || {
                lib.stage(
                    "s",
                    &mut src(frame(&secs(start..start + 10), 0.0)),
                    Some("ts"),
                    true,
                )
                .unwrap()
            });
        }
    });
    assert!(!lib.has_symbol("s", &AsOf::Latest).unwrap());
    assert_eq!(lib.get_staged_symbols().unwrap(), vec!["s"]);
    let v = lib
        .finalize_staged_data("s", Some(b"m".to_vec()), &FinalizeOptions::default())
        .unwrap();
    assert_eq!(v, 0);
    assert_eq!(rows(&lib, &ReadOptions::default()), tagged(0..30, 0.0));
    assert!(lib.get_staged_symbols().unwrap().is_empty());
    // Append mode, then overlapping chunks: refused unless sorted.
    lib.stage("s", &mut src(frame(&secs(30..33), 1.0)), Some("ts"), true)
        .unwrap();
    lib.finalize_staged_data(
        "s",
        None,
        &FinalizeOptions {
            mode: FinalizeMode::Append,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(rows(&lib, &ReadOptions::default()).len(), 33);
    lib.stage("o", &mut src(frame(&[5, 6, 7], 0.0)), Some("ts"), true)
        .unwrap();
    lib.stage("o", &mut src(frame(&[1, 6, 9], 1.0)), Some("ts"), true)
        .unwrap();
    let err = lib
        .finalize_staged_data("o", None, &FinalizeOptions::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsortedIndex, "{err}");
    let segments_before = debug_segment_count(&lib).unwrap();
    lib.finalize_staged_data(
        "o",
        None,
        &FinalizeOptions {
            sort: true,
            ..Default::default()
        },
    )
    .unwrap();
    let got: Vec<i64> = lib
        .read("o", &ReadOptions::default())
        .unwrap()
        .reader
        .flat_map(|b| {
            b.unwrap()
                .column(0)
                .as_primitive::<TimestampNanosecondType>()
                .values()
                .to_vec()
        })
        .map(|t| t / SEC)
        .collect();
    assert_eq!(got, vec![1, 5, 6, 6, 7, 9]);
    assert_eq!(
        debug_segment_count(&lib).unwrap(),
        segments_before,
        "2 staged segments replaced by 2 sorted ones"
    );
    // Deleting staged data removes its segments.
    lib.stage("gone", &mut src(frame(&[1], 0.0)), Some("ts"), true)
        .unwrap();
    let before = debug_segment_count(&lib).unwrap();
    assert_eq!(lib.delete_staged_data("gone").unwrap(), 1);
    assert_eq!(debug_segment_count(&lib).unwrap(), before - 1);
    assert_eq!(
        lib.finalize_staged_data("gone", None, &FinalizeOptions::default())
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn batches_give_one_result_per_item() {
    use sheaf::table::{BatchWriteMode, WriteItem};
    let (_store, lib) = lib(10, false);
    let (mut a, mut b) = (src(frame(&[1, 2], 0.0)), src(frame(&[1], 0.0)));
    let results = lib
        .write_batch(
            vec![
                WriteItem {
                    symbol: "a".into(),
                    data: &mut a,
                    metadata: None,
                    options: ix(),
                },
                WriteItem {
                    symbol: "b".into(),
                    data: &mut b,
                    metadata: Some(vec![7]),
                    options: ix(),
                },
            ],
            BatchWriteMode::Write,
        )
        .unwrap();
    assert_eq!(
        results
            .iter()
            .map(|r| r.as_ref().copied().unwrap())
            .collect::<Vec<_>>(),
        vec![0, 0]
    );
    // One failing item (unsorted append) does not stop the other.
    let (mut a2, mut b2) = (src(frame(&[0], 0.0)), src(frame(&[5], 0.0)));
    let results = lib
        .write_batch(
            vec![
                WriteItem {
                    symbol: "a".into(),
                    data: &mut a2,
                    metadata: None,
                    options: WriteOptions::default(),
                },
                WriteItem {
                    symbol: "b".into(),
                    data: &mut b2,
                    metadata: None,
                    options: WriteOptions::default(),
                },
            ],
            BatchWriteMode::Append,
        )
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap_err().kind(),
        ErrorKind::UnsortedIndex
    );
    assert_eq!(*results[1].as_ref().unwrap(), 1);
    let (mut d1, mut d2) = (src(frame(&[1], 0.0)), src(frame(&[1], 0.0)));
    let dup = lib.write_batch(
        vec![
            WriteItem {
                symbol: "x".into(),
                data: &mut d1,
                metadata: None,
                options: ix(),
            },
            WriteItem {
                symbol: "x".into(),
                data: &mut d2,
                metadata: None,
                options: ix(),
            },
        ],
        BatchWriteMode::Write,
    );
    assert!(dup.is_err(), "duplicate symbols are refused");
    assert!(!lib.has_symbol("x", &AsOf::Latest).unwrap());
    let reads = lib
        .read_batch(&[
            ("a".into(), ReadOptions::default()),
            ("nope".into(), ReadOptions::default()),
            ("b".into(), ReadOptions::as_of(AsOf::Version(0))),
        ])
        .unwrap();
    assert_eq!(reads[0].as_ref().unwrap().info.rows, 2);
    assert_eq!(
        reads[1].as_ref().err().unwrap().kind(),
        ErrorKind::NoSuchSymbol
    );
    assert_eq!(reads[2].as_ref().unwrap().metadata, Some(vec![7]));
    let metas = lib
        .read_metadata_batch(&[("b".into(), AsOf::Version(0)), ("b".into(), AsOf::Latest)])
        .unwrap();
    assert_eq!(metas[0].as_ref().unwrap().1, Some(vec![7]));
    assert_eq!(metas[1].as_ref().unwrap().0.version, 1);
    let deleted = lib
        .delete_batch(&[("a".into(), None), ("zz".into(), None)])
        .unwrap();
    assert!(deleted[0].is_ok());
    assert_eq!(
        deleted[1].as_ref().unwrap_err().kind(),
        ErrorKind::NoSuchSymbol
    );
    assert_eq!(lib.list_symbols(None).unwrap(), vec!["b"]);
}

#[test]
fn appends_accept_other_representations_of_the_same_kind() {
    let (_store, lib) = lib(10, false);
    let batch = |ts: ArrayRef, s: ArrayRef, t: ArrayRef| {
        let schema = Arc::new(Schema::new(vec![
            Field::new("ts", ts.data_type().clone(), false),
            Field::new("s", s.data_type().clone(), true),
            Field::new("t", t.data_type().clone(), true),
        ]));
        RecordBatch::try_new(schema, vec![ts, s, t]).unwrap()
    };
    let us = |v: Vec<i64>| -> ArrayRef { Arc::new(TimestampMicrosecondArray::from(v)) };
    let ns = |v: Vec<i64>| -> ArrayRef { Arc::new(TimestampNanosecondArray::from(v)) };
    // Stored: µs index, utf8 strings, µs timestamps.
    let first = batch(
        us(vec![1, 2]),
        Arc::new(StringArray::from(vec!["a", "b"])),
        us(vec![10, 20]),
    );
    lib.write(
        "s",
        &mut src(first),
        None,
        &WriteOptions {
            index: Some("ts".into()),
            ..Default::default()
        },
    )
    .unwrap();
    // New: ns index on whole microseconds, large_utf8 and string_view strings, ns timestamps.
    let second = batch(
        ns(vec![3_000, 4_000]),
        Arc::new(LargeStringArray::from(vec!["c", "d"])),
        ns(vec![30_001, 40_000]),
    );
    lib.append("s", &mut src(second), None, &WriteOptions::default())
        .unwrap();
    let third = batch(
        us(vec![5]),
        Arc::new(StringViewArray::from(vec!["e"])),
        us(vec![50]),
    );
    lib.append("s", &mut src(third), None, &WriteOptions::default())
        .unwrap();
    let batches: Vec<RecordBatch> = lib
        .read("s", &ReadOptions::default())
        .unwrap()
        .reader
        .map(|b| b.unwrap())
        .collect();
    let all = arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap();
    let schema = all.schema();
    assert_eq!(
        schema.field_with_name("ts").unwrap().data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, None),
        "the index keeps its unit"
    );
    assert_eq!(
        schema.field_with_name("s").unwrap().data_type(),
        &DataType::Utf8,
        "strings keep the stored type"
    );
    assert_eq!(
        schema.field_with_name("t").unwrap().data_type(),
        &DataType::Timestamp(TimeUnit::Nanosecond, None),
        "other timestamps take the finer unit"
    );
    let ts: Vec<i64> = all
        .column(0)
        .as_primitive::<arrow_array::types::TimestampMicrosecondType>()
        .values()
        .to_vec();
    assert_eq!(ts, vec![1, 2, 3, 4, 5]);
    let s: Vec<&str> = all
        .column(1)
        .as_string::<i32>()
        .iter()
        .map(|v| v.unwrap())
        .collect();
    assert_eq!(s, vec!["a", "b", "c", "d", "e"]);
    let t: Vec<i64> = all
        .column(2)
        .as_primitive::<TimestampNanosecondType>()
        .values()
        .to_vec();
    assert_eq!(t, vec![10_000, 20_000, 30_001, 40_000, 50_000]);
    // A finer index value the stored unit cannot hold is refused, and nothing is committed.
    let lossy = batch(
        ns(vec![6_001]),
        Arc::new(StringArray::from(vec!["f"])),
        us(vec![60]),
    );
    let err = lib
        .append("s", &mut src(lossy), None, &WriteOptions::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Schema);
    assert!(err.to_string().contains("precision"), "{err}");
    assert_eq!(
        lib.get_description("s", &AsOf::Latest).unwrap().row_count,
        5
    );
    // Update with a ns frame over a µs index replaces the span in the stored unit.
    let upd = batch(
        ns(vec![2_000, 3_000]),
        Arc::new(StringArray::from(vec!["B", "C"])),
        ns(vec![0, 0]),
    );
    lib.update("s", &mut src(upd), None, &UpdateOptions::default())
        .unwrap();
    let got: Vec<String> = lib
        .read("s", &ReadOptions::default())
        .unwrap()
        .reader
        .flat_map(|b| {
            b.unwrap()
                .column(1)
                .as_string::<i32>()
                .iter()
                .map(|v| v.unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(got, vec!["a", "B", "C", "d", "e"]);
}

#[test]
fn batch_calls_on_a_closed_store_fail_as_a_whole() {
    use sheaf::table::{BatchWriteMode, WriteItem};
    let (store, lib) = lib(10, false);
    let mut a = src(frame(&[1, 2], 0.0));
    lib.write("a", &mut a, None, &ix()).unwrap();
    store.close();
    let closed = |e: sheaf::Error| assert_eq!(e.kind(), ErrorKind::Closed);
    closed(
        lib.read_batch(&[("a".into(), ReadOptions::default())])
            .err()
            .unwrap(),
    );
    closed(
        lib.read_metadata_batch(&[("a".into(), AsOf::Latest)])
            .err()
            .unwrap(),
    );
    closed(lib.delete_batch(&[("a".into(), None)]).err().unwrap());
    let mut b = src(frame(&[3], 0.0));
    let item = WriteItem {
        symbol: "b".into(),
        data: &mut b,
        metadata: None,
        options: ix(),
    };
    closed(
        lib.write_batch(vec![item], BatchWriteMode::Write)
            .err()
            .unwrap(),
    );
}

#[test]
fn objects_are_one_binary_column_refused_by_table_operations() {
    let (_store, lib) = lib(5, false);
    let schema = Arc::new(Schema::new(vec![Field::new(
        "object",
        DataType::LargeBinary,
        true,
    )]));
    let object = RecordBatch::try_new(
        schema,
        vec![Arc::new(LargeBinaryArray::from_vec(vec![b"ab", b"cd"]))],
    )
    .unwrap();
    let as_object = WriteOptions {
        content: Some("test-format".into()),
        ..Default::default()
    };
    lib.write("o", &mut src(object.clone()), None, &as_object)
        .unwrap();
    let read = lib.read("o", &ReadOptions::default()).unwrap();
    assert_eq!(read.info.content.as_deref(), Some("test-format"));
    let back: Vec<RecordBatch> = read.reader.map(|b| b.unwrap()).collect();
    assert_eq!(back[0].column(0).as_binary::<i64>().value(1), b"cd");
    assert_eq!(
        lib.get_description("o", &AsOf::Latest)
            .unwrap()
            .content
            .as_deref(),
        Some("test-format")
    );
    let err = lib
        .append(
            "o",
            &mut src(object.clone()),
            None,
            &WriteOptions::default(),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Schema);
    assert_eq!(
        lib.append("o", &mut src(object.clone()), None, &as_object)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    // Compaction and new metadata keep the object's format.
    lib.write_metadata("o", Some(b"m".to_vec()), None).unwrap();
    lib.compact_data("o", Some(100)).unwrap();
    let info = lib.read("o", &ReadOptions::default()).unwrap().info;
    assert_eq!(info.content.as_deref(), Some("test-format"));
    // Only one binary column without index is an object.
    let bad = WriteOptions {
        content: Some("x".into()),
        ..ix()
    };
    assert_eq!(
        lib.write("b", &mut src(frame(&[1], 0.0)), None, &bad)
            .unwrap_err()
            .kind(),
        ErrorKind::Schema
    );
    // A plain write replaces the object with a table.
    lib.write("o", &mut src(frame(&[1], 0.0)), None, &ix())
        .unwrap();
    assert_eq!(
        lib.read("o", &ReadOptions::default()).unwrap().info.content,
        None
    );
}

#[test]
fn storage_sizes_count_every_stored_value_by_kind_and_symbol() {
    use sheaf::table::KeyKind;
    let (_store, lib) = lib(5, false);
    lib.write("s", &mut src(frame(&secs(0..12), 0.0)), None, &ix())
        .unwrap();
    lib.write("t", &mut src(frame(&secs(0..3), 0.0)), None, &ix())
        .unwrap();
    lib.snapshot("snap", None, &[], None).unwrap();
    let sizes = lib.storage_sizes(None).unwrap();
    let s = &sizes.symbols["s"];
    assert_eq!(s[&KeyKind::TableData].count, 3, "12 rows in segments of 5");
    assert_eq!(s[&KeyKind::Version].count, 1);
    let stored: u64 = lib
        .get_description("s", &AsOf::Latest)
        .unwrap()
        .stored_bytes;
    assert_eq!(s[&KeyKind::TableData].bytes, stored);
    assert_eq!(sizes.total[&KeyKind::SnapshotRef].count, 1);
    assert_eq!(
        sizes.total[&KeyKind::TableData].count,
        s[&KeyKind::TableData].count + sizes.symbols["t"][&KeyKind::TableData].count
    );
    let only = lib.storage_sizes(Some("t")).unwrap();
    assert_eq!(only.symbols.len(), 1);
    assert_eq!(only.total, only.symbols["t"]);
    assert!(!only.total.contains_key(&KeyKind::SnapshotRef));
}
