//! Process-wide runtime configuration and the log sink.
//!
//! Keys (documented in the header next to `sheaf_config_set_int`):
//!
//! | key                  | type        | default | meaning |
//! |----------------------|-------------|---------|---------|
//! | `log_level`          | int/string  | 2 (warn)| 0 off, 1 error, 2 warn, 3 info, 4 debug, 5 trace |
//! | `lmdb.map_size`      | int/string  | 64 GiB  | map size of LMDB stores opened afterwards without `?map_size=` |
//! | `commit.max_retries` | int         | 1000    | how often a commit that lost a race is re-based before `Conflict` |
//! | `read.threads`       | int         | 0 (all cores) | threads one read uses to load and decode segments; 1 = the caller's thread only |

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};

use parking_lot::RwLock;

use crate::error::{Error, ErrorKind, Result};

/// Log levels, as numbers that cross the C ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum LogLevel {
    Off = 0,
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

impl LogLevel {
    fn from_i64(v: i64) -> Option<Self> {
        Some(match v {
            0 => LogLevel::Off,
            1 => LogLevel::Error,
            2 => LogLevel::Warn,
            3 => LogLevel::Info,
            4 => LogLevel::Debug,
            5 => LogLevel::Trace,
            _ => return None,
        })
    }

    fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "off" => LogLevel::Off,
            "error" => LogLevel::Error,
            "warn" | "warning" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            _ => return None,
        })
    }
}

const DEFAULT_MAP_SIZE: u64 = 64 << 30;

static LOG_LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Warn as u8);
static MAP_SIZE: AtomicU64 = AtomicU64::new(DEFAULT_MAP_SIZE);
static MAX_RETRIES: AtomicI64 = AtomicI64::new(1000);
static READ_THREADS: AtomicI64 = AtomicI64::new(0);

/// Receives every log record at or above the configured level.
pub type LogSink = Box<dyn Fn(LogLevel, &str) + Send + Sync>;

static LOG_SINK: RwLock<Option<LogSink>> = RwLock::new(None);

/// The keys `set_int` and `set_string` accept.
pub const KEYS: &[&str] = &[
    "log_level",
    "lmdb.map_size",
    "commit.max_retries",
    "read.threads",
];

fn unknown_key(key: &str) -> Error {
    Error::new(
        ErrorKind::UnknownConfigKey,
        format!(
            "unknown configuration key '{key}' (known: {})",
            KEYS.join(", ")
        ),
    )
}

/// Sets an integer configuration value.
pub fn set_int(key: &str, value: i64) -> Result<()> {
    match key {
        "log_level" => {
            let level = LogLevel::from_i64(value)
                .ok_or_else(|| Error::invalid(format!("log_level must be 0..=5, not {value}")))?;
            LOG_LEVEL.store(level as u8, Ordering::Relaxed);
        }
        "lmdb.map_size" => {
            if value < 1 << 20 {
                return Err(Error::invalid(format!(
                    "lmdb.map_size must be at least 1 MiB, not {value}"
                )));
            }
            MAP_SIZE.store(value as u64, Ordering::Relaxed);
        }
        "commit.max_retries" => {
            if value < 0 {
                return Err(Error::invalid("commit.max_retries must not be negative"));
            }
            MAX_RETRIES.store(value, Ordering::Relaxed);
        }
        "read.threads" => {
            if !(0..=1024).contains(&value) {
                return Err(Error::invalid(format!(
                    "read.threads must be 0 (all cores) .. 1024, not {value}"
                )));
            }
            READ_THREADS.store(value, Ordering::Relaxed);
        }
        other => return Err(unknown_key(other)),
    }
    Ok(())
}

/// Sets a configuration value from text (`"debug"`, `"64GB"`, or a number).
pub fn set_string(key: &str, value: &str) -> Result<()> {
    match key {
        "log_level" => match LogLevel::from_name(value) {
            Some(level) => set_int(key, level as i64),
            None => match value.parse::<i64>() {
                Ok(n) => set_int(key, n),
                Err(_) => Err(Error::invalid(format!(
                    "log_level '{value}' is not one of off, error, warn, info, debug, trace"
                ))),
            },
        },
        "lmdb.map_size" => {
            let size = parse_size(value)?;
            set_int(
                key,
                i64::try_from(size).map_err(|_| Error::invalid("map size too large"))?,
            )
        }
        "commit.max_retries" | "read.threads" => {
            let n = value
                .parse::<i64>()
                .map_err(|_| Error::invalid(format!("{key} '{value}' is not a number")))?;
            set_int(key, n)
        }
        other => Err(unknown_key(other)),
    }
}

pub(crate) fn lmdb_map_size() -> u64 {
    MAP_SIZE.load(Ordering::Relaxed)
}

pub(crate) fn max_commit_retries() -> u64 {
    MAX_RETRIES.load(Ordering::Relaxed) as u64
}

/// How many threads one read may use (at least 1).
pub(crate) fn read_threads() -> usize {
    match READ_THREADS.load(Ordering::Relaxed) {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n as usize,
    }
}

/// Installs (or with `None` removes) the function that receives log records.
pub fn set_log_sink(sink: Option<LogSink>) {
    *LOG_SINK.write() = sink;
}

/// Whether a record at `level` would be delivered.
pub fn log_enabled(level: LogLevel) -> bool {
    level != LogLevel::Off && (level as u8) <= LOG_LEVEL.load(Ordering::Relaxed)
}

/// Delivers a record to the sink, if one is installed and the level is enabled.
pub fn log(level: LogLevel, message: impl FnOnce() -> String) {
    if !log_enabled(level) {
        return;
    }
    if let Some(sink) = LOG_SINK.read().as_ref() {
        sink(level, &one_line(message()));
    }
}

/// A message with its control characters escaped (`\n` → `\\n`, others as `\\u{..}`):
/// messages quote user input (column and symbol names), and a newline in a name must not forge
/// a second log record.
fn one_line(message: String) -> String {
    if !message.chars().any(char::is_control) {
        return message;
    }
    message
        .chars()
        .map(|c| match c {
            '\n' => "\\n".to_string(),
            '\r' => "\\r".to_string(),
            '\t' => "\\t".to_string(),
            c if c.is_control() => format!("\\u{{{:x}}}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

/// Parses sizes like `1048576`, `512MB`, `64GB`, `1TB` (binary multiples, as ArcticDB does).
pub fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits_end);
    let bad = || {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("'{text}' is not a size (examples: 1048576, 512MB, 64GB, 1TB)"),
        )
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(bad()),
    };
    n.checked_mul(1u64 << shift).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_messages_are_one_line() {
        assert_eq!(super::one_line("plain".into()), "plain");
        assert_eq!(
            super::one_line("column 'a\nCRITICAL sheaf: forged\r\x07' is missing".into()),
            "column 'a\\nCRITICAL sheaf: forged\\r\\u{7}' is missing"
        );
    }

    #[test]
    fn sizes_parse_in_binary_multiples() {
        use super::parse_size;
        assert_eq!(parse_size("64GB").unwrap(), 64 << 30);
        assert_eq!(parse_size("1tb").unwrap(), 1 << 40);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("").is_err());
    }
}
