//! Layers large enough for the packed matrix product and for threads: training gives the same
//! bits on 1, 2 and 3 threads, its loss matches the f64 oracle and `predict_batch` matches the
//! training forward pass (this network has no layer that differs between the modes).

#[macro_use]
mod common;

use common::{Mode, Targets, uniform};
use netspec::Rng;
use netspec::prelude::*;

// Both hidden layers are packed (32,768 and 16,384 weights) and past the parallel threshold.
spec!(big, network Big {
    input 256; batch 64; dense 128; relu; dense 128; tanh; dense 10; loss softmax_cross_entropy;
});
use big::{Big, SPEC};

/// Three SGD steps from seed 3 on `threads` threads: the parameters and the last loss.
fn train(threads: usize) -> (Vec<f32>, f32) {
    netspec::with_threads(threads, || {
        let mut rng = Rng::seed(3);
        let mut net = Big::new(&mut rng);
        let x = uniform(&mut rng, 64 * 256, 1.0);
        let labels: Vec<usize> = (0..64).map(|i| i % 10).collect();
        let mut opt = netspec::Sgd::new(0.05).momentum(0.9).build().unwrap();
        let mut loss = 0.0;
        for _ in 0..3 {
            loss = net.train_step(&x, &labels, &mut opt, &mut rng).unwrap();
        }
        (net.params().to_vec(), loss)
    })
}

#[test]
fn training_is_bit_identical_for_any_thread_count() {
    let one = train(1);
    for threads in [2, 3] {
        let other = train(threads);
        assert!(one.0 == other.0, "parameters after 3 steps differ on {threads} threads");
        assert_eq!(one.1.to_bits(), other.1.to_bits(), "loss on {threads} threads");
    }
}

#[test]
fn the_loss_matches_the_oracle_and_predict_matches_the_forward_pass() {
    let mut rng = Rng::seed(4);
    let mut net = Big::new(&mut rng);
    let x = uniform(&mut rng, 64 * 256, 1.0);
    let labels: Vec<usize> = (0..64).map(|i| (i * 7) % 10).collect();
    let loss = net.loss_and_grad(&x, &labels).unwrap();
    let ir = common::network(SPEC);
    let wide: Vec<f64> = net.params().iter().map(|&p| p as f64).collect();
    let want = common::loss_in(&ir, &wide, &x, &Targets::Labels(&labels), &Mode::training());
    assert!((loss as f64 - want).abs() <= 1e-5 * want.abs().max(1.0), "loss {loss}, oracle {want}");
    let (mut batch, mut forward) = (vec![0.0; 64 * 10], vec![0.0; 64 * 10]);
    net.predict_batch(&x, &mut batch).unwrap();
    net.forward(&x, &mut forward, &mut rng).unwrap();
    for (b, f) in batch.iter().zip(&forward) {
        assert!((b - f).abs() <= 1e-5 * f.abs().max(1.0), "predict_batch {b}, forward {f}");
    }
}
