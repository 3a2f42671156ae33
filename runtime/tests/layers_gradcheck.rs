//! GELU, SiLU and layer norm against their formulas written out in f64 here, independently of
//! the runtime's code: forward values, and backward passes against central finite differences
//! (fourth order, in f64) of those formulas. GELU's erfc is a power series below 1 and a
//! continued fraction above (both accurate to about 1e-15 relative), not the runtime's
//! Chebyshev fit.
//!
//! Measured values are printed (`cargo test --test layers_gradcheck -- --nocapture`).

use netspec_runtime::Rng;
use netspec_runtime::ops::GradMode;
use netspec_runtime::ops::activation::Activation;
use netspec_runtime::ops::layernorm::{self, LayerNormShape};
use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// `erfc(z)` for `z >= 0`: `1 - erf` from the Maclaurin series of erf below 1, the continued
/// fraction `exp(-z^2) / sqrt(pi) / (z + (1/2) / (z + 1 / (z + (3/2) / (z + ...))))` above,
/// 300 levels deep.
fn erfc_reference(z: f64) -> f64 {
    if z < 1.0 {
        // erf(z) = 2 / sqrt(pi) * sum (-1)^n z^(2n+1) / (n! (2n+1))
        let (mut sum, mut power) = (0.0, z);
        for n in 0..40 {
            sum += power / f64::from(2 * n + 1);
            power *= -z * z / f64::from(n + 1);
        }
        1.0 - 2.0 / PI.sqrt() * sum
    } else {
        let mut f = z;
        for n in (1..=300).rev() {
            f = z + f64::from(n) / 2.0 / f;
        }
        (-z * z).exp() / (PI.sqrt() * f)
    }
}

fn gelu_reference(x: f64) -> f64 {
    let tail = 0.5 * erfc_reference(x.abs() * FRAC_1_SQRT_2);
    x * if x < 0.0 { tail } else { 1.0 - tail }
}

fn silu_reference(x: f64) -> f64 {
    x / (1.0 + (-x).exp())
}

/// `f'(x)` by the fourth-order central difference with step `h`.
fn derivative(mut f: impl FnMut(f64) -> f64, x: f64, h: f64) -> f64 {
    (f(x - 2.0 * h) - 8.0 * f(x - h) + 8.0 * f(x + h) - f(x + 2.0 * h)) / (12.0 * h)
}

/// `f32(x)` on a dense grid of [-10, 10] (step 1e-4, 200001 points).
fn dense_grid() -> Vec<f32> {
    (0..=200_000).map(|i| (-10.0 + f64::from(i) * 1e-4) as f32).collect()
}

/// The worst relative error of an activation's forward over [-10, 10] against its f64 formula.
/// Both compute in f64 and round once to f32, so it stays within half an ulp, 2^-24 = 5.96e-8
/// relative (plus a hair for the f64 error of GELU's erfc, below 1e-11).
#[test]
fn forward_relative_error_over_a_dense_grid() {
    let x = dense_grid();
    let mut y = vec![f32::NAN; x.len()];
    for (act, reference) in
        [(Activation::Gelu, gelu_reference as fn(f64) -> f64), (Activation::Silu, silu_reference)]
    {
        act.forward(&x, &mut y);
        let mut worst = (0.0f64, 0.0f32);
        for (&x, &y) in x.iter().zip(&y) {
            let want = reference(f64::from(x));
            let err =
                if want == 0.0 { f64::from(y).abs() } else { (f64::from(y) / want - 1.0).abs() };
            if err > worst.0 {
                worst = (err, x);
            }
        }
        println!("{act:?} forward: max relative error {:.3e} at x = {}", worst.0, worst.1);
        assert!(worst.0 <= 6.5e-8, "{act:?}: relative error {:.3e} at x = {}", worst.0, worst.1);
    }
}

/// `dx += dy f'(x)` against `dy` times the finite difference of the f64 formula, over [-12, 12]
/// and beyond: `|got - want| <= 2e-7 max(|want|, |dy| 1e-1)`: relative (f32 rounding is 6e-8),
/// with a floor where `f'` crosses 0 (GELU at -0.75, SiLU at -1.28) and is a difference of
/// O(1) terms.
#[test]
fn activation_backward_matches_finite_differences() {
    let mut x: Vec<f32> = (0..=480).map(|i| -12.0 + i as f32 * 0.05 + 0.0123).collect();
    x.extend([-40.0, -25.0, -1e-4, 0.0, 1e-4, 25.0, 40.0]);
    let mut rng = Rng::seed(7);
    let dy: Vec<f32> = x.iter().map(|_| rng.normal(0.0, 1.0)).collect();
    for (act, reference) in
        [(Activation::Gelu, gelu_reference as fn(f64) -> f64), (Activation::Silu, silu_reference)]
    {
        let mut y = vec![f32::NAN; x.len()];
        act.forward(&x, &mut y);
        // From 0, to see tiny derivatives at full precision (adding into dx: the unit tests).
        let mut dx = vec![0.0; x.len()];
        act.backward(&x, &y, &dy, &mut dx, GradMode::Add);
        let mut worst = 0.0f64;
        for ((&x, &dy), &dx) in x.iter().zip(&dy).zip(&dx) {
            let want = f64::from(dy) * derivative(reference, f64::from(x), 1e-3);
            let got = f64::from(dx);
            let err = (got - want).abs() / want.abs().max(0.1 * f64::from(dy).abs());
            worst = worst.max(err);
            assert!(err <= 2e-7, "{act:?} at {x}: dx {got}, finite difference {want}");
        }
        println!("{act:?} backward: worst error {worst:.3e} (relative, floored)");
    }
}

