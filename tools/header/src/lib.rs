//! Nothing to link: this package holds the header check in `tests/header.rs`.
