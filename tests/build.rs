//! Compiles every spec under specs/ with netspec-build, so that `tests/generated_compiles.rs` can
//! prove that the code whose snapshots `tests/generated.rs` keeps also compiles and runs.
fn main() -> Result<(), netspec_build::Error> {
    let mut specs: Vec<_> = std::fs::read_dir("specs")
        .expect("tests/specs exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "nn"))
        .collect();
    specs.sort();
    println!("cargo:rerun-if-changed=specs");
    netspec_build::compile(&specs)
}
