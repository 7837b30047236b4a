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

mod payload;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::session::{Answer, Sent};
use super::{Hub, HubEvent};
use crate::accounts::AccountIndex;
use crate::nats::{Link, LinkConfig, LinkError, LinkEvent};
use crate::wire::{Chat, Message, MsgId, Outcome, Reply, SessionToken, Success, ANY_TOKEN};
pub use payload::Stamp;
use payload::{
    answers_inbox, inboxes, login_inbox, parse_inbox, request_inbox, user_subject, AnswerBatch,
    Payload,
};

/// How a node takes part in a cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// The node's name in the log.
    pub node: String,
    pub link: LinkConfig,
    /// How long a message to another node's user waits for that node's
    /// answer before it is answered `destination offline!`.
    pub request_timeout: Duration,
    /// The wall clock at an instant, as microseconds since the Unix epoch:
    /// login stamps are ordered by the wall clock across nodes.
    pub wall_clock: (Instant, u64),
}

impl ClusterConfig {
    /// A node named `node` whose wall clock read `wall_micros` at `now`.
    pub fn new(node: String, now: Instant, wall_micros: u64) -> Self {
        Self {
            node,
            link: LinkConfig::default(),
            request_timeout: Duration::from_secs(1),
            wall_clock: (now, wall_micros),
        }
    }
}

/// A message sent to another node's user, awaiting that node's answer.
struct Asking {
    request: u64,
    deadline: Instant,
    sender: AccountIndex,
    reply_addr: SocketAddr,
    token: SessionToken,
    msg_id: MsgId,
    sent: Sent,
    /// For the `Success: BODY` echo.
    body: Vec<u8>,
}

