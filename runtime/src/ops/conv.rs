//! Convolution with PyTorch's `nn.Conv2d` semantics (cross-correlation with zero padding,
//! per-axis kernel, stride, padding and dilation, and groups), over batch-major rows; a 1-D
//! convolution (`nn.Conv1d`) is the same kernel on images of height 1.
//!
//! A row is one sample, channels first: `in_channels * height * width` contiguous values
//! (NCHW without the N). The weight is `[filters, in_channels / groups, kernel_h, kernel_w]`
//! and the output row is `filters * out_height * out_width`, with
//! `out = floor((in + 2 pad - dilation (kernel - 1) - 1) / stride) + 1` on each axis. Filter
//! `f` of group `g = f / (filters / groups)` sees the input channels of group `g` only:
//!
//! `y[f, oh, ow] = b[f] + sum_{c in g, kh, kw} w[f, c, kh, kw] * x[c, oh*sh + kh*dh - ph, ow*sw + kw*dw - pw]`
//!
//! where `x` outside the image is zero.
//!
//! The kernels go through im2col, one row and one group at a time, in a caller-provided
//! scratch buffer of [`ConvShape::scratch_len`] values (`in_channels / groups * kernel_h *
//! kernel_w` columns of `out_height * out_width` values): the forward pass and the input
//! gradient are then axpys and the weight gradient dot products over whole contiguous output
//! planes, which the compiler vectorizes. On the DigitsCnn shapes (8x8, batch 32) this is 2.5
//! to 4 times faster than direct loops over `(filter, channel, kh, kw, oh)` with clipped `ow`
//! ranges (measured by the ignored `conv_bench` test). Depthwise convs (one input channel per
//! group) with stride 1 skip im2col and run on a zero-padded copy of each channel, in the same
//! scratch. Nothing allocates.
//!
//! Every function checks the shape and every buffer length before touching anything and
//! returns a [`ConvError`] instead of panicking; the pools in [`crate::ops::pool`] share it.

use core::fmt;
use core::ops::Range;

use crate::ops::GradMode;
use crate::ops::gemm::{MR, View, gemm, workspace_len};
use crate::ops::kernels::mul_add;

mod depthwise;

/// A bad shape or buffer handed to a convolution or pooling kernel. Returned before anything
/// is written.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConvError {
    /// A size that must be positive is zero.
    Zero {
        /// The layer kind (`conv2d`, `maxpool2d`, ...).
        layer: &'static str,
        /// The field of the shape.
        field: &'static str,
    },
    /// The (padded) input is smaller than the window, so there would be no output.
    KernelTooLarge {
        /// The layer kind.
        layer: &'static str,
        /// The window's extent (height, width): `dilation * (kernel - 1) + 1` per axis.
        kernel: [usize; 2],
        /// Input height plus twice the padding.
        padded_height: usize,
        /// Input width plus twice the padding.
        padded_width: usize,
    },
    /// A pooling pad larger than half the window (a window could lie entirely in the padding);
    /// PyTorch rejects it too.
    PadTooLarge {
        /// The layer kind.
        layer: &'static str,
        /// The padding.
        pad: usize,
        /// Window side.
        kernel: usize,
    },
    /// Fractional max pooling cannot map this input size to this output size with 2x2
    /// windows (it needs `1 <= out < in`), or the ratio `alpha` is not a number above 1.
    Fractional {
        /// Input height and width.
        input: (usize, usize),
        /// Output height and width.
        output: (usize, usize),
        /// The requested ratio, when the shape was built from one.
        alpha: Option<f64>,
    },
    /// A fractional-pooling sample `u` outside `[0, 1)`.
    Sample {
        /// Its index in the samples slice.
        index: usize,
        /// Its value.
        value: f32,
    },
    /// A max-pooling argmax index that does not point into the input row (the argmax buffer
    /// was not written by the matching forward call).
    Argmax {
        /// Its index in the argmax slice.
        index: usize,
        /// Its value.
        value: u32,
        /// Values in one input row.
        input_len: usize,
    },
    /// A group count that does not divide the input channels and the filters.
    Groups {
        /// Input channels.
        channels: usize,
        /// Output channels.
        filters: usize,
        /// Groups.
        groups: usize,
    },
    /// A size that overflows `usize` (or, for argmax indices, `u32`).
    Overflow {
        /// The layer kind.
        layer: &'static str,
    },
    /// A buffer of the wrong length.
    Length {
        /// The function called.
        function: &'static str,
        /// The argument.
        argument: &'static str,
        /// Values required.
        expected: usize,
        /// How `expected` is made up.
        formula: &'static str,
        /// Values given.
        found: usize,
    },
}

impl fmt::Display for ConvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConvError::Zero { layer, field } => {
                write!(f, "{layer}: `{field}` is 0 but must be at least 1")
            }
            ConvError::KernelTooLarge { layer, kernel, padded_height, padded_width } => write!(
                f,
                "{layer}: the {}x{} window is larger than the padded input \
                 {padded_height}x{padded_width}; use a smaller kernel or more padding",
                kernel[0], kernel[1]
            ),
            ConvError::Groups { channels, filters, groups } => write!(
                f,
                "conv2d: groups {groups} must divide both the input channels {channels} and \
                 the filters {filters}"
            ),
            ConvError::PadTooLarge { layer, pad, kernel } => write!(
                f,
                "{layer}: pad {pad} must be at most half the kernel {kernel} (at most {}), \
                 as in PyTorch",
                kernel / 2
            ),
            ConvError::Fractional { input, output, alpha } => {
                write!(
                    f,
                    "fractional_maxpool2d: cannot pool {}x{} to {}x{} with 2x2 windows \
                     (each output side must be at least 1 and below the input side)",
                    input.0, input.1, output.0, output.1
                )?;
                if let Some(alpha) = alpha {
                    write!(
                        f,
                        "; alpha {alpha} must be a number above 1 with floor(in / alpha) >= 1"
                    )?;
                }
                Ok(())
            }
            ConvError::Sample { index, value } => {
                write!(f, "fractional_maxpool2d: sample {index} is {value} but must lie in [0, 1)")
            }
            ConvError::Argmax { index, value, input_len } => write!(
                f,
                "max pooling backward: argmax {index} is {value} but an input row has \
                 {input_len} values; pass the argmax buffer written by the forward call"
            ),
            ConvError::Overflow { layer } => write!(f, "{layer}: the sizes overflow"),
            ConvError::Length { function, argument, expected, formula, found } => write!(
                f,
                "{function}: `{argument}` has {found} values but must have {expected} \
                 ({formula})"
            ),
        }
    }
}

impl core::error::Error for ConvError {}

/// `Err(Length)` unless `found == expected`.
pub(crate) fn check_len(
    function: &'static str,
    argument: &'static str,
    found: usize,
    expected: usize,
    formula: &'static str,
) -> Result<(), ConvError> {
    if found == expected {
        Ok(())
    } else {
        Err(ConvError::Length { function, argument, expected, formula, found })
    }
}

/// `a * b * ...` or `Err(Overflow)`.
pub(crate) fn product(layer: &'static str, factors: &[usize]) -> Result<usize, ConvError> {
    factors
        .iter()
        .try_fold(1usize, |acc, &f| acc.checked_mul(f))
        .ok_or(ConvError::Overflow { layer })
}

/// `floor((n + 2 pad - kernel) / stride) + 1`, or 0 when the window does not fit or the stride
/// is 0 (shape checks reject both).
pub(crate) fn out_size(n: usize, kernel: usize, stride: usize, pad: usize) -> usize {
    let padded = n.saturating_add(pad.saturating_mul(2));
    if stride == 0 || kernel == 0 || padded < kernel { 0 } else { (padded - kernel) / stride + 1 }
}

/// The outputs `o < out_n` whose input `o * stride + offset - pad` lies in `0..in_n`.
pub(crate) fn valid_outputs(
    offset: usize,
    pad: usize,
    stride: usize,
    in_n: usize,
    out_n: usize,
) -> Range<usize> {
    let lo = if offset >= pad { 0 } else { (pad - offset).div_ceil(stride) };
    let hi =
        if in_n + pad <= offset { 0 } else { ((in_n - 1 + pad - offset) / stride + 1).min(out_n) };
    lo..hi.max(lo)
}

/// The shape of a convolution layer (`nn.Conv2d(in_channels, filters, kernel, stride, pad,
/// dilation, groups)`) on `in_channels x height x width` images; every per-axis pair is
/// `[height, width]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Input channels.
    pub in_channels: usize,
    /// Input height (1 for a 1-D convolution).
    pub height: usize,
    /// Input width (the length, for a 1-D convolution).
    pub width: usize,
    /// Output channels.
    pub filters: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Stride per axis.
    pub stride: [usize; 2],
    /// Zero padding on each side, per axis.
    pub pad: [usize; 2],
    /// Spacing between kernel taps per axis (1: adjacent).
    pub dilation: [usize; 2],
    /// Channel groups: filter group `g` sees input channel group `g` only (1: every channel;
    /// `in_channels`: depthwise).
    pub groups: usize,
}

