//! A hub's part in a cluster: hubs that share their users through a NATS
//! broker (docs/cluster.md). A component of its own, sans-IO like the
//! hub: the program's edge hands it what the broker connection brought
//! (`handle_*(now, ..)`, through [`Endpoint`]) and polls what it wants
//! written and when it wants to be called again
//! ([`Endpoint::pending_write`], [`Cluster::poll_timeout`]); the hub tells
//! it of logins and messages ([`Cluster::joined`], [`Cluster::ask`], ...)
//! and takes its [`ClusterEvent`]s. It never sees a session.
//!
//! The words, one idea each:
//! - a **request** is a message for a user of another node, as its
//!   sender's node follows it (`requests.rs`); its **outcome** is what the
//!   sender is told;
//! - an **ask** is one copy of a request on the broker (`asks.rs`), carrying
//!   the **forward**: the datagram its destination will get;
//! - a **verdict** is what the node that got an ask did with it
//!   (`verdicts.rs`);
//! - a **record** is a node's knowledge of the latest login of a user
//!   there, live or ended; nodes **announce** them (`presence.rs`).

mod asks;
mod holding;
mod payload;
mod presence;
mod requests;
mod subject;
mod verdicts;

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::RngCore;

use crate::nats::{Endpoint, Link, LinkConfig, LinkError, LinkEvent};
use crate::wire::{Chat, SessionToken};
use asks::parse_asks;
use holding::{Held, Holding};
use payload::{forward_message, Record};
pub use payload::{parse_forward, Stamp};
use presence::{Heard, Presence};
use requests::Requests;
pub use requests::{Outcome, RequestId};
use subject::Inbound;
use verdicts::{Verdict, VerdictBatch, Verdicts};

/// How a node takes part in a cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub link: LinkConfig,
    /// How long an ask waits for its verdict before the request is asked
    /// again (of the user's subject: the user may have moved).
    pub ask_again_after: Duration,
    /// How long a request may be delivered: its asks carry this deadline,
    /// and their receivers refuse them after it. Shorter than a client's
    /// patience (7.5 s by default), so that an outcome reaches a client
    /// that still waits.
    pub request_lifetime: Duration,
    /// How long a login that ended here (logoff, expiry, account removed)
    /// is remembered, so that a node cut off meanwhile cannot bring back
    /// an older session of the user: the longest outage it covers.
    pub remember_ended: Duration,
    /// The wall clock at an instant, as microseconds since the Unix epoch:
    /// login stamps and deadlines are read on it across nodes.
    pub wall_clock: (Instant, u64),
    /// Notes of every step ([`Note::Trace`]), for `--trace`.
    pub trace: bool,
    /// The broker as the log names it (its address).
    pub broker: String,
}

impl ClusterConfig {
    /// A node whose wall clock read `wall_micros` at `now`.
    pub fn new(now: Instant, wall_micros: u64) -> Self {
        Self {
            link: LinkConfig::default(),
            ask_again_after: Duration::from_secs(1),
            request_lifetime: Duration::from_secs(5),
            remember_ended: Duration::from_secs(3600),
            wall_clock: (now, wall_micros),
            trace: false,
            broker: "the broker's address".into(),
        }
    }
}

/// Who asked for a delivery, to answer with [`Cluster::answer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Asker {
    node: u64,
    number: u64,
    /// Sent to this node's `asks` subject, not the user's.
    to_node: bool,
}

/// What the hub did with a delivery another node asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Took {
    /// Its destination is not online here.
    NotHere,
    /// Its destination is online here, and the message cannot be taken
    /// (its sender is no account here).
    Refused,
    /// It took it on an earlier ask (the asker asked again).
    Earlier,
    /// It took it now, and holds the forward (numbered so) until the
    /// broker confirms the `taken` verdict: [`ClusterEvent::Release`].
    Now(u64),
    /// It took it now and sent it on (it was not to be held).
    Sent,
}

