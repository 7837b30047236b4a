//! The people: what a person does next (chat, move, log off, walk away,
//! a second device), what its client shows it, and the final round in
//! which, every fault healed, everyone writes to everyone.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::client::{Client, ClientState, Notice, Unanswered};

use super::oracle::Key;
use super::{Item, Party, World, REACTION, RETRY, SESSION_TIMEOUT};

/// The person whose id is `id`.
pub(super) fn person_of(id: &str, people: usize) -> Option<usize> {
    id.strip_prefix('p')?.parse().ok().filter(|&n| n < people)
}

pub(super) fn person_addr(n: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 1, n as u8], 40000))
}

/// Where a person's second device receives (it only ever logs in).
pub(super) fn second_device(n: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 2, n as u8], 40000))
}

/// How long after a second device's login the person's sessions are left
/// unjudged: its first device's next datagram finds out which login won.
const SECOND_DEVICE: Duration = Duration::from_secs(30);

/// A person at a client, and what the run expects of it.
pub(super) struct Person {
    pub(super) id: String,
    pub(super) password: String,
    pub(super) client: Client,
    /// The node its datagrams go to.
    pub(super) home: usize,
    pub(super) next_act: Instant,
    pub(super) away_until: Option<Instant>,
    pub(super) typed: u32,
    /// The client's token and the node (incarnation) that gave it.
    pub(super) token: Option<(String, usize, u32)>,
    pub(super) state: ClientState,
    pub(super) state_since: Instant,
    /// Offline because the session ended (logged off, or told to log in
    /// again): no node may hold a session of it once calm.
    pub(super) ended: bool,
    /// A login that got no reply: a node may hold a session it never saw.
    pub(super) unconfirmed: bool,
    /// When it last typed a login.
    pub(super) login_typed: Instant,
    /// Until when a login of its second device may hold its session.
    pub(super) second_device_until: Option<Instant>,
    /// Its client said the server is not answering: it logs in again.
    pub(super) log_in_again: bool,
    /// It moved, and logs off as soon as the login is through.
    pub(super) leave_soon: bool,
    /// The node (incarnation) of the session that ended last.
    pub(super) ended_at: Option<(usize, u32)>,
    /// In the final round: the people still to write to.
    pub(super) final_to: Vec<usize>,
    /// The final message in flight: to whom, and its key once sent.
    pub(super) final_sent: Option<(usize, Option<Key>)>,
    /// Final messages accepted, to be shown: to whom, and when accepted.
    pub(super) final_accepted: Vec<(Key, usize, Instant)>,
    /// When it first wrote to each other person in the final round.
    pub(super) final_began: Vec<Option<Instant>>,
    /// When the person last checked its session in the final round.
    pub(super) last_check: Instant,
    /// Since when the nodes have held a session of it that is wrong
    /// (a login takes a broker round trip to end the one before).
    pub(super) wrong_since: Option<Instant>,
}

impl Person {
    /// Whether the run knows which of its logins is the last: none was
    /// given up (it may still land at a stalled node), and no second
    /// device's login may hold the session.
    pub(super) fn judged(&self) -> bool {
        !self.unconfirmed && self.second_device_until.is_none()
    }
}

impl World {
    /// How long each pair took to chat in the final round.
    pub(super) fn pairs(&self) -> Vec<Duration> {
        let mut pairs = Vec::new();
        for person in &self.people {
            let mut shown: Vec<Option<Instant>> = vec![None; self.options.people];
            for (key, to, _) in &person.final_accepted {
                if let Some(at) = self.oracle.delivered_at(key) {
                    shown[*to] = Some(shown[*to].map_or(at, |first: Instant| first.min(at)));
                }
            }
            for (began, shown) in person.final_began.iter().zip(shown) {
                if let (Some(began), Some(shown)) = (began, shown) {
                    pairs.push(shown.saturating_duration_since(*began));
                }
            }
        }
        pairs
    }

