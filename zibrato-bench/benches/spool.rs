//! The spool's cost per window: bytes written, and time to encode, write durably
//! (temporary file, fsync, rename, directory fsync) and delete one window, for windows
//! of realistic series (counters, gauges and timers with four percentiles).
//!
//! `cargo bench -p zibrato-bench --bench spool`
//!
//! The files go under `target/` (a real disk, not a tmpfs, so the fsyncs cost what
//! they cost in production on the same disk).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use zibrato_bench::realistic::window;
use zibrato_worker::spool::{Spool, encode};

fn spool(c: &mut Criterion) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("spool-bench");
    let _ = std::fs::remove_dir_all(&dir);
    let (mut spool, _) = Spool::open(&dir).expect("a spool under target/");
    let mut group = c.benchmark_group("spool");
    for series in [100, 1_000, 10_000] {
        let window = window(series, false);
        let bytes = encode(&window).expect("encodes").len();
        eprintln!(
            "spool: a window of {} series is {bytes} bytes on disk ({:.1} bytes per series)",
            window.series.len(),
            bytes as f64 / window.series.len() as f64
        );
        group.bench_function(format!("encode/{series}"), |b| {
            b.iter(|| encode(black_box(&window)).expect("encodes"))
        });
        group.bench_function(format!("write_fsync_remove/{series}"), |b| {
            b.iter(|| {
                let file = spool.write(black_box(&window)).expect("written");
                spool.remove(&file);
            })
        });
    }
    group.finish();
    drop(spool);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(4));
    targets = spool
}
criterion_main!(benches);
