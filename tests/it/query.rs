//! Query plans through the Rust API (JSON plans, as the C ABI and Python send them): filters
//! with pandas' missing-value rules, projections, group-by, resample, row clauses, pruning by
//! segment statistics (counted loads), and the errors a bad plan gets before anything loads.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampNanosecondType};
use arrow_array::*;
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use sheaf::{ErrorKind, Library, LibraryOptions, ReadOptions, Store, WriteOptions};

const SEC: i64 = 1_000_000_000;
const N: i64 = 100;

/// The value of `f` at second `s`: NaN every 7th, null every 11th, else s / 2.
fn f_at(s: i64) -> Option<f64> {
    if s % 11 == 0 {
        None
    } else if s % 7 == 0 {
        Some(f64::NAN)
    } else {
        Some(s as f64 / 2.0)
    }
}

fn g_at(s: i64) -> Option<&'static str> {
    (s % 13 != 0).then(|| ["a", "b", "c"][(s % 3) as usize])
}

fn f_missing(s: i64) -> bool {
    f_at(s).is_none_or(f64::is_nan)
}

fn table() -> RecordBatch {
    let secs: Vec<i64> = (0..N).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
        Field::new("i", DataType::Int64, false),
        Field::new("f", DataType::Float64, true),
        Field::new("g", DataType::Utf8, true),
        Field::new("k", DataType::Int32, false),
        Field::new("flag", DataType::Boolean, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(
                TimestampNanosecondArray::from(secs.iter().map(|s| s * SEC).collect::<Vec<_>>())
                    .with_timezone("UTC"),
            ),
            Arc::new(Int64Array::from(secs.clone())),
            Arc::new(Float64Array::from(
                secs.iter().map(|s| f_at(*s)).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                secs.iter().map(|s| g_at(*s)).collect::<Vec<_>>(),
            )),
            Arc::new(Int32Array::from(
                secs.iter().map(|s| (s % 4) as i32).collect::<Vec<_>>(),
            )),
            Arc::new(BooleanArray::from(
                secs.iter().map(|s| s % 2 == 0).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap()
}

fn setup() -> (Store, Library) {
    let store = Store::open("mem://").unwrap();
    let options = LibraryOptions {
        rows_per_segment: 10,
        ..Default::default()
    };
    let lib = store.create_library("q", options).unwrap();
    let batch = table();
    let schema = batch.schema();
    let mut reader = RecordBatchIterator::new(vec![Ok(batch)], schema);
    let options = WriteOptions {
        index: Some("ts".into()),
        ..Default::default()
    };
    lib.write("s", &mut reader, None, &options).unwrap();
    (store, lib)
}

fn run(lib: &Library, plan: &str) -> sheaf::Result<RecordBatch> {
    let options = ReadOptions::from_json(&format!("{{\"query\": {plan}}}"))?;
    let r = lib.read("s", &options)?;
    let schema = r.reader.schema();
    let batches = r
        .reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| sheaf::Error::new(ErrorKind::Generic, e.to_string()))?;
    Ok(arrow_select::concat::concat_batches(&schema, &batches).unwrap())
}

fn ints(batch: &RecordBatch, name: &str) -> Vec<i64> {
    let c = arrow_cast::cast(batch.column_by_name(name).unwrap(), &DataType::Int64).unwrap();
    c.as_primitive::<Int64Type>().values().to_vec()
}

fn floats(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    batch
        .column_by_name(name)
        .unwrap()
        .as_primitive::<Float64Type>()
        .iter()
        .collect()
}

#[test]
fn filter_prunes_segments_by_statistics() {
    let (_store, lib) = setup();
    let before = lib.segments_loaded();
    let out = run(
        &lib,
        r#"[{"filter": {"op": "gt", "args": [{"col": "i"}, {"lit": 85}]}}]"#,
    )
    .unwrap();
    assert_eq!(ints(&out, "i"), (86..N).collect::<Vec<_>>());
    // Segments hold 10 rows: only 80..89 and 90..99 can have i > 85.
    assert_eq!(lib.segments_loaded() - before, 2);
    // The index and every column come along, in stored order.
    let names: Vec<_> = out
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["ts", "i", "f", "g", "k", "flag"]);

    // A literal on the left, and a negation: `~(i >= 15)` is i < 15 → segments 0 and 1.
    let before = lib.segments_loaded();
    let out = run(
        &lib,
        r#"[{"filter": {"op": "not", "args": [{"op": "le", "args": [{"lit": 15}, {"col": "i"}]}]}}]"#,
    )
    .unwrap();
    assert_eq!(ints(&out, "i"), (0..15).collect::<Vec<_>>());
    assert_eq!(lib.segments_loaded() - before, 2);

    // Nothing matches: no segment loads, and the result still has the schema.
    let before = lib.segments_loaded();
    let out = run(
        &lib,
        r#"[{"filter": {"op": "and", "args": [{"op": "gt", "args": [{"col": "i"}, {"lit": 50}]}, {"op": "lt", "args": [{"col": "i"}, {"lit": 40}]}]}}]"#,
    )
    .unwrap();
    assert_eq!(out.num_rows(), 0);
    assert_eq!(out.num_columns(), 6);
    assert_eq!(lib.segments_loaded() - before, 0);

    // A timestamp literal prunes on the index statistics.
    let before = lib.segments_loaded();
    let out = run(
        &lib,
        &format!(
            r#"[{{"filter": {{"op": "ge", "args": [{{"col": "ts"}}, {{"ts": {}}}]}}}}]"#,
            95 * SEC
        ),
    )
    .unwrap();
    assert_eq!(ints(&out, "i"), (95..N).collect::<Vec<_>>());
    assert_eq!(lib.segments_loaded() - before, 1);
}

#[test]
fn missing_values_follow_pandas() {
    let (_store, lib) = setup();
    // `f != 1.0`: NaN and null rows are kept (pandas: NaN != x is True).
    let out = run(
        &lib,
        r#"[{"filter": {"op": "ne", "args": [{"col": "f"}, {"lit": 1.0}]}}]"#,
    )
    .unwrap();
    let expected: Vec<i64> = (0..N).filter(|s| f_at(*s) != Some(1.0)).collect();
    assert_eq!(ints(&out, "i"), expected);
    // `f > 10`: missing values are never greater.
    let out = run(
        &lib,
        r#"[{"filter": {"op": "gt", "args": [{"col": "f"}, {"lit": 10}]}}]"#,
    )
    .unwrap();
    let expected: Vec<i64> = (0..N)
        .filter(|s| !f_missing(*s) && *s as f64 / 2.0 > 10.0)
        .collect();
    assert_eq!(ints(&out, "i"), expected);
    // isnull counts NaN as missing.
    let out = run(
        &lib,
        r#"[{"filter": {"op": "isnull", "args": [{"col": "f"}]}}]"#,
    )
    .unwrap();
    let expected: Vec<i64> = (0..N).filter(|s| f_missing(*s)).collect();
    assert_eq!(ints(&out, "i"), expected);
}

type RowPredicate = Box<dyn Fn(i64) -> bool>;

#[test]
fn string_predicates_isin_and_boolean_logic() {
    let (_store, lib) = setup();
    let cases: Vec<(&str, RowPredicate)> = vec![
        (
            r#"{"op": "isin", "args": [{"col": "g"}], "values": ["a", "c"]}"#,
            Box::new(|s| matches!(g_at(s), Some("a") | Some("c"))),
        ),
        (
            r#"{"op": "isnotin", "args": [{"col": "k"}], "values": [0, 3]}"#,
            Box::new(|s| s % 4 == 1 || s % 4 == 2),
        ),
        (
            r#"{"op": "regex_match", "args": [{"col": "g"}], "pattern": "^[bc]$"}"#,
            Box::new(|s| matches!(g_at(s), Some("b") | Some("c"))),
        ),
        (
            r#"{"op": "startswith", "args": [{"col": "g"}], "pattern": "b"}"#,
            Box::new(|s| g_at(s) == Some("b")),
        ),
        (
            r#"{"op": "eq", "args": [{"col": "g"}, {"lit": "a"}]}"#,
            Box::new(|s| g_at(s) == Some("a")),
        ),
        (
            r#"{"op": "xor", "args": [{"col": "flag"}, {"op": "eq", "args": [{"col": "k"}, {"lit": 1}]}]}"#,
            Box::new(|s| (s % 2 == 0) ^ (s % 4 == 1)),
        ),
        (
            r#"{"op": "or", "args": [{"op": "isnull", "args": [{"col": "g"}]}, {"op": "ge", "args": [{"col": "i"}, {"lit": 97}]}]}"#,
            Box::new(|s| g_at(s).is_none() || s >= 97),
        ),
        (r#"{"col": "flag"}"#, Box::new(|s| s % 2 == 0)),
    ];
    for (expr, keep) in cases {
        let out = run(&lib, &format!(r#"[{{"filter": {expr}}}]"#)).unwrap();
        let expected: Vec<i64> = (0..N).filter(|s| keep(*s)).collect();
        assert_eq!(ints(&out, "i"), expected, "{expr}");
    }
}

#[test]
fn projections_compute_columns() {
    let (_store, lib) = setup();
    let out = run(
        &lib,
        r#"[{"project": {"name": "j", "expr": {"op": "add", "args": [{"op": "mul", "args": [{"col": "i"}, {"lit": 2}]}, {"lit": 1}]}}},
            {"project": {"name": "h", "expr": {"op": "div", "args": [{"col": "k"}, {"lit": 2}]}}},
            {"project": {"name": "p", "expr": {"op": "pow", "args": [{"col": "k"}, {"lit": 2}]}}},
            {"project": {"name": "w", "expr": {"op": "where", "args": [{"col": "flag"}, {"col": "i"}, {"op": "neg", "args": [{"col": "i"}]}]}}},
            {"filter": {"op": "gt", "args": [{"col": "j"}, {"lit": 190}]}}]"#,
    )
    .unwrap();
    let secs: Vec<i64> = (95..N).collect();
    assert_eq!(
        ints(&out, "j"),
        secs.iter().map(|s| 2 * s + 1).collect::<Vec<_>>()
    );
    assert_eq!(
        out.column_by_name("h").unwrap().data_type(),
        &DataType::Float64
    );
    assert_eq!(
        floats(&out, "h"),
        secs.iter()
            .map(|s| Some((s % 4) as f64 / 2.0))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        ints(&out, "p"),
        secs.iter().map(|s| (s % 4) * (s % 4)).collect::<Vec<_>>()
    );
    assert_eq!(
        ints(&out, "w"),
        secs.iter()
            .map(|s| if s % 2 == 0 { *s } else { -s })
            .collect::<Vec<_>>()
    );
    // `columns` keeps the listed stored columns (index first), then the projected ones.
    let options = ReadOptions::from_json(
        r#"{"columns": ["k"], "query": [{"project": {"name": "j", "expr": {"op": "abs", "args": [{"op": "sub", "args": [{"col": "k"}, {"col": "i"}]}]}}}]}"#,
    )
    .unwrap();
    let r = lib.read("s", &options).unwrap();
    let names: Vec<_> = r
        .reader
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["ts", "k", "j"]);
}

#[test]
fn groupby_aggregates_like_pandas() {
    let (_store, lib) = setup();
    let out = run(
        &lib,
        r#"[{"groupby": {"by": ["g"], "aggs": [
            {"name": "sum_i", "column": "i", "op": "sum"},
            {"name": "mean_f", "column": "f", "op": "mean"},
            {"name": "count_f", "column": "f", "op": "count"},
            {"name": "min_i", "column": "i", "op": "min"},
            {"name": "max_f", "column": "f", "op": "max"},
            {"name": "first_f", "column": "f", "op": "first"},
            {"name": "last_i", "column": "i", "op": "last"},
            {"name": "median_i", "column": "i", "op": "median"},
            {"name": "std_i", "column": "i", "op": "std"}]}}]"#,
    )
    .unwrap();
    assert_eq!(
        out.schema()
            .metadata()
            .get("sheaf:index")
            .map(String::as_str),
        Some("[\"g\"]")
    );
    let keys: Vec<_> = out
        .column_by_name("g")
        .unwrap()
        .as_string::<i32>()
        .iter()
        .map(|v| v.unwrap().to_string())
        .collect();
    assert_eq!(keys, ["a", "b", "c"]);
    for (row, key) in ["a", "b", "c"].iter().enumerate() {
        let members: Vec<i64> = (0..N).filter(|s| g_at(*s) == Some(key)).collect();
        let present_f: Vec<f64> = members
            .iter()
            .filter(|s| !f_missing(**s))
            .map(|s| *s as f64 / 2.0)
            .collect();
        assert_eq!(ints(&out, "sum_i")[row], members.iter().sum::<i64>());
        let mean = present_f.iter().sum::<f64>() / present_f.len() as f64;
        assert!((floats(&out, "mean_f")[row].unwrap() - mean).abs() < 1e-9);
        assert_eq!(ints(&out, "count_f")[row], present_f.len() as i64);
        assert_eq!(ints(&out, "min_i")[row], members[0]);
        assert_eq!(
            floats(&out, "max_f")[row],
            present_f.iter().cloned().reduce(f64::max)
        );
        assert_eq!(floats(&out, "first_f")[row], present_f.first().copied());
        assert_eq!(ints(&out, "last_i")[row], *members.last().unwrap());
        let m = members.len();
        let median = if m % 2 == 1 {
            members[m / 2] as f64
        } else {
            (members[m / 2 - 1] + members[m / 2]) as f64 / 2.0
        };
        assert_eq!(floats(&out, "median_i")[row], Some(median));
        let mu = members.iter().sum::<i64>() as f64 / m as f64;
        let var = members
            .iter()
            .map(|v| (*v as f64 - mu).powi(2))
            .sum::<f64>()
            / (m as f64 - 1.0);
        assert!((floats(&out, "std_i")[row].unwrap() - var.sqrt()).abs() < 1e-9);
    }

    // Two keys, sorted, and a filter on the aggregated result.
    let out = run(
        &lib,
        r#"[{"filter": {"op": "lt", "args": [{"col": "i"}, {"lit": 40}]}},
            {"groupby": {"by": ["k", "flag"], "aggs": [{"name": "n", "column": "i", "op": "count"}]}},
            {"filter": {"op": "gt", "args": [{"col": "k"}, {"lit": 1}]}}]"#,
    )
    .unwrap();
    assert_eq!(ints(&out, "k"), [2, 3]);
    assert_eq!(ints(&out, "n"), [10, 10]);
    assert_eq!(
        out.schema()
            .metadata()
            .get("sheaf:index")
            .map(String::as_str),
        Some("[\"k\",\"flag\"]")
    );
}

