//! Batch normalization (Ioffe and Szegedy 2015) with PyTorch's `nn.BatchNorm1d`/`nn.BatchNorm2d`
//! semantics, over rows of `channels * spatial` values.
//!
//! A row is one sample laid out channel after channel (NCHW without the N): the statistics of
//! channel `c` are taken over every row and the `spatial` values `c * spatial..(c + 1) * spatial`
//! of each row, `m = rows * spatial` values in all. A feature vector is `spatial = 1`
//! (BatchNorm1d on `[N, C]`); an image `C x H x W` is `spatial = H * W` (BatchNorm2d).
//!
//! Training mode (`F.batch_norm(training=True)`): normalize with the batch mean and the biased
//! batch variance, `y = gamma * (x - mean) / sqrt(var + eps) + beta`, and update
//! `running = (1 - momentum) * running + momentum * batch` with the *unbiased* variance
//! `var * m / (m - 1)` for `running_var`; `num_batches_tracked += 1`.
//! Eval mode: normalize with `running_mean` and `running_var`. Without running statistics
//! (`track_running_stats=False`) eval normalizes each row with its own statistics over its
//! `spatial` values per channel, as PyTorch's eval does on a batch of one sample, so that a
//! sample's output does not depend on the other samples predicted with it.

/// The shape a batch-norm layer sees: per-sample `channels * spatial` values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NormShape {
    /// Channels (features for a vector).
    pub channels: usize,
    /// Values per channel in one sample (1 for a vector, `H * W` for an image).
    pub spatial: usize,
    /// Added to the variance.
    pub eps: f32,
    /// Weight of the batch statistics in the running statistics.
    pub momentum: f32,
}

impl NormShape {
    fn width(&self) -> usize {
        self.channels * self.spatial
    }

    /// The index range of channel `c` within a row.
    fn range(&self, c: usize) -> core::ops::Range<usize> {
        c * self.spatial..(c + 1) * self.spatial
    }

    /// `m`: the values per channel in `len` values of whole rows.
    fn count(&self, len: usize) -> usize {
        (len / self.width().max(1) * self.spatial).max(1)
    }
}

/// A batch-norm layer of a generated network: its shape and where its tensors lie in the flat
/// buffers (`gamma`, `beta` in the parameters; `running_mean`, `running_var` in the f32
/// buffers; `counter`, its `num_batches_tracked`, in the i64 ones), `channels` values each.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNorm {
    /// Channels, spatial size, eps and momentum.
    pub shape: NormShape,
    /// Offset of gamma (PyTorch's `weight`) in the parameters.
    pub gamma: usize,
    /// Offset of beta (PyTorch's `bias`) in the parameters, after gamma.
    pub beta: usize,
    /// Offset of `running_mean` in the f32 buffers.
    pub running_mean: usize,
    /// Offset of `running_var` in the f32 buffers.
    pub running_var: usize,
    /// Index of `num_batches_tracked` in the i64 buffers.
    pub counter: usize,
    /// Whether the layer has gamma and beta (PyTorch's `affine`); without them `y = x_hat`
    /// and `gamma` and `beta` are not read.
    pub affine: bool,
    /// Whether the layer keeps running statistics (PyTorch's `track_running_stats`); without
    /// them `running_mean`, `running_var` and `counter` are not read, and eval normalizes each
    /// row by its own statistics.
    pub track_running_stats: bool,
}

/// Gamma and beta per channel, `None` for a layer without them (`y = x_hat`).
type Affine<'a> = Option<(&'a [f32], &'a [f32])>;

/// dgamma and dbeta per channel, `None` for a layer without gamma and beta.
type AffineGrads<'a> = Option<(&'a mut [f32], &'a mut [f32])>;

use super::{GradMode, two_mut};
use crate::math::{powi, sqrt};

