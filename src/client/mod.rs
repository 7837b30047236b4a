//! The client: the session of one person with the hub, as a state machine
//! with no sockets, no terminal and no clock.
//!
//! It has the shape of [`Hub`](crate::hub::Hub). Inputs are typed lines
//! ([`Client::handle_line`]), datagrams ([`Client::handle_datagram`]), the
//! passage of time ([`Client::handle_timeout`]) and the two ways of quitting
//! ([`Client::handle_end_of_input`], [`Client::handle_interrupt`]). Outputs
//! are datagrams ([`Client::poll_transmit`]), the next deadline
//! ([`Client::poll_timeout`]) and what to show the person
//! ([`Client::poll_notice`]).
//!
//! The states are those of docs/protocol.md: `OFFLINE`, `LOGIN_SENT`, `ONLINE`,
//! `MESSAGE_SENT`, `LOGOUT_SENT`. One request is in flight at a time; lines
//! typed meanwhile wait in order. A request without a reply is resent with
//! the same bytes (so a message keeps its id and the hub does not forward it
//! twice), backing off, and given up after [`ClientConfig::max_resends`].

pub mod command;
mod event;
pub mod line_buffer;
mod notice;
mod shown;

use std::collections::VecDeque;
use std::fmt;
use std::mem;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::OsRng;
use rand::{RngCore, TryRngCore};

use crate::outbox::{Outbox, Transmit};
use crate::wire::{
    self, Chat, LogInAgain, Login, Logoff, Message, MsgId, Outcome, PasswordMismatch, Receipt,
    Reply, ReplyTo, SessionToken, Success,
};
use command::Command;
pub use event::{ClientEvent, Ignored};
pub use notice::{NotSentWhy, Notice, Unanswered};

/// Events kept for [`Client::poll_event`] at most.
const MAX_EVENTS: usize = 256;
use shown::Shown;

/// The client's tunables; [`ClientConfig::default`] is what the binary uses.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Wait before the first resend of an unanswered request; doubles after each.
    pub resend_after: Duration,
    /// Resends before the client gives up and tells the person.
    pub max_resends: u32,
    /// How long a forwarded message shown is remembered, so that a copy is
    /// not shown twice: longer than the hub goes on resending a forward
    /// whose receipts are lost (docs/protocol.md).
    pub remember_shown_for: Duration,
    /// Shown messages remembered at most (a bound on memory).
    pub remembered_messages: usize,
    /// Typed lines that may wait behind the one in flight, and messages that
    /// may wait for a login. Past this, stdin is not read (lines) or the
    /// message is reported as not sent (logins).
    pub max_waiting: usize,
    /// Report every state transition as a [`ClientEvent`] (`--trace`).
    pub trace: bool,
}

impl Default for ClientConfig {
    /// Resends after 0.5, 1.5 and 3.5 s, and gives up at 7.5 s.
    fn default() -> Self {
        Self {
            resend_after: Duration::from_millis(500),
            max_resends: 3,
            remember_shown_for: Duration::from_secs(600),
            remembered_messages: 4096,
            max_waiting: 64,
            trace: false,
        }
    }
}

/// The states of the client, as docs/protocol.md draws them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientState {
    Offline,
    LoginSent,
    Online,
    MessageSent,
    LogoutSent,
}

impl ClientState {
    /// Every state, in the order of the diagram.
    pub const ALL: [ClientState; 5] = [
        ClientState::Offline,
        ClientState::LoginSent,
        ClientState::Online,
        ClientState::MessageSent,
        ClientState::LogoutSent,
    ];

    /// The protocol's name for the state.
    pub fn name(self) -> &'static str {
        match self {
            ClientState::Offline => "OFFLINE",
            ClientState::LoginSent => "LOGIN_SENT",
            ClientState::Online => "ONLINE",
            ClientState::MessageSent => "MESSAGE_SENT",
            ClientState::LogoutSent => "LOGOUT_SENT",
        }
    }
}

