//! The command line, with an environment variable for every flag, and the rules its
//! values follow (shared with [`BrokerOptions::validate`](crate::BrokerOptions::validate)).

use std::net::IpAddr;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use zibrato_common::parse_seconds;
use zibrato_wire::limits::MAX_FRAME_LEN;

/// The broker's command line, with an environment variable for every flag (see
/// `zibrato-broker --help`). A program gives them to [`Broker::bind`](crate::Broker::bind)
/// as [`BrokerOptions`](crate::BrokerOptions) (`BrokerOptions::from(args)`).
#[derive(Debug, Clone, Parser)]
#[command(name = "zibrato-broker", version, about, long_about = None)]
pub struct BrokerArgs {
    /// Address to bind the three ports on. Loopback by default: expose the broker to
    /// other hosts on purpose, with an address of this host's, and with keys
    /// (--curve-secret-file, --curve-allow), or say --insecure.
    #[arg(long, env = "ZIBRATO_BROKER_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Port publishers connect to; workers connect to PORT+1, other brokers link to
    /// PORT+2 (the relay port).
    #[arg(long, env = "ZIBRATO_BROKER_PORT", default_value = "5550", value_parser = parse_port)]
    pub port: u16,

    /// Largest frame accepted, in bytes (at most 1048576, the format's limit). A larger
    /// frame is dropped, counted (`dropped.oversized`) and logged; a message over the
    /// format's limit, which cannot be a frame, is refused by ZeroMQ before it is
    /// buffered, and the connection of the peer that sent it dropped.
    #[arg(long, env = "ZIBRATO_MAX_FRAME_BYTES", default_value = "262144", value_parser = parse_max_frame)]
    pub max_frame_bytes: NonZeroU32,

    /// Frames queued per connected publisher before ZeroMQ stops reading from it
    /// (TCP then pushes back and the publisher counts its own drops).
    #[arg(long, env = "ZIBRATO_PUBLISHER_HWM", default_value = "10000")]
    pub publisher_hwm: NonZeroU32,

    /// Frames queued per connected worker before ZeroMQ drops frames for that worker
    /// alone; the worker sees the loss as gaps in the sequence numbers.
    #[arg(long, env = "ZIBRATO_WORKER_HWM", default_value = "10000")]
    pub worker_hwm: NonZeroU32,

    /// Most topics (levels) subscribed at once across this broker's workers, and wanted
    /// by each linked broker (at most 4096). Only a level's topic or the empty topic is
    /// accepted; a subscription past the bound or of any other form is not passed on
    /// to publishers, and is counted and logged.
    #[arg(long, env = "ZIBRATO_MAX_SUBSCRIPTIONS", default_value = "1024", value_parser = parse_max_subscriptions)]
    pub max_subscriptions: NonZeroU32,

    /// Seconds a level is held after its last subscriber went away (a worker or a
    /// linked broker's workers restarting), and every level after this broker starts:
    /// its frames wait, within --max-held-bytes (--max-replay-bytes for links), and go
    /// out when a subscriber returns.
    #[arg(long, env = "ZIBRATO_BROKER_GRACE", default_value = "30", value_parser = parse_seconds)]
    pub grace: Duration,

    /// Most bytes of frames held for this broker's absent workers; past it the oldest
    /// are dropped, counted. Each frame also costs 64 bytes of bookkeeping, counted
    /// here.
    #[arg(long, env = "ZIBRATO_MAX_HELD_BYTES", default_value = "33554432")]
    pub max_held_bytes: NonZeroU32,

    /// Address to receive device frames on as UDP datagrams, one frame per datagram
    /// (e.g. 127.0.0.1:5560). Off unless given. UDP has no authentication: bind it to a
    /// trusted interface only.
    #[arg(long, env = "ZIBRATO_BROKER_UDP")]
    pub udp: Option<std::net::SocketAddr>,

    /// Path of a byte stream to read device frames from, each COBS-encoded and ended by
    /// a zero byte: a serial device (configured raw with `stty` first) or a FIFO. Off
    /// unless given; reopened when a writer closes it.
    #[arg(long, env = "ZIBRATO_BROKER_STREAM")]
    pub stream: Option<std::path::PathBuf>,

