//! Finite-difference checks of every generated `loss_and_grad`.
//!
//! The analytic gradient (f32, generated code) is compared with central differences, step
//! h = 1e-6, of an independent f64 interpreter of the same IR (`common::loss_in`), evaluated at the
//! same f32 parameters. The f64 differences are accurate to ~1e-9, so what remains is the f32
//! rounding of the generated code: we require |analytic - numeric| <= 1e-3 |numeric| + 1e-5
//! for every parameter (1e-5 absolute covers gradients that are sums of O(1) f32 terms that
//! cancel to ~0). The loss must match the oracle to 1e-5 relative, and `predict` its forward.

use netspec::prelude::*;
#[macro_use]
mod common;

use common::{Mode, Targets, uniform};
use netspec::Rng;
use proptest::prelude::*;

// Every activation, every loss (and its options), with and without bias, narrow (written-out dot products) and
// wide (the 8-lane helper) layers, an image input behind `flatten`, an activation on the input.
spec!(relu_ce, network Net { input 3; batch 5; dense 7; relu; dense 4; loss softmax_cross_entropy; });
spec!(leaky_tanh_mse, network Net {
    input 4; batch 3; dense 6 bias none; leaky_relu 0.1; dense 5; tanh; dense 2; loss mse;
});
spec!(sigmoid_identity_bce, network Net {
    input 10; batch 4; dense 9; sigmoid; dense 3; identity; loss binary_cross_entropy;
});
spec!(wide_penalized, network Net {
    input 20; batch 2; dense 16 init kaiming_normal; tanh; dense 12; relu; dense 1;
    loss binary_cross_entropy;
    penalty l2 1e-2;
    penalty l1 1e-2 on dense1.weight;
});
spec!(image_flatten, network Net {
    input image(2, 3, 3); batch 3; flatten; dense 5; leaky_relu; dense 3 bias none; sigmoid;
    loss softmax_cross_entropy;
});
spec!(input_activation, network Net { input 2; batch 4; relu; dense 3; loss mse; });
spec!(gelu_silu_layernorm, network Net {
    input 6; batch 4; gelu; dense 8; layernorm; silu; dense 5; layernorm eps 1e-3; gelu; dense 3;
    loss softmax_cross_entropy;
    penalty l2 1e-2;
});
spec!(deep_sigmoid_mse, network Net {
    input 9; batch 6; dense 17; sigmoid; dense 8; leaky_relu 0.2; dense 11; tanh; dense 2;
    identity; loss mse; penalty l2 5e-3;
});
// The losses' options and the init schemes' arguments.
spec!(smoothed_weighted_ce, network Net {
    input 5; batch 6;
    dense 7 init kaiming_normal(mode fan_out, nonlinearity leaky_relu, a 0.1); leaky_relu 0.1;
    dense 4 init xavier_uniform(gain 2);
    loss softmax_cross_entropy label_smoothing 0.15 class_weights(0.5, 1, 2, 0.25);
});
spec!(huber_loss, network Net {
    input 4; batch 5; dense 6 init orthogonal(gain 1.3) bias trunc_normal(0, 0.1, -0.2, 0.2);
    tanh; dense 3; loss huber delta 0.3;
});
spec!(l1_loss, network Net { input 4; batch 3; dense 5; sigmoid; dense 2; loss l1; });
spec!(pos_weighted_bce, network Net {
    input 6; batch 4; dense 5 init kaiming_uniform(nonlinearity selu); tanh; dense 3;
    loss binary_cross_entropy pos_weight 3;
});

/// The shared oracle check, in training mode without masks (these networks have none).
fn compare(
    spec: &str,
    params: &[f32],
    inputs: &[f32],
    targets: &Targets<'_>,
    loss: f32,
    grads: &[f32],
) {
    common::assert_matches_oracle(spec, &Mode::training(), params, inputs, targets, loss, grads);
}

