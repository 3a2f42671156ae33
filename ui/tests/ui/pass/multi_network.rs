use netspec::prelude::*;
// Several networks in one invocation, with different losses; each is its own type.
netspec::network! {
    network Classifier {
        input 4;
        batch 2;
        dense 3 init kaiming_uniform;
        relu;
        dense 3;
        loss softmax_cross_entropy;
    }

    network Regressor {
        input 3;
        batch 2;
        dense 2 init lecun_normal;
        identity;
        dense 1 init constant 0.25 bias none;
        loss mse;
    }
}

fn main() {
    assert_eq!((Classifier::INPUT, Classifier::OUTPUT), (4, 3));
    assert_eq!((Regressor::INPUT, Regressor::OUTPUT), (3, 1));
    let names: Vec<&str> = Regressor::PARAMS.iter().map(|p| p.name).collect();
    assert_eq!(names, ["dense1.weight", "dense1.bias", "dense2.weight"]);
    let mut rng = netspec::Rng::seed(1);
    let mut c = Classifier::new(&mut rng);
    let mut r = Regressor::new(&mut rng);
    // Class labels are `usize`; an out-of-range one is rejected.
    let xs = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0];
    assert!(c.loss_and_grad(&xs, &[0, 2]).is_ok());
    let err = c.loss_and_grad(&xs, &[0, 3]).unwrap_err();
    assert!(matches!(err, netspec::BatchError::Label { label: 3, classes: 3, .. }), "{err:?}");
    // Outputs of one net feed the other through `predict_batch`.
    let mut logits = [0.0f32; 6];
    c.predict_batch(&xs, &mut logits).unwrap();
    let mut opt = netspec::Adam::new().lr(0.01).build().unwrap();
    let before = r.loss_and_grad(&logits, &[1.0, -1.0]).unwrap();
    for _ in 0..200 {
        r.train_step(&logits, &[1.0, -1.0], &mut opt, &mut rng).unwrap();
    }
    assert!(r.loss_and_grad(&logits, &[1.0, -1.0]).unwrap() < before);
}
