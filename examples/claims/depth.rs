//! Initialization and depth: symmetric init, too small and too large weights in a deep tanh
//! MLP, Xavier for tanh and Kaiming for ReLU, residual blocks at init.

use netspec::prelude::*;
use netspec::{History, LayerStats, Rng, Sgd};

use super::{Error, Figure, Outcome, Scale, digits, gaussian, list, list_e, train};

/// A 6-hidden-layer MLP of width 500 on 500 inputs, every dense layer initialized as given.
macro_rules! deep {
    ($name:ident, $act:ident, $($init:tt)*) => {
        netspec::network! {
            network $name {
                input 500; batch 100;
                dense 500 init $($init)*; $act;
                dense 500 init $($init)*; $act;
                dense 500 init $($init)*; $act;
                dense 500 init $($init)*; $act;
                dense 500 init $($init)*; $act;
                dense 500 init $($init)*; $act;
                dense 10 init $($init)*;
                loss softmax_cross_entropy;
            }
        }
    };
}

deep!(TanhSmall, tanh, normal(0, 0.01) bias zeros);
deep!(TanhSmallDefaultBias, tanh, normal(0, 0.01));
deep!(TanhLarge, tanh, normal(0, 1) bias zeros);
deep!(TanhXavier, tanh, xavier_normal bias zeros);
deep!(ReluXavier, relu, xavier_normal bias zeros);
deep!(ReluKaiming, relu, kaiming_normal bias zeros);

/// One forward and backward pass of a deep net on 100 N(0, 1) samples with random labels.
struct Probe {
    /// Each activation layer's name and values.
    layers: Vec<(String, Vec<f32>)>,
    /// Each activation layer's statistics.
    stats: Vec<LayerStats>,
    /// Each hidden dense weight's gradient norm, first to last.
    weight_grads: Vec<f64>,
    /// The std of dLoss/d(each hidden dense layer's output).
    output_grads: Vec<f64>,
}

fn probe<N>(seed: u64) -> Result<Probe, Error>
where
    N: for<'a> Network<Targets<'a> = &'a [usize]>,
{
    let mut rng = Rng::seed(seed);
    let mut net = N::new(&mut rng);
    let x = gaussian(N::BATCH * N::INPUT, &mut rng);
    let y: Vec<usize> = (0..N::BATCH).map(|_| rng.below(N::OUTPUT)).collect();
    net.loss_and_grad(&x, &y)?;
    let hidden = |kind: &str| kind == "tanh" || kind == "relu";
    let acts: Vec<_> = net.activations().filter(|v| hidden(v.kind)).collect();
    let last_dense = N::LAYERS.iter().filter(|l| l.kind == "dense").count();
    let dense_grads = net.activation_grads().filter(|v| v.kind == "dense").take(last_dense - 1);
    Ok(Probe {
        layers: acts.iter().map(|v| (v.name.to_string(), v.values.to_vec())).collect(),
        stats: acts.iter().map(|v| v.stats()).collect(),
        weight_grads: net
            .grad_norms()
            .filter(|(name, _)| name.ends_with(".weight"))
            .map(|(_, norm)| norm)
            .take(last_dense - 1)
            .collect(),
        output_grads: dense_grads.map(|v| LayerStats::of(v.values).std).collect(),
    })
}

fn stds(p: &Probe) -> Vec<f64> {
    p.stats.iter().map(|s| s.std).collect()
}

fn histograms(file: &str, title: &str, p: &Probe, range: (f32, f32)) -> Figure {
    Figure::Histograms { file: file.into(), title: title.into(), panels: p.layers.clone(), range }
}

