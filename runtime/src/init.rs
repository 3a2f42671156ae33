//! Parameter initialization: the resolved distributions the code generator emits.
//!
//! The spec's init schemes (`kaiming_uniform`, `xavier_normal`, ...) depend on fans, which the
//! compiler knows; it resolves them into an [`Init`] constant with the helper constructors below,
//! so the runtime only ever samples plain distributions.

use crate::ops::activation::normal_cdf;
use crate::rng::Rng;
use std::fmt;

/// A resolved initial distribution for one tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Init {
    /// All zeros (`torch.nn.init.zeros_`).
    Zeros,
    /// Every element set to the constant (`torch.nn.init.constant_`).
    Constant(f32),
    /// Uniform on `[lo, hi)` (`torch.nn.init.uniform_`).
    Uniform {
        /// Lower bound.
        lo: f32,
        /// Upper bound.
        hi: f32,
    },
    /// Normal with the given mean and standard deviation (`torch.nn.init.normal_`).
    Normal {
        /// Mean.
        mean: f32,
        /// Standard deviation.
        std: f32,
    },
    /// A (semi-)orthogonal matrix times `gain` (`torch.nn.init.orthogonal_`).
    Orthogonal {
        /// Scale applied to the orthogonal matrix.
        gain: f32,
    },
    /// Normal with the given mean and standard deviation conditioned on `[a, b]`
    /// (`torch.nn.init.trunc_normal_`).
    TruncNormal {
        /// Mean before truncation.
        mean: f32,
        /// Standard deviation before truncation.
        std: f32,
        /// Lower bound.
        a: f32,
        /// Upper bound.
        b: f32,
    },
}

/// An [`Init::fill`] call whose buffer does not have `rows * cols` elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapeError {
    /// Length of the buffer passed in.
    pub len: usize,
    /// Rows requested.
    pub rows: usize,
    /// Columns requested.
    pub cols: usize,
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot view a buffer of {} elements as a [{}, {}] matrix ({} elements); \
             pass rows = out features and cols = fan_in so that rows * cols = len",
            self.len,
            self.rows,
            self.cols,
            self.rows.saturating_mul(self.cols)
        )
    }
}

impl std::error::Error for ShapeError {}

/// `1 / sqrt(x)` in f64, or 0 for an empty fan (a zero-element tensor has nothing to scale).
fn inv_sqrt(x: f64) -> f64 {
    if x > 0.0 { 1.0 / x.sqrt() } else { 0.0 }
}

impl Init {
    /// Uniform on `[lo, hi)`.
    pub const fn uniform(lo: f32, hi: f32) -> Init {
        Init::Uniform { lo, hi }
    }

    /// Normal with mean `mean` and standard deviation `std`.
    pub const fn normal(mean: f32, std: f32) -> Init {
        Init::Normal { mean, std }
    }

    /// `kaiming_uniform_` with PyTorch's default ReLU gain: bound `sqrt(6 / fan_in)` (He et al., 2015).
    pub fn kaiming_uniform(fan_in: usize) -> Init {
        Init::symmetric_uniform(6.0f64.sqrt() * inv_sqrt(fan_in as f64))
    }

    /// `kaiming_normal_` with PyTorch's default ReLU gain: std `sqrt(2 / fan_in)`.
    pub fn kaiming_normal(fan_in: usize) -> Init {
        Init::centered_normal(2.0f64.sqrt() * inv_sqrt(fan_in as f64))
    }

    /// `xavier_uniform_` (Glorot and Bengio, 2010): bound `sqrt(6 / (fan_in + fan_out))`.
    pub fn xavier_uniform(fan_in: usize, fan_out: usize) -> Init {
        Init::symmetric_uniform(6.0f64.sqrt() * inv_sqrt((fan_in + fan_out) as f64))
    }

    /// `xavier_normal_`: std `sqrt(2 / (fan_in + fan_out))`.
    pub fn xavier_normal(fan_in: usize, fan_out: usize) -> Init {
        Init::centered_normal(2.0f64.sqrt() * inv_sqrt((fan_in + fan_out) as f64))
    }

