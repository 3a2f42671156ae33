//! `netspec export torch --train-script`: a minimal training loop for an exported module that
//! runs as one process or under `torchrun` with DistributedDataParallel, and saves a
//! safetensors checkpoint with netspec's names.

use std::fmt::Write as _;

use netspec_grammar::ir::{LossKind, Network};

/// The loop itself; `{{...}}` holes are filled by [`export_train_script`].
const TEMPLATE: &str = include_str!("train.py");

/// `train_<name>.py` for network `net`, importing its class from the Python module `module`
/// (the exported file's stem).
pub fn export_train_script(net: &Network, module: &str) -> String {
    // (name, width, loss kind) per output; one unnamed output without heads
    let kind = |loss: LossKind| match loss {
        LossKind::SoftmaxCrossEntropy => "classes",
        LossKind::BinaryCrossEntropy => "binary",
        LossKind::Mse | LossKind::Huber | LossKind::L1 => "values",
    };
    let outputs: Vec<(String, usize, &str)> = match &net.loss {
        Some(loss) => vec![(String::new(), net.trunk_output().len(), kind(loss.kind))],
        None => {
            net.heads.iter().map(|h| (h.name.clone(), h.output.len(), kind(h.loss.kind))).collect()
        }
    };
    let mut table = String::from("[");
    for (name, width, kind) in &outputs {
        let _ = write!(table, "(\"{name}\", {width}, \"{kind}\"), ");
    }
    table.push(']');
    TEMPLATE
        .replace("{{NAME}}", &net.name)
        .replace("{{MODULE}}", module)
        .replace("{{INPUT}}", &net.input.len().to_string())
        .replace("{{OUTPUTS}}", &table)
        .replace("{{AUGMENT}}", if net.augment.is_empty() { "False" } else { "True" })
        .replace("{{SNAKE}}", &snake(&net.name))
}

/// `DigitsMlp` -> `digits_mlp`, the file name of the train script and checkpoint.
pub fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
