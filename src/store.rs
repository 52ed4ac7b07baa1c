//! `Store`: opened from a URI, owns the storage, and hands out libraries.
//!
//! A library is a registry entry (its options and its *incarnation*) plus everything its
//! tables hold under the incarnation's prefix; the keys are laid out in [`crate::keys`].
//!
//! The incarnation is a fresh id given to each creation of a name. Dropping a library deletes
//! its one registry key — that is the whole, atomic drop — and only then removes the old
//! incarnation's keys, page by page; a crash in between leaves garbage no name points to (see
//! `reclaim`), never data a re-created library of the same name could see. Libraries created
//! before incarnations existed have none and keep their data under their name.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::keys;
use crate::storage::{self, KeyRange, ScanOptions, SharedStorage};

/// Longest library or symbol name, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// Checks a library or symbol name: non-empty UTF-8, at most 255 bytes, no control characters.
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    let problem = if name.is_empty() {
        Some("must not be empty".to_string())
    } else if name.len() > MAX_NAME_BYTES {
        Some(format!(
            "is {} bytes long; the limit is {MAX_NAME_BYTES}",
            name.len()
        ))
    } else {
        name.chars()
            .find(|c| c.is_control())
            .map(|c| format!("contains the control character U+{:04X}", c as u32))
    };
    match problem {
        Some(p) => Err(Error::new(
            ErrorKind::InvalidName,
            format!("{what} name {name:?} {p}"),
        )),
        None => Ok(()),
    }
}

/// How a library compresses its segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Lz4,
    Zstd,
    None,
}

/// Options fixed when a library is created and stored with it.
///
/// JSON shape (every field optional on input):
/// `{"rows_per_segment": 100000, "compression": "lz4" | "zstd" | "none",
///   "prune_previous_versions": false, "dynamic_schema": false}`
///
/// With `dynamic_schema`, `append` and `update` may add columns (null in older rows), omit
/// columns (null in the new rows) and widen types (integer → wider integer or float,
/// float32 → float64); without it the columns must match exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LibraryOptions {
    pub rows_per_segment: u64,
    pub compression: Compression,
    pub prune_previous_versions: bool,
    pub dynamic_schema: bool,
}

impl Default for LibraryOptions {
    fn default() -> Self {
        LibraryOptions {
            rows_per_segment: 100_000,
            compression: Compression::Lz4,
            prune_previous_versions: false,
            dynamic_schema: false,
        }
    }
}

impl LibraryOptions {
    /// Parses and checks options JSON; empty text means the defaults.
    pub fn from_json(text: &str) -> Result<Self> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let options: LibraryOptions = serde_json::from_str(text).map_err(|e| {
            Error::new(ErrorKind::InvalidJson, "invalid library options").caused_by(e)
        })?;
        options.validate()?;
        Ok(options)
    }

    fn validate(&self) -> Result<()> {
        if self.rows_per_segment == 0 || self.rows_per_segment > 1 << 31 {
            return Err(Error::invalid(format!(
                "rows_per_segment must be between 1 and 2^31, not {}",
                self.rows_per_segment
            )));
        }
        Ok(())
    }

    /// The options as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

pub(crate) struct StoreInner {
    uri: String,
    storage: RwLock<Option<SharedStorage>>,
}

/// An open store. Cloning is cheap and shares the store; `close` closes it for every clone and
/// for every library handed out from it.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("uri", &self.uri()).finish()
    }
}

pub(crate) fn library_key(name: &str) -> Vec<u8> {
    keys::registry_key(keys::LIBRARY_REGISTRY, name)
}

/// Drops a registered name: deletes its registry entry `key` by compare-and-swap — the one
/// atomic step that is the drop — then the data under the prefix `data_prefix` reads from the
/// entry. A crash in between leaves only garbage no name reaches (`reclaim` removes it).
/// Returns whether the name was registered.
pub(crate) fn drop_registered(
    storage: &SharedStorage,
    key: &[u8],
    data_prefix: impl Fn(&[u8]) -> Result<Vec<u8>>,
) -> Result<bool> {
    loop {
        let Some(bytes) = storage.get(key)? else {
            return Ok(false);
        };
        let prefix = data_prefix(&bytes)?;
        if storage.compare_and_swap(key, Some(&bytes), None)? {
            storage::delete_prefix(storage.as_ref(), &prefix)?;
            return Ok(true);
        }
    }
}

/// Where a library's tables live (see [`crate::keys`]).
pub(crate) fn library_data_prefix(name: &str, incarnation: Option<&str>) -> Vec<u8> {
    keys::data_prefix(keys::LIBRARY_DATA, name, incarnation)
}

