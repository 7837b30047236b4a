//! Messages between users of two nodes. A message to a user not online
//! here is a *request*, and waits (as [`Asking`]) for the answer of the
//! node that holds its destination:
//!
//! - to the user's subject `hub.user.ID` while this node does not know
//!   where the user is: the broker answers "no responders" at once if no
//!   node holds it (`destination offline!`);
//! - once an answer said which node took a message for that user, to that
//!   node's `forwards` subject, with the other requests for its users of
//!   the same batch of datagrams: one broker message for all of them. A
//!   node that no longer has the user answers `gone`, and the request goes
//!   to the user's subject after all; a node that is gone altogether gets
//!   "no responders", and its requests go the same way.
//!
//! The destination's node forwards what it takes as one hub would, and
//! answers all the requests one read of the broker brought in one message
//! per asking node. A request whose answer never comes (its node died with
//! it) is answered `destination offline!` after
//! [`ClusterConfig::request_timeout`](super::ClusterConfig).

use std::net::SocketAddr;
use std::time::Instant;

use super::payload::{
    answers_inbox, forwards_inbox, parse_inbox, request_inbox, user_subject, AnswerBatch, Answers,
    ForwardBatch, Forwards, Payload, Verdict,
};
use super::Cluster;
use crate::accounts::AccountIndex;
use crate::hub::session::{Answer, Sent};
use crate::hub::{Hub, HubEvent};
use crate::nats::LinkError;
use crate::wire::{Chat, MsgId, SessionToken, ANY_TOKEN};

/// A message sent to another node's user, awaiting that node's answer.
pub(super) struct Asking {
    pub request: u64,
    pub deadline: Instant,
    sender: AccountIndex,
    dest: AccountIndex,
    /// The node it was sent to, if it went to a node rather than to the
    /// user's subject.
    via: Option<u64>,
    reply_addr: SocketAddr,
    token: SessionToken,
    msg_id: MsgId,
    sent: Sent,
    /// For the `Success: BODY` echo, and to ask again.
    body: Vec<u8>,
}

impl Hub {
    /// Sends `chat` from `sender` towards `dest`, online at no session
    /// here: `Asking` until the node that has `dest` answers, or
    /// `DestinationOffline` at once if the broker cannot be asked. `sent`
    /// is how the sender's session remembers the message, for the answer.
    pub(in crate::hub) fn ask_cluster(
        &mut self,
        now: Instant,
        sender: AccountIndex,
        dest: AccountIndex,
        chat: &Chat<'_>,
        sent: Sent,
        reply_addr: SocketAddr,
    ) -> Answer {
        let Some(cluster) = &mut self.cluster else {
            return Answer::DestinationOffline;
        };
        if !cluster.link.is_up() {
            return Answer::DestinationOffline;
        }
        let request = cluster.next_request;
        let via = cluster.routes.get(&dest).copied();
        match via {
            Some(node) => cluster.batch(node).add(request, chat),
            None => {
                if let Err(error) = cluster.ask_subject(request, chat) {
                    self.refused(chat.to, chat.msg_id, error);
                    return Answer::DestinationOffline;
                }
            }
        }
        cluster.next_request += 1;
        cluster.asking.push_back(Asking {
            request,
            deadline: now + cluster.config.request_timeout,
            sender,
            dest,
            via,
            reply_addr,
            token: chat.token,
            msg_id: chat.msg_id,
            sent,
            body: self.bodies.copy_of(chat.body),
        });
        if self.config.trace {
            let to = match via {
                Some(node) => format!("node {node:016x}"),
                None => user_subject(chat.to),
            };
            self.trace_broker(format_args!(
                "request {request} out: msg {} for {} (to {to})",
                chat.msg_id, chat.to
            ));
        }
        Answer::Asking
    }