impl fmt::Display for ClientState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A chat message the person typed that the server has not accepted yet.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outgoing {
    from: String,
    to: String,
    body: Vec<u8>,
}

/// The resends of the request in flight.
#[derive(Clone, Copy, Debug)]
struct Attempt {
    resends: u32,
    due: Instant,
}

/// The state, with exactly the data each state needs.
#[derive(Debug)]
enum Session {
    Offline,
    LoginSent {
        id: String,
        password: Vec<u8>,
        attempt: Attempt,
        /// The token of the session this login repeats, if it was typed
        /// while online: a refused or unanswered repeat leaves that session
        /// as it was, as the hub does.
        current: Option<SessionToken>,
    },
    Online {
        id: String,
        token: SessionToken,
    },
    MessageSent {
        token: SessionToken,
        message: Outgoing,
        msg_id: MsgId,
        attempt: Attempt,
    },
    LogoutSent {
        id: String,
        token: SessionToken,
        attempt: Attempt,
    },
}

impl Session {
    fn state(&self) -> ClientState {
        match self {
            Session::Offline => ClientState::Offline,
            Session::LoginSent { .. } => ClientState::LoginSent,
            Session::Online { .. } => ClientState::Online,
            Session::MessageSent { .. } => ClientState::MessageSent,
            Session::LogoutSent { .. } => ClientState::LogoutSent,
        }
    }

    /// The id the session is (or is becoming) logged in as.
    fn id(&self) -> Option<&str> {
        match self {
            Session::Offline => None,
            Session::LoginSent { id, .. }
            | Session::Online { id, .. }
            | Session::LogoutSent { id, .. } => Some(id),
            Session::MessageSent { message, .. } => Some(&message.from),
        }
    }

    fn token(&self) -> Option<SessionToken> {
        match self {
            Session::Offline => None,
            Session::LoginSent { current, .. } => *current,
            Session::Online { token, .. }
            | Session::MessageSent { token, .. }
            | Session::LogoutSent { token, .. } => Some(*token),
        }
    }

    /// When the request in flight is next resent or given up.
    fn due(&self) -> Option<Instant> {
        match self {
            Session::Offline | Session::Online { .. } => None,
            Session::LoginSent { attempt, .. }
            | Session::MessageSent { attempt, .. }
            | Session::LogoutSent { attempt, .. } => Some(attempt.due),
        }
    }

    /// The id and addressee of the message in flight, if one is.
    fn message_in_flight(&self) -> Option<(MsgId, &str)> {
        match self {
            Session::MessageSent {
                message, msg_id, ..
            } => Some((*msg_id, &message.to)),
            _ => None,
        }
    }

    fn attempt(&self) -> Option<&Attempt> {
        match self {
            Session::Offline | Session::Online { .. } => None,
            Session::LoginSent { attempt, .. }
            | Session::MessageSent { attempt, .. }
            | Session::LogoutSent { attempt, .. } => Some(attempt),
        }
    }

    fn attempt_mut(&mut self) -> Option<&mut Attempt> {
        match self {
            Session::Offline | Session::Online { .. } => None,
            Session::LoginSent { attempt, .. }
            | Session::MessageSent { attempt, .. }
            | Session::LogoutSent { attempt, .. } => Some(attempt),
        }
    }
}

/// One person's client: what they typed, the session, what to send and show.
pub struct Client {
    config: ClientConfig,
    server: SocketAddr,
    reply_to: ReplyTo,
    session: Session,
    /// Typed lines waiting for the request in flight to be answered.
    queue: VecDeque<Command>,
    /// Messages waiting for a login.
    held: VecDeque<Outgoing>,
    /// The forwarded messages shown lately.
    shown: Shown,
    outbox: Outbox,
    notices: VecDeque<Notice>,
    events: VecDeque<ClientEvent>,
    rng: Box<dyn RngCore + Send>,
    input_closed: bool,
    interrupted: bool,
    finished: bool,
    /// The person was told nothing listens at the server's address, and
    /// nothing came from it since.
    told_nobody_listens: bool,
}

