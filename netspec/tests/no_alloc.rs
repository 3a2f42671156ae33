//! `predict`, `predict_batch`, `predict_sample`, `predict_mc`, `forward`, `resample`,
//! `loss_and_grad` and `train_step` never allocate, in both modes and with every layer kind, proved with a
//! counting global allocator (counted per thread, so parallel tests cannot interfere).
//!
//! The only `unsafe` in the crates: `GlobalAlloc` is an unsafe trait, and counting needs one.

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
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
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
    network Regressor { input 3; batch 4; dense 5; sigmoid; dense 2; loss mse; }
    // Every construct of the regularization issue.
    network Regularized {
        input image(2, 3, 3); batch 8;
        batchnorm; flatten; noise gaussian 0.1; dense 16 dropconnect 0.3; batchnorm; relu;
        dropout 0.5; dense 12 bias none; tanh; dropout 0.25 rescale test;
        head digit { dense 10 dropconnect 0.2; loss softmax_cross_entropy; }
        head parity { dense 4; relu; dense 1; loss binary_cross_entropy weight 0.5; }
        penalty l2 1e-3; penalty l1 1e-4 on dense2.weight; penalty l1_activity 1e-3 on relu1;
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

    let before = allocations();
    for training in [true, false] {
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
