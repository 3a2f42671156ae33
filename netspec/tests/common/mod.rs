//! An independent f64 reference: the IR of a spec, interpreted layer by layer over the batch.
//!
//! The generated code is f32 and written very differently (batched rows, per-buffer gradients,
//! a lane-split dot product, batch norm in the runtime); this straightforward f64 interpreter of
//! the same IR is the oracle its losses are compared with, and the function central differences
//! are taken of. Randomness (dropout and DropConnect masks, noise) is not drawn here: it is read
//! from the network under test through its `__noise` hook and frozen in a [`Mode`].
#![allow(dead_code)]

#[macro_use]
pub mod net;
#[allow(unused_imports)] // each test file uses a part
pub use net::{away_from_kinks, check_modes};

use std::collections::HashMap;

use netspec_grammar::ir::{self, Activation, BufferKind, LossKind, Op, Rescale, Role};

/// The targets of one mini-batch.
pub enum Targets<'a> {
    /// Class indices, one per sample.
    Labels(&'a [usize]),
    /// `OUTPUT` values per sample.
    Values(&'a [f32]),
    /// One per head, in the spec's order.
    Heads(Vec<Targets<'a>>),
}

/// Training or eval, with the frozen masks and the batch-norm running statistics.
#[derive(Clone, Debug, Default)]
pub struct Mode {
    /// Training mode: masks and noise applied, batch statistics.
    pub training: bool,
    /// Masks (dropout, DropConnect) and noise by layer name, as the network's `__noise` hook
    /// returns them.
    pub masks: HashMap<String, Vec<f32>>,
    /// The f32 buffers (running statistics) as the network holds them.
    pub buffers: Vec<f32>,
}

impl Mode {
    /// Training mode with no stochastic layer and fresh buffers.
    pub fn training() -> Mode {
        Mode { training: true, ..Mode::default() }
    }

    /// Reads every stochastic layer's masks from `noise` (the network's hook).
    pub fn frozen<'a>(
        net: &ir::Network,
        training: bool,
        buffers: &[f32],
        noise: impl Fn(&str) -> Option<&'a [f32]>,
    ) -> Mode {
        let masks = net
            .all_layers()
            .iter()
            .filter_map(|l| noise(&l.name).map(|m| (l.name.clone(), m.to_vec())))
            .collect();
        Mode { training, masks, buffers: buffers.to_vec() }
    }
}

/// The one network of a spec text.
pub fn network(spec: &str) -> ir::Network {
    let mut nets = netspec_grammar::check_source(spec).unwrap_or_else(|d| panic!("{d:?}"));
    assert_eq!(nets.len(), 1);
    nets.remove(0)
}

type Rows = Vec<Vec<f64>>;

/// Data loss (weighted sum over outputs) plus parameter and activity penalties, in `mode`.
pub fn loss_in(
    net: &ir::Network,
    params: &[f64],
    inputs: &[f32],
    targets: &Targets<'_>,
    mode: &Mode,
) -> f64 {
    let (outputs, activations) = forward_all(net, params, inputs, mode);
    let mut total = 0.0;
    let losses: Vec<&ir::Loss> = match &net.loss {
        Some(loss) => vec![loss],
        None => net.heads.iter().map(|h| &h.loss).collect(),
    };
    let per_output: Vec<&Targets<'_>> = match targets {
        Targets::Heads(each) => each.iter().collect(),
        single => vec![single],
    };
    for ((rows, loss), targets) in outputs.iter().zip(&losses).zip(per_output) {
        total += loss.weight * data_loss(loss, rows, targets);
    }
    let batch = inputs.len() / net.input.len();
    for penalty in &net.activity_penalties {
        // a * sum |y| / BATCH
        let rows = &activations[&penalty.layer];
        let sum: f64 = rows.iter().flatten().map(|v| v.abs()).sum();
        total += penalty.coefficient * sum / batch as f64;
    }
    total + penalty(net, params)
}