impl Client {
    /// A client of the hub at `server` that asks for replies at `reply_to`.
    pub fn new(server: SocketAddr, reply_to: ReplyTo, config: ClientConfig) -> Self {
        Self::with_rng(server, reply_to, config, Box::new(OsRng.unwrap_err()))
    }

    /// A client with its own message id generator (tests use a seeded one).
    pub fn with_rng(
        server: SocketAddr,
        reply_to: ReplyTo,
        config: ClientConfig,
        rng: Box<dyn RngCore + Send>,
    ) -> Self {
        Self {
            shown: Shown::new(config.remember_shown_for, config.remembered_messages),
            config,
            server,
            reply_to,
            session: Session::Offline,
            queue: VecDeque::new(),
            held: VecDeque::new(),
            outbox: Outbox::default(),
            notices: VecDeque::new(),
            events: VecDeque::new(),
            rng,
            input_closed: false,
            told_nobody_listens: false,
            interrupted: false,
            finished: false,
        }
    }

    /// The person typed `line` (without its newline).
    pub fn handle_line(&mut self, now: Instant, line: &[u8]) {
        match command::parse(line) {
            Ok(Some(command)) => {
                self.queue.push_back(command);
                self.pump(now);
            }
            Ok(None) => {}
            Err(error) => self.notify(Notice::Usage(error)),
        }
    }

    /// A datagram arrived from `source`. Only the server's are looked at, and
    /// of those only the replies that fit the state: anything else is a late
    /// copy or a forgery, and changes nothing.
    pub fn handle_datagram(&mut self, now: Instant, source: SocketAddr, datagram: &[u8]) {
        if source != self.server {
            return self.ignore(Ignored::NotFromTheServer(source));
        }
        self.told_nobody_listens = false;
        let message = match wire::parse_from_any_hub(datagram) {
            Ok(message) => message,
            Err(error) => return self.ignore(Ignored::Malformed(error)),
        };
        if message_to(&message).is_none_or(|to| Some(to) != self.session.id()) {
            return self.ignore(Ignored::NotForThisSession);
        }
        match message {
            Message::Success(Success { token, .. }) => self.on_success(now, token),
            Message::PasswordMismatch(_) => self.on_password_mismatch(now),
            Message::LogInAgain(_) => self.on_log_in_again(now),
            Message::Reply(Reply {
                token,
                msg_id,
                outcome,
                ..
            }) => self.on_reply(now, token, msg_id, outcome),
            Message::Chat(Chat {
                from,
                token,
                msg_id,
                body,
                ..
            }) => self.on_forward(now, from, token, msg_id, body),
            // What only clients send has no addressee: filtered above.
            Message::Login(_) | Message::Logoff(_) | Message::Receipt(_) => {}
        }
    }

    /// Time has come to `now`: resend the request in flight if its deadline
    /// passed, or give up on it after the last resend.
    pub fn handle_timeout(&mut self, now: Instant) {
        let max_resends = self.config.max_resends;
        let resend_after = self.config.resend_after;
        let Some(attempt) = self.session.attempt_mut() else {
            return;
        };
        if attempt.due > now {
            return;
        }
        if attempt.resends < max_resends {
            attempt.resends += 1;
            attempt.due = now + resend_after * 2u32.pow(attempt.resends);
            return self.transmit();
        }
        self.give_up(now, "no reply after resends");
    }

