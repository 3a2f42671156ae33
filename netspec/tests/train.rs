//! Training runs: the loss falls and the network learns; checkpoints round-trip.

use netspec::prelude::*;
use netspec::{Adam, BatchError, Batches, Dataset, Rng, Sgd};

netspec::network! {
    network Iris {
        input 4; batch 16;
        dense 16 init kaiming_uniform; relu;
        dense 3 init xavier_uniform bias zeros;
        loss softmax_cross_entropy;
        penalty l2 1e-4;
    }
    network Xor { input 2; batch 4; dense 8 init xavier_normal; tanh; dense 1; loss binary_cross_entropy; }
}

#[test]
fn iris_loss_falls_and_accuracy_rises() {
    let mut rng = Rng::seed(7);
    let mut data = Dataset::iris();
    data.scale(0.25); // features in cm, up to ~8: bring them near unit scale
    let mut net = Iris::new(&mut rng);
    let mut opt = Adam::new().lr(0.02).build().unwrap();
    let mut batches = Batches::new(data.len(), Iris::BATCH).unwrap();
    let (mut x, mut y) = (vec![0.0; Iris::BATCH * Iris::INPUT], vec![0; Iris::BATCH]);
    let mut epoch_losses = Vec::new();
    for _epoch in 0..60 {
        batches.shuffle(&mut rng);
        let mut total = 0.0;
        for batch in &batches {
            data.gather(batch, &mut x, &mut y).unwrap();
            total += net.train_step(&x, &y, &mut opt, &mut rng).unwrap();
        }
        epoch_losses.push(total / batches.len() as f32);
    }
    let (first, last) = (epoch_losses[0], *epoch_losses.last().unwrap());
    assert!(last < first / 4.0, "loss went from {first} to {last}");
    let mut outputs = vec![0.0; data.len() * Iris::OUTPUT];
    net.predict_batch(&data.features, &mut outputs).unwrap();
    let predictions: Vec<usize> =
        outputs.chunks(Iris::OUTPUT).map(|o| netspec::argmax(o).unwrap()).collect();
    let accuracy = netspec::accuracy(&predictions, &data.labels).unwrap();
    assert!(accuracy > 0.9, "train accuracy {accuracy}");
}

#[test]
fn xor_is_learned() {
    let mut rng = Rng::seed(1);
    let mut net = Xor::new(&mut rng);
    let mut opt = Sgd::new(0.5).momentum(0.9).build().unwrap();
    let xs = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
    let ys = [0.0, 1.0, 1.0, 0.0];
    let first = net.loss_and_grad(&xs, &ys).unwrap();
    for _ in 0..500 {
        net.train_step(&xs, &ys, &mut opt, &mut rng).unwrap();
    }
    let last = net.loss_and_grad(&xs, &ys).unwrap();
    assert!(last < 0.05 && last < first / 10.0, "loss {first} -> {last}");
    for (x, &y) in xs.chunks(2).zip(&ys) {
        let logit = net.predict(x.try_into().unwrap())[0];
        assert_eq!(logit > 0.0, y > 0.5, "xor{x:?} gave logit {logit}");
    }
}

#[test]
fn wrong_lengths_and_labels_are_errors() {
    let mut rng = Rng::seed(1);
    let mut net = Iris::new(&mut rng);
    let grads_before = net.grads().to_vec();
    let err = net.loss_and_grad(&[0.0; 10], &[0; 16]).unwrap_err();
    assert!(matches!(err, BatchError::Rows { found: 10, input_width: 4, batch: 16, min: 1, .. }));
    assert_eq!(
        err.to_string(),
        "Iris::loss_and_grad: `inputs` has 10 values but must hold 1 to 16 (BATCH) whole samples \
         of 4 (INPUT) values"
    );
    let err = net.loss_and_grad(&[0.0; 64], &[0; 15]).unwrap_err();
    assert!(matches!(
        err,
        BatchError::Length { argument: "targets", batch: 16, per_sample: None, .. }
    ));
    assert_eq!(
        err.to_string(),
        "Iris::loss_and_grad: `targets` has 15 values but must have 16: one per sample of `inputs`"
    );
    let mut labels = [0usize; 16];
    labels[5] = 3;
    let err = net.loss_and_grad(&[0.0; 64], &labels).unwrap_err();
    assert_eq!(
        err,
        BatchError::Label {
            network: "Iris",
            method: "loss_and_grad",
            sample: 5,
            label: 3,
            classes: 3
        }
    );
    assert_eq!(net.grads(), grads_before);
    let mut out = [0.0; 6];
    // 9 values are not a whole number of 4-value samples.
    assert!(matches!(net.predict_batch(&[0.0; 9], &mut out), Err(BatchError::Samples { .. })));
    // 3 samples in, room for 2 out.
    assert!(net.predict_batch(&[0.0; 12], &mut out).is_err());
    net.predict_batch(&[0.0; 8], &mut out).unwrap();
    net.predict_batch(&[], &mut []).unwrap();
}

