//! SQL through the Rust API: results, pushdown (counted segment loads), time travel, pinning,
//! parameters, errors, writes and their commit rule (a forced lost race re-runs the
//! statement), cancellation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt64Type};
use arrow_array::{
    Float64Array, Int64Array, RecordBatch, RecordBatchIterator, StringArray,
    TimestampNanosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use datafusion::common::ScalarValue;
use sheaf::sql::Cancel;
use sheaf::storage::{HookedStorage, MemoryStorage, SharedStorage, StepHook, StepKind};
use sheaf::{ErrorKind, Library, LibraryOptions, ReadOptions, Store, WriteOptions};

const DAY: i64 = 86_400_000_000_000;

/// `n` rows from `start`: ts (one per day, the index), k = i, x = i / 2, s = "s{i % 3}".
fn rows(start: i64, n: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Timestamp(TimeUnit::Nanosecond, None), false),
        Field::new("k", DataType::Int64, true),
        Field::new("x", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    let ids: Vec<i64> = (start..start + n).collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(TimestampNanosecondArray::from(
                ids.iter().map(|i| i * DAY).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(Float64Array::from(
                ids.iter().map(|i| *i as f64 / 2.0).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                ids.iter()
                    .map(|i| format!("s{}", i % 3))
                    .collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap()
}

fn write(lib: &Library, symbol: &str, batch: RecordBatch) -> u64 {
    let schema = batch.schema();
    let options = WriteOptions {
        index: Some("ts".into()),
        ..Default::default()
    };
    lib.write(
        symbol,
        &mut RecordBatchIterator::new(vec![Ok(batch)], schema),
        None,
        &options,
    )
    .unwrap()
}

/// A library of 10-row segments holding `t` = 100 rows (ten segments).
fn library(uri: &str) -> Library {
    let store = Store::open(uri).unwrap();
    let lib = store
        .create_library(
            "lib",
            LibraryOptions {
                rows_per_segment: 10,
                ..Default::default()
            },
        )
        .unwrap();
    write(&lib, "t", rows(0, 100));
    lib
}

fn sql(lib: &Library, query: &str) -> Vec<RecordBatch> {
    sql_with(lib, query, Vec::new()).unwrap()
}

fn sql_with(
    lib: &Library,
    query: &str,
    params: Vec<ScalarValue>,
) -> sheaf::Result<Vec<RecordBatch>> {
    let reader = lib.sql(query, params, Cancel::new())?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| sheaf::Error::new(ErrorKind::Generic, e.to_string()))
}

fn i64s(batches: &[RecordBatch], column: usize) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            b.column(column)
                .as_primitive::<Int64Type>()
                .iter()
                .map(|v| v.unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn count(batches: &[RecordBatch]) -> u64 {
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].schema().field(0).name(), "count");
    batches[0].column(0).as_primitive::<UInt64Type>().value(0)
}

fn error_of(lib: &Library, query: &str) -> sheaf::Error {
    match lib.sql(query, Vec::new(), Cancel::new()) {
        Err(e) => e,
        Ok(_) => panic!("{query} should fail"),
    }
}

#[test]
fn queries_filter_project_group_order_and_limit() {
    let lib = library("mem://");
    let got = sql(
        &lib,
        "SELECT s, count(*) AS n, sum(k) AS total FROM t WHERE k >= 30 AND k < 60 \
         GROUP BY s ORDER BY s",
    );
    let s: Vec<String> = got
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_string::<i32>()
                .iter()
                .map(|v| v.unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(s, ["s0", "s1", "s2"]);
    assert_eq!(i64s(&got, 1), [10, 10, 10]);
    // k in 30..60 with k % 3 == 0: 30, 33, …, 57
    assert_eq!(
        i64s(&got, 2),
        [
            (30..60).filter(|k| k % 3 == 0).sum::<i64>(),
            (30..60).filter(|k| k % 3 == 1).sum::<i64>(),
            (30..60).filter(|k| k % 3 == 2).sum::<i64>(),
        ]
    );
    let top = sql(&lib, "SELECT k FROM t ORDER BY x DESC LIMIT 3");
    assert_eq!(i64s(&top, 0), [99, 98, 97]);
    let all = sql(&lib, "SELECT count(*) FROM t");
    assert_eq!(i64s(&all, 0), [100]);
}

#[test]
fn filters_on_the_index_load_only_the_segments_they_need() {
    let lib = library("mem://");
    let before = lib.segments_loaded();
    let got = sql(
        &lib,
        "SELECT k, x FROM t WHERE ts >= TIMESTAMP '1970-01-21' AND ts < TIMESTAMP '1970-01-26' \
         ORDER BY k",
    );
    assert_eq!(i64s(&got, 0), [20, 21, 22, 23, 24]);
    // rows 20..25 lie in one segment of ten
    assert_eq!(lib.segments_loaded() - before, 1);
    let before = lib.segments_loaded();
    let got = sql(&lib, "SELECT k FROM t WHERE k IN (5, 95) ORDER BY k");
    assert_eq!(i64s(&got, 0), [5, 95]);
    assert_eq!(lib.segments_loaded() - before, 2);
    // A float filter is not pushed (NaN ordering differs): every segment is read.
    let before = lib.segments_loaded();
    let got = sql(&lib, "SELECT k FROM t WHERE x > 48.0 ORDER BY k");
    assert_eq!(i64s(&got, 0), (97..100).collect::<Vec<_>>());
    assert_eq!(lib.segments_loaded() - before, 10);

    let plan = sql(&lib, "EXPLAIN SELECT k FROM t WHERE k > 90 AND x > 1.0");
    let text: String = plan
        .iter()
        .flat_map(|b| {
            b.column(1)
                .as_string::<i32>()
                .iter()
                .map(|v| v.unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("SheafScan: lib.t version=0"), "{text}");
    // the float filter stays with DataFusion
    assert!(
        text.contains("columns=[k, x] pushed_filters=[k > Int64(90)]"),
        "{text}"
    );
}

#[test]
fn time_travel_and_one_version_per_query() {
    let lib = library("mem://");
    lib.append(
        "t",
        &mut RecordBatchIterator::new(vec![Ok(rows(100, 5))], rows(0, 1).schema()),
        None,
        &WriteOptions::default(),
    )
    .unwrap();
    lib.snapshot("first", None, &[], Some(&[("t".to_string(), 0)]))
        .unwrap();
    assert_eq!(i64s(&sql(&lib, "SELECT count(*) FROM t"), 0), [105]);
    assert_eq!(
        i64s(&sql(&lib, "SELECT count(*) FROM at_version('t', 0)"), 0),
        [100]
    );
    assert_eq!(
        i64s(&sql(&lib, "SELECT count(*) FROM at_version('t', -1)"), 0),
        [105]
    );
    assert_eq!(
        i64s(
            &sql(&lib, "SELECT count(*) FROM at_snapshot('t', 'first')"),
            0
        ),
        [100]
    );
    let v0_time = lib
        .list_versions(Some("t"), None, false)
        .unwrap()
        .into_iter()
        .find(|v| v.version == 0)
        .unwrap()
        .timestamp_ns;
    let at = format!("SELECT count(*) FROM at_time('t', {v0_time})");
    assert_eq!(i64s(&sql(&lib, &at), 0), [100]);
    let err = error_of(&lib, "SELECT * FROM at_version('t', 7)");
    assert_eq!(err.kind(), ErrorKind::NoSuchVersion, "{err}");

    // A query is planned (its tables pinned) before it streams: a commit after that changes
    // nothing it returns, even for a table it names twice.
    let reader = lib
        .sql(
            "SELECT a.k FROM t a JOIN t b ON a.k = b.k ORDER BY a.k",
            Vec::new(),
            Cancel::new(),
        )
        .unwrap();
    write(&lib, "t", rows(0, 3));
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
    assert_eq!(i64s(&batches, 0), (0..105).collect::<Vec<_>>());
}

#[test]
fn parameters_are_bound_not_spliced() {
    let lib = library("mem://");
    let got = sql_with(
        &lib,
        "SELECT k FROM t WHERE s = $1 AND k < $2 ORDER BY k",
        vec![
            ScalarValue::Utf8(Some("s1".into())),
            ScalarValue::Int64(Some(10)),
        ],
    )
    .unwrap();
    assert_eq!(i64s(&got, 0), [1, 4, 7]);
    let hostile = sql_with(
        &lib,
        "SELECT count(*) FROM t WHERE s = $1",
        vec![ScalarValue::Utf8(Some("s1' OR '1'='1".into()))],
    )
    .unwrap();
    assert_eq!(i64s(&hostile, 0), [0]);
    let parsed =
        sheaf::sql::parse_params(r#"[1, "a", null, true, 2.5, {"timestamp_ns": 5}]"#).unwrap();
    assert_eq!(parsed.len(), 6);
    assert_eq!(parsed[4], ScalarValue::Float64(Some(2.5)));
    assert_eq!(parsed[5], ScalarValue::TimestampNanosecond(Some(5), None));
    for bad in [r#"{"a": 1}"#, r#"[[1]]"#, "[1,"] {
        assert!(sheaf::sql::parse_params(bad).is_err(), "{bad}");
    }
}

#[test]
fn errors_name_the_problem() {
    let lib = library("mem://");
    let syntax = error_of(&lib, "SELEC k FROM t");
    assert_eq!(syntax.kind(), ErrorKind::InvalidArgument, "{syntax}");
    let column = error_of(&lib, "SELECT nope FROM t");
    assert_eq!(column.kind(), ErrorKind::Schema, "{column}");
    assert!(column.to_string().contains("nope"), "{column}");
    let table = error_of(&lib, "SELECT * FROM missing");
    assert_eq!(table.kind(), ErrorKind::InvalidArgument, "{table}");
    assert!(table.to_string().contains("missing"), "{table}");
    let types = error_of(&lib, "SELECT k + s FROM t");
    assert_eq!(types.kind(), ErrorKind::InvalidArgument, "{types}");
    let ddl = error_of(&lib, "DROP TABLE t");
    assert_eq!(ddl.kind(), ErrorKind::Unsupported, "{ddl}");
    let two = error_of(&lib, "SELECT 1; SELECT 2");
    assert_eq!(two.kind(), ErrorKind::InvalidArgument, "{two}");
}

#[test]
fn writes_are_versioned_commits() {
    let lib = library("mem://");
    // INSERT: an append.
    let n = count(&sql(
        &lib,
        "INSERT INTO t SELECT ts + INTERVAL '100 days', k + 100, x, s FROM t WHERE k < 3",
    ));
    assert_eq!(n, 3);
    assert_eq!(
        lib.read("t", &ReadOptions::default()).unwrap().info.version,
        1
    );
    assert_eq!(
        i64s(&sql(&lib, "SELECT k FROM t WHERE k >= 99 ORDER BY k"), 0),
        [99, 100, 101, 102]
    );
    // DELETE: a new version without the rows; the old one stays readable.
    let n = count(&sql(&lib, "DELETE FROM t WHERE k >= 50 OR s IS NULL"));
    assert_eq!(n, 53);
    assert_eq!(i64s(&sql(&lib, "SELECT count(*) FROM t"), 0), [50]);
    assert_eq!(
        i64s(&sql(&lib, "SELECT count(*) FROM at_version('t', 1)"), 0),
        [103]
    );
    // the index survives: a date_range read still works on the new version
    let info = lib.read("t", &ReadOptions::default()).unwrap().info;
    assert_eq!(info.index.as_deref(), Some("ts"));
    assert_eq!(info.version, 2);
    // UPDATE: changed rows counted, the rest unchanged.
    let n = count(&sql(
        &lib,
        "UPDATE t SET x = -1, s = 'hit' WHERE k % 10 = 0",
    ));
    assert_eq!(n, 5);
    let got = sql(&lib, "SELECT k, x, s FROM t WHERE k < 12 ORDER BY k");
    let x: Vec<f64> = got
        .iter()
        .flat_map(|b| b.column(1).as_primitive::<Float64Type>().values().to_vec())
        .collect();
    assert_eq!(x[0], -1.0);
    assert_eq!(x[1], 0.5);
    assert_eq!(x[10], -1.0);
    assert_eq!(got[0].column(2).as_string::<i32>().value(0), "hit");
    assert_eq!(got[0].column(2).as_string::<i32>().value(1), "s1");
    let zero = count(&sql(&lib, "UPDATE t SET x = 0 WHERE k > 1000"));
    assert_eq!(zero, 0);
    // CREATE TABLE AS: a new symbol; refused over an existing one unless OR REPLACE.
    let n = count(&sql(
        &lib,
        "CREATE TABLE summary AS SELECT s, count(*) AS n FROM t GROUP BY s",
    ));
    assert_eq!(n, 4); // s0, s1, s2 and the updated rows' "hit"
    assert_eq!(i64s(&sql(&lib, "SELECT sum(n) FROM summary"), 0), [50]);
    // no index: a count reads the rows of a stored column
    assert_eq!(i64s(&sql(&lib, "SELECT count(*) FROM summary"), 0), [4]);
    let again = error_of(&lib, "CREATE TABLE summary AS SELECT 1 AS n");
    assert_eq!(again.kind(), ErrorKind::InvalidArgument, "{again}");
    assert_eq!(
        count(&sql(
            &lib,
            "CREATE TABLE IF NOT EXISTS summary AS SELECT 1 AS n"
        )),
        0
    );
    assert_eq!(
        count(&sql(
            &lib,
            "CREATE OR REPLACE TABLE summary AS SELECT 1 AS n"
        )),
        1
    );
    assert_eq!(
        lib.read("summary", &ReadOptions::default())
            .unwrap()
            .info
            .version,
        1
    );
    let old = error_of(&lib, "INSERT INTO at_version('t', 0) VALUES (1)");
    assert_eq!(old.kind(), ErrorKind::InvalidArgument, "{old}");
}

/// Fires `competitor` once, just before the first version put it sees after being armed.
#[derive(Default)]
struct RaceOnce {
    armed: AtomicBool,
    competitor: parking_lot::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl StepHook for RaceOnce {
    fn before(&self, step: StepKind) -> sheaf::Result<()> {
        if step == StepKind::PutIfAbsent && self.armed.swap(false, Ordering::SeqCst) {
            if let Some(run) = self.competitor.lock().take() {
                run();
            }
        }
        Ok(())
    }
}

#[test]
fn an_update_that_loses_the_race_runs_again_on_the_new_version() {
    let raw: SharedStorage = Arc::new(MemoryStorage::new("mem://sql-race"));
    let plain = Store::from_storage("mem://plain", raw.clone());
    let lib = plain
        .create_library("lib", LibraryOptions::default())
        .unwrap();
    write(&lib, "t", rows(0, 10));
    let hook = Arc::new(RaceOnce::default());
    let hooked: SharedStorage = Arc::new(HookedStorage::new(
        raw.clone(),
        hook.clone() as Arc<dyn StepHook>,
    ));
    let raced = Store::from_storage("mem://hooked", hooked)
        .open_library("lib", false, LibraryOptions::default())
        .unwrap();
    let other = lib.clone();
    *hook.competitor.lock() = Some(Box::new(move || {
        let n = count(&sql(&other, "UPDATE t SET k = k + 100"));
        assert_eq!(n, 10);
    }));
    hook.armed.store(true, Ordering::SeqCst);
    let n = count(&sql(&raced, "UPDATE t SET k = k + 1 WHERE x < 2.5"));
    assert_eq!(n, 5);
    // Both updates landed: the competitor's on v1, ours re-run on it as v2.
    assert_eq!(
        i64s(&sql(&lib, "SELECT k FROM t ORDER BY ts"), 0),
        [101, 102, 103, 104, 105, 105, 106, 107, 108, 109]
    );
    assert_eq!(
        lib.read("t", &ReadOptions::default()).unwrap().info.version,
        2
    );
    assert_eq!(
        i64s(
            &sql(&lib, "SELECT k FROM at_version('t', 0) ORDER BY ts"),
            0
        ),
        (0..10).collect::<Vec<_>>()
    );
}

#[test]
fn write_if_latest_refuses_a_moved_base() {
    let lib = library("mem://");
    let schema = rows(0, 1).schema();
    let data = || RecordBatchIterator::new(vec![Ok(rows(0, 2))], schema.clone());
    let err = lib
        .write_if_latest("t", Some(5), &mut data(), None, &WriteOptions::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(
        err.message().contains(sheaf::table::CHANGED_SINCE_READ),
        "{err}"
    );
    let err = lib
        .write_if_latest("t", None, &mut data(), None, &WriteOptions::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let v = lib
        .write_if_latest("t", Some(0), &mut data(), None, &WriteOptions::default())
        .unwrap();
    assert_eq!(v, 1);
    assert_eq!(
        lib.write_if_latest("new", None, &mut data(), None, &WriteOptions::default())
            .unwrap(),
        0
    );
}

#[test]
fn concurrent_inserts_both_land() {
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("lmdb://{}", dir.path().display());
    let lib = library(&uri);
    std::thread::scope(|scope| {
        for t in 0..2 {
            let lib = lib.clone();
            scope.spawn(move || {
                for i in 0..5 {
                    let k = 1000 + t * 100 + i;
                    let n = count(&sql(
                        &lib,
                        &format!("INSERT INTO t VALUES (TIMESTAMP '2000-01-01', {k}, 0.0, 'c')"),
                    ));
                    assert_eq!(n, 1);
                }
            });
        }
    });
    let got = sql(&lib, "SELECT k FROM t WHERE k >= 1000 ORDER BY k");
    assert_eq!(
        i64s(&got, 0),
        [1000, 1001, 1002, 1003, 1004, 1100, 1101, 1102, 1103, 1104]
    );
}

#[test]
fn a_cancelled_query_stops_with_cancelled() {
    let lib = library("mem://");
    let cancel = Cancel::new();
    let mut reader = lib
        .sql("SELECT k FROM t", Vec::new(), cancel.clone())
        .unwrap();
    cancel.cancel();
    let err = reader.next().unwrap().unwrap_err();
    assert!(err.to_string().contains("cancelled"), "{err}");
    let err = lib.sql("SELECT 1", Vec::new(), cancel).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
}

#[test]
fn store_wide_queries_name_library_and_symbol() {
    let lib = library("mem://");
    let store = lib.store().clone();
    let other = store
        .create_library("other", LibraryOptions::default())
        .unwrap();
    write(&other, "u", rows(0, 4));
    let got = store
        .sql(
            "SELECT count(*) FROM lib.t JOIN other.u ON t.k = u.k",
            Vec::new(),
            Cancel::new(),
        )
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(i64s(&got, 0), [4]);
    let got = store
        .sql(
            "SELECT count(*) FROM at_version('other.u', 0)",
            Vec::new(),
            Cancel::new(),
        )
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(i64s(&got, 0), [4]);
}
