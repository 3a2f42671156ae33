//! The malformed-spec corpus: every file under `tests/malformed/` must fail to check, with
//! diagnostics that point inside the text, and its rendered diagnostics (errors and any
//! warnings) are snapshotted (`tests/snapshots/<name>.snap`).
//!
//! Re-generate the snapshots after changing a message: `INSTA_UPDATE=always cargo test -p
//! netspec-tests --test malformed` (or `cargo insta test -p netspec-tests --accept`), then review
//! `git diff tests/snapshots/`.

use netspec_grammar::SourceFile;
use netspec_tests::{crate_dir, spec_files};

#[test]
fn every_malformed_spec_fails_with_located_diagnostics() {
    let dir = crate_dir().join("malformed");
    let files = spec_files(&dir);
    assert!(files.len() >= 70, "the corpus has only {} files", files.len());

    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let shown = format!("malformed/{name}.nn");
        let bytes = std::fs::read(path).unwrap();
        let source = SourceFile::from_bytes(shown.clone(), &bytes);
        let (checked, warnings) = source.check_with_warnings();
        let mut diagnostics = match checked {
            Ok(networks) => {
                failures.push(format!("{shown}: checked OK ({} networks)", networks.len()));
                continue;
            }
            Err(errors) => errors,
        };
        if diagnostics.is_empty() {
            failures.push(format!("{shown}: failed with no diagnostics"));
        }
        // Warnings are rendered beside the errors, in the order of the text, as `netspec
        // check` shows them.
        diagnostics.extend(warnings);
        diagnostics.sort_by_key(|d| d.span.start);
        for d in &diagnostics {
            let ok = d.span.start <= d.span.end
                && d.span.end <= source.text.len()
                && source.text.is_char_boundary(d.span.start)
                && source.text.is_char_boundary(d.span.end);
            if !ok {
                failures.push(format!(
                    "{shown}: span {:?} of `{}` is not within the text ({} bytes)",
                    d.span,
                    d.message,
                    source.text.len()
                ));
            }
        }
        let rendered = source.render(&diagnostics);
        for d in &diagnostics {
            let at = netspec_grammar::LineCol::of(&source.text, d.span.start);
            let location = format!("--> {shown}:{}:{}", at.line, at.column);
            if !rendered.contains(&location) {
                failures.push(format!("{shown}: `{}` is not rendered at `{location}`", d.message));
            }
        }
        if rendered.matches("--> ").count() != diagnostics.len() {
            failures.push(format!("{shown}: not every diagnostic renders a `-->` location"));
        }

        // Every snapshot is compared even when an earlier one differs, so that one run lists
        // them all.
        let matched = std::panic::catch_unwind(|| {
            insta::with_settings!({
                snapshot_path => crate_dir().join("snapshots"),
                prepend_module_to_snapshot => false,
                omit_expression => true,
                description => shown.clone(),
            }, {
                insta::assert_snapshot!(name.clone(), rendered);
            });
        });
        if matched.is_err() {
            failures
                .push(format!("{shown}: rendered diagnostics differ from snapshots/{name}.snap"));
        }
    }
    assert!(failures.is_empty(), "{} problems:\n{}", failures.len(), failures.join("\n"));
}

/// A snapshot whose spec was deleted or renamed would linger unchecked.
#[test]
fn every_snapshot_belongs_to_a_malformed_spec() {
    let snapshots = crate_dir().join("snapshots");
    let mut stale = Vec::new();
    for entry in std::fs::read_dir(&snapshots).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let Some(stem) = name.strip_suffix(".snap") else { continue };
        if !crate_dir().join("malformed").join(format!("{stem}.nn")).exists() {
            stale.push(name);
        }
    }
    assert!(stale.is_empty(), "snapshots without a spec in malformed/: {stale:?}");
}