impl BatchNorm {
    fn gamma_beta<'a>(&self, params: &'a [f32]) -> Affine<'a> {
        let c = self.shape.channels;
        self.affine.then(|| (&params[self.gamma..][..c], &params[self.beta..][..c]))
    }

    fn gamma_beta_grads<'a>(&self, grads: &'a mut [f32]) -> AffineGrads<'a> {
        self.affine.then(|| two_mut(grads, self.gamma, self.beta, self.shape.channels))
    }

    fn running<'a>(&self, buffers: &'a [f32]) -> (&'a [f32], &'a [f32]) {
        let c = self.shape.channels;
        (&buffers[self.running_mean..][..c], &buffers[self.running_var..][..c])
    }

    /// The forward pass in the network's mode: [`BatchNorm::forward_train`] while training
    /// (which keeps `x_hat` and `inv_std` for the backward pass), else
    /// [`BatchNorm::forward_eval`]; without running statistics, eval keeps each row's `x_hat`
    /// and `inv_std` (`rows * channels` values) for the backward pass.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        training: bool,
        params: &[f32],
        buffers: &mut [f32],
        counters: &mut [i64],
        x: &[f32],
        y: &mut [f32],
        (x_hat, inv_std): (&mut [f32], &mut [f32]),
    ) {
        if training {
            self.forward_train(params, buffers, counters, x, y, x_hat, inv_std);
        } else if self.track_running_stats {
            self.forward_eval(params, buffers, x, y);
        } else {
            self.forward_rows(params, x, y, Some((x_hat, inv_std)));
        }
    }

    /// The backward pass of [`BatchNorm::forward`] in the same mode: dgamma and dbeta
    /// accumulate into `grads`, the input gradient goes into `dx` as `mode` says
    /// ([`GradMode::Overwrite`]: the same bits as adding it to zeros).
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        training: bool,
        params: &[f32],
        buffers: &[f32],
        grads: &mut [f32],
        x: &[f32],
        (x_hat, inv_std): (&[f32], &[f32]),
        dy: &[f32],
        (dx, mode): (Option<&mut [f32]>, GradMode),
    ) {
        let dx = dx.map(|dx| (dx, mode == GradMode::Overwrite));
        if training {
            self.backward_train(params, grads, x_hat, inv_std, dy, dx);
        } else if self.track_running_stats {
            self.backward_eval(params, buffers, grads, x, dy, dx);
        } else {
            self.backward_rows(params, grads, x_hat, inv_std, dy, dx);
        }
    }

    /// [`forward_train`] on the layer's tensors (the running statistics only if it keeps
    /// them).
    #[allow(clippy::too_many_arguments)]
    pub fn forward_train(
        &self,
        params: &[f32],
        buffers: &mut [f32],
        counters: &mut [i64],
        x: &[f32],
        y: &mut [f32],
        x_hat: &mut [f32],
        inv_std: &mut [f32],
    ) {
        let c = self.shape.channels;
        let running = self
            .track_running_stats
            .then(|| two_mut(buffers, self.running_mean, self.running_var, c));
        let affine = self.gamma_beta(params);
        normalize_batch(self.shape, x, y, Some((x_hat, inv_std)), affine, running);
        if self.track_running_stats {
            counters[self.counter] += 1;
        }
    }

    /// [`backward_train`] on the layer's tensors: dgamma and dbeta accumulate into `grads`,
    /// the input gradient into `dx` (overwriting it when its flag is set).
    fn backward_train(
        &self,
        params: &[f32],
        grads: &mut [f32],
        x_hat: &[f32],
        inv_std: &[f32],
        dy: &[f32],
        dx: Option<(&mut [f32], bool)>,
    ) {
        let gamma = self.gamma_beta(params).map(|(gamma, _)| gamma);
        let dparams = self.gamma_beta_grads(grads);
        backward_batch(self.shape, dy, x_hat, inv_std, gamma, dparams, dx);
    }

    /// [`forward_eval`] on the layer's tensors; without running statistics each row is
    /// normalized by its own (`buffers` is not read then).
    pub fn forward_eval(&self, params: &[f32], buffers: &[f32], x: &[f32], y: &mut [f32]) {
        if !self.track_running_stats {
            return self.forward_rows(params, x, y, None);
        }
        let (mean, var) = self.running(buffers);
        normalize_running(self.shape, x, y, self.gamma_beta(params), mean, var);
    }

    /// Each row normalized by its own mean and biased variance per channel (PyTorch's eval
    /// without running statistics, on that sample alone); `keep` receives each row's `x_hat`
    /// and `inv_std` (`channels` values per row).
    fn forward_rows(
        &self,
        params: &[f32],
        x: &[f32],
        y: &mut [f32],
        keep: Option<(&mut [f32], &mut [f32])>,
    ) {
        let (width, c) = (self.shape.width(), self.shape.channels);
        let affine = self.gamma_beta(params);
        let rows = x.chunks_exact(width).zip(y.chunks_exact_mut(width));
        match keep {
            Some((x_hat, inv_std)) => {
                let kept = x_hat.chunks_exact_mut(width).zip(inv_std.chunks_exact_mut(c));
                for ((x, y), keep) in rows.zip(kept) {
                    normalize_batch(self.shape, x, y, Some(keep), affine, None);
                }
            }
            None => rows.for_each(|(x, y)| normalize_batch(self.shape, x, y, None, affine, None)),
        }
    }

    /// Backward of [`BatchNorm::forward_rows`]: [`backward_train`] row by row, through each
    /// row's own statistics.
    fn backward_rows(
        &self,
        params: &[f32],
        grads: &mut [f32],
        x_hat: &[f32],
        inv_std: &[f32],
        dy: &[f32],
        mut dx: Option<(&mut [f32], bool)>,
    ) {
        let (width, c) = (self.shape.width(), self.shape.channels);
        let gamma = self.gamma_beta(params).map(|(gamma, _)| gamma);
        let rows =
            dy.chunks_exact(width).zip(x_hat.chunks_exact(width)).zip(inv_std.chunks_exact(c));
        for (i, ((dy, x_hat), inv_std)) in rows.enumerate() {
            let dx = dx.as_mut().map(|(dx, overwrite)| (&mut dx[i * width..][..width], *overwrite));
            let dparams = self.gamma_beta_grads(grads);
            backward_batch(self.shape, dy, x_hat, inv_std, gamma, dparams, dx);
        }
    }

    /// [`backward_eval`] on the layer's tensors: dgamma and dbeta accumulate into `grads`,
    /// the input gradient into `dx` (overwriting it when its flag is set).
    fn backward_eval(
        &self,
        params: &[f32],
        buffers: &[f32],
        grads: &mut [f32],
        x: &[f32],
        dy: &[f32],
        dx: Option<(&mut [f32], bool)>,
    ) {
        let (mean, var) = self.running(buffers);
        let gamma = self.gamma_beta(params).map(|(gamma, _)| gamma);
        let dparams = self.gamma_beta_grads(grads);
        backward_running(self.shape, dy, x, gamma, mean, var, dparams, dx);
    }
}

