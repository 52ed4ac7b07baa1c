//! Versioned tables through the Rust API, on both backends.

use std::sync::Arc;

use arrow_array::builder::StringDictionaryBuilder;
use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::*;
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use sheaf::{AsOf, ErrorKind, LibraryOptions, ReadOptions, Store, WriteOptions};

fn stores() -> Vec<(Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let lmdb = Store::open(&format!("lmdb://{}", dir.path().display())).unwrap();
    vec![(Store::open("mem://").unwrap(), None), (lmdb, Some(dir))]
}

fn reader(
    batches: Vec<RecordBatch>,
) -> RecordBatchIterator<std::vec::IntoIter<Result<RecordBatch, arrow_schema::ArrowError>>> {
    let schema = batches[0].schema();
    RecordBatchIterator::new(
        batches.into_iter().map(Ok).collect::<Vec<_>>().into_iter(),
        schema,
    )
}

fn read_all(
    lib: &sheaf::Library,
    symbol: &str,
    as_of: AsOf,
) -> (sheaf::VersionInfo, Vec<RecordBatch>) {
    let r = lib.read(symbol, &ReadOptions::as_of(as_of)).unwrap();
    let batches = r.reader.collect::<Result<Vec<_>, _>>().unwrap();
    (r.info, batches)
}

fn concat(batches: &[RecordBatch]) -> RecordBatch {
    arrow_select::concat::concat_batches(&batches[0].schema(), batches).unwrap()
}

fn series(start: i64, n: usize) -> RecordBatch {
    let ts: Vec<i64> = (0..n as i64).map(|i| start + i * 1_000_000_000).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
        Field::new("price", DataType::Float64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(TimestampNanosecondArray::from(ts).with_timezone("UTC")),
            Arc::new(Float64Array::from_iter((0..n).map(|i| {
                if i % 7 == 3 {
                    None
                } else {
                    Some(i as f64 * 0.5)
                }
            }))),
        ],
    )
    .unwrap()
}

fn every_type_batch() -> RecordBatch {
    let mut dict = StringDictionaryBuilder::<Int32Type>::new();
    for v in [Some("red"), None, Some("blue"), Some("red")] {
        match v {
            Some(s) => dict.append_value(s),
            None => dict.append_null(),
        }
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "i8",
            Arc::new(Int8Array::from(vec![
                Some(i8::MIN),
                None,
                Some(0),
                Some(i8::MAX),
            ])),
        ),
        (
            "i16",
            Arc::new(Int16Array::from(vec![
                Some(i16::MIN),
                Some(1),
                None,
                Some(i16::MAX),
            ])),
        ),
        (
            "i32",
            Arc::new(Int32Array::from(vec![
                Some(i32::MIN),
                Some(2),
                Some(-2),
                None,
            ])),
        ),
        (
            "i64",
            Arc::new(Int64Array::from(vec![
                None,
                Some(i64::MIN),
                Some(3),
                Some(i64::MAX),
            ])),
        ),
        (
            "u8",
            Arc::new(UInt8Array::from(vec![
                Some(0),
                Some(u8::MAX),
                None,
                Some(9),
            ])),
        ),
        (
            "u16",
            Arc::new(UInt16Array::from(vec![
                Some(0),
                Some(u16::MAX),
                None,
                Some(9),
            ])),
        ),
        (
            "u32",
            Arc::new(UInt32Array::from(vec![
                Some(0),
                Some(u32::MAX),
                None,
                Some(9),
            ])),
        ),
        (
            "u64",
            Arc::new(UInt64Array::from(vec![
                Some(0),
                Some(u64::MAX),
                None,
                Some(9),
            ])),
        ),
        (
            "f32",
            Arc::new(Float32Array::from(vec![
                Some(1.5),
                Some(f32::NAN),
                None,
                Some(f32::INFINITY),
            ])),
        ),
        (
            "f64",
            Arc::new(Float64Array::from(vec![
                Some(-0.0),
                Some(f64::MAX),
                None,
                Some(f64::NEG_INFINITY),
            ])),
        ),
        (
            "bool",
            Arc::new(BooleanArray::from(vec![
                Some(true),
                None,
                Some(false),
                Some(true),
            ])),
        ),
        (
            "utf8",
            Arc::new(StringArray::from(vec![
                Some("héllo"),
                None,
                Some(""),
                Some("日本"),
            ])),
        ),
        (
            "large_utf8",
            Arc::new(LargeStringArray::from(vec![
                Some("a"),
                Some("bb"),
                None,
                Some("ccc"),
            ])),
        ),
        (
            "binary",
            Arc::new(BinaryArray::from(vec![
                Some(&b"\x00\x01"[..]),
                None,
                Some(b""),
                Some(b"\xff"),
            ])),
        ),
        (
            "ts_s",
            Arc::new(TimestampSecondArray::from(vec![
                Some(0),
                None,
                Some(1),
                Some(2),
            ])),
        ),
        (
            "ts_ms_tz",
            Arc::new(
                TimestampMillisecondArray::from(vec![Some(0), Some(5), None, Some(7)])
                    .with_timezone("Europe/Paris"),
            ),
        ),
        (
            "ts_us",
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(-1),
                Some(5),
                None,
                Some(7),
            ])),
        ),
        (
            "ts_ns_tz",
            Arc::new(
                TimestampNanosecondArray::from(vec![Some(1), None, Some(3), Some(4)])
                    .with_timezone("+05:30"),
            ),
        ),
        (
            "date32",
            Arc::new(Date32Array::from(vec![
                Some(19000),
                None,
                Some(-1),
                Some(0),
            ])),
        ),
        (
            "date64",
            Arc::new(Date64Array::from(vec![
                Some(86_400_000),
                None,
                Some(0),
                Some(1),
            ])),
        ),
        (
            "dur_ms",
            Arc::new(DurationMillisecondArray::from(vec![
                Some(10),
                None,
                Some(-10),
                Some(0),
            ])),
        ),
        (
            "dur_ns",
            Arc::new(DurationNanosecondArray::from(vec![
                Some(10),
                Some(20),
                None,
                Some(0),
            ])),
        ),
        (
            "dec",
            Arc::new(
                Decimal128Array::from(vec![Some(12345), None, Some(-1), Some(0)])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
        ),
        ("dict", Arc::new(dict.finish())),
        (
            "utf8_view",
            Arc::new(StringViewArray::from(vec![
                Some("a string longer than twelve bytes"),
                None,
                Some("short"),
                Some(""),
            ])),
        ),
        (
            "binary_view",
            Arc::new(BinaryViewArray::from(vec![
                Some(&b"\x00\x01"[..]),
                None,
                Some(b"0123456789abcdef"),
                Some(b""),
            ])),
        ),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let mut metadata = std::collections::HashMap::new();
    metadata.insert("pandas".to_string(), "{\"index_columns\": []}".to_string());
    RecordBatch::try_new(
        Arc::new(Schema::new(fields).with_metadata(metadata)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap()
}

#[test]
fn every_supported_type_round_trips_exactly() {
    for (store, _dir) in stores() {
        for compression in ["lz4", "zstd", "none"] {
            let options = LibraryOptions::from_json(&format!(
                "{{\"compression\": \"{compression}\", \"rows_per_segment\": 3}}"
            ))
            .unwrap();
            let lib = store
                .create_library(&format!("types-{compression}"), options)
                .unwrap();
            let batch = every_type_batch();
            lib.write(
                "all",
                &mut reader(vec![batch.clone()]),
                None,
                &WriteOptions::default(),
            )
            .unwrap();
            let (info, batches) = read_all(&lib, "all", AsOf::Latest);
            assert_eq!(info.rows, 4);
            assert_eq!(batches.len(), 2, "4 rows at 3 per segment make 2 segments");
            let back = concat(&batches);
            assert_eq!(
                back.schema(),
                batch.schema(),
                "schema incl. metadata and time zones"
            );
            for (i, (a, b)) in back.columns().iter().zip(batch.columns()).enumerate() {
                assert_eq!(
                    a.to_data(),
                    b.to_data(),
                    "column {}",
                    batch.schema().field(i).name()
                );
            }
        }
    }
}

#[test]
fn unsupported_types_are_refused_by_name() {
    let store = Store::open("mem://").unwrap();
    let lib = store
        .create_library("l", LibraryOptions::default())
        .unwrap();
    let list =
        arrow_array::ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1)])]);
    let schema = Arc::new(Schema::new(vec![Field::new(
        "nested",
        list.data_type().clone(),
        true,
    )]));
    let batch = RecordBatch::try_new(schema, vec![Arc::new(list)]).unwrap();
    let err = lib
        .write(
            "s",
            &mut reader(vec![batch]),
            None,
            &WriteOptions::default(),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedType);
    assert!(
        err.to_string().contains("'nested'") && err.to_string().contains("List"),
        "{err}"
    );
    assert!(!lib.has_symbol("s", &AsOf::Latest).unwrap());
}

