//! A mini-batch of fewer than `BATCH` samples (a data set's partial last batch) trains exactly as
//! PyTorch trains it: mean losses and batch statistics over its own samples. Checked against the
//! same spec compiled with `batch` equal to that count: from the same parameters and seed,
//! `train_step`, `loss_and_grad` and `forward` give the same losses, gradients, parameters,
//! running statistics, masks and augmented targets, bit for bit.

use netspec::prelude::*;
use netspec::{BatchError, Rng};

/// The same layers compiled twice: `$full` with `batch 8`, `$part` with `batch 3`.
macro_rules! pair {
    ($full:ident, $part:ident, [$($input:tt)*], [$($layers:tt)*]) => {
        netspec::network! { network $full { $($input)* batch 8; $($layers)* } }
        netspec::network! { network $part { $($input)* batch 3; $($layers)* } }
    };
}

pair!(MlpFull, MlpPart, [input 6;], [
    noise gaussian 0.1; dense 16 dropconnect 0.2; batchnorm; relu; dropout 0.3;
    dense 12; layernorm; tanh; dropout 0.25 rescale test; dense 4;
    loss softmax_cross_entropy;
    penalty l2 1e-3; penalty l1_activity 1e-3 on relu1;
]);

pair!(CnnFull, CnnPart, [input image(2, 6, 6);], [
    preprocess standardize per_channel;
    augment { translate 1; flip horizontal; rotate 10; noise gaussian 0.05; cutout 2; mixup 0.2; cutmix 1.0; }
    conv 4 kernel 3 pad 1; batchnorm; relu;
    residual stochastic_depth 0.3 { conv 4 kernel 3 pad 1; batchnorm; relu; }
    maxpool 2; avgpool 3 stride 1 pad 1; fractional_maxpool 1.4; flatten; dense 3;
    loss softmax_cross_entropy;
]);

pair!(HeadsFull, HeadsPart, [input 5;], [
    dense 10; relu; dense 8; gelu;
    head value { dense 2; loss mse; }
    head flag { dense 1; loss binary_cross_entropy weight 0.5; }
]);

fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::seed(seed);
    (0..n).map(|_| rng.uniform(-1.5, 1.5)).collect()
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// Trains `$full` and `$part` from the same parameters and seed on the same 3-sample
/// mini-batches, `$body` making one step on `$net` (of either type, `Targets` its targets type),
/// and checks every observable state bit for bit after each step.
macro_rules! check_pair {
    ([$full:ident / $full_targets:ident, $part:ident / $part_targets:ident],
     |$net:ident, $step:ident, $opt:ident, $rng:ident| $body:expr) => {{
        let mut init = Rng::seed(1);
        let mut full = $full::new(&mut init);
        let mut part = $part::new(&mut init);
        part.params_mut().copy_from_slice(full.params());
        let fit = values(10 * $full::INPUT, 2);
        if $full::PREPROCESS.is_some() {
            full.fit_preprocess(&fit).unwrap();
            part.fit_preprocess(&fit).unwrap();
        }
        let mut opts = [0, 1].map(|_| netspec::Sgd::new(0.05).momentum(0.9).build().unwrap());
        let (mut rng_full, mut rng_part) = (Rng::seed(11), Rng::seed(11));
        for $step in 0..3u64 {
            let loss_full = {
                #[allow(dead_code)]
                type Targets<'a> = $full_targets<'a>;
                let ($net, $opt, $rng) = (&mut full, &mut opts[0], &mut rng_full);
                $body
            };
            let loss_part = {
                #[allow(dead_code)]
                type Targets<'a> = $part_targets<'a>;
                let ($net, $opt, $rng) = (&mut part, &mut opts[1], &mut rng_part);
                $body
            };
            let step = $step;
            assert_eq!(loss_full.to_bits(), loss_part.to_bits(), "step {step}: loss");
            assert_eq!(bits(full.grads()), bits(part.grads()), "step {step}: gradients");
            assert_eq!(bits(full.params()), bits(part.params()), "step {step}: parameters");
            assert_eq!(bits(full.buffers()), bits(part.buffers()), "step {step}: running stats");
            assert_eq!(full.counters(), part.counters(), "step {step}: num_batches_tracked");
            assert_eq!(bits(full.last_targets()), bits(part.last_targets()), "step {step}");
        }
        (full, part)
    }};
}

/// `&[usize]` for the single-output networks' `Targets` alias.
type Labels<'a> = &'a [usize];

#[test]
fn a_partial_batch_trains_as_a_network_of_that_batch_size() {
    check_pair!([MlpFull / Labels, MlpPart / Labels], |net, step, opt, rng| {
        let x = values(3 * 6, 100 + step);
        net.train_step(&x, &[0, 3, 1], opt, rng).unwrap()
    });
    check_pair!([CnnFull / Labels, CnnPart / Labels], |net, step, opt, rng| {
        let x = values(3 * 72, 200 + step);
        net.train_step(&x, &[2, 0, 1], opt, rng).unwrap()
    });
    check_pair!(
        [HeadsFull / HeadsFullTargets, HeadsPart / HeadsPartTargets],
        |net, step, opt, rng| {
            let (x, value) = (values(3 * 5, 300 + step), values(6, 400 + step));
            let targets = Targets { value: &value, flag: &[1.0, 0.0, 1.0] };
            net.train_step(&x, targets, opt, rng).unwrap()
        }
    );
}

