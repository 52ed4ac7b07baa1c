//! Document collections: Yokan's model of JSON (or raw) documents with sequential ids from 0.
//! Multi calls use the packed layout and the mode bits of key spaces.

use std::ffi::c_char;

use super::packed::{ids_arg, out_slice, pack, sizes_bytes, unpack};
use super::store::store_ref;
use super::{
    bytes_arg, bytes_out, free_handle, guard, handle_ref, json_out, register_handle, require_out,
    str_arg, write_out, SheafBytes, SheafError, SheafStatus, SheafStore,
};
use crate::collection::Collection;
use crate::error::{Error, ErrorKind, Result};

/// A document collection. Safe to share between threads.
pub struct SheafCollection {
    collection: Collection,
}

fn collection_ref<'a>(c: *const SheafCollection) -> Result<&'a Collection> {
    Ok(&handle_ref(c, "collection")?.collection)
}

/// Creates a collection (`SHEAF_ERR_COLLECTION_EXISTS` if it exists). Free with `sheaf_collection_free`.
///
/// Errors: SHEAF_ERR_COLLECTION_EXISTS, SHEAF_ERR_INVALID_NAME, SHEAF_ERR_CLOSED.
#[no_mangle]
pub extern "C" fn sheaf_collection_create(
    store: *const SheafStore,
    name: *const c_char,
    name_len: usize,
    out: *mut *mut SheafCollection,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out, "out")?;
        let collection = store_ref(store)?.create_collection(str_arg(name, name_len, "name")?)?;
        write_out(
            out,
            "out",
            register_handle(Box::new(SheafCollection { collection })),
        )
    })
}

/// Opens a collection (`SHEAF_ERR_NO_SUCH_COLLECTION` if missing).
///
/// Errors: SHEAF_ERR_NO_SUCH_COLLECTION, SHEAF_ERR_INVALID_NAME, SHEAF_ERR_CLOSED.
#[no_mangle]
pub extern "C" fn sheaf_collection_open(
    store: *const SheafStore,
    name: *const c_char,
    name_len: usize,
    out: *mut *mut SheafCollection,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out, "out")?;
        let collection = store_ref(store)?.open_collection(str_arg(name, name_len, "name")?)?;
        write_out(
            out,
            "out",
            register_handle(Box::new(SheafCollection { collection })),
        )
    })
}

/// Drops a collection and its documents (`SHEAF_ERR_NO_SUCH_COLLECTION` if missing).
///
/// Errors: SHEAF_ERR_NO_SUCH_COLLECTION, SHEAF_ERR_INVALID_NAME, SHEAF_ERR_CLOSED.
#[no_mangle]
pub extern "C" fn sheaf_collection_drop(
    store: *const SheafStore,
    name: *const c_char,
    name_len: usize,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        store_ref(store)?.drop_collection(str_arg(name, name_len, "name")?)
    })
}

/// Sets `*out` to whether a collection exists.
///
/// Errors: SHEAF_ERR_INVALID_NAME, SHEAF_ERR_CLOSED.
#[no_mangle]
pub extern "C" fn sheaf_collection_exists(
    store: *const SheafStore,
    name: *const c_char,
    name_len: usize,
    out: *mut bool,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out, "out")?;
        let exists = store_ref(store)?.collection_exists(str_arg(name, name_len, "name")?)?;
        write_out(out, "out", exists)
    })
}

/// Lists collections as a JSON array of names.
///
/// Errors: SHEAF_ERR_CLOSED.
#[no_mangle]
pub extern "C" fn sheaf_collection_list(
    store: *const SheafStore,
    out_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_json, "out_json")?;
        json_out(out_json, "out_json", &store_ref(store)?.list_collections()?)
    })
}

/// Closes a collection handle (idempotent, thread-safe).
///
/// Errors: none of its own (see Conventions).
#[no_mangle]
pub extern "C" fn sheaf_collection_close(
    c: *mut SheafCollection,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        collection_ref(c)?.close();
        Ok(())
    })
}

/// Frees a collection handle. NULL is ignored; a second free is detected and ignored.
#[no_mangle]
pub extern "C" fn sheaf_collection_free(c: *mut SheafCollection) {
    free_handle(c);
}

