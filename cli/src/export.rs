//! `netspec export torch FILE [-o OUT.py] [--train-script]`: the networks of a spec as a
//! self-contained PyTorch module, and optionally a training script per network.

use std::path::{Path, PathBuf};

use netspec_codegen::torch::{export_torch, export_train_script, snake};

/// The frameworks `netspec export` writes for.
#[derive(clap::Subcommand)]
pub enum Target {
    /// A self-contained PyTorch module (stdout without `-o`) with the checkpoint's names and
    /// netspec's semantics, and with `--train-script` a DDP training script per network.
    Torch {
        /// The spec file.
        file: String,
        /// Where to write the module (`FILE`'s stem + `.py` with `--train-script`).
        #[arg(short, long, value_name = "OUT.py")]
        output: Option<PathBuf>,
        /// Also write `train_NAME.py` per network beside the module.
        #[arg(long)]
        train_script: bool,
    },
}

/// Runs `netspec export TARGET ...`; `false` on any error (reported on stderr).
pub fn export(target: Target) -> bool {
    let Target::Torch { file, output: out, train_script: train } = target;
    let Some(networks) = crate::load_reporting(&file).networks else { return false };
    let module = export_torch(&networks);
    // The train script imports the module by its file name, so it needs one.
    let out = match (out, train) {
        (Some(out), _) => out,
        (None, true) => {
            let stem = Path::new(&file).file_stem().map_or("model".into(), |s| s.to_string_lossy());
            PathBuf::from(format!("{stem}.py"))
        }
        (None, false) => {
            crate::out(&module);
            return true;
        }
    };
    let mut written = vec![(out.clone(), module)];
    if train {
        let Some(stem) = out.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            eprintln!("error: `{}` has no file name to import the module by", out.display());
            return false;
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
            return false;
        }
        eprintln!("wrote {}", path.display());
    }
    true
}
