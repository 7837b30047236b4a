//! A lossy relay: a UDP hop between clients and the hub that loses,
//! duplicates, delays and reorders datagrams, in both directions, from a
//! seed. The fault tests put it in the path of real clients and a real hub;
//! `examples/lossy_relay.rs` lets a person do the same by hand.
//!
//! ```text
//!   client A ─┐            ┌─ upstream A ─┐
//!   client B ─┼─> front ───┼─ upstream B ─┼─> hub
//!   client C ─┘  (listen)  └─ upstream C ─┘
//! ```
//!
//! - Clients send to the **front** socket as if it were the hub, and get
//!   everything back from it: a client only listens to the address it sends to.
//! - Each client source address gets an **upstream** socket of its own, so
//!   the hub sees one source per client, as it would without the relay.
//! - The hub replies to the address a login names, not to the datagram's
//!   source. So the relay **rewrites every login** to name the client's
//!   upstream socket, and remembers where the client said it receives: what
//!   the hub sends to that upstream socket goes back there.
//! - Each direction has its own [`FaultInjector`], seeded from the one seed,
//!   so the fates of the datagrams toward the hub do not depend on how they
//!   interleave with those coming back.
//!
//! This is a second, small program on the [`Reactor`]: datagrams that must
//! wait sit in a [`TimerQueue`], and the earliest of them is the poll
//! timeout, just as the hub's resends are.

pub mod faults;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use mio::event::Event;
use mio::{Registry, Token};

use crate::reactor::mmsg::RecvBatch;
use crate::reactor::on_thread::Listening;
use crate::reactor::shutdown::{Shutdown, StopHandle};
use crate::reactor::udp::{Drain, UdpEndpoint, MAX_UDP_PAYLOAD};
use crate::reactor::{Handler, Reactor, ReadyHandler, TimerHandler};
use crate::timers::TimerQueue;
use crate::wire::{self, Login, Message, ReplyTo};
pub use faults::{Fate, FaultInjector, FaultStats, Faults};

const FRONT: Token = Token(0);
const SIGNALS: Token = Token(1);
const STOP: Token = Token(2);
/// Upstream socket `n` is registered as `Token(FIRST_UPSTREAM + n)`.
const FIRST_UPSTREAM: usize = 3;

/// Datagrams that may wait in the relay at once; past this, new ones are
/// dropped (and counted), so memory stays bounded whatever comes in.
pub const MAX_HELD: usize = 65_536;

/// Which way a datagram goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    ToHub,
    ToClient,
}

/// Sees every datagram the relay receives, before its fate is decided (so
/// also those it then loses): a test counts the hub's replies with it.
pub type Tap = Box<dyn FnMut(Direction, &[u8]) + Send>;

/// Where the relay listens, where the hub is, and what goes wrong between.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// The front socket, where clients send.
    pub listen: SocketAddr,
    pub hub: SocketAddr,
    /// Applied to each direction separately.
    pub faults: Faults,
    pub seed: u64,
    /// Client source addresses given an upstream socket; later ones are dropped.
    pub max_clients: usize,
}

/// What the relay did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayStats {
    pub to_hub: FaultStats,
    pub to_clients: FaultStats,
    /// Client source addresses seen (each with its upstream socket).
    pub clients: usize,
    /// Datagrams waiting now.
    pub held: usize,
    /// Datagrams dropped because [`MAX_HELD`] were waiting.
    pub overflow: u64,
    /// Datagrams dropped because they came from a client past `max_clients`.
    pub refused: u64,
    /// Datagrams on an upstream socket that did not come from the hub.
    pub strangers: u64,
}

/// One client, as the relay knows it.
struct Link {
    /// The socket the hub sees this client as.
    upstream: UdpEndpoint,
    /// What the rewritten login names: the upstream socket.
    reply_to: ReplyTo,
    /// Where the client receives: its source address until a login names another.
    receive_at: SocketAddr,
}

/// Where a waiting datagram goes.
#[derive(Clone, Copy, Debug)]
enum Hop {
    /// To the hub, from the upstream socket of link `n`.
    ToHub(usize),
    /// To a client, from the front socket.
    ToClient(SocketAddr),
}

