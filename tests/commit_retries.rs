//! The commit loop's retry rules, each forced deterministically: a competitor commits from
//! inside a storage hook at exactly the step where it hurts, and the outcome is checked against
//! what the rule promises.
//!
//! - a lost put-if-absent race is re-based, up to `commit.max_retries` times, then `Conflict`;
//! - a segment that vanished because a competitor collected it is a lost race too (re-based,
//!   same budget), not corruption;
//! - real corruption is reported at once, not retried as if it were a race.
//!
//! Its own test binary and one test function, because `commit.max_retries` is process-wide: the
//! tests of `tests/it` (one process) must not see it change, and the cases here run one after the
//! other and restore the default.

use std::sync::Arc;

use arrow_array::{Float64Array, Int64Array, RecordBatch, RecordBatchIterator};
use arrow_schema::{DataType, Field, Schema};
use parking_lot::Mutex;
use sheaf::storage::{HookedStorage, MemoryStorage, SharedStorage, StepHook, StepKind};
use sheaf::table::UpdateOptions;
use sheaf::{AsOf, ErrorKind, Library, LibraryOptions, ReadOptions, Store, WriteOptions};

const LIB: &str = "lib";
const SYM: &str = "s";

type Competitor = Box<dyn FnMut() + Send>;

/// Records every step; before the `n`-th step of a kind (counting from 0) it runs the competitor
/// registered for it, once.
#[derive(Default)]
struct Inject {
    steps: Mutex<Vec<StepKind>>,
    at: Mutex<Vec<(StepKind, usize, Competitor)>>,
}

impl Inject {
    fn before_nth(&self, kind: StepKind, n: usize, competitor: Competitor) {
        self.at.lock().push((kind, n, competitor));
    }
}

impl StepHook for Inject {
    fn before(&self, step: StepKind) -> sheaf::Result<()> {
        let nth = {
            let mut steps = self.steps.lock();
            steps.push(step);
            steps.iter().filter(|s| **s == step).count() - 1
        };
        let due: Vec<Competitor> = {
            let mut at = self.at.lock();
            let (now, later): (Vec<_>, Vec<_>) = at
                .drain(..)
                .partition(|(kind, n, _)| *kind == step && *n == nth);
            *at = later;
            now.into_iter().map(|(_, _, c)| c).collect()
        };
        for mut competitor in due {
            competitor();
        }
        Ok(())
    }
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("x", DataType::Float64, false),
    ]))
}

fn rows(start: i64, n: i64, x: f64) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(start..start + n)),
            Arc::new(Float64Array::from_iter_values((0..n).map(|_| x))),
        ],
    )
    .unwrap()
}

fn reader(
    batch: RecordBatch,
) -> RecordBatchIterator<std::vec::IntoIter<Result<RecordBatch, arrow_schema::ArrowError>>> {
    RecordBatchIterator::new(vec![Ok(batch)].into_iter(), schema())
}

fn indexed() -> WriteOptions {
    WriteOptions {
        index: Some("k".into()),
        ..Default::default()
    }
}

/// (k, x) of every row of the latest version.
fn content(lib: &Library) -> Vec<(i64, f64)> {
    let read = lib.read(SYM, &ReadOptions::as_of(AsOf::Latest)).unwrap();
    let mut out = Vec::new();
    for batch in read.reader {
        let batch = batch.unwrap();
        let k = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        let x = batch
            .column(1)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        out.extend(
            k.iter()
                .zip(x.iter())
                .map(|(k, x)| (k.unwrap(), x.unwrap())),
        );
    }
    out
}

