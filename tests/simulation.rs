//! The fault tests' chat (`common/chat.rs`), in memory and exact: the real
//! [`Hub`] and [`Client`] state machines, the relay's [`FaultInjector`]
//! deciding each datagram's fate, and a simulated clock.
//!
//! Nothing runs on its own: [`Sim::step`] moves the clock to the earliest
//! thing anyone waits for (a datagram's arrival, the hub's or a client's
//! deadline) and does it, as quinn's test pair does. With the hub's, the
//! clients' and the faults' generators seeded, a seed replays a run bit for
//! bit, and the defaults run unscaled (1 s resends, 5-minute sessions)
//! because waiting costs nothing: thousands of messages take milliseconds.
//! `REACTOR_HUB_FAULT_SEED=N` replays another seed; `tests/faults.rs` runs
//! the same chat over real sockets.

mod common;

use std::cmp::Reverse;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::hash::Hasher;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::chat::{self, Accepted, Run, Script, Verdict, LOSSY};
use rand::rngs::StdRng;
use rand::SeedableRng;
use reactor_hub::client::{Client, ClientConfig};
use reactor_hub::hub::{Hub, HubConfig};
use reactor_hub::relay::{FaultInjector, Faults};
use reactor_hub::wire::ReplyTo;

/// Where a datagram goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Party {
    Hub,
    Client(usize),
}

/// A copy of a datagram on its way, due at `at`; `seq` keeps copies due at
/// the same moment in the order they were sent.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: Instant,
    seq: u64,
    to: Party,
    from: SocketAddr,
    bytes: Vec<u8>,
}

/// The hub, the people, and the network between them, on one clock.
struct Sim {
    t0: Instant,
    now: Instant,
    hub: Hub,
    clients: Vec<Client>,
    scripts: Vec<Script>,
    messages_each: usize,
    to_hub: FaultInjector,
    to_clients: FaultInjector,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    sent: u64,
    accepted: Accepted,
    /// Every delivery (when, to whom, what), hashed: equal for equal runs.
    fingerprint: DefaultHasher,
}

fn hub_addr() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], 32000))
}

fn client_addr(n: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 1, n as u8], 40000))
}

impl Sim {
    fn new(people: usize, messages_each: usize, faults: Faults, seed: u64) -> Self {
        let t0 = Instant::now();
        let hub = Hub::with_rng(
            chat::accounts(people),
            HubConfig::default(),
            Box::new(StdRng::seed_from_u64(seed)),
        );
        let clients = (0..people)
            .map(|n| {
                let rng = Box::new(StdRng::seed_from_u64(seed ^ (n as u64 + 1)));
                let reply_to = ReplyTo::Addr(client_addr(n));
                Client::with_rng(hub_addr(), reply_to, ClientConfig::default(), rng)
            })
            .collect();
        let mut sim = Self {
            t0,
            now: t0,
            hub,
            clients,
            scripts: (0..people)
                .map(|n| Script::new(n, people, messages_each))
                .collect(),
            messages_each,
            // As the relay seeds its two directions.
            to_hub: FaultInjector::new(faults, seed),
            to_clients: FaultInjector::new(faults, !seed),
            in_flight: BinaryHeap::new(),
            sent: 0,
            accepted: Accepted::default(),
            fingerprint: DefaultHasher::new(),
        };
        for n in 0..people {
            sim.scripts[n].log_in(&mut sim.clients[n], t0);
            sim.flush_client(n);
        }
        sim
    }

    /// Puts the copies of one datagram on the network, as its fate says.
    fn send(&mut self, from: SocketAddr, to: Party, bytes: &[u8]) {
        let fate = match to {
            Party::Hub => self.to_hub.decide(),
            Party::Client(_) => self.to_clients.decide(),
        };
        for wait in fate.copies() {
            self.sent += 1;
            self.in_flight.push(Reverse(InFlight {
                at: self.now + wait,
                seq: self.sent,
                to,
                from,
                bytes: bytes.to_vec(),
            }));
        }
    }

    fn flush_client(&mut self, n: usize) {
        let now = self.now;
        self.scripts[n].listen(&mut self.clients[n], now);
        while let Some(transmit) = self.clients[n].poll_transmit() {
            let bytes = transmit.payload.to_vec();
            self.send(client_addr(n), Party::Hub, &bytes);
        }
    }

    fn flush_hub(&mut self) {
        while let Some(transmit) = self.hub.poll_transmit() {
            let (to, bytes) = (transmit.to, transmit.payload.to_vec());
            let n = (0..self.clients.len())
                .find(|&n| client_addr(n) == to)
                .expect("the hub answers only the people's addresses");
            // The relay's tap: what the hub says, before the network has its way.
            self.accepted.see(&bytes);
            self.send(hub_addr(), Party::Client(n), &bytes);
        }
        while self.hub.poll_event().is_some() {}
    }