/// A new id for one creation of a library, key space or collection: unique across processes
/// and machines in practice (time, process id, a per-process counter).
pub(crate) fn new_incarnation() -> String {
    use std::sync::atomic::AtomicU64;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!(
        "{now:016x}{:08x}{:08x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The registry entry of a library: its options plus its incarnation.
fn encode_library_entry(options: &LibraryOptions, incarnation: &str) -> Result<Vec<u8>> {
    let mut value = serde_json::to_value(options)?;
    if let Some(map) = value.as_object_mut() {
        map.insert("incarnation".into(), incarnation.into());
    }
    Ok(crate::checksum::seal(serde_json::to_vec(&value)?))
}

fn decode_library_entry(name: &str, bytes: &[u8]) -> Result<(LibraryOptions, Option<String>)> {
    let bad = || {
        Error::corrupt(format!(
            "the registry entry of library '{name}' cannot be read"
        ))
    };
    let bytes =
        crate::checksum::unseal(bytes, || format!("the registry entry of library '{name}'"))?
            .bytes();
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| bad().caused_by(e))?;
    let incarnation = match value.as_object_mut().and_then(|m| m.remove("incarnation")) {
        Some(serde_json::Value::String(id)) => Some(id),
        None => None,
        Some(_) => return Err(bad()),
    };
    let options = serde_json::from_value(value).map_err(|e| bad().caused_by(e))?;
    Ok((options, incarnation))
}

impl Store {
    /// Opens the store a URI names (see [`storage::open_uri`] for the forms).
    pub fn open(uri: &str) -> Result<Store> {
        let storage = storage::open_uri(uri)?;
        crate::config::log(crate::config::LogLevel::Info, || {
            format!("opened store {uri}")
        });
        Ok(Store {
            inner: Arc::new(StoreInner {
                uri: uri.to_string(),
                storage: RwLock::new(Some(storage)),
            }),
        })
    }

    /// A store over storage the caller built (a test's fault-injecting wrapper, say); `uri`
    /// only names it in messages.
    pub fn from_storage(uri: &str, storage: SharedStorage) -> Store {
        Store {
            inner: Arc::new(StoreInner {
                uri: uri.to_string(),
                storage: RwLock::new(Some(storage)),
            }),
        }
    }

    /// The URI the store was opened from.
    pub fn uri(&self) -> &str {
        &self.inner.uri
    }

    /// Releases this handle's hold on the storage. Idempotent; operations running on other
    /// threads finish, later ones fail with `Closed`.
    pub fn close(&self) {
        self.inner.storage.write().take();
    }

    /// Whether `close` was called.
    pub fn is_closed(&self) -> bool {
        self.inner.storage.read().is_none()
    }

    pub(crate) fn storage(&self) -> Result<SharedStorage> {
        self.inner
            .storage
            .read()
            .clone()
            .ok_or_else(|| Error::closed("store"))
    }

    /// Creates a library; an existing name is `LibraryExists`.
    pub fn create_library(&self, name: &str, options: LibraryOptions) -> Result<Library> {
        validate_name("library", name)?;
        options.validate()?;
        let storage = self.storage()?;
        let incarnation = new_incarnation();
        let entry = encode_library_entry(&options, &incarnation)?;
        if !storage.put_if_absent(&library_key(name), &entry)? {
            return Err(Error::new(
                ErrorKind::LibraryExists,
                format!("library '{name}' already exists in {}", self.uri()),
            ));
        }
        Ok(Library::new(self.clone(), name, options, Some(incarnation)))
    }

    /// Opens a library; a missing one is `NoSuchLibrary` unless `create_if_missing`, in which
    /// case it is created with `options_if_created`.
    pub fn open_library(
        &self,
        name: &str,
        create_if_missing: bool,
        options_if_created: LibraryOptions,
    ) -> Result<Library> {
        validate_name("library", name)?;
        let storage = self.storage()?;
        loop {
            if let Some(bytes) = storage.get(&library_key(name))? {
                let (options, incarnation) = decode_library_entry(name, &bytes)?;
                return Ok(Library::new(self.clone(), name, options, incarnation));
            }
            if !create_if_missing {
                return Err(Error::new(
                    ErrorKind::NoSuchLibrary,
                    format!("no library named '{name}' in {}", self.uri()),
                ));
            }
            match self.create_library(name, options_if_created.clone()) {
                Err(e) if e.kind() == ErrorKind::LibraryExists => continue,
                other => return other,
            }
        }
    }

    /// Whether a library exists.
    pub fn has_library(&self, name: &str) -> Result<bool> {
        validate_name("library", name)?;
        Ok(self.storage()?.get(&library_key(name))?.is_some())
    }

    /// Library names in byte order.
    pub fn list_libraries(&self) -> Result<Vec<String>> {
        self.registered_names(keys::LIBRARY_REGISTRY, "library")
    }

    /// The names registered under a one-letter registry prefix (`L\0`, `K\0`, `C\0`), in
    /// byte order.
    pub(crate) fn registered_names(&self, prefix: &[u8], what: &str) -> Result<Vec<String>> {
        let entries = self.storage()?.scan(
            &KeyRange::prefix(prefix),
            ScanOptions {
                keys_only: true,
                ..Default::default()
            },
        )?;
        entries
            .into_iter()
            .map(|e| {
                String::from_utf8(e.key[prefix.len()..].to_vec())
                    .map_err(|_| Error::corrupt(format!("a {what} name in the store is not UTF-8")))
            })
            .collect()
    }

    /// Deletes a library and everything in it; a missing library is not an error (as in
    /// ArcticDB). Returns whether it existed.
    pub fn delete_library(&self, name: &str) -> Result<bool> {
        validate_name("library", name)?;
        drop_registered(&self.storage()?, &library_key(name), |entry| {
            let (_, incarnation) = decode_library_entry(name, entry)?;
            Ok(library_data_prefix(name, incarnation.as_deref()))
        })
    }
}

/// A library: a named set of versioned tables inside a store. Cheap to clone.
#[derive(Clone)]
pub struct Library {
    pub(crate) inner: Arc<LibraryInner>,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("store", &self.inner.store.uri())
            .field("name", &self.inner.name)
            .finish()
    }
}