    /// Receive statsd and DogStatsD lines on this address: UDP `HOST:PORT` (statsd's
    /// port is 8125), or a Unix datagram socket `unix:///path`. Off unless given. Lines
    /// become measurements on --statsd-level, forwarded like any publisher's. UDP has
    /// no authentication: off loopback it needs --insecure.
    #[arg(long, env = "ZIBRATO_STATSD")]
    pub statsd: Option<crate::statsd::Listen>,

    /// The level of statsd lines.
    #[arg(long, env = "ZIBRATO_STATSD_LEVEL", default_value = "info", value_parser = parse_level)]
    pub statsd_level: String,

    /// Levels a statsd line's `level` tag may pick, comma separated; any other `level`
    /// tag is an ordinary tag.
    #[arg(long, env = "ZIBRATO_STATSD_LEVELS", value_delimiter = ',', value_parser = parse_level)]
    pub statsd_levels: Vec<String>,

    /// The source of statsd lines without a `source` or `host` tag; none by default.
    #[arg(long, env = "ZIBRATO_STATSD_SOURCE", value_parser = parse_name)]
    pub statsd_source: Option<String>,

    /// Most statsd names remembered at once (a gauge's current value, for `+N`/`-N`; a
    /// sampled counter's fraction); past it, the least recently seen are forgotten,
    /// counted.
    #[arg(long, env = "ZIBRATO_STATSD_MAX_KEYS", default_value = "100000")]
    pub statsd_max_keys: NonZeroU32,

    /// The kernel receive buffer asked for the statsd UDP socket, bytes: room for a
    /// burst while the ingress is busy (8 MiB holds about 100 000 short lines). Linux
    /// grants at most `net.core.rmem_max`; the start-up log says what was granted.
    /// What overflows it is dropped by the kernel, counted as `statsd_kernel_dropped`.
    #[arg(long, env = "ZIBRATO_STATSD_RECEIVE_BUFFER", default_value = "8388608")]
    pub statsd_receive_buffer: NonZeroU32,

    /// Seconds between self-metric frames on the level `zibrato`.
    #[arg(long, env = "ZIBRATO_STATS_INTERVAL", default_value = "10", value_parser = parse_seconds)]
    pub stats_interval: Duration,

    /// Also forward to another broker, `tcp://HOST:PORT` (its relay port: its
    /// `--port` plus 2, 5552 by default), so a host-local broker can feed a central one, over an
    /// acknowledged link: every frame is kept until the upstream has it, and sent again
    /// after a reconnect. The levels the upstream's workers want flow back down to
    /// this host's publishers.
    #[arg(long, env = "ZIBRATO_UPSTREAM", value_parser = parse_upstream)]
    pub upstream: Option<String>,

    /// Also take from the --upstream broker the levels this broker's workers subscribe
    /// to (frames from every host), acknowledged like the frames sent up: how a worker
    /// on another host than the central broker gets the same guarantee.
    #[arg(long, env = "ZIBRATO_SUBSCRIBE_UPSTREAM", requires = "upstream")]
    pub subscribe_upstream: bool,

    /// This broker's name on its --upstream link, the same across its restarts (the
    /// upstream knows a restarted broker by it): `SOURCE:PORT` by default. Two brokers
    /// linked to one upstream must not share a name.
    #[arg(long, env = "ZIBRATO_RELAY_NAME", value_parser = parse_name)]
    pub relay_name: Option<String>,

    /// Most bytes of frames kept for linked brokers (the --upstream one and those
    /// linked to this one's relay port, together) while they have not acknowledged
    /// them: frames sent and not yet acknowledged, and all of a link's frames while it
    /// is down. Past it the oldest frame of the link keeping the most is dropped,
    /// counted. Each frame also costs 64 bytes of bookkeeping, counted here.
    #[arg(long, env = "ZIBRATO_MAX_REPLAY_BYTES", default_value = "268435456")]
    pub max_replay_bytes: NonZeroU64,

