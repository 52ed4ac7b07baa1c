//! `lmdb://`: LMDB through heed — the local default. Multi-process safe (LMDB's own lock file),
//! ACID, and a writer killed mid-transaction leaves the last committed state intact.
//!
//! heed refuses to open one path twice in a process, and LMDB forbids it too, so every store
//! opened on the same path shares one environment through a process-wide registry.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use heed::types::Bytes;
use heed::{Database, Env, EnvOpenOptions, MdbError, PutFlags, WithoutTls};
use parking_lot::Mutex;

use super::{
    Entry, KeyRange, ScanOptions, SharedStorage, Storage, Transaction, TransactionBody,
    ValueVisitor, WriteOp,
};
use crate::error::{Error, ErrorKind, Result};

/// Options of an LMDB environment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LmdbOptions {
    /// Largest size the data file may reach; `None` takes the runtime default
    /// (config key `lmdb.map_size`). LMDB reserves address space, not disk.
    pub map_size: Option<u64>,
}

/// An LMDB environment with its one unnamed database.
pub struct LmdbStorage {
    env: Env<WithoutTls>,
    db: Database<Bytes, Bytes>,
    path: PathBuf,
    fork_generation: u64,
}

static OPEN_ENVS: Mutex<Option<HashMap<PathBuf, Weak<LmdbStorage>>>> = Mutex::new(None);

/// Bumped in every child process right after `fork()`. LMDB environments must not be used
/// across a fork (the child would share the parent's mappings and reader slots, which can
/// corrupt the database), and heed's own registry keeps the parent's path open in the child,
/// so the child cannot reopen it either. An environment therefore remembers the generation it
/// was opened in and refuses to work in a later one, with an error that says what to do.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

extern "C" fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::SeqCst);
}

fn watch_forks() {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    REGISTERED.call_once(|| {
        // SAFETY: registering a handler that only bumps an atomic (async-signal-safe).
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
}

/// errno values that mean the disk (or the user's quota on it) is full.
fn is_disk_full(errno: i32) -> bool {
    errno == libc::ENOSPC || errno == libc::EDQUOT
}

fn disk_full(context: &str) -> Error {
    Error::new(
        ErrorKind::StorageFull,
        format!("{context}: the disk holding the store is full (no space left on device); free space and retry — nothing of this call was committed"),
    )
}

fn lmdb_error(context: &str, e: heed::Error) -> Error {
    match e {
        heed::Error::Mdb(MdbError::MapFull) => Error::new(
            ErrorKind::StorageFull,
            format!("{context}: the LMDB map is full; reopen with a larger ?map_size= (e.g. lmdb:///path?map_size=1TB)"),
        ),
        heed::Error::Mdb(MdbError::BadValSize) => Error::new(
            ErrorKind::InvalidArgument,
            format!("{context}: a key is longer than LMDB allows (511 bytes)"),
        ),
        heed::Error::Mdb(MdbError::Other(code)) if is_disk_full(code) => disk_full(context),
        heed::Error::Io(io) if io.raw_os_error().is_some_and(is_disk_full) => {
            disk_full(context).caused_by(io)
        }
        heed::Error::Io(io) => Error::new(ErrorKind::Io, context.to_string()).caused_by(io),
        other => Error::storage(context.to_string()).caused_by(other),
    }
}

impl LmdbStorage {
    /// Opens (creating the directory if needed) or shares the environment at `path`.
    pub fn open(path: &Path, options: LmdbOptions) -> Result<SharedStorage> {
        watch_forks();
        std::fs::create_dir_all(path).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot create the store directory {}", path.display()),
            )
            .caused_by(e)
        })?;
        let canonical = path.canonicalize().map_err(|e| {
            Error::new(ErrorKind::Io, format!("cannot resolve {}", path.display())).caused_by(e)
        })?;
        let mut registry = OPEN_ENVS.lock();
        let registry = registry.get_or_insert_with(HashMap::new);
        registry.retain(|_, weak| weak.strong_count() > 0);
        if let Some(existing) = registry.get(&canonical).and_then(Weak::upgrade) {
            return Ok(existing);
        }
        let map_size = options
            .map_size
            .unwrap_or_else(crate::config::lmdb_map_size);
        let map_size = usize::try_from(map_size).map_err(|_| {
            Error::invalid(format!("map_size {map_size} does not fit this machine"))
        })?;
        let mut open_options = EnvOpenOptions::new().read_txn_without_tls();
        open_options.map_size(map_size).max_readers(1022);
        // SAFETY: heed's contract is that one path is opened once per process, which the
        // registry above guarantees, and that the file is not modified by other means.
        let env = unsafe { open_options.open(&canonical) }
            .map_err(|e| lmdb_error(&format!("cannot open LMDB at {}", canonical.display()), e))?;
        // Readers of processes killed with SIGKILL keep their slots until someone clears them.
        let _ = env.clear_stale_readers();
        let mut wtxn = env
            .write_txn()
            .map_err(|e| lmdb_error("cannot begin a transaction", e))?;
        let db: Database<Bytes, Bytes> = env
            .create_database(&mut wtxn, None)
            .map_err(|e| lmdb_error("cannot open the LMDB database", e))?;
        wtxn.commit().map_err(|e| lmdb_error("cannot commit", e))?;
        let storage = Arc::new(LmdbStorage {
            env,
            db,
            path: canonical.clone(),
            fork_generation: FORK_GENERATION.load(Ordering::SeqCst),
        });
        registry.insert(canonical, Arc::downgrade(&storage));
        Ok(storage)
    }

    /// Refuses to use an environment inherited through `fork()`.
    fn check_process(&self) -> Result<()> {
        if FORK_GENERATION.load(Ordering::Relaxed) != self.fork_generation {
            return Err(Error::storage(format!(
                "the LMDB store {} was opened before this process forked, and LMDB cannot be used across \
                 fork(): open stores only in the child processes (with Python's multiprocessing, use the \
                 'spawn' or 'forkserver' start method)",
                self.path.display()
            )));
        }
        Ok(())
    }

    fn read_txn(&self) -> Result<heed::RoTxn<'_, WithoutTls>> {
        self.check_process()?;
        self.env
            .read_txn()
            .map_err(|e| lmdb_error("cannot begin a read", e))
    }

    fn write<T>(&self, f: impl FnOnce(&mut heed::RwTxn<'_>) -> Result<T>) -> Result<T> {
        self.check_process()?;
        let mut wtxn = self
            .env
            .write_txn()
            .map_err(|e| lmdb_error("cannot begin a write transaction", e))?;
        let out = f(&mut wtxn)?;
        wtxn.commit()
            .map_err(|e| lmdb_error("cannot commit a write transaction", e))?;
        Ok(out)
    }
}

