//! Trains the 1-D accelerometer model of `specs/activity.nn` on a synthetic, seeded activity
//! data set generated here (3-axis windows of 128 samples at 50 Hz, four classes: a slow sine
//! as in walking, a fast one as in running, a step as in standing up, and noise alone as in
//! standing still), and reports its accuracy on a held-out fifth.
//!
//! `cargo run --release --example activity`

use std::f32::consts::TAU;
use std::time::Instant;

use netspec::prelude::*;
use netspec::{Adam, Batches, Dataset, Progress, Rng, accuracy, argmax};

netspec::include_spec!("activity");

const WINDOWS_PER_CLASS: usize = 300;
const EPOCHS: usize = 15;
const CLASSES: [&str; 4] = ["walking", "running", "standing up", "still"];
/// Samples per second.
const RATE: f32 = 50.0;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let mut rng = Rng::seed(7);
    let data = activities(&mut rng);
    let (train, test) = data.split(0.2, &mut rng)?;
    println!("activity: {} training and {} test windows", train.len(), test.len());

    let mut net = Activity::new(&mut rng);
    let mut optimizer = Adam::new().lr(3e-3).build()?;
    let mut batches = Batches::new(train.len(), Activity::BATCH)?;
    let mut inputs = vec![0.0; Activity::BATCH * Activity::INPUT];
    let mut labels = vec![0; Activity::BATCH];
    let mut progress = Progress::new(EPOCHS, batches.len());
    for _ in 0..EPOCHS {
        batches.shuffle(&mut rng);
        for batch in &batches {
            train.gather(batch, &mut inputs, &mut labels)?;
            let loss = net.train_step(&inputs, &labels, &mut optimizer, &mut rng)?;
            progress.step(loss);
        }
        progress.end_epoch(None);
    }
    progress.finish();

    println!("train accuracy: {:.4}", evaluate(&net, &train)?);
    println!("time: {:.1} s", start.elapsed().as_secs_f64());
    println!("test accuracy: {:.4}", evaluate(&net, &test)?);
    Ok(())
}

/// `WINDOWS_PER_CLASS` windows of each activity, channels first (x, y, z axes, 128 samples
/// each), with random amplitudes, frequencies, phases, step times and sensor noise.
fn activities(rng: &mut Rng) -> Dataset {
    let (axes, length) = (3, Activity::INPUT / 3);
    let mut features = Vec::with_capacity(CLASSES.len() * WINDOWS_PER_CLASS * Activity::INPUT);
    let mut labels = Vec::new();
    for (class, _) in CLASSES.iter().enumerate() {
        for _ in 0..WINDOWS_PER_CLASS {
            // Per window: a frequency (Hz) and an amplitude (g); a step time and height.
            let (hz, amplitude) = match class {
                0 => (rng.uniform(1.0, 2.0), rng.uniform(0.3, 0.6)),
                1 => (rng.uniform(2.5, 3.5), rng.uniform(0.8, 1.2)),
                _ => (0.0, 0.0),
            };
            let step_at = rng.uniform(0.25, 0.75) * length as f32;
            let step = rng.uniform(0.5, 1.0);
            for axis in 0..axes {
                let phase = rng.uniform(0.0, TAU);
                // Gravity on z.
                let gravity = if axis == 2 { 1.0 } else { 0.0 };
                for t in 0..length {
                    let time = t as f32 / RATE;
                    let signal = match class {
                        0 | 1 => amplitude * (TAU * hz * time + phase).sin(),
                        2 if axis == 0 && (t as f32) >= step_at => step,
                        _ => 0.0,
                    };
                    features.push(gravity + signal + rng.normal(0.0, 0.1));
                }
            }
            labels.push(class);
        }
    }
    Dataset {
        features,
        labels,
        n_features: Activity::INPUT,
        n_classes: CLASSES.len(),
        feature_shape: vec![axes, length],
        class_names: CLASSES.iter().map(|c| c.to_string()).collect(),
    }
}

/// The fraction of windows whose highest-scoring class is their label (eval mode).
fn evaluate(net: &Activity, data: &Dataset) -> Result<f64, Box<dyn std::error::Error>> {
    let mut scores = vec![0.0; data.len() * Activity::OUTPUT];
    net.predict_batch(&data.features, &mut scores)?;
    let predicted: Vec<usize> =
        scores.chunks_exact(Activity::OUTPUT).map(|s| argmax(s).unwrap_or(0)).collect();
    Ok(accuracy(&predicted, &data.labels)?)
}