    /// LeCun uniform (variance `1 / fan_in`, not a PyTorch function): bound `sqrt(3 / fan_in)`.
    pub fn lecun_uniform(fan_in: usize) -> Init {
        Init::symmetric_uniform(3.0f64.sqrt() * inv_sqrt(fan_in as f64))
    }

    /// LeCun normal (LeCun et al., 1998, "Efficient BackProp"): std `sqrt(1 / fan_in)`.
    ///
    /// Plain normal, not the truncated normal Keras uses for `lecun_normal`.
    pub fn lecun_normal(fan_in: usize) -> Init {
        Init::centered_normal(inv_sqrt(fan_in as f64))
    }

    /// What `nn.Linear` and `nn.Conv2d` do for both weight and bias in `reset_parameters`:
    /// `kaiming_uniform_(a = sqrt(5))` on the weight gives bound `1 / sqrt(fan_in)`, and the
    /// bias uses the same bound explicitly (0 when `fan_in == 0`, as PyTorch does).
    pub fn torch_default_linear(fan_in: usize) -> Init {
        Init::symmetric_uniform(inv_sqrt(fan_in as f64))
    }

    /// `Uniform(-bound, bound)`; the bound is computed in f64 (as PyTorch does in Python) and
    /// rounded to f32 once.
    fn symmetric_uniform(bound: f64) -> Init {
        let bound = bound as f32;
        Init::Uniform { lo: -bound, hi: bound }
    }

    fn centered_normal(std: f64) -> Init {
        Init::Normal { mean: 0.0, std: std as f32 }
    }

    /// Fills `out`, viewed as a row-major `[rows, cols]` matrix (rows = out features,
    /// cols = fan_in = in * kh * kw, PyTorch's weight layout).
    ///
    /// Random draws go in element order; `Uniform` and `TruncNormal` consume one `u64` per
    /// element, `Normal` two, `Orthogonal` two per element of the matrix, `Zeros` and
    /// `Constant` none.
    pub fn fill(
        &self,
        out: &mut [f32],
        rows: usize,
        cols: usize,
        rng: &mut Rng,
    ) -> Result<(), ShapeError> {
        if rows.checked_mul(cols) != Some(out.len()) {
            return Err(ShapeError { len: out.len(), rows, cols });
        }
        match *self {
            Init::Zeros => out.fill(0.0),
            Init::Constant(c) => out.fill(c),
            Init::Uniform { lo, hi } => out.iter_mut().for_each(|x| *x = rng.uniform(lo, hi)),
            Init::Normal { mean, std } => out.iter_mut().for_each(|x| *x = rng.normal(mean, std)),
            Init::Orthogonal { gain } => orthogonal(out, rows, cols, gain, rng),
            Init::TruncNormal { mean, std, a, b } => {
                out.iter_mut().for_each(|x| *x = trunc_normal(mean, std, a, b, rng));
            }
        }
        Ok(())
    }
}

/// One draw of `torch.nn.init.trunc_normal_`: `mean + std z` with `z` standard normal
/// conditioned on `[alpha, beta] = [(a - mean) / std, (b - mean) / std]`, by inverting the normal
/// CDF at a uniform draw in `[Phi(alpha), Phi(beta)]` (torch's method, which uses erfinv), then
/// clamped to `[a, b]` as torch does.
fn trunc_normal(mean: f32, std: f32, a: f32, b: f32, rng: &mut Rng) -> f32 {
    let (mean, std) = (f64::from(mean), f64::from(std));
    let (alpha, beta) = ((f64::from(a) - mean) / std, (f64::from(b) - mean) / std);
    let (lo_p, hi_p) = (normal_cdf(alpha), normal_cdf(beta));
    let p = lo_p + (hi_p - lo_p) * rng.uniform_f64();
    // Solve Phi(z) = p by Newton's method kept inside a shrinking bracket (bisecting when a
    // step would leave it): Phi is increasing, so the bracket always holds the root.
    let (mut lo, mut hi) = (alpha, beta);
    let mut z = 0.0f64.clamp(alpha, beta);
    for _ in 0..100 {
        let f = normal_cdf(z) - p;
        if f > 0.0 {
            hi = z;
        } else {
            lo = z;
        }
        // Phi'(z) = exp(-z^2 / 2) / sqrt(2 pi).
        let density = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let newton = z - f / density;
        let next = if newton > lo && newton < hi { newton } else { 0.5 * (lo + hi) };
        let done = (next - z).abs() <= 1e-12 * (1.0 + z.abs());
        z = next;
        if done {
            break;
        }
    }
    ((mean + std * z) as f32).clamp(a, b)
}