/// Training-mode forward: writes `y`, the normalized `x_hat = (x - mean) * inv_std` (kept for
/// the backward pass) and each channel's `inv_std = 1 / sqrt(var + eps)`; updates the running
/// statistics and `num_batches_tracked` as `nn.BatchNorm` does in `train()` mode.
#[allow(clippy::too_many_arguments)]
pub fn forward_train(
    shape: NormShape,
    x: &[f32],
    y: &mut [f32],
    x_hat: &mut [f32],
    inv_std: &mut [f32],
    gamma: &[f32],
    beta: &[f32],
    running_mean: &mut [f32],
    running_var: &mut [f32],
    num_batches_tracked: &mut i64,
) {
    let running = Some((running_mean, running_var));
    normalize_batch(shape, x, y, Some((x_hat, inv_std)), Some((gamma, beta)), running);
    *num_batches_tracked += 1;
}

/// Running statistics to update: (mean, var), `channels` values each.
type Running<'a> = Option<(&'a mut [f32], &'a mut [f32])>;

/// What the training forward keeps for the backward pass: `x_hat` (as `x`) and `inv_std`
/// (`channels` values).
type Keep<'a> = Option<(&'a mut [f32], &'a mut [f32])>;

/// Channels whose statistics one parallel pass holds (on the stack).
const CHANNEL_BLOCK: usize = 64;

/// How a pass over the batch is cut: `(threads, channels per block)`. On one thread a block is
/// one channel (its values stay in the cache from the sums to the normalization); on more,
/// [`CHANNEL_BLOCK`] channels are summed channel by channel across the threads, then
/// normalized across them in pieces of rows. Every value comes from the same operations
/// either way, so the thread count changes no bit.
fn channel_blocks(len: usize) -> (usize, usize) {
    // About four multiply-adds per value: two sums and the normalization (forward), two sums
    // and the input gradient (backward).
    let threads = crate::threads::for_work(4 * len as u64);
    let block = if threads > 1 { CHANNEL_BLOCK } else { 1 };
    (threads, block)
}

/// Values per piece of whole rows when `len` values are cut for `threads` threads.
fn row_pieces(shape: NormShape, len: usize, threads: usize) -> usize {
    let width = shape.width().max(1);
    (len / width).div_ceil(threads).max(1) * width
}

/// Runs `f(c)` for each channel `c` of `first..first + out.len()` across `threads` threads,
/// into `out[c - first]`.
fn per_channel<T: Send>(
    first: usize,
    out: &mut [T],
    threads: usize,
    f: impl Fn(usize) -> T + Sync,
) {
    let none: [&[f32]; 0] = [];
    crate::threads::in_pieces(none, [out], 1, threads, &|i, [], [piece]| {
        piece[0] = f(first + i);
    });
}

/// The kernels the passes call: the dispatched builds, or in the tests the baseline ones.
#[derive(Clone, Copy)]
struct Kernels {
    mean_var: fn(NormShape, &[f32], usize) -> (f64, f64),
    grad_sums: fn(NormShape, &[f32], &[f32], usize) -> [f64; 2],
    normalize_rows: NormalizeRows,
    input_grad_rows: InputGradRows,
}

/// [`dispatch::normalize_rows`]'s signature.
type NormalizeRows = fn(NormShape, usize, &[Normalize], &[f32], &mut [f32], &mut [f32]);

/// [`dispatch::input_grad_rows`]'s signature.
type InputGradRows = fn(NormShape, usize, &[InputGrad], &[f32], &[f32], &mut [f32], bool);

const DISPATCHED: Kernels = Kernels {
    mean_var: dispatch::mean_var,
    grad_sums: dispatch::grad_sums,
    normalize_rows: dispatch::normalize_rows,
    input_grad_rows: dispatch::input_grad_rows,
};

/// Normalizing one channel: `x_hat = (x - mean) * istd`, `y = scale * x_hat + shift`.
#[derive(Clone, Copy, Default)]
struct Normalize {
    mean: f32,
    istd: f32,
    scale: f32,
    shift: f32,
}

/// One channel's input gradient: `dx = scale * (dy - mean_dy - x_hat * mean_dy_xhat)`,
/// `scale = gamma * inv_std`.
#[derive(Clone, Copy, Default)]
struct InputGrad {
    scale: f32,
    mean_dy: f32,
    mean_dy_xhat: f32,
}

