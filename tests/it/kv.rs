//! Key spaces and document collections through the Rust API, on both backends.

use std::time::Duration;

use sheaf::kv::mode;
use sheaf::{ErrorKind, Store};

fn stores() -> Vec<(Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let lmdb = Store::open(&format!("lmdb://{}", dir.path().display())).unwrap();
    vec![(Store::open("mem://").unwrap(), None), (lmdb, Some(dir))]
}

const NOW: Duration = Duration::ZERO;

#[test]
fn put_get_and_modes() {
    for (store, _dir) in stores() {
        let kv = store.kv("k").unwrap();
        kv.put(b"a", b"1", 0).unwrap();
        assert_eq!(kv.get(b"a", 0, NOW).unwrap(), Some(b"1".to_vec()));
        assert_eq!(kv.get(b"zz", 0, NOW).unwrap(), None);
        kv.put(b"a", b"23", mode::APPEND).unwrap();
        assert_eq!(kv.get(b"a", 0, NOW).unwrap(), Some(b"123".to_vec()));
        kv.put(b"fresh", b"x", mode::APPEND).unwrap();
        assert_eq!(
            kv.get(b"fresh", 0, NOW).unwrap(),
            Some(b"x".to_vec()),
            "APPEND to a missing key creates it"
        );
        assert_eq!(
            kv.put(b"a", b"no", mode::NEW_ONLY).unwrap_err().kind(),
            ErrorKind::KeyExists
        );
        assert_eq!(
            kv.put(b"b", b"no", mode::EXIST_ONLY).unwrap_err().kind(),
            ErrorKind::NoSuchKey
        );
        kv.put(b"a", b"yes", mode::EXIST_ONLY).unwrap();
        assert_eq!(
            kv.put(b"a", b"x", mode::NEW_ONLY | mode::EXIST_ONLY)
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidMode
        );
        assert_eq!(
            kv.put(b"a", b"x", mode::SUFFIX).unwrap_err().kind(),
            ErrorKind::InvalidMode
        );
        assert_eq!(
            kv.get(b"a", mode::CONSUME, NOW).unwrap(),
            Some(b"yes".to_vec())
        );
        assert_eq!(kv.get(b"a", 0, NOW).unwrap(), None, "CONSUME erased it");
        // get_with refusing the value (a too-small buffer) does not consume.
        kv.put(b"c", b"value", 0).unwrap();
        let refused = kv.get_with(b"c", mode::CONSUME, NOW, |v| -> sheaf::Result<()> {
            Err(sheaf::Error::new(
                ErrorKind::BufferTooSmall,
                format!("need {}", v.len()),
            ))
        });
        assert_eq!(refused.unwrap_err().kind(), ErrorKind::BufferTooSmall);
        assert_eq!(kv.get(b"c", 0, NOW).unwrap(), Some(b"value".to_vec()));
        // Keys are bytes, \0 included; empty values are values.
        kv.put(b"n\0ul", b"", 0).unwrap();
        assert_eq!(kv.get(b"n\0ul", 0, NOW).unwrap(), Some(Vec::new()));
        assert_eq!(
            kv.length_multi(&[b"n\0ul", b"c", b"none"]).unwrap(),
            vec![Some(0), Some(5), None]
        );
        assert_eq!(
            kv.exists_multi(&[b"c", b"none"]).unwrap(),
            vec![true, false]
        );
        assert_eq!(kv.erase_multi(&[b"c", b"none"]).unwrap(), vec![true, false]);
        assert_eq!(store.list_kv().unwrap(), vec!["k"]);
        assert!(store.drop_kv("k").unwrap());
        assert_eq!(
            store.kv("k").unwrap().count().unwrap(),
            0,
            "dropping removes the entries"
        );
    }
}

