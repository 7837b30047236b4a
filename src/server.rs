//! The hub on the Reactor: one UDP socket, the shutdown sources, and the
//! [`Hub`] state machine between them; and, when asked for, SIGHUP (reload
//! the accounts), the metrics page (`scrape`) and the TCP connection to a
//! cluster's broker ([`BrokerLink`]), sources on the same Reactor.
//!
//! Every event follows the same path: read the input, hand it to the hub
//! with `now`, send whatever the hub queued, log whatever it reported.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use mio::event::Event;
use mio::Token;

use crate::accounts::{Accounts, AccountsError};
use crate::cluster::Note;
use crate::hub::{ClusterConfig, Hub, HubConfig, HubEvent};
use crate::nats::BrokerLink;
use crate::reactor::hangup::Hangup;
use crate::reactor::on_thread::Listening;
use crate::reactor::shutdown::{Shutdown, StopHandle};
use crate::reactor::udp::{Drain, UdpEndpoint};
use crate::reactor::{Handler, Reactor, ReadyHandler, TimerHandler};
use crate::scope::endpoint::{Mode, ScopeEndpoint};
use crate::scope::flight::FlightRecorder;
use crate::wire::{self, MAX_DATAGRAM};
use exposition::{Reloads, Snapshot};
use log_limit::LogLimit;
use reload::{Reload, SETTLE};
use scrape::Scrape;

const UDP: Token = Token(0);
const SIGNALS: Token = Token(1);
const STOP: Token = Token(2);
const HANGUP: Token = Token(3);
const METRICS: Token = Token(4);
const BROKER: Token = Token(5);
const SCOPE: Token = Token(6);
/// Metrics connections get the tokens from here on, then the Scope's.
const FIRST_METRICS_CONNECTION: usize = 7;
const FIRST_SCOPE_CONNECTION: usize = FIRST_METRICS_CONNECTION + scrape::MAX_CONNECTIONS;

/// The socket buffers the server asks for. A burst of small datagrams larger
/// than the receive buffer is lost in the kernel: 4 MiB holds thousands of
/// them (the kernel caps it at `net.core.rmem_max`).
const SOCKET_BUFFER_BYTES: usize = 4 << 20;

/// At most this many lines a second about what clients send reach the log,
/// so that a flood of datagrams cannot turn into a flood of log lines.
const LOG_LINES_PER_SECOND: u32 = 10;

/// At most this many `recvmmsg` batches (2,048 datagrams) are handled in one
/// turn of the loop. A flood that arrives faster than the hub reads would
/// otherwise keep the drain going for as long as it lasts, and expiry,
/// resends and Ctrl-C would wait for it to end.
const BATCHES_PER_TURN: usize = 64;

/// A hub bound to its socket, ready to run.
pub struct Server {
    hub: Hub,
    udp: UdpEndpoint,
    shutdown: Shutdown,
    /// SIGHUP, and the accounts file it reloads, once asked for.
    reload: Option<(Hangup, Reload)>,
    /// What the reloads came to, for the metrics page.
    reloads: Reloads,
    /// `GET /metrics`, once asked for.
    metrics: Option<Scrape>,
    /// The Reactor Scope's page, once asked for.
    scope: Option<ScopeEndpoint>,
    /// The connection to the cluster's broker, in a cluster.
    broker: Option<BrokerLink>,
    log_limit: LogLimit,
    /// When the server started, for the metrics page: the wall clock is
    /// read here at the edge, never in the hub.
    started: SystemTime,
    /// Whether the socket may hold datagrams that the last turn left for
    /// the next; no new event comes for them.
    backlog: bool,
    batches_per_turn: usize,
}

impl Server {
    /// Binds `addr` and registers the socket and shutdown sources with `reactor`.
    pub fn bind(
        reactor: &Reactor,
        addr: SocketAddr,
        accounts: Accounts,
        config: HubConfig,
    ) -> io::Result<Self> {
        let udp = UdpEndpoint::bind(addr, reactor.registry(), UDP)?;
        Self::on(reactor, udp, accounts, config)
    }

