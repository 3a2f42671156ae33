//! `dense UNITS [init S] [bias S|none] [dropconnect P]`: nn.Linear, y = x W^T + b.

use super::{Argument, LayerKind, LayerPlan, LayerStatement, Lower};
use crate::check::Checker;
use crate::check::layers::{inits_are_valid, weight_and_bias};
use crate::diagnostic::Diagnostic;
use crate::ir::{Fans, Op, Shape};

pub(super) const KINDS: &[LayerKind] = &[LayerKind {
    keyword: "dense",
    argument: Argument::Number,
    options: &["init", "bias", "dropconnect"],
    lower: Lower::Plan(plan),
    label,
}];

fn plan(checker: &mut Checker, layer: &LayerStatement<'_>) -> Option<LayerPlan> {
    let statement = layer.statement;
    let units = checker.count(layer.argument?, "the number of units", 1);
    let dropconnect =
        layer.number("dropconnect").map(|n| checker.probability(n, "the DropConnect probability"));
    let inits_valid = inits_are_valid(checker, &layer.options);
    let in_features = match layer.input? {
        Shape::Vector(n) => n,
        image @ (Shape::Image { .. } | Shape::Sequence { .. }) => {
            let (what, label) = match image {
                Shape::Sequence { .. } => ("the ", "sequence input"),
                _ => ("the image ", "image input"),
            };
            checker.error(
                Diagnostic::error(statement.keyword.span, format!("`dense` needs a vector input, but its input is {what}{image}"))
                    .with_label(label)
                    .with_help("dense after conv needs `flatten`: add `flatten;` before this layer (or `global_avgpool;`)"),
            );
            return None;
        }
    };
    let units = units?;
    // No `dropconnect` is Some(None); an invalid one (already reported) is None.
    let dropconnect = dropconnect.map_or(Some(None), |p| p.map(Some))?;
    if !inits_valid {
        return None;
    }
    let fans = Fans { fan_in: in_features, fan_out: units };
    let (params, bias) =
        weight_and_bias(checker, statement, &layer.options, vec![units, in_features], fans)?;
    let flops = 2 * (in_features as u64) * (units as u64) + if bias { units as u64 } else { 0 };
    Some(LayerPlan {
        op: Op::Dense { units, bias, dropconnect },
        output: Shape::Vector(units),
        flops,
        params,
        fans: Some(fans),
        norm_features: None,
    })
}

fn label(op: &Op, _input: &Shape) -> Option<String> {
    match op {
        Op::Dense { dropconnect: Some(p), .. } => Some(format!("dense, dropconnect {p}")),
        Op::Dense { .. } => Some("dense".into()),
        _ => None,
    }
}