#[test]
fn multi_puts_report_each_key() {
    let store = Store::open("mem://").unwrap();
    let kv = store.kv("m").unwrap();
    kv.put(b"b", b"old", 0).unwrap();
    let outcomes = kv
        .put_multi(&[b"a", b"b", b"c"], &[b"1", b"2", b"3"], mode::NEW_ONLY)
        .unwrap();
    assert!(outcomes[0].is_ok() && outcomes[2].is_ok());
    assert_eq!(
        outcomes[1].as_ref().unwrap_err().kind(),
        ErrorKind::KeyExists
    );
    assert_eq!(
        kv.get_multi(&[b"a", b"b", b"c"], 0).unwrap(),
        vec![
            Some(b"1".to_vec()),
            Some(b"old".to_vec()),
            Some(b"3".to_vec())
        ]
    );
    assert!(kv.put_multi(&[b"a"], &[], 0).is_err());
    assert_eq!(
        kv.get_multi(&[b"a", b"x"], mode::CONSUME).unwrap(),
        vec![Some(b"1".to_vec()), None]
    );
    assert_eq!(kv.count().unwrap(), 2);
}

#[test]
fn listing_with_filters_and_modes() {
    for (store, _dir) in stores() {
        let kv = store.kv("l").unwrap();
        for k in ["apple", "apricot", "banana", "blueberry", "cherry", "grape"] {
            kv.put(k.as_bytes(), k.to_uppercase().as_bytes(), 0)
                .unwrap();
        }
        let keys = |from: &str, filter: &str, count: usize, m: u32| -> Vec<String> {
            kv.list(from.as_bytes(), filter.as_bytes(), count, m, false)
                .unwrap()
                .into_iter()
                .map(|e| String::from_utf8(e.key).unwrap())
                .collect()
        };
        assert_eq!(
            keys("", "", 100, 0),
            vec!["apple", "apricot", "banana", "blueberry", "cherry", "grape"]
        );
        assert_eq!(keys("", "ap", 100, 0), vec!["apple", "apricot"]);
        assert_eq!(
            keys("apple", "ap", 100, 0),
            vec!["apricot"],
            "from_key is exclusive"
        );
        assert_eq!(
            keys("apple", "ap", 100, mode::INCLUSIVE),
            vec!["apple", "apricot"]
        );
        assert_eq!(keys("", "b", 1, 0), vec!["banana"]);
        assert_eq!(
            keys("", "b", 100, mode::NO_PREFIX),
            vec!["anana", "lueberry"]
        );
        assert_eq!(
            keys("", "rry", 100, mode::SUFFIX),
            vec!["blueberry", "cherry"]
        );
        assert_eq!(
            keys("", "rry", 100, mode::SUFFIX | mode::NO_PREFIX),
            vec!["bluebe", "che"]
        );
        assert_eq!(keys("c", "", 100, 0), vec!["cherry", "grape"]);
        let values: Vec<Vec<u8>> = kv
            .list(b"", b"a", 10, mode::IGNORE_KEYS, true)
            .unwrap()
            .into_iter()
            .map(|e| {
                assert!(e.key.is_empty());
                e.value
            })
            .collect();
        assert_eq!(values, vec![b"APPLE".to_vec(), b"APRICOT".to_vec()]);
        let last = kv.list(b"", b"", 3, mode::KEEP_LAST, true).unwrap();
        assert_eq!(
            last.iter().map(|e| e.key.clone()).collect::<Vec<_>>(),
            vec![Vec::new(), Vec::new(), b"banana".to_vec()]
        );
        let popped = kv.list(b"", b"b", 10, mode::CONSUME, true).unwrap();
        assert_eq!(popped.len(), 2);
        assert_eq!(
            keys("", "b", 10, 0),
            Vec::<String>::new(),
            "CONSUME erased what it listed"
        );
        assert_eq!(kv.erase_range(b"ap").unwrap(), 2);
        assert_eq!(keys("", "", 100, 0), vec!["cherry", "grape"]);
        assert_eq!(
            kv.list(b"", b"", 10, mode::APPEND, false)
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidMode
        );
    }
}