/// The mean loss of `rows`, from PyTorch's definitions of each loss and its options.
fn data_loss(loss: &ir::Loss, rows: &Rows, targets: &Targets<'_>) -> f64 {
    let output = rows[0].len();
    // nn.CrossEntropyLoss(weight, label_smoothing), reduction mean: the sum over rows of
    // (1 - e) w[y] (-ln p_y) + (e / K) sum_k w[k] (-ln p_k), divided by sum_n w[y_n].
    if let (LossKind::SoftmaxCrossEntropy, Targets::Labels(labels)) = (loss.kind, targets) {
        let e = loss.label_smoothing;
        let w = |k: usize| loss.class_weights.as_ref().map_or(1.0, |w| w[k]);
        let (mut sum, mut weights) = (0.0, 0.0);
        for (a, &y) in rows.iter().zip(labels.iter()) {
            let max = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + a.iter().map(|z| (z - max).exp()).sum::<f64>().ln();
            let smooth: f64 = a.iter().enumerate().map(|(k, z)| w(k) * (lse - z)).sum();
            sum += (1.0 - e) * w(y) * (lse - a[y]) + e / output as f64 * smooth;
            weights += w(y);
        }
        return sum / weights;
    }
    let mut data = 0.0;
    for (n, a) in rows.iter().enumerate() {
        let t = t_row(targets, n, output);
        let pairs = || a.iter().zip(t).map(|(&y, &t)| (y, f64::from(t))).collect::<Vec<_>>();
        let per_value: f64 = match loss.kind {
            LossKind::Mse => pairs().iter().map(|(y, t)| (y - t).powi(2)).sum(),
            LossKind::L1 => pairs().iter().map(|(y, t)| (y - t).abs()).sum(),
            LossKind::Huber => pairs()
                .iter()
                .map(|(y, t)| {
                    let (d, delta) = ((y - t).abs(), loss.delta);
                    if d < delta { 0.5 * d * d } else { delta * (d - 0.5 * delta) }
                })
                .sum(),
            LossKind::BinaryCrossEntropy => pairs()
                .iter()
                .map(|&(z, t)| {
                    // -[p t ln s(z) + (1 - t) ln(1 - s(z))], p the positive-class weight
                    let p = loss.pos_weight.unwrap_or(1.0);
                    let s = 1.0 / (1.0 + (-z).exp());
                    -(p * t * s.ln() + (1.0 - t) * (1.0 - s).ln())
                })
                .sum(),
            LossKind::SoftmaxCrossEntropy => panic!("targets do not fit the loss"),
        };
        data += per_value / output as f64;
    }
    data / rows.len() as f64
}

/// Row `n` of value targets.
fn t_row<'a>(targets: &Targets<'a>, n: usize, output: usize) -> &'a [f32] {
    match targets {
        Targets::Values(t) => {
            let t: &'a [f32] = t;
            &t[n * output..(n + 1) * output]
        }
        _ => panic!("targets do not fit the loss"),
    }
}

/// The network's output for one sample, in eval mode with fresh buffers.
pub fn forward(net: &ir::Network, params: &[f64], sample: &[f32]) -> Vec<f64> {
    forward_in(net, params, sample, &Mode::default())
}

/// The outputs (every head's, concatenated) of each sample of `inputs`, in `mode`.
pub fn forward_in(net: &ir::Network, params: &[f64], inputs: &[f32], mode: &Mode) -> Vec<f64> {
    let (outputs, _) = forward_all(net, params, inputs, mode);
    let rows = outputs[0].len();
    (0..rows).flat_map(|n| outputs.iter().flat_map(move |o| o[n].clone())).collect()
}

/// Every output's rows, and every layer's output rows by name.
fn forward_all(
    net: &ir::Network,
    params: &[f64],
    inputs: &[f32],
    mode: &Mode,
) -> (Vec<Rows>, HashMap<String, Rows>) {
    let rows: Rows =
        inputs.chunks(net.input.len()).map(|s| s.iter().map(|&v| v as f64).collect()).collect();
    let mut seen = HashMap::new();
    let trunk = layers(net, &net.layers, params, rows, mode, &mut seen);
    let outputs = if net.heads.is_empty() {
        vec![trunk]
    } else {
        net.heads
            .iter()
            .map(|h| layers(net, &h.layers, params, trunk.clone(), mode, &mut seen))
            .collect()
    };
    (outputs, seen)
}