    /// Gives up on the request in flight: the session goes back where it
    /// was before it (`OFFLINE` after a logoff), the person is told the
    /// server did not answer, and what waits goes on.
    fn give_up(&mut self, now: Instant, cause: &str) {
        let (next, unanswered) = match &self.session {
            Session::LoginSent { id, current, .. } => {
                (back_from_login(id, *current), Unanswered::Login)
            }
            Session::MessageSent { token, message, .. } => (
                Session::Online {
                    id: message.from.clone(),
                    token: *token,
                },
                Unanswered::Message {
                    to: message.to.clone(),
                },
            ),
            Session::LogoutSent { .. } => (Session::Offline, Unanswered::Logoff),
            Session::Offline | Session::Online { .. } => return,
        };
        self.enter(next, cause);
        self.notify(Notice::NotAnswering {
            server: self.server,
            what: unanswered,
        });
        self.pump(now);
    }

    /// The system says nothing listens at the server's address (an ICMP
    /// "port unreachable" answered a datagram we sent). Said at once, and
    /// once until the server is heard from; requests are resent as planned
    /// (a hub may be starting), but a logoff ends now: nobody is there to
    /// confirm it.
    pub fn handle_nobody_listens(&mut self, now: Instant) {
        if !self.told_nobody_listens {
            self.told_nobody_listens = true;
            self.notify(Notice::NobodyListens {
                server: self.server,
            });
        }
        if let Session::LogoutSent { .. } = self.session {
            self.give_up(now, "nothing listens at the server's address");
        }
    }

    /// Standard input ended: finish what was typed, log off, then finish.
    pub fn handle_end_of_input(&mut self, now: Instant) {
        self.input_closed = true;
        self.pump(now);
    }

    /// Ctrl-C: drop what waits to be sent, finish the request in flight, log
    /// off if online, then finish. A second one finishes at once, and so
    /// does the first while a first login is unconfirmed: there is no
    /// session to log off yet.
    pub fn handle_interrupt(&mut self, now: Instant) {
        if self.interrupted {
            return self.finish();
        }
        if let Session::LoginSent { current: None, .. } = self.session {
            self.interrupted = true;
            self.enter(Session::Offline, "interrupted");
            return self.finish();
        }
        self.interrupted = true;
        while let Some(command) = self.queue.pop_front() {
            if let Command::Send { to, .. } = command {
                let why = NotSentWhy::Quitting;
                self.notify(Notice::NotSent { to, why });
            }
        }
        self.pump(now);
        if !self.finished {
            self.notify(Notice::LoggingOff);
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
        if self.finished {
            return None;
        }
        self.session.due()
    }

    /// The next thing to show the person.
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }

    /// The next thing to log (a transition, or a datagram ignored).
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    pub fn state(&self) -> ClientState {
        self.session.state()
    }

    /// Whether the client has nothing left to do and the program may end.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether to read more typed lines now. `false` while enough lines wait
    /// (so a long file is read as fast as the server answers, not into
    /// memory), and after the person asked to quit.
    pub fn wants_input(&self) -> bool {
        !self.input_closed
            && !self.interrupted
            && !self.finished
            && self.queue.len() < self.config.max_waiting
    }

    /// Starts what waits, for as long as nothing is in flight.
    fn pump(&mut self, now: Instant) {
        while !self.finished {
            let next = match self.session {
                Session::Online { .. } => match self.held.pop_front() {
                    Some(Outgoing { from, to, body }) => Some(Command::Send { from, to, body }),
                    None => self.queue.pop_front(),
                },
                Session::Offline => self.queue.pop_front(),
                _ => return,
            };
            match next {
                Some(command) => self.start(now, command),
                None if self.input_closed || self.interrupted => self.quit_when_idle(now),
                None => return,
            }
        }
    }

