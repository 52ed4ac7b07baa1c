//! Key spaces: Mochi Yokan's key-value model (modes, multi calls, listing) over the same
//! storage as tables.
//!
//! Layout ([`crate::keys`]): a registry entry names the space's incarnation
//! (`{"incarnation": id}`); its entries live under the incarnation's prefix (keys are arbitrary
//! bytes: the prefix is fixed, so a `\0` inside a key is harmless). Dropping a space deletes the registry key — one
//! atomic step — and then the old incarnation's entries; a re-created space gets a new
//! incarnation and starts empty even if a crash left the old entries behind. Spaces registered
//! before incarnations existed (`{}`) keep their entries under their name. Modes that read
//! and then write (APPEND, CONSUME, NEW_ONLY, EXIST_ONLY) run inside one storage transaction,
//! so they are atomic — on LMDB across processes too.
//!
//! WAIT: a get with WAIT on a missing key waits until the key appears or the timeout passes. A
//! put with NOTIFY in the same process wakes waiters at once; a put from another process is
//! seen by polling every [`WAIT_POLL`] (so cross-process wake-up latency is at most that).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::keys;
use crate::storage::{delete_prefix, KeyRange, ScanOptions, SharedStorage, Transaction, WriteOp};
use crate::store::{new_incarnation, validate_name, Store};

/// Mode bits (same values as Yokan's `YOKAN_MODE_*`).
pub mod mode {
    /// `from_key` is included in listings.
    pub const INCLUSIVE: u32 = 1;
    /// `put` appends to the existing value.
    pub const APPEND: u32 = 2;
    /// `get` and listings also erase what they return (a queue pop).
    pub const CONSUME: u32 = 4;
    /// `get` waits for a missing key (with a timeout).
    pub const WAIT: u32 = 8;
    /// `put` wakes waiters (same bit as WAIT: one applies to gets, the other to puts).
    pub const NOTIFY: u32 = 8;
    /// `put` only if the key is absent (else `KeyExists`).
    pub const NEW_ONLY: u32 = 16;
    /// `put` only if the key is present (else `NoSuchKey`).
    pub const EXIST_ONLY: u32 = 32;
    /// Listings strip the filter (prefix, or suffix with SUFFIX) from returned keys.
    pub const NO_PREFIX: u32 = 64;
    /// Listings return values only (keys are empty).
    pub const IGNORE_KEYS: u32 = 128;
    /// Like IGNORE_KEYS, but the last key of a listing is kept (to resume paging).
    pub const KEEP_LAST: u32 = 384;
    /// The listing filter is a suffix instead of a prefix.
    pub const SUFFIX: u32 = 512;
    /// Yokan's "use RPCs without RDMA": an embedded store has no RDMA, so every call accepts
    /// it and ignores it (Yokan code passes it everywhere).
    pub const NO_RDMA: u32 = 0x4000;
    /// A document `update` may create the id.
    pub const UPDATE_NEW: u32 = 0x8000;
    /// Every bit this library knows.
    pub const ALL: u32 = INCLUSIVE
        | APPEND
        | CONSUME
        | WAIT
        | NEW_ONLY
        | EXIST_ONLY
        | NO_PREFIX
        | KEEP_LAST
        | SUFFIX
        | NO_RDMA
        | UPDATE_NEW;
}

/// How often a WAIT re-checks storage for writes from other processes.
pub const WAIT_POLL: Duration = Duration::from_millis(10);

/// Wakes in-process waiters when a NOTIFY put lands.
static WAKE: (Mutex<u64>, Condvar) = (Mutex::new(0), Condvar::new());

fn check_mode(call: &str, given: u32, allowed: u32) -> Result<()> {
    let given = given & !mode::NO_RDMA;
    let unknown = given & !mode::ALL;
    if unknown != 0 {
        return Err(Error::new(
            ErrorKind::InvalidMode,
            format!("{call}: unknown mode bits {unknown:#x}"),
        ));
    }
    let extra = given & !allowed;
    if extra != 0 {
        return Err(Error::new(
            ErrorKind::InvalidMode,
            format!("{call} does not take mode bits {extra:#x}"),
        ));
    }
    Ok(())
}

pub(crate) fn space_key(name: &str) -> Vec<u8> {
    keys::registry_key(keys::KEY_SPACE_REGISTRY, name)
}

