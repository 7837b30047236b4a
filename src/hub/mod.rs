//! The hub: the server's session state machine, with no sockets and no clock.
//!
//! Inputs are [`Hub::handle_datagram`] (bytes, source address, `now`) and
//! [`Hub::handle_timeout`] (`now`). Outputs are [`Hub::poll_transmit`] (the
//! datagrams to send, with their destinations), [`Hub::poll_timeout`] (when to
//! call `handle_timeout` next) and [`Hub::poll_event`] (what to log). Because
//! time comes in as an argument, a test can move it five minutes in a
//! microsecond, and the same inputs always give the same outputs.
//!
//! A hub that joined a cluster ([`Hub::join_cluster`]) holds a
//! [`Cluster`], and has one more input and output: the bytes of the broker
//! connection, which the program's edge moves through the hub's
//! [`Endpoint`](crate::nats::Endpoint) (`hub/in_cluster.rs`: what the hub
//! tells its cluster, and what it does with the cluster's events).
//!
//! A session exists only while its client is online: made at login, freed
//! at logoff, expiry, a login that replaces it, or its account's removal.
//! The session table (`hub/sessions.rs`) is a slab of them, found by
//! account or by the slot's `SessionId`; an account that is not online
//! costs nothing there. What the contract needs after a session ended
//! (where its replies went, the token a logoff ended) is remembered for a
//! while in `hub/ended.rs`. So memory is bounded by the accounts online and
//! a few fixed caps, however many datagrams arrive. Each session has at
//! most one live entry in the [`TimerQueue`], keyed by its `SessionId`:
//! the earlier of its expiry and its next resend.

mod counters;
mod describe;
mod ended;
mod event;
mod expiry_map;
mod in_cluster;
mod pool;
mod session;
mod sessions;
mod throttle;
mod token_guard;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::OsRng;
use rand::{RngCore, TryRngCore};

use crate::accounts::{AccountIndex, Accounts, Update};
use crate::cluster::{Cluster, RequestId};
use crate::outbox::{Outbox, Transmit};
use crate::timers::TimerQueue;
use crate::wire::{
    self, Chat, LogInAgain, Login, Logoff, Message, MsgId, Outcome, PasswordMismatch, Receipt,
    Reply, SessionToken, Success,
};

pub use crate::cluster::ClusterConfig;
pub use counters::{HubCounters, LoginResult, MessageResult};
use ended::{Ended, EndedSessions, Ending};
pub use event::{DropReason, HubEvent, NoChange};
use in_cluster::Origin;
#[cfg(test)]
pub(crate) use in_cluster::ENDED_ELSEWHERE_TOO;
use pool::BufferPool;
pub use session::SessionState;
use session::{Answer, MessageKey, Pending, Session};
use sessions::{SessionId, Sessions};
use throttle::LoginThrottle;
pub use throttle::ThrottleConfig;
use token_guard::TokenGuard;
pub use token_guard::TOKEN_GUESSES_PER_SECOND;

/// The hub's tunables; [`HubConfig::default`] gives the contract's values.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// A session with no valid datagram from its client for this long expires.
    pub session_timeout: Duration,
    /// Wait before the first resend of an unreceipted forward; doubles after
    /// each, up to `max_resend_interval`.
    pub resend_after: Duration,
    /// The longest wait between two resends of a forward. Forwards are
    /// resent for as long as the destination's session lives.
    pub max_resend_interval: Duration,
    /// Message ids remembered per session to answer resent messages.
    pub remembered_ids: usize,
    /// Forwards awaiting receipts per session; past this the oldest is given up.
    pub max_pending: usize,
    /// Emit [`HubEvent::Transition`] for every state change.
    pub trace: bool,
    /// How fast failed logins may be retried.
    pub throttle: ThrottleConfig,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            session_timeout: Duration::from_secs(300),
            resend_after: Duration::from_secs(1),
            max_resend_interval: Duration::from_secs(30),
            remembered_ids: 64,
            max_pending: 64,
            trace: false,
            throttle: ThrottleConfig::default(),
        }
    }
}