#[test]
fn resample_buckets_the_index() {
    let (_store, lib) = setup();
    let out = run(
        &lib,
        r#"[{"filter": {"op": "ge", "args": [{"col": "i"}, {"lit": 3}]}},
            {"resample": {"rule": "25s", "aggs": [{"name": "i", "column": "i", "op": "sum"}, {"name": "n", "column": "i", "op": "count"}]}}]"#,
    )
    .unwrap();
    let ts = out
        .column_by_name("ts")
        .unwrap()
        .as_primitive::<TimestampNanosecondType>();
    assert_eq!(
        ts.data_type(),
        &DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
    );
    assert_eq!(ts.values().to_vec(), [0, 25 * SEC, 50 * SEC, 75 * SEC]);
    assert_eq!(
        ints(&out, "i"),
        [
            (3..25).sum::<i64>(),
            (25..50).sum(),
            (50..75).sum(),
            (75..100).sum()
        ]
    );
    // Closed and labelled right, origin at the first row: edges 3, 33, 63, 93 → (3,33] etc.
    let out = run(
        &lib,
        r#"[{"filter": {"op": "ge", "args": [{"col": "i"}, {"lit": 3}]}},
            {"resample": {"rule": "30s", "closed": "right", "label": "right", "origin": "start", "aggs": [{"name": "n", "column": "i", "op": "count"}]}}]"#,
    )
    .unwrap();
    let ts = out
        .column_by_name("ts")
        .unwrap()
        .as_primitive::<TimestampNanosecondType>();
    assert_eq!(
        ts.values().to_vec(),
        [3 * SEC, 33 * SEC, 63 * SEC, 93 * SEC, 123 * SEC]
    );
    assert_eq!(ints(&out, "n"), [1, 30, 30, 30, 6]);
}

