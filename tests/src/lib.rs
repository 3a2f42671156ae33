//! Shared helpers for the workspace-level tests of netspec: the malformed-spec corpus, the
//! valid specs and the property tests.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

/// The directory of this crate (`tests/`).
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.nn` file directly under `dir`, sorted by name.
pub fn spec_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "nn"))
        .collect();
    files.sort();
    files
}

/// The valid specs the mutation-based tests start from: the repository's `specs/` and this
/// crate's `valid/`.
pub fn valid_spec_texts() -> Vec<(String, String)> {
    let mut specs = Vec::new();
    for dir in [crate_dir().join("../specs"), crate_dir().join("valid")] {
        for path in spec_files(&dir) {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            specs.push((path.display().to_string(), text));
        }
    }
    specs
}
