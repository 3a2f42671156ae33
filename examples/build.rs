//! Compiles the specs the examples use into $OUT_DIR; a spec error fails the build with
//! rustc-style diagnostics. Each spec is also frozen (`NAME_frozen.rs`) with seeded random
//! weights (`NAME_random.safetensors`), which `tests/frozen.rs` loads into the trainable network
//! to check that the two predict the same, bit for bit.

use std::error::Error;
use std::path::{Path, PathBuf};

use netspec_grammar::ir::BufferKind;
use netspec_runtime::checkpoint::{TensorData, TensorRef, save};
use netspec_runtime::{Preprocessor, Rng};

/// The specs the examples train.
const SPECS: [&str; 3] = ["../specs/digits.nn", "../specs/digits_cnn.nn", "../specs/activity.nn"];
/// The specs also frozen, for `tests/frozen.rs`.
const FROZEN: [&str; 3] =
    ["../specs/digits.nn", "../specs/digits_cnn.nn", "../tests/specs/batchnorm_options.nn"];

fn main() -> Result<(), Box<dyn Error>> {
    netspec_build::compile(&SPECS)?;
    // Batch norm without gamma, beta or running statistics, for `tests/frozen.rs` only.
    netspec_build::compile(&FROZEN[2..])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    for spec in FROZEN {
        let stem = Path::new(spec).file_stem().and_then(|s| s.to_str()).unwrap_or("network");
        let weights = out.join(format!("{stem}_random.safetensors"));
        random_state(Path::new(spec), &weights)?;
        netspec_build::Config::new().weights(&weights).compile(&[spec])?;
    }
    Ok(())
}

/// A state for the spec's one network: parameters and running means N(0, 0.5), running
/// variances and preprocessing divisors U(0.5, 2), preprocessing means and whitening N(0, 0.5).
fn random_state(spec: &Path, path: &Path) -> Result<(), Box<dyn Error>> {
    let source = std::fs::read_to_string(spec)?;
    let nets = netspec_grammar::check_source(&source).map_err(|d| format!("{spec:?}: {d:?}"))?;
    let mut rng = Rng::seed(7);
    let mut normal = |n: usize| (0..n).map(|_| rng.normal(0.0, 0.5)).collect::<Vec<f32>>();
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    let mut counters: Vec<(String, Vec<usize>)> = Vec::new();
    for net in &nets {
        for p in &net.params {
            tensors.push((p.name.clone(), p.shape.clone(), normal(p.len)));
        }
        for b in &net.buffers {
            match b.kind {
                BufferKind::NumBatchesTracked => counters.push((b.name.clone(), b.shape.clone())),
                BufferKind::RunningMean => {
                    tensors.push((b.name.clone(), b.shape.clone(), normal(b.len)))
                }
                BufferKind::RunningVar => {
                    let v = normal(b.len).iter().map(|x| 1.25 + x.clamp(-0.75, 0.75)).collect();
                    tensors.push((b.name.clone(), b.shape.clone(), v));
                }
            }
        }
        if let Some(pre) = net.preprocess {
            use netspec_grammar::ir::PreprocessKind as Spec;
            use netspec_runtime::PreprocessKind as Kind;
            let kind = match pre.kind {
                Spec::MeanSubtractPerPixel => Kind::MeanSubtractPerPixel,
                Spec::MeanSubtractPerChannel => Kind::MeanSubtractPerChannel,
                Spec::StandardizePerChannel => Kind::StandardizePerChannel,
                Spec::StandardizePerFeature => Kind::StandardizePerFeature,
                Spec::WhitenPca => Kind::WhitenPca,
            };
            for (name, shape) in Preprocessor::tensor_shapes(kind, &net.input.dims())? {
                let n = shape.iter().product();
                let values = if name == "preprocess.std" {
                    normal(n).iter().map(|x| 1.25 + x.clamp(-0.75, 0.75)).collect()
                } else {
                    normal(n)
                };
                tensors.push((name.to_string(), shape, values));
            }
        }
    }
    let zeros = vec![0i64; 1];
    let mut refs: Vec<TensorRef<'_>> = tensors
        .iter()
        .map(|(name, shape, data)| TensorRef { name, shape, data: TensorData::F32(data) })
        .collect();
    refs.extend(counters.iter().map(|(name, shape)| TensorRef {
        name,
        shape,
        data: TensorData::I64(&zeros),
    }));
    save(path, &refs)?;
    Ok(())
}
