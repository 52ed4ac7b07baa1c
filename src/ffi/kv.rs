//! Key spaces: Yokan's key-value model with its mode bits.
//!
//! Multi calls use Yokan's packed layout: `n` keys concatenated in one buffer
//! plus an array of their `n` sizes (likewise values). Variable-size results come back as one
//! packed `SheafBytes` plus a `SheafBytes` holding an array of `uint64_t` sizes (native byte
//! order); a missing entry has size `SHEAF_SIZE_NOT_FOUND`.

use std::ffi::c_char;
use std::time::Duration;

use super::packed::{out_slice, pack, sizes_bytes, unpack};
use super::store::store_ref;
use super::{
    bytes_arg, bytes_out, free_handle, guard, handle_ref, json_out, register_handle, require_out,
    str_arg, write_out, SheafBytes, SheafError, SheafStatus, SheafStore,
};
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
/// Accepted by every call and ignored (Yokan's "no RDMA" hint; an embedded store has none).
pub const SHEAF_MODE_NO_RDMA: u32 = 0x4000;
/// A document update may create the id. (0x1000 up to ABI version 1, which is Yokan's
/// FILTER_VALUE; now Yokan's value.)
pub const SHEAF_MODE_UPDATE_NEW: u32 = 0x8000;

/// A key space. Safe to share between threads.
pub struct SheafKeySpace {
    kv: KeySpace,
}

fn kv_ref<'a>(kv: *const SheafKeySpace) -> Result<&'a KeySpace> {
    Ok(&handle_ref(kv, "key space")?.kv)
}

/// Opens the key space `name` of a store, creating it on first use. Free with `sheaf_kv_free`.
///
/// Errors: SHEAF_ERR_INVALID_NAME, SHEAF_ERR_CLOSED.
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
        let kv = store_ref(store)?.kv(str_arg(name, name_len, "name")?)?;
        write_out(out, "out", register_handle(Box::new(SheafKeySpace { kv })))
    })
}

/// Lists key spaces as a JSON array of names.
///
/// Errors: SHEAF_ERR_CLOSED.
#[no_mangle]
pub extern "C" fn sheaf_kv_list_spaces(
    store: *const SheafStore,
    out_json: *mut SheafBytes,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        require_out(out_json, "out_json")?;
        json_out(out_json, "out_json", &store_ref(store)?.list_kv()?)
    })
}

/// Drops a key space and all its entries; `*out_existed` (may be NULL) says whether it existed.
///
/// Errors: SHEAF_ERR_INVALID_NAME, SHEAF_ERR_CLOSED.
#[no_mangle]
pub extern "C" fn sheaf_kv_drop(
    store: *const SheafStore,
    name: *const c_char,
    name_len: usize,
    out_existed: *mut bool,
    err: *mut *mut SheafError,
) -> SheafStatus {
    guard(err, || {
        let existed = store_ref(store)?.drop_kv(str_arg(name, name_len, "name")?)?;
        if !out_existed.is_null() {
            write_out(out_existed, "out_existed", existed)?;
        }
        Ok(())
    })
}

/// Closes a key space handle (idempotent, thread-safe); later calls return `SHEAF_ERR_CLOSED`.
///
/// Errors: none of its own (see Conventions).
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
///
/// Errors: SHEAF_ERR_KEY_EXISTS (NEW_ONLY), SHEAF_ERR_NO_SUCH_KEY (EXIST_ONLY),
/// SHEAF_ERR_INVALID_MODE, SHEAF_ERR_INVALID_ARGUMENT (a key longer than 448 bytes; the empty
/// key is a valid key), SHEAF_ERR_NOT_FOUND (the space was dropped), SHEAF_ERR_CLOSED.
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
///
/// Errors: as sheaf_kv_put (the first failing key's status), SHEAF_ERR_INVALID_ARGUMENT (bad sizes
/// or counts).
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
///
/// Errors: SHEAF_ERR_NO_SUCH_KEY, SHEAF_ERR_TIMEOUT (WAIT ran out), SHEAF_ERR_INVALID_MODE,
/// SHEAF_ERR_NOT_FOUND (the space was dropped), SHEAF_ERR_CLOSED.
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
///
/// Errors: as sheaf_kv_get, plus SHEAF_ERR_BUFFER_TOO_SMALL.
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
///
/// Errors: SHEAF_ERR_INVALID_MODE, SHEAF_ERR_INVALID_ARGUMENT (bad sizes or counts),
/// SHEAF_ERR_NOT_FOUND (the space was dropped), SHEAF_ERR_CLOSED.
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
///
/// Errors: SHEAF_ERR_INVALID_ARGUMENT (bad sizes or counts), SHEAF_ERR_NOT_FOUND (the space was
/// dropped), SHEAF_ERR_CLOSED.
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
///
/// Errors: as sheaf_kv_exists_multi.
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
///
/// Errors: as sheaf_kv_exists_multi.
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
///
/// Errors: SHEAF_ERR_INVALID_ARGUMENT (a bad key), SHEAF_ERR_NOT_FOUND (the space was dropped),
/// SHEAF_ERR_CLOSED.
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
///
/// Errors: as sheaf_kv_exists.
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
///
/// Errors: as sheaf_kv_exists.
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
///
/// Errors: SHEAF_ERR_NOT_FOUND (the space was dropped), SHEAF_ERR_CLOSED.
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
///
/// Errors: as sheaf_kv_count.
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
///
/// Errors: SHEAF_ERR_INVALID_MODE, SHEAF_ERR_NOT_FOUND (the space was dropped), SHEAF_ERR_CLOSED.
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