#[test]
fn versions_as_of_and_negative_as_of() {
    for (store, _dir) in stores() {
        let lib = store
            .create_library("v", LibraryOptions::default())
            .unwrap();
        for i in 0..3 {
            let v = lib
                .write(
                    "s",
                    &mut reader(vec![series(i * 100, 5 + i as usize)]),
                    Some(vec![i as u8]),
                    &WriteOptions {
                        index: Some("ts".into()),
                        ..Default::default()
                    },
                )
                .unwrap();
            assert_eq!(v, i as u64);
        }
        assert_eq!(read_all(&lib, "s", AsOf::Latest).0.rows, 7);
        assert_eq!(read_all(&lib, "s", AsOf::Version(0)).0.rows, 5);
        assert_eq!(read_all(&lib, "s", AsOf::Version(-1)).0.version, 2);
        assert_eq!(read_all(&lib, "s", AsOf::Version(-3)).0.version, 0);
        let err = lib
            .read("s", &ReadOptions::as_of(AsOf::Version(-4)))
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::NoSuchVersion);
        let err = lib
            .read("s", &ReadOptions::as_of(AsOf::Version(9)))
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::NoSuchVersion);
        let (info, meta) = lib.read_metadata("s", &AsOf::Version(1)).unwrap();
        assert_eq!((info.version, meta), (1, Some(vec![1])));
        let err = lib.read("nope", &ReadOptions::default()).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::NoSuchSymbol);
        let versions: Vec<u64> = lib
            .list_versions(Some("s"), None, false)
            .unwrap()
            .iter()
            .map(|v| v.version)
            .collect();
        assert_eq!(versions, vec![2, 1, 0]);
    }
}

#[test]
fn deletes_never_reuse_numbers_and_collect_segments() {
    for (store, _dir) in stores() {
        let lib = store
            .create_library(
                "d",
                LibraryOptions {
                    rows_per_segment: 2,
                    ..Default::default()
                },
            )
            .unwrap();
        let w = |n| {
            lib.write(
                "s",
                &mut reader(vec![series(0, n)]),
                None,
                &WriteOptions::default(),
            )
            .unwrap()
        };
        assert_eq!((w(3), w(4), w(5)), (0, 1, 2));
        lib.delete("s", Some(&[1])).unwrap();
        assert_eq!(
            lib.read("s", &ReadOptions::as_of(AsOf::Version(1)))
                .err()
                .unwrap()
                .kind(),
            ErrorKind::NoSuchVersion
        );
        assert_eq!(
            read_all(&lib, "s", AsOf::Version(-2)).0.version,
            0,
            "-2 skips the deleted version"
        );
        let err = lib.delete("s", Some(&[0, 7])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NoSuchVersion);
        assert_eq!(
            read_all(&lib, "s", AsOf::Version(0)).0.rows,
            3,
            "a failed delete deletes nothing"
        );
        lib.delete("s", None).unwrap();
        assert!(!lib.has_symbol("s", &AsOf::Latest).unwrap());
        assert!(lib.list_symbols(None).unwrap().is_empty());
        assert_eq!(
            lib.read("s", &ReadOptions::default()).err().unwrap().kind(),
            ErrorKind::NoSuchSymbol
        );
        let storage_keys = segment_keys(&store, "d");
        assert_eq!(storage_keys, 0, "every segment was collected");
        let v = w(1);
        assert!(v > 3, "numbers are never reused: got {v}");
        assert_eq!(read_all(&lib, "s", AsOf::Latest).0.rows, 1);
    }
}

