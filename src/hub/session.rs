//! One client's session on the hub, and the bounded memory it carries:
//! the message ids it sent recently, and the forwards it owes receipts for.

use std::collections::VecDeque;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::accounts::AccountIndex;
use crate::wire::{Message, MsgId, Outcome, Reply, SessionToken};

/// The states of a session on the server, as docs/protocol.md draws them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    Offline,
    /// Passed through while a login's password is checked.
    LoginReceived,
    Online,
    /// Online, with at least one forwarded message awaiting its receipt.
    MessageForward,
}

impl SessionState {
    /// Every state, in the order of the diagram.
    pub const ALL: [SessionState; 4] = [
        SessionState::Offline,
        SessionState::LoginReceived,
        SessionState::Online,
        SessionState::MessageForward,
    ];

    /// The protocol's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            SessionState::Offline => "OFFLINE",
            SessionState::LoginReceived => "LOGIN_RECEIVED",
            SessionState::Online => "ONLINE",
            SessionState::MessageForward => "MESSAGE_FORWARD",
        }
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the hub answered to a message it accepted from this session, kept so
/// that a resent copy gets the same answer and is not forwarded twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Accepted,
    DestinationOffline,
    /// Sent to another node, whose answer has not come yet: a resend now
    /// is dropped, as the answer will come.
    Asking,
    /// Sent to another node, and whether it took the message could not be
    /// learned: nothing is said, now or to a resend (the client tells its
    /// user the message was not confirmed).
    Unconfirmed,
}

impl Answer {
    /// The reply that tells `to` the answer to its message `msg_id` (whose
    /// body `Success` echoes); none while another node is asked, whose
    /// answer will be the reply, or when there is nothing true to say.
    pub fn reply<'a>(
        self,
        to: &'a str,
        token: SessionToken,
        msg_id: MsgId,
        body: &'a [u8],
    ) -> Option<Message<'a>> {
        let outcome = match self {
            Answer::Accepted => return Some(Message::accepted(to, token, msg_id, body)),
            Answer::DestinationOffline => Outcome::DestinationOffline,
            Answer::Asking | Answer::Unconfirmed => return None,
        };
        Some(Message::Reply(Reply {
            to,
            token,
            msg_id,
            outcome,
        }))
    }
}

/// A message a client sent, as the hub remembers it to know a resend (and,
/// at the destination's node in a cluster, an ask made again): its id, and
/// a fingerprint of its destination and body (a resend has all three the
/// same). 8 bytes of fingerprint instead of up to a kilobyte of
/// body keep 64 remembered messages per session small. Two different
/// messages with one id and one fingerprint would take a deliberate
/// collision, and only the client that sent both would lose by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MessageKey {
    pub msg_id: MsgId,
    fingerprint: u64,
}

impl MessageKey {
    pub fn new(msg_id: MsgId, to: &str, body: &[u8]) -> Self {
        let mut hasher = DefaultHasher::new();
        to.hash(&mut hasher);
        body.hash(&mut hasher);
        Self {
            msg_id,
            fingerprint: hasher.finish(),
        }
    }
}

/// A message another node asked to deliver to a session, as the session
/// remembers it to take it once: a fingerprint of its sender, id and body
/// (its destination is the session). One hash of what the ask carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TakenKey(u64);

impl TakenKey {
    pub fn new(from: AccountIndex, msg_id: MsgId, body: &[u8]) -> Self {
        let mut hasher = DefaultHasher::new();
        (from, msg_id, body).hash(&mut hasher);
        Self(hasher.finish())
    }
}

/// A forwarded message that has not been receipted yet.
#[derive(Debug)]
pub struct Pending {
    pub msg_id: MsgId,
    pub from: AccountIndex,
    pub body: Vec<u8>,
    /// How many times it was sent again.
    pub resends: u32,
    /// When to send it again.
    pub due: Instant,
    /// Taken for another node, and not sent until the broker confirms the
    /// `taken` verdict: the number the cluster releases it by.
    pub held: Option<u64>,
}

