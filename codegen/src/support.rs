//! Pass 1: what the generator cannot handle yet, each reported where it is written.

use netspec_grammar::ast::{NetworkAst, StatementKind};
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

/// Every unsupported construct of `net`; `ast` (when given) locates network-level ones.
pub(crate) fn check(net: &ir::Network, ast: Option<&NetworkAst>) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    // The IR keeps no span for these; the syntax tree does.
    let statement_span = |wanted: &dyn Fn(&StatementKind) -> bool| {
        ast.and_then(|n| n.body.iter().find(|s| wanted(&s.kind)).map(|s| s.span))
            .unwrap_or(net.span)
    };
    if !is_type_name(&net.name) {
        let span = ast.map_or(net.span, |n| n.name.span);
        errors.push(
            Diagnostic::error(span, format!("`{}` cannot name a Rust type", net.name))
                .with_label("the generated struct takes this name")
                .with_help("rename the network, e.g. `network MyNet { ... }`"),
        );
    }
    if net.preprocess.is_some() {
        let span = statement_span(&|k| matches!(k, StatementKind::Preprocess { .. }));
        errors.push(unsupported(span, "preprocess"));
    }
    if !net.augment.is_empty() {
        let span = statement_span(&|k| matches!(k, StatementKind::Augment(_)));
        errors.push(unsupported(span, "augment"));
    }
    if !net.activity_penalties.is_empty() {
        let span = statement_span(
            &|k| matches!(k, StatementKind::Penalty { kind, .. } if kind.text == "l1_activity"),
        );
        errors.push(unsupported(span, "penalty l1_activity"));
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
