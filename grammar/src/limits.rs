//! How large a network `check` accepts, and the estimate of its generated code's size.
//!
//! The generated code holds a few statements per layer in each of the forward, backward and
//! prediction passes, so its size and the time rustc takes to build it grow with the number of
//! layers, not with their widths (loops run over the widths). Measured on one machine (release
//! build of a binary holding one network, its dependencies already built): 200 `dense` layers
//! (347 KB of code) build in 2.8 s, 600 (1.04 MB) in 14 s, 1,000 (1.74 MB) in 36 s, and 1,000
//! `relu` layers (842 KB) in 33 s; a 2,001-layer spec reported in issue 13 did not build in
//! 600 s. Hence the two errors below, which keep a build within about half a minute there. (The
//! partial mini-batches and layer probes since added 10-20% of code per layer at the same
//! loops, so the byte limit grew from 1,000,000 to 1,200,000: 1,000 `relu` layers still fit.)
//! Parameters cost memory, not code: a network of more than [`PARAM_WARNING`] parameters is
//! only warned about. Outputs cost stack: `predict` returns them by value, hence
//! [`MAX_OUTPUT_VALUES`].

use crate::ir::{Network, Op};

/// The most layers a network may have, counted through residual branches and heads (a
/// `residual` block counts as one layer besides its branch's).
pub const MAX_LAYERS: usize = 1_000;

/// The most generated code a network may have, in bytes of formatted Rust, as estimated by
/// [`estimated_code_bytes`].
pub const MAX_CODE_BYTES: u64 = 1_200_000;

/// The most output values one sample may have (through all heads): `predict` returns them by
/// value, on the caller's stack: 16,384 f32 are 64 KiB, which an unoptimized build may copy a few
/// times over, within a 2 MiB thread stack next to [`crate::memory::PREDICT_STACK_BYTES`]
/// (`netspec/tests/predict_stack.rs`).
pub const MAX_OUTPUT_VALUES: usize = 16_384;

/// Above this many parameters (2^28, 1 GiB of f32) `check` warns: the network holds its
/// parameters and their gradients, and an optimizer such as Adam two more buffers as large.
pub const PARAM_WARNING: u64 = 1 << 28;

/// A network's fixed part: the struct, its constants and the `Network` implementation.
const NETWORK_BYTES: u64 = 3_500;
/// The output and targets structs of a network with heads, and each head's loss.
const HEADS_BYTES: u64 = 1_000;
const HEAD_BYTES: u64 = 900;
const PREPROCESS_BYTES: u64 = 500;
const AUGMENT_BYTES: u64 = 600;
const AUGMENTATION_BYTES: u64 = 90;
/// A parameter with an L1 or L2 coefficient, and an `l1_activity` term.
const PENALIZED_PARAM_BYTES: u64 = 60;
const ACTIVITY_PENALTY_BYTES: u64 = 200;

/// The estimated size in bytes of the code `netspec emit` prints for `net` (prettyplease's
/// formatting; the `network!` macro's expansion is the same code). Calibrated per layer kind on
/// `netspec emit` output (`tests/tests/code_size.rs` keeps it within 20% of the real size of
/// every spec of the repository); widths barely matter, since the code loops over them.
pub fn estimated_code_bytes(net: &Network) -> u64 {
    let layers: u64 = net.all_layers().iter().map(|layer| layer_bytes(&layer.op)).sum();
    let heads =
        if net.heads.is_empty() { 0 } else { HEADS_BYTES + HEAD_BYTES * net.heads.len() as u64 };
    let preprocess = if net.preprocess.is_some() { PREPROCESS_BYTES } else { 0 };
    let augment = if net.augment.is_empty() {
        0
    } else {
        AUGMENT_BYTES + AUGMENTATION_BYTES * net.augment.len() as u64
    };
    let penalized = net.params.iter().filter(|p| p.l1.is_some() || p.l2.is_some()).count() as u64;
    let penalties = PENALIZED_PARAM_BYTES * penalized
        + ACTIVITY_PENALTY_BYTES * net.activity_penalties.len() as u64;
    NETWORK_BYTES + layers + heads + preprocess + augment + penalties
}

/// The generated code of one layer (not its residual branch's layers), in bytes, as measured
/// on 10 layers of the kind in a row (a residual block: of `residual { relu; }`, less a relu).
pub(crate) fn layer_bytes(op: &Op) -> u64 {
    match op {
        Op::Dense { bias, dropconnect, .. } => {
            1_900 + if dropconnect.is_some() { 950 } else { 0 } - if *bias { 0 } else { 290 }
        }
        Op::Conv { bias, .. } => 2_650 - if *bias { 0 } else { 290 },
        Op::BatchNorm { .. } => 3_850,
        Op::LayerNorm { .. } => 2_950,
        Op::Activation(crate::ir::Activation::LeakyRelu { .. }) => 1_350,
        Op::Activation(_) => 1_000,
        Op::Dropout { .. } => 1_750,
        Op::GaussianNoise { .. } => 1_400,
        Op::MaxPool(_) => 2_300,
        Op::AvgPool(_) => 1_700,
        Op::GlobalAvgPool => 1_200,
        Op::GlobalMaxPool => 2_300,
        Op::FractionalMaxPool { .. } => 4_700,
        Op::Flatten => 150,
        Op::Residual { stochastic_depth, .. } if *stochastic_depth > 0.0 => 1_950,
        Op::Residual { .. } => 1_350,
    }
}
