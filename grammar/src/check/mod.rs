//! Syntax tree -> IR, in named passes (one module each) that collect every error they find:
//!
//! 1. `outline`: which statement may stand where, duplicates, unknown statements.
//! 2. `layers`: each layer's options validated and resolved (defaults included), names assigned
//!    (kind + index), shapes inferred, parameters and buffers laid out in one flat buffer.
//! 3. `outputs`: every output has a loss that fits its shape.
//! 4. `penalties`: `penalty` statements resolved to the parameters or layers they apply to.
//! 5. `generation`: what the generated Rust code needs (names that are Rust identifiers and
//!    define each type once, batch norm over more than one value, heads that compute something).
//! 6. `limits`: the network's size against [`crate::limits`]: too many layers or too much
//!    generated code is an error, a very large parameter count a warning.
//!
//! A pass keeps going after an error; a layer whose input shape is unknown (because an earlier
//! layer was wrong) skips its shape checks so that one mistake is reported once.

mod declarations;
mod generation;
mod inits;
pub(crate) mod layers;
mod limits;
mod outline;
mod outputs;
mod penalties;

use std::collections::HashMap;

use crate::ast::{self, InputAst, Number, OptionKind, Statement, StatementKind, Word};
use crate::diagnostic::{Diagnostic, Span};
use crate::ir::*;
use crate::suggest;

pub use generation::is_type_name;
use layers::Lowering;
use outline::{HeadOutline, Outline, Place};

/// Largest size of any one dimension (units, channels, image side).
pub const MAX_DIM: usize = 1 << 24;
/// Largest number of values in any parameter tensor, activation or the whole network.
pub const MAX_VALUES: u64 = 1 << 31;

const DECLARATIONS: &[&str] =
    &["input", "batch", "preprocess", "augment", "loss", "penalty", "head"];
const AUGMENTATIONS: &[&str] =
    &["translate", "flip", "rotate", "noise", "cutout", "mixup", "cutmix"];
const INIT_SCHEMES: &[&str] = &[
    "zeros",
    "ones",
    "constant",
    "uniform",
    "normal",
    "lecun_normal",
    "lecun_uniform",
    "xavier_normal",
    "xavier_uniform",
    "kaiming_normal",
    "kaiming_uniform",
    "orthogonal",
    "trunc_normal",
];
const LOSSES: &[&str] = &["softmax_cross_entropy", "mse", "binary_cross_entropy", "huber", "l1"];
const PENALTIES: &[&str] = &["l2", "l1", "l1_activity"];
const PREPROCESS_METHODS: &[&str] = &["mean_subtract", "standardize", "whiten"];

/// Checks every network of a parsed file: the networks without errors, every error found and
/// every warning (each sorted by position).
pub fn check(file: &ast::File, source: &str) -> (Vec<Network>, Vec<Diagnostic>, Vec<Diagnostic>) {
    let mut checker =
        Checker { errors: Vec::new(), warnings: Vec::new(), source_lines: LineIndex::new(source) };
    let mut networks = Vec::new();
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for network in &file.networks {
        if let Some(first) = seen.insert(&network.name.text, network.name.span) {
            checker.error(
                Diagnostic::error(
                    network.name.span,
                    format!("a network named `{}` is already defined", network.name.text),
                )
                .with_label("second definition")
                .with_help(format!(
                    "rename one of them; the first is on line {}",
                    checker.source_lines.line(first)
                )),
            );
        }
        if let Some(network) = checker.network(network) {
            networks.push(network);
        }
    }
    checker.generated_type_names(file, &mut networks);
    if file.networks.is_empty() {
        checker.error(
            Diagnostic::error(Span::new(0, 0), "no network in this spec")
                .with_label("expected `network NAME { ... }`")
                .with_help("a spec holds `network NAME { input ...; layers...; loss ...; }`"),
        );
    }
    // Passes run one after another; the reader wants the errors in the order of the text.
    checker.errors.sort_by_key(|d| d.span.start);
    checker.warnings.sort_by_key(|d| d.span.start);
    (networks, checker.errors, checker.warnings)
}

pub(crate) struct Checker {
    errors: Vec<Diagnostic>,
    /// What does not stop the spec: these never make a network fail.
    warnings: Vec<Diagnostic>,
    /// To refer to another place of the spec by line in a message.
    source_lines: LineIndex,
}

/// The byte offset where each line starts.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(source: &str) -> Self {
        let starts = std::iter::once(0).chain(source.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex(starts.collect())
    }

    /// The 1-based line of a span's start.
    fn line(&self, span: Span) -> usize {
        self.0.partition_point(|&start| start <= span.start)
    }
}

fn is_layer(kind: &StatementKind) -> bool {
    matches!(
        kind,
        StatementKind::Layer { .. } | StatementKind::GaussianNoise(_) | StatementKind::Residual(_)
    )
}

