//! `conv FILTERS kernel K [stride S] [pad P] [dilation D] [groups G] [init S] [bias S|none]`:
//! nn.Conv2d on an image, with weight `[filters, in / groups, kh, kw]`, and nn.Conv1d on a
//! sequence, with weight `[filters, in / groups, k]`. `K`, `S`, `P` and `D` are one number or,
//! on an image, a pair `(height, width)`.

use std::fmt::Write as _;

use super::{Argument, LayerKind, LayerPlan, LayerStatement, Lower, image_input, window_output};
use crate::ast::{OptionKind, Statement};
use crate::check::Checker;
use crate::check::layers::{default_init, inits_are_valid, weight_and_bias};
use crate::diagnostic::Diagnostic;
use crate::ir::{Fans, Op, Role, Shape};
use crate::suggest;

pub(super) const KINDS: &[LayerKind] = &[LayerKind {
    keyword: "conv",
    argument: Argument::Number,
    options: &["kernel", "stride", "pad", "dilation", "groups", "init", "bias"],
    lower: Lower::Plan(plan),
    label,
}];

fn plan(checker: &mut Checker, layer: &LayerStatement<'_>) -> Option<LayerPlan> {
    let statement = layer.statement;
    let filters = checker.count(layer.argument?, "the number of filters", 1);
    let inits_valid = inits_are_valid(checker, &layer.options);
    let kernel = match layer.sizes(checker, "kernel", "the kernel size", 1, 1) {
        Some(Some(kernel)) => Some(kernel),
        // A misspelled `kernel` is reported as such; one error is enough.
        Some(None) if misspelled(statement, "kernel") => None,
        Some(None) => {
            checker.error(
                Diagnostic::error(statement.keyword.span, "`conv` needs a kernel size")
                    .with_label("no `kernel`")
                    .with_help("add e.g. `kernel 3` (and `pad 1` to keep the size)"),
            );
            None
        }
        None => None,
    };
    let stride = layer.sizes(checker, "stride", "the stride", 1, 1).map(|s| s.unwrap_or([1, 1]));
    let pad = layer.sizes(checker, "pad", "the padding", 0, 0).map(|p| p.unwrap_or([0, 0]));
    let dilation =
        layer.sizes(checker, "dilation", "the dilation", 1, 1).map(|d| d.unwrap_or([1, 1]));
    let groups = layer.number("groups").map_or(Some(1), |n| checker.count(n, "the groups", 1));
    let input = layer.input?;
    let (channels, _, _) = image_input(checker, statement, input)?;
    let (filters, kernel, stride, pad, dilation, groups) =
        (filters?, kernel?, stride?, pad?, dilation?, groups?);
    if !channels.is_multiple_of(groups) || !filters.is_multiple_of(groups) {
        let span = layer.options.get("groups").map_or(statement.span, |o| o.span);
        checker.error(
            Diagnostic::error(
                span,
                format!(
                    "groups {groups} must divide both the {channels} input channels and the \
                     {filters} filters"
                ),
            )
            .with_label("does not divide")
            .with_help(format!(
                "each group convolves channels / groups inputs into filters / groups outputs; \
                 use one of {} (`groups {channels}` with a multiple of {channels} filters is a \
                 depthwise conv)",
                suggest::list(
                    &common_divisors(channels, filters)
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                )
            )),
        );
        return None;
    }
    let extent = [0, 1].map(|a| dilation[a] * (kernel[a] - 1) + 1);
    let dilated = dilation != [1, 1];
    let (out_h, out_w) = window_output(checker, statement, input, extent, stride, pad, dilated)?;
    if !inits_valid {
        return None;
    }
    // torch.nn.init's fans: size(1) * receptive field, size(0) * receptive field.
    let receptive = kernel[0] * kernel[1];
    let fans = Fans { fan_in: channels / groups * receptive, fan_out: filters * receptive };
    let weight_shape = match input {
        Shape::Sequence { .. } => vec![filters, channels / groups, kernel[1]],
        _ => vec![filters, channels / groups, kernel[0], kernel[1]],
    };
    let (params, bias) = weight_and_bias(checker, statement, &layer.options, weight_shape, fans)?;
    let positions = (filters * out_h * out_w) as u64;
    let flops = 2 * positions * fans.fan_in as u64 + if bias { positions } else { 0 };
    Some(LayerPlan {
        op: Op::Conv { filters, kernel, stride, pad, dilation, groups, bias },
        output: input.with_grid(filters, out_h, out_w),
        flops,
        params,
        fans: Some(fans),
        norm_features: None,
    })
}

