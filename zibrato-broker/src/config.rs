//! The command line, with an environment variable for every flag.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use clap::Parser;
use zibrato_common::parse_seconds;
use zibrato_wire::limits::MAX_FRAME_LEN;

/// Receives measurement frames from publishers on PORT, validates each one, and
/// forwards it to the workers on PORT+1 that subscribe to its level.
#[derive(Debug, Clone, Parser)]
#[command(name = "zibrato-broker", version, about, long_about = None)]
pub struct Config {
    /// Address to bind both ports on. Loopback by default: expose the broker to other
    /// hosts on purpose, with an address of this host's.
    #[arg(long, env = "ZIBRATO_BROKER_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Port publishers connect to; workers connect to PORT+1.
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

    /// Most topics (levels) subscribed at once across this broker's workers (and as many
    /// again for an `--upstream` broker's). Only a level's
    /// topic or the empty topic is accepted; a subscription past the bound or of any
    /// other form is not passed on to publishers, and is counted and logged.
    #[arg(long, env = "ZIBRATO_MAX_SUBSCRIPTIONS", default_value = "1024")]
    pub max_subscriptions: NonZeroU32,

    /// Seconds a level is held after its last subscriber went away (a worker or an
    /// upstream broker restarting), and every level after this broker starts: its
    /// frames wait, within --max-held-bytes, and go out when a subscriber returns.
    #[arg(long, env = "ZIBRATO_BROKER_GRACE", default_value = "30", value_parser = parse_seconds)]
    pub grace: Duration,

    /// Most bytes of frames held for absent subscribers, for this broker's workers (and
    /// as many again for an upstream broker); past it the oldest are dropped, counted.
    #[arg(long, env = "ZIBRATO_MAX_HELD_BYTES", default_value = "33554432")]
    pub max_held_bytes: NonZeroU32,

    /// Address to receive device frames on as UDP datagrams, one frame per datagram
    /// (e.g. 127.0.0.1:5552). Off unless given. UDP has no authentication: bind it to a
    /// trusted interface only.
    #[arg(long, env = "ZIBRATO_BROKER_UDP")]
    pub udp: Option<std::net::SocketAddr>,

    /// Path of a byte stream to read device frames from, each COBS-encoded and ended by
    /// a zero byte: a serial device (configured raw with `stty` first) or a FIFO. Off
    /// unless given; reopened when a writer closes it.
    #[arg(long, env = "ZIBRATO_BROKER_STREAM")]
    pub stream: Option<std::path::PathBuf>,

    /// Seconds between self-metric frames on the level `zibrato`.
    #[arg(long, env = "ZIBRATO_STATS_INTERVAL", default_value = "10", value_parser = parse_seconds)]
    pub stats_interval: Duration,

    /// Also forward every frame to another broker, `tcp://HOST:PORT` (its publisher
    /// port), so a host-local broker can feed a central one. Subscriptions made at the
    /// central broker flow back down to this host's publishers.
    #[arg(long, env = "ZIBRATO_UPSTREAM", value_parser = parse_upstream)]
    pub upstream: Option<String>,

    /// Source of the self-metrics; the host name by default.
    #[arg(long, env = "ZIBRATO_SOURCE")]
    pub source: Option<String>,

    /// Log filter: error, warn, info, debug or trace.
    #[arg(long, env = "ZIBRATO_LOG", default_value = "info")]
    pub log_level: String,
}

impl Config {
    /// The port workers connect to.
    pub fn worker_port(&self) -> u16 {
        // parse_port keeps the port below u16::MAX.
        self.port + 1
    }

    /// Where publishers connect, as a ZeroMQ endpoint.
    pub fn publisher_endpoint(&self) -> String {
        endpoint(self.host, self.port)
    }

    /// Where workers connect, as a ZeroMQ endpoint.
    pub fn worker_endpoint(&self) -> String {
        endpoint(self.host, self.worker_port())
    }
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
        .map_err(|_| format!("{text:?} is not a port number (1 to 65534)"))?;
    match port {
        0 => Err("port 0 is not a port to bind; choose 1 to 65534".into()),
        u16::MAX => {
            Err("port 65535 leaves no room for the worker port PORT+1; choose 1 to 65534".into())
        }
        port => Ok(port),
    }
}

fn parse_max_frame(text: &str) -> Result<NonZeroU32, String> {
    let bytes: NonZeroU32 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a positive number of bytes"))?;
    if bytes.get() as usize > MAX_FRAME_LEN {
        return Err(format!(
            "{bytes} bytes exceeds the format's limit of {MAX_FRAME_LEN}"
        ));
    }
    Ok(bytes)
}

fn parse_upstream(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("tcp://")
        .ok_or_else(|| format!("{text:?} is not of the form tcp://HOST:PORT"))?;
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| format!("{text:?} has no port; expected tcp://HOST:PORT"))?;
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(format!("{text:?} is not of the form tcp://HOST:PORT"));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_originals() {
        let config = Config::try_parse_from(["zibrato-broker"]).unwrap();
        assert_eq!(config.publisher_endpoint(), "tcp://127.0.0.1:5550");
        assert_eq!(config.worker_endpoint(), "tcp://127.0.0.1:5551");
    }

    #[test]
    fn bad_values_are_named() {
        let err = |args: &[&str]| Config::try_parse_from(args).unwrap_err().to_string();
        assert!(err(&["b", "--port", "65535"]).contains("no room for the worker port"));
        assert!(err(&["b", "--host", "localhost"]).contains("invalid IP address"));
        assert!(err(&["b", "--upstream", "udp://x:1"]).contains("tcp://HOST:PORT"));
        assert!(err(&["b", "--stats-interval", "0"]).contains("more than 0"));
        assert!(err(&["b", "--max-frame-bytes", "2000000"]).contains("limit"));
    }

    #[test]
    fn ipv6_goes_in_brackets() {
        let config = Config::try_parse_from(["b", "--host", "::1", "--port", "7000"]).unwrap();
        assert_eq!(config.worker_endpoint(), "tcp://[::1]:7001");
    }
}