    /// Publishes the requests gathered for other nodes since the last
    /// call, one message per node. The program calls it once per batch of
    /// datagrams, before it writes the link's bytes.
    pub fn flush_broker(&mut self) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        let mut refused = Vec::new();
        for batch in std::mem::take(&mut cluster.batches) {
            // "No responders" on the first request's inbox if the node is gone.
            let inbox = request_inbox(cluster.node_id, batch.requests[0]);
            let subject = forwards_inbox(batch.node);
            if let Err(error) = cluster
                .link
                .publish(&subject, Some(&inbox), batch.payload())
            {
                refused.extend(batch.requests.iter().map(|&request| (request, error)));
            }
        }
        for (request, error) in refused {
            self.refused_request(request, error);
        }
    }

    /// Another node asked for users here, through their subjects (one
    /// forward, `reply` set) or through ours (`forwards`, several).
    pub(super) fn on_requests(
        &mut self,
        now: Instant,
        requests: Requests<'_>,
        reply: Option<&str>,
    ) {
        let asker = reply.and_then(parse_inbox);
        match requests {
            Requests::ForUser(chat) => {
                let taken = self.take_forward(now, &chat);
                if let Some((node, request)) = asker {
                    let verdict = if taken {
                        Verdict::Taken
                    } else {
                        Verdict::Offline
                    };
                    self.owe_answer(node, request, verdict);
                }
            }
            Requests::ForNode(forwards) => {
                for (request, chat) in forwards.iter() {
                    let taken = self.take_forward(now, &chat);
                    if let Some((node, _)) = asker {
                        let verdict = if taken { Verdict::Taken } else { Verdict::Gone };
                        self.owe_answer(node, request, verdict);
                    }
                }
            }
        }
    }

    /// Forwards `chat` to its destination if it is online here.
    fn take_forward(&mut self, now: Instant, chat: &Chat<'_>) -> bool {
        let (Some(from), Some(dest)) = (self.accounts.find(chat.from), self.accounts.find(chat.to))
        else {
            return false;
        };
        self.expire_if_idle(dest, now);
        if self.sessions[dest].online.is_none() {
            return false;
        }
        self.deliver(now, from, dest, chat.msg_id, chat.body);
        true
    }

    fn owe_answer(&mut self, node: u64, request: u64, verdict: Verdict) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        let from = cluster.node_id;
        let batch = batch_for(
            &mut cluster.answers,
            |b| b.to == node,
            || AnswerBatch::new(from, node),
        );
        batch.add(request, verdict);
    }

    /// Sends the answers owed to other nodes' requests, one message per node.
    pub(super) fn send_answers(&mut self) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        for batch in std::mem::take(&mut cluster.answers) {
            let _ = cluster
                .link
                .publish(&answers_inbox(batch.to), None, batch.payload());
        }
    }

    /// A node answered our requests.
    pub(super) fn on_answers(&mut self, answers: Answers<'_>) {
        for (request, verdict) in answers.iter() {
            self.trace_broker(format_args!(
                "answer to request {request} in: {}",
                verdict.word()
            ));
            let Some(cluster) = &mut self.cluster else {
                return;
            };
            let Some(asking) = cluster.find(request) else {
                continue; // answered already: a late answer, or a second node's
            };
            let dest = asking.dest;
            match verdict {
                Verdict::Taken => {
                    // Next time, straight to that node, with the others.
                    cluster.routes.insert(dest, answers.from);
                    self.answer_asking(request, Answer::Accepted);
                }
                Verdict::Offline => {
                    cluster.forget_route(dest, answers.from);
                    self.answer_asking(request, Answer::DestinationOffline);
                }
                Verdict::Gone => {
                    cluster.forget_route(dest, answers.from);
                    self.ask_subject_instead(request);
                }
            }
        }
    }

    /// The broker says nobody holds the subject request `request` went to.
    pub(super) fn on_no_responders(&mut self, request: u64) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        let Some(asking) = cluster.find(request) else {
            return;
        };
        let Some(node) = asking.via else {
            self.trace_broker(format_args!(
                "no node holds the destination of request {request}"
            ));
            return self.answer_asking(request, Answer::DestinationOffline);
        };
        // The node is gone: what was sent to it goes to the users' subjects.
        cluster.routes.retain(|_, held_by| *held_by != node);
        let sent_to_it: Vec<u64> = cluster
            .asking
            .iter()
            .filter(|asking| asking.via == Some(node))
            .map(|asking| asking.request)
            .collect();
        self.trace_broker(format_args!("node {node:016x} is gone"));
        for request in sent_to_it {
            self.ask_subject_instead(request);
        }
    }

    /// Sends request `request` (sent to a node) to its user's subject.
    fn ask_subject_instead(&mut self, request: u64) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        let Some(asking) = cluster.find(request) else {
            return;
        };
        asking.via = None;
        let (from, to, msg_id) = (asking.sender, asking.dest, asking.msg_id);
        // Lent to the payload while it is written.
        let body = std::mem::take(&mut asking.body);
        let chat = Chat {
            from: self.accounts.id(from),
            to: self.accounts.id(to),
            token: ANY_TOKEN,
            msg_id,
            body: &body,
        };
        let sent = cluster.ask_subject(request, &chat);
        if let Some(asking) = cluster.find(request) {
            asking.body = body;
        }
        if let Err(error) = sent {
            self.refused_request(request, error);
        }
    }

    /// Requests whose answer is overdue are answered `destination offline!`.
    pub(in crate::hub) fn expire_requests(&mut self, now: Instant) {
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
    pub(in crate::hub) fn request_deadline(&self) -> Option<Instant> {
        Some(self.cluster.as_ref()?.asking.front()?.deadline)
    }

    /// Requests awaiting answers.
    pub(in crate::hub) fn asking(&self) -> usize {
        self.cluster.as_ref().map_or(0, |c| c.asking.len())
    }

    /// Every request still waiting is answered `destination offline!`
    /// (the link went down: no answer will come).
    pub(super) fn give_up_requests(&mut self) {
        let Some(cluster) = &mut self.cluster else {
            return;
        };
        cluster.batches.clear();
        cluster.routes.clear();
        let requests: Vec<u64> = cluster.asking.iter().map(|a| a.request).collect();
        for request in requests {
            self.answer_asking(request, Answer::DestinationOffline);
        }
    }

    fn refused_request(&mut self, request: u64, error: LinkError) {
        let Some(asking) = self.cluster.as_mut().and_then(|c| c.find(request)) else {
            return;
        };
        let (dest, msg_id) = (asking.dest, asking.msg_id);
        let to = self.accounts.id(dest).to_owned();
        self.refused(&to, msg_id, error);
        self.answer_asking(request, Answer::DestinationOffline);
    }

    /// The link would not take a request: down is a state the log tells
    /// once; a refusal of a link that is up is news every time.
    fn refused(&mut self, to: &str, msg_id: MsgId, error: LinkError) {
        if error != LinkError::NotUp {
            self.counters.broker_refusals += 1;
            self.event(HubEvent::BrokerRefused {
                to: to.into(),
                msg_id,
                why: error,
            });
        }
    }

    /// Answers the sender of request `request`, if it still waits, with
    /// `answer`, and remembers it for resends.
    pub(super) fn answer_asking(&mut self, request: u64, answer: Answer) {
        let Some(asking) = self.cluster.as_mut().and_then(|c| c.take(request)) else {
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
        if let Some(reply) = answer.reply(to, asking.token, asking.msg_id, &asking.body) {
            self.outbox.push(asking.reply_addr, &reply);
        }
        self.bodies.give_back(asking.body);
    }
}

/// What another node asked for.
pub(super) enum Requests<'a> {
    /// One forward, to a user's subject.
    ForUser(Chat<'a>),
    /// Forwards to this node's subject.
    ForNode(Forwards<'a>),
}

impl Cluster {
    /// The request `request`, if it still waits.
    fn find(&mut self, request: u64) -> Option<&mut Asking> {
        let at = self.position(request)?;
        self.asking.get_mut(at)
    }

    /// The request `request`, no longer waiting.
    fn take(&mut self, request: u64) -> Option<Asking> {
        let at = self.position(request)?;
        self.asking.remove(at)
    }

    /// Where request `request` is among those waiting (sorted by number).
    fn position(&self, request: u64) -> Option<usize> {
        // Answers come mostly in the order asked: to the oldest first.
        if self.asking.front()?.request == request {
            return Some(0);
        }
        self.asking
            .binary_search_by_key(&request, |a| a.request)
            .ok()
    }

    /// The batch of requests for `node`'s users.
    fn batch(&mut self, node: u64) -> &mut ForwardBatch {
        batch_for(
            &mut self.batches,
            |b| b.node == node,
            || ForwardBatch::new(node),
        )
    }

    fn ask_subject(&mut self, request: u64, chat: &Chat<'_>) -> Result<(), LinkError> {
        let inbox = request_inbox(self.node_id, request);
        self.publish(
            &user_subject(chat.to),
            Some(&inbox),
            Payload::Forward(*chat),
        )
    }

    /// Forgets that `node` holds `dest`, if that is what we thought.
    fn forget_route(&mut self, dest: AccountIndex, node: u64) {
        if self.routes.get(&dest) == Some(&node) {
            self.routes.remove(&dest);
        }
    }
}

/// The batch among `batches` that `is_for` picks (a node's: there are few),
/// made with `new` if there is none yet.
fn batch_for<T>(
    batches: &mut Vec<T>,
    is_for: impl Fn(&T) -> bool,
    new: impl FnOnce() -> T,
) -> &mut T {
    let at = match batches.iter().position(is_for) {
        Some(at) => at,
        None => {
            batches.push(new());
            batches.len() - 1
        }
    };
    &mut batches[at]
}
