//! The commit protocol, checked at every storage step rather than by luck.
//!
//! Every mutating operation runs against a store whose storage goes through a
//! [`HookedStorage`]. Two harnesses use it:
//!
//! - **Crash at every step** (FoundationDB's simulation, TigerBeetle's VOPR): the hook fails every
//!   storage call from the k-th mutating one on, which leaves the storage exactly as a process
//!   killed at that step would. The store is then reopened and must show either nothing of the
//!   operation or all of it (all of it if the call was acknowledged), and running the operation
//!   again must give what running it again after a clean run gives (nothing applied twice).
//! - **Forced interleavings**: for every ordered pair of operations (A, B) on one symbol and every
//!   storage step k of A, A is paused before its k-th step while B runs to completion, then A
//!   resumes. The outcome must equal running the acknowledged operations one after the other in
//!   some order, and no operation may report corruption.
//!
//! The observable state ([`observe`]) is everything a user can see: libraries, symbols, every
//! live version's rows, metadata and index, snapshots and their data, staged symbols, key
//! spaces and their entries, and whether a re-created library or key space starts empty.

use crate::common;

use std::cell::Cell;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::*;
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parking_lot::{Condvar, Mutex};
use sheaf::storage::{HookedStorage, MemoryStorage, SharedStorage, StepHook, StepKind};
use sheaf::table::{
    DateRange, FinalizeMode, FinalizeOptions, IndexBound, MergeOptions, UpdateOptions,
};
use sheaf::{AsOf, ErrorKind, Library, LibraryOptions, ReadOptions, Store, WriteOptions};

// ------------------------------------------------------------------ the hook

thread_local! {
    /// Set on the thread of the party the pause harness stops.
    static PAUSED_PARTY: Cell<bool> = const { Cell::new(false) };
}

#[derive(Default)]
struct HookState {
    /// Fail every call once this many mutating calls have run.
    crash_after: Option<u64>,
    mutating_calls: u64,
    crashed: bool,
    /// Stop the paused party before its step with this index (every call counts).
    pause_before: Option<u64>,
    party_steps: u64,
    paused: bool,
    released: bool,
    party_done: bool,
}

#[derive(Default)]
struct Hook {
    state: Mutex<HookState>,
    changed: Condvar,
}

impl StepHook for Hook {
    fn before(&self, step: StepKind) -> sheaf::Result<()> {
        let mut s = self.state.lock();
        if s.crashed {
            return Err(sheaf::Error::new(ErrorKind::Io, "simulated crash"));
        }
        if step.mutates() {
            if let Some(limit) = s.crash_after {
                if s.mutating_calls >= limit {
                    s.crashed = true;
                    return Err(sheaf::Error::new(ErrorKind::Io, "simulated crash"));
                }
            }
            s.mutating_calls += 1;
        }
        if PAUSED_PARTY.with(Cell::get) {
            let index = s.party_steps;
            s.party_steps += 1;
            if s.pause_before == Some(index) {
                s.paused = true;
                self.changed.notify_all();
                while !s.released {
                    self.changed.wait(&mut s);
                }
            }
        }
        Ok(())
    }
}

fn hooked(raw: &SharedStorage, hook: &Arc<Hook>) -> Store {
    let storage: SharedStorage = Arc::new(HookedStorage::new(
        raw.clone(),
        hook.clone() as Arc<dyn StepHook>,
    ));
    Store::from_storage("mem://hooked", storage)
}

// ------------------------------------------------------------------ the data

const LIB: &str = "lib";
const SYM: &str = "s";
const SECOND: i64 = 1_000_000_000;

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
        Field::new("k", DataType::Int64, false),
        Field::new("x", DataType::Float64, true),
    ]))
}

/// Rows with `ts` = start..start+n seconds, `k` descending from 1000-start, `x` = tag + i.
fn rows(start: i64, n: i64, tag: f64) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(
                TimestampNanosecondArray::from_iter_values((start..start + n).map(|t| t * SECOND))
                    .with_timezone("UTC"),
            ),
            Arc::new(Int64Array::from_iter_values(
                (start..start + n).map(|t| 1000 + t),
            )),
            Arc::new(Float64Array::from_iter_values(
                (0..n).map(|i| tag + i as f64),
            )),
        ],
    )
    .unwrap()
}

fn reader(
    batch: RecordBatch,
) -> RecordBatchIterator<std::vec::IntoIter<Result<RecordBatch, arrow_schema::ArrowError>>> {
    let schema = batch.schema();
    RecordBatchIterator::new(vec![Ok(batch)].into_iter(), schema)
}

fn indexed(ix: &str) -> WriteOptions {
    WriteOptions {
        index: Some(ix.to_string()),
        ..Default::default()
    }
}

fn options() -> LibraryOptions {
    LibraryOptions {
        rows_per_segment: 4,
        ..Default::default()
    }
}

