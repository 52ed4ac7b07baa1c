//! Key spaces and document collections.
//!
//! Multi calls use Yokan's packed layout: `n` keys concatenated in one buffer plus an array of
//! their `n` sizes (likewise values and documents). Variable-size results come back as one
//! packed `SheafBytes` plus a `SheafBytes` holding an array of `uint64_t` sizes (native byte
//! order); a missing entry has size `SHEAF_SIZE_NOT_FOUND`.

use std::ffi::c_char;
use std::time::Duration;

use super::{
    bytes_arg, bytes_out, free_handle, guard, handle_ref, json_out, register_handle, require_out,
    str_arg, write_out, SheafBytes, SheafError, SheafStatus, SheafStore,
};
use crate::collection::Collection;
use crate::error::{Error, ErrorKind, Result};
use crate::kv::KeySpace;

/// Size reported for a key or document that does not exist.
pub const SHEAF_SIZE_NOT_FOUND: u64 = 0xFFFF_FFFF_FFFF_FFFF;

/// Mode bits of key-space and document calls (Yokan's values). Combine with `|`.
pub const SHEAF_MODE_DEFAULT: u32 = 0;
/// Listings include `from_key`.
pub const SHEAF_MODE_INCLUSIVE: u32 = 1;
/// `put` appends to the existing value (atomically).
pub const SHEAF_MODE_APPEND: u32 = 2;
/// `get` and listings also erase what they return, atomically (a queue pop).
pub const SHEAF_MODE_CONSUME: u32 = 4;
/// `get` of a missing key waits up to `timeout_ms` (`SHEAF_ERR_TIMEOUT` after). A NOTIFY put in
/// the same process wakes it at once; puts from other processes are seen within 10 ms.
pub const SHEAF_MODE_WAIT: u32 = 8;
/// `put` wakes waiting gets (same bit as WAIT).
pub const SHEAF_MODE_NOTIFY: u32 = 8;
/// `put` only if the key is absent, else `SHEAF_ERR_KEY_EXISTS` (atomic).
pub const SHEAF_MODE_NEW_ONLY: u32 = 16;
/// `put` only if the key exists, else `SHEAF_ERR_NO_SUCH_KEY` (atomic).
pub const SHEAF_MODE_EXIST_ONLY: u32 = 32;
/// Listings strip the filter (prefix, or suffix with SUFFIX) from returned keys.
pub const SHEAF_MODE_NO_PREFIX: u32 = 64;
/// Listings return values only (keys empty).
pub const SHEAF_MODE_IGNORE_KEYS: u32 = 128;
/// Like IGNORE_KEYS but the last key of a listing is returned (to continue paging).
pub const SHEAF_MODE_KEEP_LAST: u32 = 384;
/// The listing filter is a suffix instead of a prefix.
pub const SHEAF_MODE_SUFFIX: u32 = 512;
/// A document update may create the id.
pub const SHEAF_MODE_UPDATE_NEW: u32 = 4096;

/// A key space. Safe to share between threads.
pub struct SheafKeySpace {
    kv: KeySpace,
}

/// A document collection. Safe to share between threads.
pub struct SheafCollection {
    collection: Collection,
}

fn kv_ref<'a>(kv: *const SheafKeySpace) -> Result<&'a KeySpace> {
    Ok(&handle_ref(kv, "key space")?.kv)
}

fn collection_ref<'a>(c: *const SheafCollection) -> Result<&'a Collection> {
    Ok(&handle_ref(c, "collection")?.collection)
}

fn store_of<'a>(store: *const SheafStore) -> Result<&'a crate::store::Store> {
    super::store::store_ref(store)
}

/// Splits a packed buffer by `n` sizes.
fn unpack<'a>(
    packed: *const u8,
    sizes: *const usize,
    n: usize,
    what: &str,
) -> Result<Vec<&'a [u8]>> {
    super::count_arg(n, "the number of items")?;
    if n == 0 {
        return Ok(Vec::new());
    }
    if sizes.is_null() {
        return Err(Error::new(
            ErrorKind::NullPointer,
            format!("{what} sizes are NULL"),
        ));
    }
    // SAFETY: the caller passes `n` sizes.
    let sizes = unsafe { std::slice::from_raw_parts(sizes, n) };
    let total = sizes
        .iter()
        .try_fold(0usize, |acc, s| acc.checked_add(*s))
        .ok_or_else(|| Error::invalid(format!("{what} sizes overflow")))?;
    let all = bytes_arg(packed, total, what)?;
    let mut out = Vec::with_capacity(n);
    let mut offset = 0;
    for s in sizes {
        out.push(&all[offset..offset + s]);
        offset += s;
    }
    Ok(out)
}

