//! A small, self-contained, reproducible random number generator.
//!
//! [`Rng`] is xoshiro256++ (Blackman and Vigna, 2019) seeded from a `u64` through splitmix64,
//! exactly as the authors' reference code recommends. It is implemented here rather than taken
//! from a crate so that a seed gives the same stream forever, whatever happens upstream.
//!
//! Reproducibility: the integer stream ([`Rng::next_u64`]), [`Rng::uniform_f32`],
//! [`Rng::uniform`], [`Rng::bernoulli`], [`Rng::below`] and [`Rng::shuffle`] are bit-identical on
//! every platform. [`Rng::normal`] and [`Rng::beta`] also call `ln`, `cos` and `exp` from the
//! platform's math library, which may differ in the last bit between platforms; on one platform
//! they are bit-identical run after run.

use crate::math::{cos, exp, ln, powi, sqrt};
use core::convert::Infallible;

/// xoshiro256++ pseudo-random number generator.
///
/// Not cryptographically secure. `Clone` copies the state, so a clone replays the same stream;
/// use [`Rng::fork`] for an independent stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

/// One step of splitmix64 (Steele, Lea and Flood, 2014): advances `state`, returns the output.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator whose 256-bit state is four consecutive splitmix64 outputs from `seed`.
    pub fn seed(seed: u64) -> Self {
        let mut sm = seed;
        Rng {
            s: [splitmix64(&mut sm), splitmix64(&mut sm), splitmix64(&mut sm), splitmix64(&mut sm)],
        }
    }

    /// The next 64 random bits (xoshiro256++ reference `next()`).
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Advances the state by 2^128 steps (xoshiro256 reference `jump()`).
    fn jump(&mut self) {
        const JUMP: [u64; 4] = [
            0x180e_c6d3_3cfd_0aba,
            0xd5a6_1266_f0c9_392c,
            0xa958_2618_e03f_c9aa,
            0x39ab_dc45_29b1_661c,
        ];
        let mut acc = [0u64; 4];
        for word in JUMP {
            for bit in 0..64 {
                if word & (1 << bit) != 0 {
                    for (a, s) in acc.iter_mut().zip(self.s) {
                        *a ^= s;
                    }
                }
                self.next_u64();
            }
        }
        self.s = acc;
    }

    /// Splits off an independent stream.
    ///
    /// The returned generator continues from the current state; `self` jumps 2^128 steps ahead,
    /// so the two streams cannot overlap unless one of them draws 2^128 numbers.
    pub fn fork(&mut self) -> Rng {
        let child = self.clone();
        self.jump();
        child
    }

    /// Uniform in `[0, 1)` with 24 random bits: the top 24 bits of [`Rng::next_u64`] times 2^-24.
    pub fn uniform_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u32 << 24) as f32)
    }

    /// Uniform in `[0, 1)` with 53 random bits; used by the samplers below.
    pub(crate) fn uniform_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `(0, 1]`, safe to take the logarithm of.
    fn uniform_open0_f64(&mut self) -> f64 {
        1.0 - self.uniform_f64()
    }

    /// `lo + (hi - lo) * u` with `u = uniform_f32()`, the formula of PyTorch's `uniform_`.
    ///
    /// The result lies in `[lo, hi)` up to f32 rounding of the product (it can round to `hi`).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.uniform_f32()
    }

    /// A standard normal draw in f64 by the Box–Muller transform.
    ///
    /// Each call consumes exactly two `u64` and discards the second Box–Muller value instead of
    /// caching it, so the stream position after `k` calls never depends on earlier calls.
    fn standard_normal_f64(&mut self) -> f64 {
        let u1 = self.uniform_open0_f64();
        let u2 = self.uniform_f64();
        sqrt(-2.0 * ln(u1)) * cos(core::f64::consts::TAU * u2)
    }

    /// `mean + std * z`, with `z` standard normal (Box–Muller in f64, rounded to f32 once).
    ///
    /// Each call consumes exactly two `u64`; the second Box–Muller value is not cached.
    pub fn normal(&mut self, mean: f32, std: f32) -> f32 {
        (mean as f64 + std as f64 * self.standard_normal_f64()) as f32
    }

    /// `true` with probability `p` (`uniform_f32() < p`): `p <= 0` is never, `p >= 1` always.
    pub fn bernoulli(&mut self, p: f32) -> bool {
        self.uniform_f32() < p
    }

    /// Uniform integer in `0..n`, without modulo bias (Lemire, 2019, "Fast random integer
    /// generation in an interval"). Returns 0 without drawing when `n == 0`.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let n = n as u64;
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            // Reject the low products that would make some outcomes more likely.
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as usize
    }

    /// Shuffles in place, every permutation equally likely (Fisher–Yates, from the back).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// `ln` of a Gamma(`shape`, 1) draw, for `shape > 0`.
    ///
    /// Marsaglia and Tsang (2000) for `shape >= 1`; for `shape < 1` their boost
    /// `G(shape) = G(shape + 1) * U^(1/shape)`, kept in log space so tiny shapes cannot
    /// underflow to 0.
    fn ln_gamma_draw(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let ln_u = ln(self.uniform_open0_f64());
            return self.ln_gamma_draw(shape + 1.0) + ln_u / shape;
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / sqrt(9.0 * d);
        loop {
            let x = self.standard_normal_f64();
            let v = 1.0 + c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = self.uniform_open0_f64();
            if u < 1.0 - 0.0331 * powi(x, 4) || ln(u) < 0.5 * x * x + d * (1.0 - v + ln(v)) {
                return ln(d) + ln(v);
            }
        }
    }

    /// A Beta(`a`, `b`) draw as `X / (X + Y)` with `X ~ Gamma(a)`, `Y ~ Gamma(b)`
    /// (mixup uses `beta(alpha, alpha)`).
    ///
    /// Returns NaN, without drawing, unless both `a` and `b` are finite and positive.
    pub fn beta(&mut self, a: f32, b: f32) -> f32 {
        let valid = |s: f32| s.is_finite() && s > 0.0;
        if !valid(a) || !valid(b) {
            return f32::NAN;
        }
        let ln_x = self.ln_gamma_draw(a as f64);
        let ln_y = self.ln_gamma_draw(b as f64);
        // X / (X + Y) = 1 / (1 + Y/X), evaluated from the logarithms.
        (1.0 / (1.0 + exp(ln_y - ln_x))) as f32
    }
}

