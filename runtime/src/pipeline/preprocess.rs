//! Input preprocessing fitted on the training split, saved with the model and applied by
//! `predict`.
//!
//! A [`Preprocessor`] is fitted once on the training rows ([`Preprocessor::fit`]), after which
//! its statistics are frozen: the very same numbers are applied to every later sample, whether a
//! training mini-batch, a held-out row or an input to `predict`. Its statistics are named
//! tensors ([`Preprocessor::tensors`], [`Preprocessor::from_tensors`]) so a generated network
//! stores them in its safetensors checkpoint beside the parameters.
//!
//! Samples are flat `f32` slices: a vector input of `d` features, or an image in channels-first
//! `(C, H, W)` layout (`C * H * W` contiguous values, channel after channel, row after row).
//! Statistics are accumulated in f64 and stored in f32.
//!
//! | kind | statistic(s) | applied as |
//! |---|---|---|
//! | `mean_subtract per_pixel` (AlexNet's mean image) | `preprocess.mean`, the input's shape | `x - mean` |
//! | `mean_subtract per_channel` (VGG) | `preprocess.mean`, `[C]` | `x - mean[c]` |
//! | `standardize per_channel` (ResNet) | `preprocess.mean`, `preprocess.std`, `[C]` | `(x - mean[c]) / std[c]` |
//! | `standardize per_feature` (sklearn `StandardScaler`) | `preprocess.mean`, `preprocess.std`, the input's shape | `(x - mean) / std` |
//! | `whiten pca` (ZCA) | `preprocess.mean`, the input's shape; `preprocess.whiten`, `[D, D]` | `W (x - mean)` |
//!
//! Conventions:
//!
//! - Standard deviations are the *biased* (population) ones over the training set, numpy's
//!   `x.std()` (`ddof = 0`), the usual way torchvision's `Normalize` constants are computed;
//!   per channel they run over every sample and every pixel of the channel
//!   (`x.std(axis=(0, 2, 3))`). The stored divisor is `sqrt(var + eps)`, with the spec's `eps`
//!   (`eps = 0` gives exactly numpy's std). A statistic whose variance is exactly zero (a
//!   constant feature or channel, such as the always-blank corner pixels of the digits) gets the
//!   divisor 1, as sklearn's `StandardScaler` does, so it is centered but never amplified.
//! - Whitening is ZCA: `W = U diag(1 / sqrt(lambda + eps)) U^T` where `U diag(lambda) U^T` is
//!   the biased covariance (divided by `n`) of the training rows, found by the cyclic Jacobi
//!   method in f64. ZCA rather than PCA whitening (`diag(..) U^T` without rotating back),
//!   because it keeps the sample in its own layout: a whitened image is still an image, so the
//!   convolutions after it still see neighbouring pixels, and the output has the same `D` values.
//!   With a small `eps` the whitened training rows have covariance close to the identity.
//!   Eigenvalues at or below `D * f64::EPSILON * lambda_max` are treated as exactly zero (the
//!   null space of a rank-deficient covariance); with `eps = 0` those directions are dropped
//!   (factor 0) instead of being divided by zero. Fitting costs `O(n D^2 + D^3)` time and
//!   `O(D^2)` memory: fine for small images (8x8, 28x28), slow beyond a few thousand values.
//!
//! Applying never allocates: [`Preprocessor::apply`] and [`Preprocessor::apply_rows`] work in
//! place (whitening borrows a scratch row kept behind a mutex, so concurrent `predict` calls on a
//! whitening network take turns; [`Preprocessor::apply_into`] writes to a caller buffer without
//! any lock).

use crate::checkpoint::{TensorData, TensorRef};
pub use crate::pipeline::stats::{PreprocessKind, Stats};
use std::fmt;
use std::sync::{Mutex, PoisonError};

impl PreprocessKind {
    fn per_channel(self) -> bool {
        matches!(
            self,
            PreprocessKind::MeanSubtractPerChannel | PreprocessKind::StandardizePerChannel
        )
    }

    fn standardizes(self) -> bool {
        matches!(
            self,
            PreprocessKind::StandardizePerChannel | PreprocessKind::StandardizePerFeature
        )
    }
}

/// Why a [`Preprocessor`] could not be fitted or restored.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PreprocessError {
    /// The input shape is not `[D]` or `[C, H, W]` with positive sizes, or a per-channel method
    /// was asked of a vector input.
    Shape {
        /// The method.
        kind: PreprocessKind,
        /// The shape given.
        shape: Vec<usize>,
        /// What is wrong.
        reason: String,
    },
    /// `eps` is negative or not finite.
    Eps {
        /// The method.
        kind: PreprocessKind,
        /// The value given.
        eps: f64,
    },
    /// The training rows are empty or not a whole number of samples.
    Rows {
        /// Values given.
        len: usize,
        /// Values per sample.
        width: usize,
    },
    /// A training value is NaN or infinite.
    NonFinite {
        /// The row (sample).
        row: usize,
        /// The position within the row.
        index: usize,
    },
    /// A statistics tensor passed to [`Preprocessor::from_tensors`] is missing or bad.
    Tensor {
        /// The tensor name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// `fit_preprocess` on a network whose spec has no `preprocess` statement.
    NotInSpec {
        /// The network's name.
        network: &'static str,
    },
}