/// What a session gathers from traffic: the messages its client sent
/// lately, the forwards it owes receipts for, the asks of other nodes it
/// took. Boxed and made at the first use, so that an idle session does not
/// carry the empty queues (120 bytes of them).
#[derive(Debug, Default)]
pub struct Traffic {
    /// Ids of messages this client sent lately, oldest first: the order in
    /// which they are forgotten.
    pub recent: VecDeque<MsgId>,
    /// The same messages with the answer each got, sorted by id. Nearly
    /// every message is new, and a binary search says so in 6 comparisons
    /// where a scan of `recent` takes 64.
    answers: Vec<(MessageKey, Answer)>,
    /// Forwards to this client awaiting receipts, oldest first.
    pub pending: VecDeque<Pending>,
    /// In a cluster, messages other nodes asked this node to deliver here
    /// lately, by sender, oldest first: an ask made again (its verdict was
    /// lost) is taken without a second delivery. A fingerprint of sender
    /// and message each: 64 of them are compared in a few nanoseconds.
    taken: VecDeque<TakenKey>,
}

impl Traffic {
    /// The answer given to `sent`, if it was seen lately: the same id, to
    /// the same destination, with the same body.
    fn recall(&self, sent: &MessageKey) -> Option<Answer> {
        let at = self.find_answer(sent.msg_id).ok()?;
        let (remembered, answer) = self.answers[at];
        (remembered == *sent).then_some(answer)
    }

    /// Remembers an answer, forgetting the oldest beyond `capacity`. A
    /// message with the id of a remembered one takes its place.
    fn remember(&mut self, sent: MessageKey, answer: Answer, capacity: usize) {
        if let Ok(at) = self.find_answer(sent.msg_id) {
            self.answers[at] = (sent, answer);
            return;
        }
        if self.recent.len() >= capacity {
            if let Some(oldest) = self.recent.pop_front() {
                if let Ok(at) = self.find_answer(oldest) {
                    self.answers.remove(at);
                }
            }
        }
        // Not found above, so `Err` here: where it goes.
        let at = self.find_answer(sent.msg_id).unwrap_or_else(|at| at);
        self.recent.push_back(sent.msg_id);
        self.answers.insert(at, (sent, answer));
    }

    /// Where `msg_id` is in `answers`, or where it would go.
    fn find_answer(&self, msg_id: MsgId) -> Result<usize, usize> {
        self.answers
            .binary_search_by_key(&msg_id, |(sent, _)| sent.msg_id)
    }

    /// Whether another node's ask for this message was taken here
    /// lately; if not, it is remembered as taken now.
    fn take_once(&mut self, taken: TakenKey, capacity: usize) -> bool {
        if self.taken.contains(&taken) {
            return false;
        }
        if self.taken.len() >= capacity {
            self.taken.pop_front();
        }
        self.taken.push_back(taken);
        true
    }
}

/// No forwards: what an idle session's queue reads as.
static NO_PENDING: VecDeque<Pending> = VecDeque::new();

/// A client's session on the hub, from its login to its end: it exists
/// only while the client is online (the table of them is `Sessions`).
#[derive(Debug)]
pub struct Session {
    /// Where replies go: the address the login named.
    pub addr: SocketAddr,
    pub last_seen: Instant,
    /// The deadline of this session's entry in the hub's timer queue.
    pub wake_at: Option<Instant>,
    /// Made at the first message, forward or ask: `None` while idle.
    traffic: Option<Box<Traffic>>,
    /// The account whose session this is (4 bytes: indexes fit in a `u32`,
    /// as `Accounts` keeps them).
    account: u32,
    /// Datagrams that claimed this session with a wrong token.
    pub wrong_tokens: u32,
    pub token: SessionToken,
    /// The state `--trace` last reported (`Hub::report`).
    pub reported: SessionState,
}

impl Session {
    /// The session a login of `account` from `addr` starts at `now`.
    pub fn new(account: AccountIndex, token: SessionToken, addr: SocketAddr, now: Instant) -> Self {
        Self {
            addr,
            last_seen: now,
            wake_at: None,
            traffic: None,
            account: account.0 as u32,
            wrong_tokens: 0,
            token,
            reported: SessionState::Offline,
        }
    }

