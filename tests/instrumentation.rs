//! Guards, closures and attribute macros, checked through a spy client installed as
//! the global client: the whole publisher runs, only the socket is replaced.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use zibrato::{Recorded, Spy, Value, Zibrato};

/// One global spy for this test binary; each test uses its own names.
fn spy() -> &'static (Zibrato, Spy) {
    static SPY: OnceLock<(Zibrato, Spy)> = OnceLock::new();
    SPY.get_or_init(|| {
        let (z, spy) = Zibrato::spy();
        zibrato::install(z.clone()).expect("first install");
        (z, spy)
    })
}

fn recorded(name: &str) -> Vec<Recorded> {
    let (z, spy) = spy();
    z.flush(Duration::from_secs(5)).unwrap();
    spy.measurements()
        .into_iter()
        .filter(|r| r.name == name)
        .collect()
}

fn values(name: &str) -> Vec<Value> {
    recorded(name).into_iter().map(|r| r.value).collect()
}

#[zibrato::count_me(level = "info", name = "sync.calls")]
fn plain(x: u32) -> u32 {
    x * 2
}

#[zibrato::time_me(level = "info", name = "fallible.time")]
fn fallible(fail: bool) -> Result<u32, String> {
    let value: u32 = if fail {
        "x".parse().map_err(|_| "bad".to_string())?
    } else {
        1
    };
    if value == 1 {
        return Ok(1); // early return
    }
    Ok(value)
}

/// Both attributes on one function, as the original's decorators stacked.
#[zibrato::time_me(level = "info", name = "stacked.time")]
#[zibrato::count_me(level = "info", name = "stacked.calls")]
#[zibrato::count_me(level = "crit", name = "stacked.calls.crit", value = 2)]
fn stacked(x: u32) -> u32 {
    x + 1
}

#[zibrato::count_me(level = "info", name = "generic.calls", value = 5, source = "gen")]
fn generic<T: Clone + Into<u64>>(items: &[T]) -> u64 {
    items.iter().cloned().map(Into::into).sum()
}

struct Service {
    base: u32,
}

impl Service {
    #[zibrato::time_me(level = "debug", name = "method.time")]
    fn handle(&self, x: u32) -> u32 {
        self.base + x
    }
}

#[zibrato::count_me(level = "info", name = "panics.count")]
fn panics() {
    panic!("boom");
}

/// A future that is pending once, for `ms` milliseconds, then ready.
struct Sleep {
    until: Option<std::time::Instant>,
    ms: u64,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        match self.until {
            None => {
                self.until = Some(std::time::Instant::now() + Duration::from_millis(self.ms));
                Poll::Pending
            }
            Some(until) if std::time::Instant::now() >= until => Poll::Ready(()),
            Some(_) => Poll::Pending,
        }
    }
}

#[zibrato::time_me(level = "info", name = "async.time")]
async fn slow_async(ms: u64) -> u64 {
    Sleep { until: None, ms }.await;
    ms
}

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn macros_on_plain_functions_keep_the_result_and_count() {
    spy();
    assert_eq!(plain(21), 42);
    assert_eq!(plain(1), 2);
    assert_eq!(values("sync.calls"), [Value::Counter(1), Value::Counter(1)]);
    assert_eq!(recorded("sync.calls")[0].level, "info");
}

#[test]
fn stacked_attributes_each_record_once() {
    spy();
    assert_eq!(stacked(1), 2);
    assert_eq!(values("stacked.calls"), [Value::Counter(1)]);
    assert_eq!(values("stacked.calls.crit"), [Value::Counter(2)]);
    assert_eq!(recorded("stacked.time").len(), 1);
}

#[test]
fn macros_time_early_returns_and_question_mark_errors() {
    spy();
    assert_eq!(fallible(false), Ok(1));
    assert_eq!(fallible(true), Err("bad".to_string()));
    let got = values("fallible.time");
    assert_eq!(
        got.len(),
        2,
        "both the early return and the `?` error are timed"
    );
    assert!(got.iter().all(|v| matches!(v, Value::Timer(_))));
}