/// Borrows `n` ids; NULL only with `n == 0`.
fn ids_arg<'a>(ids: *const u64, n: usize) -> Result<&'a [u64]> {
    super::count_arg(n, "the number of ids")?;
    if n == 0 {
        return Ok(&[]);
    }
    if ids.is_null() {
        return Err(Error::new(ErrorKind::NullPointer, "ids is NULL"));
    }
    // SAFETY: the caller passes `n` readable ids.
    Ok(unsafe { std::slice::from_raw_parts(ids, n) })
}

fn sizes_bytes(sizes: impl Iterator<Item = u64>) -> Vec<u8> {
    sizes.flat_map(u64::to_ne_bytes).collect()
}

/// Packs optional values into (concatenation, sizes with SHEAF_SIZE_NOT_FOUND for None).
fn pack(values: Vec<Option<Vec<u8>>>) -> (Vec<u8>, Vec<u8>) {
    let mut data = Vec::new();
    let mut sizes = Vec::with_capacity(values.len() * 8);
    for v in values {
        match v {
            Some(v) => {
                sizes.extend_from_slice(&(v.len() as u64).to_ne_bytes());
                data.extend_from_slice(&v);
            }
            None => sizes.extend_from_slice(&SHEAF_SIZE_NOT_FOUND.to_ne_bytes()),
        }
    }
    (data, sizes)
}

fn out_slice<'a, T>(ptr: *mut T, n: usize, what: &str) -> Result<&'a mut [T]> {
    super::count_arg(n, what)?;
    if n == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(Error::new(
            ErrorKind::NullPointer,
            format!("{what} is NULL"),
        ));
    }
    // SAFETY: the caller passes an array of `n` writable entries.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, n) })
}

/// Opens the key space `name` of a store, creating it on first use. Free with `sheaf_kv_free`.
#[no_mangle]
pub extern "C" fn sheaf_kv_open(
    store: *const SheafStore,
    name: *const c_char,
    name_len: usize,
    out: *mut *mut SheafKeySpace,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out, "out")?;
        let kv = store_of(store)?.kv(str_arg(name, name_len, "name")?)?;
        write_out(out, "out", register_handle(Box::new(SheafKeySpace { kv })))
    })
}

/// Lists key spaces as a JSON array of names.
#[no_mangle]
pub extern "C" fn sheaf_kv_list_spaces(
    store: *const SheafStore,
    out_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_json, "out_json")?;
        json_out(out_json, "out_json", &store_of(store)?.list_kv()?)
    })
}

/// Drops a key space and all its entries; `*out_existed` (may be NULL) says whether it existed.
#[no_mangle]
pub extern "C" fn sheaf_kv_drop(
    store: *const SheafStore,
    name: *const c_char,
    name_len: usize,
    out_existed: *mut bool,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let existed = store_of(store)?.drop_kv(str_arg(name, name_len, "name")?)?;
        if !out_existed.is_null() {
            write_out(out_existed, "out_existed", existed)?;
        }
        Ok(())
    })
}

/// Closes a key space handle (idempotent, thread-safe); later calls return `SHEAF_ERR_CLOSED`.
#[no_mangle]
pub extern "C" fn sheaf_kv_close(kv: *mut SheafKeySpace, err: *mut *mut SheafError) -> SheafStatus {
    guard(err, || {
        kv_ref(kv)?.close();
        Ok(())
    })
}

/// Frees a key space handle. NULL is ignored; a second free is detected and ignored.
#[no_mangle]
pub extern "C" fn sheaf_kv_free(kv: *mut SheafKeySpace) {
    free_handle(kv);
}

/// Stores `value` at `key`. Modes: APPEND, NEW_ONLY (`SHEAF_ERR_KEY_EXISTS`), EXIST_ONLY
/// (`SHEAF_ERR_NO_SUCH_KEY`), NOTIFY; others are `SHEAF_ERR_INVALID_MODE`.
#[no_mangle]
pub extern "C" fn sheaf_kv_put(
    kv: *const SheafKeySpace,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    mode: u32,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        kv_ref(kv)?.put(
            bytes_arg(key, key_len, "key")?,
            bytes_arg(value, value_len, "value")?,
            mode,
        )
    })
}

