//! Compiles the specs the examples use into $OUT_DIR; a spec error fails the build with
//! rustc-style diagnostics.
fn main() -> Result<(), netspec_build::Error> {
    netspec_build::compile(&[
        "../specs/digits.nn",
        "../specs/digits_cnn.nn",
        "../specs/activity.nn",
    ])
}
