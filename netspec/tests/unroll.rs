//! The measurement behind the code generator not writing dot products out (the note at the top
//! of codegen/src/emit/mod.rs): a dense forward `y = x W^T` over 64 rows with the dot product
//! written out term by term against `__private::kernels::dot` (8 partial sums).
//!
//! `cargo test --release -p netspec --test unroll -- --ignored --nocapture`

use netspec::__private::kernels::dot;
use std::hint::black_box;
use std::time::Instant;

const ROWS: usize = 64;
const OUT: usize = 16;

macro_rules! written_out {
    ($w:ident, $x:ident, $first:literal $($i:literal)*) => { $w[$first] * $x[$first] $(+ $w[$i] * $x[$i])* };
}

macro_rules! bench {
    ($n:literal, $($i:literal)+) => {{
        let w = [[0.5f32; $n]; OUT];
        let x = vec![[0.25f32; $n]; ROWS];
        let mut y = vec![[0.0f32; OUT]; ROWS];
        let mut time = |f: &dyn Fn(&[[f32; $n]; OUT], &[[f32; $n]], &mut [[f32; OUT]])| {
            let mut best = f64::MAX;
            for _ in 0..15 {
                let start = Instant::now();
                for _ in 0..2_000 {
                    f(black_box(&w), black_box(&x), black_box(&mut y));
                }
                best = best.min(start.elapsed().as_secs_f64() / 2_000.0 * 1e9);
            }
            best
        };
        let unrolled = time(&|w, x, y| {
            for (x, y) in x.iter().zip(y.iter_mut()) {
                for (y, w) in y.iter_mut().zip(w) {
                    *y = written_out!(w, x, $($i)+);
                }
            }
        });
        let lanes = time(&|w, x, y| {
            for (x, y) in x.iter().zip(y.iter_mut()) {
                for (y, w) in y.iter_mut().zip(w) {
                    *y = dot(w, x);
                }
            }
        });
        println!("IN = {:>2}: written out {unrolled:8.0} ns, 8-lane dot {lanes:8.0} ns", $n);
    }};
}

#[test]
#[ignore = "a timing, run in --release with --ignored --nocapture"]
fn unroll_threshold() {
    bench!(2, 0 1);
    bench!(4, 0 1 2 3);
    bench!(8, 0 1 2 3 4 5 6 7);
    bench!(12, 0 1 2 3 4 5 6 7 8 9 10 11);
    bench!(16, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
    bench!(32, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31);
}
