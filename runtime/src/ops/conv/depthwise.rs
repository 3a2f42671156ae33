//! Depthwise convolutions (one input channel per group) with stride 1, straight on a
//! zero-padded copy of each channel instead of im2col columns.
//!
//! In a channel padded to `hp x wp` and laid out row after row, output `(oh, ow)` at the run
//! position `o = oh * wp + ow` sees tap `(kh, kw)` at `o + kh * dh * wp + kw * dw`: each tap is
//! one contiguous, shifted stretch of the padded channel. The forward pass and both gradients
//! are then loops over a run of `(out_height - 1) * wp + out_width` positions, the
//! `wp - out_width` positions past each output row's end computed and dropped: long vector
//! loops even on narrow images (5 columns in the keyword-spotting DS-CNN), and one padded
//! copy per channel instead of `kernel_h * kernel_w` im2col columns. The input gradient
//! accumulates in a padded copy of `dx` in the same space once the weight gradient is done.
//!
//! The forward pass adds the same products in the same order as the im2col kernel (the taps in
//! order from 0, the padding's zeros included), so its output is bit-identical to it.

use super::{ConvShape, copy_row, dots};
use crate::ops::GradMode;

/// Where a channel's padded copy and the run lie, for one shape.
struct Layout {
    /// Padded channel height and width.
    hp: usize,
    wp: usize,
    /// Output height and width.
    oh: usize,
    ow: usize,
    /// Positions of the run: `(oh - 1) * wp + ow`.
    run: usize,
}

impl Layout {
    fn of(shape: &ConvShape) -> Self {
        let (hp, wp) = (shape.height + 2 * shape.pad[0], shape.width + 2 * shape.pad[1]);
        let (oh, ow) = (shape.out_height(), shape.out_width());
        Layout { hp, wp, oh, ow, run: (oh.max(1) - 1) * wp + ow }
    }

    /// Values of one padded channel.
    fn padded(&self) -> usize {
        self.hp * self.wp
    }

    /// The offset of each tap `(kh, kw)` in the padded channel, in the weight's order.
    fn shifts(&self, shape: &ConvShape) -> impl Iterator<Item = usize> {
        let ([kh_n, kw_n], [dh, dw], wp) = (shape.kernel, shape.dilation, self.wp);
        (0..kh_n).flat_map(move |kh| (0..kw_n).map(move |kw| kh * dh * wp + kw * dw))
    }

    /// `padded` = the `height x width` channel `x` inside a zero border.
    fn pad(&self, shape: &ConvShape, x: &[f32], padded: &mut [f32]) {
        padded.fill(0.0);
        self.fill_inside(shape, x, padded);
    }

    /// The inside of `padded` = the channel `x`; the border keeps what it holds.
    fn fill_inside(&self, shape: &ConvShape, x: &[f32], padded: &mut [f32]) {
        let [ph, pw] = shape.pad;
        for (row, x) in
            padded[ph * self.wp..].chunks_exact_mut(self.wp).zip(x.chunks_exact(shape.width))
        {
            copy_row(&mut row[pw..pw + shape.width], x);
        }
    }

    /// `plane[oh, ow] = run[oh * wp + ow]`: the run's output positions.
    fn crop(&self, run: &[f32], plane: &mut [f32]) {
        for (oh, out) in plane.chunks_exact_mut(self.ow).enumerate() {
            copy_row(out, &run[oh * self.wp..][..self.ow]);
        }
    }

    /// `run` = the output plane at its positions, zeros past each row's end.
    fn spread(&self, plane: &[f32], run: &mut [f32]) {
        run.fill(0.0);
        for (oh, values) in plane.chunks_exact(self.ow).enumerate() {
            copy_row(&mut run[oh * self.wp..][..self.ow], values);
        }
    }

    /// `x` = the inside of the padded channel `padded`.
    fn unpad(&self, shape: &ConvShape, padded: &[f32], x: &mut [f32]) {
        let [ph, pw] = shape.pad;
        for (row, x) in
            padded[ph * self.wp..].chunks_exact(self.wp).zip(x.chunks_exact_mut(shape.width))
        {
            copy_row(x, &row[pw..pw + shape.width]);
        }
    }
}

/// Scratch values the direct kernels use: a padded channel and a run.
fn scratch_need(layout: &Layout) -> usize {
    layout.padded() + layout.run
}

/// Whether [`forward`] and [`backward`] handle `shape`: one input channel per group, stride 1,
/// a kernel larger than 1x1 (a pointwise conv reads its input as is), and a scratch of
/// [`ConvShape::scratch_len`] values that holds a padded channel and a run (it does on all but
/// tiny images).
pub(super) fn applies(shape: &ConvShape) -> bool {
    shape.in_channels == shape.groups
        && shape.stride == [1, 1]
        && !shape.is_pointwise()
        && scratch_need(&Layout::of(shape)) <= shape.scratch_len()
}

