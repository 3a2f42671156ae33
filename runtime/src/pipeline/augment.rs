//! Training-time data augmentation over a mini-batch, in place, seeded, without allocation.
//!
//! An [`Augmenter`] is built once from the spec's `augment { ... }` list, the sample shape, the
//! mini-batch size and the number of classes; all its workspace is allocated then, so
//! [`Augmenter::augment`] never allocates. Each call transforms one mini-batch of inputs
//! (`n` samples laid end to end, images channels-first `(C, H, W)`) and, for the label-mixing
//! methods, its targets (`n x classes` one-hot or soft labels, each row summing to 1). It is
//! only ever called while training; `predict` never augments.
//!
//! The augmentations run in the order written, each over the whole batch, drawing from the
//! [`Rng`] sample after sample, so a seed always gives the same batch.
//!
//! | augmentation | per sample | targets |
//! |---|---|---|
//! | `translate N` | shift by `(dy, dx)`, each uniform in `-N..=N`, zero fill (the same as torchvision's `RandomCrop(size, padding=N)` with zero padding) | kept |
//! | `flip horizontal` / `flip vertical` | mirror left-right / top-bottom with probability 1/2 | kept |
//! | `rotate D` | angle uniform in `[-D, D]` degrees, counter-clockwise for positive angles as torchvision's, about the image center `((H-1)/2, (W-1)/2)`, bilinear, zero fill | kept |
//! | `noise gaussian S` | add independent `N(0, S^2)` to every value | kept |
//! | `cutout L` | zero an `L x L` square (all channels) centered on a uniformly random pixel, clipped at the border (DeVries and Taylor, 2017) | kept |
//! | `mixup A` | one `lam ~ Beta(A, A)` and one random permutation per batch (the reference code's choice, Zhang et al. 2018): `x_i = lam x_i + (1 - lam) x_p(i)`, `y_i` likewise | mixed |
//! | `cutmix A` | one `lam ~ Beta(A, A)`, one permutation and one box per batch (Yun et al. 2019, reference code): the box `floor(H sqrt(1-lam)) x floor(W sqrt(1-lam))` centered on a uniformly random pixel, clipped, is pasted from the partner | mixed by the actual clipped box area |
//!
//! Details and deviations, stated so nothing is silent:
//!
//! - Zero fill means zero in whatever space the inputs are in when `augment` is called.
//! - `cutout` and `cutmix` boxes span exactly `L` (resp. the cut size) pixels before clipping,
//!   from `center - L/2` (integer division). The reference codes write `center ± L // 2`, which
//!   is one pixel short for odd sizes; cutmix labels use the pasted area either way.
//! - `mixup 0` and `cutmix 0` (alpha 0) do nothing, as the reference codes do with `alpha <= 0`.
//! - When both `mixup` and `cutmix` are listed, each batch uses exactly one of them, chosen with
//!   probability 1/2 (timm's `Mixup` with `switch_prob = 0.5`), rather than mixing twice.
//! - Cutmix is applied to every batch (the reference's `cutmix_prob` is 1 here).

use crate::rng::Rng;
use std::fmt;

/// One entry of the spec's `augment { ... }` block.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Augmentation {
    /// `translate N`: random shift by up to `pixels` in each direction (zero fill).
    Translate {
        /// Maximum shift.
        pixels: usize,
    },
    /// `flip horizontal`: mirror left-right with probability 1/2.
    FlipHorizontal,
    /// `flip vertical`: mirror top-bottom with probability 1/2.
    FlipVertical,
    /// `rotate D`: rotation by an angle uniform in `[-degrees, degrees]`.
    Rotate {
        /// Maximum angle in degrees.
        degrees: f64,
    },
    /// `noise gaussian S`: additive Gaussian noise.
    GaussianNoise {
        /// Standard deviation.
        sigma: f64,
    },
    /// `cutout L`: zero a random `size x size` square.
    Cutout {
        /// Side of the square.
        size: usize,
    },
    /// `mixup A`: mix pairs of samples and their targets with `lam ~ Beta(alpha, alpha)`.
    Mixup {
        /// Beta parameter.
        alpha: f64,
    },
    /// `cutmix A`: paste a box from a partner sample; targets mixed by area.
    Cutmix {
        /// Beta parameter.
        alpha: f64,
    },
}

