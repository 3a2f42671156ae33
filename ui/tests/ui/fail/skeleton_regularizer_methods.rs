// A spec with a typo, and a program that uses the mode, sampled predictions and the loss split:
// the skeleton carries those names too, so the spec error is the only one.
netspec::network! {
    network Net {
        input 4;
        dense 8;
        relu;
        dropout 0.5 rescale tset;
        dense 2;
        loss softmax_cross_entropy;
    }
}

fn main() {
    let mut rng = netspec::Rng::seed(1);
    let mut net = Net::new(&mut rng);
    net.set_training(false);
    assert!(!net.is_training());
    let mean: [f32; 2] = net.predict_mc(&[0.0; 4], 10, &mut rng);
    let one: [f32; 2] = net.predict_sample(&[0.0; 4], &mut rng);
    let split = net.last_loss();
    println!("{mean:?} {one:?} {} {}", split.total, net.buffers().len());
}
