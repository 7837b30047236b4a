//! What a seed makes of a run: how many nodes and people, how bad the
//! network between people and nodes is, which faults strike the broker,
//! the links and the nodes, and when. Everything is drawn from the seed
//! and printed, so that a run can be read before it is replayed.

use std::fmt;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::relay::Faults;

/// One fault, struck at `at` (from the start) and healed `lasting` later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strike {
    pub at: Duration,
    pub fault: Fault,
    pub lasting: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The broker process dies (every subscription lost) and is started again.
    BrokerCrash,
    /// The broker stops reading and writing (SIGSTOP), then goes on.
    BrokerStall,
    /// A node's connection to the broker is cut, and none can be made
    /// until it heals: the node is partitioned from the broker.
    LinkCut(usize),
    /// A node process dies (its state lost) and is started again.
    NodeCrash(usize),
    /// A node stops (SIGSTOP), then goes on where it was.
    NodeStall(usize),
}

/// A run's settings.
#[derive(Clone, Debug)]
pub struct Options {
    pub seed: u64,
    pub nodes: usize,
    pub people: usize,
    /// Datagrams from people to nodes, and from nodes to people.
    pub to_nodes: Faults,
    pub to_people: Faults,
    /// One way across a broker connection.
    pub tcp_latency: Duration,
    /// Each node's wall clock, ahead (+) or behind (-) the true one, in µs.
    pub clock_offsets: Vec<i64>,
    /// How long the people chat while faults strike.
    pub chaos: Duration,
    pub strikes: Vec<Strike>,
}

impl Options {
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let nodes = rng.random_range(2..=5);
        let people = rng.random_range(3..=8);
        let udp = |rng: &mut StdRng| Faults {
            loss: pick(rng, &[0.0, 0.02, 0.1, 0.25]),
            duplicate: pick(rng, &[0.0, 0.02, 0.1]),
            reorder: pick(rng, &[0.0, 0.02, 0.1]),
            delay: Duration::from_micros(rng.random_range(100..5_000)),
            jitter: Duration::from_micros(rng.random_range(0..10_000)),
        };
        let (to_nodes, to_people) = (udp(&mut rng), udp(&mut rng));
        let tcp_latency = Duration::from_micros(rng.random_range(50..3_000));
        // Within what stamps tolerate: logins of one person at two nodes are
        // at least 100 ms apart (docs/cluster.md, "Clocks").
        let max_skew = pick(&mut rng, &[0, 1_000, 10_000, 40_000]);
        let clock_offsets = (0..nodes)
            .map(|_| rng.random_range(-max_skew..=max_skew))
            .collect();
        let chaos = Duration::from_secs(rng.random_range(20..60));
        let mut strikes = Vec::new();
        for _ in 0..rng.random_range(0..=6) {
            let node = rng.random_range(0..nodes);
            let fault = match rng.random_range(0..5) {
                0 => Fault::BrokerCrash,
                1 => Fault::BrokerStall,
                2 => Fault::LinkCut(node),
                3 => Fault::NodeCrash(node),
                _ => Fault::NodeStall(node),
            };
            let at = chaos.mul_f64(rng.random_range(0.05..0.9));
            // From a hiccup to longer than a node's patience with PINGs.
            let lasting = Duration::from_millis(pick(&mut rng, &[300, 1_600, 3_500, 12_000]));
            strikes.push(Strike { at, fault, lasting });
        }
        strikes.sort_by_key(|s| s.at);
        Self {
            seed,
            nodes,
            people,
            to_nodes,
            to_people,
            tcp_latency,
            clock_offsets,
            chaos,
            strikes,
        }
    }
}

fn pick<T: Copy>(rng: &mut StdRng, choices: &[T]) -> T {
    choices[rng.random_range(0..choices.len())]
}

impl fmt::Display for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {}: {} nodes, {} people, {:?} of chaos",
            self.seed, self.nodes, self.people, self.chaos
        )?;
        writeln!(f, "  people -> nodes: {}", self.to_nodes)?;
        writeln!(f, "  nodes -> people: {}", self.to_people)?;
        writeln!(
            f,
            "  broker connections: {:?} one way; node clocks off by {:?} us",
            self.tcp_latency, self.clock_offsets
        )?;
        if self.strikes.is_empty() {
            return write!(f, "  no faults");
        }
        for strike in &self.strikes {
            writeln!(
                f,
                "  at {:.1?}: {:?} for {:?}",
                strike.at, strike.fault, strike.lasting
            )?;
        }
        Ok(())
    }
}