fn segment_keys(store: &Store, library: &str) -> usize {
    let lib = store
        .open_library(library, false, LibraryOptions::default())
        .unwrap();
    sheaf::table::debug_segment_count(&lib).unwrap()
}

#[test]
fn prune_previous_versions_keeps_only_the_latest() {
    let store = Store::open("mem://").unwrap();
    let lib = store
        .create_library(
            "p",
            LibraryOptions {
                rows_per_segment: 2,
                prune_previous_versions: true,
                ..Default::default()
            },
        )
        .unwrap();
    for n in [3, 4, 5] {
        lib.write(
            "s",
            &mut reader(vec![series(0, n)]),
            None,
            &WriteOptions::default(),
        )
        .unwrap();
    }
    let versions: Vec<u64> = lib
        .list_versions(Some("s"), None, false)
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, vec![2]);
    assert_eq!(
        sheaf::table::debug_segment_count(&lib).unwrap(),
        3,
        "5 rows at 2 per segment"
    );
    lib.write_metadata("s", Some(b"m".to_vec()), Some(false))
        .unwrap();
    assert_eq!(
        sheaf::table::debug_segment_count(&lib).unwrap(),
        3,
        "metadata versions share segments"
    );
    assert_eq!(
        read_all(&lib, "s", AsOf::Version(2))
            .1
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>(),
        5
    );
}

#[test]
fn index_validation() {
    let store = Store::open("mem://").unwrap();
    let lib = store
        .create_library(
            "i",
            LibraryOptions {
                rows_per_segment: 4,
                ..Default::default()
            },
        )
        .unwrap();
    let ix = WriteOptions {
        index: Some("ts".into()),
        ..Default::default()
    };
    // Sorted within each batch but not across them: caught across segment boundaries.
    let err = lib
        .write(
            "s",
            &mut reader(vec![series(100, 6), series(0, 6)]),
            None,
            &ix,
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsortedIndex, "{err}");
    assert!(
        !lib.has_symbol("s", &AsOf::Latest).unwrap(),
        "nothing committed"
    );
    assert_eq!(
        sheaf::table::debug_segment_count(&lib).unwrap(),
        0,
        "written segments were removed"
    );
    let lenient = WriteOptions {
        validate_index: false,
        ..ix.clone()
    };
    lib.write(
        "s",
        &mut reader(vec![series(100, 6), series(0, 6)]),
        None,
        &lenient,
    )
    .unwrap();
    assert_eq!(read_all(&lib, "s", AsOf::Latest).0.rows, 12);
    let err = lib
        .write(
            "s",
            &mut reader(vec![series(0, 3)]),
            None,
            &WriteOptions {
                index: Some("price".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Schema);
    assert!(err.to_string().contains("price"));
    let err = lib
        .write(
            "s",
            &mut reader(vec![series(0, 3)]),
            None,
            &WriteOptions {
                index: Some("nope".into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("'nope' is not in the data"),
        "{err}"
    );
    // Equal neighbours are sorted.
    let dup = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)])),
        vec![Arc::new(Int64Array::from(vec![1, 1, 2, 2, 2, 3]))],
    )
    .unwrap();
    lib.write(
        "dup",
        &mut reader(vec![dup]),
        None,
        &WriteOptions {
            index: Some("k".into()),
            ..Default::default()
        },
    )
    .unwrap();
}

