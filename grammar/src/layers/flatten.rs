//! `flatten`: image C x H x W -> vector C*H*W in C, H, W order; sequence C x L -> vector C*L.

use super::{Argument, LayerKind, LayerPlan, LayerStatement, Lower};
use crate::check::Checker;
use crate::diagnostic::Diagnostic;
use crate::ir::{Op, Shape};

pub(super) const KINDS: &[LayerKind] = &[LayerKind {
    keyword: "flatten",
    argument: Argument::None,
    options: &[],
    lower: Lower::Plan(plan),
    label: |op, _| matches!(op, Op::Flatten).then(|| "flatten".into()),
}];

fn plan(checker: &mut Checker, layer: &LayerStatement<'_>) -> Option<LayerPlan> {
    match layer.input? {
        input @ (Shape::Image { .. } | Shape::Sequence { .. }) => Some(LayerPlan {
            op: Op::Flatten,
            output: Shape::Vector(input.len()),
            flops: 0,
            params: vec![],
            fans: None,
            norm_features: None,
        }),
        Shape::Vector(n) => {
            let keyword = &layer.statement.keyword;
            checker.error(
                Diagnostic::error(
                    keyword.span,
                    format!(
                        "`flatten` needs an image or sequence input, but its input is already a vector of {n}"
                    ),
                )
                .with_label("nothing to flatten")
                .with_help("delete this `flatten`"),
            );
            None
        }
    }
}
