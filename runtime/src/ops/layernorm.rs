//! Layer normalization (Ba, Kiros and Hinton 2016) with PyTorch's
//! `nn.LayerNorm(features, eps, elementwise_affine=True)` semantics, over rows of `features`
//! values.
//!
//! Each row (one sample) is normalized with its own mean and biased variance,
//! `y = gamma * (x - mean) / sqrt(var + eps) + beta`, with one `gamma` and `beta` per feature
//! (initially 1 and 0, as PyTorch). There are no running statistics: training and evaluation
//! compute the same thing, so one forward and one backward serve both. Sums and the
//! elementwise arithmetic are done in f64, each result rounded once to f32.
//!
//! A row of one feature normalizes to 0 (`y = beta`, zero gradient into `x`), as in PyTorch; it
//! is finite for any `eps > 0`.
use crate::math::{powi, sqrt};

/// The shape a layer-norm layer sees: `features` values per row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerNormShape {
    /// Values per row, normalized together (`normalized_shape`).
    pub features: usize,
    /// Added to the variance (PyTorch's default: 1e-5).
    pub eps: f32,
}

/// A layer-norm layer of a generated network: its shape and where gamma (PyTorch's `weight`)
/// and beta (`bias`) lie in the flat parameter buffer, `features` values each.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerNorm {
    /// Features and eps.
    pub shape: LayerNormShape,
    /// Offset of gamma in the parameters.
    pub gamma: usize,
    /// Offset of beta in the parameters, after gamma.
    pub beta: usize,
}

impl LayerNorm {
    /// [`forward`] on the layer's gamma and beta.
    pub fn forward(
        &self,
        params: &[f32],
        x: &[f32],
        y: &mut [f32],
        (x_hat, inv_std): (&mut [f32], &mut [f32]),
    ) {
        let n = self.shape.features;
        let (gamma, beta) = (&params[self.gamma..][..n], &params[self.beta..][..n]);
        forward(self.shape, x, y, x_hat, inv_std, gamma, beta);
    }

    /// [`backward`] on the layer's gamma: dgamma and dbeta accumulate into `grads`, the input
    /// gradient into `dx`.
    pub fn backward(
        &self,
        params: &[f32],
        grads: &mut [f32],
        (x_hat, inv_std): (&[f32], &[f32]),
        dy: &[f32],
        dx: Option<&mut [f32]>,
    ) {
        let n = self.shape.features;
        let (dgamma, dbeta) = super::two_mut(grads, self.gamma, self.beta, n);
        backward(self.shape, dy, x_hat, inv_std, &params[self.gamma..][..n], dgamma, dbeta, dx);
    }
}

/// Forward over whole rows: writes `y`, the normalized `x_hat = (x - mean) * inv_std` (kept for
/// the backward pass) and each row's `inv_std = 1 / sqrt(var + eps)` (one value per row).
pub fn forward(
    shape: LayerNormShape,
    x: &[f32],
    y: &mut [f32],
    x_hat: &mut [f32],
    inv_std: &mut [f32],
    gamma: &[f32],
    beta: &[f32],
) {
    let n = shape.features;
    debug_assert!(n > 0 && x.len().is_multiple_of(n), "{} values are not rows of {n}", x.len());
    let rows = x.chunks_exact(n).zip(y.chunks_exact_mut(n)).zip(x_hat.chunks_exact_mut(n));
    for (((x, y), x_hat), inv_std) in rows.zip(inv_std.iter_mut()) {
        // Row mean and biased variance, summed in f64.
        let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
        let var = x.iter().map(|&v| powi(f64::from(v) - mean, 2)).sum::<f64>() / n as f64;
        let istd = 1.0 / sqrt(var + f64::from(shape.eps));
        *inv_std = istd as f32;
        for ((((&x, y), x_hat), &gamma), &beta) in
            x.iter().zip(y.iter_mut()).zip(x_hat.iter_mut()).zip(gamma).zip(beta)
        {
            // y = gamma * x_hat + beta, in f64 and rounded once.
            let normalized = (f64::from(x) - mean) * istd;
            *x_hat = normalized as f32;
            *y = (f64::from(gamma) * normalized + f64::from(beta)) as f32;
        }
    }
}