fn layers(
    net: &ir::Network,
    list: &[ir::Layer],
    params: &[f64],
    mut a: Rows,
    mode: &Mode,
    seen: &mut HashMap<String, Rows>,
) -> Rows {
    for layer in list {
        let param = |role| layer.params.iter().map(|&i| &net.params[i]).find(|p| p.role == role);
        let mask = || &mode.masks[&layer.name];
        a = match &layer.op {
            Op::Dense { units, dropconnect, .. } => {
                let w = param(Role::Weight).unwrap();
                let b = param(Role::Bias);
                let width = a[0].len();
                // y = (W * M) x + b, W row-major [units, in]; M only while training.
                let weight = |o: usize, i: usize| {
                    let w = params[w.offset + o * width + i];
                    match dropconnect {
                        Some(_) if mode.training => w * mask()[o * width + i] as f64,
                        _ => w,
                    }
                };
                a.iter()
                    .map(|x| {
                        (0..*units)
                            .map(|o| {
                                let dot: f64 =
                                    x.iter().enumerate().map(|(i, x)| weight(o, i) * x).sum();
                                dot + b.map_or(0.0, |b| params[b.offset + o])
                            })
                            .collect()
                    })
                    .collect()
            }
            Op::Activation(act) => {
                a.iter().map(|x| x.iter().map(|&x| activate(*act, x)).collect()).collect()
            }
            Op::Flatten => a,
            Op::Dropout { p, rescale } => {
                let width = a[0].len();
                a.iter()
                    .enumerate()
                    .map(|(n, x)| {
                        x.iter()
                            .enumerate()
                            .map(|(j, &x)| match (mode.training, rescale) {
                                (true, _) => x * mask()[n * width + j] as f64,
                                (false, Rescale::Train) => x,
                                (false, Rescale::Test) => x * (1.0 - p),
                            })
                            .collect()
                    })
                    .collect()
            }
            Op::GaussianNoise { .. } => {
                let width = a[0].len();
                a.iter()
                    .enumerate()
                    .map(|(n, x)| {
                        x.iter()
                            .enumerate()
                            .map(
                                |(j, &x)| {
                                    if mode.training { x + mask()[n * width + j] as f64 } else { x }
                                },
                            )
                            .collect()
                    })
                    .collect()
            }
            Op::BatchNorm { eps, .. } => {
                // `affine false`: gamma 1, beta 0
                let gamma = param(Role::NormWeight).map(|p| p.offset);
                let beta = param(Role::NormBias).map(|p| p.offset);
                let channels = layer.input.dims()[0];
                let spatial = layer.input.len() / channels;
                // `track_running_stats false`: no buffers
                let buffer = |kind| {
                    let Some(b) =
                        layer.buffers.iter().map(|&i| &net.buffers[i]).find(|b| b.kind == kind)
                    else {
                        return vec![];
                    };
                    if mode.buffers.is_empty() {
                        // PyTorch's initial running statistics.
                        vec![if kind == BufferKind::RunningVar { 1.0 } else { 0.0 }; b.len]
                    } else {
                        mode.buffers[b.offset..b.offset + b.len].iter().map(|&v| v as f64).collect()
                    }
                };
                let (running_mean, running_var) =
                    (buffer(BufferKind::RunningMean), buffer(BufferKind::RunningVar));
                // The mean and biased variance of channel c over these samples.
                let stats = |samples: &[Vec<f64>], c: usize| {
                    let values = || samples.iter().flat_map(|x| &x[c * spatial..(c + 1) * spatial]);
                    let m = (samples.len() * spatial) as f64;
                    let mean = values().sum::<f64>() / m;
                    (mean, values().map(|v| (v - mean).powi(2)).sum::<f64>() / m)
                };
                let mut y = a.clone();
                for c in 0..channels {
                    let g = gamma.map_or(1.0, |offset| params[offset + c]);
                    let b = beta.map_or(0.0, |offset| params[offset + c]);
                    for (s, (x, y)) in a.iter().zip(&mut y).enumerate() {
                        let (mean, var) = if mode.training {
                            stats(&a, c)
                        } else if running_mean.is_empty() {
                            // no running statistics: the sample's own
                            stats(&a[s..s + 1], c)
                        } else {
                            (running_mean[c], running_var[c])
                        };
                        for i in c * spatial..(c + 1) * spatial {
                            y[i] = g * (x[i] - mean) / (var + eps).sqrt() + b;
                        }
                    }
                }
                y
            }
            Op::LayerNorm { eps } => {
                let (gamma, beta) =
                    (param(Role::NormWeight).unwrap(), param(Role::NormBias).unwrap());
                // per sample: its mean and biased variance over the features
                a.iter()
                    .map(|x| {
                        let n = x.len() as f64;
                        let mean = x.iter().sum::<f64>() / n;
                        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
                        x.iter()
                            .enumerate()
                            .map(|(i, v)| {
                                let (g, b) = (params[gamma.offset + i], params[beta.offset + i]);
                                g * (v - mean) / (var + eps).sqrt() + b
                            })
                            .collect()
                    })
                    .collect()
            }
            Op::Conv { filters, kernel, stride, pad, dilation, groups, .. } => {
                let w = param(Role::Weight).unwrap();
                let b = param(Role::Bias);
                let [c_in, h, wd] = dims3(layer.input);
                let [_, oh_n, ow_n] = dims3(layer.output);
                let ([kh_n, kw_n], [sh, sw], [ph, pw]) = (*kernel, *stride, *pad);
                let [dh, dw] = *dilation;
                // Filter f sees the channels of its group: c_group of them from g * c_group.
                let (c_group, f_group) = (c_in / groups, filters / groups);
                // y[f, oh, ow] = b[f] + sum w[f, c, kh, kw] x[c, oh sh + kh dh - ph, ow sw + kw dw - pw]
                a.iter()
                    .map(|x| {
                        let mut y = vec![0.0; filters * oh_n * ow_n];
                        for f in 0..*filters {
                            let c0 = f / f_group * c_group;
                            for oh in 0..oh_n {
                                for ow in 0..ow_n {
                                    let mut sum = b.map_or(0.0, |b| params[b.offset + f]);
                                    for c in 0..c_group {
                                        for kh in 0..kh_n {
                                            for kw in 0..kw_n {
                                                let ih = (oh * sh + kh * dh) as isize - ph as isize;
                                                let iw = (ow * sw + kw * dw) as isize - pw as isize;
                                                if ih < 0
                                                    || iw < 0
                                                    || ih >= h as isize
                                                    || iw >= wd as isize
                                                {
                                                    continue;
                                                }
                                                let wi =
                                                    ((f * c_group + c) * kh_n + kh) * kw_n + kw;
                                                sum += params[w.offset + wi]
                                                    * x[((c0 + c) * h + ih as usize) * wd
                                                        + iw as usize];
                                            }
                                        }
                                    }
                                    y[(f * oh_n + oh) * ow_n + ow] = sum;
                                }
                            }
                        }
                        y
                    })
                    .collect()
            }
            Op::MaxPool(pool) | Op::AvgPool(pool) => {
                let max = matches!(layer.op, Op::MaxPool(_));
                let [c_n, h, wd] = dims3(layer.input);
                let [_, oh_n, ow_n] = dims3(layer.output);
                let ([kh_n, kw_n], [sh, sw], [ph, pw]) = (pool.kernel, pool.stride, pool.pad);
                a.iter()
                    .map(|x| {
                        let mut y = Vec::new();
                        for c in 0..c_n {
                            for oh in 0..oh_n {
                                for ow in 0..ow_n {
                                    // max over the window (padding -inf), or sum / its count
                                    let mut acc = if max { f64::NEG_INFINITY } else { 0.0 };
                                    let mut inside = 0;
                                    for kh in 0..kh_n {
                                        for kw in 0..kw_n {
                                            let ih = (oh * sh + kh) as isize - ph as isize;
                                            let iw = (ow * sw + kw) as isize - pw as isize;
                                            if ih < 0
                                                || iw < 0
                                                || ih >= h as isize
                                                || iw >= wd as isize
                                            {
                                                continue;
                                            }
                                            let v = x[(c * h + ih as usize) * wd + iw as usize];
                                            acc = if max { acc.max(v) } else { acc + v };
                                            inside += 1;
                                        }
                                    }
                                    let count = if pool.count_pad { kh_n * kw_n } else { inside };
                                    y.push(if max { acc } else { acc / count as f64 });
                                }
                            }
                        }
                        y
                    })
                    .collect()
            }
            Op::GlobalAvgPool => {
                let [c_n, h, wd] = dims3(layer.input);
                a.iter()
                    .map(|x| {
                        (0..c_n)
                            .map(|c| {
                                x[c * h * wd..(c + 1) * h * wd].iter().sum::<f64>()
                                    / (h * wd) as f64
                            })
                            .collect()
                    })
                    .collect()
            }
            Op::GlobalMaxPool => {
                let [c_n, h, wd] = dims3(layer.input);
                let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                a.iter()
                    .map(|x| (0..c_n).map(|c| max(&x[c * h * wd..(c + 1) * h * wd])).collect())
                    .collect()
            }
            Op::FractionalMaxPool { .. } => {
                let [c_n, h, wd] = dims3(layer.input);
                let [_, oh_n, ow_n] = dims3(layer.output);
                a.iter()
                    .enumerate()
                    .map(|(n, x)| {
                        // [u_width, u_height] per sample while training, 0.5 in eval
                        let (uw, uh) = if mode.training {
                            (mask()[2 * n], mask()[2 * n + 1])
                        } else {
                            (0.5, 0.5)
                        };
                        let mut y = Vec::new();
                        for c in 0..c_n {
                            for oh in 0..oh_n {
                                let ih = fractional_start(uh, h, oh_n, oh);
                                for ow in 0..ow_n {
                                    let iw = fractional_start(uw, wd, ow_n, ow);
                                    let mut m = f64::NEG_INFINITY;
                                    for dh in 0..2 {
                                        for dw in 0..2 {
                                            m = m.max(x[(c * h + ih + dh) * wd + iw + dw]);
                                        }
                                    }
                                    y.push(m);
                                }
                            }
                        }
                        y
                    })
                    .collect()
            }
            Op::Residual { stochastic_depth, branch, shortcut } => {
                let f = layers(net, branch, params, a.clone(), mode, seen);
                // the projection S(x) (a 1x1 conv and batch norm), or x itself
                let skip = layers(net, shortcut, params, a.clone(), mode, seen);
                // y = S(x) + m F(x), m from the frozen row mask while training
                skip.iter()
                    .zip(&f)
                    .enumerate()
                    .map(|(n, (x, f))| {
                        let m = if mode.training && *stochastic_depth > 0.0 {
                            mask()[n] as f64
                        } else {
                            1.0
                        };
                        x.iter().zip(f).map(|(x, f)| x + m * f).collect()
                    })
                    .collect()
            }
        };
        seen.insert(layer.name.clone(), a.clone());
    }
    a
}

