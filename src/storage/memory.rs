//! `mem://`: an ordered map behind a lock, for tests and scratch work.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock};

use super::{
    Entry, KeyRange, ScanOptions, SharedStorage, Storage, Transaction, TransactionBody, WriteOp,
};
use crate::error::Result;

/// In-process ordered storage.
pub struct MemoryStorage {
    name: String,
    map: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
}

static NAMED: Mutex<Option<HashMap<String, Weak<MemoryStorage>>>> = Mutex::new(None);

impl MemoryStorage {
    /// A new empty space.
    pub fn new(name: &str) -> Self {
        MemoryStorage {
            name: name.to_string(),
            map: RwLock::new(BTreeMap::new()),
        }
    }

    /// The process-wide space called `name`, created if no open store holds it.
    pub fn named(name: &str) -> SharedStorage {
        let mut registry = NAMED.lock();
        let registry = registry.get_or_insert_with(HashMap::new);
        registry.retain(|_, weak| weak.strong_count() > 0);
        if let Some(existing) = registry.get(name).and_then(Weak::upgrade) {
            return existing;
        }
        let storage = Arc::new(MemoryStorage::new(&format!("mem://{name}")));
        registry.insert(name.to_string(), Arc::downgrade(&storage));
        storage
    }
}

impl Storage for MemoryStorage {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.map.read().get(key).cloned())
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.map.write().insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn put_if_absent(&self, key: &[u8], value: &[u8]) -> Result<bool> {
        let mut map = self.map.write();
        if map.contains_key(key) {
            return Ok(false);
        }
        map.insert(key.to_vec(), value.to_vec());
        Ok(true)
    }

    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool> {
        let mut map = self.map.write();
        if map.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        match new {
            Some(v) => map.insert(key.to_vec(), v.to_vec()),
            None => map.remove(key),
        };
        Ok(true)
    }

    fn delete(&self, key: &[u8]) -> Result<bool> {
        Ok(self.map.write().remove(key).is_some())
    }

    fn scan(&self, range: &KeyRange, options: ScanOptions) -> Result<Vec<Entry>> {
        Ok(scan_map(&self.map.read(), range, options))
    }

    fn write_batch(&self, ops: &[WriteOp<'_>]) -> Result<()> {
        let mut map = self.map.write();
        for op in ops {
            match *op {
                WriteOp::Put(k, v) => {
                    map.insert(k.to_vec(), v.to_vec());
                }
                WriteOp::Delete(k) => {
                    map.remove(k);
                }
            }
        }
        Ok(())
    }

    fn transact(&self, body: &mut TransactionBody<'_>) -> Result<()> {
        let mut map = self.map.write();
        let mut txn = MemoryTxn {
            map: &mut map,
            undo: Vec::new(),
        };
        let outcome = body(&mut txn);
        if outcome.is_err() {
            // Undo in reverse order so that a key written twice gets its original value back.
            let MemoryTxn { map, undo } = txn;
            for (key, old) in undo.into_iter().rev() {
                match old {
                    Some(v) => map.insert(key, v),
                    None => map.remove(&key),
                };
            }
        }
        outcome
    }

    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>> {
        let map = self.map.read();
        Ok(keys.iter().map(|k| map.get(*k).cloned()).collect())
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

struct MemoryTxn<'a> {
    map: &'a mut BTreeMap<Vec<u8>, Vec<u8>>,
    undo: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Transaction for MemoryTxn<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.map.get(key).cloned())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let old = self.map.insert(key.to_vec(), value.to_vec());
        self.undo.push((key.to_vec(), old));
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<bool> {
        let old = self.map.remove(key);
        let existed = old.is_some();
        self.undo.push((key.to_vec(), old));
        Ok(existed)
    }

    fn scan(&self, range: &KeyRange, options: ScanOptions) -> Result<Vec<Entry>> {
        Ok(scan_map(self.map, range, options))
    }
}

fn scan_map(
    map: &BTreeMap<Vec<u8>, Vec<u8>>,
    range: &KeyRange,
    options: ScanOptions,
) -> Vec<Entry> {
    if range.is_empty() {
        return Vec::new();
    }
    let limit = options.limit.unwrap_or(usize::MAX);
    let to_entry = |(k, v): (&Vec<u8>, &Vec<u8>)| Entry {
        key: k.clone(),
        value: if options.keys_only {
            Vec::new()
        } else {
            v.clone()
        },
    };
    let iter = map.range::<[u8], _>(range.as_refs());
    if options.reverse {
        iter.rev().take(limit).map(to_entry).collect()
    } else {
        iter.take(limit).map(to_entry).collect()
    }
}
