//! Trains a small network written inline with `network!` on Fisher's iris data, and reports
//! its accuracy on a held-out fifth of the data.
//!
//! `cargo run --release --example iris`

use netspec::prelude::*;
use netspec::{Adam, Batches, Dataset, Progress, Rng, accuracy, argmax};

netspec::network! {
    network IrisMlp {
        input 4;
        batch 8;
        dense 16 init kaiming_uniform;
        relu;
        dense 3;
        loss softmax_cross_entropy;
    }
}

const EPOCHS: usize = 150;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = Rng::seed(7);
    let (mut train, mut test) = Dataset::iris().split(0.2, &mut rng)?;
    // Standardize each feature with the training split's statistics.
    let (mean, std) = feature_statistics(&train);
    for data in [&mut train, &mut test] {
        for row in data.features.chunks_exact_mut(IrisMlp::INPUT) {
            for ((x, m), s) in row.iter_mut().zip(&mean).zip(&std) {
                *x = (*x - m) / s;
            }
        }
    }
    println!("iris: {} training and {} test samples", train.len(), test.len());

    let mut net = IrisMlp::new(&mut rng);
    let mut optimizer = Adam::new().lr(1e-2).build()?;
    let mut batches = Batches::new(train.len(), IrisMlp::BATCH)?;
    let mut inputs = vec![0.0; IrisMlp::BATCH * IrisMlp::INPUT];
    let mut labels = vec![0; IrisMlp::BATCH];

    let mut progress = Progress::new(EPOCHS, batches.len());
    for _ in 0..EPOCHS {
        batches.shuffle(&mut rng);
        for batch in &batches {
            train.gather(batch, &mut inputs, &mut labels)?;
            progress.step(net.train_step(&inputs, &labels, &mut optimizer, &mut rng)?);
        }
        progress.end_epoch(None);
    }
    progress.finish();

    println!("train accuracy: {:.4}", evaluate(&net, &train)?);
    println!("test accuracy: {:.4}", evaluate(&net, &test)?);
    Ok(())
}

/// Per-feature mean and (biased) standard deviation.
fn feature_statistics(data: &Dataset) -> ([f32; IrisMlp::INPUT], [f32; IrisMlp::INPUT]) {
    let n = data.len() as f32;
    let mut mean = [0.0; IrisMlp::INPUT];
    let mut var = [0.0; IrisMlp::INPUT];
    for row in data.features.chunks_exact(IrisMlp::INPUT) {
        mean.iter_mut().zip(row).for_each(|(m, x)| *m += x / n);
    }
    for row in data.features.chunks_exact(IrisMlp::INPUT) {
        var.iter_mut().zip(row).zip(&mean).for_each(|((v, x), m)| *v += (x - m).powi(2) / n);
    }
    (mean, var.map(|v| v.sqrt().max(1e-6)))
}

fn evaluate(net: &IrisMlp, data: &Dataset) -> Result<f64, Box<dyn std::error::Error>> {
    let mut scores = vec![0.0; data.len() * IrisMlp::OUTPUT];
    net.predict_batch(&data.features, &mut scores)?;
    let predicted: Vec<usize> =
        scores.chunks_exact(IrisMlp::OUTPUT).map(|s| argmax(s).unwrap_or(0)).collect();
    Ok(accuracy(&predicted, &data.labels)?)
}