/// Claim 1: with every weight equal, hidden units get equal gradients and stay identical.
pub fn symmetry(scale: Scale) -> Result<Outcome, Error> {
    netspec::network! {
        network Constant {
            input 64; batch 30;
            dense 16 init constant 0.1 bias zeros; tanh;
            dense 10 init constant 0.1 bias zeros;
            loss softmax_cross_entropy;
        }
        network Zero {
            input 64; batch 30;
            dense 16 init zeros bias zeros; tanh;
            dense 10 init zeros bias zeros;
            loss softmax_cross_entropy;
        }
        network Random {
            input 64; batch 30;
            dense 16 init xavier_normal bias zeros; tanh;
            dense 10 init xavier_normal bias zeros;
            loss softmax_cross_entropy;
        }
    }
    /// The largest difference between a hidden unit's incoming weights and unit 0's.
    fn spread<N: Network>(net: &N) -> f64 {
        let w = &net.params()[..16 * 64];
        let first = &w[..64];
        w.chunks(64)
            .flat_map(|row| row.iter().zip(first).map(|(a, b)| f64::from((a - b).abs())))
            .fold(0.0, f64::max)
    }
    let data = digits(500, 1)?;
    let epochs = scale.epochs(20);
    let mut history = History::new();
    let mut report = Vec::new();
    let mut spreads = Vec::new();
    macro_rules! run {
        ($net:ident, $label:literal) => {{
            let mut rng = Rng::seed(2);
            let mut net = $net::new(&mut rng);
            let mut opt = Sgd::new(0.1).momentum(0.9).build()?;
            train(&mut net, &mut opt, (&data.0, &data.1), epochs, &mut rng, &mut history, $label)?;
            let s = spread(&net);
            report.push(format!(
                "{:<18} after {epochs} epochs: max |W1[j] - W1[0]| = {s:.3e}, train loss {:.3}, test accuracy {:.3}",
                $label,
                history.last(concat!($label, " train loss")).unwrap_or(f64::NAN),
                history.last(concat!($label, " test accuracy")).unwrap_or(f64::NAN),
            ));
            spreads.push(s);
        }};
    }
    run!(Constant, "constant 0.1");
    run!(Zero, "zeros");
    run!(Random, "xavier_normal");
    // symmetric inits stay exactly symmetric; a random init does not
    let holds = spreads[0] == 0.0 && spreads[1] == 0.0 && spreads[2] > 0.1;
    Ok(Outcome {
        name: "symmetry",
        claim: "zero or constant init: hidden units stay identical through training",
        report,
        holds,
        measured: format!(
            "unit spread {:.1e} (constant), {:.1e} (zeros) vs {:.2} (xavier)",
            spreads[0], spreads[1], spreads[2]
        ),
        figures: vec![Figure::Curves {
            file: "symmetry_curves".into(),
            title: "Symmetric init: train loss".into(),
            x_label: "epoch".into(),
            y_label: "train loss".into(),
            log_y: false,
            history: only(&history, "train loss"),
        }],
    })
}

/// The series of `history` whose names contain `part`.
pub(super) fn only(history: &History, part: &str) -> History {
    let mut out = History::new();
    for (name, points) in history.series().filter(|(n, _)| n.contains(part)) {
        for &(x, y) in points {
            out.record(name, x, y);
        }
    }
    out
}

/// Claim 2: W ~ N(0, 0.01): activations shrink toward 0 layer by layer.
pub fn small_init(_: Scale) -> Result<Outcome, Error> {
    let p = probe::<TanhSmall>(3)?;
    let with_bias = probe::<TanhSmallDefaultBias>(3)?;
    let s = stds(&p);
    let shrinking = s.windows(2).all(|w| w[1] < 0.5 * w[0]);
    let report = vec![
        format!("tanh std per layer (bias zeros):   {}", list_e(&s)),
        format!("tanh std per layer (default bias): {}", list_e(&stds(&with_bias))),
        "nn.Linear's default bias, U(+-1/sqrt(500)), keeps each layer's std near 0.026 \
         (`netspec summary` shows every bias's init)"
            .into(),
    ];
    Ok(Outcome {
        name: "small_init",
        claim: "W ~ N(0, 0.01) in a 6-layer tanh MLP (bias zeros): activation std shrinks layer by layer toward 0",
        report,
        holds: shrinking && s[s.len() - 1] < 1e-3,
        measured: format!(
            "std {:.3} -> {:.1e} over 6 layers, each below half the previous",
            s[0],
            s[s.len() - 1]
        ),
        figures: vec![
            histograms("small_init", "W ~ N(0, 0.01), tanh", &p, (-1.0, 1.0)),
            histograms(
                "small_init_default_bias",
                "W ~ N(0, 0.01), default bias",
                &with_bias,
                (-0.1, 0.1),
            ),
        ],
    })
}

