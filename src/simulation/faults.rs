//! The faults a seed strikes and heals, and what the cluster must be once
//! every fault has healed a while (calm): no ended session online, no user
//! online at two nodes, memory within bounds.

use crate::client::ClientState;
use crate::hub::HubConfig;
use crate::nats::fake_broker::FakeBroker;

use super::{Fault, Item, World, CALM, SETTLE};

impl World {
    pub(super) fn strike(&mut self, s: usize) {
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

    pub(super) fn heal(&mut self, s: usize) {
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
    pub(super) fn calm_tokens(&self) -> Vec<Option<String>> {
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
    pub(super) fn check_calm(&mut self) {
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