impl fmt::Display for Augmentation {
    /// The spec's spelling, e.g. `cutout 3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Augmentation::Translate { pixels } => write!(f, "translate {pixels}"),
            Augmentation::FlipHorizontal => f.write_str("flip horizontal"),
            Augmentation::FlipVertical => f.write_str("flip vertical"),
            Augmentation::Rotate { degrees } => write!(f, "rotate {degrees}"),
            Augmentation::GaussianNoise { sigma } => write!(f, "noise gaussian {sigma}"),
            Augmentation::Cutout { size } => write!(f, "cutout {size}"),
            Augmentation::Mixup { alpha } => write!(f, "mixup {alpha}"),
            Augmentation::Cutmix { alpha } => write!(f, "cutmix {alpha}"),
        }
    }
}

impl Augmentation {
    fn needs_image(self) -> bool {
        !matches!(self, Augmentation::GaussianNoise { .. } | Augmentation::Mixup { .. })
    }
}

/// Why an [`Augmenter`] could not be built or applied.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AugmentError {
    /// An augmentation's parameter is out of range or does not fit the input.
    Invalid {
        /// The augmentation, as written in the spec.
        augmentation: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The sample shape, batch size or class count given to [`Augmenter::new`] is unusable.
    Setup(String),
    /// The slices given to [`Augmenter::augment`] are not a batch of the configured shape.
    Batch(String),
}

impl fmt::Display for AugmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AugmentError::Invalid { augmentation, reason } => {
                write!(f, "augment `{augmentation}`: {reason}")
            }
            AugmentError::Setup(message) | AugmentError::Batch(message) => {
                write!(f, "augment: {message}")
            }
        }
    }
}

impl std::error::Error for AugmentError {}

/// Which label-mixing method the last batch used, with its draws.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Mix {
    /// Mixup with this weight of each sample itself (`1 - lam` goes to its partner).
    Mixup {
        /// `lam`.
        lambda: f32,
    },
    /// Cutmix: the box `rows y0..y1, columns x0..x1` (after clipping) was pasted from each
    /// sample's partner; `lambda = 1 - box area / (H W)` is the weight of the sample itself.
    Cutmix {
        /// The Beta draw the box size came from.
        drawn: f32,
        /// The label weight of the sample itself, from the clipped box area.
        lambda: f32,
        /// First row of the box.
        y0: usize,
        /// One past the last row.
        y1: usize,
        /// First column.
        x0: usize,
        /// One past the last column.
        x1: usize,
    },
}

/// Applies a spec's augmentations to mini-batches in place; see the
/// [module documentation](self).
#[derive(Debug, Clone)]
pub struct Augmenter {
    ops: Vec<Augmentation>,
    channels: usize,
    height: usize,
    width: usize,
    sample_len: usize,
    batch: usize,
    classes: usize,
    has_mixup: bool,
    has_cutmix: bool,
    /// One sample of scratch (translate, rotate).
    sample_work: Vec<f32>,
    /// A copy of the batch's inputs and targets (mixup, cutmix).
    batch_inputs: Vec<f32>,
    batch_targets: Vec<f32>,
    /// Each sample's mixing partner in the last batch.
    partners: Vec<usize>,
    last_mix: Option<Mix>,
}

/// `[center - size/2, center - size/2 + size)` clipped to `0..len`.
fn clipped_span(center: usize, size: usize, len: usize) -> (usize, usize) {
    let start = center as isize - (size / 2) as isize;
    let end = start + size as isize;
    (start.clamp(0, len as isize) as usize, end.clamp(0, len as isize) as usize)
}

