//! The flood's clients: every socket in one [`Reactor`](reactor_hub::reactor::Reactor),
//! driven by one thread.
//!
//! Clients come in pairs: the sender keeps `window` messages in flight to its
//! receiver, the receiver answers every forward with its receipt. Each one
//! speaks the contract: it logs in, resends a message that gets no reply
//! (same message id, backing off) and logs off at the end. The run goes
//! through these phases, each started by the end of the one before:
//!
//! ```text
//! LoggingIn -> IdleLogins -> WarmingUp -> Measuring -> Draining -> LoggingOff -> Finished
//! ```
//!
//! Only `Measuring` counts toward throughput and latency; errors count in
//! every phase.
//!
//! Each client receives on its own socket, but every client sends through
//! one shared socket, the uplink: the contract lets a client send from one
//! address and receive on another (its login names where it receives). What
//! the handling of one poll's events wants sent goes out together, in one
//! `sendmmsg`, just after them: the flood's one thread must stay faster than
//! the hub, or it is the flood that is measured. `--own-sockets` makes every
//! client send from its own socket instead, one `sendto` per datagram, as a
//! real client does (the flood's thread is then the slower of the two).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::event::Event;
use mio::{Registry, Token};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use reactor_hub::outbox::Outbox;
use reactor_hub::reactor::mmsg::RecvBatch;
use reactor_hub::reactor::udp::{Drain, UdpEndpoint};
use reactor_hub::reactor::{Handler, ReadyHandler, TimerHandler};
use reactor_hub::wire::{
    self, Chat, Login, Logoff, Message, MsgId, Outcome, PasswordMismatch, Receipt, Reply,
    SessionToken, Success, MAX_DATAGRAM,
};

use super::options::Config;
use super::os::CpuSource;
use super::reload::{Progress, Reload};
use super::report::{new_histogram, Errors};
use super::users::User;

/// How often resends, deadlines and the progress line are looked at.
const TICK: Duration = Duration::from_millis(100);
/// Resends of one message before a client gives up on it (as the hub does).
const MAX_RESENDS: u32 = 4;
/// Logins of idle accounts in flight at once.
const IDLE_LOGIN_WINDOW: usize = 256;
/// Message ids a sender remembers, so that a random new id never repeats
/// one the hub still remembers for it (the hub keeps 64).
const RECENT_IDS: usize = 128;
/// Receive and send buffers asked for each client socket.
const SOCKET_BUFFER_BYTES: usize = 4 << 20;
/// How long the logins and the logoffs at the end may take.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    LoggingIn,
    IdleLogins,
    WarmingUp,
    Measuring,
    Draining,
    LoggingOff,
    Finished,
}

/// One client: a socket and a session.
struct Client {
    user: User,
    /// Where this client receives; its login names this address.
    udp: UdpEndpoint,
    addr: SocketAddr,
    token: Option<SessionToken>,
    /// When the login or logoff was last sent, and how often.
    sent_at: Instant,
    tries: u32,
    logged_off: bool,
}

/// A message a sender has sent, until it is both accepted and arrived.
struct InFlight {
    msg_id: MsgId,
    first_sent: Instant,
    last_sent: Instant,
    resends: u32,
    accepted: bool,
    arrived: bool,
}

/// A sender (client `2p`) and its receiver (client `2p + 1`).
#[derive(Default)]
struct Pair {
    in_flight: Vec<InFlight>,
    /// Entries of `in_flight` not yet answered: what the window counts.
    unanswered: usize,
    recent: VecDeque<MsgId>,
}

/// The accounts that log in and then stay idle, all through one socket.
struct IdleLogins {
    udp: UdpEndpoint,
    users: Vec<User>,
    index: HashMap<String, usize>,
    next: usize,
    /// Index -> (last sent, tries).
    in_flight: HashMap<usize, (Instant, u32)>,
    done: usize,
}