#[test]
fn libraries_create_open_list_delete() {
    for (store, _dir) in stores() {
        assert!(store.list_libraries().unwrap().is_empty());
        let opts = LibraryOptions::from_json(r#"{"rows_per_segment": 10, "compression": "zstd"}"#)
            .unwrap();
        store.create_library("b", opts.clone()).unwrap();
        store
            .create_library("a", LibraryOptions::default())
            .unwrap();
        assert_eq!(
            store
                .create_library("a", LibraryOptions::default())
                .err()
                .unwrap()
                .kind(),
            ErrorKind::LibraryExists
        );
        assert_eq!(
            store
                .open_library("zz", false, LibraryOptions::default())
                .err()
                .unwrap()
                .kind(),
            ErrorKind::NoSuchLibrary
        );
        assert_eq!(
            store
                .open_library("b", false, LibraryOptions::default())
                .unwrap()
                .options(),
            &opts
        );
        assert_eq!(store.list_libraries().unwrap(), vec!["a", "b"]);
        let c = store
            .open_library("c", true, LibraryOptions::default())
            .unwrap();
        c.write(
            "x",
            &mut reader(vec![series(0, 3)]),
            None,
            &WriteOptions::default(),
        )
        .unwrap();
        assert!(store.delete_library("c").unwrap());
        assert!(!store.delete_library("c").unwrap());
        assert!(!store.has_library("c").unwrap());
        let c2 = store
            .open_library("c", true, LibraryOptions::default())
            .unwrap();
        assert!(
            c2.list_symbols(None).unwrap().is_empty(),
            "a re-created library starts empty"
        );
        for bad in ["", "tab\there", &"x".repeat(256)] {
            assert_eq!(
                store
                    .create_library(bad, LibraryOptions::default())
                    .err()
                    .unwrap()
                    .kind(),
                ErrorKind::InvalidName
            );
        }
        store
            .create_library(&"é".repeat(127), LibraryOptions::default())
            .unwrap();
        assert!(LibraryOptions::from_json(r#"{"rows_per_segment": 0}"#).is_err());
        assert_eq!(
            LibraryOptions::from_json(r#"{"colour": 1}"#)
                .err()
                .unwrap()
                .kind(),
            ErrorKind::InvalidJson
        );
        store.close();
        assert_eq!(
            store.list_libraries().err().unwrap().kind(),
            ErrorKind::Closed
        );
        assert_eq!(
            c2.list_symbols(None).err().unwrap().kind(),
            ErrorKind::Closed
        );
    }
}

#[test]
fn symbols_listing_skips_deleted_and_handles_prefixes() {
    let store = Store::open("mem://").unwrap();
    let lib = store
        .create_library("l", LibraryOptions::default())
        .unwrap();
    for s in ["ab", "a", "ab c", "b", "é"] {
        lib.write(
            s,
            &mut reader(vec![series(0, 1)]),
            None,
            &WriteOptions::default(),
        )
        .unwrap();
        lib.write(
            s,
            &mut reader(vec![series(0, 2)]),
            None,
            &WriteOptions::default(),
        )
        .unwrap();
    }
    lib.delete("b", None).unwrap();
    assert_eq!(
        lib.list_symbols(None).unwrap(),
        vec!["a", "ab", "ab c", "é"]
    );
    assert_eq!(lib.list_versions(None, None, false).unwrap().len(), 8);
}

#[test]
fn empty_and_zero_row_tables() {
    let store = Store::open("mem://").unwrap();
    let lib = store
        .create_library("e", LibraryOptions::default())
        .unwrap();
    let empty = series(0, 0);
    lib.write(
        "z",
        &mut reader(vec![empty.clone()]),
        None,
        &WriteOptions {
            index: Some("ts".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let r = lib.read("z", &ReadOptions::default()).unwrap();
    assert_eq!(r.info.rows, 0);
    assert_eq!(
        arrow_array::RecordBatchReader::schema(&r.reader),
        empty.schema()
    );
    assert_eq!(r.reader.count(), 0);
}

#[test]
fn appends_start_the_data_only_after_a_metadata_only_version() {
    let store = Store::open("mem://").unwrap();
    let lib = store
        .create_library("m", LibraryOptions::default())
        .unwrap();
    let append = |symbol: &str, batch: RecordBatch| {
        lib.append(
            symbol,
            &mut reader(vec![batch]),
            None,
            &WriteOptions::default(),
        )
    };
    let ints = |name: &str| {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(name, DataType::Int64, false)])),
            vec![Arc::new(Int64Array::from(vec![1, 2]))],
        )
        .unwrap()
    };
    // Metadata only (no columns, no rows): the first append starts the data, whatever its
    // columns.
    lib.write_metadata("meta", Some(b"m".to_vec()), None)
        .unwrap();
    assert_eq!(append("meta", ints("a")).unwrap(), 1);
    assert_eq!(concat(&read_all(&lib, "meta", AsOf::Latest).1), ints("a"));

    // Zero rows, but columns (an indexed and an unindexed empty table): the columns are the
    // symbol's; an append of other columns is refused, one of the same columns lands.
    let empty = ints("a").slice(0, 0);
    lib.write(
        "empty",
        &mut reader(vec![empty.clone()]),
        None,
        &WriteOptions::default(),
    )
    .unwrap();
    lib.write(
        "empty_ts",
        &mut reader(vec![series(0, 0)]),
        None,
        &WriteOptions {
            index: Some("ts".into()),
            ..Default::default()
        },
    )
    .unwrap();
    for symbol in ["empty", "empty_ts"] {
        let err = append(symbol, ints("b")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Schema, "{symbol}: {}", err.message());
    }
    assert_eq!(append("empty", ints("a")).unwrap(), 1);
    assert_eq!(concat(&read_all(&lib, "empty", AsOf::Latest).1), ints("a"));
}

#[test]
fn concurrent_writers_on_one_symbol_lose_nothing() {
    for (store, _dir) in stores() {
        let lib = store
            .create_library("c", LibraryOptions::default())
            .unwrap();
        std::thread::scope(|scope| {
            for t in 0..4 {
                let lib = lib.clone();
                scope.spawn(move || {
                    for i in 0..25 {
                        lib.write(
                            "s",
                            &mut reader(vec![series(0, 1 + t)]),
                            Some(vec![t as u8, i]),
                            &WriteOptions::default(),
                        )
                        .unwrap();
                    }
                });
            }
        });
        let versions: Vec<u64> = lib
            .list_versions(Some("s"), None, false)
            .unwrap()
            .iter()
            .map(|v| v.version)
            .rev()
            .collect();
        assert_eq!(versions, (0..100).collect::<Vec<u64>>());
        let mut seen: Vec<(u8, u8)> = (0..100)
            .map(|v| {
                let (_, m) = lib.read_metadata("s", &AsOf::Version(v)).unwrap();
                let m = m.unwrap();
                (m[0], m[1])
            })
            .collect();
        seen.sort();
        let expected: Vec<(u8, u8)> = (0..4).flat_map(|t| (0..25).map(move |i| (t, i))).collect();
        assert_eq!(seen, expected);
    }
}

/// Listings answer from the chain and the snapshots, each filter with its own effect: a regex
/// keeps only matching names, `has_symbol` tells missing symbols, versions and snapshots from
/// present ones (and lets other errors through), and a snapshot filter shows only what that
/// snapshot holds.
#[test]
fn listings_filter_by_pattern_existence_and_snapshot() {
    for (store, _dir) in stores() {
        let lib = store
            .create_library("listing", LibraryOptions::default())
            .unwrap();
        let indexed = WriteOptions {
            index: Some("ts".into()),
            ..Default::default()
        };
        for name in ["alpha", "beta", "alphabet"] {
            lib.write(name, &mut reader(vec![series(0, 3)]), None, &indexed)
                .unwrap();
        }
        lib.snapshot("first", None, &[], None).unwrap();
        lib.write("alpha", &mut reader(vec![series(0, 4)]), None, &indexed)
            .unwrap();
        lib.snapshot("second", None, &["beta".to_string()], None)
            .unwrap();

        let matching = |p: &str| lib.list_symbols_matching(None, Some(p)).unwrap();
        assert_eq!(matching("^alpha"), vec!["alpha", "alphabet"]);
        assert_eq!(matching("et$"), vec!["alphabet"]);
        assert_eq!(matching("a.*a"), vec!["alpha", "alphabet"]);
        assert_eq!(
            lib.list_symbols_matching(None, None).unwrap(),
            vec!["alpha", "alphabet", "beta"]
        );
        assert_eq!(
            lib.list_symbols_matching(Some("second"), Some("alpha"))
                .unwrap(),
            vec!["alpha", "alphabet"]
        );
        let bad = lib.list_symbols_matching(None, Some("(")).unwrap_err();
        assert_eq!(bad.kind(), ErrorKind::InvalidArgument);

        assert!(lib.has_symbol("alpha", &AsOf::Latest).unwrap());
        assert!(lib.has_symbol("alpha", &AsOf::Version(0)).unwrap());
        assert!(!lib.has_symbol("gamma", &AsOf::Latest).unwrap());
        assert!(!lib.has_symbol("alpha", &AsOf::Version(7)).unwrap());
        assert!(!lib
            .has_symbol("alpha", &AsOf::Snapshot("none".into()))
            .unwrap());
        assert!(lib
            .has_symbol("beta", &AsOf::Snapshot("first".into()))
            .unwrap());
        assert_eq!(
            lib.has_symbol("", &AsOf::Latest).unwrap_err().kind(),
            ErrorKind::InvalidName
        );
        lib.close();
        assert_eq!(
            lib.has_symbol("alpha", &AsOf::Latest).unwrap_err().kind(),
            ErrorKind::Closed
        );
        let lib = store
            .open_library("listing", false, LibraryOptions::default())
            .unwrap();

        // alpha: v0 held by "first", v1 (latest) by "second".
        let all = lib.list_versions(Some("alpha"), None, false).unwrap();
        let shown: Vec<(u64, Vec<String>)> = all
            .iter()
            .map(|v| (v.version, v.snapshots.clone()))
            .collect();
        assert_eq!(
            shown,
            vec![
                (1, vec!["second".to_string()]),
                (0, vec!["first".to_string()])
            ]
        );
        let in_first = lib
            .list_versions(Some("alpha"), Some("first"), false)
            .unwrap();
        assert_eq!(
            in_first.iter().map(|v| v.version).collect::<Vec<_>>(),
            vec![0]
        );
        let in_second = lib.list_versions(None, Some("second"), false).unwrap();
        let mut pairs: Vec<(String, u64)> = in_second
            .iter()
            .map(|v| (v.symbol.clone(), v.version))
            .collect();
        pairs.sort();
        assert_eq!(
            pairs,
            vec![("alpha".to_string(), 1), ("alphabet".to_string(), 0)]
        );
        assert_eq!(
            lib.list_versions(None, Some("third"), false)
                .unwrap_err()
                .kind(),
            ErrorKind::NoSuchSnapshot
        );
    }
}

/// Library options are checked and shown as given; a store says where it came from and whether
/// it is closed; open_library creates only when asked, with the options asked for.
#[test]
fn store_and_library_options() {
    let store = Store::open("mem://options-test").unwrap();
    assert_eq!(store.uri(), "mem://options-test");
    for bad in [0u64, (1 << 31) + 1] {
        let options = LibraryOptions {
            rows_per_segment: bad,
            ..Default::default()
        };
        let err = store.create_library("bad", options).expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}");
        let bad_options = LibraryOptions {
            rows_per_segment: bad,
            ..Default::default()
        };
        let err = store
            .open_library("bad", true, bad_options)
            .expect_err("refused, not retried");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}");
        let text = format!("{{\"rows_per_segment\": {bad}}}");
        assert_eq!(
            LibraryOptions::from_json(&text).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }
    let largest = LibraryOptions {
        rows_per_segment: 1 << 31,
        ..Default::default()
    };
    store.create_library("largest", largest.clone()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&largest.to_json()).unwrap();
    assert_eq!(json["rows_per_segment"], 1u64 << 31);
    assert_eq!(json["compression"], "lz4");
    assert_eq!(json["prune_previous_versions"], false);
    assert_eq!(json["dynamic_schema"], false);
    assert_eq!(
        LibraryOptions::from_json(&largest.to_json()).unwrap(),
        largest
    );

    let asked = LibraryOptions {
        rows_per_segment: 7,
        dynamic_schema: true,
        ..Default::default()
    };
    let err = store
        .open_library("made", false, asked.clone())
        .expect_err("missing");
    assert_eq!(err.kind(), ErrorKind::NoSuchLibrary);
    assert!(!store.has_library("made").unwrap());
    let made = store.open_library("made", true, asked.clone()).unwrap();
    assert_eq!(made.options(), &asked);
    let again = store
        .open_library("made", true, LibraryOptions::default())
        .unwrap();
    assert_eq!(
        again.options(),
        &asked,
        "an existing library keeps its options"
    );

    assert!(!store.is_closed());
    store.close();
    assert!(store.is_closed());
    assert_eq!(
        store.has_library("made").unwrap_err().kind(),
        ErrorKind::Closed
    );
}

/// A handle to a deleted library refuses to write instead of writing where nobody will look,
/// also after the name is created again; a closed handle fails a batch as a whole; a handle
/// knows its name and counts the segments its reads load.
#[test]
fn stale_and_closed_library_handles() {
    for (store, _dir) in stores() {
        let options = LibraryOptions {
            rows_per_segment: 4,
            ..Default::default()
        };
        let lib = store.create_library("h", options.clone()).unwrap();
        assert_eq!(lib.name(), "h");
        let indexed = WriteOptions {
            index: Some("ts".into()),
            ..Default::default()
        };
        lib.write("s", &mut reader(vec![series(0, 12)]), None, &indexed)
            .unwrap();
        assert_eq!(lib.segments_loaded(), 0);
        let (_, batches) = read_all(&lib, "s", AsOf::Latest);
        assert_eq!(concat(&batches).num_rows(), 12);
        assert_eq!(lib.segments_loaded(), 3, "12 rows in segments of 4");

        assert!(store.delete_library("h").unwrap());
        let err = lib
            .write("s", &mut reader(vec![series(0, 2)]), None, &indexed)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NoSuchLibrary, "{err}");
        let fresh = store.create_library("h", options.clone()).unwrap();
        let err = lib
            .append(
                "s",
                &mut reader(vec![series(100, 2)]),
                None,
                &WriteOptions::default(),
            )
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NoSuchLibrary, "{err}");
        assert!(
            fresh.list_symbols(None).unwrap().is_empty(),
            "nothing leaked in"
        );

        fresh.close();
        let mut data = reader(vec![series(0, 2)]);
        let items = vec![sheaf::table::WriteItem {
            symbol: "t".into(),
            data: &mut data,
            metadata: None,
            options: indexed.clone(),
        }];
        let err = fresh
            .write_batch(items, sheaf::table::BatchWriteMode::Write)
            .expect_err("a closed handle fails the batch as a whole");
        assert_eq!(err.kind(), ErrorKind::Closed);
    }
}

