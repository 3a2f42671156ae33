//! The front end of netspec: spec text -> syntax tree (pest) -> checked IR, with diagnostics
//! rendered like rustc's.
//!
//! ```
//! let spec = "network Xor { input 2; dense 8 init xavier_normal; tanh; dense 1; loss mse; }";
//! let networks = netspec_grammar::check_source(spec).unwrap();
//! assert_eq!(networks[0].param_count(), 2 * 8 + 8 + 8 + 1);
//! ```
#![forbid(unsafe_code)]

pub mod ast;
mod check;
pub mod diagnostic;
pub mod format;
pub mod ir;
pub mod layers;
pub mod limits;
pub mod memory;
mod parse;
mod suggest;
pub mod summary;

pub use check::{MAX_DIM, MAX_VALUES, is_type_name};

/// Every word of the language: the layer kinds of the registry ([`layers`]), the grammar's other
/// keywords, then the words the checker accepts as values (loss kinds, penalty kinds,
/// preprocessing methods and modes, flip axes, rescale rules, init arguments and their values). For tools and tests that
/// generate or complete specs, and for the fuzz dictionary (`fuzz/netspec.dict`).
pub const VOCABULARY: &[&str] = &vocabulary();

/// The `kw_*` rules of network.pest that are no layer kind, in its order (a test keeps them in
/// step).
const KEYWORDS: &[&str] = &[
    "network",
    "input",
    "image",
    "sequence",
    "batch",
    "preprocess",
    "augment",
    "loss",
    "penalty",
    "head",
    "gaussian",
    "translate",
    "flip",
    "rotate",
    "cutout",
    "mixup",
    "cutmix",
    "init",
    "bias",
    "dropconnect",
    "kernel",
    "stride",
    "pad",
    "dilation",
    "groups",
    "count_pad",
    "affine",
    "track_running_stats",
    "eps",
    "momentum",
    "weight",
    "stochastic_depth",
    "shortcut",
    "rescale",
    "on",
    "none",
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
    "label_smoothing",
    "class_weights",
    "delta",
    "pos_weight",
];

/// The words the checker accepts as values.
const VALUES: &[&str] = &[
    "softmax_cross_entropy",
    "mse",
    "binary_cross_entropy",
    "huber",
    "l2",
    "l1",
    "l1_activity",
    "mean_subtract",
    "standardize",
    "whiten",
    "per_pixel",
    "per_channel",
    "per_feature",
    "pca",
    "horizontal",
    "vertical",
    "train",
    "test",
    "mode",
    "fan_in",
    "fan_out",
    "nonlinearity",
    "linear",
    "selu",
    "a",
    "gain",
    "true",
    "false",
];

const VOCABULARY_LEN: usize = layers::KEYWORD_COUNT + KEYWORDS.len() + VALUES.len();

const fn vocabulary() -> [&'static str; VOCABULARY_LEN] {
    let mut words = [""; VOCABULARY_LEN];
    let mut at = layers::copy_keywords(&mut words, 0);
    let mut i = 0;
    while i < KEYWORDS.len() {
        words[at] = KEYWORDS[i];
        at += 1;
        i += 1;
    }
    i = 0;
    while i < VALUES.len() {
        words[at] = VALUES[i];
        at += 1;
        i += 1;
    }
    words
}

#[cfg(test)]
mod vocabulary_tests {
    use super::*;

    #[test]
    fn the_vocabulary_holds_the_registry_then_the_other_keywords_of_the_grammar_in_order() {
        let grammar = include_str!("network.pest");
        let rules: Vec<&str> = grammar
            .lines()
            .filter(|line| line.starts_with("kw_"))
            .filter_map(|line| line.split('"').nth(1))
            .collect();
        let layers = layers::keywords();
        let others: Vec<&str> = rules.iter().copied().filter(|w| !layers.contains(w)).collect();
        assert_eq!(others, KEYWORDS);
        assert_eq!(&VOCABULARY[..layers.len()], layers.as_slice());
        assert_eq!(&VOCABULARY[layers.len()..layers.len() + KEYWORDS.len()], KEYWORDS);
        assert_eq!(&VOCABULARY[layers.len() + KEYWORDS.len()..], VALUES);
        for (i, word) in VOCABULARY.iter().enumerate() {
            assert!(!word.is_empty() && !VOCABULARY[..i].contains(word), "`{word}`");
        }
    }
}
pub use diagnostic::{Diagnostic, LineCol, Severity, Span, render_all};
pub use parse::parse;

