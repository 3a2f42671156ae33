//! Reading a frozen network's weights: the safetensors state `Network::save` writes (the
//! parameters, batch-norm buffers and fitted preprocessing under their PyTorch names), checked
//! against the spec's layout by the runtime's loader, so a missing, extra or misshapen tensor
//! is an error naming it, with the expected and the found shape.

use std::path::Path;

use netspec_grammar::Diagnostic;
use netspec_grammar::ir::{self, BufferKind};
use netspec_runtime::checkpoint::{TensorDataMut, TensorMut, load};
use netspec_runtime::{PreprocessKind, Preprocessor};

use crate::emit::frozen::Values;

fn runtime_kind(kind: ir::PreprocessKind) -> PreprocessKind {
    match kind {
        ir::PreprocessKind::MeanSubtractPerPixel => PreprocessKind::MeanSubtractPerPixel,
        ir::PreprocessKind::MeanSubtractPerChannel => PreprocessKind::MeanSubtractPerChannel,
        ir::PreprocessKind::StandardizePerChannel => PreprocessKind::StandardizePerChannel,
        ir::PreprocessKind::StandardizePerFeature => PreprocessKind::StandardizePerFeature,
        ir::PreprocessKind::WhitenPca => PreprocessKind::WhitenPca,
    }
}

/// Reads `net`'s state from `path`.
pub(crate) fn read(net: &ir::Network, path: &Path) -> Result<Values, Diagnostic> {
    let error = |message: String| {
        Diagnostic::error(net.name_span, message).with_help(format!(
            "give the checkpoint `{}::save` wrote for this spec (its tensors must match the \
             layout `netspec summary` shows)",
            net.name
        ))
    };
    let stats = match net.preprocess {
        Some(pre) => Preprocessor::tensor_shapes(runtime_kind(pre.kind), &net.input.dims())
            .map_err(|e| error(format!("the `preprocess` of `{}`: {e}", net.name)))?,
        None => Vec::new(),
    };
    // One vector per tensor, laid out into the flat buffers once the file is read.
    let mut params: Vec<Vec<f32>> = net.params.iter().map(|p| vec![0.0; p.len]).collect();
    let mut buffers: Vec<Vec<f32>> = net.buffers.iter().map(|b| vec![0.0; b.len]).collect();
    let mut counters: Vec<Vec<i64>> = net.buffers.iter().map(|b| vec![0; b.len]).collect();
    let mut preprocess: Vec<Vec<f32>> =
        stats.iter().map(|(_, shape)| vec![0.0; shape.iter().product()]).collect();
    {
        let mut tensors = Vec::new();
        for (param, data) in net.params.iter().zip(&mut params) {
            let data = TensorDataMut::F32(data);
            tensors.push(TensorMut { name: &param.name, shape: &param.shape, data });
        }
        for ((buffer, data), counter) in net.buffers.iter().zip(&mut buffers).zip(&mut counters) {
            let data = match buffer.kind {
                BufferKind::NumBatchesTracked => TensorDataMut::I64(counter),
                BufferKind::RunningMean | BufferKind::RunningVar => TensorDataMut::F32(data),
            };
            tensors.push(TensorMut { name: &buffer.name, shape: &buffer.shape, data });
        }
        for ((name, shape), data) in stats.iter().zip(&mut preprocess) {
            tensors.push(TensorMut { name, shape, data: TensorDataMut::F32(data) });
        }
        load(path, &mut tensors).map_err(|e| error(e.to_string()))?;
    }
    let mut flat_params = vec![0.0; net.param_count()];
    for (param, data) in net.params.iter().zip(&params) {
        flat_params[param.offset..param.offset + param.len].copy_from_slice(data);
    }
    let mut flat_buffers = vec![0.0; net.buffer_count()];
    for (buffer, data) in net.buffers.iter().zip(&buffers) {
        match buffer.kind {
            BufferKind::NumBatchesTracked => {}
            BufferKind::RunningVar if data.iter().any(|&v| v < 0.0) => {
                return Err(error(format!(
                    "checkpoint {}: `{}` holds a negative variance",
                    path.display(),
                    buffer.name
                )));
            }
            BufferKind::RunningMean | BufferKind::RunningVar => {
                flat_buffers[buffer.offset..buffer.offset + buffer.len].copy_from_slice(data);
            }
        }
    }
    Ok(Values {
        params: flat_params,
        buffers: flat_buffers,
        preprocess: stats.iter().map(|(name, _)| *name).zip(preprocess).collect(),
        source: format!("`{}`", path.display()),
    })
}
