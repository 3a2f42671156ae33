//! Elementwise layers over flat slices of whole rows: activations, dropout, Gaussian noise and
//! the residual sum. Forward passes overwrite `y`; backward passes add into `dx`, the contract
//! every backward kernel keeps, so an input read by several layers receives the sum of their
//! gradients. One loop over all values, which the compiler vectorizes; the activations'
//! loops run in pieces on [`threads`](crate::threads::threads) threads once a pass is long
//! enough to gain (each value's result is the same whichever thread computes it).

use crate::math::exp;
use crate::ops::GradMode;
use crate::rng::Rng;
use crate::threads::{VALUES_PER_PIECE, for_values, in_pieces};

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
    /// `x * Phi(x) = x (1 + erf(x / sqrt 2)) / 2`, `Phi` the standard normal distribution
    /// function (nn.GELU with `approximate='none'`; Hendrycks and Gimpel 2016).
    ///
    /// Computed in f64 from a Chebyshev series for erfc with relative error below 1e-11, so
    /// the f32 result is the f64 value rounded once: relative error at most 5.95e-8 (rounding
    /// to nearest allows 2^-24 = 5.96e-8) against an independent f64 evaluation on a grid of
    /// step 1e-4 over [-10, 10] (`tests/layers_gradcheck.rs`), the far negative tail included,
    /// where `gelu(x)` is tiny (-7.6e-23 at -10) and `1 + erf(x / sqrt 2)` cancels to 0 in f32
    /// and even in f64 (there PyTorch returns 0). The derivative is computed the same way.
    Gelu,
    /// `x * sigmoid(x) = x / (1 + exp(-x))` (nn.SiLU; swish with beta 1), computed in f64 and
    /// rounded once.
    Silu,
}

impl Activation {
    /// `y = f(x)`.
    #[inline]
    pub fn forward(self, x: &[f32], y: &mut [f32]) {
        let groups = for_values(y.len());
        if groups == 1 {
            return self.forward_piece(x, y);
        }
        in_pieces([x], [y], VALUES_PER_PIECE, groups, &|_, [x], [y]| self.forward_piece(x, y));
    }

    #[inline(always)]
    fn forward_piece(self, x: &[f32], y: &mut [f32]) {
        let pairs = x.iter().zip(y);
        match self {
            // PyTorch: relu(x) = max(x, 0), NaN stays NaN.
            Activation::Relu => pairs.for_each(|(&x, y)| *y = if x < 0.0 { 0.0 } else { x }),
            Activation::LeakyRelu { slope } => {
                pairs.for_each(|(&x, y)| *y = if x > 0.0 { x } else { slope * x })
            }
            Activation::Tanh => pairs.for_each(|(&x, y)| *y = crate::ops::vmath::tanh(x)),
            Activation::Sigmoid => pairs.for_each(|(&x, y)| *y = crate::ops::vmath::sigmoid(x)),
            Activation::Identity => pairs.for_each(|(&x, y)| *y = x),
            Activation::Gelu => pairs.for_each(|(&x, y)| {
                let x = f64::from(x);
                *y = (x * normal_cdf(x)) as f32
            }),
            // x / (1 + exp(-x)) as PyTorch, in f64 and rounded once.
            Activation::Silu => pairs.for_each(|(&x, y)| {
                let x = f64::from(x);
                *y = (x / (1.0 + exp(-x))) as f32
            }),
        }
    }