#[test]
fn row_clauses_apply_in_order() {
    let (_store, lib) = setup();
    let flag = r#"{"filter": {"col": "flag"}}"#;
    let cases = [
        (format!("[{flag}, {{\"head\": 3}}]"), vec![0, 2, 4]),
        (format!("[{flag}, {{\"tail\": 2}}]"), vec![96, 98]),
        (format!("[{flag}, {{\"row_range\": [1, 3]}}]"), vec![2, 4]),
        (format!("[{flag}, {{\"head\": -48}}]"), vec![0, 2]),
        (
            format!("[{{\"tail\": 10}}, {flag}, {{\"head\": 2}}]"),
            vec![90, 92],
        ),
        (
            format!(
                "[{{\"date_range\": [{{\"ns\": {}}}, {{\"ns\": {}}}]}}, {flag}]",
                10 * SEC,
                15 * SEC
            ),
            vec![10, 12, 14],
        ),
    ];
    for (plan, expected) in cases {
        let before = lib.segments_loaded();
        let out = run(&lib, &plan).unwrap();
        assert_eq!(ints(&out, "i"), expected, "{plan}");
        if plan.starts_with("[{\"tail\"") || plan.starts_with("[{\"date_range\"") {
            // Leading row clauses become part of the read: one segment.
            assert_eq!(lib.segments_loaded() - before, 1, "{plan}");
        }
    }
}

