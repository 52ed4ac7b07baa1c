//! Checksums on the values Sheaf reads back as structure or data.
//!
//! XXH3-64 (the `twox-hash` crate, already in the tree through lz4_flex): several GB/s per
//! core, so checking every value on every read costs little next to decompression.
//!
//! Two forms:
//! - **Sealed values** (version and staging records, snapshots, registry entries):
//!   `payload | XXH3-64 of payload (u64 LE) | "SHK1"`. [`unseal`] verifies them. Values written
//!   before checksums existed carry no trailer and come back as [`Unsealed::Legacy`]; each caller
//!   parses those strictly to the last byte, so a sealed value whose trailer was damaged cannot
//!   pass as a legacy one (its 12 trailing bytes make the strict parse fail).
//! - **Segments** keep their bytes exactly as Arrow IPC (reads decode them in place); their
//!   checksum lives in the version record that references them ([`crate::table::record`]), so
//!   damage to a segment cannot switch its own check off.

use crate::error::{Error, Result};

const MAGIC: &[u8; 4] = b"SHK1";
const TRAILER: usize = 12;

/// The checksum of `bytes`.
pub fn hash(bytes: &[u8]) -> u64 {
    twox_hash::XxHash3_64::oneshot(bytes)
}

/// `payload` with its checksum trailer.
pub fn seal(mut payload: Vec<u8>) -> Vec<u8> {
    let h = hash(&payload);
    payload.reserve(TRAILER);
    payload.extend_from_slice(&h.to_le_bytes());
    payload.extend_from_slice(MAGIC);
    payload
}

/// What [`unseal`] found.
pub enum Unsealed<'a> {
    /// The payload of a sealed value whose checksum matched.
    Verified(&'a [u8]),
    /// A value without a trailer (written before checksums): parse it strictly.
    Legacy(&'a [u8]),
}

impl<'a> Unsealed<'a> {
    pub fn bytes(&self) -> &'a [u8] {
        match self {
            Unsealed::Verified(b) | Unsealed::Legacy(b) => b,
        }
    }
}

/// Checks a sealed value; `what` names it in the error (`SHEAF_ERR_CORRUPT`) on a mismatch.
pub fn unseal<'a>(bytes: &'a [u8], what: impl FnOnce() -> String) -> Result<Unsealed<'a>> {
    let Some(body_len) = bytes.len().checked_sub(TRAILER) else {
        return Ok(Unsealed::Legacy(bytes));
    };
    if &bytes[body_len + 8..] != MAGIC {
        return Ok(Unsealed::Legacy(bytes));
    }
    let (payload, trailer) = bytes.split_at(body_len);
    let stored = u64::from_le_bytes(trailer[..8].try_into().unwrap_or_default());
    if hash(payload) != stored {
        return Err(Error::corrupt(format!(
            "checksum mismatch: {} is damaged",
            what()
        )));
    }
    Ok(Unsealed::Verified(payload))
}

/// Checks a segment's bytes against the checksum its version record holds (none for segments
/// written before checksums existed).
pub fn verify_segment(
    bytes: &[u8],
    expected: Option<u64>,
    what: impl FnOnce() -> String,
) -> Result<()> {
    match expected {
        Some(h) if hash(bytes) != h => Err(Error::corrupt(format!(
            "checksum mismatch: {} is damaged",
            what()
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_single_byte_flip_is_detected() {
        let sealed = seal(b"{\"a\":1}".to_vec());
        assert!(matches!(
            unseal(&sealed, String::new).unwrap(),
            Unsealed::Verified(b"{\"a\":1}")
        ));
        for i in 0..sealed.len() {
            for bit in 0..8 {
                let mut damaged = sealed.clone();
                damaged[i] ^= 1 << bit;
                match unseal(&damaged, String::new) {
                    Err(e) => assert_eq!(e.kind(), crate::error::ErrorKind::Corrupt),
                    // Only a damaged magic falls back to legacy, and then the payload carries
                    // the 12 trailer bytes that a strict parse refuses.
                    Ok(Unsealed::Legacy(b)) => {
                        assert!(i >= sealed.len() - 4);
                        assert!(serde_json::from_slice::<serde_json::Value>(b).is_err());
                    }
                    Ok(Unsealed::Verified(_)) => panic!("flip at byte {i} bit {bit} undetected"),
                }
            }
        }
    }
}
