//! The working memory of `predict`: where it lives and how many samples it serves at once.
//!
//! `predict`, `predict_batch` and `predict_sample` run the eval-mode forward pass over a chunk
//! of `rows` samples, holding every layer's output rows and the layers' scratch (a conv's im2col
//! columns, a fractional max pool's argmaxes, a layer norm's normalized rows, the preprocessed input). A
//! network whose chunk of one sample fits in [`PREDICT_STACK_BYTES`] keeps it on the stack, where
//! small activations can stay in registers; a larger one uses a heap workspace kept per thread
//! (allocated by the first call on each thread, reused after), so that `predict` works within a
//! 2 MiB thread stack whatever the network's width. The code generator and `netspec summary`
//! both read [`predict_memory`], so the figure the summary prints is the generated code's.

use crate::ir::{Layer, Network, Op, Shape};

/// The most stack bytes one chunk of `predict` may use (its outputs, returned by value, come on
/// top: at most [`crate::limits::MAX_OUTPUT_VALUES`] values).
pub const PREDICT_STACK_BYTES: usize = 128 * 1024;

/// The heap bytes a chunk of a heap-workspace network may grow to while adding samples (one
/// sample's chunk may be larger).
pub const PREDICT_HEAP_CHUNK_BYTES: usize = 1024 * 1024;

/// The most samples one chunk serves: enough for the batched kernels to share each weight load.
pub const PREDICT_MAX_ROWS: usize = 32;

/// What one layer needs during `predict` besides its output rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scratch {
    /// f32 values per sample (a layer norm's normalized rows and 1/std, fractional pooling's
    /// window offsets).
    pub f32s_per_row: usize,
    /// u32 values per sample (a fractional max pool's argmaxes; a max pool keeps none in
    /// `predict`).
    pub u32s_per_row: usize,
    /// f32 values for the whole chunk, reused by every layer that needs them (one sample's
    /// im2col columns: a conv runs sample by sample).
    pub shared_f32s: usize,
}

/// The scratch `layer` needs during `predict` (not its branch's layers').
pub fn layer_scratch(layer: &Layer) -> Scratch {
    let out = layer.output.len();
    match layer.op {
        // One group's im2col columns.
        Op::Conv { kernel, groups, .. } => {
            let Some((channels, _, _)) = layer.input.grid() else { return Scratch::default() };
            Scratch {
                shared_f32s: channels / groups * kernel[0] * kernel[1] * spatial(layer.output),
                ..Default::default()
            }
        }
        // u = [u_width, u_height] per sample
        Op::FractionalMaxPool { .. } => {
            Scratch { f32s_per_row: 2, u32s_per_row: out, shared_f32s: 0 }
        }
        // x_hat and 1/sqrt(var + eps)
        Op::LayerNorm { .. } => Scratch { f32s_per_row: out + 1, ..Default::default() },
        _ => Scratch::default(),
    }
}

/// Height x width of an image shape, the length of a sequence (1 for a vector).
fn spatial(shape: Shape) -> usize {
    shape.grid().map_or(1, |(_, height, width)| height * width)
}

/// Where `predict`'s chunk lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workspace {
    /// Arrays on the stack.
    Stack,
    /// A heap workspace per thread.
    Heap,
}

/// `predict`'s working memory for one network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PredictMemory {
    /// f32 values per sample: every computing layer's output, the preprocessed input and the
    /// per-sample scratch.
    pub f32s_per_row: usize,
    /// u32 values per sample.
    pub u32s_per_row: usize,
    /// f32 values per chunk, shared by the layers (the largest im2col scratch).
    pub shared_f32s: usize,
    /// Samples per chunk.
    pub rows: usize,
    /// Where the chunk lives.
    pub workspace: Workspace,
}

impl PredictMemory {
    /// The bytes of a chunk of `rows` samples.
    pub fn chunk_bytes(&self, rows: usize) -> usize {
        4 * (rows * (self.f32s_per_row + self.u32s_per_row) + self.shared_f32s)
    }

    /// The bytes one chunk uses (of stack or heap, as [`PredictMemory::workspace`] says).
    pub fn bytes(&self) -> usize {
        self.chunk_bytes(self.rows)
    }
}

