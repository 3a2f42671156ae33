//! Trains the DigitsCnn of `specs/digits_cnn.nn` (DESIGN.md's network, exactly as written:
//! conv, batch norm, a residual block with stochastic depth, max pooling, dropout, input
//! standardization and seven augmentations) on the bundled 8x8 digits, and reports its
//! accuracy on a held-out fifth of the data.
//!
//! `cargo run --release --example digits_cnn` (`-- --save DIR` also writes the trained weights and
//! the held-out samples to `DIR`, for `embedded/`)

use netspec::prelude::*;
use std::time::Instant;

use netspec::{Adam, Batches, CosineLr, Dataset, LrSchedule, Progress, Rng, accuracy, argmax};

netspec::include_spec!("digits_cnn");

const EPOCHS: usize = 300;
const LR: f64 = 3e-3;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let save = netspec_examples::save_dir()?;
    let mut rng = Rng::seed(42);
    let mut digits = Dataset::digits();
    digits.scale(1.0 / 16.0); // pixels 0..16 -> [0, 1]
    let (train, test) = digits.split(0.2, &mut rng)?;
    println!("digits: {} training and {} test samples", train.len(), test.len());

    let mut net = DigitsCnn::new(&mut rng);
    // `preprocess standardize per_channel`, fitted on the training split only.
    net.fit_preprocess(&train.features)?;
    let mut optimizer = Adam::new().lr(LR).build()?;
    let schedule = CosineLr::new(EPOCHS, 0.0)?;
    let mut batches = Batches::new(train.len(), DigitsCnn::BATCH)?;
    let mut inputs = vec![0.0; DigitsCnn::BATCH * DigitsCnn::INPUT];
    let mut labels = vec![0; DigitsCnn::BATCH];

    let mut progress = Progress::new(EPOCHS, batches.len());
    for epoch in 0..EPOCHS {
        netspec::Optimizer::set_lr(&mut optimizer, schedule.lr_at(epoch, LR))?;
        batches.shuffle(&mut rng);
        for batch in &batches {
            train.gather(batch, &mut inputs, &mut labels)?;
            // augment, standardize, forward, backward, penalties, Adam step
            let loss = net.train_step(&inputs, &labels, &mut optimizer, &mut rng)?;
            progress.step(loss);
        }
        progress.end_epoch(None);
    }
    progress.finish();

    println!("train accuracy: {:.4}", evaluate(&net, &train)?);
    println!("time: {:.1} s", start.elapsed().as_secs_f64());
    println!("test accuracy: {:.4}", evaluate(&net, &test)?);
    // `--save DIR`: the weights and held-out samples `embedded/run-qemu` bakes into firmware.
    if let Some(dir) = save {
        net.save(dir.join("digits_cnn.safetensors"))?;
        netspec_examples::save_test_set(&dir, "digits_cnn", &test)?;
    }
    Ok(())
}

/// The fraction of samples whose highest-scoring class is their label (eval mode).
fn evaluate(net: &DigitsCnn, data: &Dataset) -> Result<f64, Box<dyn std::error::Error>> {
    let mut scores = vec![0.0; data.len() * DigitsCnn::OUTPUT];
    net.predict_batch(&data.features, &mut scores)?;
    let predicted: Vec<usize> =
        scores.chunks_exact(DigitsCnn::OUTPUT).map(|s| argmax(s).unwrap_or(0)).collect();
    Ok(accuracy(&predicted, &data.labels)?)
}
