//! `predict`, `predict_batch`, `predict_sample`, `predict_mc`, `forward`, `resample`,
//! `loss_and_grad` and `train_step` never allocate, in both modes and with every layer kind, proved with a
//! counting global allocator (counted per thread, so parallel tests cannot interfere).
//!
//! The only `unsafe` in the crates: `GlobalAlloc` is an unsafe trait, and counting needs one.

#![allow(unsafe_code, reason = "a counting `GlobalAlloc` is an unsafe trait implementation")]

use netspec::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every method forwards to `System` unchanged; the counter is a const-initialized
// thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

netspec::network! {
    network Classifier {
        input 12; batch 8; dense 32; relu; dense 16 bias none; tanh; dense 3;
        loss softmax_cross_entropy; penalty l2 1e-4; penalty l1 1e-5 on dense1.weight;
    }
    network Regressor { input 3; batch 4; dense 5; sigmoid; dense 6; layernorm; gelu; silu; dense 2; loss mse; }
    // Every construct of the regularization issue.
    network Regularized {
        input image(2, 3, 3); batch 8;
        batchnorm; flatten; noise gaussian 0.1; dense 16 dropconnect 0.3; batchnorm; relu;
        dropout 0.5; dense 12 bias none; tanh; dropout 0.25 rescale test;
        head digit { dense 10 dropconnect 0.2; loss softmax_cross_entropy; }
        head parity { dense 4; relu; dense 1; loss binary_cross_entropy weight 0.5; }
        penalty l2 1e-3; penalty l1 1e-4 on dense2.weight; penalty l1_activity 1e-3 on relu1;
    }
    // Every construct of the convolution issue: the input pipeline, conv, every pool, residual.
    network Convolutional {
        input image(1, 6, 6); batch 4;
        preprocess standardize per_channel;
        augment { translate 1; flip horizontal; rotate 10; noise gaussian 0.05; cutout 2; mixup 0.2; cutmix 1.0; }
        conv 4 kernel 3 pad 1; batchnorm; relu;
        residual stochastic_depth 0.2 { conv 4 kernel 3 pad 1; batchnorm; relu; conv 4 kernel 3 pad 1 init zeros; }
        maxpool 2; avgpool 3 stride 1 pad 1; fractional_maxpool 1.4; flatten; dense 3;
        loss softmax_cross_entropy;
    }
    network Pooled {
        input image(2, 5, 5); batch 3;
        preprocess whiten pca;
        conv 2 kernel 3; global_avgpool; dense 2; loss mse;
    }
    // The 1-D layers and the conv options.
    network Sequential {
        input sequence(2, 12); batch 3;
        conv 4 kernel 3 pad 2 dilation 2 groups 2; batchnorm; maxpool 2;
        avgpool 3 stride 1 pad 1 count_pad false; global_maxpool; dense 2; loss mse;
    }
    // Past predict's stack budget (166 KB per sample): a heap workspace per thread, allocated
    // by the thread's first call only.
    // Layers of 16,384 weights or more: the packed matrix product, its workspace in a field.
    network Packed { input 160; batch 8; dense 128; relu; dense 10; loss softmax_cross_entropy; }
    network Wide {
        input image(1, 12, 12); batch 2;
        conv 128 kernel 3 pad 1; relu; maxpool 2; flatten; dense 3; loss mse;
    }
    // Every loss with its options, and the activations the networks above leave out.
    network Losses {
        input 12; batch 4;
        dense 8; leaky_relu 0.2; dense 8; identity;
        head class { dense 3; loss softmax_cross_entropy label_smoothing 0.1 class_weights(1, 2, 0.5); }
        head robust { dense 2; loss huber delta 0.5; }
        head absolute { dense 2; loss l1; }
        head flag { dense 1; loss binary_cross_entropy pos_weight 3; }
    }
}

