//! What a broker does, as a library call takes it: [`BrokerOptions`], built from the
//! command line ([`BrokerArgs`]) or from its defaults, and checked by the same rules as
//! the command line, so the command line can grow without breaking programs that run a
//! broker.

use std::net::{IpAddr, Ipv4Addr};
use std::num::{NonZeroU32, NonZeroU64};
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{
    check_level, check_max_frame, check_max_subscriptions, check_name, check_port, check_upstream,
    endpoint,
};
use crate::{BrokerArgs, BrokerError};

/// A broker's settings for [`Broker::bind`](crate::Broker::bind).
///
/// The `zibrato-broker` binary builds it from its command line
/// (`BrokerOptions::from(args)`); a program that embeds a broker starts from
/// [`Default`] and sets fields. New settings arrive as new fields with defaults, so
/// such code keeps compiling. The defaults are the command line's; each field's
/// meaning is that of the flag of the same name (`--max-held-bytes` for
/// `max_held_bytes`), documented in full on [`BrokerArgs`]; [`Broker::bind`] refuses
/// values the command line would refuse ([`validate`](Self::validate)).
///
/// [`Broker::bind`]: crate::Broker::bind
///
/// ```
/// let mut options = zibrato_broker::BrokerOptions::default();
/// options.port = 6550;
/// options.grace = std::time::Duration::from_secs(60);
/// assert_eq!(options.worker_endpoint(), "tcp://127.0.0.1:6551");
/// assert!(options.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BrokerOptions {
    /// Address to bind the three ports on. (`--host`)
    pub host: IpAddr,
    /// Port publishers connect to; workers connect to PORT+1, other brokers link to PORT+2
    /// (the relay port). (`--port`)
    pub port: u16,
    /// Largest frame accepted, in bytes (at most 1048576, the format's limit). (`--max-
    /// frame-bytes`)
    pub max_frame_bytes: NonZeroU32,
    /// Frames queued per connected publisher before ZeroMQ stops reading from it (TCP then
    /// pushes back and the publisher counts its own drops). (`--publisher-hwm`)
    pub publisher_hwm: NonZeroU32,
    /// Frames queued per connected worker before ZeroMQ drops frames for that worker alone;
    /// the worker sees the loss as gaps in the sequence numbers. (`--worker-hwm`)
    pub worker_hwm: NonZeroU32,
    /// Most topics (levels) subscribed at once across this broker's workers, and wanted by
    /// each linked broker (at most 4096). (`--max-subscriptions`)
    pub max_subscriptions: NonZeroU32,
    /// Seconds a level is held after its last subscriber went away (a worker or a linked
    /// broker's workers restarting), and every level after this broker starts: its frames
    /// wait, within --max-held-bytes (--max-replay-bytes for links), and go out when a
    /// subscriber returns. (`--grace`)
    pub grace: Duration,
    /// Most bytes of frames held for this broker's absent workers; past it the oldest are
    /// dropped, counted. (`--max-held-bytes`)
    pub max_held_bytes: NonZeroU32,
    /// Address to receive device frames on as UDP datagrams, one frame per datagram (e.g.
    /// (`--udp`)
    pub udp: Option<std::net::SocketAddr>,
    /// Path of a byte stream to read device frames from, each COBS-encoded and ended by a
    /// zero byte: a serial device (configured raw with `stty` first) or a FIFO.
    /// (`--stream`)
    pub stream: Option<PathBuf>,
    /// Receive statsd and DogStatsD lines on this address: UDP `HOST:PORT` (statsd's port
    /// is 8125), or a Unix datagram socket `unix:///path`. (`--statsd`)
    pub statsd: Option<crate::statsd::Listen>,
    /// The level of statsd lines. (`--statsd-level`)
    pub statsd_level: String,
    /// Levels a statsd line's `level` tag may pick, comma separated; any other `level` tag
    /// is an ordinary tag. (`--statsd-levels`)
    pub statsd_levels: Vec<String>,
    /// The source of statsd lines without a `source` or `host` tag; none by default.
    /// (`--statsd-source`)
    pub statsd_source: Option<String>,
    /// Most statsd names remembered at once (a gauge's current value, for `+N`/`-N`; a
    /// sampled counter's fraction); past it, the least recently seen are forgotten,
    /// counted. (`--statsd-max-keys`)
    pub statsd_max_keys: NonZeroU32,
    /// The kernel receive buffer asked for the statsd UDP socket, bytes: room for a burst
    /// while the ingress is busy (8 MiB holds about 100 000 short lines). (`--statsd-
    /// receive-buffer`)
    pub statsd_receive_buffer: NonZeroU32,
    /// Seconds between self-metric frames on the level `zibrato`. (`--stats-interval`)
    pub stats_interval: Duration,
    /// Also forward to another broker, `tcp://HOST:PORT` (its relay port: its `--port` plus
    /// 2, 5552 by default), so a host-local broker can feed a central one, over an
    /// acknowledged link: every frame is kept until the upstream has it, and sent again
    /// after a reconnect. (`--upstream`)
    pub upstream: Option<String>,
    /// Also take from the --upstream broker the levels this broker's workers subscribe to
    /// (frames from every host), acknowledged like the frames sent up: how a worker on
    /// another host than the central broker gets the same guarantee. (`--subscribe-
    /// upstream`)
    pub subscribe_upstream: bool,
    /// This broker's name on its --upstream link, the same across its restarts (the
    /// upstream knows a restarted broker by it): `SOURCE:PORT` by default. (`--relay-name`)
    pub relay_name: Option<String>,
    /// Most bytes of frames kept for linked brokers (the --upstream one and those linked to
    /// this one's relay port, together) while they have not acknowledged them: frames sent
    /// and not yet acknowledged, and all of a link's frames while it is down. (`--max-
    /// replay-bytes`)
    pub max_replay_bytes: NonZeroU64,
    /// Most brokers linked to this one's relay port at once; one more is refused, counted
    /// (`relay_refused`) and logged. (`--max-relays`)
    pub max_relays: NonZeroU32,
    /// Seconds after which a linked broker not heard from is forgotten, with the frames
    /// kept for it (counted as `relays.dropped_gone`). (`--relay-expiry`)
    pub relay_expiry: Duration,
    /// Seconds a stop may take to deliver what linked brokers have not acknowledged yet;
    /// what is still waiting then is dropped, counted, logged, and the exit status is 3.
    /// (`--shutdown-timeout`)
    pub shutdown_timeout: Duration,
    /// Source of the self-metrics; the host name by default. (`--source`)
    pub source: Option<String>,
    /// This broker's secret key (a certificate from `zibrato-broker keygen`, readable by
    /// its owner only; never the key itself on the command line). (`--curve-secret-file`)
    pub curve_secret_file: Option<PathBuf>,
    /// The public keys allowed to connect to this broker's ports: a directory of public
    /// certificates (`*.key`), or a file of keys (one per line, 40 Z85 characters).
    /// (`--curve-allow`)
    pub curve_allow: Option<PathBuf>,
    /// The --upstream broker's public key, pinned: its 40 Z85 characters or its public
    /// certificate's path. (`--upstream-key`)
    pub upstream_key: Option<String>,
    /// Bind an address other hosts can reach, or link to an upstream on another host,
    /// without keys: anyone who reaches the ports can then publish any level and read every
    /// one, and the measurements cross the network in plain text. (`--insecure`)
    pub insecure: bool,
    /// Log filter: error, warn, info, debug or trace. (`--log-level`)
    pub log_level: String,
}

