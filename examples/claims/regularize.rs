//! Penalties and stochastic regularizers on small training sets of digits.

use netspec::prelude::*;
use netspec::{Dataset, History, Rng, Role, Sgd, argmax};

use super::depth::only;
use super::{Error, Figure, Outcome, Scale, accuracy_of, digits, list, train};

netspec::network! {
    network Plain { input 64; batch 30; dense 128; relu; dense 10; loss softmax_cross_entropy; }
    network WithL2 {
        input 64; batch 30; dense 128; relu; dense 10; loss softmax_cross_entropy;
        penalty l2 1e-2;
    }
    network WithL1 {
        input 64; batch 30; dense 128; relu; dense 10; loss softmax_cross_entropy;
        penalty l1 1e-3;
    }
    network WithActivityL1 {
        input 64; batch 30; dense 128; relu; dense 10; loss softmax_cross_entropy;
        penalty l1_activity 1e-3 on relu1;
    }
}

/// The first dense layer's weights.
fn first_weight<N: Network>(net: &N) -> &[f32] {
    let w = N::PARAMS.iter().find(|p| p.role == Role::Weight).expect("a dense layer");
    &net.params()[w.offset..w.offset + w.len]
}

/// Trains with SGD (lr 0.05, momentum 0.9: L1's constant-size steps park unneeded weights
/// at ~0, where Adam's would leave them at ~lr) from seed 7.
macro_rules! fit {
    ($net:ident, $data:expr, $epochs:expr, $history:expr, $label:expr) => {
        fit!($net, $data, $epochs, $history, $label, 0)
    };
    ($net:ident, $data:expr, $epochs:expr, $history:expr, $label:expr, $seed:expr) => {{
        let mut rng = Rng::seed(7 + $seed);
        let mut net = $net::new(&mut rng);
        let mut opt = Sgd::new(0.05).momentum(0.9).build()?;
        train(&mut net, &mut opt, $data, $epochs, &mut rng, $history, $label)?;
        net
    }};
}

/// Train and test accuracy after training, and the gap between them.
fn gap(history: &History, label: &str) -> (f64, f64, f64) {
    let train = history.last(&format!("{label} train accuracy")).unwrap_or(f64::NAN);
    let test = history.last(&format!("{label} test accuracy")).unwrap_or(f64::NAN);
    (train, test, train - test)
}

/// [`gap`] averaged over the runs labelled `"{label}, seed {s}"`, `s < seeds`.
fn mean_gap(history: &History, label: &str, seeds: u64) -> (f64, f64, f64) {
    let mut sum = (0.0, 0.0, 0.0);
    for s in 0..seeds {
        let g = gap(history, &format!("{label}, seed {s}"));
        sum = (sum.0 + g.0, sum.1 + g.1, sum.2 + g.2);
    }
    let n = seeds as f64;
    (sum.0 / n, sum.1 / n, sum.2 / n)
}

