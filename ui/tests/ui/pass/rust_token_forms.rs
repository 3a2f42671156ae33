use netspec::prelude::*;
// The spec forms that reach the macro as several Rust tokens: `uniform(-0.1, 0.1)` (a minus is
// its own token), `1e-5`, `dense1.weight`, `leaky_relu 0.2`, `bias none`, `normal(0, 0.01)`.
netspec::network! {
    network Tokens {
        input 3;
        batch 2;
        dense 5 init uniform(-0.1, 0.1) bias normal(0, 0.01);
        leaky_relu 0.2;
        dense 2 init orthogonal bias none;
        loss mse;
        penalty l1 1e-5 on dense1.weight;
        penalty l2 5e-4 on dense2;
    }
}

fn main() {
    let mut rng = netspec::Rng::seed(3);
    let mut net = Tokens::new(&mut rng);
    let names: Vec<&str> = Tokens::PARAMS.iter().map(|p| p.name).collect();
    assert_eq!(names, ["dense1.weight", "dense1.bias", "dense2.weight"], "`bias none`");
    let w1 = &Tokens::PARAMS[0];
    assert_eq!(w1.shape, [5, 3]);
    assert_eq!(w1.init, netspec::Init::Uniform { lo: -0.1, hi: 0.1 });
    assert!(net.params()[..15].iter().all(|w| (-0.1..0.1).contains(w)));

    // With all-zero inputs and targets the data loss is the output^2, i.e. 0 when biases are 0:
    // what is left is the penalties, computed from the weights alone.
    net.params_mut()[15..20].fill(0.0);
    let loss = net.loss_and_grad(&[0.0; 6], &[0.0; 4]).unwrap();
    let p = net.params();
    let l1: f32 = 1e-5 * p[..15].iter().map(|w| w.abs()).sum::<f32>();
    let l2: f32 = 0.5 * 5e-4 * p[20..].iter().map(|w| w * w).sum::<f32>();
    assert!((loss - (l1 + l2)).abs() < 1e-7, "{loss} vs {}", l1 + l2);

    // leaky_relu 0.2: a negative pre-activation passes with slope 0.2.
    let params = net.params_mut();
    params.fill(0.0);
    params[0] = 1.0; // dense1.weight[0][0]
    params[20] = 1.0; // dense2.weight[0][0]
    assert_eq!(net.predict(&[-2.0, 0.0, 0.0]), [-0.4, 0.0]);
    assert_eq!(net.predict(&[2.0, 0.0, 0.0]), [2.0, 0.0]);
}
