//! Trains a network on data held in ndarray arrays: Fisher's iris as an `Array2<f32>` of
//! features and an `Array1<usize>` of labels, standardized with ndarray's own column
//! statistics, fed to the network through `NdarrayExt` (one mini-batch per `ArrayView2`).
//!
//! `cargo run --release --example ndarray_iris`

use ndarray::{Array1, Array2, Axis};
use netspec::prelude::*;
use netspec::{Adam, Batches, Dataset, NdarrayExt, Rng, accuracy, argmax};

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
    let (train_accuracy, test_accuracy) = train(EPOCHS)?;
    println!("train accuracy: {train_accuracy:.4}");
    println!("test accuracy: {test_accuracy:.4}");
    Ok(())
}

/// Trains for `epochs` epochs; the train and test accuracies.
fn train(epochs: usize) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let mut rng = Rng::seed(7);
    let (train, test) = Dataset::iris().split(0.2, &mut rng)?;
    let (mut x_train, y_train): (Array2<f32>, Array1<usize>) = train.into_arrays();
    let (mut x_test, y_test) = test.into_arrays();
    // Standardize each feature with the training split's mean and (biased) deviation.
    let mean = x_train.mean_axis(Axis(0)).ok_or("no training rows")?;
    let std = x_train.std_axis(Axis(0), 0.0).mapv(|s| s.max(1e-6));
    for x in [&mut x_train, &mut x_test] {
        *x -= &mean;
        *x /= &std;
    }
    println!("iris: {} training and {} test samples", x_train.nrows(), x_test.nrows());

    let mut net = IrisMlp::new(&mut rng);
    let mut optimizer = Adam::new().lr(1e-2).build()?;
    let mut batches = Batches::new(x_train.nrows(), IrisMlp::BATCH)?;
    let mut x_batch = Array2::zeros((IrisMlp::BATCH, IrisMlp::INPUT));
    let mut y_batch = Array1::zeros(IrisMlp::BATCH);
    for epoch in 0..epochs {
        batches.shuffle(&mut rng);
        let mut loss = 0.0;
        for batch in &batches {
            for (k, &i) in batch.iter().enumerate() {
                x_batch.row_mut(k).assign(&x_train.row(i));
                y_batch[k] = y_train[i];
            }
            loss =
                net.train_step_array(x_batch.view(), y_batch.view(), &mut optimizer, &mut rng)?;
        }
        if (epoch + 1) % 50 == 0 {
            println!("epoch {:>3}: last batch loss {loss:.4}", epoch + 1);
        }
    }

    let evaluate =
        |x: &Array2<f32>, y: &Array1<usize>| -> Result<f64, Box<dyn std::error::Error>> {
            let scores = net.predict_array(x.view())?;
            let predicted: Vec<usize> = scores
                .rows()
                .into_iter()
                .map(|row| argmax(row.as_slice().unwrap_or(&[])).unwrap_or(0))
                .collect();
            Ok(accuracy(&predicted, y.as_slice().ok_or("labels not contiguous")?)?)
        };
    Ok((evaluate(&x_train, &y_train)?, evaluate(&x_test, &y_test)?))
}

#[cfg(test)]
mod tests {
    /// `cargo test -p netspec-examples --example ndarray_iris` (run by `cargo test --workspace`).
    #[test]
    fn trains_to_the_accuracy_the_slice_api_reaches() {
        let (train, test) = super::train(super::EPOCHS).unwrap();
        assert!(train > 0.95 && test > 0.95, "train {train}, test {test}");
    }
}