#[test]
fn loss_and_grad_and_forward_take_a_partial_batch_in_either_mode() {
    // Training mode, masks drawn for 3 samples first (what `train_step` does).
    let (mut full, mut part) =
        check_pair!([MlpFull / Labels, MlpPart / Labels], |net, step, _opt, rng| {
            let x = values(3 * 6, 500 + step);
            net.resample_rows(3, rng);
            net.loss_and_grad(&x, &[1, 2, 3]).unwrap()
        });
    // Eval mode: running statistics, any number of samples from 1.
    full.set_training(false);
    part.set_training(false);
    let x = values(6, 600);
    let (a, b) = (full.loss_and_grad(&x, &[2]).unwrap(), part.loss_and_grad(&x, &[2]).unwrap());
    assert_eq!(a.to_bits(), b.to_bits());
    assert_eq!(bits(full.grads()), bits(part.grads()));

    // Training-mode forward on 3 samples: the same outputs, masks and running statistics.
    full.set_training(true);
    part.set_training(true);
    let x = values(3 * 6, 700);
    let (mut out_full, mut out_part) = ([0.0f32; 12], [0.0f32; 12]);
    full.forward(&x, &mut out_full, &mut Rng::seed(5)).unwrap();
    part.forward(&x, &mut out_part, &mut Rng::seed(5)).unwrap();
    assert_eq!(bits(&out_full), bits(&out_part));
    assert_eq!(bits(full.buffers()), bits(part.buffers()));
    for layer in ["noise1", "dense1", "dropout1", "dropout2"] {
        let (a, b) = (full.noise(layer).unwrap(), part.noise(layer).unwrap());
        let n = b.len();
        assert_eq!(bits(&a[..n]), bits(b), "{layer}: the draws of a 3-sample batch");
    }
}

#[test]
fn mini_batches_outside_1_to_batch_samples_are_refused() {
    let mut rng = Rng::seed(3);
    let mut net = MlpFull::new(&mut rng);
    let mut opt = netspec::Sgd::new(0.1).build().unwrap();
    let before = net.params().to_vec();
    for (n, values_given) in [(0, 0), (9, 9 * 6), (2, 2 * 6 + 1)] {
        let x = vec![0.5; values_given];
        let labels = vec![0; n];
        let err = net.train_step(&x, &labels, &mut opt, &mut rng).unwrap_err();
        assert!(
            matches!(err, BatchError::Rows { found, batch: 8, min: 2, .. } if found == values_given)
        );
        assert_eq!(
            err.to_string(),
            format!(
                "MlpFull::train_step: `inputs` has {values_given} values but must hold 2 to 8 \
                 (BATCH) whole samples of 6 (INPUT) values"
            )
        );
    }
    // One sample: its batch norm over vectors cannot train on it (as in PyTorch), but eval can.
    let err = net.train_step(&[0.5; 6], &[1], &mut opt, &mut rng).unwrap_err();
    assert!(err.to_string().ends_with(
        "; a batch norm in training mode needs 2 samples, since the batch variance of one value \
         per channel is 0 (PyTorch refuses it too)"
    ), "{err}");
    assert_eq!(net.params(), &before[..], "refused steps change nothing");
    net.set_training(false);
    assert!(net.loss_and_grad(&[0.5; 6], &[1]).is_ok());
    // Targets of another number of samples than the inputs.
    net.set_training(true);
    let err = net.train_step(&[0.5; 18], &[1, 2], &mut opt, &mut rng).unwrap_err();
    assert_eq!(
        err.to_string(),
        "MlpFull::train_step: `targets` has 2 values but must have 3: one per sample of `inputs`"
    );
}

netspec::network! {
    network Iris { input 4; batch 16; dense 8; batchnorm; relu; dense 3; loss softmax_cross_entropy; }
}

#[test]
fn an_epoch_with_the_remainder_trains_on_every_row() {
    let mut rng = Rng::seed(4);
    let (train, _) = netspec::Dataset::iris().split(0.2, &mut rng).unwrap();
    let mut batches = netspec::Batches::new(train.len(), Iris::BATCH).unwrap();
    batches.shuffle(&mut rng);
    let mut net = Iris::new(&mut rng);
    let mut opt = netspec::Sgd::new(0.1).build().unwrap();
    let (mut seen, mut last) = (0, 0);
    for batch in batches.with_remainder() {
        let (mut x, mut y) = (vec![0.0; batch.len() * 4], vec![0; batch.len()]);
        train.gather(batch, &mut x, &mut y).unwrap();
        let loss = net.train_step(&x, &y, &mut opt, &mut rng).unwrap();
        assert!(loss.is_finite());
        (seen, last) = (seen + batch.len(), batch.len());
    }
    assert_eq!(seen, train.len(), "every row, the remainder's too");
    assert_eq!(last, train.len() % Iris::BATCH, "the last batch is the partial one");
    assert!(last > 0, "this split leaves a remainder ({} rows)", train.len());
}
