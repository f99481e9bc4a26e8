//! The macros, used through a dependency renamed in Cargo.toml, record through it.

use zb::{Kind, Zibrato};

#[test]
fn the_macros_record_through_a_renamed_dependency() {
    let (z, spy) = Zibrato::spy();
    zb::install(z.clone()).unwrap();
    assert_eq!(usage_check_renamed::counted(), 7);
    assert_eq!(usage_check_renamed::timed(), 8);
    z.flush(std::time::Duration::from_secs(5)).unwrap();
    let recorded = spy.take();
    let seen: Vec<(&str, Kind)> = recorded
        .iter()
        .map(|r| (&*r.name, r.value.kind()))
        .collect();
    assert_eq!(
        seen,
        [
            ("renamed.calls", Kind::Counter),
            ("renamed.time", Kind::Timer)
        ]
    );
}