/// A read with `contiguous`: one batch (one buffer per column).
fn read_contiguous(lib: &sheaf::Library, symbol: &str, options: &ReadOptions) -> RecordBatch {
    let options = ReadOptions {
        contiguous: true,
        ..options.clone()
    };
    let batches = lib
        .read(symbol, &options)
        .unwrap()
        .reader
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert!(batches.len() <= 1, "a contiguous read is one batch");
    batches.into_iter().next().unwrap_or_else(|| {
        RecordBatch::new_empty(lib.read(symbol, &options).unwrap().reader.schema())
    })
}

fn read_streamed(lib: &sheaf::Library, symbol: &str, options: &ReadOptions) -> RecordBatch {
    let r = lib.read(symbol, options).unwrap();
    let schema = r.reader.schema();
    let batches = r.reader.collect::<Result<Vec<_>, _>>().unwrap();
    arrow_select::concat::concat_batches(&schema, &batches).unwrap()
}

/// Fixed-width columns only (what a contiguous read assembles in place), with nulls, over a
/// sorted index: `n` rows from `start`.
fn fixed_width_batch(start: i64, n: usize) -> RecordBatch {
    let ts: Vec<i64> = (0..n as i64).map(|i| (start + i) * 1_000).collect();
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("ts", Arc::new(TimestampMicrosecondArray::from(ts))),
        (
            "f",
            Arc::new(Float64Array::from_iter((0..n).map(|i| {
                (i % 5 != 2).then_some((start + i as i64) as f64 * 0.25)
            }))),
        ),
        (
            "i",
            Arc::new(Int32Array::from_iter_values(
                (0..n as i32).map(|i| i.wrapping_mul(7919) - 13),
            )),
        ),
        (
            "u",
            Arc::new(UInt8Array::from_iter(
                (0..n).map(|i| (i % 3 != 0).then_some(i as u8)),
            )),
        ),
        (
            "dec",
            Arc::new(
                Decimal128Array::from_iter((0..n as i128).map(|i| Some(i * 1_000_001 - 5)))
                    .with_precision_and_scale(20, 3)
                    .unwrap(),
            ),
        ),
        (
            "d",
            Arc::new(Date32Array::from_iter(
                (0..n as i32).map(|i| (i % 4 != 1).then_some(18_000 + i)),
            )),
        ),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), *n != "ts"))
        .collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap()
}