impl ConvShape {
    /// A square `kernel` with the same stride and padding on both axes, no dilation, one group
    /// (`nn.Conv2d(in_channels, filters, kernel, stride, pad)`).
    pub const fn square(
        [in_channels, height, width]: [usize; 3],
        filters: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
    ) -> Self {
        ConvShape {
            in_channels,
            height,
            width,
            filters,
            kernel: [kernel; 2],
            stride: [stride; 2],
            pad: [pad; 2],
            dilation: [1; 2],
            groups: 1,
        }
    }

    /// The window's extent on axis `a`: `dilation * (kernel - 1) + 1`.
    fn extent(&self, a: usize) -> usize {
        self.dilation[a].saturating_mul(self.kernel[a].saturating_sub(1)).saturating_add(1)
    }

    /// `floor((height + 2 pad - dilation (kernel - 1) - 1) / stride) + 1` (0 for a shape
    /// [`ConvShape::check`] rejects).
    pub fn out_height(&self) -> usize {
        out_size(self.height, self.extent(0), self.stride[0], self.pad[0])
    }

    /// `floor((width + 2 pad - dilation (kernel - 1) - 1) / stride) + 1` (0 for a shape
    /// [`ConvShape::check`] rejects).
    pub fn out_width(&self) -> usize {
        out_size(self.width, self.extent(1), self.stride[1], self.pad[1])
    }

    /// A 1x1 kernel with stride 1 and no padding: each output position sees the input at the
    /// same position, so the im2col columns are the input itself.
    pub fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.pad == [0, 0]
    }

    /// Values in one input row: `in_channels * height * width`.
    pub fn input_len(&self) -> usize {
        self.in_channels * self.height * self.width
    }

    /// Values in one output row: `filters * out_height * out_width`.
    pub fn output_len(&self) -> usize {
        self.filters * self.out_height() * self.out_width()
    }

    /// Kernel taps of one filter: `in_channels / groups * kernel_h * kernel_w`.
    fn taps(&self) -> usize {
        self.in_channels / self.groups.max(1) * self.kernel[0] * self.kernel[1]
    }

    /// Values of the packing space [`Conv2d::backward_batch`]'s packed products need: the
    /// larger of the weight gradient's (`filters / groups x taps`, over the output plane) and
    /// the input gradient's (`taps x plane`, over the group's filters); 0 when the layer has
    /// fewer than [`PACKED_MIN_FILTERS`] filters per group.
    pub fn pack_len(&self) -> usize {
        let (per_group, taps) = (self.filters / self.groups.max(1), self.taps());
        if per_group < PACKED_MIN_FILTERS {
            return 0;
        }
        let plane = self.out_height() * self.out_width();
        workspace_len(per_group, taps, plane).max(workspace_len(taps, plane, per_group))
    }

    /// Values in the weight: `filters * in_channels / groups * kernel_h * kernel_w`.
    pub fn weight_len(&self) -> usize {
        self.filters * self.taps()
    }

    /// Values of the scratch buffer [`conv2d_forward`] and [`conv2d_backward`] need (one
    /// row's im2col matrix of one group): `in_channels / groups * kernel_h * kernel_w *
    /// out_height * out_width`.
    pub fn scratch_len(&self) -> usize {
        self.taps() * self.out_height() * self.out_width()
    }

    /// Checks that every size is positive, the groups divide the channels and filters, the
    /// window fits the padded input, and no length overflows.
    pub fn check(&self) -> Result<(), ConvError> {
        const LAYER: &str = "conv2d";
        for (field, value) in [
            ("in_channels", self.in_channels),
            ("height", self.height),
            ("width", self.width),
            ("filters", self.filters),
            ("kernel", self.kernel[0].min(self.kernel[1])),
            ("stride", self.stride[0].min(self.stride[1])),
            ("dilation", self.dilation[0].min(self.dilation[1])),
            ("groups", self.groups),
        ] {
            if value == 0 {
                return Err(ConvError::Zero { layer: LAYER, field });
            }
        }
        if !self.in_channels.is_multiple_of(self.groups)
            || !self.filters.is_multiple_of(self.groups)
        {
            let (channels, filters, groups) = (self.in_channels, self.filters, self.groups);
            return Err(ConvError::Groups { channels, filters, groups });
        }
        let padded = |n: usize, a: usize| n.checked_add(self.pad[a].checked_mul(2)?);
        let (Some(padded_height), Some(padded_width)) =
            (padded(self.height, 0), padded(self.width, 1))
        else {
            return Err(ConvError::Overflow { layer: LAYER });
        };
        let extent = [self.extent(0), self.extent(1)];
        if extent[0] > padded_height || extent[1] > padded_width || extent.contains(&usize::MAX) {
            return Err(ConvError::KernelTooLarge {
                layer: LAYER,
                kernel: extent,
                padded_height,
                padded_width,
            });
        }
        let taps = [self.in_channels / self.groups, self.kernel[0], self.kernel[1]];
        product(LAYER, &[self.in_channels, self.height, self.width])?;
        product(LAYER, &[self.filters, self.out_height(), self.out_width()])?;
        let [group_channels, kh, kw] = taps;
        product(LAYER, &[self.filters, group_channels, kh, kw])?;
        product(LAYER, &[group_channels, kh, kw, self.out_height(), self.out_width()])?;
        Ok(())
    }
}

/// Checks the shape and the lengths shared by forward and backward.
fn check_buffers(
    function: &'static str,
    shape: &ConvShape,
    weight: &[f32],
    x: &[f32],
    y_name: &'static str,
    y: usize,
    rows: usize,
) -> Result<(), ConvError> {
    shape.check()?;
    check_len(
        function,
        "weight",
        weight.len(),
        shape.weight_len(),
        "filters * in_channels / groups * kernel_h * kernel_w",
    )?;
    let x_len = product("conv2d", &[rows, shape.input_len()])?;
    check_len(function, "x", x.len(), x_len, "rows * in_channels * height * width")?;
    let y_len = product("conv2d", &[rows, shape.output_len()])?;
    check_len(function, y_name, y, y_len, "rows * filters * out_height * out_width")
}

/// A conv layer of a generated network: its shape and where its weight
/// (`[filters, in_channels, kernel, kernel]`) and bias (`[filters]`, after the weight) lie in
/// the flat parameter buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Conv2d {
    /// The layer's shape.
    pub shape: ConvShape,
    /// Offset of the weight.
    pub weight: usize,
    /// Offset of the bias, `None` for `bias none`.
    pub bias: Option<usize>,
}

/// Why [`Conv2d`]'s calls cannot fail: the generated layout and workspace fit the shape.
const GENERATED: &str = "the generated conv layout and buffers fit the layer's shape";

impl Conv2d {
    fn weight<'a>(&self, params: &'a [f32]) -> &'a [f32] {
        &params[self.weight..][..self.shape.weight_len()]
    }

    /// [`conv2d_forward`] on the layer's weight and bias.
    pub fn forward(
        &self,
        params: &[f32],
        x: &[f32],
        y: &mut [f32],
        scratch: &mut [f32],
        rows: usize,
    ) {
        let bias = self.bias.map(|b| &params[b..][..self.shape.filters]);
        conv2d_forward(self.shape, self.weight(params), bias, x, y, scratch, rows)
            .expect(GENERATED);
    }

    /// [`conv2d_backward`] on the layer's weight: its gradients accumulate into `grads`, the
    /// input gradient goes into `dx` as `mode` says.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        params: &[f32],
        grads: &mut [f32],
        x: &[f32],
        dy: &[f32],
        (dx, mode): (Option<&mut [f32]>, GradMode),
        scratch: &mut [f32],
        rows: usize,
    ) {
        let len = self.shape.weight_len();
        let (dweight, dbias) = match self.bias {
            Some(b) => {
                let (lo, hi) = grads.split_at_mut(b);
                (&mut lo[self.weight..][..len], Some(&mut hi[..self.shape.filters]))
            }
            None => (&mut grads[self.weight..][..len], None),
        };
        let weight = self.weight(params);
        conv2d_backward(self.shape, weight, x, dy, dweight, dbias, (dx, mode), scratch, rows)
            .expect(GENERATED);
    }
}

/// Filters per group from which [`Conv2d::backward_batch`] runs its products through the
/// packed matrix product: fewer leave most of its 4-row register tile empty (a depthwise conv
/// has 1).
pub const PACKED_MIN_FILTERS: usize = 4 * MR;

/// Samples per shard of [`Conv2d::forward_batch`] and [`Conv2d::backward_batch`]: a batch of
/// 64 makes 4 shards, enough to keep 2 or 4 threads busy.
pub const SHARD_ROWS: usize = 16;

impl Conv2d {
    /// Values of one shard's workspace: a partial weight gradient, a partial bias gradient, an
    /// im2col scratch and the packing space of [`ConvShape::pack_len`].
    fn shard_len(&self) -> usize {
        self.shape.weight_len()
            + self.shape.filters
            + self.shape.scratch_len()
            + self.shape.pack_len()
    }