    /// Acts on one typed command; only called while nothing is in flight.
    fn start(&mut self, now: Instant, command: Command) {
        let attempt = self.first_attempt(now);
        match (command, &self.session) {
            (Command::Login { id, password }, Session::Offline) => {
                self.enter(
                    Session::LoginSent {
                        id,
                        password,
                        attempt,
                        current: None,
                    },
                    "login typed",
                );
                self.transmit();
            }
            (Command::Send { from, to, body }, Session::Offline) => {
                self.hold(Outgoing { from, to, body })
            }
            (Command::Logoff { .. }, Session::Offline) => self.notify(Notice::NotLoggedIn),
            // Logging in again as the same id is how a person checks a
            // session the server may have lost: the hub answers a repeat
            // with the current token, and a restarted hub with a new one.
            (Command::Login { id, password }, Session::Online { id: current, token })
                if id == *current =>
            {
                let current = Some(*token);
                self.enter(
                    Session::LoginSent {
                        id,
                        password,
                        attempt,
                        current,
                    },
                    "login typed again",
                );
                self.transmit();
            }
            (Command::Login { .. }, Session::Online { id, .. }) => {
                let id = id.clone();
                self.notify(Notice::LogOffFirst { id });
            }
            (
                Command::Send { from, .. } | Command::Logoff { id: from },
                Session::Online { id, .. },
            ) if from != *id => {
                let id = id.clone();
                self.notify(Notice::WrongId { id });
            }
            (Command::Send { from, to, body }, Session::Online { token, .. }) => {
                let token = *token;
                let msg_id = MsgId::random(&mut self.rng);
                let message = Outgoing { from, to, body };
                self.enter(
                    Session::MessageSent {
                        token,
                        message,
                        msg_id,
                        attempt,
                    },
                    "message typed",
                );
                self.transmit();
            }
            (Command::Logoff { id }, Session::Online { token, .. }) => {
                let token = *token;
                self.log_off(now, id, token, "logoff typed");
            }
            // Something is in flight: the command waits its turn.
            (command, _) => self.queue.push_front(command),
        }
    }

    /// Nothing is in flight or waits, and the person is leaving.
    fn quit_when_idle(&mut self, now: Instant) {
        let Session::Online { id, token } = &self.session else {
            return self.finish();
        };
        let (id, token) = (id.clone(), *token);
        let cause = if self.interrupted {
            "interrupted"
        } else {
            "end of input"
        };
        self.log_off(now, id, token, cause);
    }

    fn log_off(&mut self, now: Instant, id: String, token: SessionToken, cause: &str) {
        let attempt = self.first_attempt(now);
        self.enter(Session::LogoutSent { id, token, attempt }, cause);
        self.transmit();
    }

    fn first_attempt(&self, now: Instant) -> Attempt {
        Attempt {
            resends: 0,
            due: now + self.config.resend_after,
        }
    }

    /// Ends the program; messages still waiting for a login are not sent.
    fn finish(&mut self) {
        while let Some(message) = self.held.pop_front() {
            let why = NotSentWhy::NoLogin;
            self.notify(Notice::NotSent {
                to: message.to,
                why,
            });
        }
        self.finished = true;
    }

    /// Keeps a message until the next login, if there is room.
    fn hold(&mut self, message: Outgoing) {
        if self.held.len() >= self.config.max_waiting {
            let why = NotSentWhy::TooManyWaiting(self.held.len());
            return self.notify(Notice::NotSent {
                to: message.to,
                why,
            });
        }
        self.notify(Notice::WaitsForLogin {
            to: message.to.clone(),
        });
        self.held.push_back(message);
    }

    /// Sends (or resends) the request in flight.
    fn transmit(&mut self) {
        let message = match &self.session {
            Session::LoginSent { id, password, .. } => Message::Login(Login {
                from: id,
                password,
                reply_to: self.reply_to,
            }),
            Session::MessageSent {
                token,
                message,
                msg_id,
                ..
            } => Message::Chat(Chat {
                from: &message.from,
                to: &message.to,
                token: *token,
                msg_id: *msg_id,
                body: &message.body,
            }),
            Session::LogoutSent { id, token, .. } => Message::Logoff(Logoff {
                from: id,
                token: *token,
            }),
            Session::Offline | Session::Online { .. } => return,
        };
        self.outbox.push(self.server, &message);
    }

