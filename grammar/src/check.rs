//! Syntax tree -> IR, in named passes that each collect every error they find:
//!
//! 1. `outline`: which statement may stand where, duplicates, unknown statements.
//! 2. `lower`: each layer's options validated and resolved (defaults included), names assigned
//!    (kind + index), shapes inferred, parameters and buffers laid out in one flat buffer.
//! 3. `heads_and_losses`: every output has a loss that fits its shape.
//! 4. `penalties`: `penalty` statements resolved to the parameters or layers they apply to.
//!
//! A pass keeps going after an error; a layer whose input shape is unknown (because an earlier
//! layer was wrong) skips its shape checks so that one mistake is reported once.

use std::collections::HashMap;

use crate::ast::{self, InitKind, InputAst, Number, OptionKind, Statement, StatementKind, Word};
use crate::diagnostic::{Diagnostic, Span};
use crate::ir::*;
use crate::suggest;

/// Largest size of any one dimension (units, channels, image side).
pub const MAX_DIM: usize = 1 << 24;
/// Largest number of values in any parameter tensor, activation or the whole network.
pub const MAX_VALUES: u64 = 1 << 31;

const LAYERS: &[&str] = &[
    "dense",
    "conv",
    "batchnorm",
    "relu",
    "leaky_relu",
    "tanh",
    "sigmoid",
    "identity",
    "dropout",
    "noise",
    "maxpool",
    "avgpool",
    "global_avgpool",
    "fractional_maxpool",
    "flatten",
    "residual",
];
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
];
const LOSSES: &[&str] = &["softmax_cross_entropy", "mse", "binary_cross_entropy"];
const PENALTIES: &[&str] = &["l2", "l1", "l1_activity"];
const PREPROCESS_METHODS: &[&str] = &["mean_subtract", "standardize", "whiten"];

/// Checks every network of a parsed file.
pub fn check(file: &ast::File) -> Result<Vec<Network>, Vec<Diagnostic>> {
    let mut checker = Checker::default();
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
                    "rename one of them; the first is at byte {} of the file",
                    first.start
                )),
            );
        }
        if let Some(network) = checker.network(network) {
            networks.push(network);
        }
    }
    if file.networks.is_empty() {
        checker.error(
            Diagnostic::error(Span::new(0, 0), "no network in this spec")
                .with_label("expected `network NAME { ... }`")
                .with_help("a spec holds `network NAME { input ...; layers...; loss ...; }`"),
        );
    }
    if checker.errors.is_empty() {
        return Ok(networks);
    }
    // Passes run one after another; the reader wants the errors in the order of the text.
    checker.errors.sort_by_key(|d| d.span.start);
    Err(checker.errors)
}

#[derive(Default)]
struct Checker {
    errors: Vec<Diagnostic>,
}

/// Pass 1's result: the statements of a network sorted by role.
#[derive(Default)]
struct Outline<'a> {
    input: Option<&'a Statement>,
    batch: Option<&'a Statement>,
    preprocess: Option<&'a Statement>,
    augment: Vec<&'a Statement>,
    loss: Option<&'a Statement>,
    penalties: Vec<&'a Statement>,
    trunk: Vec<&'a Statement>,
    heads: Vec<HeadOutline<'a>>,
}

struct HeadOutline<'a> {
    name: &'a Word,
    layers: Vec<&'a Statement>,
    loss: Option<&'a Statement>,
    span: Span,
}

/// Where a statement stands, for placement rules.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Network,
    Residual,
    Head,
    Augment,
}

impl Place {
    fn describe(self) -> &'static str {
        match self {
            Place::Network => "at the network level",
            Place::Residual => "inside `residual { }`",
            Place::Head => "inside `head NAME { }`",
            Place::Augment => "inside `augment { }`",
        }
    }
}