/// `y = gamma * x_hat + beta` (`y = x_hat` without `affine`), `x_hat = (x - mean) * inv_std`
/// with the mean and biased variance of each channel over the rows of `x`; `keep` receives
/// `x_hat` and `inv_std` for the backward pass, and `running` (mean, var) the update
/// `running = (1 - momentum) running + momentum batch` with the unbiased variance.
fn normalize_batch(
    shape: NormShape,
    x: &[f32],
    y: &mut [f32],
    keep: Keep<'_>,
    affine: Affine<'_>,
    running: Running<'_>,
) {
    normalize_batch_with(DISPATCHED, shape, x, y, keep, affine, running);
}

/// [`normalize_batch`] through `kernels`.
fn normalize_batch_with(
    kernels: Kernels,
    shape: NormShape,
    x: &[f32],
    y: &mut [f32],
    mut keep: Keep<'_>,
    affine: Affine<'_>,
    mut running: Running<'_>,
) {
    let m = shape.count(x.len());
    let (threads, block) = channel_blocks(x.len());
    let piece = row_pieces(shape, x.len(), threads);
    // Filled block by block (on one thread a block is one channel: made once per pass).
    let mut moments = [(0.0, 0.0); CHANNEL_BLOCK];
    let mut norms = [Normalize::default(); CHANNEL_BLOCK];
    for first in (0..shape.channels).step_by(block) {
        let count = block.min(shape.channels - first);
        let (moments, norms) = (&mut moments[..count], &mut norms[..count]);
        per_channel(first, moments, threads, |c| (kernels.mean_var)(shape, x, c));
        for (i, (&(mean, var), norm)) in moments.iter().zip(norms.iter_mut()).enumerate() {
            let c = first + i;
            let istd = 1.0 / sqrt(var + f64::from(shape.eps));
            let (scale, shift) = affine.map_or((1.0, 0.0), |(gamma, beta)| (gamma[c], beta[c]));
            *norm = Normalize { mean: mean as f32, istd: istd as f32, scale, shift };
            if let Some((_, inv_std)) = keep.as_mut() {
                inv_std[c] = istd as f32;
            }
            if let Some((running_mean, running_var)) = running.as_mut() {
                // running = (1 - momentum) running + momentum batch, the unbiased variance.
                let unbiased = if m > 1 { var * m as f64 / (m - 1) as f64 } else { var };
                let mom = f64::from(shape.momentum);
                running_mean[c] = ((1.0 - mom) * f64::from(running_mean[c]) + mom * mean) as f32;
                running_var[c] = ((1.0 - mom) * f64::from(running_var[c]) + mom * unbiased) as f32;
            }
        }
        let norms = &*norms;
        let x_hat = keep.as_mut().map_or(&mut [][..], |(x_hat, _)| &mut x_hat[..]);
        crate::threads::in_pieces([x], [&mut *y, x_hat], piece, threads, &|_, [x], [y, x_hat]| {
            (kernels.normalize_rows)(shape, first, norms, x, y, x_hat);
        });
    }
}

/// Backward of [`normalize_batch`] through the batch statistics:
/// `dx = gamma * inv_std / m * (m dy - sum(dy) - x_hat sum(dy x_hat))`, added to `dx` when
/// given (overwriting it when its flag is set); `dgamma += sum(dy x_hat)`, `dbeta += sum(dy)`
/// when given (gamma 1 without `affine`).
fn backward_batch(
    shape: NormShape,
    dy: &[f32],
    x_hat: &[f32],
    inv_std: &[f32],
    gamma: Option<&[f32]>,
    dparams: AffineGrads<'_>,
    dx: Option<(&mut [f32], bool)>,
) {
    backward_batch_with(DISPATCHED, shape, dy, x_hat, inv_std, gamma, dparams, dx);
}

/// [`backward_batch`] through `kernels`.
#[allow(clippy::too_many_arguments)]
fn backward_batch_with(
    kernels: Kernels,
    shape: NormShape,
    dy: &[f32],
    x_hat: &[f32],
    inv_std: &[f32],
    gamma: Option<&[f32]>,
    mut dparams: AffineGrads<'_>,
    mut dx: Option<(&mut [f32], bool)>,
) {
    let m = shape.count(dy.len());
    let (threads, block) = channel_blocks(dy.len());
    let piece = row_pieces(shape, dy.len(), threads);
    // Filled block by block, as in `normalize_batch_with`.
    let mut sums = [[0.0; 2]; CHANNEL_BLOCK];
    let mut terms = [InputGrad::default(); CHANNEL_BLOCK];
    for first in (0..shape.channels).step_by(block) {
        let count = block.min(shape.channels - first);
        let (sums, terms) = (&mut sums[..count], &mut terms[..count]);
        per_channel(first, sums, threads, |c| (kernels.grad_sums)(shape, dy, x_hat, c));
        for (i, (&[sum_dy, sum_dy_xhat], term)) in sums.iter().zip(terms.iter_mut()).enumerate() {
            let c = first + i;
            if let Some((dgamma, dbeta)) = dparams.as_mut() {
                dgamma[c] += sum_dy_xhat as f32;
                dbeta[c] += sum_dy as f32;
            }
            *term = InputGrad {
                scale: gamma.map_or(1.0, |gamma| gamma[c]) * inv_std[c],
                mean_dy: (sum_dy / m as f64) as f32,
                mean_dy_xhat: (sum_dy_xhat / m as f64) as f32,
            };
        }
        let Some((dx, overwrite)) = dx.as_mut() else { continue };
        let (terms, overwrite) = (&*terms, *overwrite);
        crate::threads::in_pieces([dy, x_hat], [dx], piece, threads, &|_, [dy, x_hat], [dx]| {
            (kernels.input_grad_rows)(shape, first, terms, dy, x_hat, dx, overwrite);
        });
    }
}