impl fmt::Display for PreprocessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PreprocessError::Shape { kind, shape, reason } => {
                write!(f, "preprocess {kind}: input shape {shape:?}: {reason}")
            }
            PreprocessError::Eps { kind, eps } => write!(
                f,
                "preprocess {kind}: eps {eps} must be finite and >= 0 (it is added to \
                 variances or eigenvalues); use e.g. 1e-5"
            ),
            PreprocessError::Rows { len, width } => write!(
                f,
                "preprocess: {len} training values are not a positive whole number of samples \
                 of {width} values; pass the training rows row-major, n x {width}"
            ),
            PreprocessError::NonFinite { row, index } => write!(
                f,
                "preprocess: training row {row}, value {index} is NaN or infinite; clean the \
                 data before fitting"
            ),
            PreprocessError::Tensor { name, reason } => {
                write!(f, "preprocess statistics `{name}`: {reason}")
            }
            PreprocessError::NotInSpec { network } => write!(
                f,
                "{network}::fit_preprocess: the spec has no `preprocess` statement; add one, \
                 e.g. `preprocess standardize per_feature;`"
            ),
        }
    }
}

impl std::error::Error for PreprocessError {}

/// Tensor names in checkpoints.
const MEAN: &str = "preprocess.mean";
const STD: &str = "preprocess.std";
const WHITEN: &str = "preprocess.whiten";

/// A fitted preprocessing step; see the [module documentation](self) for the formulas.
#[derive(Debug)]
pub struct Preprocessor {
    kind: PreprocessKind,
    eps: f64,
    shape: Vec<usize>,
    /// Values per channel (`H * W`; `D` for a vector input).
    plane: usize,
    mean: Vec<f32>,
    mean_shape: Vec<usize>,
    /// Standardize only: the divisors.
    std: Vec<f32>,
    std_shape: Vec<usize>,
    /// Whiten only: `D x D`, row-major.
    whiten: Vec<f32>,
    whiten_shape: Vec<usize>,
    /// Whiten only: one row of scratch for in-place application.
    scratch: Mutex<Vec<f32>>,
}

impl Clone for Preprocessor {
    fn clone(&self) -> Self {
        Preprocessor {
            kind: self.kind,
            eps: self.eps,
            shape: self.shape.clone(),
            plane: self.plane,
            mean: self.mean.clone(),
            mean_shape: self.mean_shape.clone(),
            std: self.std.clone(),
            std_shape: self.std_shape.clone(),
            whiten: self.whiten.clone(),
            whiten_shape: self.whiten_shape.clone(),
            scratch: Mutex::new(vec![0.0; self.whiten_scratch_len()]),
        }
    }
}

impl PartialEq for Preprocessor {
    /// Same method, eps, shape and statistics (bit for bit as f32 `==`).
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.eps == other.eps
            && self.shape == other.shape
            && self.mean == other.mean
            && self.std == other.std
            && self.whiten == other.whiten
    }
}

/// `(channels, values per channel, total values)` of a valid input shape.
fn dims(kind: PreprocessKind, shape: &[usize]) -> Result<(usize, usize, usize), PreprocessError> {
    let bad = |reason: &str| PreprocessError::Shape {
        kind,
        shape: shape.to_vec(),
        reason: reason.to_string(),
    };
    if shape.contains(&0) {
        return Err(bad("every size must be positive"));
    }
    match *shape {
        [d] if kind.per_channel() => Err(bad(&format!(
            "per_channel needs an image input `input image(C, H, W)`; for a vector of {d} \
             features use `per_feature` (standardize) or `per_pixel` (mean_subtract)"
        ))),
        [d] => Ok((1, d, d)),
        [c, h, w] => {
            let plane = h.checked_mul(w).ok_or_else(|| bad("too many values"))?;
            let total = plane.checked_mul(c).ok_or_else(|| bad("too many values"))?;
            Ok((c, plane, total))
        }
        _ => Err(bad("must be [D] (a vector) or [C, H, W] (an image)")),
    }
}

fn check_eps(kind: PreprocessKind, eps: f64) -> Result<(), PreprocessError> {
    if eps.is_finite() && eps >= 0.0 { Ok(()) } else { Err(PreprocessError::Eps { kind, eps }) }
}

