//! `gelu`, `silu` and `layernorm`: their lowering, parameters, penalties, summary and errors.

use netspec_grammar::ir::*;
use netspec_grammar::{VOCABULARY, check_source, summary::summary};

fn net(body: &str) -> Network {
    let spec = format!("network T {{ {body} }}");
    match check_source(&spec) {
        Ok(mut networks) => networks.remove(0),
        Err(errors) => panic!("{spec}\n{errors:#?}"),
    }
}

/// The diagnostics of a spec that must fail: (message, the text under the caret, help).
fn errors(body: &str) -> Vec<(String, String, String)> {
    let spec = format!("network T {{ {body} }}");
    let diagnostics = check_source(&spec).expect_err("the spec must fail");
    diagnostics
        .into_iter()
        .map(|d| {
            (d.message, spec[d.span.start..d.span.end].to_string(), d.help.unwrap_or_default())
        })
        .collect()
}

#[test]
fn gelu_and_silu_are_elementwise_on_any_shape() {
    let n = net("input image(2, 3, 3); gelu; silu; flatten; dense 4; gelu; silu; loss mse;");
    assert_eq!(n.layers[0].op, Op::Activation(Activation::Gelu));
    assert_eq!(n.layers[1].op, Op::Activation(Activation::Silu));
    assert_eq!(n.layers[0].output, Shape::Image { channels: 2, height: 3, width: 3 });
    assert_eq!(n.layers[4].output, Shape::Vector(4));
    let names: Vec<&str> = n.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["gelu1", "silu1", "flatten1", "dense1", "gelu2", "silu2"]);
    assert_eq!(n.layers[0].flops, 2 * 18);
    assert_eq!(n.layers[5].flops, 2 * 4);
    assert!(n.layers[0].params.is_empty() && n.layers[1].params.is_empty());
}

#[test]
fn layernorm_has_weight_and_bias_per_feature_and_no_buffers() {
    let n = net("input 6; dense 4; layernorm; relu; layernorm eps 1e-3; dense 2; loss mse;");
    assert_eq!(n.layers[1].name, "layernorm1");
    assert_eq!(n.layers[1].op, Op::LayerNorm { eps: 1e-5 });
    assert_eq!(n.layers[3].name, "layernorm2");
    assert_eq!(n.layers[3].op, Op::LayerNorm { eps: 1e-3 });
    assert_eq!(n.layers[1].output, Shape::Vector(4));
    assert_eq!(n.layers[1].flops, 5 * 4);
    let layout: Vec<_> = n
        .params
        .iter()
        .filter(|p| p.layer == "layernorm1")
        .map(|p| (p.name.as_str(), p.shape.clone(), p.offset, p.role, p.init, p.fans))
        .collect();
    // dense1 holds 4 * 6 + 4 = 28 values before them.
    assert_eq!(
        layout,
        [
            ("layernorm1.weight", vec![4], 28, Role::NormWeight, Init::Constant(1.0), None),
            ("layernorm1.bias", vec![4], 32, Role::NormBias, Init::Zeros, None),
        ]
    );
    assert_eq!(n.param("layernorm1.weight").unwrap().init_scheme, "ones");
    assert!(n.buffers.is_empty() && n.layers[1].buffers.is_empty());
    // As torch.nn.LayerNorm(4): 2 * 4 parameters.
    assert_eq!(n.param_count(), (4 * 6 + 4) + 8 + 8 + (2 * 4 + 2));
}

#[test]
fn a_bare_penalty_skips_layernorm_parameters_and_a_named_one_reaches_them() {
    let n = net("input 6; dense 4; layernorm; dense 2; loss mse; penalty l2 1e-4; \
         penalty l1 1e-5 on layernorm1.weight;");
    let l2: Vec<&str> =
        n.params.iter().filter(|p| p.l2.is_some()).map(|p| p.name.as_str()).collect();
    assert_eq!(l2, ["dense1.weight", "dense2.weight"]);
    let l1: Vec<&str> =
        n.params.iter().filter(|p| p.l1.is_some()).map(|p| p.name.as_str()).collect();
    assert_eq!(l1, ["layernorm1.weight"]);
}