/// A login's `Success`, held until the broker confirms the subscriptions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldLogin {
    pub to: SocketAddr,
    pub id: String,
    pub token: SessionToken,
}

/// What the cluster wants of the hub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterEvent {
    /// Another node asks that `forward` (a chat, with the placeholder
    /// token: [`parse_forward`]) be delivered to its destination here, if
    /// it is online here; say what was done with [`Cluster::answer`].
    /// `hold`: it was asked of the user's subject, and is sent only once
    /// the broker has the `taken` ([`Took::Now`]); asked of this node's
    /// subject it goes at once ([`Took::Sent`]): its asker says nothing
    /// while an ask to a node waits.
    Deliver {
        asker: Asker,
        forward: Bytes,
        hold: bool,
    },
    /// The broker has the `taken` verdicts of these held forwards: they
    /// may go to their destinations now.
    Release(Vec<u64>),
    /// These held forwards never go: their `taken` verdicts never left, or
    /// their askers did not count them. As if never taken: an ask made
    /// again takes them again.
    Revoke(Vec<u64>),
    /// One of this node's requests has its outcome; `forward` is what it
    /// asked to deliver (`SRC->DEST#<xxxxxx><MSGID>BODY`: the body at its
    /// end is what a `Success` echoes).
    Resolved {
        request: RequestId,
        outcome: Outcome,
        forward: Vec<u8>,
    },
    /// A later login of `id` at another node ended the session here;
    /// `online_there`: that login is still online, so what the session
    /// here still owes goes there ([`Cluster::ask`]).
    Superseded { id: String, online_there: bool },
    /// A login's reply may go now.
    LoginConfirmed(HeldLogin),
    /// Something for the log.
    Note(Note),
}

/// What the link was asked to publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    Asks,
    Verdicts,
    Records,
}

/// Something the cluster did that is worth a log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    LinkUp,
    LinkDown {
        why: String,
    },
    /// The broker could not be reached, `attempts` times over `lasted`
    /// (reported again at most every 30 s while it lasts).
    Unreachable {
        broker: String,
        why: String,
        attempts: u32,
        lasted: Duration,
    },
    /// The link would not take `count` messages of a kind.
    Refused {
        what: Published,
        count: usize,
        why: LinkError,
    },
    /// Something on a subject of ours that no node of ours sends.
    Garbage {
        subject: String,
    },
    /// An ask came after its deadline: refused, never delivered.
    Late {
        from: u64,
    },
    /// Another node announced a login of `id` older than the one this
    /// node knows of (`live`: still online here): answered with ours.
    StaleRefused {
        id: String,
        live: bool,
    },
    /// A request had no verdict to trust when it expired.
    Unresolved {
        request: RequestId,
    },
    /// A step of the conversation with the broker (with `trace` only).
    Trace(String),
}

impl Note {
    /// How loud the note is in the log.
    pub fn level(&self) -> log::Level {
        match self {
            Note::LinkUp | Note::StaleRefused { .. } | Note::Late { .. } => log::Level::Info,
            Note::LinkDown { .. }
            | Note::Unreachable { .. }
            | Note::Refused { .. }
            | Note::Garbage { .. }
            | Note::Unresolved { .. } => log::Level::Warn,
            Note::Trace(_) => log::Level::Trace,
        }
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::LinkUp => f.write_str("broker link up: other nodes' users are reachable"),
            Note::LinkDown { why } => write!(
                f,
                "broker link down ({why}): other nodes' users are offline until it is back"
            ),
            Note::Unreachable {
                broker,
                why,
                attempts,
                lasted,
            } => {
                write!(f, "cannot reach the broker at {broker}: {why}")?;
                if *attempts > 1 {
                    write!(f, " ({attempts} attempts in {}s)", lasted.as_secs())?;
                }
                f.write_str("; other nodes' users are offline until it answers")
            }
            Note::Refused { what, count, why } => {
                let (what, outcome) = match what {
                    Published::Asks => (
                        "asks for other nodes' users",
                        "never sent, so never delivered",
                    ),
                    Published::Verdicts => (
                        "verdicts for other nodes",
                        "their senders' nodes ask again",
                    ),
                    Published::Records => ("login records", "announced again in a second"),
                };
                write!(f, "{count} {what} not published ({why}): {outcome}")
            }
            Note::Garbage { subject } => {
                write!(f, "ignored a message on {subject} that no node sends")
            }
            Note::Late { from } => write!(
                f,
                "an ask from node {from:016x} came after its deadline: refused, not delivered"
            ),
            Note::StaleRefused { id, live } => write!(
                f,
                "another node announced an older login of {id}: refused with the later one, {}",
                if *live { "online here" } else { "ended here" }
            ),
            Note::Unresolved { request } => write!(
                f,
                "request {} unresolved: no verdict to trust before it expired, its sender is told nothing",
                request.0
            ),
            Note::Trace(what) => f.write_str(what),
        }
    }
}