/// Backward of [`forward_train`] through the batch statistics:
/// `dx = gamma * inv_std / m * (m dy - sum(dy) - x_hat sum(dy x_hat))`, added to `dx` when given;
/// `dgamma += sum(dy x_hat)`, `dbeta += sum(dy)`.
#[allow(clippy::too_many_arguments)]
pub fn backward_train(
    shape: NormShape,
    dy: &[f32],
    x_hat: &[f32],
    inv_std: &[f32],
    gamma: &[f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    let dx = dx.map(|dx| (dx, false));
    backward_batch(shape, dy, x_hat, inv_std, Some(gamma), Some((dgamma, dbeta)), dx);
}

/// The kernels of the passes above, built for AVX2 and FMA where the CPU has them (the f64
/// sums run 4 lanes to a register; they have no multiply-adds to fuse) and for the baseline.
#[cfg_attr(not(test), allow(dead_code))] // the baseline build is called by the tests only
mod dispatch {
    use super::*;

    crate::ops::kernels::dispatched_kernels! {
        /// The mean and biased variance of channel `c` over the rows of `x`, summed in f64.
        fn mean_var<>(shape: NormShape, x: &[f32], c: usize) -> (f64, f64)
            = mean_var_body, mean_var_body;

        /// `[sum(dy), sum(dy x_hat)]` of channel `c` over the rows, in f64.
        fn grad_sums<>(shape: NormShape, dy: &[f32], x_hat: &[f32], c: usize) -> [f64; 2]
            = grad_sums_body, grad_sums_body;

        /// Channels `first..first + norms.len()` of whole rows of `x` normalized into `y`
        /// (and `x_hat`, unless it is empty).
        fn normalize_rows<>(
            shape: NormShape,
            first: usize,
            norms: &[Normalize],
            x: &[f32],
            y: &mut [f32],
            x_hat: &mut [f32],
        ) = normalize_rows_body, normalize_rows_body;

        /// `dx += scale * (dy - mean(dy) - x_hat * mean(dy x_hat))` on channels
        /// `first..first + terms.len()` of whole rows; with `overwrite`, `dx = 0 + ...`
        /// (the bits of adding to zeros) without reading `dx`.
        fn input_grad_rows<>(
            shape: NormShape,
            first: usize,
            terms: &[InputGrad],
            dy: &[f32],
            x_hat: &[f32],
            dx: &mut [f32],
            overwrite: bool,
        ) = input_grad_rows_body, input_grad_rows_body;
    }
}

/// `[sum f(a[i], b[i])]` over channel `c`'s values in every row of `a` and `b`, in f64 with 8
/// partial sums per result (one running sum would be a chain of dependent additions), added
/// up as a tree.
#[inline(always)]
fn channel_sums<const K: usize>(
    shape: NormShape,
    c: usize,
    (a, b): (&[f32], &[f32]),
    f: impl Fn(f64, f64) -> [f64; K],
) -> [f64; K] {
    let width = shape.width();
    let mut lanes = [[0.0f64; 8]; K];
    for (a, b) in a.chunks_exact(width).zip(b.chunks_exact(width)) {
        let (a, b) = (&a[shape.range(c)], &b[shape.range(c)]);
        let ((a8, a_rest), (b8, b_rest)) = (a.as_chunks::<8>(), b.as_chunks::<8>());
        for (a, b) in a8.iter().zip(b8) {
            for l in 0..8 {
                let terms = f(f64::from(a[l]), f64::from(b[l]));
                for (lanes, term) in lanes.iter_mut().zip(terms) {
                    lanes[l] += term;
                }
            }
        }
        for (l, (&a, &b)) in a_rest.iter().zip(b_rest).enumerate() {
            let terms = f(f64::from(a), f64::from(b));
            for (lanes, term) in lanes.iter_mut().zip(terms) {
                lanes[l] += term;
            }
        }
    }
    lanes.map(|v| ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7])))
}