    /// As [`bind`](Self::bind), sharing `addr` with the other processes
    /// that bind it so (`SO_REUSEPORT`): nodes of a cluster on one machine,
    /// one address for their clients.
    pub fn bind_shared(
        reactor: &Reactor,
        addr: SocketAddr,
        accounts: Accounts,
        config: HubConfig,
    ) -> io::Result<Self> {
        let udp = UdpEndpoint::bind_shared(addr, reactor.registry(), UDP)?;
        Self::on(reactor, udp, accounts, config)
    }

    fn on(
        reactor: &Reactor,
        mut udp: UdpEndpoint,
        accounts: Accounts,
        config: HubConfig,
    ) -> io::Result<Self> {
        udp.set_format(MAX_DATAGRAM, wire::show_datagram);
        match udp.set_buffer_sizes(SOCKET_BUFFER_BYTES) {
            // Linux reports twice what was asked (its bookkeeping counts
            // too): both are said, so that neither surprises.
            Ok((receive, send)) => log::debug!(
                "socket buffers: asked {SOCKET_BUFFER_BYTES} bytes each way, \
                 the kernel reports {receive} to receive and {send} to send"
            ),
            // The defaults still work, only bursts are lost sooner.
            Err(err) => log::warn!("cannot enlarge the socket buffers: {err}"),
        }
        let shutdown = Shutdown::register(reactor.registry(), SIGNALS, STOP)?;
        Ok(Self {
            hub: Hub::new(accounts, config),
            udp,
            shutdown,
            reload: None,
            reloads: Reloads::default(),
            metrics: None,
            scope: None,
            broker: None,
            log_limit: LogLimit::new(LOG_LINES_PER_SECOND),
            started: SystemTime::now(),
            backlog: false,
            batches_per_turn: BATCHES_PER_TURN,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.udp.local_addr()
    }

    /// Serves the Reactor Scope on `addr`, on this Reactor: the page, and
    /// the events `flight` keeps; returns the address.
    pub fn serve_scope(
        &mut self,
        reactor: &Reactor,
        addr: SocketAddr,
        flight: Arc<FlightRecorder>,
    ) -> io::Result<SocketAddr> {
        let about = ("reactor-server", Mode::Live);
        let tokens = (SCOPE, FIRST_SCOPE_CONNECTION);
        let scope = ScopeEndpoint::bind(addr, reactor.registry(), tokens, flight, about)?;
        self.scope.insert(scope).local_addr()
    }

    /// Serves `GET /metrics` on `addr`, on this Reactor; returns the address.
    pub fn serve_metrics(&mut self, reactor: &Reactor, addr: SocketAddr) -> io::Result<SocketAddr> {
        let scrape = Scrape::bind(addr, reactor.registry(), METRICS, FIRST_METRICS_CONNECTION)?;
        let local = scrape.local_addr()?;
        self.metrics = Some(scrape);
        Ok(local)
    }

    /// Catches SIGHUP on `reactor` for a server to come: called before the
    /// accounts load, so that a SIGHUP meanwhile (a `systemctl reload`
    /// right after start) waits as an event instead of ending the process.
    pub fn catch_hangup(reactor: &Reactor) -> io::Result<Hangup> {
        Hangup::register(reactor.registry(), HANGUP)
    }

    /// Reads `path` again on every SIGHUP that `hangup` catches (one that
    /// came before is served at the first turn) and makes its accounts the
    /// hub's ([`Hub::reload`]); a file that fails to parse changes nothing.
    pub fn reload_accounts_on(&mut self, hangup: Hangup, path: PathBuf) {
        self.reload = Some((hangup, Reload::new(path)));
    }

    /// Makes the hub a node of the cluster whose broker is at `broker`:
    /// the connection is one more source on this Reactor, opened at once
    /// and again whenever it is lost.
    pub fn join_cluster(&mut self, reactor: &Reactor, broker: SocketAddr) -> io::Result<()> {
        self.broker = Some(BrokerLink::new(broker, reactor.registry(), BROKER)?);
        // Login stamps are ordered by the wall clock across nodes.
        let now = Instant::now();
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_micros() as u64);
        let config = ClusterConfig {
            broker: format!("nats://{broker}"),
            ..ClusterConfig::new(now, wall)
        };
        self.hub.join_cluster(config, now);
        Ok(())
    }

    /// Lets another thread stop the server.
    pub fn stop_handle(&self) -> StopHandle {
        self.shutdown.stop_handle()
    }

    /// The hub, for reports.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The socket, for options and counters.
    pub fn udp(&self) -> &UdpEndpoint {
        &self.udp
    }

    /// Reads the datagrams waiting on the socket, a batch at a time, and
    /// sends the replies to each batch together; after
    /// [`BATCHES_PER_TURN`] batches it leaves the rest for the next turn.
    fn on_readable(&mut self, mut now: Instant) -> io::Result<()> {
        for _ in 0..self.batches_per_turn {
            // Up to 32 datagrams a system call, and their replies go out
            // with one `sendmmsg` straight from the hub's outbox: a system
            // call costs more than the hub's work on a datagram.
            let drain = self.udp.recv()?;
            for (from, datagram) in self.udp.received() {
                // The trace shows each datagram with what it caused: its
                // transitions and replies, though all go out together.
                self.udp.trace_in(from, datagram);
                self.hub.handle_datagram(now, from, datagram);
                log_events(&mut self.hub, &mut self.log_limit, now);
                self.udp.trace_outbox(self.hub.outbox());
            }
            self.flush(now)?;
            if drain == Drain::Drained {
                self.backlog = false;
                return Ok(());
            }
            // The hub counts a forward's resend deadline from `now`: a stale
            // `now` would put the deadlines of a long drain in the past.
            now = Instant::now();
        }
        // Readiness is edge-triggered: nothing will announce what is left.
        // The Reactor comes back for it after a poll that does not wait, in
        // which timers and signals have their turn.
        self.backlog = true;
        Ok(())
    }

    /// The server's own deadlines beside the hub's, and what each is for:
    /// when the first open metrics request runs out of time, and when to
    /// look whether the accounts file has settled, after a SIGHUP.
    fn own_deadlines(&self) -> [(Option<Instant>, &'static str); 3] {
        let metrics = self.metrics.as_ref().and_then(Scrape::next_deadline);
        let scope = self.scope.as_ref().and_then(ScopeEndpoint::next_deadline);
        let reload = self
            .reload
            .as_ref()
            .and_then(|(_, reload)| reload.deadline());
        [
            (metrics, "a metrics request's time limit"),
            (scope, "a scope request's time limit"),
            (reload, "the accounts file: has it settled?"),
        ]
    }

    /// Opens the accounts file to be read in slices once it has settled
    /// (see [`Reload`]); says why not if it cannot be opened.
    fn reload_settled(&mut self, now: Instant) {
        let Some((_, reload)) = &mut self.reload else {
            return;
        };
        if let Some(err) = reload.on_deadline(now, self.hub.accounts()) {
            self.reload_failed(&err);
        }
    }

    /// Reads one slice of the accounts file; after the last, makes its
    /// accounts the hub's and says what changed. An error (the file's name
    /// and line, as at start) changes nothing; a warning does not stop it.
    /// These lines are asked for by whoever runs the hub, so they skip the
    /// log budget.
    fn reload_slice(&mut self, now: Instant) -> io::Result<()> {
        let Some((_, reload)) = &mut self.reload else {
            return Ok(());
        };
        match reload.slice(now, self.hub.accounts()) {
            None => Ok(()),
            Some(Err(err)) => {
                self.reload_failed(&err);
                Ok(())
            }
            Some(Ok(reloaded)) => {
                self.reloads.ok.record(SystemTime::now());
                for warning in &reloaded.warnings {
                    log::warn!("{warning}");
                }
                let replaced = self.hub.reload(now, reloaded.accounts, &reloaded.update);
                if let Some((_, reload)) = &mut self.reload {
                    reload.retire(replaced);
                }
                let count = self.hub.accounts().len();
                let slices = match reloaded.slices {
                    1 => "1 slice".to_string(),
                    n => format!("{n} slices"),
                };
                log::info!(
                    "accounts reloaded: {} ({count} now; read in {:.1?}, {slices}, \
                     the longest {:.1?})",
                    reloaded.update,
                    reloaded.took,
                    reloaded.longest,
                );
                self.flush(now)
            }
        }
    }

    fn reload_failed(&mut self, err: &AccountsError) {
        self.reloads.failed.record(SystemTime::now());
        log::error!("accounts not reloaded, the old ones stay: {err}");
    }

    /// Logs what the hub reported and sends what it queued: what the turn
    /// gave the broker connection, in one write, and the datagrams. Each
    /// line is logged before what it caused is sent.
    fn flush(&mut self, now: Instant) -> io::Result<()> {
        log_events(&mut self.hub, &mut self.log_limit, now);
        if let Some(broker) = &mut self.broker {
            broker.flush(&mut self.hub, now);
            // Publishing may have settled requests (a refusal).
            log_events(&mut self.hub, &mut self.log_limit, now);
        }
        self.udp.send_all(self.hub.outbox())
    }

    /// The broker connection read or lost something: the hub took it in.
    fn on_broker(&mut self, event: &Event, now: Instant) -> io::Result<()> {
        if let Some(broker) = &mut self.broker {
            broker.on_ready(&mut self.hub, event, now);
        }
        self.flush(now)
    }
}

impl ReadyHandler for Server {
    fn on_ready(&mut self, event: &Event, now: Instant) -> io::Result<()> {
        match event.token() {
            UDP => {
                if event.is_writable() {
                    self.udp.on_writable()?;
                }
                if event.is_readable() {
                    self.on_readable(now)?;
                }
            }
            token if self.metrics.as_ref().is_some_and(|m| m.owns(token)) => {
                let (hub, udp) = (&self.hub, &self.udp);
                let (started, reloads) = (self.started, self.reloads);
                let page = |format| {
                    let snapshot = Snapshot {
                        stats: hub.stats(),
                        counters: hub.counters(),
                        cluster: hub.cluster_counters().unwrap_or_default(),
                        udp: udp.stats(),
                        accounts: hub.accounts().len(),
                        started,
                        reloads,
                    };
                    exposition::render(&snapshot, format)
                };
                if let Some(metrics) = &mut self.metrics {
                    metrics.on_ready(token, now, page);
                }
            }
            token if self.scope.as_ref().is_some_and(|s| s.owns(token)) => {
                if let Some(scope) = &mut self.scope {
                    scope.on_ready(token, now);
                }
            }
            BROKER => self.on_broker(event, now)?,
            HANGUP => {
                if let Some((hangup, reload)) = &mut self.reload {
                    if hangup.on_ready(HANGUP) {
                        let again = match reload.asked(now) {
                            true => " (the reading under way starts over)",
                            false => "",
                        };
                        log::debug!(
                            "SIGHUP: {} is read once it has not changed for {SETTLE:?}{again}",
                            reload.path().display()
                        );
                    }
                }
            }
            token => {
                self.shutdown.on_ready(token);
            }
        }
        Ok(())
    }

    fn source_name(&self, token: Token) -> &'static str {
        match token {
            UDP => "udp socket",
            SIGNALS => "signals",
            STOP => "stop waker",
            HANGUP => "hangup signal",
            METRICS => "metrics listener",
            BROKER => "broker link",
            _ if self.metrics.as_ref().is_some_and(|m| m.owns(token)) => "metrics connection",

            _ => self
                .scope
                .as_ref()
                .filter(|scope| scope.owns(token))
                .map_or("unknown", |scope| scope.source_name(token)),
        }
    }
}

impl TimerHandler for Server {
    /// The hub's next deadline (its cluster's among them), or one of the
    /// server's own.
    fn next_deadline(&self) -> Option<Instant> {
        let own = self.own_deadlines().into_iter().filter_map(|(at, _)| at);
        self.hub.poll_timeout().into_iter().chain(own).min()
    }

