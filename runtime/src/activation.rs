//! Elementwise layers over flat slices of whole rows: activations, dropout, Gaussian noise and
//! the residual sum. Forward passes overwrite `y`; backward passes add into `dx`, the contract
//! every backward kernel keeps, so an input read by several layers receives the sum of their
//! gradients. One loop over all values, which the compiler vectorizes.

use crate::rng::Rng;

/// An activation function, as the spec's activation layers name it.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Activation {
    /// `max(x, 0)` (nn.ReLU; NaN stays NaN).
    Relu,
    /// `x > 0 ? x : slope * x` (nn.LeakyReLU).
    LeakyRelu {
        /// The slope for negative inputs.
        slope: f32,
    },
    /// `tanh(x)` (nn.Tanh).
    Tanh,
    /// `1 / (1 + exp(-x))` (nn.Sigmoid).
    Sigmoid,
    /// `x`.
    Identity,
}

impl Activation {
    /// `y = f(x)`.
    pub fn forward(self, x: &[f32], y: &mut [f32]) {
        let pairs = x.iter().zip(y);
        match self {
            // PyTorch: relu(x) = max(x, 0), NaN stays NaN.
            Activation::Relu => pairs.for_each(|(&x, y)| *y = if x < 0.0 { 0.0 } else { x }),
            Activation::LeakyRelu { slope } => {
                pairs.for_each(|(&x, y)| *y = if x > 0.0 { x } else { slope * x })
            }
            Activation::Tanh => pairs.for_each(|(&x, y)| *y = x.tanh()),
            Activation::Sigmoid => pairs.for_each(|(&x, y)| *y = 1.0 / (1.0 + (-x).exp())),
            Activation::Identity => pairs.for_each(|(&x, y)| *y = x),
        }
    }

    /// `dx += dy * f'(x)`, from the forward pass's input `x` and output `y`.
    pub fn backward(self, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32]) {
        let with_x = x.iter().zip(dy).zip(dx.iter_mut());
        match self {
            // threshold_backward: dy where x > 0.
            Activation::Relu => {
                with_x.for_each(|((&x, &dy), dx)| *dx += if x > 0.0 { dy } else { 0.0 })
            }
            Activation::LeakyRelu { slope } => {
                with_x.for_each(|((&x, &dy), dx)| *dx += if x > 0.0 { dy } else { slope * dy })
            }
            // d tanh(x)/dx = 1 - tanh(x)^2
            Activation::Tanh => {
                y.iter().zip(dy).zip(dx).for_each(|((&y, &dy), dx)| *dx += dy * (1.0 - y * y))
            }
            // d sigmoid(x)/dx = s (1 - s)
            Activation::Sigmoid => {
                y.iter().zip(dy).zip(dx).for_each(|((&y, &dy), dx)| *dx += dy * y * (1.0 - y))
            }
            Activation::Identity => dy.iter().zip(dx).for_each(|(&dy, dx)| *dx += dy),
        }
    }
}

/// Dropout forward: `y = x * mask` while training (the mask of the last draw), `y = x *
/// eval_scale` in eval (`mask = None`; 1 for inverted dropout, 1-p for the original rule).
pub fn dropout_forward(x: &[f32], mask: Option<&[f32]>, eval_scale: f32, y: &mut [f32]) {
    match mask {
        Some(mask) => x.iter().zip(mask).zip(y).for_each(|((&x, &m), y)| *y = x * m),
        None => x.iter().zip(y).for_each(|(&x, y)| *y = x * eval_scale),
    }
}

/// Dropout backward: `dx += dy * mask` (`dy * eval_scale` in eval).
pub fn dropout_backward(dy: &[f32], mask: Option<&[f32]>, eval_scale: f32, dx: &mut [f32]) {
    match mask {
        Some(mask) => dy.iter().zip(mask).zip(dx).for_each(|((&dy, &m), dx)| *dx += dy * m),
        None => dy.iter().zip(dx).for_each(|(&dy, dx)| *dx += dy * eval_scale),
    }
}

/// Dropout on one sample with a fresh draw per value from `rng` (MC dropout): 0 with
/// probability `p`, `x * keep` otherwise.
pub fn dropout_sample(x: &[f32], p: f32, keep: f32, y: &mut [f32], rng: &mut Rng) {
    for (&x, y) in x.iter().zip(y) {
        *y = if rng.bernoulli(p) { 0.0 } else { x * keep };
    }
}

/// Gaussian noise forward: `y = x + noise` while training, `y = x` in eval (`noise = None`).
pub fn noise_forward(x: &[f32], noise: Option<&[f32]>, y: &mut [f32]) {
    match noise {
        Some(noise) => x.iter().zip(noise).zip(y).for_each(|((&x, &n), y)| *y = x + n),
        None => y.copy_from_slice(x),
    }
}

