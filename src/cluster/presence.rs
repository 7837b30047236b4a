//! Where each user is: the node's [`Record`]s of the latest login of each
//! user there, live or ended, and how nodes agree on them.
//!
//! - A login here is stamped ([`Stamp`]), subscribed (the user's subject,
//!   for asks, and its `login` subject, for news of other logins) and
//!   announced on its `login` subject.
//! - Of two records of one user the later stamp decides. A node that hears
//!   an announcement older than its own record answers it with that record
//!   (a *stale announcement refused*); a node whose record is older drops
//!   it, ending the session if it was live.
//! - A login that ended here (logoff, expiry, account removed) is
//!   remembered for [`ClusterConfig::remember_ended`](super::ClusterConfig),
//!   still holding the `login` subject, so that a node cut off meanwhile
//!   cannot bring back an older session of the user when it returns: its
//!   announcement is refused with the record of the ended login.
//! - When the link comes up, every record is announced again: whoever
//!   comes back second hears the other, and the later record wins.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::payload::{Record, Stamp};
use super::subject;
use crate::nats::{Link, LinkError};

/// The latest login of one user at this node.
#[derive(Clone, Copy, Debug)]
struct Entry {
    stamp: Stamp,
    /// `None` while the session is online; when to forget it once ended.
    forget_at: Option<Instant>,
}

/// What hearing another node's record means here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heard {
    /// Nothing to do: no record here, the same one, or our own.
    Nothing,
    /// Ours is later (`live`: still online here): the announcer must hear
    /// it (answered, if it asked).
    Refused { live: bool },
    /// Ours was earlier and is dropped; `was_live`: a session here ends.
    Superseded { was_live: bool },
}

/// The records of one node, and its hybrid logical clock.
pub struct Presence {
    node: u64,
    /// The wall clock at an instant, in microseconds since the Unix epoch.
    wall_clock: (Instant, u64),
    clock: u64,
    remember_ended: Duration,
    entries: HashMap<String, Entry>,
    /// Ended records by when they are forgotten (some since replaced).
    forgetting: VecDeque<(Instant, String)>,
    /// Records to announce once the link takes them.
    unannounced: Vec<String>,
    /// Why the link refused announcements or answers since the last call
    /// to [`take_refusals`](Self::take_refusals).
    refusals: Vec<LinkError>,
}

impl Presence {
    pub fn new(node: u64, wall_clock: (Instant, u64), remember_ended: Duration) -> Self {
        Self {
            node,
            wall_clock,
            clock: 0,
            remember_ended,
            entries: HashMap::new(),
            forgetting: VecDeque::new(),
            unannounced: Vec::new(),
            refusals: Vec::new(),
        }
    }

    /// The wall clock at `now`, in microseconds.
    pub fn wall(&self, now: Instant) -> u64 {
        let (then, micros) = self.wall_clock;
        micros + now.saturating_duration_since(then).as_micros() as u64
    }

    /// A user's session began here: stamp it, hold its subjects, announce it.
    pub fn joined(&mut self, now: Instant, link: &mut Link, id: &str) -> Result<(), LinkError> {
        self.clock = self.wall(now).max(self.clock + 1);
        let stamp = Stamp {
            at: self.clock,
            node: self.node,
        };
        self.entries.insert(
            id.to_owned(),
            Entry {
                stamp,
                forget_at: None,
            },
        );
        // Subscribed before announced: of two logins that cross, one node
        // is sure to hear the other's announcement.
        link.subscribe(&subject::user(id))?;
        link.subscribe(&subject::login(id))?;
        self.announce(link, id);
        Ok(())
    }

    /// A user's session here ended by logoff, expiry or removal: no more
    /// asks for it, but its record stays for a while.
    pub fn ended(&mut self, now: Instant, link: &mut Link, id: &str) {
        let Some(entry) = self.entries.get_mut(id) else {
            return;
        };
        let forget_at = now + self.remember_ended;
        entry.forget_at = Some(forget_at);
        link.unsubscribe(&subject::user(id));
        self.forgetting.push_back((forget_at, id.to_owned()));
    }