/// The state every scenario starts from: `s` indexed by `ts` with two versions (v0 pinned by
/// snapshot `snap0`), two staged chunks, and a key space with a few keys.
fn initial_state(raw: &SharedStorage) {
    let store = Store::from_storage("mem://setup", raw.clone());
    let lib = store.create_library(LIB, options()).unwrap();
    lib.write(
        SYM,
        &mut reader(rows(0, 10, 0.0)),
        Some(b"m0".to_vec()),
        &indexed("ts"),
    )
    .unwrap();
    lib.snapshot("snap0", None, &[], None).unwrap();
    lib.append(
        SYM,
        &mut reader(rows(10, 5, 10.0)),
        None,
        &WriteOptions::default(),
    )
    .unwrap();
    lib.stage(SYM, &mut reader(rows(15, 3, 15.0)), Some("ts"), true)
        .unwrap();
    lib.stage(SYM, &mut reader(rows(18, 3, 18.0)), Some("ts"), true)
        .unwrap();
    let space = store.kv("space").unwrap();
    for i in 0..6u8 {
        space.put(&[b'k', i], &[i; 3], 0).unwrap();
    }
    let docs = store.create_collection("docs").unwrap();
    docs.store_multi(&[b"{\"n\": 0}", b"{\"n\": 1}", b"{\"n\": 2}"])
        .unwrap();
}

// ------------------------------------------------------------------ the operations

type Op = fn(&Store, &Library) -> sheaf::Result<()>;

fn ts_range(a: i64, b: i64) -> DateRange {
    DateRange {
        start: Some(IndexBound::Nanos(a * SECOND)),
        end: Some(IndexBound::Nanos(b * SECOND)),
    }
}

const OPS: &[(&str, Op)] = &[
    ("write", |_, l| {
        l.write(
            SYM,
            &mut reader(rows(100, 6, 100.0)),
            Some(b"w".to_vec()),
            &indexed("ts"),
        )
        .map(drop)
    }),
    ("write_prune", |_, l| {
        let o = WriteOptions {
            prune_previous_versions: Some(true),
            ..indexed("ts")
        };
        l.write(SYM, &mut reader(rows(200, 5, 200.0)), None, &o)
            .map(drop)
    }),
    ("write_other_index", |_, l| {
        l.write(SYM, &mut reader(rows(300, 5, 300.0)), None, &indexed("k"))
            .map(drop)
    }),
    ("write_unindexed", |_, l| {
        l.write(
            SYM,
            &mut reader(rows(400, 5, 400.0)),
            None,
            &WriteOptions::default(),
        )
        .map(drop)
    }),
    ("append", |_, l| {
        l.append(
            SYM,
            &mut reader(rows(500, 3, 500.0)),
            None,
            &WriteOptions::default(),
        )
        .map(drop)
    }),
    ("update", |_, l| {
        l.update(
            SYM,
            &mut reader(rows(3, 3, 600.0)),
            None,
            &UpdateOptions::default(),
        )
        .map(drop)
    }),
    // k 11..13 lies in the appended tail segment, which only v1 holds (v0 is pinned by a
    // snapshot): a pruning write or delete racing it collects what this update must trim.
    ("update_tail", |_, l| {
        l.update(
            SYM,
            &mut reader(rows(11, 2, 650.0)),
            None,
            &UpdateOptions::default(),
        )
        .map(drop)
    }),
    // Merge on `k`: (4, 1004) and (13, 1013) match stored rows and take x; (4, 7) is new and
    // lands after the stored row of ts 4. The span reaches the appended tail only v1 holds.
    ("merge", |_, l| {
        let batch = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(
                    TimestampNanosecondArray::from(vec![4 * SECOND, 4 * SECOND, 13 * SECOND])
                        .with_timezone("UTC"),
                ),
                Arc::new(Int64Array::from(vec![1004, 7, 1013])),
                Arc::new(Float64Array::from(vec![900.0, 901.0, 902.0])),
            ],
        )
        .unwrap();
        let o = MergeOptions {
            on: vec!["k".into()],
            ..Default::default()
        };
        l.merge(SYM, &mut reader(batch), None, &o).map(drop)
    }),
    // SQL's UPDATE / DELETE: the rows of the latest version, read and written back (here
    // unchanged, with new metadata), committed only over the version they were read from.
    ("rewrite_if_latest", |_, l| {
        let read = l.read(SYM, &ReadOptions::default())?;
        let (version, index) = (read.info.version, read.info.index.clone());
        let schema = read.reader.schema();
        let batches: Vec<RecordBatch> = read
            .reader
            .collect::<Result<_, _>>()
            .map_err(|e| sheaf::Error::new(ErrorKind::Generic, e.to_string()))?;
        let mut rows = RecordBatchIterator::new(batches.into_iter().map(Ok), schema);
        let o = WriteOptions {
            index,
            ..Default::default()
        };
        l.write_if_latest(SYM, Some(version), &mut rows, Some(b"rw".to_vec()), &o)
            .map(drop)
    }),
    ("delete_range", |_, l| {
        l.delete_data_in_range(SYM, ts_range(2, 5), None).map(drop)
    }),
    ("delete", |_, l| l.delete(SYM, None)),
    ("prune", |_, l| l.prune_previous_versions(SYM)),
    ("compact", |_, l| l.compact_data(SYM, Some(100)).map(drop)),
    ("finalize_append", |_, l| {
        let o = FinalizeOptions {
            mode: FinalizeMode::Append,
            ..Default::default()
        };
        l.finalize_staged_data(SYM, None, &o).map(drop)
    }),
    ("finalize_write", |_, l| {
        l.finalize_staged_data(SYM, None, &FinalizeOptions::default())
            .map(drop)
    }),
    ("finalize_sort", |_, l| {
        let o = FinalizeOptions {
            mode: FinalizeMode::Append,
            sort: true,
            ..Default::default()
        };
        l.finalize_staged_data(SYM, None, &o).map(drop)
    }),
    ("delete_staged", |_, l| l.delete_staged_data(SYM).map(drop)),
    ("snapshot", |_, l| l.snapshot("snap1", None, &[], None)),
    ("delete_snapshot", |_, l| l.delete_snapshot("snap0")),
    ("stage", |_, l| {
        l.stage(SYM, &mut reader(rows(700, 3, 700.0)), Some("ts"), true)
            .map(drop)
    }),
    // Stage-result tokens: a finalize of one named chunk (the first staged one) leaves the
    // other staged chunk alone.
    ("finalize_one_chunk", |_, l| {
        let Some(first) = l.list_staged_chunks(SYM)?.into_iter().next() else {
            return Err(sheaf::Error::new(ErrorKind::NotFound, "nothing staged"));
        };
        let o = FinalizeOptions {
            mode: FinalizeMode::Append,
            chunks: Some(vec![first.id]),
            ..Default::default()
        };
        l.finalize_staged_data(SYM, None, &o).map(drop)
    }),
    ("write_metadata", |_, l| {
        l.write_metadata(SYM, Some(b"meta2".to_vec()), None)
            .map(drop)
    }),
    // A symbol without versions: the metadata becomes its first version (no columns, no rows).
    ("write_metadata_new", |_, l| {
        l.write_metadata("fresh", Some(b"meta3".to_vec()), None)
            .map(drop)
    }),
    ("kv_put", |s, _| {
        s.kv("space")?
            .put_multi(&[b"k\x01", b"new"], &[b"changed", b"v"], 0)
            .map(drop)
    }),
    ("kv_erase", |s, _| {
        s.kv("space")?.erase_multi(&[b"k\x02", b"k\x03"]).map(drop)
    }),
    ("write_batch", |_, l| {
        // One item: a batch is atomic per item, not across items (documented).
        use sheaf::table::{BatchWriteMode, WriteItem};
        let mut a = reader(rows(800, 2, 800.0));
        let items = vec![WriteItem {
            symbol: SYM.into(),
            data: &mut a,
            metadata: None,
            options: WriteOptions::default(),
        }];
        for r in l.write_batch(items, BatchWriteMode::Append)? {
            r?;
        }
        Ok(())
    }),
    ("create_library", |s, _| {
        s.create_library("other", options()).map(drop)
    }),
    ("doc_store", |s, _| {
        s.open_collection("docs")?
            .store_multi(&[b"{\"n\": 9}"])
            .map(drop)
    }),
    ("doc_update", |s, _| {
        s.open_collection("docs")?
            .update_multi(&[1], &[b"{\"n\": 10}"], 0)
    }),
    ("doc_erase", |s, _| {
        s.open_collection("docs")?.erase_multi(&[0])
    }),
    ("drop_collection", |s, _| s.drop_collection("docs")),
    ("delete_library", |s, _| s.delete_library(LIB).map(drop)),
    ("drop_kv", |s, _| s.drop_kv("space").map(drop)),
];