/// `y = conv(x, weight)` without bias for one sample (overwrites `y`), the taps of each output
/// summed in order from 0 in registers, 8 positions at a time.
#[inline(always)]
pub(super) fn forward(
    shape: &ConvShape,
    weight: &[f32],
    x: &[f32],
    y: &mut [f32],
    scratch: &mut [f32],
) {
    let layout = Layout::of(shape);
    let (padded, rest) = scratch.split_at_mut(layout.padded());
    let run = &mut rest[..layout.run];
    let taps = shape.taps();
    let per_channel = shape.filters / shape.groups;
    let plane = layout.oh * layout.ow;
    let mut filters = weight.chunks_exact(taps).zip(y.chunks_exact_mut(plane));
    // Zeroed once: only the inside is written below, so the border stays zero.
    padded.fill(0.0);
    for x in x.chunks_exact(shape.height * shape.width) {
        layout.fill_inside(shape, x, padded);
        for (w, y) in filters.by_ref().take(per_channel) {
            // Blocks of 32 positions keep 4 independent 8-lane sums in flight (one sum is a
            // chain of dependent additions, bound by their latency); then 8, then 1.
            let p = run_blocks::<32>(shape, &layout, w, padded, run, 0);
            let p = run_blocks::<8>(shape, &layout, w, padded, run, p);
            run_blocks::<1>(shape, &layout, w, padded, run, p);
            layout.crop(run, y);
        }
    }
}

/// The run from position `p` in blocks of `W` positions while a whole block fits: each
/// position `sum_t w[t] padded[p + shift_t]`, from 0, taps in order. Returns where it stopped.
#[inline(always)]
fn run_blocks<const W: usize>(
    shape: &ConvShape,
    layout: &Layout,
    w: &[f32],
    padded: &[f32],
    run: &mut [f32],
    mut p: usize,
) -> usize {
    while p + W <= run.len() {
        let mut acc = [0.0f32; W];
        for (&w, shift) in w.iter().zip(layout.shifts(shape)) {
            for (acc, &v) in acc.iter_mut().zip(&padded[p + shift..][..W]) {
                *acc += w * v;
            }
        }
        run[p..p + W].copy_from_slice(&acc);
        p += W;
    }
    p
}

/// The gradients of [`forward`] for one sample: `dweight += dL/dweight` (each tap's dot over
/// the run, with [`dots`]' 8 lanes, 4 taps at a time) and `dx (+)= dL/dx` when given (added,
/// or overwriting `dx` as `mode` says).
#[inline(always)]
pub(super) fn backward(
    shape: &ConvShape,
    weight: &[f32],
    x: &[f32],
    dy: &[f32],
    dweight: &mut [f32],
    (mut dx, mode): (Option<&mut [f32]>, GradMode),
    scratch: &mut [f32],
) {
    let layout = Layout::of(shape);
    let (padded, rest) = scratch.split_at_mut(layout.padded());
    let run = &mut rest[..layout.run];
    let (taps, hw) = (shape.taps(), shape.height * shape.width);
    let per_channel = shape.filters / shape.groups;
    let plane = layout.oh * layout.ow;
    for (c, x) in x.chunks_exact(hw).enumerate() {
        let filters = c * per_channel..(c + 1) * per_channel;
        layout.pad(shape, x, padded);
        for f in filters.clone() {
            layout.spread(&dy[f * plane..][..plane], run);
            let dw = &mut dweight[f * taps..][..taps];
            // 4 taps per pass over the run: 4 independent sums, not one latency-bound chain.
            let window = |shift: usize| &padded[shift..][..run.len()];
            let mut shifts = layout.shifts(shape);
            let (dw4, dw1) = dw.as_chunks_mut::<4>();
            for dw in dw4 {
                let windows = core::array::from_fn(|_| window(shifts.next().expect("a tap")));
                let sums = dots::<1, 4>([&*run], windows);
                dw.iter_mut().zip(sums[0]).for_each(|(dw, sum)| *dw += sum);
            }
            for (dw, shift) in dw1.iter_mut().zip(shifts) {
                *dw += dots::<1, 1>([&*run], [window(shift)])[0][0];
            }
        }
        let Some(dx) = dx.as_deref_mut() else { continue };
        // The input gradient accumulates in the padded copy, from dx's values or from 0.
        let dx = &mut dx[c * hw..][..hw];
        match mode {
            GradMode::Add => layout.pad(shape, dx, padded),
            GradMode::Overwrite => padded.fill(0.0),
        }
        for f in filters {
            layout.spread(&dy[f * plane..][..plane], run);
            for (&w, shift) in weight[f * taps..][..taps].iter().zip(layout.shifts(shape)) {
                for (d, &g) in padded[shift..].iter_mut().zip(run.iter()) {
                    *d += w * g;
                }
            }
        }
        layout.unpad(shape, padded, dx);
    }
}
