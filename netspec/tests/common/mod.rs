//! An independent f64 reference: the IR of a spec, interpreted sample by sample.
//!
//! The generated code is f32 and written very differently (batched rows, ping-pong gradient
//! buffers, a lane-split dot product); this straightforward f64 interpreter of the same IR is the
//! oracle its losses are compared with, and the function central differences are taken of.
#![allow(dead_code)]

use netspec_grammar::ir::{self, Activation, LossKind, Op, Role};

/// The targets of one mini-batch.
pub enum Targets<'a> {
    /// Class indices, one per sample.
    Labels(&'a [usize]),
    /// `OUTPUT` values per sample.
    Values(&'a [f32]),
}

/// The one network of a spec text.
pub fn network(spec: &str) -> ir::Network {
    let mut nets = netspec_grammar::check_source(spec).unwrap_or_else(|d| panic!("{d:?}"));
    assert_eq!(nets.len(), 1);
    nets.remove(0)
}

/// Mean data loss over the batch plus penalties, all in f64.
pub fn loss(net: &ir::Network, params: &[f64], inputs: &[f32], targets: &Targets<'_>) -> f64 {
    let input = net.input.len();
    let batch = inputs.len() / input;
    let output = net.trunk_output().len();
    let mut data = 0.0;
    for n in 0..batch {
        let a = forward(net, params, &inputs[n * input..(n + 1) * input]);
        let loss = net.loss.unwrap();
        data += loss.weight
            * match (loss.kind, targets) {
                (LossKind::SoftmaxCrossEntropy, Targets::Labels(labels)) => {
                    let max = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let lse = max + a.iter().map(|z| (z - max).exp()).sum::<f64>().ln();
                    lse - a[labels[n]]
                }
                (LossKind::Mse, Targets::Values(t)) => {
                    a.iter()
                        .zip(&t[n * output..])
                        .map(|(y, &t)| (y - t as f64).powi(2))
                        .sum::<f64>()
                        / output as f64
                }
                (LossKind::BinaryCrossEntropy, Targets::Values(t)) => {
                    a.iter()
                        .zip(&t[n * output..])
                        .map(|(&z, &t)| {
                            // -[t ln s(z) + (1 - t) ln(1 - s(z))]
                            let s = 1.0 / (1.0 + (-z).exp());
                            -(t as f64 * s.ln() + (1.0 - t as f64) * (1.0 - s).ln())
                        })
                        .sum::<f64>()
                        / output as f64
                }
                _ => panic!("targets do not fit the loss"),
            };
    }
    data / batch as f64 + penalty(net, params)
}

/// The network's output for one sample.
pub fn forward(net: &ir::Network, params: &[f64], sample: &[f32]) -> Vec<f64> {
    let mut a: Vec<f64> = sample.iter().map(|&v| v as f64).collect();
    for layer in &net.layers {
        a = match &layer.op {
            Op::Dense { units, .. } => {
                let param =
                    |role| layer.params.iter().map(|&i| &net.params[i]).find(|p| p.role == role);
                let w = param(Role::Weight).unwrap();
                let b = param(Role::Bias);
                // y = W x + b, W row-major [units, in]
                (0..*units)
                    .map(|o| {
                        let row = &params[w.offset + o * a.len()..w.offset + (o + 1) * a.len()];
                        let dot: f64 = row.iter().zip(&a).map(|(w, x)| w * x).sum();
                        dot + b.map_or(0.0, |b| params[b.offset + o])
                    })
                    .collect()
            }
            Op::Activation(act) => a.iter().map(|&x| activate(*act, x)).collect(),
            Op::Flatten => a,
            other => panic!("oracle does not handle {other:?}"),
        };
    }
    a
}

/// The `penalty l1`/`l2` terms.
pub fn penalty(net: &ir::Network, params: &[f64]) -> f64 {
    let mut total = 0.0;
    for p in &net.params {
        let w = &params[p.offset..p.offset + p.len];
        if let Some(a) = p.l2 {
            total += a / 2.0 * w.iter().map(|w| w * w).sum::<f64>();
        }
        if let Some(a) = p.l1 {
            total += a * w.iter().map(|w| w.abs()).sum::<f64>();
        }
    }
    total
}

fn activate(act: Activation, x: f64) -> f64 {
    match act {
        Activation::Relu => x.max(0.0),
        Activation::LeakyRelu { slope } => {
            if x > 0.0 {
                x
            } else {
                slope * x
            }
        }
        Activation::Tanh => x.tanh(),
        Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Activation::Identity => x,
    }
}

/// Central differences of [`loss`] at `params` (f32 values widened), step `h`.
pub fn numeric_grad(
    net: &ir::Network,
    params: &[f32],
    inputs: &[f32],
    targets: &Targets<'_>,
    h: f64,
) -> Vec<f64> {
    let mut p: Vec<f64> = params.iter().map(|&v| v as f64).collect();
    (0..p.len())
        .map(|j| {
            let keep = p[j];
            p[j] = keep + h;
            let up = loss(net, &p, inputs, targets);
            p[j] = keep - h;
            let down = loss(net, &p, inputs, targets);
            p[j] = keep;
            (up - down) / (2.0 * h)
        })
        .collect()
}

/// Uniform values in [-scale, scale).
pub fn uniform(rng: &mut netspec::Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(-scale, scale)).collect()
}
