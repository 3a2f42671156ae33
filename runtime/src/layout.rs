//! The layout table that generated code emits for its flat parameter buffer.
//!
//! A generated network keeps all trainable parameters in one `[f32]` buffer and describes it with
//! `pub const PARAMS: &[ParamInfo] = &[...]`; non-trainable state (batch-norm running statistics)
//! is described by `BufferInfo` entries. Names follow PyTorch's `state_dict` keys.

use crate::init::Init;
use crate::rng::Rng;
use std::fmt;

/// What a parameter is, so optimizers, penalties and exports can treat kinds differently
/// (for example an L2 penalty applies to `Weight` only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// A dense or convolution weight, `[out, in]` or `[out, in, kh, kw]`.
    Weight,
    /// A dense or convolution bias, `[out]`.
    Bias,
    /// Batch-norm scale (gamma, PyTorch `weight`).
    NormWeight,
    /// Batch-norm shift (beta, PyTorch `bias`).
    NormBias,
}

/// One trainable tensor in the flat parameter buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamInfo {
    /// PyTorch `state_dict` key, e.g. `"dense1.weight"`.
    pub name: &'static str,
    /// PyTorch shape, e.g. `[out, in, kh, kw]`.
    pub shape: &'static [usize],
    /// First element in the flat buffer.
    pub offset: usize,
    /// Number of elements (the product of `shape`).
    pub len: usize,
    /// What the tensor is.
    pub role: Role,
    /// The resolved initial distribution.
    pub init: Init,
    /// `in * kh * kw` of the layer the tensor belongs to (informational; `init` already uses it).
    pub fan_in: usize,
}

/// The element type and meaning of a non-trainable buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BufferKind {
    /// Batch-norm `running_mean`, f32, starts at 0.
    RunningMean,
    /// Batch-norm `running_var` (unbiased), f32, starts at 1.
    RunningVar,
    /// Batch-norm `num_batches_tracked`, i64 with shape `[]`, starts at 0.
    NumBatchesTracked,
}

impl BufferKind {
    /// `true` for buffers stored in the i64 buffer array rather than the f32 one.
    pub fn is_i64(self) -> bool {
        self == BufferKind::NumBatchesTracked
    }
}

/// One non-trainable tensor. `offset` indexes the f32 buffer array, or the i64 one when
/// [`BufferKind::is_i64`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferInfo {
    /// PyTorch `state_dict` key, e.g. `"bn1.running_var"`.
    pub name: &'static str,
    /// PyTorch shape (`[]` for `num_batches_tracked`).
    pub shape: &'static [usize],
    /// First element in its buffer array.
    pub offset: usize,
    /// Number of elements (1 for shape `[]`).
    pub len: usize,
    /// Which buffer it is.
    pub kind: BufferKind,
}

/// The number of elements of a tensor of `shape` (1 for `[]`).
const fn product(shape: &[usize]) -> usize {
    let (mut n, mut i) = (1, 0);
    while i < shape.len() {
        n *= shape[i];
        i += 1;
    }
    n
}

impl ParamInfo {
    /// The entry of a tensor of `shape` at `offset`, its length the product of `shape`.
    pub const fn new(
        name: &'static str,
        shape: &'static [usize],
        offset: usize,
        role: Role,
        init: Init,
        fan_in: usize,
    ) -> ParamInfo {
        ParamInfo { name, shape, offset, len: product(shape), role, init, fan_in }
    }
}

impl BufferInfo {
    /// The entry of a buffer of `shape` at `offset`, its length the product of `shape`.
    pub const fn new(
        name: &'static str,
        shape: &'static [usize],
        offset: usize,
        kind: BufferKind,
    ) -> BufferInfo {
        BufferInfo { name, shape, offset, len: product(shape), kind }
    }
}

/// A layout entry that does not fit its buffer or its own shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutError {
    /// The tensor's name.
    pub name: &'static str,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "layout entry `{}`: {}; the layout table and the buffer were not generated together, \
             regenerate the network code",
            self.name, self.problem
        )
    }
}

impl std::error::Error for LayoutError {}

/// Checks that `offset..offset + len` lies in a buffer of `buffer_len` and that `len` is the
/// product of `shape`, then returns the range.
fn checked_range(
    name: &'static str,
    shape: &[usize],
    offset: usize,
    len: usize,
    buffer_len: usize,
) -> Result<std::ops::Range<usize>, LayoutError> {
    let product = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if product != Some(len) {
        return Err(LayoutError {
            name,
            problem: format!("shape {shape:?} does not have len = {len} elements"),
        });
    }
    match offset.checked_add(len) {
        Some(end) if end <= buffer_len => Ok(offset..end),
        _ => Err(LayoutError {
            name,
            problem: format!(
                "elements {offset}..{} lie outside the buffer of {buffer_len}",
                offset.saturating_add(len)
            ),
        }),
    }
}