impl HubConfig {
    /// The wait after the `resends`-th resend of a forward (0: after the
    /// first send): `resend_after` doubled that many times, capped.
    pub fn resend_wait(&self, resends: u32) -> Duration {
        self.resend_after
            .saturating_mul(1 << resends.min(20))
            .min(self.max_resend_interval)
    }
}

/// Counts of what the hub holds in memory, for tests and reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HubStats {
    pub online: usize,
    pub pending: usize,
    pub remembered_ids: usize,
    pub timers: usize,
    /// Source addresses the login throttle remembers.
    pub throttled_ips: usize,
    /// (account, address) pairs the login throttle remembers.
    pub throttled_pairs: usize,
    /// Source addresses the token guard remembers.
    pub token_sources: usize,
    /// Messages to other nodes' users awaiting those nodes' verdicts.
    pub asking: usize,
    /// Whether the link to the cluster's broker is up (false alone).
    pub broker_up: bool,
    /// Logins that ended here, remembered by the cluster.
    pub ended_logins: usize,
    /// Sessions that ended lately, remembered for their replies.
    pub ended_sessions: usize,
}

/// What [`Hub::check_token`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TokenCheck {
    Matches,
    /// Wrong; `answer` is false once the source spent its second's budget.
    Wrong {
        answer: bool,
    },
    /// Not checked: the source guessed too often this second.
    Unchecked,
}

/// The server's state machine: every session, and what it wants done.
pub struct Hub {
    config: HubConfig,
    accounts: Accounts,
    sessions: Sessions,
    /// What is left of the sessions that ended lately.
    ended: EndedSessions,
    timers: TimerQueue<SessionId>,
    outbox: Outbox,
    bodies: BufferPool,
    events: std::collections::VecDeque<HubEvent>,
    counters: HubCounters,
    throttle: LoginThrottle,
    token_guard: TokenGuard,
    rng: Box<dyn RngCore + Send>,
    /// The node's part of a cluster, once it joined one.
    cluster: Option<Cluster>,
    /// What each of the cluster's requests is for, by id (in order).
    requests: VecDeque<(RequestId, Origin)>,
    /// Forwards taken for other nodes, held until the cluster releases
    /// them, with their destinations; and the number of the next.
    held: HashMap<u64, AccountIndex>,
    next_held: u64,
}

impl Hub {
    /// A hub whose tokens come from the operating system's secure random source.
    pub fn new(accounts: Accounts, config: HubConfig) -> Self {
        Self::with_rng(accounts, config, Box::new(OsRng.unwrap_err()))
    }

    /// A hub with its own token generator (tests use a seeded one).
    pub fn with_rng(accounts: Accounts, config: HubConfig, rng: Box<dyn RngCore + Send>) -> Self {
        Self {
            throttle: LoginThrottle::new(config.throttle.clone()),
            config,
            accounts,
            sessions: Sessions::default(),
            ended: EndedSessions::default(),
            timers: TimerQueue::default(),
            outbox: Outbox::default(),
            bodies: BufferPool::default(),
            events: Default::default(),
            counters: HubCounters::default(),
            token_guard: TokenGuard::default(),
            rng,
            cluster: None,
            requests: VecDeque::new(),
            held: HashMap::new(),
            next_held: 0,
        }
    }

    /// The accounts the hub was given.
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// Makes `accounts` the hub's, as a reload of the accounts file does:
    /// they were read against the hub's (`Accounts::reread`, or a `Rebuild`
    /// in slices), and `update` says what changed. A new account can log in
    /// at once; a removed one's session ends (its next datagram is told to
    /// log in again); a changed password applies to the next login and
    /// leaves the running session alone. Gives back the accounts replaced,
    /// for the caller to free when it suits (with a million accounts,
    /// freeing them takes milliseconds).
    pub fn reload(&mut self, now: Instant, accounts: Accounts, update: &Update) -> Accounts {
        let replaced = std::mem::replace(&mut self.accounts, accounts);
        self.end_removed(now, update);
        replaced
    }

    /// Ends the sessions of the accounts `update` removed (already gone
    /// from the hub's accounts, their indexes still naming their ids).
    fn end_removed(&mut self, now: Instant, update: &Update) {
        for &index in &update.removed {
            if self.sessions.find(index).is_some() {
                let id = self.accounts.id(index).into();
                self.event(HubEvent::AccountRemoved { id });
                self.end_session(now, index, Ending::AccountRemoved);
            }
        }
    }

