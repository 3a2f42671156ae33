//! Compiles every spec under specs/ with netspec-build, so that `tests/generated_compiles.rs` can
//! prove that the code whose snapshots `tests/generated.rs` keeps also compiles and runs, and
//! the repository's `specs/` for the PyTorch parity test.
fn main() -> Result<(), netspec_build::Error> {
    // The examples' specs too, for `tests/torch_parity.rs`.
    let mut specs: Vec<_> = ["specs", "../specs"]
        .into_iter()
        .flat_map(|dir| std::fs::read_dir(dir).expect("the spec folder exists"))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "nn"))
        .collect();
    specs.sort();
    println!("cargo:rerun-if-changed=specs");
    println!("cargo:rerun-if-changed=../specs");
    netspec_build::compile(&specs)
}
