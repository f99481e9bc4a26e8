//! Support for Zibrato's end-to-end tests: it starts the real daemons as processes,
//! finds free loopback ports, and plays ZeroMQ publishers and subscribers with real
//! sockets. Nothing here imitates a Zibrato component.

mod http;
mod librato;
mod load;
mod netns;
mod on_host;
mod peers;
mod pipeline;
mod ports;
mod process;
mod statsd;
mod tools;

pub use http::{HttpAnswer, http_get, http_request};
pub use librato::{Answer, Key, LibratoStandIn, MAX_VALUE, Posted, TOO_FAR_IN_THE_PAST};
pub use load::{Load, LoadReport};
pub use netns::{Capture, Host, Hosts, contains};
pub use peers::{Publisher, Subscriber, frame};
pub use pipeline::{connected_client, start_broker, start_console_json, start_worker};
pub use ports::{free_ports, free_udp_port};
pub use process::{
    Daemon, assert_bad_command_lines, bin_path, logged_value, wait_until, wait_until_showing,
};
pub use statsd::{Statsd, find_statsd, rss};
pub use tools::{
    require_hotshots, require_libfaketime, require_otlp_python, require_pystatsd, require_statsd,
    require_tool,
};