    fn on_deadline(&mut self, now: Instant) -> io::Result<()> {
        if let Some(metrics) = &mut self.metrics {
            metrics.on_deadline(now);
        }
        if let Some(scope) = &mut self.scope {
            scope.on_deadline(now);
        }
        self.hub.handle_timeout(now);
        self.reload_settled(now);
        // A reconnection the cluster's link wants is the edge's to open.
        if let Some(broker) = &mut self.broker {
            broker.on_deadline(&mut self.hub, now);
        }
        self.flush(now)
    }

    fn describe_deadline(&self) -> String {
        let hub = self.hub.poll_timeout();
        let own = self.own_deadlines().into_iter();
        let earliest = own.filter_map(|(at, what)| Some((at?, what))).min();
        match earliest {
            Some((at, what)) if hub.is_none_or(|hub| at < hub) => what.into(),
            _ => self.hub.describe_timeout(),
        }
    }

    fn describe_due(&self, now: Instant) -> Vec<(Instant, String)> {
        let own = self.own_deadlines().into_iter();
        let own = own.filter_map(|(at, what)| Some((at.filter(|&at| at <= now)?, what.into())));
        let mut due = self.hub.describe_due(now);
        due.extend(own);
        due.sort_by_key(|(at, _)| *at);
        due
    }
}

impl Listening for Server {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Server::local_addr(self)
    }

