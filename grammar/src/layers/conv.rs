//! `conv FILTERS kernel K [stride S] [pad P] [init S] [bias S|none]`: nn.Conv2d, a 2-D
//! cross-correlation with weight `[filters, in, kernel, kernel]`.

use std::fmt::Write as _;

use super::{Argument, LayerKind, LayerPlan, LayerStatement, Lower, image_input, window_output};
use crate::ast::{OptionKind, Statement};
use crate::check::Checker;
use crate::check::layers::{inits_are_valid, weight_and_bias};
use crate::diagnostic::Diagnostic;
use crate::ir::{Fans, Op, Shape};
use crate::suggest;

pub(super) const KINDS: &[LayerKind] = &[LayerKind {
    keyword: "conv",
    argument: Argument::Number,
    options: &["kernel", "stride", "pad", "init", "bias"],
    lower: Lower::Plan(plan),
    label,
}];

fn plan(checker: &mut Checker, layer: &LayerStatement<'_>) -> Option<LayerPlan> {
    let statement = layer.statement;
    let filters = checker.count(layer.argument?, "the number of filters", 1);
    let inits_valid = inits_are_valid(checker, &layer.options);
    let kernel = match layer.number("kernel") {
        Some(n) => checker.count(n, "the kernel size", 1),
        // A misspelled `kernel` is reported as such; one error is enough.
        None if misspelled(statement, "kernel") => None,
        None => {
            checker.error(
                Diagnostic::error(statement.keyword.span, "`conv` needs a kernel size")
                    .with_label("no `kernel`")
                    .with_help("add e.g. `kernel 3` (and `pad 1` to keep the size)"),
            );
            None
        }
    };
    let stride = layer.number("stride").map_or(Some(1), |n| checker.count(n, "the stride", 1));
    let pad = layer.number("pad").map_or(Some(0), |n| checker.count(n, "the padding", 0));
    let (channels, height, width) = image_input(checker, statement, layer.input?)?;
    let (filters, kernel, stride, pad) = (filters?, kernel?, stride?, pad?);
    let (out_h, out_w) = window_output(checker, statement, (height, width), kernel, stride, pad)?;
    if !inits_valid {
        return None;
    }
    let fans = Fans { fan_in: channels * kernel * kernel, fan_out: filters * kernel * kernel };
    let (params, bias) = weight_and_bias(
        checker,
        statement,
        &layer.options,
        vec![filters, channels, kernel, kernel],
        fans,
    )?;
    let positions = (filters * out_h * out_w) as u64;
    let flops = 2 * positions * fans.fan_in as u64 + if bias { positions } else { 0 };
    let output = Shape::Image { channels: filters, height: out_h, width: out_w };
    Some(LayerPlan {
        op: Op::Conv { filters, kernel, stride, pad, bias },
        output,
        flops,
        params,
        fans: Some(fans),
        norm_features: None,
    })
}

/// Whether an unknown option of the statement is most likely a misspelling of `option`.
fn misspelled(statement: &Statement, option: &str) -> bool {
    statement.options.iter().any(|o| {
        matches!(o.kind, OptionKind::Unknown)
            && suggest::closest(&o.keyword.text, [option]).is_some()
    })
}

fn label(op: &Op) -> Option<String> {
    let Op::Conv { kernel, stride, pad, .. } = op else { return None };
    let mut s = format!("conv {kernel}x{kernel}");
    if *stride != 1 {
        let _ = write!(s, " stride {stride}");
    }
    if *pad != 0 {
        let _ = write!(s, " pad {pad}");
    }
    Some(s)
}