#[inline(always)]
fn mean_var_body<const FUSED: bool>(shape: NormShape, x: &[f32], c: usize) -> (f64, f64) {
    let m = shape.count(x.len()) as f64;
    let [sum] = channel_sums(shape, c, (x, x), |v, _| [v]);
    let mean = sum / m;
    let [squares] = channel_sums(shape, c, (x, x), |v, _| [powi(v - mean, 2)]);
    (mean, squares / m)
}

#[inline(always)]
fn grad_sums_body<const FUSED: bool>(
    shape: NormShape,
    dy: &[f32],
    x_hat: &[f32],
    c: usize,
) -> [f64; 2] {
    channel_sums(shape, c, (dy, x_hat), |d, h| [d, d * h])
}

#[inline(always)]
fn normalize_rows_body<const FUSED: bool>(
    shape: NormShape,
    first: usize,
    norms: &[Normalize],
    x: &[f32],
    y: &mut [f32],
    x_hat: &mut [f32],
) {
    let width = shape.width();
    for (r, (x, y)) in x.chunks_exact(width).zip(y.chunks_exact_mut(width)).enumerate() {
        for (c, n) in (first..).zip(norms) {
            let range = shape.range(c);
            let (x, y) = (&x[range.clone()], &mut y[range.clone()]);
            if x_hat.is_empty() {
                for (&x, y) in x.iter().zip(y) {
                    *y = n.scale * ((x - n.mean) * n.istd) + n.shift;
                }
            } else {
                let kept = &mut x_hat[r * width..][range];
                for ((&x, y), kept) in x.iter().zip(y).zip(kept) {
                    *kept = (x - n.mean) * n.istd;
                    // y = gamma * x_hat + beta
                    *y = n.scale * *kept + n.shift;
                }
            }
        }
    }
}

#[inline(always)]
fn input_grad_rows_body<const FUSED: bool>(
    shape: NormShape,
    first: usize,
    terms: &[InputGrad],
    dy: &[f32],
    x_hat: &[f32],
    dx: &mut [f32],
    overwrite: bool,
) {
    let width = shape.width();
    let rows =
        dy.chunks_exact(width).zip(x_hat.chunks_exact(width)).zip(dx.chunks_exact_mut(width));
    for ((dy, x_hat), dx) in rows {
        for (c, t) in (first..).zip(terms) {
            let range = shape.range(c);
            let (dy, x_hat, dx) = (&dy[range.clone()], &x_hat[range.clone()], &mut dx[range]);
            // gamma inv_std (dy - mean(dy) - x_hat mean(dy x_hat))
            let term = |dy: f32, x_hat: f32| t.scale * (dy - t.mean_dy - x_hat * t.mean_dy_xhat);
            let values = dy.iter().zip(x_hat).zip(dx);
            if overwrite {
                values.for_each(|((&dy, &x_hat), dx)| *dx = 0.0 + term(dy, x_hat));
            } else {
                values.for_each(|((&dy, &x_hat), dx)| *dx += term(dy, x_hat));
            }
        }
    }
}

/// Eval-mode forward: `y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta`.
pub fn forward_eval(
    shape: NormShape,
    x: &[f32],
    y: &mut [f32],
    gamma: &[f32],
    beta: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
) {
    normalize_running(shape, x, y, Some((gamma, beta)), running_mean, running_var);
}

/// [`forward_eval`], `y = (x - running_mean) / sqrt(running_var + eps)` without `affine`.
fn normalize_running(
    shape: NormShape,
    x: &[f32],
    y: &mut [f32],
    affine: Affine<'_>,
    running_mean: &[f32],
    running_var: &[f32],
) {
    let width = shape.width();
    for (x, y) in x.chunks_exact(width).zip(y.chunks_exact_mut(width)) {
        for c in 0..shape.channels {
            let inv_std = 1.0 / sqrt(running_var[c] + shape.eps);
            let (gamma, beta) = affine.map_or((1.0, 0.0), |(gamma, beta)| (gamma[c], beta[c]));
            let (scale, shift) = (gamma * inv_std, beta - gamma * inv_std * running_mean[c]);
            for i in shape.range(c) {
                y[i] = scale * x[i] + shift;
            }
        }
    }
}

/// Backward of [`forward_eval`] (the statistics are constants): `dx += gamma * dy / sqrt(rv + eps)`,
/// `dgamma += sum(dy (x - rm) / sqrt(rv + eps))`, `dbeta += sum(dy)`.
#[allow(clippy::too_many_arguments)]
pub fn backward_eval(
    shape: NormShape,
    dy: &[f32],
    x: &[f32],
    gamma: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    let (dparams, dx) = (Some((dgamma, dbeta)), dx.map(|dx| (dx, false)));
    backward_running(shape, dy, x, Some(gamma), running_mean, running_var, dparams, dx);
}