/// A residual block's projection shortcut: a 1x1 conv without bias from `input` to `output`'s
/// channels with `stride`, initialized as nn.Conv2d / nn.Conv1d are by default.
pub(crate) fn projection(input: Shape, output: Shape, stride: [usize; 2]) -> Option<LayerPlan> {
    let ((channels, _, _), (filters, out_h, out_w)) = (input.grid()?, output.grid()?);
    let fans = Fans { fan_in: channels, fan_out: filters };
    let weight_shape = match input {
        Shape::Sequence { .. } => vec![filters, channels, 1],
        _ => vec![filters, channels, 1, 1],
    };
    let (scheme, init) = default_init(fans);
    Some(LayerPlan {
        op: Op::Conv {
            filters,
            kernel: [1, 1],
            stride,
            pad: [0, 0],
            dilation: [1, 1],
            groups: 1,
            bias: false,
        },
        output: input.with_grid(filters, out_h, out_w),
        flops: 2 * (filters * out_h * out_w * channels) as u64,
        params: vec![("weight", weight_shape, Role::Weight, scheme, init)],
        fans: Some(fans),
        norm_features: None,
    })
}

/// The numbers that divide both `a` and `b`, as `groups` options: `` `groups 1` ``.
fn common_divisors(a: usize, b: usize) -> Vec<String> {
    (1..=a.min(b))
        .filter(|&g| a.is_multiple_of(g) && b.is_multiple_of(g))
        .map(|g| format!("groups {g}"))
        .collect()
}

/// Whether an unknown option of the statement is most likely a misspelling of `option`.
fn misspelled(statement: &Statement, option: &str) -> bool {
    statement.options.iter().any(|o| {
        matches!(o.kind, OptionKind::Unknown)
            && suggest::closest(&o.keyword.text, [option]).is_some()
    })
}

/// `3x3`, `10x4`, `1x3`; `3` on a sequence.
pub(super) fn axes(pair: [usize; 2], sequence: bool) -> String {
    if sequence { pair[1].to_string() } else { format!("{}x{}", pair[0], pair[1]) }
}

/// ` stride 2`, ` stride 2x1`, or nothing when every entry is `neutral`.
pub(super) fn axes_option(name: &str, pair: [usize; 2], neutral: usize) -> String {
    match pair {
        [h, w] if h == neutral && w == neutral => String::new(),
        [h, w] if h == w => format!(" {name} {h}"),
        [h, w] => format!(" {name} ({h}, {w})"),
    }
}

fn label(op: &Op, input: &Shape) -> Option<String> {
    let Op::Conv { kernel, stride, pad, dilation, groups, .. } = op else { return None };
    // On a sequence the height entries are 1, 1, 0, 1: the label shows the length axis only.
    let sequence = matches!(input, Shape::Sequence { .. });
    let mut s = format!("conv {}", axes(*kernel, sequence));
    if sequence {
        s += &axes_option("stride", [stride[1]; 2], 1);
        s += &axes_option("pad", [pad[1]; 2], 0);
        s += &axes_option("dilation", [dilation[1]; 2], 1);
    } else {
        s += &axes_option("stride", *stride, 1);
        s += &axes_option("pad", *pad, 0);
        s += &axes_option("dilation", *dilation, 1);
    }
    if *groups != 1 {
        let _ = write!(s, " groups {groups}");
    }
    Some(s)
}
