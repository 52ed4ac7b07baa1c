//! Helpers shared by the integration tests of `tests/it`.

#![allow(dead_code)]

pub mod s3;
