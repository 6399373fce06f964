//! Parse-and-index cost of vmlinux BTF (5.5 MB, ~126,000 types), the part of
//! `mapsleuth btf show task_struct --btf vmlinux` that is not process start-up, reading
//! the file or printing. Figures and the whole-process comparison with bpftool and pahole
//! are in docs/benchmarks.md (`scripts/bench-btf.sh`).
//!
//! `cargo bench -p mapsleuth-btf --bench vmlinux`

// A benchmark: it stops on the first error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use mapsleuth_btf::Btf;

fn vmlinux() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus/btf/vmlinux.btf");
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn bench(c: &mut Criterion) {
    let data = vmlinux();
    let mut g = c.benchmark_group("vmlinux");
    g.sample_size(20).measurement_time(Duration::from_secs(5));

    g.bench_function("parse", |b| {
        b.iter(|| Btf::parse(black_box(&data)).unwrap())
    });
    g.bench_function("parse + validate", |b| {
        b.iter(|| {
            let btf = Btf::parse(black_box(&data)).unwrap();
            btf.validate().unwrap();
            btf.count()
        })
    });

    let btf = Btf::parse(&data).unwrap();
    g.bench_function("find_type(task_struct)", |b| {
        b.iter(|| btf.find_type(black_box("task_struct")).unwrap())
    });
    let task = btf.find_type("task_struct").unwrap();
    g.bench_function("to_table_for(task_struct) + layout", |b| {
        b.iter(|| {
            let table = btf.to_table_for(&[task]).unwrap();
            table.layout(task).unwrap().members.len()
        })
    });
    g.bench_function("to_table (every type)", |b| {
        b.iter(|| btf.to_table().unwrap().len())
    });
    // The whole of `btf show` after reading the file: parse, look up, convert, lay out.
    g.bench_function(
        "show task_struct (parse + find + table_for + layout)",
        |b| {
            b.iter(|| {
                let btf = Btf::parse(black_box(&data)).unwrap();
                let id = btf.find_type("task_struct").unwrap();
                let table = btf.to_table_for(&[id]).unwrap();
                table.layout(id).unwrap().members.len()
            })
        },
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