/// Claim 8: L2 gives small weights, L1 sparse weights.
pub fn weight_penalties(scale: Scale) -> Result<Outcome, Error> {
    let (train_set, test_set) = digits(300, 42)?;
    let data = (&train_set, &test_set);
    let epochs = scale.epochs(150);
    let mut history = History::new();
    let nets = [
        ("none", first_weight(&fit!(Plain, data, epochs, &mut history, "none")).to_vec()),
        ("l2 1e-2", first_weight(&fit!(WithL2, data, epochs, &mut history, "l2 1e-2")).to_vec()),
        ("l1 1e-3", first_weight(&fit!(WithL1, data, epochs, &mut history, "l1 1e-3")).to_vec()),
    ];
    let mut report = Vec::new();
    let mut stats = Vec::new();
    for (label, w) in &nets {
        let mean_abs = w.iter().map(|v| f64::from(v.abs())).sum::<f64>() / w.len() as f64;
        let near_zero = w.iter().filter(|v| v.abs() < 1e-3).count() as f64 / w.len() as f64;
        let (tr, te, _) = gap(&history, label);
        report.push(format!(
            "{label:<8} mean |w1| {mean_abs:.4}, |w1| < 1e-3: {:5.1}%, train {tr:.3}, test {te:.3}",
            100.0 * near_zero
        ));
        stats.push((mean_abs, near_zero));
    }
    let (plain, l2, l1) = (stats[0], stats[1], stats[2]);
    let holds = l2.0 < 0.7 * plain.0 && l1.1 > l2.1 + 0.2 && l1.1 > plain.1 + 0.2;
    Ok(Outcome {
        name: "weight_penalties",
        claim: "L2 gives small weights, L1 sparse weights",
        report,
        holds,
        measured: format!(
            "mean |w1| {:.4} (none) vs {:.4} (L2); |w1| < 1e-3: {:.0}% (L1) vs {:.0}% (L2), {:.0}% (none)",
            plain.0,
            l2.0,
            100.0 * l1.1,
            100.0 * l2.1,
            100.0 * plain.1
        ),
        figures: vec![Figure::Histograms {
            file: "weight_penalties".into(),
            title: "First-layer weights".into(),
            panels: nets.iter().map(|(l, w)| (l.to_string(), w.clone())).collect(),
            range: (-0.5, 0.5),
        }],
    })
}

/// The eval-mode `relu1` activations of the test set's first full batches.
fn relu1_on<N>(net: &mut N, data: &Dataset) -> Result<Vec<f32>, Error>
where
    N: for<'a> Network<Targets<'a> = &'a [usize]>,
{
    net.set_training(false);
    let mut values = Vec::new();
    let (xs, ys) =
        (data.features.chunks_exact(N::BATCH * N::INPUT), data.labels.chunks_exact(N::BATCH));
    for (x, y) in xs.zip(ys).take(10) {
        net.loss_and_grad(x, y)?;
        values.extend_from_slice(net.activation("relu1").ok_or("no relu1")?.values);
    }
    Ok(values)
}

/// Claim 9: an L1 penalty on activations gives sparse representations.
pub fn activity_penalty(scale: Scale) -> Result<Outcome, Error> {
    let (train_set, test_set) = digits(300, 42)?;
    let data = (&train_set, &test_set);
    let epochs = scale.epochs(150);
    let mut history = History::new();
    let mut plain = fit!(Plain, data, epochs, &mut history, "none");
    let mut sparse = fit!(WithActivityL1, data, epochs, &mut history, "l1_activity 1e-3");
    let (a, b) = (relu1_on(&mut plain, &test_set)?, relu1_on(&mut sparse, &test_set)?);
    let (sa, sb) = (netspec::LayerStats::of(&a), netspec::LayerStats::of(&b));
    let report = vec![
        format!(
            "none              relu1 on test digits: {:.1}% exactly 0, mean {:.4}, test accuracy {:.3}",
            100.0 * sa.zeros,
            sa.mean,
            accuracy_of(&plain, &test_set)?
        ),
        format!(
            "l1_activity 1e-3  relu1 on test digits: {:.1}% exactly 0, mean {:.4}, test accuracy {:.3}",
            100.0 * sb.zeros,
            sb.mean,
            accuracy_of(&sparse, &test_set)?
        ),
    ];
    Ok(Outcome {
        name: "activity_penalty",
        claim: "an L1 activity penalty gives sparse representations",
        report,
        holds: sb.zeros > sa.zeros + 0.15 && sb.mean < 0.5 * sa.mean,
        measured: format!(
            "relu1 zeros {:.0}% vs {:.0}% without",
            100.0 * sb.zeros,
            100.0 * sa.zeros
        ),
        figures: vec![Figure::Histograms {
            file: "activity_penalty".into(),
            title: "relu1 on test digits".into(),
            panels: vec![("none".into(), a), ("l1_activity 1e-3".into(), b)],
            range: (0.0, 2.0),
        }],
    })
}