pub(crate) struct LibraryInner {
    pub(crate) store: Store,
    pub(crate) name: String,
    pub(crate) options: LibraryOptions,
    pub(crate) prefix: Vec<u8>,
    incarnation: Option<String>,
    closed: AtomicBool,
    /// What reads through this handle loaded (observability, and proof of pruning).
    pub(crate) read_counters: Arc<crate::table::reader::ReadCounters>,
}

impl Library {
    fn new(
        store: Store,
        name: &str,
        options: LibraryOptions,
        incarnation: Option<String>,
    ) -> Library {
        Library {
            inner: Arc::new(LibraryInner {
                store,
                name: name.to_string(),
                options,
                prefix: library_data_prefix(name, incarnation.as_deref()),
                incarnation,
                closed: AtomicBool::new(false),
                read_counters: Arc::default(),
            }),
        }
    }

    /// The library's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The options it was created with.
    pub fn options(&self) -> &LibraryOptions {
        &self.inner.options
    }

    /// The store it belongs to.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// How many segments reads through this handle have loaded so far.
    pub fn segments_loaded(&self) -> u64 {
        self.inner.read_counters.segments.load(Ordering::Relaxed)
    }

    /// How many bytes of column data reads through this handle have decoded (decompressed, or
    /// copied when stored raw): a read of some columns decodes only those.
    pub fn bytes_decoded(&self) -> u64 {
        self.inner
            .read_counters
            .bytes_decoded
            .load(Ordering::Relaxed)
    }

    /// How many contiguous reads through this handle had every column decompressed straight
    /// into place (fixed-width columns; see `ReadOptions::contiguous`).
    pub fn reads_assembled_in_place(&self) -> u64 {
        self.inner
            .read_counters
            .assembled_in_place
            .load(Ordering::Relaxed)
    }

    /// Closes this handle (and its clones). Idempotent.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
    }

    /// `Closed` if this library or its store was closed.
    pub fn ensure_open(&self) -> Result<()> {
        self.storage().map(|_| ())
    }

    /// `NoSuchLibrary` if the library this handle was opened on was deleted (and perhaps
    /// re-created) since: writes through a stale handle must not land in a dropped library.
    pub(crate) fn ensure_library_live(&self, storage: &SharedStorage) -> Result<()> {
        let current = match storage.get(&library_key(&self.inner.name))? {
            Some(bytes) => Some(decode_library_entry(&self.inner.name, &bytes)?.1),
            None => None,
        };
        if current.as_ref() != Some(&self.inner.incarnation) {
            return Err(Error::new(
                ErrorKind::NoSuchLibrary,
                format!(
                    "library '{}' was deleted since this handle was opened",
                    self.inner.name
                ),
            ));
        }
        Ok(())
    }

    /// The storage, or `Closed` if this library or its store was closed.
    pub(crate) fn storage(&self) -> Result<SharedStorage> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::closed("library"));
        }
        self.inner.store.storage()
    }
}