    /// When the next thing happens: a copy arrives, or a deadline passes.
    fn next_moment(&self) -> Option<Instant> {
        let arrival = self.in_flight.peek().map(|Reverse(copy)| copy.at);
        let deadlines = self.clients.iter().filter_map(Client::poll_timeout);
        arrival
            .into_iter()
            .chain(self.hub.poll_timeout())
            .chain(deadlines)
            .min()
    }

    /// Moves the clock to the next moment and does everything due then;
    /// false when nothing is left to happen.
    fn step(&mut self) -> bool {
        let Some(at) = self.next_moment() else {
            return false;
        };
        self.now = self.now.max(at);
        let now = self.now;
        while self
            .in_flight
            .peek()
            .is_some_and(|Reverse(copy)| copy.at <= now)
        {
            let Reverse(copy) = self.in_flight.pop().unwrap();
            self.fingerprint.write_u128((now - self.t0).as_nanos());
            self.fingerprint.write(&copy.bytes);
            match copy.to {
                Party::Hub => {
                    self.hub.handle_datagram(now, copy.from, &copy.bytes);
                    self.flush_hub();
                }
                Party::Client(n) => {
                    self.clients[n].handle_datagram(now, copy.from, &copy.bytes);
                    self.flush_client(n);
                }
            }
        }
        if self.hub.poll_timeout().is_some_and(|at| at <= now) {
            self.hub.handle_timeout(now);
            self.flush_hub();
        }
        for n in 0..self.clients.len() {
            if self.clients[n].poll_timeout().is_some_and(|at| at <= now) {
                self.clients[n].handle_timeout(now);
                self.flush_client(n);
            }
        }
        // Once everyone is in, each types what their client is ready for.
        if self.scripts.iter().all(|s| s.logged_in) {
            for n in 0..self.clients.len() {
                self.scripts[n].type_lines(&mut self.clients[n], now);
                self.flush_client(n);
            }
        }
        true
    }

    /// Every line has its outcome and no forward awaits its receipt.
    fn finished(&self) -> bool {
        let each = self.messages_each;
        self.scripts.iter().all(|s| s.done(each)) && self.hub.stats().pending == 0
    }

    /// Steps until finished; panics if the chat stops short of it or runs
    /// past `limit` of simulated time.
    fn run(&mut self, limit: Duration) {
        while !self.finished() {
            assert!(self.step(), "nothing left to happen, and not finished");
            assert!(self.now - self.t0 < limit, "not finished after {limit:?}");
        }
    }

    fn judge(&self, seed: u64, faults: Faults, started: Instant) {
        Run {
            seed,
            faults,
            scripts: self.scripts.iter().collect(),
            messages_each: self.messages_each,
            accepted: &self.accepted,
            pending: self.hub.stats().pending,
            to_hub: self.to_hub.stats(),
            to_clients: self.to_clients.stats(),
        }
        .judge(format!(
            "{:.1} s simulated in {:.0} ms",
            (self.now - self.t0).as_secs_f64(),
            started.elapsed().as_secs_f64() * 1000.0
        ));
    }
}

fn chat_in_memory(people: usize, messages_each: usize, faults: Faults, seed: u64) {
    let started = Instant::now();
    let mut sim = Sim::new(people, messages_each, faults, seed);
    sim.run(Duration::from_secs(3600));
    sim.judge(seed, faults, started);
}

#[test]
fn two_thousand_messages_through_a_lossy_network_are_each_shown_once() {
    chat_in_memory(6, 350, LOSSY, chat::seed());
}

#[test]
fn two_thousand_messages_through_a_network_losing_30_percent_are_each_shown_once() {
    let lossier = Faults {
        loss: 0.30,
        ..LOSSY
    };
    chat_in_memory(6, 350, lossier, chat::seed());
}

/// Several seeds, each a different run of the same chat.
#[test]
fn other_seeds_are_other_runs_and_all_pass() {
    for seed in [1, 2, 3, 4] {
        chat_in_memory(4, 75, LOSSY, seed);
    }
}

/// The same seed, the same run, delivery for delivery; another seed, another.
#[test]
fn a_seed_replays_its_run_bit_for_bit() {
    let fingerprint = |seed| {
        let mut sim = Sim::new(4, 75, LOSSY, seed);
        sim.run(Duration::from_secs(3600));
        (sim.fingerprint.finish(), sim.now - sim.t0, sim.sent)
    };
    assert_eq!(fingerprint(7), fingerprint(7));
    assert_ne!(fingerprint(7).0, fingerprint(8).0);
}

#[test]
fn the_verdict_catches_what_it_should() {
    let body = |s: &str| s.as_bytes().to_vec();
    let accepted: HashSet<Vec<u8>> = [body("a"), body("b"), body("c")].into();
    let shown: HashMap<Vec<u8>, u32> = [(body("a"), 1), (body("b"), 2), (body("x"), 1)].into();
    assert_eq!(
        Verdict::of(&accepted, &shown),
        Verdict {
            accepted: 3,
            delivered_once: 1,
            shown_twice: 1,
            never_shown: 1,
            not_accepted: 1,
        }
    );
}
