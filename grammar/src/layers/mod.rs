//! The registry of layer kinds: one entry per kind holds its keyword, the number it takes, the
//! options it accepts, its shape rule, its parameters and buffers, its lowering to [`Op`] and its
//! summary label. The parser, the checker, [`crate::VOCABULARY`] and the summary table read this
//! registry; none of them lists layer kinds of its own.
//!
//! A new layer kind is an entry in one of the family modules below (an elementwise activation
//! is one line in `activation.rs`), its [`Op`] or [`crate::ir::Activation`] variant, and its
//! tests.

mod activation;
mod conv;
mod dense;
mod dropout;
mod flatten;
mod norm;
mod pool;
mod residual;

use std::collections::HashMap;

use crate::ast::{Number, OptionAst, OptionKind, Sizes, Statement, Word};
use crate::check::Checker;
use crate::diagnostic::Diagnostic;
use crate::ir::{Fans, Init, Layer, Op, Role, Shape};

pub(crate) use activation::ActivationRule;
pub(crate) use residual::shortcut_plans;

/// One kind of layer.
pub struct LayerKind {
    /// The word that starts its statement: `dense`, `relu`.
    pub keyword: &'static str,
    /// The number written after the keyword, if any.
    pub argument: Argument,
    /// The options it takes, by keyword, in the order they are listed in messages.
    pub options: &'static [&'static str],
    /// How it is checked and lowered.
    pub(crate) lower: Lower,
    /// Its label in the summary table, for the ops it lowers to (`None` for the others), given
    /// the layer's input shape.
    pub(crate) label: fn(&Op, &Shape) -> Option<String>,
}

impl std::fmt::Debug for LayerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LayerKind({})", self.keyword)
    }
}

impl PartialEq for LayerKind {
    fn eq(&self, other: &Self) -> bool {
        self.keyword == other.keyword
    }
}

/// The number written after a layer's keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Argument {
    /// None: `relu;`, `flatten;`.
    None,
    /// Exactly one: `dense 10;`, `dropout 0.5;` (`noise gaussian 0.1;` has its own rule).
    Number,
    /// One or none: `leaky_relu;`, `leaky_relu 0.2;`.
    OptionalNumber,
}

/// How a layer kind is checked and lowered.
pub(crate) enum Lower {
    /// An elementwise activation: any shape, no parameters.
    Activation(ActivationRule),
    /// Any other layer: validates its options and argument, infers its output shape and lays
    /// out its parameters.
    Plan(fn(&mut Checker, &LayerStatement<'_>) -> Option<LayerPlan>),
    /// `residual`, whose branch the checker lowers layer by layer (`check/layers.rs`).
    Residual,
}

/// A layer statement as a kind's shape rule sees it.
pub(crate) struct LayerStatement<'a> {
    /// The whole statement, for spans and messages.
    pub(crate) statement: &'a Statement,
    /// The number after the keyword, if written.
    pub(crate) argument: Option<&'a Number>,
    /// The options the kind accepts, by keyword (unknown, misplaced and repeated ones are
    /// reported already).
    pub(crate) options: HashMap<&'a str, &'a OptionAst>,
    /// The shape of one input sample (`None` when an earlier layer was wrong).
    pub(crate) input: Option<Shape>,
}

impl LayerStatement<'_> {
    /// The value of a numeric option, if given.
    pub(crate) fn number(&self, name: &str) -> Option<&Number> {
        self.options.get(name).and_then(|o| match &o.kind {
            OptionKind::DropConnect(n)
            | OptionKind::Groups(n)
            | OptionKind::Eps(n)
            | OptionKind::Momentum(n) => Some(n),
            _ => None,
        })
    }