/// Lets `Rng` drive code written against `rand_core` (and so `rand`'s distributions).
impl rand_core::TryRng for Rng {
    type Error = Infallible;

    /// The high 32 bits of [`Rng::next_u64`] (the better bits of xoshiro output).
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.next_u64() >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.next_u64())
    }

    /// Little-endian bytes of successive [`Rng::next_u64`] values; a partial last word is
    /// truncated.
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Golden values from an independent Python transcription of the reference C code
    // (splitmix64.c and xoshiro256plusplus.c by Blackman and Vigna).
    #[test]
    fn golden_stream_seed_42() {
        let mut rng = Rng::seed(42);
        let got: Vec<u64> = (0..5).map(|_| rng.next_u64()).collect();
        assert_eq!(
            got,
            [
                0xd076_4d4f_4476_689f,
                0x519e_4174_576f_3791,
                0xfbe0_7cfb_0c24_ed8c,
                0xb37d_9f60_0cd8_35b8,
                0xcb23_1c38_7484_6a73,
            ]
        );
    }

    #[test]
    fn golden_stream_seed_0_and_splitmix() {
        let mut sm = 0;
        // First splitmix64 output for seed 0, a widely published value.
        assert_eq!(splitmix64(&mut sm), 0xe220_a839_7b1d_cdaf);
        let mut rng = Rng::seed(0);
        assert_eq!(rng.next_u64(), 0x5317_5d61_490b_23df);
        assert_eq!(rng.next_u64(), 0x61da_6f3d_c380_d507);
        assert_eq!(rng.next_u64(), 0x5c0f_df91_ec9a_7bfc);
    }

    #[test]
    fn golden_uniform_f32() {
        // (next_u64 >> 40) * 2^-24 for the seed-42 stream above: the top 24 bits of
        // 0xd0764d4f..., 0x519e4174..., 0xfbe07cfb... are 13661773, 5348929, 16507004.
        let mut rng = Rng::seed(42);
        for top24 in [13_661_773.0, 5_348_929.0, 16_507_004.0] {
            assert_eq!(rng.uniform_f32(), top24 / 16_777_216.0);
        }
    }

    #[test]
    fn fork_matches_reference_jump() {
        let mut parent = Rng::seed(42);
        let mut child = parent.fork();
        // The child replays the parent's old stream.
        assert_eq!(child.next_u64(), 0xd076_4d4f_4476_689f);
        // The parent continues 2^128 steps ahead (Python transcription of `jump()`).
        assert_eq!(parent.next_u64(), 0xc0b6_f4be_293b_1ae5);
        assert_eq!(parent.next_u64(), 0x5db3_dd96_83e7_bb33);
        assert_eq!(parent.next_u64(), 0x08d1_77ef_ba75_b08e);
    }

    #[test]
    fn same_seed_same_samples() {
        let draw = |seed| {
            let mut rng = Rng::seed(seed);
            let mut v = Vec::new();
            for _ in 0..100 {
                v.push(rng.normal(0.0, 1.0).to_bits());
                v.push(rng.beta(0.2, 0.2).to_bits());
                v.push(rng.below(7) as u32);
            }
            v
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn normal_consumes_two_words() {
        let mut a = Rng::seed(3);
        let mut b = Rng::seed(3);
        a.normal(0.0, 1.0);
        b.next_u64();
        b.next_u64();
        assert_eq!(a, b);
    }

    fn mean_var(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        (mean, var)
    }

    #[test]
    fn normal_moments() {
        // n = 200k: the standard error of the mean is 2/sqrt(n) ~ 0.0045 and of the variance
        // ~ 4*sqrt(2/n) ~ 0.0126; tolerances are about 5 standard errors.
        let mut rng = Rng::seed(1);
        let xs: Vec<f64> = (0..200_000).map(|_| rng.normal(1.5, 2.0) as f64).collect();
        let (mean, var) = mean_var(&xs);
        assert!((mean - 1.5).abs() < 0.025, "mean {mean}");
        assert!((var - 4.0).abs() < 0.065, "var {var}");
    }

    #[test]
    fn uniform_range_and_moments() {
        let mut rng = Rng::seed(2);
        let xs: Vec<f64> = (0..200_000)
            .map(|_| {
                let x = rng.uniform(-1.0, 3.0);
                assert!((-1.0..3.0).contains(&x));
                x as f64
            })
            .collect();
        // Uniform(-1, 3): mean 1, variance 16/12.
        let (mean, var) = mean_var(&xs);
        assert!((mean - 1.0).abs() < 0.015, "mean {mean}");
        assert!((var - 16.0 / 12.0).abs() < 0.015, "var {var}");
    }

    #[test]
    fn bernoulli_rate_and_edges() {
        let mut rng = Rng::seed(4);
        let hits = (0..100_000).filter(|_| rng.bernoulli(0.3)).count();
        // sd of the count = sqrt(n p (1-p)) ~ 145.
        assert!((hits as i64 - 30_000).abs() < 750, "hits {hits}");
        assert!((0..1000).all(|_| rng.bernoulli(1.0)));
        assert!((0..1000).all(|_| !rng.bernoulli(0.0)));
    }

    #[test]
    fn below_is_in_range_and_unbiased() {
        let mut rng = Rng::seed(5);
        let mut counts = [0usize; 6];
        for _ in 0..60_000 {
            counts[rng.below(6)] += 1;
        }
        // Expected 10_000 each, sd ~ 91.
        for c in counts {
            assert!((c as i64 - 10_000).abs() < 450, "{counts:?}");
        }
        assert_eq!(rng.below(1), 0);
        let before = rng.clone();
        assert_eq!(rng.below(0), 0);
        assert_eq!(rng, before, "below(0) must not draw");
        // A bound near 2^64 exercises the rejection branch.
        let big = usize::MAX / 3 * 2;
        assert!((0..1000).all(|_| rng.below(big) < big));
    }

    #[test]
    fn shuffle_is_a_uniform_permutation() {
        let mut rng = Rng::seed(6);
        let mut v: Vec<usize> = (0..50).collect();
        rng.shuffle(&mut v);
        let mut sorted = v.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(v, sorted);
        // Each of the 6 orders of 3 items appears ~1/6 of the time.
        let mut counts = std::collections::HashMap::new();
        for _ in 0..60_000 {
            let mut p = [0, 1, 2];
            rng.shuffle(&mut p);
            *counts.entry(p).or_insert(0i64) += 1;
        }
        assert_eq!(counts.len(), 6);
        assert!(counts.values().all(|&c| (c - 10_000).abs() < 450), "{counts:?}");
    }

    #[test]
    fn beta_moments() {
        // Beta(a, b): mean a/(a+b), variance ab/((a+b)^2 (a+b+1)).
        for (a, b) in [(0.2f32, 0.2f32), (2.0, 5.0), (1.0, 1.0)] {
            let mut rng = Rng::seed(9);
            let xs: Vec<f64> = (0..100_000)
                .map(|_| {
                    let x = rng.beta(a, b);
                    assert!((0.0..=1.0).contains(&x), "{x}");
                    x as f64
                })
                .collect();
            let (a, b) = (a as f64, b as f64);
            let want_mean = a / (a + b);
            let want_var = a * b / ((a + b).powi(2) * (a + b + 1.0));
            let (mean, var) = mean_var(&xs);
            assert!((mean - want_mean).abs() < 0.01, "a={a} b={b} mean {mean}");
            assert!((var - want_var).abs() < 0.01 * want_var.max(0.1), "a={a} b={b} var {var}");
        }
        let mut rng = Rng::seed(9);
        assert!(rng.beta(0.0, 1.0).is_nan());
        assert!(rng.beta(1.0, f32::NAN).is_nan());
        // A tiny shape must not produce 0/0.
        assert!((0..1000).all(|_| !rng.beta(0.01, 0.01).is_nan()));
    }

    #[test]
    fn implements_rand_core() {
        use rand_core::Rng as _;
        let mut a = Rng::seed(11);
        let mut b = Rng::seed(11);
        assert_eq!(a.next_u32(), (b.next_u64() >> 32) as u32);
        let mut bytes = [0u8; 12];
        a.fill_bytes(&mut bytes);
        let w0 = b.next_u64().to_le_bytes();
        let w1 = b.next_u64().to_le_bytes();
        assert_eq!(bytes[..8], w0);
        assert_eq!(bytes[8..], w1[..4]);
    }
}
