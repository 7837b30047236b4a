//! A seeded simulation of a cluster, in memory, in the spirit of
//! TigerBeetle's VOPR and FoundationDB's simulator: 2 to 5 real nodes
//! ([`Hub`]s in a cluster), the in-memory broker ([`FakeBroker`]), and
//! people at real [`Client`]s with default settings, all on one simulated
//! clock, with the faults a seed draws ([`Options`]): a lossy network
//! between people and nodes ([`FaultInjector`]), the broker crashed or
//! stalled, a node's broker connection cut, a node crashed or stalled,
//! node clocks that disagree; and people who log in, chat, move to another
//! node, log off and walk away (their sessions expire) while it happens.
//!
//! Nothing runs on its own: [`World::step`] moves the clock to the earliest
//! thing anyone waits for and does it, so a seed replays its run bit for
//! bit (a hash of every delivery says so), and a minute of faults takes
//! milliseconds. The [`Oracle`] checks the contract as the run goes; calm
//! periods (every fault healed, every link up for [`CALM`]) check that no
//! ended session came back; and at the end, with every fault healed,
//! every person writes to every other (liveness).

mod options;
mod oracle;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::hash_map::DefaultHasher;
use std::collections::BinaryHeap;
use std::hash::Hasher;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::accounts::Accounts;
use crate::client::{Client, ClientConfig, ClientState, Notice, Unanswered};
use crate::hub::{ClusterConfig, Hub, HubConfig, HubEvent};
use crate::nats::fake_broker::FakeBroker;
use crate::nats::Endpoint;
use crate::relay::FaultInjector;
use crate::wire::{self, Message, ReplyTo, Success};
pub use options::{Fault, Options};
use oracle::{Key, Oracle};

/// How long every fault must have been healed, and every node linked,
/// before no ended session may show: "once the broker has been back for a
/// few seconds".
pub const CALM: Duration = Duration::from_secs(5);

/// How long the nodes may hold a wrong session of a person (two at once,
/// or one that ended) in a calm cluster: a new login ends the one before
/// it after a broker round trip.
const SETTLE: Duration = Duration::from_secs(2);

/// A node's session timeout in the simulation: short, so that sessions
/// expire during a run.
const SESSION_TIMEOUT: Duration = Duration::from_secs(20);

/// The least time between what a client shows and what its person does
/// next.
const REACTION: Duration = Duration::from_millis(200);

/// How long a person waits, in the final round, for a message accepted
/// to be shown before writing it again.
const RETRY: Duration = Duration::from_secs(10);

/// How long the people have, once every fault healed, to reach each other.
const LIVENESS: Duration = Duration::from_secs(60);

/// The address the people send to: the nodes share it, as with
/// `--reuse-port`, and a person's datagrams go to the node of its choice.
const HUB: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    32000,
);

/// The wall clock's reading at the start, on a node whose clock is right.
const WALL_AT_START: u64 = 1_764_700_000_000_000;

/// The person whose id is `id`.
fn person_of(id: &str, people: usize) -> Option<usize> {
    id.strip_prefix('p')?.parse().ok().filter(|&n| n < people)
}

fn person_addr(n: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 1, n as u8], 40000))
}

/// Where a person's second device receives (it only ever logs in).
fn second_device(n: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 2, n as u8], 40000))
}

/// How long after a second device's login the person's sessions are left
/// unjudged: its first device's next datagram finds out which login won.
const SECOND_DEVICE: Duration = Duration::from_secs(30);

/// Where a datagram goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Party {
    Node(usize),
    Person(usize),
}

/// Something on its way, or due.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    /// `process`: the node process (node and incarnation) it is tied to:
    /// its sender, on its way to a person; the stalled process that has
    /// it in its socket, on its way to a node (lost if that one dies).
    Datagram {
        to: Party,
        from: SocketAddr,
        process: Option<(usize, u32)>,
        bytes: Vec<u8>,
    },
    /// Bytes a node wrote on connection `conn`; `None`: it closed it.
    ToBroker {
        conn: usize,
        bytes: Option<Vec<u8>>,
    },
    /// Bytes the broker wrote on `conn`; `None`: the connection was reset.
    FromBroker {
        conn: usize,
        bytes: Option<Vec<u8>>,
    },
    Strike(usize),
    Heal(usize),
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Scheduled {
    at: Instant,
    seq: u64,
    item: Item,
}

/// One broker connection, as the network sees it.
struct Connection {
    node: usize,
    /// Its number at the broker, until the broker closed it.
    at_broker: Option<usize>,
    /// Cut: what is in flight on it is lost.
    cut: bool,
}

struct NodeSlot {
    /// `None` while crashed.
    hub: Option<Hub>,
    incarnation: u32,
    conn: Option<usize>,
    stalled_until: Option<Instant>,
    /// Partitioned from the broker: no connection can be made.
    cut: bool,
}