#[test]
fn wait_wakes_on_notify_and_times_out() {
    let store = Store::open("mem://").unwrap();
    let kv = store.kv("w").unwrap();
    let err = kv
        .get(b"later", mode::WAIT, Duration::from_millis(30))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        let kv2 = kv.clone();
        scope.spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            kv2.put(b"later", b"here", mode::NOTIFY).unwrap();
        });
        assert_eq!(
            kv.get(b"later", mode::WAIT, Duration::from_secs(5))
                .unwrap(),
            Some(b"here".to_vec())
        );
    });
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn new_only_races_have_one_winner_per_key_and_consume_pops_once() {
    for (store, _dir) in stores() {
        let kv = store.kv("race").unwrap();
        let keys: Vec<Vec<u8>> = (0..2000u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let results: Vec<Vec<bool>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4u8)
                .map(|t| {
                    let kv = kv.clone();
                    let keys = &keys;
                    scope.spawn(move || {
                        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
                        let values: Vec<&[u8]> =
                            refs.iter().map(|_| std::slice::from_ref(&t)).collect();
                        let mut wins = Vec::new();
                        for chunk in 0..20 {
                            let range = chunk * 100..(chunk + 1) * 100;
                            let out = kv
                                .put_multi(&refs[range.clone()], &values[range], mode::NEW_ONLY)
                                .unwrap();
                            wins.extend(out.into_iter().map(|o| match o {
                                Ok(()) => true,
                                Err(e) => {
                                    assert_eq!(e.kind(), ErrorKind::KeyExists);
                                    false
                                }
                            }));
                        }
                        wins
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for i in 0..keys.len() {
            assert_eq!(
                results.iter().filter(|r| r[i]).count(),
                1,
                "key {i} has exactly one winner"
            );
            let winner = results.iter().position(|r| r[i]).unwrap() as u8;
            assert_eq!(
                kv.get(&keys[i], 0, NOW).unwrap(),
                Some(vec![winner]),
                "the stored value is the winner's"
            );
        }
        // A queue: 1000 items popped by 4 consumers, each exactly once.
        let queue = store.kv("queue").unwrap();
        let items: Vec<Vec<u8>> = (0..1000u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
        queue.put_multi(&refs, &refs, 0).unwrap();
        let mut popped: Vec<Vec<u8>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let queue = queue.clone();
                    scope.spawn(move || {
                        let mut mine = Vec::new();
                        loop {
                            let batch = queue.list(b"", b"", 7, mode::CONSUME, true).unwrap();
                            if batch.is_empty() {
                                return mine;
                            }
                            mine.extend(batch.into_iter().map(|e| e.value));
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        popped.sort();
        assert_eq!(popped, items);
    }
}

#[test]
fn collections_store_load_update_erase_list() {
    for (store, _dir) in stores() {
        let c = store.create_collection("people").unwrap();
        assert_eq!(
            store.create_collection("people").err().unwrap().kind(),
            ErrorKind::CollectionExists
        );
        assert_eq!(
            store.open_collection("nobody").err().unwrap().kind(),
            ErrorKind::NoSuchCollection
        );
        assert_eq!((c.size().unwrap(), c.last_id().unwrap()), (0, 0));
        let docs: Vec<Vec<u8>> = [
            r#"{"name":"ann","age":31}"#,
            r#"{"name":"bob","age":25}"#,
            r#"{"name":"cat","age":31}"#,
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        let refs: Vec<&[u8]> = docs.iter().map(Vec::as_slice).collect();
        assert_eq!(c.store_multi(&refs).unwrap(), vec![0, 1, 2]);
        assert_eq!(c.store(b"raw \x00 bytes").unwrap(), 3);
        assert_eq!((c.size().unwrap(), c.last_id().unwrap()), (4, 4));
        assert_eq!(
            c.load_multi(&[1, 9]).unwrap(),
            vec![Some(docs[1].clone()), None]
        );
        let filter: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"age": 31}"#).unwrap();
        let found: Vec<u64> = c
            .list(0, 10, &filter)
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(found, vec![0, 2]);
        assert_eq!(
            c.list(1, 2, &serde_json::Map::new())
                .unwrap()
                .iter()
                .map(|(id, _)| *id)
                .collect::<Vec<_>>(),
            vec![1, 2]
        );
        c.update_multi(&[1], &[br#"{"name":"bob","age":31}"#], 0)
            .unwrap();
        assert_eq!(c.list(0, 10, &filter).unwrap().len(), 3);
        assert_eq!(
            c.update_multi(&[7], &[b"{}"], 0).unwrap_err().kind(),
            ErrorKind::NoSuchDocument
        );
        c.update_multi(&[7], &[b"{}"], mode::UPDATE_NEW).unwrap();
        assert_eq!((c.size().unwrap(), c.last_id().unwrap()), (5, 8));
        c.erase_multi(&[0]).unwrap();
        assert_eq!(
            c.erase_multi(&[2, 0]).unwrap_err().kind(),
            ErrorKind::NoSuchDocument
        );
        assert_eq!(c.size().unwrap(), 4, "a failed multi-erase erases nothing");
        assert_eq!(c.store(b"{}").unwrap(), 8, "ids are never reused");
        assert_eq!(store.list_collections().unwrap(), vec!["people"]);
        store.drop_collection("people").unwrap();
        assert!(!store.collection_exists("people").unwrap());
        assert_eq!(c.size().unwrap_err().kind(), ErrorKind::NoSuchCollection);
    }
}

#[test]
fn concurrent_stores_get_unique_sequential_ids() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).unwrap();
    let c = store.create_collection("c").unwrap();
    let mut ids: Vec<u64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                scope.spawn(move || {
                    (0..100)
                        .map(|_| c.store(b"{}").unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    ids.sort();
    assert_eq!(ids, (0..400).collect::<Vec<_>>());
    assert_eq!(c.size().unwrap(), 400);
}

#[test]
fn document_filters_compare_numbers_by_value_and_huge_counts_are_fine() {
    let store = Store::open("mem://").unwrap();
    let c = store.create_collection("c").unwrap();
    c.store(br#"{"n": 5, "tags": [1, 2.0]}"#).unwrap();
    c.store(br#"{"n": 6}"#).unwrap();
    for filter in [
        r#"{"n": 5.0}"#,
        r#"{"n": 5}"#,
        r#"{"n": 0.5e1}"#,
        r#"{"tags": [1.0, 2]}"#,
    ] {
        let f: serde_json::Map<String, serde_json::Value> = serde_json::from_str(filter).unwrap();
        let ids: Vec<u64> = c
            .list(0, usize::MAX, &f)
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, vec![0], "{filter}");
    }
    assert_eq!(
        c.list(0, 1 << 62, &serde_json::Map::new()).unwrap().len(),
        2
    );
}

#[test]
fn key_length_limit_is_the_same_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    for uri in [
        "mem://".to_string(),
        format!("lmdb://{}", dir.path().display()),
    ] {
        let store = sheaf::Store::open(&uri).unwrap();
        let name = "n".repeat(255);
        let space = store.kv(&name).unwrap();
        let longest = vec![b'k'; sheaf::kv::MAX_KEY_BYTES];
        space.put(&longest, b"v", 0).unwrap();
        assert_eq!(
            space.get(&longest, 0, std::time::Duration::ZERO).unwrap(),
            Some(b"v".to_vec())
        );
        let too_long = vec![b'k'; sheaf::kv::MAX_KEY_BYTES + 1];
        let err = space.put(&too_long, b"v", 0).unwrap_err();
        assert_eq!(err.kind(), sheaf::ErrorKind::InvalidArgument, "{uri}");
        assert!(
            err.message().contains("at most 448 bytes"),
            "{}",
            err.message()
        );
        assert_eq!(
            space
                .get(&too_long, 0, std::time::Duration::ZERO)
                .unwrap_err()
                .kind(),
            sheaf::ErrorKind::InvalidArgument
        );
        assert_eq!(
            space.erase_multi(&[&too_long]).unwrap_err().kind(),
            sheaf::ErrorKind::InvalidArgument
        );
        // Names at their limit work together on every backend: library, symbol and snapshot.
        let lib = store
            .create_library(&"l".repeat(255), sheaf::LibraryOptions::default())
            .unwrap();
        let batch = arrow_array::RecordBatch::try_from_iter([(
            "x",
            std::sync::Arc::new(arrow_array::Int64Array::from(vec![1, 2])) as arrow_array::ArrayRef,
        )])
        .unwrap();
        let schema = batch.schema();
        let mut reader = arrow_array::RecordBatchIterator::new(vec![Ok(batch)].into_iter(), schema);
        lib.write(
            &"s".repeat(255),
            &mut reader,
            None,
            &sheaf::WriteOptions::default(),
        )
        .unwrap();
        lib.snapshot(&"p".repeat(255), None, &[], None).unwrap();
        assert_eq!(
            lib.list_symbols(Some(&"p".repeat(255))).unwrap(),
            vec!["s".repeat(255)]
        );
    }
}

#[test]
fn batched_reads_answer_in_the_callers_order() {
    for (store, _dir) in stores() {
        let kv = store.kv("order").unwrap();
        let stored: Vec<Vec<u8>> = (0..300u32)
            .map(|i| format!("k{:05}", (i * 7919) % 1000).into_bytes())
            .collect();
        for k in &stored {
            kv.put(k, &[k.as_slice(), b"=v"].concat(), 0).unwrap();
        }
        // Shuffled, with missing keys and repeats between present ones.
        let mut asked: Vec<Vec<u8>> = Vec::new();
        for (i, k) in stored.iter().enumerate().rev() {
            asked.push(k.clone());
            if i % 3 == 0 {
                asked.push(format!("missing{i}").into_bytes());
            }
            if i % 5 == 0 {
                asked.push(stored[(i * 13) % stored.len()].clone());
            }
        }
        let refs: Vec<&[u8]> = asked.iter().map(Vec::as_slice).collect();
        let expected: Vec<Option<Vec<u8>>> = asked
            .iter()
            .map(|k| (!k.starts_with(b"missing")).then(|| [k.as_slice(), b"=v"].concat()))
            .collect();
        assert_eq!(kv.get_multi(&refs, 0).unwrap(), expected);
        assert_eq!(
            kv.length_multi(&refs).unwrap(),
            expected
                .iter()
                .map(|v| v.as_ref().map(|v| v.len() as u64))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            kv.exists_multi(&refs).unwrap(),
            expected.iter().map(Option::is_some).collect::<Vec<_>>()
        );
    }
}

#[test]
fn mode_values_are_yokans_and_no_rdma_is_ignored() {
    // Yokan's published values (include/yokan/common.h).
    let yokan = [
        (mode::INCLUSIVE, 0x0001),
        (mode::APPEND, 0x0002),
        (mode::CONSUME, 0x0004),
        (mode::WAIT, 0x0008),
        (mode::NOTIFY, 0x0008),
        (mode::NEW_ONLY, 0x0010),
        (mode::EXIST_ONLY, 0x0020),
        (mode::NO_PREFIX, 0x0040),
        (mode::IGNORE_KEYS, 0x0080),
        (mode::KEEP_LAST, 0x0180),
        (mode::SUFFIX, 0x0200),
        (mode::NO_RDMA, 0x4000),
        (mode::UPDATE_NEW, 0x8000),
    ];
    for (ours, theirs) in yokan {
        assert_eq!(ours, theirs);
    }
    for (store, _dir) in stores() {
        let kv = store.kv("rdma").unwrap();
        kv.put(b"a", b"1", mode::NO_RDMA).unwrap();
        kv.put(b"a", b"2", mode::NO_RDMA | mode::APPEND).unwrap();
        assert_eq!(
            kv.get(b"a", mode::NO_RDMA, NOW).unwrap(),
            Some(b"12".to_vec())
        );
        assert_eq!(
            kv.get_multi(&[b"a", b"b"], mode::NO_RDMA).unwrap(),
            vec![Some(b"12".to_vec()), None]
        );
        assert_eq!(
            kv.put(b"a", b"x", mode::NO_RDMA | mode::NEW_ONLY)
                .unwrap_err()
                .kind(),
            ErrorKind::KeyExists
        );
        // Yokan's FILTER_VALUE (UPDATE_NEW's old value) is not a mode Sheaf takes.
        assert_eq!(
            kv.put(b"a", b"x", 0x1000).unwrap_err().kind(),
            ErrorKind::InvalidMode
        );
        let docs = store.create_collection("rdma_docs").unwrap();
        docs.update_multi(&[3], &[b"{}"], mode::UPDATE_NEW | mode::NO_RDMA)
            .unwrap();
        assert_eq!(
            docs.update_multi(&[9], &[b"{}"], 0x1000)
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidMode
        );
    }
}