    /// A per-axis option (`stride 2` or `stride (2, 1)`) as `[height, width]` counts of at
    /// least `min`: `Some(None)` when absent, `None` after reporting an error. On a sequence
    /// one number applies along it and the height entry is `neutral` (what leaves the single
    /// row alone: kernel 1, stride 1, pad 0); a pair is an error there.
    pub(crate) fn sizes(
        &self,
        checker: &mut Checker,
        name: &str,
        what: &str,
        min: usize,
        neutral: usize,
    ) -> Option<Option<[usize; 2]>> {
        let sizes = match self.options.get(name).map(|o| &o.kind) {
            Some(OptionKind::Kernel(s) | OptionKind::Stride(s))
            | Some(OptionKind::Pad(s) | OptionKind::Dilation(s)) => s,
            _ => return Some(None),
        };
        let sequence = matches!(self.input, Some(Shape::Sequence { .. }));
        match sizes {
            Sizes::All(n) => {
                let n = checker.count(n, what, min)?;
                Some(Some(if sequence { [neutral, n] } else { [n, n] }))
            }
            Sizes::PerAxis(_, span) if sequence => {
                checker.error(
                    Diagnostic::error(
                        *span,
                        format!(
                            "{what} is given per axis, but the input of `{}` is a sequence",
                            self.statement.keyword.text
                        ),
                    )
                    .with_label("a sequence has one axis")
                    .with_help(format!("give one number, e.g. `{name} 3`")),
                );
                None
            }
            Sizes::PerAxis([h, w], _) => {
                let (h, w) = (checker.count(h, what, min), checker.count(w, what, min));
                Some(Some([h?, w?]))
            }
        }
    }

    /// A `true`/`false` option, `default` when absent; `None` after reporting another word.
    pub(crate) fn flag(
        &self,
        checker: &mut Checker,
        name: &str,
        default: bool,
        help: &str,
    ) -> Option<bool> {
        let word: &Word = match self.options.get(name).map(|o| &o.kind) {
            Some(
                OptionKind::CountPad(w) | OptionKind::Affine(w) | OptionKind::TrackRunningStats(w),
            ) => w,
            _ => return Some(default),
        };
        match word.text.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            other => {
                checker.error(
                    Diagnostic::error(
                        word.span,
                        format!("`{name}` takes `true` or `false`, not `{other}`"),
                    )
                    .with_label("expected `true` or `false`")
                    .with_help(help.to_string()),
                );
                None
            }
        }
    }

    /// A layer that keeps its input's shape, with `per_value` FLOPs per value.
    pub(crate) fn elementwise(&self, op: Op, per_value: u64) -> Option<LayerPlan> {
        self.input.map(|shape| LayerPlan {
            op,
            output: shape,
            flops: per_value * shape.len() as u64,
            params: vec![],
            fans: None,
            norm_features: None,
        })
    }
}

/// A trainable parameter as a layer plans it: (name suffix, shape, role, init as written,
/// resolved init).
pub(crate) type ParamPlan = (&'static str, Vec<usize>, Role, String, Init);

/// What a layer statement resolves to before its parameters are laid out.
pub(crate) struct LayerPlan {
    pub(crate) op: Op,
    pub(crate) output: Shape,
    pub(crate) flops: u64,
    pub(crate) params: Vec<ParamPlan>,
    /// The fans of its weight and bias (dense, conv).
    pub(crate) fans: Option<Fans>,
    /// The number of features batch norm keeps running statistics of.
    pub(crate) norm_features: Option<usize>,
}

/// The families of layer kinds, in the order they are listed in messages.
const FAMILIES: &[&[LayerKind]] = &[
    dense::KINDS,
    conv::KINDS,
    norm::KINDS,
    activation::KINDS,
    dropout::KINDS,
    pool::KINDS,
    flatten::KINDS,
    residual::KINDS,
];

/// Every layer kind, in the order of the language's reference.
pub fn all() -> impl Iterator<Item = &'static LayerKind> {
    FAMILIES.iter().flat_map(|family| family.iter())
}

/// The layer kind with this keyword.
pub fn find(keyword: &str) -> Option<&'static LayerKind> {
    all().find(|kind| kind.keyword == keyword)
}

/// `noise gaussian SIGMA`, which the grammar parses with a rule of its own since it is also an
/// augmentation.
pub(crate) const NOISE: &LayerKind = &dropout::NOISE;

/// `residual`, which the grammar parses with its block.
pub(crate) const RESIDUAL: &LayerKind = &residual::RESIDUAL;

/// The keyword of every layer kind.
pub fn keywords() -> Vec<&'static str> {
    all().map(|kind| kind.keyword).collect()
}

/// The label of a layer in the summary table: `conv 3x3 pad 1`, `leaky_relu 0.2`.
pub fn label(layer: &Layer) -> String {
    all().find_map(|kind| (kind.label)(&layer.op, &layer.input)).unwrap_or_default()
}