    /// Values of the workspace [`Conv2d::forward_batch`] and [`Conv2d::backward_batch`] need
    /// for up to `rows` samples: per shard of [`SHARD_ROWS`] samples, an im2col scratch,
    /// partial weight and bias gradients and the packing space of [`ConvShape::pack_len`].
    pub fn batch_workspace_len(&self, rows: usize) -> usize {
        rows.div_ceil(SHARD_ROWS) * self.shard_len()
    }

    /// Threads for a pass over `rows` samples ([`crate::threads::for_work`]).
    fn groups(&self, rows: usize) -> usize {
        let plane = self.shape.out_height() * self.shape.out_width();
        let macs = rows.saturating_mul(self.shape.weight_len()).saturating_mul(plane);
        crate::threads::for_work(macs as u64)
    }

    /// One shard's workspace as its partial weight gradient, partial bias gradient, im2col
    /// scratch and packing space.
    fn parts<'a>(&self, work: &'a mut [f32]) -> [&'a mut [f32]; 4] {
        let (dweight, rest) = work.split_at_mut(self.shape.weight_len());
        let (dbias, rest) = rest.split_at_mut(self.shape.filters);
        let (scratch, pack) = rest.split_at_mut(self.shape.scratch_len());
        [dweight, dbias, scratch, pack]
    }

    /// [`Conv2d::forward`] over shards of [`SHARD_ROWS`] samples, in parallel when large (each
    /// sample's output is the same whichever shard or thread computes it). `work` holds at
    /// least [`Conv2d::batch_workspace_len`] values.
    pub fn forward_batch(
        &self,
        params: &[f32],
        x: &[f32],
        y: &mut [f32],
        work: &mut [f32],
        rows: usize,
    ) {
        let (input, output) = (self.shape.input_len(), self.shape.output_len());
        let shards = Shard {
            x: &x[..rows * input],
            dy: &[],
            out: Some(&mut y[..rows * output]),
            work: &mut work[..self.batch_workspace_len(rows)],
            lens: [input, 0, output, self.shard_len()],
        };
        let forward = |s: Shard<'_>| {
            let [_, _, scratch, _] = self.parts(s.work);
            let y = s.out.expect("the forward pass's shards hold their output");
            self.forward(params, s.x, y, scratch, s.x.len() / input);
        };
        crate::threads::in_shards(shards, rows.div_ceil(SHARD_ROWS), self.groups(rows), &forward);
    }

    /// [`Conv2d::backward`] over shards of [`SHARD_ROWS`] samples, in parallel when large:
    /// each shard sums its samples' weight and bias gradients into its own part of `work`,
    /// which are then added to `grads` shard by shard, in order, so the result is the same for
    /// any thread count. `work` holds at least [`Conv2d::batch_workspace_len`] values.
    #[allow(clippy::too_many_arguments)]
    pub fn backward_batch(
        &self,
        params: &[f32],
        grads: &mut [f32],
        x: &[f32],
        dy: &[f32],
        (dx, mode): (Option<&mut [f32]>, GradMode),
        work: &mut [f32],
        rows: usize,
    ) {
        let (input, output) = (self.shape.input_len(), self.shape.output_len());
        let shards = Shard {
            x: &x[..rows * input],
            dy: &dy[..rows * output],
            out: dx.map(|dx| &mut dx[..rows * input]),
            work: &mut work[..self.batch_workspace_len(rows)],
            lens: [input, output, input, self.shard_len()],
        };
        let weight = self.weight(params);
        let backward = |s: Shard<'_>| {
            let [dweight, dbias, scratch, pack] = self.parts(s.work);
            dweight.fill(0.0);
            dbias.fill(0.0);
            let dbias = self.bias.map(|_| dbias);
            if pack.is_empty() {
                let rows = s.x.len() / input;
                let dx = (s.out, mode);
                conv2d_backward(self.shape, weight, s.x, s.dy, dweight, dbias, dx, scratch, rows)
                    .expect(GENERATED);
            } else {
                // The shards are the parallelism: each product stays on its shard's thread.
                crate::threads::with_threads(1, || {
                    let (dx, work) = ((s.out, mode), (scratch, pack));
                    backward_packed(self.shape, weight, s.x, s.dy, dweight, dbias, dx, work);
                });
            }
        };
        let count = rows.div_ceil(SHARD_ROWS);
        crate::threads::in_shards(shards, count, self.groups(rows), &backward);
        let add = |to: &mut [f32], from: &[f32]| to.iter_mut().zip(from).for_each(|(t, f)| *t += f);
        for part in work.chunks_exact_mut(self.shard_len()).take(count) {
            let [dweight, dbias, ..] = self.parts(part);
            add(&mut grads[self.weight..][..dweight.len()], dweight);
            if let Some(b) = self.bias {
                add(&mut grads[b..][..dbias.len()], dbias);
            }
        }
    }
}

/// [`SHARD_ROWS`]-sample pieces of a batched conv pass: the input rows, the output gradient
/// rows (empty in the forward pass), the rows written (the output, or the input gradient) and
/// the workspace.
struct Shard<'a> {
    x: &'a [f32],
    dy: &'a [f32],
    out: Option<&'a mut [f32]>,
    work: &'a mut [f32],
    /// Values per sample of `x`, `dy` and `out`, values per shard of `work`.
    lens: [usize; 4],
}

impl crate::threads::Shards for Shard<'_> {
    fn split(self, k: usize) -> (Self, Self) {
        let [x_row, dy_row, out_row, work_len] = self.lens;
        let at = |row: usize, len: usize| (k * SHARD_ROWS * row).min(len);
        let (x0, x1) = self.x.split_at(at(x_row, self.x.len()));
        let (dy0, dy1) = self.dy.split_at(at(dy_row, self.dy.len()));
        let (w0, w1) = self.work.split_at_mut((k * work_len).min(self.work.len()));
        let (out0, out1) = match self.out {
            Some(out) => {
                let (a, b) = out.split_at_mut(at(out_row, out.len()));
                (Some(a), Some(b))
            }
            None => (None, None),
        };
        let lens = self.lens;
        (
            Shard { x: x0, dy: dy0, out: out0, work: w0, lens },
            Shard { x: x1, dy: dy1, out: out1, work: w1, lens },
        )
    }
}

crate::ops::kernels::dispatched_kernels! {
    /// Forward pass over `rows` samples: `y = conv2d(x, weight) + bias` (overwrites `y`).
    ///
    /// `weight` is `[filters, in_channels, kernel, kernel]`, `bias` `[filters]` (`None` for a
    /// layer without bias), `x` `rows` input rows, `y` `rows` output rows, `scratch` exactly
    /// [`ConvShape::scratch_len`] values (overwritten; its content is irrelevant).
    fn conv2d_forward<>(
        shape: ConvShape,
        weight: &[f32],
        bias: Option<&[f32]>,
        x: &[f32],
        y: &mut [f32],
        scratch: &mut [f32],
        rows: usize,
    ) -> Result<(), ConvError> = forward_body, forward_body;

    /// Backward pass over `rows` samples of [`conv2d_forward`], given `dy = dL/dy`:
    ///
    /// - `dweight += dL/dweight` (accumulates, `[filters, in_channels, kernel, kernel]`);
    /// - `dbias += dL/dbias` when given (accumulates, `[filters]`);
    /// - `dx += dL/dx` when given (`rows` input rows; accumulates, or overwrites `dx` for
    ///   [`GradMode::Overwrite`]). Pass `None` for the first layer.
    ///
    /// `scratch` is exactly [`ConvShape::scratch_len`] values (overwritten).
    #[allow(clippy::too_many_arguments)]
    fn conv2d_backward<>(
        shape: ConvShape,
        weight: &[f32],
        x: &[f32],
        dy: &[f32],
        dweight: &mut [f32],
        dbias: Option<&mut [f32]>,
        dx: (Option<&mut [f32]>, GradMode),
        scratch: &mut [f32],
        rows: usize,
    ) -> Result<(), ConvError> = backward_body, backward_body;
}

#[inline(always)]
fn forward_body<const FUSED: bool>(
    shape: ConvShape,
    weight: &[f32],
    bias: Option<&[f32]>,
    x: &[f32],
    y: &mut [f32],
    scratch: &mut [f32],
    rows: usize,
) -> Result<(), ConvError> {
    const F: &str = "conv2d_forward";
    check_buffers(F, &shape, weight, x, "y", y.len(), rows)?;
    if let Some(bias) = bias {
        check_len(F, "bias", bias.len(), shape.filters, "filters")?;
    }
    check_scratch(F, &shape, scratch)?;
    let (in_len, out_len) = (shape.input_len(), shape.output_len());
    let plane = shape.out_height() * shape.out_width();
    let groups = Groups::of(&shape);
    let depthwise = depthwise::applies(&shape);
    let filters = shape.filters / shape.groups;
    for (x, y) in x.chunks_exact(in_len).zip(y.chunks_exact_mut(out_len)) {
        if depthwise {
            depthwise::forward(&shape, weight, x, y, scratch);
            if let Some(bias) = bias {
                for (y, &b) in y.chunks_exact_mut(plane).zip(bias) {
                    y.iter_mut().for_each(|y| *y += b);
                }
            }
            continue;
        }
        for g in 0..shape.groups {
            let cols = columns(&shape, &x[groups.input(g)], scratch);
            let bias = bias.map(|b| &b[g * filters..(g + 1) * filters]);
            forward_product::<FUSED>(
                &mut y[groups.output(g)],
                &weight[groups.weight(g)],
                bias,
                cols,
                plane,
            );
        }
    }
    Ok(())
}

