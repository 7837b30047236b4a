//! The hub as a node of a cluster: what it tells its [`Cluster`] (a login
//! here, a session ended here, a message for a user online at no session
//! here), and what it does with the cluster's [`ClusterEvent`]s (deliver
//! what another node asks for, tell a sender the outcome of its message,
//! end a session a later login elsewhere replaced, reply to a login). The
//! cluster never touches a session; the hub never reads the broker.

use std::net::SocketAddr;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::session::TakenKey;
use super::sessions::SessionId;
use super::{Answer, Hub, HubEvent, MessageKey};
use crate::accounts::AccountIndex;
use crate::cluster::{
    parse_forward, Cluster, ClusterConfig, ClusterCounters, ClusterEvent, HeldLogin, Outcome,
    RequestId, Took,
};
use crate::nats::Endpoint;
use crate::wire::{Chat, Message, MsgId, SessionToken, Success, ANY_TOKEN};

/// Why a forward handed over to the node of its user's later login was
/// given up: nobody holds the user (that login ended too, or its node
/// died), so the session it was owed to has ended.
pub(crate) const ENDED_ELSEWHERE_TOO: &str = "its user's later login elsewhere ended too";

/// What one of the cluster's requests is for.
pub(super) enum Origin {
    /// A client's message: its sender is told the outcome.
    Sender {
        sender: AccountIndex,
        token: SessionToken,
        reply_addr: SocketAddr,
        key: MessageKey,
        /// How long its body is: the end of the forward, which `Success`
        /// echoes.
        body_len: usize,
    },
    /// A forward a session here still owed when its user logged in at
    /// another node: passed on to that node.
    HandOver {
        from: AccountIndex,
        to: AccountIndex,
        msg_id: MsgId,
    },
}

impl Hub {
    /// Makes this hub a node of a cluster; its link to the broker wants a
    /// connection at once (the hub is the broker connection's
    /// [`Endpoint`]).
    pub fn join_cluster(&mut self, mut config: ClusterConfig, now: Instant) {
        let node = self.rng.next_u64();
        let link_rng = Box::new(StdRng::seed_from_u64(self.rng.next_u64()));
        config.trace = self.config.trace;
        self.cluster = Some(Cluster::new(config, now, node, link_rng));
    }

    /// What the cluster has done (for metrics); `None` alone.
    pub fn cluster_counters(&self) -> Option<ClusterCounters> {
        self.cluster.as_ref().map(Cluster::counters)
    }

    /// A user logged in here (a repeated login too: it is the latest).
    pub(super) fn joined_cluster(&mut self, now: Instant, index: AccountIndex) {
        if let Some(cluster) = &mut self.cluster {
            cluster.joined(now, self.accounts.id(index));
        }
    }

    /// Answers a login `Success<TOKEN>`: at once, or in a cluster whose
    /// broker is up, once the broker confirms it holds the user's subjects
    /// (so that no node can find the user offline after it was told).
    pub(super) fn accept_login(
        &mut self,
        index: AccountIndex,
        reply_addr: SocketAddr,
        token: SessionToken,
    ) {
        let login = HeldLogin {
            to: reply_addr,
            id: self.accounts.id(index).into(),
            token,
        };
        let now = match &mut self.cluster {
            Some(cluster) => cluster.hold_login(login),
            None => Some(login),
        };
        if let Some(login) = now {
            self.reply_to_login(&login);
        }
    }

    fn reply_to_login(&mut self, login: &HeldLogin) {
        let reply = Message::Success(Success {
            to: &login.id,
            token: login.token,
        });
        self.outbox.push(login.to, &reply);
    }

    /// Sends `chat` from `sender` to a user online at no session here:
    /// `Asking` until the cluster knows what became of it, or
    /// `DestinationOffline` at once if it cannot be asked.
    pub(super) fn ask_cluster(
        &mut self,
        now: Instant,
        sender: AccountIndex,
        chat: &Chat<'_>,
        key: MessageKey,
        reply_addr: SocketAddr,
    ) -> Answer {
        let Some(request) = self.cluster.as_mut().and_then(|c| c.ask(now, chat)) else {
            return Answer::DestinationOffline;
        };
        let origin = Origin::Sender {
            sender,
            token: chat.token,
            reply_addr,
            key,
            body_len: chat.body.len(),
        };
        self.requests.push_back((request, origin));
        Answer::Asking
    }