/// `[channels, height, width]` of an image shape, `[channels, 1, length]` of a sequence.
fn dims3(shape: ir::Shape) -> [usize; 3] {
    let (channels, height, width) = shape.grid().expect("an image layer on a vector");
    [channels, height, width]
}

/// PyTorch's `generate_intervals` (f32): window i of `output` windows of side 2 over `input`.
fn fractional_start(u: f32, input: usize, output: usize, i: usize) -> usize {
    let last = input - 2;
    if i + 1 >= output {
        return last;
    }
    let alpha = last as f32 / (output - 1) as f32;
    (((i as f32 + u) * alpha) as usize - (u * alpha) as usize).min(last)
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
        // x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2
        Activation::Gelu => 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2)),
        Activation::Silu => x / (1.0 + (-x).exp()),
    }
}

/// erf(z) = 2/sqrt(pi) e^(-z^2) sum 2^n z^(2n+1) / (2n+1)!!, a series of terms of one sign (no
/// cancellation: about 1e-15 accurate, as finite differences at h/64 need); +-1 past |z| = 6,
/// where 1 - erf is below 3e-17.
fn erf(z: f64) -> f64 {
    if z.abs() > 6.0 {
        return z.signum();
    }
    let (mut term, mut sum, mut n) = (z, z, 0.0);
    while term.abs() > 1e-17 * sum.abs() {
        n += 1.0;
        term *= 2.0 * z * z / (2.0 * n + 1.0);
        sum += term;
    }
    sum * (-z * z).exp() * std::f64::consts::FRAC_2_SQRT_PI
}