/// The divisor for a biased variance: `sqrt(var + eps)`, or 1 for a zero variance.
fn divisor(var: f64, eps: f64) -> f32 {
    if var == 0.0 { 1.0 } else { (var + eps).sqrt() as f32 }
}

impl Preprocessor {
    /// The names and shapes of the statistics `kind` keeps for inputs of `shape` (`[D]` or
    /// `[C, H, W]`), in the order [`Preprocessor::tensors`] returns them: what a checkpoint
    /// loader allocates before reading them back.
    pub fn tensor_shapes(
        kind: PreprocessKind,
        shape: &[usize],
    ) -> Result<Vec<(&'static str, Vec<usize>)>, PreprocessError> {
        let (c, _, d) = dims(kind, shape)?;
        let stat_shape = if kind.per_channel() { vec![c] } else { shape.to_vec() };
        let mut out = vec![(MEAN, stat_shape.clone())];
        if kind.standardizes() {
            out.push((STD, stat_shape));
        }
        if kind == PreprocessKind::WhitenPca {
            out.push((WHITEN, vec![d, d]));
        }
        Ok(out)
    }

    /// The identity preprocessor of this kind (mean 0, std 1, whitening matrix I): what a
    /// network holds before it is fitted or loaded.
    pub fn new(
        kind: PreprocessKind,
        eps: f64,
        shape: &[usize],
    ) -> Result<Preprocessor, PreprocessError> {
        check_eps(kind, eps)?;
        let (_, plane, d) = dims(kind, shape)?;
        let mut p = Preprocessor {
            kind,
            eps,
            shape: shape.to_vec(),
            plane,
            mean: Vec::new(),
            mean_shape: Vec::new(),
            std: Vec::new(),
            std_shape: Vec::new(),
            whiten: Vec::new(),
            whiten_shape: Vec::new(),
            scratch: Mutex::new(Vec::new()),
        };
        for (name, s) in Self::tensor_shapes(kind, shape)? {
            let len: usize = s.iter().product();
            match name {
                MEAN => (p.mean, p.mean_shape) = (vec![0.0; len], s),
                STD => (p.std, p.std_shape) = (vec![1.0; len], s),
                _ => {
                    let mut eye = vec![0.0; len];
                    eye.iter_mut().step_by(d + 1).for_each(|v| *v = 1.0);
                    (p.whiten, p.whiten_shape) = (eye, s);
                }
            }
        }
        p.scratch = Mutex::new(vec![0.0; p.whiten_scratch_len()]);
        Ok(p)
    }

