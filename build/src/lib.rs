//! Compile `.nn` network specs to Rust from a `build.rs`, the way prost-build compiles `.proto`
//! files.
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), netspec_build::Error> {
//!     netspec_build::compile(&["specs/digits.nn"])
//! }
//! ```
//!
//! Each spec `specs/NAME.nn` becomes `$OUT_DIR/NAME.rs`, which the crate pulls in with
//! `netspec::include_spec!("NAME");`. A spec with errors fails the build with rustc-style
//! diagnostics (`path:line:col`, the line, a caret, a hint). Every spec is compiled even when
//! one fails, so one build reports the errors of all of them; cargo then shows one headline
//! (`error: CRATE: netspec-build: 2 of 3 specs have errors: ...`) at the top of its output, and
//! the full diagnostics, closed by a one-line summary, at the end of the build script's stderr.
//!
//! With [`Config::weights`], a spec becomes `$OUT_DIR/NAME_frozen.rs` instead: its network
//! frozen for inference (`{Name}Frozen`), the checkpoint's values baked in as `static` arrays,
//! for `no_std` targets without a heap (`netspec::include_spec!("NAME_frozen");`):
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), netspec_build::Error> {
//!     netspec_build::Config::new()
//!         .weights("digits.safetensors")
//!         .compile(&["specs/digits.nn"])
//!         .map(|_| ())
//! }
//! ```
#![forbid(unsafe_code)]

use std::fmt;
use std::path::{Path, PathBuf};

use netspec_grammar::SourceFile;

/// Compiles specs with the default [`Config`] into `$OUT_DIR`.
pub fn compile(specs: &[impl AsRef<Path>]) -> Result<(), Error> {
    Config::new().compile(specs).map(|_| ())
}

/// How specs are compiled.
#[derive(Debug, Clone)]
pub struct Config {
    out_dir: Option<PathBuf>,
    format: bool,
    runtime_path: String,
    weights: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config { out_dir: None, format: true, runtime_path: "::netspec".to_string(), weights: None }
    }
}

impl Config {
    /// Output into `$OUT_DIR`, formatted with prettyplease, naming the runtime `::netspec`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes the generated files here instead of `$OUT_DIR`.
    pub fn out_dir(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.out_dir = Some(path.into());
        self
    }

    /// Whether to format the output with prettyplease (on by default); unformatted output is
    /// one long line, as the `network!` macro produces it.
    pub fn format(&mut self, enabled: bool) -> &mut Self {
        self.format = enabled;
        self
    }

    /// The path by which generated code names the netspec crate (`::netspec` by default), for
    /// crates that depend on it under another name or re-export it.
    pub fn runtime_path(&mut self, path: impl Into<String>) -> &mut Self {
        self.runtime_path = path.into();
        self
    }

    /// Freezes the spec's network with the weights of this checkpoint (the safetensors state
    /// its `save` wrote): `{Name}Frozen`, inference only, in `OUT/STEM_frozen.rs`, with the
    /// parameters, batch-norm statistics and preprocessing as `static` arrays. A checkpoint
    /// whose tensors differ from the spec's layout (a missing, extra or misshapen tensor) fails
    /// the build, naming the tensor.
    pub fn weights(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.weights = Some(path.into());
        self
    }

