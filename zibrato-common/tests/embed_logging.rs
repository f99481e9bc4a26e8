//! A program that embeds the daemons owns the process's logging: `init_logging`
//! checks the filter and hands it over instead of installing its own stderr writer.
//! (Its own test binary: the embedder is set once per process.)

use std::sync::Mutex;

use tracing_subscriber::EnvFilter;
use zibrato_common::{LoggingError, embed_logging, init_logging};

static GIVEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn keep(filter: EnvFilter) {
    GIVEN.lock().unwrap().push(filter.to_string());
}

#[test]
fn the_embedder_gets_each_valid_filter_and_nothing_is_installed() {
    assert!(embed_logging(keep));
    assert!(!embed_logging(keep), "the first embedder wins");
    init_logging("info,zibrato_broker=debug").expect("a valid filter");
    // Twice: without an embedder the second call would fail with AlreadySet.
    init_logging("warn").expect("a valid filter, again");
    assert!(matches!(
        init_logging("info,=nonsense=="),
        Err(LoggingError::Filter { .. })
    ));
    let given = GIVEN.lock().unwrap().clone();
    assert_eq!(given.len(), 2, "{given:?}");
    assert!(given[0].contains("zibrato_broker=debug"), "{given:?}");
    assert_eq!(given[1], "warn");
    // Nothing was installed: the process still has no global subscriber.
    assert!(tracing::subscriber::set_global_default(tracing_subscriber::registry()).is_ok());
}