    /// Fits `kind` on the training `rows` (row-major, `n x D` with `D` the product of `shape`,
    /// `shape` being `[D]` or `[C, H, W]`). `eps` is added to variances (standardize) or
    /// eigenvalues (whiten) and must be finite and `>= 0`.
    pub fn fit(
        kind: PreprocessKind,
        eps: f64,
        shape: &[usize],
        rows: &[f32],
    ) -> Result<Preprocessor, PreprocessError> {
        let mut p = Preprocessor::new(kind, eps, shape)?;
        let (d, plane) = (p.len(), p.plane);
        if rows.is_empty() || !rows.len().is_multiple_of(d) {
            return Err(PreprocessError::Rows { len: rows.len(), width: d });
        }
        if let Some(i) = rows.iter().position(|v| !v.is_finite()) {
            return Err(PreprocessError::NonFinite { row: i / d, index: i % d });
        }
        let n = rows.len() / d;
        // Statistic index of value `i` within a row.
        let stat = |i: usize| if kind.per_channel() { i / plane } else { i };
        let stats = p.mean.len();
        let count = (n * d / stats) as f64;

        let mut sum = vec![0.0f64; stats];
        for row in rows.chunks_exact(d) {
            for (i, &v) in row.iter().enumerate() {
                sum[stat(i)] += f64::from(v);
            }
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
        for (m, &v) in p.mean.iter_mut().zip(&mean) {
            *m = v as f32;
        }

        if kind.standardizes() {
            let mut sq = vec![0.0f64; stats];
            for row in rows.chunks_exact(d) {
                for (i, &v) in row.iter().enumerate() {
                    let dev = f64::from(v) - mean[stat(i)];
                    sq[stat(i)] += dev * dev;
                }
            }
            for (s, q) in p.std.iter_mut().zip(&sq) {
                *s = divisor(q / count, eps);
            }
        }

        if kind == PreprocessKind::WhitenPca {
            let w = zca_matrix(rows, d, &mean, eps);
            for (o, v) in p.whiten.iter_mut().zip(&w) {
                *o = *v as f32;
            }
        }
        Ok(p)
    }

    /// Restores a preprocessor from its statistics, as [`Preprocessor::tensors`] returned them
    /// (say, read back from a checkpoint). Every tensor [`Preprocessor::tensor_shapes`] names
    /// must be present once with that shape and finite values (standard deviations positive);
    /// tensors with other names are ignored, so a whole checkpoint's list can be passed.
    pub fn from_tensors(
        kind: PreprocessKind,
        eps: f64,
        shape: &[usize],
        tensors: &[(&str, &[usize], &[f32])],
    ) -> Result<Preprocessor, PreprocessError> {
        let mut p = Preprocessor::new(kind, eps, shape)?;
        for (name, want) in Self::tensor_shapes(kind, shape)? {
            let bad = |reason: String| PreprocessError::Tensor { name: name.to_string(), reason };
            let mut found = tensors.iter().filter(|(n, _, _)| *n == name);
            let (_, got_shape, data) = found.next().ok_or_else(|| {
                bad(format!(
                    "missing; `{kind}` on input {shape:?} keeps {:?}",
                    Self::tensor_shapes(kind, shape)
                        .unwrap_or_default()
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                ))
            })?;
            if found.next().is_some() {
                return Err(bad("given more than once".to_string()));
            }
            if *got_shape != want.as_slice() {
                return Err(bad(format!(
                    "shape {got_shape:?} but `{kind}` on input {shape:?} needs {want:?}"
                )));
            }
            let len: usize = want.iter().product();
            if data.len() != len {
                return Err(bad(format!("{} values for shape {want:?} ({len})", data.len())));
            }
            if let Some(i) = data.iter().position(|v| !v.is_finite()) {
                return Err(bad(format!("value {i} is NaN or infinite")));
            }
            let target = match name {
                MEAN => &mut p.mean,
                STD => {
                    if let Some(i) = data.iter().position(|&v| v <= 0.0) {
                        return Err(bad(format!("value {i} is {}, not positive", data[i])));
                    }
                    &mut p.std
                }
                _ => &mut p.whiten,
            };
            target.copy_from_slice(data);
        }
        Ok(p)
    }

    /// The statistics as named tensors `(name, shape, values)`, row-major, for a checkpoint.
    pub fn tensors(&self) -> Vec<(&'static str, &[usize], &[f32])> {
        let mut out = vec![(MEAN, self.mean_shape.as_slice(), self.mean.as_slice())];
        if self.kind.standardizes() {
            out.push((STD, &self.std_shape, &self.std));
        }
        if self.kind == PreprocessKind::WhitenPca {
            out.push((WHITEN, &self.whiten_shape, &self.whiten));
        }
        out
    }

    /// [`Preprocessor::tensors`] as [`TensorRef`]s, ready for [`crate::checkpoint::save`].
    pub fn tensor_refs(&self) -> Vec<TensorRef<'_>> {
        self.tensors()
            .into_iter()
            .map(|(name, shape, data)| TensorRef { name, shape, data: TensorData::F32(data) })
            .collect()
    }

    /// The method.
    pub fn kind(&self) -> PreprocessKind {
        self.kind
    }

    /// The epsilon it was built with.
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// The input shape, `[D]` or `[C, H, W]`.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Values per sample, `D`.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Always false: a sample has at least one value.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The fitted means (per value, or per channel for the per-channel methods).
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// The fitted divisors `sqrt(var + eps)` (1 where the variance is 0); empty unless
    /// standardizing.
    pub fn std(&self) -> &[f32] {
        &self.std
    }

    /// The `D x D` ZCA matrix, row-major; empty unless whitening.
    pub fn whitening_matrix(&self) -> &[f32] {
        &self.whiten
    }

    fn whiten_scratch_len(&self) -> usize {
        if self.kind == PreprocessKind::WhitenPca { self.len() } else { 0 }
    }

    /// Preprocesses one sample in place. Never allocates.
    ///
    /// # Panics
    ///
    /// If `sample.len()` is not `D` (generated code always passes whole samples).
    pub fn apply(&self, sample: &mut [f32]) {
        let d = self.len();
        assert_eq!(sample.len(), d, "Preprocessor::apply: a sample has {d} values");
        match self.kind {
            PreprocessKind::WhitenPca => {
                let mut scratch = self.scratch.lock().unwrap_or_else(PoisonError::into_inner);
                scratch.copy_from_slice(sample);
                self.whiten_into(&scratch, sample);
            }
            _ => self.elementwise(sample),
        }
    }

    /// Preprocesses `n` samples laid end to end in place (`rows.len() = n * D`). Never
    /// allocates.
    ///
    /// # Panics
    ///
    /// If `rows.len()` is not a multiple of `D`.
    pub fn apply_rows(&self, rows: &mut [f32]) {
        let d = self.len();
        assert!(
            rows.len().is_multiple_of(d),
            "Preprocessor::apply_rows: {} values are not whole samples of {d}",
            rows.len()
        );
        for row in rows.chunks_exact_mut(d) {
            self.apply(row);
        }
    }