/// A person at a client, and what the run expects of it.
struct Person {
    id: String,
    password: String,
    client: Client,
    /// The node its datagrams go to.
    home: usize,
    next_act: Instant,
    away_until: Option<Instant>,
    typed: u32,
    /// The client's token and the node (incarnation) that gave it.
    token: Option<(String, usize, u32)>,
    state: ClientState,
    state_since: Instant,
    /// Offline because the session ended (logged off, or told to log in
    /// again): no node may hold a session of it once calm.
    ended: bool,
    /// A login that got no reply: a node may hold a session it never saw.
    unconfirmed: bool,
    /// When it last typed a login.
    login_typed: Instant,
    /// Until when a login of its second device may hold its session.
    second_device_until: Option<Instant>,
    /// Its client said the server is not answering: it logs in again.
    log_in_again: bool,
    /// It moved, and logs off as soon as the login is through.
    leave_soon: bool,
    /// The node (incarnation) of the session that ended last.
    ended_at: Option<(usize, u32)>,
    /// In the final round: the people still to write to.
    final_to: Vec<usize>,
    /// The final message in flight: to whom, and its key once sent.
    final_sent: Option<(usize, Option<Key>)>,
    /// Final messages accepted, to be shown: to whom, and when accepted.
    final_accepted: Vec<(Key, usize, Instant)>,
    /// When it first wrote to each other person in the final round.
    final_began: Vec<Option<Instant>>,
    /// When the person last checked its session in the final round.
    last_check: Instant,
    /// Since when the nodes have held a session of it that is wrong
    /// (a login takes a broker round trip to end the one before).
    wrong_since: Option<Instant>,
}

impl Person {
    /// Whether the run knows which of its logins is the last: none was
    /// given up (it may still land at a stalled node), and no second
    /// device's login may hold the session.
    fn judged(&self) -> bool {
        !self.unconfirmed && self.second_device_until.is_none()
    }
}

/// What a run did.
#[derive(Debug)]
pub struct Report {
    pub options: Options,
    pub fingerprint: u64,
    pub violations: Vec<String>,
    pub simulated: Duration,
    /// Messages told Success, told offline, shown.
    pub counts: (u32, u32, u32),
    /// What the people's clients said: "not confirmed" (no answer after
    /// every resend) and "please log in again", during the faults.
    pub not_confirmed: u32,
    pub log_in_again: u32,
    /// For each pair in the final round: from the first try to the
    /// message shown.
    pub pairs: Vec<Duration>,
}

/// Prints a trace line at simulated time `at`, if tracing.
fn say(at: Option<Duration>, what: impl FnOnce() -> String) {
    if let Some(at) = at {
        println!("{at:>10.3?} {}", what());
    }
}

/// Runs the seed's simulation.
pub fn run(seed: u64, verbose: bool) -> Report {
    let mut world = World::new(Options::from_seed(seed), verbose);
    world.run();
    world.report()
}

/// Every party and the network between them.
struct World {
    options: Options,
    verbose: bool,
    t0: Instant,
    now: Instant,
    rng: StdRng,
    queue: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    accounts: Accounts,
    broker: FakeBroker,
    broker_up: bool,
    broker_stalled_until: Option<Instant>,
    conns: Vec<Connection>,
    nodes: Vec<NodeSlot>,
    people: Vec<Person>,
    to_nodes: FaultInjector,
    to_people: FaultInjector,
    oracle: Oracle,
    fingerprint: DefaultHasher,
    /// Faults striking now.
    active: usize,
    calm_since: Option<Instant>,
    next_check: Instant,
    /// When the final round began: every person writes to every other.
    final_round: Option<Instant>,
    liveness: Option<Duration>,
    /// The message a person's client is handed, while it is.
    showing: Option<Key>,
    /// In the final round: everyone was logged in at once.
    everyone_in: bool,
    /// The place in the queue of the item being handled.
    handling: u64,
    /// Notices before the final round (see [`Report`]).
    not_confirmed: u32,
    log_in_again: u32,
}

impl World {
    fn new(options: Options, verbose: bool) -> Self {
        let t0 = Instant::now();
        let mut accounts = Accounts::default();
        for n in 0..options.people {
            accounts.add(&format!("p{n}"), format!("pw{n}").as_bytes());
        }
        let mut rng = StdRng::seed_from_u64(options.seed);
        let people = (0..options.people)
            .map(|n| {
                let client = Client::with_rng(
                    HUB,
                    ReplyTo::Addr(person_addr(n)),
                    ClientConfig::default(),
                    Box::new(StdRng::seed_from_u64(options.seed ^ (1000 + n as u64))),
                );
                Person {
                    id: format!("p{n}"),
                    password: format!("pw{n}"),
                    client,
                    home: rng.random_range(0..options.nodes),
                    next_act: t0 + Duration::from_millis(rng.random_range(0..500)),
                    away_until: None,
                    typed: 0,
                    token: None,
                    state: ClientState::Offline,
                    state_since: t0,
                    ended: false,
                    unconfirmed: false,
                    login_typed: t0,
                    second_device_until: None,
                    log_in_again: false,
                    leave_soon: false,
                    ended_at: None,
                    final_to: Vec::new(),
                    final_sent: None,
                    final_accepted: Vec::new(),
                    last_check: t0,
                    final_began: vec![None; options.people],
                    wrong_since: None,
                }
            })
            .collect();
        let mut world = Self {
            verbose,
            t0,
            now: t0,
            rng,
            queue: BinaryHeap::new(),
            seq: 0,
            broker: FakeBroker::default(),
            broker_up: true,
            broker_stalled_until: None,
            conns: Vec::new(),
            nodes: Vec::new(),
            people,
            to_nodes: FaultInjector::new(options.to_nodes, options.seed),
            to_people: FaultInjector::new(options.to_people, !options.seed),
            oracle: Oracle::new(options.people),
            fingerprint: DefaultHasher::new(),
            active: 0,
            calm_since: None,
            next_check: t0,
            final_round: None,
            liveness: None,
            showing: None,
            everyone_in: false,
            handling: 0,
            not_confirmed: 0,
            log_in_again: 0,
            accounts,
            options,
        };
        for n in 0..world.options.nodes {
            world.nodes.push(NodeSlot {
                hub: None,
                incarnation: 0,
                conn: None,
                stalled_until: None,
                cut: false,
            });
            world.start_node(n);
        }
        for (n, strike) in world.options.strikes.clone().iter().enumerate() {
            world.schedule(t0 + strike.at, Item::Strike(n));
            world.schedule(t0 + strike.at + strike.lasting, Item::Heal(n));
        }
        world
    }

