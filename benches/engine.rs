//! `cargo bench --bench engine`: the engine's event rate (ping-pong) beside the bare-heap
//! ceiling, at 1, 1 000 and 100 000 pairs. Same workloads as `replsim bench`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use replsim::bench::{heap_hold, pingpong};

const EVENTS: u64 = 200_000;

fn engine(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(10);
    for pairs in [1u32, 1_000, 100_000] {
        group.bench_with_input(BenchmarkId::new("pingpong", pairs), &pairs, |b, &p| {
            b.iter(|| pingpong(p, EVENTS, 1))
        });
        group.bench_with_input(BenchmarkId::new("heap_hold", pairs), &pairs, |b, &p| {
            b.iter(|| heap_hold(p, EVENTS, 1))
        });
    }
    group.finish();
}

// No plots: criterion's plotters backend needs a system font, which a bare CI machine lacks
// (it panicked with `FontUnavailable`); the numbers are in the terminal and target/criterion.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = engine
}
criterion_main!(benches);
