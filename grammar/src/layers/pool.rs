//! Pooling: `maxpool K [stride S] [pad P]`, `avgpool K ...`, `global_avgpool`,
//! `fractional_maxpool ALPHA`.

use super::{Argument, LayerKind, LayerPlan, LayerStatement, Lower, image_input, window_output};
use crate::check::Checker;
use crate::diagnostic::Diagnostic;
use crate::ir::{Op, Pool, Shape};

pub(super) const KINDS: &[LayerKind] = &[
    LayerKind {
        keyword: "maxpool",
        argument: Argument::Number,
        options: &["stride", "pad"],
        lower: Lower::Plan(|checker, layer| window(checker, layer, Op::MaxPool)),
        label: |op| match op {
            Op::MaxPool(pool) => Some(format!("maxpool {}x{}", pool.kernel, pool.kernel)),
            _ => None,
        },
    },
    LayerKind {
        keyword: "avgpool",
        argument: Argument::Number,
        options: &["stride", "pad"],
        lower: Lower::Plan(|checker, layer| window(checker, layer, Op::AvgPool)),
        label: |op| match op {
            Op::AvgPool(pool) => Some(format!("avgpool {}x{}", pool.kernel, pool.kernel)),
            _ => None,
        },
    },
    LayerKind {
        keyword: "global_avgpool",
        argument: Argument::None,
        options: &[],
        lower: Lower::Plan(global_avgpool),
        label: |op| matches!(op, Op::GlobalAvgPool).then(|| "global_avgpool".into()),
    },
    LayerKind {
        keyword: "fractional_maxpool",
        argument: Argument::Number,
        options: &[],
        lower: Lower::Plan(fractional_maxpool),
        label: |op| match op {
            Op::FractionalMaxPool { alpha } => Some(format!("fractional_maxpool {alpha}")),
            _ => None,
        },
    },
];

/// A square window sliding over each channel (nn.MaxPool2d, nn.AvgPool2d).
fn window(
    checker: &mut Checker,
    layer: &LayerStatement<'_>,
    op: fn(Pool) -> Op,
) -> Option<LayerPlan> {
    let statement = layer.statement;
    let kernel = checker.count(layer.argument?, "the pooling window", 1);
    let stride = layer.number("stride").map(|n| checker.count(n, "the stride", 1));
    let pad = layer.number("pad").map_or(Some(0), |n| checker.count(n, "the padding", 0));
    let (channels, height, width) = image_input(checker, statement, layer.input?)?;
    let kernel = kernel?;
    let stride = stride.unwrap_or(Some(kernel))?;
    let pad = pad?;
    if 2 * pad > kernel {
        checker.error(
            Diagnostic::error(
                statement.span,
                format!("padding {pad} is more than half the pooling window {kernel}"),
            )
            .with_label("too much padding")
            .with_help(format!("use `pad {}` at most, as PyTorch requires", kernel / 2)),
        );
        return None;
    }
    let (out_h, out_w) = window_output(checker, statement, (height, width), kernel, stride, pad)?;
    let output = Shape::Image { channels, height: out_h, width: out_w };
    Some(LayerPlan {
        op: op(Pool { kernel, stride, pad }),
        output,
        flops: (output.len() * kernel * kernel) as u64,
        params: vec![],
        fans: None,
        norm_features: None,
    })
}

/// The mean of each channel: image C x H x W -> vector C.
fn global_avgpool(checker: &mut Checker, layer: &LayerStatement<'_>) -> Option<LayerPlan> {
    let (channels, height, width) = image_input(checker, layer.statement, layer.input?)?;
    Some(LayerPlan {
        op: Op::GlobalAvgPool,
        output: Shape::Vector(channels),
        flops: (channels * height * width) as u64,
        params: vec![],
        fans: None,
        norm_features: None,
    })
}

/// Graham (2014) with 2x2 pooling regions, output = floor(input / alpha).
fn fractional_maxpool(checker: &mut Checker, layer: &LayerStatement<'_>) -> Option<LayerPlan> {
    let statement = layer.statement;
    let alpha = checker.bounded(
        layer.argument?,
        "the fractional pooling ratio",
        "in (1, 2)",
        "Graham (2014) shrinks each side by a factor alpha between 1 and 2, e.g. 1.41",
        |a| a > 1.0 && a < 2.0,
    );
    let (channels, height, width) = image_input(checker, statement, layer.input?)?;
    let alpha = alpha?;
    // torch.nn.FractionalMaxPool2d(kernel_size=2, output_ratio=1/alpha): int(size * ratio).
    let out = |side: usize| (side as f64 * (1.0 / alpha)) as usize;
    let (out_h, out_w) = (out(height), out(width));
    if out_h < 1 || out_w < 1 || out_h + 1 > height || out_w + 1 > width {
        checker.error(
            Diagnostic::error(statement.span, format!("fractional max pooling by {alpha} cannot shrink {height}x{width} with 2x2 regions"))
                .with_label("input too small")
                .with_help("pool a larger input (at least 2x2) or remove this layer"),
        );
        return None;
    }
    let output = Shape::Image { channels, height: out_h, width: out_w };
    Some(LayerPlan {
        op: Op::FractionalMaxPool { alpha },
        output,
        flops: 4 * output.len() as u64,
        params: vec![],
        fans: None,
        norm_features: None,
    })
}