/// Layer norm in f64 on one row: `gamma (x - mean) / sqrt(var + eps) + beta`.
fn layer_norm_reference(x: &[f64], gamma: &[f64], beta: &[f64], eps: f64) -> Vec<f64> {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let inv_std = 1.0 / (var + eps).sqrt();
    x.iter().zip(gamma).zip(beta).map(|((x, g), b)| g * (x - mean) * inv_std + b).collect()
}

/// The loss `sum(w y)` over all rows, in f64.
fn loss(x: &[f64], gamma: &[f64], beta: &[f64], w: &[f32], features: usize, eps: f64) -> f64 {
    x.chunks_exact(features)
        .zip(w.chunks_exact(features))
        .map(|(x, w)| {
            let y = layer_norm_reference(x, gamma, beta, eps);
            y.iter().zip(w).map(|(y, &w)| y * f64::from(w)).sum::<f64>()
        })
        .sum()
}

fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&v| f64::from(v)).collect()
}

/// The gradient of `loss` with respect to each entry of `at` (one of its arguments), by
/// perturbing that entry alone.
fn numeric_gradient(at: &[f64], loss: impl Fn(&[f64]) -> f64, h: f64) -> Vec<f64> {
    (0..at.len())
        .map(|i| {
            let mut v = at.to_vec();
            derivative(
                |t| {
                    v[i] = at[i] + t;
                    loss(&v)
                },
                0.0,
                h,
            )
        })
        .collect()
}

/// `|got - want| <= 1e-5 max(|want|, 1e-2 scale)`, the worst ratio returned.
fn assert_near(case: &str, what: &str, got: &[f32], want: &[f64], scale: f64) -> f64 {
    let mut worst = 0.0f64;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(g.is_finite(), "{case} {what}[{i}]: {g}");
        let err = (f64::from(g) - w).abs() / w.abs().max(1e-2 * scale);
        worst = worst.max(err);
        assert!(err <= 1e-5, "{case} {what}[{i}]: got {g}, want {w}");
    }
    worst
}

/// dx, dgamma and dbeta of `sum(w y)` against finite differences of the f64 formula, for rows
/// of 1 (y = beta, no NaN), 2, 5 and 16 features, with PyTorch's default eps and a large one.
#[test]
fn layer_norm_backward_matches_finite_differences() {
    let mut rng = Rng::seed(11);
    for (rows, features, eps) in
        [(3, 1, 1e-5), (3, 2, 1e-5), (4, 5, 0.1), (2, 16, 1e-5), (3, 7, 1e-3)]
    {
        let case = format!("{rows} rows of {features}, eps {eps}");
        let shape = LayerNormShape { features, eps };
        let len = rows * features;
        let x: Vec<f32> = (0..len).map(|i| rng.normal(0.0, 1.5) + (i / features) as f32).collect();
        let gamma: Vec<f32> = (0..features).map(|_| rng.normal(1.0, 0.5)).collect();
        let beta: Vec<f32> = (0..features).map(|_| rng.normal(0.0, 0.5)).collect();
        let w: Vec<f32> = (0..len).map(|_| rng.normal(0.0, 1.0)).collect();
        let (x64, gamma64, beta64, eps64) =
            (widen(&x), widen(&gamma), widen(&beta), f64::from(eps));

        let mut y = vec![f32::NAN; len];
        let mut x_hat = vec![f32::NAN; len];
        let mut inv_std = vec![f32::NAN; rows];
        layernorm::forward(shape, &x, &mut y, &mut x_hat, &mut inv_std, &gamma, &beta);
        let want_y: Vec<f64> = x64
            .chunks_exact(features)
            .flat_map(|row| layer_norm_reference(row, &gamma64, &beta64, eps64))
            .collect();
        let mut worst = [0.0f64; 4];
        worst[0] = assert_near(&case, "y", &y, &want_y, 1.0);

        // Backward with dy = w, from 0 to see small gradients at full precision (that all three
        // add into what is there: the unit tests).
        let mut dx = vec![0.0; len];
        let (mut dgamma, mut dbeta) = (vec![0.0; features], vec![0.0; features]);
        layernorm::backward(
            shape,
            &w,
            &x_hat,
            &inv_std,
            &gamma,
            &mut dgamma,
            &mut dbeta,
            Some(&mut dx),
        );

        let h = 1e-4;
        let num_dx = numeric_gradient(&x64, |x| loss(x, &gamma64, &beta64, &w, features, eps64), h);
        let num_dgamma =
            numeric_gradient(&gamma64, |g| loss(&x64, g, &beta64, &w, features, eps64), h);
        let num_dbeta =
            numeric_gradient(&beta64, |b| loss(&x64, &gamma64, b, &w, features, eps64), h);
        // dx: per row, scale of gamma * inv_std * |w|; dgamma, dbeta: sums over the rows.
        let dx_scale = inv_std.iter().map(|&s| f64::from(s)).fold(0.0, f64::max);
        worst[1] = assert_near(&case, "dx", &dx, &num_dx, dx_scale);
        worst[2] = assert_near(&case, "dgamma", &dgamma, &num_dgamma, 1.0);
        worst[3] = assert_near(&case, "dbeta", &dbeta, &num_dbeta, 1.0);
        if features == 1 {
            // One feature: x_hat = 0, y = beta, no gradient into x, all finite.
            assert!(inv_std.iter().all(|s| s.is_finite()), "{inv_std:?}");
            assert!(y.iter().all(|&y| y == beta[0]), "{y:?}");
            assert!(dx.iter().all(|&d| d == 0.0), "{dx:?}");
        }
        println!(
            "{case}: worst errors (relative, floored) y {:.2e}, dx {:.2e}, dgamma {:.2e}, \
             dbeta {:.2e}",
            worst[0], worst[1], worst[2], worst[3]
        );
    }
}