fn is_augmentation(kind: &StatementKind) -> bool {
    matches!(
        kind,
        StatementKind::Translate(_)
            | StatementKind::Flip(_)
            | StatementKind::Rotate(_)
            | StatementKind::GaussianNoise(_)
            | StatementKind::Cutout(_)
            | StatementKind::Mixup(_)
            | StatementKind::Cutmix(_)
    )
}

impl Checker {
    pub(crate) fn error(&mut self, diagnostic: Diagnostic) {
        self.errors.push(diagnostic);
    }

    pub(crate) fn warn(&mut self, diagnostic: Diagnostic) {
        self.warnings.push(diagnostic);
    }

    fn network(&mut self, network: &ast::NetworkAst) -> Option<Network> {
        let errors_before = self.errors.len();
        let outline = self.outline(network);
        let input = self.input(network, outline.input);
        let batch = match outline.batch {
            Some(Statement { kind: StatementKind::Batch(n), .. }) => {
                self.count(n, "the batch size", 1)
            }
            _ => Some(32),
        };
        let preprocess = outline.preprocess.and_then(|s| self.preprocess(s, input));
        let augment = self.augmentations(&outline.augment, input);

        let mut lowering = Lowering::default();
        let (layers, trunk_output) = lowering.layers(self, &outline.trunk, input);
        let heads = self.heads(&mut lowering, &outline.heads, trunk_output);
        let loss = self.network_loss(network, &outline, trunk_output);

        let mut net = Network {
            name: network.name.text.clone(),
            input: input.unwrap_or(Shape::Vector(1)),
            batch: batch.unwrap_or(1),
            preprocess,
            augment,
            name_span: network.name.span,
            augment_span: outline.augment_block.map(|block| block.span),
            layers,
            heads,
            loss,
            params: std::mem::take(&mut lowering.params),
            buffers: std::mem::take(&mut lowering.buffers),
            activity_penalties: Vec::new(),
            span: network.span,
        };
        self.penalties(&mut net, &outline.penalties, &lowering.failed);
        self.generation(&net, batch);
        self.limits(&net, lowering.param_offset as u64);
        (self.errors.len() == errors_before).then_some(net)
    }

    // ---- Numbers ----------------------------------------------------------------------------

    /// A number the generated code holds as an f32: 0 or a normal f32 in magnitude, so that the
    /// constant it computes with is the number written, not infinity, 0 or a subnormal that
    /// lost its digits.
    pub(crate) fn representable(&mut self, n: &Number, what: &str) -> Option<f64> {
        let value = n.value();
        let single = (value as f32).abs();
        let (size, label) = if !single.is_finite() {
            ("large", "beyond the f32 range")
        } else if value != 0.0 && single < f32::MIN_POSITIVE {
            ("small", "below the f32 range")
        } else {
            return Some(value);
        };
        self.error(
            Diagnostic::error(n.span, format!("{what} is too {size} to represent"))
                .with_label(label)
                .with_help(
                    "the network computes in f32: write 0 or a number between about 1.2e-38 \
                     and 3.4e38 in magnitude",
                ),
        );
        None
    }

    /// A whole number of at least `min` and at most [`MAX_DIM`].
    pub(crate) fn count(&mut self, n: &Number, what: &str, min: usize) -> Option<usize> {
        if !n.is_integer_literal() {
            self.error(
                Diagnostic::error(
                    n.span,
                    format!("{what} must be a whole number, found `{}`", n.digits),
                )
                .with_label("not a whole number")
                .with_help(format!(
                    "write a whole number such as `{}`",
                    n.value().abs().round().max(min as f64)
                )),
            );
            return None;
        }
        let parsed = n.digits.parse::<u64>().ok().filter(|&v| v <= MAX_DIM as u64);
        match parsed {
            None => {
                self.error(
                    Diagnostic::error(n.span, format!("{what} is too large: `{}`", n.digits))
                        .with_label("too large")
                        .with_help(format!("{what} may be at most {MAX_DIM}")),
                );
                None
            }
            Some(v) if n.negative || (v as usize) < min => {
                let shown = if n.negative { format!("-{}", n.digits) } else { n.digits.clone() };
                let bound = if min == 0 {
                    "zero or more"
                } else if min == 1 {
                    "positive"
                } else {
                    "larger"
                };
                self.error(
                    Diagnostic::error(n.span, format!("{what} must be {bound}, found `{shown}`"))
                        .with_label(format!("must be at least {min}"))
                        .with_help(format!("write a whole number from {min} to {MAX_DIM}")),
                );
                None
            }
            Some(v) => Some(v as usize),
        }
    }

    /// A probability of dropping: 0 <= p < 1.
    pub(crate) fn probability(&mut self, n: &Number, what: &str) -> Option<f64> {
        let p = self.representable(n, what)?;
        if !(0.0..1.0).contains(&p) {
            self.error(
                Diagnostic::error(n.span, format!("{what} must be in [0, 1), found {p}"))
                    .with_label("not a probability of dropping")
                    .with_help(
                        "a probability must be in [0, 1): 0 keeps everything, 0.5 drops half",
                    ),
            );
            return None;
        }
        // The generated code draws against the f32 `p`: one that rounds to 1 drops everything.
        if p as f32 == 1.0 {
            self.error(
                Diagnostic::error(n.span, format!("{what} {p} is 1 as an f32"))
                    .with_label("rounds to 1, which drops everything")
                    .with_help("use at most 0.99999994, the largest f32 below 1"),
            );
            return None;
        }
        Some(p)
    }

