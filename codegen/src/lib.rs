//! The netspec code generator: a checked [`ir::Network`] becomes Rust tokens for a struct that
//! owns its parameters, gradients and activation workspace, with shape-specialized forward and
//! backward passes, the layout table and initialization.
//!
//! Generated code names everything through [`Config::runtime_path`] (`::netspec` unless set),
//! reaching internals only through its `#[doc(hidden)] __private` module.
//!
//! ```
//! let spec = "network Xor { input 2; dense 8 init xavier_normal; tanh; dense 1; loss mse; }";
//! let tokens = netspec_codegen::generate_source(spec, &netspec_codegen::Config::default()).unwrap();
//! assert!(tokens.to_string().contains("pub struct Xor"));
//! ```
//!
//! The checker (`netspec_grammar`) refuses every construct the generator does not handle yet
//! (`augment` together with `head`), each as a [`Diagnostic`] located at the construct, so the
//! specs `netspec check` accepts are the specs that generate.
#![forbid(unsafe_code)]

mod emit;
pub mod tokens;
pub mod torch;

use netspec_grammar::ir;
pub use netspec_grammar::{Diagnostic, Span};
use proc_macro2::TokenStream;

/// Code generation settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The path generated code names the facade crate by (`::netspec` unless set); it must
    /// provide `__private` as the `netspec` crate does.
    pub runtime_path: String,
}

impl Default for Config {
    fn default() -> Self {
        Config { runtime_path: "::netspec".to_string() }
    }
}

impl Config {
    /// The default configuration.
    pub fn new() -> Self {
        Config::default()
    }

    /// Sets the path of the facade crate (for example `crate` inside the facade itself).
    pub fn runtime_path(mut self, path: impl Into<String>) -> Self {
        self.runtime_path = path.into();
        self
    }
}

/// Generates the code for one checked network (the checker has refused every construct the
/// generator does not support yet, each at its own span).
pub fn generate(net: &ir::Network, config: &Config) -> Result<TokenStream, Vec<Diagnostic>> {
    let runtime: TokenStream = config.runtime_path.parse().map_err(|_| {
        vec![
            Diagnostic::error(
                net.span,
                format!("the runtime path `{}` is not a Rust path", config.runtime_path),
            )
            .with_help("set `Config::runtime_path` to a path such as `::netspec`"),
        ]
    })?;
    emit::network(net, &runtime)
}

/// Parses, checks and generates every network of a spec text, concatenated; the errors of
/// every network are collected.
pub fn generate_source(source: &str, config: &Config) -> Result<TokenStream, Vec<Diagnostic>> {
    let networks = netspec_grammar::check_source(source)?;
    let mut out = TokenStream::new();
    let mut errors = Vec::new();
    for net in &networks {
        match generate(net, config) {
            Ok(tokens) => out.extend(tokens),
            Err(mut diagnostics) => errors.append(&mut diagnostics),
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

/// The `network!` macro's whole expansion: the tokens it received become spec text, the text is
/// checked and generated, and every diagnostic becomes a `compile_error!` at the token it points
/// into. Networks without errors are still emitted; each one with errors becomes a skeleton
/// with the generated API's names, so that the user sees the spec's errors and not a cascade of
/// "cannot find type" or "no function named `new`" errors.
pub fn expand_macro(input: TokenStream, config: &Config) -> TokenStream {
    let spec = tokens::SpecText::from_tokens(input);
    let (networks, mut diagnostics) = netspec_grammar::check_source_partial(&spec.text);
    let mut out = TokenStream::new();
    let mut emitted = Vec::new();
    for net in &networks {
        match generate(net, config) {
            Ok(tokens) => {
                out.extend(tokens);
                emitted.push(net.name.clone());
            }
            Err(mut errors) => diagnostics.append(&mut errors),
        }
    }
    out.extend(diagnostics.iter().map(|d| spec.compile_error(d)));
    let runtime: Option<TokenStream> = config.runtime_path.parse().ok();
    for (name, span) in spec.network_names() {
        if !emitted.contains(&name) {
            out.extend(tokens::skeleton(&name, span, runtime.as_ref()));
            emitted.push(name);
        }
    }
    out
}
