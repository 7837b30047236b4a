//! The wires: datagrams between people and nodes (through the fault
//! injectors), bytes between nodes and the broker (through connections a
//! fault can cut), and what a node asks for after each thing it handles.

use std::cmp::Reverse;
use std::net::SocketAddr;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::client::ClientState;
use crate::hub::{ClusterConfig, Hub, HubConfig, HubEvent};
use crate::nats::Endpoint;
use crate::wire::{self, Message, Success};

use super::oracle;
use super::people::{person_addr, person_of, second_device};
use super::{say, Item, Party, Scheduled, World, HUB, SESSION_TIMEOUT, WALL_AT_START};

/// One broker connection, as the network sees it.
pub(super) struct Connection {
    pub(super) node: usize,
    /// Its number at the broker, until the broker closed it.
    pub(super) at_broker: Option<usize>,
    /// Cut: what is in flight on it is lost.
    pub(super) cut: bool,
}

/// A node process, as the world sees it.
pub(super) struct NodeSlot {
    /// `None` while crashed.
    pub(super) hub: Option<Hub>,
    pub(super) incarnation: u32,
    pub(super) conn: Option<usize>,
    pub(super) stalled_until: Option<Instant>,
    /// Partitioned from the broker: no connection can be made.
    pub(super) cut: bool,
}

impl World {
    pub(super) fn datagram_to_node(
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

    pub(super) fn datagram_to_person(
        &mut self,
        p: usize,
        from_node: Option<(usize, u32)>,
        bytes: &[u8],
    ) {
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

    pub(super) fn deliver_to_broker(&mut self, conn: usize, bytes: Option<Vec<u8>>) {
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
    pub(super) fn broker_writes(&mut self) {
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

    pub(super) fn deliver_from_broker(&mut self, conn: usize, bytes: Option<Vec<u8>>) {
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
    pub(super) fn after_node(&mut self, n: usize) {
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

    pub(super) fn start_node(&mut self, n: usize) {
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
}