#[test]
fn the_summary_labels_and_counts_the_new_layers() {
    let n = net("input 6; dense 4; layernorm; gelu; silu; dense 2; loss mse;");
    let table = summary(&n);
    let row = |name: &str| {
        table.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name}\n{table}"))
    };
    let cells = |name: &str| row(name).split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(cells("layernorm1"), ["layernorm1", "(layernorm)", "4", "8", "20"]);
    assert_eq!(cells("gelu1"), ["gelu1", "(gelu)", "4", "0", "8"]);
    assert_eq!(cells("silu1"), ["silu1", "(silu)", "4", "0", "8"]);
}

/// A window of height 1 on an image is labelled with both axes, so that it does not read as
/// 1-D; on a sequence the label shows the one axis, whatever the kernel.
#[test]
fn the_summary_labels_windows_by_the_input_kind() {
    let labels = |spec: &str| -> Vec<String> {
        let n = net(spec);
        n.layers.iter().map(netspec_grammar::layers::label).collect()
    };
    let image = labels(
        "input image(2, 5, 8); conv 4 kernel (1, 3) pad (0, 1); conv 4 kernel 1; maxpool 1; \
         flatten; dense 2; loss mse;",
    );
    assert_eq!(image[..3], ["conv 1x3 pad (0, 1)", "conv 1x1", "maxpool 1x1"]);
    let sequence = labels(
        "input sequence(2, 12); conv 4 kernel 3 pad 1; conv 4 kernel 1; maxpool 1; \
         avgpool 3 stride 1 pad 1; global_maxpool; dense 2; loss mse;",
    );
    assert_eq!(sequence[..4], ["conv 3 pad 1", "conv 1", "maxpool 1", "avgpool 3 stride 1 pad 1"]);
    // A pool's stride shows when it is not the window, its padding when it is not 0.
    let pools = labels(
        "input image(2, 8, 8); maxpool 2; avgpool 3 stride 1 pad 1 count_pad false; maxpool 2 \
         stride 2; flatten; dense 2; loss mse;",
    );
    assert_eq!(
        pools[..3],
        ["maxpool 2x2", "avgpool 3x3 stride 1 pad 1 count_pad false", "maxpool 2x2"]
    );
}

#[test]
fn layernorm_on_an_image_says_to_flatten_first() {
    let found = errors("input image(1, 4, 4); layernorm; flatten; dense 2; loss mse;");
    assert_eq!(found.len(), 1, "{found:?}");
    let (message, under_caret, help) = &found[0];
    assert_eq!(message, "`layernorm` needs a vector input, but its input is the image 1x4x4");
    assert_eq!(under_caret, "layernorm");
    assert!(help.contains("flatten first"), "{help}");
}

