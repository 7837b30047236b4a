//! The hub as one node of a cluster: hubs that share their users through a
//! NATS broker (docs/cluster.md). Still no socket and no clock: the broker
//! link is the sans-IO [`Link`], which the hub owns; the program's edge
//! moves its bytes and calls [`Hub::handle_broker`] after each read.
//!
//! - A node holds the subject `hub.user.ID` while ID is online there, so
//!   the broker itself knows where each user is.
//! - A message to a user online at no local session is a request to that
//!   subject. The broker answers "no responders" at once if no node holds
//!   it: `destination offline!`. Otherwise the destination's node forwards
//!   it and answers `taken`: the sender gets `Success`.
//! - Until the answer comes the message is *asking*: a resend of it is
//!   dropped (the answer will come, and is remembered like any other), and
//!   an answer that never comes (the other node died) is taken for
//!   `offline` after [`ClusterConfig::request_timeout`].
//! - A login is answered once the broker confirms it holds the user's
//!   subject: from then on every node reaches the user.
//! - A login is announced on the user's subject with its [`Stamp`]; of two
//!   sessions of one user the later stamp stays. The node that keeps its
//!   session answers an announcement that loses, so that exactly one
//!   survives even when two logins cross. A session that loses passes the
//!   forwards it still owes to the node that won.
//! - With the broker away, users of other nodes are offline; on its return
//!   every session is announced again, and the later of two stays.

mod answers;
mod forwards;
mod logins;
mod payload;
mod requests;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::{Hub, HubEvent};
use crate::accounts::AccountIndex;
use crate::nats::{Link, LinkConfig, LinkError, LinkEvent};
use logins::HeldLogin;
pub use payload::Stamp;
use payload::{inboxes, parse_inbox, AnswerBatch, ForwardBatch, Payload};
use requests::{Asking, Requests};

/// How a node takes part in a cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub link: LinkConfig,
    /// How long a message to another node's user waits for that node's
    /// answer before it is answered `destination offline!`.
    pub request_timeout: Duration,
    /// The wall clock at an instant, as microseconds since the Unix epoch:
    /// login stamps are ordered by the wall clock across nodes.
    pub wall_clock: (Instant, u64),
}

impl ClusterConfig {
    /// A node whose wall clock read `wall_micros` at `now`.
    pub fn new(now: Instant, wall_micros: u64) -> Self {
        Self {
            link: LinkConfig::default(),
            request_timeout: Duration::from_secs(1),
            wall_clock: (now, wall_micros),
        }
    }
}

/// The node's part of the cluster: the link, and what it waits for.
pub(super) struct Cluster {
    config: ClusterConfig,
    pub(super) link: Link,
    /// Unique per process: names its inboxes and breaks ties of stamps.
    node_id: u64,
    /// The hybrid logical clock of login stamps.
    clock: u64,
    next_request: u64,
    /// Requests in the order sent: by number, and by deadline.
    asking: VecDeque<Asking>,
    /// The node that last took a message for each user (of those we know).
    routes: HashMap<AccountIndex, u64>,
    /// Requests for other nodes' users, one batch per node, published by
    /// [`Hub::flush_broker`].
    batches: Vec<ForwardBatch>,
    /// Answers owed to other nodes' requests, one batch per node, sent
    /// when the link's events of one read are handled.
    answers: Vec<AnswerBatch>,
    /// Login replies in the order held: by confirmation number.
    held_logins: VecDeque<HeldLogin>,
    /// Reused to write payloads.
    scratch: Vec<u8>,
}

impl Cluster {
    /// The stamp of a login at `now`: the wall clock, or later than every
    /// stamp seen if that is later (a clock behind another node's).
    fn stamp(&mut self, now: Instant) -> Stamp {
        let (then, micros) = self.config.wall_clock;
        let elapsed = now.saturating_duration_since(then).as_micros() as u64;
        self.clock = (micros + elapsed).max(self.clock + 1);
        Stamp {
            at: self.clock,
            node: self.node_id,
        }
    }

    fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        payload: Payload<'_>,
    ) -> Result<(), LinkError> {
        self.scratch.clear();
        payload.encode(&mut self.scratch);
        self.link.publish(subject, reply, &self.scratch)
    }
}

