//! Every spec under `specs/` and `tests/valid/` must check without errors or warnings; a spec
//! with only warnings checks too.

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
        let (checked, warnings) = source.check_with_warnings();
        match checked {
            Ok(networks) => assert!(!networks.is_empty(), "{}: no network", path.display()),
            Err(diagnostics) => failures.push(source.render(&diagnostics)),
        }
        if !warnings.is_empty() {
            failures.push(source.render(&warnings));
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

#[test]
fn a_spec_with_only_a_parameter_count_warning_checks_and_generates() {
    // 32768 x 16384 + 16384 parameters, more than 2^28: a warning, not an error.
    let text = "network Big {\n    input 32768;\n    dense 16384;\n    loss mse;\n}\n";
    let source = SourceFile::from_bytes("big.nn", text.as_bytes());
    let (checked, warnings) = source.check_with_warnings();
    assert_eq!(checked.unwrap()[0].param_count(), 536_887_296);
    assert_eq!(
        source.render(&warnings),
        "warning: `Big` has 536,887,296 parameters, more than 268,435,456 (2^28)\n \
         --> big.nn:1:9\n  |\n1 | network Big {\n  |         ^^^ 2.0 GiB of f32 parameters\n  \
         |\n  = help: training holds the parameters and their gradients (4.0 GiB), and Adam \
         two more buffers as large; if this size is not intended, use fewer or narrower \
         layers\n\nwarning: big.nn: 1 warning\n"
    );
    // The code generator (the macro's and the build script's path) accepts it.
    let code = netspec_codegen::generate_source(text, &netspec_codegen::Config::new()).unwrap();
    assert!(code.to_string().contains("struct Big"));
}
