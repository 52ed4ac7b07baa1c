//! Progress reports of long operations through the Rust API: which calls report, in what
//! order, and only to the thread that installed the sink.

use std::sync::Arc;

use arrow_array::*;
use arrow_schema::{DataType, Field, Schema};
use parking_lot::Mutex;
use sheaf::progress::{self, Progress, Sink};
use sheaf::{LibraryOptions, Store, WriteOptions};

fn batches(
    sizes: &[i64],
    start: i64,
) -> RecordBatchIterator<std::vec::IntoIter<Result<RecordBatch, arrow_schema::ArrowError>>> {
    let schema = Arc::new(Schema::new(vec![Field::new("t", DataType::Int64, false)]));
    let mut next = start;
    let out: Vec<_> = sizes
        .iter()
        .map(|&n| {
            let values: Vec<i64> = (next..next + n).collect();
            next += n;
            Ok(
                RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(values))])
                    .unwrap(),
            )
        })
        .collect();
    RecordBatchIterator::new(out.into_iter(), schema)
}

fn recorder() -> (Sink, Arc<Mutex<Vec<Progress>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink_seen = seen.clone();
    (
        Arc::new(move |p: &Progress| sink_seen.lock().push(*p)),
        seen,
    )
}

fn of(seen: &Mutex<Vec<Progress>>, stage: &str) -> Vec<(u64, u64)> {
    seen.lock()
        .iter()
        .filter(|p| p.stage == stage)
        .map(|p| (p.done, p.total))
        .collect()
}

#[test]
fn a_streamed_write_reports_its_rows_batch_by_batch() {
    let store = Store::open("mem://").unwrap();
    let lib = store
        .create_library("p", LibraryOptions::default())
        .unwrap();
    let (sink, seen) = recorder();
    progress::scoped(Some(sink), || {
        lib.write(
            "s",
            &mut batches(&[10, 20, 5], 0),
            None,
            &WriteOptions::default(),
        )
        .unwrap();
        lib.append("s", &mut batches(&[7], 35), None, &WriteOptions::default())
            .unwrap();
    });
    assert_eq!(of(&seen, "write"), vec![(10, 0), (30, 0), (35, 0)]);
    assert_eq!(of(&seen, "append"), vec![(7, 0)]);
    assert!(seen.lock().iter().all(|p| p.unit == "rows"));
    // Outside the scope nothing reports (and nothing fails).
    lib.append("s", &mut batches(&[3], 42), None, &WriteOptions::default())
        .unwrap();
    assert_eq!(seen.lock().len(), 4);
}

#[test]
fn compaction_reports_each_segment_and_another_thread_reports_nothing_here() {
    let store = Store::open("mem://").unwrap();
    let options = LibraryOptions {
        rows_per_segment: 4,
        ..LibraryOptions::default()
    };
    let lib = store.create_library("p", options).unwrap();
    lib.write("s", &mut batches(&[4], 0), None, &WriteOptions::default())
        .unwrap();
    for i in 1..3 {
        lib.append(
            "s",
            &mut batches(&[4], 4 * i),
            None,
            &WriteOptions::default(),
        )
        .unwrap();
    }
    let (sink, seen) = recorder();
    progress::scoped(Some(sink), || {
        std::thread::scope(|scope| {
            scope.spawn(|| {
                lib.write(
                    "other",
                    &mut batches(&[9], 0),
                    None,
                    &WriteOptions::default(),
                )
                .unwrap()
            });
        });
        lib.compact_data("s", Some(12)).unwrap();
    });
    assert_eq!(of(&seen, "compact"), vec![(1, 3), (2, 3), (3, 3)]);
    assert!(
        of(&seen, "write").is_empty(),
        "the other thread's write reported here"
    );
}