/// Stores `n` pairs in one transaction (packed keys and values with their sizes). Every key is
/// attempted; `out_statuses` (may be NULL) receives each key's status (e.g.
/// `SHEAF_ERR_KEY_EXISTS` for a NEW_ONLY key that exists). Returns `SHEAF_OK` when every key
/// succeeded, else the first failing key's status.
#[no_mangle]
pub extern "C" fn sheaf_kv_put_multi(
    kv: *const SheafKeySpace,
    n: usize,
    keys: *const u8,
    key_sizes: *const usize,
    values: *const u8,
    value_sizes: *const usize,
    mode: u32,
    out_statuses: *mut i32,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let kv = kv_ref(kv)?;
        let keys = unpack(keys, key_sizes, n, "keys")?;
        let values = unpack(values, value_sizes, n, "values")?;
        let outcomes = kv.put_multi(&keys, &values, mode)?;
        if !out_statuses.is_null() {
            let statuses = out_slice(out_statuses, n, "out_statuses")?;
            for (slot, o) in statuses.iter_mut().zip(&outcomes) {
                *slot = o.as_ref().map_or_else(|e| e.kind().code(), |_| 0);
            }
        }
        let failed = outcomes.iter().filter(|o| o.is_err()).count();
        match outcomes.into_iter().find_map(Result::err) {
            Some(first) => Err(first.context(format!("{failed} of {n} keys failed; the first"))),
            None => Ok(()),
        }
    })
}

/// Gets the value at `key` into `*out_value`. Modes: CONSUME (erase it, atomically), WAIT (wait
/// up to `timeout_ms` for a missing key). Missing key: `SHEAF_ERR_NO_SUCH_KEY`.
#[no_mangle]
pub extern "C" fn sheaf_kv_get(
    kv: *const SheafKeySpace,
    key: *const u8,
    key_len: usize,
    mode: u32,
    timeout_ms: u64,
    out_value: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_value, "out_value")?;
        let key = bytes_arg(key, key_len, "key")?;
        let value = kv_ref(kv)?.get(key, mode, Duration::from_millis(timeout_ms))?;
        bytes_out(
            out_value,
            "out_value",
            value.ok_or_else(|| {
                Error::new(
                    ErrorKind::NoSuchKey,
                    format!("no key {}", String::from_utf8_lossy(key)),
                )
            })?,
        )
    })
}

/// Gets the value at `key` into the caller's `buffer` of `capacity` bytes; `*out_size` gets the
/// value's size. A value larger than `capacity` is `SHEAF_ERR_BUFFER_TOO_SMALL` with
/// `*out_size` set to the size needed (and, with CONSUME, the key is not erased). Missing key:
/// `SHEAF_ERR_NO_SUCH_KEY`. Modes as in `sheaf_kv_get`.
#[no_mangle]
pub extern "C" fn sheaf_kv_get_into(
    kv: *const SheafKeySpace,
    key: *const u8,
    key_len: usize,
    mode: u32,
    timeout_ms: u64,
    buffer: *mut u8,
    capacity: usize,
    out_size: *mut usize,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_size, "out_size")?;
        let key = bytes_arg(key, key_len, "key")?;
        let target = out_slice(buffer, capacity, "buffer")?;
        let mut needed = 0usize;
        let found = kv_ref(kv)?.get_with(key, mode, Duration::from_millis(timeout_ms), |v| {
            needed = v.len();
            if v.len() > target.len() {
                return Err(Error::new(
                    ErrorKind::BufferTooSmall,
                    format!(
                        "the value needs {} bytes; the buffer has {}",
                        v.len(),
                        target.len()
                    ),
                ));
            }
            target[..v.len()].copy_from_slice(v);
            Ok(())
        });
        write_out(out_size, "out_size", needed)?;
        match found? {
            Some(()) => Ok(()),
            None => Err(Error::new(
                ErrorKind::NoSuchKey,
                format!("no key {}", String::from_utf8_lossy(key)),
            )),
        }
    })
}

/// Gets `n` values in one call: `*out_values` receives them packed, `*out_sizes` an array of
/// `n` `uint64_t` sizes (`SHEAF_SIZE_NOT_FOUND` for missing keys). Mode: CONSUME (one
/// transaction). Missing keys are not an error here.
#[no_mangle]
pub extern "C" fn sheaf_kv_get_multi(
    kv: *const SheafKeySpace,
    n: usize,
    keys: *const u8,
    key_sizes: *const usize,
    mode: u32,
    out_values: *mut SheafBytes,
    out_sizes: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_values, "out_values")?;
        require_out(out_sizes, "out_sizes")?;
        let keys = unpack(keys, key_sizes, n, "keys")?;
        let (data, sizes) = pack(kv_ref(kv)?.get_multi(&keys, mode)?);
        bytes_out(out_values, "out_values", data)?;
        bytes_out(out_sizes, "out_sizes", sizes)
    })
}