/// The operations to check: all of them, or (for scoped mutation-testing runs) the
/// comma-separated names in `SHEAF_PROTOCOL_OPS`.
fn selected_ops() -> Vec<&'static (&'static str, Op)> {
    let wanted = std::env::var("SHEAF_PROTOCOL_OPS").ok();
    let chosen: Vec<_> = OPS
        .iter()
        .filter(|(name, _)| {
            wanted
                .as_deref()
                .is_none_or(|w| w.split(',').any(|n| n.trim() == *name))
        })
        .collect();
    assert!(!chosen.is_empty(), "SHEAF_PROTOCOL_OPS names no operation");
    chosen
}

/// Errors an operation may legitimately end with when another party got there first.
fn acceptable(kind: ErrorKind) -> bool {
    !matches!(
        kind,
        ErrorKind::Corrupt | ErrorKind::Internal | ErrorKind::Io | ErrorKind::Storage
    )
}

// ------------------------------------------------------------------ observing

fn describe_read(lib: &Library, as_of: AsOf) -> String {
    match lib.read(SYM, &ReadOptions::as_of(as_of)) {
        Err(e) => format!("read error {:?}", e.kind()),
        Ok(r) => {
            let batches: Result<Vec<_>, _> = r.reader.collect();
            match batches {
                Err(e) => format!("stream error {e}"),
                Ok(b) => {
                    let schema = b.first().map(|b| b.schema()).unwrap_or_else(schema);
                    let all = arrow_select::concat::concat_batches(&schema, &b).unwrap();
                    format!(
                        "index={:?} meta={:?} rows={} [{}]",
                        r.info.index,
                        r.metadata.map(|m| String::from_utf8_lossy(&m).into_owned()),
                        all.num_rows(),
                        compact_rows(&all)
                    )
                }
            }
        }
    }
}