    /// Preprocesses `input` into `out` (both `D` values), without locking or allocating.
    ///
    /// # Panics
    ///
    /// If either slice does not have `D` values.
    pub fn apply_into(&self, input: &[f32], out: &mut [f32]) {
        let d = self.len();
        assert!(
            input.len() == d && out.len() == d,
            "Preprocessor::apply_into: input and output must have {d} values, not {} and {}",
            input.len(),
            out.len()
        );
        if self.kind == PreprocessKind::WhitenPca {
            self.whiten_into(input, out);
        } else {
            out.copy_from_slice(input);
            self.elementwise(out);
        }
    }

    /// The statistics, borrowed, which apply them.
    pub fn stats(&self) -> Stats<'_> {
        Stats {
            kind: self.kind,
            plane: self.plane,
            mean: &self.mean,
            std: &self.std,
            whiten: &self.whiten,
        }
    }

    /// Every method but whitening, in place.
    fn elementwise(&self, x: &mut [f32]) {
        self.stats().elementwise(x);
    }

    /// `out = W (x - mean)`.
    fn whiten_into(&self, x: &[f32], out: &mut [f32]) {
        self.stats().whiten_into(x, out);
    }
}

/// The ZCA matrix `U diag(f(lambda)) U^T` of the biased covariance of `rows` about `mean`.
fn zca_matrix(rows: &[f32], d: usize, mean: &[f64], eps: f64) -> Vec<f64> {
    let n = rows.len() / d;
    let mut cov = vec![0.0f64; d * d];
    let mut centered = vec![0.0f64; d];
    for row in rows.chunks_exact(d) {
        for ((c, &v), m) in centered.iter_mut().zip(row).zip(mean) {
            *c = f64::from(v) - m;
        }
        for a in 0..d {
            let ca = centered[a];
            if ca == 0.0 {
                continue;
            }
            for (cv, &cb) in cov[a * d + a..(a + 1) * d].iter_mut().zip(&centered[a..]) {
                *cv += ca * cb;
            }
        }
    }
    for a in 0..d {
        for b in a..d {
            let v = cov[a * d + b] / n as f64;
            cov[a * d + b] = v;
            cov[b * d + a] = v;
        }
    }
    let (lambda, u) = jacobi_eigen(&mut cov, d);
    let lambda_max = lambda.iter().copied().fold(0.0f64, f64::max);
    let null = lambda_max * d as f64 * f64::EPSILON;
    let factor: Vec<f64> = lambda
        .iter()
        .map(|&l| {
            let l = if l <= null { 0.0 } else { l };
            if l + eps > 0.0 { 1.0 / (l + eps).sqrt() } else { 0.0 }
        })
        .collect();
    let mut w = vec![0.0f64; d * d];
    for a in 0..d {
        for b in a..d {
            let mut acc = 0.0;
            for k in 0..d {
                acc += u[a * d + k] * factor[k] * u[b * d + k];
            }
            w[a * d + b] = acc;
            w[b * d + a] = acc;
        }
    }
    w
}

