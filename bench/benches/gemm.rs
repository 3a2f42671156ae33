//! The packed matrix product (`netspec_runtime::ops::gemm`) on the dense layers of the large
//! MLP and CifarCnn over a batch of 64 rows: forward `y = x W^T`, `dW += dy^T x` and
//! `dx += dy W`, in its portable and FMA builds on 1 and 2 threads, beside the AVX2
//! register-tiled kernels (`tiled`) and `matrixmultiply::sgemm` (`sgemm`, which allocates its
//! packing buffer per call). Prints GFLOP/s (2 flop per multiply-add) of the fastest of many
//! runs, the variants interleaved round by round: the fastest run is the one least disturbed
//! by other work on a shared machine.
//!
//! `cargo bench -p netspec-bench --bench gemm`

use std::hint::black_box;
use std::time::{Duration, Instant};

use netspec_bench::{gemm as mm, inputs};
use netspec_runtime::ops::gemm::{View, gemm_on, workspace_len};
use netspec_runtime::ops::kernels::{self as k, Isa};

const ROWS: usize = 64;

/// A named benchmark body.
type Variant<'a> = (String, Box<dyn FnMut() + 'a>);

/// Runs every variant `ROUNDS` times in turn and returns the fastest time of each.
fn fastest(variants: &mut [Variant<'_>]) -> Vec<Duration> {
    const ROUNDS: usize = 15;
    let mut best = vec![Duration::MAX; variants.len()];
    for _ in 0..ROUNDS {
        for ((_, f), best) in variants.iter_mut().zip(&mut best) {
            let t = Instant::now();
            f();
            *best = (*best).min(t.elapsed());
        }
    }
    best
}

fn layer<const IN: usize, const OUT: usize>() {
    let w_flat = inputs(OUT * IN, 3);
    let w: &[[f32; IN]] = w_flat.as_chunks::<IN>().0;
    let b0 = inputs(OUT, 4);
    let x_flat = inputs(ROWS * IN, 5);
    let x: &[[f32; IN]] = x_flat.as_chunks::<IN>().0;
    let dy_flat = inputs(ROWS * OUT, 6);
    let dy: &[[f32; OUT]] = dy_flat.as_chunks::<OUT>().0;
    let flop = 2.0 * (ROWS * IN * OUT) as f64;
    let builds = [("portable", Isa::Baseline), ("fma", Isa::Avx2Fma)];
    for op in ["forward", "dw", "dx"] {
        let (m, n, k, a, bv) = match op {
            "forward" => (ROWS, OUT, IN, View::rows(&x_flat, IN), View::transposed(&w_flat, IN)),
            "dw" => (OUT, IN, ROWS, View::transposed(&dy_flat, OUT), View::rows(&x_flat, IN)),
            _ => (ROWS, IN, OUT, View::rows(&dy_flat, OUT), View::rows(&w_flat, IN)),
        };
        let mut variants: Vec<Variant<'_>> = Vec::new();
        for (name, isa) in builds.into_iter().filter(|(_, isa)| isa.supported()) {
            for threads in [1, 2] {
                let mut c = vec![0.0f32; m * n];
                let mut work = vec![0.0f32; workspace_len(m, n, k)];
                variants.push((
                    format!("packed-{name}-t{threads}"),
                    Box::new(move || {
                        netspec::with_threads(threads, || {
                            gemm_on(
                                isa,
                                (m, n, k),
                                a,
                                bv,
                                black_box(&mut c),
                                op != "forward",
                                &mut work,
                            )
                        })
                    }),
                ));
            }
        }
        let (mut y, mut dw, mut dx) =
            (vec![[0.0f32; OUT]; ROWS], vec![[0.0f32; IN]; OUT], vec![[0.0f32; IN]; ROWS]);
        let (mut y2, mut dw2, mut dx2) = (y.clone(), dw.clone(), dx.clone());
        let (bias, b) = (b0.clone(), b0.clone());
        variants.push((
            "tiled".into(),
            Box::new(move || match op {
                "forward" => k::dense_forward(w, Some(&b), black_box(x), &mut y),
                "dw" => k::dense_backward_dw(&mut dw, black_box(x), dy),
                _ => k::dense_backward_dx(w, black_box(dy), &mut dx),
            }),
        ));
        variants.push((
            "sgemm".into(),
            Box::new(move || match op {
                "forward" => mm::forward(w, &bias, black_box(x), &mut y2),
                "dw" => mm::backward_dw(&mut dw2, black_box(x), dy),
                _ => mm::backward_dx(w, black_box(dy), &mut dx2),
            }),
        ));
        let best = fastest(&mut variants);
        for ((name, _), t) in variants.iter().zip(best) {
            let gflops = flop / t.as_secs_f64() / 1e9;
            println!(
                "{op:8} {IN}x{OUT} {name:20} {:9.3} ms {gflops:6.1} GFLOP/s",
                t.as_secs_f64() * 1e3
            );
        }
    }
}

fn main() {
    layer::<784, 1024>();
    layer::<1024, 1024>();
    layer::<4096, 128>();
    layer::<784, 256>();
    layer::<256, 128>();
}
