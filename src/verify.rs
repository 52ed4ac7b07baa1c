//! `verify` and `reclaim`: walking a whole store.
//!
//! `verify` decodes every record, snapshot, staged chunk and registry entry (each checksum
//! checked), reads every segment a live version, a snapshot or a pending staged chunk refers to
//! (present, and matching the checksum its record holds), and lists *leftovers*: keys nothing
//! refers to — segments of interrupted writes, staged chunks a crash left after they were
//! consumed, and the data of libraries, key spaces and collections whose drop was interrupted.
//!
//! `reclaim` removes leftovers, and is safe while other processes work: the data of a dropped
//! name and consumed chunks can never be referenced again, and an unreferenced segment is
//! removed only once it is older than a grace period, because a write in progress has written
//! segments that its version record will refer to only when it commits. A write that takes
//! longer than the grace period must not run beside a `reclaim` (the default grace is a day).

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;

use crate::error::Result;
use crate::storage::{self, KeyRange, SharedStorage, WriteOp};
use crate::store::{LibraryOptions, Store};

/// Why a key is a leftover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftoverKind {
    /// A segment no live version, snapshot or pending staged chunk refers to.
    UnreferencedSegment,
    /// A staged chunk a committed record already consumed.
    ConsumedChunk,
    /// Data of a library, key space or collection that was dropped (or re-created since).
    DroppedData,
}

/// One leftover key (for dropped data: the prefix of all of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub key: Vec<u8>,
    pub kind: LeftoverKind,
    /// When it was written, where that is known (segments).
    pub written_ns: Option<u64>,
}

/// A value that cannot be read back as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The key, with `\0` separators shown as `/`.
    pub key: String,
    pub problem: String,
}

/// What [`Store::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Values decoded and checked.
    pub checked: u64,
    pub problems: Vec<Problem>,
    pub leftovers: Vec<Leftover>,
}

fn shown(key: &[u8]) -> String {
    String::from_utf8_lossy(key).replace('\0', "/")
}

impl VerifyReport {
    pub(crate) fn problem(&mut self, key: &[u8], problem: &str) {
        self.problems.push(Problem {
            key: shown(key),
            problem: problem.to_string(),
        });
    }

    /// The report as JSON: `{"checked": N, "problems": [{"key", "problem"}],
    /// "leftovers": [{"key", "kind", "written_ns"}]}`.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct LeftoverJson<'a> {
            key: String,
            kind: &'a LeftoverKind,
            written_ns: Option<u64>,
        }
        #[derive(Serialize)]
        struct Json<'a> {
            checked: u64,
            problems: &'a [Problem],
            leftovers: Vec<LeftoverJson<'a>>,
        }
        serde_json::to_string(&Json {
            checked: self.checked,
            problems: &self.problems,
            leftovers: self
                .leftovers
                .iter()
                .map(|l| LeftoverJson {
                    key: shown(&l.key),
                    kind: &l.kind,
                    written_ns: l.written_ns,
                })
                .collect(),
        })
        .unwrap_or_default()
    }
}

/// What [`Store::reclaim`] removed. JSON: `{"removed_keys": N, "kept_young_segments": M}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReclaimReport {
    pub removed_keys: u64,
    /// Unreferenced segments left alone because they are younger than the grace period.
    pub kept_young_segments: u64,
}

/// The data prefixes of every dropped name: top-level data prefixes (`I\0<id>\0`, ...) that no
/// registry entry points to.
fn dropped_prefixes(storage: &SharedStorage, live: &BTreeSet<Vec<u8>>) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for tag in crate::keys::DATA_TAGS {
        let range = KeyRange::prefix(tag);
        let mut start = tag.to_vec();
        while let Some(key) = storage::first_key_from(storage.as_ref(), &start, &range.end)? {
            let rest = &key[tag.len()..];
            let Some(end) = rest.iter().position(|b| *b == 0) else {
                break;
            };
            let prefix = key[..tag.len() + end + 1].to_vec();
            if !live.contains(&prefix) {
                out.push(prefix.clone());
            }
            match storage::prefix_successor(&prefix) {
                Some(next) => start = next,
                None => break,
            }
        }
    }
    Ok(out)
}

/// Parses `sheaf_store_reclaim`'s options: `{"grace_seconds": 86400}` (empty: the default).
pub fn parse_reclaim_options(text: &str) -> Result<Duration> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Options {
        #[serde(default = "default_grace")]
        grace_seconds: f64,
    }
    fn default_grace() -> f64 {
        DEFAULT_GRACE.as_secs_f64()
    }
    if text.trim().is_empty() {
        return Ok(DEFAULT_GRACE);
    }
    let options: Options = serde_json::from_str(text).map_err(|e| {
        crate::error::Error::new(
            crate::error::ErrorKind::InvalidJson,
            "invalid reclaim options",
        )
        .caused_by(e)
    })?;
    if !(options.grace_seconds >= 0.0 && options.grace_seconds.is_finite()) {
        return Err(crate::error::Error::invalid(format!(
            "grace_seconds must be a finite number >= 0, not {}",
            options.grace_seconds
        )));
    }
    Ok(Duration::from_secs_f64(options.grace_seconds))
}

/// How old an unreferenced segment must be before `reclaim` removes it, by default.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 3600);

