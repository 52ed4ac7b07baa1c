//! The key layout: every key Sheaf writes into a [`crate::storage`] backend, in one place.
//! Storage sees only bytes; this module says what they mean. The `\0` separators are safe
//! because names may not hold control characters (`store::validate_name`).
//!
//! Registry (one entry per name; deleting it is the whole, atomic drop):
//!
//! - `L\0<library>` → the library's options and incarnation (JSON)
//! - `K\0<key space>` → the key space's options and incarnation
//! - `C\0<collection>` → the collection's counters and incarnation
//!
//! Data, under a prefix per *incarnation* (a fresh id for each creation of a name, so a name
//! dropped and created again never sees the old data; names created before incarnations
//! existed use the legacy tag and their name instead of an id):
//!
//! | what | prefix | legacy prefix |
//! |---|---|---|
//! | a library's tables | `I\0<id>\0` | `T\0<library>\0` |
//! | a key space's entries | `W\0<id>\0<key>` | `V\0<space>\0<key>` |
//! | a collection's documents | `E\0<id>\0<document id, u64 big-endian>` | `D\0<collection>\0…` |
//!
//! Inside a library's prefix ([`TableKeys`]):
//!
//! - `v\0<symbol>\0<version, u64 big-endian>` → a version record (`table::record`)
//! - `s\0<symbol>\0<segment id>` → a segment (`table::segment`)
//! - `g\0<symbol>\0<chunk id>` → a staged chunk (`table::staging`)
//! - `n\0<snapshot>` → a snapshot (`table::snapshot`)
//! - `h\0<symbol>` → a hint: a version number of the symbol known to be committed (u64
//!   big-endian), kept only on storage that prefers point reads (`table::commit`)

/// Registry tag of libraries.
pub(crate) const LIBRARY_REGISTRY: &[u8] = b"L\0";
/// Registry tag of key spaces.
pub(crate) const KEY_SPACE_REGISTRY: &[u8] = b"K\0";
/// Registry tag of collections.
pub(crate) const COLLECTION_REGISTRY: &[u8] = b"C\0";

/// The (tag, legacy tag) pair of each kind of data prefix.
pub(crate) const LIBRARY_DATA: (u8, u8) = (b'I', b'T');
pub(crate) const KEY_SPACE_DATA: (u8, u8) = (b'W', b'V');
pub(crate) const COLLECTION_DATA: (u8, u8) = (b'E', b'D');

/// Every top-level data tag (current and legacy), for finding data no name points to.
pub(crate) const DATA_TAGS: [&[u8]; 6] = [b"I\0", b"T\0", b"W\0", b"V\0", b"E\0", b"D\0"];

/// `registry` followed by `name`: the registry entry of a library, key space or collection.
pub(crate) fn registry_key(registry: &[u8], name: &str) -> Vec<u8> {
    let mut key = registry.to_vec();
    key.extend_from_slice(name.as_bytes());
    key
}

/// Where the data of one creation of a name lives: `<tag>\0<incarnation>\0`, or, for names
/// created before incarnations existed, `<legacy tag>\0<name>\0`.
pub(crate) fn data_prefix(tags: (u8, u8), name: &str, incarnation: Option<&str>) -> Vec<u8> {
    let (tag, id) = match incarnation {
        Some(id) => (tags.0, id),
        None => (tags.1, name),
    };
    let mut key = Vec::with_capacity(id.len() + 3);
    key.extend_from_slice(&[tag, 0]);
    key.extend_from_slice(id.as_bytes());
    key.push(0);
    key
}

/// A key-space entry: the space's data prefix followed by the caller's key bytes.
pub(crate) fn entry_key(prefix: &[u8], key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + key.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(key);
    k
}

/// A document: the collection's data prefix followed by the id, big-endian (so documents scan
/// in id order).
pub(crate) fn document_key(prefix: &[u8], id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// The keys of one library's tables, under its data prefix.
pub(crate) struct TableKeys<'a> {
    pub prefix: &'a [u8],
}

