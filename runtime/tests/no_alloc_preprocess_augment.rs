//! `Preprocessor::apply*` and `Augmenter::augment` never allocate: checked with a global
//! allocator that counts the allocations of the current thread.

#![allow(unsafe_code, reason = "a counting `GlobalAlloc` is an unsafe trait implementation")]

use netspec_runtime::{Augmentation, Augmenter, PreprocessKind, Preprocessor, Rng};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the thread-local may already be gone while a thread shuts down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is exactly `System`'s; counting touches only a const-initialized
// thread-local `Cell<usize>`, which neither allocates nor has a destructor.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made on this thread while `f` runs.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn the_counter_sees_allocations() {
    assert!(allocations(|| drop(std::hint::black_box(vec![1u8; 64]))) >= 1);
}

#[test]
fn applying_a_preprocessor_does_not_allocate() {
    let shape = [3, 4, 4];
    let d = 48;
    let mut rng = Rng::seed(1);
    let rows: Vec<f32> = (0..200 * d).map(|_| rng.normal(0.5, 2.0)).collect();
    for kind in [
        PreprocessKind::MeanSubtractPerPixel,
        PreprocessKind::MeanSubtractPerChannel,
        PreprocessKind::StandardizePerChannel,
        PreprocessKind::StandardizePerFeature,
        PreprocessKind::WhitenPca,
    ] {
        let p = Preprocessor::fit(kind, 1e-5, &shape, &rows).unwrap();
        let mut sample = rows[..d].to_vec();
        let mut batch = rows[..8 * d].to_vec();
        let mut out = vec![0.0; d];
        let n = allocations(|| {
            p.apply(&mut sample);
            p.apply_rows(&mut batch);
            p.apply_into(&rows[d..2 * d], &mut out);
        });
        assert_eq!(n, 0, "{kind} allocated {n} times");
        assert_eq!(sample, batch[..d]);
    }
}

#[test]
fn augmenting_a_batch_does_not_allocate() {
    let (c, h, w, batch, classes) = (3, 8, 8, 16, 10);
    let ops = [
        Augmentation::Translate { pixels: 2 },
        Augmentation::FlipHorizontal,
        Augmentation::FlipVertical,
        Augmentation::Rotate { degrees: 15.0 },
        Augmentation::GaussianNoise { sigma: 0.05 },
        Augmentation::Cutout { size: 3 },
        Augmentation::Mixup { alpha: 0.2 },
        Augmentation::Cutmix { alpha: 1.0 },
    ];
    let mut aug = Augmenter::new(&ops, &[c, h, w], batch, classes).unwrap();
    let mut rng = Rng::seed(2);
    let mut x: Vec<f32> = (0..batch * c * h * w).map(|i| (i % 17) as f32).collect();
    let mut y = vec![0.0f32; batch * classes];
    for i in 0..batch {
        y[i * classes + i % classes] = 1.0;
    }
    let n = allocations(|| {
        for _ in 0..20 {
            aug.augment(&mut x, &mut y, &mut rng).unwrap();
        }
        // A smaller last batch too.
        aug.augment(&mut x[..5 * c * h * w], &mut y[..5 * classes], &mut rng).unwrap();
    });
    assert_eq!(n, 0, "augment allocated {n} times");
    for row in y.chunks(classes) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
}