/// A store whose library `lib` holds `s`: v0 = k 0..8 (x 0), v1 = v0 + k 8..12 (x 1), four rows
/// per segment, so v1's tail segment belongs to v1 alone. Returns the raw storage, the hook and
/// the library seen through the hook.
fn setup() -> (SharedStorage, Arc<Inject>, Library) {
    let raw: SharedStorage = Arc::new(MemoryStorage::new("mem://retries"));
    let plain = Store::from_storage("mem://plain", raw.clone());
    let options = LibraryOptions {
        rows_per_segment: 4,
        ..Default::default()
    };
    let lib = plain.create_library(LIB, options).unwrap();
    lib.write(SYM, &mut reader(rows(0, 8, 0.0)), None, &indexed())
        .unwrap();
    lib.append(
        SYM,
        &mut reader(rows(8, 4, 1.0)),
        None,
        &WriteOptions::default(),
    )
    .unwrap();
    let hook = Arc::new(Inject::default());
    let hooked: SharedStorage = Arc::new(HookedStorage::new(
        raw.clone(),
        hook.clone() as Arc<dyn StepHook>,
    ));
    let lib = Store::from_storage("mem://hooked", hooked)
        .open_library(LIB, false, LibraryOptions::default())
        .unwrap();
    (raw, hook, lib)
}

fn plain_library(raw: &SharedStorage) -> Library {
    Store::from_storage("mem://plain", raw.clone())
        .open_library(LIB, false, LibraryOptions::default())
        .unwrap()
}

/// An append by someone else: k start..start+2 with x 9.
fn competing_append(raw: &SharedStorage, start: i64) -> Competitor {
    let lib = plain_library(raw);
    Box::new(move || {
        lib.append(
            SYM,
            &mut reader(rows(start, 2, 9.0)),
            None,
            &WriteOptions::default(),
        )
        .unwrap();
    })
}

/// A pruning write by someone else: k 0..12 with x 5; it collects v1's tail segment.
fn competing_pruning_write(raw: &SharedStorage) -> Competitor {
    let lib = plain_library(raw);
    Box::new(move || {
        let options = WriteOptions {
            prune_previous_versions: Some(true),
            ..indexed()
        };
        lib.write(SYM, &mut reader(rows(0, 12, 5.0)), None, &options)
            .unwrap();
    })
}

/// The steps an operation takes on a fresh setup.
fn steps_of(op: impl Fn(&Library) -> sheaf::Result<u64>) -> Vec<StepKind> {
    let (_, hook, lib) = setup();
    op(&lib).unwrap();
    let steps = hook.steps.lock().clone();
    steps
}

fn update_tail(lib: &Library) -> sheaf::Result<u64> {
    // k 9..11 lies in v1's tail segment (k 8..12), which this update must load and trim.
    lib.update(
        SYM,
        &mut reader(rows(9, 2, 7.0)),
        None,
        &UpdateOptions::default(),
    )
}

fn append_own(lib: &Library) -> sheaf::Result<u64> {
    lib.append(
        SYM,
        &mut reader(rows(200, 1, 3.0)),
        None,
        &WriteOptions::default(),
    )
}

/// Flips a bit in the middle of the last segment of `s` (by key order: v1's tail).
fn damage_a_segment(raw: &SharedStorage) {
    let keys = raw
        .scan(
            &sheaf::storage::KeyRange::prefix(b""),
            sheaf::storage::ScanOptions::default(),
        )
        .unwrap();
    let tail_segment = keys
        .iter()
        .filter(|e| e.key.windows(3).any(|w| w == b"s\0s"))
        .max_by_key(|e| e.key.clone())
        .expect("segments exist");
    let mut damaged = tail_segment.value.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x40;
    raw.put(&tail_segment.key, &damaged).unwrap();
}

