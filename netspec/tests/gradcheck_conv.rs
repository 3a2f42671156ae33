//! Finite-difference checks of the image and sequence layers: `conv` (with per-axis sizes,
//! dilation and groups), every pool, per-channel batch norm after a conv, and `residual` with
//! and without stochastic depth (on images and vectors), and with a projection shortcut (on
//! images, halving the size, and on a sequence, with stochastic depth).
//!
//! Randomness (stochastic-depth row masks, fractional pooling's `u` draws) is frozen as in
//! `gradcheck_regularizers.rs`: `resample(rng)` draws it, `__noise(layer)` hands it to the f64
//! oracle, `loss_and_grad` keeps using it. Tolerances as there: the loss within 1e-5 relative
//! of the oracle's; |analytic - numeric| <= 1e-3 |numeric| + 1e-5 per parameter (h = 1e-6);
//! `predict_batch` within 1e-5 relative of the oracle's eval forward.

use netspec::prelude::*;
#[macro_use]
mod common;

use common::net::FromOracle;
use netspec::Rng;
use proptest::prelude::*;

spec!(conv, network Net {
    input image(2, 5, 5); batch 3;
    conv 3 kernel 3 pad 1; tanh; conv 2 kernel 2 stride 2 bias none; flatten; dense 3;
    loss softmax_cross_entropy;
});
spec!(maxpool, network Net {
    input image(1, 6, 6); batch 3;
    conv 3 kernel 3 pad 1; maxpool 2; maxpool 3 stride 2 pad 1; flatten; dense 2; loss mse;
});
spec!(avgpool, network Net {
    input image(2, 6, 6); batch 3;
    conv 2 kernel 3 pad 1; avgpool 3 stride 2 pad 1; sigmoid; avgpool 2; flatten; dense 3;
    loss softmax_cross_entropy;
});
spec!(global_avgpool, network Net {
    input image(2, 5, 5); batch 4;
    conv 4 kernel 3; relu; global_avgpool; dense 3; loss softmax_cross_entropy;
});
spec!(fractional, network Net {
    input image(1, 7, 7); batch 4;
    conv 3 kernel 3 pad 1; fractional_maxpool 1.5; flatten; dense 3; loss softmax_cross_entropy;
});
spec!(batchnorm_conv, network Net {
    input image(2, 4, 4); batch 4;
    conv 3 kernel 3 pad 1; batchnorm; relu; conv 2 kernel 3; batchnorm eps 1e-3 momentum 0.2;
    flatten; dense 3; loss softmax_cross_entropy;
});
spec!(conv_options, network Net {
    input image(2, 7, 5); batch 3;
    conv 4 kernel (4, 3) stride (2, 1) pad (1, 2) dilation (1, 2); tanh;
    conv 4 kernel 3 pad 1 groups 4; relu; conv 6 kernel 1 groups 2 bias none; tanh;
    avgpool 3 stride 2 pad 1 count_pad false; global_maxpool; dense 3;
    loss softmax_cross_entropy;
});
spec!(sequence, network Net {
    input sequence(3, 17); batch 4;
    conv 4 kernel 5 stride 2 pad 2 dilation 2; batchnorm; tanh; maxpool 3 stride 2 pad 1;
    conv 4 kernel 3 pad 1 groups 4; avgpool 2 count_pad false; conv 2 kernel 1; relu; flatten;
    dense 3; loss softmax_cross_entropy;
});
spec!(sequence_global, network Net {
    input sequence(2, 9); batch 3;
    conv 3 kernel 3; tanh; global_maxpool; dense 2; loss mse;
});
spec!(sequence_global_avg, network Net {
    input sequence(2, 9); batch 3;
    conv 3 kernel 3; tanh; global_avgpool; dense 2; loss mse;
});
spec!(residual, network Net {
    input image(2, 4, 4); batch 3;
    conv 2 kernel 3 pad 1;
    residual { conv 2 kernel 3 pad 1; tanh; conv 2 kernel 3 pad 1; }
    flatten; dense 3; loss softmax_cross_entropy;
    penalty l2 1e-2;
});
spec!(stochastic_depth, network Net {
    input image(2, 4, 4); batch 8;
    conv 2 kernel 3 pad 1;
    residual stochastic_depth 0.5 { conv 2 kernel 3 pad 1; batchnorm; relu; conv 2 kernel 3 pad 1; }
    maxpool 2; flatten; dense 3; loss softmax_cross_entropy;
});
spec!(shortcut, network Net {
    input image(2, 5, 5); batch 4;
    residual shortcut { conv 3 kernel 3 stride 2 pad 1; batchnorm; tanh; }
    residual shortcut { tanh; }
    flatten; dense 2; loss softmax_cross_entropy;
});
spec!(sequence_shortcut, network Net {
    input sequence(2, 9); batch 8;
    residual shortcut stochastic_depth 0.5 { conv 3 kernel 3 stride 3; tanh; }
    flatten; dense 2; loss mse;
});
spec!(residual_vector, network Net {
    input 4; batch 6;
    residual stochastic_depth 0.3 { dense 4; tanh; residual { dense 4; } }
    dense 5; residual { identity; } dense 2; loss mse;
});

