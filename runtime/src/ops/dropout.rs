//! The random masks of dropout, DropConnect and Gaussian-noise layers, drawn from [`Rng`] in a
//! fixed order (value after value), so a seed always gives the same masks.

use crate::rng::Rng;

/// Fills `mask` with one Bernoulli draw per value: `0` with probability `p` (dropped), `keep`
/// otherwise. Inverted dropout passes `keep = 1 / (1 - p)` (nn.Dropout), the original paper's
/// rule `keep = 1`.
pub fn bernoulli_mask(mask: &mut [f32], p: f32, keep: f32, rng: &mut Rng) {
    for m in mask {
        *m = if rng.bernoulli(p) { 0.0 } else { keep };
    }
}

/// Fills `noise` with independent `N(0, sigma^2)` draws.
pub fn gaussian_noise(noise: &mut [f32], sigma: f32, rng: &mut Rng) {
    for n in noise {
        *n = rng.normal(0.0, sigma);
    }
}

/// `masked = weight * mask`, elementwise (DropConnect's effective weight).
pub fn mask_weights(weight: &[f32], mask: &[f32], masked: &mut [f32]) {
    for ((m, &w), &k) in masked.iter_mut().zip(weight).zip(mask) {
        *m = w * k;
    }
}

/// `dw *= mask`, elementwise: only the weights DropConnect kept learn.
pub fn mask_gradient(dw: &mut [f32], mask: &[f32]) {
    for (dw, &m) in dw.iter_mut().zip(mask) {
        *dw *= m;
    }
}

/// A dense layer `y = x W^T + b` on one sample with its own DropConnect mask, drawn from `rng`
/// weight by weight (MC inference): each weight is dropped with probability `p` and scaled by
/// `keep` otherwise. `weight` is `[y.len(), x.len()]`.
pub fn dropconnect_sample(
    weight: &[f32],
    bias: Option<&[f32]>,
    x: &[f32],
    y: &mut [f32],
    (p, keep): (f32, f32),
    rng: &mut Rng,
) {
    for (o, (y, w)) in y.iter_mut().zip(weight.chunks_exact(x.len())).enumerate() {
        let mut sum = 0.0f32;
        for (&w, &x) in w.iter().zip(x) {
            // w * m with m = 0 (probability p) or keep
            if !rng.bernoulli(p) {
                sum += w * keep * x;
            }
        }
        *y = match bias {
            Some(b) => sum + b[o],
            None => sum,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_drop_at_the_given_rate_and_scale_the_rest() {
        let mut mask = vec![0.0f32; 100_000];
        bernoulli_mask(&mut mask, 0.3, 1.0 / 0.7, &mut Rng::seed(1));
        let dropped = mask.iter().filter(|&&m| m == 0.0).count() as f64 / mask.len() as f64;
        assert!((dropped - 0.3).abs() < 0.005, "{dropped}");
        assert!(mask.iter().all(|&m| m == 0.0 || m == 1.0 / 0.7));
        // Inverted dropout keeps the mean: E[mask] = 1.
        let mean = mask.iter().map(|&m| f64::from(m)).sum::<f64>() / mask.len() as f64;
        assert!((mean - 1.0).abs() < 0.01, "{mean}");
        let mut noise = vec![0.0f32; 100_000];
        gaussian_noise(&mut noise, 0.5, &mut Rng::seed(2));
        let var = noise.iter().map(|&n| f64::from(n).powi(2)).sum::<f64>() / noise.len() as f64;
        assert!((var.sqrt() - 0.5).abs() < 0.005, "{var}");
    }
}
