//! The macros through `zibrato-client` alone, and with an explicit `crate = "…"`.

use zibrato_client::{Value, Zibrato};

#[test]
fn the_macros_record_through_zibrato_client_and_an_explicit_path() {
    let (z, spy) = Zibrato::spy();
    zibrato_client::install(z.clone()).unwrap();
    assert_eq!(usage_check_client_only::counted(), 7);
    assert_eq!(usage_check_client_only::timed(), 8);
    z.flush(std::time::Duration::from_secs(5)).unwrap();
    let recorded = spy.take();
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    assert_eq!(
        (&*recorded[0].name, recorded[0].value),
        ("client.calls", Value::Counter(2))
    );
    assert_eq!(&*recorded[1].name, "sdk.time");
}