    /// `Success<TOKEN>`: the answer to a login or to a logoff.
    fn on_success(&mut self, now: Instant, token: SessionToken) {
        match &self.session {
            Session::LoginSent { id, .. } => {
                let id = id.clone();
                self.enter(
                    Session::Online {
                        id: id.clone(),
                        token,
                    },
                    "login accepted",
                );
                self.notify(Notice::LoggedIn { id: id.clone() });
                // Messages typed as someone else cannot go out as this id.
                for message in mem::take(&mut self.held) {
                    if message.from == id {
                        self.held.push_back(message);
                    } else {
                        let why = NotSentWhy::TypedAs {
                            from: message.from,
                            logged_in: id.clone(),
                        };
                        self.notify(Notice::NotSent {
                            to: message.to,
                            why,
                        });
                    }
                }
            }
            Session::LogoutSent { token: ours, .. } if ours.matches(&token) => {
                self.enter(Session::Offline, "logoff accepted");
                self.notify(Notice::LoggedOff);
            }
            // A copy of an earlier answer (the request was resent).
            _ => return,
        }
        self.pump(now);
    }

    fn on_password_mismatch(&mut self, now: Instant) {
        if let Session::LoginSent { id, current, .. } = &self.session {
            let still_as = current.map(|_| id.clone());
            let back = back_from_login(id, *current);
            self.enter(back, "password does not match");
            self.notify(Notice::LoginRefused { still_as });
            self.pump(now);
        }
    }

    /// The bare `Error: please log in again!`: the hub's answer to a logoff
    /// when it has no session. It answers nothing else (a message's answer
    /// carries its token and id), so in any other state it is a late copy
    /// or a forgery, and changes nothing.
    fn on_log_in_again(&mut self, now: Instant) {
        if let Session::LogoutSent { .. } = self.session {
            // Logging off a session the server no longer has: done.
            self.enter(Session::Offline, "no session to log off");
            self.notify(Notice::LoggedOff);
            self.pump(now);
        } else {
            self.ignore(Ignored::BareLogInAgain);
        }
    }

    /// The server's answer to a message: only the one in flight counts.
    fn on_reply(&mut self, now: Instant, token: SessionToken, msg_id: MsgId, outcome: Outcome) {
        let Session::MessageSent {
            token: ours,
            message,
            msg_id: in_flight,
            ..
        } = &self.session
        else {
            return;
        };
        if *in_flight != msg_id || !ours.matches(&token) {
            return;
        }
        let (notice, cause) = match outcome {
            Outcome::Accepted(_) => (
                Notice::Accepted {
                    to: message.to.clone(),
                },
                "accepted",
            ),
            Outcome::DestinationOffline => (
                Notice::DestinationOffline {
                    to: message.to.clone(),
                },
                "destination offline",
            ),
            Outcome::OtherError(said) => (
                Notice::NotDelivered {
                    to: message.to.clone(),
                    said: said.to_vec(),
                },
                "not delivered",
            ),
            Outcome::TokenError => {
                return self.session_lost(now, Notice::TokenError, "token error")
            }
            Outcome::LogInAgain => {
                return self.session_lost(now, Notice::LogInAgain, "please log in again")
            }
        };
        let online = Session::Online {
            id: message.from.clone(),
            token: *ours,
        };
        self.enter(online, cause);
        self.notify(notice);
        self.pump(now);
    }

    /// The server no longer knows our session: back to `OFFLINE`, keeping
    /// the message in flight and the typed ones for the next login.
    fn session_lost(&mut self, now: Instant, notice: Notice, cause: &str) {
        let previous = self.enter(Session::Offline, cause);
        self.notify(notice);
        if let Session::MessageSent { message, .. } = previous {
            self.hold(message);
        }
        self.pump(now);
    }