/// What the measured phase saw.
pub struct Measurement {
    pub started: Option<Instant>,
    pub ended: Option<Instant>,
    pub accepted: u64,
    pub to_success: Histogram<u64>,
    pub to_arrival: Histogram<u64>,
    pub hub_cpu: Option<Duration>,
    pub client_cpu: Option<Duration>,
    hub_cpu_start: Option<Duration>,
    client_cpu_start: Option<Duration>,
}

/// Where the clients' datagrams go: the senders' hub and the receivers'
/// (two nodes of a cluster, or one hub twice).
#[derive(Clone, Copy, Debug)]
pub struct Hubs {
    pub senders: SocketAddr,
    pub receivers: SocketAddr,
}

impl Hubs {
    /// One hub for everyone.
    pub fn one(hub: SocketAddr) -> Self {
        Self {
            senders: hub,
            receivers: hub,
        }
    }

    /// The hub of client `n` (idle accounts go to the senders' hub).
    fn of(&self, n: usize) -> SocketAddr {
        match is_sender(n) {
            true => self.senders,
            false => self.receivers,
        }
    }
}

/// The Reactor handler that plays every client.
pub struct Clients {
    config: Config,
    hubs: Hubs,
    hub_cpu: Option<CpuSource>,
    client_cpu: Option<CpuSource>,
    clients: Vec<Client>,
    pairs: Vec<Pair>,
    idle: Option<IdleLogins>,
    phase: Phase,
    phase_deadline: Option<Instant>,
    next_tick: Instant,
    rng: SmallRng,
    body: Vec<u8>,
    out: Vec<u8>,
    /// Taken out while its datagrams are handled (hence the `Option`).
    received: Option<RecvBatch>,
    /// The socket every client sends through, and what waits to go.
    uplink: UdpEndpoint,
    outgoing: Outbox,
    /// The poll whose events queued `outgoing`: its instant is the deadline
    /// that makes the Reactor call `on_deadline`, which sends them.
    outgoing_since: Option<Instant>,
    logged_in: usize,
    /// Accepted messages in every phase, for the progress line.
    accepted_total: u64,
    progress: (Instant, u64),
    started: Instant,
    pub measurement: Measurement,
    pub errors: Errors,
    /// The hub's resident memory once every session was logged in.
    pub hub_resident: Option<u64>,
    /// With `--accounts`: the reload that ends the measured part.
    pub reload: Option<Reload>,
    /// Why the run stopped early, if it did.
    pub fatal: Option<String>,
}

impl Clients {
    /// Binds a socket for every client (and one for the idle accounts) and
    /// sends the first logins.
    pub fn start(
        registry: &Registry,
        config: Config,
        hubs: Hubs,
        hub_cpu: Option<CpuSource>,
        users: Vec<User>,
        idle_users: Vec<User>,
        reload: Option<Reload>,
    ) -> io::Result<Self> {
        let now = Instant::now();
        let mut clients = Vec::with_capacity(users.len());
        for (n, user) in users.into_iter().enumerate() {
            let udp = bind_socket(registry, Token(n))?;
            clients.push(Client {
                user,
                addr: udp.local_addr()?,
                udp,
                token: None,
                sent_at: now,
                tries: 0,
                logged_off: false,
            });
        }
        let idle = if idle_users.is_empty() {
            None
        } else {
            Some(IdleLogins {
                udp: bind_socket(registry, Token(clients.len()))?,
                index: idle_users
                    .iter()
                    .enumerate()
                    .map(|(n, u)| (u.id.clone(), n))
                    .collect(),
                users: idle_users,
                next: 0,
                in_flight: HashMap::new(),
                done: 0,
            })
        };
        let uplink = bind_socket(registry, uplink_token(clients.len()))?;
        let pairs = (0..clients.len() / 2).map(|_| Pair::default()).collect();
        let body = b"flood! "
            .iter()
            .copied()
            .cycle()
            .take(config.body)
            .collect();
        let mut this = Self {
            config,
            hubs,
            hub_cpu,
            client_cpu: CpuSource::current_thread().ok(),
            clients,
            pairs,
            idle,
            phase: Phase::LoggingIn,
            phase_deadline: Some(now + LOGIN_TIMEOUT),
            next_tick: now + TICK,
            rng: SmallRng::from_os_rng(),
            body,
            out: Vec::with_capacity(MAX_DATAGRAM),
            received: Some(RecvBatch::new(MAX_DATAGRAM)),
            uplink,
            outgoing: Outbox::default(),
            outgoing_since: None,
            logged_in: 0,
            accepted_total: 0,
            progress: (now, 0),
            started: now,
            measurement: Measurement {
                started: None,
                ended: None,
                accepted: 0,
                to_success: new_histogram(),
                to_arrival: new_histogram(),
                hub_cpu: None,
                client_cpu: None,
                hub_cpu_start: None,
                client_cpu_start: None,
            },
            errors: Errors::default(),
            hub_resident: None,
            reload,
            fatal: None,
        };
        for n in 0..this.clients.len() {
            this.send_login(n, now)?;
        }
        this.flush()?;
        Ok(this)
    }

