use netspec::prelude::*;
// A logistic-regression-like net trained with binary cross-entropy on logits: it learns
// "x0 > x1", and a `sigmoid` hidden layer backpropagates.
netspec::network! {
    network Greater {
        input 2;
        batch 8;
        dense 4 init xavier_uniform;
        sigmoid;
        dense 1 init zeros bias zeros;
        loss binary_cross_entropy;
    }
}

fn main() {
    let mut rng = netspec::Rng::seed(7);
    let mut net = Greater::new(&mut rng);
    // `init zeros` for the last layer: the logit is exactly 0 before training.
    assert_eq!(net.predict(&[0.3, -0.2]), [0.0]);
    let xs = [1.0, 0.0, 0.0, 1.0, 0.5, -0.5, -0.5, 0.5, 0.9, 0.1, 0.1, 0.9, 0.2, -0.8, -0.8, 0.2];
    let ys = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
    // BCE of logit 0 is ln 2 for every target.
    let first = net.loss_and_grad(&xs, &ys).unwrap();
    assert!((first - std::f32::consts::LN_2).abs() < 1e-5, "{first}");
    let mut opt = netspec::Sgd::new(0.5).momentum(0.9).build().unwrap();
    for _ in 0..300 {
        net.train_step(&xs, &ys, &mut opt, &mut rng).unwrap();
    }
    assert!(net.loss_and_grad(&xs, &ys).unwrap() < 0.1);
    // Logits: positive means "x0 > x1".
    assert!(net.predict(&[0.8, -0.3])[0] > 0.0);
    assert!(net.predict(&[-0.3, 0.8])[0] < 0.0);
    // A wrong batch length is an error, not a panic.
    let err = net.loss_and_grad(&xs[..4], &ys).unwrap_err();
    assert!(err.to_string().contains("per sample, for the 2 samples of `inputs`"), "{err}");
}
