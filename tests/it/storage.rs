//! One behavioural suite, run against every storage backend.

use std::ops::Bound;
use std::sync::Arc;

use sheaf::storage::{self, KeyRange, ScanOptions, SharedStorage, WriteOp};

use crate::common;
use common::s3;

fn backends() -> Vec<(SharedStorage, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let lmdb = storage::open_uri(&format!("lmdb://{}", dir.path().display())).unwrap();
    let mut all = vec![
        (storage::open_uri("mem://").unwrap(), None),
        (lmdb, Some(dir)),
    ];
    if let Some(uri) = s3::fresh_bucket_uri() {
        all.push((storage::open_uri(&uri).unwrap(), None));
    }
    all
}

fn keys(entries: &[storage::Entry]) -> Vec<&[u8]> {
    entries.iter().map(|e| e.key.as_slice()).collect()
}

#[test]
fn get_put_delete() {
    for (s, _dir) in backends() {
        assert_eq!(s.get(b"a").unwrap(), None, "{}", s.describe());
        s.put(b"a", b"1").unwrap();
        assert_eq!(s.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
        s.put(b"a", b"2").unwrap();
        assert_eq!(s.get(b"a").unwrap().as_deref(), Some(&b"2"[..]));
        assert!(s.delete(b"a").unwrap());
        assert!(!s.delete(b"a").unwrap());
        assert_eq!(s.get(b"a").unwrap(), None);
        s.put(b"empty", b"").unwrap();
        assert_eq!(s.get(b"empty").unwrap().as_deref(), Some(&b""[..]));
    }
}

#[test]
fn put_if_absent_and_cas() {
    for (s, _dir) in backends() {
        assert!(s.put_if_absent(b"k", b"v1").unwrap());
        assert!(!s.put_if_absent(b"k", b"v2").unwrap());
        assert_eq!(s.get(b"k").unwrap().as_deref(), Some(&b"v1"[..]));
        assert!(!s.compare_and_swap(b"k", Some(b"zz"), Some(b"v3")).unwrap());
        assert!(s.compare_and_swap(b"k", Some(b"v1"), Some(b"v3")).unwrap());
        assert_eq!(s.get(b"k").unwrap().as_deref(), Some(&b"v3"[..]));
        assert!(!s.compare_and_swap(b"new", Some(b"x"), Some(b"y")).unwrap());
        assert!(s.compare_and_swap(b"new", None, Some(b"y")).unwrap());
        assert!(s.compare_and_swap(b"new", Some(b"y"), None).unwrap());
        assert_eq!(s.get(b"new").unwrap(), None);
    }
}

#[test]
fn scans_are_ordered_bounded_and_reversible() {
    for (s, _dir) in backends() {
        for k in [&b"a"[..], b"ab", b"abc", b"b", b"b\xff", b"c"] {
            s.put(k, k).unwrap();
        }
        let all = s.scan(&KeyRange::all(), ScanOptions::default()).unwrap();
        assert_eq!(
            keys(&all),
            vec![&b"a"[..], b"ab", b"abc", b"b", b"b\xff", b"c"]
        );
        assert_eq!(all[2].value, b"abc");
        let pre = s
            .scan(&KeyRange::prefix(b"ab"), ScanOptions::default())
            .unwrap();
        assert_eq!(keys(&pre), vec![&b"ab"[..], b"abc"]);
        let rev = s
            .scan(
                &KeyRange::prefix(b"b"),
                ScanOptions {
                    reverse: true,
                    limit: Some(1),
                    keys_only: true,
                },
            )
            .unwrap();
        assert_eq!(keys(&rev), vec![&b"b\xff"[..]]);
        assert!(rev[0].value.is_empty());
        let excl = KeyRange {
            start: Bound::Excluded(b"ab".to_vec()),
            end: Bound::Included(b"b".to_vec()),
        };
        assert_eq!(
            keys(&s.scan(&excl, ScanOptions::default()).unwrap()),
            vec![&b"abc"[..], b"b"]
        );
        let empty = KeyRange {
            start: Bound::Excluded(b"b".to_vec()),
            end: Bound::Excluded(b"b".to_vec()),
        };
        assert!(s.scan(&empty, ScanOptions::default()).unwrap().is_empty());
        let inverted = KeyRange {
            start: Bound::Included(b"c".to_vec()),
            end: Bound::Included(b"a".to_vec()),
        };
        assert!(s
            .scan(&inverted, ScanOptions::default())
            .unwrap()
            .is_empty());
    }
}

#[test]
fn write_batch_applies_everything() {
    for (s, _dir) in backends() {
        s.put(b"gone", b"x").unwrap();
        s.write_batch(&[
            WriteOp::Put(b"p1", b"1"),
            WriteOp::Put(b"p2", b"2"),
            WriteOp::Delete(b"gone"),
        ])
        .unwrap();
        assert_eq!(s.get(b"p1").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(s.get(b"p2").unwrap().as_deref(), Some(&b"2"[..]));
        assert_eq!(s.get(b"gone").unwrap(), None);
        s.write_batch(&[]).unwrap();
    }
}

#[test]
fn put_if_absent_has_one_winner_across_threads() {
    for (s, _dir) in backends() {
        let wins: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    let s = Arc::clone(&s);
                    scope.spawn(move || {
                        (0..200u32)
                            .filter(|i| s.put_if_absent(&i.to_be_bytes(), &[t]).unwrap())
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(wins, 200, "{}", s.describe());
    }
}

#[test]
fn lmdb_shares_one_environment_per_path_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("lmdb://{}?map_size=256MB", dir.path().display());
    let a = storage::open_uri(&uri).unwrap();
    let b = storage::open_uri(dir.path().to_str().unwrap()).unwrap();
    a.put(b"x", b"1").unwrap();
    assert_eq!(b.get(b"x").unwrap().as_deref(), Some(&b"1"[..]));
    drop((a, b));
    let c = storage::open_uri(&uri).unwrap();
    assert_eq!(c.get(b"x").unwrap().as_deref(), Some(&b"1"[..]));
}

#[test]
fn lmdb_map_full_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = storage::open_uri(&format!("lmdb://{}?map_size=1MB", dir.path().display())).unwrap();
    let big = vec![7u8; 4 << 20];
    let err = s.put(b"big", &big).unwrap_err();
    assert_eq!(err.kind(), sheaf::ErrorKind::StorageFull, "{err}");
    assert!(err.to_string().contains("map_size"), "{err}");
}

#[test]
fn named_memory_stores_are_shared_while_open() {
    let a = storage::open_uri("mem://shared-test").unwrap();
    a.put(b"k", b"v").unwrap();
    let b = storage::open_uri("mem://shared-test").unwrap();
    assert_eq!(b.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
    let private = storage::open_uri("mem://").unwrap();
    assert_eq!(private.get(b"k").unwrap(), None);
}

#[test]
fn bad_uris_are_refused() {
    for (uri, needle) in [
        ("gcs://bucket", "unknown scheme"),
        ("file:///tmp/x", "use lmdb:///PATH"),
        ("s3://bucket?colour=blue", "unknown option"),
        (
            "s3://bucket?access_key_id=AKIA",
            "credentials do not go in the URI",
        ),
        ("s3://bucket?timeout=soon", "seconds"),
        ("lmdb://relative/path", "absolute path"),
        ("", "empty"),
        ("lmdb:///tmp/x?colour=blue", "unknown option"),
        ("lmdb:///tmp/x?map_size=lots", "not a size"),
        ("mem://x?y=1", "no options"),
    ] {
        let err = storage::open_uri(uri)
            .err()
            .unwrap_or_else(|| panic!("{uri} opened"));
        assert!(err.to_string().contains(needle), "{uri}: {err}");
    }
}

#[test]
fn transactions_see_their_writes_and_roll_back_on_error() {
    for (s, _dir) in backends() {
        s.put(b"keep", b"1").unwrap();
        s.transact(&mut |t| {
            t.put(b"a", b"x")?;
            assert_eq!(t.get(b"a")?.as_deref(), Some(&b"x"[..]));
            assert!(t.delete(b"keep")?);
            assert_eq!(
                keys(&t.scan(&KeyRange::all(), ScanOptions::default())?),
                vec![&b"a"[..]]
            );
            Ok(())
        })
        .unwrap();
        assert_eq!(s.get(b"keep").unwrap(), None);
        let err = s
            .transact(&mut |t| {
                t.put(b"a", b"changed")?;
                t.put(b"b", b"new")?;
                t.put(b"b", b"newer")?;
                Err(sheaf::Error::new(sheaf::ErrorKind::Generic, "abort"))
            })
            .unwrap_err();
        assert_eq!(err.message(), "abort");
        assert_eq!(
            s.get(b"a").unwrap().as_deref(),
            Some(&b"x"[..]),
            "{}",
            s.describe()
        );
        assert_eq!(s.get(b"b").unwrap(), None);
        assert_eq!(
            s.get_many(&[b"a", b"zz"]).unwrap(),
            vec![Some(b"x".to_vec()), None]
        );
    }
}

#[test]
fn concurrent_read_modify_write_transactions_lose_nothing() {
    for (s, _dir) in backends() {
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let s = Arc::clone(&s);
                scope.spawn(move || {
                    for _ in 0..100 {
                        s.transact(&mut |t| {
                            let n = t
                                .get(b"counter")?
                                .map_or(0, |v| u64::from_le_bytes(v.try_into().unwrap()));
                            t.put(b"counter", &(n + 1).to_le_bytes())
                        })
                        .unwrap();
                    }
                });
            }
        });
        let n = u64::from_le_bytes(s.get(b"counter").unwrap().unwrap().try_into().unwrap());
        assert_eq!(n, 400, "{}", s.describe());
    }
}

#[test]
fn an_lmdb_store_inherited_through_fork_is_refused_in_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let s = storage::open_uri(dir.path().to_str().unwrap()).unwrap();
    s.put(b"k", b"v").unwrap();
    // SAFETY: the child only calls into the storage (which must refuse) and then _exit()s.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let refused = match s.get(b"k") {
            Err(e) => e.to_string().contains("forked") && s.put(b"x", b"y").is_err(),
            Ok(_) => false,
        };
        unsafe { libc::_exit(if refused { 0 } else { 1 }) };
    }
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child was not refused"
    );
    assert_eq!(
        s.get(b"k").unwrap().as_deref(),
        Some(&b"v"[..]),
        "the parent still works"
    );
}
