//! Layers that perturb the values while training and keep the shape: `dropout P [rescale R]`
//! and `noise gaussian SIGMA`.

use super::{Argument, LayerKind, LayerPlan, LayerStatement, Lower};
use crate::ast::OptionKind;
use crate::check::Checker;
use crate::diagnostic::Diagnostic;
use crate::ir::{Op, Rescale};

pub(super) const KINDS: &[LayerKind] = &[
    LayerKind {
        keyword: "dropout",
        argument: Argument::Number,
        options: &["rescale"],
        lower: Lower::Plan(dropout),
        label: |op, _| match op {
            Op::Dropout { p, rescale: Rescale::Train } => Some(format!("dropout {p}")),
            Op::Dropout { p, rescale: Rescale::Test } => Some(format!("dropout {p}, rescale test")),
            _ => None,
        },
    },
    NOISE,
];

/// `noise gaussian SIGMA`: additive Gaussian noise while training, the identity in eval.
pub(super) const NOISE: LayerKind = LayerKind {
    keyword: "noise",
    argument: Argument::Number,
    options: &[],
    lower: Lower::Plan(noise),
    label: |op, _| match op {
        Op::GaussianNoise { sigma } => Some(format!("noise {sigma}")),
        _ => None,
    },
};

fn dropout(checker: &mut Checker, layer: &LayerStatement<'_>) -> Option<LayerPlan> {
    let p = checker.probability(layer.argument?, "the dropout probability");
    let rescale = match layer.options.get("rescale").map(|o| &o.kind) {
        Some(OptionKind::Rescale(when)) => match when.text.as_str() {
            "train" => Some(Rescale::Train),
            "test" => Some(Rescale::Test),
            other => {
                checker.error(
                    Diagnostic::error(when.span, format!("unknown rescale rule `{other}`"))
                        .with_label("expected `train` or `test`")
                        .with_help(
                            "`rescale train` scales kept units by 1/(1-p) while training \
                             (inverted dropout, the default); `rescale test` scales by \
                             (1-p) in eval, as the original paper",
                        ),
                );
                None
            }
        },
        _ => Some(Rescale::Train),
    };
    layer.elementwise(Op::Dropout { p: p?, rescale: rescale? }, 0)
}

fn noise(checker: &mut Checker, layer: &LayerStatement<'_>) -> Option<LayerPlan> {
    let sigma = checker.non_negative(
        layer.argument?,
        "the noise level",
        "sigma is a standard deviation; 0 adds no noise",
    )?;
    layer.elementwise(Op::GaussianNoise { sigma }, 0)
}
