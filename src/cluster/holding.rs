//! Forwards this node took for other nodes' asks, held until the broker
//! has their `taken` verdicts (a `PING` after the verdicts, whose `PONG`
//! says the broker read them): only then do they go to their destinations.
//!
//! A link that drops between the verdicts and the `PONG` leaves them *in
//! doubt*: the asker may have heard `taken` (and told its sender
//! `Success`) or not (and may have told `destination offline!`). Only the
//! asker knows, so when the link is back the node asks it (`doubt N`), and
//! the asker answers `counted N` (send it) or `void N` (never): its answer
//! decides, and both sides stay true. A doubt that no answer settles within
//! [`DOUBT_LIMIT`] is void.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long a forward may stay in doubt before it is given up: longer
/// than any outage a request outlives (a request gives up after 6 s).
pub const DOUBT_LIMIT: Duration = Duration::from_secs(30);

/// How often a node asks again about its doubts: an asker whose link was
/// down too heard nothing.
pub const ASK_AGAIN: Duration = Duration::from_secs(1);

/// A held forward: the hub's number for it, and the ask it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    pub id: u64,
    pub asker: u64,
    pub ask: u64,
}

#[derive(Debug, Default)]
pub struct Holding {
    /// Held forwards whose verdicts went out before each confirmation.
    confirming: VecDeque<(u64, Vec<Held>)>,
    /// Verdicts the link may have lost, with when the doubt began.
    doubts: Vec<(Held, Instant)>,
    /// When to ask the askers about the doubts (again).
    ask_at: Option<Instant>,
}

impl Holding {
    /// `held` forwards' verdicts went out before confirmation `number`.
    pub fn published(&mut self, number: u64, held: Vec<Held>) {
        self.confirming.push_back((number, held));
    }

    /// The broker read everything up to confirmation `number`: the
    /// forwards that waited for it may go.
    pub fn confirmed(&mut self, number: u64) -> Vec<u64> {
        let mut released = Vec::new();
        while self.confirming.front().is_some_and(|(n, _)| *n <= number) {
            if let Some((_, held)) = self.confirming.pop_front() {
                released.extend(held.iter().map(|h| h.id));
            }
        }
        released
    }

    /// The link dropped: what waited for a confirmation is in doubt, to
    /// ask about as soon as the link is back.
    pub fn link_down(&mut self, now: Instant) {
        for (_, held) in std::mem::take(&mut self.confirming) {
            self.doubts.extend(held.into_iter().map(|h| (h, now)));
        }
        if !self.doubts.is_empty() {
            self.ask_at = Some(now);
        }
    }

    /// The asks in doubt, by the node that asked them, if it is time to
    /// ask about them (again, a second later, until they are settled).
    pub fn ask(&mut self, now: Instant) -> Vec<(u64, Vec<u64>)> {
        if self.doubts.is_empty() {
            self.ask_at = None;
        }
        if self.ask_at.is_none_or(|at| at > now) {
            return Vec::new();
        }
        self.ask_at = Some(now + ASK_AGAIN);
        let mut by_asker: Vec<(u64, Vec<u64>)> = Vec::new();
        for (held, _) in &self.doubts {
            match by_asker.iter_mut().find(|(asker, _)| *asker == held.asker) {
                Some((_, asks)) => asks.push(held.ask),
                None => by_asker.push((held.asker, vec![held.ask])),
            }
        }
        by_asker
    }

    /// The asker answered about its ask `ask`: the held forward's number,
    /// if it was in doubt.
    pub fn settle(&mut self, asker: u64, ask: u64) -> Option<u64> {
        let at = self
            .doubts
            .iter()
            .position(|(h, _)| h.asker == asker && h.ask == ask)?;
        Some(self.doubts.swap_remove(at).0.id)
    }

    /// The doubts no answer settled in time: given up.
    pub fn expire(&mut self, now: Instant) -> Vec<u64> {
        let (old, young) = std::mem::take(&mut self.doubts)
            .into_iter()
            .partition(|(_, since)| now >= *since + DOUBT_LIMIT);
        self.doubts = young;
        old.into_iter()
            .map(|(h, _): (Held, Instant)| h.id)
            .collect()
    }

    /// When doubts are to be given up, or asked about (only while the
    /// link is up: its return asks at once).
    pub fn next_deadline(&self, link_up: bool) -> Option<Instant> {
        let expiry = self.doubts.iter().map(|(_, since)| *since + DOUBT_LIMIT);
        expiry.chain(self.ask_at.filter(|_| link_up)).min()
    }
}