impl TableKeys<'_> {
    fn under(&self, tag: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.prefix.len() + tag.len() + 32);
        k.extend_from_slice(self.prefix);
        k.extend_from_slice(tag);
        k
    }

    fn of_symbol(&self, tag: &[u8], symbol: &str) -> Vec<u8> {
        let mut k = self.under(tag);
        k.extend_from_slice(symbol.as_bytes());
        k.push(0);
        k
    }

    /// The prefix of every symbol's version records.
    pub fn versions_of_all(&self) -> Vec<u8> {
        self.under(b"v\0")
    }

    pub fn versions_of(&self, symbol: &str) -> Vec<u8> {
        self.of_symbol(b"v\0", symbol)
    }

    pub fn version(&self, symbol: &str, version: u64) -> Vec<u8> {
        let mut k = self.versions_of(symbol);
        k.extend_from_slice(&version.to_be_bytes());
        k
    }

    /// The version number at the end of a version key.
    pub fn version_of_key(key: &[u8]) -> Option<u64> {
        let tail: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
        Some(u64::from_be_bytes(tail))
    }

    /// The prefix of every symbol's segments.
    pub fn segments_of_all(&self) -> Vec<u8> {
        self.under(b"s\0")
    }

    pub fn segments_of(&self, symbol: &str) -> Vec<u8> {
        self.of_symbol(b"s\0", symbol)
    }

    pub fn segment(&self, symbol: &str, id: &str) -> Vec<u8> {
        let mut k = self.segments_of(symbol);
        k.extend_from_slice(id.as_bytes());
        k
    }

    /// The prefix of every symbol's staged chunks.
    pub fn staging_of_all(&self) -> Vec<u8> {
        self.under(b"g\0")
    }

    pub fn staging_of(&self, symbol: &str) -> Vec<u8> {
        self.of_symbol(b"g\0", symbol)
    }

    pub fn staged_chunk(&self, symbol: &str, id: &str) -> Vec<u8> {
        let mut k = self.staging_of(symbol);
        k.extend_from_slice(id.as_bytes());
        k
    }

    /// Where the symbol's head hint lives (see the module docs).
    pub fn head_hint(&self, symbol: &str) -> Vec<u8> {
        let mut k = self.under(b"h\0");
        k.extend_from_slice(symbol.as_bytes());
        k
    }

    /// The prefix of every snapshot.
    pub fn snapshots(&self) -> Vec<u8> {
        self.under(b"n\0")
    }

    pub fn snapshot(&self, name: &str) -> Vec<u8> {
        let mut k = self.snapshots();
        k.extend_from_slice(name.as_bytes());
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_what_the_module_documents() {
        let keys = TableKeys { prefix: b"I\0x\0" };
        assert_eq!(keys.version("s", 2), b"I\0x\0v\0s\0\0\0\0\0\0\0\0\x02");
        assert_eq!(
            TableKeys::version_of_key(&keys.version("s", 258)),
            Some(258)
        );
        assert_eq!(keys.segment("s", "id"), b"I\0x\0s\0s\0id");
        assert_eq!(keys.staging_of("s"), b"I\0x\0g\0s\0");
        assert_eq!(keys.staged_chunk("s", "c"), b"I\0x\0g\0s\0c");
        assert_eq!(keys.versions_of_all(), b"I\0x\0v\0");
        assert_eq!(keys.segments_of_all(), b"I\0x\0s\0");
        assert_eq!(keys.staging_of_all(), b"I\0x\0g\0");
        assert_eq!(keys.snapshots(), b"I\0x\0n\0");
        assert_eq!(keys.snapshot("n"), b"I\0x\0n\0n");
        assert_eq!(data_prefix(LIBRARY_DATA, "lib", Some("7")), b"I\x007\0");
        assert_eq!(data_prefix(LIBRARY_DATA, "lib", None), b"T\0lib\0");
        assert_eq!(registry_key(KEY_SPACE_REGISTRY, "sp"), b"K\0sp");
        assert_eq!(entry_key(b"W\0i\0", b"k\0"), b"W\0i\0k\0");
        assert_eq!(document_key(b"E\0i\0", 258), b"E\0i\0\0\0\0\0\0\0\x01\x02");
    }
}