/// Sets `out_flags[i]` to 1 when key i exists, else 0 (`n` keys, packed).
#[no_mangle]
pub extern "C" fn sheaf_kv_exists_multi(
    kv: *const SheafKeySpace,
    n: usize,
    keys: *const u8,
    key_sizes: *const usize,
    out_flags: *mut u8,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let keys = unpack(keys, key_sizes, n, "keys")?;
        let flags = out_slice(out_flags, n, "out_flags")?;
        for (slot, e) in flags.iter_mut().zip(kv_ref(kv)?.exists_multi(&keys)?) {
            *slot = e as u8;
        }
        Ok(())
    })
}

/// Sets `out_lengths[i]` to the value size of key i, or `SHEAF_SIZE_NOT_FOUND`.
#[no_mangle]
pub extern "C" fn sheaf_kv_length_multi(
    kv: *const SheafKeySpace,
    n: usize,
    keys: *const u8,
    key_sizes: *const usize,
    out_lengths: *mut u64,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let keys = unpack(keys, key_sizes, n, "keys")?;
        let lengths = out_slice(out_lengths, n, "out_lengths")?;
        for (slot, l) in lengths.iter_mut().zip(kv_ref(kv)?.length_multi(&keys)?) {
            *slot = l.unwrap_or(SHEAF_SIZE_NOT_FOUND);
        }
        Ok(())
    })
}

/// Erases `n` keys in one transaction (missing keys are fine); `out_existed` (may be NULL)
/// gets 1 for keys that existed.
#[no_mangle]
pub extern "C" fn sheaf_kv_erase_multi(
    kv: *const SheafKeySpace,
    n: usize,
    keys: *const u8,
    key_sizes: *const usize,
    out_existed: *mut u8,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let keys = unpack(keys, key_sizes, n, "keys")?;
        let existed = kv_ref(kv)?.erase_multi(&keys)?;
        if !out_existed.is_null() {
            for (slot, e) in out_slice(out_existed, n, "out_existed")?
                .iter_mut()
                .zip(existed)
            {
                *slot = e as u8;
            }
        }
        Ok(())
    })
}

/// Sets `*out` to whether `key` exists.
#[no_mangle]
pub extern "C" fn sheaf_kv_exists(
    kv: *const SheafKeySpace,
    key: *const u8,
    key_len: usize,
    out: *mut bool,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out, "out")?;
        let exists = kv_ref(kv)?.exists_multi(&[bytes_arg(key, key_len, "key")?])?[0];
        write_out(out, "out", exists)
    })
}

/// Sets `*out` to the size of the value at `key`, or `SHEAF_SIZE_NOT_FOUND` when missing.
#[no_mangle]
pub extern "C" fn sheaf_kv_length(
    kv: *const SheafKeySpace,
    key: *const u8,
    key_len: usize,
    out: *mut u64,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out, "out")?;
        let length = kv_ref(kv)?.length_multi(&[bytes_arg(key, key_len, "key")?])?[0];
        write_out(out, "out", length.unwrap_or(SHEAF_SIZE_NOT_FOUND))
    })
}

/// Erases `key` (a missing key is fine); `*out_existed` (may be NULL) says whether it existed.
#[no_mangle]
pub extern "C" fn sheaf_kv_erase(
    kv: *const SheafKeySpace,
    key: *const u8,
    key_len: usize,
    out_existed: *mut bool,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let existed = kv_ref(kv)?.erase_multi(&[bytes_arg(key, key_len, "key")?])?[0];
        if !out_existed.is_null() {
            write_out(out_existed, "out_existed", existed)?;
        }
        Ok(())
    })
}

/// Sets `*out` to the number of keys in the space.
#[no_mangle]
pub extern "C" fn sheaf_kv_count(
    kv: *const SheafKeySpace,
    out: *mut u64,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out, "out")?;
        let n = kv_ref(kv)?.count()?;
        write_out(out, "out", n)
    })
}

