//! `netspec summary`: a per-layer table like torchinfo's or Keras' `model.summary()`.

use std::fmt::Write as _;

use crate::ir::{Layer, Network, Op};
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
    let _ = writeln!(out, "{}", predict_line(&predict_memory(net)));
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
            format!("{indent}{} ({})", layer.name, crate::layers::label(&layer.op)),
            layer.output.to_string(),
            grouped(params as u64),
            grouped(layer.flops),
        ]);
        if let Op::Residual { branch, .. } = &layer.op {
            collect_rows(net, branch, &format!("{indent}  "), rows);
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
