//! Layer probes: what each layer computed in the last mini-batch, and statistics of it.
//!
//! [`Network::activations`](crate::Network::activations) and
//! [`Network::activation_grads`](crate::Network::activation_grads) lend every layer's output
//! buffer (and its gradient dLoss/doutput) as a [`LayerView`], without copying;
//! [`LayerStats::of`] summarizes values (mean, std, extremes, dead and saturated fractions) and
//! [`Histogram::of`] bins them. [`tensor_norms`] gives each parameter tensor's L2 norm (of the
//! gradients, or of an update as the difference of two parameter buffers). Only
//! [`Histogram::of`] allocates.

use crate::layout::ParamInfo;

/// One layer as the generated `LAYERS` table describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    /// The layer's name in the spec: `dense1`, `tanh2`.
    pub name: &'static str,
    /// Its kind, the keyword that starts its statement: `dense`, `tanh`.
    pub kind: &'static str,
    /// The shape of one output sample: `[n]` or `[c, h, w]`.
    pub shape: &'static [usize],
}

impl LayerInfo {
    /// A layer table entry (generated code builds these).
    pub const fn new(name: &'static str, kind: &'static str, shape: &'static [usize]) -> LayerInfo {
        LayerInfo { name, kind, shape }
    }

    /// The values of one output sample (the product of `shape`).
    pub const fn width(&self) -> usize {
        let (mut n, mut i) = (1, 0);
        while i < self.shape.len() {
            n *= self.shape[i];
            i += 1;
        }
        n
    }
}

/// A layer's output (or its gradient) for the last mini-batch, borrowed from the network.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerView<'a> {
    /// The layer's name: `dense1`.
    pub name: &'static str,
    /// Its kind: `dense`, `tanh`.
    pub kind: &'static str,
    /// The shape of one sample's output.
    pub shape: &'static [usize],
    /// `BATCH x width` values, sample after sample.
    pub values: &'a [f32],
}

impl<'a> LayerView<'a> {
    /// The view of `values` as the layer `info` lays them out.
    pub fn new(info: &LayerInfo, values: &'a [f32]) -> LayerView<'a> {
        LayerView { name: info.name, kind: info.kind, shape: info.shape, values }
    }

    /// [`LayerStats::of`] the values, with the saturated fraction that the layer's kind
    /// defines (`tanh`, `sigmoid`).
    pub fn stats(&self) -> LayerStats {
        LayerStats::of(self.values).with_saturation(self.values, Saturation::of_kind(self.kind))
    }
}

/// When an activation counts as saturated, where its gradient nearly vanishes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Saturation {
    /// tanh: |y| > 0.99 (tanh' = 1 - y^2 < 0.02).
    Tanh,
    /// sigmoid: y < 0.01 or y > 0.99 (sigmoid' = y (1 - y) < 0.0099).
    Sigmoid,
}

impl Saturation {
    /// The saturation rule of a layer kind, `None` for kinds without one.
    pub fn of_kind(kind: &str) -> Option<Saturation> {
        match kind {
            "tanh" => Some(Saturation::Tanh),
            "sigmoid" => Some(Saturation::Sigmoid),
            _ => None,
        }
    }

    /// Whether `y` is saturated.
    pub fn holds(self, y: f32) -> bool {
        match self {
            Saturation::Tanh => y.abs() > 0.99,
            Saturation::Sigmoid => !(0.01..=0.99).contains(&y),
        }
    }
}

/// Summary statistics of a set of values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerStats {
    /// How many values.
    pub count: usize,
    /// Their mean (0 for none).
    pub mean: f64,
    /// Their population standard deviation, sqrt(mean((y - mean)^2)) (0 for none).
    pub std: f64,
    /// The smallest (+inf for none).
    pub min: f32,
    /// The largest (-inf for none).
    pub max: f32,
    /// The fraction exactly 0 (dead ReLUs).
    pub zeros: f64,
    /// The fraction saturated, for tanh and sigmoid layers ([`Saturation`]); `None` otherwise.
    pub saturated: Option<f64>,
}

impl LayerStats {
    /// The statistics of `values` (two passes, in f64; no saturation).
    pub fn of(values: &[f32]) -> LayerStats {
        let n = values.len();
        let (mut sum, mut min, mut max, mut zeros) = (0.0f64, f32::INFINITY, f32::NEG_INFINITY, 0);
        for &v in values {
            sum += f64::from(v);
            min = min.min(v);
            max = max.max(v);
            zeros += usize::from(v == 0.0);
        }
        let denom = n.max(1) as f64;
        let mean = sum / denom;
        let var = values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / denom;
        LayerStats {
            count: n,
            mean,
            std: var.sqrt(),
            min,
            max,
            zeros: zeros as f64 / denom,
            saturated: None,
        }
    }

    /// The same statistics with the fraction of `values` that `rule` calls saturated.
    pub fn with_saturation(self, values: &[f32], rule: Option<Saturation>) -> LayerStats {
        let saturated = rule.map(|rule| {
            values.iter().filter(|&&v| rule.holds(v)).count() as f64 / values.len().max(1) as f64
        });
        LayerStats { saturated, ..self }
    }
}