netspec::network! {
    network Deeper {
        input 64; batch 30; dense 128; relu; dense 64; relu; dense 10;
        loss softmax_cross_entropy;
    }
    network DeeperDropout {
        input 64; batch 30; dense 128; relu; dropout 0.5; dense 64; relu; dense 10;
        loss softmax_cross_entropy;
    }
}

/// Claim 10: inverted dropout's weight scaling approximates the MC average, and dropout
/// narrows the train/test gap.
pub fn dropout(scale: Scale) -> Result<Outcome, Error> {
    let (train_set, test_set) = digits(300, 42)?;
    let data = (&train_set, &test_set);
    let epochs = scale.epochs(150);
    let mut history = History::new();
    let seeds = scale.seeds();
    let mut net = None;
    for seed in 0..seeds {
        fit!(Deeper, data, epochs, &mut history, &format!("none, seed {seed}"), seed);
        net = Some(fit!(
            DeeperDropout,
            data,
            epochs,
            &mut history,
            &format!("dropout 0.5, seed {seed}"),
            seed
        ));
    }
    let net = net.ok_or("no seed")?;
    // dropout before a ReLU layer: the MC mean is not the weight-scaled pass exactly
    const K: usize = 100;
    let mut rng = Rng::seed(11);
    let (mut agree, mut scaled_right, mut mc_right) = (0, 0, 0);
    for (x, &label) in test_set.features.chunks_exact(64).zip(&test_set.labels) {
        let x: &[f32; 64] = x.try_into()?;
        let scaled = argmax(&net.predict(x)).unwrap_or(0);
        let mut mean = [0.0f32; 10];
        for _ in 0..K {
            // the mean of K softmaxes
            let z = net.predict_sample(x, &mut rng);
            let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = z.iter().map(|z| (z - max).exp()).sum();
            for (m, z) in mean.iter_mut().zip(z) {
                *m += (z - max).exp() / sum;
            }
        }
        let mc = argmax(&mean).unwrap_or(0);
        agree += usize::from(mc == scaled);
        scaled_right += usize::from(scaled == label);
        mc_right += usize::from(mc == label);
    }
    let n = test_set.len() as f64;
    let (agree, scaled_acc, mc_acc) =
        (agree as f64 / n, scaled_right as f64 / n, mc_right as f64 / n);
    let (plain, drop) =
        (mean_gap(&history, "none", seeds), mean_gap(&history, "dropout 0.5", seeds));
    let report = vec![
        format!("mean of {seeds} seeds:"),
        format!("none         train {:.3}, test {:.3}, gap {:.3}", plain.0, plain.1, plain.2),
        format!("dropout 0.5  train {:.3}, test {:.3}, gap {:.3}", drop.0, drop.1, drop.2),
        format!(
            "test accuracy: weight scaling {scaled_acc:.3}, MC mean of {K} softmaxes {mc_acc:.3}; same prediction on {:.1}% of test digits",
            100.0 * agree
        ),
    ];
    let holds = agree > 0.95 && (scaled_acc - mc_acc).abs() < 0.02 && drop.2 < plain.2;
    Ok(Outcome {
        name: "dropout",
        claim: "inverted dropout: weight scaling at test time is close to the MC average of many masks; dropout narrows the train/test gap",
        report,
        holds,
        measured: format!(
            "weight scaling and MC agree on {:.1}% ({scaled_acc:.3} vs {mc_acc:.3}); gap {:.3} vs {:.3} without",
            100.0 * agree,
            drop.2,
            plain.2
        ),
        figures: vec![Figure::Curves {
            file: "dropout_accuracy".into(),
            title: "Train and test accuracy, 300 digits".into(),
            x_label: "epoch".into(),
            y_label: "accuracy".into(),
            log_y: false,
            history: only(&history, "seed 0"),
        }],
    })
}

