//! Input preprocessing and batch norm: what they do to training speed and stability.

use netspec::prelude::*;
use netspec::{BatchError, History, PreprocessKind, Preprocessor, Rng, Sgd};

use super::depth::only;
use super::{Error, Figure, Outcome, Scale, digits, train};

netspec::network! {
    network Raw {
        input 64; batch 30; dense 64; relu; dense 10; loss softmax_cross_entropy;
    }
    network Centered {
        input 64; batch 30; preprocess mean_subtract per_pixel;
        dense 64; relu; dense 10; loss softmax_cross_entropy;
    }
    network Standardized {
        input 64; batch 30; preprocess standardize per_feature;
        dense 64; relu; dense 10; loss softmax_cross_entropy;
    }
}

/// Trains, returning the epoch at which a step diverged (NaN or infinite), if one did.
fn train_or_diverge<N: Classifier>(
    net: &mut N,
    opt: &mut impl Optimizer,
    data: (&netspec::Dataset, &netspec::Dataset),
    epochs: usize,
    rng: &mut Rng,
    history: &mut History,
    label: &str,
) -> Result<Option<usize>, Error> {
    match train(net, opt, data, epochs, rng, history, label) {
        Ok(()) => Ok(None),
        Err(e) if matches!(e.downcast_ref(), Some(BatchError::NonFinite { .. })) => {
            Ok(Some(history.get(&format!("{label} train loss")).len() + 1))
        }
        Err(e) => Err(e),
    }
}

/// The learning rates the preprocessing experiment sweeps.
const LEARNING_RATES: [f64; 4] = [0.003, 0.01, 0.03, 0.1];