impl Augmenter {
    /// An augmenter for `augmentations` (in spec order) on samples of `shape` (`[D]` or
    /// `[C, H, W]`), mini-batches of at most `batch` samples and targets of `classes` values
    /// per sample. Every workspace is allocated here.
    pub fn new(
        augmentations: &[Augmentation],
        shape: &[usize],
        batch: usize,
        classes: usize,
    ) -> Result<Augmenter, AugmentError> {
        let (channels, height, width, image) = match *shape {
            [d] if d > 0 => (1, 1, d, false),
            [c, h, w] if c > 0 && h > 0 && w > 0 => (c, h, w, true),
            _ => {
                return Err(AugmentError::Setup(format!(
                    "sample shape {shape:?} must be [D] or [C, H, W] with positive sizes"
                )));
            }
        };
        if batch == 0 || classes == 0 {
            return Err(AugmentError::Setup(format!(
                "batch size {batch} and class count {classes} must be positive"
            )));
        }
        let sample_len = channels * height * width;
        let (mut mixups, mut cutmixes) = (0, 0);
        for &op in augmentations {
            let invalid =
                |reason: String| AugmentError::Invalid { augmentation: op.to_string(), reason };
            if op.needs_image() && !image {
                return Err(invalid(format!(
                    "needs an image input `input image(C, H, W)`, but samples are vectors of \
                     {sample_len}; only `noise gaussian` and `mixup` apply to vectors"
                )));
            }
            let nonneg = |v: f64, what: &str| {
                if v.is_finite() && v >= 0.0 {
                    Ok(())
                } else {
                    Err(invalid(format!("{what} must be finite and >= 0, not {v}")))
                }
            };
            match op {
                Augmentation::Translate { pixels } if pixels >= height.min(width) => {
                    return Err(invalid(format!(
                        "a shift of up to {pixels} pixels can move a {height}x{width} image \
                         out of view; use at most {}",
                        height.min(width) - 1
                    )));
                }
                Augmentation::Rotate { degrees } => {
                    nonneg(degrees, "the maximum angle")?;
                    if degrees > 180.0 {
                        return Err(invalid(format!(
                            "the angle is drawn from [-{degrees}, {degrees}]; 180 already \
                             covers every rotation"
                        )));
                    }
                }
                Augmentation::GaussianNoise { sigma } => nonneg(sigma, "the noise std")?,
                Augmentation::Mixup { alpha } => {
                    nonneg(alpha, "alpha")?;
                    mixups += 1;
                }
                Augmentation::Cutmix { alpha } => {
                    nonneg(alpha, "alpha")?;
                    cutmixes += 1;
                }
                _ => {}
            }
        }
        if mixups > 1 || cutmixes > 1 {
            return Err(AugmentError::Setup(
                "`mixup` and `cutmix` may each appear once in `augment { ... }`".to_string(),
            ));
        }
        let active = |f: fn(&Augmentation) -> Option<f64>| {
            augmentations.iter().filter_map(f).any(|alpha| alpha > 0.0)
        };
        let has_mixup = active(|a| match a {
            Augmentation::Mixup { alpha } => Some(*alpha),
            _ => None,
        });
        let has_cutmix = active(|a| match a {
            Augmentation::Cutmix { alpha } => Some(*alpha),
            _ => None,
        });
        let mixing = has_mixup || has_cutmix;
        let needs_work = augmentations
            .iter()
            .any(|a| matches!(a, Augmentation::Translate { .. } | Augmentation::Rotate { .. }));
        Ok(Augmenter {
            ops: augmentations.to_vec(),
            channels,
            height,
            width,
            sample_len,
            batch,
            classes,
            has_mixup,
            has_cutmix,
            sample_work: vec![0.0; if needs_work { sample_len } else { 0 }],
            batch_inputs: vec![0.0; if mixing { batch * sample_len } else { 0 }],
            batch_targets: vec![0.0; if mixing { batch * classes } else { 0 }],
            partners: Vec::with_capacity(batch),
            last_mix: None,
        })
    }

    /// The augmentations, in the order applied.
    pub fn augmentations(&self) -> &[Augmentation] {
        &self.ops
    }

    /// Whether any augmentation changes the targets (an active `mixup` or `cutmix`).
    pub fn mixes_labels(&self) -> bool {
        self.has_mixup || self.has_cutmix
    }

    /// The label-mixing method the last batch used, if any.
    pub fn last_mix(&self) -> Option<Mix> {
        self.last_mix
    }

    /// Each sample's mixing partner in the last mixed batch (a random permutation; a sample can
    /// be its own partner, as in the reference codes).
    pub fn partners(&self) -> &[usize] {
        &self.partners
    }

