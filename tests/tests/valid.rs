//! Every spec under `specs/` and `tests/valid/` must check without errors.

use netspec_grammar::SourceFile;
use netspec_tests::{crate_dir, spec_files};

fn check_all(dir: &str, at_least: usize) {
    let dir = crate_dir().join(dir);
    let files = spec_files(&dir);
    assert!(files.len() >= at_least, "{} holds only {} specs", dir.display(), files.len());
    let mut failures = Vec::new();
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let source = SourceFile::from_bytes(path.display().to_string(), &bytes);
        match source.check() {
            Ok(networks) => assert!(!networks.is_empty(), "{}: no network", path.display()),
            Err(diagnostics) => failures.push(source.render(&diagnostics)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn repository_specs_pass() {
    check_all("../specs", 1);
}

#[test]
fn valid_specs_pass() {
    check_all("valid", 6);
}