/// Claim 7: centering or standardizing the inputs speeds up training on raw pixel values;
/// PCA whitening decorrelates.
pub fn preprocess(scale: Scale) -> Result<Outcome, Error> {
    let (mut train_set, mut test_set) = digits(1000, 5)?;
    // raw pixel values, 0..16
    train_set.scale(16.0);
    test_set.scale(16.0);
    let data = (&train_set, &test_set);
    let epochs = scale.epochs(20);
    let mut history = History::new();
    let mut sweep = History::new();
    let mut report = Vec::new();
    // final train loss (or None when diverged) per learning rate
    let mut finals: Vec<Vec<Option<f64>>> = Vec::new();
    macro_rules! run {
        ($net:ident, $label:literal, $fit:expr) => {{
            let mut losses = Vec::new();
            for lr in LEARNING_RATES {
                let mut rng = Rng::seed(6);
                let mut net = $net::new(&mut rng);
                if $fit {
                    net.fit_preprocess(&train_set.features)?;
                }
                let mut opt = Sgd::new(lr).momentum(0.9).build()?;
                let label = format!("{}, lr {lr}", $label);
                let diverged = train_or_diverge(
                    &mut net,
                    &mut opt,
                    data,
                    epochs,
                    &mut rng,
                    &mut history,
                    &label,
                )?;
                let last = history.last(&format!("{label} train loss"));
                let last = if diverged.is_some() { None } else { last };
                if let Some(l) = last {
                    sweep.record($label, lr.log10(), l);
                }
                losses.push(last);
            }
            let shown: Vec<String> =
                losses.iter().map(|l| l.map_or("diverged".into(), |l| format!("{l:.4}"))).collect();
            report.push(format!("{:<24} {}", $label, shown.join("  ")));
            finals.push(losses);
        }};
    }
    report.push(format!(
        "train loss after {epochs} epochs (SGD, momentum 0.9) at lr {:?}:",
        LEARNING_RATES
    ));
    run!(Raw, "raw pixels 0..16", false);
    run!(Centered, "mean_subtract per_pixel", true);
    run!(Standardized, "standardize per_feature", true);
    // a learning rate where the raw net diverges or stalls (train loss above 1, a third of
    // chance's ln 10 = 2.3) and the preprocessed one trains (below 0.1)
    let stalls = |l: &Option<f64>| l.is_none_or(|l| l > 1.0);
    let stabilized = |k: usize| {
        LEARNING_RATES
            .iter()
            .zip(finals[k].iter().zip(&finals[0]))
            .find(|(_, (p, raw))| p.is_some_and(|p| p < 0.1) && stalls(raw))
            .map(|(lr, _)| *lr)
    };
    let faster = |k: usize| {
        finals[k]
            .iter()
            .zip(&finals[0])
            .filter(|(p, r)| matches!((p, r), (Some(p), Some(r)) if p < r))
            .count()
    };
    let (centered, standardized) = (stabilized(1), stabilized(2));
    // Whitening on correlated synthetic data: x = A z, z ~ N(0, I_8).
    let mut rng = Rng::seed(8);
    let d = 8;
    let a: Vec<f32> = (0..d * d).map(|_| rng.normal(0.0, 1.0)).collect();
    let rows: Vec<f32> = (0..4000)
        .flat_map(|_| {
            let z: Vec<f32> = (0..d).map(|_| rng.normal(0.0, 1.0)).collect();
            (0..d).map(|i| (0..d).map(|j| a[i * d + j] * z[j]).sum::<f32>()).collect::<Vec<_>>()
        })
        .collect();
    let off_diagonal = |rows: &[f32]| {
        let c = covariance(rows, d);
        let corr = |i: usize, j: usize| c[i * d + j] / (c[i * d + i] * c[j * d + j]).sqrt();
        (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| corr(i, j).abs())
            .fold(0.0, f64::max)
    };
    let before = off_diagonal(&rows);
    let pca = Preprocessor::fit(PreprocessKind::WhitenPca, 1e-5, &[d], &rows)?;
    let mut white = rows.clone();
    pca.apply_rows(&mut white);
    let c = covariance(&white, d);
    let from_identity = (0..d * d)
        .map(|k| (c[k] - if k % (d + 1) == 0 { 1.0 } else { 0.0 }).abs())
        .fold(0.0, f64::max);
    report.push(format!(
        "whiten pca on 4000 correlated 8-d samples: largest |correlation| {before:.3} before; \
         max |Cov - I| {from_identity:.2e} after"
    ));
    let holds = centered.is_some() && standardized.is_some() && from_identity < 0.05;
    let at = |lr: Option<f64>| lr.map_or("none".into(), |lr| format!("{lr}"));
    Ok(Outcome {
        name: "preprocess",
        claim: "mean subtraction / standardization speeds up or stabilizes training vs raw inputs; PCA whitening gives covariance close to I",
        report,
        holds,
        measured: format!(
            "raw stalls where centered trains at lr {} and standardized at lr {}; lower loss than raw at {}/{n} (centered) and {}/{n} (standardized) learning rates; whitened max |Cov - I| {from_identity:.1e}",
            at(centered),
            at(standardized),
            faster(1),
            faster(2),
            n = LEARNING_RATES.len()
        ),
        figures: vec![Figure::Curves {
            file: "preprocess_loss".into(),
            title: "Train loss after training, by learning rate".into(),
            x_label: "log10 learning rate".into(),
            y_label: "train loss".into(),
            log_y: true,
            history: sweep,
        }],
    })
}

/// The `d x d` covariance of `rows` (biased, in f64).
fn covariance(rows: &[f32], d: usize) -> Vec<f64> {
    let n = (rows.len() / d) as f64;
    let mut mean = vec![0.0; d];
    for row in rows.chunks_exact(d) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v) / n;
        }
    }
    let mut c = vec![0.0; d * d];
    for row in rows.chunks_exact(d) {
        for i in 0..d {
            for j in 0..d {
                c[i * d + j] += (f64::from(row[i]) - mean[i]) * (f64::from(row[j]) - mean[j]) / n;
            }
        }
    }
    c
}