    /// Augments one mini-batch in place: `inputs` holds `n` samples (`1 <= n <= batch`),
    /// `targets` their `n x classes` one-hot or soft labels, which only `mixup` and `cutmix`
    /// change. Never allocates.
    pub fn augment(
        &mut self,
        inputs: &mut [f32],
        targets: &mut [f32],
        rng: &mut Rng,
    ) -> Result<(), AugmentError> {
        let sl = self.sample_len;
        let n = inputs.len() / sl;
        if inputs.is_empty() || !inputs.len().is_multiple_of(sl) || n > self.batch {
            return Err(AugmentError::Batch(format!(
                "`inputs` has {} values; it must hold 1 to {} samples of {sl} values",
                inputs.len(),
                self.batch
            )));
        }
        if targets.len() != n * self.classes {
            return Err(AugmentError::Batch(format!(
                "`targets` has {} values but {n} samples of {} classes need {}",
                targets.len(),
                self.classes,
                n * self.classes
            )));
        }
        self.last_mix = None;
        let use_cutmix = match (self.has_mixup, self.has_cutmix) {
            (true, true) => rng.bernoulli(0.5),
            (mixup, cutmix) => cutmix && !mixup,
        };
        for i in 0..self.ops.len() {
            let op = self.ops[i];
            match op {
                Augmentation::Translate { pixels } => {
                    for sample in inputs.chunks_exact_mut(sl) {
                        let dy = rng.below(2 * pixels + 1) as isize - pixels as isize;
                        let dx = rng.below(2 * pixels + 1) as isize - pixels as isize;
                        self.translate(sample, dy, dx);
                    }
                }
                Augmentation::FlipHorizontal => {
                    for sample in inputs.chunks_exact_mut(sl) {
                        if rng.bernoulli(0.5) {
                            sample.chunks_exact_mut(self.width).for_each(<[f32]>::reverse);
                        }
                    }
                }
                Augmentation::FlipVertical => {
                    for sample in inputs.chunks_exact_mut(sl) {
                        if rng.bernoulli(0.5) {
                            self.flip_vertical(sample);
                        }
                    }
                }
                Augmentation::Rotate { degrees } => {
                    let max = degrees as f32;
                    for sample in inputs.chunks_exact_mut(sl) {
                        let angle = rng.uniform(-max, max);
                        self.rotate(sample, angle);
                    }
                }
                Augmentation::GaussianNoise { sigma } => {
                    let sigma = sigma as f32;
                    inputs.iter_mut().for_each(|v| *v += rng.normal(0.0, sigma));
                }
                Augmentation::Cutout { size } => {
                    for sample in inputs.chunks_exact_mut(sl) {
                        let cy = rng.below(self.height);
                        let cx = rng.below(self.width);
                        self.cutout(sample, size, cy, cx);
                    }
                }
                Augmentation::Mixup { alpha } if self.has_mixup && !use_cutmix => {
                    self.mixup(inputs, targets, alpha as f32, rng);
                }
                Augmentation::Cutmix { alpha } if self.has_cutmix && use_cutmix => {
                    self.cutmix(inputs, targets, alpha as f32, rng);
                }
                Augmentation::Mixup { .. } | Augmentation::Cutmix { .. } => {}
            }
        }
        Ok(())
    }

    /// `out[c][y][x] = in[c][y - dy][x - dx]`, zero where that falls outside.
    fn translate(&mut self, sample: &mut [f32], dy: isize, dx: isize) {
        if dy == 0 && dx == 0 {
            return;
        }
        let (h, w) = (self.height as isize, self.width as isize);
        self.sample_work.copy_from_slice(sample);
        let plane = self.height * self.width;
        for (out, src) in sample.chunks_exact_mut(plane).zip(self.sample_work.chunks_exact(plane)) {
            for y in 0..h {
                let sy = y - dy;
                let row = &mut out[(y * w) as usize..((y + 1) * w) as usize];
                if !(0..h).contains(&sy) {
                    row.fill(0.0);
                    continue;
                }
                for (x, v) in row.iter_mut().enumerate() {
                    let sx = x as isize - dx;
                    *v = if (0..w).contains(&sx) { src[(sy * w + sx) as usize] } else { 0.0 };
                }
            }
        }
    }

    fn flip_vertical(&self, sample: &mut [f32]) {
        let (h, w) = (self.height, self.width);
        for plane in sample.chunks_exact_mut(h * w) {
            for y in 0..h / 2 {
                let (top, bottom) = plane.split_at_mut((h - 1 - y) * w);
                top[y * w..(y + 1) * w].swap_with_slice(&mut bottom[..w]);
            }
        }
    }

    /// Rotation by `degrees` counter-clockwise about the center, bilinear, zero fill.
    fn rotate(&mut self, sample: &mut [f32], degrees: f32) {
        let (h, w) = (self.height, self.width);
        self.sample_work.copy_from_slice(sample);
        let (sin, cos) = f64::from(degrees).to_radians().sin_cos();
        let cy = (h as f64 - 1.0) / 2.0;
        let cx = (w as f64 - 1.0) / 2.0;
        let plane = h * w;
        for y in 0..h {
            for x in 0..w {
                // Output pixel relative to the center, y up; its source is R(-angle) of it.
                let (u, v) = (x as f64 - cx, cy - y as f64);
                let sx = cx + (cos * u + sin * v);
                let sy = cy - (-sin * u + cos * v);
                let (x0, y0) = (sx.floor(), sy.floor());
                let (fx, fy) = ((sx - x0) as f32, (sy - y0) as f32);
                let taps = [
                    (y0, x0, (1.0 - fy) * (1.0 - fx)),
                    (y0, x0 + 1.0, (1.0 - fy) * fx),
                    (y0 + 1.0, x0, fy * (1.0 - fx)),
                    (y0 + 1.0, x0 + 1.0, fy * fx),
                ];
                let inside =
                    |ty: f64, tx: f64| ty >= 0.0 && tx >= 0.0 && ty < h as f64 && tx < w as f64;
                for c in 0..self.channels {
                    let src = &self.sample_work[c * plane..(c + 1) * plane];
                    let mut acc = 0.0f32;
                    for &(ty, tx, weight) in &taps {
                        if weight != 0.0 && inside(ty, tx) {
                            acc += weight * src[ty as usize * w + tx as usize];
                        }
                    }
                    sample[c * plane + y * w + x] = acc;
                }
            }
        }
    }

