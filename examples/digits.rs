//! Trains the MLP of `specs/digits.nn` (compiled to Rust by this crate's `build.rs`) on the
//! bundled 8x8 handwritten digits, and reports its accuracy on a held-out fifth of the data.
//!
//! `cargo run --release --example digits` (`-- --save DIR` also writes the trained weights and
//! the held-out samples to `DIR`, for `embedded/`)

use netspec::prelude::*;
use netspec::{Adam, Batches, Dataset, Progress, Rng, accuracy, argmax};

netspec::include_spec!("digits");

const EPOCHS: usize = 40;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let save = netspec_examples::save_dir()?;
    let mut rng = Rng::seed(42);
    let mut digits = Dataset::digits();
    digits.scale(1.0 / 16.0); // pixels 0..16 -> [0, 1]
    let (train, test) = digits.split(0.2, &mut rng)?;
    println!("digits: {} training and {} test samples", train.len(), test.len());

    let mut net = DigitsMlp::new(&mut rng);
    let mut optimizer = Adam::new().lr(1e-3).build()?;
    let mut batches = Batches::new(train.len(), DigitsMlp::BATCH)?;
    let mut inputs = vec![0.0; DigitsMlp::BATCH * DigitsMlp::INPUT];
    let mut labels = vec![0; DigitsMlp::BATCH];

    let mut progress = Progress::new(EPOCHS, batches.len());
    for _ in 0..EPOCHS {
        batches.shuffle(&mut rng);
        for batch in &batches {
            train.gather(batch, &mut inputs, &mut labels)?;
            let loss = net.train_step(&inputs, &labels, &mut optimizer, &mut rng)?;
            progress.step(loss);
        }
        progress.end_epoch(Some(evaluate(&net, &test)?));
    }
    progress.finish();

    println!("train accuracy: {:.4}", evaluate(&net, &train)?);
    println!("test accuracy: {:.4}", evaluate(&net, &test)?);
    // `--save DIR`: the weights and held-out samples `embedded/run-qemu` bakes into firmware.
    if let Some(dir) = save {
        net.save(dir.join("digits.safetensors"))?;
        netspec_examples::save_test_set(&dir, "digits", &test)?;
    }
    Ok(())
}

/// The fraction of samples whose highest-scoring class is their label.
fn evaluate(net: &DigitsMlp, data: &Dataset) -> Result<f64, Box<dyn std::error::Error>> {
    let mut scores = vec![0.0; data.len() * DigitsMlp::OUTPUT];
    net.predict_batch(&data.features, &mut scores)?;
    let predicted: Vec<usize> =
        scores.chunks_exact(DigitsMlp::OUTPUT).map(|s| argmax(s).unwrap_or(0)).collect();
    Ok(accuracy(&predicted, &data.labels)?)
}