#[test]
fn layernorm_eps_is_validated_like_batchnorms() {
    for (eps, message) in [
        ("0", "layer norm's eps must be > 0, found 0"),
        ("- 0.1", "layer norm's eps must be > 0, found -0.1"),
        ("1e-50", "layer norm's eps is too small to represent"),
    ] {
        let found = errors(&format!("input 4; layernorm eps {eps}; loss mse;"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, message);
        assert_eq!(found[0].1, eps);
    }
}

#[test]
fn activations_take_no_number_or_option() {
    // A number where none is taken is a syntax error, as for `relu 2`.
    let found = errors("input 4; gelu 2; loss mse;");
    assert_eq!(found[0].0, "expected `;` or an option, found `2`");
    let found = errors("input 4; silu momentum 0.1; layernorm momentum 0.1; loss mse;");
    let messages: Vec<&str> = found.iter().map(|(m, ..)| m.as_str()).collect();
    assert_eq!(
        messages,
        ["`momentum` does not apply to `silu`", "`momentum` does not apply to `layernorm`"]
    );
    assert_eq!(found[1].2, "`layernorm` takes `eps`; `momentum` applies to `batchnorm`");
}

#[test]
fn misspellings_suggest_the_new_kinds() {
    let found = errors("input 4; layer_norm; loss mse;");
    assert_eq!(found[0].0, "unknown statement `layer_norm`");
    assert_eq!(found[0].2, "did you mean `layernorm`?");
}

#[test]
fn the_vocabulary_holds_the_new_kinds() {
    for word in ["gelu", "silu", "layernorm"] {
        assert!(VOCABULARY.contains(&word), "{word}");
    }
}

/// 1-D layers on `input sequence(C, L)`: nn.Conv1d's weight `[F, C/G, K]` and output length
/// floor((L + 2 pad - dilation (K - 1) - 1) / stride) + 1, pools along the sequence,
/// BatchNorm1d per channel, global pools and flatten to vectors.
#[test]
fn sequence_layers_follow_pytorchs_1d_modules() {
    let n = net("input sequence(3, 50); conv 8 kernel 5 stride 2 pad 2 dilation 2; batchnorm; \
         maxpool 3 stride 2 pad 1; conv 8 kernel 3 groups 8 bias none; \
         avgpool 2 count_pad false; global_maxpool; dense 4; loss mse;");
    // (50 + 4 - 8 - 1) / 2 + 1 = 23, (23 + 2 - 3) / 2 + 1 = 12, 12 - 2 = 10, 10 / 2 = 5
    let lengths: Vec<Shape> = n.layers.iter().map(|l| l.output).collect();
    let seq = |channels, length| Shape::Sequence { channels, length };
    assert_eq!(lengths[..5], [seq(8, 23), seq(8, 23), seq(8, 12), seq(8, 10), seq(8, 5)]);
    assert_eq!(lengths[5], Shape::Vector(8));
    assert_eq!(n.param("conv1.weight").unwrap().shape, [8, 3, 5]);
    assert_eq!(n.param("conv2.weight").unwrap().shape, [8, 1, 3]);
    assert!(n.param("conv2.bias").is_none());
    assert_eq!(n.param("batchnorm1.weight").unwrap().shape, [8]);
    let Op::Conv { kernel, stride, pad, dilation, groups, .. } = n.layers[0].op else {
        panic!("conv")
    };
    assert_eq!((kernel, stride, pad, dilation, groups), ([1, 5], [1, 2], [0, 2], [1, 2], 1));
    let Op::AvgPool(pool) = n.layers[4].op else { panic!("avgpool") };
    assert_eq!(pool, Pool { kernel: [1, 2], stride: [1, 2], pad: [0, 0], count_pad: false });
    // torch.nn.init's fans: in / groups * receptive field.
    assert_eq!(n.param("conv2.weight").unwrap().fans, Some(Fans { fan_in: 3, fan_out: 24 }));
    assert_eq!(n.param_count(), 8 * 3 * 5 + 8 + 2 * 8 + 8 * 3 + 8 * 4 + 4);
    let flat = net("input sequence(2, 7); conv 3 kernel 3; flatten; dense 2; loss mse;");
    assert_eq!(flat.layers[1].output, Shape::Vector(15));
}

/// Per-axis kernel, stride, padding and dilation and groups on images (nn.Conv2d's tuples).
#[test]
fn conv_options_per_axis_with_groups() {
    let n = net("input image(4, 49, 10); conv 8 kernel (10, 4) stride (2, 2) pad (5, 1); \
         conv 8 kernel 3 pad 1 groups 8; conv 6 kernel 3 dilation (2, 1) groups 2; \
         global_avgpool; loss mse;");
    // (49 + 10 - 10) / 2 + 1 = 25, (10 + 2 - 4) / 2 + 1 = 5; then 25 - 4 = 21, 5 - 2 = 3
    let image = |channels, height, width| Shape::Image { channels, height, width };
    assert_eq!(n.layers[0].output, image(8, 25, 5));
    assert_eq!(n.layers[1].output, image(8, 25, 5));
    assert_eq!(n.layers[2].output, image(6, 21, 3));
    assert_eq!(n.param("conv1.weight").unwrap().shape, [8, 4, 10, 4]);
    assert_eq!(n.param("conv2.weight").unwrap().shape, [8, 1, 3, 3]);
    assert_eq!(n.param("conv3.weight").unwrap().shape, [6, 4, 3, 3]);
    let labels: Vec<String> = n.layers.iter().map(netspec_grammar::layers::label).collect();
    assert_eq!(
        labels[..3],
        [
            "conv 10x4 stride 2 pad (5, 1)",
            "conv 3x3 pad 1 groups 8",
            "conv 3x3 dilation (2, 1) groups 2"
        ]
    );
    // Depthwise conv FLOPs: 2 * outputs * fan_in (9 taps per output), plus the bias.
    assert_eq!(n.layers[1].flops, (2 * 8 * 25 * 5 * 9 + 8 * 25 * 5) as u64);
}

#[test]
fn conv_option_errors_say_how_to_fix_them() {
    let e = errors("input image(6, 8, 8); conv 4 kernel 3 groups 3; flatten; loss mse;");
    assert_eq!(e[0].0, "groups 3 must divide both the 6 input channels and the 4 filters");
    assert_eq!(e[0].1, "groups 3");
    assert!(e[0].2.contains("`groups 1` or `groups 2`"), "{}", e[0].2);
    let e = errors("input sequence(3, 9); conv 4 kernel (3, 1); flatten; loss mse;");
    assert_eq!(e[0].1, "(3, 1)");
    assert!(e[0].0.contains("is a sequence"), "{}", e[0].0);
    let e = errors("input image(1, 5, 5); avgpool 2 count_pad maybe; flatten; loss mse;");
    assert_eq!(e[0].1, "maybe");
    let e = errors("input 8; maxpool 2; loss mse;");
    assert!(e[0].2.contains("input sequence(C, L)"), "{}", e[0].2);
}

/// `batchnorm affine false` (nn.BatchNorm2d(C, affine=False)): no `.weight` or `.bias`, the
/// running statistics kept; other options combine with it; a word other than true or false is
/// an error at the word.
#[test]
fn batchnorm_without_affine_has_buffers_but_no_parameters() {
    let n = net("input image(3, 4, 4); batchnorm affine false eps 1e-3 momentum 0.2; \
         conv 2 kernel 3; batchnorm affine true; flatten; loss mse;");
    assert_eq!(
        n.layers[0].op,
        Op::BatchNorm { eps: 1e-3, momentum: 0.2, affine: false, track_running_stats: true }
    );
    assert!(n.layers[0].params.is_empty());
    let names: Vec<&str> = n.buffers.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        names[..3],
        ["batchnorm1.running_mean", "batchnorm1.running_var", "batchnorm1.num_batches_tracked"]
    );
    assert_eq!(n.buffers[0].shape, [3]);
    // conv 2 x 3 x 3 x 3 + 2, then batchnorm2's gamma and beta
    assert_eq!(n.param_count(), 2 * 27 + 2 + 2 * 2);
    assert_eq!(n.param("batchnorm2.weight").unwrap().shape, [2]);
    assert_eq!(n.buffer_count(), 2 * 3 + 2 * 2);
    assert_eq!(netspec_grammar::layers::label(&n.layers[0]), "batchnorm affine false");
    assert_eq!(netspec_grammar::layers::label(&n.layers[2]), "batchnorm");
    let e = errors("input 4; batch 4; batchnorm affine no; loss mse;");
    assert_eq!(e[0].0, "`affine` takes `true` or `false`, not `no`");
    assert_eq!(e[0].1, "no");
    let e = errors("input 4; layernorm affine false; loss mse;");
    assert!(e[0].0.contains("`affine` does not apply to `layernorm`"), "{}", e[0].0);
}

