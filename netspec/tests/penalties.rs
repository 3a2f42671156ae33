//! `penalty l1`/`l2`: the same network with and without penalties differs in loss by exactly the
//! penalty and in gradient by exactly its (sub)gradient, on weights only; sign(0) = 0.

use netspec::prelude::*;
netspec::network! {
    network With {
        input 3; batch 2; dense 4; tanh; dense 2; loss mse;
        penalty l2 0.5;
        penalty l1 0.25 on dense1.weight;
    }
    network Without { input 3; batch 2; dense 4; tanh; dense 2; loss mse; }
}

#[test]
fn penalties_add_their_value_and_gradient() {
    assert_eq!(With::PARAMS, Without::PARAMS);
    let mut with = With::new(&mut netspec::Rng::seed(3));
    let mut without = Without::new(&mut netspec::Rng::seed(3));
    assert_eq!(with.params(), without.params());
    // Exact zeros, where the L1 subgradient must be 0.
    for net_params in [with.params_mut(), without.params_mut()] {
        net_params[0] = 0.0;
        net_params[5] = 0.0;
    }
    let inputs = [0.5, -1.0, 2.0, 1.5, 0.25, -0.75];
    let targets = [0.1, -0.2, 0.3, 0.4];
    let loss_with = with.loss_and_grad(&inputs, &targets).unwrap();
    let loss_without = without.loss_and_grad(&inputs, &targets).unwrap();

    let mut want_penalty = 0.0f64;
    for info in With::PARAMS {
        let is_weight = info.role == netspec::Role::Weight;
        for i in info.offset..info.offset + info.len {
            let w = with.params()[i];
            let mut want_grad = 0.0f32;
            if is_weight {
                // l2 on every weight: (a/2) w^2, gradient a w
                want_penalty += 0.25 * (w as f64).powi(2);
                want_grad += 0.5 * w;
            }
            if info.name == "dense1.weight" {
                // l1 on dense1.weight: a |w|, subgradient a sign(w), sign(0) = 0
                want_penalty += 0.25 * (w as f64).abs();
                want_grad += if w == 0.0 { 0.0 } else { 0.25 * w.signum() };
            }
            let got = with.grads()[i] - without.grads()[i];
            assert!(
                (got - want_grad).abs() <= 1e-6,
                "{}[{}]: {got} vs {want_grad}",
                info.name,
                i - info.offset
            );
        }
    }
    let got_penalty = (loss_with - loss_without) as f64;
    assert!(want_penalty > 0.1);
    assert!(
        (got_penalty - want_penalty).abs() <= 1e-5 * want_penalty,
        "{got_penalty} vs {want_penalty}"
    );
    // Biases carry no penalty: their gradients agree exactly.
    let bias = With::PARAMS.iter().find(|p| p.name == "dense1.bias").unwrap();
    let range = bias.offset..bias.offset + bias.len;
    assert_eq!(with.grads()[range.clone()], without.grads()[range]);
}