/// Rows as `ts/k/x` triples (seconds, integer, value), short enough to read in a failure.
fn compact_rows(batch: &RecordBatch) -> String {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type, TimestampNanosecondType};
    let ts = batch.column(0).as_primitive::<TimestampNanosecondType>();
    let k = batch.column(1).as_primitive::<Int64Type>();
    let x = batch.column(2).as_primitive::<Float64Type>();
    (0..batch.num_rows())
        .map(|i| format!("{}/{}/{}", ts.value(i) / SECOND, k.value(i), x.value(i)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Everything a user can see of the store, as text.
fn observe(raw: &SharedStorage) -> String {
    let store = Store::from_storage("mem://observe", raw.clone());
    let mut out = Vec::new();
    if store.has_library(LIB).unwrap() {
        let lib = store.open_library(LIB, false, options()).unwrap();
        out.push(format!("symbols {:?}", lib.list_symbols(None).unwrap()));
        let versions = lib.list_versions(Some(SYM), None, false);
        match versions {
            Err(e) => out.push(format!("versions error {:?}", e.kind())),
            Ok(vs) => {
                for (i, v) in vs.iter().rev().enumerate() {
                    out.push(format!(
                        "version #{i} deleted={} snapshots={:?}: {}",
                        v.deleted,
                        v.snapshots,
                        describe_read(&lib, AsOf::Version(v.version as i64))
                    ));
                }
            }
        }
        // What the index promises must hold: a full date_range read returns every row, and the
        // description's range and order match the rows.
        let full_range = ReadOptions {
            date_range: Some(DateRange {
                start: None,
                end: None,
            }),
            ..Default::default()
        };
        match lib.read(SYM, &full_range) {
            Ok(r) => {
                let rows: usize = r.reader.map(|b| b.map_or(0, |b| b.num_rows())).sum();
                out.push(format!("full date_range read: {rows} rows"));
            }
            Err(e) => out.push(format!("full date_range read: {:?}", e.kind())),
        }
        if let Ok(d) = lib.get_description(SYM, &AsOf::Latest) {
            out.push(format!(
                "description: index={:?} range={:?} sorted={} rows={}",
                d.index.map(|c| c.name),
                d.index_range,
                d.sorted,
                d.row_count
            ));
        }
        let snaps = lib.list_snapshots().unwrap();
        for s in snaps {
            out.push(format!(
                "snapshot {}: {}",
                s.name,
                describe_read(&lib, AsOf::Snapshot(s.name.clone()))
            ));
        }
        out.push(format!("staged {:?}", lib.get_staged_symbols().unwrap()));
    } else {
        let lib = store.create_library(LIB, options()).unwrap();
        out.push(format!(
            "no library; re-created holds {:?}",
            lib.list_symbols(None).unwrap()
        ));
    }
    let spaces = store.list_kv().unwrap();
    out.push(format!("key spaces {spaces:?}"));
    let space = store.kv("space").unwrap();
    let keys = space.list(&[], &[], usize::MAX, 0, true).map(|l| {
        l.into_iter()
            .map(|kv| (kv.key, kv.value))
            .collect::<Vec<_>>()
    });
    out.push(format!("space entries {keys:?}"));
    let docs = if store.collection_exists("docs").unwrap() {
        let c = store.open_collection("docs").unwrap();
        format!(
            "size {:?} next {:?} docs {:?}",
            c.size(),
            c.last_id(),
            c.list(0, usize::MAX, &serde_json::Map::new()).map(|d| d
                .into_iter()
                .map(|(id, b)| (id, String::from_utf8_lossy(&b).into_owned()))
                .collect::<Vec<_>>())
        )
    } else {
        let c = store.create_collection("docs").unwrap();
        format!("no collection; re-created holds {:?}", c.size())
    };
    out.push(format!("collection {docs}"));
    out.push(format!("libraries {:?}", store.list_libraries().unwrap()));
    out.join("\n")
}

/// The state after running `ops` one after the other from the initial state, if each succeeds
/// (`None` when one fails: then that order is not a serial explanation).
fn serial(ops: &[Op], all_must_succeed: bool) -> Option<String> {
    let raw: SharedStorage = Arc::new(MemoryStorage::new("mem://serial"));
    initial_state(&raw);
    let store = Store::from_storage("mem://serial", raw.clone());
    let lib = store.open_library(LIB, false, options()).unwrap();
    for op in ops {
        if op(&store, &lib).is_err() && all_must_succeed {
            return None;
        }
    }
    Some(observe(&raw))
}

// ------------------------------------------------------------------ crash at every step

#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    Memory,
    Lmdb,
    /// A fresh prefix of a bucket on the local S3 server (`common::s3`).
    S3,
}

/// A fresh empty storage of a backend (the directory lives as long as the returned guard).
fn fresh_storage(backend: Backend) -> (SharedStorage, Option<tempfile::TempDir>) {
    match backend {
        Backend::Memory => (Arc::new(MemoryStorage::new("mem://crash")), None),
        Backend::Lmdb => {
            let dir = tempfile::tempdir().unwrap();
            let options = sheaf::storage::LmdbOptions {
                map_size: Some(64 << 20),
            };
            (
                sheaf::storage::LmdbStorage::open(dir.path(), options).unwrap(),
                Some(dir),
            )
        }
        Backend::S3 => {
            let uri = common::s3::fresh_prefix_uri("protocol").expect("an S3 test server");
            (sheaf::storage::open_uri(&uri).unwrap(), None)
        }
    }
}

/// The operations checked on S3, where every storage step is an HTTP round trip: one per
/// kind of commit (a chain commit that re-bases, a trim, staged chunks, a multi-key
/// collection change, a key space mode, a drop), unless `SHEAF_PROTOCOL_OPS` names others.
const S3_OPS: &[&str] = &[
    "append",
    "update_tail",
    "merge",
    "finalize_one_chunk",
    "kv_put",
    "doc_store",
    "delete_library",
];

fn s3_ops() -> Vec<&'static (&'static str, Op)> {
    if std::env::var("SHEAF_PROTOCOL_OPS").is_ok() {
        return selected_ops();
    }
    OPS.iter().filter(|(n, _)| S3_OPS.contains(n)).collect()
}

