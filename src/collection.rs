//! Document collections (Yokan's model): documents with sequential u64 ids from 0, stored as
//! JSON (or raw bytes).
//!
//! Layout ([`crate::keys`]): the registry entry holds `{"next_id": N, "size": M,
//! "incarnation": id}`; documents live under the incarnation's prefix by big-endian id
//! (collections created before incarnations: under their name). Dropping deletes the registry entry first — the one atomic step — so a
//! re-created collection never sees the old documents. Every change runs in one storage transaction that also
//! updates the counters, so ids are unique and `size` exact, across processes on LMDB.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::keys;
use crate::kv::mode;
use crate::storage::{KeyRange, ScanOptions, SharedStorage, Transaction};
use crate::store::{new_incarnation, validate_name, Store};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Counters {
    next_id: u64,
    size: u64,
    /// Which creation of the name this is; documents live under it, so a re-created
    /// collection starts empty even if a crash left the old documents behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    incarnation: Option<String>,
}

pub(crate) fn registry_key(name: &str) -> Vec<u8> {
    keys::registry_key(keys::COLLECTION_REGISTRY, name)
}

fn docs_prefix(name: &str, incarnation: Option<&str>) -> Vec<u8> {
    keys::data_prefix(keys::COLLECTION_DATA, name, incarnation)
}

fn encode_counters(counters: &Counters) -> Result<Vec<u8>> {
    Ok(crate::checksum::seal(serde_json::to_vec(counters)?))
}

fn decode_counters(name: &str, bytes: &[u8]) -> Result<Counters> {
    let bytes = crate::checksum::unseal(bytes, || {
        format!("the registry entry of collection '{name}'")
    })?
    .bytes();
    serde_json::from_slice(bytes).map_err(|e| {
        Error::corrupt(format!(
            "the registry entry of collection '{name}' cannot be read"
        ))
        .caused_by(e)
    })
}

/// A collection handle. Cheap to clone; safe to share between threads.
#[derive(Clone)]
pub struct Collection {
    inner: Arc<CollectionInner>,
}

struct CollectionInner {
    store: Store,
    name: String,
    registry: Vec<u8>,
    prefix: Vec<u8>,
    incarnation: Option<String>,
    closed: AtomicBool,
}

impl Store {
    /// Creates a collection; an existing name is `CollectionExists`.
    pub fn create_collection(&self, name: &str) -> Result<Collection> {
        validate_name("collection", name)?;
        let incarnation = Some(new_incarnation());
        let counters = encode_counters(&Counters {
            incarnation: incarnation.clone(),
            ..Default::default()
        })?;
        if !self
            .storage()?
            .put_if_absent(&registry_key(name), &counters)?
        {
            return Err(Error::new(
                ErrorKind::CollectionExists,
                format!("collection '{name}' already exists"),
            ));
        }
        Ok(self.collection_handle(name, incarnation))
    }

    /// Opens a collection; a missing one is `NoSuchCollection`.
    pub fn open_collection(&self, name: &str) -> Result<Collection> {
        validate_name("collection", name)?;
        let bytes = self.storage()?.get(&registry_key(name))?.ok_or_else(|| {
            Error::new(
                ErrorKind::NoSuchCollection,
                format!("no collection '{name}'"),
            )
        })?;
        let incarnation = decode_counters(name, &bytes)?.incarnation;
        Ok(self.collection_handle(name, incarnation))
    }