    /// Most brokers linked to this one's relay port at once; one more is refused,
    /// counted (`relay_refused`) and logged.
    #[arg(long, env = "ZIBRATO_MAX_RELAYS", default_value = "256")]
    pub max_relays: NonZeroU32,

    /// Seconds after which a linked broker not heard from is forgotten, with the
    /// frames kept for it (counted as `relays.dropped_gone`). A linked broker speaks at
    /// least every 2 s while connected.
    #[arg(long, env = "ZIBRATO_RELAY_EXPIRY", default_value = "3600", value_parser = parse_seconds)]
    pub relay_expiry: Duration,

    /// Seconds a stop may take to deliver what linked brokers have not acknowledged
    /// yet; what is still waiting then is dropped, counted, logged, and the exit
    /// status is 3.
    #[arg(long, env = "ZIBRATO_BROKER_SHUTDOWN_TIMEOUT", default_value = "5", value_parser = parse_seconds)]
    pub shutdown_timeout: Duration,

    /// Source of the self-metrics; the host name by default.
    #[arg(long, env = "ZIBRATO_SOURCE")]
    pub source: Option<String>,

    /// This broker's secret key (a certificate from `zibrato-broker keygen`, readable by
    /// its owner only; never the key itself on the command line). With --curve-allow,
    /// its three ports become CURVE servers: encrypted, and only peers whose public key
    /// is allowed get in. With --upstream-key, its --upstream link presents this key.
    #[arg(long, env = "ZIBRATO_CURVE_SECRET_FILE")]
    pub curve_secret_file: Option<PathBuf>,

    /// The public keys allowed to connect to this broker's ports: a directory of public
    /// certificates (`*.key`), or a file of keys (one per line, 40 Z85 characters).
    /// Needs --curve-secret-file. Reread on SIGHUP; a peer whose key was removed gets
    /// nothing more through.
    #[arg(long, env = "ZIBRATO_CURVE_ALLOW", requires = "curve_secret_file")]
    pub curve_allow: Option<PathBuf>,

    /// The --upstream broker's public key, pinned: its 40 Z85 characters or its public
    /// certificate's path. Needs --curve-secret-file (the key this broker presents).
    /// An upstream off this host without it needs --insecure.
    #[arg(long, env = "ZIBRATO_UPSTREAM_KEY", requires_all = ["upstream", "curve_secret_file"])]
    pub upstream_key: Option<String>,

    /// Bind an address other hosts can reach, or link to an upstream on another host,
    /// without keys: anyone who reaches the ports can then publish any level and read
    /// every one, and the measurements cross the network in plain text.
    #[arg(long, env = "ZIBRATO_INSECURE")]
    pub insecure: bool,

    /// Log filter: error, warn, info, debug or trace.
    #[arg(long, env = "ZIBRATO_LOG", default_value = "info")]
    pub log_level: String,
}

/// A TCP endpoint for ZeroMQ; IPv6 addresses go in brackets.
pub fn endpoint(host: IpAddr, port: u16) -> String {
    match host {
        IpAddr::V4(v4) => format!("tcp://{v4}:{port}"),
        IpAddr::V6(v6) => format!("tcp://[{v6}]:{port}"),
    }
}

fn parse_port(text: &str) -> Result<u16, String> {
    let port: u16 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a port number (1 to 65533)"))?;
    check_port(port).map(|()| port)
}

/// A publisher port leaves room for the worker port PORT+1 and the relay port PORT+2.
pub(crate) fn check_port(port: u16) -> Result<(), String> {
    match port {
        0 => Err("port 0 is not a port to bind; choose 1 to 65533".into()),
        65534.. => Err(format!(
            "port {port} leaves no room for the worker port PORT+1 and the relay port PORT+2; choose 1 to 65533"
        )),
        _ => Ok(()),
    }
}

fn parse_max_subscriptions(text: &str) -> Result<NonZeroU32, String> {
    let max: NonZeroU32 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a positive number"))?;
    check_max_subscriptions(max).map(|()| max)
}

