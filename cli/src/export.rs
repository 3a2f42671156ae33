//! `netspec export torch FILE [-o OUT.py] [--train-script]`: the networks of a spec as a
//! self-contained PyTorch module, and optionally a training script per network.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use netspec_codegen::torch::{export_torch, export_train_script, snake};

const USAGE: &str = "usage: netspec export torch FILE [-o OUT.py] [--train-script]";

/// Runs `netspec export ARGS...` (ARGS after `export`).
pub fn export(args: &[String]) -> ExitCode {
    let Some((target, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if target != "torch" {
        eprintln!("error: unknown export target `{target}`; the one target is `torch`\n{USAGE}");
        return ExitCode::from(2);
    }
    let (mut file, mut out, mut train) = (None, None, false);
    let mut rest = rest.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "-o" | "--output" => match rest.next() {
                Some(path) => out = Some(PathBuf::from(path)),
                None => {
                    eprintln!("error: `{arg}` needs a file name\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--train-script" => train = true,
            _ if file.is_none() && !arg.starts_with('-') => file = Some(arg.clone()),
            _ => {
                eprintln!("error: unexpected argument `{arg}`\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(file) = file else {
        eprintln!("error: no spec file given\n{USAGE}");
        return ExitCode::from(2);
    };
    let Some(networks) = crate::load(&file) else { return ExitCode::FAILURE };
    let module = export_torch(&networks);
    // The train script imports the module by its file name, so it needs one.
    let out = match (out, train) {
        (Some(out), _) => out,
        (None, true) => {
            let stem = Path::new(&file).file_stem().map_or("model".into(), |s| s.to_string_lossy());
            PathBuf::from(format!("{stem}.py"))
        }
        (None, false) => {
            print!("{module}");
            return ExitCode::SUCCESS;
        }
    };
    let mut written = vec![(out.clone(), module)];
    if train {
        let Some(stem) = out.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            eprintln!("error: `{}` has no file name to import the module by", out.display());
            return ExitCode::from(2);
        };
        let dir = out.parent().unwrap_or(Path::new(""));
        for net in &networks {
            let script = dir.join(format!("train_{}.py", snake(&net.name)));
            written.push((script, export_train_script(net, &stem)));
        }
    }
    for (path, text) in written {
        if let Err(error) = std::fs::write(&path, text) {
            eprintln!("error: cannot write `{}`: {error}", path.display());
            return ExitCode::FAILURE;
        }
        eprintln!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
}