/// Training mode with frozen draws, then eval mode (running statistics made non-trivial), then
/// `predict_batch` and `predict` against the oracle's eval forward.
fn check<N>(spec: &str, seed: u64, scale: f32)
where
    N: Network<Output: Sample<Flat = f32>>,
    for<'a> N::Targets<'a>: FromOracle<'a>,
{
    let ir = common::network(spec);
    let mut rng = Rng::seed(seed);
    let mut net = N::new(&mut rng);
    // Every parameter drawn afresh (a zero-initialized branch conv would hide its gradient).
    for v in net.params_mut() {
        *v = rng.uniform(-0.6, 0.6) * scale;
    }
    common::away_from_kinks(&ir, net.params_mut(), &mut rng);
    let (inputs, outputs) = common::check_modes(&mut net, spec, &ir, &mut rng, false);
    let one = net.predict(&N::Input::samples(&inputs[..N::INPUT])[0]);
    assert!(
        one.values().eq(outputs[..N::OUTPUT].iter().copied()),
        "predict = predict_batch's first row"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn conv_padded_and_strided(seed in any::<u64>(), scale in 0.5f32..1.5) {
        check::<conv::Net>(conv::SPEC, seed, scale);
    }

    #[test]
    fn maxpool_plain_and_overlapping_padded(seed in any::<u64>(), scale in 0.5f32..1.5) {
        check::<maxpool::Net>(maxpool::SPEC, seed, scale);
    }

    #[test]
    fn avgpool_padded_and_plain(seed in any::<u64>(), scale in 0.5f32..1.5) {
        check::<avgpool::Net>(avgpool::SPEC, seed, scale);
    }

    #[test]
    fn global_avgpool(seed in any::<u64>(), scale in 0.5f32..1.5) {
        check::<global_avgpool::Net>(global_avgpool::SPEC, seed, scale);
    }

    #[test]
    fn fractional_maxpool_frozen_samples(seed in any::<u64>(), scale in 0.5f32..1.5) {
        check::<fractional::Net>(fractional::SPEC, seed, scale);
    }

    #[test]
    fn batchnorm_per_channel_after_conv(seed in any::<u64>(), scale in 0.5f32..1.5) {
        check::<batchnorm_conv::Net>(batchnorm_conv::SPEC, seed, scale);
    }

    #[test]
    fn conv_per_axis_dilated_grouped_depthwise(seed in any::<u64>(), scale in 0.5f32..1.5) {
        check::<conv_options::Net>(conv_options::SPEC, seed, scale);
    }

    #[test]
    fn sequence_layers(seed in any::<u64>(), scale in 0.5f32..1.5) {
        check::<sequence::Net>(sequence::SPEC, seed, scale);
    }

    #[test]
    fn sequence_global_pools(seed in any::<u64>(), scale in 0.5f32..1.5) {
        check::<sequence_global::Net>(sequence_global::SPEC, seed, scale);
        check::<sequence_global_avg::Net>(sequence_global_avg::SPEC, seed, scale);
    }

    #[test]
    fn residual_identity_skip(seed in any::<u64>(), scale in 0.5f32..1.5) {
        check::<residual::Net>(residual::SPEC, seed, scale);
    }

    #[test]
    fn residual_stochastic_depth_frozen_masks(seed in any::<u64>(), scale in 0.5f32..1.5) {
        check::<stochastic_depth::Net>(stochastic_depth::SPEC, seed, scale);
    }

    #[test]
    fn residual_projection_shortcuts(seed in any::<u64>(), scale in 0.5f32..1.5) {
        check::<shortcut::Net>(shortcut::SPEC, seed, scale);
        check::<sequence_shortcut::Net>(sequence_shortcut::SPEC, seed, scale);
    }

    #[test]
    fn residual_on_vectors_nested_and_empty(seed in any::<u64>(), scale in 0.5f32..1.5) {
        check::<residual_vector::Net>(residual_vector::SPEC, seed, scale);
    }
}

/// The stochastic-depth mask is one value per sample, 0 or 1/(1-p) (torchvision's "row" mode),
/// with about p of the rows dropped; fractional pooling draws two u in [0, 1) per sample.
#[test]
fn stochastic_depth_masks_are_per_row() {
    let mut rng = Rng::seed(7);
    let mut net = stochastic_depth::Net::new(&mut rng);
    let mut dropped = 0;
    for _ in 0..200 {
        net.resample(&mut rng);
        let mask = net.noise("residual1").unwrap();
        assert_eq!(mask.len(), stochastic_depth::Net::BATCH);
        assert!(mask.iter().all(|&m| m == 0.0 || m == 2.0), "{mask:?}");
        dropped += mask.iter().filter(|&&m| m == 0.0).count();
    }
    let rate = dropped as f64 / (200.0 * 8.0);
    assert!((rate - 0.5).abs() < 0.05, "drop rate {rate}");
    let mut frac = fractional::Net::new(&mut rng);
    frac.resample(&mut rng);
    let u = frac.noise("fractional_maxpool1").unwrap();
    assert_eq!(u.len(), 2 * fractional::Net::BATCH);
    assert!(u.iter().all(|u| (0.0..1.0).contains(u)));
}

/// The branch's last conv `init zeros bias zeros` makes the block the identity at
/// initialization (`init zeros` alone zeroes the weight; the bias keeps PyTorch's default):
/// y = x + F(x) = x, so Var(y) = Var(x) (predict through it equals predict without it).
#[test]
fn zero_initialized_branch_is_the_identity_at_init() {
    netspec::network! {
        network WithBlock {
            input image(1, 4, 4); batch 2;
            conv 2 kernel 3 pad 1;
            residual { conv 2 kernel 3 pad 1; relu; conv 2 kernel 3 pad 1 init zeros bias zeros; }
            flatten; loss mse;
        }
        network Without {
            input image(1, 4, 4); batch 2;
            conv 2 kernel 3 pad 1; flatten; loss mse;
        }
    }
    let mut rng = Rng::seed(3);
    let with = WithBlock::new(&mut rng);
    let mut without = Without::new(&mut rng);
    without.params_mut().copy_from_slice(&with.params()[..Without::PARAM_COUNT]);
    let x: Vec<f32> = (0..16).map(|i| (i as f32 * 0.7).sin()).collect();
    let x: &[f32; 16] = x.as_slice().try_into().unwrap();
    assert_eq!(with.predict(x), without.predict(x));
}

/// Output sizes floor((in + 2 pad - k) / stride) + 1, PyTorch's weight layout
/// `[out, in, kh, kw]`, and the flat buffers' sizes.
#[test]
fn shapes_follow_pytorch() {
    netspec::network! {
        network Shapes {
            input image(3, 9, 7); batch 2;
            conv 5 kernel 3 stride 2 pad 1;   // 5 x 5 x 4
            maxpool 2 stride 1;               // 5 x 4 x 3
            avgpool 3 stride 2 pad 1;         // 5 x 2 x 2
            global_avgpool;                   // 5
            dense 4; loss mse;
        }
        network Fractional {
            input image(2, 10, 7); batch 2;
            fractional_maxpool 1.4;           // 2 x 7 x 5
            flatten; loss mse;
        }
    }
    assert_eq!((Shapes::INPUT, Shapes::OUTPUT), (3 * 9 * 7, 4));
    assert_eq!(Shapes::PARAMS[0].name, "conv1.weight");
    assert_eq!(Shapes::PARAMS[0].shape, [5, 3, 3, 3]);
    assert_eq!(Shapes::PARAMS[1].shape, [5]);
    assert_eq!(Shapes::PARAMS[2].shape, [4, 5]);
    assert_eq!(Shapes::PARAM_COUNT, 5 * 27 + 5 + 20 + 4);
    let mut rng = Rng::seed(1);
    let net = Shapes::new(&mut rng);
    let y = net.predict(&[0.5; 189]);
    assert!(y.iter().all(|v| v.is_finite()));
    assert_eq!(Fractional::OUTPUT, 2 * 7 * 5);
    let frac = Fractional::new(&mut rng);
    // Max pooling of a ramp: every output is a window maximum, so at least the minimum input.
    let x: Vec<f32> = (0..140).map(|i| i as f32).collect();
    let y = frac.predict(x.as_slice().try_into().unwrap());
    assert!(y.windows(2).take(4).all(|w| w[0] < w[1]), "{y:?}");
    assert_eq!(y[34], 69.0, "the last window of channel 0 ends at its last pixel");
}