    /// One datagram arrived from `source` at `now`.
    pub fn handle_datagram(&mut self, now: Instant, source: SocketAddr, datagram: &[u8]) {
        let message = match wire::parse(datagram) {
            Ok(message) => message,
            Err(error) => return self.discard(source, DropReason::Malformed(error)),
        };
        match message {
            Message::Login(login) => self.on_login(now, source, login),
            Message::Logoff(logoff) => self.on_logoff(now, source, logoff),
            Message::Chat(chat) => self.on_chat(now, source, chat),
            Message::Receipt(receipt) => self.on_receipt(now, source, receipt),
            Message::Success(_)
            | Message::PasswordMismatch(_)
            | Message::LogInAgain(_)
            | Message::Reply(_) => self.discard(source, DropReason::ServerMessage),
        }
    }

    /// Time has come to `now`: expire idle sessions and resend unreceipted
    /// forwards whose deadlines passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.handle_cluster_timeout(now);
        while let Some(id) = self.timers.pop_due(now) {
            // An entry left by a session that ended.
            let Some(session) = self.sessions.get_mut(id) else {
                continue;
            };
            match session.wake_at {
                Some(at) if at <= now => session.wake_at = None,
                // A later deadline superseded by an earlier one; that one is queued.
                _ => continue,
            }
            let index = session.account();
            if self.expire_if_idle(index, now).is_some() {
                self.resend_due(id, now);
                self.schedule_wakeup(id);
            }
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit<'_>> {
        self.outbox.pop()
    }

    /// Every datagram waiting to be sent, for a socket to send straight
    /// from (and empty); [`poll_transmit`](Self::poll_transmit) takes them
    /// one at a time instead.
    pub fn outbox(&mut self) -> &mut Outbox {
        &mut self.outbox
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let cluster = self.cluster.as_ref().and_then(Cluster::poll_timeout);
        self.timers.next_deadline().into_iter().chain(cluster).min()
    }

    /// The next thing worth logging.
    pub fn poll_event(&mut self) -> Option<HubEvent> {
        self.events.pop_front()
    }

    /// The state of the session of `id`, if it is an account.
    pub fn state_of(&self, id: &str) -> Option<SessionState> {
        let index = self.accounts.find(id)?;
        Some(self.state(index))
    }

    /// Turns on or off the reports `--trace` shows: transitions, why a
    /// reply changed nothing, the cluster's steps. The edge turns them on
    /// for the loop turns whose events are recorded (`scope::flight`), so
    /// that a turn nobody records builds none.
    pub fn set_trace(&mut self, on: bool) {
        self.config.trace = on;
        if let Some(cluster) = &mut self.cluster {
            cluster.set_trace(on);
        }
    }

    /// What the hub has done since it started (for metrics).
    pub fn counters(&self) -> &HubCounters {
        &self.counters
    }

    /// What the hub holds now.
    pub fn stats(&self) -> HubStats {
        let cluster = self.cluster.as_ref().map(Cluster::stats);
        let mut stats = HubStats {
            timers: self.timers.len(),
            throttled_ips: self.throttle.tracked_ips(),
            throttled_pairs: self.throttle.tracked_pairs(),
            token_sources: self.token_guard.tracked(),
            asking: cluster.map_or(0, |c| c.requests),
            broker_up: cluster.is_some_and(|c| c.link_up),
            ended_logins: cluster.map_or(0, |c| c.ended),
            ended_sessions: self.ended.len(),
            online: self.sessions.len(),
            ..HubStats::default()
        };
        for (_, session) in self.sessions.iter() {
            stats.pending += session.pending().len();
            stats.remembered_ids += session.remembered();
        }
        stats
    }

    /// The state of the session of `index`: `OFFLINE` without one.
    fn state(&self, index: AccountIndex) -> SessionState {
        self.sessions
            .of(index)
            .map_or(SessionState::Offline, Session::state)
    }