impl Storage for LmdbStorage {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let rtxn = self.read_txn()?;
        let value = self
            .db
            .get(&rtxn, key)
            .map_err(|e| lmdb_error("read failed", e))?;
        Ok(value.map(<[u8]>::to_vec))
    }

    fn with_value(&self, key: &[u8], f: &mut ValueVisitor<'_>) -> Result<()> {
        let rtxn = self.read_txn()?;
        let value = self
            .db
            .get(&rtxn, key)
            .map_err(|e| lmdb_error("read failed", e))?;
        f(value)
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.write(|txn| {
            self.db
                .put(txn, key, value)
                .map_err(|e| lmdb_error("write failed", e))
        })
    }

    fn put_if_absent(&self, key: &[u8], value: &[u8]) -> Result<bool> {
        self.write(|txn| {
            match self
                .db
                .put_with_flags(txn, PutFlags::NO_OVERWRITE, key, value)
            {
                Ok(()) => Ok(true),
                Err(heed::Error::Mdb(MdbError::KeyExist)) => Ok(false),
                Err(e) => Err(lmdb_error("write failed", e)),
            }
        })
    }

    fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool> {
        self.write(|txn| {
            let current = self
                .db
                .get(txn, key)
                .map_err(|e| lmdb_error("read failed", e))?;
            if current != expected {
                return Ok(false);
            }
            match new {
                Some(v) => self
                    .db
                    .put(txn, key, v)
                    .map_err(|e| lmdb_error("write failed", e))?,
                None => {
                    self.db
                        .delete(txn, key)
                        .map_err(|e| lmdb_error("delete failed", e))?;
                }
            }
            Ok(true)
        })
    }

    fn delete(&self, key: &[u8]) -> Result<bool> {
        self.write(|txn| {
            self.db
                .delete(txn, key)
                .map_err(|e| lmdb_error("delete failed", e))
        })
    }

    fn scan(&self, range: &KeyRange, options: ScanOptions) -> Result<Vec<Entry>> {
        let rtxn = self.read_txn()?;
        scan_in(self.db, &rtxn, range, options)
    }

    fn write_batch(&self, ops: &[WriteOp<'_>]) -> Result<()> {
        self.write(|txn| {
            for op in ops {
                match *op {
                    WriteOp::Put(k, v) => self
                        .db
                        .put(txn, k, v)
                        .map_err(|e| lmdb_error("write failed", e))?,
                    WriteOp::Delete(k) => {
                        self.db
                            .delete(txn, k)
                            .map_err(|e| lmdb_error("delete failed", e))?;
                    }
                }
            }
            Ok(())
        })
    }

    fn transact(&self, body: &mut TransactionBody<'_>) -> Result<()> {
        // Dropping an uncommitted heed transaction aborts it, so an error applies nothing.
        self.write(|txn| body(&mut LmdbTxn { db: self.db, txn }))
    }

    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>> {
        let rtxn = self.read_txn()?;
        keys.iter()
            .map(|k| {
                self.db
                    .get(&rtxn, k)
                    .map(|v| v.map(<[u8]>::to_vec))
                    .map_err(|e| lmdb_error("read failed", e))
            })
            .collect()
    }

    fn describe(&self) -> String {
        format!("lmdb://{}", self.path.display())
    }
}

