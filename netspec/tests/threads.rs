//! Layers large enough for the packed matrix product and for threads: training gives the same
//! bits on 1, 2 and 3 threads (dense layers through the packed product, convolutions over
//! shards of samples, full and partial batches), its loss matches the f64 oracle and
//! `predict_batch` matches the training forward pass (this network has no layer that differs
//! between the modes).

#[macro_use]
mod common;

use common::{Mode, Targets, uniform};
use netspec::{Network, Rng};

// Both hidden layers are packed (32,768 and 16,384 weights) and past the parallel threshold.
spec!(big, network Big {
    input 256; batch 64; dense 128; relu; dense 128; tanh; dense 10; loss softmax_cross_entropy;
});
use big::Big;

// Big with an L2 penalty, which adds to the packed layers' gradients after the backward pass.
spec!(penalized, network Penalized {
    input 256; batch 64; dense 128; relu; dense 128; tanh; dense 10; loss softmax_cross_entropy;
    penalty l2 0.01;
});
use penalized::Penalized;

// Both convs are past the parallel threshold on 64 samples (3.5 and 18.9 million
// multiply-adds), in 4 shards of 16; the second has enough filters for the packed products.
spec!(convs, network Convs {
    input image(3, 16, 16); batch 64;
    conv 8 kernel 3 pad 1; batchnorm; relu;
    conv 16 kernel 3 pad 1; relu; maxpool 2;
    flatten; dense 10; loss softmax_cross_entropy;
});
use convs::Convs;

/// Three SGD steps of a new `N` from seed 3 on `rows` samples on `threads` threads: the
/// parameters and the last loss.
fn train<N: Network>(rows: usize, threads: usize) -> (Vec<f32>, f32)
where
    for<'a> N::Targets<'a>: From<&'a [usize]>,
{
    netspec::with_threads(threads, || {
        let mut rng = Rng::seed(3);
        let mut net = N::new(&mut rng);
        let x = uniform(&mut rng, rows * N::INPUT, 1.0);
        let labels: Vec<usize> = (0..rows).map(|i| i % 10).collect();
        let mut opt = netspec::Sgd::new(0.05).momentum(0.9).build().unwrap();
        let mut loss = 0.0;
        for _ in 0..3 {
            loss = net.train_step(&x, labels.as_slice().into(), &mut opt, &mut rng).unwrap();
        }
        (net.params().to_vec(), loss)
    })
}

fn assert_same_for_any_thread_count<N: Network>(rows: usize)
where
    for<'a> N::Targets<'a>: From<&'a [usize]>,
{
    let one = train::<N>(rows, 1);
    for threads in [2, 3] {
        let other = train::<N>(rows, threads);
        assert!(
            one.0 == other.0,
            "{rows} rows: parameters after 3 steps differ on {threads} threads"
        );
        assert_eq!(one.1.to_bits(), other.1.to_bits(), "{rows} rows: loss on {threads} threads");
    }
}

#[test]
fn training_is_bit_identical_for_any_thread_count() {
    assert_same_for_any_thread_count::<Big>(64);
}

#[test]
fn conv_training_is_bit_identical_for_any_thread_count_on_full_and_partial_batches() {
    // 40 rows: shards of 16, 16 and 8.
    for rows in [64, 40] {
        assert_same_for_any_thread_count::<Convs>(rows);
    }
}