    /// Zeroes the `size x size` square centered on `(cy, cx)`, clipped, in every channel.
    fn cutout(&self, sample: &mut [f32], size: usize, cy: usize, cx: usize) {
        let (y0, y1) = clipped_span(cy, size, self.height);
        let (x0, x1) = clipped_span(cx, size, self.width);
        let w = self.width;
        for plane in sample.chunks_exact_mut(self.height * w) {
            for y in y0..y1 {
                plane[y * w + x0..y * w + x1].fill(0.0);
            }
        }
    }

    /// Draws the partners of `n` samples and saves a copy of the batch.
    fn pair_up(&mut self, inputs: &[f32], targets: &[f32], rng: &mut Rng) {
        let n = targets.len() / self.classes;
        self.partners.clear();
        self.partners.extend(0..n);
        rng.shuffle(&mut self.partners);
        self.batch_inputs[..inputs.len()].copy_from_slice(inputs);
        self.batch_targets[..targets.len()].copy_from_slice(targets);
    }

    /// `y_i = own y_i + other y_p(i)` for every sample.
    fn mix_targets(&self, targets: &mut [f32], own: f32, other: f32) {
        let k = self.classes;
        for (row, &j) in targets.chunks_exact_mut(k).zip(&self.partners) {
            for (t, &tj) in row.iter_mut().zip(&self.batch_targets[j * k..(j + 1) * k]) {
                *t = own * *t + other * tj;
            }
        }
    }

    fn mixup(&mut self, inputs: &mut [f32], targets: &mut [f32], alpha: f32, rng: &mut Rng) {
        let lam = rng.beta(alpha, alpha);
        self.pair_up(inputs, targets, rng);
        let sl = self.sample_len;
        for (x, &j) in inputs.chunks_exact_mut(sl).zip(&self.partners) {
            for (v, &vj) in x.iter_mut().zip(&self.batch_inputs[j * sl..(j + 1) * sl]) {
                *v = lam * *v + (1.0 - lam) * vj;
            }
        }
        self.mix_targets(targets, lam, 1.0 - lam);
        self.last_mix = Some(Mix::Mixup { lambda: lam });
    }