    /// The cluster's timers, then what they brought.
    pub(super) fn handle_cluster_timeout(&mut self, now: Instant) {
        if let Some(cluster) = &mut self.cluster {
            cluster.handle_timeout(now);
            self.on_cluster_events(now);
        }
    }

    /// Does what the cluster asked for, until it asks for nothing more.
    fn on_cluster_events(&mut self, now: Instant) {
        while let Some(event) = self.cluster.as_mut().and_then(Cluster::poll_event) {
            match event {
                ClusterEvent::Deliver {
                    asker,
                    forward,
                    hold,
                } => {
                    let took = self.deliver_asked(now, &forward, hold);
                    if let Some(cluster) = &mut self.cluster {
                        cluster.answer(asker, took);
                    }
                }
                ClusterEvent::Release(forwards) => {
                    for forward in forwards {
                        self.release(now, forward);
                    }
                }
                ClusterEvent::Revoke(forwards) => {
                    for forward in forwards {
                        self.revoke(forward);
                    }
                }
                ClusterEvent::Resolved {
                    request,
                    outcome,
                    forward,
                } => self.resolved(request, outcome, &forward),
                ClusterEvent::Superseded { id, online_there } => {
                    self.superseded(now, &id, online_there)
                }
                ClusterEvent::LoginConfirmed(login) => self.reply_to_login(&login),
                ClusterEvent::Note(note) => self.event(HubEvent::Cluster(note)),
            }
        }
    }

    /// Another node asks for `forward` to be delivered here: it is taken
    /// if its destination is online here and was not taken on an earlier
    /// ask, and, if `hold`, held until the cluster releases it.
    fn deliver_asked(&mut self, now: Instant, forward: &[u8], hold: bool) -> Took {
        let Some(chat) = parse_forward(forward) else {
            return Took::Refused;
        };
        let Some(account) = self.accounts.find(chat.to) else {
            return Took::NotHere; // an account this node does not know
        };
        let Some(dest) = self.expire_if_idle(account, now) else {
            return Took::NotHere;
        };
        let Some(from) = self.accounts.find(chat.from) else {
            return Took::Refused; // a sender this node does not know
        };
        let taken = TakenKey::new(from, chat.msg_id, chat.body);
        let capacity = self.config.remembered_ids;
        let Some(session) = self.sessions.get_mut(dest) else {
            return Took::NotHere;
        };
        if !session.take_once(taken, capacity) {
            return Took::Earlier;
        }
        if !hold {
            self.deliver(now, from, dest, (chat.msg_id, chat.body), None);
            return Took::Sent;
        }
        let held = self.next_held;
        self.next_held += 1;
        self.held.insert(held, account);
        self.deliver(now, from, dest, (chat.msg_id, chat.body), Some(held));
        Took::Now(held)
    }

    /// The broker has the verdict: the held forward goes.
    fn release(&mut self, now: Instant, held: u64) {
        let Some((dest, position)) = self.find_held(held) else {
            return; // its session ended meanwhile
        };
        let Some(traffic) = self
            .sessions
            .get_mut(dest)
            .and_then(|session| session.traffic_mut_if_any())
        else {
            return;
        };
        let due = now + self.config.resend_wait(0);
        let Some(pending) = traffic.pending.get_mut(position) else {
            return;
        };
        pending.held = None;
        pending.due = due;
        self.send_forward(dest, position);
        self.wake_at(dest, due);
    }

    /// The verdict may be lost: the held forward never goes, and its
    /// message is as if never taken (it will be asked again).
    fn revoke(&mut self, held: u64) {
        let Some((dest, position)) = self.find_held(held) else {
            return;
        };
        let Some(session) = self.sessions.get_mut(dest) else {
            return;
        };
        let account = session.account();
        let Some(pending) = session.traffic_mut().pending.remove(position) else {
            return;
        };
        session.forget_taken(TakenKey::new(pending.from, pending.msg_id, &pending.body));
        self.bodies.give_back(pending.body);
        self.report(account, "a forward never sent: its verdict was lost");
    }

    /// The session and position of the held forward `held`, if it is still
    /// there; forgets it either way.
    fn find_held(&mut self, held: u64) -> Option<(SessionId, usize)> {
        let account = self.held.remove(&held)?;
        let dest = self.sessions.find(account)?;
        let session = self.sessions.get(dest)?;
        let position = session
            .pending()
            .iter()
            .position(|p| p.held == Some(held))?;
        Some((dest, position))
    }