/// Claim 2, second half: under W ~ N(0, 0.01) the weight gradients of early layers are
/// orders of magnitude smaller than those of late layers.
pub fn small_init_gradients(_: Scale) -> Result<Outcome, Error> {
    let p = probe::<TanhSmall>(3)?;
    let (w, g) = (&p.weight_grads, &p.output_grads);
    let weight_ratio = w[0] / w[w.len() - 1];
    let output_ratio = g[0] / g[g.len() - 1];
    Ok(Outcome {
        name: "small_init_gradients",
        claim: "W ~ N(0, 0.01) in a 6-layer tanh MLP: weight gradients of early layers are orders of magnitude smaller",
        report: vec![
            format!("|dL/dW| per hidden layer:            {}", list_e(w)),
            format!("std of dL/d(dense output) per layer: {}", list_e(g)),
            "dL/dW = x^T dL/d(output): the gradient reaching layer 1 is orders of magnitude \
             smaller, but the input x of the late layers is as much smaller, so |dL/dW| is \
             about the same in every layer"
                .into(),
        ],
        holds: weight_ratio < 1e-2,
        measured: format!(
            "|dL/dW| layer 1 / layer 6 = {weight_ratio:.2} (dL/d(output) layer 1 / layer 6 = {output_ratio:.1e})"
        ),
        figures: vec![],
    })
}

/// Claim 3: W ~ N(0, 1): tanh units saturate.
pub fn large_init(_: Scale) -> Result<Outcome, Error> {
    let p = probe::<TanhLarge>(3)?;
    let sat: Vec<f64> = p.stats.iter().map(|s| s.saturated.unwrap_or(0.0)).collect();
    let least = sat.iter().copied().fold(1.0, f64::min);
    Ok(Outcome {
        name: "large_init",
        claim: "W ~ N(0, 1) in a 6-layer tanh MLP: units saturate (most |y| > 0.99)",
        report: vec![
            format!("fraction |y| > 0.99 per layer: {}", list(&sat)),
            format!("tanh std per layer:            {}", list(&stds(&p))),
            format!("|dL/dW| per hidden layer:      {}", list_e(&p.weight_grads)),
        ],
        holds: least > 0.75,
        measured: format!("at least {:.1}% saturated in every layer", 100.0 * least),
        figures: vec![histograms("large_init", "W ~ N(0, 1), tanh", &p, (-1.0, 1.0))],
    })
}

/// Claim 4: Xavier keeps tanh activations alive in every layer.
pub fn xavier(_: Scale) -> Result<Outcome, Error> {
    let p = probe::<TanhXavier>(3)?;
    let s = stds(&p);
    let sat: Vec<f64> = p.stats.iter().map(|s| s.saturated.unwrap_or(0.0)).collect();
    let (least, most_sat) =
        (s.iter().copied().fold(1.0, f64::min), sat.iter().copied().fold(0.0, f64::max));
    Ok(Outcome {
        name: "xavier",
        claim: "Xavier init keeps tanh activations alive in every layer",
        report: vec![
            format!("tanh std per layer:            {}", list(&s)),
            format!("fraction |y| > 0.99 per layer: {}", list(&sat)),
            format!("|dL/dW| per hidden layer:      {}", list_e(&p.weight_grads)),
        ],
        holds: least > 0.2 && most_sat < 0.1,
        measured: format!(
            "std >= {least:.2} in every layer, at most {:.1}% saturated",
            100.0 * most_sat
        ),
        figures: vec![histograms("xavier", "Xavier normal, tanh", &p, (-1.0, 1.0))],
    })
}