#[test]
fn contiguous_reads_return_what_streamed_reads_return() {
    for (store, _dir) in stores() {
        for compression in ["lz4", "zstd", "none"] {
            let options = LibraryOptions::from_json(&format!(
                "{{\"compression\": \"{compression}\", \"rows_per_segment\": 7, \"dynamic_schema\": true}}"
            ))
            .unwrap();
            let lib = store
                .create_library(&format!("contiguous-{compression}"), options)
                .unwrap();
            let indexed = WriteOptions {
                index: Some("ts".into()),
                ..Default::default()
            };
            // Fixed-width columns: assembled in place. 40 rows = 6 segments of 7 and one of 5.
            lib.write(
                "fixed",
                &mut reader(vec![fixed_width_batch(0, 25), fixed_width_batch(25, 15)]),
                None,
                &indexed,
            )
            .unwrap();
            let ts = |i: i64| sheaf::table::IndexBound::Raw(i * 1_000);
            let range = |a: Option<i64>, b: Option<i64>| ReadOptions {
                date_range: Some(sheaf::table::DateRange {
                    start: a.map(ts),
                    end: b.map(ts),
                }),
                ..Default::default()
            };
            let cases = vec![
                ReadOptions::default(),
                ReadOptions {
                    columns: Some(vec!["dec".into(), "f".into()]),
                    ..Default::default()
                },
                ReadOptions {
                    row_range: Some((Some(3), Some(-4))),
                    ..Default::default()
                },
                ReadOptions {
                    row_range: Some((Some(9), Some(10))),
                    ..Default::default()
                },
                ReadOptions {
                    row_range: Some((Some(30), Some(30))),
                    ..Default::default()
                },
                range(Some(5), Some(23)),
                range(Some(8), Some(8)),
                range(None, Some(3)),
                range(Some(36), None),
                range(Some(100), None),
            ];
            for options in &cases {
                let want = read_streamed(&lib, "fixed", options);
                let in_place = lib.reads_assembled_in_place();
                let got = read_contiguous(&lib, "fixed", options);
                assert_eq!(got, want, "{compression} {options:?}");
                assert_eq!(lib.reads_assembled_in_place(), in_place + 1, "{options:?}");
                for column in got.columns() {
                    assert_eq!(column.to_data().buffers().len(), 1);
                }
            }
            assert_eq!(
                read_contiguous(&lib, "fixed", &range(Some(5), Some(23))).num_rows(),
                19
            );
            // A column added later (older segments lack it): the general path, same answer.
            let mut wider = fixed_width_batch(40, 10);
            let extra: ArrayRef = Arc::new(Int64Array::from_iter_values(0..10));
            let mut fields = wider.schema().fields().to_vec();
            fields.push(Arc::new(Field::new("extra", DataType::Int64, true)));
            let mut columns = wider.columns().to_vec();
            columns.push(extra);
            wider = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
            lib.append("fixed", &mut reader(vec![wider]), None, &indexed)
                .unwrap();
            let in_place = lib.reads_assembled_in_place();
            for options in &cases {
                assert_eq!(
                    read_contiguous(&lib, "fixed", options),
                    read_streamed(&lib, "fixed", options),
                    "after a new column: {options:?}"
                );
            }
            // Only the reads that stay clear of the older segments are assembled in place.
            assert_eq!(lib.reads_assembled_in_place(), in_place + 2);
            // Every type (strings, dictionaries, views...): concatenated, same answer.
            let every = every_type_batch();
            lib.write(
                "every",
                &mut reader(vec![every.clone(), every.clone(), every]),
                None,
                &WriteOptions::default(),
            )
            .unwrap();
            for options in [
                ReadOptions::default(),
                ReadOptions {
                    row_range: Some((Some(2), Some(9))),
                    columns: Some(vec!["utf8".into(), "f64".into(), "dict".into()]),
                    ..Default::default()
                },
            ] {
                assert_eq!(
                    read_contiguous(&lib, "every", &options),
                    read_streamed(&lib, "every", &options),
                    "{options:?}"
                );
            }
            // An unsorted index under a date_range: the general path.
            let unsorted = WriteOptions {
                index: Some("ts".into()),
                validate_index: false,
                ..Default::default()
            };
            lib.write(
                "unsorted",
                &mut reader(vec![fixed_width_batch(20, 10), fixed_width_batch(0, 15)]),
                None,
                &unsorted,
            )
            .unwrap();
            let options = range(Some(4), Some(24));
            let in_place = lib.reads_assembled_in_place();
            let got = read_contiguous(&lib, "unsorted", &options);
            assert_eq!(lib.reads_assembled_in_place(), in_place);
            assert_eq!(got, read_streamed(&lib, "unsorted", &options));
            assert_eq!(got.num_rows(), 5 + 11);
        }
    }
}

