//! One generic training function serves every generated network: the `Network` trait's
//! provided methods are the whole API, so `fn train<N: Classifier>` needs nothing else.

use netspec::prelude::*;
use netspec::{Adam, Batches, Dataset, Rng, accuracy, argmax};

netspec::network! {
    network Shallow {
        input 4; batch 8;
        dense 16 init kaiming_uniform; relu; dense 3;
        loss softmax_cross_entropy;
    }
    network Deeper {
        input 4; batch 10;
        preprocess standardize per_feature;
        dense 12; tanh; dense 12; relu; dropout 0.1; dense 3 bias zeros;
        loss softmax_cross_entropy;
        penalty l2 1e-4;
    }
}

/// Trains any classifier on `train` for `epochs` with Adam and returns its accuracy on `test`.
fn train<N: Classifier>(
    net: &mut N,
    train: &Dataset,
    test: &Dataset,
    epochs: usize,
    rng: &mut Rng,
) -> Result<f64, Box<dyn std::error::Error>> {
    if net.preprocessor().is_some() {
        net.fit_preprocess(&train.features)?;
    }
    let mut optimizer = Adam::new().lr(1e-2).build()?;
    let mut batches = Batches::new(train.len(), N::BATCH)?;
    let (mut inputs, mut labels) = (vec![0.0; N::BATCH * N::INPUT], vec![0; N::BATCH]);
    for _ in 0..epochs {
        batches.shuffle(rng);
        for batch in &batches {
            train.gather(batch, &mut inputs, &mut labels)?;
            net.train_step(&inputs, &labels, &mut optimizer, rng)?;
        }
    }
    let mut scores = vec![0.0; test.len() * N::OUTPUT];
    net.predict_batch(&test.features, &mut scores)?;
    let predicted: Vec<usize> =
        scores.chunks_exact(N::OUTPUT).map(|s| argmax(s).unwrap_or(0)).collect();
    Ok(accuracy(&predicted, &test.labels)?)
}

#[test]
fn one_generic_function_trains_two_different_networks() {
    let mut rng = Rng::seed(3);
    let (train_set, test_set) = Dataset::iris().split(0.2, &mut rng).unwrap();
    let mut shallow = Shallow::new(&mut rng);
    let mut deeper = Deeper::new(&mut rng);
    let a = train(&mut shallow, &train_set, &test_set, 60, &mut rng).unwrap();
    let b = train(&mut deeper, &train_set, &test_set, 60, &mut rng).unwrap();
    // Raw iris features (the shallow net) and standardized ones both learn the three classes.
    assert!(a >= 0.85, "shallow accuracy {a}");
    assert!(b >= 0.9, "deeper accuracy {b}");
    assert_ne!(Shallow::PARAM_COUNT, Deeper::PARAM_COUNT);
}