    /// Where replies to `index` go: the address its login named, while
    /// its session (`live`) lives or is remembered; else the datagram's
    /// `source`.
    fn reply_addr(
        &self,
        live: Option<SessionId>,
        index: AccountIndex,
        source: SocketAddr,
        now: Instant,
    ) -> SocketAddr {
        match live.and_then(|id| self.sessions.get(id)) {
            Some(session) => session.addr,
            None => self
                .ended
                .get(index, now)
                .map_or(source, |ended| ended.addr),
        }
    }

    /// The heap bytes that grow with the sessions online, for the
    /// memory-bound tests: the session table and the timer queue (what
    /// the sessions' traffic boxes hold is `Sessions::traffic_bytes`).
    #[cfg(test)]
    fn session_heap_bytes(&self) -> usize {
        self.sessions.heap_bytes() + self.timers.heap_bytes()
    }

    fn on_login(&mut self, now: Instant, source: SocketAddr, login: Login<'_>) {
        let Login {
            from,
            password,
            reply_to,
        } = login;
        let Some(reply_addr) = reply_to.resolve(source) else {
            return self.discard(source, DropReason::UnreachableReplyAddress);
        };
        let account = self.accounts.find(from);
        if !self.throttle.allows(now, account, source) {
            // Refused unchecked, with the same words as a wrong password.
            self.outbox.push(
                reply_addr,
                &Message::PasswordMismatch(PasswordMismatch { to: from }),
            );
            self.counters.login(LoginResult::Throttled);
            self.explain(account, from, NoChange::Throttled);
            return self.event(HubEvent::LoginThrottled {
                id: from.into(),
                from: source,
            });
        }
        let Some(index) = account else {
            return self.refuse_login(now, source, reply_addr, from, None);
        };
        self.expire_if_idle(index, now);
        let before = self.state(index);
        let reported = self
            .sessions
            .of(index)
            .map_or(SessionState::Offline, |session| session.reported);
        self.transition(index, reported, SessionState::LoginReceived, "login");
        if !self.accounts.password_matches(index, password) {
            self.report_from(index, SessionState::LoginReceived, "wrong password");
            return self.refuse_login(now, source, reply_addr, from, Some(index));
        }
        self.throttle.succeeded(now, index, source);
        let live = self.sessions.find(index);
        let session = live.and_then(|id| self.sessions.get_mut(id));
        let repeat = session
            .as_ref()
            .is_some_and(|session| session.addr == reply_addr);
        let (id, token) = match (live, session) {
            (Some(id), Some(session)) if repeat => {
                session.last_seen = now;
                (id, session.token)
            }
            (Some(id), Some(session)) => {
                let token = SessionToken::generate(&mut self.rng);
                session.replace(token, reply_addr, now);
                (id, token)
            }
            _ => {
                let token = SessionToken::generate(&mut self.rng);
                let session = Session::new(index, token, reply_addr, now);
                self.ended.forget(index);
                (self.sessions.insert(session), token)
            }
        };
        // A repeat is a login too: in a cluster it is stamped again, so
        // that it is later than one made elsewhere while the nodes could
        // not hear each other.
        self.joined_cluster(now, index);
        self.accept_login(index, reply_addr, token);
        self.report_from(index, SessionState::LoginReceived, "password matches");
        let result = if repeat {
            LoginResult::Repeat
        } else {
            LoginResult::Ok
        };
        self.counters.login(result);
        if !repeat {
            self.event(HubEvent::LoggedIn {
                id: from.into(),
                addr: reply_addr,
                replaced: before != SessionState::Offline,
            });
        }
        self.schedule_wakeup(id);
    }

    fn refuse_login(
        &mut self,
        now: Instant,
        source: SocketAddr,
        reply_addr: SocketAddr,
        from: &str,
        account: Option<AccountIndex>,
    ) {
        self.throttle.failed(now, account, source);
        self.counters.login(LoginResult::Refused);
        self.outbox.push(
            reply_addr,
            &Message::PasswordMismatch(PasswordMismatch { to: from }),
        );
        // A known account's refusal is its `LOGIN_RECEIVED => ...` transition.
        if account.is_none() {
            self.explain(None, from, NoChange::NoAccount);
        }
        self.event(HubEvent::LoginRefused {
            id: from.into(),
            from: source,
        });
    }