struct LmdbTxn<'a, 'e> {
    db: Database<Bytes, Bytes>,
    txn: &'a mut heed::RwTxn<'e>,
}

impl Transaction for LmdbTxn<'_, '_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let value = self
            .db
            .get(self.txn, key)
            .map_err(|e| lmdb_error("read failed", e))?;
        Ok(value.map(<[u8]>::to_vec))
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.db
            .put(self.txn, key, value)
            .map_err(|e| lmdb_error("write failed", e))
    }

    fn delete(&mut self, key: &[u8]) -> Result<bool> {
        self.db
            .delete(self.txn, key)
            .map_err(|e| lmdb_error("delete failed", e))
    }

    fn scan(&self, range: &KeyRange, options: ScanOptions) -> Result<Vec<Entry>> {
        scan_in(self.db, self.txn, range, options)
    }
}

/// A scan inside any transaction (a read one, or a write one that sees its own writes).
fn scan_in(
    db: Database<Bytes, Bytes>,
    txn: &heed::RoTxn<'_>,
    range: &KeyRange,
    options: ScanOptions,
) -> Result<Vec<Entry>> {
    if range.is_empty() {
        return Ok(Vec::new());
    }
    let limit = options.limit.unwrap_or(usize::MAX);
    let bounds = range.as_refs();
    let to_entry = |item: heed::Result<(&[u8], &[u8])>| {
        item.map(|(k, v)| Entry {
            key: k.to_vec(),
            value: if options.keys_only {
                Vec::new()
            } else {
                v.to_vec()
            },
        })
        .map_err(|e| lmdb_error("scan failed", e))
    };
    if options.reverse {
        db.rev_range(txn, &bounds)
            .map_err(|e| lmdb_error("scan failed", e))?
            .take(limit)
            .map(to_entry)
            .collect()
    } else {
        db.range(txn, &bounds)
            .map_err(|e| lmdb_error("scan failed", e))?
            .take(limit)
            .map(to_entry)
            .collect()
    }
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn a_full_disk_says_so() {
        for e in [
            heed::Error::Mdb(MdbError::Other(libc::ENOSPC)),
            heed::Error::Io(std::io::Error::from_raw_os_error(libc::ENOSPC)),
            heed::Error::Io(std::io::Error::from_raw_os_error(libc::EDQUOT)),
        ] {
            let err = lmdb_error("committing", e);
            assert_eq!(err.kind(), ErrorKind::StorageFull);
            assert!(
                err.message().contains("disk holding the store is full"),
                "{}",
                err.message()
            );
        }
        let other = lmdb_error(
            "committing",
            heed::Error::Io(std::io::Error::from_raw_os_error(libc::EIO)),
        );
        assert_eq!(other.kind(), ErrorKind::Io);
        let long = lmdb_error("put", heed::Error::Mdb(MdbError::BadValSize));
        assert_eq!(long.kind(), ErrorKind::InvalidArgument);
    }
}
