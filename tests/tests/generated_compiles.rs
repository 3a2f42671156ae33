//! The code generated for every spec under `tests/specs/` (snapshotted by `generated.rs`)
//! compiles, and each network builds, trains one step and predicts finite values.

use netspec::prelude::*;
use netspec::{Rng, Sgd};

mod xor {
    netspec::include_spec!("xor");
}
mod binary_classifier {
    netspec::include_spec!("binary_classifier");
}
mod leaky_penalties {
    netspec::include_spec!("leaky_penalties");
}
mod deep_tanh {
    netspec::include_spec!("deep_tanh");
}
mod every_init {
    netspec::include_spec!("every_init");
}
mod two_networks {
    netspec::include_spec!("two_networks");
}
mod flattened_image {
    netspec::include_spec!("flattened_image");
}
mod regularizers {
    netspec::include_spec!("regularizers");
}
mod resnet_stage {
    netspec::include_spec!("resnet_stage");
}
mod conv_net {
    netspec::include_spec!("conv_net");
}
mod norm_gelu {
    netspec::include_spec!("norm_gelu");
}
mod loss_and_init_options {
    netspec::include_spec!("loss_and_init_options");
}
mod kws_ds_cnn {
    netspec::include_spec!("kws_ds_cnn");
}
mod batchnorm_options {
    netspec::include_spec!("batchnorm_options");
}

/// One SGD step on inputs and targets of the right sizes (after fitting the preprocessing on
/// them), then a prediction.
macro_rules! step_and_predict {
    ($net:ty, $targets:expr) => {{
        let mut rng = Rng::seed(7);
        let mut net = <$net>::new(&mut rng);
        let mut sgd = Sgd::new(0.01).build().unwrap();
        let inputs: Vec<f32> =
            (0..<$net>::BATCH * <$net>::INPUT).map(|i| (i as f32 * 0.13).sin()).collect();
        // Training refuses to start before a spec's `preprocess` is fitted.
        if <$net as Network>::PREPROCESS.is_some() {
            net.fit_preprocess(&inputs).unwrap();
        }
        let loss = net.train_step(&inputs, $targets, &mut sgd, &mut rng).unwrap();
        assert!(loss.is_finite(), "{}: loss {loss}", stringify!($net));
        let output = net.predict(inputs[..<$net>::INPUT].try_into().unwrap());
        output
    }};
}

#[test]
fn every_generated_network_trains_and_predicts() {
    let y = step_and_predict!(xor::Xor, &[0.0f32, 1.0, 1.0, 0.0]);
    assert!(y.iter().all(|v| v.is_finite()));
    let y = step_and_predict!(binary_classifier::Spam, &[1.0f32; 16]);
    assert!(y.iter().all(|v| v.is_finite()));
    let y = step_and_predict!(leaky_penalties::Leaky, &[0usize, 1, 2, 0, 1, 2, 0, 1]);
    assert!(y.iter().all(|v| v.is_finite()));
    let y = step_and_predict!(deep_tanh::DeepTanh, &[0.5f32; 32 * 4]);
    assert!(y.iter().all(|v| v.is_finite()));
    let y = step_and_predict!(every_init::Inits, &[0usize, 1]);
    assert!(y.iter().all(|v| v.is_finite()));
    let y = step_and_predict!(two_networks::Regressor, &[0.1f32; 10]);
    assert!(y.iter().all(|v| v.is_finite()));
    let y = step_and_predict!(two_networks::Classifier, &[2usize; 10]);
    assert!(y.iter().all(|v| v.is_finite()));
    let y = step_and_predict!(flattened_image::FlatDigits, &[3usize; 32]);
    assert!(y.iter().all(|v| v.is_finite()));

    let digits = [0usize, 1, 2, 3, 4, 5, 6, 7];
    let parity = [0.0f32, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0];
    let targets = regularizers::RegularizedTargets { digit: &digits, parity: &parity };
    let y = step_and_predict!(regularizers::Regularized, targets);
    assert!(y.digit.iter().chain(&y.parity).all(|v| v.is_finite()));

    let y = step_and_predict!(conv_net::ConvNet, &[0usize, 1, 2, 1]);
    assert!(y.iter().all(|v| v.is_finite()));
    let y = step_and_predict!(norm_gelu::NormGelu, &[0usize, 1, 2, 3, 0, 1, 2, 3]);
    assert!(y.iter().all(|v| v.is_finite()));

    use loss_and_init_options as options;
    let y = step_and_predict!(options::Smoothed, &[0usize, 1, 2, 1]);
    assert!(y.iter().all(|v| v.is_finite()));
    let y = step_and_predict!(options::Robust, &[0.5f32; 5 * 2]);
    assert!(y.iter().all(|v| v.is_finite()));
    let y = step_and_predict!(options::Absolute, &[-0.5f32; 4 * 2]);
    assert!(y.iter().all(|v| v.is_finite()));
    let y = step_and_predict!(options::WeightedBinary, &[1.0f32; 4 * 2]);
    assert!(y.iter().all(|v| v.is_finite()));
    let y = step_and_predict!(kws_ds_cnn::KwsDsCnn, &[0usize, 1, 2, 3, 4, 5, 6, 11]);
    assert!(y.iter().all(|v| v.is_finite()));
    let y = step_and_predict!(resnet_stage::ResnetStage, &[0usize, 1, 2, 1]);
    assert!(y.iter().all(|v| v.is_finite()));
    let y = step_and_predict!(resnet_stage::SequenceStage, &[0usize, 1, 1, 0]);
    assert!(y.iter().all(|v| v.is_finite()));
    let y = step_and_predict!(batchnorm_options::BatchNormOptions, &[0usize, 1, 2, 1]);
    assert!(y.iter().all(|v| v.is_finite()));
}

/// A spec added to `tests/specs/` must be included above, or its code would go uncompiled.
#[test]
fn every_spec_is_included() {
    let included =
        include_str!("generated_compiles.rs").matches("netspec::include_spec!(\"").count();
    let specs = netspec_tests::spec_files(&netspec_tests::crate_dir().join("specs")).len();
    assert_eq!(included, specs, "include every tests/specs/*.nn in generated_compiles.rs");
}