    /// The local addresses of every socket, to look up their drops.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        let idle = self.idle.iter().map(|idle| &idle.udp);
        self.clients
            .iter()
            .map(|c| &c.udp)
            .chain(idle)
            .chain([&self.uplink])
            .filter_map(|udp| udp.local_addr().ok())
            .collect()
    }

    /// Datagrams the clients' send queues dropped.
    pub fn send_dropped(&self) -> u64 {
        let idle = self.idle.iter().map(|idle| &idle.udp);
        self.clients
            .iter()
            .map(|c| &c.udp)
            .chain(idle)
            .chain([&self.uplink])
            .map(|udp| udp.stats().send_dropped)
            .sum()
    }

    /// Sends the datagram in `out` to the hub for client `n`: queued for
    /// the uplink (and [`flush`](Self::flush)), or at once from the client's
    /// own socket with `--own-sockets`.
    fn send(&mut self, n: usize) -> io::Result<()> {
        let hub = self.hubs.of(n);
        if self.config.own_sockets {
            return self.clients[n].udp.send_to(hub, &self.out);
        }
        self.outgoing.push(hub, &self.out[..]);
        Ok(())
    }

    /// Sends everything queued, through the uplink.
    fn flush(&mut self) -> io::Result<()> {
        self.outgoing_since = None;
        self.uplink.send_all(&mut self.outgoing)
    }

    fn send_login(&mut self, n: usize, now: Instant) -> io::Result<()> {
        let client = &mut self.clients[n];
        client.sent_at = now;
        client.tries += 1;
        self.out.clear();
        Message::Login(Login {
            from: &client.user.id,
            password: client.user.password.as_bytes(),
            reply_to: wire::ReplyTo::Addr(client.addr),
        })
        .encode(&mut self.out);
        self.send(n)
    }

    fn send_logoff(&mut self, n: usize, now: Instant) -> io::Result<()> {
        let client = &mut self.clients[n];
        let Some(token) = client.token else {
            client.logged_off = true;
            return Ok(());
        };
        client.sent_at = now;
        client.tries += 1;
        self.out.clear();
        Message::Logoff(Logoff {
            from: &client.user.id,
            token,
        })
        .encode(&mut self.out);
        self.send(n)
    }

    /// Sends a new message from pair `p`'s sender.
    fn send_new(&mut self, p: usize, now: Instant) -> io::Result<()> {
        let pair = &mut self.pairs[p];
        let msg_id = loop {
            let id = MsgId::random(&mut self.rng);
            let taken = pair.recent.contains(&id) || pair.in_flight.iter().any(|m| m.msg_id == id);
            if !taken {
                break id;
            }
        };
        if pair.recent.len() >= RECENT_IDS {
            pair.recent.pop_front();
        }
        pair.recent.push_back(msg_id);
        pair.in_flight.push(InFlight {
            msg_id,
            first_sent: now,
            last_sent: now,
            resends: 0,
            accepted: false,
            arrived: false,
        });
        pair.unanswered += 1;
        self.send_chat(p, msg_id)
    }

    fn send_chat(&mut self, p: usize, msg_id: MsgId) -> io::Result<()> {
        let (sender, receiver) = (&self.clients[2 * p], &self.clients[2 * p + 1]);
        let Some(token) = sender.token else {
            return Ok(());
        };
        self.out.clear();
        Message::Chat(Chat {
            from: &sender.user.id,
            to: &receiver.user.id,
            token,
            msg_id,
            body: &self.body,
        })
        .encode(&mut self.out);
        self.send(2 * p)
    }

    /// Fills pair `p`'s window, while messages are being sent.
    fn top_up(&mut self, p: usize, now: Instant) -> io::Result<()> {
        if matches!(self.phase, Phase::WarmingUp | Phase::Measuring) {
            while self.pairs[p].unanswered < self.config.window {
                self.send_new(p, now)?;
            }
        }
        Ok(())
    }

    fn on_datagram(&mut self, n: usize, datagram: &[u8], now: Instant) -> io::Result<()> {
        let Ok(message) = wire::parse(datagram) else {
            self.errors.unexpected += 1;
            return Ok(());
        };
        match message {
            Message::Success(Success { to, token }) if to == self.clients[n].user.id => {
                self.on_success(n, token, now)
            }
            Message::PasswordMismatch(PasswordMismatch { to }) => {
                self.errors.login_failed += 1;
                self.fail(format!("login refused for {to}"));
                Ok(())
            }
            Message::Reply(Reply {
                msg_id, outcome, ..
            }) if is_sender(n) => self.on_reply(n / 2, msg_id, outcome, now),
            Message::Chat(Chat {
                from: _,
                to,
                token,
                msg_id,
                body,
            }) if !is_sender(n) => {
                // Every copy of a forward gets its receipt, as the contract
                // says: `ID->server#<TOKEN><MSGID>Success: BODY`.
                self.out.clear();
                Message::Receipt(Receipt {
                    from: to,
                    token,
                    msg_id,
                    body: b"Success: ",
                })
                .encode(&mut self.out);
                self.out.extend_from_slice(body);
                self.send(n)?;
                self.on_arrival(n / 2, msg_id, now);
                Ok(())
            }
            _ => {
                self.errors.unexpected += 1;
                Ok(())
            }
        }
    }

    fn on_success(&mut self, n: usize, token: SessionToken, now: Instant) -> io::Result<()> {
        let client = &mut self.clients[n];
        match self.phase {
            Phase::LoggingIn if client.token.is_none() => {
                client.token = Some(token);
                client.tries = 0;
                self.logged_in += 1;
                if self.logged_in == self.clients.len() {
                    self.after_logins(now)?;
                }
            }
            Phase::LoggingOff if !client.logged_off => {
                client.logged_off = true;
                if self.clients.iter().all(|c| c.logged_off) {
                    self.phase = Phase::Finished;
                }
            }
            // A second reply to a resent login or logoff.
            _ => {}
        }
        Ok(())
    }

    fn on_reply(
        &mut self,
        p: usize,
        msg_id: MsgId,
        outcome: Outcome<'_>,
        now: Instant,
    ) -> io::Result<()> {
        let pair = &mut self.pairs[p];
        let Some(at) = pair.in_flight.iter().position(|m| m.msg_id == msg_id) else {
            self.errors.duplicate_reply += 1;
            return Ok(());
        };
        if pair.in_flight[at].accepted {
            self.errors.duplicate_reply += 1;
            return Ok(());
        }
        pair.unanswered -= 1;
        if let Some(reload) = &mut self.reload {
            reload.on_reply(pair.in_flight[at].first_sent, now);
        }
        match outcome {
            Outcome::Accepted(_) => {
                let message = &mut pair.in_flight[at];
                message.accepted = true;
                self.accepted_total += 1;
                if self.phase == Phase::Measuring {
                    self.measurement.accepted += 1;
                    let _ = self
                        .measurement
                        .to_success
                        .record(nanos(now - message.first_sent));
                }
                if message.arrived {
                    pair.in_flight.swap_remove(at);
                }
            }
            error => {
                match error {
                    Outcome::TokenError => self.errors.token_error += 1,
                    Outcome::DestinationOffline => self.errors.destination_offline += 1,
                    _ => self.errors.log_in_again += 1,
                }
                pair.in_flight.swap_remove(at);
            }
        }
        if self.phase == Phase::Measuring
            && self
                .config
                .messages
                .is_some_and(|limit| self.measurement.accepted >= limit)
        {
            self.end_measuring(now);
        }
        self.top_up(p, now)?;
        self.check_drained(now)
    }

    fn on_arrival(&mut self, p: usize, msg_id: MsgId, now: Instant) {
        let pair = &mut self.pairs[p];
        let Some(at) = pair.in_flight.iter().position(|m| m.msg_id == msg_id) else {
            self.errors.duplicate_forward += 1;
            return;
        };
        let message = &mut pair.in_flight[at];
        if message.arrived {
            self.errors.duplicate_forward += 1;
            return;
        }
        message.arrived = true;
        if self.phase == Phase::Measuring {
            let _ = self
                .measurement
                .to_arrival
                .record(nanos(now - message.first_sent));
        }
        if message.accepted {
            pair.in_flight.swap_remove(at);
        }
        let _ = self.check_drained(now);
    }

    fn on_idle_datagram(&mut self, datagram: &[u8], now: Instant) -> io::Result<()> {
        let Some(idle) = &mut self.idle else {
            return Ok(());
        };
        match wire::parse(datagram) {
            Ok(Message::Success(Success { to, .. })) => {
                let Some(&n) = idle.index.get(to) else {
                    self.errors.unexpected += 1;
                    return Ok(());
                };
                if idle.in_flight.remove(&n).is_some() {
                    idle.done += 1;
                }
                self.send_idle_logins(now)
            }
            Ok(Message::PasswordMismatch(PasswordMismatch { to })) => {
                self.errors.login_failed += 1;
                self.fail(format!("login refused for {to}"));
                Ok(())
            }
            _ => {
                self.errors.unexpected += 1;
                Ok(())
            }
        }
    }

    /// Keeps the idle logins' window full; moves on once all are in.
    fn send_idle_logins(&mut self, now: Instant) -> io::Result<()> {
        let Some(idle) = &mut self.idle else {
            return Ok(());
        };
        while idle.in_flight.len() < IDLE_LOGIN_WINDOW && idle.next < idle.users.len() {
            idle.in_flight.insert(idle.next, (now, 1));
            Self::send_idle_login(idle, idle.next, self.hubs.senders, &mut self.out)?;
            idle.next += 1;
        }
        if self.phase == Phase::IdleLogins && idle.done == idle.users.len() {
            self.hub_resident = self.hub_cpu.as_ref().and_then(|c| c.resident_bytes().ok());
            self.start_traffic(now)?;
        }
        Ok(())
    }

    fn send_idle_login(
        idle: &mut IdleLogins,
        n: usize,
        hub: SocketAddr,
        out: &mut Vec<u8>,
    ) -> io::Result<()> {
        let user = &idle.users[n];
        out.clear();
        Message::Login(Login {
            from: &user.id,
            password: user.password.as_bytes(),
            reply_to: wire::ReplyTo::Source,
        })
        .encode(out);
        idle.udp.send_to(hub, out)
    }

    fn after_logins(&mut self, now: Instant) -> io::Result<()> {
        if self.idle.is_some() {
            self.phase = Phase::IdleLogins;
            self.phase_deadline = None;
            self.send_idle_logins(now)
        } else {
            self.hub_resident = self.hub_cpu.as_ref().and_then(|c| c.resident_bytes().ok());
            self.start_traffic(now)
        }
    }

    fn start_traffic(&mut self, now: Instant) -> io::Result<()> {
        if self.config.warmup.is_zero() {
            self.start_measuring(now);
        } else {
            self.phase = Phase::WarmingUp;
            self.phase_deadline = Some(now + self.config.warmup);
        }
        self.progress = (now, self.accepted_total);
        for p in 0..self.pairs.len() {
            self.top_up(p, now)?;
        }
        Ok(())
    }

    fn start_measuring(&mut self, now: Instant) {
        self.phase = Phase::Measuring;
        // A reload ends the measured part when its window closes.
        self.phase_deadline = match &mut self.reload {
            Some(reload) => {
                reload.start_measuring(now);
                None
            }
            None => Some(now + self.config.duration),
        };
        let m = &mut self.measurement;
        m.started = Some(now);
        m.hub_cpu_start = self.hub_cpu.as_ref().and_then(|c| c.cpu_time().ok());
        m.client_cpu_start = self.client_cpu.as_ref().and_then(|c| c.cpu_time().ok());
    }

    fn end_measuring(&mut self, now: Instant) {
        let m = &mut self.measurement;
        m.ended = Some(now);
        let since = |start: Option<Duration>, source: Option<&CpuSource>| {
            Some(source?.cpu_time().ok()?.saturating_sub(start?))
        };
        m.hub_cpu = since(m.hub_cpu_start, self.hub_cpu.as_ref());
        m.client_cpu = since(m.client_cpu_start, self.client_cpu.as_ref());
        self.phase = Phase::Draining;
        // Long enough for every resend of the hub and of the clients.
        self.phase_deadline = Some(now + self.config.resend_after * (1 << MAX_RESENDS) * 2);
    }

    /// While draining: once nothing is in flight, log off.
    fn check_drained(&mut self, now: Instant) -> io::Result<()> {
        if self.phase == Phase::Draining && self.pairs.iter().all(|p| p.in_flight.is_empty()) {
            self.start_logoffs(now)?;
        }
        Ok(())
    }

    fn start_logoffs(&mut self, now: Instant) -> io::Result<()> {
        for pair in &mut self.pairs {
            for message in pair.in_flight.drain(..) {
                if !message.accepted {
                    self.errors.no_reply += 1;
                } else if !message.arrived {
                    self.errors.never_arrived += 1;
                }
            }
        }
        self.phase = Phase::LoggingOff;
        self.phase_deadline = Some(now + LOGIN_TIMEOUT);
        for n in 0..self.clients.len() {
            self.clients[n].tries = 0;
            self.send_logoff(n, now)?;
        }
        if self.clients.iter().all(|c| c.logged_off) {
            self.phase = Phase::Finished;
        }
        Ok(())
    }

    fn fail(&mut self, why: String) {
        self.fatal.get_or_insert(why);
        self.phase = Phase::Finished;
    }

    /// Every tick: the reload's progress, resends, deadlines, and once a
    /// second the progress line.
    fn tick(&mut self, now: Instant) -> io::Result<()> {
        match self.reload.as_mut().map(|reload| reload.on_tick(now)) {
            Some(Progress::Over) if self.phase == Phase::Measuring => self.end_measuring(now),
            Some(Progress::Failed(why)) => {
                self.fail(why);
                return Ok(());
            }
            _ => {}
        }
        match self.phase {
            Phase::LoggingIn | Phase::LoggingOff => {
                for n in 0..self.clients.len() {
                    let client = &self.clients[n];
                    let waiting = match self.phase {
                        Phase::LoggingIn => client.token.is_none(),
                        _ => !client.logged_off,
                    };
                    if waiting && now >= client.sent_at + self.config.resend_after {
                        if self.phase == Phase::LoggingIn {
                            self.send_login(n, now)?;
                        } else {
                            self.send_logoff(n, now)?;
                        }
                    }
                }
            }
            Phase::IdleLogins => {
                let resend_after = self.config.resend_after;
                if let Some(idle) = &mut self.idle {
                    let due: Vec<usize> = idle
                        .in_flight
                        .iter()
                        .filter(|(_, (at, _))| now >= *at + resend_after)
                        .map(|(n, _)| *n)
                        .collect();
                    for n in due {
                        let entry = idle.in_flight.get_mut(&n).expect("just found");
                        *entry = (now, entry.1 + 1);
                        Self::send_idle_login(idle, n, self.hubs.senders, &mut self.out)?;
                    }
                }
            }
            Phase::WarmingUp | Phase::Measuring | Phase::Draining => self.resend_due(now)?,
            Phase::Finished => {}
        }
        if self.phase_deadline.is_some_and(|at| now >= at) {
            self.on_phase_deadline(now)?;
        }
        if now >= self.progress.0 + Duration::from_secs(1) {
            self.print_progress(now);
        }
        Ok(())
    }

    fn resend_due(&mut self, now: Instant) -> io::Result<()> {
        for p in 0..self.pairs.len() {
            let mut at = 0;
            while at < self.pairs[p].in_flight.len() {
                let message = &mut self.pairs[p].in_flight[at];
                let wait = self.config.resend_after * (1 << message.resends);
                if message.accepted || now < message.last_sent + wait {
                    at += 1;
                    continue;
                }
                if message.resends < MAX_RESENDS {
                    message.resends += 1;
                    message.last_sent = now;
                    let msg_id = message.msg_id;
                    self.errors.resent += 1;
                    self.send_chat(p, msg_id)?;
                    at += 1;
                } else {
                    self.errors.no_reply += 1;
                    self.pairs[p].in_flight.swap_remove(at);
                    self.pairs[p].unanswered -= 1;
                    self.top_up(p, now)?;
                }
            }
        }
        self.check_drained(now)
    }

    fn on_phase_deadline(&mut self, now: Instant) -> io::Result<()> {
        match self.phase {
            Phase::LoggingIn => {
                self.errors.login_failed += (self.clients.len() - self.logged_in) as u64;
                self.fail("not every client could log in".into());
            }
            Phase::WarmingUp => self.start_measuring(now),
            Phase::Measuring => self.end_measuring(now),
            Phase::Draining => self.start_logoffs(now)?,
            Phase::LoggingOff => {
                let missing = self.clients.iter().filter(|c| !c.logged_off).count();
                self.errors.logoff_failed += missing as u64;
                self.phase = Phase::Finished;
            }
            Phase::IdleLogins | Phase::Finished => {}
        }
        Ok(())
    }

    fn print_progress(&mut self, now: Instant) {
        let (since, accepted_then) = self.progress;
        let rate = (self.accepted_total - accepted_then) as f64 / (now - since).as_secs_f64();
        self.progress = (now, self.accepted_total);
        let elapsed = (now - self.started).as_secs_f64();
        let detail = match self.phase {
            Phase::Measuring => format!(
                "{rate:>9.0} msgs/s  p99 {:>8.1} us",
                self.measurement.to_success.value_at_quantile(0.99) as f64 / 1e3
            ),
            Phase::WarmingUp | Phase::Draining => format!("{rate:>9.0} msgs/s"),
            Phase::IdleLogins => {
                let done = self.idle.as_ref().map_or(0, |i| i.done);
                format!("{done} idle sessions logged in")
            }
            _ => String::new(),
        };
        eprintln!(
            "flood: {elapsed:>5.1} s  {:<10} {detail}  errors {}",
            format!("{:?}", self.phase),
            self.errors.total()
        );
    }
}

