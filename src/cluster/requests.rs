//! Messages to users of other nodes, as the node that sends them sees
//! them. Each is a *request*, with an outcome the sender is told; a
//! request goes out as one or more *asks*, each published in a batch
//! ([`super::asks`]) and each answered by a *verdict* or by the broker's
//! "no responders".
//!
//! The rule that keeps answers right: a request is `Offline` only when its
//! latest ask found nobody holding the user's subject (the broker's "no
//! responders"), and the link never dropped since its first ask. That is
//! proof, because a node sends on a forward it took only once the broker
//! confirmed its `taken` verdict (`Cluster::answer`): a node that took an
//! earlier ask and let go of the user since published `taken` before it
//! let go, and the broker passed it on before it found nobody for the
//! latest ask, on the same connection, in order. So:
//! - `taken` on any ask: `Taken`;
//! - `gone` and `offline` say only that one node has no session of the
//!   user (a second node may hold the user's subject for a moment while a
//!   login moves): the request is asked again, of the user's subject, at
//!   once; `refused` (the node does not know the sender) and `late` (past
//!   the deadline) say that node never will;
//! - a verdict may be slow (a node or the broker stalled): nothing is said
//!   meanwhile, and the request is asked again every
//!   [`ask_again_after`](super::ClusterConfig::ask_again_after);
//! - a link that drops may take a `taken` with it: the request becomes
//!   *uncertain*, is asked again when the link is back (the destination's
//!   node remembers what it took, and says `taken` again), and is never
//!   `Offline`. Still uncertain when it expires, it is `Unresolved`: the
//!   sender is told nothing, and its client says the message was not
//!   confirmed.
//!
//! Every ask carries the request's deadline, and its receiver refuses it
//! (`late`) after that, so no ask is delivered long after its sender gave
//! up.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::time::{Duration, Instant};

use super::asks::AskBatch;
use super::subject;
use super::verdicts::Verdict;
use crate::nats::{Link, LinkError};

/// How many times a request is asked again at once, after a node said it
/// has no session of the user; after that, on the timer.
const MAX_AT_ONCE: u32 = 3;

/// A request, as its sender's node names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// What became of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The destination's node took it: it is on its way, as on one hub.
    Taken,
    /// No node took it, and none will.
    Offline,
    /// An ask may have been delivered and its answer lost, and it was not
    /// learned before the request expired: nothing can be said.
    Unresolved,
}

impl Outcome {
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Taken => "taken",
            Outcome::Offline => "offline",
            Outcome::Unresolved => "unresolved",
        }
    }
}

/// An ask that has no verdict yet.
#[derive(Clone, Copy, Debug)]
struct Waiting {
    number: u64,
    /// Once published: the first ask of its batch (whose inbox hears "no
    /// responders"), and the node it was sent to, if not the user's subject.
    sent: Option<(u64, Option<u64>)>,
}

/// One message to another node's user.
#[derive(Debug)]
struct Request {
    id: RequestId,
    /// `SRC->DEST#<xxxxxx><MSGID>BODY`.
    forward: Vec<u8>,
    /// Where `DEST` is in it.
    dest: Range<usize>,
    /// Wall-clock microseconds after which no ask of it may be delivered.
    deadline: u64,
    /// The same on this node's clock: no ask after it, and no wait for
    /// verdicts after it plus `ask_again_after`.
    expires: Instant,
    waiting: Vec<Waiting>,
    /// The number of its first ask, of its latest, and of those between
    /// (asked again: seldom, so seldom allocated).
    first: u64,
    latest: u64,
    asked_again: Vec<u64>,
    /// Asks made at once after a node said it has no session of the user.
    asked_at_once: u32,
    /// Its latest ask found nobody holding the user's subject (or a node
    /// that will never take it).
    nobody_holds: bool,
    /// Whether any ask of it reached the link.
    published: bool,
    /// An ask went out and its verdict was lost with the link.
    uncertain: bool,
    ask_again_at: Instant,
}

impl Request {
    /// Its destination's id.
    fn dest(&self) -> &str {
        // The forward's id bytes were an id's: ASCII.
        std::str::from_utf8(&self.forward[self.dest.clone()]).unwrap_or_default()
    }
}

/// Where an ask goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// To the node known to hold the user.
    Known,
    /// To the user's subject, whoever holds it.
    User,
}