/// Counts of values in equal-width bins over `[lo, hi]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// The left edge of the first bin.
    pub lo: f32,
    /// The right edge of the last bin (values equal to it fall in the last bin).
    pub hi: f32,
    /// The count of each bin, left to right.
    pub counts: Vec<u64>,
}

impl Histogram {
    /// Bins `values` into `bins` equal bins over `range`, or over their own min..max without
    /// one; values outside the range and NaNs are not counted. `bins = 0` counts as 1; an
    /// empty or one-valued range is widened by 0.5 on each side.
    pub fn of(values: &[f32], bins: usize, range: Option<(f32, f32)>) -> Histogram {
        let bins = bins.max(1);
        let (mut lo, mut hi) = range.unwrap_or_else(|| {
            let s = LayerStats::of(values);
            if s.count == 0 { (0.0, 0.0) } else { (s.min, s.max) }
        });
        if hi <= lo {
            (lo, hi) = (lo - 0.5, lo + 0.5);
        }
        let mut counts = vec![0; bins];
        let scale = bins as f64 / (f64::from(hi) - f64::from(lo));
        for &v in values {
            if v >= lo && v <= hi {
                let bin = ((f64::from(v) - f64::from(lo)) * scale) as usize;
                counts[bin.min(bins - 1)] += 1;
            }
        }
        Histogram { lo, hi, counts }
    }

    /// The width of one bin.
    pub fn bin_width(&self) -> f32 {
        (self.hi - self.lo) / self.counts.len() as f32
    }
}

/// Each parameter tensor's name and the L2 norm of its values in `flat` (laid out as
/// `layout`): pass [`Network::grads`](crate::Network::grads) for gradient norms.
pub fn tensor_norms<'a>(
    layout: &'a [ParamInfo],
    flat: &'a [f32],
) -> impl Iterator<Item = (&'static str, f64)> + 'a {
    layout.iter().map(move |p| {
        let values = flat.get(p.offset..p.offset + p.len).unwrap_or(&[]);
        (p.name, values.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt())
    })
}

/// Each parameter tensor's name and the L2 norm of `after - before` (two copies of the
/// parameters laid out as `layout`): the size of an optimizer step's update, tensor by tensor.
pub fn update_norms<'a>(
    layout: &'a [ParamInfo],
    before: &'a [f32],
    after: &'a [f32],
) -> impl Iterator<Item = (&'static str, f64)> + 'a {
    layout.iter().map(move |p| {
        let range = p.offset..p.offset + p.len;
        let (b, a) = (before.get(range.clone()).unwrap_or(&[]), after.get(range).unwrap_or(&[]));
        let sq: f64 = b.iter().zip(a).map(|(&b, &a)| (f64::from(a) - f64::from(b)).powi(2)).sum();
        (p.name, sq.sqrt())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_match_a_hand_computation() {
        let s = LayerStats::of(&[0.0, 1.0, -1.0, 2.0]);
        assert_eq!(s.count, 4);
        assert!((s.mean - 0.5).abs() < 1e-12);
        // deviations -0.5, 0.5, -1.5, 1.5: mean square 1.25
        assert!((s.std - 1.25f64.sqrt()).abs() < 1e-12);
        assert_eq!((s.min, s.max), (-1.0, 2.0));
        assert!((s.zeros - 0.25).abs() < 1e-12);
        assert_eq!(s.saturated, None);
    }

    #[test]
    fn saturation_follows_the_kind() {
        let y = [0.995, -0.999, 0.5, 0.005];
        let tanh = LayerStats::of(&y).with_saturation(&y, Saturation::of_kind("tanh"));
        assert_eq!(tanh.saturated, Some(0.5));
        let sigmoid = LayerStats::of(&y).with_saturation(&y, Saturation::of_kind("sigmoid"));
        // 0.995 and 0.005 (and -0.999, below 0.01)
        assert_eq!(sigmoid.saturated, Some(0.75));
        assert_eq!(Saturation::of_kind("relu"), None);
    }

    #[test]
    fn histogram_bins_values_and_keeps_the_right_edge() {
        let h = Histogram::of(&[0.0, 0.1, 0.5, 0.99, 1.0, 2.0, f32::NAN], 4, Some((0.0, 1.0)));
        assert_eq!(h.counts, vec![2, 0, 1, 2]);
        assert!((h.bin_width() - 0.25).abs() < 1e-7);
        let own = Histogram::of(&[3.0, 3.0], 2, None);
        assert_eq!((own.lo, own.hi, own.counts.clone()), (2.5, 3.5, vec![0, 2]));
    }

    #[test]
    fn norms_are_per_tensor() {
        use crate::{Init, Role};
        let layout = [
            ParamInfo::new("w", &[2], 0, Role::Weight, Init::Zeros, 1),
            ParamInfo::new("b", &[1], 2, Role::Bias, Init::Zeros, 1),
        ];
        let g = [3.0, 4.0, -2.0];
        let norms: Vec<_> = tensor_norms(&layout, &g).collect();
        assert_eq!(norms, vec![("w", 5.0), ("b", 2.0)]);
        let after = [3.0, 5.0, -2.0];
        let updates: Vec<_> = update_norms(&layout, &g, &after).collect();
        assert_eq!(updates, vec![("w", 1.0), ("b", 0.0)]);
    }
}
