//! Encode and decode cost per measurement, on the realistic frame.
//!
//! `cargo bench -p zibrato-wire --bench codec`

mod realistic;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use zibrato_wire::{Frame, FrameBuilder, Header, Level, Value};

fn header() -> Header {
    Header {
        publisher: 0x9e37_79b9_7f4a_7c15,
        sequence: 123_456,
        time_us: 1_764_158_400_000_000,
    }
}

fn codec(c: &mut Criterion) {
    let level = Level::new("info").unwrap();
    for count in [64usize, 4096] {
        let ms = realistic::measurements(count);
        let mut group = c.benchmark_group(format!("frame_{count}"));
        group.throughput(Throughput::Elements(count as u64));

        let mut builder = Box::new(FrameBuilder::<&str, 16, 16, 4096>::new());
        let mut buf = vec![0u8; 64 * 1024];
        group.bench_function("push+encode", |b| {
            b.iter(|| {
                builder.clear();
                for m in &ms {
                    builder.push(*m).unwrap();
                }
                black_box(builder.encode(level, &header(), &mut buf).unwrap().len())
            })
        });

        let len = builder.encode(level, &header(), &mut buf).unwrap().len();
        let bytes = buf[..len].to_vec();
        group.bench_function("decode", |b| {
            b.iter(|| {
                black_box(
                    Frame::decode(black_box(&bytes))
                        .unwrap()
                        .measurement_count(),
                )
            })
        });
        group.bench_function("decode+iterate", |b| {
            b.iter(|| {
                let frame = Frame::decode(black_box(&bytes)).unwrap();
                let mut sum = 0.0;
                for series in frame.series() {
                    for v in series.values {
                        sum += match v {
                            Value::Counter(n) => n as f64,
                            Value::Gauge(g) => g,
                            Value::Timer(t) => t as f64,
                        };
                    }
                }
                black_box(sum)
            })
        });
        group.finish();
    }
}

/// `Frame::measurements()` resolves names and sources from the string table: a frame
/// of many distinct names (one per series, as a busy publisher's frames are) shows
/// what that costs per measurement.
fn many_names(c: &mut Criterion) {
    let level = Level::new("info").unwrap();
    let names: Vec<String> = (0..1_000)
        .map(|i| format!("service.endpoint.{i}.latency"))
        .collect();
    let mut builder = Box::new(FrameBuilder::<&str, 2048, 1024, 4096>::new());
    for (i, name) in names.iter().enumerate() {
        let source = if i % 2 == 0 { Some("web-1") } else { None };
        for v in 0..2 {
            builder
                .push(
                    zibrato_wire::Measurement::new(name, source, Value::Timer(1_000 + v)).unwrap(),
                )
                .unwrap();
        }
    }
    let mut buf = vec![0u8; 256 * 1024];
    let len = builder.encode(level, &header(), &mut buf).unwrap().len();
    let bytes = buf[..len].to_vec();
    let mut group = c.benchmark_group("frame_1000_names");
    group.throughput(Throughput::Elements(2_000));
    group.bench_function("decode+measurements", |b| {
        b.iter(|| {
            let frame = Frame::decode(black_box(&bytes)).unwrap();
            let mut total = 0usize;
            for m in frame.measurements() {
                total += m.name.len() + m.source.map_or(0, str::len);
            }
            black_box(total)
        })
    });
    group.finish();
}

criterion_group!(benches, codec, many_names);
criterion_main!(benches);