/// `net`'s `predict` memory: on the stack when a chunk of one sample fits in
/// [`PREDICT_STACK_BYTES`], else on the heap; as many rows per chunk (a power of two up to
/// [`PREDICT_MAX_ROWS`]) as fit in the stack budget or [`PREDICT_HEAP_CHUNK_BYTES`].
pub fn predict_memory(net: &Network) -> PredictMemory {
    let layers = net.all_layers();
    // `flatten` only renames its input rows; every other layer writes its own.
    let outputs: usize =
        layers.iter().filter(|l| !matches!(l.op, Op::Flatten)).map(|l| l.output.len()).sum();
    let preprocessed = if net.preprocess.is_some() { net.input.len() } else { 0 };
    let scratch: Vec<Scratch> = layers.iter().map(|l| layer_scratch(l)).collect();
    let mut memory = PredictMemory {
        f32s_per_row: outputs
            + preprocessed
            + scratch.iter().map(|s| s.f32s_per_row).sum::<usize>(),
        u32s_per_row: scratch.iter().map(|s| s.u32s_per_row).sum(),
        shared_f32s: scratch.iter().map(|s| s.shared_f32s).max().unwrap_or(0),
        rows: 1,
        workspace: Workspace::Stack,
    };
    let budget = if memory.chunk_bytes(1) <= PREDICT_STACK_BYTES {
        PREDICT_STACK_BYTES
    } else {
        memory.workspace = Workspace::Heap;
        PREDICT_HEAP_CHUNK_BYTES
    };
    while memory.rows < PREDICT_MAX_ROWS && memory.chunk_bytes(2 * memory.rows) <= budget {
        memory.rows *= 2;
    }
    memory
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(spec: &str) -> PredictMemory {
        predict_memory(&crate::check_source(spec).expect("valid spec")[0])
    }

    #[test]
    fn a_small_mlp_takes_32_rows_on_the_stack() {
        let m = memory("network T { input 4; dense 16; relu; dense 3; loss mse; }");
        assert_eq!((m.f32s_per_row, m.u32s_per_row, m.shared_f32s), (16 + 16 + 3, 0, 0));
        assert_eq!((m.rows, m.workspace), (32, Workspace::Stack));
        assert_eq!(m.bytes(), 4 * 32 * 35);
    }

    #[test]
    fn rows_halve_until_the_chunk_fits_the_stack_budget() {
        // 10,000 f32 per sample: 40,000 bytes; 2 rows fit in 128 KiB, 4 do not.
        let m = memory("network T { input 4; dense 5000; relu; dense 1; dense 1; loss mse; }");
        assert_eq!(m.f32s_per_row, 10_002);
        assert_eq!((m.rows, m.workspace), (2, Workspace::Stack));
    }

    #[test]
    fn a_wide_layer_moves_the_chunk_to_the_heap() {
        let m = memory("network T { input 16; dense 1048576; relu; dense 1; loss mse; }");
        assert_eq!(m.workspace, Workspace::Heap);
        assert_eq!(m.rows, 1);
        assert_eq!(m.bytes(), 4 * (2 * 1_048_576 + 1));
    }

    #[test]
    fn conv_scratch_is_shared_and_only_fractional_pooling_keeps_argmaxes() {
        let m = memory(
            "network T { input image(3, 8, 8); conv 4 kernel 3 pad 1; maxpool 2; \
             conv 2 kernel 3; fractional_maxpool 1.5; flatten; dense 2; loss mse; }",
        );
        // im2col: 3*3*3 x 8*8 = 1728 for the first conv, 4*3*3 x 2*2 = 144 for the second.
        assert_eq!(m.shared_f32s, 1728);
        // Fractional pooling 2x2x2 -> 2x1x1 (floor(2 / 1.5) = 1).
        assert_eq!(m.u32s_per_row, 2);
        // Outputs 4x8x8, 4x4x4, 2x2x2, 2x1x1 and 2, and fractional pooling's two u.
        assert_eq!(m.f32s_per_row, 4 * 64 + 4 * 16 + 2 * 4 + 2 + 2 + 2);
    }

    #[test]
    fn preprocessing_and_layer_norm_count_their_rows() {
        let m = memory(
            "network T { input 6; preprocess standardize per_feature; dense 4; layernorm; \
             dense 2; loss mse; }",
        );
        assert_eq!(m.f32s_per_row, 6 + 4 + 4 + 2 + (4 + 1));
    }
}
