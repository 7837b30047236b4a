//! The hub's metrics page, written by `prometheus-client`'s encoder from a
//! snapshot of the hub's counters. The names are fixed: dashboards and
//! checks rely on them (docs/operations.md says what each means).
//!
//! The encoder writes OpenMetrics, which Prometheus asks for first. Other
//! readers (curl, `promtool check metrics`) get the older Prometheus text
//! format: the same lines, but a counter's or an info's `# HELP` and
//! `# TYPE` name the samples' `_total` or `_info` name, an info is a gauge,
//! and there is no `# EOF` ([`Format`]).

use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::cluster::ClusterCounters;
use crate::hub::{HubCounters, HubStats, LoginResult, MessageResult};
use crate::reactor::udp::UdpStats;

/// The two formats of the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// What a request that accepts `application/openmetrics-text` gets.
    OpenMetrics,
    /// The Prometheus text format 0.0.4, for everyone else.
    PrometheusText,
}

impl Format {
    /// The format a request's `Accept` header asks for.
    pub fn accepted(accept: Option<&[u8]>) -> Self {
        let wants =
            |needle: &[u8]| accept.is_some_and(|a| a.windows(needle.len()).any(|w| w == needle));
        if wants(b"application/openmetrics-text") {
            Format::OpenMetrics
        } else {
            Format::PrometheusText
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// What the page shows, read off the hub and its socket at one moment.
pub struct Snapshot<'a> {
    pub stats: HubStats,
    pub counters: &'a HubCounters,
    /// All zero for a hub alone.
    pub cluster: ClusterCounters,
    pub udp: UdpStats,
    pub accounts: usize,
    /// When the server started, by the wall clock.
    pub started: SystemTime,
    pub reloads: Reloads,
}

/// What the reloads of the accounts file (SIGHUP) came to. Kept by the
/// server, which reads the wall clock; the load at start is not one.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reloads {
    pub ok: Tally,
    pub failed: Tally,
}

/// How many reloads ended one way, and when the last of them did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    pub count: u64,
    /// By the wall clock; `None` before the first (0 on the page, so that
    /// comparing the last failure with the last success needs no `absent`).
    pub last: Option<SystemTime>,
}

impl Tally {
    pub fn record(&mut self, at: SystemTime) {
        self.count += 1;
        self.last = Some(at);
    }
}

/// One label, `name="value"`.
type Label = [(&'static str, &'static str); 1];

/// The page. Built afresh for each scrape (a few dozen series), so the
/// message path only bumps plain integers and never touches the encoder.
pub fn render(snapshot: &Snapshot, format: Format) -> String {
    let Snapshot {
        stats,
        counters,
        cluster,
        udp,
        accounts,
        started,
        reloads,
    } = snapshot;
    let mut registry = Registry::default();
    let mut gauge = |name: &str, help: &str, value: usize| {
        let gauge: Gauge = Gauge::default();
        gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        registry.register(name, help, gauge);
    };
    gauge(
        "reactor_hub_sessions_online",
        "Sessions online now",
        stats.online,
    );
    gauge(
        "reactor_hub_forwards_pending",
        "Forwarded messages awaiting their receipts now",
        stats.pending,
    );
    gauge(
        "reactor_hub_accounts",
        "Accounts in the accounts file",
        *accounts,
    );
    gauge(
        "reactor_hub_cluster_link_up",
        "1 while the link to the cluster's broker is up (0 alone)",
        usize::from(stats.broker_up),
    );
    gauge(
        "reactor_hub_cluster_requests_waiting",
        "Messages to other nodes' users awaiting those nodes' verdicts now",
        stats.asking,
    );
    gauge(
        "reactor_hub_cluster_ended_logins_remembered",
        "Logins that ended here, remembered so that no older session elsewhere comes back",
        stats.ended_logins,
    );

    let logins = LoginResult::ALL.map(|r| ("result", r.label(), counters.logins(r)));
    registry.register(
        "reactor_hub_logins",
        "Logins, by how they ended",
        counted(logins),
    );
    let messages = MessageResult::ALL.map(|r| ("result", r.label(), counters.messages(r)));
    registry.register(
        "reactor_hub_messages",
        "Messages from clients, by the hub's answer",
        counted(messages),
    );
    let drops = counters
        .drops()
        .map(|(reason, total)| ("reason", reason, total))
        .chain([("reason", "send_failed", udp.send_dropped)]);
    registry.register(
        "reactor_hub_datagrams_dropped",
        "Datagrams dropped unanswered, by reason",
        counted(drops),
    );
    let requests = [
        ("outcome", "taken", cluster.taken),
        ("outcome", "offline", cluster.offline),
        ("outcome", "unresolved", cluster.unresolved),
    ];
    registry.register(
        "reactor_hub_cluster_requests",
        "Messages to other nodes' users, by outcome (unresolved: not answered)",
        counted(requests),
    );
    let refused = [
        ("what", "verdicts", cluster.refused_verdicts),
        ("what", "records", cluster.refused_records),
    ];
    registry.register(
        "reactor_hub_cluster_publishes_refused",
        "Verdicts and login records the broker link would not take (sent again later)",
        counted(refused),
    );

    let mut counter = |name: &str, help: &str, total: u64| {
        let counter: Counter = Counter::default();
        counter.inc_by(total);
        registry.register(name, help, counter);
    };
    counter(
        "reactor_hub_forwards_resent",
        "Forwards sent again for want of a receipt",
        counters.forwards_resent,
    );
    counter(
        "reactor_hub_forwards_given_up",
        "Forwards given up on (session ended, or too many pending)",
        counters.forwards_given_up,
    );
    counter(
        "reactor_hub_cluster_sends_refused",
        "Asks for other nodes' users the broker link would not take (never sent)",
        cluster.refused_asks,
    );
    counter(
        "reactor_hub_cluster_asks",
        "Asks published for other nodes' users (a message is asked again when its verdict is slow or lost)",
        cluster.asks,
    );
    counter(
        "reactor_hub_cluster_late_asks_refused",
        "Other nodes' asks that came after their deadline: refused, never delivered",
        cluster.late_refused,
    );
    counter(
        "reactor_hub_cluster_stale_logins_refused",
        "Announcements of logins older than one this node knows of, refused with the later one",
        cluster.stale_refused,
    );
    counter(
        "reactor_hub_cluster_sessions_superseded",
        "Sessions here ended by a later login at another node",
        cluster.superseded,
    );
    counter(
        "reactor_hub_datagrams_received",
        "Datagrams received by the hub's socket",
        udp.received,
    );
    counter(
        "reactor_hub_datagrams_sent",
        "Datagrams sent by the hub's socket",
        udp.sent,
    );

    let build = Info::new([("version", env!("CARGO_PKG_VERSION"))]);
    registry.register(
        "reactor_hub_build",
        "The build running, by its version",
        build,
    );
    let results = [
        ("result", "ok", reloads.ok.count),
        ("result", "failed", reloads.failed.count),
    ];
    registry.register(
        "reactor_hub_reloads",
        "Reloads of the accounts file (SIGHUP), by result (failed: the old accounts stay)",
        counted(results),
    );
    let mut seconds = |name: &str, help: &str, at: Option<SystemTime>| {
        let gauge: Gauge<f64, AtomicU64> = Gauge::default();
        gauge.set(at.map_or(0.0, unix_seconds));
        registry.register(name, help, gauge);
    };
    seconds(
        "reactor_hub_start_time_seconds",
        "When the hub started, in seconds since the Unix epoch",
        Some(*started),
    );
    seconds(
        "reactor_hub_reload_last_success_timestamp_seconds",
        "When the accounts file was last reloaded, in seconds since the Unix epoch (0: never)",
        reloads.ok.last,
    );
    seconds(
        "reactor_hub_reload_last_failure_timestamp_seconds",
        "When a reload of the accounts file last failed, in seconds since the Unix epoch (0: never)",
        reloads.failed.last,
    );

    let mut page = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut page, &registry);
    match format {
        Format::OpenMetrics => page,
        Format::PrometheusText => prometheus_text(&page),
    }
}

