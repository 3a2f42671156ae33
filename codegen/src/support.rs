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
            "the code generator handles every layer, `preprocess`, heads, the three losses and \
             every `penalty`, and `augment` on networks without heads; remove this construct \
             or check the spec with `netspec check`",
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
    if let Some(span) = net.augment_span
        && !net.heads.is_empty()
    {
        errors.push(unsupported(span, "augment` with `head"));
    }
    for layer in net.all_layers() {
        // PyTorch refuses too: "Expected more than 1 value per channel when training".
        if let Op::BatchNorm { .. } = layer.op {
            let spatial = layer.input.len() / layer.input.dims()[0].max(1);
            if net.batch * spatial < 2 {
                errors.push(
                    Diagnostic::error(layer.span, "batch norm needs more than 1 value per channel")
                        .with_label("normalizes over a mini-batch of 1")
                        .with_help("use `batch 2` or more: the batch variance of one value is 0"),
                );
            }
        }
    }
    for head in &net.heads {
        // Each head's field in the generated output and targets structs.
        if !is_type_name(&head.name) {
            errors.push(
                Diagnostic::error(head.span, format!("`{}` cannot name a Rust field", head.name))
                    .with_label("the generated output and targets structs have a field so named")
                    .with_help("rename the head, e.g. `head digit { ... }`"),
            );
        }
        if head.layers.iter().all(|l| matches!(l.op, Op::Flatten)) {
            errors.push(
                Diagnostic::error(head.span, format!("head `{}` computes nothing", head.name))
                    .with_label("the head's loss would read the trunk's output directly")
                    .with_help("give the head its own layers, e.g. `dense 10;`"),
            );
        }
    }
    errors
}