/// Sets `*out_size` to the number of documents and `*out_last_id` (may be NULL) to the id the
/// next stored document will get (Yokan's "last id").
///
/// Errors: SHEAF_ERR_NO_SUCH_COLLECTION (dropped), SHEAF_ERR_CLOSED.
#[no_mangle]
pub extern "C" fn sheaf_collection_size(
    c: *const SheafCollection,
    out_size: *mut u64,
    out_last_id: *mut u64,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_size, "out_size")?;
        let c = collection_ref(c)?;
        write_out(out_size, "out_size", c.size()?)?;
        if !out_last_id.is_null() {
            write_out(out_last_id, "out_last_id", c.last_id()?)?;
        }
        Ok(())
    })
}

/// Stores one document; `*out_id` (may be NULL) receives its id.
///
/// Errors: SHEAF_ERR_NO_SUCH_COLLECTION (dropped), SHEAF_ERR_CLOSED.
#[no_mangle]
pub extern "C" fn sheaf_doc_store(
    c: *const SheafCollection,
    doc: *const u8,
    doc_len: usize,
    out_id: *mut u64,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let id = collection_ref(c)?.store(bytes_arg(doc, doc_len, "doc")?)?;
        if !out_id.is_null() {
            write_out(out_id, "out_id", id)?;
        }
        Ok(())
    })
}

/// Loads one document into `*out_doc`; a missing id is `SHEAF_ERR_NO_SUCH_DOCUMENT`.
///
/// Errors: SHEAF_ERR_NO_SUCH_DOCUMENT, SHEAF_ERR_NO_SUCH_COLLECTION (dropped), SHEAF_ERR_CLOSED.
#[no_mangle]
pub extern "C" fn sheaf_doc_load(
    c: *const SheafCollection,
    id: u64,
    out_doc: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_doc, "out_doc")?;
        let c = collection_ref(c)?;
        let doc = c.load_multi(&[id])?.pop().flatten().ok_or_else(|| {
            Error::new(
                ErrorKind::NoSuchDocument,
                format!("no document {id} in '{}'", c.name()),
            )
        })?;
        bytes_out(out_doc, "out_doc", doc)
    })
}

/// Loads one document into the caller's `buffer` of `capacity` bytes (Yokan's `doc_load` into a
/// caller buffer); `*out_size` gets the document's size. A document larger than `capacity` is
/// `SHEAF_ERR_BUFFER_TOO_SMALL` with `*out_size` set to the size needed; a missing id is
/// `SHEAF_ERR_NO_SUCH_DOCUMENT`.
///
/// Errors: SHEAF_ERR_NO_SUCH_DOCUMENT, SHEAF_ERR_BUFFER_TOO_SMALL, SHEAF_ERR_NULL_POINTER
/// (`buffer` NULL with a capacity), SHEAF_ERR_NO_SUCH_COLLECTION (dropped), SHEAF_ERR_CLOSED.
#[no_mangle]
pub extern "C" fn sheaf_doc_load_into(
    c: *const SheafCollection,
    id: u64,
    buffer: *mut u8,
    capacity: usize,
    out_size: *mut usize,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_size, "out_size")?;
        let target = out_slice(buffer, capacity, "buffer")?;
        let c = collection_ref(c)?;
        let mut needed = 0usize;
        let found = c.load_with(id, |doc| {
            needed = doc.len();
            let Some(place) = target.get_mut(..doc.len()) else {
                return Err(Error::new(
                    ErrorKind::BufferTooSmall,
                    format!(
                        "document {id} needs {} bytes; the buffer has {}",
                        doc.len(),
                        target.len()
                    ),
                ));
            };
            place.copy_from_slice(doc);
            Ok(())
        });
        write_out(out_size, "out_size", needed)?;
        match found? {
            Some(()) => Ok(()),
            None => Err(Error::new(
                ErrorKind::NoSuchDocument,
                format!("no document {id} in '{}'", c.name()),
            )),
        }
    })
}

/// Stores `n` documents (packed with their sizes) in one transaction; `out_ids` (array of
/// `n`) receives their ids, sequential from the collection's next id.
///
/// Errors: SHEAF_ERR_INVALID_ARGUMENT (bad sizes or counts), SHEAF_ERR_NO_SUCH_COLLECTION
/// (dropped), SHEAF_ERR_CLOSED.
#[no_mangle]
pub extern "C" fn sheaf_doc_store_multi(
    c: *const SheafCollection,
    n: usize,
    docs: *const u8,
    doc_sizes: *const usize,
    out_ids: *mut u64,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let ids_out = out_slice(out_ids, n, "out_ids")?;
        let docs = unpack(docs, doc_sizes, n, "docs")?;
        let ids = collection_ref(c)?.store_multi(&docs)?;
        ids_out.copy_from_slice(&ids);
        Ok(())
    })
}