    /// Compiles each spec to `OUT/STEM.rs` (`OUT/STEM_frozen.rs` with [`Config::weights`]), returning the paths written (or left unchanged).
    pub fn compile(&self, specs: &[impl AsRef<Path>]) -> Result<Vec<PathBuf>, Error> {
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR").map(PathBuf::from).ok_or(Error::NoOutDir)?,
        };
        let mut written = Vec::new();
        let mut failures = Vec::new();
        for spec in specs {
            let spec = spec.as_ref();
            // Cargo reruns the build script when the spec changes.
            println!("cargo:rerun-if-changed={}", spec.display());
            let stem = spec.file_stem().and_then(|s| s.to_str()).unwrap_or("network");
            let suffix = if self.weights.is_some() { "_frozen" } else { "" };
            let path = out_dir.join(format!("{stem}{suffix}.rs"));
            match self.generate(spec).and_then(|code| write_if_changed(&path, &code)) {
                Ok(()) => written.push(path),
                Err(error) => failures.push(error),
            }
        }
        if failures.is_empty() {
            return Ok(written);
        }
        let error = if failures.len() == 1 {
            failures.remove(0)
        } else {
            Error::Several { failures, specs: specs.len() }
        };
        // Cargo prints this at the top of its output, above its "failed to run custom build
        // command" and the build script's stdout; the diagnostics follow at the end.
        println!(
            "cargo::error={} (the diagnostics are at the end of this output)",
            error.summary_line(specs.len())
        );
        Err(error)
    }

    /// The Rust source for one spec file, with its `@generated` header.
    pub fn generate(&self, spec: &Path) -> Result<String, Error> {
        let bytes =
            std::fs::read(spec).map_err(|source| Error::Io { path: spec.to_path_buf(), source })?;
        let source = SourceFile::from_bytes(spec.display().to_string(), &bytes);
        let rendered = |diagnostics: &[netspec_grammar::Diagnostic]| Error::Spec {
            path: spec.to_path_buf(),
            diagnostics: source.render(diagnostics),
        };
        // `check` first: it reports bytes that are not UTF-8, which the text no longer shows.
        source.check().map_err(|d| rendered(&d))?;
        // Warnings (a parameter count past `limits::PARAM_WARNING`) never fail the build; cargo
        // shows each `cargo:warning` line under the crate's name.
        let (_, warnings) = netspec_grammar::check_source_with_warnings(&source.text);
        if !warnings.is_empty() {
            for line in source.render(&warnings).lines().filter(|line| !line.trim().is_empty()) {
                println!("cargo:warning={line}");
            }
        }
        let config = netspec_codegen::Config::new().runtime_path(&self.runtime_path);
        let tokens = match &self.weights {
            Some(weights) => {
                println!("cargo:rerun-if-changed={}", weights.display());
                netspec_codegen::generate_frozen(&source.text, &config, weights)
            }
            None => netspec_codegen::generate_source(&source.text, &config),
        }
        .map_err(|d| rendered(&d))?;
        let body = self.render_tokens(tokens)?;
        Ok(format!(
            "// @generated by netspec-build from {}. Do not edit: edit the spec.\n\n{body}",
            spec.display()
        ))
    }

    fn render_tokens(&self, tokens: proc_macro2::TokenStream) -> Result<String, Error> {
        if !self.format {
            return Ok(format!("{tokens}\n"));
        }
        let file: syn::File = syn::parse2(tokens)
            .map_err(|error| Error::Internal(format!("generated code does not parse: {error}")))?;
        Ok(prettyplease::unparse(&file))
    }
}

/// Writes `contents` unless the file already holds exactly that, so that an unchanged spec
/// does not make cargo recompile the crate.
fn write_if_changed(path: &Path, contents: &str) -> Result<(), Error> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    std::fs::write(path, contents).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

/// Why a spec could not be compiled.
#[non_exhaustive]
pub enum Error {
    /// Reading a spec or writing the output failed.
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The spec has errors; `diagnostics` is their rustc-style rendering.
    Spec {
        /// The spec file.
        path: PathBuf,
        /// Rendered diagnostics.
        diagnostics: String,
    },
    /// Neither `Config::out_dir` nor `$OUT_DIR` is set (outside a build script).
    NoOutDir,
    /// The code generator produced code that does not parse: a bug in netspec.
    Internal(String),
    /// More than one spec failed: each failure, in the order the specs were given.
    Several {
        /// One error per failing spec.
        failures: Vec<Error>,
        /// How many specs were compiled.
        specs: usize,
    },
}

impl Error {
    /// The spec (or output file) the error is about, if it is about one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Io { path, .. } | Error::Spec { path, .. } => Some(path),
            _ => None,
        }
    }

    /// One line that says which of `specs` specs failed.
    fn summary_line(&self, specs: usize) -> String {
        let failures = match self {
            Error::Several { failures, .. } => failures.as_slice(),
            single => std::slice::from_ref(single),
        };
        let paths: Vec<String> =
            failures.iter().filter_map(Error::path).map(|p| p.display().to_string()).collect();
        let plural = if specs == 1 { "" } else { "s" };
        let mut line = format!("netspec-build: {} of {specs} spec{plural} failed", failures.len());
        if !paths.is_empty() {
            line.push_str(&format!(": {}", paths.join(", ")));
        }
        line
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "netspec: {}: {source}", path.display()),
            Error::Spec { diagnostics, .. } => write!(f, "{diagnostics}"),
            Error::NoOutDir => write!(
                f,
                "netspec: OUT_DIR is not set: call netspec_build from build.rs, or set Config::out_dir"
            ),
            Error::Internal(message) => {
                write!(f, "netspec: internal error, please report it: {message}")
            }
            Error::Several { failures, specs } => {
                for failure in failures {
                    writeln!(f, "{failure}")?;
                }
                write!(f, "error: {}", self.summary_line(*specs))
            }
        }
    }
}

// `fn main() -> Result<(), Error>` prints Debug: make it the readable diagnostics too.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\n{self}")
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
