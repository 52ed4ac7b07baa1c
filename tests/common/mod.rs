//! Helpers shared by integration tests (each test binary that uses them declares `mod common;`).

#![allow(dead_code)]

pub mod s3;