/// Subscriptions fit in one relay message.
pub(crate) fn check_max_subscriptions(max: NonZeroU32) -> Result<(), String> {
    if max.get() as usize > zibrato_wire::relay::MAX_WANTS {
        return Err(format!(
            "{max} exceeds the {} topics a relay message can list",
            zibrato_wire::relay::MAX_WANTS
        ));
    }
    Ok(())
}

fn parse_level(text: &str) -> Result<String, String> {
    zibrato_wire::Level::new(text.trim())
        .map(|l| l.as_str().to_string())
        .map_err(|e| format!("{text:?}: {e}"))
}

/// A level as the wire allows it.
pub(crate) fn check_level(text: &str) -> Result<(), String> {
    zibrato_wire::Level::new(text)
        .map(|_| ())
        .map_err(|e| format!("{text:?}: {e}"))
}

fn parse_name(text: &str) -> Result<String, String> {
    check_name(text).map(|()| text.to_string())
}

/// A name or source as the wire allows it.
pub(crate) fn check_name(text: &str) -> Result<(), String> {
    zibrato_wire::validate_name(text).map_err(|e| format!("{text:?}: {e}"))
}

fn parse_max_frame(text: &str) -> Result<NonZeroU32, String> {
    let bytes: NonZeroU32 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a positive number of bytes"))?;
    check_max_frame(bytes).map(|()| bytes)
}

/// A frame limit within the format's.
pub(crate) fn check_max_frame(bytes: NonZeroU32) -> Result<(), String> {
    if bytes.get() as usize > MAX_FRAME_LEN {
        return Err(format!(
            "{bytes} bytes exceeds the format's limit of {MAX_FRAME_LEN}"
        ));
    }
    Ok(())
}

fn parse_upstream(text: &str) -> Result<String, String> {
    check_upstream(text).map(|()| text.to_string())
}

/// An upstream of the form `tcp://HOST:PORT`.
pub(crate) fn check_upstream(text: &str) -> Result<(), String> {
    let rest = text
        .strip_prefix("tcp://")
        .ok_or_else(|| format!("{text:?} is not of the form tcp://HOST:PORT"))?;
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| format!("{text:?} has no port; expected tcp://HOST:PORT"))?;
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(format!("{text:?} is not of the form tcp://HOST:PORT"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(args: &[&str]) -> crate::BrokerOptions {
        crate::BrokerOptions::from(BrokerArgs::try_parse_from(args).unwrap())
    }

    #[test]
    fn defaults_are_the_originals() {
        let config = options(&["zibrato-broker"]);
        assert_eq!(config, crate::BrokerOptions::default());
        assert_eq!(config.publisher_endpoint(), "tcp://127.0.0.1:5550");
        assert_eq!(config.worker_endpoint(), "tcp://127.0.0.1:5551");
        assert_eq!(config.relay_endpoint(), "tcp://127.0.0.1:5552");
        let named = options(&["b", "--source", "web-1", "--port", "6000"]);
        assert_eq!(named.relay_name(), "web-1:6000");
    }

    #[test]
    fn bad_values_are_named() {
        let err = |args: &[&str]| BrokerArgs::try_parse_from(args).unwrap_err().to_string();
        assert!(err(&["b", "--port", "65534"]).contains("no room for the worker port"));
        assert!(err(&["b", "--max-subscriptions", "5000"]).contains("4096"));
        assert!(err(&["b", "--subscribe-upstream"]).contains("--upstream"));
        assert!(err(&["b", "--curve-allow", "k"]).contains("--curve-secret-file"));
        assert!(
            err(&["b", "--upstream-key", "k", "--upstream", "tcp://a:1"])
                .contains("--curve-secret-file")
        );
        assert!(err(&["b", "--host", "localhost"]).contains("invalid IP address"));
        assert!(err(&["b", "--upstream", "udp://x:1"]).contains("tcp://HOST:PORT"));
        assert!(err(&["b", "--stats-interval", "0"]).contains("more than 0"));
        assert!(err(&["b", "--max-frame-bytes", "2000000"]).contains("limit"));
    }

    #[test]
    fn ipv6_goes_in_brackets() {
        let config = options(&["b", "--host", "::1", "--port", "7000"]);
        assert_eq!(config.worker_endpoint(), "tcp://[::1]:7001");
    }
}
