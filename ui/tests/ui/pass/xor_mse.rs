use netspec::prelude::*;
// An XOR MLP trained with mean squared error: the loss falls and the outputs separate.
netspec::network! {
    network Xor {
        input 2;
        batch 4;
        dense 8 init xavier_normal;
        tanh;
        dense 1;
        loss mse;
    }
}

fn main() {
    assert_eq!((Xor::INPUT, Xor::OUTPUT, Xor::BATCH), (2, 1, 4));
    assert_eq!(Xor::PARAM_COUNT, 2 * 8 + 8 + 8 + 1);
    let mut rng = netspec::Rng::seed(42);
    let mut net = Xor::new(&mut rng);
    let mut opt = netspec::Adam::new().lr(0.05).build().unwrap();
    let xs = [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
    let ys = [0.0, 1.0, 1.0, 0.0];
    let first = net.train_step(&xs, &ys, &mut opt, &mut rng).unwrap();
    for _ in 0..500 {
        net.train_step(&xs, &ys, &mut opt, &mut rng).unwrap();
    }
    let last = net.loss_and_grad(&xs, &ys).unwrap();
    assert!(last < first / 10.0, "loss {first} -> {last}");
    assert!(net.predict(&[0.0, 1.0])[0] > 0.5);
    assert!(net.predict(&[1.0, 1.0])[0] < 0.5);
}