fn is_layer(kind: &StatementKind) -> bool {
    matches!(
        kind,
        StatementKind::Dense(_)
            | StatementKind::Conv(_)
            | StatementKind::BatchNorm
            | StatementKind::Relu
            | StatementKind::LeakyRelu(_)
            | StatementKind::Tanh
            | StatementKind::Sigmoid
            | StatementKind::Identity
            | StatementKind::Dropout(_)
            | StatementKind::GaussianNoise(_)
            | StatementKind::MaxPool(_)
            | StatementKind::AvgPool(_)
            | StatementKind::GlobalAvgPool
            | StatementKind::FractionalMaxPool(_)
            | StatementKind::Flatten
            | StatementKind::Residual(_)
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
    fn error(&mut self, diagnostic: Diagnostic) {
        self.errors.push(diagnostic);
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
        let layers = lowering.layers(self, &outline.trunk, input);
        let trunk_output = shape_after(&layers, input);
        let heads = self.heads(&mut lowering, &outline.heads, trunk_output);
        let loss = self.network_loss(network, &outline, trunk_output);

        let mut net = Network {
            name: network.name.text.clone(),
            input: input.unwrap_or(Shape::Vector(1)),
            batch: batch.unwrap_or(1),
            preprocess,
            augment,
            layers,
            heads,
            loss,
            params: std::mem::take(&mut lowering.params),
            buffers: std::mem::take(&mut lowering.buffers),
            activity_penalties: Vec::new(),
            span: network.span,
        };
        self.penalties(&mut net, &outline.penalties, &lowering.failed);
        if lowering.param_offset as u64 > MAX_VALUES {
            self.error(
                Diagnostic::error(
                    network.name.span,
                    format!("`{}` has {} parameters, too many", net.name, lowering.param_offset),
                )
                .with_help(format!("a network may hold at most {MAX_VALUES} parameters")),
            );
        }
        (self.errors.len() == errors_before).then_some(net)
    }

    // ---- Pass 1: outline -------------------------------------------------------------------

    fn outline<'a>(&mut self, network: &'a ast::NetworkAst) -> Outline<'a> {
        let mut outline = Outline::default();
        for statement in &network.body {
            match &statement.kind {
                StatementKind::Input(_) => self.once(&mut outline.input, statement),
                StatementKind::Batch(_) => self.once(&mut outline.batch, statement),
                StatementKind::Preprocess { .. } => self.once(&mut outline.preprocess, statement),
                StatementKind::Loss(_) => self.once(&mut outline.loss, statement),
                StatementKind::Penalty { .. } => outline.penalties.push(statement),
                StatementKind::Augment(items) => {
                    if let Some(first) = outline.augment.first() {
                        self.duplicate(statement, first);
                    }
                    for item in items {
                        if is_augmentation(&item.kind) {
                            outline.augment.push(item);
                        } else {
                            self.misplaced(item, Place::Augment);
                        }
                    }
                }
                StatementKind::Head { name, body } => {
                    let head = self.head_outline(name, body, statement.span);
                    outline.heads.push(head);
                }
                kind if is_layer(kind) => {
                    if let Some(head) = outline.heads.first() {
                        self.error(
                            Diagnostic::error(
                                statement.keyword.span,
                                format!(
                                    "`{}` comes after `head {}`: trunk layers must come before the heads",
                                    statement.keyword.text, head.name.text
                                ),
                            )
                            .with_label("trunk layer after a head")
                            .with_help("move this layer above the first `head`, or into a head's block"),
                        );
                    } else {
                        outline.trunk.push(statement);
                    }
                }
                _ => self.misplaced(statement, Place::Network),
            }
        }
        outline
    }

    fn head_outline<'a>(
        &mut self,
        name: &'a Word,
        body: &'a [Statement],
        span: Span,
    ) -> HeadOutline<'a> {
        let mut head = HeadOutline { name, layers: Vec::new(), loss: None, span };
        for statement in body {
            match &statement.kind {
                StatementKind::Loss(_) => self.once(&mut head.loss, statement),
                kind if is_layer(kind) => head.layers.push(statement),
                _ => self.misplaced(statement, Place::Head),
            }
        }
        head
    }

    fn once<'a>(&mut self, slot: &mut Option<&'a Statement>, statement: &'a Statement) {
        match slot {
            Some(first) => self.duplicate(statement, first),
            None => *slot = Some(statement),
        }
    }

    fn duplicate(&mut self, statement: &Statement, first: &Statement) {
        self.error(
            Diagnostic::error(
                statement.keyword.span,
                format!("`{}` is given twice", statement.keyword.text),
            )
            .with_label("second declaration")
            .with_help(format!(
                "keep one `{}`; the first is `{}`",
                statement.keyword.text,
                first_line(first)
            )),
        );
    }

    /// A statement that is known but stands in the wrong place, or is not known at all.
    fn misplaced(&mut self, statement: &Statement, place: Place) {
        let word = &statement.keyword.text;
        let (message, help) = match (&statement.kind, place) {
            (StatementKind::Unknown, _) => {
                let candidates: Vec<&str> = match place {
                    Place::Augment => AUGMENTATIONS.to_vec(),
                    Place::Residual => LAYERS.to_vec(),
                    Place::Head => [LAYERS, &["loss"]].concat(),
                    Place::Network => [LAYERS, DECLARATIONS].concat(),
                };
                let what = match place {
                    Place::Augment => "an augmentation",
                    _ => "a statement",
                };
                (
                    format!("unknown statement `{word}`"),
                    suggest::hint(word, &candidates, &format!("expected {what}")),
                )
            }
            (kind, Place::Augment) if is_layer(kind) => (
                format!("`{word}` is a layer, not an augmentation"),
                format!(
                    "inside `augment {{ }}` only {} stand; move `{word}` out of the block",
                    suggest::list(AUGMENTATIONS)
                ),
            ),
            (kind, Place::Network) if is_augmentation(kind) => (
                format!("`{word}` is an augmentation and must stand inside `augment {{ }}`"),
                format!("write `augment {{ {}; }}`", first_line(statement).trim_end_matches(';')),
            ),
            (StatementKind::Head { .. }, _) => (
                format!("`head` is not allowed {}", place.describe()),
                "heads stand at the network level, after the trunk's layers".to_string(),
            ),
            (StatementKind::Loss(_), Place::Residual) => (
                format!("`loss` is not allowed {}", place.describe()),
                "the loss belongs at the network level, or inside a `head`".to_string(),
            ),
            _ => (
                format!("`{word}` is not allowed {}", place.describe()),
                match place {
                    Place::Residual => "a residual branch holds layers only".to_string(),
                    Place::Head => "a head holds layers and one `loss`".to_string(),
                    Place::Augment => format!("expected {}", suggest::list(AUGMENTATIONS)),
                    Place::Network => format!("move `{word}` to where it belongs"),
                },
            ),
        };
        let label = match statement.kind {
            StatementKind::Unknown => "unknown statement",
            _ => "not allowed here",
        };
        self.error(
            Diagnostic::error(statement.keyword.span, message).with_label(label).with_help(help),
        );
    }

    // ---- Numbers ----------------------------------------------------------------------------

    fn finite(&mut self, n: &Number, what: &str) -> Option<f64> {
        let value = n.value();
        if value.is_finite() {
            return Some(value);
        }
        self.error(
            Diagnostic::error(n.span, format!("{what} is too large to represent"))
                .with_label("not a finite number")
                .with_help("use a number between -1e38 and 1e38"),
        );
        None
    }

    /// A whole number of at least `min` and at most [`MAX_DIM`].
    fn count(&mut self, n: &Number, what: &str, min: usize) -> Option<usize> {
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
                        .with_help(format!("{what} must be at least {min}")),
                );
                None
            }
            Some(v) => Some(v as usize),
        }
    }

    /// A probability of dropping: 0 <= p < 1.
    fn probability(&mut self, n: &Number, what: &str) -> Option<f64> {
        let p = self.finite(n, what)?;
        if (0.0..1.0).contains(&p) {
            return Some(p);
        }
        self.error(
            Diagnostic::error(n.span, format!("{what} must be in [0, 1), found {p}"))
                .with_label("not a probability of dropping")
                .with_help("a probability must be in [0, 1): 0 keeps everything, 0.5 drops half"),
        );
        None
    }

    /// A finite number with `valid` true, else an error saying `rule`.
    fn bounded(
        &mut self,
        n: &Number,
        what: &str,
        rule: &str,
        help: &str,
        valid: impl Fn(f64) -> bool,
    ) -> Option<f64> {
        let value = self.finite(n, what)?;
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

    fn positive(&mut self, n: &Number, what: &str, help: &str) -> Option<f64> {
        self.bounded(n, what, "> 0", help, |v| v > 0.0)
    }

    fn non_negative(&mut self, n: &Number, what: &str) -> Option<f64> {
        self.bounded(n, what, ">= 0", "0 turns it off; negative values have no meaning", |v| {
            v >= 0.0
        })
    }

    // ---- Options ----------------------------------------------------------------------------

    /// The options of a statement by keyword, reporting unknown, misplaced and repeated ones.
    fn options<'a>(
        &mut self,
        statement: &'a Statement,
        allowed: &[&str],
    ) -> HashMap<&'a str, &'a ast::OptionAst> {
        let mut found: HashMap<&str, &ast::OptionAst> = HashMap::new();
        let owner = &statement.keyword.text;
        for option in &statement.options {
            let word = option.keyword.text.as_str();
            if matches!(option.kind, OptionKind::Unknown) {
                let help = if LAYERS.contains(&word) || DECLARATIONS.contains(&word) {
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

    // ---- Declarations -----------------------------------------------------------------------

    fn input(&mut self, network: &ast::NetworkAst, input: Option<&Statement>) -> Option<Shape> {
        let Some(statement) = input else {
            self.error(
                Diagnostic::error(
                    network.name.span,
                    format!("network `{}` has no `input`", network.name.text),
                )
                .with_label("no input declared")
                .with_help(
                    "declare the shape of one sample first: `input 64;` or `input image(1, 8, 8);`",
                ),
            );
            return None;
        };
        self.options(statement, &[]);
        match &statement.kind {
            StatementKind::Input(InputAst::Vector(n)) => {
                self.count(n, "the input size", 1).map(Shape::Vector)
            }
            StatementKind::Input(InputAst::Image([c, h, w])) => {
                let channels = self.count(c, "the number of input channels", 1);
                let height = self.count(h, "the input height", 1);
                let width = self.count(w, "the input width", 1);
                let shape = Shape::Image { channels: channels?, height: height?, width: width? };
                self.fits(shape, statement.span).then_some(shape)
            }
            _ => None,
        }
    }

    /// Whether a shape's value count stays within [`MAX_VALUES`].
    fn fits(&mut self, shape: Shape, span: Span) -> bool {
        let dims = shape.dims();
        let values = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
        if values.is_some_and(|v| v <= MAX_VALUES) {
            return true;
        }
        self.error(
            Diagnostic::error(span, format!("the shape {shape} holds too many values"))
                .with_help(format!("one sample may hold at most {MAX_VALUES} values")),
        );
        false
    }

    fn preprocess(&mut self, statement: &Statement, input: Option<Shape>) -> Option<Preprocess> {
        let StatementKind::Preprocess { method, mode } = &statement.kind else {
            return None;
        };
        let options = self.options(statement, &["eps"]);
        let eps = match options.get("eps") {
            Some(ast::OptionAst { kind: OptionKind::Eps(n), .. }) => {
                self.positive(n, "eps", "eps keeps the division stable; the default is 1e-5")?
            }
            _ => 1e-5,
        };
        let mode_text = mode.as_ref().map(|m| m.text.as_str());
        let kind = match (method.text.as_str(), mode_text) {
            ("mean_subtract", Some("per_pixel")) => PreprocessKind::MeanSubtractPerPixel,
            ("mean_subtract", Some("per_channel")) => PreprocessKind::MeanSubtractPerChannel,
            ("standardize", Some("per_channel")) => PreprocessKind::StandardizePerChannel,
            ("standardize", Some("per_feature")) => PreprocessKind::StandardizePerFeature,
            ("whiten", Some("pca")) => PreprocessKind::WhitenPca,
            (known @ ("mean_subtract" | "standardize" | "whiten"), _) => {
                let modes: &[&str] = match known {
                    "mean_subtract" => &["per_pixel", "per_channel"],
                    "standardize" => &["per_channel", "per_feature"],
                    _ => &["pca"],
                };
                let span = mode.as_ref().map_or(method.span, |m| m.span);
                let found = mode_text.map_or("nothing".to_string(), |m| format!("`{m}`"));
                let help = match mode_text {
                    Some(m) => suggest::hint(m, modes, &format!("`{known}` takes")),
                    None => format!("`{known}` takes {}", suggest::list(modes)),
                };
                self.error(
                    Diagnostic::error(
                        span,
                        format!(
                            "`preprocess {known}` needs {}, found {found}",
                            suggest::list(modes)
                        ),
                    )
                    .with_label("unknown preprocessing mode")
                    .with_help(help),
                );
                return None;
            }
            (other, _) => {
                self.error(
                    Diagnostic::error(method.span, format!("unknown preprocessing `{other}`"))
                        .with_label("unknown method")
                        .with_help(suggest::hint(other, PREPROCESS_METHODS, "expected")),
                );
                return None;
            }
        };
        if options.contains_key("eps")
            && !matches!(
                kind,
                PreprocessKind::StandardizePerChannel
                    | PreprocessKind::StandardizePerFeature
                    | PreprocessKind::WhitenPca
            )
        {
            self.error(
                Diagnostic::error(
                    statement.options[0].keyword.span,
                    "`eps` does not apply to `mean_subtract`",
                )
                .with_help("`eps` is for `standardize` and `whiten pca`; delete it"),
            );
        }
        let per_channel = matches!(
            kind,
            PreprocessKind::MeanSubtractPerChannel | PreprocessKind::StandardizePerChannel
        );
        if per_channel && matches!(input, Some(Shape::Vector(_))) {
            self.error(
                Diagnostic::error(statement.span, "per-channel preprocessing needs an image input")
                    .with_label("the input is a vector")
                    .with_help("use `per_feature` (or `per_pixel` for mean subtraction), or declare `input image(C, H, W);`"),
            );
            return None;
        }
        Some(Preprocess { kind, eps })
    }

    fn augmentations(&mut self, items: &[&Statement], input: Option<Shape>) -> Vec<Augmentation> {
        let (height, width) = match input {
            Some(Shape::Image { height, width, .. }) => (Some(height), Some(width)),
            _ => (None, None),
        };
        let side = height.zip(width).map(|(h, w)| h.min(w));
        let mut out = Vec::new();
        for item in items {
            let needs_image =
                !matches!(item.kind, StatementKind::GaussianNoise(_) | StatementKind::Mixup(_));
            if needs_image && matches!(input, Some(Shape::Vector(_))) {
                self.error(
                    Diagnostic::error(item.keyword.span, format!("`{}` needs an image input", item.keyword.text))
                        .with_label("the input is a vector")
                        .with_help("declare `input image(C, H, W);`, or use `noise gaussian` or `mixup`, which work on vectors"),
                );
                continue;
            }
            let fits_image = |checker: &mut Checker, n: &Number, what: &str| {
                let size = checker.count(n, what, 1)?;
                match side {
                    Some(s) if size >= s => {
                        checker.error(
                            Diagnostic::error(
                                n.span,
                                format!("{what} {size} does not fit the {s}-pixel input"),
                            )
                            .with_help(format!("use at most {}", s - 1)),
                        );
                        None
                    }
                    _ => Some(size),
                }
            };
            let augmentation = match &item.kind {
                StatementKind::Translate(n) => fits_image(self, n, "the shift")
                    .map(|pixels| Augmentation::Translate { pixels }),
                StatementKind::Cutout(n) => {
                    fits_image(self, n, "the cutout size").map(|size| Augmentation::Cutout { size })
                }
                StatementKind::Flip(axis) => match axis.text.as_str() {
                    "horizontal" => Some(Augmentation::FlipHorizontal),
                    "vertical" => Some(Augmentation::FlipVertical),
                    other => {
                        self.error(
                            Diagnostic::error(axis.span, format!("unknown flip axis `{other}`"))
                                .with_label("expected `horizontal` or `vertical`")
                                .with_help(suggest::hint(
                                    other,
                                    &["horizontal", "vertical"],
                                    "`flip` takes",
                                )),
                        );
                        None
                    }
                },
                StatementKind::Rotate(n) => self
                    .bounded(
                        n,
                        "the rotation angle",
                        "in (0, 180] degrees",
                        "rotations are drawn from [-angle, angle]; 10 to 15 degrees suit digits",
                        |d| d > 0.0 && d <= 180.0,
                    )
                    .map(|degrees| Augmentation::Rotate { degrees }),
                StatementKind::GaussianNoise(n) => self
                    .non_negative(n, "the noise level")
                    .map(|sigma| Augmentation::GaussianNoise { sigma }),
                StatementKind::Mixup(n) => self
                    .positive(
                        n,
                        "mixup's alpha",
                        "the mixing weight is drawn from Beta(alpha, alpha); 0.2 is common",
                    )
                    .map(|alpha| Augmentation::Mixup { alpha }),
                StatementKind::Cutmix(n) => self
                    .positive(
                        n,
                        "cutmix's alpha",
                        "the box area is drawn from Beta(alpha, alpha); 1.0 is common",
                    )
                    .map(|alpha| Augmentation::Cutmix { alpha }),
                _ => None,
            };
            out.extend(augmentation);
        }
        out
    }

    // ---- Pass 3: heads and losses -----------------------------------------------------------

    fn heads(
        &mut self,
        lowering: &mut Lowering,
        heads: &[HeadOutline],
        trunk_output: Option<Shape>,
    ) -> Vec<Head> {
        let mut out = Vec::new();
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for head in heads {
            if seen.insert(&head.name.text, head.name.span).is_some() {
                self.error(
                    Diagnostic::error(
                        head.name.span,
                        format!("a head named `{}` is already defined", head.name.text),
                    )
                    .with_label("duplicate head name")
                    .with_help("give each head its own name"),
                );
            }
            let layers = lowering.layers(self, &head.layers, trunk_output);
            let output = shape_after(&layers, trunk_output);
            let loss = match head.loss {
                Some(statement) => self.loss(statement, output, true),
                None => {
                    self.error(
                        Diagnostic::error(
                            head.name.span,
                            format!("head `{}` has no loss", head.name.text),
                        )
                        .with_label("no `loss` in this head")
                        .with_help("end the head with e.g. `loss softmax_cross_entropy;`"),
                    );
                    None
                }
            };
            if let (Some(loss), Some(output)) = (loss, output) {
                out.push(Head {
                    name: head.name.text.clone(),
                    layers,
                    loss,
                    output,
                    span: head.span,
                });
            }
        }
        out
    }

    fn network_loss(
        &mut self,
        network: &ast::NetworkAst,
        outline: &Outline,
        output: Option<Shape>,
    ) -> Option<Loss> {
        match (outline.loss, outline.heads.is_empty()) {
            (Some(statement), true) => self.loss(statement, output, false),
            (Some(statement), false) => {
                self.error(
                    Diagnostic::error(
                        statement.keyword.span,
                        "a network with heads has no network-level `loss`",
                    )
                    .with_label("each head has its own loss")
                    .with_help("move this `loss` into a `head` block"),
                );
                None
            }
            (None, true) => {
                self.error(
                    Diagnostic::error(
                        network.name.span,
                        format!("network `{}` has no `loss`", network.name.text),
                    )
                    .with_label("no loss declared")
                    .with_help("add e.g. `loss softmax_cross_entropy;` after the last layer"),
                );
                None
            }
            (None, false) => None,
        }
    }

    fn loss(
        &mut self,
        statement: &Statement,
        output: Option<Shape>,
        in_head: bool,
    ) -> Option<Loss> {
        let StatementKind::Loss(word) = &statement.kind else {
            return None;
        };
        let options = self.options(statement, if in_head { &["weight"] } else { &[] });
        let weight = match options.get("weight") {
            Some(ast::OptionAst { kind: OptionKind::Weight(n), .. }) => {
                self.non_negative(n, "a loss weight")?
            }
            _ => 1.0,
        };
        let kind = match word.text.as_str() {
            "softmax_cross_entropy" => LossKind::SoftmaxCrossEntropy,
            "mse" => LossKind::Mse,
            "binary_cross_entropy" => LossKind::BinaryCrossEntropy,
            other => {
                self.error(
                    Diagnostic::error(word.span, format!("unknown loss `{other}`"))
                        .with_label("unknown loss")
                        .with_help(suggest::hint(other, LOSSES, "expected")),
                );
                return None;
            }
        };
        let output = output?;
        let problem = match (kind, output) {
            (LossKind::Mse, _) => None,
            (_, Shape::Image { .. }) => Some((
                format!("`{}` needs a vector of scores, but the output is {output}", word.text),
                "add `flatten;` and a `dense` layer before the loss".to_string(),
            )),
            (LossKind::SoftmaxCrossEntropy, Shape::Vector(1)) => Some((
                "`softmax_cross_entropy` needs at least 2 classes, but the output has 1 value"
                    .to_string(),
                "for one output use `binary_cross_entropy`, or end with `dense CLASSES;`"
                    .to_string(),
            )),
            _ => None,
        };
        if let Some((message, help)) = problem {
            self.error(
                Diagnostic::error(word.span, message)
                    .with_label("does not fit the output")
                    .with_help(help),
            );
            return None;
        }
        Some(Loss { kind, weight, span: statement.span })
    }

    // ---- Pass 4: penalties ------------------------------------------------------------------

    /// `failed` names the layers that had errors of their own: targets in them are not
    /// reported again.
    fn penalties(&mut self, net: &mut Network, statements: &[&Statement], failed: &[String]) {
        // Which statement set each parameter's l1 and l2, to report conflicts at both places.
        let mut set_by: HashMap<(usize, bool), Span> = HashMap::new();
        for statement in statements {
            let StatementKind::Penalty { kind, coefficient, targets } = &statement.kind else {
                continue;
            };
            let Some(a) = self.non_negative(coefficient, "a penalty coefficient") else {
                continue;
            };
            match kind.text.as_str() {
                "l1_activity" => {
                    if targets.is_empty() {
                        self.error(
                            Diagnostic::error(statement.span, "`penalty l1_activity` needs `on LAYER`")
                                .with_label("which activations?")
                                .with_help("name the layer whose output to make sparse, e.g. `penalty l1_activity 1e-4 on relu2;`"),
                        );
                    }
                    for target in targets.iter().filter(|t| !in_failed_layer(t, failed)) {
                        if net.all_layers().iter().any(|l| l.name == target.text) {
                            net.activity_penalties.push(ActivityPenalty {
                                layer: target.text.clone(),
                                coefficient: a,
                            });
                        } else {
                            let layers: Vec<String> =
                                net.all_layers().iter().map(|l| l.name.clone()).collect();
                            self.unknown_target(target, &layers, "layer");
                        }
                    }
                }
                name @ ("l1" | "l2") => {
                    let l1 = name == "l1";
                    let indices: Vec<usize> = if targets.is_empty() {
                        (0..net.params.len())
                            .filter(|&i| net.params[i].role == Role::Weight)
                            .collect()
                    } else {
                        targets
                            .iter()
                            .filter(|t| !in_failed_layer(t, failed))
                            .flat_map(|t| self.target_params(net, t))
                            .collect()
                    };
                    for i in indices {
                        if let Some(first) = set_by.insert((i, l1), statement.span) {
                            self.error(
                                Diagnostic::error(statement.span, format!("`{}` gets `penalty {name}` twice", net.params[i].name))
                                    .with_label("second penalty on the same parameter")
                                    .with_help(format!(
                                        "the penalty at byte {} already covers it; a bare `penalty {name}` covers every weight, so name the others with `on`",
                                        first.start
                                    )),
                            );
                        }
                        let slot = if l1 { &mut net.params[i].l1 } else { &mut net.params[i].l2 };
                        *slot = Some(a);
                    }
                }
                other => self.error(
                    Diagnostic::error(kind.span, format!("unknown penalty `{other}`"))
                        .with_label("unknown penalty")
                        .with_help(suggest::hint(other, PENALTIES, "expected")),
                ),
            }
        }
    }

    /// `dense1` (the layer's weights) or `dense1.bias` (one parameter).
    fn target_params(&mut self, net: &Network, target: &Word) -> Vec<usize> {
        if let Some(i) = net.params.iter().position(|p| p.name == target.text) {
            return vec![i];
        }
        if let Some(buffer) = net.buffers.iter().find(|b| b.name == target.text) {
            self.error(
                Diagnostic::error(
                    target.span,
                    format!("`{}` is a running statistic, not a trainable parameter", buffer.name),
                )
                .with_help(format!(
                    "penalize `{}.weight` or `{}.bias` instead",
                    buffer.layer, buffer.layer
                )),
            );
            return Vec::new();
        }
        if let Some(layer) = net.all_layers().into_iter().find(|l| l.name == target.text) {
            let weights: Vec<usize> = layer
                .params
                .iter()
                .copied()
                .filter(|&i| net.params[i].role == Role::Weight)
                .collect();
            if weights.is_empty() {
                let help = if layer.params.is_empty() {
                    format!(
                        "`{}` has no parameters; for sparse activations use `penalty l1_activity A on {}`",
                        layer.name, layer.name
                    )
                } else {
                    let names: Vec<&str> =
                        layer.params.iter().map(|&i| net.params[i].name.as_str()).collect();
                    format!("name its parameters one by one: {}", suggest::list(&names))
                };
                self.error(
                    Diagnostic::error(
                        target.span,
                        format!("`{}` has no weights to penalize", layer.name),
                    )
                    .with_label("no weights")
                    .with_help(help),
                );
            }
            return weights;
        }
        let mut names: Vec<String> = net.params.iter().map(|p| p.name.clone()).collect();
        names.extend(
            net.all_layers().iter().filter(|l| !l.params.is_empty()).map(|l| l.name.clone()),
        );
        self.unknown_target(target, &names, "parameter or layer");
        Vec::new()
    }

    fn unknown_target(&mut self, target: &Word, names: &[String], what: &str) {
        let candidates: Vec<&str> = names.iter().map(String::as_str).collect();
        let help = match suggest::closest(&target.text, candidates.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None if candidates.is_empty() => "this network has none".to_string(),
            None => format!(
                "names are kind + index in order of appearance: {}",
                suggest::list(&candidates[..candidates.len().min(8)])
            ),
        };
        self.error(
            Diagnostic::error(target.span, format!("no {what} is named `{}`", target.text))
                .with_label("unknown name")
                .with_help(help),
        );
    }
}

/// Whether a penalty target names a layer (or a parameter of one) that had errors of its own.
fn in_failed_layer(target: &Word, failed: &[String]) -> bool {
    let layer = target.text.split('.').next().unwrap_or_default();
    failed.iter().any(|name| name == layer)
}

/// The output of the last layer, or the input if there is none; `None` if unknown.
fn shape_after(layers: &[Layer], input: Option<Shape>) -> Option<Shape> {
    match layers.last() {
        Some(layer) => Some(layer.output),
        None => input,
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

/// Which statements take an option, for "does not apply" messages.
fn option_takers(option: &str) -> &'static str {
    match option {
        "init" | "bias" => "`dense` and `conv`",
        "dropconnect" => "`dense`",
        "kernel" => "`conv`",
        "stride" | "pad" => "`conv`, `maxpool` and `avgpool`",
        "eps" => "`batchnorm` and `preprocess`",
        "momentum" => "`batchnorm`",
        "weight" => "a head's `loss`",
        "stochastic_depth" => "`residual`",
        _ => "nothing",
    }
}

// ---- Pass 2: lower layers ----------------------------------------------------------------------

/// Names, shapes and the flat parameter layout, built as layers are lowered in source order.
#[derive(Default)]
struct Lowering {
    counters: HashMap<String, usize>,
    params: Vec<Param>,
    buffers: Vec<Buffer>,
    param_offset: usize,
    buffer_offset: usize,
    counter_offset: usize,
    /// Layers that could not be lowered (their errors are reported already).
    failed: Vec<String>,
}

/// What a layer statement resolves to before its parameters are laid out.
struct LayerPlan {
    op: Op,
    output: Shape,
    flops: u64,
    /// (suffix, shape, role, init as written, resolved init)
    params: Vec<(&'static str, Vec<usize>, Role, String, Init)>,
    fans: Option<Fans>,
    norm_features: Option<usize>,
}

impl Lowering {
    fn layers(
        &mut self,
        checker: &mut Checker,
        statements: &[&Statement],
        input: Option<Shape>,
    ) -> Vec<Layer> {
        let mut layers = Vec::new();
        let mut shape = input;
        for statement in statements {
            let name = self.next_name(&statement.keyword.text);
            match self.layer(checker, statement, name.clone(), shape) {
                Some(layer) => {
                    shape = Some(layer.output);
                    layers.push(layer);
                }
                None => {
                    self.failed.push(name);
                    shape = None;
                }
            }
        }
        layers
    }

    fn next_name(&mut self, kind: &str) -> String {
        let counter = self.counters.entry(kind.to_string()).or_insert(0);
        *counter += 1;
        format!("{kind}{counter}")
    }

    /// Lowers one layer; `None` when it is invalid or its input shape is unknown.
    fn layer(
        &mut self,
        checker: &mut Checker,
        statement: &Statement,
        name: String,
        input: Option<Shape>,
    ) -> Option<Layer> {
        if let StatementKind::Residual(body) = &statement.kind {
            return self.residual(checker, statement, name, body, input);
        }
        let plan = plan_layer(checker, statement, input);
        let input = input?;
        let plan = plan?;
        if !checker.fits(plan.output, statement.span) {
            return None;
        }
        let mut param_indices = Vec::new();
        for (suffix, shape, role, scheme, init) in plan.params {
            let len: usize = shape.iter().product();
            param_indices.push(self.params.len());
            let fans = if matches!(role, Role::Weight | Role::Bias) { plan.fans } else { None };
            self.params.push(Param {
                name: format!("{name}.{suffix}"),
                layer: name.clone(),
                shape,
                offset: self.param_offset,
                len,
                role,
                fans,
                init_scheme: scheme,
                init,
                l1: None,
                l2: None,
            });
            self.param_offset = self.param_offset.saturating_add(len);
        }
        let mut buffer_indices = Vec::new();
        if let Some(features) = plan.norm_features {
            for (suffix, kind) in [
                ("running_mean", BufferKind::RunningMean),
                ("running_var", BufferKind::RunningVar),
                ("num_batches_tracked", BufferKind::NumBatchesTracked),
            ] {
                let (shape, len, offset) = if kind == BufferKind::NumBatchesTracked {
                    self.counter_offset += 1;
                    (vec![], 1, self.counter_offset - 1)
                } else {
                    self.buffer_offset += features;
                    (vec![features], features, self.buffer_offset - features)
                };
                buffer_indices.push(self.buffers.len());
                self.buffers.push(Buffer {
                    name: format!("{name}.{suffix}"),
                    layer: name.clone(),
                    shape,
                    offset,
                    len,
                    kind,
                });
            }
        }
        Some(Layer {
            name,
            op: plan.op,
            input,
            output: plan.output,
            params: param_indices,
            buffers: buffer_indices,
            flops: plan.flops,
            span: statement.span,
        })
    }

    fn residual(
        &mut self,
        checker: &mut Checker,
        statement: &Statement,
        name: String,
        body: &[Statement],
        input: Option<Shape>,
    ) -> Option<Layer> {
        let options = checker.options(statement, &["stochastic_depth"]);
        let stochastic_depth = match options.get("stochastic_depth") {
            Some(ast::OptionAst { kind: OptionKind::StochasticDepth(n), .. }) => {
                checker.probability(n, "the stochastic-depth probability")
            }
            _ => Some(0.0),
        };
        let mut layers = Vec::new();
        for inner in body {
            if is_layer(&inner.kind) {
                layers.push(inner);
            } else {
                checker.misplaced(inner, Place::Residual);
            }
        }
        if body.is_empty() {
            checker.error(
                Diagnostic::error(statement.keyword.span, "empty residual branch")
                    .with_label("y = x + F(x) needs layers in F")
                    .with_help("put the branch's layers inside the braces, e.g. `residual { conv 16 kernel 3 pad 1; relu; }`"),
            );
        }
        let branch = self.layers(checker, &layers, input);
        let input = input?;
        if branch.len() != layers.len() {
            return None;
        }
        let output = shape_after(&branch, Some(input))?;
        if output != input {
            checker.error(
                Diagnostic::error(
                    statement.keyword.span,
                    format!("the residual branch changes the shape from {input} to {output}"),
                )
                .with_label("y = x + F(x) needs F(x) shaped like x")
                .with_help(format!("make the branch end with the shape it starts with, {input}")),
            );
            return None;
        }
        // The branch's layers count their own FLOPs; the block adds the skip connection's sum.
        let flops = input.len() as u64;
        Some(Layer {
            name,
            op: Op::Residual { stochastic_depth: stochastic_depth?, branch },
            input,
            output,
            params: Vec::new(),
            buffers: Vec::new(),
            flops,
            span: statement.span,
        })
    }
}

/// Validates a (non-residual) layer's options and infers its output shape and parameters.
fn plan_layer(
    checker: &mut Checker,
    statement: &Statement,
    input: Option<Shape>,
) -> Option<LayerPlan> {
    let allowed: &[&str] = match &statement.kind {
        StatementKind::Dense(_) => &["init", "bias", "dropconnect"],
        StatementKind::Conv(_) => &["kernel", "stride", "pad", "init", "bias"],
        StatementKind::BatchNorm => &["eps", "momentum"],
        StatementKind::MaxPool(_) | StatementKind::AvgPool(_) => &["stride", "pad"],
        _ => &[],
    };
    let options = checker.options(statement, allowed);
    let number = |name: &str| -> Option<&Number> {
        options.get(name).and_then(|o| match &o.kind {
            OptionKind::DropConnect(n)
            | OptionKind::Kernel(n)
            | OptionKind::Stride(n)
            | OptionKind::Pad(n)
            | OptionKind::Eps(n)
            | OptionKind::Momentum(n) => Some(n),
            _ => None,
        })
    };
    let elementwise = |op: Op, per_element: u64| {
        input.map(|shape| LayerPlan {
            op,
            output: shape,
            flops: per_element * shape.len() as u64,
            params: vec![],
            fans: None,
            norm_features: None,
        })
    };
    match &statement.kind {
        StatementKind::Dense(units) => {
            let units = checker.count(units, "the number of units", 1);
            let dropconnect = number("dropconnect")
                .map(|n| checker.probability(n, "the DropConnect probability"));
            let inits_valid = inits_are_valid(checker, &options);
            let in_features = match input? {
                Shape::Vector(n) => n,
                image @ Shape::Image { .. } => {
                    checker.error(
                        Diagnostic::error(statement.keyword.span, format!("`dense` needs a vector input, but its input is the image {image}"))
                            .with_label("image input")
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
                weight_and_bias(checker, statement, &options, vec![units, in_features], fans)?;
            let flops =
                2 * (in_features as u64) * (units as u64) + if bias { units as u64 } else { 0 };
            Some(LayerPlan {
                op: Op::Dense { units, bias, dropconnect },
                output: Shape::Vector(units),
                flops,
                params,
                fans: Some(fans),
                norm_features: None,
            })
        }
        StatementKind::Conv(filters) => {
            let filters = checker.count(filters, "the number of filters", 1);
            let inits_valid = inits_are_valid(checker, &options);
            let kernel = match number("kernel") {
                Some(n) => checker.count(n, "the kernel size", 1),
                None => {
                    checker.error(
                        Diagnostic::error(statement.keyword.span, "`conv` needs a kernel size")
                            .with_label("no `kernel`")
                            .with_help("add e.g. `kernel 3` (and `pad 1` to keep the size)"),
                    );
                    None
                }
            };
            let stride = number("stride").map_or(Some(1), |n| checker.count(n, "the stride", 1));
            let pad = number("pad").map_or(Some(0), |n| checker.count(n, "the padding", 0));
            let (channels, height, width) = image_input(checker, statement, input?)?;
            let (filters, kernel, stride, pad) = (filters?, kernel?, stride?, pad?);
            let (out_h, out_w) =
                window_output(checker, statement, (height, width), kernel, stride, pad)?;
            if !inits_valid {
                return None;
            }
            let fans =
                Fans { fan_in: channels * kernel * kernel, fan_out: filters * kernel * kernel };
            let (params, bias) = weight_and_bias(
                checker,
                statement,
                &options,
                vec![filters, channels, kernel, kernel],
                fans,
            )?;
            let positions = (filters * out_h * out_w) as u64;
            let flops = 2 * positions * fans.fan_in as u64 + if bias { positions } else { 0 };
            let output = Shape::Image { channels: filters, height: out_h, width: out_w };
            Some(LayerPlan {
                op: Op::Conv { filters, kernel, stride, pad, bias },
                output,
                flops,
                params,
                fans: Some(fans),
                norm_features: None,
            })
        }
        StatementKind::BatchNorm => {
            let eps = number("eps").map_or(Some(1e-5), |n| {
                checker.positive(
                    n,
                    "batch norm's eps",
                    "eps keeps 1/sqrt(var + eps) finite; PyTorch's default is 1e-5",
                )
            });
            let momentum = number("momentum").map_or(Some(0.1), |n| {
                checker.bounded(n, "batch norm's momentum", "in (0, 1]", "running = (1 - momentum) * running + momentum * batch; PyTorch's default is 0.1", |m| {
                    m > 0.0 && m <= 1.0
                })
            });
            let input = input?;
            let features = match input {
                Shape::Vector(n) => n,
                Shape::Image { channels, .. } => channels,
            };
            let params = vec![
                (
                    "weight",
                    vec![features],
                    Role::NormWeight,
                    "ones".to_string(),
                    Init::Constant(1.0),
                ),
                ("bias", vec![features], Role::NormBias, "zeros".to_string(), Init::Zeros),
            ];
            Some(LayerPlan {
                op: Op::BatchNorm { eps: eps?, momentum: momentum? },
                output: input,
                flops: 2 * input.len() as u64,
                params,
                fans: None,
                norm_features: Some(features),
            })
        }
        StatementKind::Relu => elementwise(Op::Activation(Activation::Relu), 1),
        StatementKind::LeakyRelu(slope) => {
            let slope = match slope {
                Some(n) => checker.finite(n, "the negative slope")?,
                None => 0.01,
            };
            elementwise(Op::Activation(Activation::LeakyRelu { slope }), 1)
        }
        StatementKind::Tanh => elementwise(Op::Activation(Activation::Tanh), 1),
        StatementKind::Sigmoid => elementwise(Op::Activation(Activation::Sigmoid), 1),
        StatementKind::Identity => elementwise(Op::Activation(Activation::Identity), 0),
        StatementKind::Dropout(p) => {
            let p = checker.probability(p, "the dropout probability")?;
            elementwise(Op::Dropout { p }, 0)
        }
        StatementKind::GaussianNoise(sigma) => {
            let sigma = checker.non_negative(sigma, "the noise level")?;
            elementwise(Op::GaussianNoise { sigma }, 0)
        }
        StatementKind::MaxPool(k) | StatementKind::AvgPool(k) => {
            let kernel = checker.count(k, "the pooling window", 1);
            let stride = number("stride").map(|n| checker.count(n, "the stride", 1));
            let pad = number("pad").map_or(Some(0), |n| checker.count(n, "the padding", 0));
            let (channels, height, width) = image_input(checker, statement, input?)?;
            let kernel = kernel?;
            let stride = stride.unwrap_or(Some(kernel))?;
            let pad = pad?;
            if 2 * pad > kernel {
                checker.error(
                    Diagnostic::error(
                        statement.span,
                        format!("padding {pad} is more than half the pooling window {kernel}"),
                    )
                    .with_label("too much padding")
                    .with_help(format!("use `pad {}` at most, as PyTorch requires", kernel / 2)),
                );
                return None;
            }
            let (out_h, out_w) =
                window_output(checker, statement, (height, width), kernel, stride, pad)?;
            let pool = Pool { kernel, stride, pad };
            let op = if matches!(statement.kind, StatementKind::MaxPool(_)) {
                Op::MaxPool(pool)
            } else {
                Op::AvgPool(pool)
            };
            let output = Shape::Image { channels, height: out_h, width: out_w };
            Some(LayerPlan {
                op,
                output,
                flops: (output.len() * kernel * kernel) as u64,
                params: vec![],
                fans: None,
                norm_features: None,
            })
        }
        StatementKind::GlobalAvgPool => {
            let (channels, height, width) = image_input(checker, statement, input?)?;
            let flops = (channels * height * width) as u64;
            Some(LayerPlan {
                op: Op::GlobalAvgPool,
                output: Shape::Vector(channels),
                flops,
                params: vec![],
                fans: None,
                norm_features: None,
            })
        }
        StatementKind::FractionalMaxPool(alpha) => {
            let alpha = checker.bounded(
                alpha,
                "the fractional pooling ratio",
                "in (1, 2)",
                "Graham (2014) shrinks each side by a factor alpha between 1 and 2, e.g. 1.41",
                |a| a > 1.0 && a < 2.0,
            );
            let (channels, height, width) = image_input(checker, statement, input?)?;
            let alpha = alpha?;
            // torch.nn.FractionalMaxPool2d(kernel_size=2, output_ratio=1/alpha): int(size * ratio).
            let out = |side: usize| (side as f64 * (1.0 / alpha)) as usize;
            let (out_h, out_w) = (out(height), out(width));
            if out_h < 1 || out_w < 1 || out_h + 1 > height || out_w + 1 > width {
                checker.error(
                    Diagnostic::error(statement.span, format!("fractional max pooling by {alpha} cannot shrink {height}x{width} with 2x2 regions"))
                        .with_label("input too small")
                        .with_help("pool a larger input (at least 2x2) or remove this layer"),
                );
                return None;
            }
            let output = Shape::Image { channels, height: out_h, width: out_w };
            Some(LayerPlan {
                op: Op::FractionalMaxPool { alpha },
                output,
                flops: 4 * output.len() as u64,
                params: vec![],
                fans: None,
                norm_features: None,
            })
        }
        StatementKind::Flatten => match input? {
            Shape::Image { .. } => {
                let input = input?;
                Some(LayerPlan {
                    op: Op::Flatten,
                    output: Shape::Vector(input.len()),
                    flops: 0,
                    params: vec![],
                    fans: None,
                    norm_features: None,
                })
            }
            Shape::Vector(n) => {
                checker.error(
                    Diagnostic::error(statement.keyword.span, format!("`flatten` needs an image input, but its input is already a vector of {n}"))
                        .with_label("nothing to flatten")
                        .with_help("delete this `flatten`"),
                );
                None
            }
        },
        _ => None,
    }
}

/// The (channels, height, width) of an image input, or an error naming the layer.
fn image_input(
    checker: &mut Checker,
    statement: &Statement,
    input: Shape,
) -> Option<(usize, usize, usize)> {
    match input {
        Shape::Image { channels, height, width } => Some((channels, height, width)),
        Shape::Vector(n) => {
            checker.error(
                Diagnostic::error(
                    statement.keyword.span,
                    format!(
                        "`{}` needs an image input, but its input is a vector of {n}",
                        statement.keyword.text
                    ),
                )
                .with_label("vector input")
                .with_help(
                    "declare `input image(C, H, W);`, and put image layers before `flatten`",
                ),
            );
            None
        }
    }
}

/// Output size of a sliding window: floor((size + 2 pad - kernel) / stride) + 1 (nn.Conv2d).
fn window_output(
    checker: &mut Checker,
    statement: &Statement,
    (height, width): (usize, usize),
    kernel: usize,
    stride: usize,
    pad: usize,
) -> Option<(usize, usize)> {
    let (padded_h, padded_w) = (height + 2 * pad, width + 2 * pad);
    if kernel > padded_h || kernel > padded_w {
        checker.error(
            Diagnostic::error(statement.span, format!("the {kernel}x{kernel} window of `{}` is larger than its padded input {padded_h}x{padded_w}", statement.keyword.text))
                .with_label("window larger than the input")
                .with_help(format!("use a window of at most {} or add padding", padded_h.min(padded_w))),
        );
        return None;
    }
    Some(((padded_h - kernel) / stride + 1, (padded_w - kernel) / stride + 1))
}

type ParamPlan = (&'static str, Vec<usize>, Role, String, Init);

/// The weight and (unless `bias none`) bias of a dense or conv layer with their resolved inits.
fn weight_and_bias(
    checker: &mut Checker,
    statement: &Statement,
    options: &HashMap<&str, &ast::OptionAst>,
    weight_shape: Vec<usize>,
    fans: Fans,
) -> Option<(Vec<ParamPlan>, bool)> {
    let values = weight_shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
    if !values.is_some_and(|v| v <= MAX_VALUES) {
        let shape: Vec<String> = weight_shape.iter().map(usize::to_string).collect();
        checker.error(
            Diagnostic::error(
                statement.span,
                format!(
                    "the weight of this `{}` would have {} values",
                    statement.keyword.text,
                    shape.join(" x ")
                ),
            )
            .with_label("too many parameters")
            .with_help(format!("a tensor may hold at most {MAX_VALUES} values; use fewer units")),
        );
        return None;
    }
    // nn.Linear / nn.Conv2d reset_parameters(): kaiming_uniform_(a=sqrt(5)) for the weight and
    // U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias; both are that same uniform distribution.
    let bound = 1.0 / (fans.fan_in as f64).sqrt();
    let default = ("default".to_string(), Init::Uniform { lo: -bound, hi: bound });
    let weight = match options.get("init") {
        Some(ast::OptionAst { kind: OptionKind::Init(init), .. }) => {
            resolve_init(checker, init, fans, false)
        }
        _ => Some(default.clone()),
    };
    let bias = match options.get("bias") {
        Some(ast::OptionAst { kind: OptionKind::Bias(None), .. }) => None,
        Some(ast::OptionAst { kind: OptionKind::Bias(Some(init)), .. }) => {
            Some(resolve_init(checker, init, fans, true))
        }
        _ => Some(Some(default)),
    };
    let units = weight_shape[0];
    let (weight_scheme, weight_init) = weight?;
    let mut params = vec![("weight", weight_shape, Role::Weight, weight_scheme, weight_init)];
    let has_bias = bias.is_some();
    if let Some(bias) = bias {
        let (scheme, init) = bias?;
        params.push(("bias", vec![units], Role::Bias, scheme, init));
    }
    Some((params, has_bias))
}

/// Reports the errors of a layer's `init` and `bias` clauses, which do not depend on its fans,
/// before its shape is known; `false` if there were any.
fn inits_are_valid(checker: &mut Checker, options: &HashMap<&str, &ast::OptionAst>) -> bool {
    let any_fans = Fans { fan_in: 1, fan_out: 1 };
    let mut valid = true;
    for option in options.values() {
        let (init, is_bias) = match &option.kind {
            OptionKind::Init(init) => (init, false),
            OptionKind::Bias(Some(init)) => (init, true),
            _ => continue,
        };
        valid &= resolve_init(checker, init, any_fans, is_bias).is_some();
    }
    valid
}

/// Resolves an init scheme to a distribution with torch.nn.init's formulas.
fn resolve_init(
    checker: &mut Checker,
    init: &ast::InitAst,
    fans: Fans,
    is_bias: bool,
) -> Option<(String, Init)> {
    let Fans { fan_in, fan_out } = fans;
    let (fan_in, fan_out) = (fan_in as f64, fan_out as f64);
    let written = init.name.text.clone();
    let resolved = match &init.kind {
        InitKind::Zeros => Init::Zeros,
        InitKind::Ones => Init::Constant(1.0),
        InitKind::Constant(c) => Init::Constant(checker.finite(c, "the constant")?),
        InitKind::Uniform(lo, hi) => {
            let (lo_v, hi_v) =
                (checker.finite(lo, "the lower bound"), checker.finite(hi, "the upper bound"));
            let (lo_v, hi_v) = (lo_v?, hi_v?);
            if lo_v >= hi_v {
                checker.error(
                    Diagnostic::error(
                        init.span,
                        format!(
                            "`uniform({lo_v}, {hi_v})` needs its lower bound below its upper bound"
                        ),
                    )
                    .with_label("empty interval")
                    .with_help(format!("write `uniform({hi_v}, {lo_v})`?")),
                );
                return None;
            }
            Init::Uniform { lo: lo_v, hi: hi_v }
        }
        InitKind::Normal(mean, std) => {
            let mean = checker.finite(mean, "the mean");
            let std = checker.non_negative(std, "the standard deviation");
            Init::Normal { mean: mean?, std: std? }
        }
        // LeCun (1998): Var(w) = 1/fan_in, the lecture's derivation; Keras draws it truncated.
        InitKind::LecunNormal => Init::Normal { mean: 0.0, std: (1.0 / fan_in).sqrt() },
        InitKind::LecunUniform => uniform((3.0 / fan_in).sqrt()),
        // torch.nn.init.xavier_*_ (Glorot and Bengio 2010): Var(w) = 2/(fan_in + fan_out).
        InitKind::XavierNormal => {
            Init::Normal { mean: 0.0, std: (2.0 / (fan_in + fan_out)).sqrt() }
        }
        InitKind::XavierUniform => uniform((6.0 / (fan_in + fan_out)).sqrt()),
        // torch.nn.init.kaiming_*_ defaults (He et al. 2015, mode fan_in, gain sqrt(2)): Var(w) = 2/fan_in.
        InitKind::KaimingNormal => Init::Normal { mean: 0.0, std: (2.0 / fan_in).sqrt() },
        InitKind::KaimingUniform => uniform((6.0 / fan_in).sqrt()),
        InitKind::Orthogonal if is_bias => {
            checker.error(
                Diagnostic::error(
                    init.name.span,
                    "`orthogonal` needs a matrix, but a bias is a vector",
                )
                .with_label("1-D tensor")
                .with_help("initialize the bias with `zeros` or `constant C`"),
            );
            return None;
        }
        InitKind::Orthogonal => Init::Orthogonal { gain: 1.0 },
        InitKind::Unknown => {
            checker.error(
                Diagnostic::error(
                    init.name.span,
                    format!("unknown init scheme `{}`", init.name.text),
                )
                .with_label("not an init scheme")
                .with_help(suggest::hint(
                    &init.name.text,
                    INIT_SCHEMES,
                    "expected",
                )),
            );
            return None;
        }
    };
    Some((written, resolved))
}

fn uniform(bound: f64) -> Init {
    Init::Uniform { lo: -bound, hi: bound }
}
