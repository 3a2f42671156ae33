//! Finite-difference gradient checks for the conv and pooling kernels.
//!
//! The scalar loss is `L = sum(y * r)` for a fixed random `r`, summed in f64, so the analytic
//! gradient is the backward pass with `dy = r`. Each input value is perturbed by `h = 1e-3` in
//! f32 both ways, and the central difference divides by the perturbation actually stored
//! (`x + h` and `x - h` rounded to f32). Conv and the pools are piecewise linear, so the
//! difference has no truncation error, only the f32 rounding of the outputs it moves.
//!
//! Tolerance: `|numeric - analytic| <= 5e-3 * max(1, |analytic|)`. The error is the f32
//! rounding of every output the perturbed value moves (about `ulp(|y|) * sqrt(outputs) / 2h`):
//! observed worst 1.6e-3 for conv weights (one weight moves a whole output plane of every row),
//! below 1e-4 for the pools; a wrong or missing term would be off by O(1). Max-pool inputs are
//! distinct values at least 0.01 apart, so no perturbation changes an argmax.

use netspec_runtime::Rng;
use netspec_runtime::ops::GradMode;
use netspec_runtime::ops::conv::{ConvShape, conv2d_backward, conv2d_forward};
use netspec_runtime::ops::pool::{
    FRACTIONAL_EVAL_SAMPLE, FractionalPoolShape, ImageShape, PoolShape, avgpool2d_backward,
    avgpool2d_forward, fractional_maxpool2d_backward, fractional_maxpool2d_forward,
    fractional_samples, global_avgpool_backward, global_avgpool_forward, maxpool2d_backward,
    maxpool2d_forward,
};

fn scratch_for(shape: ConvShape) -> Vec<f32> {
    vec![f32::NAN; shape.scratch_len()]
}

const H: f32 = 1e-3;
const TOL: f64 = 5e-3;

fn normal(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.normal(0.0, 1.0)).collect()
}

/// `n` distinct values at least 0.01 apart, in random order (no max-pool ties under `h`).
fn distinct(rng: &mut Rng, n: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..n).map(|i| (i as f32 - n as f32 / 2.0) * 0.02).collect();
    rng.shuffle(&mut v);
    v
}

fn dot(y: &[f32], r: &[f32]) -> f64 {
    y.iter().zip(r).map(|(&y, &r)| f64::from(y) * f64::from(r)).sum()
}

/// Compares `analytic` with central differences of `loss` around `x`; returns the worst error.
fn check(name: &str, x: &[f32], analytic: &[f32], mut loss: impl FnMut(&[f32]) -> f64) -> f64 {
    assert_eq!(x.len(), analytic.len(), "{name}");
    let mut worst = 0.0f64;
    let mut p = x.to_vec();
    for i in 0..x.len() {
        p[i] = x[i] + H;
        let (up, xu) = (loss(&p), p[i]);
        p[i] = x[i] - H;
        let (down, xd) = (loss(&p), p[i]);
        p[i] = x[i];
        let numeric = (up - down) / (f64::from(xu) - f64::from(xd));
        let a = f64::from(analytic[i]);
        let err = (numeric - a).abs() / a.abs().max(1.0);
        assert!(err <= TOL, "{name}[{i}]: numeric {numeric}, analytic {a}");
        worst = worst.max(err);
    }
    worst
}

#[test]
fn conv2d_gradients() {
    let mut rng = Rng::seed(1);
    let square = |[c, h, w, f, k, s, p]: [usize; 7]| ConvShape::square([c, h, w], f, k, s, p);
    let shapes = [
        (square([3, 7, 6, 4, 3, 2, 1]), 2),
        (square([1, 8, 8, 4, 3, 1, 1]), 2),
        (square([2, 8, 7, 3, 2, 3, 0]), 2),
        (square([2, 5, 5, 2, 5, 1, 2]), 1),
        (square([2, 4, 6, 3, 3, 1, 0]), 3),
        // Per-axis kernel, stride and padding (the DS-CNN's first layer), dilation, groups.
        (
            ConvShape {
                kernel: [4, 3],
                stride: [2, 1],
                pad: [1, 0],
                dilation: [1, 2],
                ..square([2, 9, 8, 4, 1, 1, 0])
            },
            2,
        ),
        // Depthwise: one filter per channel.
        (ConvShape { groups: 3, ..square([3, 6, 5, 3, 3, 1, 1]) }, 2),
        // Two groups of two channels, two filters each, dilated.
        (ConvShape { groups: 2, dilation: [2, 2], ..square([4, 7, 7, 4, 2, 2, 1]) }, 2),
        // A 1-D convolution: height 1.
        (
            ConvShape {
                kernel: [1, 3],
                pad: [0, 2],
                dilation: [1, 2],
                ..square([2, 1, 9, 3, 1, 1, 0])
            },
            3,
        ),
    ];
    for (shape, rows) in shapes {
        let f = shape.filters;
        let name = format!("{shape:?}");
        let x = normal(&mut rng, rows * shape.input_len());
        // Kaiming-like scale keeps the outputs of order 1, as in a trained network.
        let scale = (2.0 / (shape.weight_len() / f) as f32).sqrt();
        let weight: Vec<f32> =
            normal(&mut rng, shape.weight_len()).iter().map(|w| w * scale).collect();
        let bias = normal(&mut rng, f);
        let r = normal(&mut rng, rows * shape.output_len());
        let mut y = vec![0.0; r.len()];
        let mut loss = |x: &[f32], weight: &[f32], bias: &[f32]| {
            conv2d_forward(shape, weight, Some(bias), x, &mut y, &mut scratch_for(shape), rows)
                .unwrap();
            dot(&y, &r)
        };
        let (mut dw, mut db, mut dx) = (vec![0.0; weight.len()], vec![0.0; f], vec![0.0; x.len()]);
        conv2d_backward(
            shape,
            &weight,
            &x,
            &r,
            &mut dw,
            Some(&mut db),
            (Some(&mut dx), GradMode::Add),
            &mut scratch_for(shape),
            rows,
        )
        .unwrap();
        let worst = [
            check(&format!("{name} dx"), &x, &dx, |x| loss(x, &weight, &bias)),
            check(&format!("{name} dweight"), &weight, &dw, |w| loss(&x, w, &bias)),
            check(&format!("{name} dbias"), &bias, &db, |b| loss(&x, &weight, b)),
        ];
        println!("{name}: worst relative errors dx/dweight/dbias {worst:?}");
    }
}

