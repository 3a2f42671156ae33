//! GELU, SiLU and layer norm against PyTorch (`nn.GELU()`, `nn.SiLU()`, `nn.LayerNorm`):
//! forward outputs and gradients for the cases in `reference/layers_reference_data.rs`,
//! generated from the repository root by
//!
//! ```text
//! /tmp/torchenv-layers/bin/python runtime/tests/reference/layers_reference.py \
//!     > runtime/tests/reference/layers_reference_data.rs
//! ```
//!
//! (any Python with torch and numpy; the torch version is recorded there as `TORCH_VERSION`).
//! The references are torch's float64 results from the f32 inputs.
//!
//! Tolerance: `|got - want| <= max(1e-5 |want|, 1e-6)` (1e-5 relative, 1e-6 absolute floor);
//! NaN and infinities exactly where torch has them. The worst case of each comparison, in units
//! of this tolerance, is printed (`cargo test --test layers_reference -- --nocapture`).

use netspec_runtime::ops::GradMode;
use netspec_runtime::ops::activation::Activation;
use netspec_runtime::ops::layernorm::{self, LayerNormShape};

struct ActivationCase {
    name: &'static str,
    x: &'static [f32],
    dy: &'static [f32],
    y: &'static [f32],
    dx: &'static [f32],
}

struct LayerNormCase {
    name: &'static str,
    rows: usize,
    features: usize,
    eps: f32,
    x: &'static [f32],
    gamma: &'static [f32],
    beta: &'static [f32],
    dy: &'static [f32],
    y: &'static [f32],
    dx: &'static [f32],
    dgamma: &'static [f32],
    dbeta: &'static [f32],
}

include!("reference/layers_reference_data.rs");

/// Asserts the tolerance and prints the worst `|got - want| / max(1e-5 |want|, 1e-6)`.
fn assert_close(case: &str, what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{case} {what}: length");
    let mut worst = 0.0f64;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        if w.is_finite() {
            let err = (f64::from(g) - f64::from(w)).abs() / (1e-5 * f64::from(w).abs()).max(1e-6);
            worst = worst.max(err);
            assert!(err <= 1.0, "{case} {what}[{i}]: got {g}, torch {TORCH_VERSION} gives {w}");
        } else {
            assert!(
                g == w || (g.is_nan() && w.is_nan()),
                "{case} {what}[{i}]: got {g}, torch {TORCH_VERSION} gives {w}"
            );
        }
    }
    println!("{case} {what}: worst {worst:.2e} of the tolerance");
}

#[test]
fn activations_match_torch() {
    assert_eq!(ACTIVATIONS.len(), 2);
    for c in ACTIVATIONS {
        let act = match c.name {
            "gelu" => Activation::Gelu,
            "silu" => Activation::Silu,
            other => panic!("no activation {other}"),
        };
        let mut y = vec![f32::NAN; c.x.len()];
        act.forward(c.x, &mut y);
        assert_close(c.name, "y", &y, c.y);
        // From 0, to see tiny gradients at full precision (adding into dx: the unit tests).
        let mut dx = vec![0.0; c.x.len()];
        act.backward(c.x, &y, c.dy, &mut dx, GradMode::Add);
        assert_close(c.name, "dx", &dx, c.dx);
    }
}

#[test]
fn layer_norm_matches_torch() {
    for c in LAYER_NORMS {
        let shape = LayerNormShape { features: c.features, eps: c.eps };
        assert_eq!(c.x.len(), c.rows * c.features, "{}", c.name);
        let mut y = vec![f32::NAN; c.x.len()];
        let mut x_hat = vec![f32::NAN; c.x.len()];
        let mut inv_std = vec![f32::NAN; c.rows];
        layernorm::forward(shape, c.x, &mut y, &mut x_hat, &mut inv_std, c.gamma, c.beta);
        assert_close(c.name, "y", &y, c.y);
        // The parameter gradients accumulate over calls: start from 1 and subtract it again
        // (half an ulp of 1 at most); dx from 0 (adding into it: the unit tests).
        let mut dgamma = vec![1.0; c.features];
        let mut dbeta = vec![1.0; c.features];
        let mut dx = vec![0.0; c.x.len()];
        layernorm::backward(
            shape,
            c.dy,
            &x_hat,
            &inv_std,
            c.gamma,
            &mut dgamma,
            &mut dbeta,
            Some(&mut dx),
        );
        for d in dgamma.iter_mut().chain(&mut dbeta) {
            *d -= 1.0;
        }
        assert_close(c.name, "dx", &dx, c.dx);
        assert_close(c.name, "dgamma", &dgamma, c.dgamma);
        assert_close(c.name, "dbeta", &dbeta, c.dbeta);
    }
}

#[test]
fn reference_records_the_torch_version() {
    assert!(TORCH_VERSION.starts_with("2."), "{TORCH_VERSION}");
}