fn entries_prefix(name: &str, incarnation: Option<&str>) -> Vec<u8> {
    keys::data_prefix(keys::KEY_SPACE_DATA, name, incarnation)
}

#[derive(Serialize, Deserialize)]
struct SpaceEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    incarnation: Option<String>,
}

fn decode_space_entry(name: &str, bytes: &[u8]) -> Result<Option<String>> {
    let bytes = crate::checksum::unseal(bytes, || {
        format!("the registry entry of key space '{name}'")
    })?
    .bytes();
    serde_json::from_slice::<SpaceEntry>(bytes)
        .map(|e| e.incarnation)
        .map_err(|e| {
            Error::corrupt(format!(
                "the registry entry of key space '{name}' cannot be read"
            ))
            .caused_by(e)
        })
}

/// What one key of a multi-put came to.
pub type PutOutcome = Result<()>;

/// One listed entry (key and value may be empty depending on the mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// A key space handle. Cheap to clone; safe to share between threads.
#[derive(Clone)]
pub struct KeySpace {
    inner: Arc<KeySpaceInner>,
}

struct KeySpaceInner {
    store: Store,
    name: String,
    prefix: Vec<u8>,
    incarnation: Option<String>,
    closed: AtomicBool,
}

impl Store {
    /// The key space `name`, created on first use.
    pub fn kv(&self, name: &str) -> Result<KeySpace> {
        validate_name("key space", name)?;
        let storage = self.storage()?;
        let key = space_key(name);
        let incarnation = loop {
            if let Some(bytes) = storage.get(&key)? {
                break decode_space_entry(name, &bytes)?;
            }
            let id = new_incarnation();
            let entry = crate::checksum::seal(serde_json::to_vec(&SpaceEntry {
                incarnation: Some(id.clone()),
            })?);
            if storage.put_if_absent(&key, &entry)? {
                break Some(id);
            }
        };
        Ok(KeySpace {
            inner: Arc::new(KeySpaceInner {
                store: self.clone(),
                name: name.to_string(),
                prefix: entries_prefix(name, incarnation.as_deref()),
                incarnation,
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// Where the entries of the registered space `name` live (for `verify`).
    pub(crate) fn kv_entries_prefix(&self, name: &str) -> Result<Vec<u8>> {
        let bytes = self
            .storage()?
            .get(&space_key(name))?
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no key space '{name}'")))?;
        Ok(entries_prefix(
            name,
            decode_space_entry(name, &bytes)?.as_deref(),
        ))
    }

    /// Key space names in byte order.
    pub fn list_kv(&self) -> Result<Vec<String>> {
        self.registered_names(keys::KEY_SPACE_REGISTRY, "key space")
    }

    /// Drops a key space and every entry in it; returns whether it existed.
    pub fn drop_kv(&self, name: &str) -> Result<bool> {
        validate_name("key space", name)?;
        crate::store::drop_registered(&self.storage()?, &space_key(name), |entry| {
            Ok(entries_prefix(
                name,
                decode_space_entry(name, entry)?.as_deref(),
            ))
        })
    }
}

/// Longest key of a key space, in bytes: the same on every backend (LMDB keys are at most 511
/// bytes, and a space's prefix takes 35 of them).
pub const MAX_KEY_BYTES: usize = 448;

fn check_keys<'a>(keys: impl IntoIterator<Item = &'a [u8]>) -> Result<()> {
    for key in keys {
        if key.len() > MAX_KEY_BYTES {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "a key is {} bytes long; keys are at most {MAX_KEY_BYTES} bytes",
                    key.len()
                ),
            ));
        }
    }
    Ok(())
}

fn no_such_key(key: &[u8]) -> Error {
    Error::new(
        ErrorKind::NoSuchKey,
        format!("no key {}", String::from_utf8_lossy(key)),
    )
}

impl KeySpace {
    /// The space's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Closes this handle (and its clones). Idempotent.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
    }

