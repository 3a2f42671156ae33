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

use super::two_mut;
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
    /// accumulate into `grads`, the input gradient into `dx`.
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
        dx: Option<&mut [f32]>,
    ) {
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

    /// [`backward_train`] on the layer's tensors: dgamma and dbeta accumulate into `grads`.
    pub fn backward_train(
        &self,
        params: &[f32],
        grads: &mut [f32],
        x_hat: &[f32],
        inv_std: &[f32],
        dy: &[f32],
        dx: Option<&mut [f32]>,
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
        mut dx: Option<&mut [f32]>,
    ) {
        let (width, c) = (self.shape.width(), self.shape.channels);
        let gamma = self.gamma_beta(params).map(|(gamma, _)| gamma);
        let rows =
            dy.chunks_exact(width).zip(x_hat.chunks_exact(width)).zip(inv_std.chunks_exact(c));
        for (i, ((dy, x_hat), inv_std)) in rows.enumerate() {
            let dx = dx.as_deref_mut().map(|dx| &mut dx[i * width..][..width]);
            let dparams = self.gamma_beta_grads(grads);
            backward_batch(self.shape, dy, x_hat, inv_std, gamma, dparams, dx);
        }
    }

    /// [`backward_eval`] on the layer's tensors: dgamma and dbeta accumulate into `grads`.
    pub fn backward_eval(
        &self,
        params: &[f32],
        buffers: &[f32],
        grads: &mut [f32],
        x: &[f32],
        dy: &[f32],
        dx: Option<&mut [f32]>,
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

/// `y = gamma * x_hat + beta` (`y = x_hat` without `affine`), `x_hat = (x - mean) * inv_std`
/// with the mean and biased variance of each channel over the rows of `x`; `keep` receives
/// `x_hat` and `inv_std` for the backward pass, and `running` (mean, var) the update
/// `running = (1 - momentum) running + momentum batch` with the unbiased variance.
fn normalize_batch(
    shape: NormShape,
    x: &[f32],
    y: &mut [f32],
    mut keep: Option<(&mut [f32], &mut [f32])>,
    affine: Affine<'_>,
    mut running: Option<(&mut [f32], &mut [f32])>,
) {
    let width = shape.width();
    let m = shape.count(x.len());
    for c in 0..shape.channels {
        // Batch mean and biased variance, summed in f64.
        let rows = || x.chunks_exact(width).map(|row| &row[shape.range(c)]);
        let sum: f64 = rows().flatten().map(|&v| f64::from(v)).sum();
        let mean = sum / m as f64;
        let squares: f64 = rows().flatten().map(|&v| powi(f64::from(v) - mean, 2)).sum();
        let var = squares / m as f64;
        let istd = 1.0 / sqrt(var + f64::from(shape.eps));
        let (mean32, istd32) = (mean as f32, istd as f32);
        let (scale, shift) = affine.map_or((1.0, 0.0), |(gamma, beta)| (gamma[c], beta[c]));
        for (i, (x, y)) in x.chunks_exact(width).zip(y.chunks_exact_mut(width)).enumerate() {
            for j in shape.range(c) {
                let x_hat = (x[j] - mean32) * istd32;
                if let Some((kept, _)) = keep.as_mut() {
                    kept[i * width + j] = x_hat;
                }
                // y = gamma * x_hat + beta
                y[j] = scale * x_hat + shift;
            }
        }
        if let Some((_, inv_std)) = keep.as_mut() {
            inv_std[c] = istd32;
        }
        if let Some((running_mean, running_var)) = running.as_mut() {
            // running = (1 - momentum) running + momentum batch, the unbiased variance.
            let unbiased = if m > 1 { var * m as f64 / (m - 1) as f64 } else { var };
            let mom = f64::from(shape.momentum);
            running_mean[c] = ((1.0 - mom) * f64::from(running_mean[c]) + mom * mean) as f32;
            running_var[c] = ((1.0 - mom) * f64::from(running_var[c]) + mom * unbiased) as f32;
        }
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
    backward_batch(shape, dy, x_hat, inv_std, Some(gamma), Some((dgamma, dbeta)), dx);
}

/// [`backward_train`] with gamma 1 and no dgamma, dbeta for a layer without `affine`.
fn backward_batch(
    shape: NormShape,
    dy: &[f32],
    x_hat: &[f32],
    inv_std: &[f32],
    gamma: Option<&[f32]>,
    mut dparams: AffineGrads<'_>,
    mut dx: Option<&mut [f32]>,
) {
    let width = shape.width();
    let m = shape.count(dy.len());
    for c in 0..shape.channels {
        let (mut sum_dy, mut sum_dy_xhat) = (0.0f64, 0.0f64);
        for (dy, x_hat) in dy.chunks_exact(width).zip(x_hat.chunks_exact(width)) {
            for i in shape.range(c) {
                sum_dy += f64::from(dy[i]);
                sum_dy_xhat += f64::from(dy[i]) * f64::from(x_hat[i]);
            }
        }
        if let Some((dgamma, dbeta)) = dparams.as_mut() {
            dgamma[c] += sum_dy_xhat as f32;
            dbeta[c] += sum_dy as f32;
        }
        let Some(dx) = dx.as_deref_mut() else { continue };
        let scale = gamma.map_or(1.0, |gamma| gamma[c]) * inv_std[c];
        let (mean_dy, mean_dy_xhat) = ((sum_dy / m as f64) as f32, (sum_dy_xhat / m as f64) as f32);
        for ((dy, x_hat), dx) in
            dy.chunks_exact(width).zip(x_hat.chunks_exact(width)).zip(dx.chunks_exact_mut(width))
        {
            for i in shape.range(c) {
                // gamma inv_std (dy - mean(dy) - x_hat mean(dy x_hat))
                dx[i] += scale * (dy[i] - mean_dy - x_hat[i] * mean_dy_xhat);
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
    let dparams = Some((dgamma, dbeta));
    backward_running(shape, dy, x, Some(gamma), running_mean, running_var, dparams, dx);
}

/// [`backward_eval`] with gamma 1 and no dgamma, dbeta for a layer without `affine`.
#[allow(clippy::too_many_arguments)]
fn backward_running(
    shape: NormShape,
    dy: &[f32],
    x: &[f32],
    gamma: Option<&[f32]>,
    running_mean: &[f32],
    running_var: &[f32],
    mut dparams: AffineGrads<'_>,
    mut dx: Option<&mut [f32]>,
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
        if let Some(dx) = dx.as_deref_mut() {
            let scale = gamma.map_or(1.0, |gamma| gamma[c]) * inv_std;
            for (dy, dx) in dy.chunks_exact(width).zip(dx.chunks_exact_mut(width)) {
                for i in shape.range(c) {
                    dx[i] += scale * dy[i];
                }
            }
        }
    }
}