/// Loads `n` documents by id: packed into `*out_docs` with `uint64_t` sizes in `*out_sizes`
/// (`SHEAF_SIZE_NOT_FOUND` for a missing id).
///
/// Errors: as sheaf_doc_store_multi (a missing id is not an error here).
#[no_mangle]
pub extern "C" fn sheaf_doc_load_multi(
    c: *const SheafCollection,
    n: usize,
    ids: *const u64,
    out_docs: *mut SheafBytes,
    out_sizes: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_docs, "out_docs")?;
        require_out(out_sizes, "out_sizes")?;
        let ids = ids_arg(ids, n)?;
        let (data, sizes) = pack(collection_ref(c)?.load_multi(ids)?);
        bytes_out(out_docs, "out_docs", data)?;
        bytes_out(out_sizes, "out_sizes", sizes)
    })
}

/// Replaces `n` documents by id in one transaction; a missing id is `SHEAF_ERR_NO_SUCH_DOCUMENT`
/// (nothing changes) unless `mode` has `SHEAF_MODE_UPDATE_NEW`, which creates it.
///
/// Errors: SHEAF_ERR_NO_SUCH_DOCUMENT (without UPDATE_NEW), SHEAF_ERR_INVALID_MODE,
/// SHEAF_ERR_INVALID_ARGUMENT, SHEAF_ERR_NO_SUCH_COLLECTION (dropped), SHEAF_ERR_CLOSED.
#[no_mangle]
pub extern "C" fn sheaf_doc_update_multi(
    c: *const SheafCollection,
    n: usize,
    ids: *const u64,
    docs: *const u8,
    doc_sizes: *const usize,
    mode: u32,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let ids = ids_arg(ids, n)?;
        let docs = unpack(docs, doc_sizes, n, "docs")?;
        collection_ref(c)?.update_multi(ids, &docs, mode)
    })
}

/// Erases `n` documents by id in one transaction; a missing id is `SHEAF_ERR_NO_SUCH_DOCUMENT`
/// (nothing is erased).
///
/// Errors: SHEAF_ERR_NO_SUCH_DOCUMENT, SHEAF_ERR_INVALID_ARGUMENT, SHEAF_ERR_NO_SUCH_COLLECTION
/// (dropped), SHEAF_ERR_CLOSED.
#[no_mangle]
pub extern "C" fn sheaf_doc_erase_multi(
    c: *const SheafCollection,
    n: usize,
    ids: *const u64,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let ids = ids_arg(ids, n)?;
        collection_ref(c)?.erase_multi(ids)
    })
}

/// Lists up to `count` documents with id ≥ `start_id` whose top-level JSON fields equal those of
/// `filter_json` (NULL or `{}` = every document; documents that are not JSON objects match only
/// an empty filter). `*out_ids` receives `uint64_t` ids; `*out_docs` / `*out_sizes` the
/// documents packed with their `uint64_t` sizes.
///
/// Errors: SHEAF_ERR_INVALID_JSON (a filter that is not a JSON object),
/// SHEAF_ERR_NO_SUCH_COLLECTION (dropped), SHEAF_ERR_CLOSED.
#[no_mangle]
pub extern "C" fn sheaf_doc_list(
    c: *const SheafCollection,
    start_id: u64,
    count: usize,
    filter_json: *const c_char,
    filter_len: usize,
    out_ids: *mut SheafBytes,
    out_docs: *mut SheafBytes,
    out_sizes: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_ids, "out_ids")?;
        require_out(out_docs, "out_docs")?;
        require_out(out_sizes, "out_sizes")?;
        let text = super::opt_str_arg(filter_json, filter_len, "filter_json")?;
        let filter: serde_json::Map<String, serde_json::Value> = if text.trim().is_empty() {
            serde_json::Map::new()
        } else {
            serde_json::from_str(text).map_err(|e| {
                Error::new(ErrorKind::InvalidJson, "the filter must be a JSON object").caused_by(e)
            })?
        };
        let docs = collection_ref(c)?.list(start_id, count, &filter)?;
        let ids = sizes_bytes(docs.iter().map(|(id, _)| *id));
        let (data, sizes) = pack(docs.into_iter().map(|(_, d)| Some(d)).collect());
        bytes_out(out_ids, "out_ids", ids)?;
        bytes_out(out_docs, "out_docs", data)?;
        bytes_out(out_sizes, "out_sizes", sizes)
    })
}
