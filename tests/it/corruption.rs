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
        // The same version assembled in place (decoded from the stored bytes directly).
        let whole = ReadOptions {
            contiguous: true,
            ..ReadOptions::as_of(AsOf::Version(v.version as i64))
        };
        for b in lib.read("s", &whole)?.reader {
            b.map_err(stream_error)?;
        }
        // Assembled in place (the index alone is fixed-width), cutting into segments at both
        // ends: the boundary segments' index is looked at before the checksum is.
        let cut = ReadOptions {
            contiguous: true,
            columns: Some(Vec::new()),
            date_range: Some(sheaf::table::DateRange {
                start: Some(sheaf::table::IndexBound::Raw(25)),
                end: Some(sheaf::table::IndexBound::Raw(130)),
            }),
            ..ReadOptions::as_of(AsOf::Version(v.version as i64))
        };
        for b in lib.read("s", &cut)?.reader {
            b.map_err(stream_error)?;
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

/// `verify` checks every stored value once: one check per key, except key-value entries and
/// documents (the caller's bytes, stored unchecked).
#[test]
fn verify_checks_every_stored_value_once() {
    let raw: sheaf::storage::SharedStorage =
        std::sync::Arc::new(sheaf::storage::MemoryStorage::new("mem://count"));
    let store = sheaf::Store::from_storage("mem://count", raw.clone());
    let lib = store
        .create_library(
            "lib",
            sheaf::LibraryOptions {
                rows_per_segment: 2,
                ..Default::default()
            },
        )
        .unwrap();
    let schema = std::sync::Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
        "k",
        arrow_schema::DataType::Int64,
        false,
    )]));
    let batch = |start: i64| {
        arrow_array::RecordBatch::try_new(
            schema.clone(),
            vec![std::sync::Arc::new(
                arrow_array::Int64Array::from_iter_values(start..start + 5),
            )],
        )
        .unwrap()
    };
    let reader = |b: arrow_array::RecordBatch| {
        arrow_array::RecordBatchIterator::new(vec![Ok(b)].into_iter(), schema.clone())
    };
    let indexed = sheaf::WriteOptions {
        index: Some("k".into()),
        ..Default::default()
    };
    lib.write("a", &mut reader(batch(0)), None, &indexed)
        .unwrap();
    lib.snapshot("snap", None, &[], None).unwrap();
    lib.append(
        "a",
        &mut reader(batch(5)),
        None,
        &sheaf::WriteOptions::default(),
    )
    .unwrap();
    lib.write("b", &mut reader(batch(0)), None, &indexed)
        .unwrap();
    lib.stage("a", &mut reader(batch(10)), Some("k"), true)
        .unwrap();
    lib.stage("a", &mut reader(batch(20)), Some("k"), true)
        .unwrap();
    // Key spaces and collections: their registry entries are checked, their entries and
    // documents (the caller's bytes) are not.
    let space = store.kv("space").unwrap();
    space.put(b"k1", b"v1", 0).unwrap();
    space.put(b"k2", b"v2", 0).unwrap();
    let docs = store.create_collection("docs").unwrap();
    docs.store_multi(&[b"{}", b"[]", b"1"]).unwrap();
    let user_values = 5;
    let keys = raw
        .scan(
            &sheaf::storage::KeyRange::prefix(b""),
            sheaf::storage::ScanOptions::default(),
        )
        .unwrap()
        .len() as u64;
    let report = store.verify().unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(report.leftovers.is_empty());
    assert_eq!(
        report.checked,
        keys - user_values,
        "one check per stored value"
    );
}

/// A damaged version record makes `has_symbol` fail with `Corrupt`, never answer "no such
/// symbol" (which would invite a caller to write over it).
#[test]
fn has_symbol_reports_damage_instead_of_absence() {
    let raw: SharedStorage = Arc::new(MemoryStorage::new("mem://has"));
    let store = Store::from_storage("mem://has", raw.clone());
    let lib = store
        .create_library("lib", LibraryOptions::default())
        .unwrap();
    let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
    let batch =
        RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![1, 2]))]).unwrap();
    let mut data = RecordBatchIterator::new(vec![Ok(batch)].into_iter(), schema);
    lib.write("a", &mut data, None, &WriteOptions::default())
        .unwrap();
    let record = raw
        .scan(&KeyRange::prefix(b""), ScanOptions::default())
        .unwrap()
        .into_iter()
        .find(|e| e.key.windows(4).any(|w| w == b"v\0a\0"))
        .expect("the version record");
    let mut damaged = record.value.clone();
    damaged[10] ^= 0x01;
    raw.put(&record.key, &damaged).unwrap();
    let err = lib.has_symbol("a", &AsOf::Latest).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(!lib.has_symbol("b", &AsOf::Latest).unwrap());
}