    /// Another node's record of `theirs.id`; `reply`, if it asks for ours.
    pub fn hear(&mut self, link: &mut Link, theirs: Record<'_>, reply: Option<&str>) -> Heard {
        if theirs.stamp.node == self.node {
            return Heard::Nothing; // our own, back from our own subscription
        }
        self.clock = self.clock.max(theirs.stamp.at);
        let Some(ours) = self.entries.get(theirs.id).copied() else {
            return Heard::Nothing;
        };
        if ours.stamp > theirs.stamp {
            let record = self.record(theirs.id, ours);
            // If the answer cannot go, the record is announced instead.
            let answered = match reply {
                Some(reply) => publish(link, reply, None, &record),
                None => Err(LinkError::NotUp),
            };
            if let Err(why) = answered {
                if reply.is_some() {
                    self.refusals.push(why);
                }
                self.unannounced.push(theirs.id.to_owned());
            }
            return Heard::Refused {
                live: ours.forget_at.is_none(),
            };
        }
        if ours.stamp == theirs.stamp {
            return Heard::Nothing;
        }
        self.forget(link, theirs.id);
        Heard::Superseded {
            was_live: ours.forget_at.is_none(),
        }
    }

    /// Announces every record (the link came up), and any left unannounced.
    pub fn announce_all(&mut self, link: &mut Link) {
        let mut ids: Vec<String> = self.entries.keys().cloned().collect();
        // In a fixed order: a seeded simulation replays bit for bit.
        ids.sort_unstable();
        self.unannounced.clear();
        for id in ids {
            self.announce(link, &id);
        }
    }

    /// Announces the records whose announcement the link refused before.
    pub fn announce_again(&mut self, link: &mut Link) {
        if !link.is_up() {
            return;
        }
        for id in std::mem::take(&mut self.unannounced) {
            self.announce(link, &id);
        }
    }

    /// Forgets the ended records whose time is up.
    pub fn forget_due(&mut self, now: Instant, link: &mut Link) {
        while let Some((at, _)) = self.forgetting.front() {
            if *at > now {
                return;
            }
            let Some((at, id)) = self.forgetting.pop_front() else {
                return;
            };
            // A record replaced since (a new login) is not this one.
            if self
                .entries
                .get(&id)
                .is_some_and(|e| e.forget_at == Some(at))
            {
                self.forget(link, &id);
            }
        }
    }

    /// When the next ended record is forgotten.
    pub fn next_forget(&self) -> Option<Instant> {
        self.forgetting.front().map(|(at, _)| *at)
    }

    /// Why the link refused announcements since the last call: each is
    /// announced again at the next timeout or when the link comes up.
    pub fn take_refusals(&mut self) -> Vec<LinkError> {
        std::mem::take(&mut self.refusals)
    }

    /// Records held: (live, ended).
    pub fn counts(&self) -> (usize, usize) {
        let live = self
            .entries
            .values()
            .filter(|e| e.forget_at.is_none())
            .count();
        (live, self.entries.len() - live)
    }

    fn forget(&mut self, link: &mut Link, id: &str) {
        if let Some(entry) = self.entries.remove(id) {
            if entry.forget_at.is_none() {
                link.unsubscribe(&subject::user(id));
            }
            link.unsubscribe(&subject::login(id));
        }
    }

    fn record<'a>(&self, id: &'a str, entry: Entry) -> Record<'a> {
        Record {
            id,
            stamp: entry.stamp,
            live: entry.forget_at.is_none(),
        }
    }

    /// Publishes the record of `id` on its `login` subject; if the link
    /// will not take it now, it goes when it does.
    fn announce(&mut self, link: &mut Link, id: &str) {
        let Some(entry) = self.entries.get(id).copied() else {
            return;
        };
        if !link.is_up() {
            return; // announced when the link comes up
        }
        let record = self.record(id, entry);
        let inbox = subject::node_logins(self.node);
        if let Err(why) = publish(link, &subject::login(id), Some(&inbox), &record) {
            self.refusals.push(why);
            self.unannounced.push(id.to_owned());
        }
    }
}

fn publish(
    link: &mut Link,
    subject: &str,
    reply: Option<&str>,
    record: &Record<'_>,
) -> Result<(), LinkError> {
    let mut payload = Vec::with_capacity(64);
    record.encode(&mut payload);
    link.publish(subject, reply, &payload)
}