/// [`backward_eval`], also with gamma 1 and no dgamma, dbeta for a layer without `affine`, and
/// `dx` overwritten (`0 + ...`, the bits of adding to zeros) when its flag is set.
#[allow(clippy::too_many_arguments)]
fn backward_running(
    shape: NormShape,
    dy: &[f32],
    x: &[f32],
    gamma: Option<&[f32]>,
    running_mean: &[f32],
    running_var: &[f32],
    mut dparams: AffineGrads<'_>,
    mut dx: Option<(&mut [f32], bool)>,
) {
    let width = shape.width();
    for c in 0..shape.channels {
        let inv_std = 1.0 / sqrt(running_var[c] + shape.eps);
        if let Some((dgamma, dbeta)) = dparams.as_mut() {
            let (mut sum_dy, mut sum_dy_xhat) = (0.0f32, 0.0f32);
            for (dy, x) in dy.chunks_exact(width).zip(x.chunks_exact(width)) {
                for i in shape.range(c) {
                    sum_dy += dy[i];
                    sum_dy_xhat += dy[i] * (x[i] - running_mean[c]) * inv_std;
                }
            }
            dgamma[c] += sum_dy_xhat;
            dbeta[c] += sum_dy;
        }
        if let Some((dx, overwrite)) = dx.as_mut() {
            let scale = gamma.map_or(1.0, |gamma| gamma[c]) * inv_std;
            for (dy, dx) in dy.chunks_exact(width).zip(dx.chunks_exact_mut(width)) {
                for i in shape.range(c) {
                    dx[i] = if *overwrite { 0.0 } else { dx[i] } + scale * dy[i];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASELINE: Kernels = Kernels {
        mean_var: dispatch::baseline::mean_var,
        grad_sums: dispatch::baseline::grad_sums,
        normalize_rows: dispatch::baseline::normalize_rows,
        input_grad_rows: dispatch::baseline::input_grad_rows,
    };

    /// The bits of y, inv_std, the running mean and variance (from 0.5 and 2), dgamma and
    /// dbeta (from 0.25 and 0.5) and dx (from 1) after a training forward and backward pass.
    fn run_both_passes(
        kernels: Kernels,
        shape: NormShape,
        x: &[f32],
        dy: &[f32],
        (gamma, beta): (&[f32], &[f32]),
    ) -> [Vec<u32>; 7] {
        let c = shape.channels;
        let (mut y, mut x_hat, mut inv_std) =
            (vec![0.0; x.len()], vec![0.0; x.len()], vec![0.0; c]);
        let (mut mean, mut var) = (vec![0.5; c], vec![2.0; c]);
        let keep = Some((&mut x_hat[..], &mut inv_std[..]));
        let running = Some((&mut mean[..], &mut var[..]));
        normalize_batch_with(kernels, shape, x, &mut y, keep, Some((gamma, beta)), running);
        let (mut dgamma, mut dbeta, mut dx) = (vec![0.25; c], vec![0.5; c], vec![1.0; x.len()]);
        let dparams = Some((&mut dgamma[..], &mut dbeta[..]));
        let dx_given = Some((&mut dx[..], false));
        backward_batch_with(kernels, shape, dy, &x_hat, &inv_std, Some(gamma), dparams, dx_given);
        let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect();
        [bits(&y), bits(&inv_std), bits(&mean), bits(&var), bits(&dgamma), bits(&dbeta), bits(&dx)]
    }

    /// Past the threshold of work the passes run on blocks of channels across the threads:
    /// the same bits on 1, 2 and 3 threads, with a block of 64 channels and one of 6, and
    /// channels of 243 values (8-lane blocks and a remainder).
    #[cfg(feature = "std")]
    #[test]
    fn batch_passes_agree_on_any_thread_count() {
        let shape = NormShape { channels: 70, spatial: 243, eps: 1e-5, momentum: 0.1 };
        let len = 62 * 70 * 243;
        assert_eq!(crate::threads::with_threads(2, || channel_blocks(len)), (2, CHANNEL_BLOCK));
        let values = |seed: u32| -> Vec<f32> {
            let mut rng = crate::Rng::seed(u64::from(seed));
            (0..len).map(|_| rng.uniform(-2.0, 2.0) + seed as f32).collect()
        };
        let (x, dy, gamma, beta) = (values(1), values(2), values(3), values(4));
        let run = |threads| {
            crate::threads::with_threads(threads, || {
                run_both_passes(DISPATCHED, shape, &x, &dy, (&gamma[..70], &beta[..70]))
            })
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
    }

    /// The batch-statistics kernels against f64 formulas (within 1e-5 of the values'
    /// scale), on channels of 13 values (8-lane blocks and a remainder), and their AVX2+FMA and
    /// baseline builds bit for bit.
    #[test]
    fn batch_statistics_match_f64_and_both_builds_agree() {
        let shape = NormShape { channels: 3, spatial: 13, eps: 1e-5, momentum: 0.1 };
        let (rows, width) = (5, 39);
        let values = |n: usize, seed: usize| -> Vec<f32> {
            (0..n).map(|i| ((i * 37 + seed * 11) % 23) as f32 / 7.0 - 1.5 + seed as f32).collect()
        };
        let (x, dy) = (values(rows * width, 1), values(rows * width, 2));
        let (gamma, beta) = (values(3, 3), values(3, 4));
        let got = run_both_passes(DISPATCHED, shape, &x, &dy, (&gamma, &beta));
        assert_eq!(got, run_both_passes(BASELINE, shape, &x, &dy, (&gamma, &beta)));

        let value = |v: &Vec<u32>, i: usize| f64::from(f32::from_bits(v[i]));
        let m = (rows * shape.spatial) as f64;
        for c in 0..3 {
            let at = |r: usize, i: usize| r * width + c * shape.spatial + i;
            let all = || (0..rows).flat_map(|r| (0..shape.spatial).map(move |i| at(r, i)));
            let mean = all().map(|k| f64::from(x[k])).sum::<f64>() / m;
            let var = all().map(|k| (f64::from(x[k]) - mean).powi(2)).sum::<f64>() / m;
            let istd = 1.0 / (var + 1e-5).sqrt();
            let x_hat = |k: usize| (f64::from(x[k]) - mean) * istd;
            let sum_dy = all().map(|k| f64::from(dy[k])).sum::<f64>();
            let sum_dy_xhat = all().map(|k| f64::from(dy[k]) * x_hat(k)).sum::<f64>();
            let (g, b) = (f64::from(gamma[c]), f64::from(beta[c]));
            let close = |got: f64, want: f64| {
                assert!((got - want).abs() <= 1e-5 * want.abs().max(1.0), "{got} against {want}")
            };
            close(value(&got[1], c), istd);
            close(value(&got[2], c), 0.9 * 0.5 + 0.1 * mean);
            close(value(&got[3], c), 0.9 * 2.0 + 0.1 * var * m / (m - 1.0));
            close(value(&got[4], c), 0.25 + sum_dy_xhat);
            close(value(&got[5], c), 0.5 + sum_dy);
            for k in all() {
                close(value(&got[0], k), g * x_hat(k) + b);
                let dx = g * istd / m * (m * f64::from(dy[k]) - sum_dy - x_hat(k) * sum_dy_xhat);
                close(value(&got[6], k), 1.0 + dx);
            }
        }
    }

    /// Overwriting writes the bits that adding writes into zeros, in every mode
    /// (training; eval through the running statistics; eval through each row's own), for
    /// both builds' input-gradient kernel, without reading `dx` (it starts as NaN).
    #[test]
    fn overwriting_the_input_gradient_equals_adding_it_to_zeros() {
        let shape = NormShape { channels: 3, spatial: 13, eps: 1e-5, momentum: 0.1 };
        let (rows, width) = (4, 3 * 13);
        let values = |n: usize, seed: u32| -> Vec<f32> {
            (0..n as u32)
                .map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 250.0 - 2.0)
                .collect()
        };
        let (x, dy) = (values(rows * width, 1), values(rows * width, 2));
        // gamma, beta; running mean and variance (the counter is an i64 buffer of its own).
        let params = [1.5, -0.5, 2.0, 0.25, 0.0, -1.0];
        for (training, track_running_stats) in [(true, true), (false, true), (false, false)] {
            let bn = BatchNorm {
                shape,
                gamma: 0,
                beta: 3,
                running_mean: 0,
                running_var: 3,
                counter: 0,
                affine: true,
                track_running_stats,
            };
            let mut buffers = vec![0.1, -0.2, 0.3, 0.5, 1.5, 2.5];
            let (mut y, mut x_hat) = (vec![0.0; x.len()], vec![0.0; x.len()]);
            let mut inv_std = vec![0.0; rows * 3];
            let kept = (&mut x_hat[..], &mut inv_std[..]);
            bn.forward(training, &params, &mut buffers, &mut [0], &x, &mut y, kept);
            let kept = (&x_hat[..], &inv_std[..]);
            let (mut added, mut overwritten) = (vec![0.0; x.len()], vec![f32::NAN; x.len()]);
            let (mut grads, mut grads_too) = (vec![0.0; 6], vec![0.0; 6]);
            let dx = (Some(&mut added[..]), GradMode::Add);
            bn.backward(training, &params, &buffers, &mut grads, &x, kept, &dy, dx);
            let dx = (Some(&mut overwritten[..]), GradMode::Overwrite);
            bn.backward(training, &params, &buffers, &mut grads_too, &x, kept, &dy, dx);
            let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&overwritten),
                bits(&added),
                "training {training}, running {track_running_stats}"
            );
            assert_eq!(bits(&grads_too), bits(&grads));
            assert!(added.iter().any(|&v| v != 0.0));
        }
        // Both builds' kernel: overwriting NaN gives the bits of adding to zeros.
        for kernels in [BASELINE, DISPATCHED] {
            let terms = [InputGrad { scale: 0.75, mean_dy: 0.125, mean_dy_xhat: -0.5 }; 3];
            let (mut added, mut overwritten) = (vec![0.0; x.len()], vec![f32::NAN; x.len()]);
            (kernels.input_grad_rows)(shape, 0, &terms, &dy, &x, &mut added, false);
            (kernels.input_grad_rows)(shape, 0, &terms, &dy, &x, &mut overwritten, true);
            let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&overwritten), bits(&added));
        }
    }
}