    pub fn account(&self) -> AccountIndex {
        AccountIndex(self.account as usize)
    }

    /// The state as the diagram names it.
    pub fn state(&self) -> SessionState {
        if self.pending().is_empty() {
            SessionState::Online
        } else {
            SessionState::MessageForward
        }
    }

    /// A login from another address replaces the session: a new token and
    /// address, what it remembered forgotten; the forwards still owed
    /// follow the user to the new address.
    pub fn replace(&mut self, token: SessionToken, addr: SocketAddr, now: Instant) {
        let pending = self.traffic.take().map(|traffic| traffic.pending);
        *self = Self {
            wake_at: self.wake_at,
            reported: self.reported,
            ..Self::new(self.account(), token, addr, now)
        };
        if let Some(pending) = pending.filter(|pending| !pending.is_empty()) {
            self.traffic_mut().pending = pending;
        }
    }

    /// What the session gathered from traffic, if anything yet.
    pub fn traffic(&self) -> Option<&Traffic> {
        self.traffic.as_deref()
    }

    /// What the session gathers from traffic, made now if it had none.
    pub fn traffic_mut(&mut self) -> &mut Traffic {
        self.traffic.get_or_insert_with(Box::default)
    }

    /// What the session gathered from traffic, if anything yet, to change.
    pub fn traffic_mut_if_any(&mut self) -> Option<&mut Traffic> {
        self.traffic.as_deref_mut()
    }

    /// Takes what the session gathered (its end gives up its forwards).
    pub fn take_traffic(&mut self) -> Option<Box<Traffic>> {
        self.traffic.take()
    }

    /// Forwards to this client awaiting receipts, oldest first.
    pub fn pending(&self) -> &VecDeque<Pending> {
        self.traffic()
            .map_or(&NO_PENDING, |traffic| &traffic.pending)
    }

    /// Message ids remembered to answer resends.
    pub fn remembered(&self) -> usize {
        self.traffic().map_or(0, |traffic| traffic.recent.len())
    }

    /// The answer given to `sent`, if it was seen lately: the same id, to
    /// the same destination, with the same body.
    pub fn recall(&self, sent: &MessageKey) -> Option<Answer> {
        self.traffic()?.recall(sent)
    }

    /// Remembers an answer, forgetting the oldest beyond `capacity`.
    pub fn remember(&mut self, sent: MessageKey, answer: Answer, capacity: usize) {
        self.traffic_mut().remember(sent, answer, capacity);
    }

    /// Whether another node's ask for this message was taken here
    /// lately; if not, it is remembered as taken now.
    pub fn take_once(&mut self, taken: TakenKey, capacity: usize) -> bool {
        self.traffic_mut().take_once(taken, capacity)
    }

    /// Takes the pending forward with this id, if any.
    pub fn take_pending(&mut self, msg_id: MsgId) -> Option<Pending> {
        let pending = &mut self.traffic.as_mut()?.pending;
        let position = pending.iter().position(|p| p.msg_id == msg_id)?;
        pending.remove(position)
    }

    /// When the session expires if its client stays silent; `None` if that
    /// is past what the clock can count (a timeout of centuries).
    pub fn expiry(&self, timeout: Duration) -> Option<Instant> {
        self.last_seen.checked_add(timeout)
    }

    /// The earliest resend deadline (of the forwards sent).
    pub fn next_resend(&self) -> Option<Instant> {
        self.pending()
            .iter()
            .filter(|p| p.held.is_none())
            .map(|p| p.due)
            .min()
    }

    /// Forgets that a message was taken for another node (its verdict was
    /// lost): asked again, it is taken again.
    pub fn forget_taken(&mut self, forgotten: TakenKey) {
        if let Some(traffic) = &mut self.traffic {
            traffic.taken.retain(|taken| *taken != forgotten);
        }
    }
}
