//! Yokan's packed layout for multi calls, shared by key spaces and collections: `n` items
//! concatenated in one buffer plus an array of their `n` sizes in; variable-size results out
//! as one packed buffer plus an array of `uint64_t` sizes (native byte order), with
//! `SHEAF_SIZE_NOT_FOUND` for a missing item.

use super::bytes_arg;
use super::kv::SHEAF_SIZE_NOT_FOUND;
use crate::error::{Error, ErrorKind, Result};

/// Splits a packed buffer by `n` sizes.
pub(super) fn unpack<'a>(
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
pub(super) fn ids_arg<'a>(ids: *const u64, n: usize) -> Result<&'a [u64]> {
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

pub(super) fn sizes_bytes(sizes: impl Iterator<Item = u64>) -> Vec<u8> {
    sizes.flat_map(u64::to_ne_bytes).collect()
}

/// Packs optional values into (concatenation, sizes with SHEAF_SIZE_NOT_FOUND for None).
pub(super) fn pack(values: Vec<Option<Vec<u8>>>) -> (Vec<u8>, Vec<u8>) {
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

pub(super) fn out_slice<'a, T>(ptr: *mut T, n: usize, what: &str) -> Result<&'a mut [T]> {
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
