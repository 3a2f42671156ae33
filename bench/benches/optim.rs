//! One optimizer step (`Optimizer::step`: SGD with momentum 0.9, and Adam) over the parameter
//! counts of the medium (235,146) and large (1,863,690) MLPs, on 1 and 2 threads. The updates
//! run value by value, so they are bound by memory bandwidth once the vector loops run.
//!
//! IDs: `<optimizer>/<values>/t<threads>`; `cargo bench -p netspec-bench --bench optim`.

#![allow(missing_docs, reason = "`criterion_group!` defines an undocumented `pub fn`")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use netspec_bench::inputs;
use netspec_runtime::optim::{Adam, Optimizer, Sgd};
use netspec_runtime::threads::with_threads;

fn optimizers(c: &mut Criterion) {
    for values in [235_146, 1_863_690] {
        let grads = inputs(values, 1);
        let mut group = c.benchmark_group("optim");
        for threads in [1, 2] {
            let built: [(&str, Box<dyn Optimizer>); 2] = [
                ("sgd_momentum", Box::new(Sgd::new(0.01).momentum(0.9).build().expect("valid"))),
                ("adam", Box::new(Adam::new().lr(0.001).build().expect("valid"))),
            ];
            for (name, mut optimizer) in built {
                let mut params = inputs(values, 2);
                let id = BenchmarkId::new(name, format!("{values}/t{threads}"));
                group.bench_function(id, |b| {
                    with_threads(threads, || {
                        b.iter(|| optimizer.step(&mut params, black_box(&grads)))
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(800));
    targets = optimizers
}
criterion_main!(benches);