    pub(super) fn after_person(&mut self, p: usize) {
        let now = self.now;
        let person = &mut self.people[p];
        let state = person.client.state();
        if state != person.state {
            person.state = state;
            person.state_since = now;
        }
        let mut out = Vec::new();
        while let Some(transmit) = person.client.poll_transmit() {
            out.push(transmit.payload.to_vec());
        }
        let mut notices = Vec::new();
        while let Some(notice) = person.client.poll_notice() {
            notices.push(notice);
        }
        while person.client.poll_event().is_some() {}
        let away = person.away_until.is_some_and(|until| until > now);
        let home = person.home;
        for bytes in out {
            let people = self.options.people;
            let key = self.oracle.person_sent(&bytes, |id| person_of(id, people));
            // The final message, or the same sent again after a new login.
            if let (Some((_, sent)), Some(key)) = (&mut self.people[p].final_sent, key) {
                *sent = Some(key);
            }
            if away {
                continue;
            }
            for wait in self.to_nodes.decide().copies() {
                let item = Item::Datagram {
                    to: Party::Node(home),
                    from: person_addr(p),
                    process: None,
                    bytes: bytes.clone(),
                };
                self.schedule(now + wait, item);
            }
        }
        for notice in notices {
            self.notice(p, notice);
        }
    }

    fn notice(&mut self, p: usize, notice: Notice) {
        self.trace(|| format!("{}: {notice}", self.people[p].id));
        if self.final_round.is_none() {
            match notice {
                Notice::NotAnswering {
                    what: Unanswered::Message { .. },
                    ..
                } => self.not_confirmed += 1,
                Notice::LogInAgain | Notice::TokenError => self.log_in_again += 1,
                _ => {}
            }
        }
        let person = &mut self.people[p];
        match notice {
            Notice::Received { .. } => {
                if let Some(key) = self.showing.clone() {
                    self.oracle.shown(self.now, p, key);
                }
            }
            Notice::LoggedIn { .. } => {
                person.ended = false;
                // A login given up may still wait at a stalled node, and
                // be taken there after this one: only a login made since
                // the cluster is calm is surely the last.
                if self
                    .calm_since
                    .is_some_and(|calm| calm <= person.login_typed)
                {
                    person.unconfirmed = false;
                }
            }
            Notice::LogInAgain | Notice::TokenError => {
                person.ended = true;
                // The record of the session was where it began.
                person.ended_at = person.token.as_ref().map(|(_, n, i)| (*n, *i));
                person.token = None;
            }
            Notice::LoggedOff => {
                person.ended = true;
                // The record of the session was where it began.
                person.ended_at = person.token.as_ref().map(|(_, n, i)| (*n, *i));
                person.token = None;
                // Gone for a while, as people go, unless the end is near.
                if self.final_round.is_none() {
                    let away = Duration::from_millis(self.rng.random_range(1_000..30_000));
                    person.next_act = person.next_act.max(self.now + away);
                }
            }
            Notice::NotAnswering {
                what: Unanswered::Login | Unanswered::Logoff,
                ..
            } => person.unconfirmed = true,
            // The final round: the message in flight has its answer.
            Notice::Accepted { .. } => {
                if let Some((to, Some(key))) = person.final_sent.take() {
                    person.final_accepted.push((key, to, self.now));
                }
            }
            Notice::DestinationOffline { .. } => {
                // Not delivered: written again.
                if let Some((to, _)) = person.final_sent.take() {
                    person.final_to.insert(0, to);
                }
            }
            Notice::NotAnswering {
                what: Unanswered::Message { .. },
                ..
            } => {
                if let Some((to, _)) = person.final_sent.take() {
                    person.final_to.insert(0, to);
                }
                // As the notice suggests: the session may have moved.
                person.log_in_again = true;
            }
            _ => {}
        }
    }