/// Gaussian noise on one sample with fresh `N(0, sigma^2)` draws from `rng`.
pub fn noise_sample(x: &[f32], sigma: f32, y: &mut [f32], rng: &mut Rng) {
    for (&x, y) in x.iter().zip(y) {
        *y = x + rng.normal(0.0, sigma);
    }
}

/// `dx += dy`: the backward pass of the identity, of noise and of the residual skip path.
pub fn add_into(dy: &[f32], dx: &mut [f32]) {
    dy.iter().zip(dx).for_each(|(&dy, dx)| *dx += dy);
}

/// Residual forward over rows of `width` values: `y = x + m F(x)`, `m` the row's stochastic
/// depth mask (0 or 1/(1-p), torchvision.ops.stochastic_depth, mode "row"), 1 without.
pub fn residual_forward(x: &[f32], f: &[f32], mask: Option<&[f32]>, width: usize, y: &mut [f32]) {
    let rows = x.chunks_exact(width).zip(f.chunks_exact(width)).zip(y.chunks_exact_mut(width));
    for (n, ((x, f), y)) in rows.enumerate() {
        let m = mask.map_or(1.0, |m| m[n]);
        for ((y, &x), &f) in y.iter_mut().zip(x).zip(f) {
            *y = x + m * f;
        }
    }
}

/// Residual backward into the branch: `df += m dy` per row of `width` values.
pub fn residual_backward(dy: &[f32], mask: Option<&[f32]>, width: usize, df: &mut [f32]) {
    for (n, (df, dy)) in df.chunks_exact_mut(width).zip(dy.chunks_exact(width)).enumerate() {
        let m = mask.map_or(1.0, |m| m[n]);
        for (df, &dy) in df.iter_mut().zip(dy) {
            *df += m * dy;
        }
    }
}

/// The residual sum on one sample with its branch dropped with probability `p` (MC
/// inference): `y = x + m F(x)`, `m` 0 or `keep`.
pub fn residual_sample(x: &[f32], f: &[f32], p: f32, keep: f32, y: &mut [f32], rng: &mut Rng) {
    let m = if rng.bernoulli(p) { 0.0 } else { keep };
    for ((y, &x), &f) in y.iter_mut().zip(x).zip(f) {
        *y = x + m * f;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each derivative against a central difference in f64 of the forward formula.
    #[test]
    fn backward_is_the_derivative_of_forward() {
        let x: Vec<f32> = (0..41).map(|i| (i as f32 - 20.0) / 7.0 + 0.013).collect();
        for act in [
            Activation::Relu,
            Activation::LeakyRelu { slope: 0.1 },
            Activation::Tanh,
            Activation::Sigmoid,
            Activation::Identity,
        ] {
            let mut y = vec![0.0; x.len()];
            act.forward(&x, &mut y);
            let mut dx = vec![0.5; x.len()];
            act.backward(&x, &y, &vec![2.0; x.len()], &mut dx);
            for (i, &xi) in x.iter().enumerate() {
                let f = |v: f32| {
                    let mut out = [0.0];
                    act.forward(&[v], &mut out);
                    out[0] as f64
                };
                let h = 1e-3;
                let numeric = (f(xi + h) - f(xi - h)) / (2.0 * h as f64);
                let analytic = (dx[i] as f64 - 0.5) / 2.0;
                assert!(
                    (analytic - numeric).abs() < 2e-3,
                    "{act:?} at {xi}: {analytic} vs {numeric}"
                );
            }
        }
    }

    #[test]
    fn masked_layers_add_into_dx() {
        let (x, mask) = ([1.0, -2.0, 3.0, 4.0], [0.0, 2.0, 2.0, 0.0]);
        let mut y = [0.0; 4];
        dropout_forward(&x, Some(&mask), 1.0, &mut y);
        assert_eq!(y, [0.0, -4.0, 6.0, 0.0]);
        dropout_forward(&x, None, 0.5, &mut y);
        assert_eq!(y, [0.5, -1.0, 1.5, 2.0]);
        let mut dx = [1.0; 4];
        dropout_backward(&[1.0; 4], Some(&mask), 1.0, &mut dx);
        assert_eq!(dx, [1.0, 3.0, 3.0, 1.0]);
        residual_forward(&x, &[1.0; 4], Some(&[0.0, 3.0]), 2, &mut y);
        assert_eq!(y, [1.0, -2.0, 6.0, 7.0]);
        residual_backward(&[1.0; 4], Some(&[0.0, 3.0]), 2, &mut dx);
        assert_eq!(dx, [1.0, 3.0, 6.0, 4.0]);
    }
}
