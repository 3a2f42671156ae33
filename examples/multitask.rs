//! Multi-task learning on the digits: a shared trunk, a `digit` head (10-way softmax
//! cross-entropy) and a `parity` head (is the digit odd? binary cross-entropy, weight 0.5).
//! Each head has its own targets; the trunk learns from the sum of both heads' gradients.
//!
//! `cargo run --release --example multitask`

use netspec::prelude::*;
use netspec::{Adam, Batches, Dataset, Rng, accuracy, argmax};

netspec::network! {
    network DigitParity {
        input 64;
        batch 32;
        dense 64 init kaiming_uniform;
        batchnorm;
        relu;
        dropout 0.2;
        head digit { dense 10; loss softmax_cross_entropy weight 1.0; }
        head parity { dense 16; relu; dense 1; loss binary_cross_entropy weight 0.5; }
        penalty l2 1e-4;
    }
}

const EPOCHS: usize = 40;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = Rng::seed(42);
    let mut digits = Dataset::digits();
    digits.scale(1.0 / 16.0);
    let (train, test) = digits.split(0.2, &mut rng)?;
    println!("digits: {} training and {} test samples", train.len(), test.len());

    let mut net = DigitParity::new(&mut rng);
    let mut opt = Adam::new().lr(1e-3).build()?;
    let mut batches = Batches::new(train.len(), DigitParity::BATCH)?;
    let mut x = vec![0.0; DigitParity::BATCH * DigitParity::INPUT];
    let mut digit = vec![0; DigitParity::BATCH];
    let mut parity = vec![0.0f32; DigitParity::BATCH];
    for epoch in 0..EPOCHS {
        batches.shuffle(&mut rng);
        let (mut data, mut penalty) = (0.0, 0.0);
        for batch in &batches {
            train.gather(batch, &mut x, &mut digit)?;
            for (p, &d) in parity.iter_mut().zip(&digit) {
                *p = (d % 2) as f32;
            }
            let targets = DigitParityTargets { digit: &digit, parity: &parity };
            net.train_step(&x, targets, &mut opt, &mut rng)?;
            data += net.last_loss().data / batches.len() as f32;
            penalty += net.last_loss().penalty / batches.len() as f32;
        }
        if epoch % 10 == 9 {
            println!("epoch {:>2}: data loss {data:.4}, penalty {penalty:.4}", epoch + 1);
        }
    }

    for (name, data) in [("train", &train), ("test", &test)] {
        let mut outputs = vec![DigitParityOutput::default(); data.len()];
        net.predict_batch(&data.features, &mut outputs)?;
        let digits: Vec<usize> = outputs.iter().map(|o| argmax(&o.digit).unwrap_or(0)).collect();
        let odd: Vec<usize> = outputs.iter().map(|o| usize::from(o.parity[0] > 0.0)).collect();
        let truth: Vec<usize> = data.labels.iter().map(|d| d % 2).collect();
        println!(
            "{name}: digit accuracy {:.4}, parity accuracy {:.4}",
            accuracy(&digits, &data.labels)?,
            accuracy(&odd, &truth)?
        );
    }
    Ok(())
}