    fn report(&self) -> Report {
        Report {
            options: self.options.clone(),
            fingerprint: self.fingerprint.finish(),
            violations: self.oracle.violations.clone(),
            simulated: self.now - self.t0,
            counts: self.oracle.counts,
            pairs: self.pairs(),
            not_confirmed: self.not_confirmed,
            log_in_again: self.log_in_again,
        }
    }

    fn run(&mut self) {
        let last_heal = self
            .options
            .strikes
            .iter()
            .map(|s| s.at + s.lasting)
            .max()
            .unwrap_or_default();
        let final_at = self.t0 + self.options.chaos.max(last_heal) + CALM * 2;
        // Time for the last resends, whose waits grow to 30 s, to get
        // through a lossy network.
        let give_up = final_at + Duration::from_secs(600);
        let mut same_moment = 0;
        while self.now < give_up {
            // A party that asks to be called at once, every time, would
            // hold a real Reactor in a busy loop.
            let before = self.now;
            if self.final_round.is_none() && self.now >= final_at {
                self.begin_final_round();
            }
            if self.finished() {
                break;
            }
            self.step(final_at);
            if !self.oracle.violations.is_empty() {
                return;
            }
            same_moment = if self.now == before {
                same_moment + 1
            } else {
                0
            };
            if same_moment > 10_000 {
                let what = format!(
                    "busy loop: the clock stays at {:?}: {}",
                    self.now - self.t0,
                    self.due()
                );
                return self.oracle.violation(what);
            }
        }
        if let (Some(start), None) = (self.final_round, self.liveness) {
            self.oracle.violation(format!(
                "liveness: after {:?} of calm, not every pair of people has chatted: {}",
                self.now - start,
                self.stuck()
            ));
        }
        if let Some(slowest) = self
            .pairs()
            .into_iter()
            .max()
            .filter(|&took| took > LIVENESS)
        {
            self.oracle.violation(format!(
                "liveness: once calm, a pair of people took {slowest:?} to reach each other"
            ));
        }
        if self.liveness.is_some() {
            self.oracle.judge_deliveries();
        }
    }

    /// How long each pair took to chat in the final round.
    fn pairs(&self) -> Vec<Duration> {
        let mut pairs = Vec::new();
        for person in &self.people {
            let mut shown: Vec<Option<Instant>> = vec![None; self.options.people];
            for (key, to, _) in &person.final_accepted {
                if let Some(at) = self.oracle.delivered_at(key) {
                    shown[*to] = Some(shown[*to].map_or(at, |first: Instant| first.min(at)));
                }
            }
            for (began, shown) in person.final_began.iter().zip(shown) {
                if let (Some(began), Some(shown)) = (began, shown) {
                    pairs.push(shown.saturating_duration_since(*began));
                }
            }
        }
        pairs
    }

    /// Done: every pair chatted, and no node owes anything any more.
    fn finished(&mut self) -> bool {
        let Some(start) = self.final_round else {
            return false;
        };
        if self.liveness.is_none() {
            let oracle = &self.oracle;
            let done = self.people.iter().all(|p| {
                p.final_to.is_empty()
                    && p.final_sent.is_none()
                    && p.final_accepted
                        .iter()
                        .all(|(key, ..)| oracle.delivered(key))
            });
            if !done {
                return false;
            }
            self.liveness = Some(self.now - start);
        }
        self.nodes.iter().filter_map(|n| n.hub.as_ref()).all(|hub| {
            let stats = hub.stats();
            stats.pending == 0 && stats.asking == 0
        })
    }

    /// Who wants to be called now.
    fn due(&self) -> String {
        let now = self.now;
        let nodes = self.nodes.iter().enumerate().filter_map(|(n, slot)| {
            let hub = slot.hub.as_ref()?;
            hub.poll_timeout()
                .is_some_and(|at| at <= now)
                .then(|| format!("node {n} ({})", hub.describe_timeout()))
        });
        let people = self
            .people
            .iter()
            .filter(|p| p.client.poll_timeout().is_some_and(|at| at <= now))
            .map(|p| p.id.clone());
        nodes.chain(people).collect::<Vec<_>>().join(", ")
    }

    fn stuck(&self) -> String {
        let stuck: Vec<String> = self
            .people
            .iter()
            .filter(|p| {
                !p.final_to.is_empty()
                    || p.final_sent.is_some()
                    || p.final_accepted
                        .iter()
                        .any(|(key, ..)| !self.oracle.delivered(key))
            })
            .map(|p| {
                format!(
                    "{} ({}, {:?} in flight, {} to go)",
                    p.id,
                    p.state.name(),
                    p.final_sent.as_ref().map(|(to, _)| to),
                    p.final_to.len()
                )
            })
            .collect();
        stuck.join(", ")
    }

    /// Puts off the item being handled until `until`, in its place among
    /// the others: what a stalled party reads later, it reads in order.
    fn defer(&mut self, until: Instant, item: Item) {
        self.queue.push(Reverse(Scheduled {
            at: until,
            seq: self.handling,
            item,
        }));
    }