#[test]
fn macros_on_generic_functions_and_methods() {
    spy();
    assert_eq!(generic(&[1u8, 2, 3]), 6);
    assert_eq!(generic(&[10u32]), 10);
    let got = recorded("generic.calls");
    assert_eq!(got.len(), 2);
    assert!(
        got.iter()
            .all(|r| r.value == Value::Counter(5) && r.source.as_deref() == Some("gen"))
    );

    let service = Service { base: 1 };
    assert_eq!(service.handle(2), 3);
    let got = recorded("method.time");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].level, "debug");
}

#[test]
fn a_panicking_function_records_nothing() {
    spy();
    assert!(std::panic::catch_unwind(panics).is_err());
    assert!(values("panics.count").is_empty());
}

#[test]
fn an_async_timer_spans_the_whole_future() {
    spy();
    let future = slow_async(30);
    std::thread::sleep(Duration::from_millis(500)); // not yet polled: not timed
    assert_eq!(block_on(future), 30);
    let got = values("async.time");
    assert_eq!(got.len(), 1);
    let Value::Timer(ns) = got[0] else {
        panic!("{got:?}")
    };
    assert!(ns >= 30_000_000, "spans the await: {ns} ns");
    assert!(
        ns < 500_000_000,
        "starts at the first poll, not at creation: {ns} ns"
    );
}

#[test]
fn guards_record_on_every_return_but_not_on_panic() {
    let (z, spy) = Zibrato::spy();
    fn work(z: &Zibrato, fail: bool) -> Result<(), String> {
        let _timer = z.time_me("info", "guarded");
        let _count = z.count_me_by("info", "guarded.calls", 2);
        if fail {
            Err("no".to_string())?;
        }
        Ok(())
    }
    work(&z, false).unwrap();
    work(&z, true).unwrap_err();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _count = z.count_me("info", "guarded.panic");
        panic!("boom");
    }));
    assert!(panicked.is_err());
    {
        let guard = z.time_me("info", "discarded");
        guard.discard();
        let stopped = z.time_me("info", "stopped").stop();
        assert!(stopped > Duration::ZERO);
    }
    assert_eq!(z.counted("info", "closure.calls", || "result"), "result");
    assert_eq!(z.timed("info", "closure.time", || 7), 7);
    z.flush(Duration::from_secs(5)).unwrap();
    let got = spy.take();
    let count = |name: &str| got.iter().filter(|r| r.name == name).count();
    assert_eq!(count("guarded"), 2);
    assert_eq!(count("guarded.calls"), 2);
    assert!(
        got.iter()
            .filter(|r| r.name == "guarded.calls")
            .all(|r| r.value == Value::Counter(2))
    );
    assert_eq!(count("guarded.panic"), 0);
    assert_eq!(count("discarded"), 0);
    assert_eq!(count("stopped"), 1);
    assert_eq!(count("closure.calls"), 1);
    assert_eq!(count("closure.time"), 1);
}

#[test]
fn invalid_names_at_run_time_are_rejected_counted_and_explained() {
    let (z, spy) = Zibrato::spy();
    z.count("not a level", "x");
    z.count("info", "bad\nname");
    z.gauge("info", "g", f64::NAN);
    z.count("info", "good");
    let err = z.try_count_by("info", "", 1).unwrap_err();
    assert!(err.to_string().contains("invalid name"), "{err}");
    let err = z.try_gauge("info", "g", f64::INFINITY).unwrap_err();
    assert!(matches!(err, zibrato::Error::NonFiniteValue { .. }));
    z.flush(Duration::from_secs(5)).unwrap();
    assert_eq!(spy.take().len(), 1);
    let stats = z.stats();
    assert_eq!(stats.rejected, 5);
    assert_eq!(stats.recorded, 1);
}

#[test]
fn zero_values_are_sent_as_zero() {
    let (z, spy) = Zibrato::spy();
    z.count_by("info", "zero.count", 0);
    z.gauge("info", "zero.gauge", 0.0);
    z.flush(Duration::from_secs(5)).unwrap();
    let got: Vec<Value> = spy.take().into_iter().map(|r| r.value).collect();
    assert_eq!(got, [Value::Counter(0), Value::Gauge(0.0)]);
}