    /// A representable number with `valid` true, else an error saying `rule`.
    pub(crate) fn bounded(
        &mut self,
        n: &Number,
        what: &str,
        rule: &str,
        help: &str,
        valid: impl Fn(f64) -> bool,
    ) -> Option<f64> {
        let value = self.representable(n, what)?;
        if valid(value) {
            return Some(value);
        }
        self.error(
            Diagnostic::error(n.span, format!("{what} must be {rule}, found {value}"))
                .with_label(format!("must be {rule}"))
                .with_help(help),
        );
        None
    }

    pub(crate) fn positive(&mut self, n: &Number, what: &str, help: &str) -> Option<f64> {
        self.bounded(n, what, "> 0", help, |v| v > 0.0)
    }

    pub(crate) fn non_negative(&mut self, n: &Number, what: &str, help: &str) -> Option<f64> {
        self.bounded(n, what, ">= 0", help, |v| v >= 0.0)
    }

    // ---- Options ----------------------------------------------------------------------------

    /// The options of a statement by keyword, reporting unknown, misplaced and repeated ones.
    pub(crate) fn options<'a>(
        &mut self,
        statement: &'a Statement,
        allowed: &[&str],
    ) -> HashMap<&'a str, &'a ast::OptionAst> {
        let mut found: HashMap<&str, &ast::OptionAst> = HashMap::new();
        let owner = &statement.keyword.text;
        for option in &statement.options {
            let word = option.keyword.text.as_str();
            if matches!(option.kind, OptionKind::Unknown) {
                let help = if crate::layers::find(word).is_some() || DECLARATIONS.contains(&word) {
                    format!("`{word}` starts a statement: is a `;` missing before it?")
                } else if allowed.is_empty() {
                    format!("`{owner}` takes no options")
                } else {
                    suggest::hint(word, allowed, &format!("`{owner}` takes"))
                };
                self.error(
                    Diagnostic::error(
                        option.keyword.span,
                        format!("unknown option `{word}` for `{owner}`"),
                    )
                    .with_label("unknown option")
                    .with_help(help),
                );
            } else if !allowed.contains(&word) {
                let takers = option_takers(word);
                let help = if allowed.is_empty() {
                    format!("`{owner}` takes no options; `{word}` applies to {takers}")
                } else {
                    format!(
                        "`{owner}` takes {}; `{word}` applies to {takers}",
                        suggest::list(allowed)
                    )
                };
                self.error(
                    Diagnostic::error(
                        option.keyword.span,
                        format!("`{word}` does not apply to `{owner}`"),
                    )
                    .with_label("not an option of this statement")
                    .with_help(help),
                );
            } else if let Some(first) = found.insert(word, option) {
                found.insert(word, first);
                self.error(
                    Diagnostic::error(
                        option.keyword.span,
                        format!("option `{word}` is given twice"),
                    )
                    .with_label("second time")
                    .with_help(format!("keep one `{word}`")),
                );
            }
        }
        found
    }
}

/// The first line of a statement's text, for messages.
fn first_line(statement: &Statement) -> String {
    let keyword = &statement.keyword.text;
    match &statement.kind {
        StatementKind::Input(InputAst::Vector(n)) => format!("{keyword} {};", n.digits),
        StatementKind::Batch(n) => format!("{keyword} {};", n.digits),
        StatementKind::Translate(n)
        | StatementKind::Rotate(n)
        | StatementKind::Cutout(n)
        | StatementKind::Mixup(n)
        | StatementKind::Cutmix(n) => {
            format!("{keyword} {};", n.digits)
        }
        StatementKind::Flip(axis) => format!("{keyword} {};", axis.text),
        StatementKind::Loss(word) => format!("{keyword} {};", word.text),
        _ => format!("{keyword} ...;"),
    }
}

/// Which statements take an option, for "does not apply" messages: the layer kinds of the
/// registry that take it, then the declarations.
fn option_takers(option: &str) -> String {
    let mut takers: Vec<String> =
        crate::layers::takers(option).iter().map(|kind| format!("`{kind}`")).collect();
    match option {
        "eps" => takers.push("`preprocess`".to_string()),
        "weight" => takers.push("a head's `loss`".to_string()),
        "label_smoothing" | "class_weights" => takers.push("`loss softmax_cross_entropy`".into()),
        "delta" => takers.push("`loss huber`".to_string()),
        "pos_weight" => takers.push("`loss binary_cross_entropy`".to_string()),
        _ => {}
    }
    match takers.as_slice() {
        [] => "nothing".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