netspec::network! {
    network DropConnect {
        input 64; batch 30; dense 128 dropconnect 0.5; relu; dense 10;
        loss softmax_cross_entropy;
    }
    network ResPlain {
        input 64; batch 30; dense 64; relu;
        residual { dense 64; relu; dense 64; }
        residual { dense 64; relu; dense 64; }
        relu; dense 10;
        loss softmax_cross_entropy;
    }
    network ResStochasticDepth {
        input 64; batch 30; dense 64; relu;
        residual stochastic_depth 0.5 { dense 64; relu; dense 64; }
        residual stochastic_depth 0.5 { dense 64; relu; dense 64; }
        relu; dense 10;
        loss softmax_cross_entropy;
    }
    network PoolMax {
        input image(1, 8, 8); batch 30;
        conv 16 kernel 3 pad 1; relu; maxpool 2; flatten; dense 10;
        loss softmax_cross_entropy;
    }
    network PoolFractional {
        input image(1, 8, 8); batch 30;
        conv 16 kernel 3 pad 1; relu; fractional_maxpool 1.41; flatten; dense 10;
        loss softmax_cross_entropy;
    }
}

/// Claim 13: DropConnect, stochastic depth and fractional max pooling regularize.
pub fn stochastic_regularizers(scale: Scale) -> Result<Outcome, Error> {
    let (train_set, test_set) = digits(300, 42)?;
    let data = (&train_set, &test_set);
    let epochs = scale.epochs(100);
    let mut history = History::new();
    let seeds = scale.seeds();
    for seed in 0..seeds {
        let h = &mut history;
        fit!(Plain, data, epochs, h, &format!("dense, seed {seed}"), seed);
        fit!(DropConnect, data, epochs, h, &format!("dense, dropconnect 0.5, seed {seed}"), seed);
        fit!(ResPlain, data, epochs, h, &format!("residual, seed {seed}"), seed);
        let label = format!("residual, stochastic_depth 0.5, seed {seed}");
        fit!(ResStochasticDepth, data, epochs, h, &label, seed);
        fit!(PoolMax, data, epochs, h, &format!("conv, maxpool 2, seed {seed}"), seed);
        let label = format!("conv, fractional_maxpool 1.41, seed {seed}");
        fit!(PoolFractional, data, epochs, h, &label, seed);
    }
    let pairs = [
        ("dense", "dense, dropconnect 0.5"),
        ("residual", "residual, stochastic_depth 0.5"),
        ("conv, maxpool 2", "conv, fractional_maxpool 1.41"),
    ];
    let mut report = vec![format!("mean of {seeds} seeds:")];
    let mut narrowed = Vec::new();
    for (base, reg) in pairs {
        let (b, r) = (mean_gap(&history, base, seeds), mean_gap(&history, reg, seeds));
        for (label, g) in [(base, b), (reg, r)] {
            report.push(format!("{label:<32} train {:.3}, test {:.3}, gap {:.3}", g.0, g.1, g.2));
        }
        // regularizing: a smaller gap, or a better test accuracy
        narrowed.push((b.2 - r.2, r.1 - b.1));
    }
    let holds = narrowed.iter().all(|&(gap, test)| gap > 0.0 || test > 0.0);
    let gaps: Vec<f64> = narrowed.iter().map(|n| n.0).collect();
    let tests: Vec<f64> = narrowed.iter().map(|n| n.1).collect();
    Ok(Outcome {
        name: "stochastic_regularizers",
        claim: "DropConnect, stochastic depth and fractional max pooling regularize (smaller train/test gap or better test accuracy)",
        report,
        holds,
        measured: format!(
            "gap narrowed by {} and test accuracy changed by {} (DropConnect, stochastic depth, fractional pooling)",
            list(&gaps),
            list(&tests)
        ),
        figures: vec![Figure::Curves {
            file: "stochastic_regularizers".into(),
            title: "Test accuracy, 300 digits (seed 0)".into(),
            x_label: "epoch".into(),
            y_label: "test accuracy".into(),
            log_y: false,
            history: only(&only(&history, "test accuracy"), "seed 0"),
        }],
    })
}
