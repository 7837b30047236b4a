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

mod faults;
mod network;
mod options;
mod oracle;
mod people;
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
use crate::client::{Client, ClientConfig, ClientState};
use crate::nats::fake_broker::FakeBroker;
use crate::relay::FaultInjector;
use crate::wire::ReplyTo;
use network::{Connection, NodeSlot};
pub use options::{Fault, Options};
use oracle::{Key, Oracle};
use people::{person_addr, Person};

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
}
