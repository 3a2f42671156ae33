//! The checker's IR: shape inference for every layer kind, parameter layout, names, resolved
//! options and defaults, penalties.

use netspec_grammar::check_source;
use netspec_grammar::ir::*;

fn net(body: &str) -> Network {
    let spec = format!("network T {{ {body} }}");
    match check_source(&spec) {
        Ok(mut networks) => networks.remove(0),
        Err(errors) => panic!("{spec}\n{errors:#?}"),
    }
}

fn shapes(net: &Network) -> Vec<(String, String)> {
    net.all_layers().iter().map(|l| (l.name.clone(), l.output.to_string())).collect()
}

fn image(channels: usize, height: usize, width: usize) -> Shape {
    Shape::Image { channels, height, width }
}

#[test]
fn dense_maps_vectors_and_lays_out_weight_then_bias() {
    let n = net("input 4; dense 3; dense 2 bias none; loss mse;");
    assert_eq!(n.layers[0].output, Shape::Vector(3));
    assert_eq!(n.layers[1].output, Shape::Vector(2));
    let layout: Vec<_> =
        n.params.iter().map(|p| (p.name.as_str(), p.shape.clone(), p.offset, p.len)).collect();
    assert_eq!(
        layout,
        [
            ("dense1.weight", vec![3, 4], 0, 12),
            ("dense1.bias", vec![3], 12, 3),
            ("dense2.weight", vec![2, 3], 15, 6),
        ]
    );
    assert_eq!(n.param_count(), 21);
    assert_eq!(n.params[0].fans, Some(Fans { fan_in: 4, fan_out: 3 }));
    assert_eq!(n.layers[0].flops, 2 * 4 * 3 + 3);
}

#[test]
fn conv_output_follows_the_conv2d_formula() {
    // floor((H + 2p - k) / s) + 1: (9 + 2 - 3) / 2 + 1 = 5, and (7 + 0 - 3) / 1 + 1 = 5.
    let n = net("input image(3, 9, 7); conv 8 kernel 3 stride 2 pad 1; conv 4 kernel 3; loss mse;");
    assert_eq!(n.layers[0].output, image(8, 5, 4));
    assert_eq!(n.layers[1].output, image(4, 3, 2));
    let weight = n.param("conv1.weight").unwrap();
    assert_eq!(weight.shape, [8, 3, 3, 3]);
    assert_eq!(weight.fans, Some(Fans { fan_in: 27, fan_out: 72 }));
    assert_eq!(n.param("conv2.bias").unwrap().shape, [4]);
    assert_eq!(n.layers[0].flops, 2 * 27 * (8 * 5 * 4) + 8 * 5 * 4);
}

#[test]
fn pools_default_their_stride_to_the_window() {
    let n =
        net("input image(2, 9, 9); maxpool 2; avgpool 3 stride 1 pad 1; global_avgpool; loss mse;");
    assert_eq!(n.layers[0].output, image(2, 4, 4));
    assert_eq!(
        n.layers[0].op,
        Op::MaxPool(Pool { kernel: [2, 2], stride: [2, 2], pad: [0, 0], count_pad: true })
    );
    assert_eq!(n.layers[1].output, image(2, 4, 4));
    assert_eq!(n.layers[2].output, Shape::Vector(2));
}

#[test]
fn fractional_maxpool_shrinks_by_alpha_like_pytorch() {
    // FractionalMaxPool2d(2, output_ratio=1/1.41): int(8 * 0.7092) = 5.
    let n = net("input image(1, 8, 8); fractional_maxpool 1.41; flatten; dense 2; loss mse;");
    assert_eq!(n.layers[0].output, image(1, 5, 5));
    assert_eq!(n.layers[1].output, Shape::Vector(25));
}

#[test]
fn flatten_keeps_channel_major_order_and_size() {
    let n = net("input image(3, 4, 5); flatten; dense 2; loss mse;");
    assert_eq!(n.layers[0].output, Shape::Vector(60));
    assert_eq!(n.param("dense1.weight").unwrap().shape, [2, 60]);
}