/// A loopback socket with buffers as large as the server's: the idle
/// logins' replies come back in bursts of hundreds.
fn bind_socket(registry: &Registry, token: Token) -> io::Result<UdpEndpoint> {
    let udp = UdpEndpoint::bind(SocketAddr::from(([127, 0, 0, 1], 0)), registry, token)?;
    udp.set_buffer_sizes(SOCKET_BUFFER_BYTES)?;
    Ok(udp)
}

/// The uplink's token comes after the clients' and the idle socket's.
fn uplink_token(clients: usize) -> Token {
    Token(clients + 1)
}

/// Client `2p` sends to client `2p + 1`.
fn is_sender(client: usize) -> bool {
    client.is_multiple_of(2)
}

fn nanos(d: Duration) -> u64 {
    d.as_nanos().try_into().unwrap_or(u64::MAX).max(1)
}

impl Clients {
    /// The uplink only sends; nothing should come back to it (the hub
    /// answers at the addresses the logins named).
    fn on_uplink_ready(&mut self, event: &Event) -> io::Result<()> {
        if event.is_writable() {
            self.uplink.on_writable()?;
        }
        let Some(mut batch) = self.received.take() else {
            return Ok(());
        };
        let result = loop {
            match self.uplink.recv_batch(&mut batch) {
                Ok(drain) => {
                    self.errors.unexpected += batch.len() as u64;
                    if drain == Drain::Drained {
                        break Ok(());
                    }
                }
                Err(err) => break Err(err),
            }
        };
        self.received = Some(batch);
        result
    }
}

