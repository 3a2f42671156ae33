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
pub mod ir;
mod parse;
mod suggest;
pub mod summary;

pub use check::{MAX_DIM, MAX_VALUES, is_type_name};

/// Every word of the language: the grammar's keywords, then the words the checker accepts as
/// values (loss kinds, penalty kinds, preprocessing methods and modes, flip axes, rescale rules).
/// For tools and tests that generate or complete specs.
pub const VOCABULARY: &[&str] = &[
    // Keywords (`kw_*` rules of network.pest, in its order; a test keeps them in step).
    "network",
    "input",
    "image",
    "batch",
    "preprocess",
    "augment",
    "loss",
    "penalty",
    "head",
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
    "gaussian",
    "maxpool",
    "avgpool",
    "global_avgpool",
    "fractional_maxpool",
    "flatten",
    "residual",
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
    "eps",
    "momentum",
    "weight",
    "stochastic_depth",
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
    // Values.
    "softmax_cross_entropy",
    "mse",
    "binary_cross_entropy",
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
];

#[cfg(test)]
mod vocabulary_tests {
    #[test]
    fn the_vocabulary_lists_every_keyword_of_the_grammar_in_order() {
        let grammar = include_str!("network.pest");
        let keywords: Vec<&str> = grammar
            .lines()
            .filter(|line| line.starts_with("kw_"))
            .filter_map(|line| line.split('"').nth(1))
            .collect();
        assert_eq!(keywords.len(), 57);
        assert_eq!(&super::VOCABULARY[..keywords.len()], keywords.as_slice());
    }
}
pub use diagnostic::{Diagnostic, LineCol, Span, render_all};
pub use parse::parse;

/// Parses and checks spec text: every network it defines, or every error found.
pub fn check_source(source: &str) -> Result<Vec<ir::Network>, Vec<Diagnostic>> {
    let (networks, errors) = check_source_partial(source);
    if errors.is_empty() { Ok(networks) } else { Err(errors) }
}

/// Parses and checks spec text, keeping the networks that have no errors of their own beside
/// every error found: the `network!` macro still emits a good network when its neighbour in the
/// same invocation is wrong.
pub fn check_source_partial(source: &str) -> (Vec<ir::Network>, Vec<Diagnostic>) {
    let lexical = diagnostic::lexical_errors(source);
    if !lexical.is_empty() {
        return (Vec::new(), lexical);
    }
    match parse(source) {
        Ok(file) => check::check(&file, source),
        Err(error) => (Vec::new(), vec![error]),
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

    /// Parses and checks the file.
    pub fn check(&self) -> Result<Vec<ir::Network>, Vec<Diagnostic>> {
        if let Some(at) = self.invalid_utf8_at {
            return Err(vec![
                Diagnostic::error(
                    Span::new(at, at + '\u{fffd}'.len_utf8()),
                    "the spec is not valid UTF-8",
                )
                .with_label("invalid byte here")
                .with_help("save the file as UTF-8"),
            ]);
        }
        check_source(&self.text)
    }

    /// Renders diagnostics found in this file.
    pub fn render(&self, diagnostics: &[Diagnostic]) -> String {
        render_all(diagnostics, &self.path, &self.text)
    }
}