#[test]
fn elementwise_layers_keep_the_shape() {
    let n =
        net("input image(2, 3, 3); relu; leaky_relu; leaky_relu 0.2; tanh; sigmoid; identity; \
         dropout 0.5; noise gaussian 0.1; dropout 0.2 rescale test; dropout 0.3 rescale train; \
         loss mse;");
    assert!(n.layers.iter().all(|l| l.output == image(2, 3, 3)));
    assert_eq!(n.layers[1].op, Op::Activation(Activation::LeakyRelu { slope: 0.01 }));
    assert_eq!(n.layers[2].op, Op::Activation(Activation::LeakyRelu { slope: 0.2 }));
    assert_eq!(n.layers[6].op, Op::Dropout { p: 0.5, rescale: Rescale::Train });
    assert_eq!(n.layers[7].op, Op::GaussianNoise { sigma: 0.1 });
    assert_eq!(n.layers[8].op, Op::Dropout { p: 0.2, rescale: Rescale::Test });
    assert_eq!(n.layers[9].op, Op::Dropout { p: 0.3, rescale: Rescale::Train });
    assert_eq!(n.param_count(), 0);
}

#[test]
fn batchnorm_has_gamma_beta_and_running_statistics_per_feature_or_channel() {
    let n = net(
        "input image(3, 4, 4); batchnorm; flatten; dense 5; batchnorm eps 1e-3 momentum 0.01; loss mse;",
    );
    assert_eq!(
        n.layers[0].op,
        Op::BatchNorm { eps: 1e-5, momentum: 0.1, affine: true, track_running_stats: true }
    );
    assert_eq!(
        n.layers[3].op,
        Op::BatchNorm { eps: 1e-3, momentum: 0.01, affine: true, track_running_stats: true }
    );
    let gamma = n.param("batchnorm1.weight").unwrap();
    assert_eq!(
        (gamma.shape.clone(), gamma.role, gamma.init),
        (vec![3], Role::NormWeight, Init::Constant(1.0))
    );
    let beta = n.param("batchnorm2.bias").unwrap();
    assert_eq!((beta.shape.clone(), beta.role, beta.init), (vec![5], Role::NormBias, Init::Zeros));
    let buffers: Vec<_> =
        n.buffers.iter().map(|b| (b.name.as_str(), b.shape.clone(), b.offset)).collect();
    assert_eq!(
        buffers,
        [
            ("batchnorm1.running_mean", vec![3], 0),
            ("batchnorm1.running_var", vec![3], 3),
            ("batchnorm1.num_batches_tracked", vec![], 0),
            ("batchnorm2.running_mean", vec![5], 6),
            ("batchnorm2.running_var", vec![5], 11),
            ("batchnorm2.num_batches_tracked", vec![], 1),
        ]
    );
    assert_eq!(n.buffer_count(), 16);
}

