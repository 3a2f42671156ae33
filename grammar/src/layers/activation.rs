//! Elementwise activations: any shape in, the same shape out, no parameters. One line each.

use super::{Argument, LayerKind, Lower};
use crate::ir::{Activation, Op, Shape};

/// Every activation: keyword, [`Activation`] variant, forward FLOPs per value (the function
/// counts 1, as `tanh` and `sigmoid` do; `identity` computes nothing).
pub(super) const KINDS: &[LayerKind] = &[
    activation("relu", Activation::Relu, 1),
    // `leaky_relu [SLOPE]`, nn.LeakyReLU's default slope unless given.
    activation_with(
        "leaky_relu",
        Activation::LeakyRelu { slope: 0.01 },
        1,
        Some(Parameter {
            what: "the negative slope",
            with: |slope| Activation::LeakyRelu { slope },
            value: |a| match a {
                Activation::LeakyRelu { slope } => Some(slope),
                _ => None,
            },
        }),
    ),
    activation("tanh", Activation::Tanh, 1),
    activation("sigmoid", Activation::Sigmoid, 1),
    activation("identity", Activation::Identity, 0),
    // x * Phi(x) and x * sigmoid(x): the function counts 1 and the product 1.
    activation("gelu", Activation::Gelu, 2),
    activation("silu", Activation::Silu, 2),
];

/// How an activation is lowered.
pub(crate) struct ActivationRule {
    /// The activation, with its parameter's default.
    pub(crate) activation: Activation,
    /// Forward FLOPs per value.
    pub(crate) flops_per_value: u64,
    /// The number written after the keyword, if the activation takes one.
    pub(crate) parameter: Option<Parameter>,
}

/// The parameter of an activation such as `leaky_relu 0.2`.
pub(crate) struct Parameter {
    /// What it is, for messages: "the negative slope".
    pub(crate) what: &'static str,
    /// The activation with this value.
    pub(crate) with: fn(f64) -> Activation,
    /// Its value in an activation of this kind.
    value: fn(Activation) -> Option<f64>,
}

/// An activation that takes no number.
const fn activation(keyword: &'static str, activation: Activation, flops: u64) -> LayerKind {
    activation_with(keyword, activation, flops, None)
}

/// An activation that may take a number (`leaky_relu 0.2`), its default unless given.
const fn activation_with(
    keyword: &'static str,
    activation: Activation,
    flops_per_value: u64,
    parameter: Option<Parameter>,
) -> LayerKind {
    LayerKind {
        keyword,
        argument: if parameter.is_some() { Argument::OptionalNumber } else { Argument::None },
        options: &[],
        lower: Lower::Activation(ActivationRule { activation, flops_per_value, parameter }),
        label,
    }
}

/// `relu`, or `leaky_relu 0.2` with the parameter's value.
fn label(op: &Op, _input: &Shape) -> Option<String> {
    let Op::Activation(activation) = op else { return None };
    KINDS.iter().find_map(|kind| {
        let Lower::Activation(rule) = &kind.lower else { return None };
        if std::mem::discriminant(&rule.activation) != std::mem::discriminant(activation) {
            return None;
        }
        match rule.parameter.as_ref().and_then(|p| (p.value)(*activation)) {
            Some(value) => Some(format!("{} {value}", kind.keyword)),
            None => Some(kind.keyword.to_string()),
        }
    })
}
