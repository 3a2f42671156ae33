//! The syntax tree: what the spec says, with the byte span of every piece, before any checking.

use crate::diagnostic::Span;
use crate::layers::LayerKind;

/// A word of the spec with its span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The text of the word.
    pub text: String,
    /// Where it stands.
    pub span: Span,
}

/// A number as written: the digits are kept as text so that the checker can tell `3` from
/// `3.0` and report sizes too large for any integer type instead of rounding them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number {
    /// Whether a `-` stood before it.
    pub negative: bool,
    /// The unsigned literal, e.g. `1e-5`.
    pub digits: String,
    /// The span of the sign (if any) and the literal.
    pub span: Span,
}

impl Number {
    /// The value as a float (always finite: the grammar admits only decimal literals, but a huge
    /// exponent gives infinity, which the checker rejects).
    pub fn value(&self) -> f64 {
        let magnitude: f64 = self.digits.parse().unwrap_or(f64::INFINITY);
        if self.negative { -magnitude } else { magnitude }
    }

    /// Whether the literal is written as a whole number (no `.` and no exponent).
    pub fn is_integer_literal(&self) -> bool {
        self.digits.bytes().all(|b| b.is_ascii_digit())
    }
}

/// A parsed file: zero or more networks.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    /// The networks in source order.
    pub networks: Vec<NetworkAst>,
}

/// `network NAME { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkAst {
    /// The network's name (becomes the Rust type name).
    pub name: Word,
    /// The statements of its body.
    pub body: Vec<Statement>,
    /// The whole network, keyword to closing brace.
    pub span: Span,
}

/// One statement: a declaration, a layer, an augmentation or a block.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// What kind of statement, with its positional arguments.
    pub kind: StatementKind,
    /// The leading keyword (or unknown word).
    pub keyword: Word,
    /// Options such as `init kaiming_normal` or `eps 1e-3`, in source order.
    pub options: Vec<OptionAst>,
    /// The whole statement.
    pub span: Span,
}

/// The input of a network.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum InputAst {
    /// `input N;`
    Vector(Number),
    /// `input image(C, H, W);`
    Image([Number; 3]),
    /// `input sequence(C, L);`
    Sequence([Number; 2]),
}

/// Statement kinds with their positional arguments.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StatementKind {
    /// `input ...;`
    Input(InputAst),
    /// `batch N;`
    Batch(Number),
    /// `preprocess METHOD [MODE] [eps E];`
    Preprocess {
        /// `mean_subtract`, `standardize` or `whiten`.
        method: Word,
        /// `per_pixel`, `per_channel`, `per_feature` or `pca`.
        mode: Option<Word>,
    },
    /// `augment { ... }`
    Augment(Vec<Statement>),
    /// `loss KIND [weight W];`
    Loss(Word),
    /// `penalty KIND COEFF [on TARGET, ...];`
    Penalty {
        /// `l2`, `l1` or `l1_activity`.
        kind: Word,
        /// The coefficient.
        coefficient: Number,
        /// The selectors after `on`, e.g. `dense1.weight` or `relu2`.
        targets: Vec<Word>,
    },
    /// `head NAME { ... }`
    Head {
        /// The head's name.
        name: Word,
        /// Its layers and loss.
        body: Vec<Statement>,
    },
    /// A layer with the generic form `KEYWORD [NUMBER] options;` (see [`crate::layers`]).
    Layer {
        /// The layer kind its keyword names.
        kind: &'static LayerKind,
        /// The number after the keyword, if the kind takes one and it is written.
        argument: Option<Number>,
    },
    /// `noise gaussian SIGMA;` (a layer, or an augmentation inside `augment`)
    GaussianNoise(Number),
    /// `residual ... { ... }`
    Residual(Vec<Statement>),
    /// `translate PIXELS;`
    Translate(Number),
    /// `flip AXIS;`
    Flip(Word),
    /// `rotate DEGREES;`
    Rotate(Number),
    /// `cutout SIZE;`
    Cutout(Number),
    /// `mixup ALPHA;`
    Mixup(Number),
    /// `cutmix ALPHA;`
    Cutmix(Number),
    /// A statement starting with a word that is not a keyword.
    Unknown,
}