/// A counter per label value: `(label, value, total)`.
fn counted(
    totals: impl IntoIterator<Item = (&'static str, &'static str, u64)>,
) -> Family<Label, Counter> {
    let family = Family::<Label, Counter>::default();
    for (key, value, total) in totals {
        family.get_or_create(&[(key, value)]).inc_by(total);
    }
    family
}

/// Seconds since the Unix epoch, as Prometheus gives times; 0 for a clock
/// set before it.
fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

/// OpenMetrics as the Prometheus text format: a counter family `x` has the
/// samples `x_total`, and an info family `x` the samples `x_info`, which
/// the older format names in `# HELP` and `# TYPE` too (it has no info
/// type: such a family is a gauge there); and the older format has no
/// `# EOF`.
fn prometheus_text(openmetrics: &str) -> String {
    /// The OpenMetrics types whose samples add a suffix to the family's
    /// name: the type, the suffix, and the type in the older format.
    const SUFFIXED: [(&str, &str, &str); 2] =
        [("counter", "_total", "counter"), ("info", "_info", "gauge")];
    let suffixed: Vec<(&str, &str, &str)> = openmetrics
        .lines()
        .filter_map(|line| {
            let (name, kind) = line.strip_prefix("# TYPE ")?.split_once(' ')?;
            let &(_, suffix, older) = SUFFIXED.iter().find(|(k, ..)| *k == kind)?;
            Some((name, suffix, older))
        })
        .collect();
    let mut text = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines().filter(|&line| line != "# EOF") {
        let renamed = ["# HELP ", "# TYPE "].into_iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            let &(_, suffix, older) = suffixed.iter().find(|(n, ..)| *n == name)?;
            let tail = if prefix == "# TYPE " { older } else { tail };
            Some(format!("{prefix}{name}{suffix} {tail}"))
        });
        match renamed {
            Some(renamed) => text.push_str(&renamed),
            None => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prometheus_text_names_counters_and_infos_by_their_samples() {
        let openmetrics = "# HELP a_x Some x.\n# TYPE a_x counter\na_x_total{r=\"1\"} 3\n\
                           # HELP b Some b.\n# TYPE b gauge\nb 2\n\
                           # HELP c Some c.\n# TYPE c info\nc_info{v=\"1.0\"} 1\n# EOF\n";
        assert_eq!(
            prometheus_text(openmetrics),
            "# HELP a_x_total Some x.\n# TYPE a_x_total counter\na_x_total{r=\"1\"} 3\n\
             # HELP b Some b.\n# TYPE b gauge\nb 2\n\
             # HELP c_info Some c.\n# TYPE c_info gauge\nc_info{v=\"1.0\"} 1\n"
        );
    }

    #[test]
    fn prometheus_asks_for_openmetrics_and_curl_gets_the_text_format() {
        let prometheus =
            b"application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
        assert_eq!(Format::accepted(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::accepted(Some(b"*/*")), Format::PrometheusText);
        assert_eq!(Format::accepted(None), Format::PrometheusText);
    }
}