/// What the cluster has done since it started (for metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClusterCounters {
    /// Requests by outcome.
    pub taken: u64,
    pub offline: u64,
    pub unresolved: u64,
    /// Asks published (a request is asked more than once when its
    /// verdict is slow or lost).
    pub asks: u64,
    /// Other nodes' asks refused because they came after their deadline.
    pub late_refused: u64,
    /// Announcements of older logins refused with a later record.
    pub stale_refused: u64,
    /// Sessions here ended by a later login elsewhere.
    pub superseded: u64,
    /// Messages the link would not take, by kind.
    pub refused_asks: u64,
    pub refused_verdicts: u64,
    pub refused_records: u64,
}

/// What the cluster holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClusterStats {
    pub link_up: bool,
    /// Requests without an outcome yet.
    pub requests: usize,
    /// Records of logins online here, and of logins that ended here.
    pub live: usize,
    pub ended: usize,
}

/// The node's part of the cluster.
pub struct Cluster {
    config: ClusterConfig,
    link: Link,
    /// Unique per process: names its subjects and breaks ties of stamps.
    node: u64,
    presence: Presence,
    requests: Requests,
    /// Verdicts owed to other nodes' asks, one batch per node, with the
    /// held forwards whose `taken` each carries.
    owed: Vec<(VerdictBatch, Vec<Held>)>,
    /// Held forwards whose verdicts went out, until the broker confirms
    /// it has them, or their askers settle a doubt.
    holding: Holding,
    /// Login replies by the confirmation that releases them.
    logins: VecDeque<(u64, HeldLogin)>,
    events: VecDeque<ClusterEvent>,
    counters: ClusterCounters,
}

impl Cluster {
    /// A node named `node` whose link wants a connection at once.
    pub fn new(
        config: ClusterConfig,
        now: Instant,
        node: u64,
        link_rng: Box<dyn RngCore + Send>,
    ) -> Self {
        let mut link = Link::new(config.link, now, link_rng);
        link.subscribe(&subject::node_wildcard(node))
            .expect("the node's subject is valid");
        Self {
            presence: Presence::new(node, config.wall_clock, config.remember_ended),
            requests: Requests::new(node, config.ask_again_after),
            config,
            link,
            node,
            owed: Vec::new(),
            holding: Holding::default(),
            logins: VecDeque::new(),
            events: VecDeque::new(),
            counters: ClusterCounters::default(),
        }
    }

    /// Whether publishing works: a request now can be asked.
    pub fn is_up(&self) -> bool {
        self.link.is_up()
    }