/// An option after a statement's arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionAst {
    /// Which option, with its value.
    pub kind: OptionKind,
    /// The option's keyword (or unknown word).
    pub keyword: Word,
    /// The whole option.
    pub span: Span,
}

/// A size given for every axis (`3`) or per axis, height then width (`(10, 4)`).
#[derive(Debug, Clone, PartialEq)]
pub enum Sizes {
    /// One number for every axis.
    All(Number),
    /// `(height, width)`.
    PerAxis([Number; 2], Span),
}

/// Option kinds with their values.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum OptionKind {
    /// `init SCHEME`
    Init(InitAst),
    /// `bias SCHEME` or `bias none`
    Bias(Option<InitAst>),
    /// `dropconnect P`
    DropConnect(Number),
    /// `kernel K` or `kernel (KH, KW)`
    Kernel(Sizes),
    /// `stride S` or `stride (SH, SW)`
    Stride(Sizes),
    /// `pad P` or `pad (PH, PW)`
    Pad(Sizes),
    /// `dilation D` or `dilation (DH, DW)`
    Dilation(Sizes),
    /// `groups G`
    Groups(Number),
    /// `count_pad true|false`
    CountPad(Word),
    /// `affine true|false` (batch norm)
    Affine(Word),
    /// `track_running_stats true|false` (batch norm)
    TrackRunningStats(Word),
    /// `eps E`
    Eps(Number),
    /// `momentum M`
    Momentum(Number),
    /// `weight W`
    Weight(Number),
    /// `stochastic_depth P`
    StochasticDepth(Number),
    /// `shortcut` (a flag of `residual`)
    Shortcut,
    /// `rescale train` or `rescale test`
    Rescale(Word),
    /// `label_smoothing E` (a loss option)
    LabelSmoothing(Number),
    /// `class_weights(W0, W1, ...)` (a loss option), with the span of the parenthesized list
    ClassWeights(Vec<Number>, Span),
    /// `delta D` (a loss option)
    Delta(Number),
    /// `pos_weight W` (a loss option)
    PosWeight(Number),
    /// A word that is not an option keyword.
    Unknown,
}

/// An init scheme as written.
#[derive(Debug, Clone, PartialEq)]
pub struct InitAst {
    /// The scheme.
    pub kind: InitKind,
    /// The scheme's name.
    pub name: Word,
    /// torch.nn.init's keyword arguments in parentheses: `mode fan_out`, `gain 2`.
    pub arguments: Vec<InitArgument>,
    /// The whole scheme with its arguments.
    pub span: Span,
}

/// One keyword argument of an init scheme: `mode fan_out`, `nonlinearity relu`, `a 0.2`.
#[derive(Debug, Clone, PartialEq)]
pub struct InitArgument {
    /// The argument's name.
    pub name: Word,
    /// Its value.
    pub value: InitValue,
    /// The name and the value.
    pub span: Span,
}

/// The value of an init scheme's keyword argument.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum InitValue {
    /// A number, as in `gain 2`.
    Number(Number),
    /// A word, as in `mode fan_out`.
    Word(Word),
}

/// Init schemes as written (resolved to distributions by the checker).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum InitKind {
    /// `zeros`
    Zeros,
    /// `ones`
    Ones,
    /// `constant C`
    Constant(Number),
    /// `uniform(LO, HI)`
    Uniform(Number, Number),
    /// `normal(MEAN, STD)`
    Normal(Number, Number),
    /// `trunc_normal(MEAN, STD, A, B)`: a normal truncated to `[A, B]`
    TruncNormal([Number; 4]),
    /// `lecun_normal`
    LecunNormal,
    /// `lecun_uniform`
    LecunUniform,
    /// `xavier_normal`
    XavierNormal,
    /// `xavier_uniform`
    XavierUniform,
    /// `kaiming_normal`
    KaimingNormal,
    /// `kaiming_uniform`
    KaimingUniform,
    /// `orthogonal`
    Orthogonal,
    /// A word that is not an init scheme.
    Unknown,
}