/// Eigen-decomposition of the symmetric `d x d` row-major matrix `a` by the cyclic Jacobi
/// method (Numerical Recipes, 11.1): returns the eigenvalues and `V` (row-major, column `k` the
/// eigenvector of eigenvalue `k`), with `a = V diag(lambda) V^T`. `a` is overwritten.
fn jacobi_eigen(a: &mut [f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0f64; d * d];
    v.iter_mut().step_by(d + 1).for_each(|x| *x = 1.0);
    let total: f64 = a.iter().map(|x| x * x).sum();
    for _sweep in 0..100 {
        let off: f64 = (0..d)
            .flat_map(|p| (p + 1..d).map(move |q| (p, q)))
            .map(|(p, q)| a[p * d + q] * a[p * d + q])
            .sum();
        if off <= total * 1e-30 || off == 0.0 {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq == 0.0 {
                    continue;
                }
                let (app, aqq) = (a[p * d + p], a[q * d + q]);
                let theta = (aqq - app) / (2.0 * apq);
                let t = if theta.is_finite() {
                    theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt())
                } else {
                    0.0
                };
                if t == 0.0 {
                    // apq is negligible next to the diagonal gap.
                    a[p * d + q] = 0.0;
                    a[q * d + p] = 0.0;
                    continue;
                }
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A <- A P (columns p and q), then A <- P^T A (rows p and q), V <- V P.
                for k in 0..d {
                    let (akp, akq) = (a[k * d + p], a[k * d + q]);
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p * d + k], a[q * d + k]);
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                a[p * d + q] = 0.0;
                a[q * d + p] = 0.0;
                for k in 0..d {
                    let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let lambda = (0..d).map(|k| a[k * d + k]).collect();
    (lambda, v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn jacobi_diagonalizes() {
        let mut rng = Rng::seed(3);
        let d = 7;
        let b: Vec<f64> = (0..d * d).map(|_| f64::from(rng.normal(0.0, 1.0))).collect();
        // A = B B^T is symmetric positive semi-definite.
        let mut a = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                a[i * d + j] = (0..d).map(|k| b[i * d + k] * b[j * d + k]).sum();
            }
        }
        let orig = a.clone();
        let (lambda, v) = jacobi_eigen(&mut a, d);
        for i in 0..d {
            for j in 0..d {
                let rebuilt: f64 = (0..d).map(|k| v[i * d + k] * lambda[k] * v[j * d + k]).sum();
                assert!((rebuilt - orig[i * d + j]).abs() < 1e-10, "{i} {j}");
                let gram: f64 = (0..d).map(|k| v[k * d + i] * v[k * d + j]).sum();
                assert!((gram - f64::from(u8::from(i == j))).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn mean_subtract_per_pixel_uses_the_training_mean_image() {
        // Two training rows of a 1x1x3 image; the mean image is [2, 3, 4].
        let rows = [1.0, 2.0, 3.0, 3.0, 4.0, 5.0];
        let p = Preprocessor::fit(PreprocessKind::MeanSubtractPerPixel, 1e-5, &[1, 1, 3], &rows)
            .unwrap();
        assert_eq!(p.mean(), [2.0, 3.0, 4.0]);
        let mut held_out = [10.0, 0.0, 4.0];
        p.apply(&mut held_out);
        assert_eq!(held_out, [8.0, -3.0, 0.0]);
        assert_eq!(p.tensors(), [(MEAN, &[1usize, 1, 3][..], &[2.0f32, 3.0, 4.0][..])]);
    }

    #[test]
    fn mean_subtract_per_channel_averages_over_samples_and_pixels() {
        // 2 channels of 1x2; channel 0 sees 1, 3, 5, 7 (mean 4); channel 1 sees 0, 0, 2, 2 (1).
        let rows = [1.0, 3.0, 0.0, 0.0, 5.0, 7.0, 2.0, 2.0];
        let p = Preprocessor::fit(PreprocessKind::MeanSubtractPerChannel, 0.0, &[2, 1, 2], &rows)
            .unwrap();
        assert_eq!(p.mean(), [4.0, 1.0]);
        let mut x = [4.0, 5.0, 1.0, -1.0];
        p.apply(&mut x);
        assert_eq!(x, [0.0, 1.0, 0.0, -2.0]);
        assert_eq!(p.tensors()[0].1, [2]);
    }

    #[test]
    fn standardize_per_channel_uses_the_biased_std_plus_eps() {
        // Channel 0 sees 1, 3, 5, 7: mean 4, biased variance (9 + 1 + 1 + 9) / 4 = 5.
        // Channel 1 is constant 2: divisor 1 (centered, not amplified).
        let rows = [1.0, 3.0, 2.0, 2.0, 5.0, 7.0, 2.0, 2.0];
        let eps = 1e-3;
        let p = Preprocessor::fit(PreprocessKind::StandardizePerChannel, eps, &[2, 1, 2], &rows)
            .unwrap();
        let s0 = (5.0f64 + eps).sqrt() as f32;
        assert_eq!(p.mean(), [4.0, 2.0]);
        assert_eq!(p.std(), [s0, 1.0]);
        // A held-out sample gets exactly the training statistics.
        let mut x = [6.0, -1.0, 3.0, 2.0];
        p.apply(&mut x);
        assert_eq!(x, [(6.0 - 4.0) / s0, (-1.0 - 4.0) / s0, 1.0, 0.0]);
        // eps = 0 is numpy's x.std(axis=(0, 2, 3)).
        let p = Preprocessor::fit(PreprocessKind::StandardizePerChannel, 0.0, &[2, 1, 2], &rows)
            .unwrap();
        assert_eq!(p.std(), [5f32.sqrt(), 1.0]);
    }

    #[test]
    fn standardize_per_feature_matches_standard_scaler() {
        // Feature 0: 0, 2, 4 (mean 2, biased var 8/3); feature 1 constant 7 (scale 1).
        let rows = [0.0, 7.0, 2.0, 7.0, 4.0, 7.0];
        let p = Preprocessor::fit(PreprocessKind::StandardizePerFeature, 0.0, &[2], &rows).unwrap();
        let s = (8.0f64 / 3.0).sqrt() as f32;
        assert_eq!(p.mean(), [2.0, 7.0]);
        assert_eq!(p.std(), [s, 1.0]);
        let mut x = [5.0, 9.0];
        p.apply(&mut x);
        assert_eq!(x, [3.0 / s, 2.0]);
        // The training data comes out with mean 0 and biased std 1 per feature.
        let mut train = rows;
        p.apply_rows(&mut train);
        let col: Vec<f64> = train.iter().step_by(2).map(|&v| f64::from(v)).collect();
        let mean = col.iter().sum::<f64>() / 3.0;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 3.0;
        assert!(mean.abs() < 1e-7 && (var - 1.0).abs() < 1e-6, "{mean} {var}");
    }

    /// Correlated 5-feature data: x = A z + b with z standard normal.
    fn correlated(n: usize, seed: u64) -> Vec<f32> {
        let a = [
            [2.0, 0.0, 0.0, 0.0, 0.0],
            [1.0, 0.5, 0.0, 0.0, 0.0],
            [0.3, -1.0, 1.5, 0.0, 0.0],
            [0.0, 0.2, 0.7, 0.1, 0.0],
            [-1.0, 0.0, 0.4, 0.3, 3.0],
        ];
        let b = [1.0, -2.0, 0.5, 3.0, 0.0];
        let mut rng = Rng::seed(seed);
        let mut rows = Vec::with_capacity(n * 5);
        for _ in 0..n {
            let z: Vec<f32> = (0..5).map(|_| rng.normal(0.0, 1.0)).collect();
            for (row, bias) in a.iter().zip(b) {
                rows.push(row.iter().zip(&z).map(|(a, z)| a * z).sum::<f32>() + bias);
            }
        }
        rows
    }

    fn covariance(rows: &[f32], d: usize) -> Vec<f64> {
        let n = rows.len() / d;
        let mean: Vec<f64> = (0..d)
            .map(|j| rows.iter().skip(j).step_by(d).map(|&v| f64::from(v)).sum::<f64>() / n as f64)
            .collect();
        let mut cov = vec![0.0; d * d];
        for row in rows.chunks_exact(d) {
            for a in 0..d {
                for b in 0..d {
                    cov[a * d + b] +=
                        (f64::from(row[a]) - mean[a]) * (f64::from(row[b]) - mean[b]) / n as f64;
                }
            }
        }
        cov
    }

    #[test]
    fn whitened_training_data_has_identity_covariance() {
        let d = 5;
        let rows = correlated(4000, 11);
        let p = Preprocessor::fit(PreprocessKind::WhitenPca, 1e-9, &[d], &rows).unwrap();
        let mut white = rows.clone();
        p.apply_rows(&mut white);
        let cov = covariance(&white, d);
        // Tolerance 1e-4 per entry: the data spans variances 0.01..10 and W is stored in f32.
        for a in 0..d {
            for b in 0..d {
                let want = if a == b { 1.0 } else { 0.0 };
                assert!((cov[a * d + b] - want).abs() < 1e-4, "cov[{a}][{b}] = {}", cov[a * d + b]);
            }
        }
        // ZCA: W is symmetric (no rotation into the eigenbasis).
        let w = p.whitening_matrix();
        for a in 0..d {
            for b in 0..d {
                assert_eq!(w[a * d + b], w[b * d + a]);
            }
        }
    }

    #[test]
    fn whitening_a_held_out_row_uses_the_fitted_mean_and_matrix() {
        let d = 5;
        let rows = correlated(500, 12);
        let p = Preprocessor::fit(PreprocessKind::WhitenPca, 1e-5, &[d], &rows).unwrap();
        let held_out = [0.5f32, -1.0, 2.0, 3.5, -0.25];
        let (m, w) = (p.mean(), p.whitening_matrix());
        let want: Vec<f32> = (0..d)
            .map(|a| {
                (0..d).map(|b| f64::from(w[a * d + b]) * f64::from(held_out[b] - m[b])).sum::<f64>()
                    as f32
            })
            .collect();
        let mut x = held_out;
        p.apply(&mut x);
        assert_eq!(x.to_vec(), want);
        let mut y = [0.0f32; 5];
        p.apply_into(&held_out, &mut y);
        assert_eq!(x, y);
        // And the mean is the training mean.
        for (j, &mj) in m.iter().enumerate() {
            let sum: f64 = rows.iter().skip(j).step_by(d).map(|&v| f64::from(v)).sum();
            assert_eq!(mj, (sum / 500.0) as f32);
        }
    }

    #[test]
    fn whitening_a_rank_deficient_covariance() {
        // Feature 2 is constant and feature 1 = 2 * feature 0: rank 1.
        let mut rng = Rng::seed(5);
        let rows: Vec<f32> = (0..200)
            .flat_map(|_| {
                let z = rng.normal(0.0, 1.0);
                [z, 2.0 * z, 4.0]
            })
            .collect();
        for eps in [0.0, 1e-5] {
            let p = Preprocessor::fit(PreprocessKind::WhitenPca, eps, &[3], &rows).unwrap();
            assert!(p.whitening_matrix().iter().all(|v| v.is_finite()));
            let mut white = rows.clone();
            p.apply_rows(&mut white);
            let cov = covariance(&white, 3);
            // The one direction with variance is whitened: trace 1 (up to eps).
            let trace = cov[0] + cov[4] + cov[8];
            assert!((trace - 1.0).abs() < 1e-3, "eps {eps}: trace {trace}");
        }
    }

    #[test]
    fn tensors_round_trip_and_are_checked() {
        let rows = correlated(100, 2);
        for kind in [
            PreprocessKind::MeanSubtractPerPixel,
            PreprocessKind::StandardizePerFeature,
            PreprocessKind::WhitenPca,
        ] {
            let p = Preprocessor::fit(kind, 1e-5, &[5], &rows).unwrap();
            let tensors = p.tensors();
            let shapes = Preprocessor::tensor_shapes(kind, &[5]).unwrap();
            assert_eq!(tensors.len(), shapes.len());
            for ((n, s, _), (n2, s2)) in tensors.iter().zip(&shapes) {
                assert_eq!((n, s), (n2, &s2.as_slice()));
            }
            let back = Preprocessor::from_tensors(kind, 1e-5, &[5], &tensors).unwrap();
            assert_eq!(back, p);
            assert_eq!(p.tensor_refs().len(), tensors.len());
        }
        let rows = [1.0, 3.0, 2.0, 2.0, 5.0, 7.0, 2.0, 2.0];
        let kind = PreprocessKind::StandardizePerChannel;
        let p = Preprocessor::fit(kind, 1e-5, &[2, 1, 2], &rows).unwrap();
        let mut t = p.tensors();
        t.push(("fc.weight", &[1], &[0.0]));
        assert_eq!(Preprocessor::from_tensors(kind, 1e-5, &[2, 1, 2], &t).unwrap(), p);
        let err = Preprocessor::from_tensors(kind, 1e-5, &[2, 1, 2], &t[..1]).unwrap_err();
        assert!(
            err.to_string().starts_with("preprocess statistics `preprocess.std`: missing"),
            "{err}"
        );
        let bad_std = [0.0f32, 1.0];
        let err =
            Preprocessor::from_tensors(kind, 1e-5, &[2, 1, 2], &[t[0], (STD, &[2], &bad_std)])
                .unwrap_err();
        assert!(err.to_string().contains("not positive"), "{err}");
        let err =
            Preprocessor::from_tensors(kind, 1e-5, &[2, 1, 2], &[t[0], (STD, &[1, 2], &bad_std)])
                .unwrap_err();
        assert!(err.to_string().contains("needs [2]"), "{err}");
    }

    #[test]
    fn bad_inputs_are_reported() {
        let k = PreprocessKind::StandardizePerChannel;
        let err = Preprocessor::fit(k, 1e-5, &[4], &[0.0; 8]).unwrap_err();
        assert!(err.to_string().contains("per_feature"), "{err}");
        assert!(matches!(
            Preprocessor::fit(k, -1.0, &[1, 2, 2], &[0.0; 8]),
            Err(PreprocessError::Eps { .. })
        ));
        assert!(matches!(
            Preprocessor::fit(k, 0.0, &[1, 2, 2], &[0.0; 7]),
            Err(PreprocessError::Rows { len: 7, width: 4 })
        ));
        assert!(matches!(
            Preprocessor::fit(k, 0.0, &[1, 2, 2], &[]),
            Err(PreprocessError::Rows { .. })
        ));
        assert_eq!(
            Preprocessor::fit(k, 0.0, &[1, 2, 2], &[0.0, 0.0, 0.0, 0.0, 0.0, f32::NAN, 0.0, 0.0])
                .unwrap_err(),
            PreprocessError::NonFinite { row: 1, index: 1 }
        );
        assert!(Preprocessor::fit(k, 0.0, &[1, 0, 2], &[0.0; 4]).is_err());
        assert!(Preprocessor::fit(k, 0.0, &[2, 2], &[0.0; 4]).is_err());
    }

    #[test]
    fn new_is_the_identity() {
        for kind in [
            PreprocessKind::MeanSubtractPerPixel,
            PreprocessKind::MeanSubtractPerChannel,
            PreprocessKind::StandardizePerChannel,
            PreprocessKind::StandardizePerFeature,
            PreprocessKind::WhitenPca,
        ] {
            let p = Preprocessor::new(kind, 1e-5, &[2, 2, 2]).unwrap();
            let mut x: Vec<f32> = (0..8).map(|i| i as f32 * 0.5 - 1.0).collect();
            let orig = x.clone();
            p.apply(&mut x);
            assert_eq!(x, orig, "{kind}");
            assert_eq!(p.clone(), p);
        }
    }
}
