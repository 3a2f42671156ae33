//! The frozen networks (`netspec_build::Config::weights`) predict what the trainable networks
//! predict with the same weights, bit for bit: `build.rs` freezes each spec with a seeded random
//! checkpoint, which is loaded here into the trainable network.
//!
//! On another machine the same holds wherever both use the same float operations: dense,
//! conv, pooling, ReLU, batch norm and preprocessing use only +, *, /, max and sqrt, which IEEE
//! 754 rounds the same everywhere (Rust does not fuse multiply-adds), so a Cortex-M4F's outputs
//! are these bits too (`embedded/run-qemu` checks its accuracy). Without `std` the runtime's
//! exp, ln and tanh come from `libm` instead of the platform's libm: tanh, sigmoid, GELU and
//! SiLU outputs may then differ in the last bit (at most 1e-6 relative, checked by the
//! runtime's `math` tests).

use netspec::prelude::*;
use netspec::{Dataset, Rng};

netspec::include_spec!("digits");
netspec::include_spec!("digits_frozen");
netspec::include_spec!("digits_cnn");
netspec::include_spec!("digits_cnn_frozen");
netspec::include_spec!("batchnorm_options");
netspec::include_spec!("batchnorm_options_frozen");

fn inputs() -> Vec<[f32; 64]> {
    let mut digits = Dataset::digits();
    digits.scale(1.0 / 16.0);
    let mut rng = Rng::seed(3);
    let mut rows: Vec<[f32; 64]> =
        digits.features.as_chunks::<64>().0.iter().take(200).copied().collect();
    // Values beyond the data's range too.
    rows.extend((0..20).map(|_| std::array::from_fn(|_| rng.normal(0.0, 3.0))));
    rows
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

fn weights(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("OUT_DIR")).join(format!("{name}_random.safetensors"))
}

#[test]
fn frozen_mlp_predicts_the_loaded_network_bit_for_bit() -> Result<(), Box<dyn std::error::Error>> {
    let mut net = DigitsMlp::new(&mut Rng::seed(1));
    net.load(weights("digits"))?;
    for x in inputs() {
        assert_eq!(bits(&DigitsMlpFrozen.predict(&x)), bits(&net.predict(&x)));
    }
    Ok(())
}

#[test]
fn frozen_cnn_predicts_the_loaded_network_bit_for_bit() -> Result<(), Box<dyn std::error::Error>> {
    // Batch norm running statistics, fitted preprocessing, a residual block, dropout.
    let mut net = DigitsCnn::new(&mut Rng::seed(1));
    net.load(weights("digits_cnn"))?;
    net.set_training(false);
    let x = inputs();
    let mut batch = vec![[0.0f32; 10]; x.len()];
    net.predict_batch(x.as_flattened(), batch.as_flattened_mut())?;
    for (x, want) in x.iter().zip(&batch) {
        let got = DigitsCnnFrozen.predict(x);
        assert_eq!(bits(&got), bits(&net.predict(x)));
        assert_eq!(bits(&got), bits(want));
    }
    Ok(())
}

#[test]
fn frozen_batch_norm_options_predict_bit_for_bit() -> Result<(), Box<dyn std::error::Error>> {
    // `affine false` and `track_running_stats false`: eval normalizes each sample by its own
    // statistics, in the frozen network as in the loaded one's predict and predict_batch.
    let mut net = BatchNormOptions::new(&mut Rng::seed(1));
    net.load(weights("batchnorm_options"))?;
    let mut rng = Rng::seed(5);
    let x: Vec<[f32; 72]> = (0..9).map(|_| std::array::from_fn(|_| rng.normal(0.2, 1.5))).collect();
    let mut batch = vec![[0.0f32; 3]; x.len()];
    net.predict_batch(x.as_flattened(), batch.as_flattened_mut())?;
    for (x, want) in x.iter().zip(&batch) {
        let got = BatchNormOptionsFrozen.predict(x);
        assert_eq!(bits(&got), bits(&net.predict(x)));
        assert_eq!(bits(&got), bits(want));
    }
    Ok(())
}

#[test]
fn frozen_figures() {
    assert_eq!(DigitsMlpFrozen::PARAM_COUNT, DigitsMlp::PARAM_COUNT);
    assert_eq!((DigitsMlpFrozen::INPUT, DigitsMlpFrozen::OUTPUT), (64, 10));
    // 128 + 64 + 10 activations of one sample.
    assert_eq!(DigitsMlpFrozen::STACK_BYTES, 4 * (128 + 128 + 64 + 64 + 10));
}