    /// `SRC->ME#<MYTOKEN><MSGID>BODY`: show it once, receipt every copy.
    fn on_forward(
        &mut self,
        now: Instant,
        from: &str,
        token: SessionToken,
        msg_id: MsgId,
        body: &[u8],
    ) {
        let (Some(id), Some(ours)) = (self.session.id(), self.session.token()) else {
            return;
        };
        // Without our token it is not from the server: nobody else knows it.
        if !ours.matches(&token) {
            return self.ignore(Ignored::WithoutOurToken);
        }
        let receipt = Message::Receipt(Receipt {
            from: id,
            token: ours,
            msg_id,
            body: &wire::receipt_echo(id, body),
        });
        self.outbox.push(self.server, &receipt);
        let shown = self.shown.first_time(now, from, msg_id);
        if self.config.trace {
            self.report(ClientEvent::Received {
                id: id.into(),
                from: from.into(),
                msg_id,
                shown,
            });
        }
        if !shown {
            return;
        }
        self.notify(Notice::Received {
            from: from.into(),
            body: body.to_vec(),
        });
    }

    /// Changes state, logging `ID: OLD => NEW (cause)`; returns the old state.
    fn enter(&mut self, next: Session, cause: &str) -> Session {
        let previous = mem::replace(&mut self.session, next);
        if self.config.trace {
            // A message in flight, entered or left, is named by id and addressee.
            let message = previous
                .message_in_flight()
                .or(self.session.message_in_flight())
                .map(|(msg_id, to)| format!(": msg {msg_id} to {to}"))
                .unwrap_or_default();
            self.report(ClientEvent::Transition {
                id: self.session.id().or(previous.id()).unwrap_or("?").into(),
                from: previous.state(),
                to: self.session.state(),
                cause: format!("{cause}{message}"),
            });
        }
        previous
    }

    /// A datagram changed nothing: reported, for the debug log.
    fn ignore(&mut self, why: Ignored) {
        self.report(ClientEvent::Ignored(why));
    }

    /// Queues an event for [`poll_event`](Self::poll_event). Past
    /// [`MAX_EVENTS`] unpolled ones the newest are dropped: a program that
    /// never asks, flooded with forgeries, must not grow without bound.
    fn report(&mut self, event: ClientEvent) {
        if self.events.len() < MAX_EVENTS {
            self.events.push_back(event);
        }
    }

    /// What the deadline of [`poll_timeout`](Self::poll_timeout) is for, in
    /// words, for `--trace`.
    pub fn describe_timeout(&self) -> String {
        let Some(attempt) = self.session.attempt() else {
            return "nothing".into();
        };
        let request = match &self.session {
            Session::LoginSent { id, .. } => format!("the login of {id}"),
            Session::MessageSent {
                message, msg_id, ..
            } => format!("msg {msg_id} to {}", message.to),
            Session::LogoutSent { id, .. } => format!("the logoff of {id}"),
            Session::Offline | Session::Online { .. } => return "nothing".into(),
        };
        if attempt.resends < self.config.max_resends {
            format!(
                "{request}: resend {} of {} if no reply",
                attempt.resends + 1,
                self.config.max_resends
            )
        } else {
            format!("{request}: give up if no reply")
        }
    }

    fn notify(&mut self, notice: Notice) {
        self.notices.push_back(notice);
    }
}

/// Where a login that did not go through leaves the client: back in the
/// session it repeated, if any, else `OFFLINE`.
fn back_from_login(id: &str, current: Option<SessionToken>) -> Session {
    match current {
        Some(token) => Session::Online {
            id: id.to_owned(),
            token,
        },
        None => Session::Offline,
    }
}

/// The id a server reply is addressed to.
fn message_to<'a>(message: &Message<'a>) -> Option<&'a str> {
    match *message {
        Message::Success(Success { to, .. })
        | Message::PasswordMismatch(PasswordMismatch { to })
        | Message::LogInAgain(LogInAgain { to })
        | Message::Reply(Reply { to, .. })
        | Message::Chat(Chat { to, .. }) => Some(to),
        Message::Login(_) | Message::Logoff(_) | Message::Receipt(_) => None,
    }
}

#[cfg(test)]
mod tests;
