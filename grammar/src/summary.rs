//! `netspec summary`: a per-layer table like torchinfo's or Keras' `model.summary()`.

use std::fmt::Write as _;

use crate::ir::{Augmentation, Init, Layer, Loss, LossKind, Network, Op, PreprocessKind};
use crate::limits::{MAX_CODE_BYTES, MAX_LAYERS, estimated_code_bytes};
use crate::memory::{PREDICT_STACK_BYTES, PredictMemory, Workspace, predict_memory};

/// Renders the table: layer, output shape, parameter count and forward FLOPs, then totals, the
/// layer count and the estimated size of the generated code against their limits.
pub fn summary(net: &Network) -> String {
    let mut rows: Vec<[String; 4]> = Vec::new();
    rows.push(["input".into(), net.input.to_string(), String::new(), String::new()]);
    collect_rows(net, &net.layers, "", &mut rows);
    for head in &net.heads {
        rows.push([format!("head {}", head.name), String::new(), String::new(), String::new()]);
        collect_rows(net, &head.layers, "  ", &mut rows);
    }
    let header = ["Layer (type)", "Output shape", "Params", "FLOPs"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let total_width = widths.iter().sum::<usize>() + 3 * 3;
    let rule = "=".repeat(total_width);
    let thin = "-".repeat(total_width);
    let line = |cells: &[String; 4]| {
        format!(
            "{:<w0$}   {:<w1$}   {:>w2$}   {:>w3$}\n",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        )
    };

    let mut out = String::new();
    let _ = writeln!(out, "network {} (batch {})", net.name, net.batch);
    let _ = writeln!(out, "{rule}");
    out.push_str(&line(&header.map(String::from)));
    let _ = writeln!(out, "{thin}");
    for row in &rows {
        out.push_str(&line(row));
    }
    let _ = writeln!(out, "{rule}");
    let _ = writeln!(out, "Trainable params: {}", grouped(net.param_count() as u64));
    let _ = writeln!(
        out,
        "Non-trainable buffers: {} (batch-norm running statistics)",
        grouped(net.buffer_count() as u64)
    );
    let _ = writeln!(
        out,
        "Forward FLOPs per sample: {} (eval mode; a multiply-add counts 2)",
        grouped(net.flops())
    );
    let _ =
        writeln!(out, "Parameter memory: {} bytes (f32)", grouped(4 * net.param_count() as u64));
    let memory = predict_memory(net);
    let _ = writeln!(out, "{}", predict_line(&memory));
    let _ = writeln!(
        out,
        "Frozen predict: {} bytes of stack per sample, no heap (weights baked in: {} bytes)",
        grouped(memory.chunk_bytes(1) as u64),
        grouped(4 * (net.param_count() + net.buffer_count()) as u64)
    );
    let _ = writeln!(
        out,
        "Layers: {} (at most {}; through residual branches and heads)",
        grouped(net.all_layers().len() as u64),
        grouped(MAX_LAYERS as u64)
    );
    let _ = writeln!(
        out,
        "Generated code: about {} bytes (estimated; at most {})",
        grouped(estimated_code_bytes(net)),
        grouped(MAX_CODE_BYTES)
    );
    out.push_str(&init_section(net));
    out.push_str(&training_section(net));
    out
}

/// Every parameter's initial distribution, biases and norm parameters included: the scheme as
/// written (`default` for PyTorch's own) and what it resolves to, with its standard deviation.
fn init_section(net: &Network) -> String {
    let header = ["Parameter", "Shape", "Init", "Distribution", "Std"].map(String::from);
    let mut rows = vec![header];
    for p in &net.params {
        let shape: Vec<String> = p.shape.iter().map(usize::to_string).collect();
        let written = match (p.init_scheme.as_str(), p.fans) {
            ("default", Some(f)) => format!("default (PyTorch, fan_in {})", f.fan_in),
            (scheme, _) => scheme.to_string(),
        };
        rows.push([
            p.name.clone(),
            shape.join("x"),
            written,
            p.init.to_string(),
            init_std(&p.init).map_or_else(|| "-".into(), |s| format!("{s:.4}")),
        ]);
    }
    let mut widths = [0; 5];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::from(
        "\nInitial parameters (`default`: as nn.Linear/nn.Conv2d, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases)\n",
    );
    for row in &rows {
        let line = format!(
            "  {:<w0$}   {:<w1$}   {:<w2$}   {:<w3$}   {:>w4$}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4]
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

/// A loss with the options that differ from their defaults, as a spec writes them.
fn loss_text(loss: &Loss) -> String {
    let mut text = loss.kind.keyword().to_string();
    if loss.label_smoothing != 0.0 {
        let _ = write!(text, " label_smoothing {}", loss.label_smoothing);
    }
    if let Some(weights) = &loss.class_weights {
        let weights: Vec<String> = weights.iter().map(f64::to_string).collect();
        let _ = write!(text, " class_weights({})", weights.join(", "));
    }
    if loss.kind == LossKind::Huber {
        let _ = write!(text, " delta {}", loss.delta);
    }
    if let Some(w) = loss.pos_weight {
        let _ = write!(text, " pos_weight {w}");
    }
    text
}

/// The standard deviation of an initial distribution; `None` for orthogonal matrices and
/// truncated normals (whose spread needs the normal CDF; the distribution column shows it).
fn init_std(init: &Init) -> Option<f64> {
    match *init {
        Init::Zeros | Init::Constant(_) => Some(0.0),
        // U(lo, hi): (hi - lo) / sqrt(12)
        Init::Uniform { lo, hi } => Some((hi - lo) / 12f64.sqrt()),
        Init::Normal { std, .. } => Some(std),
        Init::Orthogonal { .. } | Init::TruncNormal { .. } => None,
    }
}

/// What training does: the batch, the activation memory, the loss, the penalties, the
/// preprocessing and the augmentation.
fn training_section(net: &Network) -> String {
    let mut out = String::from("\nTraining\n");
    let _ = writeln!(
        out,
        "  batch: {} samples per train_step and loss_and_grad (predict takes any number)",
        net.batch
    );
    // Each computing layer keeps its f32 output and its gradient; flatten shares its input's.
    let per_sample: u64 = net
        .all_layers()
        .iter()
        .filter(|l| !matches!(l.op, Op::Flatten))
        .map(|l| 2 * 4 * l.output.len() as u64)
        .sum();
    let _ = writeln!(
        out,
        "  activation memory: {} bytes per sample, {} bytes per batch of {} (each layer's f32 \
         output and its gradient)",
        grouped(per_sample),
        grouped(per_sample * net.batch as u64),
        net.batch
    );
    match &net.loss {
        Some(loss) => {
            let mean = if loss.class_weights.is_some() {
                "weighted mean over the batch: sum(w[label] * loss) / sum(w[label])"
            } else {
                "mean over the batch"
            };
            let _ = writeln!(out, "  loss: {} ({mean})", loss_text(loss));
        }
        None => {
            let heads: Vec<String> = net
                .heads
                .iter()
                .map(|h| format!("{} {} weight {}", h.name, loss_text(&h.loss), h.loss.weight))
                .collect();
            let _ = writeln!(out, "  loss: the weighted sum over heads: {}", heads.join(", "));
        }
    }
    let mut penalties: Vec<(&str, f64, Vec<&str>)> = Vec::new();
    for p in &net.params {
        for (kind, a) in [("l2", p.l2), ("l1", p.l1)] {
            let Some(a) = a else { continue };
            match penalties.iter_mut().find(|(k, c, _)| *k == kind && *c == a) {
                Some((_, _, names)) => names.push(&p.name),
                None => penalties.push((kind, a, vec![&p.name])),
            }
        }
    }
    let mut terms: Vec<String> = penalties
        .iter()
        .map(|(kind, a, names)| format!("{kind} {a} on {}", names.join(", ")))
        .collect();
    terms.extend(
        net.activity_penalties
            .iter()
            .map(|p| format!("l1_activity {} on {}", p.coefficient, p.layer)),
    );
    let none = || "none".to_string();
    let penalties = if terms.is_empty() { none() } else { terms.join("; ") };
    let _ = writeln!(out, "  penalties: {penalties}");
    let preprocess = net.preprocess.map_or_else(none, |p| {
        let kind = match p.kind {
            PreprocessKind::MeanSubtractPerPixel => "mean_subtract per_pixel",
            PreprocessKind::MeanSubtractPerChannel => "mean_subtract per_channel",
            PreprocessKind::StandardizePerChannel => "standardize per_channel",
            PreprocessKind::StandardizePerFeature => "standardize per_feature",
            PreprocessKind::WhitenPca => "whiten pca",
        };
        format!("{kind} (eps {}), fitted by fit_preprocess on the training split", p.eps)
    });
    let _ = writeln!(out, "  preprocess: {preprocess}");
    let augment: Vec<String> = net
        .augment
        .iter()
        .map(|a| match *a {
            Augmentation::Translate { pixels } => format!("translate {pixels}"),
            Augmentation::FlipHorizontal => "flip horizontal".into(),
            Augmentation::FlipVertical => "flip vertical".into(),
            Augmentation::Rotate { degrees } => format!("rotate {degrees}"),
            Augmentation::GaussianNoise { sigma } => format!("noise gaussian {sigma}"),
            Augmentation::Cutout { size } => format!("cutout {size}"),
            Augmentation::Mixup { alpha } => format!("mixup {alpha}"),
            Augmentation::Cutmix { alpha } => format!("cutmix {alpha}"),
        })
        .collect();
    let augment = if augment.is_empty() {
        none()
    } else {
        format!("{} (train_step only)", augment.join(", "))
    };
    let _ = writeln!(out, "  augment: {augment}");
    out
}

/// Where `predict` keeps its activations and scratch, and how much.
fn predict_line(memory: &PredictMemory) -> String {
    let kib = |bytes: usize| grouped(bytes.div_ceil(1024) as u64);
    let samples = if memory.rows == 1 { "sample" } else { "samples" };
    let chunk = format!("{} KiB per chunk of {} {samples}", kib(memory.bytes()), memory.rows);
    match memory.workspace {
        Workspace::Stack => format!(
            "Predict memory: {chunk}, on the stack (at most {} KiB)",
            kib(PREDICT_STACK_BYTES)
        ),
        Workspace::Heap => format!(
            "Predict memory: {chunk}, on the heap (a workspace per thread: one sample needs \
             more than the stack's {} KiB)",
            kib(PREDICT_STACK_BYTES)
        ),
    }
}

fn collect_rows(net: &Network, layers: &[Layer], indent: &str, rows: &mut Vec<[String; 4]>) {
    for layer in layers {
        let params: usize = layer.params.iter().map(|&i| net.params[i].len).sum();
        rows.push([
            format!("{indent}{} ({})", layer.name, crate::layers::label(layer)),
            layer.output.to_string(),
            grouped(params as u64),
            grouped(layer.flops),
        ]);
        if let Op::Residual { branch, shortcut, .. } = &layer.op {
            collect_rows(net, branch, &format!("{indent}  "), rows);
            collect_rows(net, shortcut, &format!("{indent}  "), rows);
        }
    }
}

/// 21962 -> "21,962".
pub(crate) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::grouped;

    #[test]
    fn groups_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(21962), "21,962");
        assert_eq!(grouped(1234567), "1,234,567");
    }
}