    fn storage(&self) -> Result<SharedStorage> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::closed("key space"));
        }
        self.inner.store.storage()
    }

    /// The storage for a call that changes entries; `NotFound` when the space
    /// this handle was opened on was dropped (and perhaps re-created) since, so that writes
    /// through a stale handle do not land in a dropped space.
    fn storage_for_change(&self) -> Result<SharedStorage> {
        let storage = self.storage()?;
        let current = match storage.get(&space_key(&self.inner.name))? {
            Some(bytes) => Some(decode_space_entry(&self.inner.name, &bytes)?),
            None => None,
        };
        if current.as_ref() != Some(&self.inner.incarnation) {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "key space '{}' was dropped since this handle was opened",
                    self.inner.name
                ),
            ));
        }
        Ok(storage)
    }

    fn key(&self, key: &[u8]) -> Vec<u8> {
        keys::entry_key(&self.inner.prefix, key)
    }

    fn put_in(&self, t: &mut dyn Transaction, key: &[u8], value: &[u8], m: u32) -> Result<()> {
        let full = self.key(key);
        let current = if m & (mode::NEW_ONLY | mode::EXIST_ONLY | mode::APPEND) != 0 {
            t.get(&full)?
        } else {
            None
        };
        if m & mode::NEW_ONLY != 0 && current.is_some() {
            return Err(Error::new(
                ErrorKind::KeyExists,
                format!("key {} exists", String::from_utf8_lossy(key)),
            ));
        }
        if m & mode::EXIST_ONLY != 0 && current.is_none() {
            return Err(no_such_key(key));
        }
        match (m & mode::APPEND != 0, current) {
            (true, Some(mut old)) => {
                old.extend_from_slice(value);
                t.put(&full, &old)
            }
            _ => t.put(&full, value),
        }
    }

    /// Stores `value` at `key` as `mode` says (APPEND, NEW_ONLY, EXIST_ONLY, NOTIFY).
    pub fn put(&self, key: &[u8], value: &[u8], m: u32) -> Result<()> {
        self.put_multi(&[key], &[value], m)?
            .into_iter()
            .next()
            .unwrap_or(Ok(()))
    }

    /// Stores many pairs in one transaction; each key gets its own outcome (a NEW_ONLY key that
    /// exists fails alone). The outer error is for the call as a whole.
    pub fn put_multi(&self, keys: &[&[u8]], values: &[&[u8]], m: u32) -> Result<Vec<PutOutcome>> {
        check_keys(keys.iter().copied())?;
        check_mode(
            "put",
            m,
            mode::APPEND | mode::NEW_ONLY | mode::EXIST_ONLY | mode::NOTIFY,
        )?;
        if m & mode::NEW_ONLY != 0 && m & mode::EXIST_ONLY != 0 {
            return Err(Error::new(
                ErrorKind::InvalidMode,
                "put cannot be NEW_ONLY and EXIST_ONLY at once",
            ));
        }
        if keys.len() != values.len() {
            return Err(Error::invalid(format!(
                "{} keys but {} values",
                keys.len(),
                values.len()
            )));
        }
        let storage = self.storage_for_change()?;
        let mut outcomes = Vec::with_capacity(keys.len());
        if m & (mode::NEW_ONLY | mode::EXIST_ONLY | mode::APPEND) == 0 {
            let full: Vec<Vec<u8>> = keys.iter().map(|k| self.key(k)).collect();
            let ops: Vec<WriteOp<'_>> = full
                .iter()
                .zip(values)
                .map(|(k, v)| WriteOp::Put(k, v))
                .collect();
            storage.write_batch(&ops)?;
            outcomes.extend(keys.iter().map(|_| Ok(())));
        } else {
            storage.transact(&mut |t| {
                outcomes.clear();
                for (k, v) in keys.iter().zip(values) {
                    let outcome = self.put_in(t, k, v, m);
                    if let Err(e) = &outcome {
                        if !matches!(e.kind(), ErrorKind::KeyExists | ErrorKind::NoSuchKey) {
                            return Err(e.clone());
                        }
                    }
                    outcomes.push(outcome);
                }
                Ok(())
            })?;
        }
        if m & mode::NOTIFY != 0 {
            *WAKE.0.lock() += 1;
            WAKE.1.notify_all();
        }
        Ok(outcomes)
    }

    /// The value at `key`, passed to `use_value` (which may refuse it, e.g. a caller buffer
    /// that is too small — then a CONSUME does not erase). `None` when missing (after waiting
    /// up to `timeout` with WAIT).
    pub fn get_with<T>(
        &self,
        key: &[u8],
        m: u32,
        timeout: Duration,
        mut use_value: impl FnMut(&[u8]) -> Result<T>,
    ) -> Result<Option<T>> {
        check_keys([key])?;
        check_mode("get", m, mode::CONSUME | mode::WAIT)?;
        let storage = self.storage()?;
        let full = self.key(key);
        let mut deadline = None;
        loop {
            let mut out = None;
            if m & mode::CONSUME != 0 {
                storage.transact(&mut |t| {
                    out = None;
                    if let Some(v) = t.get(&full)? {
                        out = Some(use_value(&v)?);
                        t.delete(&full)?;
                    }
                    Ok(())
                })?;
            } else {
                // Straight from the storage's own bytes: no copy besides the caller's.
                storage.with_value(&full, &mut |v| {
                    out = v.map(&mut use_value).transpose()?;
                    Ok(())
                })?;
            }
            if out.is_some() || m & mode::WAIT == 0 {
                return Ok(out);
            }
            let now = Instant::now();
            let deadline = *deadline.get_or_insert(now + timeout);
            if now >= deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "waited {timeout:?} for key {}",
                        String::from_utf8_lossy(key)
                    ),
                ));
            }
            let mut generation = WAKE.0.lock();
            let _ = WAKE
                .1
                .wait_for(&mut generation, (deadline - now).min(WAIT_POLL));
        }
    }

    /// The value at `key` (`None` when missing).
    pub fn get(&self, key: &[u8], m: u32, timeout: Duration) -> Result<Option<Vec<u8>>> {
        self.get_with(key, m, timeout, |v| Ok(v.to_vec()))
    }

    /// The values of many keys, read at one point in time (or, with CONSUME, taken in one
    /// transaction). WAIT is not available for multi gets.
    pub fn get_multi(&self, keys: &[&[u8]], m: u32) -> Result<Vec<Option<Vec<u8>>>> {
        check_keys(keys.iter().copied())?;
        check_mode("get_multi", m, mode::CONSUME)?;
        let storage = self.storage()?;
        let full: Vec<Vec<u8>> = keys.iter().map(|k| self.key(k)).collect();
        if m & mode::CONSUME == 0 {
            // Looked up in key order, answered in the caller's: neighbouring keys share B-tree
            // pages, so a sorted batch finds its pages in cache (a shuffled batch of 200k keys
            // spent most of its time on cache misses in LMDB's page search).
            let mut order: Vec<usize> = (0..full.len()).collect();
            order.sort_unstable_by(|&a, &b| full[a].cmp(&full[b]));
            let refs: Vec<&[u8]> = order.iter().map(|&i| full[i].as_slice()).collect();
            let mut found = storage.get_many(&refs)?;
            let mut out: Vec<Option<Vec<u8>>> = vec![None; full.len()];
            for (value, &i) in found.drain(..).zip(&order) {
                out[i] = value;
            }
            return Ok(out);
        }
        let mut out = Vec::new();
        storage.transact(&mut |t| {
            out.clear();
            for k in &full {
                let v = t.get(k)?;
                if v.is_some() {
                    t.delete(k)?;
                }
                out.push(v);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Whether each key exists.
    pub fn exists_multi(&self, keys: &[&[u8]]) -> Result<Vec<bool>> {
        check_keys(keys.iter().copied())?;
        Ok(self
            .get_multi(keys, 0)?
            .into_iter()
            .map(|v| v.is_some())
            .collect())
    }

    /// The value length of each key (`None` when missing).
    pub fn length_multi(&self, keys: &[&[u8]]) -> Result<Vec<Option<u64>>> {
        check_keys(keys.iter().copied())?;
        Ok(self
            .get_multi(keys, 0)?
            .into_iter()
            .map(|v| v.map(|v| v.len() as u64))
            .collect())
    }

    /// Erases keys (missing ones are fine); returns which existed.
    pub fn erase_multi(&self, keys: &[&[u8]]) -> Result<Vec<bool>> {
        check_keys(keys.iter().copied())?;
        let storage = self.storage_for_change()?;
        let mut existed = Vec::new();
        storage.transact(&mut |t| {
            existed.clear();
            for k in keys {
                existed.push(t.delete(&self.key(k))?);
            }
            Ok(())
        })?;
        Ok(existed)
    }

    /// How many keys the space holds.
    pub fn count(&self) -> Result<u64> {
        let storage = self.storage()?;
        let entries = storage.scan(
            &KeyRange::prefix(&self.inner.prefix),
            ScanOptions {
                keys_only: true,
                ..Default::default()
            },
        )?;
        Ok(entries.len() as u64)
    }

    /// Erases every key starting with `prefix` (all keys for an empty prefix); returns how many.
    pub fn erase_range(&self, prefix: &[u8]) -> Result<u64> {
        check_keys([prefix])?;
        delete_prefix(self.storage_for_change()?.as_ref(), &self.key(prefix))
    }

    /// Lists up to `count` entries after `from_key` (exclusive unless INCLUSIVE; empty = from
    /// the start) whose key starts with `filter` (or ends with it, with SUFFIX). Modes:
    /// NO_PREFIX, IGNORE_KEYS, KEEP_LAST, CONSUME (erase what is returned, atomically).
    pub fn list(
        &self,
        from_key: &[u8],
        filter: &[u8],
        count: usize,
        m: u32,
        with_values: bool,
    ) -> Result<Vec<KeyValue>> {
        check_keys([from_key, filter])?;
        check_mode(
            "list",
            m,
            mode::INCLUSIVE | mode::CONSUME | mode::NO_PREFIX | mode::KEEP_LAST | mode::SUFFIX,
        )?;
        let storage = self.storage()?;
        let prefix_len = self.inner.prefix.len();
        let suffix = m & mode::SUFFIX != 0;
        let scope = if suffix {
            self.inner.prefix.clone()
        } else {
            self.key(filter)
        };
        let mut range = KeyRange::prefix(&scope);
        if !from_key.is_empty() {
            let from = self.key(from_key);
            if from.as_slice() >= scope.as_slice() {
                range.start = if m & mode::INCLUSIVE != 0 {
                    std::ops::Bound::Included(from)
                } else {
                    std::ops::Bound::Excluded(from)
                };
            }
        }
        let keys_only = !with_values && m & mode::CONSUME == 0;
        let collect = |scan: &dyn Fn(
            &KeyRange,
            ScanOptions,
        ) -> Result<Vec<crate::storage::Entry>>|
         -> Result<Vec<crate::storage::Entry>> {
            let mut found = Vec::new();
            let mut page_range = range.clone();
            while found.len() < count {
                // Suffix filters can skip many keys: read in pages until `count` match.
                let want = if suffix { 1024 } else { count - found.len() };
                let page = scan(
                    &page_range,
                    ScanOptions {
                        limit: Some(want),
                        keys_only,
                        reverse: false,
                    },
                )?;
                let exhausted = page.len() < want;
                if let Some(last) = page.last() {
                    page_range.start = std::ops::Bound::Excluded(last.key.clone());
                }
                for e in page {
                    if suffix && !e.key[prefix_len..].ends_with(filter) {
                        continue;
                    }
                    found.push(e);
                    if found.len() == count {
                        break;
                    }
                }
                if exhausted {
                    break;
                }
            }
            Ok(found)
        };
        let mut found = Vec::new();
        if m & mode::CONSUME != 0 {
            storage.transact(&mut |t| {
                found = collect(&|r, o| t.scan(r, o))?;
                for e in &found {
                    t.delete(&e.key)?;
                }
                Ok(())
            })?;
        } else {
            found = collect(&|r, o| storage.scan(r, o))?;
        }
        let keep_last = m & mode::KEEP_LAST == mode::KEEP_LAST;
        let ignore_keys = m & mode::IGNORE_KEYS != 0;
        let n = found.len();
        Ok(found
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let mut key = e.key[prefix_len..].to_vec();
                if m & mode::NO_PREFIX != 0 {
                    key = if suffix {
                        key[..key.len() - filter.len()].to_vec()
                    } else {
                        key[filter.len()..].to_vec()
                    };
                }
                if ignore_keys && !(keep_last && i + 1 == n) {
                    key.clear();
                }
                KeyValue {
                    key,
                    value: if with_values { e.value } else { Vec::new() },
                }
            })
            .collect())
    }
}