/// Central differences of [`loss_in`] in `mode`.
pub fn numeric_grad_in(
    net: &ir::Network,
    params: &[f32],
    inputs: &[f32],
    targets: &Targets<'_>,
    h: f64,
    mode: &Mode,
) -> Vec<f64> {
    (0..params.len()).map(|j| numeric_grad_at(net, params, inputs, targets, h, mode, j)).collect()
}

/// The central difference of [`loss_in`] in parameter `j` with step `h`.
fn numeric_grad_at(
    net: &ir::Network,
    params: &[f32],
    inputs: &[f32],
    targets: &Targets<'_>,
    h: f64,
    mode: &Mode,
    j: usize,
) -> f64 {
    let mut p: Vec<f64> = params.iter().map(|&v| v as f64).collect();
    let keep = p[j];
    p[j] = keep + h;
    let up = loss_in(net, &p, inputs, targets, mode);
    p[j] = keep - h;
    let down = loss_in(net, &p, inputs, targets, mode);
    (up - down) / (2.0 * h)
}

/// Uniform values in [-scale, scale).
pub fn uniform(rng: &mut netspec::Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(-scale, scale)).collect()
}

/// Asserts that a generated network's loss and gradients match the f64 oracle in `mode`: the
/// loss within 1e-5 relative, each gradient within 1e-3 |numeric| + 1e-5 of central
/// differences (h = 1e-6), and not every gradient ~0 (a vacuous check).
pub fn assert_matches_oracle(
    spec: &str,
    mode: &Mode,
    params: &[f32],
    inputs: &[f32],
    targets: &Targets<'_>,
    loss: f32,
    grads: &[f32],
) {
    let net = network(spec);
    let wide: Vec<f64> = params.iter().map(|&p| p as f64).collect();
    let want = loss_in(&net, &wide, inputs, targets, mode);
    assert!(
        (loss as f64 - want).abs() <= 1e-5 * want.abs().max(1.0),
        "training {}: loss {loss} but the f64 oracle gives {want}",
        mode.training
    );
    let numeric = numeric_grad_in(&net, params, inputs, targets, 1e-6, mode);
    assert!(numeric.iter().any(|g| g.abs() > 1e-3), "a vacuous check: every gradient is ~0");
    // Where a step of h crosses a kink (ReLU at 0, |y| of an activity penalty, a max-pool tie)
    // the central difference averages two slopes; a step 8x smaller then disagrees with it.
    // There the coordinate is checked against the step of h/8 when a step of h/64 agrees with
    // it (the kink is within h of the point, not at it: one ReLU input near 0 touches every
    // parameter of its channel); otherwise it is not differentiable at this scale and skipped,
    // a few at most.
    let agree = |a: f64, b: f64| (a - b).abs() <= 1e-4 * a.abs().max(1e-2);
    let mut numeric = numeric;
    let finer = numeric_grad_in(&net, params, inputs, targets, 1e-6 / 8.0, mode);
    let mut at_kink = vec![false; numeric.len()];
    for (j, &finer) in finer.iter().enumerate() {
        if agree(numeric[j], finer) {
            continue;
        }
        let finest = numeric_grad_at(&net, params, inputs, targets, 1e-6 / 64.0, mode, j);
        if agree(finer, finest) {
            numeric[j] = finer;
        } else {
            at_kink[j] = true;
        }
    }
    let kinks = at_kink.iter().filter(|&&k| k).count();
    assert!(kinks * 20 <= numeric.len(), "{kinks} of {} gradients sit on kinks", numeric.len());
    let largest = numeric.iter().fold(0.0f64, |m, g| m.max(g.abs()));
    for (j, (&analytic, &numeric)) in grads.iter().zip(&numeric).enumerate() {
        if at_kink[j] {
            continue;
        }
        let name = net.params.iter().find(|p| (p.offset..p.offset + p.len).contains(&j)).unwrap();
        let error = (analytic as f64 - numeric).abs();
        // A bias whose shift a batch norm absorbs has gradient exactly 0; in f32 it is the
        // residue of a sum of terms that cancel, scaled by gamma / sigma, so it is held to the
        // scale of the network's gradients instead.
        let absolute =
            if shift_absorbed(&net, name, mode.training) { 1e-4 * largest.max(1.0) } else { 1e-5 };
        assert!(
            error <= 1e-3 * numeric.abs() + absolute,
            "training {}: {}[{}]: analytic {analytic}, numeric {numeric}",
            mode.training,
            name.name,
            j - name.offset
        );
    }
}