/// The layer kinds that take an option, for "does not apply" messages: `` `dense` and `conv` ``.
pub(crate) fn takers(option: &str) -> Vec<&'static str> {
    all().filter(|kind| kind.options.contains(&option)).map(|kind| kind.keyword).collect()
}

/// How many keywords the registry holds, for [`crate::VOCABULARY`]'s length.
pub(crate) const KEYWORD_COUNT: usize = {
    let mut count = 0;
    let mut i = 0;
    while i < FAMILIES.len() {
        count += FAMILIES[i].len();
        i += 1;
    }
    count
};

/// Copies the registry's keywords into `words` from index `at`, in registry order; returns the
/// index after the last one.
pub(crate) const fn copy_keywords(words: &mut [&'static str], at: usize) -> usize {
    let mut at = at;
    let mut family = 0;
    while family < FAMILIES.len() {
        let mut i = 0;
        while i < FAMILIES[family].len() {
            words[at] = FAMILIES[family][i].keyword;
            at += 1;
            i += 1;
        }
        family += 1;
    }
    at
}

// ---- Shape rules shared by several kinds ---------------------------------------------------

/// The `(channels, height, width)` of an image input, `(channels, 1, length)` of a sequence,
/// or an error naming the layer.
pub(crate) fn image_input(
    checker: &mut Checker,
    statement: &Statement,
    input: Shape,
) -> Option<(usize, usize, usize)> {
    if let Some(grid) = input.grid() {
        return Some(grid);
    }
    checker.error(
        Diagnostic::error(
            statement.keyword.span,
            format!(
                "`{}` needs an image or sequence input, but its input is a vector of {input}",
                statement.keyword.text
            ),
        )
        .with_label("vector input")
        .with_help(
            "declare `input image(C, H, W);` or `input sequence(C, L);`, and put these layers \
             before `flatten`",
        ),
    );
    None
}

/// Output size of a sliding window per axis: floor((size + 2 pad - extent) / stride) + 1
/// with extent = dilation (kernel - 1) + 1 (nn.Conv2d); `extent` is `[height, width]`, and
/// `dilated` says whether it is a dilated kernel's.
pub(crate) fn window_output(
    checker: &mut Checker,
    statement: &Statement,
    input: Shape,
    extent: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 2],
    dilated: bool,
) -> Option<(usize, usize)> {
    let (_, height, width) = input.grid()?;
    let padded = [height + 2 * pad[0], width + 2 * pad[1]];
    if extent[0] > padded[0] || extent[1] > padded[1] {
        let (window, size, fit) = match input {
            Shape::Sequence { .. } => (
                format!("{}-step", extent[1]),
                format!("length {}", padded[1]),
                padded[1].to_string(),
            ),
            _ => (
                format!("{}x{}", extent[0], extent[1]),
                format!("{}x{}", padded[0], padded[1]),
                format!("{}x{}", padded[0], padded[1]),
            ),
        };
        checker.error(
            Diagnostic::error(
                statement.span,
                format!(
                    "the {window} window of `{}` is larger than its padded input {size}",
                    statement.keyword.text
                ),
            )
            .with_label("window larger than the input")
            .with_help(format!(
                "use a window of at most {fit} or add padding{}",
                if dilated {
                    " (a dilated kernel of k taps spans dilation * (k - 1) + 1 positions)"
                } else {
                    ""
                }
            )),
        );
        return None;
    }
    Some(((padded[0] - extent[0]) / stride[0] + 1, (padded[1] - extent[1]) / stride[1] + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_unique_and_found() {
        let keywords = keywords();
        for (i, keyword) in keywords.iter().enumerate() {
            assert!(!keywords[..i].contains(keyword), "`{keyword}` is registered twice");
            assert_eq!(find(keyword).map(|kind| kind.keyword), Some(*keyword));
        }
        assert_eq!(keywords.len(), KEYWORD_COUNT);
        assert_eq!(find("densely"), None);
    }

    #[test]
    fn options_are_option_keywords_of_the_grammar() {
        let grammar = include_str!("../network.pest");
        for kind in all() {
            for option in kind.options {
                let rule = format!("kw_{option} ");
                assert!(grammar.contains(&rule), "`{}` takes `{option}`, no keyword", kind.keyword);
            }
        }
    }
}
