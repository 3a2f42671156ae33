//! Applying fitted preprocessing statistics without allocating, `no_std`: what a
//! [`Preprocessor`](crate::pipeline::preprocess::Preprocessor) does with its own statistics, and
//! what a frozen network does with the statistics baked into it (see `preprocess` for the
//! formulas).

use core::fmt;

/// The preprocessing methods of the `preprocess` statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PreprocessKind {
    /// `mean_subtract per_pixel`: subtract the mean sample (AlexNet's mean image).
    MeanSubtractPerPixel,
    /// `mean_subtract per_channel`: subtract each channel's mean (VGG).
    MeanSubtractPerChannel,
    /// `standardize per_channel`: per-channel mean and standard deviation (ResNet).
    StandardizePerChannel,
    /// `standardize per_feature`: per-feature mean and standard deviation (`StandardScaler`).
    StandardizePerFeature,
    /// `whiten pca`: ZCA whitening.
    WhitenPca,
}

impl PreprocessKind {
    /// The spec's spelling, e.g. `standardize per_channel`.
    pub fn spec_name(self) -> &'static str {
        match self {
            PreprocessKind::MeanSubtractPerPixel => "mean_subtract per_pixel",
            PreprocessKind::MeanSubtractPerChannel => "mean_subtract per_channel",
            PreprocessKind::StandardizePerChannel => "standardize per_channel",
            PreprocessKind::StandardizePerFeature => "standardize per_feature",
            PreprocessKind::WhitenPca => "whiten pca",
        }
    }
}

impl fmt::Display for PreprocessKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.spec_name())
    }
}

/// Fitted statistics, borrowed: a sample of `D` values in channels-first layout.
#[derive(Clone, Copy, Debug)]
pub struct Stats<'a> {
    /// The method.
    pub kind: PreprocessKind,
    /// Values per channel (`H * W`; `D` for a vector input).
    pub plane: usize,
    /// `preprocess.mean`: `D` values, or one per channel.
    pub mean: &'a [f32],
    /// `preprocess.std` (standardize only, else empty): the divisors, as `mean`.
    pub std: &'a [f32],
    /// `preprocess.whiten` (whiten only, else empty): `D x D`, row-major.
    pub whiten: &'a [f32],
}

impl Stats<'_> {
    /// Preprocesses `input` into `out`, both `D` values.
    pub fn apply_into(&self, input: &[f32], out: &mut [f32]) {
        if self.kind == PreprocessKind::WhitenPca {
            self.whiten_into(input, out);
        } else {
            out.copy_from_slice(input);
            self.elementwise(out);
        }
    }

    /// Every method but whitening, in place.
    pub(crate) fn elementwise(&self, x: &mut [f32]) {
        match self.kind {
            PreprocessKind::MeanSubtractPerPixel => {
                x.iter_mut().zip(self.mean).for_each(|(v, m)| *v -= m);
            }
            PreprocessKind::StandardizePerFeature => {
                for ((v, m), s) in x.iter_mut().zip(self.mean).zip(self.std) {
                    *v = (*v - m) / s;
                }
            }
            PreprocessKind::MeanSubtractPerChannel => {
                for (plane, m) in x.chunks_exact_mut(self.plane).zip(self.mean) {
                    plane.iter_mut().for_each(|v| *v -= m);
                }
            }
            PreprocessKind::StandardizePerChannel => {
                for ((plane, m), s) in x.chunks_exact_mut(self.plane).zip(self.mean).zip(self.std) {
                    plane.iter_mut().for_each(|v| *v = (*v - m) / s);
                }
            }
            PreprocessKind::WhitenPca => unreachable!("whitening is not elementwise"),
        }
    }

    /// `out = W (x - mean)`, each output accumulated in f64 over the f32 centered values.
    pub(crate) fn whiten_into(&self, x: &[f32], out: &mut [f32]) {
        let d = x.len();
        for (o, w_row) in out.iter_mut().zip(self.whiten.chunks_exact(d)) {
            let mut acc = 0.0f64;
            for ((&w, &v), &m) in w_row.iter().zip(x).zip(self.mean) {
                acc += f64::from(w) * f64::from(v - m);
            }
            *o = acc as f32;
        }
    }
}
