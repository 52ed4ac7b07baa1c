//! Snapshots: library-wide named pins of (symbol, version) pairs, stored under
//! `T\0<library>\0n\0<name>`. A version a snapshot holds keeps its segments after it is
//! deleted from the chain, and stays readable through the snapshot.
//!
//! Encoding: `SHS1` | u32 LE JSON length | JSON `{"timestamp_ns", "versions": [[sym, v], …]}` |
//! u8 has-metadata | u64 LE length | metadata bytes.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const MAGIC: &[u8; 4] = b"SHS1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SnapshotHeader {
    timestamp_ns: i64,
    versions: Vec<(String, u64)>,
}

/// A decoded snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub name: String,
    pub timestamp_ns: i64,
    /// (symbol, version) pairs, sorted by symbol.
    pub versions: Vec<(String, u64)>,
    pub metadata: Option<Vec<u8>>,
}

impl Snapshot {
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        let header = serde_json::to_vec(&SnapshotHeader {
            timestamp_ns: self.timestamp_ns,
            versions: self.versions.clone(),
        })?;
        let meta = self.metadata.as_deref();
        let mut out = Vec::with_capacity(20 + header.len() + meta.map_or(0, <[u8]>::len));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.push(meta.is_some() as u8);
        out.extend_from_slice(&(meta.map_or(0, <[u8]>::len) as u64).to_le_bytes());
        out.extend_from_slice(meta.unwrap_or_default());
        Ok(crate::checksum::seal(out))
    }

    /// Decodes a snapshot, verifying its checksum (see [`crate::checksum`]).
    pub(crate) fn decode(name: &str, bytes: &[u8]) -> Result<Snapshot> {
        let bytes = crate::checksum::unseal(bytes, || format!("snapshot '{name}'"))?.bytes();
        let bad = || Error::corrupt(format!("snapshot '{name}' cannot be decoded"));
        let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or_else(bad)?;
        let len = u32::from_le_bytes(
            rest.get(..4)
                .ok_or_else(bad)?
                .try_into()
                .map_err(|_| bad())?,
        ) as usize;
        let header: SnapshotHeader = serde_json::from_slice(rest.get(4..4 + len).ok_or_else(bad)?)
            .map_err(|e| bad().caused_by(e))?;
        let rest = &rest[4 + len..];
        let has_meta = *rest.first().ok_or_else(bad)? != 0;
        let meta_len = u64::from_le_bytes(
            rest.get(1..9)
                .ok_or_else(bad)?
                .try_into()
                .map_err(|_| bad())?,
        );
        let meta_end = 9 + usize::try_from(meta_len).map_err(|_| bad())?;
        let meta = rest.get(9..meta_end).ok_or_else(bad)?;
        if rest.len() != meta_end {
            return Err(bad());
        }
        Ok(Snapshot {
            name: name.to_string(),
            timestamp_ns: header.timestamp_ns,
            versions: header.versions,
            metadata: has_meta.then(|| meta.to_vec()),
        })
    }

    /// The version of `symbol` this snapshot holds.
    pub fn version_of(&self, symbol: &str) -> Option<u64> {
        self.versions
            .iter()
            .find(|(s, _)| s == symbol)
            .map(|(_, v)| *v)
    }
}
