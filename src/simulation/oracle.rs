//! What the run must never do, checked as it goes: the contract's "Answers
//! are never wrong" (docs/protocol.md, cluster mode), seen from outside
//! the nodes: the datagrams they send, and what the people's clients show.
//!
//! A message is named by its sender and its id, as the hub names it.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use crate::wire::{self, Chat, Message, Outcome, Reply};

/// What a sender was told about a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Told {
    Success {
        /// The destination's `epoch` and the run's node crashes when told:
        /// if either changed before it is shown, it may never be.
        epoch: u32,
        crashes: u32,
    },
    Offline,
}

/// A message as its sender's client sent it.
#[derive(Clone, Debug)]
struct Sent {
    dest: usize,
    body: Vec<u8>,
}

/// The sender's id and the message id.
pub type Key = (String, String);

/// The key of a message, a forward or a receipt.
pub fn key_of(chat: &Chat<'_>) -> Key {
    (chat.from.to_owned(), chat.msg_id.as_str().to_owned())
}

/// The judge of one run.
#[derive(Debug, Default)]
pub struct Oracle {
    sent: HashMap<Key, Sent>,
    told: HashMap<Key, Told>,
    /// The destination's epoch and the crashes when the message was first
    /// sent: a session that ends after that, before it is shown, excuses
    /// a `Success` never shown.
    first_sent: HashMap<Key, (u32, u32)>,
    /// How often the destination's client showed each message, and when
    /// first.
    shown: HashMap<Key, (u32, Instant)>,
    /// Per person: bumped whenever its session ends (logoff, expiry, a
    /// session lost): a message owed to the old session may be lost.
    pub epochs: Vec<u32>,
    /// Node crashes so far: what a crashed node owed is lost.
    pub crashes: u32,
    /// Messages whose destination's session ended before they were shown,
    /// as the node that owed them found.
    excused: HashSet<Key>,
    pub violations: Vec<String>,
    /// Sends told `Success`, told offline, and shown.
    pub counts: (u32, u32, u32),
}

impl Oracle {
    pub fn new(people: usize) -> Self {
        Self {
            epochs: vec![0; people],
            ..Self::default()
        }
    }

    /// A person's client sent `datagram` (any request); returns the key of
    /// a message.
    pub fn person_sent(
        &mut self,
        datagram: &[u8],
        person_of: impl Fn(&str) -> Option<usize>,
    ) -> Option<Key> {
        let Ok(Message::Chat(chat)) = wire::parse(datagram) else {
            return None;
        };
        let dest = person_of(chat.to)?;
        let key = key_of(&chat);
        let now = (self.epochs[dest], self.crashes);
        self.first_sent.entry(key.clone()).or_insert(now);
        self.sent.entry(key.clone()).or_insert(Sent {
            dest,
            body: chat.body.to_vec(),
        });
        Some(key)
    }

    /// A node sent `datagram` to a person; `calm_token`: the token the
    /// destination's client holds, when the cluster has been calm long
    /// enough that every forward must carry it.
    pub fn node_sent(&mut self, datagram: &[u8], calm_token: impl Fn(usize) -> Option<String>) {
        match wire::parse(datagram) {
            Ok(Message::Reply(Reply {
                to,
                msg_id,
                outcome,
                ..
            })) => {
                let key: Key = (to.to_owned(), msg_id.as_str().to_owned());
                let Some(sent) = self.sent.get(&key).cloned() else {
                    return;
                };
                match outcome {
                    Outcome::Accepted(_) => {
                        let now = (self.epochs[sent.dest], self.crashes);
                        let (epoch, crashes) = *self.first_sent.get(&key).unwrap_or(&now);
                        let told = Told::Success { epoch, crashes };
                        self.tell(key, told);
                    }
                    Outcome::DestinationOffline => self.tell(key, Told::Offline),
                    _ => {}
                }
            }
            Ok(Message::Chat(chat)) => self.forward(&chat, calm_token),
            _ => {}
        }
    }

    fn tell(&mut self, key: Key, told: Told) {
        let name = format!("{} msg {}", key.0, key.1);
        let success = |told: &Told| matches!(told, Told::Success { .. });
        if let Some(first) = self.told.get(&key) {
            if success(first) != success(&told) {
                self.violation(format!(
                    "{name} was answered both Success and destination offline!"
                ));
            }
            return; // the same answer again, to a resend
        }
        let shown = self.shown.contains_key(&key);
        self.told.insert(key, told);
        if success(&told) {
            self.counts.0 += 1;
            return;
        }
        self.counts.1 += 1;
        if shown {
            self.violation(format!(
                "{name} was answered destination offline! after it was shown"
            ));
        }
    }

    /// A forward must be a message a client sent, byte for byte but the
    /// token; once calm, with its destination's current token.
    fn forward(&mut self, chat: &Chat<'_>, calm_token: impl Fn(usize) -> Option<String>) {
        let key = key_of(chat);
        let Some(sent) = self.sent.get(&key) else {
            return self.violation(format!("a forward nobody sent: {chat:?}"));
        };
        if sent.body != chat.body {
            return self.violation(format!("a forward not as sent: {chat:?}"));
        }
        if let Some(token) = calm_token(sent.dest) {
            if token != chat.token.as_str() {
                self.violation(format!(
                    "calm, and a forward went to an ended session of {} (token {} where the session's is {token})",
                    chat.to,
                    chat.token.as_str()
                ));
            }
        }
    }

    /// A person's client showed the message `key`.
    pub fn shown(&mut self, now: Instant, person: usize, key: Key) {
        let name = format!("{} msg {}", key.0, key.1);
        if self.sent.get(&key).is_none_or(|sent| sent.dest != person) {
            return self.violation(format!(
                "{name} was shown to p{person}, not its destination"
            ));
        }
        let told = self.told.get(&key).copied();
        let (count, _) = self.shown.entry(key).or_insert((0, now));
        *count += 1;
        let count = *count;
        self.counts.2 += 1;
        if count > 1 {
            self.violation(format!("{name} was shown {count} times"));
        }
        if told == Some(Told::Offline) {
            self.violation(format!(
                "{name} was shown after its sender was told destination offline!"
            ));
        }
    }

    /// When the message `key`, told `Success`, was shown, if it was.
    pub fn delivered_at(&self, key: &Key) -> Option<Instant> {
        match self.told.get(key) {
            Some(Told::Success { .. }) => self.shown.get(key).map(|(_, at)| *at),
            _ => None,
        }
    }

    /// Whether the message `key` was told `Success` and shown.
    pub fn delivered(&self, key: &Key) -> bool {
        self.delivered_at(key).is_some()
    }

    /// The node that owed the message `key` found its destination's
    /// session ended.
    pub fn excuse(&mut self, key: Key) {
        self.excused.insert(key);
    }

    /// At the end: a message told `Success` was shown, unless its
    /// destination's session ended, or a node crashed, since.
    pub fn judge_deliveries(&mut self) {
        let mut missing = Vec::new();
        for (key, sent) in &self.sent {
            let Some(Told::Success { epoch, crashes }) = self.told.get(key) else {
                continue;
            };
            let excused = self.epochs[sent.dest] != *epoch
                || self.crashes != *crashes
                || self.excused.contains(key);
            if !excused && !self.shown.contains_key(key) {
                missing.push(format!("{} msg {}", key.0, key.1));
            }
        }
        missing.sort();
        for what in missing {
            self.violation(format!("{what} was answered Success and never shown"));
        }
    }

    pub fn violation(&mut self, what: String) {
        self.violations.push(what);
    }
}
