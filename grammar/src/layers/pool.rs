//! Pooling: `maxpool K [stride S] [pad P]`, `avgpool K ... [count_pad false]`,
//! `global_avgpool`, `global_maxpool`, `fractional_maxpool ALPHA`. On a sequence the windows
//! slide along it (nn.MaxPool1d, nn.AvgPool1d).

use super::conv::{axes, axes_option};
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
        label: |op, input| match op {
            Op::MaxPool(pool) => Some(format!("maxpool {}", window_label(pool, input))),
            _ => None,
        },
    },
    LayerKind {
        keyword: "avgpool",
        argument: Argument::Number,
        options: &["stride", "pad", "count_pad"],
        lower: Lower::Plan(|checker, layer| window(checker, layer, Op::AvgPool)),
        label: |op, input| match op {
            Op::AvgPool(pool) if !pool.count_pad => {
                Some(format!("avgpool {} count_pad false", window_label(pool, input)))
            }
            Op::AvgPool(pool) => Some(format!("avgpool {}", window_label(pool, input))),
            _ => None,
        },
    },
    LayerKind {
        keyword: "global_avgpool",
        argument: Argument::None,
        options: &[],
        lower: Lower::Plan(|checker, layer| global(checker, layer, Op::GlobalAvgPool)),
        label: |op, _| matches!(op, Op::GlobalAvgPool).then(|| "global_avgpool".into()),
    },
    LayerKind {
        keyword: "global_maxpool",
        argument: Argument::None,
        options: &[],
        lower: Lower::Plan(|checker, layer| global(checker, layer, Op::GlobalMaxPool)),
        label: |op, _| matches!(op, Op::GlobalMaxPool).then(|| "global_maxpool".into()),
    },
    LayerKind {
        keyword: "fractional_maxpool",
        argument: Argument::Number,
        options: &[],
        lower: Lower::Plan(fractional_maxpool),
        label: |op, _| match op {
            Op::FractionalMaxPool { alpha } => Some(format!("fractional_maxpool {alpha}")),
            _ => None,
        },
    },
];

/// `2x2`, `3x3 stride 1 pad 1`; `3` on a sequence. The stride shows when it is not the
/// window (its default), the padding when it is not 0.
fn window_label(pool: &Pool, input: &Shape) -> String {
    let sequence = matches!(input, Shape::Sequence { .. });
    // A sequence's entries are on the second axis.
    let axis = |pair: [usize; 2]| if sequence { [pair[1]; 2] } else { pair };
    let mut label = axes(pool.kernel, sequence);
    if pool.stride != pool.kernel {
        // 0 is never a stride: the option always shows.
        label += &axes_option("stride", axis(pool.stride), 0);
    }
    label + &axes_option("pad", axis(pool.pad), 0)
}

/// A window sliding over each channel (nn.MaxPool2d, nn.AvgPool2d; 1d on a sequence).
fn window(
    checker: &mut Checker,
    layer: &LayerStatement<'_>,
    op: fn(Pool) -> Op,
) -> Option<LayerPlan> {
    let statement = layer.statement;
    let kernel = checker.count(layer.argument?, "the pooling window", 1);
    let stride = layer.sizes(checker, "stride", "the stride", 1, 1);
    let pad = layer.sizes(checker, "pad", "the padding", 0, 0).map(|p| p.unwrap_or([0, 0]));
    let count_pad = layer.flag(
        checker,
        "count_pad",
        true,
        "`count_pad false` divides each window's sum by its positions inside the input \
         (count_include_pad=False); the default counts the padding as zeros",
    );
    let input = layer.input?;
    let (channels, _, _) = image_input(checker, statement, input)?;
    let sequence = matches!(input, Shape::Sequence { .. });
    let kernel = kernel?;
    let kernel = if sequence { [1, kernel] } else { [kernel, kernel] };
    let stride = stride?.unwrap_or(kernel);
    let (pad, count_pad) = (pad?, count_pad?);
    for a in 0..2 {
        if 2 * pad[a] > kernel[a] {
            let (pad, kernel) = (pad[a], kernel[a]);
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
    }
    let (out_h, out_w) = window_output(checker, statement, input, kernel, stride, pad, false)?;
    let output = input.with_grid(channels, out_h, out_w);
    Some(LayerPlan {
        op: op(Pool { kernel, stride, pad, count_pad }),
        output,
        flops: (output.len() * kernel[0] * kernel[1]) as u64,
        params: vec![],
        fans: None,
        norm_features: None,
    })
}

/// The mean or maximum of each channel: image C x H x W (or sequence C x L) -> vector C.
fn global(checker: &mut Checker, layer: &LayerStatement<'_>, op: Op) -> Option<LayerPlan> {
    let (channels, height, width) = image_input(checker, layer.statement, layer.input?)?;
    Some(LayerPlan {
        op,
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