#[test]
fn retry_rules_of_the_commit_loop() {
    let set_retries = |n: i64| sheaf::config::set_int("commit.max_retries", n).unwrap();

    // Where a competitor hurts: before the version put (a lost put race) and before the first
    // segment read of the update's trimming (the segment vanishes). Found by recording the
    // steps of an undisturbed run, so the test follows the code's step order.
    let update_steps = steps_of(update_tail);
    let first_write = update_steps
        .iter()
        .position(|s| *s == StepKind::WriteBatch)
        .expect("an update writes its segments");
    let segment_read = first_write
        + update_steps[first_write..]
            .iter()
            .position(|s| *s == StepKind::Get)
            .expect("the update loads the segment it trims");
    let gets_before = update_steps[..segment_read]
        .iter()
        .filter(|s| **s == StepKind::Get)
        .count();

    // 1. One lost put race with one retry allowed: re-based onto the competitor's append.
    set_retries(1);
    let (raw, hook, lib) = setup();
    hook.before_nth(StepKind::PutIfAbsent, 0, competing_append(&raw, 100));
    let version = append_own(&lib).unwrap();
    assert_eq!(version, 3, "re-based after the competitor's v2");
    let got = content(&lib);
    assert_eq!(got.len(), 15);
    assert_eq!(&got[12..], &[(100, 9.0), (101, 9.0), (200, 3.0)]);

    // 2. Two lost put races with one retry allowed: Conflict, nothing of ours committed.
    let (raw, hook, lib) = setup();
    hook.before_nth(StepKind::PutIfAbsent, 0, competing_append(&raw, 100));
    hook.before_nth(StepKind::PutIfAbsent, 1, competing_append(&raw, 150));
    let err = append_own(&lib).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(!content(&lib).contains(&(200, 3.0)));

    // 3. No retries allowed: the first lost race is a Conflict.
    set_retries(0);
    let (raw, hook, lib) = setup();
    hook.before_nth(StepKind::PutIfAbsent, 0, competing_append(&raw, 100));
    assert_eq!(append_own(&lib).unwrap_err().kind(), ErrorKind::Conflict);

    // 4. A segment collected by a competitor's pruning write, one retry allowed: the update is
    //    re-based onto the competitor's version, not reported as corruption.
    set_retries(1);
    let (raw, hook, lib) = setup();
    hook.before_nth(StepKind::Get, gets_before, competing_pruning_write(&raw));
    update_tail(&lib).unwrap();
    let got = content(&lib);
    let expected: Vec<(i64, f64)> = (0..12)
        .map(|k| (k, if k == 9 || k == 10 { 7.0 } else { 5.0 }))
        .collect();
    assert_eq!(got, expected, "the update applied to the competitor's rows");

    // 5. The same with no retries allowed: a lost race, so Conflict (never Corrupt), and
    //    nothing of the update committed.
    set_retries(0);
    let (raw, hook, lib) = setup();
    hook.before_nth(StepKind::Get, gets_before, competing_pruning_write(&raw));
    let err = update_tail(&lib).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(content(&lib).iter().all(|(_, x)| *x == 5.0));
    set_retries(1000);

    // 6. Real corruption (a damaged segment nobody is racing for) is reported at once: the
    //    chain head is read a handful of times, not once per allowed retry.
    let (raw, hook, lib) = setup();
    damage_a_segment(&raw);
    hook.steps.lock().clear();
    let err = update_tail(&lib).unwrap_err();

    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    let scans = hook
        .steps
        .lock()
        .iter()
        .filter(|s| **s == StepKind::Scan)
        .count();
    assert!(scans <= 4, "corruption was retried: {scans} head reads");

    // 7. Compaction whose segment a competitor's pruning write collects: re-based (it then
    //    compacts the competitor's version), and with no retries allowed a Conflict.
    let compact = |lib: &Library| lib.compact_data(SYM, Some(6));
    // Compaction's first read by key after it reads the head is the first segment it
    // rewrites (occurrences count from the setup, whose open reads the registry).
    let compact_steps = steps_of(compact);
    let head_read = compact_steps
        .iter()
        .position(|s| *s == StepKind::Scan)
        .expect("compaction reads the head");
    let first_segment_read = compact_steps[..head_read]
        .iter()
        .filter(|s| **s == StepKind::Get)
        .count();
    set_retries(1);
    let (raw, hook, lib) = setup();
    hook.before_nth(
        StepKind::Get,
        first_segment_read,
        competing_pruning_write(&raw),
    );
    assert_eq!(
        compact(&lib).unwrap(),
        3,
        "compacted the competitor's v2 as v3"
    );
    assert_eq!(content(&lib), (0..12).map(|k| (k, 5.0)).collect::<Vec<_>>());
    set_retries(0);
    let (raw, hook, lib) = setup();
    hook.before_nth(
        StepKind::Get,
        first_segment_read,
        competing_pruning_write(&raw),
    );
    assert_eq!(compact(&lib).unwrap_err().kind(), ErrorKind::Conflict);
    set_retries(1000);

    // 8. Compaction over a damaged segment reports Corrupt at once.
    let (raw, hook, lib) = setup();
    damage_a_segment(&raw);
    hook.steps.lock().clear();
    assert_eq!(compact(&lib).unwrap_err().kind(), ErrorKind::Corrupt);
    let scans = hook
        .steps
        .lock()
        .iter()
        .filter(|s| **s == StepKind::Scan)
        .count();
    assert!(scans <= 4, "corruption was retried: {scans} head reads");

    // 9. prune_previous_versions racing a delete of one of the versions it prunes: it prunes
    //    what is left instead of failing.
    let (raw, hook, lib) = setup();
    lib.write(SYM, &mut reader(rows(0, 3, 4.0)), None, &indexed())
        .unwrap(); // v2; v0 and v1 are older
    let other = plain_library(&raw);
    hook.steps.lock().clear();
    hook.before_nth(
        StepKind::PutIfAbsent,
        0,
        Box::new(move || other.delete(SYM, Some(&[0])).unwrap()),
    );
    lib.prune_previous_versions(SYM).unwrap();
    let live: Vec<u64> = lib
        .list_versions(Some(SYM), None, false)
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(live, vec![2], "only the latest is left");

    // 10. Compaction racing an append that commits before compaction's put: compaction starts
    //     again from the new latest (it never replaces a version it did not read); one retry
    //     allowed. Two such races with one retry allowed: Conflict. None allowed: Conflict.
    set_retries(1);
    let (raw, hook, lib) = setup();
    hook.before_nth(StepKind::PutIfAbsent, 0, competing_append(&raw, 100));
    assert_eq!(
        compact(&lib).unwrap(),
        3,
        "compacted the competitor's v2 as v3"
    );
    let got = content(&lib);
    assert_eq!(got.len(), 14);
    assert_eq!(&got[12..], &[(100, 9.0), (101, 9.0)]);
    let (raw, hook, lib) = setup();
    hook.before_nth(StepKind::PutIfAbsent, 0, competing_append(&raw, 100));
    hook.before_nth(StepKind::PutIfAbsent, 1, competing_append(&raw, 150));
    assert_eq!(compact(&lib).unwrap_err().kind(), ErrorKind::Conflict);
    set_retries(0);
    let (raw, hook, lib) = setup();
    hook.before_nth(StepKind::PutIfAbsent, 0, competing_append(&raw, 100));
    assert_eq!(compact(&lib).unwrap_err().kind(), ErrorKind::Conflict);

    // 11. Two collected-segment races during compaction with one retry allowed: Conflict.
    set_retries(1);
    let (raw, hook, lib) = setup();
    hook.before_nth(
        StepKind::Get,
        first_segment_read,
        competing_pruning_write(&raw),
    );
    // The second attempt's first segment read is two reads later: a missing segment is
    // followed by a read of the library's registry entry (is the library itself gone?).
    hook.before_nth(
        StepKind::Get,
        first_segment_read + 2,
        competing_pruning_write(&raw),
    );
    assert_eq!(compact(&lib).unwrap_err().kind(), ErrorKind::Conflict);
    set_retries(1000);

    // 12. open_library(create_if_missing) racing a create of the same name: it opens the
    //     library that won (with the winner's options), never fails with LibraryExists.
    let raw: SharedStorage = Arc::new(MemoryStorage::new("mem://open-race"));
    let hook = Arc::new(Inject::default());
    let hooked = Store::from_storage(
        "mem://hooked",
        Arc::new(HookedStorage::new(
            raw.clone(),
            hook.clone() as Arc<dyn StepHook>,
        )),
    );
    let winner = LibraryOptions {
        rows_per_segment: 3,
        ..Default::default()
    };
    let plain = Store::from_storage("mem://plain", raw.clone());
    let winner_options = winner.clone();
    hook.before_nth(
        StepKind::PutIfAbsent,
        0,
        Box::new(move || {
            plain
                .create_library("racy", winner_options.clone())
                .unwrap();
        }),
    );
    let opened = hooked
        .open_library("racy", true, LibraryOptions::default())
        .unwrap();
    assert_eq!(opened.options(), &winner);
}