/// Parses and checks spec text: every network it defines, or every error found. Warnings are
/// left out: [`check_source_with_warnings`] returns them too.
pub fn check_source(source: &str) -> Result<Vec<ir::Network>, Vec<Diagnostic>> {
    check_source_with_warnings(source).0
}

/// Parses and checks spec text: every network it defines or every error found, and beside it
/// every warning ([`diagnostic::Severity::Warning`], such as a parameter count past
/// [`limits::PARAM_WARNING`]). Warnings never make the check fail.
pub fn check_source_with_warnings(
    source: &str,
) -> (Result<Vec<ir::Network>, Vec<Diagnostic>>, Vec<Diagnostic>) {
    let (networks, errors, warnings) = check_all(source);
    (if errors.is_empty() { Ok(networks) } else { Err(errors) }, warnings)
}

/// Parses and checks spec text, keeping the networks that have no errors of their own beside
/// every error found: the `network!` macro still emits a good network when its neighbour in the
/// same invocation is wrong. Warnings are left out.
pub fn check_source_partial(source: &str) -> (Vec<ir::Network>, Vec<Diagnostic>) {
    let (networks, errors, _) = check_all(source);
    (networks, errors)
}

/// The networks without errors, the errors and the warnings.
fn check_all(source: &str) -> (Vec<ir::Network>, Vec<Diagnostic>, Vec<Diagnostic>) {
    let lexical = diagnostic::lexical_errors(source);
    if !lexical.is_empty() {
        return (Vec::new(), lexical, Vec::new());
    }
    match parse(source) {
        Ok(file) => check::check(&file, source),
        Err(error) => (Vec::new(), vec![error], Vec::new()),
    }
}

/// A spec file's text as it is shown in diagnostics.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path shown in diagnostics.
    pub path: String,
    /// The text; bytes that are not UTF-8 are shown as U+FFFD.
    pub text: String,
    /// Where the first byte that is not UTF-8 stands, if any.
    invalid_utf8_at: Option<usize>,
}

impl SourceFile {
    /// A spec read from `path` (which is only shown, never opened).
    pub fn from_bytes(path: impl Into<String>, bytes: &[u8]) -> Self {
        // The lossy text equals the bytes up to the first invalid one, so that offset holds.
        let invalid_utf8_at = std::str::from_utf8(bytes).err().map(|e| e.valid_up_to());
        SourceFile {
            path: path.into(),
            text: String::from_utf8_lossy(bytes).into_owned(),
            invalid_utf8_at,
        }
    }

    /// Parses and checks the file (warnings left out).
    pub fn check(&self) -> Result<Vec<ir::Network>, Vec<Diagnostic>> {
        self.check_with_warnings().0
    }

    /// Parses and checks the file: its networks or its errors, and its warnings.
    pub fn check_with_warnings(
        &self,
    ) -> (Result<Vec<ir::Network>, Vec<Diagnostic>>, Vec<Diagnostic>) {
        if let Some(at) = self.invalid_utf8_at {
            let error = vec![
                Diagnostic::error(
                    Span::new(at, at + '\u{fffd}'.len_utf8()),
                    "the spec is not valid UTF-8",
                )
                .with_label("invalid byte here")
                .with_help("save the file as UTF-8"),
            ];
            return (Err(error), Vec::new());
        }
        check_source_with_warnings(&self.text)
    }

    /// Renders diagnostics found in this file.
    pub fn render(&self, diagnostics: &[Diagnostic]) -> String {
        render_all(diagnostics, &self.path, &self.text)
    }
}
