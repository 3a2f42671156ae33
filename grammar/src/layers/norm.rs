//! Normalization layers: `batchnorm [eps E] [momentum M] [affine false]
//! [track_running_stats false]` and `layernorm [eps E]`.

use super::{Argument, LayerKind, LayerPlan, LayerStatement, Lower};
use crate::check::Checker;
use crate::diagnostic::Diagnostic;
use crate::ir::{Init, Op, Role, Shape};

pub(super) const KINDS: &[LayerKind] = &[
    LayerKind {
        keyword: "batchnorm",
        argument: Argument::None,
        options: &["eps", "momentum", "affine", "track_running_stats"],
        lower: Lower::Plan(batchnorm),
        label: |op, _| match op {
            Op::BatchNorm { affine, track_running_stats, .. } => Some(format!(
                "batchnorm{}{}",
                if *affine { "" } else { " affine false" },
                if *track_running_stats { "" } else { " track_running_stats false" }
            )),
            _ => None,
        },
    },
    LayerKind {
        keyword: "layernorm",
        argument: Argument::None,
        options: &["eps"],
        lower: Lower::Plan(layernorm),
        label: |op, _| matches!(op, Op::LayerNorm { .. }).then(|| "layernorm".into()),
    },
];

/// nn.BatchNorm1d on vectors and sequences (per channel), nn.BatchNorm2d (per channel) on
/// images: gamma and beta per feature (none with `affine false`, as `affine=False`), and
/// running statistics (buffers; none with `track_running_stats false`, which normalizes with
/// the statistics of the batch given in eval too, and so needs more than one value per
/// channel in each sample).
fn batchnorm(checker: &mut Checker, layer: &LayerStatement<'_>) -> Option<LayerPlan> {
    let eps = layer.number("eps").map_or(Some(1e-5), |n| {
        checker.positive(
            n,
            "batch norm's eps",
            "eps keeps 1/sqrt(var + eps) finite; PyTorch's default is 1e-5",
        )
    });
    let momentum = layer.number("momentum").map_or(Some(0.1), |n| {
        checker.bounded(
            n,
            "batch norm's momentum",
            "in (0, 1]",
            "running = (1 - momentum) * running + momentum * batch; PyTorch's default is 0.1",
            |m| m > 0.0 && m <= 1.0,
        )
    });
    let affine = layer.flag(
        checker,
        "affine",
        true,
        "`affine false` leaves out gamma and beta (PyTorch's `affine=False`); the default is \
         `affine true`",
    );
    let track_running_stats = layer.flag(
        checker,
        "track_running_stats",
        true,
        "`track_running_stats false` keeps no running statistics and normalizes with the \
         batch's statistics in eval too (PyTorch's `track_running_stats=False`); the default is \
         `track_running_stats true`",
    );
    let input = layer.input?;
    // Eval normalizes one sample by its own statistics (as PyTorch's eval on a batch of one):
    // one value per channel has variance 0, and PyTorch raises "Expected more than 1 value per
    // channel".
    if track_running_stats == Some(false) && input.len() / norm_features(input) < 2 {
        let option = layer.options["track_running_stats"];
        checker.error(
            Diagnostic::error(
                option.span,
                format!(
                    "`track_running_stats false` needs more than one value per channel in a \
                     sample, but the input of `batchnorm` is {}",
                    match input {
                        Shape::Vector(n) => format!("a vector of {n} features"),
                        other => format!("{other}, one value per channel"),
                    }
                ),
            )
            .with_label("eval would normalize each feature over a single value")
            .with_help(
                "keep the running statistics (drop `track_running_stats false`), or normalize \
                 each sample's features with `layernorm`",
            ),
        );
        return None;
    }
    Some(batchnorm_plan(input, eps?, momentum?, affine?, track_running_stats?))
}

/// The channels (or features) a batch norm over `input` normalizes.
fn norm_features(input: Shape) -> usize {
    match input {
        Shape::Vector(n) => n,
        Shape::Image { channels, .. } | Shape::Sequence { channels, .. } => channels,
    }
}

/// Batch norm over `input` (a `batchnorm` layer, or the norm of a residual's projection
/// shortcut with PyTorch's defaults: `eps` 1e-5, `momentum` 0.1, affine and tracked).
pub(crate) fn batchnorm_plan(
    input: Shape,
    eps: f64,
    momentum: f64,
    affine: bool,
    track_running_stats: bool,
) -> LayerPlan {
    let features = norm_features(input);
    LayerPlan {
        op: Op::BatchNorm { eps, momentum, affine, track_running_stats },
        output: input,
        // Eval mode folds the running statistics into one scale and shift per value; without
        // them it takes each sample's mean and variance first (5 per value, as layernorm).
        flops: if track_running_stats { 2 } else { 5 } * input.len() as u64,
        params: if affine { gamma_and_beta(features) } else { Vec::new() },
        fans: None,
        norm_features: track_running_stats.then_some(features),
    }
}

/// nn.LayerNorm(features) on a vector: each sample's features normalized by their own mean
/// and biased variance, then gamma and beta per feature; no running statistics.
fn layernorm(checker: &mut Checker, layer: &LayerStatement<'_>) -> Option<LayerPlan> {
    let eps = layer.number("eps").map_or(Some(1e-5), |n| {
        checker.positive(
            n,
            "layer norm's eps",
            "eps keeps 1/sqrt(var + eps) finite; PyTorch's default is 1e-5",
        )
    });
    let features = match layer.input? {
        Shape::Vector(n) => n,
        image @ (Shape::Image { .. } | Shape::Sequence { .. }) => {
            checker.error(
                Diagnostic::error(
                    layer.statement.keyword.span,
                    format!("`layernorm` needs a vector input, but its input is the image {image}"),
                )
                .with_label("image input")
                .with_help(
                    "layernorm normalizes the features of a vector: flatten first, with \
                     `flatten;` (or `global_avgpool;`) before this layer",
                ),
            );
            return None;
        }
    };
    Some(LayerPlan {
        op: Op::LayerNorm { eps: eps? },
        output: Shape::Vector(features),
        // Per value: the mean's sum, the variance's square and sum, the normalization, the
        // scale and the shift counted as 5 (fvcore's count for an affine normalization).
        flops: 5 * features as u64,
        params: gamma_and_beta(features),
        fans: None,
        norm_features: None,
    })
}

/// The learnable scale (ones) and shift (zeros) per feature, PyTorch's `.weight` and `.bias`.
fn gamma_and_beta(features: usize) -> Vec<super::ParamPlan> {
    vec![
        ("weight", vec![features], Role::NormWeight, "ones".to_string(), Init::Constant(1.0)),
        ("bias", vec![features], Role::NormBias, "zeros".to_string(), Init::Zeros),
    ]
}
