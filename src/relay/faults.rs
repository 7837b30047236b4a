//! What a bad network does to one datagram, decided by a seeded generator.
//!
//! This part has no sockets and no clock: [`FaultInjector::decide`] says, for
//! the next datagram, whether it is lost, and if not after how long each of
//! its copies arrives. The same seed gives the same sequence of fates: the
//! n-th datagram's fate depends on the seed and on n only, so a run whose
//! datagrams come in the same order is replayed exactly.
//!
//! The model is the one of Linux's `netem` (`delay D reorder P duplicate P
//! loss P`), plus jitter:
//! - a datagram is **lost** with probability [`Faults::loss`];
//! - one that is not is **duplicated** with probability
//!   [`Faults::duplicate`], and each copy is timed on its own;
//! - a copy waits [`Faults::delay`] plus a uniform share of
//!   [`Faults::jitter`] (so copies sent close together can swap places),
//!   except that with probability [`Faults::reorder`] it goes at once,
//!   overtaking every copy still waiting.

use std::fmt;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Rates and delays of the faults, for one direction of traffic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Faults {
    /// Probability that a datagram is dropped.
    pub loss: f64,
    /// Probability that a datagram that is not dropped arrives twice.
    pub duplicate: f64,
    /// Probability that a copy skips the delay and overtakes those waiting.
    pub reorder: f64,
    /// How long every other copy waits.
    pub delay: Duration,
    /// Up to this much more, uniformly drawn for each copy.
    pub jitter: Duration,
}

impl Faults {
    /// A perfect network: everything arrives once, at once.
    pub const NONE: Faults = Faults {
        loss: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
        delay: Duration::ZERO,
        jitter: Duration::ZERO,
    };

    /// Checks that every rate is a probability.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("loss", self.loss),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} rate {rate} is not between 0 and 1"));
            }
        }
        Ok(())
    }
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "loss {:.0}%, duplicate {:.0}%, reorder {:.0}%, delay {:?} + up to {:?}",
            self.loss * 100.0,
            self.duplicate * 100.0,
            self.reorder * 100.0,
            self.delay,
            self.jitter
        )
    }
}

/// The fate of one datagram: the wait of each copy that arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Lost,
    Once(Duration),
    Twice(Duration, Duration),
}

impl Fate {
    /// The waits of the copies that arrive, none if the datagram is lost.
    pub fn copies(self) -> impl Iterator<Item = Duration> {
        let (first, second) = match self {
            Fate::Lost => (None, None),
            Fate::Once(wait) => (Some(wait), None),
            Fate::Twice(a, b) => (Some(a), Some(b)),
        };
        first.into_iter().chain(second)
    }
}

/// What an injector did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Datagrams decided on.
    pub datagrams: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// Copies that skipped the delay.
    pub reordered: u64,
}

impl fmt::Display for FaultStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} datagrams: {} lost, {} duplicated, {} reordered",
            self.datagrams, self.lost, self.duplicated, self.reordered
        )
    }
}

/// Decides the fate of each datagram in turn, from a seed.
#[derive(Debug)]
pub struct FaultInjector {
    faults: Faults,
    rng: StdRng,
    stats: FaultStats,
}

impl FaultInjector {
    /// Panics if a rate is not a probability: check with [`Faults::validate`].
    pub fn new(faults: Faults, seed: u64) -> Self {
        if let Err(problem) = faults.validate() {
            panic!("{problem}");
        }
        Self {
            faults,
            rng: StdRng::seed_from_u64(seed),
            stats: FaultStats::default(),
        }
    }

    /// The fate of the next datagram.
    ///
    /// Every call draws the same number of random values, whatever it
    /// decides, so that the n-th datagram's fate depends only on the seed
    /// and on n.
    pub fn decide(&mut self) -> Fate {
        let lost = self.rng.random_bool(self.faults.loss);
        let twice = self.rng.random_bool(self.faults.duplicate);
        let first = self.wait();
        let second = self.wait();
        self.stats.datagrams += 1;
        if lost {
            self.stats.lost += 1;
            return Fate::Lost;
        }
        self.count_reordered(first);
        if !twice {
            return Fate::Once(first);
        }
        self.stats.duplicated += 1;
        self.count_reordered(second);
        Fate::Twice(first, second)
    }

    pub fn stats(&self) -> FaultStats {
        self.stats
    }

    pub fn faults(&self) -> Faults {
        self.faults
    }

    /// One copy's wait: zero if it jumps the queue.
    fn wait(&mut self) -> Duration {
        let jumps = self.rng.random_bool(self.faults.reorder);
        let share: f64 = self.rng.random();
        if jumps && !self.faults.delay.is_zero() {
            return Duration::ZERO;
        }
        self.faults.delay + self.faults.jitter.mul_f64(share)
    }

    fn count_reordered(&mut self, wait: Duration) {
        if wait.is_zero() && !self.faults.delay.is_zero() {
            self.stats.reordered += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST: Faults = Faults {
        loss: 0.2,
        duplicate: 0.05,
        reorder: 0.05,
        delay: Duration::from_millis(4),
        jitter: Duration::from_millis(6),
    };

    fn fates(seed: u64, n: usize) -> Vec<Fate> {
        let mut injector = FaultInjector::new(TEST, seed);
        (0..n).map(|_| injector.decide()).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_fates() {
        assert_eq!(fates(7, 1000), fates(7, 1000));
        assert_ne!(fates(7, 1000), fates(8, 1000));
    }

    #[test]
    fn the_rates_are_the_configured_ones() {
        let mut injector = FaultInjector::new(TEST, 1);
        let n = 100_000;
        for _ in 0..n {
            for wait in injector.decide().copies() {
                assert!(wait.is_zero() || (TEST.delay..=TEST.delay + TEST.jitter).contains(&wait));
            }
        }
        let stats = injector.stats();
        let rate = |count: u64, of: u64| count as f64 / of as f64;
        assert_eq!(stats.datagrams, n);
        assert!((rate(stats.lost, n) - 0.2).abs() < 0.01, "{stats}");
        let delivered = n - stats.lost;
        assert!(
            (rate(stats.duplicated, delivered) - 0.05).abs() < 0.005,
            "{stats}"
        );
        let copies = delivered + stats.duplicated;
        assert!(
            (rate(stats.reordered, copies) - 0.05).abs() < 0.005,
            "{stats}"
        );
    }

    #[test]
    fn no_faults_delivers_everything_once_at_once() {
        let mut injector = FaultInjector::new(Faults::NONE, 3);
        for _ in 0..1000 {
            assert_eq!(injector.decide(), Fate::Once(Duration::ZERO));
        }
        assert_eq!(injector.stats().reordered, 0);
    }

    #[test]
    fn rates_outside_zero_to_one_are_refused() {
        assert!(TEST.validate().is_ok());
        let bad = Faults { loss: 1.5, ..TEST };
        assert!(bad.validate().unwrap_err().contains("loss"));
    }
}
