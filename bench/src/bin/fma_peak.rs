//! The core's single-precision FMA peak, measured: rows of independent multiply-adds, as many
//! lanes as the widest vector register the build enables, enough independent chains to cover
//! the FMA latency on every pipe. The kernels choose their instructions at run time; this
//! program needs them at compile time (`f32::mul_add` is a library call without FMA):
//!
//! ```text
//! RUSTFLAGS="-C target-cpu=native" cargo run --release -p netspec-bench --bin fma_peak
//! ```

use std::hint::black_box;
use std::time::Instant;

/// Independent accumulators: Zen 3 and Skylake-SP have 2 FMA pipes of latency 4, so 8 chains
/// keep them busy; 12 leave slack for the loop and still fit the 16 vector registers.
const CHAINS: usize = 12;

/// Multiply-adds per lane per chain in one timed run.
const STEPS: usize = 50_000_000;

/// `acc = acc * a + b` `steps` times on every lane of every chain; returns the sum of the
/// accumulators so that nothing is optimized away.
fn chains<const LANES: usize>(steps: usize, a: f32, b: f32) -> f32 {
    let mut acc = [[1.0f32; LANES]; CHAINS];
    let (a, b) = ([a; LANES], [b; LANES]);
    for _ in 0..steps {
        for chain in &mut acc {
            for ((v, &a), &b) in chain.iter_mut().zip(&a).zip(&b) {
                *v = v.mul_add(a, b);
            }
        }
    }
    acc.iter().flatten().sum()
}

/// Fastest of 5 runs, in GFLOP/s (2 flops per multiply-add).
fn peak<const LANES: usize>() -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        // a < 1 and b small keep the values finite and normal.
        black_box(chains::<LANES>(black_box(STEPS), black_box(0.999_999), black_box(1e-7)));
        best = best.min(start.elapsed().as_secs_f64());
    }
    (2 * STEPS * CHAINS * LANES) as f64 / best / 1e9
}

fn main() {
    if !cfg!(target_feature = "fma") {
        eprintln!(
            "error: built without FMA instructions, so f32::mul_add is a library call and this \
             would measure that call.\n  \
             help: RUSTFLAGS=\"-C target-cpu=native\" cargo run --release -p netspec-bench --bin \
             fma_peak"
        );
        std::process::exit(2);
    }
    let (lanes, gflops) =
        if cfg!(target_feature = "avx512f") { (16, peak::<16>()) } else { (8, peak::<8>()) };
    println!(
        "FMA peak, 1 thread, {lanes} f32 lanes x {CHAINS} chains: {gflops:.1} GFLOP/s ({:.2} \
         multiply-adds of {lanes} lanes per ns)",
        gflops / 2.0 / lanes as f64
    );
}