/// A login's `Success`, held until the broker confirms the subscription.
struct HeldLogin {
    confirmation: u64,
    reply_addr: SocketAddr,
    index: AccountIndex,
    token: SessionToken,
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
    /// Login replies in the order held: by confirmation number.
    held_logins: VecDeque<HeldLogin>,
    /// Answers owed to other nodes' requests, one batch per node, sent
    /// when the link's events of one read are handled.
    answers: Vec<AnswerBatch>,
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
            held_logins: VecDeque::new(),
            answers: Vec::new(),
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
                LinkEvent::Up => self.on_broker_up(now),
                LinkEvent::Down { why } => self.on_broker_down(why),
                LinkEvent::Message {
                    subject,
                    reply,
                    payload,
                } => self.on_broker_message(now, &subject, reply.as_deref(), &payload),
                LinkEvent::Confirmed(number) => self.release_logins(Some(number)),
                LinkEvent::NoResponders { subject } => {
                    if let Some(request) = self.own_request(&subject) {
                        self.trace_broker(format_args!(
                            "no node holds the destination of request {request}"
                        ));
                        self.answer_asking(request, Answer::DestinationOffline);
                    }
                }
            }
        }
        self.send_answers();
    }

    /// Sends `chat` from `sender` to the node where its destination is
    /// online, if any: `Asking` until that node answers.
    pub(super) fn ask_cluster(
        &mut self,
        now: Instant,
        sender: AccountIndex,
        chat: &Chat<'_>,
        reply_addr: SocketAddr,
    ) -> Answer {
        let Some(cluster) = &mut self.cluster else {
            return Answer::DestinationOffline;
        };
        let request = cluster.next_request;
        let inbox = request_inbox(cluster.node_id, request);
        let sent = cluster.publish(
            &user_subject(chat.to),
            Some(&inbox),
            Payload::Forward(*chat),
        );
        if let Err(error) = sent {
            // Down is a state the users are told about by the log once;
            // refusals of a link that is up are news every time.
            if error != LinkError::NotUp {
                self.counters.broker_refusals += 1;
                self.event(HubEvent::BrokerRefused {
                    to: chat.to.into(),
                    msg_id: chat.msg_id,
                    why: error,
                });
            }
            return Answer::DestinationOffline;
        }
        cluster.next_request += 1;
        let deadline = now + cluster.config.request_timeout;
        cluster.asking.push_back(Asking {
            request,
            deadline,
            sender,
            reply_addr,
            token: chat.token,
            msg_id: chat.msg_id,
            sent: Sent::new(chat.msg_id, chat.to, chat.body),
            body: self.bodies.copy_of(chat.body),
        });
        self.trace_broker(format_args!(
            "request {request} out: msg {} for {}",
            chat.msg_id, chat.to
        ));
        Answer::Asking
    }

    /// A user's session at this node began (not a repeated login): hold
    /// its subject and tell the node it may have been on.
    pub(super) fn joined_here(&mut self, index: AccountIndex, now: Instant) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        let stamp = cluster.stamp(now);
        let subject = user_subject(self.accounts.id(index));
        // Subscribed before announced: of two logins that cross, one node
        // is sure to hear the other's announcement.
        let _ = cluster.link.subscribe(&subject);
        if let Some(online) = &mut self.sessions[index].online {
            online.stamp = stamp;
        }
        self.trace_broker(format_args!("subscribed to {subject}"));
        self.announce(index);
    }

    /// Answers a login `Success<TOKEN>`: at once, or in a cluster whose
    /// broker is up, once the broker confirms it holds the user's subject
    /// (so that no node can find the user offline after it was told).
    pub(super) fn accept_login(
        &mut self,
        index: AccountIndex,
        reply_addr: SocketAddr,
        token: SessionToken,
    ) {
        if let Some(cluster) = &mut self.cluster {
            if let Some(confirmation) = cluster.link.confirm() {
                cluster.held_logins.push_back(HeldLogin {
                    confirmation,
                    reply_addr,
                    index,
                    token,
                });
                return;
            }
        }
        let to = self.accounts.id(index);
        self.outbox
            .push(reply_addr, &Message::Success(Success { to, token }));
    }

    /// Sends the login replies held for confirmations up to `number`, or
    /// all of them (the link is down: nothing will be confirmed).
    fn release_logins(&mut self, number: Option<u64>) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        while let Some(held) = cluster.held_logins.front() {
            if number.is_some_and(|number| held.confirmation > number) {
                return;
            }
            let Some(held) = cluster.held_logins.pop_front() else {
                return;
            };
            let to = self.accounts.id(held.index);
            let token = held.token;
            self.outbox
                .push(held.reply_addr, &Message::Success(Success { to, token }));
        }
    }

    /// A user's session at this node ended: let go of its subject.
    pub(super) fn left_here(&mut self, index: AccountIndex) {
        if let Some(cluster) = &mut self.cluster {
            let subject = user_subject(self.accounts.id(index));
            cluster.link.unsubscribe(&subject);
            self.trace_broker(format_args!("unsubscribed from {subject}"));
        }
    }

    /// Hands the forwards still owed to `index` to the node it logged in
    /// at since: that node holds its subject now.
    fn hand_over_pending(&mut self, index: AccountIndex) {
        let (Some(cluster), Some(online)) = (&mut self.cluster, &mut self.sessions[index].online)
        else {
            return;
        };
        let to = self.accounts.id(index);
        let subject = user_subject(to);
        for pending in std::mem::take(&mut online.pending) {
            let chat = Chat {
                from: self.accounts.id(pending.from),
                to,
                token: ANY_TOKEN,
                msg_id: pending.msg_id,
                body: &pending.body,
            };
            // No answer wanted: the sender had its `Success` long ago.
            let _ = cluster.publish(&subject, None, Payload::Forward(chat));
            self.bodies.give_back(pending.body);
        }
    }

    /// Requests whose answer is overdue are answered `destination offline!`.
    pub(super) fn expire_requests(&mut self, now: Instant) {
        while let Some(cluster) = &mut self.cluster {
            match cluster.asking.front() {
                Some(asking) if asking.deadline <= now => {
                    let request = asking.request;
                    self.trace_broker(format_args!("request {request} unanswered: offline"));
                    self.answer_asking(request, Answer::DestinationOffline);
                }
                _ => return,
            }
        }
    }

    /// The deadline of the oldest request.
    pub(super) fn request_deadline(&self) -> Option<Instant> {
        Some(self.cluster.as_ref()?.asking.front()?.deadline)
    }

    /// Whether the broker link is up.
    pub(super) fn broker_up(&self) -> bool {
        self.cluster.as_ref().is_some_and(|c| c.link.is_up())
    }

    /// Requests awaiting answers.
    pub(super) fn asking(&self) -> usize {
        self.cluster.as_ref().map_or(0, |c| c.asking.len())
    }

    fn on_broker_up(&mut self, _now: Instant) {
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
        let requests: Vec<u64> = self
            .cluster
            .iter()
            .flat_map(|c| c.asking.iter().map(|a| a.request))
            .collect();
        for request in requests {
            self.answer_asking(request, Answer::DestinationOffline);
        }
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
            Some(Payload::Forward(chat)) => self.on_forward_request(now, chat, reply),
            Some(Payload::Answers(answers)) => {
                for (request, taken) in answers.iter() {
                    let word = if taken { "taken" } else { "offline" };
                    self.trace_broker(format_args!("answer to request {request} in: {word}"));
                    let answer = match taken {
                        true => Answer::Accepted,
                        false => Answer::DestinationOffline,
                    };
                    self.answer_asking(request, answer);
                }
            }
            None => self.event(HubEvent::BrokerGarbage {
                subject: subject.into(),
            }),
        }
    }

    /// Another node announced a login of `id` (or answered ours): of two
    /// sessions the later stays.
    fn on_login_elsewhere(&mut self, id: &str, theirs: Stamp, reply: Option<&str>) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        if theirs.node == cluster.node_id {
            return; // our own announcement, back from our own subscription
        }
        cluster.clock = cluster.clock.max(theirs.at);
        let Some(index) = self.accounts.find(id) else {
            return;
        };
        let Some(online) = &self.sessions[index].online else {
            return;
        };
        let ours = online.stamp;
        if ours > theirs {
            // Ours stays; the other node must hear it, or both would.
            if let Some(reply) = reply {
                let payload = Payload::Login { id, stamp: ours };
                let _ = cluster.publish(reply, None, payload);
            }
            return;
        }
        self.hand_over_pending(index);
        self.end_session(index, "logged in at another node");
        self.report(index, "logged in at another node");
        self.event(HubEvent::MovedAway { id: id.into() });
    }

    /// Another node's user sent `chat` to a user it found at this node.
    fn on_forward_request(&mut self, now: Instant, chat: Chat<'_>, reply: Option<&str>) {
        let from = self.accounts.find(chat.from);
        let dest = self.accounts.find(chat.to);
        if let Some(dest) = dest {
            self.expire_if_idle(dest, now);
        }
        let taken = match (from, dest) {
            (Some(from), Some(dest)) if self.sessions[dest].online.is_some() => {
                self.deliver(now, from, dest, chat.msg_id, chat.body);
                true
            }
            _ => false,
        };
        // No reply subject: a forward handed over by a session that moved.
        let (Some((node, request)), Some(cluster)) =
            (reply.and_then(parse_inbox), &mut self.cluster)
        else {
            return;
        };
        let at = match cluster.answers.iter().position(|batch| batch.node == node) {
            Some(at) => at,
            None => {
                cluster.answers.push(AnswerBatch::new(node));
                cluster.answers.len() - 1
            }
        };
        cluster.answers[at].add(request, taken);
    }

    /// Sends the answers gathered for other nodes' requests, one message
    /// per node.
    fn send_answers(&mut self) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        for batch in std::mem::take(&mut cluster.answers) {
            let _ = cluster.publish(&answers_inbox(batch.node), None, batch.payload());
        }
    }

    /// Announces the login of `index` on its subject, if the link is up
    /// (if not, [`on_broker_up`](Self::on_broker_up) will).
    fn announce(&mut self, index: AccountIndex) {
        let (Some(cluster), Some(online)) = (&mut self.cluster, &self.sessions[index].online)
        else {
            return;
        };
        let id = self.accounts.id(index);
        let payload = Payload::Login {
            id,
            stamp: online.stamp,
        };
        let inbox = login_inbox(cluster.node_id);
        let announced = cluster.publish(&user_subject(id), Some(&inbox), payload);
        if announced.is_ok() && self.config.trace {
            let what = format!("announced the login of {id}");
            self.event(HubEvent::Broker(what));
        }
    }

    /// The request number of one of this node's inboxes.
    fn own_request(&self, subject: &str) -> Option<u64> {
        let (node, request) = parse_inbox(subject)?;
        (node == self.cluster.as_ref()?.node_id).then_some(request)
    }

    /// Answers the sender of request `request`, if it still waits, with
    /// `answer`, and remembers it for resends.
    fn answer_asking(&mut self, request: u64, answer: Answer) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        let Ok(at) = cluster.asking.binary_search_by_key(&request, |a| a.request) else {
            return; // answered already: a late answer, or a second node's
        };
        let Some(asking) = cluster.asking.remove(at) else {
            return;
        };
        if let Some(result) = answer.result() {
            self.counters.message(result);
        }
        if let Some(online) = &mut self.sessions[asking.sender].online {
            if online.token.matches(&asking.token) {
                online.remember(asking.sent, answer, self.config.remembered_ids);
            }
        }
        let to = self.accounts.id(asking.sender);
        let reply = match answer {
            Answer::Accepted => Message::accepted(to, asking.token, asking.msg_id, &asking.body),
            _ => Message::Reply(Reply {
                to,
                token: asking.token,
                msg_id: asking.msg_id,
                outcome: Outcome::DestinationOffline,
            }),
        };
        self.outbox.push(asking.reply_addr, &reply);
        self.bodies.give_back(asking.body);
    }

    fn trace_broker(&mut self, what: std::fmt::Arguments<'_>) {
        if self.config.trace {
            self.event(HubEvent::Broker(what.to_string()));
        }
    }
}
