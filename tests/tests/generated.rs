//! The code generated for each spec under `tests/specs/`, formatted as `netspec-build` writes
//! it, is snapshotted (`tests/snapshots/generated/<name>.snap`): a change to the generator shows
//! up as a reviewable diff of the code users get.
//!
//! Re-generate after an intended change: `INSTA_UPDATE=always cargo test -p netspec-tests --test
//! generated`, then review `git diff tests/snapshots/generated/`.

use std::path::Path;

use netspec_tests::{crate_dir, spec_files};

#[test]
fn generated_code_matches_its_snapshot() {
    let files = spec_files(&crate_dir().join("specs"));
    assert!(files.len() >= 6, "tests/specs/ has only {} specs", files.len());
    for path in files {
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        // A path relative to this crate, so the `@generated` header is the same on every machine.
        let relative = Path::new("specs").join(format!("{name}.nn"));
        let code = netspec_build::Config::new()
            .generate(&relative)
            .unwrap_or_else(|error| panic!("{} does not generate:{error:?}", relative.display()));
        insta::with_settings!({
            snapshot_path => crate_dir().join("snapshots/generated"),
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => relative.display().to_string(),
        }, {
            insta::assert_snapshot!(name, code);
        });
    }
}