    fn on_logoff(&mut self, now: Instant, source: SocketAddr, logoff: Logoff<'_>) {
        let Logoff { from, token } = logoff;
        let Some(index) = self.accounts.find(from) else {
            self.outbox
                .push(source, &Message::LogInAgain(LogInAgain { to: from }));
            return self.explain(None, from, NoChange::NoSession);
        };
        let live = self.expire_if_idle(index, now);
        let token_check = self.check_token(now, source, live, &token);
        let reply_addr = self.reply_addr(live, index, source, now);
        let resent = token_check.is_none()
            && self
                .ended
                .get(index, now)
                .and_then(|ended| ended.logged_off)
                .is_some_and(|t| t.matches(&token));
        match token_check {
            Some(TokenCheck::Matches) => {
                self.end_session(now, index, Ending::Logoff(token));
                self.outbox
                    .push(reply_addr, &Message::Success(Success { to: from, token }));
                self.event(HubEvent::LoggedOff { id: from.into() });
            }
            // Someone without the token must not be able to end the session.
            Some(TokenCheck::Wrong { .. }) => self.discard(source, DropReason::TokenMismatch),
            Some(TokenCheck::Unchecked) => self.discard(source, DropReason::TokenGuessing),
            // The reply to the logoff was lost and the client asked again.
            None if resent => {
                self.outbox
                    .push(reply_addr, &Message::Success(Success { to: from, token }));
                self.explain(Some(index), from, NoChange::LogoffResent);
            }
            None => {
                self.outbox
                    .push(reply_addr, &Message::LogInAgain(LogInAgain { to: from }));
                self.explain(Some(index), from, NoChange::NoSession);
            }
        }
    }

    fn on_chat(&mut self, now: Instant, source: SocketAddr, chat: Chat<'_>) {
        let Chat {
            from,
            to,
            token,
            msg_id,
            body,
        } = chat;
        let reply = |outcome| {
            Message::Reply(Reply {
                to: from,
                token,
                msg_id,
                outcome,
            })
        };
        let Some(index) = self.accounts.find(from) else {
            self.counters.message(MessageResult::LogInAgain);
            self.outbox.push(source, &reply(Outcome::LogInAgain));
            return self.explain(None, from, NoChange::NoSession);
        };
        let live = self.expire_if_idle(index, now);
        let reply_addr = self.reply_addr(live, index, source, now);
        match self.check_token(now, source, live, &token) {
            None => {
                self.counters.message(MessageResult::LogInAgain);
                self.outbox.push(reply_addr, &reply(Outcome::LogInAgain));
                return self.explain(Some(index), from, NoChange::NoSession);
            }
            Some(TokenCheck::Matches) => {}
            Some(TokenCheck::Wrong { answer: true }) => {
                self.counters.message(MessageResult::TokenError);
                self.outbox.push(reply_addr, &reply(Outcome::TokenError));
                return self.explain(Some(index), from, NoChange::WrongToken);
            }
            Some(TokenCheck::Wrong { answer: false }) => return,
            Some(TokenCheck::Unchecked) => return self.discard(source, DropReason::TokenGuessing),
        }
        // The token matched: `live` is the sender's session, and stays it
        // while the message is handled (only the destination may expire).
        let Some(session) = live.and_then(|id| self.sessions.get_mut(id)) else {
            return;
        };
        session.last_seen = now;
        // A resend is the same id with the same destination and body; the
        // same id with anything else is a new message.
        let key = MessageKey::new(msg_id, to, body);
        // What a reply says when no transition does (an accepted
        // forward's is the destination's).
        let (answer, why) = match session.recall(&key) {
            Some(answer) => {
                self.counters.message(MessageResult::Resend);
                (answer, Some(NoChange::Resent(msg_id)))
            }
            None => {
                let answer = self.forward(now, index, &chat, key, reply_addr);
                if let Some(result) = answer.result() {
                    self.counters.message(result);
                }
                if let Some(session) = live.and_then(|id| self.sessions.get_mut(id)) {
                    session.remember(key, answer, self.config.remembered_ids);
                }
                let offline = answer == Answer::DestinationOffline;
                (
                    answer,
                    offline.then_some(NoChange::DestinationOffline(msg_id)),
                )
            }
        };
        if let Some(reply) = answer.reply(from, token, msg_id, body) {
            self.outbox.push(reply_addr, &reply);
            if let Some(why) = why {
                self.explain(Some(index), from, why);
            }
        }
    }