/// The network built from `seed`, its parameters scaled by `scale`, on random data.
macro_rules! gradcheck {
    ($module:ident, labels, $seed:expr, $scale:expr) => {{
        use $module::Net;
        let mut rng = Rng::seed($seed);
        let mut net = Net::new(&mut rng);
        net.params_mut().iter_mut().for_each(|p| *p *= $scale);
        let inputs = uniform(&mut rng, Net::BATCH * Net::INPUT, 2.0);
        let labels: Vec<usize> = (0..Net::BATCH).map(|_| rng.below(Net::OUTPUT)).collect();
        let loss = net.loss_and_grad(&inputs, &labels).unwrap();
        compare($module::SPEC, net.params(), &inputs, &Targets::Labels(&labels), loss, net.grads());
        check_predict(&net, $module::SPEC, &inputs);
    }};
    ($module:ident, values, $seed:expr, $scale:expr) => {{
        use $module::Net;
        let mut rng = Rng::seed($seed);
        let mut net = Net::new(&mut rng);
        net.params_mut().iter_mut().for_each(|p| *p *= $scale);
        let inputs = uniform(&mut rng, Net::BATCH * Net::INPUT, 2.0);
        // Probabilities, so they serve binary cross-entropy as well as MSE.
        let targets: Vec<f32> =
            (0..Net::BATCH * Net::OUTPUT).map(|_| rng.uniform(0.0, 1.0)).collect();
        let loss = net.loss_and_grad(&inputs, &targets).unwrap();
        compare(
            $module::SPEC,
            net.params(),
            &inputs,
            &Targets::Values(&targets),
            loss,
            net.grads(),
        );
        check_predict(&net, $module::SPEC, &inputs);
    }};
}

/// `predict_batch` (and so `predict`) against the oracle's forward pass.
fn check_predict<N: Network<Output: Sample<Flat = f32>>>(net: &N, spec: &str, inputs: &[f32]) {
    let ir = common::network(spec);
    let params: Vec<f64> = net.params().iter().map(|&p| p as f64).collect();
    let mut outputs = vec![0.0; inputs.len() / N::INPUT * N::OUTPUT];
    net.predict_batch(inputs, &mut outputs).unwrap();
    for (x, y) in inputs.chunks(N::INPUT).zip(outputs.chunks(N::OUTPUT)) {
        let want = common::forward(&ir, &params, x);
        for (&y, &w) in y.iter().zip(&want) {
            assert!((y as f64 - w).abs() <= 1e-5 * w.abs().max(1.0), "predict {y}, oracle {w}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn relu_softmax_cross_entropy(seed in any::<u64>(), scale in 0.5f32..3.0) {
        gradcheck!(relu_ce, labels, seed, scale);
    }

    #[test]
    fn leaky_relu_tanh_mse_no_bias(seed in any::<u64>(), scale in 0.5f32..3.0) {
        gradcheck!(leaky_tanh_mse, values, seed, scale);
    }

    #[test]
    fn sigmoid_identity_binary_cross_entropy(seed in any::<u64>(), scale in 0.5f32..3.0) {
        gradcheck!(sigmoid_identity_bce, values, seed, scale);
    }

    #[test]
    fn wide_layers_with_penalties(seed in any::<u64>(), scale in 0.5f32..3.0) {
        gradcheck!(wide_penalized, values, seed, scale);
    }

    #[test]
    fn image_input_through_flatten(seed in any::<u64>(), scale in 0.5f32..3.0) {
        gradcheck!(image_flatten, labels, seed, scale);
    }

    #[test]
    fn activation_on_the_input(seed in any::<u64>(), scale in 0.5f32..3.0) {
        gradcheck!(input_activation, values, seed, scale);
    }

    #[test]
    fn gelu_silu_and_layer_norm(seed in any::<u64>(), scale in 0.5f32..3.0) {
        gradcheck!(gelu_silu_layernorm, labels, seed, scale);
    }

    #[test]
    fn deep_mixed_network(seed in any::<u64>(), scale in 0.5f32..3.0) {
        gradcheck!(deep_sigmoid_mse, values, seed, scale);
    }

    #[test]
    fn label_smoothing_and_class_weights(seed in any::<u64>(), scale in 0.5f32..3.0) {
        gradcheck!(smoothed_weighted_ce, labels, seed, scale);
    }

    #[test]
    fn huber_loss_both_sides_of_delta(seed in any::<u64>(), scale in 0.5f32..3.0) {
        gradcheck!(huber_loss, values, seed, scale);
    }

    #[test]
    fn l1_loss_mean_absolute_error(seed in any::<u64>(), scale in 0.5f32..3.0) {
        gradcheck!(l1_loss, values, seed, scale);
    }

    #[test]
    fn binary_cross_entropy_with_pos_weight(seed in any::<u64>(), scale in 0.5f32..3.0) {
        gradcheck!(pos_weighted_bce, values, seed, scale);
    }
}