#[test]
fn bad_plans_fail_before_loading_with_clear_errors() {
    let (_store, lib) = setup();
    let cases = [
        (
            r#"[{"filter": {"op": "gt", "args": [{"col": "nope"}, {"lit": 1}]}}]"#,
            ErrorKind::Schema,
            "nope",
        ),
        (
            r#"[{"filter": {"op": "gt", "args": [{"col": "g"}, {"lit": 1}]}}]"#,
            ErrorKind::Schema,
            "'gt'",
        ),
        (
            r#"[{"filter": {"op": "bigger", "args": [{"col": "i"}, {"lit": 1}]}}]"#,
            ErrorKind::InvalidArgument,
            "bigger",
        ),
        (
            r#"[{"filter": {"op": "regex_match", "args": [{"col": "g"}], "pattern": "("}}]"#,
            ErrorKind::InvalidArgument,
            "pattern",
        ),
        (
            r#"[{"groupby": {"by": ["g"], "aggs": [{"name": "x", "column": "g", "op": "sum"}]}}]"#,
            ErrorKind::Schema,
            "sum",
        ),
        (
            r#"[{"groupby": {"by": ["g"], "aggs": [{"name": "x", "column": "i", "op": "avg"}]}}]"#,
            ErrorKind::InvalidArgument,
            "avg",
        ),
        (
            r#"[{"filter": {"op": "add", "args": [{"col": "i"}, {"lit": 1}]}}]"#,
            ErrorKind::Schema,
            "boolean",
        ),
        (r#"[{"sort": "i"}]"#, ErrorKind::InvalidArgument, "sort"),
        (
            r#"[{"project": {"name": "ts", "expr": {"col": "i"}}}]"#,
            ErrorKind::InvalidArgument,
            "index",
        ),
    ];
    for (plan, kind, needle) in cases {
        let before = lib.segments_loaded();
        let err = match run(&lib, plan) {
            Ok(_) => panic!("{plan} should fail"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), kind, "{plan}: {err}");
        assert!(err.to_string().contains(needle), "{plan}: {err}");
        assert_eq!(lib.segments_loaded(), before, "{plan} loaded segments");
    }
}

#[test]
fn nullable_bools_use_kleene_logic() {
    let store = Store::open("mem://").unwrap();
    let lib = store
        .create_library("b", LibraryOptions::default())
        .unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("i", DataType::Int64, false),
        Field::new("flag", DataType::Boolean, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![0, 1, 2])),
            Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
        ],
    )
    .unwrap();
    let mut reader = RecordBatchIterator::new(vec![Ok(batch)], schema);
    lib.write("s", &mut reader, None, &WriteOptions::default())
        .unwrap();
    let cases = [
        (r#"{"col": "flag"}"#, vec![0]),
        (r#"{"op": "not", "args": [{"col": "flag"}]}"#, vec![1]),
        (
            r#"{"op": "or", "args": [{"col": "flag"}, {"op": "eq", "args": [{"col": "i"}, {"lit": 2}]}]}"#,
            vec![0, 2],
        ),
        (
            r#"{"op": "not", "args": [{"op": "and", "args": [{"col": "flag"}, {"lit": false}]}]}"#,
            vec![0, 1, 2],
        ),
    ];
    for (expr, expected) in cases {
        let out = run(&lib, &format!(r#"[{{"filter": {expr}}}]"#)).unwrap();
        assert_eq!(ints(&out, "i"), expected, "{expr}");
    }
}

#[test]
fn resample_of_a_zoned_index_starts_at_local_midnight() {
    let store = Store::open("mem://").unwrap();
    let lib = store
        .create_library("z", LibraryOptions::default())
        .unwrap();
    let zone = DataType::Timestamp(TimeUnit::Nanosecond, Some("Europe/Paris".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("t", zone, false),
        Field::new("a", DataType::Int64, false),
    ]));
    // 2024-01-01 00:30 in Paris (23:30 UTC the day before), every two hours.
    let first = 1_704_065_400 * SEC;
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(
                TimestampNanosecondArray::from(
                    (0..10).map(|k| first + k * 7200 * SEC).collect::<Vec<_>>(),
                )
                .with_timezone("Europe/Paris"),
            ),
            Arc::new(Int64Array::from((0..10).collect::<Vec<i64>>())),
        ],
    )
    .unwrap();
    let mut reader = RecordBatchIterator::new(vec![Ok(batch)], schema);
    let options = WriteOptions {
        index: Some("t".into()),
        ..Default::default()
    };
    lib.write("s", &mut reader, None, &options).unwrap();
    let out = run(
        &lib,
        r#"[{"resample": {"rule": "3h", "aggs": [{"name": "a", "column": "a", "op": "sum"}]}}]"#,
    )
    .unwrap();
    assert_eq!(ints(&out, "a"), [1, 2, 7, 5, 13, 8, 9]);
    let midnight = 1_704_063_600 * SEC; // 2024-01-01 00:00+01:00
    assert_eq!(ints(&out, "t")[0], midnight);
    let out = run(
        &lib,
        r#"[{"resample": {"rule": "D", "aggs": [{"name": "a", "column": "a", "op": "sum"}]}}]"#,
    )
    .unwrap();
    assert_eq!(ints(&out, "a"), [45]);
    assert_eq!(ints(&out, "t"), [midnight]);
}