/// The relay on the Reactor.
pub struct Relay {
    front: UdpEndpoint,
    hub: SocketAddr,
    registry: Registry,
    links: Vec<Link>,
    by_source: HashMap<SocketAddr, usize>,
    max_clients: usize,
    to_hub: FaultInjector,
    to_clients: FaultInjector,
    /// Sequence numbers of waiting datagrams by due time; equal times keep
    /// arrival order.
    timers: TimerQueue<u64>,
    held: HashMap<u64, (Hop, Vec<u8>)>,
    next_seq: u64,
    shutdown: Shutdown,
    tap: Option<Tap>,
    /// One batch for every socket of the relay (`None` while lent out). It
    /// takes any UDP payload: the relay passes on oversized datagrams too,
    /// so that the hub's refusal of them can be seen through it.
    batch: Option<RecvBatch>,
    overflow: u64,
    refused: u64,
    strangers: u64,
}

impl Relay {
    /// Binds the front socket and registers it and the shutdown sources.
    pub fn bind(reactor: &Reactor, config: RelayConfig) -> io::Result<Self> {
        config
            .faults
            .validate()
            .map_err(|problem| io::Error::new(io::ErrorKind::InvalidInput, problem))?;
        let mut front = UdpEndpoint::bind(config.listen, reactor.registry(), FRONT)?;
        front.set_format(MAX_UDP_PAYLOAD, wire::show_datagram);
        let shutdown = Shutdown::register(reactor.registry(), SIGNALS, STOP)?;
        Ok(Self {
            front,
            hub: config.hub,
            registry: reactor.registry().try_clone()?,
            links: Vec::new(),
            by_source: HashMap::new(),
            max_clients: config.max_clients,
            to_hub: FaultInjector::new(config.faults, config.seed),
            // Another stream from the same seed.
            to_clients: FaultInjector::new(config.faults, !config.seed),
            timers: TimerQueue::default(),
            held: HashMap::new(),
            next_seq: 0,
            shutdown,
            tap: None,
            batch: Some(RecvBatch::new(MAX_UDP_PAYLOAD)),
            overflow: 0,
            refused: 0,
            strangers: 0,
        })
    }