#[test]
fn training_and_inference_do_not_allocate() {
    let mut rng = netspec::Rng::seed(1);
    let mut net = Classifier::new(&mut rng);
    let mut adam = netspec::Adam::new().lr(1e-3).build().unwrap();
    let mut sgd = netspec::Sgd::new(0.1).momentum(0.9).build().unwrap();
    let inputs: Vec<f32> = (0..8 * 12).map(|i| (i as f32 * 0.37).sin()).collect();
    let labels: Vec<usize> = (0..8).map(|i| i % 3).collect();
    let mut outputs = vec![0.0; 8 * 3];
    let mut reg = Regressor::new(&mut rng);
    let reg_targets = [0.5f32; 8];
    // The optimizers allocate their state on the first step (runtime's optim docs).
    net.train_step(&inputs, &labels, &mut adam, &mut rng).unwrap();
    reg.train_step(&inputs[..12], &reg_targets, &mut sgd, &mut rng).unwrap();

    let mut regularized = Regularized::new(&mut rng);
    let x18: Vec<f32> = inputs.iter().cycle().take(8 * 18).copied().collect();
    let parity = [1.0f32; 8];
    let targets = RegularizedTargets { digit: &labels, parity: &parity };
    let mut reg_outputs = [RegularizedOutput::default(); 8];
    let mut adam2 = netspec::Adam::new().lr(1e-3).build().unwrap();
    regularized.train_step(&x18, targets, &mut adam2, &mut rng).unwrap();

    let mut conv = Convolutional::new(&mut rng);
    let x36: Vec<f32> = inputs.iter().cycle().take(4 * 36).copied().collect();
    conv.fit_preprocess(&x36).unwrap();
    let mut conv_out = [0.0f32; 4 * 3];
    let mut adam3 = netspec::Adam::new().lr(1e-3).build().unwrap();
    conv.train_step(&x36, &labels[..4], &mut adam3, &mut rng).unwrap();
    let mut pooled = Pooled::new(&mut rng);
    let x50: Vec<f32> = inputs.iter().cycle().take(3 * 50).copied().collect();
    pooled.fit_preprocess(&x50).unwrap();
    let pooled_targets = [0.5f32; 6];
    let mut pooled_out = [0.0f32; 6];
    let mut sgd2 = netspec::Sgd::new(0.1).momentum(0.9).build().unwrap();
    pooled.train_step(&x50, &pooled_targets, &mut sgd2, &mut rng).unwrap();

    let mut packed = Packed::new(&mut rng);
    let x160: Vec<f32> = inputs.iter().cycle().take(8 * 160).copied().collect();
    let mut packed_out = [0.0f32; 8 * 10];
    let mut sgd3 = netspec::Sgd::new(0.1).momentum(0.9).build().unwrap();
    packed.train_step(&x160, &labels, &mut sgd3, &mut rng).unwrap();

    let mut sequential = Sequential::new(&mut rng);
    let x24: Vec<f32> = inputs.iter().cycle().take(3 * 24).copied().collect();
    let mut sequential_out = [0.0f32; 6];
    let mut sgd4 = netspec::Sgd::new(0.1).momentum(0.9).build().unwrap();
    sequential.train_step(&x24, &pooled_targets, &mut sgd4, &mut rng).unwrap();

    let wide = Wide::new(&mut rng);
    let x288: Vec<f32> = inputs.iter().cycle().take(2 * 144).copied().collect();
    let mut wide_out = [0.0f32; 6];
    wide.predict_batch(&x288, &mut wide_out).unwrap();

    let mut losses = Losses::new(&mut rng);
    let (values, flags) = ([0.25f32; 8], [1.0f32; 4]);
    let losses_targets =
        LossesTargets { class: &labels[..4], robust: &values, absolute: &values, flag: &flags };
    let mut losses_out = [LossesOutput::default(); 4];
    let mut sgd5 = netspec::Sgd::new(0.1).momentum(0.9).build().unwrap();
    losses.train_step(&inputs[..48], losses_targets, &mut sgd5, &mut rng).unwrap();

    let before = allocations();
    for training in [true, false] {
        losses.set_training(training);
        losses.train_step(&inputs[..48], losses_targets, &mut sgd5, &mut rng).unwrap();
        losses.loss_and_grad(&inputs[..48], losses_targets).unwrap();
        losses.predict_batch(&inputs[..48], &mut losses_out).unwrap();
        std::hint::black_box(losses.predict(inputs[..12].try_into().unwrap()));
        conv.set_training(training);
        conv.train_step(&x36, &labels[..4], &mut adam3, &mut rng).unwrap();
        conv.resample(&mut rng);
        conv.loss_and_grad(&x36, &labels[..4]).unwrap();
        conv.forward(&x36, &mut conv_out, &mut rng).unwrap();
        conv.predict_batch(&x36, &mut conv_out).unwrap();
        let one: &[f32; 36] = x36[..36].try_into().unwrap();
        std::hint::black_box(conv.predict(one));
        std::hint::black_box(conv.predict_sample(one, &mut rng));
        std::hint::black_box(conv.predict_mc(one, 3, &mut rng));
        pooled.set_training(training);
        pooled.train_step(&x50, &pooled_targets, &mut sgd2, &mut rng).unwrap();
        pooled.forward(&x50, &mut pooled_out, &mut rng).unwrap();
        std::hint::black_box(pooled.predict(x50[..50].try_into().unwrap()));
        sequential.set_training(training);
        sequential.train_step(&x24, &pooled_targets, &mut sgd4, &mut rng).unwrap();
        sequential.forward(&x24, &mut sequential_out, &mut rng).unwrap();
        std::hint::black_box(sequential.predict(x24[..24].try_into().unwrap()));

        regularized.set_training(training);
        regularized.train_step(&x18, targets, &mut adam2, &mut rng).unwrap();
        regularized.resample(&mut rng);
        regularized.loss_and_grad(&x18, targets).unwrap();
        regularized.forward(&x18, &mut reg_outputs, &mut rng).unwrap();
        regularized.predict_batch(&x18, &mut reg_outputs).unwrap();
        let one: &[f32; 18] = x18[..18].try_into().unwrap();
        std::hint::black_box(regularized.predict(one));
        std::hint::black_box(regularized.predict_sample(one, &mut rng));
        std::hint::black_box(regularized.predict_mc(one, 5, &mut rng));
        std::hint::black_box(regularized.last_loss());
        wide.predict_batch(&x288, &mut wide_out).unwrap();
        std::hint::black_box(wide.predict(x288[..144].try_into().unwrap()));
        packed.set_training(training);
        packed.train_step(&x160, &labels, &mut sgd3, &mut rng).unwrap();
        packed.predict_batch(&x160, &mut packed_out).unwrap();
    }
    for _ in 0..10 {
        net.train_step(&inputs, &labels, &mut adam, &mut rng).unwrap();
        net.loss_and_grad(&inputs, &labels).unwrap();
        net.predict_batch(&inputs, &mut outputs).unwrap();
        std::hint::black_box(net.predict(inputs[..12].try_into().unwrap()));
        reg.train_step(&inputs[..12], &reg_targets, &mut sgd, &mut rng).unwrap();
        std::hint::black_box(reg.predict(&[1.0, 2.0, 3.0]));
    }
    assert_eq!(allocations() - before, 0, "allocations during training and inference");
    // The counter works.
    std::hint::black_box(vec![1u8; 10]);
    assert!(allocations() > before);
}

