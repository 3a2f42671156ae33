//! What a user sees when a build script compiles two broken specs: a real `cargo build` of a
//! small crate that depends on this one (offline, against the workspace's lock file).

use std::path::{Path, PathBuf};
use std::process::Command;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn cargo_shows_a_headline_then_every_specs_diagnostics_and_a_summary() {
    let krate = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("two-broken-specs");
    let build_crate = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    write(
        &krate.join("Cargo.toml"),
        &format!(
            "[package]\nname = \"two-broken-specs\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\
             publish = false\n\n[workspace]\n\n[build-dependencies]\n\
             netspec-build = {{ path = {:?} }}\n",
            build_crate.display().to_string()
        ),
    );
    // The workspace's versions, so that the build needs nothing that is not already fetched.
    std::fs::copy(build_crate.join("../Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    write(
        &krate.join("build.rs"),
        "fn main() -> Result<(), netspec_build::Error> {\n    \
         netspec_build::compile(&[\"specs/fine.nn\", \"specs/huge.nn\", \"specs/a.nn\", \"specs/b.nn\"])\n}\n",
    );
    write(&krate.join("src/main.rs"), "fn main() {}\n");
    write(&krate.join("specs/a.nn"), "network A {\n    input 2;\n    dense 0;\n    loss mse;\n}\n");
    write(&krate.join("specs/b.nn"), "network B {\n    input 2;\n    dens 4;\n    loss mse;\n}\n");
    write(&krate.join("specs/fine.nn"), "network Fine { input 2; dense 2; loss mse; }\n");
    // Valid, with a warning: 16,385 x 16,384 weights and 16,384 biases, past 2^28.
    write(&krate.join("specs/huge.nn"), "network Huge { input 16385; dense 16384; loss mse; }\n");

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = Command::new(cargo)
        .args(["build", "--offline", "--color", "never"])
        .current_dir(&krate)
        .env("CARGO_TARGET_DIR", krate.join("target"))
        .output()
        .expect("cargo runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let headline = "error: two-broken-specs@0.1.0: netspec-build: 2 of 4 specs failed: specs/a.nn, \
                    specs/b.nn (the diagnostics are at the end of this output)";
    let at = |needle: &str| stderr.find(needle).unwrap_or_else(|| panic!("{needle}:\n{stderr}"));
    assert!(at(headline) < at("failed to run custom build command"), "{stderr}");
    assert!(at("--> specs/a.nn:3:11") < at("--> specs/b.nn:3:5"), "{stderr}");
    assert!(stderr.contains("= help: did you mean `dense`?"), "{stderr}");
    assert!(
        stderr
            .trim_end()
            .ends_with("error: netspec-build: 2 of 4 specs failed: specs/a.nn, specs/b.nn"),
        "{stderr}"
    );
    let warning = "warning: two-broken-specs@0.1.0: warning: `Huge` has 268,468,224 parameters, \
                   more than 268,435,456 (2^28)";
    assert!(at(warning) < at("failed to run custom build command"), "{stderr}");
    assert!(stderr.contains("--> specs/huge.nn:1:9"), "{stderr}");
    // A spec without warnings prints nothing.
    assert!(!stderr.contains("fine.nn:") && !stderr.contains("0 errors"), "{stderr}");
}