    /// Where clients send.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.front.local_addr()
    }

    /// Lets another thread stop the relay.
    pub fn stop_handle(&self) -> StopHandle {
        self.shutdown.stop_handle()
    }

    /// Shows every datagram received to `tap`.
    pub fn set_tap(&mut self, tap: Tap) {
        self.tap = Some(tap);
    }

    pub fn stats(&self) -> RelayStats {
        RelayStats {
            to_hub: self.to_hub.stats(),
            to_clients: self.to_clients.stats(),
            clients: self.links.len(),
            held: self.held.len(),
            overflow: self.overflow,
            refused: self.refused,
            strangers: self.strangers,
        }
    }

    /// Reads every datagram waiting on the socket of `token`.
    fn on_readable(&mut self, token: Token, now: Instant) -> io::Result<()> {
        // The batch is lent out while the sockets, which are also `self`'s,
        // read into it and the relay sends on them.
        let mut batch = self.batch.take().expect("the batch is back");
        let result = self.drain(token, now, &mut batch);
        self.batch = Some(batch);
        result
    }

    /// Drains the socket: the next event comes only for new datagrams.
    fn drain(&mut self, token: Token, now: Instant, batch: &mut RecvBatch) -> io::Result<()> {
        loop {
            let drain = if token == FRONT {
                self.front.recv_batch(batch)?
            } else {
                self.links[token.0 - FIRST_UPSTREAM]
                    .upstream
                    .recv_batch(batch)?
            };
            for (from, datagram) in batch.iter() {
                if token == FRONT {
                    self.on_client_datagram(now, from, datagram)?;
                } else {
                    self.on_hub_datagram(now, token.0 - FIRST_UPSTREAM, from, datagram);
                }
            }
            if drain == Drain::Drained {
                return Ok(());
            }
        }
    }

    /// What the hub sent to the upstream socket of `link`, for its client.
    fn on_hub_datagram(&mut self, now: Instant, link: usize, from: SocketAddr, datagram: &[u8]) {
        if from != self.hub {
            self.strangers += 1;
            return;
        }
        self.tapped(Direction::ToClient, datagram);
        let fate = self.to_clients.decide();
        let to = self.links[link].receive_at;
        self.hold(now, fate, Hop::ToClient(to), datagram);
    }

    fn on_client_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        datagram: &[u8],
    ) -> io::Result<()> {
        self.tapped(Direction::ToHub, datagram);
        let Some(link) = self.link_for(source)? else {
            self.refused += 1;
            return Ok(());
        };
        let fate = self.to_hub.decide();
        match wire::parse(datagram) {
            Ok(Message::Login(Login {
                from,
                password,
                reply_to,
            })) => {
                let client = &mut self.links[link];
                client.receive_at = reply_to.resolve(source).unwrap_or(source);
                let login = Message::Login(Login {
                    from,
                    password,
                    reply_to: client.reply_to,
                })
                .to_bytes();
                self.hold(now, fate, Hop::ToHub(link), &login);
            }
            _ => self.hold(now, fate, Hop::ToHub(link), datagram),
        }
        Ok(())
    }

    /// The link of a client source address, made on its first datagram.
    fn link_for(&mut self, source: SocketAddr) -> io::Result<Option<usize>> {
        if let Some(&link) = self.by_source.get(&source) {
            return Ok(Some(link));
        }
        if self.links.len() >= self.max_clients {
            return Ok(None);
        }
        let index = self.links.len();
        let bind = SocketAddr::new(upstream_ip(self.hub.ip()), 0);
        let mut upstream = UdpEndpoint::bind(bind, &self.registry, Token(FIRST_UPSTREAM + index))?;
        upstream.set_format(MAX_UDP_PAYLOAD, wire::show_datagram);
        let local = upstream.local_addr()?;
        let reply_to = if local.ip().is_unspecified() {
            // The hub reads `<0.0.0.0><PORT>` as "the source IP, at this port".
            ReplyTo::SourceIpAt(local.port())
        } else {
            ReplyTo::Addr(local)
        };
        log::info!("client {source} goes to the hub from {local}");
        self.links.push(Link {
            upstream,
            reply_to,
            receive_at: source,
        });
        self.by_source.insert(source, index);
        Ok(Some(index))
    }

    /// Queues each copy of a datagram that arrives, for `now` plus its wait.
    fn hold(&mut self, now: Instant, fate: Fate, hop: Hop, datagram: &[u8]) {
        log::trace!(target: "relay", "{hop:?} {fate:?} {}", wire::LogText::new(datagram));
        for wait in fate.copies() {
            if self.held.len() >= MAX_HELD {
                self.overflow += 1;
                continue;
            }
            let seq = self.next_seq;
            self.next_seq += 1;
            self.timers.schedule(now + wait, seq);
            self.held.insert(seq, (hop, datagram.to_vec()));
        }
    }

    /// Sends every waiting datagram that is due.
    fn deliver_due(&mut self, now: Instant) -> io::Result<()> {
        while let Some(seq) = self.timers.pop_due(now) {
            let Some((hop, datagram)) = self.held.remove(&seq) else {
                continue;
            };
            match hop {
                Hop::ToHub(link) => self.links[link].upstream.send_to(self.hub, &datagram)?,
                Hop::ToClient(to) => self.front.send_to(to, &datagram)?,
            }
        }
        Ok(())
    }

    fn tapped(&mut self, direction: Direction, datagram: &[u8]) {
        if let Some(tap) = &mut self.tap {
            tap(direction, datagram);
        }
    }
}

/// The upstream sockets' IP: the hub's own loopback address if it is on
/// this machine, else any address of its family.
fn upstream_ip(hub: IpAddr) -> IpAddr {
    match (hub.is_loopback(), hub) {
        (true, ip) => ip,
        (false, IpAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (false, IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

impl ReadyHandler for Relay {
    fn on_ready(&mut self, event: &Event, now: Instant) -> io::Result<()> {
        let token = event.token();
        if token == FRONT || token.0 >= FIRST_UPSTREAM {
            if event.is_writable() {
                match token {
                    FRONT => self.front.on_writable()?,
                    Token(n) => self.links[n - FIRST_UPSTREAM].upstream.on_writable()?,
                }
            }
            if event.is_readable() {
                self.on_readable(token, now)?;
            }
        } else {
            self.shutdown.on_ready(token);
        }
        // What arrived with no wait goes out in this same turn.
        self.deliver_due(now)
    }

    fn source_name(&self, token: Token) -> &'static str {
        match token {
            FRONT => "front socket",
            SIGNALS => "signals",
            STOP => "stop waker",
            _ => "upstream socket",
        }
    }
}

impl TimerHandler for Relay {
    fn next_deadline(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    fn on_deadline(&mut self, now: Instant) -> io::Result<()> {
        self.deliver_due(now)
    }

    fn describe_deadline(&self) -> String {
        format!("the next of {} delayed datagrams", self.held.len())
    }
}

impl Listening for Relay {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        Relay::local_addr(self)
    }

    fn stop_handle(&self) -> StopHandle {
        Relay::stop_handle(self)
    }
}

impl Handler for Relay {
    fn is_finished(&self) -> bool {
        self.shutdown.requested()
    }
}

#[cfg(test)]
mod tests;