/// Where one group's input channels, output channels and weight rows lie in a row and the
/// weight.
struct Groups {
    /// Values of one group's input channels in a row.
    input: usize,
    /// Values of one group's output channels in a row.
    output: usize,
    /// Values of one group's filters in the weight.
    weight: usize,
}

impl Groups {
    fn of(shape: &ConvShape) -> Self {
        let groups = shape.groups;
        Groups {
            input: shape.input_len() / groups,
            output: shape.output_len() / groups,
            weight: shape.weight_len() / groups,
        }
    }

    fn input(&self, g: usize) -> Range<usize> {
        g * self.input..(g + 1) * self.input
    }

    fn output(&self, g: usize) -> Range<usize> {
        g * self.output..(g + 1) * self.output
    }

    fn weight(&self, g: usize) -> Range<usize> {
        g * self.weight..(g + 1) * self.weight
    }
}

fn check_scratch(
    function: &'static str,
    shape: &ConvShape,
    scratch: &[f32],
) -> Result<(), ConvError> {
    let [kh, kw] = shape.kernel;
    let len = product(
        "conv2d",
        &[shape.in_channels / shape.groups, kh, kw, shape.out_height(), shape.out_width()],
    )?;
    check_len(
        function,
        "scratch",
        scratch.len(),
        len,
        "in_channels / groups * kernel_h * kernel_w * out_height * out_width",
    )
}

/// The im2col columns of one group's channels `x` of one row: `x` itself for a pointwise conv
/// ([`ConvShape::is_pointwise`]), else [`im2col`] written to `scratch`.
#[inline(always)]
fn columns<'a>(shape: &ConvShape, x: &'a [f32], scratch: &'a mut [f32]) -> &'a [f32] {
    if shape.is_pointwise() {
        return x;
    }
    im2col(shape, x, scratch);
    scratch
}

/// `cols[(c, kh, kw), (oh, ow)] = x[c, oh*sh + kh*dh - ph, ow*sw + kw*dw - pw]` (0 in the
/// padding) for the channels of one group of one row.
#[inline(always)]
fn im2col(shape: &ConvShape, x: &[f32], cols: &mut [f32]) {
    let ConvShape { height, width, kernel: [kh_n, kw_n], stride: [sh, sw], .. } = *shape;
    let ConvShape { pad: [ph, pw], dilation: [dh, dw], .. } = *shape;
    let (oh_n, ow_n) = (shape.out_height(), shape.out_width());
    let mut cols = cols.chunks_exact_mut(oh_n * ow_n);
    for x in x.chunks_exact(height * width) {
        for kh in 0..kh_n {
            let ohs = valid_outputs(kh * dh, ph, sh, height, oh_n);
            for kw in 0..kw_n {
                let ows = valid_outputs(kw * dw, pw, sw, width, ow_n);
                let Some(col) = cols.next() else { return };
                col.fill(0.0);
                if ows.is_empty() {
                    continue;
                }
                let iw0 = ows.start * sw + kw * dw - pw;
                for oh in ohs.clone() {
                    let ih = oh * sh + kh * dh - ph;
                    let col = &mut col[oh * ow_n + ows.start..oh * ow_n + ows.end];
                    let x = &x[ih * width + iw0..(ih + 1) * width];
                    if sw == 1 {
                        copy_row(col, &x[..col.len()]);
                    } else {
                        col.iter_mut().zip(x.iter().step_by(sw)).for_each(|(c, &x)| *c = x);
                    }
                }
            }
        }
    }
}

/// `dst = src` (equal lengths) for the short rows of [`im2col`] and the depthwise kernels (8
/// values on the digits' 8x8 images, 5 in the keyword-spotting DS-CNN): up to 16 values as
/// two overlapping fixed-length copies, no loop. A copy loop of unknown length, even in
/// 4-value pieces, becomes a `memmove` call (LLVM's idiom recognition), which costs more than
/// such a copy; longer rows take `copy_from_slice`.
#[inline(always)]
fn copy_row(dst: &mut [f32], src: &[f32]) {
    let n = dst.len();
    let src = &src[..n];
    match n {
        0 => {}
        1..4 => {
            dst[0] = src[0];
            dst[n / 2] = src[n / 2];
            dst[n - 1] = src[n - 1];
        }
        4..=8 => {
            copy_ends::<4>(dst, src);
        }
        9..=16 => {
            copy_ends::<8>(dst, src);
        }
        _ => dst.copy_from_slice(src),
    }
}

/// The first and the last `L` values of `src` into `dst` (equal lengths, `L` to `2 L`): every
/// value, those in the middle twice.
#[inline(always)]
fn copy_ends<const L: usize>(dst: &mut [f32], src: &[f32]) {
    *dst.first_chunk_mut::<L>().expect("L <= len") = *src.first_chunk::<L>().expect("L <= len");
    *dst.last_chunk_mut::<L>().expect("L <= len") = *src.last_chunk::<L>().expect("L <= len");
}

/// The adjoint of [`im2col`]: `dx[c, ih, iw] +=` the `cols` entries that copied it.
#[inline(always)]
fn col2im(shape: &ConvShape, cols: &[f32], dx: &mut [f32]) {
    let ConvShape { height, width, kernel: [kh_n, kw_n], stride: [sh, sw], .. } = *shape;
    let ConvShape { pad: [ph, pw], dilation: [dh, dw], .. } = *shape;
    let (oh_n, ow_n) = (shape.out_height(), shape.out_width());
    let mut cols = cols.chunks_exact(oh_n * ow_n);
    for dx in dx.chunks_exact_mut(height * width) {
        for kh in 0..kh_n {
            let ohs = valid_outputs(kh * dh, ph, sh, height, oh_n);
            for kw in 0..kw_n {
                let ows = valid_outputs(kw * dw, pw, sw, width, ow_n);
                let Some(col) = cols.next() else { return };
                if ows.is_empty() {
                    continue;
                }
                let iw0 = ows.start * sw + kw * dw - pw;
                for oh in ohs.clone() {
                    let ih = oh * sh + kh * dh - ph;
                    let col = &col[oh * ow_n + ows.start..oh * ow_n + ows.end];
                    let dx = &mut dx[ih * width + iw0..(ih + 1) * width];
                    if sw == 1 {
                        // A plain zip: `step_by(1)`'s iterator costs more per row than the
                        // adds of the digits' 8-value rows.
                        let dx = &mut dx[..col.len()];
                        dx.iter_mut().zip(col).for_each(|(dx, &c)| *dx += c);
                    } else {
                        dx.iter_mut().step_by(sw).zip(col).for_each(|(dx, &c)| *dx += c);
                    }
                }
            }
        }
    }
}

/// The forward product of one group: `y[f, :] = sum_q w[f, q] cols[q, :] (+ bias[f])`, summed
/// over the taps `q` in order (`w` holds the group's filters, `taps` values each, `bias` the
/// group's biases), overwriting `y`.
#[inline(always)]
fn forward_product<const FUSED: bool>(
    y: &mut [f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    cols: &[f32],
    plane: usize,
) {
    let taps = cols.len() / plane;
    let product = Axpy {
        coefs: weight,
        r_stride: taps,
        k_stride: 1,
        src: cols,
        plane,
        start: Start::Overwrite(bias),
    };
    product.rows::<FUSED>(y);
}

// The two matrix products of a conv layer over one sample's columns, register-tiled (as the
// dense kernels of `crate::ops::kernels`, but with sizes known only at run time): each output keeps
// the summation order of the plain loops, so the tiles change no result bit.

/// Where the sums of an [`Axpy`] start.
#[derive(Clone, Copy)]
enum Start<'a> {
    /// From what `out` holds: the product is added to it.
    Accumulate,
    /// From zero, overwriting `out` (the same bits as zeroing it first); then `bias[r]`, when
    /// given, is added to every sum of row `r` (`y = conv + b`: the bias after the sum).
    Overwrite(Option<&'a [f32]>),
}

/// `out[r, :] (+)= sum_k coef(r, k) src[k, :]` for every row `r` of `out` (rows of `plane`
/// values; `src` has `K` such rows), summed over `k` in order, with `coef(r, k) = coefs[r *
/// r_stride + k * k_stride]`: the forward pass (`y[f] = w[f, q] cols[q]`) and the input gradient
/// (`dcols[q] = w[f, q] dy[f]`). Tiles of up to 6 rows x 16 positions stay in registers across
/// every `k`, their coefficients copied to the stack first ([`Axpy::positions`]).
///
/// The CIFAR-shaped CNN's single-sample convs, fastest of 600 calls (`conv2d_forward`, 1
/// thread, AVX2+FMA, AMD EPYC Zen 3): 3->32 channels on 32x32 41.4 us with 4-row tiles reading
/// the weights in place, 30.0 us now; 32->64 on 16x16 174 us (54 GFLOP/s) then, 149 us (63
/// GFLOP/s) now. Without the copied coefficients, tiles of 6 rows ran slower than tiles of 4:
/// the index checks of 6 coefficients per `k` left LLVM reading `src` again in every
/// multiply-add.
#[derive(Clone, Copy)]
struct Axpy<'a> {
    coefs: &'a [f32],
    r_stride: usize,
    k_stride: usize,
    src: &'a [f32],
    plane: usize,
    start: Start<'a>,
}

