//! On two threads, `train_step` and `predict_batch` of networks past the parallel threshold
//! allocate nothing, on any thread: a global allocator counts the allocations of every
//! thread, the helper threads included. One test in its own binary, so that no other test
//! allocates while it counts.

#![allow(unsafe_code, reason = "a counting `GlobalAlloc` is an unsafe trait implementation")]

use netspec::Rng;
use netspec::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` unchanged; the counter is a static atomic, which
// never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

netspec::network! {
    // Both hidden layers past the parallel threshold (2.1 and 1 million multiply-adds).
    network Dense { input 256; batch 64; dense 128; relu; dense 128; tanh; dense 10; loss softmax_cross_entropy; }
    // Both convs past it on 64 samples (3.5 and 18.9 million multiply-adds).
    network Convs {
        input image(3, 16, 16); batch 64;
        conv 8 kernel 3 pad 1; batchnorm; relu;
        conv 16 kernel 3 pad 1; relu; maxpool 2;
        flatten; dense 10; loss softmax_cross_entropy;
    }
}

/// Allocations on every thread while `f` runs.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    f();
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

/// A network with its data and its two optimizers (SGD with momentum, Adam), whose state
/// the first steps allocate.
struct Run<N> {
    net: N,
    x: Vec<f32>,
    labels: Vec<usize>,
    outputs: Vec<f32>,
    sgd: netspec::Sgd,
    adam: netspec::Adam,
}

impl<N> Run<N>
where
    N: for<'a> Network<Targets<'a> = &'a [usize], Output: Sample<Flat = f32>>,
{
    fn new(rng: &mut Rng) -> Self {
        Run {
            net: N::new(rng),
            x: (0..64 * N::INPUT).map(|i| (i as f32 * 0.37).sin()).collect(),
            labels: (0..64).map(|i| i % 10).collect(),
            outputs: vec![0.0; 64 * N::OUTPUT],
            sgd: netspec::Sgd::new(0.01).momentum(0.9).build().unwrap(),
            adam: netspec::Adam::new().lr(1e-3).build().unwrap(),
        }
    }

    /// Steps of both optimizers on 64 samples, then `predict_batch` and `predict`.
    fn run(&mut self, rng: &mut Rng) {
        for _ in 0..3 {
            self.net.train_step(&self.x, &self.labels, &mut self.sgd, rng).unwrap();
            self.net.train_step(&self.x, &self.labels, &mut self.adam, rng).unwrap();
        }
        self.net.predict_batch(&self.x, &mut self.outputs).unwrap();
        std::hint::black_box(self.net.predict(&N::Input::samples(&self.x[..N::INPUT])[0]));
    }
}

#[test]
fn two_thread_steps_allocate_on_no_thread() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(cores >= 2, "this test checks the 2-thread path and needs 2 cores, not {cores}");
    netspec::set_threads(2);
    let mut rng = Rng::seed(1);
    let (mut dense, mut convs) = (Run::<Dense>::new(&mut rng), Run::<Convs>::new(&mut rng));
    // The first calls start the helper threads and allocate the optimizers' state and
    // predict's per-thread workspace.
    dense.run(&mut rng);
    convs.run(&mut rng);
    let counted = allocations(|| {
        dense.run(&mut rng);
        convs.run(&mut rng);
    });
    assert_eq!(counted, 0, "allocations in 2-thread steps");
    assert!(allocations(|| drop(std::hint::black_box(vec![0u8; 16]))) > 0, "the counter counts");
}