/// `batchnorm track_running_stats false` (track_running_stats=False): no buffers at all; refused
/// where a sample has one value per channel, since eval normalizes each sample by its own
/// statistics.
#[test]
fn batchnorm_without_running_statistics_has_no_buffers() {
    let n = net("input sequence(2, 5); batchnorm track_running_stats false affine false; \
         conv 3 kernel 2; batchnorm track_running_stats false; flatten; loss mse;");
    assert!(n.buffers.is_empty());
    assert_eq!(n.buffer_count(), 0);
    assert_eq!(
        n.layers[0].op,
        Op::BatchNorm { eps: 1e-5, momentum: 0.1, affine: false, track_running_stats: false }
    );
    assert_eq!(n.param("batchnorm2.weight").unwrap().shape, [3]);
    assert_eq!(
        netspec_grammar::layers::label(&n.layers[0]),
        "batchnorm affine false track_running_stats false"
    );
    let e = errors("input 4; batch 4; dense 3; batchnorm track_running_stats false; loss mse;");
    assert!(e[0].0.contains("needs more than one value per channel"), "{}", e[0].0);
    assert!(e[0].0.contains("a vector of 3 features"), "{}", e[0].0);
    assert_eq!(e[0].1, "track_running_stats false");
    assert!(e[0].2.contains("layernorm"), "{}", e[0].2);
    let e = errors("input image(3, 1, 1); batchnorm track_running_stats false; flatten; loss mse;");
    assert!(e[0].0.contains("3x1x1, one value per channel"), "{}", e[0].0);
    let e = errors("input image(3, 2, 2); batchnorm track_running_stats yes; flatten; loss mse;");
    assert_eq!(e[0].0, "`track_running_stats` takes `true` or `false`, not `yes`");
}