impl Axpy<'_> {
    /// The product into every row of `out`, in tiles of 6 rows (the FMA build: 12 accumulators
    /// of 8 lanes; the baseline build's 16 registers of 4 lanes hold 4 rows' 16), then 4, 2
    /// and 1.
    #[inline(always)]
    fn rows<const FUSED: bool>(self, out: &mut [f32]) {
        let rows = out.len() / self.plane;
        // Zeroed once per product: zeroed per tile, it made a 27-tap conv 28% slower.
        let mut packed = [0.0f32; 6 * PACKED_TAPS];
        let mut r = 0;
        while FUSED && r + 6 <= rows {
            self.positions::<FUSED, 6>(out, r, &mut packed);
            r += 6;
        }
        while r + 4 <= rows {
            self.positions::<FUSED, 4>(out, r, &mut packed);
            r += 4;
        }
        while r + 2 <= rows {
            self.positions::<FUSED, 2>(out, r, &mut packed);
            r += 2;
        }
        while r < rows {
            self.positions::<FUSED, 1>(out, r, &mut packed);
            r += 1;
        }
    }

    /// Every position of rows `r..r + R`, in blocks of 16, 8, 4 and 1 positions (a 1-position
    /// block runs `R` scalar chains: the 4-wide one keeps a 125-position plane's remainder of
    /// 13 to one such block), over chunks of up to [`PACKED_TAPS`] values of `k` whose
    /// coefficients are first copied to the stack as `[k][r]`: the tiles then read each `k`'s
    /// `R` coefficients as one array, with no index to check per row.
    #[inline(always)]
    fn positions<const FUSED: bool, const R: usize>(
        self,
        out: &mut [f32],
        r: usize,
        packed: &mut [f32],
    ) {
        let (plane, taps) = (self.plane, self.src.len() / self.plane);
        let packed = packed.as_chunks_mut::<R>().0;
        let mut k0 = 0;
        loop {
            let count = PACKED_TAPS.min(taps - k0);
            for (k, c) in packed[..count].iter_mut().enumerate() {
                let at = |i: usize| (r + i) * self.r_stride + (k0 + k) * self.k_stride;
                *c = core::array::from_fn(|i| self.coefs[at(i)]);
            }
            let chunk = Chunk {
                coefs: &packed[..count],
                src: &self.src[k0 * plane..(k0 + count) * plane],
                first: k0 == 0,
                last: k0 + count == taps,
            };
            let mut p = 0;
            while p + 16 <= plane {
                self.tile::<FUSED, R, 16>(out, r, p, chunk);
                p += 16;
            }
            while p + 8 <= plane {
                self.tile::<FUSED, R, 8>(out, r, p, chunk);
                p += 8;
            }
            while p + 4 <= plane {
                self.tile::<FUSED, R, 4>(out, r, p, chunk);
                p += 4;
            }
            while p < plane {
                self.tile::<FUSED, R, 1>(out, r, p, chunk);
                p += 1;
            }
            k0 += count;
            if k0 == taps {
                return;
            }
        }
    }

    /// Rows `r0..r0 + R`, positions `p..p + W`, in registers across every `k` of `chunk`; the
    /// sums start from `out` unless this is the first chunk of an overwriting product, and the
    /// bias is added after the last chunk.
    #[inline(always)]
    fn tile<const FUSED: bool, const R: usize, const W: usize>(
        self,
        out: &mut [f32],
        r0: usize,
        p: usize,
        chunk: Chunk<'_, R>,
    ) {
        let plane = self.plane;
        let mut acc = [[0.0f32; W]; R];
        if !(chunk.first && matches!(self.start, Start::Overwrite(_))) {
            for (r, acc) in acc.iter_mut().enumerate() {
                acc.copy_from_slice(&out[(r0 + r) * plane + p..][..W]);
            }
        }
        for (src, c) in chunk.src.chunks_exact(plane).zip(chunk.coefs) {
            let src = src[p..].first_chunk::<W>().expect("p + W <= plane");
            for (acc, &c) in acc.iter_mut().zip(c) {
                *acc = core::array::from_fn(|l| mul_add::<FUSED>(c, src[l], acc[l]));
            }
        }
        let bias = match self.start {
            Start::Overwrite(Some(bias)) if chunk.last => Some(bias),
            _ => None,
        };
        for (r, acc) in acc.iter().enumerate() {
            let out = &mut out[(r0 + r) * plane + p..][..W];
            match bias {
                Some(bias) => {
                    for (out, acc) in out.iter_mut().zip(acc) {
                        *out = acc + bias[r0 + r];
                    }
                }
                None => out.copy_from_slice(acc),
            }
        }
    }
}

/// Values of `k` per chunk of an [`Axpy`] tile's packed coefficients (3 KiB of stack for the
/// 6-row tiles).
const PACKED_TAPS: usize = 128;

/// One chunk of values of `k` of an [`Axpy`]: the tile's coefficients `[k][r]`, the matching
/// rows of `src`, and whether it is the product's first and last chunk.
#[derive(Clone, Copy)]
struct Chunk<'a, const R: usize> {
    coefs: &'a [[f32; R]],
    src: &'a [f32],
    first: bool,
    last: bool,
}

/// `dw[f, q] += a[f, :] · b[q, :]` for every row `f` of `a` and `q` of `b` (rows of `plane`
/// values, `dw` rows of `b`'s row count), each dot with [`crate::ops::kernels::dot`]'s 8 lanes and
/// reduction tree, in tiles of 2 x 4 dots that share their loads.
#[inline(always)]
fn add_dots(dw: &mut [f32], a: &[f32], b: &[f32], plane: usize) {
    const R: usize = 2;
    const C: usize = 4;
    let cols = b.len() / plane;
    let rows = a.len() / plane;
    let mut f = 0;
    while f < rows {
        let tile_r = if f + R <= rows { R } else { 1 };
        let mut q = 0;
        while q < cols {
            let tile_c = if q + C <= cols { C } else { 1 };
            match (tile_r, tile_c) {
                (R, C) => dot_tile::<R, C>(dw, a, b, plane, cols, f, q),
                (R, _) => dot_tile::<R, 1>(dw, a, b, plane, cols, f, q),
                (_, C) => dot_tile::<1, C>(dw, a, b, plane, cols, f, q),
                _ => dot_tile::<1, 1>(dw, a, b, plane, cols, f, q),
            }
            q += tile_c;
        }
        f += tile_r;
    }
}

/// The `R x C` dots `a[f + r, :] · b[q + c, :]` of [`add_dots`], added to `dw`.
#[inline(always)]
fn dot_tile<const R: usize, const C: usize>(
    dw: &mut [f32],
    a: &[f32],
    b: &[f32],
    plane: usize,
    cols: usize,
    f: usize,
    q: usize,
) {
    let a: [&[f32]; R] = core::array::from_fn(|r| &a[(f + r) * plane..][..plane]);
    let b: [&[f32]; C] = core::array::from_fn(|c| &b[(q + c) * plane..][..plane]);
    let sums = dots::<R, C>(a, b);
    for (r, sums) in sums.iter().enumerate() {
        for (c, &sum) in sums.iter().enumerate() {
            dw[(f + r) * cols + q + c] += sum;
        }
    }
}

