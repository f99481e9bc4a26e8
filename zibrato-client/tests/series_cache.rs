//! The per-thread series cache finds a series by where the caller's strings are, then
//! confirms by content: a buffer reused for another name must never be taken for the
//! series it held before.

use std::fmt::Write;
use std::time::Duration;

use zibrato_client::{Value, Zibrato};

#[test]
fn a_reused_buffer_with_another_name_is_another_series() {
    let (z, spy) = Zibrato::spy();
    let mut name = String::with_capacity(32);
    for round in 0..3 {
        for i in 0..100 {
            name.clear();
            write!(name, "series.{i:03}").unwrap();
            z.count_by("info", &name, round * 1000 + i);
        }
    }
    z.flush(Duration::from_secs(5)).unwrap();
    let recorded = spy.take();
    assert_eq!(recorded.len(), 300);
    // Frames group values by series; within a series they keep their order.
    let mut by_name: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for m in recorded {
        by_name.entry(m.name.clone()).or_default().push(m.value);
    }
    assert_eq!(by_name.len(), 100);
    for (i, (name, values)) in by_name.iter().enumerate() {
        let i = i as i64;
        assert_eq!(name, &format!("series.{i:03}"));
        assert_eq!(
            values,
            &[0, 1000, 2000].map(|round| Value::Counter(round + i))
        );
    }
}

#[test]
fn many_series_from_several_threads_keep_their_own_values() {
    let (z, spy) = Zibrato::spy();
    let names: Vec<String> = (0..1_000).map(|i| format!("svc.{i}")).collect();
    std::thread::scope(|s| {
        for t in 0..2 {
            let (z, names) = (&z, &names);
            s.spawn(move || {
                for round in 0..5 {
                    for (i, name) in names.iter().enumerate().rev() {
                        if i % 2 == t {
                            z.count_by("info", name, (i * 10 + round) as i64);
                        }
                    }
                }
            });
        }
    });
    z.flush(Duration::from_secs(5)).unwrap();
    let recorded = spy.take();
    assert_eq!(recorded.len(), 5_000);
    for m in &recorded {
        let i: i64 = m.name.strip_prefix("svc.").unwrap().parse().unwrap();
        let Value::Counter(v) = m.value else {
            panic!("{m:?}")
        };
        assert_eq!(v / 10, i, "{m:?}");
    }
}