    /// A message for `chat.to`, online at no session here: asked of the
    /// cluster, or `None` if the link is down and it cannot be (it is
    /// never sent, so the sender may be told `destination offline!`).
    pub fn ask(&mut self, now: Instant, chat: &Chat<'_>) -> Option<RequestId> {
        if !self.link.is_up() {
            return None;
        }
        let message = forward_message(chat);
        let mut forward = Vec::with_capacity(message.encoded_len());
        message.encode(&mut forward);
        let lifetime = self.config.request_lifetime;
        let deadline = self.presence.wall(now) + lifetime.as_micros() as u64;
        // The forward is `SRC->DEST#...`.
        let dest = chat.from.len() + 2..chat.from.len() + 2 + chat.to.len();
        let id = self
            .requests
            .add(now, dest, forward, (deadline, now + lifetime));
        self.trace(|| format!("request {} out: msg {} for {}", id.0, chat.msg_id, chat.to));
        Some(id)
    }

    /// Says what became of the delivery `asker` asked for. A forward
    /// taken now waits ([`Took::Now`]) until the broker has the `taken`
    /// verdict: an asker that hears nothing before nobody holds the user
    /// may say `destination offline!`, and then it must be true.
    pub fn answer(&mut self, asker: Asker, took: Took) {
        let verdict = match (took, asker.to_node) {
            (Took::Now(_) | Took::Sent | Took::Earlier, _) => Verdict::Taken,
            (Took::Refused, _) => Verdict::Refused,
            (Took::NotHere, true) => Verdict::Gone,
            (Took::NotHere, false) => Verdict::Offline,
        };
        let held = self.owe(asker.node, asker.number, verdict);
        if let Took::Now(id) = took {
            held.push(Held {
                id,
                asker: asker.node,
                ask: asker.number,
            });
        }
    }

    /// A user logged in here (a repeated login too: it is the latest).
    pub fn joined(&mut self, now: Instant, id: &str) {
        if let Err(why) = self.presence.joined(now, &mut self.link, id) {
            self.refused(Published::Records, 1, why);
        }
        self.trace(|| {
            format!(
                "{id} logged in here: subscribed to {} and {}, login announced",
                subject::user(id),
                subject::login(id)
            )
        });
        self.take_presence_refusals();
    }

    /// A user's session here ended by logoff, expiry or the removal of its
    /// account (not by a login elsewhere: [`ClusterEvent::Superseded`]).
    pub fn ended(&mut self, now: Instant, id: &str) {
        self.presence.ended(now, &mut self.link, id);
        let kept = self.config.remember_ended;
        self.trace(|| {
            format!(
                "{id}'s login ended here: unsubscribed from {}, the end remembered for {kept:?}",
                subject::user(id)
            )
        });
    }

    /// Holds a login's reply until the broker confirms the subscriptions
    /// made for it; gives it back if the link is down (reply at once).
    pub fn hold_login(&mut self, login: HeldLogin) -> Option<HeldLogin> {
        match self.link.confirm() {
            Some(number) => {
                self.logins.push_back((number, login));
                None
            }
            None => Some(login),
        }
    }

    /// Time has come to `now`: the link's keep-alive, asks again, expired
    /// requests, ended logins forgotten, announcements the link refused.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.link.handle_timeout(now);
        self.take_link_events(now);
        self.requests.sweep(now, self.link.is_up());
        let given_up = self.holding.expire(now);
        self.revoke(given_up);
        if self.link.is_up() {
            self.ask_about_doubts(now);
        }
        self.presence.forget_due(now, &mut self.link);
        self.presence.announce_again(&mut self.link);
        self.take_presence_refusals();
        self.take_resolved();
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.link.poll_timeout(),
            self.requests.next_sweep(),
            self.presence.next_forget(),
            self.holding.next_deadline(self.link.is_up()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// What the deadline [`poll_timeout`](Self::poll_timeout) gives is for.
    pub fn describe_timeout(&self) -> &'static str {
        let link = self.link.poll_timeout();
        if link.is_some() && link == self.poll_timeout() {
            "the broker link's keep-alive, handshake limit or reconnection"
        } else if self.requests.next_sweep() == self.poll_timeout() {
            "requests to other nodes to ask again or give up"
        } else {
            "ended logins to forget"
        }
    }