/// The node's requests and their asks.
#[derive(Debug)]
pub struct Requests {
    node: u64,
    ask_again_after: Duration,
    /// By id, which is also the order of their deadlines and of their
    /// first asks' numbers.
    requests: VecDeque<Request>,
    /// Asks gathered for publishing, one batch per subject.
    batches: Vec<AskBatch>,
    /// The node that last took a message for each user (of those we know).
    routes: HashMap<String, u64>,
    next_request: u64,
    next_ask: u64,
    /// When [`sweep`](Self::sweep) may have something to do.
    next_sweep: Option<Instant>,
    resolved: VecDeque<(RequestId, Outcome, Vec<u8>)>,
    /// Which recent asks belong to requests that were `Taken`, for a node
    /// that lost its link before it knew its `taken` was heard.
    taken: TakenAsks,
    /// How many asks went out (for metrics).
    pub asks_sent: u64,
}

impl Requests {
    pub fn new(node: u64, ask_again_after: Duration) -> Self {
        Self {
            node,
            ask_again_after,
            requests: VecDeque::new(),
            batches: Vec::new(),
            routes: HashMap::new(),
            next_request: 0,
            next_ask: 0,
            next_sweep: None,
            resolved: VecDeque::new(),
            taken: TakenAsks::default(),
            asks_sent: 0,
        }
    }

