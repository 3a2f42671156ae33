//! `netspec_grammar::limits::estimated_code_bytes` against the code `netspec emit` (the build
//! script's path) really writes: within 20% for every spec of the repository and for ten layers
//! of each kind in a row, so that the code-size limit means what it says.

use std::path::Path;

use netspec_grammar::SourceFile;
use netspec_grammar::limits::estimated_code_bytes;
use netspec_tests::{crate_dir, spec_files};

/// The estimate (summed over the spec's networks) and the real size of the generated file.
fn sizes(path: &Path) -> (u64, u64) {
    let bytes = std::fs::read(path).unwrap();
    let source = SourceFile::from_bytes(path.display().to_string(), &bytes);
    let networks = source.check().unwrap_or_else(|d| panic!("{}", source.render(&d)));
    let estimate = networks.iter().map(estimated_code_bytes).sum();
    let code = netspec_build::Config::new()
        .generate(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (estimate, code.len() as u64)
}

fn within_a_fifth(what: &str, (estimate, real): (u64, u64)) -> Option<String> {
    let ratio = estimate as f64 / real as f64;
    (!(0.8..=1.2).contains(&ratio))
        .then(|| format!("{what}: estimated {estimate} bytes, generated {real} ({ratio:.2}x)"))
}

#[test]
fn the_estimate_is_within_a_fifth_of_every_repository_spec() {
    let mut files = spec_files(&crate_dir().join("../specs"));
    files.extend(spec_files(&crate_dir().join("specs")));
    files.extend(spec_files(&crate_dir().join("valid")));
    assert!(files.len() >= 20, "{} specs", files.len());
    let off: Vec<String> = files
        .iter()
        .filter_map(|path| within_a_fifth(&path.display().to_string(), sizes(path)))
        .collect();
    assert!(off.is_empty(), "{}", off.join("\n"));
}

#[test]
fn the_estimate_is_within_a_fifth_for_ten_layers_of_each_kind() {
    let image = "input image(4, 16, 16);";
    let cases = [
        ("input 8;", "dense 8;"),
        ("input 8;", "dense 8 dropconnect 0.5;"),
        ("input 8;", "dense 8 bias none;"),
        (image, "conv 4 kernel 3 pad 1;"),
        (image, "batchnorm;"),
        ("input 8;", "layernorm;"),
        ("input 8;", "relu;"),
        ("input 8;", "leaky_relu 0.1;"),
        ("input 8;", "tanh;"),
        ("input 8;", "sigmoid;"),
        ("input 8;", "identity;"),
        ("input 8;", "gelu;"),
        ("input 8;", "silu;"),
        ("input 8;", "dropout 0.5;"),
        ("input 8;", "noise gaussian 0.1;"),
        (image, "maxpool 1;"),
        (image, "avgpool 1;"),
        ("input 8;", "residual { relu; }"),
        ("input 8;", "residual stochastic_depth 0.1 { relu; }"),
    ];
    let dir = std::env::temp_dir().join(format!("netspec-code-size-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut off = Vec::new();
    for (i, (input, layer)) in cases.iter().enumerate() {
        let spec = format!("network A {{ {input} {} loss mse; }}", [*layer; 10].join(" "));
        let path = dir.join(format!("kind{i}.nn"));
        std::fs::write(&path, &spec).unwrap();
        off.extend(within_a_fifth(layer, sizes(&path)));
    }
    // The kinds that change the shape: one each, before two dense layers.
    let shape_changing =
        ["global_avgpool;", "global_maxpool;", "fractional_maxpool 1.41; flatten;", "flatten;"];
    for (i, layers) in shape_changing.iter().enumerate() {
        let spec = format!("network A {{ {image} {layers} dense 8; dense 8; loss mse; }}");
        let path = dir.join(format!("shape{i}.nn"));
        std::fs::write(&path, &spec).unwrap();
        off.extend(within_a_fifth(layers, sizes(&path)));
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(off.is_empty(), "{}", off.join("\n"));
}
