//! Issue 6's model benchmarks, on `NETSPEC_THREADS` threads (default: the available cores): single-sample `predict` latency, batch-64
//! `predict_batch` and batch-64 `train_step` (SGD, momentum 0.9) for the reference models (the
//! four MLPs and the convolutional `DigitsCnn` and `CifarCnn`).
//! `bench/compare` reads criterion's median of each from `target/criterion/<model>/<what>/new/
//! estimates.json` and sets it beside PyTorch's.

#![allow(missing_docs, reason = "`criterion_group!` defines an undocumented `pub fn`")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use netspec::prelude::*;
use netspec_bench::{
    Activity, BATCH, CifarCnn, DigitsCnn, KwsDsCnn, Large, Medium, Small, Tiny, inputs, labels,
};

/// The three measurements of one model; one generic function serves every generated network.
fn bench_model<N>(c: &mut Criterion, name: &str)
where
    N: for<'a> Network<Targets<'a> = &'a [usize], Output: Sample<Flat = f32>>,
{
    let mut rng = netspec::Rng::seed(7);
    let mut net = N::new(&mut rng);
    let x = inputs(BATCH * N::INPUT, 1);
    let t = labels(BATCH, N::OUTPUT, 2);
    let one = N::Input::samples(&x[..N::INPUT])[0];
    let mut out = vec![0.0f32; BATCH * N::OUTPUT];
    let mut opt = netspec::Sgd::new(0.01).momentum(0.9).build().unwrap();
    let mut g = c.benchmark_group(name);
    g.bench_function("predict", |b| b.iter(|| net.predict(black_box(&one))));
    g.bench_function("predict_batch", |b| {
        b.iter(|| net.predict_batch(black_box(&x), black_box(&mut out)).unwrap())
    });
    g.bench_function("train_step", |b| {
        b.iter(|| net.train_step(black_box(&x), black_box(&t), &mut opt, &mut rng).unwrap())
    });
    // The same step without the check for NaN and infinities: its cost is the difference.
    net.set_check_finite(false);
    g.bench_function("train_step_unchecked", |b| {
        b.iter(|| net.train_step(black_box(&x), black_box(&t), &mut opt, &mut rng).unwrap())
    });
    g.finish();
}

fn models(c: &mut Criterion) {
    // `bench/compare` runs this once per thread count.
    if let Some(n) = std::env::var("NETSPEC_THREADS").ok().and_then(|n| n.parse().ok()) {
        netspec::set_threads(n);
    }
    bench_model::<Tiny>(c, "tiny");
    bench_model::<Small>(c, "small");
    bench_model::<Medium>(c, "medium");
    bench_model::<Large>(c, "large");
    bench_model::<DigitsCnn>(c, "digits_cnn");
    bench_model::<CifarCnn>(c, "cifar_cnn");
    bench_model::<KwsDsCnn>(c, "kws_ds_cnn");
    bench_model::<Activity>(c, "activity");
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(60);
    targets = models
}
criterion_main!(benches);