    /// Sends a message on to its destination, here or at another node
    /// (`key` is how the sender's session remembers it).
    fn forward(
        &mut self,
        now: Instant,
        from: AccountIndex,
        chat: &Chat<'_>,
        key: MessageKey,
        reply_addr: SocketAddr,
    ) -> Answer {
        let Some(dest) = self.accounts.find(chat.to) else {
            return Answer::DestinationOffline;
        };
        let Some(dest) = self.expire_if_idle(dest, now) else {
            return self.ask_cluster(now, from, chat, key, reply_addr);
        };
        self.deliver(now, from, dest, (chat.msg_id, chat.body), None);
        Answer::Accepted
    }

    /// Sends a message to `dest`, online here, and keeps it until
    /// receipted; `held`: keeps it unsent until the cluster releases it.
    fn deliver(
        &mut self,
        now: Instant,
        from: AccountIndex,
        dest: SessionId,
        (msg_id, body): (MsgId, &[u8]),
        held: Option<u64>,
    ) {
        let Some(session) = self.sessions.get_mut(dest) else {
            return;
        };
        let account = session.account();
        let pending = &mut session.traffic_mut().pending;
        if pending.len() >= self.config.max_pending {
            if let Some(oldest) = pending.pop_front() {
                self.give_up(account, oldest, "too many forwards await receipts");
            }
        }
        let Some(session) = self.sessions.get_mut(dest) else {
            return;
        };
        let pending = &mut session.traffic_mut().pending;
        pending.push_back(Pending {
            msg_id,
            from,
            body: self.bodies.copy_of(body),
            resends: 0,
            due: now + self.config.resend_wait(0),
            held,
        });
        if held.is_none() {
            let position = pending.len() - 1;
            self.send_forward(dest, position);
            self.wake_at(dest, now + self.config.resend_wait(0));
        }
        if self.config.trace {
            let from = self.accounts.id(from).to_owned();
            if !self.report(account, &format!("msg {msg_id} from {from}")) {
                let id = self.accounts.id(account).to_owned();
                self.explain(
                    Some(account),
                    &id,
                    NoChange::AnotherForward { msg_id, from },
                );
            }
        }
    }

    /// Sends the forward at `position` in `dest`'s pending queue to `dest`
    /// with `dest`'s current token. By position, not by message id: two
    /// senders may well pick the same id for messages to the same client.
    fn send_forward(&mut self, dest: SessionId, position: usize) {
        let Some(session) = self.sessions.get(dest) else {
            return;
        };
        let Some(pending) = session.pending().get(position) else {
            return;
        };
        let addr = session.addr;
        let message = Message::Chat(Chat {
            from: self.accounts.id(pending.from),
            to: self.accounts.id(session.account()),
            token: session.token,
            msg_id: pending.msg_id,
            body: &pending.body,
        });
        self.outbox.push(addr, &message);
    }

    fn on_receipt(&mut self, now: Instant, source: SocketAddr, receipt: Receipt<'_>) {
        let Receipt {
            from,
            token,
            msg_id,
            ..
        } = receipt;
        let Some(index) = self.accounts.find(from) else {
            return self.discard(source, DropReason::NotLoggedIn);
        };
        let live = self.expire_if_idle(index, now);
        match self.check_token(now, source, live, &token) {
            None => return self.discard(source, DropReason::NotLoggedIn),
            Some(TokenCheck::Matches) => {}
            Some(TokenCheck::Wrong { .. }) => {
                return self.discard(source, DropReason::TokenMismatch)
            }
            Some(TokenCheck::Unchecked) => return self.discard(source, DropReason::TokenGuessing),
        }
        let Some(session) = live.and_then(|id| self.sessions.get_mut(id)) else {
            return;
        };
        session.last_seen = now;
        // A receipt for an id no longer pending is a copy: nothing to do.
        if let Some(receipted) = session.take_pending(msg_id) {
            self.bodies.give_back(receipted.body);
            if self.config.trace {
                self.report(index, &format!("receipt for msg {msg_id}"));
            }
        }
    }