/// A `NonZeroU32` default (the constants are not zero).
const fn nz32(value: u32) -> NonZeroU32 {
    match NonZeroU32::new(value) {
        Some(value) => value,
        None => NonZeroU32::MIN,
    }
}

impl Default for BrokerOptions {
    fn default() -> Self {
        BrokerOptions {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 5550,
            max_frame_bytes: nz32(262_144),
            publisher_hwm: nz32(10_000),
            worker_hwm: nz32(10_000),
            max_subscriptions: nz32(1024),
            grace: Duration::from_secs(30),
            max_held_bytes: nz32(32 << 20),
            udp: None,
            stream: None,
            statsd: None,
            statsd_level: "info".to_string(),
            statsd_levels: Vec::new(),
            statsd_source: None,
            statsd_max_keys: nz32(100_000),
            statsd_receive_buffer: nz32(8 << 20),
            stats_interval: Duration::from_secs(10),
            upstream: None,
            subscribe_upstream: false,
            relay_name: None,
            max_replay_bytes: NonZeroU64::new(256 << 20).unwrap_or(NonZeroU64::MIN),
            max_relays: nz32(256),
            relay_expiry: Duration::from_secs(3600),
            shutdown_timeout: Duration::from_secs(5),
            source: None,
            curve_secret_file: None,
            curve_allow: None,
            upstream_key: None,
            insecure: false,
            log_level: "info".to_string(),
        }
    }
}

