//! `netspec summary`'s sections after the layer table: every parameter's initial
//! distribution (biases included) and what training does.

use netspec_grammar::check_source;
use netspec_grammar::summary::summary;

fn table(spec: &str) -> String {
    summary(&check_source(spec).unwrap_or_else(|e| panic!("{e:?}"))[0])
}

/// The cells of the line starting with `start` (after the indent).
fn cells(table: &str, start: &str) -> Vec<String> {
    let line = table
        .lines()
        .find(|l| l.trim_start().starts_with(start))
        .unwrap_or_else(|| panic!("no `{start}` line in\n{table}"));
    line.split("   ").map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect()
}

#[test]
fn every_parameter_shows_its_initial_distribution_biases_included() {
    let t = table(
        "network T { input 100; batch 8; dense 50 init normal(0, 0.01) bias zeros; tanh; \
         dense 10; loss mse; }",
    );
    assert_eq!(
        cells(&t, "dense1.weight"),
        ["dense1.weight", "50x100", "normal", "normal(0, 0.010000)", "0.0100"]
    );
    assert_eq!(cells(&t, "dense1.bias"), ["dense1.bias", "50", "zeros", "zeros", "0.0000"]);
    // nn.Linear's default bias: U(-1/sqrt(50), 1/sqrt(50)), std 1/sqrt(3 * 50)
    let bias = cells(&t, "dense2.bias");
    assert_eq!(bias[2], "default (PyTorch, fan_in 50)");
    assert_eq!(bias[3], "uniform(-0.141421, 0.141421)");
    assert_eq!(bias[4], format!("{:.4}", 1.0 / 150f64.sqrt()));
}

#[test]
fn the_training_section_tells_batch_memory_loss_penalties_and_pipeline() {
    let t = table(
        "network T { input image(1, 4, 4); batch 8; preprocess whiten pca; \
         augment { flip horizontal; mixup 0.2; } conv 2 kernel 3 pad 1; relu; flatten; \
         dense 3; loss softmax_cross_entropy; penalty l2 0.001; \
         penalty l1_activity 0.01 on relu1; }",
    );
    assert!(t.contains("\n  batch: 8 samples per train_step"), "{t}");
    // conv1 and relu1 32 values, dense1 3 (flatten shares): (32 + 32 + 3) * 2 * 4 bytes
    let per_sample = (32 + 32 + 3) * 8;
    assert!(
        t.contains(&format!(
            "activation memory: {per_sample} bytes per sample, 4,288 bytes per batch of 8"
        )),
        "{t}"
    );
    assert_eq!(per_sample * 8, 4288);
    assert!(t.contains("\n  loss: softmax_cross_entropy (mean over the batch)\n"), "{t}");
    assert!(
        t.contains(
            "\n  penalties: l2 0.001 on conv1.weight, dense1.weight; l1_activity 0.01 on relu1\n"
        ),
        "{t}"
    );
    assert!(
        t.contains("\n  preprocess: whiten pca (eps 0.00001), fitted by fit_preprocess"),
        "{t}"
    );
    assert!(t.contains("\n  augment: flip horizontal, mixup 0.2 (train_step only)\n"), "{t}");
}

#[test]
fn heads_list_their_losses_and_plain_networks_say_none() {
    let t = table(
        "network H { input 4; dense 8; relu; head a { dense 3; loss softmax_cross_entropy; } \
         head b { dense 1; loss binary_cross_entropy weight 0.5; } }",
    );
    assert!(
        t.contains(
            "\n  loss: the weighted sum over heads: a softmax_cross_entropy weight 1, \
             b binary_cross_entropy weight 0.5\n"
        ),
        "{t}"
    );
    assert!(t.contains("\n  penalties: none\n  preprocess: none\n  augment: none\n"), "{t}");
}

