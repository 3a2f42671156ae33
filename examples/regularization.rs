//! The lecture's regularizers on one MLP in the overfitting regime: 300 training digits, the
//! rest (~1,500) held out. Trains the same 64-128-10 network with no regularizer, L2, L1,
//! dropout, DropConnect, batch norm and input noise, and prints train and test accuracy and the
//! first layer's weight statistics. Checks that L1 leaves more near-zero weights (|w| < 1e-3)
//! than L2 (exit code 1 otherwise), and compares MC dropout (the mean of K stochastic passes)
//! with weight scaling (`predict`, eval mode) on the test set.
//!
//! `cargo run --release --example regularization`

use netspec::prelude::*;
use netspec::{Dataset, Rng, Role, Sgd, accuracy, argmax};

// Each network: the same MLP, one regularizer. SGD with momentum (not Adam) so that L1's
// constant-size subgradient steps park unneeded weights at ~0 rather than at Adam's ~lr.
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
    network WithDropout {
        input 64; batch 30; dense 128; relu; dropout 0.5; dense 10; loss softmax_cross_entropy;
    }
    network WithDropConnect {
        input 64; batch 30; dense 128 dropconnect 0.5; relu; dense 10; loss softmax_cross_entropy;
    }
    network WithBatchNorm {
        input 64; batch 30; dense 128; batchnorm; relu; dense 10; loss softmax_cross_entropy;
    }
    network WithNoise {
        input 64; batch 30; noise gaussian 0.3; dense 128; relu; dense 10;
        loss softmax_cross_entropy;
    }
}

const TRAIN_SAMPLES: usize = 300;
const EPOCHS: usize = 150;
const NEAR_ZERO: f32 = 1e-3;

/// One row of the table.
struct Row {
    name: &'static str,
    train: f64,
    test: f64,
    mean_abs_w: f64,
    near_zero: f64,
}