    /// Checks `token`, from `source`, against the session `live`; `None`
    /// if there is none (offline). A wrong token is counted for the session
    /// and the source; the session's count is reported at the 1st, 10th,
    /// 100th, ...
    fn check_token(
        &mut self,
        now: Instant,
        source: SocketAddr,
        live: Option<SessionId>,
        token: &SessionToken,
    ) -> Option<TokenCheck> {
        let session = self.sessions.get_mut(live?)?;
        if !self.token_guard.may_check(now, source, Some(session.addr)) {
            return Some(TokenCheck::Unchecked);
        }
        if session.token.matches(token) {
            return Some(TokenCheck::Matches);
        }
        session.wrong_tokens = session.wrong_tokens.saturating_add(1);
        let count = u64::from(session.wrong_tokens);
        let index = session.account();
        let answer = self.token_guard.wrong(now, source);
        if count == 10u64.pow(count.ilog10()) {
            self.event(HubEvent::WrongTokens {
                id: self.accounts.id(index).into(),
                count,
                last_from: source,
            });
        }
        Some(TokenCheck::Wrong { answer })
    }

    /// Ends the session of `index` if its client has been silent for the
    /// session timeout; else its slot, if it is online: the one lookup by
    /// account a handler makes for each party.
    fn expire_if_idle(&mut self, index: AccountIndex, now: Instant) -> Option<SessionId> {
        let timeout = self.config.session_timeout;
        let id = self.sessions.find(index)?;
        let session = self.sessions.get(id)?;
        if session.expiry(timeout).is_none_or(|expiry| now < expiry) {
            return Some(id);
        }
        self.end_session(now, index, Ending::Expired);
        self.event(HubEvent::Expired {
            id: self.accounts.id(index).into(),
        });
        None
    }

    /// Ends the session of `index` here, if it has one: frees it, giving
    /// up on what was still owed to it; in a cluster, the node remembers
    /// the login ended.
    fn end_session(&mut self, now: Instant, index: AccountIndex, ending: Ending) {
        let Some(mut session) = self.free_session(now, index, ending.logged_off()) else {
            return;
        };
        if let Some(cluster) = &mut self.cluster {
            cluster.ended(now, self.accounts.id(index));
        }
        for pending in session.take_traffic().into_iter().flat_map(|t| t.pending) {
            self.give_up(index, pending, ending.why());
        }
        self.report_from(index, session.reported, ending.cause());
    }

    /// Takes the session of `index` out of the table, remembering where
    /// its replies went (and `logged_off`, the token a logoff ended).
    fn free_session(
        &mut self,
        now: Instant,
        index: AccountIndex,
        logged_off: Option<SessionToken>,
    ) -> Option<Session> {
        let session = self.sessions.remove(index)?;
        let ended = Ended {
            addr: session.addr,
            logged_off,
        };
        self.ended.ended(index, ended, now);
        Some(session)
    }

    fn give_up(&mut self, dest: AccountIndex, pending: Pending, why: &'static str) {
        self.counters.forwards_given_up += 1;
        self.event(HubEvent::GaveUp {
            from: self.accounts.id(pending.from).into(),
            to: self.accounts.id(dest).into(),
            msg_id: pending.msg_id,
            why,
        });
        self.bodies.give_back(pending.body);
    }

    /// Resends every forward to `dest` whose deadline passed, doubling its
    /// wait each time up to [`HubConfig::max_resend_interval`]. A forward is
    /// resent for as long as the session lives: only a receipt, the end of
    /// the session, or the cap on pending forwards ends it.
    fn resend_due(&mut self, dest: SessionId, now: Instant) {
        let Some(traffic) = self
            .sessions
            .get_mut(dest)
            .and_then(|session| session.traffic_mut_if_any())
        else {
            return;
        };
        let mut due = Vec::new();
        for (position, pending) in traffic.pending.iter_mut().enumerate() {
            if pending.due <= now && pending.held.is_none() {
                pending.resends = pending.resends.saturating_add(1);
                pending.due = now + self.config.resend_wait(pending.resends);
                due.push(position);
            }
        }
        for position in due {
            self.counters.forwards_resent += 1;
            self.send_forward(dest, position);
        }
    }

