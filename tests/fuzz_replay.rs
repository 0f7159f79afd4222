//! Replays the saved fuzz corpus (`fuzz/corpus/<target>/`) through the fuzz targets' own
//! checks, on stable and without libFuzzer: every file must pass, none may panic. Crashing
//! inputs found while fuzzing stay in the corpus, so this is also their regression test.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

#[path = "fuzz_checks.rs"]
mod checks;

#[test]
fn saved_fuzz_corpus_replays_without_a_failure() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut failures = Vec::new();
    for &(target, check) in checks::TARGETS {
        let dir = corpus.join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("corpus entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: no saved inputs", dir.display());
        for file in files {
            let bytes = std::fs::read(&file).expect("read a corpus file");
            if catch_unwind(AssertUnwindSafe(|| check(&bytes))).is_err() {
                failures.push(file.display().to_string());
            }
        }
    }
    assert!(failures.is_empty(), "checks failed on: {failures:#?}");
}