    /// A new request for `dest`, asked at the next [`publish`](Self::publish).
    pub fn add(
        &mut self,
        now: Instant,
        dest: Range<usize>,
        forward: Vec<u8>,
        (deadline, expires): (u64, Instant),
    ) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.requests.push_back(Request {
            id,
            dest,
            forward,
            deadline,
            expires,
            waiting: Vec::new(),
            first: self.next_ask,
            latest: 0,
            asked_again: Vec::new(),
            asked_at_once: 0,
            nobody_holds: false,
            published: false,
            uncertain: false,
            ask_again_at: now,
        });
        self.ask(now, self.requests.len() - 1, Route::Known);
        id
    }

    /// Publishes the asks gathered since the last call, one message per
    /// subject. An ask the link refuses was never sent; a request none of
    /// whose asks was ever sent is `Offline`. Returns each refusal with the
    /// number of asks it cost.
    pub fn publish(&mut self, link: &mut Link) -> Vec<(LinkError, usize)> {
        let mut refusals = Vec::new();
        for batch in std::mem::take(&mut self.batches) {
            let first = batch.numbers[0];
            let inbox = subject::inbox(self.node, first);
            match link.publish(&batch.subject, Some(&inbox), batch.payload()) {
                Ok(()) => {
                    self.asks_sent += batch.numbers.len() as u64;
                    for &number in &batch.numbers {
                        let Some(at) = self.find_waiting(number) else {
                            continue;
                        };
                        let request = &mut self.requests[at];
                        request.published = true;
                        if let Some(waiting) =
                            request.waiting.iter_mut().find(|w| w.number == number)
                        {
                            waiting.sent = Some((first, batch.node));
                        }
                    }
                }
                Err(why) => {
                    refusals.push((why, batch.numbers.len()));
                    for &number in &batch.numbers {
                        self.not_delivered(number);
                    }
                }
            }
        }
        refusals
    }

    /// Node `from` gave ask `number` its verdict.
    pub fn on_verdict(&mut self, now: Instant, from: u64, number: u64, verdict: Verdict) {
        let Some(at) = self.take_ask(number) else {
            // A second verdict on one ask (two nodes held the user's
            // subject a moment): a `taken` still settles its request.
            if verdict == Verdict::Taken {
                if let Some(at) = self.find_asker(number) {
                    self.resolve(at, Outcome::Taken);
                }
            }
            return;
        };
        let id = self.requests[at].id;
        let dest = self.requests[at].dest();
        if verdict == Verdict::Taken {
            // Next time, straight to that node, with the others.
            if self.routes.get(dest) != Some(&from) {
                self.routes.insert(dest.to_owned(), from);
            }
            return self.resolve(at, Outcome::Taken);
        }
        self.forget_route(at, from);
        let request = &mut self.requests[at];
        match verdict {
            Verdict::Taken => {}
            // That node has no session of the user; whether another has,
            // the user's subject says (at once, a few times, then on the
            // timer: a node letting go of the subject can take a moment).
            Verdict::Gone | Verdict::Offline => {
                if now < request.expires && request.asked_at_once < MAX_AT_ONCE {
                    request.asked_at_once += 1;
                    self.ask(now, at, Route::User);
                }
            }
            // The destination's node will not take it, ever: as good as
            // "no responders" (docs/cluster.md: nodes' accounts must agree).
            Verdict::Refused => {
                if number == request.latest {
                    request.nobody_holds = true;
                }
            }
            // Past its deadline: never delivered; the request expires.
            // (The words that settle doubts are the cluster's, not here.)
            Verdict::Late | Verdict::Doubt | Verdict::Counted | Verdict::Void => {}
        }
        if self.requests.get(at).is_some_and(|r| r.id == id) {
            self.settle(at);
        }
    }

    /// `Offline` once proven: the latest ask found nobody who would take
    /// it, no ask to a node waits (that node may take it yet, for a
    /// session begun since), and no verdict may have been lost.
    fn settle(&mut self, at: usize) {
        let request = &self.requests[at];
        let node_waits = request
            .waiting
            .iter()
            .any(|w| matches!(w.sent, Some((_, Some(_)))));
        if request.nobody_holds && !node_waits && !request.uncertain {
            self.resolve(at, Outcome::Offline);
        }
    }

    /// Nobody held the subject the batch whose first ask is `first` went
    /// to. Asks sent to a node (gone altogether) are asked again of their
    /// users' subjects; a request whose latest ask went to its user's
    /// subject is `Offline`, unless the link dropped since its first.
    pub fn on_no_responders(&mut self, now: Instant, first: u64) {
        let mut hit = Vec::new();
        for request in &self.requests {
            for waiting in &request.waiting {
                if let Some((batch, node)) = waiting.sent {
                    if batch == first {
                        hit.push((waiting.number, node));
                    }
                }
            }
        }
        for (number, node) in hit {
            let Some(at) = self.take_ask(number) else {
                continue;
            };
            match node {
                Some(node) => {
                    self.routes.retain(|_, held_by| *held_by != node);
                    self.ask(now, at, Route::User);
                }
                None => {
                    let request = &mut self.requests[at];
                    if number == request.latest {
                        request.nobody_holds = true;
                        self.settle(at);
                    }
                }
            }
        }
    }

    /// The link went down: asks not yet published never will be, and
    /// those published may have been delivered with their verdicts lost.
    pub fn on_link_down(&mut self) {
        for batch in std::mem::take(&mut self.batches) {
            for number in batch.numbers {
                self.not_delivered(number);
            }
        }
        for request in &mut self.requests {
            if !request.waiting.is_empty() {
                request.waiting.clear();
                request.uncertain = true;
            }
        }
        self.routes.clear();
    }

    /// The link is up again: the requests whose asks were lost ask again.
    pub fn on_link_up(&mut self, now: Instant) {
        for at in 0..self.requests.len() {
            let request = &self.requests[at];
            if request.waiting.is_empty() && now < request.expires {
                self.ask(now, at, Route::User);
            }
        }
    }

    /// Asks again what waits too long; settles what expired.
    pub fn sweep(&mut self, now: Instant, link_up: bool) {
        if self.next_sweep.is_none_or(|at| at > now) {
            return;
        }
        let mut at = 0;
        while at < self.requests.len() {
            let request = &self.requests[at];
            if now >= request.expires + self.ask_again_after {
                self.resolve(at, Outcome::Unresolved);
                continue;
            }
            if now >= request.ask_again_at {
                if link_up && now < request.expires {
                    self.ask(now, at, Route::User);
                } else {
                    // Asked again when the link is back, if it is in time.
                    self.requests[at].ask_again_at = request.expires;
                }
            }
            at += 1;
        }
        self.next_sweep = self.requests.iter().map(|r| self.check_at(r)).min();
    }

    /// When [`sweep`](Self::sweep) should run next.
    pub fn next_sweep(&self) -> Option<Instant> {
        self.next_sweep
    }

    /// A node took ask `number` and lost its link before it knew whether
    /// its `taken` was heard: whether it counts. A request still without
    /// an outcome counts it now (`Taken`); one that was `Taken` counts it;
    /// one that ended otherwise, or is forgotten, does not: then it must
    /// not be shown.
    pub fn count(&mut self, number: u64) -> bool {
        // Its verdict may have been lost with our link too: the request may
        // have moved on to other asks.
        if let Some(at) = self.find_asker(number) {
            self.resolve(at, Outcome::Taken);
            return true;
        }
        self.taken.contains(number)
    }

    /// A request's outcome, with its forward (whose body a `Success`
    /// echoes).
    pub fn poll_resolved(&mut self) -> Option<(RequestId, Outcome, Vec<u8>)> {
        self.resolved.pop_front()
    }

    /// Requests without an outcome.
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    /// Queues an ask of the request at `at`.
    fn ask(&mut self, now: Instant, at: usize, route: Route) {
        let number = self.next_ask;
        self.next_ask += 1;
        let request = &mut self.requests[at];
        let dest = request.dest();
        let node = match route {
            Route::Known => self.routes.get(dest).copied(),
            Route::User => None,
        };
        let batch =
            match self.batches.iter().position(|b| {
                b.node == node && (node.is_some() || subject::is_user(&b.subject, dest))
            }) {
                Some(position) => &mut self.batches[position],
                None => {
                    let subject = match node {
                        Some(node) => subject::node_asks(node),
                        None => subject::user(dest),
                    };
                    self.batches.push(AskBatch::new(subject, node));
                    self.batches.last_mut().expect("just pushed")
                }
            };
        batch.add(number, request.deadline, &request.forward);
        request.waiting.push(Waiting { number, sent: None });
        if number != request.first {
            request.asked_again.push(number);
        }
        request.latest = number;
        request.nobody_holds = false;
        request.ask_again_at = now + self.ask_again_after;
        let check = self.check_at(&self.requests[at]);
        self.next_sweep = Some(self.next_sweep.map_or(check, |at| at.min(check)));
    }

    /// When the request needs looking at: to ask again, or to give up.
    fn check_at(&self, request: &Request) -> Instant {
        if request.ask_again_at < request.expires {
            request.ask_again_at
        } else {
            request.expires + self.ask_again_after
        }
    }

    /// Ask `number` never left: if it was the request's first, the
    /// request was never sent, and is `Offline`; if not, it waits for the
    /// next ask (or its expiry).
    fn not_delivered(&mut self, number: u64) {
        let Some(at) = self.take_ask(number) else {
            return;
        };
        let request = &self.requests[at];
        if !request.published && request.waiting.is_empty() {
            self.resolve(at, Outcome::Offline);
        }
    }

    fn resolve(&mut self, at: usize, outcome: Outcome) {
        let Some(request) = self.requests.remove(at) else {
            return;
        };
        if outcome == Outcome::Taken {
            self.taken.insert(request.first);
            for &number in &request.asked_again {
                self.taken.insert(number);
            }
        }
        self.resolved
            .push_back((request.id, outcome, request.forward));
    }

    /// Takes ask `number` off its request's waiting list; returns where
    /// the request is.
    fn take_ask(&mut self, number: u64) -> Option<usize> {
        let at = self.find_waiting(number)?;
        self.requests[at].waiting.retain(|w| w.number != number);
        Some(at)
    }

    /// Where the request whose ask `number` waits for its verdict is.
    fn find_waiting(&self, number: u64) -> Option<usize> {
        let at = self.find_asker(number)?;
        let request = &self.requests[at];
        request
            .waiting
            .iter()
            .any(|w| w.number == number)
            .then_some(at)
    }

    /// Where the request that made ask `number` is, if it has no outcome
    /// yet. The requests are in the order of their first asks: a first ask
    /// is found by a search (most verdicts are for the oldest), an ask made
    /// again, seldom, by a scan.
    fn find_asker(&self, number: u64) -> Option<usize> {
        if self.requests.front()?.first == number {
            return Some(0);
        }
        match self.requests.binary_search_by_key(&number, |r| r.first) {
            Ok(at) => Some(at),
            Err(_) => self
                .requests
                .iter()
                .position(|r| r.asked_again.contains(&number)),
        }
    }

    /// Forgets that `node` holds the destination of the request at `at`,
    /// if that is what we thought.
    fn forget_route(&mut self, at: usize, node: u64) {
        let dest = self.requests[at].dest();
        if self.routes.get(dest) == Some(&node) {
            self.routes.remove(dest);
        }
    }
}

/// The asks of requests that were `Taken`, among the latest [`TAKEN_ASKS`]
/// asks this node made: one bit each, so that a node in doubt about a
/// `taken` it sent can be answered long after (512 KiB at most).
#[derive(Debug, Default)]
struct TakenAsks {
    /// The number of the ask of the first bit.
    base: u64,
    words: VecDeque<u64>,
}

/// How many of the latest asks [`TakenAsks`] remembers: tens of seconds of
/// the most a node asks, longer than a doubt lasts.
const TAKEN_ASKS: u64 = 1 << 22;

impl TakenAsks {
    fn insert(&mut self, number: u64) {
        if number < self.base {
            return;
        }
        let word = ((number - self.base) / 64) as usize;
        while self.words.len() <= word {
            self.words.push_back(0);
        }
        self.words[word] |= 1 << ((number - self.base) % 64);
        while self.words.len() as u64 * 64 > TAKEN_ASKS {
            self.words.pop_front();
            self.base += 64;
        }
    }

    fn contains(&self, number: u64) -> bool {
        let Some(offset) = number.checked_sub(self.base) else {
            return false;
        };
        self.words
            .get((offset / 64) as usize)
            .is_some_and(|word| word & (1 << (offset % 64)) != 0)
    }
}