/// Backward of [`forward`] through the row statistics, with `g = dy * gamma` per value:
/// `dx = inv_std * (g - mean(g) - x_hat * mean(g x_hat))` (means over the row), added to `dx`
/// when given; `dgamma += sum over rows of dy x_hat`, `dbeta += sum over rows of dy`.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    shape: LayerNormShape,
    dy: &[f32],
    x_hat: &[f32],
    inv_std: &[f32],
    gamma: &[f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    dx: Option<&mut [f32]>,
) {
    let n = shape.features;
    debug_assert!(n > 0 && dy.len().is_multiple_of(n), "{} values are not rows of {n}", dy.len());
    // Parameter gradients: per feature, summed over the rows in f64.
    for (i, (dgamma, dbeta)) in dgamma.iter_mut().zip(dbeta.iter_mut()).enumerate() {
        let (mut sum_dy, mut sum_dy_xhat) = (0.0f64, 0.0f64);
        for (dy, x_hat) in dy.chunks_exact(n).zip(x_hat.chunks_exact(n)) {
            sum_dy += f64::from(dy[i]);
            sum_dy_xhat += f64::from(dy[i]) * f64::from(x_hat[i]);
        }
        *dgamma += sum_dy_xhat as f32;
        *dbeta += sum_dy as f32;
    }
    let Some(dx) = dx else { return };
    let rows = dy.chunks_exact(n).zip(x_hat.chunks_exact(n)).zip(dx.chunks_exact_mut(n));
    for (((dy, x_hat), dx), &istd) in rows.zip(inv_std) {
        let g = |i: usize| f64::from(dy[i]) * f64::from(gamma[i]);
        let mean_g = (0..n).map(g).sum::<f64>() / n as f64;
        let mean_g_xhat = (0..n).map(|i| g(i) * f64::from(x_hat[i])).sum::<f64>() / n as f64;
        for (i, dx) in dx.iter_mut().enumerate() {
            *dx += (f64::from(istd) * (g(i) - mean_g - f64::from(x_hat[i]) * mean_g_xhat)) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_normalized_and_dx_is_added() {
        let shape = LayerNormShape { features: 4, eps: 0.0 };
        let x = [1.0, 2.0, 3.0, 4.0, -2.0, -2.0, 2.0, 2.0];
        let (gamma, beta) = ([1.0; 4], [0.0; 4]);
        let (mut y, mut x_hat, mut inv_std) = ([0.0; 8], [0.0; 8], [0.0; 2]);
        forward(shape, &x, &mut y, &mut x_hat, &mut inv_std, &gamma, &beta);
        // Row 2: mean 0, biased variance 4.
        assert_eq!(inv_std[1], 0.5);
        assert_eq!(&y[4..], &[-1.0, -1.0, 1.0, 1.0]);
        // A constant upstream gradient is invisible to a normalized row: dx stays as it was.
        let (mut dgamma, mut dbeta, mut dx) = ([0.5; 4], [1.0; 4], [0.25; 8]);
        backward(
            shape,
            &[3.0; 8],
            &x_hat,
            &inv_std,
            &gamma,
            &mut dgamma,
            &mut dbeta,
            Some(&mut dx),
        );
        assert!(dx.iter().all(|&d| (d - 0.25).abs() < 1e-6), "{dx:?}");
        // The parameter gradients add too: dgamma += sum over rows of dy x_hat, dbeta += sum(dy).
        for (i, &d) in dgamma.iter().enumerate() {
            assert!((d - 0.5 - 3.0 * (x_hat[i] + x_hat[4 + i])).abs() < 1e-6, "{dgamma:?}");
        }
        assert_eq!(dbeta, [7.0; 4]);
    }
}
