//! The storage seam: an ordered key → bytes space that the engine runs on.
//!
//! Nothing above this module knows which backend it talks to, and nothing in it knows about
//! tables, key spaces or collections: keys and values are plain bytes. Every backend must make
//! [`Storage::put_if_absent`] and [`Storage::compare_and_swap`] atomic, because the engine's
//! commit rule depends on it. `write_batch` and `transact` are atomic on `mem://` and `lmdb://`;
//! on object storage each key changes atomically but a batch does not (see `object`): the
//! engine only batches writes whose partial application leaves garbage, never a wrong answer.

pub mod hooked;
mod lmdb;
mod memory;
mod object;

use std::ops::Bound;
use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};

pub use self::hooked::{HookedStorage, StepHook, StepKind};
pub use self::lmdb::{LmdbOptions, LmdbStorage};
pub use self::memory::MemoryStorage;
pub use self::object::ObjectStorage;

/// A half-open or closed range of keys, in byte order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    pub start: Bound<Vec<u8>>,
    pub end: Bound<Vec<u8>>,
}

impl KeyRange {
    /// Every key that starts with `prefix`.
    pub fn prefix(prefix: &[u8]) -> Self {
        let end = match prefix_successor(prefix) {
            Some(end) => Bound::Excluded(end),
            None => Bound::Unbounded,
        };
        KeyRange {
            start: Bound::Included(prefix.to_vec()),
            end,
        }
    }

    /// Every key.
    pub fn all() -> Self {
        KeyRange {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
        }
    }

    /// Whether no key can lie in the range (ordered maps refuse to walk such a range).
    pub fn is_empty(&self) -> bool {
        match (&self.start, &self.end) {
            (Bound::Unbounded, _) | (_, Bound::Unbounded) => false,
            (Bound::Included(s), Bound::Included(e)) => s > e,
            (Bound::Included(s) | Bound::Excluded(s), Bound::Excluded(e))
            | (Bound::Excluded(s), Bound::Included(e)) => s >= e,
        }
    }

    /// Whether `key` lies in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        let after_start = match &self.start {
            Bound::Included(s) => key >= s.as_slice(),
            Bound::Excluded(s) => key > s.as_slice(),
            Bound::Unbounded => true,
        };
        let before_end = match &self.end {
            Bound::Included(e) => key <= e.as_slice(),
            Bound::Excluded(e) => key < e.as_slice(),
            Bound::Unbounded => true,
        };
        after_start && before_end
    }

    pub(crate) fn as_refs(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        (as_ref_bound(&self.start), as_ref_bound(&self.end))
    }
}

fn as_ref_bound(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The smallest key greater than every key starting with `prefix`, if there is one.
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// How a scan walks its range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanOptions {
    /// At most this many entries.
    pub limit: Option<usize>,
    /// From the last key down.
    pub reverse: bool,
    /// Leave values empty (cheaper: no value is copied).
    pub keys_only: bool,
}

/// One key and (unless the scan was keys-only) its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// One change inside an atomic [`Storage::write_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOp<'a> {
    Put(&'a [u8], &'a [u8]),
    Delete(&'a [u8]),
}

/// Reads and writes inside one [`Storage::transact`] call.
pub trait Transaction {
    /// The value at `key`, seeing this transaction's own writes.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Stores `value` at `key`.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()>;
    /// Removes `key`; `false` if it was absent.
    fn delete(&mut self, key: &[u8]) -> Result<bool>;
    /// The entries in `range`, seeing this transaction's own writes.
    fn scan(&self, range: &KeyRange, options: ScanOptions) -> Result<Vec<Entry>>;
}

/// What [`Storage::with_value`] lends a value to.
pub type ValueVisitor<'a> = dyn FnMut(Option<&[u8]>) -> Result<()> + 'a;

/// The body of a transaction.
pub type TransactionBody<'a> = dyn FnMut(&mut dyn Transaction) -> Result<()> + 'a;

