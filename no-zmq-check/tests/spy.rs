//! Without the `zmq` feature: the macros record into an installed spy, guards and the
//! no-op client work, and a broker client is refused with a clear error.

use zibrato::{Error, Kind, Zibrato};

#[test]
fn macros_guards_and_spy_work_without_zeromq() {
    let (client, spy) = Zibrato::spy();
    zibrato::install(client.clone()).expect("the first install");
    assert_eq!(zibrato_no_zmq_check::parse(" 42 "), Some(42));
    assert_eq!(zibrato_no_zmq_check::parse("x"), None);
    {
        let _guard = client.time_me("info", "block");
        client.count("info", "direct");
    }
    client.flush(std::time::Duration::from_secs(5)).expect("flushed");
    let recorded = spy.measurements();
    let of = |name: &str, kind: Kind| recorded.iter().filter(|r| r.name == name && r.kind() == kind).count();
    assert_eq!(of("parse.calls", Kind::Counter), 2);
    assert_eq!(of("parse", Kind::Timer), 2);
    assert_eq!(of("block", Kind::Timer), 1);
    assert_eq!(of("direct", Kind::Counter), 1);

    Zibrato::noop().count("info", "nowhere");
    match Zibrato::builder().port(5550).build() {
        Err(Error::NoTransport) => {}
        other => panic!("a broker client without zmq: {other:?}"),
    }
}
