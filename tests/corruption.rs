//! One flipped byte in any stored value Sheaf reads back as structure or data (version and
//! staging records, segments, snapshots, registry entries) is reported as `Corrupt`, never
//! returned as data. Key-value entries and collection documents are user bytes, stored as given
//! (no checksum), and are left out.

use std::sync::Arc;

use arrow_array::*;
use arrow_schema::{DataType, Field, Schema};
use sheaf::storage::{KeyRange, MemoryStorage, ScanOptions, SharedStorage};
use sheaf::{AsOf, Compression, ErrorKind, LibraryOptions, ReadOptions, Store, WriteOptions};

fn batch(start: i64, n: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("i", DataType::Int64, false),
        Field::new("s", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(start..start + n)),
            Arc::new(StringArray::from_iter_values(
                (start..start + n).map(|i| format!("row {i}")),
            )),
        ],
    )
    .unwrap()
}

fn reader(b: RecordBatch) -> impl RecordBatchReader {
    let schema = b.schema();
    RecordBatchIterator::new(vec![Ok(b)].into_iter(), schema)
}

fn setup(compression: Compression) -> SharedStorage {
    let raw: SharedStorage = Arc::new(MemoryStorage::new("mem://corruption"));
    let store = Store::from_storage("mem://corruption", raw.clone());
    let options = LibraryOptions {
        rows_per_segment: 50,
        compression,
        ..Default::default()
    };
    let lib = store.create_library("lib", options).unwrap();
    let ix = WriteOptions {
        index: Some("i".into()),
        ..Default::default()
    };
    lib.write("s", &mut reader(batch(0, 120)), Some(b"meta".to_vec()), &ix)
        .unwrap();
    lib.snapshot("snap", Some(b"snapmeta".to_vec()), &[], None)
        .unwrap();
    lib.append(
        "s",
        &mut reader(batch(120, 30)),
        None,
        &WriteOptions::default(),
    )
    .unwrap();
    lib.stage("t", &mut reader(batch(0, 10)), Some("i"), true)
        .unwrap();
    store.kv("space").unwrap().put(b"k", b"v", 0).unwrap();
    store.create_collection("docs").unwrap();
    raw
}

/// The library's error inside a stream error.
fn stream_error(e: arrow_schema::ArrowError) -> sheaf::Error {
    match &e {
        arrow_schema::ArrowError::ExternalError(inner) => {
            match inner.downcast_ref::<sheaf::Error>() {
                Some(err) => err.clone(),
                None => sheaf::Error::new(ErrorKind::Internal, e.to_string()),
            }
        }
        _ => sheaf::Error::new(ErrorKind::Internal, e.to_string()),
    }
}

/// Reads everything a user can reach; the first error, if any.
fn read_everything(raw: &SharedStorage) -> sheaf::Result<usize> {
    let store = Store::from_storage("mem://corruption", raw.clone());
    let lib = store.open_library("lib", false, LibraryOptions::default())?;
    let mut rows = 0;
    for v in lib.list_versions(Some("s"), None, false)? {
        let r = lib.read("s", &ReadOptions::as_of(AsOf::Version(v.version as i64)))?;
        for b in r.reader {
            rows += b.map_err(stream_error)?.num_rows();
        }
    }
    for s in lib.list_snapshots()? {
        lib.read_snapshot_metadata(&s.name)?;
        let r = lib.read("s", &ReadOptions::as_of(AsOf::Snapshot(s.name)))?;
        for b in r.reader {
            rows += b.map_err(stream_error)?.num_rows();
        }
    }
    lib.get_staged_symbols()?;
    // Staged segments are read when finalized: finalize a copy of the store.
    let copy: SharedStorage = Arc::new(MemoryStorage::new("mem://copy"));
    for e in raw.scan(&KeyRange::all(), ScanOptions::default())? {
        copy.put(&e.key, &e.value)?;
    }
    let copy_lib = Store::from_storage("mem://copy", copy).open_library(
        "lib",
        false,
        LibraryOptions::default(),
    )?;
    let sorted = sheaf::table::FinalizeOptions {
        sort: true,
        ..Default::default()
    };
    copy_lib.finalize_staged_data("t", None, &sorted)?;
    for b in copy_lib.read("t", &ReadOptions::default())?.reader {
        rows += b.map_err(stream_error)?.num_rows();
    }
    store.kv("space")?;
    store.open_collection("docs")?.size()?;
    Ok(rows)
}

#[test]
fn every_flipped_byte_in_every_checked_value_is_reported_as_corrupt() {
    for compression in [Compression::None, Compression::Lz4, Compression::Zstd] {
        let raw = setup(compression);
        let clean = read_everything(&raw).unwrap();
        assert_eq!(clean, 120 + 150 + 120 + 10);
        let keys: Vec<Vec<u8>> = raw
            .scan(&KeyRange::all(), ScanOptions::default())
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            // user bytes: key-value entries and collection documents
            .filter(|k| !k.starts_with(b"W\0") && !k.starts_with(b"E\0"))
            .collect();
        let mut checked = 0;
        for key in &keys {
            let original = raw.get(key).unwrap().unwrap();
            let positions: Vec<usize> = if original.len() <= 512 {
                (0..original.len()).collect()
            } else {
                let step = original.len() / 200;
                (0..original.len())
                    .step_by(step.max(1))
                    .chain(original.len() - 16..original.len())
                    .collect()
            };
            for i in positions {
                let mut damaged = original.clone();
                damaged[i] ^= 0x10;
                raw.put(key, &damaged).unwrap();
                let report = Store::from_storage("mem://verify", raw.clone()).verify();
                assert!(
                    report.as_ref().is_ok_and(|r| !r.problems.is_empty()),
                    "verify missed a flip at byte {i} of {:?}: {report:?}",
                    String::from_utf8_lossy(key)
                );
                match read_everything(&raw) {
                    Err(e) if e.kind() == ErrorKind::Corrupt => {}
                    other => panic!(
                        "{compression:?}: flipping byte {i} of {:?} ({} bytes) gave {other:?}, not Corrupt",
                        String::from_utf8_lossy(key),
                        original.len()
                    ),
                }
                checked += 1;
            }
            raw.put(key, &original).unwrap();
        }
        assert!(checked > 1000, "{checked}");
        assert_eq!(read_everything(&raw).unwrap(), clean);
        let report = Store::from_storage("mem://verify", raw.clone())
            .verify()
            .unwrap();
        assert!(
            report.problems.is_empty() && report.leftovers.is_empty(),
            "{}",
            report.to_json()
        );
    }
}
