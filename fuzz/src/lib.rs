//! The checks the fuzz targets run, shared with the stable replay test of the saved corpus.

#[path = "../../tests/fuzz_checks.rs"]
pub mod checks;