impl Hub {
    /// Makes this hub a node of a cluster; its link to the broker wants a
    /// connection at once ([`broker_link`](Self::broker_link)).
    pub fn join_cluster(&mut self, config: ClusterConfig, now: Instant) {
        let node_id = self.rng.next_u64();
        let link_rng = Box::new(StdRng::seed_from_u64(self.rng.next_u64()));
        let mut link = Link::new(config.link, now, link_rng);
        link.subscribe(&inboxes(node_id))
            .expect("the inbox subject is valid");
        self.cluster = Some(Cluster {
            config,
            link,
            node_id,
            clock: 0,
            next_request: 0,
            asking: VecDeque::new(),
            routes: HashMap::new(),
            batches: Vec::new(),
            answers: Vec::new(),
            held_logins: VecDeque::new(),
            scratch: Vec::new(),
        });
    }

    /// The link to the broker, for the program's edge to move its bytes;
    /// `None` without a cluster.
    pub fn broker_link(&mut self) -> Option<&mut Link> {
        self.cluster.as_mut().map(|cluster| &mut cluster.link)
    }

    /// When the link wants its keep-alive or its next connection attempt.
    pub fn broker_link_deadline(&self) -> Option<Instant> {
        self.cluster.as_ref()?.link.poll_timeout()
    }

    /// Takes in what the link reported since the last call: the link came
    /// up or went down, a message or a "no responders" came.
    pub fn handle_broker(&mut self, now: Instant) {
        while let Some(event) = self.cluster.as_mut().and_then(|c| c.link.poll_event()) {
            match event {
                LinkEvent::Up => self.on_broker_up(),
                LinkEvent::Down { why } => self.on_broker_down(why),
                LinkEvent::Message {
                    subject,
                    reply,
                    payload,
                } => self.on_broker_message(now, &subject, reply.as_deref(), &payload),
                LinkEvent::Confirmed(number) => self.release_logins(Some(number)),
                LinkEvent::NoResponders { subject } => {
                    if let Some(request) = self.own_request(&subject) {
                        self.on_no_responders(request);
                    }
                }
            }
        }
        self.send_answers();
    }

    /// Whether the broker link is up.
    pub(super) fn broker_up(&self) -> bool {
        self.cluster.as_ref().is_some_and(|c| c.link.is_up())
    }

    fn on_broker_up(&mut self) {
        self.event(HubEvent::BrokerUp);
        // Logins made while the broker was away were never announced, and
        // a node that was cut off may hold sessions that moved meanwhile.
        let online: Vec<AccountIndex> = self
            .sessions
            .iter()
            .filter(|(_, session)| session.online.is_some())
            .map(|(index, _)| index)
            .collect();
        for index in online {
            self.announce(index);
        }
    }

    fn on_broker_down(&mut self, why: String) {
        self.event(HubEvent::BrokerDown { why });
        self.release_logins(None);
        self.give_up_requests();
    }

    fn on_broker_message(
        &mut self,
        now: Instant,
        subject: &str,
        reply: Option<&str>,
        payload: &[u8],
    ) {
        match Payload::parse(payload) {
            Some(Payload::Login { id, stamp }) => self.on_login_elsewhere(id, stamp, reply),
            Some(Payload::Forward(chat)) => self.on_requests(now, Requests::ForUser(chat), reply),
            Some(Payload::Forwards(forwards)) => {
                self.on_requests(now, Requests::ForNode(forwards), reply)
            }
            Some(Payload::Answers(answers)) => self.on_answers(answers),
            None => self.event(HubEvent::BrokerGarbage {
                subject: subject.into(),
            }),
        }
    }

    /// The request number of one of this node's inboxes.
    fn own_request(&self, subject: &str) -> Option<u64> {
        let (node, request) = parse_inbox(subject)?;
        (node == self.cluster.as_ref()?.node_id).then_some(request)
    }

    fn trace_broker(&mut self, what: std::fmt::Arguments<'_>) {
        if self.config.trace {
            self.event(HubEvent::Broker(what.to_string()));
        }
    }
}