    /// A person types what it wants to, when its client can take it.
    pub(super) fn act(&mut self, p: usize) {
        let now = self.now;
        // The final round's messages wait until everyone logged in once.
        if self.final_round.is_some() && !self.everyone_in && self.all_online() {
            self.everyone_in = true;
        }
        let all_online = self.everyone_in;
        let think = Duration::from_millis(self.rng.random_range(100..3_000));
        let person = &mut self.people[p];
        person.next_act = now + think;
        if person.away_until.is_some_and(|until| until > now) {
            return;
        }
        person.away_until = None;
        // A person reads what the client said before acting on it: a login
        // is never within a reaction time of the one before, wherever it
        // landed (docs/cluster.md: logins closer than the clocks disagree
        // may be ordered by the clocks).
        if now < person.state_since + REACTION {
            person.next_act = person.state_since + REACTION;
            return;
        }
        let line = match (person.client.state(), self.final_round.is_some()) {
            (ClientState::Online, _) if person.log_in_again => {
                person.log_in_again = false;
                format!("{}->server#login<{}>", person.id, person.password)
            }
            (ClientState::Online, false) if person.leave_soon => {
                person.leave_soon = false;
                format!("{}->server#logoff", person.id)
            }
            (ClientState::Offline, _) if !person.unconfirmed || self.rng.random_bool(0.3) => {
                format!("{}->server#login<{}>", person.id, person.password)
            }
            (ClientState::Online, true) => {
                // Accepted long ago and not shown: its destination's
                // session ended first. Written again, as a person would.
                let oracle = &self.oracle;
                let (lost, kept) = std::mem::take(&mut person.final_accepted)
                    .into_iter()
                    .partition(|(key, _, at)| !oracle.delivered(key) && now >= *at + RETRY);
                person.final_accepted = kept;
                let lost: Vec<_> = lost;
                person
                    .final_to
                    .extend(lost.into_iter().map(|(_, to, _)| to));
                match person.final_to.first().copied() {
                    Some(to) if person.final_sent.is_none() && all_online => {
                        person.final_to.remove(0);
                        person.typed += 1;
                        let body = format!("final {} to p{to}, try {}", person.id, person.typed);
                        person.final_sent = Some((to, None));
                        person.final_began[to].get_or_insert(now);
                        format!("{}->p{to}#{body}", person.id)
                    }
                    // Keeps its session from expiring, as a check does.
                    _ if now >= person.last_check + RETRY / 2 => {
                        person.last_check = now;
                        format!("{}->server#login<{}>", person.id, person.password)
                    }
                    _ => return,
                }
            }
            (ClientState::Online, false) => {
                let roll: f64 = self.rng.random();
                if roll < 0.8 {
                    let to = self.rng.random_range(0..self.options.people);
                    person.typed += 1;
                    format!("{}->p{to}#m {} {}", person.id, person.id, person.typed)
                } else if roll < 0.85 {
                    format!("{}->server#logoff", person.id)
                } else if roll < 0.9 && self.options.nodes > 1 {
                    // Moves to another node, and now and then leaves at
                    // once: a login and a logoff elsewhere, maybe during
                    // an outage, that must end the session it left.
                    let others = self.options.nodes - 1;
                    person.home =
                        (person.home + 1 + self.rng.random_range(0..others)) % self.options.nodes;
                    person.leave_soon = self.rng.random_bool(0.4);
                    format!("{}->server#login<{}>", person.id, person.password)
                } else if roll < 0.92 && self.options.nodes > 1 {
                    // Logs in on a second device at another node, in the
                    // same instant as again on this one: two logins cross.
                    let others = self.options.nodes - 1;
                    let there =
                        (person.home + 1 + self.rng.random_range(0..others)) % self.options.nodes;
                    person.second_device_until = Some(now + SECOND_DEVICE);
                    self.oracle.epochs[p] += 1;
                    let login = format!(
                        "{}->server#login<{}><{}><{}>",
                        person.id,
                        person.password,
                        second_device(p).ip(),
                        second_device(p).port()
                    );
                    self.trace(|| {
                        format!(
                            "{}'s second device logs in at node {there}",
                            self.people[p].id
                        )
                    });
                    let item = Item::Datagram {
                        to: Party::Node(there),
                        from: second_device(p),
                        process: None,
                        bytes: login.into_bytes(),
                    };
                    self.schedule(now, item);
                    format!(
                        "{}->server#login<{}>",
                        self.people[p].id, self.people[p].password
                    )
                } else if roll < 0.94 {
                    // Walks away: nothing reaches its client, nor leaves it,
                    // until its session has expired.
                    let until = now + SESSION_TIMEOUT + Duration::from_secs(2);
                    person.away_until = Some(until);
                    person.next_act = until;
                    return;
                } else {
                    return;
                }
            }
            _ => return,
        };
        self.trace(|| format!("{} types {line}", self.people[p].id));
        if line.contains("#login<") {
            self.people[p].login_typed = now;
        }
        self.people[p].client.handle_line(now, line.as_bytes());
        self.after_person(p);
    }

    fn all_online(&self) -> bool {
        self.people
            .iter()
            .all(|p| matches!(p.state, ClientState::Online | ClientState::MessageSent))
    }

    pub(super) fn begin_final_round(&mut self) {
        self.trace(|| "final round: every person writes to every other".into());
        self.final_round = Some(self.now);
        let people = self.options.people;
        for (p, person) in self.people.iter_mut().enumerate() {
            person.away_until = None;
            person.next_act = self.now;
            person.final_to = (0..people).filter(|&q| q != p).collect();
        }
    }
}