impl From<BrokerArgs> for BrokerOptions {
    fn from(args: BrokerArgs) -> Self {
        BrokerOptions {
            host: args.host,
            port: args.port,
            max_frame_bytes: args.max_frame_bytes,
            publisher_hwm: args.publisher_hwm,
            worker_hwm: args.worker_hwm,
            max_subscriptions: args.max_subscriptions,
            grace: args.grace,
            max_held_bytes: args.max_held_bytes,
            udp: args.udp,
            stream: args.stream,
            statsd: args.statsd,
            statsd_level: args.statsd_level,
            statsd_levels: args.statsd_levels,
            statsd_source: args.statsd_source,
            statsd_max_keys: args.statsd_max_keys,
            statsd_receive_buffer: args.statsd_receive_buffer,
            stats_interval: args.stats_interval,
            upstream: args.upstream,
            subscribe_upstream: args.subscribe_upstream,
            relay_name: args.relay_name,
            max_replay_bytes: args.max_replay_bytes,
            max_relays: args.max_relays,
            relay_expiry: args.relay_expiry,
            shutdown_timeout: args.shutdown_timeout,
            source: args.source,
            curve_secret_file: args.curve_secret_file,
            curve_allow: args.curve_allow,
            upstream_key: args.upstream_key,
            insecure: args.insecure,
            log_level: args.log_level,
        }
    }
}

impl BrokerOptions {
    /// The port workers connect to, PORT+1.
    pub fn worker_port(&self) -> u16 {
        // validate (and the command line) keep the port below u16::MAX - 1.
        self.port.saturating_add(1)
    }

    /// The port other brokers link to, PORT+2.
    pub fn relay_port(&self) -> u16 {
        self.port.saturating_add(2)
    }

    /// `tcp://HOST:PORT` for publishers.
    pub fn publisher_endpoint(&self) -> String {
        endpoint(self.host, self.port)
    }

    /// `tcp://HOST:PORT+1` for workers.
    pub fn worker_endpoint(&self) -> String {
        endpoint(self.host, self.worker_port())
    }

    /// `tcp://HOST:PORT+2` for linked brokers.
    pub fn relay_endpoint(&self) -> String {
        endpoint(self.host, self.relay_port())
    }

    /// The upstream broker's host, if there is one.
    pub fn upstream_host(&self) -> Option<&str> {
        let rest = self.upstream.as_deref()?.strip_prefix("tcp://")?;
        rest.rsplit_once(':').map(|(host, _)| host)
    }

    /// This broker's name on its upstream link: `relay_name`, else `SOURCE:PORT` with
    /// the source (or the host name).
    pub fn relay_name(&self) -> String {
        self.relay_name.clone().unwrap_or_else(|| {
            let source = self
                .source
                .clone()
                .unwrap_or_else(|| zibrato_common::host_name("zibrato-broker"));
            format!("{source}:{}", self.port)
        })
    }