/// Whether `param` is a bias (or a norm's beta) whose shift a batch norm absorbs, so that its
/// exact gradient is 0: its layer's output reaches the batch norm through nothing but convs
/// without padding (which turn a shift of each channel into a shift of each channel), and the
/// batch norm normalizes by the batch's statistics (training) or by each sample's
/// (`track_running_stats false`).
fn shift_absorbed(net: &ir::Network, param: &ir::Param, training: bool) -> bool {
    fn walk(layers: &[ir::Layer], param: &ir::Param, training: bool) -> bool {
        let absorbs = |op: &ir::Op| {
            matches!(op, ir::Op::BatchNorm { track_running_stats, .. }
                if training || !track_running_stats)
        };
        layers.iter().enumerate().any(|(i, layer)| {
            layer.name == param.layer
                && layers[i + 1..]
                    .iter()
                    .find(|next| !matches!(next.op, ir::Op::Conv { pad: [0, 0], .. }))
                    .is_some_and(|next| absorbs(&next.op))
        }) || layers.iter().any(|layer| match &layer.op {
            ir::Op::Residual { branch, shortcut, .. } => {
                walk(branch, param, training) || walk(shortcut, param, training)
            }
            _ => false,
        })
    }
    matches!(param.role, ir::Role::Bias | ir::Role::NormBias)
        && (walk(&net.layers, param, training)
            || net.heads.iter().any(|h| walk(&h.layers, param, training)))
}
