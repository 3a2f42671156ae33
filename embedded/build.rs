//! Freezes the digits networks with the weights the desktop examples trained, and bakes their
//! held-out samples in beside them (`$OUT_DIR/NAME_test.rs`). The files come from
//! `cargo run --release --example NAME -- --save DIR` (`run-qemu` does it), in
//! `$NETSPEC_EMBEDDED_DATA` (`data/` unless set).

use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The networks: spec, example name and input width.
const NETWORKS: [(&str, &str, usize); 2] =
    [("../specs/digits.nn", "digits", 64), ("../specs/digits_cnn.nn", "digits_cnn", 64)];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-env-changed=NETSPEC_EMBEDDED_DATA");
    let data = PathBuf::from(std::env::var("NETSPEC_EMBEDDED_DATA").unwrap_or("data".into()));
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    for (spec, name, width) in NETWORKS {
        let weights = data.join(format!("{name}.safetensors"));
        if !weights.exists() {
            return Err(format!(
                "{} does not exist: run `embedded/run-qemu`, or `cargo run --release --example \
                 {name} -- --save {}` at the repository's root",
                weights.display(),
                data.display()
            )
            .into());
        }
        netspec_build::Config::new().weights(&weights).compile(&[spec])?;
        let test = test_set(&data, name, width)?;
        std::fs::write(out.join(format!("{name}_test.rs")), test)?;
    }
    Ok(())
}

/// `TEST_X` and `TEST_Y` of the held-out samples `save_test_set` wrote.
fn test_set(dir: &Path, name: &str, width: usize) -> Result<String, Box<dyn Error>> {
    let (values, labels) =
        (dir.join(format!("{name}_test.f32")), dir.join(format!("{name}_test.labels")));
    println!("cargo:rerun-if-changed={}", values.display());
    println!("cargo:rerun-if-changed={}", labels.display());
    let values = std::fs::read(&values)?;
    let labels = std::fs::read(&labels)?;
    if values.len() != 4 * width * labels.len() {
        return Err(format!(
            "{name}: {} bytes of samples for {} labels, not {width} f32 values per label",
            values.len(),
            labels.len()
        )
        .into());
    }
    let mut out = format!(
        "/// The held-out samples, {width} values each.\npub static TEST_X: [[f32; {width}]; {n}] = [",
        n = labels.len()
    );
    for sample in values.chunks_exact(4 * width) {
        out.push('[');
        for v in sample.chunks_exact(4) {
            // `{:?}` prints the shortest decimal that reads back as the same f32.
            write!(out, "{:?},", f32::from_le_bytes([v[0], v[1], v[2], v[3]]))?;
        }
        out.push_str("],");
    }
    write!(
        out,
        "];\n/// Their labels.\npub static TEST_Y: [u8; {}] = {:?};\n",
        labels.len(),
        labels
    )?;
    Ok(out)
}
