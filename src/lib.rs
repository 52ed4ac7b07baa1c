//! Sheaf: an embedded, versioned data store for Arrow tables, key-value pairs and JSON
//! documents, with one stable C ABI.
//!
//! Layers, bottom to top (imports only point down):
//! - [`storage`] — ordered key → bytes backends (`mem://`, `lmdb://`); knows nothing of tables.
//! - `keys` — the key layout: what every stored key means (the one place that says so).
//! - [`store`] — a store opened from a URI, and its libraries.
//! - [`table`] — versioned Arrow tables (the commit rule lives there).
//! - [`query`] — query plans (filters, projections, aggregations) over Arrow batches, used
//!   by [`table`].
//! - [`kv`] — key spaces with Yokan's modes; [`collection`] — JSON document collections.
//! - [`ffi`] — the C ABI (`include/sheaf.h`): argument checks and translation only.

mod allocator;

/// See [`allocator`]: mimalloc, or malloc under `SHEAF_SYSTEM_ALLOCATOR`.
#[global_allocator]
static ALLOCATOR: allocator::SheafAllocator = allocator::SheafAllocator;

pub mod checksum;
pub mod collection;
pub mod config;
pub mod error;
#[cfg(feature = "failpoints")]
pub mod failpoints;
pub mod ffi;
pub(crate) mod keys;
pub mod kv;
pub mod progress;
pub mod query;
pub mod sql;
pub mod storage;
pub mod store;
pub mod table;
pub mod verify;

pub use collection::Collection;
pub use error::{Error, ErrorKind, Result};
pub use kv::KeySpace;
pub use store::{Compression, Library, LibraryOptions, Store};
pub use table::{AsOf, ReadOptions, VersionInfo, WriteOptions};