#[test]
fn single_key_fast_paths_group_exactly() {
    let store = Store::open("mem://").unwrap();
    let options = LibraryOptions {
        rows_per_segment: 2,
        ..Default::default()
    };
    let lib = store.create_library("k", options).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("u", DataType::UInt64, false),
        Field::new("s", DataType::LargeUtf8, true),
        Field::new("v", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(UInt64Array::from(vec![u64::MAX, 1, u64::MAX, 1, 7])),
            Arc::new(LargeStringArray::from(vec![
                Some("é"),
                None,
                Some("a"),
                Some("é"),
                Some("a"),
            ])),
            Arc::new(Int64Array::from(vec![1, 2, 4, 8, 16])),
        ],
    )
    .unwrap();
    let mut reader = RecordBatchIterator::new(vec![Ok(batch)], schema);
    lib.write("s", &mut reader, None, &WriteOptions::default())
        .unwrap();
    let out = run(
        &lib,
        r#"[{"groupby": {"by": ["u"], "aggs": [{"name": "t", "column": "v", "op": "sum"}]}}]"#,
    )
    .unwrap();
    let keys: Vec<u64> = out
        .column_by_name("u")
        .unwrap()
        .as_primitive::<arrow_array::types::UInt64Type>()
        .values()
        .to_vec();
    assert_eq!(keys, [1, 7, u64::MAX]);
    assert_eq!(ints(&out, "t"), [10, 16, 5]);
    let out = run(
        &lib,
        r#"[{"groupby": {"by": ["s"], "aggs": [{"name": "t", "column": "v", "op": "sum"}]}}]"#,
    )
    .unwrap();
    let keys: Vec<String> = out
        .column_by_name("s")
        .unwrap()
        .as_string::<i64>()
        .iter()
        .map(|v| v.unwrap().to_string())
        .collect();
    assert_eq!(keys, ["a", "é"]);
    assert_eq!(ints(&out, "t"), [20, 9]);
}