    /// Tells the origin of `request` (whose forward was `forward`) its
    /// outcome.
    fn resolved(&mut self, request: RequestId, outcome: Outcome, forward: &[u8]) {
        let Ok(at) = self.requests.binary_search_by_key(&request, |(id, _)| *id) else {
            return;
        };
        let Some((_, origin)) = self.requests.remove(at) else {
            return;
        };
        match origin {
            Origin::Sender {
                sender,
                token,
                reply_addr,
                key,
                body_len,
            } => {
                let answer = match outcome {
                    Outcome::Taken => Answer::Accepted,
                    Outcome::Offline => Answer::DestinationOffline,
                    Outcome::Unresolved => Answer::Unconfirmed,
                };
                if let Some(result) = answer.result() {
                    self.counters.message(result);
                }
                if let Some(session) = self.sessions.of_mut(sender) {
                    if session.token.matches(&token) {
                        session.remember(key, answer, self.config.remembered_ids);
                    }
                }
                let to = self.accounts.id(sender);
                let body = &forward[forward.len().saturating_sub(body_len)..];
                if let Some(reply) = answer.reply(to, token, key.msg_id, body) {
                    self.outbox.push(reply_addr, &reply);
                }
            }
            Origin::HandOver { from, to, msg_id } => {
                let why = match outcome {
                    Outcome::Taken => return,
                    Outcome::Offline => ENDED_ELSEWHERE_TOO,
                    Outcome::Unresolved => "handed over to its user's node, not confirmed",
                };
                self.counters.forwards_given_up += 1;
                self.event(HubEvent::GaveUp {
                    from: self.accounts.id(from).into(),
                    to: self.accounts.id(to).into(),
                    msg_id,
                    why,
                });
            }
        }
    }

    /// A later login of `id` elsewhere ended its session here; if that
    /// login is online, the forwards still owed go to its node.
    fn superseded(&mut self, now: Instant, id: &str, online_there: bool) {
        let Some(index) = self.accounts.find(id) else {
            return;
        };
        let Some(mut session) = self.free_session(now, index, None) else {
            return;
        };
        let why = if online_there {
            "logged in at another node"
        } else {
            "its later login at another node ended"
        };
        for pending in session.take_traffic().into_iter().flat_map(|t| t.pending) {
            let chat = Chat {
                from: self.accounts.id(pending.from),
                to: id,
                token: ANY_TOKEN,
                msg_id: pending.msg_id,
                body: &pending.body,
            };
            let handed = online_there
                .then(|| self.cluster.as_mut()?.ask(now, &chat))
                .flatten();
            match handed {
                Some(request) => {
                    let origin = Origin::HandOver {
                        from: pending.from,
                        to: index,
                        msg_id: pending.msg_id,
                    };
                    self.requests.push_back((request, origin));
                    self.bodies.give_back(pending.body);
                }
                None => self.give_up(index, pending, why),
            }
        }
        self.report_from(index, session.reported, why);
        self.event(HubEvent::MovedAway {
            id: id.into(),
            online_there,
        });
    }
}

/// The broker connection's side of a node: the cluster's, with what it
/// brings taken in at once.
impl Endpoint for Hub {
    fn wants_connection(&self, now: Instant) -> bool {
        self.cluster
            .as_ref()
            .is_some_and(|c| c.wants_connection(now))
    }

    fn handle_connected(&mut self, now: Instant) {
        if let Some(cluster) = &mut self.cluster {
            cluster.handle_connected(now);
        }
    }

    fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        if let Some(cluster) = &mut self.cluster {
            cluster.handle_bytes(now, bytes);
            self.on_cluster_events(now);
        }
    }

    fn handle_lost(&mut self, now: Instant, why: &str) {
        if let Some(cluster) = &mut self.cluster {
            cluster.handle_lost(now, why);
            self.on_cluster_events(now);
        }
    }

    /// Publishes what the datagrams handled since the last call gathered
    /// (asks for other nodes, verdicts on theirs), then hands out the bytes.
    fn pending_write(&mut self, now: Instant) -> &[u8] {
        while let Some(cluster) = &mut self.cluster {
            cluster.publish();
            if !cluster.has_events() {
                break;
            }
            self.on_cluster_events(now);
        }
        match &mut self.cluster {
            Some(cluster) => cluster.pending_write(now),
            None => &[],
        }
    }

    fn written(&mut self, len: usize) {
        if let Some(cluster) = &mut self.cluster {
            cluster.written(len);
        }
    }

    fn is_down(&self) -> bool {
        self.cluster.as_ref().is_none_or(|c| c.is_down())
    }
}