/// Erases every key starting with `prefix` (empty = all); `*out_erased` (may be NULL) gets how many.
#[no_mangle]
pub extern "C" fn sheaf_kv_erase_range(
    kv: *const SheafKeySpace,
    prefix: *const u8,
    prefix_len: usize,
    out_erased: *mut u64,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let n = kv_ref(kv)?.erase_range(bytes_arg(prefix, prefix_len, "prefix")?)?;
        if !out_erased.is_null() {
            write_out(out_erased, "out_erased", n)?;
        }
        Ok(())
    })
}

/// Lists up to `count` entries after `from_key` (exclusive unless INCLUSIVE; empty = from the
/// start) whose key starts with `filter` (ends with it, with SUFFIX). `*out_keys` / `*out_key_sizes`
/// receive the keys packed with their `uint64_t` sizes (the number of entries is
/// `out_key_sizes.len / 8`); `out_values` and `out_value_sizes` are both NULL (keys only) or
/// both set (values likewise) — one without the other is `SHEAF_ERR_INVALID_ARGUMENT`. Modes: INCLUSIVE, SUFFIX, NO_PREFIX, IGNORE_KEYS, KEEP_LAST,
/// CONSUME (erase what is returned, atomically).
#[no_mangle]
pub extern "C" fn sheaf_kv_list(
    kv: *const SheafKeySpace,
    from_key: *const u8,
    from_key_len: usize,
    filter: *const u8,
    filter_len: usize,
    count: usize,
    mode: u32,
    out_keys: *mut SheafBytes,
    out_key_sizes: *mut SheafBytes,
    out_values: *mut SheafBytes,
    out_value_sizes: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_keys, "out_keys")?;
        require_out(out_key_sizes, "out_key_sizes")?;
        let with_values = !out_values.is_null();
        if with_values == out_value_sizes.is_null() {
            return Err(Error::invalid(
                "out_values and out_value_sizes are both NULL or both set",
            ));
        }
        let entries = kv_ref(kv)?.list(
            bytes_arg(from_key, from_key_len, "from_key")?,
            bytes_arg(filter, filter_len, "filter")?,
            count,
            mode,
            with_values,
        )?;
        let key_sizes = sizes_bytes(entries.iter().map(|e| e.key.len() as u64));
        let value_sizes = sizes_bytes(entries.iter().map(|e| e.value.len() as u64));
        let (mut keys, mut values) = (Vec::new(), Vec::new());
        for e in entries {
            keys.extend_from_slice(&e.key);
            values.extend_from_slice(&e.value);
        }
        bytes_out(out_keys, "out_keys", keys)?;
        bytes_out(out_key_sizes, "out_key_sizes", key_sizes)?;
        if with_values {
            bytes_out(out_values, "out_values", values)?;
            bytes_out(out_value_sizes, "out_value_sizes", value_sizes)?;
        }
        Ok(())
    })
}

/// Creates a collection (`SHEAF_ERR_COLLECTION_EXISTS` if it exists). Free with `sheaf_collection_free`.
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
        let collection = store_of(store)?.create_collection(str_arg(name, name_len, "name")?)?;
        write_out(
            out,
            "out",
            register_handle(Box::new(SheafCollection { collection })),
        )
    })
}

/// Opens a collection (`SHEAF_ERR_NO_SUCH_COLLECTION` if missing).
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
        let collection = store_of(store)?.open_collection(str_arg(name, name_len, "name")?)?;
        write_out(
            out,
            "out",
            register_handle(Box::new(SheafCollection { collection })),
        )
    })
}

/// Drops a collection and its documents (`SHEAF_ERR_NO_SUCH_COLLECTION` if missing).
#[no_mangle]
pub extern "C" fn sheaf_collection_drop(
    store: *const SheafStore,
    name: *const c_char,
    name_len: usize,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        store_of(store)?.drop_collection(str_arg(name, name_len, "name")?)
    })
}

/// Sets `*out` to whether a collection exists.
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
        let exists = store_of(store)?.collection_exists(str_arg(name, name_len, "name")?)?;
        write_out(out, "out", exists)
    })
}

/// Lists collections as a JSON array of names.
#[no_mangle]
pub extern "C" fn sheaf_collection_list(
    store: *const SheafStore,
    out_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_json, "out_json")?;
        json_out(out_json, "out_json", &store_of(store)?.list_collections()?)
    })
}

/// Closes a collection handle (idempotent, thread-safe).
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

/// Stores `n` documents (packed with their sizes) in one transaction; `out_ids` (array of
/// `n`) receives their ids, sequential from the collection's next id.
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
