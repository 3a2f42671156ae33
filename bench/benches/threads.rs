//! The cost of handing work to a helper thread: `threads::zero` over 131,072 values, the
//! smallest buffer it cuts in two pieces, on 1 thread and on 2 (one piece handed over). Zeroing
//! 256 KiB takes a few microseconds, so the 2-thread figure is mostly the hand-off and the
//! wait for its end.
//!
//! IDs: `handoff/zero/t<threads>`; `cargo bench -p netspec-bench --bench threads`.

#![allow(missing_docs, reason = "`criterion_group!` defines an undocumented `pub fn`")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use netspec_runtime::threads::{with_threads, zero};

fn handoff(c: &mut Criterion) {
    let mut values = vec![1.0f32; 1 << 17];
    let mut group = c.benchmark_group("handoff");
    for threads in [1, 2] {
        group.bench_function(BenchmarkId::new("zero", format!("t{threads}")), |b| {
            with_threads(threads, || b.iter(|| zero(black_box(&mut values))))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(800));
    targets = handoff
}
criterion_main!(benches);
