//! `netspec`: check network specs, summarize them, format them, print the code they compile to.
//!
//! ```text
//! netspec check FILE...              exit 0 if every file is fine (warnings printed), 1 with errors
//! netspec check --format json FILE...  the diagnostics as JSON, for editors and CI
//! netspec summary FILE...            per-layer table: output shape, parameters, FLOPs, totals
//! netspec emit FILE...               the Rust code netspec-build writes for the spec
//! netspec fmt [--check] FILE...      rewrite specs in their canonical layout
//! netspec export torch FILE [-o OUT.py] [--train-script]   a PyTorch module (and train script)
//! netspec completions SHELL          a completion script for bash, zsh, fish, ...
//! ```
//!
//! FILE may be a glob (`'specs/**/*.nn'`), expanded here for shells that do not.

#![forbid(unsafe_code)]

mod export;
mod files;
mod json;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use netspec_grammar::{Diagnostic, SourceFile, ir::Network, summary::summary};

/// Check, summarize, format and compile netspec network specs (`.nn` files).
#[derive(Parser)]
#[command(name = "netspec", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// One variant per subcommand; `main` dispatches each to its function.
#[derive(Subcommand)]
enum Command {
    /// Parse and check specs; exit 0 if all are fine (warnings are printed), 1 otherwise.
    Check {
        /// Spec files or globs.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<String>,
        /// `text`: rustc-style diagnostics on stderr; `json`: one JSON document on stdout.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print each network's layers, output shapes, parameters, FLOPs and code size.
    Summary {
        /// Spec files or globs.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<String>,
        /// `text`: the tables; `json`: the same figures as one JSON document.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Print the Rust code the specs compile to (what netspec-build writes).
    Emit {
        /// Spec files or globs.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<String>,
    },
    /// Rewrite specs in their canonical layout (comments kept); specs that do not parse are
    /// left alone and reported.
    Fmt {
        /// Change nothing; list the files whose layout differs and exit 1 if there are any.
        #[arg(long)]
        check: bool,
        /// Spec files or globs.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<String>,
    },
    /// Write the networks of a spec as code for another framework.
    Export {
        #[command(subcommand)]
        target: export::Target,
    },
    /// Print a shell completion script: `netspec completions bash > /etc/bash_completion.d/netspec`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// How `check` and `summary` report.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ok = match cli.command {
        Command::Check { files, format } => check(&files::expand(&files), format),
        Command::Summary { files, format } => summarize(&files::expand(&files), format),
        Command::Emit { files } => emit(&files::expand(&files)),
        Command::Fmt { check, files } => fmt(&files::expand(&files), check),
        Command::Export { target } => export::export(target),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "netspec", &mut script);
            out(&String::from_utf8_lossy(&script));
            true
        }
    };
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Writes to stdout. When the reader has gone (`netspec summary *.nn | head`) the program ends
/// quietly, as `cat` does; any other failure ends it with the reason.
fn out(text: &str) {
    use std::io::Write as _;
    if let Err(error) = std::io::stdout().lock().write_all(text.as_bytes()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {error}");
        std::process::exit(1);
    }
}

/// One spec file, checked.
struct Checked {
    source: SourceFile,
    /// The networks, or `None` when the file has errors or could not be read.
    networks: Option<Vec<Network>>,
    /// Errors and warnings in the order of the text.
    diagnostics: Vec<Diagnostic>,
    /// Why the file could not be read.
    unreadable: Option<String>,
}

fn load(path: &str) -> Checked {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) => {
            return Checked {
                source: SourceFile::from_bytes(path, b""),
                networks: None,
                diagnostics: Vec::new(),
                unreadable: Some(format!("cannot read `{path}`: {error}")),
            };
        }
    };
    let source = SourceFile::from_bytes(path, &bytes);
    let (checked, mut diagnostics) = source.check_with_warnings();
    let networks = match checked {
        Ok(networks) => Some(networks),
        Err(errors) => {
            diagnostics.extend(errors);
            None
        }
    };
    diagnostics.sort_by_key(|d| d.span.start);
    Checked { source, networks, diagnostics, unreadable: None }
}

/// Loads a file, printing its diagnostics to stderr as rustc does.
fn load_reporting(path: &str) -> Checked {
    let checked = load(path);
    if let Some(why) = &checked.unreadable {
        eprintln!("error: {why}");
    } else if !checked.diagnostics.is_empty() {
        eprint!("{}", checked.source.render(&checked.diagnostics));
    }
    checked
}

fn check(files: &[String], format: Format) -> bool {
    if format == Format::Json {
        let checked: Vec<Checked> = files.iter().map(|path| load(path)).collect();
        out(&format!("{}\n", json::check_report(&checked)));
        return checked.iter().all(|c| c.networks.is_some());
    }
    let mut ok = true;
    for path in files {
        match load_reporting(path).networks {
            Some(networks) => {
                let names: Vec<&str> = networks.iter().map(|n| n.name.as_str()).collect();
                out(&format!("{path}: ok ({})\n", names.join(", ")));
            }
            None => ok = false,
        }
    }
    ok
}

fn summarize(files: &[String], format: Format) -> bool {
    let checked: Vec<Checked> = files.iter().map(|path| load_reporting(path)).collect();
    let ok = checked.iter().all(|c| c.networks.is_some());
    if format == Format::Json {
        out(&format!("{}\n", json::summary_report(&checked)));
    } else {
        let networks = checked.iter().flat_map(|c| c.networks.iter().flatten());
        let tables: Vec<String> = networks.map(summary).collect();
        out(&tables.join("\n"));
    }
    ok
}

fn emit(files: &[String]) -> bool {
    let mut ok = true;
    for path in files {
        // The same code path as a build script, so both give the same code byte for byte.
        match netspec_build::Config::new().generate(std::path::Path::new(path)) {
            Ok(code) => out(&code),
            Err(error) => {
                eprint!("{error}");
                ok = false;
            }
        }
    }
    ok
}

fn fmt(files: &[String], check_only: bool) -> bool {
    let mut ok = true;
    for path in files {
        let text = match std::fs::read(path).map(String::from_utf8) {
            Ok(Ok(text)) => text,
            Ok(Err(_)) => {
                eprintln!("error: `{path}` is not UTF-8: `netspec check {path}` shows where");
                ok = false;
                continue;
            }
            Err(error) => {
                eprintln!("error: cannot read `{path}`: {error}");
                ok = false;
                continue;
            }
        };
        let formatted = match netspec_grammar::format::format(&text) {
            Ok(formatted) => formatted,
            Err(errors) => {
                eprint!("{}", netspec_grammar::render_all(&errors, path, &text));
                eprintln!("error: `{path}` was left unchanged: fix the syntax errors first");
                ok = false;
                continue;
            }
        };
        if formatted == text {
            continue;
        }
        if check_only {
            out(&format!("{path}: not formatted (`netspec fmt {path}` rewrites it)\n"));
            ok = false;
        } else if let Err(error) = std::fs::write(path, formatted) {
            eprintln!("error: cannot write `{path}`: {error}");
            ok = false;
        } else {
            out(&format!("{path}: formatted\n"));
        }
    }
    ok
}
