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
mod frozen;
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
    emit::network(net, &runtime_path(config, net)?)
}

fn runtime_path(config: &Config, net: &ir::Network) -> Result<TokenStream, Vec<Diagnostic>> {
    config.runtime_path.parse().map_err(|_| {
        vec![
            Diagnostic::error(
                net.span,
                format!("the runtime path `{}` is not a Rust path", config.runtime_path),
            )
            .with_help("set `Config::runtime_path` to a path such as `::netspec`"),
        ]
    })
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

/// Generates the frozen type (`{Name}Frozen`, inference only, `no_std`) of the one network of
/// a spec text, with the parameters, batch-norm statistics and preprocessing of the safetensors
/// state at `weights` (what the network's `save` wrote) baked in; the file's tensors must be
/// exactly the network's, with its shapes.
pub fn generate_frozen(
    source: &str,
    config: &Config,
    weights: &std::path::Path,
) -> Result<TokenStream, Vec<Diagnostic>> {
    let networks = netspec_grammar::check_source(source)?;
    let [net] = networks.as_slice() else {
        let span = networks.get(1).map_or(Span::new(0, 0), |n| n.name_span);
        return Err(vec![
            Diagnostic::error(span, format!("{} networks share one weights file", networks.len()))
                .with_help("freeze one network per spec (one `Config::weights` per compile)"),
        ]);
    };
    let runtime = runtime_path(config, net)?;
    let values = frozen::read(net, weights).map_err(|d| vec![d])?;
    emit::frozen::network(net, &runtime, &values)
}

/// The `network!` macro's whole expansion: the tokens it received become spec text, the text is
/// checked and generated, and every diagnostic becomes a `compile_error!` at the token it points
/// into. Networks without errors are still emitted; each one with errors becomes a skeleton
/// with the generated API's names, so that the user sees the spec's errors and not a cascade of
/// "cannot find type" or "no function named `new`" errors.
///
/// A leading `weights = "path",` (the path relative to the crate's `Cargo.toml`) freezes the
/// spec's one network with that checkpoint instead, as [`generate_frozen`].
pub fn expand_macro(input: TokenStream, config: &Config) -> TokenStream {
    let (weights, input) = match weights_argument(input) {
        Ok(split) => split,
        Err(error) => return error,
    };
    if let Some((path, literal)) = weights {
        return expand_frozen(input, config, &path, &literal);
    }
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

/// Splits a leading `weights = "path",` off the macro's input: the path (joined to
/// `CARGO_MANIFEST_DIR`) and its literal, for errors and for the dependency on the file.
#[allow(clippy::type_complexity)]
fn weights_argument(
    input: TokenStream,
) -> Result<(Option<(std::path::PathBuf, proc_macro2::Literal)>, TokenStream), TokenStream> {
    use proc_macro2::TokenTree;
    let trees: Vec<TokenTree> = input.clone().into_iter().collect();
    match trees.as_slice() {
        [TokenTree::Ident(key), TokenTree::Punct(eq), rest @ ..]
            if key == "weights" && eq.as_char() == '=' =>
        {
            let usage = |span| {
                tokens::compile_error_tokens(
                    "`weights` takes a string and a comma: `weights = \"model.safetensors\", \
                     network Name { ... }`",
                    span,
                    span,
                )
            };
            let [TokenTree::Literal(literal), TokenTree::Punct(comma), spec @ ..] = rest else {
                return Err(usage(key.span()));
            };
            let text = literal.to_string();
            let path = text.strip_prefix('"').and_then(|t| t.strip_suffix('"'));
            let (Some(path), ',') = (path, comma.as_char()) else {
                return Err(usage(literal.span()));
            };
            let dir = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default();
            let path = std::path::Path::new(&dir).join(path);
            Ok((Some((path, literal.clone())), spec.iter().cloned().collect()))
        }
        _ => Ok((None, input)),
    }
}

/// `network!(weights = "...", ...)`: the frozen type, or the spec's errors at their tokens.
fn expand_frozen(
    input: TokenStream,
    config: &Config,
    path: &std::path::Path,
    literal: &proc_macro2::Literal,
) -> TokenStream {
    let spec = tokens::SpecText::from_tokens(input);
    match generate_frozen(&spec.text, config, path) {
        // The checkpoint is a dependency of the crate: rebuilt when it changes.
        Ok(tokens) => {
            let file = path.display().to_string();
            quote::quote_spanned! {literal.span()=>
                const _: &[u8] = ::core::include_bytes!(#file);
                #tokens
            }
        }
        Err(diagnostics) => diagnostics.iter().map(|d| spec.compile_error(d)).collect(),
    }
}