/// The `R x C` dots `a[r] · b[c]` (all of `a[0]`'s length), each with
/// [`crate::ops::kernels::dot`]'s 8 lanes and reduction tree, then the remainder in order.
#[inline(always)]
fn dots<const R: usize, const C: usize>(a: [&[f32]; R], b: [&[f32]; C]) -> [[f32; C]; R] {
    let len = a[0].len();
    let mut lanes = [[[0.0f32; 8]; C]; R];
    let whole = len / 8 * 8;
    for k in (0..whole).step_by(8) {
        // Copied into registers first, so the lanes stay in registers too.
        let xs: [[f32; 8]; R] = core::array::from_fn(|r| a[r][k..k + 8].try_into().expect("8"));
        let ws: [[f32; 8]; C] = core::array::from_fn(|c| b[c][k..k + 8].try_into().expect("8"));
        for r in 0..R {
            for c in 0..C {
                for l in 0..8 {
                    lanes[r][c][l] += xs[r][l] * ws[c][l];
                }
            }
        }
    }
    core::array::from_fn(|r| {
        core::array::from_fn(|c| {
            let v = &lanes[r][c];
            let mut sum = ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
            for k in whole..len {
                sum += a[r][k] * b[c][k];
            }
            sum
        })
    })
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_body<const FUSED: bool>(
    shape: ConvShape,
    weight: &[f32],
    x: &[f32],
    dy: &[f32],
    dweight: &mut [f32],
    dbias: Option<&mut [f32]>,
    (dx, mode): (Option<&mut [f32]>, GradMode),
    scratch: &mut [f32],
    rows: usize,
) -> Result<(), ConvError> {
    const F: &str = "conv2d_backward";
    check_buffers(F, &shape, weight, x, "dy", dy.len(), rows)?;
    check_len(
        F,
        "dweight",
        dweight.len(),
        shape.weight_len(),
        "filters * in_channels / groups * kernel_h * kernel_w",
    )?;
    if let Some(dbias) = dbias.as_deref() {
        check_len(F, "dbias", dbias.len(), shape.filters, "filters")?;
    }
    if let Some(dx) = dx.as_deref() {
        check_len(F, "dx", dx.len(), x.len(), "rows * in_channels * height * width")?;
    }
    check_scratch(F, &shape, scratch)?;
    let dx = (dx, mode);
    backward_rows(shape, weight, (x, dy), dweight, dbias, dx, scratch, &mut Tiled::<FUSED>);
    Ok(())
}

/// The two products of a conv's backward pass over one group of one sample: register-tiled
/// loops ([`Tiled`]) or the packed matrix product ([`Packed`]).
trait GradProducts {
    /// `dweight[f, q] += dy[f, :] · cols[q, :]`.
    fn weight_grad(&mut self, dweight: &mut [f32], dy: &[f32], cols: &[f32], plane: usize);

    /// `out[q, :] (+)= sum_f weight[f, q] dy[f, :]`: added to `out` when `accumulate`, else
    /// overwriting it.
    fn input_grad(
        &mut self,
        out: &mut [f32],
        weight: &[f32],
        dy: &[f32],
        plane: usize,
        accumulate: bool,
    );
}

/// [`GradProducts`] by [`add_dots`] and [`Axpy`] (sums over the filters in order).
struct Tiled<const FUSED: bool>;

impl<const FUSED: bool> GradProducts for Tiled<FUSED> {
    #[inline(always)]
    fn weight_grad(&mut self, dweight: &mut [f32], dy: &[f32], cols: &[f32], plane: usize) {
        add_dots(dweight, dy, cols, plane);
    }

    #[inline(always)]
    fn input_grad(
        &mut self,
        out: &mut [f32],
        weight: &[f32],
        dy: &[f32],
        plane: usize,
        accumulate: bool,
    ) {
        let taps = out.len() / plane;
        let start = if accumulate { Start::Accumulate } else { Start::Overwrite(None) };
        Axpy { coefs: weight, r_stride: 1, k_stride: taps, src: dy, plane, start }
            .rows::<FUSED>(out);
    }
}

/// [`GradProducts`] by the packed matrix product ([`crate::ops::gemm`], fused multiply-adds
/// where the CPU has them), packing into the held space of [`ConvShape::pack_len`] values.
struct Packed<'a>(&'a mut [f32]);

impl GradProducts for Packed<'_> {
    fn weight_grad(&mut self, dweight: &mut [f32], dy: &[f32], cols: &[f32], plane: usize) {
        let (filters, taps) = (dy.len() / plane, cols.len() / plane);
        let (dy, cols) = (View::rows(dy, plane), View::transposed(cols, plane));
        gemm((filters, taps, plane), dy, cols, dweight, true, self.0);
    }

    fn input_grad(
        &mut self,
        out: &mut [f32],
        weight: &[f32],
        dy: &[f32],
        plane: usize,
        accumulate: bool,
    ) {
        let (taps, filters) = (out.len() / plane, dy.len() / plane);
        let (w_t, dy) = (View::transposed(weight, taps), View::rows(dy, plane));
        gemm((taps, plane, filters), w_t, dy, out, accumulate, self.0);
    }
}

/// The backward pass over whole samples once the lengths are checked: per sample, the bias
/// gradient, then per group `dW += dy cols^T` and `dx += col2im(W^T dy)` (for a pointwise
/// conv `dx += W^T dy` straight; a depthwise one through [`depthwise::backward`]). With
/// [`GradMode::Overwrite`] each sample's `dx` starts from 0 instead of its values: the
/// products write it, or it is zeroed while in cache.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_rows(
    shape: ConvShape,
    weight: &[f32],
    (x, dy): (&[f32], &[f32]),
    dweight: &mut [f32],
    mut dbias: Option<&mut [f32]>,
    (mut dx, mode): (Option<&mut [f32]>, GradMode),
    scratch: &mut [f32],
    products: &mut impl GradProducts,
) {
    let (in_len, out_len) = (shape.input_len(), shape.output_len());
    let plane = shape.out_height() * shape.out_width();
    let groups = Groups::of(&shape);
    let depthwise = depthwise::applies(&shape);
    for (r, (x, dy)) in x.chunks_exact(in_len).zip(dy.chunks_exact(out_len)).enumerate() {
        add_bias_grad(dbias.as_deref_mut(), dy, plane);
        let mut dx = dx.as_deref_mut().map(|dx| &mut dx[r * in_len..(r + 1) * in_len]);
        if depthwise {
            depthwise::backward(&shape, weight, x, dy, dweight, (dx, mode), scratch);
            continue;
        }
        let add = mode == GradMode::Add;
        if let Some(dx) = dx.as_deref_mut().filter(|_| !shape.is_pointwise()) {
            // col2im adds into dx
            mode.start_row(dx);
        }
        for g in 0..shape.groups {
            let (dy, w) = (&dy[groups.output(g)], &weight[groups.weight(g)]);
            let cols = columns(&shape, &x[groups.input(g)], scratch);
            products.weight_grad(&mut dweight[groups.weight(g)], dy, cols, plane);
            let Some(dx) = dx.as_deref_mut() else { continue };
            let dx = &mut dx[groups.input(g)];
            if shape.is_pointwise() {
                // The columns are the input itself: dx (+)= W^T dy.
                products.input_grad(dx, w, dy, plane, add);
            } else {
                // dx += col2im(W^T dy)
                products.input_grad(scratch, w, dy, plane, false);
                col2im(&shape, scratch, dx);
            }
        }
    }
}

/// `dbias[f] += sum dy[f, :]` over one sample's output gradient, when the layer has a bias.
#[inline(always)]
fn add_bias_grad(dbias: Option<&mut [f32]>, dy: &[f32], plane: usize) {
    if let Some(dbias) = dbias {
        for (db, dy) in dbias.iter_mut().zip(dy.chunks_exact(plane)) {
            *db += dy.iter().sum::<f32>();
        }
    }
}