#[test]
fn maxpool2d_gradients() {
    let mut rng = Rng::seed(2);
    for (kernel, stride, pad) in [(3, 2, 1), (2, 2, 0), (2, 1, 1), (3, 1, 1), (2, 3, 0)] {
        let shape = PoolShape::square([2, 7, 6], kernel, stride, pad);
        let rows = 2;
        let x = distinct(&mut rng, rows * shape.input_len());
        let r = normal(&mut rng, rows * shape.output_len());
        let (mut y, mut argmax) = (vec![0.0; r.len()], vec![0; r.len()]);
        maxpool2d_forward(shape, &x, &mut y, &mut argmax, rows).unwrap();
        let mut dx = vec![0.0; x.len()];
        maxpool2d_backward(shape, &r, &argmax, &mut dx, GradMode::Add, rows).unwrap();
        let worst = check(&format!("{shape:?}"), &x, &dx, |x| {
            maxpool2d_forward(shape, x, &mut y, &mut argmax, rows).unwrap();
            dot(&y, &r)
        });
        println!("{shape:?}: worst relative error {worst}");
    }
}

#[test]
fn avgpool2d_gradients() {
    let mut rng = Rng::seed(3);
    let squares = [(3, 2, 1), (2, 2, 0), (2, 1, 1), (3, 1, 1), (2, 3, 0)]
        .map(|(kernel, stride, pad)| PoolShape::square([2, 7, 6], kernel, stride, pad));
    // Without counting the padding; and a 1-D window (height 1).
    let options = [
        PoolShape { count_pad: false, ..PoolShape::square([2, 7, 6], 3, 2, 1) },
        PoolShape {
            kernel: [1, 3],
            stride: [1, 2],
            pad: [0, 1],
            count_pad: false,
            ..PoolShape::square([3, 1, 9], 1, 1, 0)
        },
    ];
    for shape in squares.into_iter().chain(options) {
        let rows = 2;
        let x = normal(&mut rng, rows * shape.input_len());
        let r = normal(&mut rng, rows * shape.output_len());
        let mut y = vec![0.0; r.len()];
        let mut dx = vec![0.0; x.len()];
        avgpool2d_backward(shape, &r, &mut dx, GradMode::Add, rows).unwrap();
        let worst = check(&format!("{shape:?}"), &x, &dx, |x| {
            avgpool2d_forward(shape, x, &mut y, rows).unwrap();
            dot(&y, &r)
        });
        println!("{shape:?}: worst relative error {worst}");
    }
}

#[test]
fn global_avgpool_gradients() {
    let mut rng = Rng::seed(4);
    let shape = ImageShape { channels: 3, height: 5, width: 4 };
    let rows = 2;
    let x = normal(&mut rng, rows * shape.len());
    let r = normal(&mut rng, rows * shape.channels);
    let mut y = vec![0.0; r.len()];
    let mut dx = vec![0.0; x.len()];
    global_avgpool_backward(shape, &r, &mut dx, GradMode::Add, rows).unwrap();
    let worst = check("global_avgpool", &x, &dx, |x| {
        global_avgpool_forward(shape, x, &mut y, rows).unwrap();
        dot(&y, &r)
    });
    println!("global_avgpool: worst relative error {worst}");
}

#[test]
fn fractional_maxpool2d_gradients() {
    let mut rng = Rng::seed(5);
    for (height, width, alpha) in [(9, 7, 1.41), (8, 8, 1.5), (8, 8, 1.9), (5, 4, 1.2)] {
        let shape = FractionalPoolShape::from_alpha(2, height, width, alpha).unwrap();
        let rows = 3;
        let mut samples = vec![0.0; rows * 2];
        fractional_samples(&mut rng, &mut samples);
        // The last row uses the eval rule.
        samples[4..].fill(FRACTIONAL_EVAL_SAMPLE);
        let x = distinct(&mut rng, rows * shape.input_len());
        let r = normal(&mut rng, rows * shape.output_len());
        let (mut y, mut argmax) = (vec![0.0; r.len()], vec![0; r.len()]);
        fractional_maxpool2d_forward(shape, &samples, &x, &mut y, &mut argmax, rows).unwrap();
        let mut dx = vec![0.0; x.len()];
        fractional_maxpool2d_backward(shape, &r, &argmax, &mut dx, GradMode::Add, rows).unwrap();
        let worst = check(&format!("{shape:?}"), &x, &dx, |x| {
            fractional_maxpool2d_forward(shape, &samples, x, &mut y, &mut argmax, rows).unwrap();
            dot(&y, &r)
        });
        println!("{shape:?}: worst relative error {worst}");
    }
}