#[test]
fn layer_probes_do_not_allocate() {
    let mut rng = netspec::Rng::seed(2);
    let mut regularized = Regularized::new(&mut rng);
    let x18: Vec<f32> = (0..8 * 18).map(|i| (i as f32 * 0.37).sin()).collect();
    let (labels, parity) = ([0usize, 1, 2, 3, 4, 5, 6, 7], [1.0f32; 8]);
    let targets = RegularizedTargets { digit: &labels, parity: &parity };
    regularized.loss_and_grad(&x18, targets).unwrap();
    let mut conv = Convolutional::new(&mut rng);
    let x36: Vec<f32> = (0..4 * 36).map(|i| (i as f32 * 0.21).cos()).collect();
    conv.fit_preprocess(&x36).unwrap();
    conv.loss_and_grad(&x36, &[0, 1, 2, 0]).unwrap();
    let params = conv.params().to_vec();

    let before = allocations();
    let mut total = 0.0;
    for view in regularized.activations().chain(regularized.activation_grads()) {
        total += view.stats().std + view.values.len() as f64;
    }
    for view in conv.activations().chain(conv.activation_grads()) {
        total += view.stats().mean + view.shape.len() as f64;
    }
    total += regularized.activation("relu1").map_or(0.0, |v| v.stats().zeros);
    total += conv.grad_norms().map(|(_, n)| n).sum::<f64>();
    total += netspec::update_norms(Convolutional::PARAMS, &params, conv.params())
        .map(|(_, n)| n)
        .sum::<f64>();
    std::hint::black_box(total);
    assert_eq!(allocations() - before, 0, "allocations while probing");
    assert!(total > 0.0);
}
