//! The examples live beside this file: `cargo run --release --example digits` (a spec file
//! compiled by `build.rs`) and `cargo run --release --example iris` (a `network!` block).

#![forbid(unsafe_code)]

pub mod claims;

/// `--save DIR` on the command line of the digits examples: where to write the trained
/// network's checkpoint and the held-out samples for `embedded/` (see `save_test_set`).
/// Creates `DIR`, so that a path that cannot be written fails before training, not after.
pub fn save_dir() -> std::io::Result<Option<std::path::PathBuf>> {
    let mut args = std::env::args().skip_while(|a| a != "--save").skip(1);
    let dir = args.next().map(std::path::PathBuf::from);
    if let Some(dir) = &dir {
        std::fs::create_dir_all(dir)?;
    }
    Ok(dir)
}

/// Writes `data` as `DIR/NAME_test.f32` (every sample's values, little-endian f32, sample after
/// sample) and `DIR/NAME_test.labels` (one byte per sample): what `embedded/build.rs` bakes into
/// the firmware beside the frozen network.
pub fn save_test_set(
    dir: &std::path::Path,
    name: &str,
    data: &netspec::Dataset,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let values: Vec<u8> = data.features.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.join(format!("{name}_test.f32")), values)?;
    let labels = data
        .labels
        .iter()
        .map(|&l| u8::try_from(l))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| std::io::Error::other("a label does not fit a byte"))?;
    std::fs::write(dir.join(format!("{name}_test.labels")), labels)
}
