//! Compile-cost probe: the generated code of the tiny reference model, kept alive by a tiny main
//! (see `bench/compile_cost`).

use netspec::prelude::*;
netspec::network! {
    network Tiny {
        input 4;
        batch 64;
        dense 16;
        relu;
        dense 16;
        relu;
        dense 3;
        loss softmax_cross_entropy;
    }
}

fn main() {
    let mut rng = netspec::Rng::seed(1);
    let mut net = Tiny::new(&mut rng);
    let x: Vec<f32> = (0..64 * Tiny::INPUT).map(|i| (i % 7) as f32 / 7.0).collect();
    let t: Vec<usize> = (0..64).map(|i| i % Tiny::OUTPUT).collect();
    let mut opt = netspec::Sgd::new(0.01).momentum(0.9).build().unwrap();
    let loss = net.train_step(&x, &t, &mut opt, &mut rng).unwrap();
    let y = net.predict(x[..Tiny::INPUT].try_into().unwrap());
    println!("{loss} {}", y[0]);
}