netspec::network! {
    network DeepPlain {
        input 64; batch 32;
        dense 128; relu; dense 128; relu; dense 128; relu; dense 10;
        loss softmax_cross_entropy;
    }
    network DeepBatchNorm {
        input 64; batch 32;
        dense 128; batchnorm; relu; dense 128; batchnorm; relu; dense 128; batchnorm; relu; dense 10;
        loss softmax_cross_entropy;
    }
}

/// The learning rates the batch-norm experiment sweeps (plain SGD).
const BN_RATES: [f64; 4] = [0.1, 0.3, 1.0, 3.0];

/// Claim 11: batch norm trains at a learning rate at which the same net without it diverges
/// or stalls.
pub fn batchnorm(scale: Scale) -> Result<Outcome, Error> {
    let (train_set, test_set) = digits(1000, 9)?;
    let data = (&train_set, &test_set);
    let epochs = scale.epochs(20);
    let mut history = History::new();
    let mut sweep = History::new();
    let mut report =
        vec![format!("test accuracy after {epochs} epochs of SGD at lr {BN_RATES:?}:")];
    // per net, per learning rate: test accuracy, or None when diverged
    let mut results: Vec<Vec<Option<f64>>> = Vec::new();
    macro_rules! run {
        ($net:ident, $label:literal) => {{
            let mut accs = Vec::new();
            for lr in BN_RATES {
                let mut rng = Rng::seed(10);
                let mut net = $net::new(&mut rng);
                let mut opt = Sgd::new(lr).build()?;
                let label = format!("{}, lr {lr}", $label);
                let diverged = train_or_diverge(
                    &mut net,
                    &mut opt,
                    data,
                    epochs,
                    &mut rng,
                    &mut history,
                    &label,
                )?;
                let acc = history.last(&format!("{label} test accuracy")).unwrap_or(0.0);
                sweep.record($label, lr.log10(), if diverged.is_some() { 0.0 } else { acc });
                accs.push(if diverged.is_some() { None } else { Some(acc) });
            }
            let shown: Vec<String> =
                accs.iter().map(|a| a.map_or("diverged".into(), |a| format!("{a:.3}"))).collect();
            report.push(format!("{:<12} {}", $label, shown.join("  ")));
            results.push(accs);
        }};
    }
    run!(DeepPlain, "no norm");
    run!(DeepBatchNorm, "batch norm");
    // a learning rate where batch norm trains (> 0.9) and the plain net diverges or stalls (< 0.5)
    let found = BN_RATES
        .iter()
        .zip(results[0].iter().zip(&results[1]))
        .find(|(_, (plain, bn))| bn.is_some_and(|a| a > 0.9) && plain.is_none_or(|a| a < 0.5));
    let measured = match found {
        Some((lr, (plain, bn))) => format!(
            "at lr {lr}: without batch norm {}, with {:.3}",
            plain.map_or("diverged".into(), |a| format!("test accuracy {a:.3}")),
            bn.unwrap_or(0.0)
        ),
        None => "no learning rate of the sweep where only batch norm trains".into(),
    };
    Ok(Outcome {
        name: "batchnorm",
        claim: "batch norm trains at a learning rate at which the same net without it diverges or stalls",
        report,
        holds: found.is_some(),
        measured,
        figures: vec![
            Figure::Curves {
                file: "batchnorm_accuracy".into(),
                title: "Test accuracy by learning rate (0: diverged)".into(),
                x_label: "log10 learning rate".into(),
                y_label: "test accuracy".into(),
                log_y: false,
                history: sweep,
            },
            Figure::Curves {
                file: "batchnorm_grad_norms".into(),
                title: "Weight gradient norms per layer over training, SGD lr 1 (none plotted: 0)"
                    .into(),
                x_label: "epoch".into(),
                y_label: "|dL/dW| (last step of the epoch)".into(),
                log_y: true,
                history: only(&only(&history, ", lr 1 "), "|dL/dW|"),
            },
        ],
    })
}