/// Claim 5: ReLU under Xavier shrinks with depth; Kaiming keeps the scale.
pub fn kaiming(_: Scale) -> Result<Outcome, Error> {
    let (x, k) = (probe::<ReluXavier>(3)?, probe::<ReluKaiming>(3)?);
    let (sx, sk) = (stds(&x), stds(&k));
    let (rx, rk) = (sx[sx.len() - 1] / sx[0], sk[sk.len() - 1] / sk[0]);
    Ok(Outcome {
        name: "kaiming",
        claim: "ReLU with Xavier: activations shrink with depth; Kaiming keeps them",
        report: vec![
            format!("relu std per layer, xavier_normal:  {}", list(&sx)),
            format!("relu std per layer, kaiming_normal: {}", list(&sk)),
            format!(
                "dead (exactly 0) fraction, kaiming: {}",
                list(&k.stats.iter().map(|s| s.zeros).collect::<Vec<_>>())
            ),
        ],
        // theory: (1/sqrt 2)^5 = 0.18 for Xavier, 1 for Kaiming
        holds: rx < 0.35 && (0.6..1.6).contains(&rk),
        measured: format!("std layer 6 / layer 1: {rx:.3} (xavier) vs {rk:.3} (kaiming)"),
        figures: vec![
            histograms("kaiming_xavier_relu", "Xavier normal, ReLU", &x, (0.0, 3.0)),
            histograms("kaiming_relu", "Kaiming normal, ReLU", &k, (0.0, 3.0)),
        ],
    })
}

/// Four residual blocks of two 3x3 convolutions on 8 channels, both MSRA-initialized.
macro_rules! resnet {
    ($name:ident, $($second:tt)*) => {
        netspec::network! {
            network $name {
                input image(8, 8, 8); batch 32;
                residual { conv 8 kernel 3 pad 1 init kaiming_normal bias zeros; relu; conv 8 kernel 3 pad 1 $($second)*; }
                residual { conv 8 kernel 3 pad 1 init kaiming_normal bias zeros; relu; conv 8 kernel 3 pad 1 $($second)*; }
                residual { conv 8 kernel 3 pad 1 init kaiming_normal bias zeros; relu; conv 8 kernel 3 pad 1 $($second)*; }
                residual { conv 8 kernel 3 pad 1 init kaiming_normal bias zeros; relu; conv 8 kernel 3 pad 1 $($second)*; }
                flatten; dense 10;
                loss softmax_cross_entropy;
            }
        }
    };
}

resnet!(ResMsra, init kaiming_normal bias zeros);
resnet!(ResZero, init zeros bias zeros);

/// Var(x) then Var(x + F(x)) after each block, on 32 N(0, 1) images.
fn block_variances<N>() -> Result<Vec<f64>, Error>
where
    N: for<'a> Network<Targets<'a> = &'a [usize]>,
{
    let mut rng = Rng::seed(4);
    let mut net = N::new(&mut rng);
    let x = gaussian(N::BATCH * N::INPUT, &mut rng);
    let y = vec![0; N::BATCH];
    net.loss_and_grad(&x, &y)?;
    let mut vars = vec![LayerStats::of(&x).std.powi(2)];
    vars.extend(net.activations().filter(|v| v.kind == "residual").map(|v| v.stats().std.powi(2)));
    Ok(vars)
}

/// Claim 6: residual blocks with MSRA on both convs grow the variance; a zero-initialized
/// second conv keeps it.
pub fn residual(_: Scale) -> Result<Outcome, Error> {
    let (msra, zero) = (block_variances::<ResMsra>()?, block_variances::<ResZero>()?);
    let growing = msra.windows(2).all(|w| w[1] > 1.2 * w[0]);
    let kept = zero.windows(2).all(|w| (w[1] / w[0] - 1.0).abs() < 1e-6);
    let mut history = History::new();
    for (i, (m, z)) in msra.iter().zip(&zero).enumerate() {
        history.record("MSRA on both convs", i as f64, *m);
        history.record("second conv zero", i as f64, *z);
    }
    Ok(Outcome {
        name: "residual",
        claim: "residual blocks, MSRA on both convs: Var(x + F(x)) > Var(x), growing with depth; second conv zero-initialized: Var(x + F(x)) = Var(x) at init",
        report: vec![
            format!("Var(input), then after each block, MSRA both:   {}", list(&msra)),
            format!("Var(input), then after each block, second zero: {}", list(&zero)),
        ],
        holds: growing && kept,
        measured: format!(
            "Var {:.2} -> {:.2} over 4 blocks (MSRA) vs {:.4} -> {:.4} (zero second conv)",
            msra[0],
            msra[msra.len() - 1],
            zero[0],
            zero[zero.len() - 1]
        ),
        figures: vec![Figure::Curves {
            file: "residual_variance".into(),
            title: "Variance after each residual block at init".into(),
            x_label: "block".into(),
            y_label: "Var".into(),
            log_y: true,
            history,
        }],
    })
}