    pub fn poll_event(&mut self) -> Option<ClusterEvent> {
        self.events.pop_front()
    }

    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Turns the notes of every step on or off (see `Hub::set_trace`).
    pub fn set_trace(&mut self, on: bool) {
        self.config.trace = on;
    }

    pub fn counters(&self) -> ClusterCounters {
        ClusterCounters {
            asks: self.requests.asks_sent,
            ..self.counters
        }
    }

    pub fn stats(&self) -> ClusterStats {
        let (live, ended) = self.presence.counts();
        ClusterStats {
            link_up: self.link.is_up(),
            requests: self.requests.len(),
            live,
            ended,
        }
    }

    fn take_link_events(&mut self, now: Instant) {
        while let Some(event) = self.link.poll_event() {
            match event {
                LinkEvent::Up => {
                    self.note(Note::LinkUp);
                    self.ask_about_doubts(now);
                    self.presence.announce_all(&mut self.link);
                    self.take_presence_refusals();
                    self.requests.on_link_up(now);
                }
                LinkEvent::Unreachable {
                    why,
                    attempts,
                    lasted,
                } => self.note(Note::Unreachable {
                    broker: self.config.broker.clone(),
                    why,
                    attempts,
                    lasted,
                }),
                LinkEvent::Down { why } => {
                    self.note(Note::LinkDown { why });
                    // Nothing will be confirmed: the logins are answered
                    // now; forwards whose verdicts never left never go;
                    // those whose verdicts left are in doubt.
                    for (_, login) in std::mem::take(&mut self.logins) {
                        self.events.push_back(ClusterEvent::LoginConfirmed(login));
                    }
                    let unsent: Vec<u64> = std::mem::take(&mut self.owed)
                        .into_iter()
                        .flat_map(|(_, held)| held)
                        .map(|h| h.id)
                        .collect();
                    self.revoke(unsent);
                    self.holding.link_down(now);
                    self.requests.on_link_down();
                }
                LinkEvent::Message {
                    subject,
                    subscription,
                    reply,
                    payload,
                } => self.on_message(now, &subject, subscription, reply.as_deref(), payload),
                LinkEvent::Confirmed(number) => {
                    while self.logins.front().is_some_and(|(n, _)| *n <= number) {
                        if let Some((_, login)) = self.logins.pop_front() {
                            self.events.push_back(ClusterEvent::LoginConfirmed(login));
                        }
                    }
                    let released = self.holding.confirmed(number);
                    if !released.is_empty() {
                        self.events.push_back(ClusterEvent::Release(released));
                    }
                }
                LinkEvent::NoResponders { subject } => match Inbound::of(&subject, self.node) {
                    Some(Inbound::Inbox(first)) => {
                        self.trace(|| format!("no node holds the subject of asks from {first}"));
                        self.requests.on_no_responders(now, first);
                    }
                    _ => self.note(Note::Garbage { subject }),
                },
            }
        }
        self.take_resolved();
    }

    /// A message on one of our subjects, under subscription
    /// `subscription`: its subject says what it is.
    fn on_message(
        &mut self,
        now: Instant,
        subject: &str,
        subscription: u64,
        reply: Option<&str>,
        payload: Bytes,
    ) {
        let understood = match Inbound::of(subject, self.node) {
            // Routed to a session of the user that has ended since (the
            // subject was subscribed again): a new session here must not
            // take what its sender may have been told is undeliverable.
            Some(Inbound::AsksForUser(_)) => {
                let current = self.link.subscription(subject) == Some(subscription);
                self.on_asks(now, reply, payload, current.then_some(false))
            }
            Some(Inbound::AsksForNode) => self.on_asks(now, reply, payload, Some(true)),
            Some(Inbound::Verdicts) => self.on_verdicts(now, &payload),
            Some(Inbound::Announcement | Inbound::LoginAnswer) => self.on_record(&payload, reply),
            Some(Inbound::Inbox(_)) | None => false,
        };
        if !understood {
            self.note(Note::Garbage {
                subject: subject.into(),
            });
        }
    }