    /// `dx += dy * f'(x)`, from the forward pass's input `x` and output `y`; with
    /// [`GradMode::Overwrite`] `dx = 0 + dy * f'(x)`, the same bits as adding to a zeroed `dx`
    /// (`0 + -0` is `+0`), without reading it.
    #[inline]
    pub fn backward(self, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32], mode: GradMode) {
        match mode {
            GradMode::Add => self.backward_into::<true>(x, y, dy, dx),
            GradMode::Overwrite => self.backward_into::<false>(x, y, dy, dx),
        }
    }

    /// `dx (+)= dy * f'(x)`: added to `dx` when `ADD`, else to 0.
    #[inline(always)]
    fn backward_into<const ADD: bool>(self, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32]) {
        let groups = for_values(dx.len());
        if groups == 1 {
            return self.backward_piece::<ADD>(x, y, dy, dx);
        }
        in_pieces([x, y, dy], [dx], VALUES_PER_PIECE, groups, &|_, [x, y, dy], [dx]| {
            self.backward_piece::<ADD>(x, y, dy, dx)
        });
    }

    #[inline(always)]
    fn backward_piece<const ADD: bool>(self, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32]) {
        let with_x = x.iter().zip(dy).zip(dx.iter_mut());
        match self {
            // threshold_backward: dy where x > 0.
            Activation::Relu => with_x.for_each(|((&x, &dy), dx)| {
                *dx = base::<ADD>(*dx) + if x > 0.0 { dy } else { 0.0 }
            }),
            Activation::LeakyRelu { slope } => with_x.for_each(|((&x, &dy), dx)| {
                *dx = base::<ADD>(*dx) + if x > 0.0 { dy } else { slope * dy }
            }),
            // d tanh(x)/dx = 1 - tanh(x)^2
            Activation::Tanh => y
                .iter()
                .zip(dy)
                .zip(dx)
                .for_each(|((&y, &dy), dx)| *dx = base::<ADD>(*dx) + dy * (1.0 - y * y)),
            // d sigmoid(x)/dx = s (1 - s)
            Activation::Sigmoid => y
                .iter()
                .zip(dy)
                .zip(dx)
                .for_each(|((&y, &dy), dx)| *dx = base::<ADD>(*dx) + dy * y * (1.0 - y)),
            Activation::Identity => {
                dy.iter().zip(dx).for_each(|(&dy, dx)| *dx = base::<ADD>(*dx) + dy)
            }
            // d gelu(x)/dx = Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
            Activation::Gelu => with_x.for_each(|((&x, &dy), dx)| {
                let x = f64::from(x);
                let pdf = exp(-0.5 * x * x) * FRAC_1_SQRT_2PI;
                *dx = base::<ADD>(*dx) + (f64::from(dy) * (normal_cdf(x) + x * pdf)) as f32
            }),
            // d silu(x)/dx = s (1 + x (1 - s)), s = sigmoid(x)
            Activation::Silu => with_x.for_each(|((&x, &dy), dx)| {
                let x = f64::from(x);
                let s = 1.0 / (1.0 + exp(-x));
                *dx = base::<ADD>(*dx) + (f64::from(dy) * s * (1.0 + x * (1.0 - s))) as f32
            }),
        }
    }
}

/// What a backward pass adds its term to: the value in `dx` (`ADD`) or 0.
#[inline(always)]
fn base<const ADD: bool>(dx: f32) -> f32 {
    if ADD { dx } else { 0.0 }
}

/// `1 / sqrt(2 pi)`.
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// Chebyshev coefficients of `g(t) = ln(erfc(z)) + z^2 - ln(t)`, `t = 1 / (1 + z/2)`, in
/// `u = 2t - 1` on `t` in `(0, 1]`: 18 terms of a 48-node interpolation with 50 digits, the
/// first one dropped is -6.9e-12. Generated by `runtime/tests/reference/erfc_fit.py`.
const ERFC_CHEBYSHEV: [f64; 18] = [
    -1.3026537197817094,
    0.6419697923564902,
    0.019476473204185836,
    -0.009561514786808632,
    -0.0009465953444820369,
    0.00036683949785276145,
    4.252332480690777e-05,
    -2.0278578112534242e-05,
    -1.6242900046470256e-06,
    1.3036558355805232e-06,
    1.5626441722066142e-08,
    -8.523809591492654e-08,
    6.5290544390988515e-09,
    5.059343495551469e-09,
    -9.91364156493033e-10,
    -2.273651222931836e-10,
    9.646791102015527e-11,
    2.3940380830391146e-12,
];

/// `erfc(z)` for `z >= 0` (NaN for NaN), as `t exp(g(t) - z^2)` with `g` summed by Clenshaw's
/// recurrence. The form keeps the relative error small in the tail: below 7.6e-12 for z in
/// `[0, 26]` evaluated in f64 against mpmath (measured by `erfc_fit.py`).
fn erfc_nonnegative(z: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let u = 2.0 * t - 1.0;
    let (mut b1, mut b2) = (0.0, 0.0);
    for &c in ERFC_CHEBYSHEV[1..].iter().rev() {
        (b1, b2) = (2.0 * u * b1 - b2 + c, b1);
    }
    let g = 0.5 * ERFC_CHEBYSHEV[0] + u * b1 - b2;
    t * exp(g - z * z)
}

