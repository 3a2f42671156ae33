//! `residual [shortcut] [stochastic_depth P] { ... }`: y = x + F(x), where the branch F keeps
//! the shape, or with `shortcut` y = S(x) + F(x), S a 1x1 conv (no bias, the stride the shapes
//! need) then batch norm, torchvision's `downsample`. The checker lowers the branch layer by
//! layer and builds S (`check/layers.rs`).

use super::{Argument, LayerKind, LayerPlan, Lower};
use crate::MAX_VALUES;
use crate::check::Checker;
use crate::diagnostic::{Diagnostic, Span};
use crate::ir::{Op, Shape};
use crate::suggest;

pub(super) const KINDS: &[LayerKind] = &[RESIDUAL];

pub(super) const RESIDUAL: LayerKind = LayerKind {
    keyword: "residual",
    argument: Argument::None,
    options: &["shortcut", "stochastic_depth"],
    lower: Lower::Residual,
    label: |op, _| {
        let Op::Residual { stochastic_depth, shortcut, .. } = op else { return None };
        let kind = if shortcut.is_empty() { "residual" } else { "residual shortcut" };
        Some(if *stochastic_depth > 0.0 {
            format!("{kind}, stochastic_depth {stochastic_depth}")
        } else {
            kind.to_string()
        })
    },
};

/// The stride of a 1x1 conv without padding that maps `size` positions to `out`: the smallest
/// s with floor((size - 1) / s) + 1 = out (nn.Conv2d's output size), if any.
fn projection_stride(size: usize, out: usize) -> Option<usize> {
    (1..=size.max(1)).find(|s| (size - 1) / s + 1 == out)
}

/// The sizes a 1x1 conv without padding can map `size` positions to, largest first: all of
/// them, or `e.g.` and the five largest.
fn reachable_sizes(size: usize) -> String {
    let mut sizes: Vec<String> =
        (1..=size.max(1)).map(|s| ((size - 1) / s + 1).to_string()).collect();
    sizes.dedup();
    let shown: Vec<&str> = sizes.iter().take(5).map(String::as_str).collect();
    let prefix = if sizes.len() > shown.len() { "e.g. " } else { "" };
    format!("{prefix}{}", suggest::list(&shown))
}

/// The projection shortcut S of a residual block from `input` to the branch's `output`: a 1x1
/// conv without bias with the stride the shapes need, then batch norm with PyTorch's defaults
/// (torchvision's BasicBlock `downsample`). `span` is the `shortcut` word's.
pub(crate) fn shortcut_plans(
    checker: &mut Checker,
    span: Span,
    input: Shape,
    output: Shape,
) -> Option<[LayerPlan; 2]> {
    let grids = match (input, output) {
        (Shape::Image { .. }, Shape::Image { .. })
        | (Shape::Sequence { .. }, Shape::Sequence { .. }) => input.grid().zip(output.grid()),
        _ => None,
    };
    let Some(((channels, height, width), (filters, out_h, out_w))) = grids else {
        checker.error(
            Diagnostic::error(
                span,
                format!(
                    "`shortcut` projects images and sequences, but this residual maps {input} \
                     to {output}"
                ),
            )
            .with_label("no 1x1 conv between these shapes")
            .with_help(
                "the projection is a 1x1 conv with batch norm, so the branch must end with an \
                 image (or a sequence) as it starts with one; on feature vectors, put a `dense` \
                 layer before the block to match the widths and drop `shortcut`",
            ),
        );
        return None;
    };
    let stride = [(height, out_h), (width, out_w)].map(|(size, out)| projection_stride(size, out));
    let [Some(stride_h), Some(stride_w)] = stride else {
        let (axis, size, out) = if stride[0].is_none() {
            ("height", height, out_h)
        } else {
            (if matches!(input, Shape::Sequence { .. }) { "length" } else { "width" }, width, out_w)
        };
        checker.error(
            Diagnostic::error(
                span,
                format!(
                    "no stride of a 1x1 conv maps {input} to {output} (the {axis} {size} to {out})"
                ),
            )
            .with_label("no projection stride")
            .with_help(format!(
                "a 1x1 conv with stride s gives floor(({axis} - 1) / s) + 1 positions; make the \
                 branch end with a {axis} of {}",
                reachable_sizes(size)
            )),
        );
        return None;
    };
    let values = (channels as u64).saturating_mul(filters as u64);
    if values > MAX_VALUES {
        checker.error(
            Diagnostic::error(
                span,
                format!("the shortcut's weight would have {filters} x {channels} values"),
            )
            .with_label("too many parameters")
            .with_help(format!(
                "a tensor may hold at most {MAX_VALUES} values; use fewer channels"
            )),
        );
        return None;
    }
    let conv = super::conv::projection(input, output, [stride_h, stride_w])?;
    // nn.BatchNorm2d / nn.BatchNorm1d defaults: eps 1e-5, momentum 0.1.
    let norm = super::norm::batchnorm_plan(conv.output, 1e-5, 0.1, true, true);
    Some([conv, norm])
}