    fn stop_handle(&self) -> StopHandle {
        Server::stop_handle(self)
    }
}

impl Handler for Server {
    fn is_finished(&self) -> bool {
        self.shutdown.requested()
    }

    /// Datagrams the last turn left in the socket, or an accounts file
    /// being read in slices (or the accounts it replaced, being freed).
    fn has_backlog(&self) -> bool {
        self.backlog
            || self
                .reload
                .as_ref()
                .is_some_and(|(_, reload)| reload.has_work())
    }

    fn on_backlog(&mut self, now: Instant) -> io::Result<()> {
        if self.backlog {
            self.on_readable(now)?;
        }
        self.reload_slice(now)
    }

    /// Sends the Scope's pages the turn's events. The turn about to
    /// begin is recorded whole or not at all (the flight recorder's
    /// budget): the hub builds what the trace shows only if it is.
    fn before_wait(&mut self) {
        if let Some(scope) = &mut self.scope {
            scope.before_wait();
        }
        self.hub
            .set_trace(log::log_enabled!(target: "hub", log::Level::Trace));
    }
}

/// Logs what the hub reported: trace events as trace lines, the rest at
/// their level, within the log budget.
fn log_events(hub: &mut Hub, log_limit: &mut LogLimit, now: Instant) {
    while let Some(event) = hub.poll_event() {
        let level = match &event {
            // Asked for with --trace: every one is the point.
            HubEvent::Transition { .. } | HubEvent::Unchanged { .. } => {
                log::trace!(target: "hub", "{event}");
                continue;
            }
            HubEvent::Cluster(note) if note.level() == log::Level::Trace => {
                log::trace!(target: "nats", "{event}");
                continue;
            }
            // Rare by nature, and what an operator most needs to see.
            HubEvent::Cluster(
                note @ (Note::LinkUp | Note::LinkDown { .. } | Note::Unreachable { .. }),
            ) => {
                log::log!(note.level(), "{event}");
                continue;
            }
            HubEvent::Cluster(note) => note.level(),
            HubEvent::Dropped { .. } | HubEvent::GaveUp { .. } => log::Level::Warn,
            _ => log::Level::Info,
        };
        if log::log_enabled!(level) && log_limit.allow(now) {
            log::log!(level, "{event}");
        }
    }
}

mod exposition;
mod log_limit;
mod reload;
mod scrape;
#[cfg(test)]
mod tests;
