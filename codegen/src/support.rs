//! Pass 1: what the generator cannot handle yet, each reported where it is written.

use netspec_grammar::ir::{self, Op};
use netspec_grammar::{Diagnostic, Span};

/// Rust keywords (strict and reserved) and `_`: a network named so cannot be a type name.
const RUST_KEYWORDS: &[&str] = &[
    "_", "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
    "extern", "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod",
    "move", "mut", "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait",
    "true", "type", "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final",
    "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try",
];

/// Whether `name` can name the generated struct (and its skeleton).
pub(crate) fn is_type_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RUST_KEYWORDS.contains(&name)
}

fn unsupported(span: Span, construct: &str) -> Diagnostic {
    Diagnostic::error(span, format!("`{construct}` is not supported by the code generator yet"))
        .with_label("not supported yet")
        .with_help(
            "the code generator handles vector (or flattened image) inputs, `dense`, `flatten`, \
             `relu`, `leaky_relu`, `tanh`, `sigmoid`, `identity`, the three losses and \
             `penalty l1`/`l2`; remove this construct or check the spec with `netspec check`",
        )
}

/// Every construct of `net` the generator cannot emit, each at its own span.
pub(crate) fn check(net: &ir::Network) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    if !is_type_name(&net.name) {
        let span = net.name_span;
        errors.push(
            Diagnostic::error(span, format!("`{}` cannot name a Rust type", net.name))
                .with_label("the generated struct takes this name")
                .with_help("rename the network, e.g. `network MyNet { ... }`"),
        );
    }
    if let Some(preprocess) = &net.preprocess {
        errors.push(unsupported(preprocess.span, "preprocess"));
    }
    if let Some(span) = net.augment_span {
        errors.push(unsupported(span, "augment"));
    }
    if let Some(penalty) = net.activity_penalties.first() {
        errors.push(unsupported(penalty.span, "penalty l1_activity"));
    }
    for layer in &net.layers {
        if let Some(construct) = unsupported_op(&layer.op) {
            errors.push(unsupported(layer.span, construct));
        }
    }
    for head in &net.heads {
        errors.push(unsupported(head.span, "head"));
    }
    errors
}

/// The keyword of an operation the generator cannot emit yet.
fn unsupported_op(op: &Op) -> Option<&'static str> {
    match op {
        Op::Dense { dropconnect: Some(_), .. } => Some("dropconnect"),
        Op::Dense { .. } | Op::Activation(_) | Op::Flatten => None,
        Op::Conv { .. } => Some("conv"),
        Op::BatchNorm { .. } => Some("batchnorm"),
        Op::Dropout { .. } => Some("dropout"),
        Op::GaussianNoise { .. } => Some("noise"),
        Op::MaxPool(_) => Some("maxpool"),
        Op::AvgPool(_) => Some("avgpool"),
        Op::GlobalAvgPool => Some("global_avgpool"),
        Op::FractionalMaxPool { .. } => Some("fractional_maxpool"),
        Op::Residual { .. } => Some("residual"),
    }
}