impl Store {
    fn walk(&self, check_data: bool) -> Result<VerifyReport> {
        let storage = self.storage()?;
        let mut report = VerifyReport::default();
        let mut live: BTreeSet<Vec<u8>> = BTreeSet::new();
        let stage = if check_data { "verify" } else { "reclaim" };
        let libraries = self.list_libraries()?;
        let spaces = self.list_kv()?;
        let collections = self.list_collections()?;
        let total = (libraries.len() + spaces.len() + collections.len()) as u64;
        let mut done = 0u64;
        let mut step = || {
            done += 1;
            crate::progress::report(stage, "entries", done, total);
        };
        for name in libraries {
            step();
            report.checked += 1;
            match self.open_library(&name, false, LibraryOptions::default()) {
                Ok(lib) => {
                    live.insert(lib.inner.prefix.clone());
                    lib.verify_tables(&storage, check_data, &mut report)?;
                }
                Err(e) => report.problem(&crate::store::library_key(&name), e.message()),
            }
        }
        for name in spaces {
            step();
            report.checked += 1;
            match self.kv_entries_prefix(&name) {
                Ok(p) => {
                    live.insert(p);
                }
                Err(e) => report.problem(&crate::kv::space_key(&name), e.message()),
            }
        }
        for name in collections {
            step();
            report.checked += 1;
            match self.collection_docs_prefix(&name) {
                Ok(p) => {
                    live.insert(p);
                }
                Err(e) => report.problem(&crate::collection::registry_key(&name), e.message()),
            }
        }
        for prefix in dropped_prefixes(&storage, &live)? {
            report.leftovers.push(Leftover {
                key: prefix,
                kind: LeftoverKind::DroppedData,
                written_ns: None,
            });
        }
        Ok(report)
    }

    /// Checks every value and reference of the store and lists leftovers (see the module doc).
    /// Reads all data; problems are reported, not returned as errors.
    pub fn verify(&self) -> Result<VerifyReport> {
        self.walk(true)
    }

    /// Removes leftovers: dropped data and consumed chunks at once, unreferenced segments once
    /// older than `grace`. Safe beside other processes (see the module doc).
    pub fn reclaim(&self, grace: Duration) -> Result<ReclaimReport> {
        let storage = self.storage()?;
        let report = self.walk(false)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let cutoff = now.saturating_sub(grace.as_nanos() as u64);
        let mut out = ReclaimReport::default();
        let mut doomed: Vec<Vec<u8>> = Vec::new();
        for leftover in report.leftovers {
            match leftover.kind {
                LeftoverKind::DroppedData => {
                    out.removed_keys += storage::delete_prefix(storage.as_ref(), &leftover.key)?;
                }
                LeftoverKind::ConsumedChunk => doomed.push(leftover.key),
                LeftoverKind::UnreferencedSegment => {
                    if leftover.written_ns.is_some_and(|t| t <= cutoff) {
                        doomed.push(leftover.key);
                    } else {
                        out.kept_young_segments += 1;
                    }
                }
            }
        }
        let total = doomed.len() as u64;
        for (page_number, page) in doomed.chunks(4096).enumerate() {
            let ops: Vec<WriteOp<'_>> = page.iter().map(|k| WriteOp::Delete(k)).collect();
            storage.write_batch(&ops)?;
            out.removed_keys += page.len() as u64;
            let done = (page_number * 4096 + page.len()) as u64;
            crate::progress::report("reclaim", "keys", done, total);
        }
        crate::config::log(crate::config::LogLevel::Info, || {
            format!(
                "reclaim removed {} key(s); {} young segment(s) kept",
                out.removed_keys, out.kept_young_segments
            )
        });
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_json_shows_keys_readably() {
        let mut report = VerifyReport {
            checked: 3,
            ..Default::default()
        };
        report.problem(b"I\0x\0v\0s\0", "checksum mismatch");
        report.leftovers.push(Leftover {
            key: b"I\0x\0s\0s\0seg".to_vec(),
            kind: LeftoverKind::UnreferencedSegment,
            written_ns: Some(7),
        });
        report.leftovers.push(Leftover {
            key: b"W\0old\0".to_vec(),
            kind: LeftoverKind::DroppedData,
            written_ns: None,
        });
        assert_eq!(
            report.to_json(),
            r#"{"checked":3,"problems":[{"key":"I/x/v/s/","problem":"checksum mismatch"}],"leftovers":[{"key":"I/x/s/s/seg","kind":"unreferenced_segment","written_ns":7},{"key":"W/old/","kind":"dropped_data","written_ns":null}]}"#
        );
    }

    #[test]
    fn reclaim_options_default_to_a_day_and_refuse_nonsense() {
        assert_eq!(parse_reclaim_options("").unwrap(), DEFAULT_GRACE);
        assert_eq!(parse_reclaim_options("{}").unwrap(), DEFAULT_GRACE);
        assert_eq!(DEFAULT_GRACE, Duration::from_secs(86_400));
        assert_eq!(
            parse_reclaim_options(r#"{"grace_seconds": 1.5}"#).unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(
            parse_reclaim_options(r#"{"grace_seconds": 0}"#).unwrap(),
            Duration::ZERO
        );
        for bad in [
            r#"{"grace_seconds": -1}"#,
            r#"{"grace": 1}"#,
            "[",
            r#"{"grace_seconds": 1e400}"#,
        ] {
            assert!(parse_reclaim_options(bad).is_err(), "{bad}");
        }
    }
}