#[test]
fn init_arguments_and_loss_options_show_as_written() {
    let t = table(
        "network T { input 6; dense 4 init kaiming_normal(mode fan_out, nonlinearity tanh) \
         bias trunc_normal(0, 0.1, -0.2, 0.2); dense 3 init xavier_uniform(gain 2); \
         loss softmax_cross_entropy label_smoothing 0.1 class_weights(1, 2, 0.5); }",
    );
    // std = (5/3) / sqrt(fan_out 4); a truncated normal's spread is not given.
    assert_eq!(
        cells(&t, "dense1.weight"),
        [
            "dense1.weight",
            "4x6",
            "kaiming_normal(mode fan_out, nonlinearity tanh)",
            "normal(0, 0.833333)",
            "0.8333"
        ]
    );
    assert_eq!(
        cells(&t, "dense1.bias"),
        ["dense1.bias", "4", "trunc_normal", "trunc_normal(0, 0.100000, -0.2, 0.2)", "-"]
    );
    assert_eq!(cells(&t, "dense2.weight")[2], "xavier_uniform(gain 2)");
    assert!(t.contains(
        "loss: softmax_cross_entropy label_smoothing 0.1 class_weights(1, 2, 0.5) (weighted mean \
         over the batch: sum(w[label] * loss) / sum(w[label]))"
    ));
    let t = table("network T { input 2; dense 1; loss huber delta 0.5; }");
    assert!(t.contains("loss: huber delta 0.5 (mean over the batch)"), "{t}");
    let t = table("network T { input 2; dense 1; loss binary_cross_entropy pos_weight 4; }");
    assert!(t.contains("loss: binary_cross_entropy pos_weight 4 (mean over the batch)"), "{t}");
}

/// A ResNet stage's first block counts as torchvision's `BasicBlock(4, 8, stride=2,
/// downsample=Sequential(conv1x1(4, 8, 2), BatchNorm2d(8)))`: 944 parameters (summed over
/// `parameters()` of those torch modules), 48 of them in the projection shortcut.
#[test]
fn a_projection_shortcut_counts_its_parameters_as_pytorch() {
    let t = table(
        "network T { input image(4, 8, 8); batch 2; \
         residual shortcut { conv 8 kernel 3 stride 2 pad 1 bias none; batchnorm; relu; \
         conv 8 kernel 3 pad 1 bias none; batchnorm; } flatten; loss mse; }",
    );
    assert_eq!(cells(&t, "residual1 (")[1..3], ["8x4x4", "0"]);
    assert_eq!(
        cells(&t, "residual1.shortcut.0 (")[..3],
        ["residual1.shortcut.0 (conv 1x1 stride 2)", "8x4x4", "32"]
    );
    assert_eq!(cells(&t, "residual1.shortcut.1 (")[2], "16");
    assert_eq!(cells(&t, "Trainable params:"), ["Trainable params: 944"]);
}

/// The totals count what PyTorch's `parameters()` and floating-point `buffers()` hold:
/// `sum(p.numel() for p in m.parameters())` = 514 and the running statistics = 20 for
/// `nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, affine=False), nn.Flatten(),
/// nn.Linear(64, 6), nn.BatchNorm1d(6))` (torch 2.15); the row of the layer without `affine`
/// counts no parameters.
#[test]
fn batchnorm_without_affine_counts_buffers_but_no_parameters() {
    let t = table(
        "network T { input image(3, 6, 6); batch 4; conv 4 kernel 3; batchnorm affine false; \
         flatten; dense 6; batchnorm; loss mse; }",
    );
    assert!(t.contains("Trainable params: 514\n"), "{t}");
    assert!(t.contains("Non-trainable buffers: 20 "), "{t}");
    assert_eq!(cells(&t, "batchnorm1")[..3], ["batchnorm1 (batchnorm affine false)", "4x4x4", "0"]);
    assert_eq!(cells(&t, "batchnorm2")[..3], ["batchnorm2 (batchnorm)", "6", "12"]);
}

/// Without running statistics there are no buffers, as torch's `buffers()` of
/// `nn.BatchNorm2d(4, track_running_stats=False)` is empty; gamma and beta still count.
#[test]
fn batchnorm_without_running_statistics_counts_no_buffers() {
    let t = table(
        "network T { input image(3, 6, 6); batch 4; conv 4 kernel 3; \
         batchnorm track_running_stats false; flatten; dense 6; loss mse; }",
    );
    // conv 3 * 4 * 9 + 4, gamma and beta 2 * 4, dense 64 * 6 + 6
    assert!(t.contains(&format!("Trainable params: {}\n", 112 + 8 + 390)), "{t}");
    assert!(t.contains("Non-trainable buffers: 0 "), "{t}");
    let row = cells(&t, "batchnorm1");
    assert_eq!(row[..3], ["batchnorm1 (batchnorm track_running_stats false)", "4x4x4", "8"]);
}