    /// Asks from another node; `to_node`: sent to this node's subject, not
    /// the user's; `None`: to a subscription of the user's ended since.
    fn on_asks(
        &mut self,
        now: Instant,
        reply: Option<&str>,
        payload: Bytes,
        to_node: Option<bool>,
    ) -> bool {
        let (Some((node, _)), Some(entries)) =
            (reply.and_then(subject::parse_inbox), parse_asks(&payload))
        else {
            return false;
        };
        let wall = self.presence.wall(now);
        for entry in entries {
            // What came before a broken entry stands; the rest is garbage.
            let Ok(entry) = entry else {
                return false;
            };
            let Some(to_node) = to_node else {
                self.owe(node, entry.number, Verdict::Offline);
                continue;
            };
            let asker = Asker {
                node,
                number: entry.number,
                to_node,
            };
            if entry.deadline < wall {
                self.counters.late_refused += 1;
                self.note(Note::Late { from: node });
                self.owe(node, entry.number, Verdict::Late);
                continue;
            }
            let forward = payload.slice(entry.forward);
            self.events.push_back(ClusterEvent::Deliver {
                asker,
                forward,
                hold: !to_node,
            });
        }
        true
    }

    fn on_verdicts(&mut self, now: Instant, payload: &[u8]) -> bool {
        let Some(verdicts) = Verdicts::parse(payload) else {
            return false;
        };
        let from = verdicts.from;
        for (number, verdict) in verdicts.iter() {
            self.trace(|| format!("verdict on ask {number}: {}", verdict.word()));
            match verdict {
                Verdict::Doubt => {
                    let counted = self.requests.count(number);
                    let answer = if counted {
                        Verdict::Counted
                    } else {
                        Verdict::Void
                    };
                    self.owe(from, number, answer);
                }
                Verdict::Counted | Verdict::Void => {
                    if let Some(id) = self.holding.settle(from, number) {
                        if verdict == Verdict::Counted {
                            self.events.push_back(ClusterEvent::Release(vec![id]));
                        } else {
                            self.revoke(vec![id]);
                        }
                    }
                }
                _ => self.requests.on_verdict(now, from, number, verdict),
            }
        }
        self.take_resolved();
        true
    }

    fn on_record(&mut self, payload: &[u8], reply: Option<&str>) -> bool {
        let Some(theirs) = Record::parse(payload) else {
            return false;
        };
        match self.presence.hear(&mut self.link, theirs, reply) {
            Heard::Nothing => {}
            Heard::Refused { live } => {
                self.counters.stale_refused += 1;
                self.note(Note::StaleRefused {
                    id: theirs.id.into(),
                    live,
                });
            }
            Heard::Superseded { was_live } => {
                self.trace(|| format!("a later login of {} elsewhere", theirs.id));
                if was_live {
                    self.counters.superseded += 1;
                    self.events.push_back(ClusterEvent::Superseded {
                        id: theirs.id.into(),
                        online_there: theirs.live,
                    });
                }
            }
        }
        self.take_presence_refusals();
        true
    }

    /// Adds a verdict to the batch for `node`; returns the batch's held
    /// forwards.
    fn owe(&mut self, node: u64, number: u64, verdict: Verdict) -> &mut Vec<Held> {
        let at = match self.owed.iter().position(|(b, _)| b.to == node) {
            Some(at) => at,
            None => {
                self.owed
                    .push((VerdictBatch::new(self.node, node), Vec::new()));
                self.owed.len() - 1
            }
        };
        let (batch, forwards) = &mut self.owed[at];
        batch.add(number, verdict);
        forwards
    }