/// `predict_batch` of 100 samples (past the threshold for threads) on `threads` threads.
fn predict<N: Network>(threads: usize) -> Vec<u32>
where
    N::Output: netspec::Sample<Flat = f32>,
{
    let mut rng = Rng::seed(5);
    let net = N::new(&mut rng);
    let x = uniform(&mut rng, 100 * N::INPUT, 1.0);
    let mut y = vec![0.0f32; 100 * N::OUTPUT];
    netspec::with_threads(threads, || net.predict_batch(&x, &mut y)).unwrap();
    y.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn predict_batch_is_bit_identical_for_any_thread_count() {
    for threads in [2, 3] {
        assert!(predict::<Big>(1) == predict::<Big>(threads), "dense, {threads} threads");
        assert!(predict::<Convs>(1) == predict::<Convs>(threads), "conv, {threads} threads");
    }
}

/// The training loss of a new `N` from seed 4 on 64 samples against the f64 oracle of `spec`.
fn assert_loss_matches_oracle<N: Network>(spec: &str)
where
    for<'a> N::Targets<'a>: From<&'a [usize]>,
{
    let mut rng = Rng::seed(4);
    let mut net = N::new(&mut rng);
    let x = uniform(&mut rng, 64 * N::INPUT, 1.0);
    let labels: Vec<usize> = (0..64).map(|i| (i * 7) % 10).collect();
    let loss = net.loss_and_grad(&x, labels.as_slice().into()).unwrap();
    let wide: Vec<f64> = net.params().iter().map(|&p| p as f64).collect();
    let targets = Targets::Labels(&labels);
    let want = common::loss_in(&common::network(spec), &wide, &x, &targets, &Mode::training());
    assert!((loss as f64 - want).abs() <= 1e-5 * want.abs().max(1.0), "loss {loss}, oracle {want}");
}

#[test]
fn the_losses_match_the_oracle_and_predict_matches_the_forward_pass() {
    assert_loss_matches_oracle::<Big>(big::SPEC);
    assert_loss_matches_oracle::<Penalized>(penalized::SPEC);
    assert_loss_matches_oracle::<Convs>(convs::SPEC);
    let mut rng = Rng::seed(4);
    let mut net = Big::new(&mut rng);
    let x = uniform(&mut rng, 64 * 256, 1.0);
    let (mut batch, mut forward) = (vec![0.0; 64 * 10], vec![0.0; 64 * 10]);
    net.predict_batch(&x, &mut batch).unwrap();
    net.forward(&x, &mut forward, &mut rng).unwrap();
    for (b, f) in batch.iter().zip(&forward) {
        assert!((b - f).abs() <= 1e-5 * f.abs().max(1.0), "predict_batch {b}, forward {f}");
    }
}

/// The packed layers overwrite their weight and bias gradients, and an activation or batch
/// norm that is its input's only reader that input's gradient, instead of having them zeroed
/// first: a second `loss_and_grad` gives the gradients of a network that ran only that call,
/// bit for bit (nothing is left over from the first call, penalty terms included).
fn assert_no_gradient_left_over<N: Network>()
where
    for<'a> N::Targets<'a>: From<&'a [usize]>,
{
    let mut rng = Rng::seed(6);
    let (first, second) =
        (uniform(&mut rng, 64 * N::INPUT, 1.0), uniform(&mut rng, 64 * N::INPUT, 1.0));
    let labels: Vec<usize> = (0..64).map(|i| (i * 3) % 10).collect();
    let fresh = || N::new(&mut Rng::seed(7));
    let (mut twice, mut once) = (fresh(), fresh());
    twice.loss_and_grad(&first, labels.as_slice().into()).unwrap();
    twice.loss_and_grad(&second, labels.as_slice().into()).unwrap();
    once.loss_and_grad(&second, labels.as_slice().into()).unwrap();
    assert!(twice.grads() == once.grads(), "{}: gradients differ after a second call", N::NAME);
}

#[test]
fn a_second_backward_pass_leaves_nothing_of_the_first() {
    for (name, overwritten) in
        [(Big::NAME, Big::OVERWRITTEN_GRADS), (Penalized::NAME, Penalized::OVERWRITTEN_GRADS)]
    {
        assert!(!overwritten.is_empty(), "{name}: no packed layer overwrites");
    }
    assert_no_gradient_left_over::<Big>();
    assert_no_gradient_left_over::<Penalized>();
    // The batch norm overwrites the first conv's output gradient, the ReLUs theirs.
    assert_no_gradient_left_over::<Convs>();
}