#[test]
fn residual_keeps_the_shape_and_names_continue_through_branches() {
    let n = net("input image(4, 6, 6); conv 4 kernel 3 pad 1; relu; \
         residual stochastic_depth 0.2 { conv 4 kernel 3 pad 1; relu; conv 4 kernel 1 init zeros; } \
         relu; flatten; dense 2; loss mse;");
    let Op::Residual { stochastic_depth, branch, shortcut } = &n.layers[2].op else { panic!() };
    assert_eq!(*stochastic_depth, 0.2);
    assert_eq!(branch.len(), 3);
    assert!(shortcut.is_empty());
    assert_eq!(
        shapes(&n),
        [
            ("conv1", "4x6x6"),
            ("relu1", "4x6x6"),
            ("residual1", "4x6x6"),
            ("conv2", "4x6x6"),
            ("relu2", "4x6x6"),
            ("conv3", "4x6x6"),
            ("relu3", "4x6x6"),
            ("flatten1", "144"),
            ("dense1", "2"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(n.param("conv3.weight").unwrap().init, Init::Zeros);
}

/// A projection shortcut: a 1x1 conv without bias whose stride per axis is the smallest s with
/// floor((in - 1) / s) + 1 = out, then batch norm, named `residualN.shortcut.{0,1}` (layer
/// counters untouched), laid out after the branch, initialized as PyTorch's defaults.
#[test]
fn shortcut_projects_the_skip_path_with_the_needed_stride() {
    let n = net("input image(3, 7, 9); \
         residual shortcut { conv 6 kernel 3 stride (2, 3) pad 1; } \
         residual shortcut stochastic_depth 0.1 { relu; } \
         conv 2 kernel 1; flatten; dense 2; loss mse;");
    let Op::Residual { shortcut, .. } = &n.layers[0].op else { panic!() };
    let Op::Conv { filters, kernel, stride, pad, groups, bias, .. } = shortcut[0].op else {
        panic!("{:?}", shortcut[0].op)
    };
    assert_eq!((filters, kernel, stride, pad, groups, bias), (6, [1, 1], [2, 3], [0, 0], 1, false));
    assert_eq!(
        shortcut[1].op,
        Op::BatchNorm { eps: 1e-5, momentum: 0.1, affine: true, track_running_stats: true }
    );
    // The same shape still gets the projection, with stride 1.
    let Op::Residual { stochastic_depth, shortcut, .. } = &n.layers[1].op else { panic!() };
    assert_eq!(*stochastic_depth, 0.1);
    assert!(matches!(shortcut[0].op, Op::Conv { stride: [1, 1], filters: 6, .. }));
    assert_eq!(
        shapes(&n),
        [
            ("residual1", "6x4x3"),
            ("conv1", "6x4x3"),
            ("residual1.shortcut.0", "6x4x3"),
            ("residual1.shortcut.1", "6x4x3"),
            ("residual2", "6x4x3"),
            ("relu1", "6x4x3"),
            ("residual2.shortcut.0", "6x4x3"),
            ("residual2.shortcut.1", "6x4x3"),
            ("conv2", "2x4x3"),
            ("flatten1", "24"),
            ("dense1", "2"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let params: Vec<_> = n.params[..6].iter().map(|p| (p.name.as_str(), p.shape.clone())).collect();
    assert_eq!(
        params,
        [
            ("conv1.weight", vec![6, 3, 3, 3]),
            ("conv1.bias", vec![6]),
            ("residual1.shortcut.0.weight", vec![6, 3, 1, 1]),
            ("residual1.shortcut.1.weight", vec![6]),
            ("residual1.shortcut.1.bias", vec![6]),
            ("residual2.shortcut.0.weight", vec![6, 6, 1, 1]),
        ]
    );
    // nn.Conv2d's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 3 channels x 1 x 1
    let bound = 1.0 / 3f64.sqrt();
    assert_eq!(n.params[2].init, Init::Uniform { lo: -bound, hi: bound });
    assert_eq!(n.params[3].init, Init::Constant(1.0));
    let buffers: Vec<_> = n.buffers.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        buffers[..3],
        [
            "residual1.shortcut.1.running_mean",
            "residual1.shortcut.1.running_var",
            "residual1.shortcut.1.num_batches_tracked",
        ]
    );
    // FLOPs: the 1x1 conv's 2 * 6 * 12 * 3 and the sum's 72 values.
    assert_eq!(n.layers[0].flops, 72);
    let Op::Residual { shortcut, .. } = &n.layers[0].op else { panic!() };
    assert_eq!(shortcut[0].flops, 2 * 6 * 12 * 3);
}

/// On a sequence the projection is a Conv1d (weight `[out, in, 1]`) striding along the length.
#[test]
fn shortcut_on_a_sequence_is_a_conv1d() {
    let n = net("input sequence(2, 10); \
         residual shortcut { conv 4 kernel 3 stride 3; } flatten; dense 1; loss mse;");
    let Op::Residual { shortcut, .. } = &n.layers[0].op else { panic!() };
    assert_eq!(shortcut[0].output, Shape::Sequence { channels: 4, length: 3 });
    // length 10 -> 3 without padding: floor(9 / s) + 1 = 3 first holds for s = 4
    assert!(matches!(shortcut[0].op, Op::Conv { stride: [1, 4], .. }));
    assert_eq!(n.param("residual1.shortcut.0.weight").unwrap().shape, [4, 2, 1]);
}

#[test]
fn heads_share_the_trunk_output_and_carry_their_losses() {
    let n = net("input 64; dense 32; relu; \
         head digit { dense 10; loss softmax_cross_entropy; } \
         head parity { dense 1; loss binary_cross_entropy weight 0.5; }");
    assert!(n.loss.is_none());
    let heads: Vec<_> =
        n.heads.iter().map(|h| (h.name.as_str(), h.output, h.loss.kind, h.loss.weight)).collect();
    assert_eq!(
        heads,
        [
            ("digit", Shape::Vector(10), LossKind::SoftmaxCrossEntropy, 1.0),
            ("parity", Shape::Vector(1), LossKind::BinaryCrossEntropy, 0.5),
        ]
    );
    assert_eq!(n.heads[1].layers[0].name, "dense3");
    assert_eq!(n.param("dense3.weight").unwrap().shape, [1, 32]);
}

#[test]
fn declarations_resolve_with_defaults() {
    let n = net("input 4; dense 2; loss mse;");
    assert_eq!((n.batch, n.preprocess, n.augment.len()), (32, None, 0));
    let n = net("input image(1, 8, 8); batch 16; preprocess whiten pca eps 0.1; \
         augment { translate 1; flip horizontal; flip vertical; rotate 10; noise gaussian 0.05; \
         cutout 3; mixup 0.2; cutmix 1.0; } flatten; dense 2; loss mse;");
    assert_eq!(n.batch, 16);
    let preprocess = n.preprocess.unwrap();
    assert_eq!((preprocess.kind, preprocess.eps), (PreprocessKind::WhitenPca, 0.1));
    assert!(n.augment_span.is_some());
    assert_eq!(
        n.augment,
        [
            Augmentation::Translate { pixels: 1 },
            Augmentation::FlipHorizontal,
            Augmentation::FlipVertical,
            Augmentation::Rotate { degrees: 10.0 },
            Augmentation::GaussianNoise { sigma: 0.05 },
            Augmentation::Cutout { size: 3 },
            Augmentation::Mixup { alpha: 0.2 },
            Augmentation::Cutmix { alpha: 1.0 },
        ]
    );
    for (text, kind) in [
        ("mean_subtract per_pixel", PreprocessKind::MeanSubtractPerPixel),
        ("mean_subtract per_channel", PreprocessKind::MeanSubtractPerChannel),
        ("standardize per_channel", PreprocessKind::StandardizePerChannel),
        ("standardize per_feature", PreprocessKind::StandardizePerFeature),
    ] {
        let n = net(&format!("input image(1, 2, 2); preprocess {text}; loss mse;"));
        let preprocess = n.preprocess.unwrap();
        assert_eq!((preprocess.kind, preprocess.eps), (kind, 1e-5));
    }
}

#[test]
fn init_schemes_resolve_with_torch_formulas() {
    let n = net("input 6; dense 3; dense 4 init kaiming_uniform; dense 5 init kaiming_normal; \
         dense 6 init xavier_uniform; dense 7 init xavier_normal; dense 8 init lecun_uniform; \
         dense 9 init lecun_normal; dense 10 init orthogonal bias constant 0.5; \
         dense 11 init uniform(-0.1, 0.2) bias ones; dense 12 init normal(0, 0.01) bias zeros; \
         loss mse;");
    let init = |name: &str| n.param(name).unwrap().init;
    let close = |a: Init, b: Init| match (a, b) {
        (Init::Uniform { lo, hi }, Init::Uniform { lo: l2, hi: h2 }) => {
            (lo - l2).abs() < 1e-12 && (hi - h2).abs() < 1e-12
        }
        (Init::Normal { mean, std }, Init::Normal { mean: m2, std: s2 }) => {
            (mean - m2).abs() < 1e-12 && (std - s2).abs() < 1e-12
        }
        (a, b) => a == b,
    };
    let uniform = |b: f64| Init::Uniform { lo: -b, hi: b };
    let normal = |std: f64| Init::Normal { mean: 0.0, std };
    // nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
    assert!(close(init("dense1.weight"), uniform(1.0 / 6f64.sqrt())));
    assert!(close(init("dense1.bias"), uniform(1.0 / 6f64.sqrt())));
    assert!(close(init("dense2.weight"), uniform((6.0 / 3.0f64).sqrt())));
    assert!(close(init("dense2.bias"), uniform(1.0 / 3f64.sqrt())));
    assert!(close(init("dense3.weight"), normal((2.0 / 4.0f64).sqrt())));
    assert!(close(init("dense4.weight"), uniform((6.0 / (5.0 + 6.0f64)).sqrt())));
    assert!(close(init("dense5.weight"), normal((2.0 / (6.0 + 7.0f64)).sqrt())));
    assert!(close(init("dense6.weight"), uniform((3.0 / 7.0f64).sqrt())));
    assert!(close(init("dense7.weight"), normal((1.0 / 8.0f64).sqrt())));
    assert_eq!(init("dense8.weight"), Init::Orthogonal { gain: 1.0 });
    assert_eq!(init("dense8.bias"), Init::Constant(0.5));
    assert_eq!(init("dense9.weight"), Init::Uniform { lo: -0.1, hi: 0.2 });
    assert_eq!(init("dense9.bias"), Init::Constant(1.0));
    assert_eq!(init("dense10.weight"), Init::Normal { mean: 0.0, std: 0.01 });
    assert_eq!(init("dense10.bias"), Init::Zeros);
    assert_eq!(n.param("dense1.weight").unwrap().init_scheme, "default");
    assert_eq!(n.param("dense2.weight").unwrap().init_scheme, "kaiming_uniform");
}

#[test]
fn init_arguments_resolve_as_torch_nn_init_computes_them() {
    // Every layer is `dense 4` on 6 inputs: fan_in 6, fan_out 4. The expected values were
    // printed by torch (calculate_gain / sqrt(fan), times sqrt(3) for the uniform bound).
    let schemes = [
        "kaiming_normal(mode fan_out, nonlinearity leaky_relu, a 0.2)",
        "kaiming_uniform(nonlinearity tanh)",
        "kaiming_normal(nonlinearity selu)",
        "kaiming_uniform(a 0.3)",
        "xavier_uniform(gain 2)",
        "xavier_normal(gain relu)",
        "xavier_normal(gain leaky_relu)",
        "kaiming_normal(mode fan_in, nonlinearity linear)",
        "orthogonal(gain 1.5)",
        "trunc_normal(0.1, 0.02, -0.04, 0.3)",
    ];
    let layers: String = schemes.iter().map(|s| format!("dense 6; dense 4 init {s}; ")).collect();
    let n = net(&format!("input 6; {layers} loss mse;"));
    let init = |i: usize| n.param(&format!("dense{}.weight", 2 * i + 2)).unwrap().init;
    let normal = |i: usize, want: f64| match init(i) {
        Init::Normal { mean, std } => assert!(mean == 0.0 && (std - want).abs() < 1e-12, "{i}"),
        other => panic!("{i}: {other:?}"),
    };
    let uniform = |i: usize, want: f64| match init(i) {
        Init::Uniform { lo, hi } => assert!(lo == -hi && (hi - want).abs() < 1e-12, "{i}"),
        other => panic!("{i}: {other:?}"),
    };
    normal(0, 0.6933752452815364);
    uniform(1, 1.1785113019775793);
    normal(2, 0.3061862178478973);
    uniform(3, 0.9578262852211514);
    uniform(4, 1.5491933384829668);
    normal(5, 0.6324555320336759);
    normal(6, 0.6324239116285848);
    normal(7, 0.4082482904638631);
    assert_eq!(init(8), Init::Orthogonal { gain: 1.5 });
    assert_eq!(init(9), Init::TruncNormal { mean: 0.1, std: 0.02, a: -0.04, b: 0.3 });
    // The summary shows the scheme as written, arguments included.
    assert_eq!(n.param("dense2.weight").unwrap().init_scheme, schemes[0]);
    assert_eq!(n.param("dense20.weight").unwrap().init_scheme, "trunc_normal");
}

#[test]
fn loss_options_resolve_with_pytorch_defaults() {
    let n = net("input 4; dense 3; loss softmax_cross_entropy label_smoothing 0.1 \
         class_weights(0.5, 1, 2e0);");
    let loss = n.loss.unwrap();
    assert_eq!(loss.kind, LossKind::SoftmaxCrossEntropy);
    assert_eq!((loss.label_smoothing, loss.class_weights), (0.1, Some(vec![0.5, 1.0, 2.0])));
    let loss = net("input 4; dense 3; loss huber;").loss.unwrap();
    assert_eq!((loss.kind, loss.delta, loss.pos_weight), (LossKind::Huber, 1.0, None));
    let loss = net("input 4; dense 3; loss huber delta 0.25;").loss.unwrap();
    assert_eq!(loss.delta, 0.25);
    assert_eq!(net("input 4; dense 3; loss l1;").loss.unwrap().kind, LossKind::L1);
    let loss = net("input 4; dense 1; loss binary_cross_entropy pos_weight 3;").loss.unwrap();
    assert_eq!((loss.pos_weight, loss.label_smoothing, loss.class_weights), (Some(3.0), 0.0, None));
    // In a head, beside the head's weight.
    let n = net("input 4; dense 3; head a { dense 2; loss softmax_cross_entropy label_smoothing \
         0.2 weight 0.5; } head b { dense 1; loss huber delta 2 weight 0.1; }");
    assert_eq!((n.heads[0].loss.label_smoothing, n.heads[0].loss.weight), (0.2, 0.5));
    assert_eq!((n.heads[1].loss.delta, n.heads[1].loss.weight), (2.0, 0.1));
}

#[test]
fn penalties_apply_to_weights_by_default_and_to_named_targets() {
    let n = net("input 4; dense 3 dropconnect 0.5; batchnorm; relu; dense 2; loss mse; \
         penalty l2 5e-4; penalty l1 1e-5 on dense2.weight, dense1.bias; \
         penalty l1_activity 1e-4 on relu1;");
    let coefficients: Vec<_> = n.params.iter().map(|p| (p.name.as_str(), p.l1, p.l2)).collect();
    assert_eq!(
        coefficients,
        [
            ("dense1.weight", None, Some(5e-4)),
            ("dense1.bias", Some(1e-5), None),
            ("batchnorm1.weight", None, None),
            ("batchnorm1.bias", None, None),
            ("dense2.weight", Some(1e-5), Some(5e-4)),
            ("dense2.bias", None, None),
        ]
    );
    let activity: Vec<_> =
        n.activity_penalties.iter().map(|p| (p.layer.as_str(), p.coefficient)).collect();
    assert_eq!(activity, [("relu1", 1e-4)]);
    assert_eq!(n.layers[0].op, Op::Dense { units: 3, bias: true, dropconnect: Some(0.5) });
    // `on LAYER` selects the layer's weights only.
    let n = net("input 4; dense 3; loss mse; penalty l1 0.1 on dense1;");
    assert_eq!(n.param("dense1.weight").unwrap().l1, Some(0.1));
    assert_eq!(n.param("dense1.bias").unwrap().l1, None);
}

#[test]
fn rust_token_form_checks_like_the_file_form() {
    let file = "network T { input 4; dense 3 init uniform(-0.1, 0.1); loss mse; penalty l1 1e-5 on dense1.weight; }";
    let tokens = "network T { input 4 ; dense 3 init uniform ( - 0.1 , 0.1 ) ; loss mse ; penalty l1 1e-5 on dense1 . weight ; }";
    let a = check_source(file).unwrap();
    let b = check_source(tokens).unwrap();
    assert_eq!(
        a[0].params.iter().map(|p| (&p.name, p.init, p.l1)).collect::<Vec<_>>(),
        b[0].params.iter().map(|p| (&p.name, p.init, p.l1)).collect::<Vec<_>>()
    );
    assert_eq!(b[0].param("dense1.weight").unwrap().init, Init::Uniform { lo: -0.1, hi: 0.1 });
}

#[test]
fn the_design_documents_digits_cnn_has_pytorchs_parameter_count() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../specs/digits_cnn.nn"))
            .unwrap();
    let n = &check_source(&text).unwrap()[0];
    // PyTorch: sum(p.numel() for p in model.parameters()) for the same layers.
    assert_eq!(n.param_count(), 21962);
    assert_eq!(n.buffer_count(), 64);
    let table = netspec_grammar::summary::summary(n);
    assert!(table.contains("Trainable params: 21,962"), "{table}");
    assert!(table.contains("dense1 (dense)"), "{table}");
}

#[test]
fn every_error_is_reported_not_only_the_first() {
    let errors = check_source(
        "network T { input 4; dense 0; dropout 1.5; dense 3 init kaimng_normal; loss mse; penalty l2 -1; }",
    )
    .unwrap_err();
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages.len(), 4, "{messages:#?}");
    assert!(messages[0].contains("must be positive"));
    assert!(messages[1].contains("[0, 1)"));
    assert!(messages[2].contains("kaimng_normal"));
    assert_eq!(errors[2].help.as_deref(), Some("did you mean `kaiming_normal`?"));
    assert!(messages[3].contains(">= 0"));
}

#[test]
fn a_failed_layer_does_not_cascade_into_later_shape_errors() {
    // batchnorm fails; the loss must not then be checked against the conv's image output.
    let errors = check_source(
        "network T { input image(1, 4, 4); conv 2 kernel 3 pad 1; batchnorm eps 0; flatten; dense 2; \
         loss softmax_cross_entropy; penalty l1 0.1 on dense1.weight; }",
    )
    .unwrap_err();
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, ["batch norm's eps must be > 0, found 0"]);
}

#[test]
fn references_to_other_places_name_their_line() {
    let errors = check_source(
        "network T { input 4; dense 2; loss mse;\n penalty l2 0.1;\n penalty l2 0.2 on dense1; }",
    )
    .unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].help.as_deref().unwrap().starts_with("the penalty on line 2"), "{errors:?}");
}

#[test]
fn a_syntax_error_right_after_a_byte_order_mark_is_reported_not_a_panic() {
    let errors = check_source("\u{feff}x").unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].span.start, 3);
}