/// Initializes every parameter as its layout entry says.
///
/// The RNG is consumed parameter by parameter in layout order (and element by element within a
/// parameter, see [`Init::fill`]), so a given seed and layout always give the same parameters.
/// Each tensor is viewed as `[shape[0], len / shape[0]]`: out features by fan_in, PyTorch's
/// flattening for `orthogonal_`. Orthogonal init needs at least two dimensions, as in PyTorch.
/// On error, entries before the bad one have already been filled.
pub fn init_params(
    params: &mut [f32],
    layout: &[ParamInfo],
    rng: &mut Rng,
) -> Result<(), LayoutError> {
    for p in layout {
        let range = checked_range(p.name, p.shape, p.offset, p.len, params.len())?;
        if matches!(p.init, Init::Orthogonal { .. }) && p.shape.len() < 2 {
            return Err(LayoutError {
                name: p.name,
                problem: format!(
                    "orthogonal init needs a tensor of 2 or more dimensions, shape is {:?}",
                    p.shape
                ),
            });
        }
        let rows = p.shape.first().copied().unwrap_or(1);
        let cols = p.len.checked_div(rows).unwrap_or(0);
        p.init
            .fill(&mut params[range], rows, cols, rng)
            .map_err(|e| LayoutError { name: p.name, problem: e.to_string() })?;
    }
    Ok(())
}

/// Sets batch-norm buffers to PyTorch's initial values: running_mean 0, running_var 1,
/// num_batches_tracked 0 (`_NormBase.reset_running_stats`).
pub fn reset_buffers(
    f32_buffers: &mut [f32],
    i64_buffers: &mut [i64],
    layout: &[BufferInfo],
) -> Result<(), LayoutError> {
    for b in layout {
        if b.kind.is_i64() {
            let range = checked_range(b.name, b.shape, b.offset, b.len, i64_buffers.len())?;
            i64_buffers[range].fill(0);
        } else {
            let range = checked_range(b.name, b.shape, b.offset, b.len, f32_buffers.len())?;
            let start = if b.kind == BufferKind::RunningVar { 1.0 } else { 0.0 };
            f32_buffers[range].fill(start);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMS: &[ParamInfo] = &[
        ParamInfo {
            name: "dense1.weight",
            shape: &[3, 2],
            offset: 0,
            len: 6,
            role: Role::Weight,
            init: Init::Constant(1.0),
            fan_in: 2,
        },
        ParamInfo {
            name: "dense1.bias",
            shape: &[3],
            offset: 6,
            len: 3,
            role: Role::Bias,
            init: Init::Uniform { lo: -0.5, hi: 0.5 },
            fan_in: 2,
        },
        ParamInfo {
            name: "dense2.weight",
            shape: &[2, 3],
            offset: 9,
            len: 6,
            role: Role::Weight,
            init: Init::Orthogonal { gain: 1.0 },
            fan_in: 3,
        },
    ];

    #[test]
    fn init_params_follows_layout_order() {
        let mut params = vec![f32::NAN; 15];
        init_params(&mut params, PARAMS, &mut Rng::seed(1)).unwrap();
        assert_eq!(params[..6], [1.0; 6]);
        // Same draws as filling each entry by hand with one RNG, in order.
        let mut rng = Rng::seed(1);
        let bias: Vec<f32> = (0..3).map(|_| rng.uniform(-0.5, 0.5)).collect();
        assert_eq!(params[6..9], bias[..]);
        let mut w2 = vec![0.0; 6];
        Init::Orthogonal { gain: 1.0 }.fill(&mut w2, 2, 3, &mut rng).unwrap();
        assert_eq!(params[9..], w2[..]);
    }

    #[test]
    fn init_params_rejects_bad_entries() {
        let mut short = vec![0.0; 14];
        let err = init_params(&mut short, PARAMS, &mut Rng::seed(1)).unwrap_err();
        assert_eq!(err.name, "dense2.weight");
        assert!(err.to_string().contains("9..15"), "{err}");

        let bad_len = [ParamInfo { len: 5, ..PARAMS[0] }];
        let err = init_params(&mut [0.0; 15], &bad_len, &mut Rng::seed(1)).unwrap_err();
        assert!(err.problem.contains("[3, 2]"), "{err}");

        let ortho_bias = [ParamInfo { init: Init::Orthogonal { gain: 1.0 }, ..PARAMS[1] }];
        let err = init_params(&mut [0.0; 15], &ortho_bias, &mut Rng::seed(1)).unwrap_err();
        assert!(err.problem.contains("2 or more dimensions"), "{err}");
    }

    #[test]
    fn reset_buffers_uses_torch_initial_values() {
        const BUFFERS: &[BufferInfo] = &[
            BufferInfo {
                name: "bn1.running_mean",
                shape: &[2],
                offset: 0,
                len: 2,
                kind: BufferKind::RunningMean,
            },
            BufferInfo {
                name: "bn1.running_var",
                shape: &[2],
                offset: 2,
                len: 2,
                kind: BufferKind::RunningVar,
            },
            BufferInfo {
                name: "bn1.num_batches_tracked",
                shape: &[],
                offset: 0,
                len: 1,
                kind: BufferKind::NumBatchesTracked,
            },
        ];
        let mut f = [9.0; 4];
        let mut i = [9i64; 1];
        reset_buffers(&mut f, &mut i, BUFFERS).unwrap();
        assert_eq!(f, [0.0, 0.0, 1.0, 1.0]);
        assert_eq!(i, [0]);
        let err = reset_buffers(&mut f, &mut [], BUFFERS).unwrap_err();
        assert_eq!(err.name, "bn1.num_batches_tracked");
    }
}
