//! `netspec`: check network specs, summarize them, print the code they compile to.
//!
//! ```text
//! netspec check FILE...    exit 0 if every file is fine (warnings printed), 1 with errors
//! netspec summary FILE     per-layer table: output shape, parameters, FLOPs, totals
//! netspec emit FILE        the Rust code netspec-build writes for the spec
//! netspec export torch FILE [-o OUT.py] [--train-script]   a PyTorch module (and train script)
//! ```

#![forbid(unsafe_code)]

mod export;

use std::process::ExitCode;

use netspec_grammar::{SourceFile, ir::Network, summary::summary};

const USAGE: &str = "usage: netspec check FILE...\n       netspec summary FILE\n       netspec emit FILE\n       \
netspec export torch FILE [-o OUT.py] [--train-script]\n\n\
check     parse and check specs; exit 0 if all are fine (warnings are printed), 1 otherwise\n\
summary   print each network's layers, output shapes, parameters, FLOPs and code size\n\
emit      print the Rust code the spec compiles to (what netspec-build writes)\n\
export    write the networks as a self-contained PyTorch module (stdout without -o) and, with\n          \
--train-script, a DDP training script per network";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.split_first() {
        Some((command, files)) if command == "check" && !files.is_empty() => check(files),
        Some((command, files)) if command == "summary" && files.len() == 1 => summarize(&files[0]),
        Some((command, files)) if command == "emit" && files.len() == 1 => emit(&files[0]),
        Some((command, rest)) if command == "export" => export::export(rest),
        Some((flag, _)) if flag == "-h" || flag == "--help" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Reads and checks one file, printing its warnings and errors to stderr: the networks, or
/// `None` when the file has errors.
fn load(path: &str) -> Option<Vec<Network>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("error: cannot read `{path}`: {error}");
            return None;
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
    if !diagnostics.is_empty() {
        diagnostics.sort_by_key(|d| d.span.start);
        eprint!("{}", source.render(&diagnostics));
    }
    networks
}

fn check(files: &[String]) -> ExitCode {
    let mut ok = true;
    for path in files {
        match load(path) {
            Some(networks) => {
                let names: Vec<&str> = networks.iter().map(|n| n.name.as_str()).collect();
                println!("{path}: ok ({})", names.join(", "));
            }
            None => ok = false,
        }
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn summarize(path: &str) -> ExitCode {
    match load(path) {
        Some(networks) => {
            let tables: Vec<String> = networks.iter().map(summary).collect();
            print!("{}", tables.join("\n"));
            ExitCode::SUCCESS
        }
        None => ExitCode::FAILURE,
    }
}

fn emit(path: &str) -> ExitCode {
    // The same code path as a build script, so both give the same code byte for byte.
    match netspec_build::Config::new().generate(std::path::Path::new(path)) {
        Ok(code) => {
            print!("{code}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprint!("{error}");
            ExitCode::FAILURE
        }
    }
}