#[test]
fn a_read_of_some_columns_decodes_only_those() {
    for (store, _dir) in stores() {
        for compression in ["lz4", "zstd", "none"] {
            let options = LibraryOptions::from_json(&format!(
                "{{\"compression\": \"{compression}\", \"rows_per_segment\": 1000}}"
            ))
            .unwrap();
            let lib = store
                .create_library(&format!("projection-{compression}"), options)
                .unwrap();
            let rows = 3000usize;
            let mut columns: Vec<(String, ArrayRef)> = vec![(
                "ts".into(),
                Arc::new(TimestampNanosecondArray::from_iter_values(0..rows as i64)),
            )];
            for c in 0..10 {
                columns.push((
                    format!("c{c}"),
                    Arc::new(Float64Array::from_iter_values(
                        (0..rows).map(|i| ((i * 31 + c) % 977) as f64),
                    )),
                ));
            }
            let batch = RecordBatch::try_from_iter(columns).unwrap();
            lib.write(
                "wide",
                &mut reader(vec![batch]),
                None,
                &WriteOptions {
                    index: Some("ts".into()),
                    ..Default::default()
                },
            )
            .unwrap();
            let width = (rows * 8) as u64;
            for contiguous in [true, false] {
                let measure = |columns: Option<Vec<String>>| {
                    let (segments, bytes) = (lib.segments_loaded(), lib.bytes_decoded());
                    let options = ReadOptions {
                        columns,
                        contiguous,
                        ..Default::default()
                    };
                    let batches = lib
                        .read("wide", &options)
                        .unwrap()
                        .reader
                        .collect::<Result<Vec<_>, _>>()
                        .unwrap();
                    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), rows);
                    (
                        lib.segments_loaded() - segments,
                        lib.bytes_decoded() - bytes,
                    )
                };
                // The index comes along with every selection.
                assert_eq!(measure(Some(vec!["c3".into()])), (3, 2 * width));
                assert_eq!(
                    measure(Some(vec!["c7".into(), "c3".into()])),
                    (3, 3 * width)
                );
                assert_eq!(measure(None), (3, 11 * width), "{compression}");
            }
        }
    }
}

#[test]
fn an_unsorted_index_is_refused_wherever_it_descends() {
    // Written with several encoder threads: the order is still checked segment by segment,
    // across their boundaries too, and nothing of the refused write stays behind.
    let options = LibraryOptions::from_json("{\"rows_per_segment\": 10}").unwrap();
    for (store, _dir) in stores() {
        let lib = store.create_library("unsorted", options.clone()).unwrap();
        let indexed = WriteOptions {
            index: Some("ts".into()),
            ..Default::default()
        };
        for (descent_at, parts) in [
            // Inside the third segment.
            (
                25usize,
                vec![fixed_width_batch(0, 25), fixed_width_batch(-3, 20)],
            ),
            // Exactly at the boundary of the fourth.
            (
                30,
                vec![fixed_width_batch(0, 30), fixed_width_batch(-1, 20)],
            ),
        ] {
            let err = lib
                .write("s", &mut reader(parts.clone()), None, &indexed)
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UnsortedIndex, "{}", err.message());
            let first = parts[1]
                .column(0)
                .as_primitive::<arrow_array::types::TimestampMicrosecondType>()
                .value(0);
            let previous = parts[0]
                .column(0)
                .as_primitive::<arrow_array::types::TimestampMicrosecondType>()
                .value(descent_at - 1);
            assert!(
                err.message()
                    .contains(&format!("value {first} follows {previous}")),
                "{}",
                err.message()
            );
            assert!(!lib.has_symbol("s", &AsOf::Latest).unwrap());
            let report = store.verify().unwrap();
            assert!(report.problems.is_empty(), "{:?}", report.problems);
            assert!(
                !report
                    .leftovers
                    .iter()
                    .any(|l| matches!(l.kind, sheaf::verify::LeftoverKind::UnreferencedSegment)),
                "the refused write left segments behind"
            );
        }
    }
}