    fn collection_handle(&self, name: &str, incarnation: Option<String>) -> Collection {
        Collection {
            inner: Arc::new(CollectionInner {
                store: self.clone(),
                name: name.to_string(),
                registry: registry_key(name),
                prefix: docs_prefix(name, incarnation.as_deref()),
                incarnation,
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// Whether a collection exists.
    pub fn collection_exists(&self, name: &str) -> Result<bool> {
        validate_name("collection", name)?;
        Ok(self.storage()?.get(&registry_key(name))?.is_some())
    }

    /// Where the documents of the collection `name` live (for `verify`).
    pub(crate) fn collection_docs_prefix(&self, name: &str) -> Result<Vec<u8>> {
        let bytes = self.storage()?.get(&registry_key(name))?.ok_or_else(|| {
            Error::new(
                ErrorKind::NoSuchCollection,
                format!("no collection '{name}'"),
            )
        })?;
        Ok(docs_prefix(
            name,
            decode_counters(name, &bytes)?.incarnation.as_deref(),
        ))
    }

    /// Collection names in byte order.
    pub fn list_collections(&self) -> Result<Vec<String>> {
        self.registered_names(keys::COLLECTION_REGISTRY, "collection")
    }

    /// Drops a collection and its documents; a missing one is `NoSuchCollection`.
    pub fn drop_collection(&self, name: &str) -> Result<()> {
        validate_name("collection", name)?;
        let dropped =
            crate::store::drop_registered(&self.storage()?, &registry_key(name), |entry| {
                Ok(docs_prefix(
                    name,
                    decode_counters(name, entry)?.incarnation.as_deref(),
                ))
            })?;
        if !dropped {
            return Err(Error::new(
                ErrorKind::NoSuchCollection,
                format!("no collection '{name}'"),
            ));
        }
        Ok(())
    }
}

/// JSON equality where numbers compare by value (`5` equals `5.0`), as most languages that
/// write JSON do not keep the integer/float distinction.
fn json_equal(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(i), Some(j), _, _) => i == j,
                (_, _, Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Whether a document matches a filter: every top-level field of `filter` (a JSON object) is
/// present in the document with an equal value (numbers compare by value: `5` matches `5.0`). An empty filter matches everything, including
/// documents that are not JSON.
pub fn matches_filter(doc: &[u8], filter: &serde_json::Map<String, serde_json::Value>) -> bool {
    if filter.is_empty() {
        return true;
    }
    match serde_json::from_slice::<serde_json::Value>(doc) {
        Ok(serde_json::Value::Object(fields)) => filter
            .iter()
            .all(|(k, v)| fields.get(k).is_some_and(|f| json_equal(f, v))),
        _ => false,
    }
}

impl Collection {
    /// The collection's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Closes this handle (and its clones). Idempotent.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
    }

    fn storage(&self) -> Result<SharedStorage> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::closed("collection"));
        }
        self.inner.store.storage()
    }

    fn doc_key(&self, id: u64) -> Vec<u8> {
        keys::document_key(&self.inner.prefix, id)
    }

    fn counters(&self, t: &dyn Transaction) -> Result<Counters> {
        self.checked_counters(t.get(&self.inner.registry)?)
    }

    /// The counters, or `NoSuchCollection` when the collection this handle was opened on was
    /// dropped (and perhaps re-created under the same name) since.
    fn checked_counters(&self, bytes: Option<Vec<u8>>) -> Result<Counters> {
        let dropped = || {
            Error::new(
                ErrorKind::NoSuchCollection,
                format!("collection '{}' was dropped", self.inner.name),
            )
        };
        let counters = decode_counters(&self.inner.name, &bytes.ok_or_else(dropped)?)?;
        if counters.incarnation != self.inner.incarnation {
            return Err(dropped());
        }
        Ok(counters)
    }

    fn set_counters(&self, t: &mut dyn Transaction, c: Counters) -> Result<()> {
        t.put(&self.inner.registry, &encode_counters(&c)?)
    }

    /// Stores documents; returns their ids (sequential, in order).
    pub fn store_multi(&self, docs: &[&[u8]]) -> Result<Vec<u64>> {
        let mut ids = Vec::with_capacity(docs.len());
        self.storage()?.transact(&mut |t| {
            ids.clear();
            let mut c = self.counters(t)?;
            for doc in docs {
                t.put(&self.doc_key(c.next_id), doc)?;
                ids.push(c.next_id);
                c.next_id += 1;
                c.size += 1;
            }
            self.set_counters(t, c)
        })?;
        Ok(ids)
    }

    /// Stores one document; returns its id.
    pub fn store(&self, doc: &[u8]) -> Result<u64> {
        Ok(self.store_multi(&[doc])?[0])
    }

    /// The documents with these ids (`None` for missing ones).
    pub fn load_multi(&self, ids: &[u64]) -> Result<Vec<Option<Vec<u8>>>> {
        let keys: Vec<Vec<u8>> = ids.iter().map(|id| self.doc_key(*id)).collect();
        let refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        self.storage()?.get_many(&refs)
    }

    /// Lends the document with this id to `f` straight from storage (no copy of it is made
    /// here); `None` when the id is free.
    pub fn load_with<T>(&self, id: u64, f: impl FnOnce(&[u8]) -> Result<T>) -> Result<Option<T>> {
        let mut f = Some(f);
        let mut out = None;
        self.storage()?
            .with_value(&self.doc_key(id), &mut |bytes| {
                if let (Some(bytes), Some(f)) = (bytes, f.take()) {
                    out = Some(f(bytes)?);
                }
                Ok(())
            })?;
        Ok(out)
    }

    /// Replaces documents. A missing id is `NoSuchDocument` (and nothing changes) unless the
    /// mode has UPDATE_NEW, which creates it (ids beyond `last_id` move it forward).
    pub fn update_multi(&self, ids: &[u64], docs: &[&[u8]], m: u32) -> Result<()> {
        if m & !(mode::UPDATE_NEW | mode::NO_RDMA) != 0 {
            return Err(Error::new(
                ErrorKind::InvalidMode,
                "document update takes only UPDATE_NEW (and NO_RDMA, ignored)",
            ));
        }
        if ids.len() != docs.len() {
            return Err(Error::invalid(format!(
                "{} ids but {} documents",
                ids.len(),
                docs.len()
            )));
        }
        self.storage()?.transact(&mut |t| {
            let mut c = self.counters(t)?;
            for (id, doc) in ids.iter().zip(docs) {
                let key = self.doc_key(*id);
                if t.get(&key)?.is_none() {
                    if m & mode::UPDATE_NEW == 0 {
                        return Err(Error::new(
                            ErrorKind::NoSuchDocument,
                            format!("no document {id} in '{}'", self.inner.name),
                        ));
                    }
                    c.size += 1;
                    c.next_id = c.next_id.max(id + 1);
                }
                t.put(&key, doc)?;
            }
            self.set_counters(t, c)
        })
    }

    /// Erases documents; a missing id is `NoSuchDocument` (and nothing is erased).
    pub fn erase_multi(&self, ids: &[u64]) -> Result<()> {
        self.storage()?.transact(&mut |t| {
            let mut c = self.counters(t)?;
            for id in ids {
                if !t.delete(&self.doc_key(*id))? {
                    return Err(Error::new(
                        ErrorKind::NoSuchDocument,
                        format!("no document {id} in '{}'", self.inner.name),
                    ));
                }
                c.size -= 1;
            }
            self.set_counters(t, c)
        })
    }

    /// How many documents the collection holds.
    pub fn size(&self) -> Result<u64> {
        Ok(self.read_counters()?.size)
    }

    /// The id the next stored document will get (Yokan's meaning of "last id").
    pub fn last_id(&self) -> Result<u64> {
        Ok(self.read_counters()?.next_id)
    }

    fn read_counters(&self) -> Result<Counters> {
        self.checked_counters(self.storage()?.get(&self.inner.registry)?)
    }

    /// Up to `count` documents with id ≥ `start_id`, in id order, that match `filter` (see
    /// [`matches_filter`]).
    pub fn list(
        &self,
        start_id: u64,
        count: usize,
        filter: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Vec<(u64, Vec<u8>)>> {
        let storage = self.storage()?;
        let mut range = KeyRange::prefix(&self.inner.prefix);
        range.start = std::ops::Bound::Included(self.doc_key(start_id));
        // Filters may skip documents: read pages of a few times `count`, at most 1024.
        let page_size = count.saturating_mul(4).clamp(1, 1024);
        let mut out = Vec::new();
        while out.len() < count {
            let page = storage.scan(
                &range,
                ScanOptions {
                    limit: Some(page_size),
                    ..Default::default()
                },
            )?;
            let exhausted = page.len() < page_size;
            if let Some(last) = page.last() {
                range.start = std::ops::Bound::Excluded(last.key.clone());
            }
            for e in page {
                let id_bytes: [u8; 8] = e.key[self.inner.prefix.len()..]
                    .try_into()
                    .map_err(|_| Error::corrupt("a document key is malformed"))?;
                if matches_filter(&e.value, filter) {
                    out.push((u64::from_be_bytes(id_bytes), e.value));
                    if out.len() == count {
                        break;
                    }
                }
            }
            if exhausted {
                break;
            }
        }
        Ok(out)
    }
}