    fn cutmix(&mut self, inputs: &mut [f32], targets: &mut [f32], alpha: f32, rng: &mut Rng) {
        let (h, w) = (self.height, self.width);
        let drawn = rng.beta(alpha, alpha);
        self.pair_up(inputs, targets, rng);
        let cut = f64::from(1.0 - drawn).max(0.0).sqrt();
        let cut_h = (h as f64 * cut) as usize;
        let cut_w = (w as f64 * cut) as usize;
        // The reference draws the center's column first.
        let cx = rng.below(w);
        let cy = rng.below(h);
        let (y0, y1) = clipped_span(cy, cut_h, h);
        let (x0, x1) = clipped_span(cx, cut_w, w);
        let area = (y1 - y0) * (x1 - x0);
        let pasted = area as f32 / (h * w) as f32;
        let lambda = 1.0 - pasted;
        let (sl, plane) = (self.sample_len, h * w);
        for (x, &j) in inputs.chunks_exact_mut(sl).zip(&self.partners) {
            let partner = &self.batch_inputs[j * sl..(j + 1) * sl];
            for c in 0..self.channels {
                for y in y0..y1 {
                    let at = c * plane + y * w;
                    x[at + x0..at + x1].copy_from_slice(&partner[at + x0..at + x1]);
                }
            }
        }
        self.mix_targets(targets, lambda, pasted);
        self.last_mix = Some(Mix::Cutmix { drawn, lambda, y0, y1, x0, x1 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: usize = 2;
    const H: usize = 5;
    const W: usize = 6;
    const N: usize = 8;
    const K: usize = 4;

    /// A batch of distinct, nonzero pixel values and one-hot targets of class i % K.
    fn batch() -> (Vec<f32>, Vec<f32>) {
        let x = (0..N * C * H * W).map(|i| 1.0 + i as f32).collect();
        let mut y = vec![0.0; N * K];
        for i in 0..N {
            y[i * K + i % K] = 1.0;
        }
        (x, y)
    }

    fn run(ops: &[Augmentation], seed: u64) -> (Vec<f32>, Vec<f32>, Augmenter) {
        let mut aug = Augmenter::new(ops, &[C, H, W], N, K).unwrap();
        let (mut x, mut y) = batch();
        aug.augment(&mut x, &mut y, &mut Rng::seed(seed)).unwrap();
        (x, y, aug)
    }

    fn label_preserving() -> Vec<Augmentation> {
        vec![
            Augmentation::Translate { pixels: 2 },
            Augmentation::FlipHorizontal,
            Augmentation::FlipVertical,
            Augmentation::Rotate { degrees: 30.0 },
            Augmentation::GaussianNoise { sigma: 0.1 },
            Augmentation::Cutout { size: 3 },
        ]
    }

    #[test]
    fn label_preserving_augmentations_keep_labels() {
        let (_, y0) = batch();
        for op in label_preserving() {
            for seed in 0..5 {
                let (x, y, aug) = run(&[op], seed);
                assert_eq!(y, y0, "{op}");
                assert!(aug.last_mix().is_none() && !aug.mixes_labels());
                if seed == 0 {
                    assert_ne!(x, batch().0, "{op} changed nothing");
                }
            }
        }
        let (_, y, _) = run(&label_preserving(), 9);
        assert_eq!(y, y0);
    }

    #[test]
    fn flips_mirror_and_are_involutions() {
        let aug = Augmenter::new(&[], &[C, H, W], N, K).unwrap();
        let (x0, _) = batch();
        let sample = &x0[..C * H * W];
        let mut v = sample.to_vec();
        aug.flip_vertical(&mut v);
        assert_eq!(v[0], sample[(H - 1) * W]);
        assert_eq!(v[H * W + W + 2], sample[H * W + (H - 2) * W + 2]);
        aug.flip_vertical(&mut v);
        assert_eq!(v, sample);
        // Through the public path: a flipped sample is the mirror image, flipping again restores.
        for op in [Augmentation::FlipHorizontal, Augmentation::FlipVertical] {
            let (x, _, _) = run(&[op], 1);
            let mut flipped = 0;
            for (s, o) in x.chunks(C * H * W).zip(x0.chunks(C * H * W)) {
                if s == o {
                    continue;
                }
                flipped += 1;
                let mut back = s.to_vec();
                match op {
                    Augmentation::FlipHorizontal => {
                        back.chunks_mut(W).for_each(<[f32]>::reverse);
                        assert_eq!(s[W - 1], o[0]);
                    }
                    _ => {
                        aug.flip_vertical(&mut back);
                        assert_eq!(s[(H - 1) * W], o[0]);
                    }
                }
                assert_eq!(back, o);
            }
            assert!(flipped > 0 && flipped < N, "{op}: {flipped} of {N} flipped");
        }
    }

    #[test]
    fn translate_and_rotate_by_zero_are_the_identity() {
        let (x0, _) = batch();
        for op in [Augmentation::Translate { pixels: 0 }, Augmentation::Rotate { degrees: 0.0 }] {
            let (x, _, _) = run(&[op], 3);
            assert_eq!(x, x0, "{op}");
        }
    }

    #[test]
    fn translate_shifts_with_zero_fill() {
        let mut aug =
            Augmenter::new(&[Augmentation::Translate { pixels: 1 }], &[1, 3, 3], 1, 1).unwrap();
        let mut s: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        aug.translate(&mut s, 1, -1);
        // Down one row, left one column.
        assert_eq!(s, [0.0, 0.0, 0.0, 2.0, 3.0, 0.0, 5.0, 6.0, 0.0]);
        // Shifts are uniform in -1..=1 per axis: all 9 appear over many draws.
        let mut seen = std::collections::HashSet::new();
        let mut rng = Rng::seed(1);
        for _ in 0..200 {
            let mut s: Vec<f32> = (1..=9).map(|v| v as f32).collect();
            aug.augment(&mut s, &mut [1.0], &mut rng).unwrap();
            seen.insert(s.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        }
        assert_eq!(seen.len(), 9);
    }

    #[test]
    fn rotate_turns_counter_clockwise_about_the_center() {
        let mut aug =
            Augmenter::new(&[Augmentation::Rotate { degrees: 90.0 }], &[1, 3, 3], 1, 1).unwrap();
        let mut s: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        aug.rotate(&mut s, 90.0);
        // 1 2 3 / 4 5 6 / 7 8 9 turned a quarter counter-clockwise.
        let want = [3.0, 6.0, 9.0, 2.0, 5.0, 8.0, 1.0, 4.0, 7.0];
        for (g, w) in s.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{s:?}");
        }
        // 45 degrees on a 1x1-centered constant image keeps the center, zero fills corners.
        let mut ones = vec![1.0f32; 9];
        aug.rotate(&mut ones, 45.0);
        assert!((ones[4] - 1.0).abs() < 1e-6);
        assert!(ones[0] < 1.0, "{ones:?}");
        // The center pixel is fixed by every rotation.
        let mut rng = Rng::seed(2);
        for _ in 0..50 {
            let mut s: Vec<f32> = (1..=9).map(|v| v as f32).collect();
            aug.augment(&mut s, &mut [1.0], &mut rng).unwrap();
            assert!((s[4] - 5.0).abs() < 1e-5);
        }
    }

    #[test]
    fn cutout_zeroes_exactly_the_clipped_square() {
        let ops = [Augmentation::Cutout { size: 3 }];
        for seed in 0..20 {
            let (x, _, _) = run(&ops, seed);
            // Replay the draws: a center row and column per sample.
            let mut rng = Rng::seed(seed);
            for (s, o) in x.chunks(C * H * W).zip(batch().0.chunks(C * H * W)) {
                let (cy, cx) = (rng.below(H), rng.below(W));
                let (y0, y1) = (cy.saturating_sub(1), (cy + 2).min(H));
                let (x0, x1) = (cx.saturating_sub(1), (cx + 2).min(W));
                for c in 0..C {
                    for y in 0..H {
                        for xx in 0..W {
                            let i = c * H * W + y * W + xx;
                            let inside = (y0..y1).contains(&y) && (x0..x1).contains(&xx);
                            assert_eq!(s[i], if inside { 0.0 } else { o[i] }, "seed {seed}");
                        }
                    }
                }
            }
        }
        // Even sizes: rows center-1..center+1 (2 wide); a corner center clips to 1x1 for size 2.
        let aug = Augmenter::new(&[], &[1, 3, 3], 1, 1).unwrap();
        let mut s = vec![1.0; 9];
        aug.cutout(&mut s, 2, 0, 0);
        assert_eq!(s, [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        let mut s = vec![1.0; 9];
        aug.cutout(&mut s, 2, 2, 2);
        assert_eq!(s, [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn mixup_mixes_inputs_and_labels_with_one_lambda() {
        let ops = [Augmentation::Mixup { alpha: 0.4 }];
        for seed in 0..10 {
            let (x, y, aug) = run(&ops, seed);
            let Some(Mix::Mixup { lambda }) = aug.last_mix() else { panic!() };
            let (x0, y0) = batch();
            let sl = C * H * W;
            for (i, &j) in aug.partners().iter().enumerate() {
                for k in 0..K {
                    let want = lambda * y0[i * K + k] + (1.0 - lambda) * y0[j * K + k];
                    assert_eq!(y[i * K + k], want);
                }
                let sum: f32 = y[i * K..(i + 1) * K].iter().sum();
                assert!((sum - 1.0).abs() < 1e-6, "{sum}");
                for v in 0..sl {
                    let want = lambda * x0[i * sl + v] + (1.0 - lambda) * x0[j * sl + v];
                    assert_eq!(x[i * sl + v], want);
                }
            }
            let mut p = aug.partners().to_vec();
            p.sort_unstable();
            assert_eq!(p, (0..N).collect::<Vec<_>>());
        }
    }

    #[test]
    fn cutmix_labels_are_the_pasted_area_fraction() {
        // Each sample is one constant, i + 1, so pasted pixels reveal their source.
        let ops = [Augmentation::Cutmix { alpha: 1.0 }];
        let mut aug = Augmenter::new(&ops, &[C, H, W], N, K).unwrap();
        let sl = C * H * W;
        let mut checked = 0;
        for seed in 0..40 {
            let mut x: Vec<f32> = (0..N * sl).map(|i| (i / sl + 1) as f32).collect();
            let mut y = vec![0.0; N * K];
            for i in 0..N {
                y[i * K + i % K] = 1.0;
            }
            aug.augment(&mut x, &mut y, &mut Rng::seed(seed)).unwrap();
            let Some(Mix::Cutmix { lambda, y0, y1, x0, x1, .. }) = aug.last_mix() else { panic!() };
            for (i, &j) in aug.partners().iter().enumerate() {
                let s = &x[i * sl..(i + 1) * sl];
                let from_partner = s.iter().filter(|&&v| v == (j + 1) as f32).count();
                let row = &y[i * K..(i + 1) * K];
                let sum: f32 = row.iter().sum();
                assert!((sum - 1.0).abs() < 1e-6, "{row:?}");
                if i % K == j % K {
                    continue;
                }
                checked += 1;
                // Exactly the pasted fraction of the image (every channel is pasted alike).
                let frac = (from_partner / C) as f32 / (H * W) as f32;
                assert_eq!(from_partner, C * (y1 - y0) * (x1 - x0));
                assert_eq!(row[j % K], frac, "seed {seed}");
                assert_eq!(row[i % K], 1.0 - frac);
                assert_eq!(lambda, 1.0 - frac);
            }
        }
        assert!(checked > 100);
    }

    #[test]
    fn mixup_and_cutmix_together_use_one_per_batch() {
        let ops = [Augmentation::Mixup { alpha: 0.2 }, Augmentation::Cutmix { alpha: 1.0 }];
        let (mut mixups, mut cutmixes) = (0, 0);
        for seed in 0..200 {
            let (_, y, aug) = run(&ops, seed);
            for row in y.chunks(K) {
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
            }
            match aug.last_mix() {
                Some(Mix::Mixup { .. }) => mixups += 1,
                Some(Mix::Cutmix { .. }) => cutmixes += 1,
                None => panic!(),
            }
        }
        assert!(mixups > 70 && cutmixes > 70, "{mixups} {cutmixes}");
        // alpha 0 disables the method.
        let (x, y, aug) = run(&[Augmentation::Mixup { alpha: 0.0 }], 1);
        assert_eq!((x, y), batch());
        assert!(aug.last_mix().is_none());
    }

    #[test]
    fn same_seed_same_batch() {
        let mut ops = label_preserving();
        ops.push(Augmentation::Mixup { alpha: 0.3 });
        ops.push(Augmentation::Cutmix { alpha: 1.0 });
        let a = run(&ops, 42);
        let b = run(&ops, 42);
        let c = run(&ops, 43);
        assert_eq!((&a.0, &a.1), (&b.0, &b.1));
        assert_ne!(a.0, c.0);
        // A reused augmenter is not affected by the previous batch.
        let mut aug = Augmenter::new(&ops, &[C, H, W], N, K).unwrap();
        let (mut x, mut y) = batch();
        aug.augment(&mut x, &mut y, &mut Rng::seed(7)).unwrap();
        let (mut x, mut y) = batch();
        aug.augment(&mut x, &mut y, &mut Rng::seed(42)).unwrap();
        assert_eq!((x, y), (a.0, a.1));
    }

    #[test]
    fn vectors_take_noise_and_mixup_only() {
        let ops = [Augmentation::GaussianNoise { sigma: 0.5 }, Augmentation::Mixup { alpha: 1.0 }];
        let mut aug = Augmenter::new(&ops, &[4], 3, 2).unwrap();
        let mut x = [0.0f32; 8];
        let mut y = [1.0, 0.0, 0.0, 1.0];
        aug.augment(&mut x, &mut y, &mut Rng::seed(1)).unwrap();
        assert!(x.iter().all(|&v| v != 0.0));
        let err = Augmenter::new(&[Augmentation::FlipHorizontal], &[4], 3, 2).unwrap_err();
        assert!(err.to_string().contains("needs an image input"), "{err}");
    }

    #[test]
    fn bad_settings_and_batches_are_reported() {
        let shape = [C, H, W];
        for op in [
            Augmentation::Translate { pixels: 5 },
            Augmentation::Rotate { degrees: -1.0 },
            Augmentation::Rotate { degrees: 200.0 },
            Augmentation::GaussianNoise { sigma: f64::NAN },
            Augmentation::Mixup { alpha: -0.2 },
            Augmentation::Cutmix { alpha: f64::INFINITY },
        ] {
            let err = Augmenter::new(&[op], &shape, N, K).unwrap_err();
            assert!(matches!(err, AugmentError::Invalid { .. }), "{op}: {err}");
            assert!(err.to_string().starts_with(&format!("augment `{op}`")), "{err}");
        }
        let twice = [Augmentation::Mixup { alpha: 0.2 }, Augmentation::Mixup { alpha: 0.4 }];
        assert!(Augmenter::new(&twice, &shape, N, K).is_err());
        assert!(Augmenter::new(&[], &[2, 2], N, K).is_err());
        assert!(Augmenter::new(&[], &shape, 0, K).is_err());

        let mut aug = Augmenter::new(&[Augmentation::FlipHorizontal], &shape, N, K).unwrap();
        let mut rng = Rng::seed(1);
        let sl = C * H * W;
        let mut x = vec![0.0; (N + 1) * sl];
        let mut y = vec![0.0; (N + 1) * K];
        assert!(aug.augment(&mut x, &mut y, &mut rng).is_err());
        assert!(aug.augment(&mut x[..sl + 1], &mut y[..K], &mut rng).is_err());
        assert!(aug.augment(&mut x[..sl], &mut y[..K + 1], &mut rng).is_err());
        // A smaller last batch is fine.
        aug.augment(&mut x[..2 * sl], &mut y[..2 * K], &mut rng).unwrap();
    }
}
