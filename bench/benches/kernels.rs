//! Dense-layer kernel micro-benchmarks: today's generated loops (`netspec_bench::generated`,
//! copied from `netspec emit specs/digits.nn`) against the register-tiled kernels in
//! `netspec_runtime::kernels` and `matrixmultiply::sgemm` (`netspec_bench::gemm`), for every
//! dense layer of the reference models, over 64 rows (a training batch) and 1 row (`predict`).
//!
//! IDs: `<op>/<IN>x<OUT>/<variant>`; `cargo bench -p netspec-bench --bench kernels`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use netspec_bench::{gemm, generated, inputs};
use netspec_runtime::kernels as k;

fn layer<const IN: usize, const OUT: usize>(c: &mut Criterion) {
    const ROWS: usize = 64;
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

    type Fwd<const IN: usize, const OUT: usize> =
        fn(&[[f32; IN]], &[f32], &[[f32; IN]], &mut [[f32; OUT]]);
    let forwards: [(&str, Fwd<IN, OUT>); 6] = [
        ("generated", generated::forward::<IN, OUT>),
        ("tiled4x1", |w, b, x, y| k::dense_forward_tiled::<IN, OUT, 4, 1>(w, Some(b), x, y)),
        ("tiled2x2", |w, b, x, y| k::dense_forward_tiled::<IN, OUT, 2, 2>(w, Some(b), x, y)),
        ("tiled4x2", |w, b, x, y| k::dense_forward_tiled::<IN, OUT, 4, 2>(w, Some(b), x, y)),
        ("tiled1x4", |w, b, x, y| k::dense_forward_tiled::<IN, OUT, 1, 4>(w, Some(b), x, y)),
        ("sgemm", gemm::forward::<IN, OUT>),
    ];
    let mut g = c.benchmark_group("forward64");
    for (name, f) in forwards {
        g.bench_function(BenchmarkId::new(&shape, name), |bch| {
            bch.iter(|| f(black_box(w), black_box(&b), black_box(x), black_box(&mut y)))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("forward1");
    for (name, f) in forwards {
        if name.starts_with("tiled4") || name == "tiled2x2" {
            continue;
        }
        g.bench_function(BenchmarkId::new(&shape, name), |bch| {
            bch.iter(|| f(black_box(w), black_box(&b), black_box(&x[..1]), black_box(&mut y[..1])))
        });
    }
    g.finish();

    type Dw<const IN: usize, const OUT: usize> = fn(&mut [[f32; IN]], &[[f32; IN]], &[[f32; OUT]]);
    let dws: [(&str, Dw<IN, OUT>); 4] = [
        ("generated", generated::backward_dw::<IN, OUT>),
        ("tiled2", k::dense_backward_dw_tiled::<IN, OUT, 2>),
        ("tiled4", k::dense_backward_dw_tiled::<IN, OUT, 4>),
        ("sgemm", gemm::backward_dw::<IN, OUT>),
    ];
    let mut g = c.benchmark_group("dw64");
    for (name, f) in dws {
        g.bench_function(BenchmarkId::new(&shape, name), |bch| {
            bch.iter(|| f(black_box(&mut dw), black_box(x), black_box(dy)))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("db64");
    g.bench_function(BenchmarkId::new(&shape, "generated"), |bch| {
        bch.iter(|| generated::backward_db::<OUT>(black_box(&mut db), black_box(dy)))
    });
    g.bench_function(BenchmarkId::new(&shape, "kernel"), |bch| {
        bch.iter(|| k::dense_backward_db::<OUT>(black_box(&mut db), black_box(dy)))
    });
    g.finish();

    type Dx<const IN: usize, const OUT: usize> = fn(&[[f32; IN]], &[[f32; OUT]], &mut [[f32; IN]]);
    let dxs: [(&str, Dx<IN, OUT>); 4] = [
        ("generated", generated::backward_dx::<IN, OUT>),
        ("tiled2", k::dense_backward_dx_tiled::<IN, OUT, 2>),
        ("tiled4", k::dense_backward_dx_tiled::<IN, OUT, 4>),
        ("sgemm", gemm::backward_dx::<IN, OUT>),
    ];
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
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1000))
        .sample_size(20);
    targets = kernels
}
criterion_main!(benches);