/// Trains a fresh network of type `$net` and measures it; evaluates `$after` with the trained
/// network bound to `net` (for MC dropout).
macro_rules! run {
    ($net:ident, $name:literal, $train:expr, $test:expr) => {{
        let (train, test): (&Dataset, &Dataset) = ($train, $test);
        let mut rng = Rng::seed(7);
        let mut net = $net::new(&mut rng);
        let mut opt = Sgd::new(0.05).momentum(0.9).build()?;
        let mut batches = netspec::Batches::new(train.len(), $net::BATCH)?;
        let (mut x, mut y) = (vec![0.0; $net::BATCH * $net::INPUT], vec![0; $net::BATCH]);
        for _ in 0..EPOCHS {
            batches.shuffle(&mut rng);
            for batch in &batches {
                train.gather(batch, &mut x, &mut y)?;
                net.train_step(&x, &y, &mut opt, &mut rng)?;
            }
        }
        let eval = |data: &Dataset| -> Result<f64, Box<dyn std::error::Error>> {
            let mut scores = vec![0.0; data.len() * $net::OUTPUT];
            net.predict_batch(&data.features, &mut scores)?;
            let predicted: Vec<usize> =
                scores.chunks_exact($net::OUTPUT).map(|s| argmax(s).unwrap_or(0)).collect();
            Ok(accuracy(&predicted, &data.labels)?)
        };
        // The first layer's weight (the 64 x 128 matrix a penalty acts on most).
        let w1 = $net::PARAMS.iter().find(|p| p.role == Role::Weight).unwrap();
        let w = &net.params()[w1.offset..w1.offset + w1.len];
        let row = Row {
            name: $name,
            train: eval(train)?,
            test: eval(test)?,
            mean_abs_w: w.iter().map(|w| f64::from(w.abs())).sum::<f64>() / w.len() as f64,
            near_zero: w.iter().filter(|w| w.abs() < NEAR_ZERO).count() as f64 / w.len() as f64,
        };
        (row, net)
    }};
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = std::time::Instant::now();
    let mut rng = Rng::seed(42);
    let mut digits = Dataset::digits();
    digits.scale(1.0 / 16.0); // pixels 0..16 -> [0, 1]
    let test_fraction = 1.0 - TRAIN_SAMPLES as f64 / digits.len() as f64;
    let (train, test) = digits.split(test_fraction, &mut rng)?;
    println!(
        "digits: {} training and {} test samples, {EPOCHS} epochs of SGD (lr 0.05, momentum 0.9)\n",
        train.len(),
        test.len()
    );

    let mut rows = vec![
        run!(Plain, "none", &train, &test).0,
        run!(WithL2, "L2 1e-2", &train, &test).0,
        run!(WithL1, "L1 1e-3", &train, &test).0,
    ];
    let (dropout_row, dropout_net) = run!(WithDropout, "dropout 0.5", &train, &test);
    rows.push(dropout_row);
    rows.push(run!(WithDropConnect, "DropConnect 0.5", &train, &test).0);
    rows.push(run!(WithBatchNorm, "batch norm", &train, &test).0);
    rows.push(run!(WithNoise, "input noise 0.3", &train, &test).0);

    println!(
        "{:<18} {:>9} {:>9} {:>7} {:>11} {:>16}",
        "regularizer", "train acc", "test acc", "gap", "mean |w1|", "|w1| < 1e-3"
    );
    println!("{}", "-".repeat(75));
    for r in &rows {
        println!(
            "{:<18} {:>9.4} {:>9.4} {:>7.4} {:>11.5} {:>15.2}%",
            r.name,
            r.train,
            r.test,
            r.train - r.test,
            r.mean_abs_w,
            100.0 * r.near_zero
        );
    }

    // MC dropout against weight scaling, on the test set.
    const K: usize = 50;
    let mut mc_rng = Rng::seed(9);
    let (mut scaled, mut mc_logits, mut mc_probs) = (Vec::new(), Vec::new(), Vec::new());
    for x in test.features.chunks_exact(WithDropout::INPUT) {
        let x: &[f32; 64] = x.try_into()?;
        scaled.push(argmax(&dropout_net.predict(x)).unwrap_or(0));
        mc_logits.push(argmax(&dropout_net.predict_mc(x, K, &mut mc_rng)).unwrap_or(0));
        // The MC estimate of the predictive distribution: the mean of K softmaxes.
        let mut mean = [0.0f32; 10];
        for _ in 0..K {
            let z = dropout_net.predict_sample(x, &mut mc_rng);
            let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = z.iter().map(|z| (z - max).exp()).sum();
            for (m, z) in mean.iter_mut().zip(z) {
                *m += (z - max).exp() / sum / K as f32;
            }
        }
        mc_probs.push(argmax(&mean).unwrap_or(0));
    }
    let scaled = accuracy(&scaled, &test.labels)?;
    let mc_logits = accuracy(&mc_logits, &test.labels)?;
    let mc_probs = accuracy(&mc_probs, &test.labels)?;
    println!("\ndropout 0.5, test accuracy:");
    println!("  weight scaling (predict, eval mode):        {scaled:.4}");
    println!(
        "  MC dropout, mean of {K} passes' logits:      {mc_logits:.4}  (gap {:+.4})",
        mc_logits - scaled
    );
    println!(
        "  MC dropout, mean of {K} passes' softmaxes:   {mc_probs:.4}  (gap {:+.4})",
        mc_probs - scaled
    );

    let (l1, l2) = (&rows[2], &rows[1]);
    println!(
        "\nnear-zero first-layer weights: L1 {:.2}% vs L2 {:.2}% ({:.1} s)",
        100.0 * l1.near_zero,
        100.0 * l2.near_zero,
        start.elapsed().as_secs_f64()
    );
    if l1.near_zero <= l2.near_zero {
        eprintln!("error: L1 should leave more near-zero weights than L2");
        std::process::exit(1);
    }
    Ok(())
}