/// An ordered key → bytes space. Implementations are shared between threads.
pub trait Storage: Send + Sync {
    /// The value stored at `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Stores `value` at `key`, replacing what was there.
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()>;
    /// Stores `value` at `key` only if the key is absent; `false` if it was present.
    fn put_if_absent(&self, key: &[u8], value: &[u8]) -> Result<bool>;
    /// Replaces the value at `key` by `new` (`None` deletes) only if it currently equals
    /// `expected` (`None` = absent). Returns whether the swap happened.
    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool>;
    /// Removes `key`; `false` if it was absent.
    fn delete(&self, key: &[u8]) -> Result<bool>;
    /// The entries in `range`, in key order (or reversed).
    fn scan(&self, range: &KeyRange, options: ScanOptions) -> Result<Vec<Entry>>;
    /// Applies every op or none.
    fn write_batch(&self, ops: &[WriteOp<'_>]) -> Result<()>;
    /// Runs `body` as one atomic read-modify-write transaction, serialised with every other
    /// writer (on LMDB, across processes too): all its writes apply, or — when it returns an
    /// error — none do.
    fn transact(&self, body: &mut TransactionBody<'_>) -> Result<()>;
    /// Calls `f` with the value at `key` (`None`: absent) lent for the duration of the call,
    /// so a caller that only decodes it copies nothing: LMDB lends the bytes straight from its
    /// map, inside one read transaction that ends when `f` returns.
    fn with_value(&self, key: &[u8], f: &mut ValueVisitor<'_>) -> Result<()> {
        let value = self.get(key)?;
        f(value.as_deref())
    }
    /// The values of many keys, read at one point in time.
    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>> {
        keys.iter().map(|k| self.get(k)).collect()
    }
    /// A short description for messages, e.g. the URI it was opened from.
    fn describe(&self) -> String;
    /// Whether a scan costs a remote listing while a point read is one request (object
    /// storage): the engine then finds a symbol's newest version from a hint key and point
    /// reads instead of a reverse scan over all its versions.
    fn prefers_point_reads(&self) -> bool {
        false
    }
}

/// Storage shared by every handle of a store.
pub type SharedStorage = Arc<dyn Storage>;

/// The first key at or after `start` and before `end`: one step of a skip-scan that visits one
/// key per group (one per symbol, one per dropped name) instead of every key.
pub fn first_key_from(
    storage: &dyn Storage,
    start: &[u8],
    end: &Bound<Vec<u8>>,
) -> Result<Option<Vec<u8>>> {
    let range = KeyRange {
        start: Bound::Included(start.to_vec()),
        end: end.clone(),
    };
    let page = storage.scan(
        &range,
        ScanOptions {
            limit: Some(1),
            keys_only: true,
            reverse: false,
        },
    )?;
    Ok(page.into_iter().next().map(|e| e.key))
}

/// Deletes every key starting with `prefix`, page by page (each page atomically); returns how
/// many keys it deleted.
pub fn delete_prefix(storage: &dyn Storage, prefix: &[u8]) -> Result<u64> {
    let range = KeyRange::prefix(prefix);
    let mut removed = 0u64;
    loop {
        let page = storage.scan(
            &range,
            ScanOptions {
                keys_only: true,
                limit: Some(4096),
                reverse: false,
            },
        )?;
        if page.is_empty() {
            return Ok(removed);
        }
        removed += page.len() as u64;
        let ops: Vec<WriteOp<'_>> = page.iter().map(|e| WriteOp::Delete(&e.key)).collect();
        storage.write_batch(&ops)?;
    }
}

/// Opens the backend a URI names.
///
/// - `mem://` — a new private in-memory space; `mem://NAME` — a process-wide named one, shared
///   by every store opened with the same name while any of them is open.
/// - `lmdb:///absolute/path[?map_size=64GB]` — LMDB through heed; a bare path means the same
///   (a relative bare path is taken from the current directory).
/// - `s3://BUCKET[/PREFIX][?endpoint=URL&region=R&allow_http=true&max_requests=16&timeout=30s]`
///   — an S3 bucket or S3-compatible server ([`ObjectStorage`]); credentials from the AWS
///   environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
///   `AWS_REGION`, `AWS_ENDPOINT_URL`).
/// - `gs://BUCKET[/PREFIX]` and `az://CONTAINER[/PREFIX]` — Google Cloud Storage and Azure Blob
///   Storage through the same [`ObjectStorage`] (conditional writes by generation and ETag);
///   credentials from `GOOGLE_*` / `AZURE_*` variables. Untested here: no emulator runs on the
///   test machines.
/// - `file://` is refused: a directory of files cannot compare-and-swap.
pub fn open_uri(uri: &str) -> Result<SharedStorage> {
    let storage = open_backend(uri)?;
    #[cfg(feature = "failpoints")]
    let storage = crate::failpoints::wrap(storage);
    Ok(storage)
}

fn open_backend(uri: &str) -> Result<SharedStorage> {
    if let Some(rest) = uri.strip_prefix("mem://") {
        if rest.contains('?') {
            return Err(Error::new(
                ErrorKind::InvalidUri,
                format!("'{uri}': mem:// takes no options"),
            ));
        }
        return Ok(if rest.is_empty() {
            Arc::new(MemoryStorage::new("mem://"))
        } else {
            MemoryStorage::named(rest)
        });
    }
    if ["s3://", "gs://", "az://"]
        .iter()
        .any(|s| uri.starts_with(s))
    {
        return Ok(Arc::new(ObjectStorage::open(uri)?));
    }
    if uri.starts_with("file://") {
        // object_store's local file system cannot compare-and-swap (it refuses conditional
        // updates), so it could not keep the commit rule; LMDB does, on the same disk.
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "'{}': file:// is not a Sheaf store (a directory of files cannot \
                 compare-and-swap); use lmdb:///PATH for a store on local disk",
                uri.split('?').next().unwrap_or(uri)
            ),
        ));
    }
    let (path, query) = if let Some(rest) = uri.strip_prefix("lmdb://") {
        let (path, query) = split_query(rest);
        if !path.starts_with('/') {
            return Err(Error::new(
                ErrorKind::InvalidUri,
                format!("'{uri}': an lmdb:// URI needs an absolute path, as in lmdb:///data/store"),
            ));
        }
        (path.to_string(), query)
    } else if uri.contains("://") {
        let scheme = uri.split("://").next().unwrap_or_default();
        return Err(Error::new(
            ErrorKind::InvalidUri,
            format!(
                "'{}': unknown scheme '{scheme}' (known: mem://, lmdb://, s3://, gs://, az://, \
                 or a plain path)",
                uri.split('?').next().unwrap_or(uri)
            ),
        ));
    } else if uri.is_empty() {
        return Err(Error::new(ErrorKind::InvalidUri, "the store URI is empty"));
    } else {
        let (path, query) = split_query(uri);
        let path = std::path::absolute(path).map_err(Error::from)?;
        (path.to_string_lossy().into_owned(), query)
    };
    let mut options = LmdbOptions::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "map_size" => {
                options.map_size = Some(crate::config::parse_size(value).map_err(|e| {
                    Error::new(
                        ErrorKind::InvalidUri,
                        format!("'{uri}': map_size {}", e.message()),
                    )
                })?)
            }
            other => {
                return Err(Error::new(
                    ErrorKind::InvalidUri,
                    format!("'{uri}': unknown option '{other}' (known: map_size)"),
                ))
            }
        }
    }
    LmdbStorage::open(std::path::Path::new(&path), options)
}