    /// Publishes what was gathered: asks, and verdicts owed. A refusal
    /// may settle requests: [`poll_event`](Self::poll_event) after it.
    pub fn publish(&mut self) {
        for (why, count) in self.requests.publish(&mut self.link) {
            self.refused(Published::Asks, count, why);
        }
        let mut published = Vec::new();
        let mut revoked = Vec::new();
        for (batch, held) in std::mem::take(&mut self.owed) {
            let subject = subject::node_verdicts(batch.to);
            match self.link.publish(&subject, None, batch.payload()) {
                Ok(()) => published.extend(held),
                Err(why) => {
                    self.refused(Published::Verdicts, 1, why);
                    revoked.extend(held.iter().map(|h| h.id));
                }
            }
        }
        if !published.is_empty() {
            match self.link.confirm() {
                Some(number) => self.holding.published(number, published),
                None => revoked.extend(published.iter().map(|h| h.id)),
            }
        }
        self.revoke(revoked);
        self.take_resolved();
    }

    /// Asks the askers of the forwards in doubt whether they count them,
    /// if it is time.
    fn ask_about_doubts(&mut self, now: Instant) {
        for (asker, asks) in self.holding.ask(now) {
            for ask in asks {
                self.owe(asker, ask, Verdict::Doubt);
            }
        }
    }

    /// Held forwards that never go: their verdicts never left, or their
    /// askers did not count them.
    fn revoke(&mut self, ids: Vec<u64>) {
        if !ids.is_empty() {
            self.events.push_back(ClusterEvent::Revoke(ids));
        }
    }

    fn take_resolved(&mut self) {
        while let Some((request, outcome, forward)) = self.requests.poll_resolved() {
            match outcome {
                Outcome::Taken => self.counters.taken += 1,
                Outcome::Offline => self.counters.offline += 1,
                Outcome::Unresolved => {
                    self.counters.unresolved += 1;
                    self.note(Note::Unresolved { request });
                }
            }
            self.trace(|| format!("request {} resolved: {}", request.0, outcome.word()));
            self.events.push_back(ClusterEvent::Resolved {
                request,
                outcome,
                forward,
            });
        }
    }

    fn take_presence_refusals(&mut self) {
        for why in self.presence.take_refusals() {
            self.refused(Published::Records, 1, why);
        }
    }

    /// The link would not take `count` messages: counted, and noted
    /// unless it is down (a state the log tells once).
    fn refused(&mut self, what: Published, count: usize, why: LinkError) {
        let counter = match what {
            Published::Asks => &mut self.counters.refused_asks,
            Published::Verdicts => &mut self.counters.refused_verdicts,
            Published::Records => &mut self.counters.refused_records,
        };
        *counter += count as u64;
        if why != LinkError::NotUp {
            self.note(Note::Refused { what, count, why });
        }
    }

    fn note(&mut self, note: Note) {
        self.events.push_back(ClusterEvent::Note(note));
    }

    fn trace(&mut self, what: impl FnOnce() -> String) {
        if self.config.trace {
            self.note(Note::Trace(what()));
        }
    }
}

/// The broker connection's side: what the link reads is taken in at once,
/// and what was gathered is published before anything is written.
impl Endpoint for Cluster {
    fn wants_connection(&self, now: Instant) -> bool {
        self.link.wants_connection(now)
    }

    fn handle_connected(&mut self, now: Instant) {
        self.link.handle_connected(now);
    }

    fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        self.link.handle_bytes(now, bytes);
        self.take_link_events(now);
    }

    fn handle_lost(&mut self, now: Instant, why: &str) {
        self.link.handle_lost(now, why);
        self.take_link_events(now);
    }

    fn pending_write(&mut self, _now: Instant) -> &[u8] {
        self.publish();
        self.link.pending_write()
    }

    fn written(&mut self, len: usize) {
        self.link.written(len);
    }

    fn is_down(&self) -> bool {
        self.link.is_down()
    }
}
