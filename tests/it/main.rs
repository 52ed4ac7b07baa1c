//! The Rust integration tests, one binary: each module below was a test binary of its own, and
//! with DataFusion in the library every binary costs a link of the whole tree. The exception is
//! `tests/commit_retries.rs`, which changes a process-wide setting and keeps its own process.

mod common;

mod commit_protocol;
mod corruption;
mod ffi;
mod kv;
mod progress;
mod query;
mod sql;
mod storage;
mod table;
mod timeseries;