    /// Checks what the command line checks: the port leaves room for PORT+2, limits
    /// within the format's, levels and names the wire allows, the upstream's form,
    /// and the settings that need another (`subscribe_upstream` an `upstream`,
    /// `curve_allow` and `upstream_key` a `curve_secret_file`).
    ///
    /// # Errors
    ///
    /// [`BrokerError::Options`], naming the setting and what is wrong with it.
    pub fn validate(&self) -> Result<(), BrokerError> {
        let named =
            |setting: &'static str| move |reason: String| BrokerError::Options { setting, reason };
        check_port(self.port).map_err(named("port"))?;
        check_max_frame(self.max_frame_bytes).map_err(named("max_frame_bytes"))?;
        check_max_subscriptions(self.max_subscriptions).map_err(named("max_subscriptions"))?;
        check_level(&self.statsd_level).map_err(named("statsd_level"))?;
        for level in &self.statsd_levels {
            check_level(level).map_err(named("statsd_levels"))?;
        }
        if let Some(source) = &self.statsd_source {
            check_name(source).map_err(named("statsd_source"))?;
        }
        if let Some(name) = &self.relay_name {
            check_name(name).map_err(named("relay_name"))?;
        }
        if let Some(upstream) = &self.upstream {
            check_upstream(upstream).map_err(named("upstream"))?;
        }
        let needs = |setting: &'static str, given: bool, needed: bool, what: &str| {
            if given && !needed {
                Err(BrokerError::Options {
                    setting,
                    reason: format!("needs {what}"),
                })
            } else {
                Ok(())
            }
        };
        needs(
            "subscribe_upstream",
            self.subscribe_upstream,
            self.upstream.is_some(),
            "an upstream",
        )?;
        let secret = self.curve_secret_file.is_some();
        needs(
            "curve_allow",
            self.curve_allow.is_some(),
            secret,
            "a curve_secret_file",
        )?;
        needs(
            "upstream_key",
            self.upstream_key.is_some(),
            secret,
            "a curve_secret_file",
        )?;
        needs(
            "upstream_key",
            self.upstream_key.is_some(),
            self.upstream.is_some(),
            "an upstream",
        )?;
        if self.grace.is_zero() || self.stats_interval.is_zero() || self.relay_expiry.is_zero() {
            return Err(BrokerError::Options {
                setting: "grace, stats_interval or relay_expiry",
                reason: "a duration of zero".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(change: impl FnOnce(&mut BrokerOptions)) -> String {
        let mut options = BrokerOptions::default();
        change(&mut options);
        options.validate().unwrap_err().to_string()
    }

    #[test]
    fn the_defaults_are_valid() {
        assert!(BrokerOptions::default().validate().is_ok());
    }

    #[test]
    fn what_the_command_line_refuses_is_refused() {
        assert!(refused(|o| o.port = 65534).contains("no room for the worker port"));
        assert!(refused(|o| o.port = 0).contains("port 0"));
        assert!(refused(|o| o.max_frame_bytes = nz32(2_000_000)).contains("limit"));
        assert!(refused(|o| o.max_subscriptions = nz32(5000)).contains("4096"));
        assert!(refused(|o| o.statsd_level = "in fo".into()).contains("statsd_level"));
        assert!(refused(|o| o.statsd_levels = vec![String::new()]).contains("statsd_levels"));
        assert!(refused(|o| o.relay_name = Some("a\nb".into())).contains("relay_name"));
        assert!(refused(|o| o.upstream = Some("udp://x:1".into())).contains("tcp://HOST:PORT"));
        assert!(refused(|o| o.subscribe_upstream = true).contains("needs an upstream"));
        assert!(refused(|o| o.curve_allow = Some("k".into())).contains("curve_secret_file"));
        assert!(refused(|o| o.grace = Duration::ZERO).contains("zero"));
    }
}