#[test]
fn every_operation_survives_a_crash_at_every_step_in_memory() {
    crash_at_every_step(Backend::Memory, selected_ops());
}

#[test]
fn every_operation_survives_a_crash_at_every_step_on_lmdb() {
    crash_at_every_step(Backend::Lmdb, selected_ops());
}

#[test]
fn operations_survive_a_crash_at_every_step_on_s3() {
    if common::s3::fresh_prefix_uri("probe").is_none() {
        return; // no S3 test server outside CI (CI=true fails instead, in fresh_prefix_uri)
    }
    crash_at_every_step(Backend::S3, s3_ops());
}

fn crash_at_every_step(backend: Backend, ops: Vec<&'static (&'static str, Op)>) {
    let mut failures = Vec::new();
    for (name, op) in ops {
        let before = serial(&[], true).unwrap();
        let after = serial(&[*op], false).unwrap();
        let again_after = serial(&[*op, *op], false).unwrap();
        for k in 0.. {
            let (raw, _dir) = fresh_storage(backend);
            initial_state(&raw);
            let hook = Arc::new(Hook::default());
            hook.state.lock().crash_after = Some(k);
            let store = hooked(&raw, &hook);
            let lib = store.open_library(LIB, false, options()).unwrap();
            let outcome = op(&store, &lib);
            let crashed = hook.state.lock().crashed;
            let seen = observe(&raw);
            let visible = if seen == after {
                true
            } else if seen == before && !(outcome.is_ok() && after != before) {
                false
            } else {
                failures.push(format!(
                    "{name}, crash before mutating step {k} (call {}): half-visible state\n{seen}\n--- expected before:\n{before}\n--- or after:\n{after}",
                    if outcome.is_ok() { "acknowledged" } else { "failed" }
                ));
                break;
            };
            // What the crash left is garbage, never damage; reclaim removes all of it and
            // changes nothing a user sees.
            let store = Store::from_storage("mem://reopened", raw.clone());
            let report = store.verify().unwrap();
            if !report.problems.is_empty() {
                failures.push(format!(
                    "{name}, crash at {k}: verify found {:?}",
                    report.problems
                ));
            }
            // (observe re-creates a dropped library and key space, so look once more first)
            let before_reclaim = observe(&raw);
            store.reclaim(std::time::Duration::ZERO).unwrap();
            let report = store.verify().unwrap();
            if !report.leftovers.is_empty() || observe(&raw) != before_reclaim {
                failures.push(format!(
                    "{name}, crash at {k}: reclaim left {:?} or changed the state",
                    report.to_json()
                ));
            }
            // Recovery: the same call again, on a fresh handle, as after a clean run.
            let lib = store.open_library(LIB, false, options()).unwrap();
            let rerun = op(&store, &lib);
            if let Err(e) = &rerun {
                if !acceptable(e.kind()) {
                    failures.push(format!("{name}, crash at {k}: re-run failed with {e}"));
                }
            }
            let expected = if visible { &again_after } else { &after };
            let seen = observe(&raw);
            if &seen != expected {
                failures.push(format!(
                    "{name}, crash before mutating step {k}: re-running gives\n{seen}\n--- instead of\n{expected}"
                ));
            }
            if !crashed {
                break;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

// ------------------------------------------------------------------ forced interleavings

enum Paused {
    /// A stopped before step k; B may run.
    AtStep,
    /// A finished before reaching step k: every interleaving of this pair was tried.
    Finished(sheaf::Result<()>),
}

/// What both parties returned, and the state they left.
type PairOutcome = (sheaf::Result<()>, sheaf::Result<()>, String);

fn run_pair(a: Op, b: Op, k: u64, backend: Backend) -> (Paused, Option<PairOutcome>) {
    let (raw, _dir) = fresh_storage(backend);
    initial_state(&raw);
    let hook = Arc::new(Hook::default());
    hook.state.lock().pause_before = Some(k);
    let store = hooked(&raw, &hook);
    let lib_a = store.open_library(LIB, false, options()).unwrap();
    let lib_b = store.open_library(LIB, false, options()).unwrap();
    let (store_a, hook_a) = (store.clone(), hook.clone());
    let party = std::thread::spawn(move || {
        PAUSED_PARTY.with(|p| p.set(true));
        let result = a(&store_a, &lib_a);
        let mut s = hook_a.state.lock();
        s.party_done = true;
        hook_a.changed.notify_all();
        result
    });
    {
        let mut s = hook.state.lock();
        while !s.paused && !s.party_done {
            if hook
                .changed
                .wait_for(&mut s, Duration::from_secs(30))
                .timed_out()
            {
                panic!("party A neither paused nor finished within 30 s");
            }
        }
        if !s.paused {
            drop(s);
            return (Paused::Finished(party.join().unwrap()), None);
        }
    }
    let result_b = b(&store, &lib_b);
    {
        let mut s = hook.state.lock();
        s.released = true;
        hook.changed.notify_all();
    }
    let result_a = party.join().unwrap();
    let mut seen = observe(&raw);
    let problems = Store::from_storage("mem://verify", raw.clone())
        .verify()
        .unwrap()
        .problems;
    if !problems.is_empty() {
        seen.push_str(&format!("\nverify problems: {problems:?}"));
    }
    (Paused::AtStep, Some((result_a, result_b, seen)))
}

#[test]
fn every_pair_of_operations_is_serializable_at_every_step() {
    let ops = selected_ops();
    let pairs = ops.iter().flat_map(|a| ops.iter().map(move |b| (*a, *b)));
    pairs_are_serializable(Backend::Memory, pairs.collect(), 100);
}

#[test]
fn pairs_of_operations_are_serializable_at_every_step_on_s3() {
    if common::s3::fresh_prefix_uri("probe").is_none() {
        return; // no S3 test server outside CI (CI=true fails instead, in fresh_prefix_uri)
    }
    let ops = s3_ops();
    // Each operation against itself (two writers of one kind) and against the next one.
    let pairs = (0..ops.len())
        .flat_map(|i| [(ops[i], ops[i]), (ops[i], ops[(i + 1) % ops.len()])])
        .collect();
    pairs_are_serializable(Backend::S3, pairs, 20);
}

type NamedOp = &'static (&'static str, Op);

fn pairs_are_serializable(backend: Backend, pairs: Vec<(NamedOp, NamedOp)>, at_least: usize) {
    let mut failures = Vec::new();
    let mut scenarios = 0;
    for ((name_a, a), (name_b, b)) in pairs {
        {
            let both = [serial(&[*a, *b], true), serial(&[*b, *a], true)];
            let only_a = serial(&[*a], true);
            let only_b = serial(&[*b], true);
            let none = serial(&[], true);
            for k in 0.. {
                let (paused, outcome) = run_pair(*a, *b, k, backend);
                let Some((ra, rb, seen)) = outcome else {
                    if let Paused::Finished(Err(e)) = paused {
                        failures.push(format!("{name_a} alone failed: {e}"));
                    }
                    break;
                };
                scenarios += 1;
                for (who, r) in [(name_a, &ra), (name_b, &rb)] {
                    if let Err(e) = r {
                        if !acceptable(e.kind()) {
                            failures.push(format!(
                                "{name_a} paused before step {k}, {name_b} ran: {who} failed with {e}"
                            ));
                        }
                    }
                }
                let candidates: Vec<&Option<String>> = match (ra.is_ok(), rb.is_ok()) {
                    (true, true) => both.iter().collect(),
                    (true, false) => vec![&only_a],
                    (false, true) => vec![&only_b],
                    (false, false) => vec![&none],
                };
                if !candidates
                    .iter()
                    .any(|c| c.as_deref() == Some(seen.as_str()))
                {
                    let expected: BTreeSet<&str> =
                        candidates.iter().filter_map(|c| c.as_deref()).collect();
                    failures.push(format!(
                        "{name_a} paused before step {k}, {name_b} ran (A: {}, B: {}): no serial order explains\n{seen}\n--- serial outcomes:\n{}",
                        ra.as_ref().map_or_else(|e| e.to_string(), |_| "ok".into()),
                        rb.as_ref().map_or_else(|e| e.to_string(), |_| "ok".into()),
                        expected.into_iter().collect::<Vec<_>>().join("\n---\n")
                    ));
                }
            }
        }
    }
    assert!(scenarios > at_least);
    assert!(
        failures.is_empty(),
        "{} failure(s) in {scenarios} scenarios:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

// ------------------------------------------------------------------ verify and reclaim

#[test]
fn verify_lists_what_crashes_leave_and_reclaim_removes_only_that() {
    use sheaf::verify::LeftoverKind;
    let raw: SharedStorage = Arc::new(MemoryStorage::new("mem://leftovers"));
    initial_state(&raw);
    let clean = observe(&raw);
    let store = Store::from_storage("mem://leftovers", raw.clone());
    assert!(store.verify().unwrap().leftovers.is_empty());
    // A write killed after its segments, before its version record.
    let hook = Arc::new(Hook::default());
    hook.state.lock().crash_after = Some(1);
    let crashing = hooked(&raw, &hook);
    let lib = crashing.open_library(LIB, false, options()).unwrap();
    let big = rows(1000, 40, 0.0);
    assert!(lib
        .write(SYM, &mut reader(big), None, &indexed("ts"))
        .is_err());
    // A library whose drop was killed after its registry key went.
    let other = store.create_library("other", options()).unwrap();
    other
        .write("x", &mut reader(rows(0, 20, 0.0)), None, &indexed("ts"))
        .unwrap();
    let hook = Arc::new(Hook::default());
    hook.state.lock().crash_after = Some(1);
    assert!(hooked(&raw, &hook).delete_library("other").is_err());

    let report = store.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let kinds: Vec<LeftoverKind> = report.leftovers.iter().map(|l| l.kind).collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == LeftoverKind::UnreferencedSegment)
            .count(),
        10,
        "{}",
        report.to_json()
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == LeftoverKind::DroppedData)
            .count(),
        1,
        "{}",
        report.to_json()
    );
    // A grace period protects young segments (a write in progress), not dropped data.
    let kept = store.reclaim(Duration::from_secs(3600)).unwrap();
    assert_eq!(kept.kept_young_segments, 10);
    assert!(kept.removed_keys > 0);
    assert_eq!(store.verify().unwrap().leftovers.len(), 10);
    let removed = store.reclaim(Duration::ZERO).unwrap();
    assert_eq!((removed.removed_keys, removed.kept_young_segments), (10, 0));
    let report = store.verify().unwrap();
    assert!(
        report.leftovers.is_empty() && report.problems.is_empty(),
        "{}",
        report.to_json()
    );
    assert_eq!(observe(&raw), clean);
    // Only the keys of the listed data remain: nothing under the dropped library's prefix.
    let left: usize = raw
        .scan(
            &sheaf::storage::KeyRange::all(),
            sheaf::storage::ScanOptions::default(),
        )
        .unwrap()
        .len();
    let fresh: SharedStorage = Arc::new(MemoryStorage::new("mem://fresh"));
    initial_state(&fresh);
    let expected = fresh
        .scan(
            &sheaf::storage::KeyRange::all(),
            sheaf::storage::ScanOptions::default(),
        )
        .unwrap()
        .len();
    assert_eq!(left, expected);
}

// ------------------------------------------------------------------ staging, case by case

fn staged_rows(lib: &Library, symbol: &str) -> Vec<i64> {
    use arrow_array::cast::AsArray;
    let r = lib.read(symbol, &ReadOptions::default()).unwrap();
    r.reader
        .flat_map(|b| {
            let b = b.unwrap();
            b.column(1)
                .as_primitive::<arrow_array::types::Int64Type>()
                .values()
                .to_vec()
        })
        .collect()
}

#[test]
fn a_finalize_interrupted_after_its_commit_is_never_applied_again() {
    use sheaf::verify::LeftoverKind;
    // One chunk, finalized; the process dies between the commit and the chunk's removal; more
    // versions are committed; a second chunk is staged and finalized. The first chunk's rows
    // must appear once, its segments (used by the committed version) must survive the clean-up,
    // the second chunk must not be mistaken for a consumed one, and no leftover may remain.
    let raw: SharedStorage = Arc::new(MemoryStorage::new("mem://staging"));
    let store = Store::from_storage("mem://staging", raw.clone());
    let lib = store.create_library(LIB, options()).unwrap();
    lib.write(SYM, &mut reader(rows(0, 4, 0.0)), None, &indexed("ts"))
        .unwrap();
    lib.stage(SYM, &mut reader(rows(10, 3, 0.0)), Some("ts"), true)
        .unwrap();
    let hook = Arc::new(Hook::default());
    hook.state.lock().crash_after = Some(1); // the commit lands, the chunk removal does not
    let crashing = hooked(&raw, &hook);
    let append = FinalizeOptions {
        mode: FinalizeMode::Append,
        ..Default::default()
    };
    assert!(crashing
        .open_library(LIB, false, options())
        .unwrap()
        .finalize_staged_data(SYM, None, &append)
        .is_err());
    assert_eq!(
        staged_rows(&lib, SYM),
        vec![1000, 1001, 1002, 1003, 1010, 1011, 1012]
    );
    lib.write_metadata(SYM, Some(b"m".to_vec()), None).unwrap();
    lib.write_metadata(SYM, Some(b"n".to_vec()), None).unwrap();
    assert_eq!(lib.get_staged_symbols().unwrap(), Vec::<String>::new());
    lib.stage(SYM, &mut reader(rows(20, 2, 0.0)), Some("ts"), true)
        .unwrap();
    assert_eq!(lib.get_staged_symbols().unwrap(), vec![SYM.to_string()]);
    lib.finalize_staged_data(SYM, None, &append).unwrap();
    assert_eq!(
        staged_rows(&lib, SYM),
        vec![1000, 1001, 1002, 1003, 1010, 1011, 1012, 1020, 1021]
    );
    let err = lib.finalize_staged_data(SYM, None, &append).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let report = store.verify().unwrap();
    assert!(report.problems.is_empty(), "{}", report.to_json());
    assert!(
        !report
            .leftovers
            .iter()
            .any(|l| l.kind == LeftoverKind::ConsumedChunk),
        "consumed chunks are removed by the next finalize: {}",
        report.to_json()
    );
    assert_eq!(
        staged_rows(&lib, SYM),
        vec![1000, 1001, 1002, 1003, 1010, 1011, 1012, 1020, 1021]
    );
}

#[test]
fn delete_staged_data_that_loses_to_a_finalize_deletes_nothing_and_says_so() {
    let raw: SharedStorage = Arc::new(MemoryStorage::new("mem://lost"));
    initial_state(&raw);
    let hook = Arc::new(Hook::default());
    let store = hooked(&raw, &hook);
    let lib = store.open_library(LIB, false, options()).unwrap();
    // Stop delete_staged_data right before its commit (its only create-if-absent step).
    let steps = {
        let probe: SharedStorage = Arc::new(MemoryStorage::new("mem://probe"));
        initial_state(&probe);
        let counting = Arc::new(Hook::default());
        let s = hooked(&probe, &counting);
        let l = s.open_library(LIB, false, options()).unwrap();
        PAUSED_PARTY.with(|p| p.set(true));
        let steps_before_commit = {
            // count the steps up to the commit: run it with a crash at its first mutation
            counting.state.lock().crash_after = Some(0);
            let _ = l.delete_staged_data(SYM);
            counting.state.lock().party_steps
        };
        PAUSED_PARTY.with(|p| p.set(false));
        steps_before_commit // the index of the commit step: stop right before it
    };
    hook.state.lock().pause_before = Some(steps);
    let (lib_a, hook_a) = (lib.clone(), hook.clone());
    let party = std::thread::spawn(move || {
        PAUSED_PARTY.with(|p| p.set(true));
        let r = lib_a.delete_staged_data(SYM);
        let mut s = hook_a.state.lock();
        s.party_done = true;
        hook_a.changed.notify_all();
        r
    });
    {
        let mut s = hook.state.lock();
        while !s.paused && !s.party_done {
            hook.changed.wait_for(&mut s, Duration::from_secs(30));
        }
        assert!(s.paused, "delete_staged_data never reached its commit");
    }
    let append = FinalizeOptions {
        mode: FinalizeMode::Append,
        ..Default::default()
    };
    lib.finalize_staged_data(SYM, None, &append).unwrap();
    {
        let mut s = hook.state.lock();
        s.released = true;
        hook.changed.notify_all();
    }
    assert_eq!(
        party.join().unwrap().unwrap(),
        0,
        "it ran second: nothing was left to delete"
    );
    assert_eq!(staged_rows(&lib, SYM).len(), 15 + 6);
}

#[test]
fn finalize_keeps_the_sort_order_facts_of_chunks_and_base() {
    let store = Store::open("mem://").unwrap();
    let lib = store.create_library(LIB, options()).unwrap();
    let append = FinalizeOptions {
        mode: FinalizeMode::Append,
        ..Default::default()
    };
    let description = |lib: &Library| lib.get_description(SYM, &AsOf::Latest).unwrap();
    // Chunks that touch (the next starts at the previous end) are in order; rows add up.
    lib.write(SYM, &mut reader(rows(0, 3, 0.0)), None, &indexed("ts"))
        .unwrap();
    lib.stage(SYM, &mut reader(rows(2, 3, 0.0)), Some("ts"), true)
        .unwrap();
    lib.stage(SYM, &mut reader(rows(4, 2, 0.0)), Some("ts"), true)
        .unwrap();
    lib.finalize_staged_data(SYM, None, &append).unwrap();
    let d = description(&lib);
    assert_eq!((d.row_count, d.sorted.as_str()), (3 + 3 + 2, "ASCENDING"));
    // Staged data starting exactly at the stored end appends; starting below it is refused.
    lib.stage(SYM, &mut reader(rows(5, 1, 0.0)), Some("ts"), true)
        .unwrap();
    lib.finalize_staged_data(SYM, None, &append).unwrap();
    assert_eq!(description(&lib).row_count, 9);
    lib.stage(SYM, &mut reader(rows(1, 1, 0.0)), Some("ts"), true)
        .unwrap();
    let err = lib.finalize_staged_data(SYM, None, &append).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsortedIndex);
    lib.delete_staged_data(SYM).unwrap();
    // An unsorted chunk, or an unsorted base, makes the version unsorted.
    let mut unsorted = rows(100, 3, 0.0);
    unsorted = arrow_select::take::take_record_batch(
        &unsorted,
        &arrow_array::UInt32Array::from(vec![2, 0, 1]),
    )
    .unwrap();
    lib.stage("u", &mut reader(unsorted.clone()), Some("ts"), false)
        .unwrap();
    lib.finalize_staged_data("u", None, &FinalizeOptions::default())
        .unwrap();
    assert_eq!(
        lib.get_description("u", &AsOf::Latest).unwrap().sorted,
        "UNSORTED"
    );
    let loose = WriteOptions {
        validate_index: false,
        ..indexed("ts")
    };
    lib.write("v", &mut reader(unsorted), None, &loose).unwrap();
    lib.stage("v", &mut reader(rows(200, 2, 0.0)), Some("ts"), true)
        .unwrap();
    lib.finalize_staged_data("v", None, &append).unwrap();
    let d = lib.get_description("v", &AsOf::Latest).unwrap();
    assert_eq!((d.row_count, d.sorted.as_str()), (5, "UNSORTED"));
}

#[test]
fn a_sorting_finalize_interrupted_after_its_commit_leaves_nothing_behind_once_cleaned() {
    // Sorting rewrites the staged rows into new segments; the chunks' own segments are then
    // used by nothing. A crash before they are removed leaves them; the next look at the
    // staging area removes them with their chunks (and keeps every segment a version uses).
    let raw: SharedStorage = Arc::new(MemoryStorage::new("mem://sorted"));
    let store = Store::from_storage("mem://sorted", raw.clone());
    let lib = store.create_library(LIB, options()).unwrap();
    lib.stage(SYM, &mut reader(rows(10, 3, 0.0)), Some("ts"), true)
        .unwrap();
    lib.stage(SYM, &mut reader(rows(5, 3, 0.0)), Some("ts"), true)
        .unwrap();
    let hook = Arc::new(Hook::default());
    // mutating steps of a sorting finalize: write the sorted segments, commit, drop the chunks
    hook.state.lock().crash_after = Some(2);
    let sort = FinalizeOptions {
        sort: true,
        ..Default::default()
    };
    assert!(hooked(&raw, &hook)
        .open_library(LIB, false, options())
        .unwrap()
        .finalize_staged_data(SYM, None, &sort)
        .is_err());
    assert_eq!(
        staged_rows(&lib, SYM),
        vec![1005, 1006, 1007, 1010, 1011, 1012]
    );
    assert!(
        !store.verify().unwrap().leftovers.is_empty(),
        "the crash left the chunks"
    );
    assert_eq!(lib.get_staged_symbols().unwrap(), Vec::<String>::new());
    let report = store.verify().unwrap();
    assert!(
        report.leftovers.is_empty() && report.problems.is_empty(),
        "{}",
        report.to_json()
    );
    assert_eq!(
        staged_rows(&lib, SYM),
        vec![1005, 1006, 1007, 1010, 1011, 1012]
    );
}