#[test]
fn init_is_deterministic_and_follows_the_layout() {
    let a = Iris::new(&mut Rng::seed(5));
    let b = Iris::new(&mut Rng::seed(5));
    assert_eq!(a.params(), b.params());
    assert_ne!(a.params(), Iris::new(&mut Rng::seed(6)).params());
    let names: Vec<&str> = Iris::PARAMS.iter().map(|p| p.name).collect();
    assert_eq!(names, ["dense1.weight", "dense1.bias", "dense2.weight", "dense2.bias"]);
    assert_eq!(Iris::PARAMS[0].shape, [16, 4]);
    assert_eq!(Iris::PARAM_COUNT, 4 * 16 + 16 + 16 * 3 + 3);
    assert_eq!((Iris::INPUT, Iris::OUTPUT, Iris::BATCH), (4, 3, 16));
    // bias zeros
    assert!(a.params()[Iris::PARAMS[3].offset..].iter().all(|&v| v == 0.0));
    // kaiming_uniform: bound sqrt(6 / fan_in) = sqrt(6 / 4)
    let bound = (6.0f32 / 4.0).sqrt();
    assert!(a.params()[..64].iter().all(|v| v.abs() <= bound));
}

#[test]
fn checkpoints_round_trip() {
    let dir = std::env::temp_dir().join(format!("netspec-codegen-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("iris.safetensors");
    let saved = Iris::new(&mut Rng::seed(11));
    saved.save(&path).unwrap();
    let mut loaded = Iris::new(&mut Rng::seed(12));
    assert_ne!(saved.params(), loaded.params());
    loaded.load(&path).unwrap();
    assert_eq!(saved.params(), loaded.params());
    // Another network's checkpoint is refused and leaves the parameters alone.
    let mut xor = Xor::new(&mut Rng::seed(1));
    let before = xor.params().to_vec();
    let err = xor.load(&path).unwrap_err();
    assert!(err.to_string().contains("dense1.weight"), "{err}");
    assert_eq!(xor.params(), before);
    std::fs::remove_dir_all(&dir).unwrap();
}

netspec::network! {
    network Normed { input 2; batch 4; dense 3; batchnorm; relu; dense 1; loss mse; }
}

/// The parameters, buffers and counters, to compare before and after a step.
fn snapshot<N: Network>(net: &N) -> (Vec<f32>, Vec<f32>, Vec<i64>) {
    (net.params().to_vec(), net.buffers().to_vec(), net.counters().to_vec())
}

#[test]
fn a_diverging_step_is_an_error_and_changes_nothing() {
    let mut rng = Rng::seed(5);
    let mut net = Normed::new(&mut rng);
    let mut sgd = Sgd::new(0.1).build().unwrap();
    let (x, y) = ([0.5, -1.0, 2.0, 0.25, -0.5, 1.5, 1.0, -2.0], [1.0, 0.0, -1.0, 0.5]);
    net.train_step(&x, &y, &mut sgd, &mut rng).unwrap();
    let before = snapshot(&net);

    // A NaN input makes the loss NaN: no update, the running statistics restored.
    let mut bad = x;
    bad[3] = f32::NAN;
    let err = net.train_step(&bad, &y, &mut sgd, &mut rng).unwrap_err();
    assert!(
        matches!(err, BatchError::NonFinite { step: 2, what: netspec::Divergence::Loss(l), .. } if l.is_nan()),
        "{err}"
    );
    assert!(err.to_string().starts_with("Normed::train_step: step 2 diverged: the loss is NaN"));
    assert_eq!(snapshot(&net), before);

    // An input of 1e30 keeps the normalized loss finite but makes running_var infinite.
    let mut huge = x;
    huge[0] = 1e30;
    let err = net.train_step(&huge, &y, &mut sgd, &mut rng).unwrap_err();
    let BatchError::NonFinite { what, .. } = err else { panic!("{err}") };
    assert!(
        matches!(
            what,
            netspec::Divergence::Gradient { .. }
                | netspec::Divergence::RunningStatistic { name: "batchnorm1.running_var", .. }
        ),
        "{what}"
    );
    assert_eq!(snapshot(&net), before);

    // The check can be turned off: the step then goes through as PyTorch's would.
    net.set_check_finite(false);
    let loss = net.train_step(&bad, &y, &mut sgd, &mut rng).unwrap();
    assert!(loss.is_nan());
    assert!(net.params().iter().any(|p| p.is_nan()));
}

#[test]
fn learning_rates_are_validated_everywhere() {
    assert!(Sgd::new(1e300).build().is_err(), "1e300 is infinite as an f32");
    let mut sgd = Sgd::new(0.1).build().unwrap();
    for bad in [f64::NAN, -1.0, f64::INFINITY, 1e39] {
        assert!(sgd.set_lr(bad).is_err(), "set_lr({bad})");
    }
    assert_eq!(sgd.lr(), 0.1, "a refused rate leaves the rate as it was");
    let mut adam = Adam::new().build().unwrap();
    assert!(adam.set_lr(f64::NAN).is_err());
    adam.set_lr(0.5).unwrap();
    assert_eq!(adam.lr(), 0.5);
}
