//! Pass 5: what the generated Rust code needs of a lowered network, so that every spec `check`
//! accepts also compiles.

use super::*;

/// Rust keywords (strict and reserved) and `_`: a network named so cannot be a type name.
const RUST_KEYWORDS: &[&str] = &[
    "_", "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum",
    "extern", "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod",
    "move", "mut", "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait",
    "true", "type", "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final",
    "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try",
];

/// Rust's primitive types, which the generated code names unqualified: a struct so named would
/// hide the primitive in the module the code is generated into.
const PRIMITIVE_TYPES: &[&str] = &[
    "bool", "char", "str", "f32", "f64", "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16",
    "u32", "u64", "u128", "usize",
];

/// Whether `name` can name a Rust type or field: an ASCII identifier that is not a keyword.
pub fn is_type_name(name: &str) -> bool {
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

impl Checker {
    /// `batch` is `None` when the `batch` statement had errors of its own.
    pub(super) fn generation(&mut self, net: &Network, batch: Option<usize>) {
        // The generated struct takes the network's name.
        if !is_type_name(&net.name) {
            self.error(
                Diagnostic::error(net.name_span, format!("`{}` cannot name a Rust type", net.name))
                    .with_label("the generated struct takes this name")
                    .with_help("rename the network, e.g. `network MyNet { ... }`"),
            );
        }
        // The generated code says `f32`, `usize`, ...: its struct must not hide them.
        if PRIMITIVE_TYPES.contains(&net.name.as_str()) {
            self.error(
                Diagnostic::error(
                    net.name_span,
                    format!("`{}` would hide Rust's primitive type `{}`", net.name, net.name),
                )
                .with_label("the generated struct takes this name")
                .with_help("rename the network, e.g. `network MyNet { ... }`"),
            );
        }
        // The generated training step augments one output's targets, not a struct of heads'.
        if let Some(span) = net.augment_span
            && !net.heads.is_empty()
        {
            self.error(unsupported(span, "augment` with `head"));
        }
        for layer in net.all_layers() {
            // PyTorch refuses too: "Expected more than 1 value per channel when training".
            if let (Op::BatchNorm { .. }, Some(batch)) = (&layer.op, batch) {
                let spatial = layer.input.len() / layer.input.dims()[0].max(1);
                if batch * spatial < 2 {
                    self.error(
                        Diagnostic::error(
                            layer.span,
                            "batch norm needs more than 1 value per channel",
                        )
                        .with_label("normalizes over a mini-batch of 1")
                        .with_help("use `batch 2` or more: the batch variance of one value is 0"),
                    );
                }
            }
        }
        for head in &net.heads {
            // Each head's field in the generated output and targets structs.
            if !is_type_name(&head.name) {
                self.error(
                    Diagnostic::error(
                        head.span,
                        format!("`{}` cannot name a Rust field", head.name),
                    )
                    .with_label("the generated output and targets structs have a field so named")
                    .with_help("rename the head, e.g. `head digit { ... }`"),
                );
            }
            // A head's output needs a buffer of its own; `flatten` only renames the trunk's.
            if head.layers.iter().all(|l| matches!(l.op, Op::Flatten)) {
                self.error(
                    Diagnostic::error(head.span, format!("head `{}` computes nothing", head.name))
                        .with_label("the head's loss would read the trunk's output directly")
                        .with_help("give the head its own layers, e.g. `dense 10;`"),
                );
            }
        }
    }
}

impl Checker {
    /// A network with heads also defines `NameOutput` and `NameTargets`: another network of the
    /// spec so named would be defined twice where the code is generated. Such a network is
    /// refused (and dropped from `networks`, which the `network!` macro emits).
    pub(super) fn generated_type_names(&mut self, file: &ast::File, networks: &mut Vec<Network>) {
        let mut taken = Vec::new();
        for net in networks.iter().filter(|net| !net.heads.is_empty()) {
            taken.push((format!("{}Output", net.name), "output", net.name.clone()));
            taken.push((format!("{}Targets", net.name), "targets", net.name.clone()));
        }
        let mut refused = Vec::new();
        for network in &file.networks {
            let name = &network.name.text;
            if let Some((_, what, owner)) = taken.iter().find(|(taken, ..)| taken == name) {
                self.error(
                    Diagnostic::error(
                        network.name.span,
                        format!("`{name}` is the name of the generated {what} struct of `{owner}`"),
                    )
                    .with_label("defined twice in the generated code")
                    .with_help(format!("rename this network or `{owner}`")),
                );
                refused.push(name.clone());
            }
        }
        networks.retain(|net| !refused.contains(&net.name));
    }
}