/// `Phi(x) = erfc(-x / sqrt 2) / 2`, the standard normal distribution function, without
/// cancellation on either side: `erfc(|x| / sqrt 2) / 2` for negative `x`, one minus it
/// otherwise. 0 at -inf, 1 at +inf, NaN for NaN.
pub(crate) fn normal_cdf(x: f64) -> f64 {
    let tail = 0.5 * erfc_nonnegative(x.abs() * core::f64::consts::FRAC_1_SQRT_2);
    if x < 0.0 { tail } else { 1.0 - tail }
}

/// Dropout forward: `y = x * mask` while training (the mask of the last draw), `y = x *
/// eval_scale` in eval (`mask = None`; 1 for inverted dropout, 1-p for the original rule).
#[inline]
pub fn dropout_forward(x: &[f32], mask: Option<&[f32]>, eval_scale: f32, y: &mut [f32]) {
    match mask {
        Some(mask) => x.iter().zip(mask).zip(y).for_each(|((&x, &m), y)| *y = x * m),
        None => x.iter().zip(y).for_each(|(&x, y)| *y = x * eval_scale),
    }
}

/// Dropout backward: `dx += dy * mask` (`dy * eval_scale` in eval).
#[inline]
pub fn dropout_backward(dy: &[f32], mask: Option<&[f32]>, eval_scale: f32, dx: &mut [f32]) {
    match mask {
        Some(mask) => dy.iter().zip(mask).zip(dx).for_each(|((&dy, &m), dx)| *dx += dy * m),
        None => dy.iter().zip(dx).for_each(|(&dy, dx)| *dx += dy * eval_scale),
    }
}

/// Dropout at prediction: with `rng`, a fresh draw per value (MC dropout: 0 with probability
/// `p`, `x * keep` otherwise); without, eval mode (`y = x * eval_scale`).
#[inline]
pub fn dropout_predict(
    x: &[f32],
    (p, keep, eval_scale): (f32, f32, f32),
    y: &mut [f32],
    rng: &mut Option<&mut Rng>,
) {
    match rng.as_deref_mut() {
        Some(rng) => {
            for (&x, y) in x.iter().zip(y) {
                *y = if rng.bernoulli(p) { 0.0 } else { x * keep };
            }
        }
        None => dropout_forward(x, None, eval_scale, y),
    }
}

/// Gaussian noise forward: `y = x + noise` while training, `y = x` in eval (`noise = None`).
#[inline]
pub fn noise_forward(x: &[f32], noise: Option<&[f32]>, y: &mut [f32]) {
    match noise {
        Some(noise) => x.iter().zip(noise).zip(y).for_each(|((&x, &n), y)| *y = x + n),
        None => y.copy_from_slice(x),
    }
}

/// Gaussian noise at prediction: with `rng`, fresh `N(0, sigma^2)` draws; without, `y = x`.
#[inline]
pub fn noise_predict(x: &[f32], sigma: f32, y: &mut [f32], rng: &mut Option<&mut Rng>) {
    match rng.as_deref_mut() {
        Some(rng) => {
            for (&x, y) in x.iter().zip(y) {
                *y = x + rng.normal(0.0, sigma);
            }
        }
        None => y.copy_from_slice(x),
    }
}

/// `dx += dy`: the backward pass of the identity, of noise and of the residual skip path.
#[inline]
pub fn add_into(dy: &[f32], dx: &mut [f32]) {
    dy.iter().zip(dx).for_each(|(&dy, dx)| *dx += dy);
}

/// Residual forward over rows of `width` values: `y = x + m F(x)`, `m` the row's stochastic
/// depth mask (0 or 1/(1-p), torchvision.ops.stochastic_depth, mode "row"), 1 without.
#[inline]
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
#[inline]
pub fn residual_backward(dy: &[f32], mask: Option<&[f32]>, width: usize, df: &mut [f32]) {
    for (n, (df, dy)) in df.chunks_exact_mut(width).zip(dy.chunks_exact(width)).enumerate() {
        let m = mask.map_or(1.0, |m| m[n]);
        for (df, &dy) in df.iter_mut().zip(dy) {
            *df += m * dy;
        }
    }
}