/// [`conv2d_backward`] with its two products through the packed matrix product ([`Packed`]),
/// for layers with at least [`PACKED_MIN_FILTERS`] filters per group. `pack` holds
/// [`ConvShape::pack_len`] values; the shape and lengths are the caller's to check.
#[allow(clippy::too_many_arguments)]
fn backward_packed(
    shape: ConvShape,
    weight: &[f32],
    x: &[f32],
    dy: &[f32],
    dweight: &mut [f32],
    dbias: Option<&mut [f32]>,
    dx: (Option<&mut [f32]>, GradMode),
    (scratch, pack): (&mut [f32], &mut [f32]),
) {
    backward_rows(shape, weight, (x, dy), dweight, dbias, dx, scratch, &mut Packed(pack));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The build [`Isa::detect`](crate::ops::kernels::Isa::detect) picks (AVX2+FMA on most
    /// x86-64 machines) and the baseline build each give the bits of plain loops: the same
    /// operations in the same order, multiply-adds fused where the build fuses them.
    #[test]
    fn tiled_builds_match_plain_loops_bit_for_bit() {
        // 7 filters take tiles of 4, 2 and 1 rows; 5x9 = 45 output positions blocks of 16, 8,
        // 4 and 1 positions.
        let shape = ConvShape {
            in_channels: 3,
            height: 9,
            width: 9,
            filters: 7,
            kernel: [3, 2],
            stride: [2, 1],
            pad: [1, 1],
            dilation: [1, 2],
            groups: 1,
        };
        let rows = 3;
        let values = |n: usize, seed: u32| -> Vec<f32> {
            (0..n as u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) ^ seed) % 1000)
                .map(|v| v as f32 / 500.0 - 1.0)
                .collect()
        };
        let (w, b) = (values(shape.weight_len(), 1), values(shape.filters, 2));
        let x = values(rows * shape.input_len(), 3);
        let dy = values(rows * shape.output_len(), 4);
        let mut results = Vec::new();
        type Forward = fn(
            ConvShape,
            &[f32],
            Option<&[f32]>,
            &[f32],
            &mut [f32],
            &mut [f32],
            usize,
        ) -> Result<(), ConvError>;
        type Backward = fn(
            ConvShape,
            &[f32],
            &[f32],
            &[f32],
            &mut [f32],
            Option<&mut [f32]>,
            (Option<&mut [f32]>, GradMode),
            &mut [f32],
            usize,
        ) -> Result<(), ConvError>;
        let builds: [(Forward, Backward); 2] = [
            (conv2d_forward, conv2d_backward),
            (baseline::conv2d_forward, baseline::conv2d_backward),
        ];
        for (forward, backward) in builds {
            let mut scratch = vec![0.0; shape.scratch_len()];
            let mut y = vec![0.0; rows * shape.output_len()];
            forward(shape, &w, Some(&b), &x, &mut y, &mut scratch, rows).unwrap();
            let (mut dw, mut db) = (vec![0.5; w.len()], vec![0.25; b.len()]);
            let mut dx = vec![0.0; x.len()];
            let (dbs, dxs) = (Some(&mut db[..]), Some(&mut dx[..]));
            backward(shape, &w, &x, &dy, &mut dw, dbs, (dxs, GradMode::Add), &mut scratch, rows)
                .unwrap();
            let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            results.push([bits(&y), bits(&dw), bits(&db), bits(&dx)]);
        }
        // Plain loops in the tiles' summation order, multiply-adds fused as in the build
        // (`fused`): the forward sums over the taps in order from 0 and adds the bias; dW adds
        // `dot`'s 8-lane dot (never fused); dcols sums over the filters.
        use crate::ops::kernels::tests::{dot_loop, madd};
        let (plane, taps) = (shape.out_height() * shape.out_width(), shape.weight_len() / 7);
        let plain = |fused: bool| {
            let mut cols = vec![0.0; shape.scratch_len()];
            let mut y = vec![0.0; rows * shape.output_len()];
            let (mut dw, mut db) = (vec![0.5; w.len()], vec![0.25; b.len()]);
            let mut dx = vec![0.0; x.len()];
            for n in 0..rows {
                let x = &x[n * shape.input_len()..][..shape.input_len()];
                let dy = &dy[n * shape.output_len()..][..shape.output_len()];
                im2col(&shape, x, &mut cols);
                for f in 0..shape.filters {
                    db[f] += dy[f * plane..][..plane].iter().sum::<f32>();
                    for p in 0..plane {
                        let mut acc = 0.0;
                        for q in 0..taps {
                            acc = madd(fused, w[f * taps + q], cols[q * plane + p], acc);
                        }
                        y[n * shape.output_len() + f * plane + p] = acc + b[f];
                    }
                    for q in 0..taps {
                        dw[f * taps + q] +=
                            dot_loop(false, &dy[f * plane..][..plane], &cols[q * plane..][..plane]);
                    }
                }
                let mut dcols = vec![0.0; cols.len()];
                for q in 0..taps {
                    for p in 0..plane {
                        for f in 0..shape.filters {
                            let dcol = &mut dcols[q * plane + p];
                            *dcol = madd(fused, w[f * taps + q], dy[f * plane + p], *dcol);
                        }
                    }
                }
                col2im(&shape, &dcols, &mut dx[n * shape.input_len()..][..shape.input_len()]);
            }
            let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            [bits(&y), bits(&dw), bits(&db), bits(&dx)]
        };
        let fused = crate::ops::kernels::tests::dispatched_fused();
        assert_eq!(results[0], plain(fused), "the dispatched build");
        assert_eq!(results[1], plain(false), "the baseline build");
    }

    /// Every row length, short (the fixed-length copies) and long, copies every value.
    #[test]
    fn copy_row_copies_rows_of_every_length() {
        for n in 0..40 {
            let src: Vec<f32> = (0..n + 3).map(|i| i as f32 + 0.5).collect();
            let mut dst = vec![f32::NAN; n];
            copy_row(&mut dst, &src);
            assert_eq!(dst, src[..n], "length {n}");
        }
    }

    /// A pointwise conv reads its input as the columns and adds its input gradient straight
    /// into `dx`: the values of f64 loops within 1e-6.
    #[test]
    fn pointwise_convs_match_plain_loops() {
        let shape = ConvShape { groups: 2, ..ConvShape::square([4, 3, 5], 6, 1, 1, 0) };
        assert!(shape.is_pointwise());
        let (rows, plane, per_group) = (2, 15, 2);
        let values = |n: usize, seed: u32| -> Vec<f32> {
            (0..n as u32).map(|i| ((i * 37 + seed * 11) % 23) as f32 / 11.0 - 1.0).collect()
        };
        let w = values(shape.weight_len(), 1);
        let x = values(rows * shape.input_len(), 2);
        let dy = values(rows * shape.output_len(), 3);
        let mut y = vec![0.0; dy.len()];
        let mut scratch = vec![f32::NAN; shape.scratch_len()];
        conv2d_forward(shape, &w, None, &x, &mut y, &mut scratch, rows).unwrap();
        let (mut dw, mut dx) = (vec![0.0; w.len()], vec![0.5; x.len()]);
        let dxs = (Some(&mut dx[..]), GradMode::Add);
        conv2d_backward(shape, &w, &x, &dy, &mut dw, None, dxs, &mut scratch, rows).unwrap();
        let (mut want_y, mut want_dw) = (vec![0.0f64; y.len()], vec![0.0f64; w.len()]);
        let mut want_dx = vec![0.5f64; x.len()];
        for n in 0..rows {
            for f in 0..6 {
                for c in 0..per_group {
                    let channel = f / 3 * per_group + c;
                    let weight = w[f * per_group + c] as f64;
                    for p in 0..plane {
                        let (xi, yi) = (n * 60 + channel * plane + p, n * 90 + f * plane + p);
                        want_y[yi] += weight * x[xi] as f64;
                        want_dw[f * per_group + c] += dy[yi] as f64 * x[xi] as f64;
                        want_dx[xi] += weight * dy[yi] as f64;
                    }
                }
            }
        }
        for (got, want) in [(&y, &want_y), (&dw, &want_dw), (&dx, &want_dx)] {
            for (g, w) in got.iter().zip(want) {
                assert!((*g as f64 - w).abs() <= 1e-6 * w.abs().max(1.0), "{g} against {w}");
            }
        }
    }

    /// The batched backward pass (shards of samples, packed products for 16 filters or more)
    /// gives the tiled kernel's gradients within 1e-4 (sums of up to 37 x 42 terms of
    /// magnitude up to 1 in another order: f32 rounding reaches ~1e-5 there), for a 3x3 conv with bias and for a
    /// pointwise one without, on 37 samples (shards of 16, 16 and 5).
    #[test]
    fn batched_backward_matches_the_tiled_kernel() {
        let values = |n: usize, seed: usize| -> Vec<f32> {
            (0..n).map(|i| ((i * 31 + seed * 17) % 29) as f32 / 14.0 - 1.0).collect()
        };
        let rows = 37;
        let shapes = [
            (ConvShape::square([5, 6, 7], 16, 3, 1, 1), true),
            (ConvShape { groups: 2, ..ConvShape::square([8, 4, 5], 32, 1, 1, 0) }, false),
        ];
        for (shape, bias) in shapes {
            assert!(shape.pack_len() > 0);
            let bias = bias.then_some(shape.weight_len());
            let conv = Conv2d { shape, weight: 0, bias };
            let params = values(shape.filters + shape.weight_len(), 1);
            let x = values(rows * shape.input_len(), 2);
            let dy = values(rows * shape.output_len(), 3);
            let (mut grads, mut dx) = (values(params.len(), 4), values(x.len(), 5));
            let mut work = vec![0.0; conv.batch_workspace_len(rows)];
            conv.backward_batch(
                &params,
                &mut grads,
                &x,
                &dy,
                (Some(&mut dx), GradMode::Add),
                &mut work,
                rows,
            );
            let (mut want_grads, mut want_dx) = (values(params.len(), 4), values(x.len(), 5));
            let mut scratch = vec![0.0; shape.scratch_len()];
            conv.backward(
                &params,
                &mut want_grads,
                &x,
                &dy,
                (Some(&mut want_dx), GradMode::Add),
                &mut scratch,
                rows,
            );
            for (got, want) in [(&grads, &want_grads), (&dx, &want_dx)] {
                for (g, w) in got.iter().zip(want.iter()) {
                    assert!((g - w).abs() <= 1e-4 * w.abs().max(1.0), "{g} against {w}");
                }
            }
        }
    }

    /// A tile of dots gives each dot the bits it has alone (the depthwise weight gradient
    /// takes 4 taps per pass on this), for lengths with and without a remainder past the 8
    /// lanes.
    #[test]
    fn a_tile_of_dots_gives_each_dot_its_own_bits() {
        let values = |n: usize, seed: usize| -> Vec<f32> {
            (0..n).map(|i| ((i * 29 + seed * 13) % 31) as f32 / 7.0 - 2.2).collect()
        };
        for len in [1, 7, 8, 21, 173] {
            let a = values(len, 0);
            let b: Vec<Vec<f32>> = (1..=4).map(|seed| values(len, seed)).collect();
            let tile = dots::<1, 4>([&a], core::array::from_fn(|c| &b[c][..]));
            for (c, b) in b.iter().enumerate() {
                let alone = dots::<1, 1>([&a], [b])[0][0];
                assert_eq!(tile[0][c].to_bits(), alone.to_bits(), "len {len}, dot {c}");
            }
        }
    }

    /// Depthwise convs with stride 1 run on padded channels ([`depthwise`]): their output is
    /// bit-identical to im2col's summation order, and output, weight, bias and input gradients
    /// are within 1e-6 of f64 loops, for a narrow image (the DS-CNN's 5 columns), a multiplier
    /// of 2 with dilation and uneven padding, and a sequence; a stride-2 depthwise conv and one
    /// whose padded channels outgrow the scratch keep the im2col kernel.
    #[test]
    fn depthwise_convs_match_plain_loops() {
        let depthwise = |c, hw: [usize; 2], filters, kernel: [usize; 2], pad, dilation| ConvShape {
            in_channels: c,
            height: hw[0],
            width: hw[1],
            filters,
            kernel,
            stride: [1, 1],
            pad,
            dilation,
            groups: c,
        };
        let shapes = [
            depthwise(3, [6, 5], 3, [3, 3], [1, 1], [1, 1]),
            depthwise(2, [7, 9], 4, [3, 2], [2, 0], [2, 3]),
            depthwise(4, [1, 12], 4, [1, 5], [0, 2], [1, 1]),
        ];
        let values = |n: usize, seed: usize| -> Vec<f32> {
            (0..n).map(|i| ((i * 37 + seed * 11) % 23) as f32 / 11.0 - 1.0).collect()
        };
        for shape in shapes {
            assert!(depthwise::applies(&shape), "{shape:?}");
            let (rows, plane) = (2, shape.out_height() * shape.out_width());
            let (taps, hw) = (shape.kernel[0] * shape.kernel[1], shape.height * shape.width);
            let (w, b) = (values(shape.weight_len(), 1), values(shape.filters, 2));
            let x = values(rows * shape.input_len(), 3);
            let dy = values(rows * shape.output_len(), 4);
            let mut scratch = vec![f32::NAN; shape.scratch_len()];
            let mut y = vec![f32::NAN; dy.len()];
            conv2d_forward(shape, &w, Some(&b), &x, &mut y, &mut scratch, rows).unwrap();
            let (mut dw, mut db, mut dx) =
                (vec![0.5; w.len()], vec![0.25; b.len()], values(x.len(), 5));
            let (dbs, dxs) = (Some(&mut db[..]), (Some(&mut dx[..]), GradMode::Add));
            conv2d_backward(shape, &w, &x, &dy, &mut dw, dbs, dxs, &mut scratch, rows).unwrap();

            let mut cols = vec![0.0; shape.scratch_len()];
            let mut want_y = vec![0.0f64; y.len()];
            let (mut want_dw, mut want_db) = (vec![0.5f64; w.len()], vec![0.25f64; b.len()]);
            let mut want_dx: Vec<f64> = values(x.len(), 5).into_iter().map(f64::from).collect();
            let per_channel = shape.filters / shape.in_channels;
            // One channel and one filter: im2col's and col2im's view of a single channel.
            let single = ConvShape { in_channels: 1, groups: 1, filters: 1, ..shape };
            for n in 0..rows {
                for f in 0..shape.filters {
                    let c = f / per_channel;
                    let x = &x[n * shape.input_len() + c * hw..][..hw];
                    im2col(&single, x, &mut cols);
                    let (out, dy) = (
                        n * shape.output_len() + f * plane,
                        &dy[n * shape.output_len() + f * plane..][..plane],
                    );
                    for p in 0..plane {
                        // im2col's order in f32: the taps from 0, then the bias.
                        let mut acc = 0.0f32;
                        for t in 0..taps {
                            acc += w[f * taps + t] * cols[t * plane + p];
                        }
                        assert_eq!((acc + b[f]).to_bits(), y[out + p].to_bits(), "{shape:?}");
                        for t in 0..taps {
                            want_y[out + p] += w[f * taps + t] as f64 * cols[t * plane + p] as f64;
                            want_dw[f * taps + t] += dy[p] as f64 * cols[t * plane + p] as f64;
                        }
                        want_y[out + p] += b[f] as f64;
                        want_db[f] += dy[p] as f64;
                    }
                    // dx through col2im of w[f, t] dy, in f64.
                    let mut dcols = vec![0.0f32; cols.len()];
                    for t in 0..taps {
                        for p in 0..plane {
                            dcols[t * plane + p] = 1.0;
                            let mut unit = vec![0.0f32; hw];
                            col2im(&single, &dcols, &mut unit);
                            dcols[t * plane + p] = 0.0;
                            for (i, &u) in unit.iter().enumerate() {
                                want_dx[n * shape.input_len() + c * hw + i] +=
                                    u as f64 * w[f * taps + t] as f64 * dy[p] as f64;
                            }
                        }
                    }
                }
            }
            for (got, want) in [(&y, &want_y), (&dw, &want_dw), (&db, &want_db), (&dx, &want_dx)] {
                for (g, w) in got.iter().zip(want) {
                    assert!(
                        (*g as f64 - w).abs() <= 1e-6 * w.abs().max(1.0),
                        "{shape:?}: {g} against {w}"
                    );
                }
            }
        }
        let strided = ConvShape { stride: [2, 1], ..shapes[0] };
        let tiny = depthwise(2, [1, 1], 2, [3, 3], [1, 1], [1, 1]);
        assert!(!depthwise::applies(&strided) && !depthwise::applies(&tiny));
    }

    /// Every column value is the input under the window or 0 in the padding, whatever the
    /// scratch held before (NaN here), for strides, pads (up to past the image) and dilations.
    #[test]
    fn im2col_writes_every_value_of_its_columns() {
        for (size, kernel, stride, pad, dilation) in [
            ([5, 7], [3, 3], [1, 1], [1, 1], [1, 1]),
            ([5, 7], [3, 2], [2, 1], [1, 0], [1, 2]),
            ([4, 4], [5, 5], [1, 2], [2, 2], [1, 1]),
            ([1, 6], [1, 3], [1, 1], [0, 1], [1, 1]),
            ([6, 6], [2, 2], [2, 2], [0, 0], [1, 1]),
        ] {
            let shape = ConvShape {
                in_channels: 2,
                height: size[0],
                width: size[1],
                filters: 1,
                kernel,
                stride,
                pad,
                dilation,
                groups: 1,
            };
            let x: Vec<f32> = (0..shape.input_len()).map(|i| i as f32 + 1.0).collect();
            let mut cols = vec![f32::NAN; shape.scratch_len()];
            im2col(&shape, &x, &mut cols);
            let (oh_n, ow_n) = (shape.out_height(), shape.out_width());
            let mut want = Vec::new();
            for c in 0..2 {
                for kh in 0..kernel[0] {
                    for kw in 0..kernel[1] {
                        for oh in 0..oh_n {
                            for ow in 0..ow_n {
                                let ih =
                                    (oh * stride[0] + kh * dilation[0]) as isize - pad[0] as isize;
                                let iw =
                                    (ow * stride[1] + kw * dilation[1]) as isize - pad[1] as isize;
                                let inside = (0..size[0] as isize).contains(&ih)
                                    && (0..size[1] as isize).contains(&iw);
                                let plane = c * size[0] * size[1];
                                let value = || x[plane + ih as usize * size[1] + iw as usize];
                                want.push(if inside { value() } else { 0.0 });
                            }
                        }
                    }
                }
            }
            assert_eq!(cols, want, "{size:?} kernel {kernel:?} stride {stride:?} pad {pad:?}");
        }
    }

    #[test]
    fn valid_outputs_matches_brute_force() {
        for in_n in 1..7 {
            for k in 1..5 {
                for stride in 1..4 {
                    for pad in 0..3 {
                        let out_n = out_size(in_n, k, stride, pad);
                        for off in 0..k {
                            let want: Vec<usize> = (0..out_n)
                                .filter(|&o| {
                                    let i = (o * stride + off) as isize - pad as isize;
                                    i >= 0 && (i as usize) < in_n
                                })
                                .collect();
                            let got: Vec<usize> =
                                valid_outputs(off, pad, stride, in_n, out_n).collect();
                            assert_eq!(got, want, "in {in_n} k {k} s {stride} p {pad} off {off}");
                        }
                    }
                }
            }
        }
    }
}