fn split_query(s: &str) -> (&str, &str) {
    s.split_once('?').unwrap_or((s, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ranges_contain_their_bounds_as_declared() {
        let k = |s: &str| s.as_bytes().to_vec();
        let range = |start, end| KeyRange { start, end };
        let closed = range(Bound::Included(k("b")), Bound::Included(k("d")));
        let open = range(Bound::Excluded(k("b")), Bound::Excluded(k("d")));
        for (key, in_closed, in_open) in [
            ("a", false, false),
            ("b", true, false),
            ("b\0", true, true),
            ("c", true, true),
            ("d", true, false),
            ("d\0", false, false),
        ] {
            assert_eq!(closed.contains(key.as_bytes()), in_closed, "[b, d] {key:?}");
            assert_eq!(open.contains(key.as_bytes()), in_open, "(b, d) {key:?}");
        }
        let from = range(Bound::Included(k("b")), Bound::Unbounded);
        assert!(from.contains(b"zzz") && from.contains(b"b") && !from.contains(b"a"));
        let to = range(Bound::Unbounded, Bound::Excluded(k("b")));
        assert!(to.contains(b"") && to.contains(b"a\xff") && !to.contains(b"b"));
        assert!(KeyRange::all().contains(b"") && KeyRange::all().contains(b"\xff"));
        let p = KeyRange::prefix(b"ab");
        assert!(p.contains(b"ab") && p.contains(b"ab\xff\xff") && !p.contains(b"ac"));
    }

    #[test]
    fn prefix_successor_handles_ff() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
    }
}