impl ReadyHandler for Clients {
    /// Reads like the server does, a `recvmmsg` batch at a time: a batch
    /// that is not full says the socket is drained. One system call per
    /// event instead of two (a read, then the read that would block) keeps
    /// the clients faster than the hub, so that the hub is what is measured.
    fn on_ready(&mut self, event: &Event, polled: Instant) -> io::Result<()> {
        // The clock is read again for every event, not once per poll: the
        // events of one poll take a while to handle, and the latencies are
        // measured with these instants.
        let now = Instant::now();
        let n = event.token().0;
        if event.token() == uplink_token(self.clients.len()) {
            return self.on_uplink_ready(event);
        }
        let Some(mut batch) = self.received.take() else {
            return Ok(());
        };
        let result = (|| {
            let is_idle_socket = n == self.clients.len();
            let mut first = true;
            loop {
                let udp = match &mut self.idle {
                    Some(idle) if is_idle_socket => &mut idle.udp,
                    _ if is_idle_socket => return Ok(()),
                    _ => &mut self.clients[n].udp,
                };
                if first && event.is_writable() {
                    udp.on_writable()?;
                }
                first = false;
                let drain = udp.recv_batch(&mut batch)?;
                for (_, datagram) in batch.iter() {
                    if is_idle_socket {
                        self.on_idle_datagram(datagram, now)?;
                    } else {
                        self.on_datagram(n, datagram, now)?;
                    }
                }
                if drain == Drain::Drained {
                    return Ok(());
                }
            }
        })();
        self.received = Some(batch);
        if !self.outgoing.is_empty() {
            self.outgoing_since.get_or_insert(polled);
        }
        result
    }
}

impl TimerHandler for Clients {
    fn next_deadline(&self) -> Option<Instant> {
        Some(match self.outgoing_since {
            Some(since) => since.min(self.next_tick),
            None => self.next_tick,
        })
    }

    fn on_deadline(&mut self, now: Instant) -> io::Result<()> {
        if now >= self.next_tick {
            self.next_tick = now + TICK;
            self.tick(now)?;
        }
        self.flush()
    }
}

impl Handler for Clients {
    fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }
}
