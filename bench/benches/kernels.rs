//! Dense-layer kernel micro-benchmarks for every dense layer of the reference models, over 64
//! rows (a training batch) and 1 row (`predict`): plain loops (`netspec_bench::generated`, the
//! loops `netspec emit` generated before the kernels existed), the register-tiled kernels of
//! `netspec_runtime::ops::kernels` in their baseline build (`base<tile>`, SSE2 on x86-64) and in the
//! build `Isa::detect` picks on this CPU (`simd<tile>`: AVX2 where the CPU has it), and
//! `matrixmultiply::sgemm` (`netspec_bench::gemm`).
//!
//! IDs: `<op>/<IN>x<OUT>/<variant>`; `cargo bench -p netspec-bench --bench kernels`, then
//! `bench/summarize_kernels.py`.

#![allow(missing_docs, reason = "`criterion_group!` defines an undocumented `pub fn`")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use netspec_bench::{gemm, generated, inputs};
use netspec_runtime::ops::kernels::{self as k, baseline as base};

type Fwd<const IN: usize, const OUT: usize> =
    fn(&[[f32; IN]], &[f32], &[[f32; IN]], &mut [[f32; OUT]]);
type Dw<const IN: usize, const OUT: usize> = fn(&mut [[f32; IN]], &[[f32; IN]], &[[f32; OUT]]);
type Dx<const IN: usize, const OUT: usize> = fn(&[[f32; IN]], &[[f32; OUT]], &mut [[f32; IN]]);
type Db<const OUT: usize> = fn(&mut [f32], &[[f32; OUT]]);

/// `(name, forward kernel)` for each `build: R x C` tile listed.
macro_rules! forwards {
    ($($build:ident $r:literal x $c:literal),*) => {
        [$((
            concat!(stringify!($build), $r, "x", $c),
            (|w, b, x, y| $build::dense_forward_tiled::<IN, OUT, $r, $c>(w, Some(b), x, y))
                as Fwd<IN, OUT>,
        )),*]
    };
}

/// `(name, kernel)` for each `build: tile x W inputs` listed, of a backward kernel.
macro_rules! backwards {
    ($kernel:ident: $($build:ident $t:literal x $w:literal),*) => {
        [$((
            concat!(stringify!($build), $t, "x", $w),
            $build::$kernel::<IN, OUT, $t, $w> as _,
        )),*]
    };
}

fn layer<const IN: usize, const OUT: usize>(c: &mut Criterion) {
    const ROWS: usize = 64;
    use k as simd;
    let shape = format!("{IN}x{OUT}");
    let w_flat = inputs(OUT * IN, 3);
    let w: &[[f32; IN]] = w_flat.as_chunks::<IN>().0;
    let b = inputs(OUT, 4);
    let x_flat = inputs(ROWS * IN, 5);
    let x: &[[f32; IN]] = x_flat.as_chunks::<IN>().0;
    let dy_flat = inputs(ROWS * OUT, 6);
    let dy: &[[f32; OUT]] = dy_flat.as_chunks::<OUT>().0;
    let mut y = vec![[0.0f32; OUT]; ROWS];
    let mut dw = vec![[0.0f32; IN]; OUT];
    let mut db = vec![0.0f32; OUT];
    let mut dx = vec![[0.0f32; IN]; ROWS];

    let mut forwards: Vec<(&str, Fwd<IN, OUT>)> =
        vec![("generated", generated::forward::<IN, OUT>), ("sgemm", gemm::forward::<IN, OUT>)];
    forwards.extend(forwards!(base 4 x 1, base 2 x 2, base 1 x 4));
    forwards.extend(forwards!(
        simd 4 x 1, simd 2 x 2, simd 1 x 4, simd 4 x 2, simd 2 x 4, simd 4 x 3, simd 3 x 4,
        simd 8 x 1, simd 1 x 8, simd 2 x 8, simd 4 x 8
    ));
    let mut g = c.benchmark_group("forward64");
    for &(name, f) in &forwards {
        g.bench_function(BenchmarkId::new(&shape, name), |bch| {
            bch.iter(|| f(black_box(w), black_box(&b), black_box(x), black_box(&mut y)))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("forward1");
    for &(name, f) in &forwards {
        if !matches!(name, "generated" | "sgemm" | "base1x4" | "simd1x4" | "simd1x8") {
            continue;
        }
        g.bench_function(BenchmarkId::new(&shape, name), |bch| {
            bch.iter(|| f(black_box(w), black_box(&b), black_box(&x[..1]), black_box(&mut y[..1])))
        });
    }
    g.finish();

    let mut dws: Vec<(&str, Dw<IN, OUT>)> = vec![
        ("generated", generated::backward_dw::<IN, OUT>),
        ("sgemm", gemm::backward_dw::<IN, OUT>),
    ];
    dws.extend(backwards!(dense_backward_dw_tiled: base 4 x 8));
    dws.extend(backwards!(dense_backward_dw_tiled:
        simd 4 x 8, simd 8 x 8, simd 2 x 16, simd 4 x 16, simd 6 x 16, simd 4 x 24, simd 3 x 32
    ));
    let mut g = c.benchmark_group("dw64");
    for (name, f) in dws {
        g.bench_function(BenchmarkId::new(&shape, name), |bch| {
            bch.iter(|| f(black_box(&mut dw), black_box(x), black_box(dy)))
        });
    }
    g.finish();

    let dbs: [(&str, Db<OUT>); 3] = [
        ("generated", generated::backward_db::<OUT>),
        ("base", base::dense_backward_db::<OUT>),
        ("simd", simd::dense_backward_db::<OUT>),
    ];
    let mut g = c.benchmark_group("db64");
    for (name, f) in dbs {
        g.bench_function(BenchmarkId::new(&shape, name), |bch| {
            bch.iter(|| f(black_box(&mut db), black_box(dy)))
        });
    }
    g.finish();

    let mut dxs: Vec<(&str, Dx<IN, OUT>)> = vec![
        ("generated", generated::backward_dx::<IN, OUT>),
        ("sgemm", gemm::backward_dx::<IN, OUT>),
    ];
    dxs.extend(backwards!(dense_backward_dx_tiled: base 2 x 8, base 4 x 8));
    dxs.extend(backwards!(dense_backward_dx_tiled:
        simd 2 x 8, simd 4 x 8, simd 8 x 8, simd 2 x 16, simd 4 x 16, simd 6 x 16, simd 4 x 24
    ));
    let mut g = c.benchmark_group("dx64");
    for (name, f) in dxs {
        g.bench_function(BenchmarkId::new(&shape, name), |bch| {
            bch.iter(|| f(black_box(w), black_box(dy), black_box(&mut dx)))
        });
    }
    g.finish();
}

fn kernels(c: &mut Criterion) {
    layer::<4, 16>(c);
    layer::<16, 16>(c);
    layer::<16, 3>(c);
    layer::<64, 128>(c);
    layer::<128, 64>(c);
    layer::<64, 10>(c);
    layer::<784, 256>(c);
    layer::<256, 128>(c);
    layer::<128, 10>(c);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(500))
        .sample_size(20);
    targets = kernels
}
criterion_main!(benches);