/// `torch.nn.init.orthogonal_`: draw a `[rows, cols]` standard normal matrix, transpose it if
/// `rows < cols`, take its QR decomposition, multiply `q` by `sign(diag(r))`, transpose back,
/// scale by `gain`.
///
/// The sign correction makes `r`'s diagonal positive, which is exactly the QR that
/// Gram–Schmidt produces, so we orthonormalize the columns by modified Gram–Schmidt in f64
/// (run twice, "twice is enough", for orthogonality to rounding error).
fn orthogonal(out: &mut [f32], rows: usize, cols: usize, gain: f32, rng: &mut Rng) {
    if out.is_empty() {
        return;
    }
    let flat: Vec<f64> = (0..rows * cols).map(|_| rng.normal(0.0, 1.0) as f64).collect();
    // `a` is m x n with m >= n, stored column by column so each column is contiguous.
    let (m, n) = if rows < cols { (cols, rows) } else { (rows, cols) };
    let element = |i: usize, j: usize| {
        if rows < cols {
            flat[j * cols + i] // a = flat^T
        } else {
            flat[i * cols + j]
        }
    };
    let mut q: Vec<Vec<f64>> = (0..n).map(|j| (0..m).map(|i| element(i, j)).collect()).collect();
    for j in 0..n {
        let (done, rest) = q.split_at_mut(j);
        let col = &mut rest[0];
        for _pass in 0..2 {
            for prev in done.iter() {
                let dot: f64 = prev.iter().zip(col.iter()).map(|(p, c)| p * c).sum();
                col.iter_mut().zip(prev).for_each(|(c, p)| *c -= dot * p);
            }
        }
        let norm = col.iter().map(|c| c * c).sum::<f64>().sqrt();
        // A zero column has probability zero; PyTorch's sign(0) = 0 would zero it too.
        let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
        col.iter_mut().for_each(|c| *c *= scale);
    }
    let gain = gain as f64;
    for r in 0..rows {
        for c in 0..cols {
            // Undo the transpose: out[r][c] = q[r][c] if rows >= cols, else q[c][r].
            let v = if rows < cols { q[r][c] } else { q[c][r] };
            out[r * cols + c] = (gain * v) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean_var(xs: &[f32]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = xs.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        (mean, var)
    }

    #[test]
    fn helper_formulas() {
        // fan_in = 50, fan_out = 25.
        let close = |a: f32, b: f64| (a as f64 - b).abs() < 1e-7;
        let Init::Uniform { lo, hi } = Init::kaiming_uniform(50) else { panic!() };
        assert!(close(hi, (6.0f64 / 50.0).sqrt()) && lo == -hi);
        let Init::Normal { mean, std } = Init::kaiming_normal(50) else { panic!() };
        assert!(mean == 0.0 && close(std, (2.0f64 / 50.0).sqrt()));
        let Init::Uniform { hi, .. } = Init::xavier_uniform(50, 25) else { panic!() };
        assert!(close(hi, (6.0f64 / 75.0).sqrt()));
        let Init::Normal { std, .. } = Init::xavier_normal(50, 25) else { panic!() };
        assert!(close(std, (2.0f64 / 75.0).sqrt()));
        let Init::Uniform { hi, .. } = Init::lecun_uniform(50) else { panic!() };
        assert!(close(hi, (3.0f64 / 50.0).sqrt()));
        let Init::Normal { std, .. } = Init::lecun_normal(50) else { panic!() };
        assert!(close(std, (1.0f64 / 50.0).sqrt()));
        // nn.Linear(4, 3): bound 1/sqrt(4) = 0.5 exactly.
        assert_eq!(Init::torch_default_linear(4), Init::Uniform { lo: -0.5, hi: 0.5 });
        assert_eq!(Init::torch_default_linear(0), Init::Uniform { lo: -0.0, hi: 0.0 });
    }

    #[test]
    fn uniform_fill_moments() {
        // Uniform(-b, b) has variance b^2/3; n = 100k gives a mean standard error of
        // b/sqrt(3n) ~ 0.0018 b.
        let init = Init::kaiming_uniform(64);
        let Init::Uniform { hi: b, .. } = init else { panic!() };
        let mut out = vec![0.0; 1000 * 100];
        init.fill(&mut out, 1000, 100, &mut Rng::seed(1)).unwrap();
        assert!(out.iter().all(|x| x.abs() <= b));
        let (mean, var) = mean_var(&out);
        let b = b as f64;
        assert!(mean.abs() < 0.01 * b, "mean {mean}");
        assert!((var / (b * b / 3.0) - 1.0).abs() < 0.02, "var {var}");
    }

    #[test]
    fn normal_fill_moments() {
        let init = Init::Normal { mean: 0.5, std: 0.1 };
        let mut out = vec![0.0; 100_000];
        init.fill(&mut out, 100, 1000, &mut Rng::seed(2)).unwrap();
        let (mean, var) = mean_var(&out);
        // Standard errors: 0.1/sqrt(n) ~ 3e-4 for the mean, 0.01*sqrt(2/n) ~ 4.5e-5 for the var.
        assert!((mean - 0.5).abs() < 0.0015, "mean {mean}");
        assert!((var - 0.01).abs() < 0.00025, "var {var}");
    }

    #[test]
    fn trunc_normal_fill_moments() {
        // torch.nn.init.trunc_normal_(mean, std, a, b): with alpha, beta the standardized bounds,
        // Z = Phi(beta) - Phi(alpha), the mean is mean + std (phi(alpha) - phi(beta)) / Z and the
        // variance std^2 (1 + (alpha phi(alpha) - beta phi(beta)) / Z - ((phi(alpha) -
        // phi(beta)) / Z)^2). An asymmetric interval, so both formulas matter.
        let (mu, sigma, a, b) = (0.5f64, 2.0f64, -1.0f64, 6.0f64);
        let init =
            Init::TruncNormal { mean: mu as f32, std: sigma as f32, a: a as f32, b: b as f32 };
        let mut out = vec![0.0; 200_000];
        init.fill(&mut out, 400, 500, &mut Rng::seed(6)).unwrap();
        assert!(out.iter().all(|&x| (a as f32..=b as f32).contains(&x)));
        let phi = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let (alpha, beta) = ((a - mu) / sigma, (b - mu) / sigma);
        let z = normal_cdf(beta) - normal_cdf(alpha);
        let shift = (phi(alpha) - phi(beta)) / z;
        let want_mean = mu + sigma * shift;
        let want_var =
            sigma * sigma * (1.0 + (alpha * phi(alpha) - beta * phi(beta)) / z - shift * shift);
        let (mean, var) = mean_var(&out);
        // Standard errors: sqrt(var / n) ~ 3e-3 for the mean, var sqrt(2 / n) ~ 6e-3 for the var.
        assert!((mean - want_mean).abs() < 0.012, "mean {mean}, want {want_mean}");
        assert!((var / want_var - 1.0).abs() < 0.012, "var {var}, want {want_var}");
        // The quartiles of the truncated distribution: P(X < q) = 1/4 and 3/4, within 0.005.
        for p in [0.25, 0.75] {
            let below = out.iter().filter(|&&x| {
                (normal_cdf((f64::from(x) - mu) / sigma) - normal_cdf(alpha)) / z < p
            });
            let fraction = below.count() as f64 / out.len() as f64;
            assert!((fraction - p).abs() < 0.005, "P(F(X) < {p}) = {fraction}");
        }
        // A narrow interval far from nothing: every value inside, one u64 per value.
        let mut rng = Rng::seed(7);
        let mut narrow = vec![0.0; 1000];
        Init::TruncNormal { mean: 0.0, std: 0.02, a: -0.04, b: 0.04 }
            .fill(&mut narrow, 10, 100, &mut rng)
            .unwrap();
        assert!(narrow.iter().all(|x| x.abs() <= 0.04));
        let mut counted = Rng::seed(7);
        (0..1000).for_each(|_| {
            counted.next_u64();
        });
        assert_eq!(rng.next_u64(), counted.next_u64());
    }

    #[test]
    fn constant_and_zeros() {
        let mut out = vec![7.0; 6];
        Init::Zeros.fill(&mut out, 2, 3, &mut Rng::seed(0)).unwrap();
        assert_eq!(out, [0.0; 6]);
        Init::Constant(0.25).fill(&mut out, 3, 2, &mut Rng::seed(0)).unwrap();
        assert_eq!(out, [0.25; 6]);
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        let mut out = vec![0.0; 5];
        let err = Init::Zeros.fill(&mut out, 2, 3, &mut Rng::seed(0)).unwrap_err();
        assert_eq!(err, ShapeError { len: 5, rows: 2, cols: 3 });
        assert!(err.to_string().contains("[2, 3]"));
        let huge = Init::Zeros.fill(&mut out, usize::MAX, 2, &mut Rng::seed(0));
        assert!(huge.is_err());
    }

    /// Max |G - gain^2 I| where G is W W^T (rows) if `by_rows`, else W^T W (columns).
    fn gram_error(w: &[f32], rows: usize, cols: usize, by_rows: bool, gain: f64) -> f64 {
        let (k, get): (usize, Box<dyn Fn(usize, usize) -> f64>) = if by_rows {
            (rows, Box::new(|v, i| w[v * cols + i] as f64))
        } else {
            (cols, Box::new(|v, i| w[i * cols + v] as f64))
        };
        let len = if by_rows { cols } else { rows };
        let mut worst: f64 = 0.0;
        for a in 0..k {
            for b in 0..k {
                let dot: f64 = (0..len).map(|i| get(a, i) * get(b, i)).sum();
                let want = if a == b { gain * gain } else { 0.0 };
                worst = worst.max((dot - want).abs());
            }
        }
        worst
    }

    #[test]
    fn orthogonal_tall_and_wide() {
        let mut rng = Rng::seed(3);
        // Tall [64, 16]: columns orthonormal, Q^T Q = I.
        let mut tall = vec![0.0; 64 * 16];
        Init::Orthogonal { gain: 1.0 }.fill(&mut tall, 64, 16, &mut rng).unwrap();
        assert!(gram_error(&tall, 64, 16, false, 1.0) < 1e-5);
        // Wide [10, 90] (like a conv weight [10, 10, 3, 3]): rows orthonormal.
        let mut wide = vec![0.0; 10 * 90];
        Init::Orthogonal { gain: 1.0 }.fill(&mut wide, 10, 90, &mut rng).unwrap();
        assert!(gram_error(&wide, 10, 90, true, 1.0) < 1e-5);
        // Square with gain: W W^T = gain^2 I.
        let mut square = vec![0.0; 32 * 32];
        Init::Orthogonal { gain: 2.0 }.fill(&mut square, 32, 32, &mut rng).unwrap();
        assert!(gram_error(&square, 32, 32, true, 2.0) < 4e-5);
        assert!(gram_error(&square, 32, 32, false, 2.0) < 4e-5);
    }

    #[test]
    fn orthogonal_has_positive_r_diagonal() {
        // After torch's sign correction, q = a r^-1 with diag(r) > 0, so column j of q has a
        // positive dot product with column j of the drawn normal matrix a.
        let (rows, cols) = (6, 4);
        let mut rng = Rng::seed(4);
        let a: Vec<f32> = (0..rows * cols).map(|_| rng.normal(0.0, 1.0)).collect();
        let mut q = vec![0.0; rows * cols];
        Init::Orthogonal { gain: 1.0 }.fill(&mut q, rows, cols, &mut Rng::seed(4)).unwrap();
        for j in 0..cols {
            let dot: f32 = (0..rows).map(|i| a[i * cols + j] * q[i * cols + j]).sum();
            assert!(dot > 0.0, "column {j}");
        }
    }

    #[test]
    fn same_seed_same_init() {
        let fill = |init: Init| {
            let mut out = vec![0.0; 12];
            init.fill(&mut out, 3, 4, &mut Rng::seed(5)).unwrap();
            out
        };
        for init in
            [Init::kaiming_uniform(4), Init::xavier_normal(4, 3), Init::Orthogonal { gain: 1.0 }]
        {
            assert_eq!(fill(init), fill(init));
        }
    }
}