/// Memory storage that says it prefers point reads (as object storage does), counting scans:
/// the engine then finds heads from their hint keys.
mod point_reads {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use sheaf::storage::{
        Entry, KeyRange, MemoryStorage, ScanOptions, SharedStorage, Storage, TransactionBody,
        WriteOp,
    };

    pub struct PointReads {
        pub inner: MemoryStorage,
        pub scans: AtomicU64,
    }

    impl Storage for PointReads {
        fn get(&self, key: &[u8]) -> sheaf::Result<Option<Vec<u8>>> {
            self.inner.get(key)
        }
        fn put(&self, key: &[u8], value: &[u8]) -> sheaf::Result<()> {
            self.inner.put(key, value)
        }
        fn put_if_absent(&self, key: &[u8], value: &[u8]) -> sheaf::Result<bool> {
            self.inner.put_if_absent(key, value)
        }
        fn compare_and_swap(
            &self,
            key: &[u8],
            expected: Option<&[u8]>,
            new: Option<&[u8]>,
        ) -> sheaf::Result<bool> {
            self.inner.compare_and_swap(key, expected, new)
        }
        fn delete(&self, key: &[u8]) -> sheaf::Result<bool> {
            self.inner.delete(key)
        }
        fn scan(&self, range: &KeyRange, options: ScanOptions) -> sheaf::Result<Vec<Entry>> {
            self.scans.fetch_add(1, Ordering::Relaxed);
            self.inner.scan(range, options)
        }
        fn write_batch(&self, ops: &[WriteOp<'_>]) -> sheaf::Result<()> {
            self.inner.write_batch(ops)
        }
        fn transact(&self, body: &mut TransactionBody<'_>) -> sheaf::Result<()> {
            self.inner.transact(body)
        }
        fn describe(&self) -> String {
            "point-reads".into()
        }
        fn prefers_point_reads(&self) -> bool {
            true
        }
    }

    pub fn storage() -> (Arc<PointReads>, SharedStorage) {
        let s = Arc::new(PointReads {
            inner: MemoryStorage::new("mem://point-reads"),
            scans: AtomicU64::new(0),
        });
        (s.clone(), s)
    }
}

#[test]
fn heads_come_from_hints_on_point_read_storage_and_survive_bad_hints() {
    use sheaf::storage::Storage as _;
    use std::sync::atomic::Ordering;
    struct NoHook;
    impl sheaf::storage::StepHook for NoHook {
        fn before(&self, _: sheaf::storage::StepKind) -> sheaf::Result<()> {
            Ok(())
        }
    }
    let (counted, raw) = point_reads::storage();
    // Behind a hooked storage (as the fault-injection tests run it): it must pass the
    // preference for point reads on.
    let hooked: sheaf::storage::SharedStorage =
        Arc::new(sheaf::storage::HookedStorage::new(raw, Arc::new(NoHook)));
    let store = Store::from_storage("mem://point-reads", hooked);
    let lib = store
        .create_library("l", LibraryOptions::default())
        .unwrap();
    let batch = |v: i64| {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)])),
            vec![Arc::new(Int64Array::from(vec![v]))],
        )
        .unwrap()
    };
    let append = |v: i64| {
        let b = batch(v);
        let schema = b.schema();
        lib.append(
            "s",
            &mut RecordBatchIterator::new(vec![Ok(b)], schema),
            None,
            &WriteOptions::default(),
        )
        .unwrap()
    };
    assert_eq!(append(0), 0);
    let scans = counted.scans.load(Ordering::Relaxed);
    for v in 1..5 {
        assert_eq!(append(v), v as u64);
    }
    assert_eq!(
        counted.scans.load(Ordering::Relaxed),
        scans,
        "appends found the head by point reads"
    );
    let latest = || lib.read("s", &ReadOptions::default()).unwrap().info.version;
    assert_eq!(latest(), 4);
    // The hint key: `h\0s` under the library's prefix; find it among the raw keys.
    let hint_key = counted
        .inner
        .scan(&sheaf::storage::KeyRange::all(), Default::default())
        .unwrap()
        .into_iter()
        .find(|e| e.key.ends_with(b"h\0s"))
        .expect("a hint key")
        .key;
    // A hint two versions behind: the probes walk forward to the head, without a scan.
    counted.inner.put(&hint_key, &2u64.to_be_bytes()).unwrap();
    let scans = counted.scans.load(Ordering::Relaxed);
    assert_eq!(latest(), 4);
    assert_eq!(
        counted.scans.load(Ordering::Relaxed),
        scans,
        "a hint within the probes finds the head by point reads"
    );
    // A stale hint (behind the head), a hint far behind (more than the probes), a malformed
    // one and none at all: the head is still version 4, then 5 after one more append.
    for bad in [
        Some(2u64.to_be_bytes().to_vec()),
        Some(0u64.to_be_bytes().to_vec()),
        Some(b"x".to_vec()),
        None,
    ] {
        match &bad {
            Some(v) => counted.inner.put(&hint_key, v).unwrap(),
            None => {
                counted.inner.delete(&hint_key).unwrap();
            }
        }
        assert_eq!(latest(), 4, "hint {bad:?}");
    }
    // A hint pointing past a missing record (as if that version's record were gone).
    counted.inner.put(&hint_key, &99u64.to_be_bytes()).unwrap();
    assert_eq!(latest(), 4);
    assert_eq!(append(5), 5);
    assert_eq!(latest(), 5);
    for _ in 0..12 {
        let v = latest() + 1;
        assert_eq!(append(v as i64), v);
    }
    counted.inner.put(&hint_key, &0u64.to_be_bytes()).unwrap();
    assert_eq!(
        latest(),
        17,
        "a hint 17 versions behind: the probes give up and scan"
    );
}