/// The residual sum at prediction over rows of `width` values: with `rng`, each row's branch
/// dropped with probability `p` and kept times `keep` otherwise (MC inference); without,
/// `y = x + F(x)`.
#[inline]
pub fn residual_predict(
    x: &[f32],
    f: &[f32],
    (width, p, keep): (usize, f32, f32),
    y: &mut [f32],
    rng: &mut Option<&mut Rng>,
) {
    let Some(rng) = rng.as_deref_mut() else { return residual_forward(x, f, None, width, y) };
    let rows = x.chunks_exact(width).zip(f.chunks_exact(width)).zip(y.chunks_exact_mut(width));
    for ((x, f), y) in rows {
        let m = if rng.bernoulli(p) { 0.0 } else { keep };
        for ((y, &x), &f) in y.iter_mut().zip(x).zip(f) {
            *y = x + m * f;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every activation, LeakyReLU with slope 0.1.
    const EVERY: [Activation; 7] = [
        Activation::Relu,
        Activation::LeakyRelu { slope: 0.1 },
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Identity,
        Activation::Gelu,
        Activation::Silu,
    ];

    /// Each derivative against a central difference in f64 of the forward formula.
    #[test]
    fn backward_is_the_derivative_of_forward() {
        let x: Vec<f32> = (0..41).map(|i| (i as f32 - 20.0) / 7.0 + 0.013).collect();
        for act in EVERY {
            let mut y = vec![0.0; x.len()];
            act.forward(&x, &mut y);
            let mut dx = vec![0.5; x.len()];
            act.backward(&x, &y, &vec![2.0; x.len()], &mut dx, GradMode::Add);
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

    /// Overwriting writes the bits that adding writes into zeros, for every
    /// activation, without reading `dx` (it starts as NaN); `dy` has zeros of both signs, whose
    /// sum with +0 is +0.
    #[test]
    fn overwriting_the_input_gradient_equals_adding_it_to_zeros() {
        let x: Vec<f32> = (0..41).map(|i| (i as f32 - 20.0) / 7.0).collect();
        let dy: Vec<f32> = (0..41).map(|i| [1.5, -0.0, 0.0, -2.25][i % 4]).collect();
        for act in EVERY {
            let mut y = vec![0.0; x.len()];
            act.forward(&x, &mut y);
            let (mut added, mut overwritten) = (vec![0.0; x.len()], vec![f32::NAN; x.len()]);
            act.backward(&x, &y, &dy, &mut added, GradMode::Add);
            act.backward(&x, &y, &dy, &mut overwritten, GradMode::Overwrite);
            let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&overwritten), bits(&added), "{act:?}");
            assert!(added.iter().all(|v| v.is_sign_positive() || *v < 0.0), "{act:?}: a -0");
        }
    }

    /// A pass long enough to run in pieces gives, on 1 or 2 threads, the bits of one loop over
    /// all values (which the value-by-value definition fixes), forward and both backward modes.
    #[test]
    fn long_passes_in_pieces_match_one_loop() {
        let len = 2 * VALUES_PER_PIECE + 37;
        let x: Vec<f32> = (0..len).map(|i| ((i * 7919) % 2001) as f32 / 250.0 - 4.0).collect();
        let dy: Vec<f32> = (0..len).map(|i| ((i * 104_729) % 1001) as f32 / 500.0 - 1.0).collect();
        let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        for act in EVERY {
            let mut want_y = vec![0.0; len];
            act.forward_piece(&x, &mut want_y);
            let mut want_dx = vec![0.5; len];
            act.backward_piece::<true>(&x, &want_y, &dy, &mut want_dx);
            for threads in [1, 2] {
                crate::threads::with_threads(threads, || {
                    let mut y = vec![f32::NAN; len];
                    act.forward(&x, &mut y);
                    assert_eq!(bits(&y), bits(&want_y), "{act:?} forward, {threads} threads");
                    let mut dx = vec![0.5; len];
                    act.backward(&x, &y, &dy, &mut dx, GradMode::Add);
                    assert_eq!(bits(&dx), bits(&want_dx), "{act:?} backward, {threads} threads");
                    let (mut added, mut overwritten) = (vec![0.0; len], vec![f32::NAN; len]);
                    act.backward(&x, &y, &dy, &mut added, GradMode::Add);
                    act.backward(&x, &y, &dy, &mut overwritten, GradMode::Overwrite);
                    assert_eq!(bits(&overwritten), bits(&added), "{act:?}, {threads} threads");
                });
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
