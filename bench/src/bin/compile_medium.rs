//! Compile-cost probe: the generated code of the medium reference model, kept alive by a tiny main
//! (see `bench/compile_cost`).

use netspec::prelude::*;
netspec::network! {
    network Medium {
        input 784;
        batch 64;
        dense 256;
        relu;
        dense 128;
        relu;
        dense 10;
        loss softmax_cross_entropy;
    }
}

fn main() {
    let mut rng = netspec::Rng::seed(1);
    let mut net = Medium::new(&mut rng);
    let x: Vec<f32> = (0..64 * Medium::INPUT).map(|i| (i % 7) as f32 / 7.0).collect();
    let t: Vec<usize> = (0..64).map(|i| i % Medium::OUTPUT).collect();
    let mut opt = netspec::Sgd::new(0.01).momentum(0.9).build().unwrap();
    let loss = net.train_step(&x, &t, &mut opt, &mut rng).unwrap();
    let y = net.predict(x[..Medium::INPUT].try_into().unwrap());
    println!("{loss} {}", y[0]);
}
