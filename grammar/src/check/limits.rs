//! Pass 6: the network's size against [`crate::limits`].

use super::*;
use crate::limits::{
    MAX_CODE_BYTES, MAX_LAYERS, MAX_OUTPUT_VALUES, PARAM_WARNING, estimated_code_bytes, layer_bytes,
};
use crate::summary::grouped;

/// "2.0 GiB" for a number of bytes.
fn gibibytes(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

impl Checker {
    /// `params` is the length of the flat parameter buffer (saturated, so that a count too
    /// large for `usize` still reads as too many).
    pub(super) fn limits(&mut self, net: &Network, params: u64) {
        if params > MAX_VALUES {
            self.error(
                Diagnostic::error(
                    net.name_span,
                    format!("`{}` has {params} parameters, too many", net.name),
                )
                .with_help(format!("a network may hold at most {MAX_VALUES} parameters")),
            );
        } else if params > PARAM_WARNING {
            self.warn(
                Diagnostic::warning(
                    net.name_span,
                    format!(
                        "`{}` has {} parameters, more than {} (2^28)",
                        net.name,
                        grouped(params),
                        grouped(PARAM_WARNING)
                    ),
                )
                .with_label(format!("{} of f32 parameters", gibibytes(4 * params)))
                .with_help(format!(
                    "training holds the parameters and their gradients ({}), and Adam two more \
                     buffers as large; if this size is not intended, use fewer or narrower layers",
                    gibibytes(8 * params)
                )),
            );
        }

        let outputs: usize = if net.heads.is_empty() {
            net.trunk_output().len()
        } else {
            net.heads.iter().map(|h| h.output.len()).sum()
        };
        if outputs > MAX_OUTPUT_VALUES {
            self.error(
                Diagnostic::error(
                    net.name_span,
                    format!(
                        "`{}` outputs {} values per sample, more than the limit of {}",
                        net.name,
                        grouped(outputs as u64),
                        grouped(MAX_OUTPUT_VALUES as u64)
                    ),
                )
                .with_help(format!(
                    "`predict` returns a sample's outputs by value, on the stack ({} KiB here); \
                     use a narrower last layer",
                    4 * outputs / 1024
                )),
            );
        }

        let layers = net.all_layers();
        if let Some(first_over) = layers.get(MAX_LAYERS) {
            self.error(
                Diagnostic::error(
                    first_over.span,
                    format!(
                        "`{}` has {} layers, more than the limit of {}",
                        net.name,
                        grouped(layers.len() as u64),
                        grouped(MAX_LAYERS as u64)
                    ),
                )
                .with_label(format!(
                    "layer {} (`{}`)",
                    grouped(MAX_LAYERS as u64 + 1),
                    first_over.name
                ))
                .with_help(
                    "layers are counted through residual blocks, their branches and heads; each \
                     adds code, and rustc's build time grows faster than the code: use fewer \
                     layers (wider ones if needed), or split the model into several networks \
                     trained separately",
                ),
            );
            // The code-size estimate would only say the same again.
            return;
        }

        let estimate = estimated_code_bytes(net);
        if estimate > MAX_CODE_BYTES {
            // Where the estimate passes the limit, counting everything but the layers first.
            let fixed = estimate - layers.iter().map(|l| layer_bytes(&l.op)).sum::<u64>();
            let mut running = fixed;
            let crossing = layers.iter().find(|layer| {
                running += layer_bytes(&layer.op);
                running > MAX_CODE_BYTES
            });
            let (span, label) = match crossing {
                Some(layer) => (
                    layer.span,
                    format!(
                        "the estimate passes {} bytes at `{}`",
                        grouped(MAX_CODE_BYTES),
                        layer.name
                    ),
                ),
                None => (net.name_span, "generates too much code".to_string()),
            };
            self.error(
                Diagnostic::error(
                    span,
                    format!(
                        "`{}` would generate about {} bytes of Rust, more than the limit of {}",
                        net.name,
                        grouped(estimate),
                        grouped(MAX_CODE_BYTES)
                    ),
                )
                .with_label(label)
                .with_help(format!(
                    "each layer generates about 150 (`flatten`) to 4,700 bytes (`fractional_maxpool`), \
                     {} for a `dense` layer, whatever its width; use fewer layers, or split the \
                     model into several networks trained separately",
                    grouped(layer_bytes(&Op::Dense { units: 1, bias: true, dropconnect: None }))
                )),
            );
        }
    }
}
