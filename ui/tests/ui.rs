//! Compile-time tests of the `network!` macro: specs that must compile and run, and realistic
//! mistakes whose diagnostics (one error at the offending token, then its help at the same
//! token, since a stable proc macro cannot print `= help:` below a location) are
//! pinned in `tests/ui/fail/*.stderr`. Regenerate those with
//! `TRYBUILD=overwrite cargo test -p netspec-ui`, then read every diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