    /// Queues the session's next deadline: the earlier of expiry and resend.
    fn schedule_wakeup(&mut self, id: SessionId) {
        let timeout = self.config.session_timeout;
        let Some(session) = self.sessions.get(id) else {
            return;
        };
        let next = [session.expiry(timeout), session.next_resend()]
            .into_iter()
            .flatten()
            .min();
        if let Some(at) = next {
            self.wake_at(id, at);
        }
    }

    /// Makes sure the session is woken at `at` or earlier.
    fn wake_at(&mut self, id: SessionId, at: Instant) {
        let Some(session) = self.sessions.get_mut(id) else {
            return;
        };
        if session.wake_at.is_some_and(|queued| queued <= at) {
            return;
        }
        session.wake_at = Some(at);
        self.timers.schedule(at, id);
        // Superseded entries stay queued until they fall due, and a busy
        // session leaves one behind per forward, an ended one all of its
        // own: when they outnumber the sessions, keep only each session's
        // live deadline, so that the queue is bounded by the sessions
        // online, not by the traffic. A pass over the queue, not the table.
        if self.timers.len() > 2 * self.sessions.len() {
            let sessions = &self.sessions;
            self.timers.retain(|at, &id| {
                sessions
                    .get(id)
                    .is_some_and(|session| session.wake_at == Some(at))
            });
        }
    }

    fn discard(&mut self, source: SocketAddr, reason: DropReason) {
        self.counters.dropped(&reason);
        self.event(HubEvent::Dropped { source, reason });
    }

    fn event(&mut self, event: HubEvent) {
        self.events.push_back(event);
    }

    /// Reports a datagram sent that changed no state, as a
    /// [`HubEvent::Unchanged`] with its reason: where no transition
    /// explains a reply, this does. `index`: the account of `id`, if any.
    fn explain(&mut self, index: Option<AccountIndex>, id: &str, why: NoChange) {
        if !self.config.trace {
            return;
        }
        self.event(HubEvent::Unchanged {
            id: id.into(),
            state: index.map(|index| {
                self.sessions
                    .of(index)
                    .map_or(SessionState::Offline, Session::state)
            }),
            why,
        });
    }

    /// Reports the change of the session's state since it was last
    /// reported, if any, as a [`HubEvent::Transition`] with its cause: the
    /// one place the hub's transitions are logged, as smoltcp's `set_state`
    /// is for its sockets. The state is derived from the session's data
    /// (`Session::state`), so a change is seen by comparing.
    /// Returns whether it reported one.
    fn report(&mut self, index: AccountIndex, cause: &str) -> bool {
        let from = self
            .sessions
            .of(index)
            .map_or(SessionState::Offline, |session| session.reported);
        self.report_from(index, from, cause)
    }

    /// Reports the change from `from` to the session's state now (`OFFLINE`
    /// once it ended): for `LOGIN_RECEIVED`, which no data holds (it lasts
    /// while one login's password is checked), and for a session just
    /// freed, which took what it last reported along.
    fn report_from(&mut self, index: AccountIndex, from: SessionState, cause: &str) -> bool {
        if !self.config.trace {
            return false;
        }
        let to = match self.sessions.of_mut(index) {
            Some(session) => {
                session.reported = session.state();
                session.reported
            }
            None => SessionState::Offline,
        };
        self.transition(index, from, to, cause)
    }

    /// Emits the transition of `index` from `from` to `to`, if they differ;
    /// says whether it did.
    fn transition(
        &mut self,
        index: AccountIndex,
        from: SessionState,
        to: SessionState,
        cause: &str,
    ) -> bool {
        if !self.config.trace || from == to {
            return false;
        }
        self.event(HubEvent::Transition {
            id: self.accounts.id(index).into(),
            from,
            to,
            cause: cause.into(),
        });
        true
    }
}

#[cfg(test)]
mod tests;