    fn schedule(&mut self, at: Instant, item: Item) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled {
            at,
            seq: self.seq,
            item,
        }));
    }

    /// The next moment anything happens.
    fn next_moment(&self, final_at: Instant) -> Instant {
        let queued = self.queue.peek().map(|Reverse(s)| s.at);
        let nodes = self.nodes.iter().filter_map(|slot| {
            let at = slot.hub.as_ref()?.poll_timeout()?;
            Some(slot.stalled_until.map_or(at, |until| at.max(until)))
        });
        let people = self.people.iter().flat_map(|p| {
            let acts = p.away_until.unwrap_or(p.next_act).max(p.next_act);
            [p.client.poll_timeout(), Some(acts)]
        });
        let checks = Some(self.next_check);
        queued
            .into_iter()
            .chain(nodes)
            .chain(people.flatten())
            .chain(checks)
            .chain(Some(final_at).filter(|_| self.final_round.is_none()))
            .min()
            .expect("people always act")
    }

    fn step(&mut self, final_at: Instant) {
        let at = self.next_moment(final_at);
        self.now = self.now.max(at);
        let now = self.now;
        while self.queue.peek().is_some_and(|Reverse(s)| s.at <= now) {
            let Reverse(scheduled) = self.queue.pop().expect("peeked");
            self.handling = scheduled.seq;
            self.handle(scheduled.item);
        }
        for n in 0..self.nodes.len() {
            let slot = &mut self.nodes[n];
            if slot.stalled_until.is_some_and(|until| until > now) {
                continue;
            }
            let Some(hub) = &mut slot.hub else {
                continue;
            };
            if hub.poll_timeout().is_some_and(|at| at <= now) {
                hub.handle_timeout(now);
                self.after_node(n);
            }
        }
        for p in 0..self.people.len() {
            if self.people[p]
                .client
                .poll_timeout()
                .is_some_and(|at| at <= now)
            {
                self.people[p].client.handle_timeout(now);
                self.after_person(p);
            }
            if self.people[p].next_act <= now {
                self.act(p);
            }
        }
        if self.next_check <= now {
            self.check_calm();
            self.next_check = now + Duration::from_millis(250);
        }
    }

    fn trace(&self, what: impl FnOnce() -> String) {
        say(self.clock(), what);
    }

    /// When it is, for a trace line: `None` unless verbose.
    fn clock(&self) -> Option<Duration> {
        self.verbose.then(|| self.now - self.t0)
    }

    fn handle(&mut self, item: Item) {
        let now = self.now;
        self.fingerprint.write_u128((now - self.t0).as_nanos());
        match item {
            Item::Datagram {
                to,
                from,
                process,
                bytes,
            } => {
                self.fingerprint.write(&bytes);
                match to {
                    Party::Node(n) => self.datagram_to_node(n, from, process, bytes),
                    Party::Person(p) => self.datagram_to_person(p, process, &bytes),
                }
            }
            Item::ToBroker { conn, bytes } => {
                if let Some(bytes) = &bytes {
                    self.fingerprint.write(bytes);
                }
                self.deliver_to_broker(conn, bytes)
            }
            Item::FromBroker { conn, bytes } => {
                if let Some(bytes) = &bytes {
                    self.fingerprint.write(bytes);
                }
                self.deliver_from_broker(conn, bytes)
            }
            Item::Strike(n) => self.strike(n),
            Item::Heal(n) => self.heal(n),
        }
    }

    fn datagram_to_node(
        &mut self,
        n: usize,
        from: SocketAddr,
        held_by: Option<(usize, u32)>,
        bytes: Vec<u8>,
    ) {
        let clock = self.clock();
        let slot = &mut self.nodes[n];
        if held_by.is_some_and(|(_, incarnation)| incarnation != slot.incarnation) {
            return; // in the socket of a process that died
        }
        if let Some(until) = slot.stalled_until.filter(|&until| until > self.now) {
            let item = Item::Datagram {
                to: Party::Node(n),
                from,
                process: Some((n, slot.incarnation)),
                bytes,
            };
            return self.defer(until, item);
        }
        let Some(hub) = &mut slot.hub else {
            return; // crashed: lost
        };
        say(clock, || format!("node {n} <- {}", bytes.escape_ascii()));
        hub.handle_datagram(self.now, from, &bytes);
        self.after_node(n);
    }

    fn datagram_to_person(&mut self, p: usize, from_node: Option<(usize, u32)>, bytes: &[u8]) {
        let now = self.now;
        let person = &mut self.people[p];
        if person.away_until.is_some_and(|until| until > now) {
            return;
        }
        self.trace(|| format!("{} <- {}", self.people[p].id, bytes.escape_ascii()));
        let person = &mut self.people[p];
        let before = person.client.state();
        // A forward shown now is this one.
        self.showing = match wire::parse(bytes) {
            Ok(Message::Chat(chat)) => Some(oracle::key_of(&chat)),
            _ => None,
        };
        person.client.handle_datagram(now, HUB, bytes);
        if before == ClientState::LoginSent && person.client.state() != ClientState::LoginSent {
            if let (Ok(Message::Success(Success { token, .. })), Some((n, incarnation))) =
                (wire::parse(bytes), from_node)
            {
                person.token = Some((token.as_str().to_owned(), n, incarnation));
            }
        }
        self.after_person(p);
        self.showing = None;
    }

    fn deliver_to_broker(&mut self, conn: usize, bytes: Option<Vec<u8>>) {
        if let Some(until) = self.broker_stalled_until.filter(|&until| until > self.now) {
            return self.defer(until, Item::ToBroker { conn, bytes });
        }
        let connection = &mut self.conns[conn];
        let (Some(at_broker), false) = (connection.at_broker, connection.cut) else {
            return;
        };
        match bytes {
            None => {
                self.broker.close(at_broker);
                connection.at_broker = None;
            }
            Some(bytes) => {
                self.trace(|| format!("broker <- {conn}: {}", bytes.escape_ascii()));
                self.broker.read(at_broker, &bytes);
            }
        }
        self.broker_writes();
    }

    /// Puts what the broker wrote on its way.
    fn broker_writes(&mut self) {
        if self
            .broker_stalled_until
            .is_some_and(|until| until > self.now)
        {
            return; // a stopped broker writes nothing, not even to a new connection
        }
        let at = self.now + self.options.tcp_latency;
        for conn in 0..self.conns.len() {
            let Some(at_broker) = self.conns[conn].at_broker else {
                continue;
            };
            let bytes = self.broker.take_output(at_broker);
            if !bytes.is_empty() {
                self.schedule(
                    at,
                    Item::FromBroker {
                        conn,
                        bytes: Some(bytes),
                    },
                );
            }
        }
    }

    fn deliver_from_broker(&mut self, conn: usize, bytes: Option<Vec<u8>>) {
        let n = self.conns[conn].node;
        if bytes.is_some() && self.conns[conn].cut {
            return;
        }
        let clock = self.clock();
        let slot = &mut self.nodes[n];
        if slot.conn != Some(conn) || slot.hub.is_none() {
            return; // an old connection's, or the node crashed
        }
        if let Some(until) = slot.stalled_until.filter(|&until| until > self.now) {
            return self.defer(until, Item::FromBroker { conn, bytes });
        }
        let Some(hub) = &mut slot.hub else {
            return;
        };
        match bytes {
            Some(bytes) => {
                say(clock, || {
                    format!("node {n} <- broker: {}", bytes.escape_ascii())
                });
                hub.handle_bytes(self.now, &bytes);
            }
            None => {
                say(clock, || format!("node {n}: connection {conn} reset"));
                slot.conn = None;
                hub.handle_lost(self.now, "connection reset");
            }
        }
        self.after_node(n);
    }

    /// What a node's edge does after the node handled anything: open or
    /// close its broker connection as its link wants, write what it
    /// queued, send its datagrams.
    fn after_node(&mut self, n: usize) {
        let now = self.now;
        let latency = self.options.tcp_latency;
        let slot = &mut self.nodes[n];
        let Some(hub) = &mut slot.hub else {
            return;
        };
        if let Some(conn) = slot.conn {
            if hub.is_down() {
                slot.conn = None;
                self.seq += 1;
                let item = Item::ToBroker { conn, bytes: None };
                self.queue.push(Reverse(Scheduled {
                    at: now + latency,
                    seq: self.seq,
                    item,
                }));
            }
        }
        if slot.conn.is_none() && hub.wants_connection(now) {
            if self.broker_up && !slot.cut {
                let conn = self.conns.len();
                self.conns.push(Connection {
                    node: n,
                    at_broker: Some(self.broker.connect()),
                    cut: false,
                });
                slot.conn = Some(conn);
                hub.handle_connected(now);
                self.broker_writes();
            } else {
                hub.handle_lost(now, "connection refused");
            }
        }
        let slot = &mut self.nodes[n];
        let Some(hub) = &mut slot.hub else {
            return;
        };
        let mut written = Vec::new();
        loop {
            let bytes = hub.pending_write(now);
            if bytes.is_empty() {
                break;
            }
            written.extend_from_slice(bytes);
            let len = bytes.len();
            hub.written(len);
        }
        if let (Some(conn), false) = (slot.conn, written.is_empty()) {
            self.schedule(
                now + latency,
                Item::ToBroker {
                    conn,
                    bytes: Some(written),
                },
            );
        }
        let clock = self.clock();
        let slot = &mut self.nodes[n];
        let Some(hub) = &mut slot.hub else {
            return;
        };
        let incarnation = slot.incarnation;
        let mut out = Vec::new();
        while let Some(transmit) = hub.poll_transmit() {
            out.push((transmit.to, transmit.payload.to_vec()));
        }
        while let Some(event) = hub.poll_event() {
            say(clock, || format!("node {n}: {event}"));
            // A session that ended here: what it was owed may be lost.
            let ended = match &event {
                HubEvent::Expired { id } | HubEvent::LoggedOff { id } => Some(id),
                HubEvent::MovedAway {
                    id,
                    online_there: false,
                } => Some(id),
                _ => None,
            };
            if let Some(p) = ended.and_then(|id| person_of(id, self.options.people)) {
                self.oracle.epochs[p] += 1;
            }
            // Handed over to the node of a later login, and nobody holds
            // the user: that session ended before it was shown.
            if let HubEvent::GaveUp {
                from, msg_id, why, ..
            } = &event
            {
                if *why == crate::hub::ENDED_ELSEWHERE_TOO {
                    self.oracle
                        .excuse((from.clone(), msg_id.as_str().to_owned()));
                }
            }
        }
        for (to, bytes) in out {
            if (0..self.people.len()).any(|p| second_device(p) == to) {
                continue; // a second device: it shows nothing
            }
            let Some(p) = (0..self.people.len()).find(|&p| person_addr(p) == to) else {
                self.oracle
                    .violation(format!("node {n} sent to {to}, nobody's address"));
                continue;
            };
            let calm = self.calm_tokens();
            self.oracle.node_sent(&bytes, |person| calm[person].clone());
            for wait in self.to_people.decide().copies() {
                let item = Item::Datagram {
                    to: Party::Person(p),
                    from: HUB,
                    process: Some((n, incarnation)),
                    bytes: bytes.clone(),
                };
                self.schedule(now + wait, item);
            }
        }
    }

    fn after_person(&mut self, p: usize) {
        let now = self.now;
        let person = &mut self.people[p];
        let state = person.client.state();
        if state != person.state {
            person.state = state;
            person.state_since = now;
        }
        let mut out = Vec::new();
        while let Some(transmit) = person.client.poll_transmit() {
            out.push(transmit.payload.to_vec());
        }
        let mut notices = Vec::new();
        while let Some(notice) = person.client.poll_notice() {
            notices.push(notice);
        }
        while person.client.poll_event().is_some() {}
        let away = person.away_until.is_some_and(|until| until > now);
        let home = person.home;
        for bytes in out {
            let people = self.options.people;
            let key = self.oracle.person_sent(&bytes, |id| person_of(id, people));
            // The final message, or the same sent again after a new login.
            if let (Some((_, sent)), Some(key)) = (&mut self.people[p].final_sent, key) {
                *sent = Some(key);
            }
            if away {
                continue;
            }
            for wait in self.to_nodes.decide().copies() {
                let item = Item::Datagram {
                    to: Party::Node(home),
                    from: person_addr(p),
                    process: None,
                    bytes: bytes.clone(),
                };
                self.schedule(now + wait, item);
            }
        }
        for notice in notices {
            self.notice(p, notice);
        }
    }

    fn notice(&mut self, p: usize, notice: Notice) {
        self.trace(|| format!("{}: {notice}", self.people[p].id));
        if self.final_round.is_none() {
            match notice {
                Notice::NotAnswering(Unanswered::Message { .. }) => self.not_confirmed += 1,
                Notice::LogInAgain | Notice::TokenError => self.log_in_again += 1,
                _ => {}
            }
        }
        let person = &mut self.people[p];
        match notice {
            Notice::Received { .. } => {
                if let Some(key) = self.showing.clone() {
                    self.oracle.shown(self.now, p, key);
                }
            }
            Notice::LoggedIn { .. } => {
                person.ended = false;
                // A login given up may still wait at a stalled node, and
                // be taken there after this one: only a login made since
                // the cluster is calm is surely the last.
                if self
                    .calm_since
                    .is_some_and(|calm| calm <= person.login_typed)
                {
                    person.unconfirmed = false;
                }
            }
            Notice::LogInAgain | Notice::TokenError => {
                person.ended = true;
                // The record of the session was where it began.
                person.ended_at = person.token.as_ref().map(|(_, n, i)| (*n, *i));
                person.token = None;
            }
            Notice::LoggedOff => {
                person.ended = true;
                // The record of the session was where it began.
                person.ended_at = person.token.as_ref().map(|(_, n, i)| (*n, *i));
                person.token = None;
                // Gone for a while, as people go, unless the end is near.
                if self.final_round.is_none() {
                    let away = Duration::from_millis(self.rng.random_range(1_000..30_000));
                    person.next_act = person.next_act.max(self.now + away);
                }
            }
            Notice::NotAnswering(Unanswered::Login | Unanswered::Logoff) => {
                person.unconfirmed = true
            }
            // The final round: the message in flight has its answer.
            Notice::Accepted { .. } => {
                if let Some((to, Some(key))) = person.final_sent.take() {
                    person.final_accepted.push((key, to, self.now));
                }
            }
            Notice::DestinationOffline { .. } => {
                // Not delivered: written again.
                if let Some((to, _)) = person.final_sent.take() {
                    person.final_to.insert(0, to);
                }
            }
            Notice::NotAnswering(Unanswered::Message { .. }) => {
                if let Some((to, _)) = person.final_sent.take() {
                    person.final_to.insert(0, to);
                }
                // As the notice suggests: the session may have moved.
                person.log_in_again = true;
            }
            _ => {}
        }
    }

    /// A person types what it wants to, when its client can take it.
    fn act(&mut self, p: usize) {
        let now = self.now;
        // The final round's messages wait until everyone logged in once.
        if self.final_round.is_some() && !self.everyone_in && self.all_online() {
            self.everyone_in = true;
        }
        let all_online = self.everyone_in;
        let think = Duration::from_millis(self.rng.random_range(100..3_000));
        let person = &mut self.people[p];
        person.next_act = now + think;
        if person.away_until.is_some_and(|until| until > now) {
            return;
        }
        person.away_until = None;
        // A person reads what the client said before acting on it: a login
        // is never within a reaction time of the one before, wherever it
        // landed (docs/cluster.md: logins closer than the clocks disagree
        // may be ordered by the clocks).
        if now < person.state_since + REACTION {
            person.next_act = person.state_since + REACTION;
            return;
        }
        let line = match (person.client.state(), self.final_round.is_some()) {
            (ClientState::Online, _) if person.log_in_again => {
                person.log_in_again = false;
                format!("{}->server#login<{}>", person.id, person.password)
            }
            (ClientState::Online, false) if person.leave_soon => {
                person.leave_soon = false;
                format!("{}->server#logoff", person.id)
            }
            (ClientState::Offline, _) if !person.unconfirmed || self.rng.random_bool(0.3) => {
                format!("{}->server#login<{}>", person.id, person.password)
            }
            (ClientState::Online, true) => {
                // Accepted long ago and not shown: its destination's
                // session ended first. Written again, as a person would.
                let oracle = &self.oracle;
                let (lost, kept) = std::mem::take(&mut person.final_accepted)
                    .into_iter()
                    .partition(|(key, _, at)| !oracle.delivered(key) && now >= *at + RETRY);
                person.final_accepted = kept;
                let lost: Vec<_> = lost;
                person
                    .final_to
                    .extend(lost.into_iter().map(|(_, to, _)| to));
                match person.final_to.first().copied() {
                    Some(to) if person.final_sent.is_none() && all_online => {
                        person.final_to.remove(0);
                        person.typed += 1;
                        let body = format!("final {} to p{to}, try {}", person.id, person.typed);
                        person.final_sent = Some((to, None));
                        person.final_began[to].get_or_insert(now);
                        format!("{}->p{to}#{body}", person.id)
                    }
                    // Keeps its session from expiring, as a check does.
                    _ if now >= person.last_check + RETRY / 2 => {
                        person.last_check = now;
                        format!("{}->server#login<{}>", person.id, person.password)
                    }
                    _ => return,
                }
            }
            (ClientState::Online, false) => {
                let roll: f64 = self.rng.random();
                if roll < 0.8 {
                    let to = self.rng.random_range(0..self.options.people);
                    person.typed += 1;
                    format!("{}->p{to}#m {} {}", person.id, person.id, person.typed)
                } else if roll < 0.85 {
                    format!("{}->server#logoff", person.id)
                } else if roll < 0.9 && self.options.nodes > 1 {
                    // Moves to another node, and now and then leaves at
                    // once: a login and a logoff elsewhere, maybe during
                    // an outage, that must end the session it left.
                    let others = self.options.nodes - 1;
                    person.home =
                        (person.home + 1 + self.rng.random_range(0..others)) % self.options.nodes;
                    person.leave_soon = self.rng.random_bool(0.4);
                    format!("{}->server#login<{}>", person.id, person.password)
                } else if roll < 0.92 && self.options.nodes > 1 {
                    // Logs in on a second device at another node, in the
                    // same instant as again on this one: two logins cross.
                    let others = self.options.nodes - 1;
                    let there =
                        (person.home + 1 + self.rng.random_range(0..others)) % self.options.nodes;
                    person.second_device_until = Some(now + SECOND_DEVICE);
                    self.oracle.epochs[p] += 1;
                    let login = format!(
                        "{}->server#login<{}><{}><{}>",
                        person.id,
                        person.password,
                        second_device(p).ip(),
                        second_device(p).port()
                    );
                    self.trace(|| {
                        format!(
                            "{}'s second device logs in at node {there}",
                            self.people[p].id
                        )
                    });
                    let item = Item::Datagram {
                        to: Party::Node(there),
                        from: second_device(p),
                        process: None,
                        bytes: login.into_bytes(),
                    };
                    self.schedule(now, item);
                    format!(
                        "{}->server#login<{}>",
                        self.people[p].id, self.people[p].password
                    )
                } else if roll < 0.94 {
                    // Walks away: nothing reaches its client, nor leaves it,
                    // until its session has expired.
                    let until = now + SESSION_TIMEOUT + Duration::from_secs(2);
                    person.away_until = Some(until);
                    person.next_act = until;
                    return;
                } else {
                    return;
                }
            }
            _ => return,
        };
        self.trace(|| format!("{} types {line}", self.people[p].id));
        if line.contains("#login<") {
            self.people[p].login_typed = now;
        }
        self.people[p].client.handle_line(now, line.as_bytes());
        self.after_person(p);
    }

    fn all_online(&self) -> bool {
        self.people
            .iter()
            .all(|p| matches!(p.state, ClientState::Online | ClientState::MessageSent))
    }

    fn begin_final_round(&mut self) {
        self.trace(|| "final round: every person writes to every other".into());
        self.final_round = Some(self.now);
        let people = self.options.people;
        for (p, person) in self.people.iter_mut().enumerate() {
            person.away_until = None;
            person.next_act = self.now;
            person.final_to = (0..people).filter(|&q| q != p).collect();
        }
    }

    fn start_node(&mut self, n: usize) {
        let slot = &mut self.nodes[n];
        let config = HubConfig {
            session_timeout: SESSION_TIMEOUT,
            trace: self.verbose,
            ..HubConfig::default()
        };
        let seed = self.options.seed ^ ((n as u64) << 32) ^ u64::from(slot.incarnation);
        let mut hub = Hub::with_rng(
            self.accounts.clone(),
            config,
            Box::new(StdRng::seed_from_u64(seed)),
        );
        let wall = WALL_AT_START.saturating_add_signed(self.options.clock_offsets[n]);
        let wall = wall + (self.now - self.t0).as_micros() as u64;
        hub.join_cluster(ClusterConfig::new(self.now, wall), self.now);
        slot.hub = Some(hub);
        slot.stalled_until = None;
        self.after_node(n);
    }

    fn strike(&mut self, s: usize) {
        let strike = self.options.strikes[s];
        self.trace(|| format!("strikes: {:?} for {:?}", strike.fault, strike.lasting));
        self.active += 1;
        self.calm_since = None;
        let now = self.now;
        let latency = self.options.tcp_latency;
        match strike.fault {
            Fault::BrokerCrash => {
                self.broker_up = false;
                for conn in 0..self.conns.len() {
                    if self.conns[conn].at_broker.take().is_some() {
                        self.schedule(now + latency, Item::FromBroker { conn, bytes: None });
                    }
                }
            }
            Fault::BrokerStall => {
                let until = now + strike.lasting;
                self.broker_stalled_until =
                    Some(self.broker_stalled_until.map_or(until, |u| u.max(until)));
            }
            Fault::LinkCut(n) => {
                self.nodes[n].cut = true;
                if let Some(conn) = self.nodes[n].conn {
                    let connection = &mut self.conns[conn];
                    connection.cut = true;
                    if let Some(at_broker) = connection.at_broker.take() {
                        self.broker.close(at_broker);
                    }
                    self.schedule(now, Item::FromBroker { conn, bytes: None });
                }
            }
            Fault::NodeCrash(n) => {
                let slot = &mut self.nodes[n];
                if slot.hub.take().is_none() {
                    return;
                }
                slot.stalled_until = None;
                self.oracle.crashes += 1;
                // The kernel sends what was written, then closes.
                if let Some(conn) = slot.conn.take() {
                    self.schedule(now + latency, Item::ToBroker { conn, bytes: None });
                }
            }
            Fault::NodeStall(n) => {
                let until = now + strike.lasting;
                let slot = &mut self.nodes[n];
                if slot.hub.is_some() {
                    slot.stalled_until = Some(slot.stalled_until.map_or(until, |u| u.max(until)));
                }
            }
        }
    }

    fn heal(&mut self, s: usize) {
        let strike = self.options.strikes[s];
        self.trace(|| format!("heals: {:?}", strike.fault));
        self.active -= 1;
        match strike.fault {
            Fault::BrokerCrash => {
                if !self.broker_up {
                    self.broker = FakeBroker::default();
                    self.broker_up = true;
                }
            }
            Fault::LinkCut(n) => self.nodes[n].cut = false,
            Fault::NodeCrash(n) => {
                if self.nodes[n].hub.is_none() {
                    self.nodes[n].incarnation += 1;
                    self.start_node(n);
                }
            }
            Fault::BrokerStall => self.broker_writes(),
            Fault::NodeStall(_) => {}
        }
    }

    /// Whether every fault healed and every node is linked.
    fn is_calm(&self) -> bool {
        self.active == 0
            && self
                .broker_stalled_until
                .is_none_or(|until| until <= self.now)
            && self.nodes.iter().all(|slot| {
                slot.stalled_until.is_none_or(|until| until <= self.now)
                    && slot.hub.as_ref().is_some_and(|hub| hub.stats().broker_up)
            })
    }

    /// For each person, the token every forward to it must carry now: its
    /// client's, once the cluster has been calm a while and the client has
    /// been settled in a session a while.
    fn calm_tokens(&self) -> Vec<Option<String>> {
        let calm = self
            .calm_since
            .is_some_and(|since| self.now >= since + CALM);
        self.people
            .iter()
            .map(|person| {
                let settled =
                    matches!(person.state, ClientState::Online | ClientState::MessageSent)
                        && self.now >= person.state_since + CALM
                        && person.judged();
                let (token, n, incarnation) = person.token.as_ref()?;
                // A node that died took the record of the login with it: an
                // older session elsewhere may be the one that stays
                // (docs/cluster.md, "What fails how").
                let alive = self.nodes[*n].incarnation == *incarnation;
                (calm && settled && alive).then(|| token.clone())
            })
            .collect()
    }

    /// Calm a while: no ended session is online anywhere, no user online
    /// at two nodes; and always: memory within bounds.
    fn check_calm(&mut self) {
        let now = self.now;
        for (p, person) in self.people.iter_mut().enumerate() {
            if person.second_device_until.is_some_and(|until| until <= now) {
                // What went to the second device meanwhile is not shown.
                person.second_device_until = None;
                self.oracle.epochs[p] += 1;
            }
        }
        if !self.is_calm() {
            self.calm_since = None;
        } else if self.calm_since.is_none() {
            self.calm_since = Some(now);
        }
        for (n, slot) in self.nodes.iter().enumerate() {
            let Some(hub) = &slot.hub else {
                continue;
            };
            let stats = hub.stats();
            let people = self.options.people;
            let config = HubConfig::default();
            if stats.online > people
                || stats.pending > stats.online * config.max_pending
                || stats.remembered_ids > stats.online * config.remembered_ids
                || stats.asking > people * (1 + config.max_pending)
                || stats.timers > 2 * people + 1
            {
                let what = format!("node {n} holds more than its bounds: {stats:?}");
                self.oracle.violation(what);
            }
        }
        if self.calm_since.is_none_or(|since| now < since + CALM) {
            for person in &mut self.people {
                person.wrong_since = None;
            }
            return;
        }
        for p in 0..self.people.len() {
            let person = &self.people[p];
            let online_at: Vec<usize> = (0..self.nodes.len())
                .filter(|&n| {
                    let hub = self.nodes[n].hub.as_ref();
                    hub.and_then(|h| h.state_of(&person.id))
                        .is_some_and(|s| s != crate::hub::SessionState::Offline)
                })
                .collect();
            let settled = now >= person.state_since + CALM && person.judged();
            let expected = match (&person.token, person.state) {
                (Some((_, n, incarnation)), ClientState::Online | ClientState::MessageSent)
                    if self.nodes[*n].incarnation == *incarnation =>
                {
                    Some(*n)
                }
                _ => None,
            };
            let wrong = if online_at.len() > 1 {
                Some("online at more than one node")
            } else if settled
                && person.ended
                // (unless the node that ended it died since, and took the
                // record of it along: docs/cluster.md, "What fails how")
                && person
                    .ended_at
                    .is_none_or(|(n, incarnation)| self.nodes[n].incarnation == incarnation)
                && person.state == ClientState::Offline
                && !online_at.is_empty()
            {
                Some("its session ended, and it is online")
            } else if settled
                && expected.is_some()
                && online_at.iter().any(|&n| Some(n) != expected)
            {
                Some("online at a node other than its last login's")
            } else {
                None
            };
            let person = &mut self.people[p];
            let Some(wrong) = wrong else {
                person.wrong_since = None;
                continue;
            };
            let since = *person.wrong_since.get_or_insert(now);
            if now >= since + SETTLE {
                let person = &self.people[p];
                let what = format!(
                    "calm for {:?}, and {} is {wrong}: at nodes {online_at:?}, its client {} with a token from {:?}",
                    now - self.calm_since.unwrap_or(now),
                    person.id,
                    person.state.name(),
                    person.token
                );
                self.oracle.violation(what);
            }
        }
    }
}
