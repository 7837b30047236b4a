//! The chat the fault tests run, whatever carries it: a few people log in
//! and each types messages to the others, through a network that loses,
//! doubles and reorders datagrams. [`tests/faults.rs`] carries it over real
//! sockets and a real relay; [`tests/simulation.rs`] in memory, on a
//! simulated clock. Both judge it the same way: every message the hub
//! accepted is shown exactly once at its destination, nothing is shown that
//! the hub did not accept, and no forward still awaits its receipt.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use reactor_hub::accounts::Accounts;
use reactor_hub::client::{Client, Notice, Unanswered};
use reactor_hub::relay::{FaultStats, Faults};
use reactor_hub::wire::{self, Message, Outcome, Reply};

/// The network of the fault tests: 20% loss, 5% duplication, 5% reordering,
/// each way, and a few milliseconds of delay whose jitter reorders some more.
pub const LOSSY: Faults = Faults {
    loss: 0.20,
    duplicate: 0.05,
    reorder: 0.05,
    delay: Duration::from_millis(1),
    jitter: Duration::from_millis(4),
};

pub const DEFAULT_SEED: u64 = 20_240_605;

/// The seed of the faults: `REACTOR_HUB_FAULT_SEED=N` replays another.
pub fn seed() -> u64 {
    std::env::var("REACTOR_HUB_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

/// `p0` to `p{people-1}`, each with the password `pw{n}`.
pub fn accounts(people: usize) -> Accounts {
    let mut accounts = Accounts::default();
    for n in 0..people {
        accounts.add(&format!("p{n}"), format!("pw{n}").as_bytes());
    }
    accounts
}

/// What the hub answered `Success` to, as the network saw it on its way to
/// the clients.
#[derive(Default)]
pub struct Accepted {
    /// Bodies of the messages accepted; each test message's body is unique.
    pub bodies: HashSet<Vec<u8>>,
    /// `Success` replies, answers to resent messages included.
    pub replies: usize,
    /// Forwards, resends included.
    pub forwards: usize,
}

impl Accepted {
    pub fn see(&mut self, datagram: &[u8]) {
        match wire::parse(datagram) {
            Ok(Message::Reply(Reply {
                outcome: Outcome::Accepted(body),
                ..
            })) => {
                self.replies += 1;
                self.bodies.insert(body.to_vec());
            }
            Ok(Message::Chat(_)) => self.forwards += 1,
            _ => {}
        }
    }
}

/// The figures of a run.
#[derive(Debug, PartialEq, Eq)]
pub struct Verdict {
    pub accepted: usize,
    pub delivered_once: usize,
    pub shown_twice: usize,
    pub never_shown: usize,
    /// Shown without the hub having accepted it: a forgery or a bug.
    pub not_accepted: usize,
}

impl Verdict {
    pub fn of(accepted: &HashSet<Vec<u8>>, shown: &HashMap<Vec<u8>, u32>) -> Self {
        let times = |body: &Vec<u8>| shown.get(body).copied().unwrap_or(0);
        Self {
            accepted: accepted.len(),
            delivered_once: accepted.iter().filter(|b| times(b) == 1).count(),
            shown_twice: shown.values().filter(|&&n| n > 1).count(),
            never_shown: accepted.iter().filter(|b| times(b) == 0).count(),
            not_accepted: shown.keys().filter(|b| !accepted.contains(*b)).count(),
        }
    }
}

/// How the typed messages ended, as the clients told their people.
#[derive(Clone, Copy, Debug, Default)]
pub struct Outcomes {
    pub accepted: usize,
    pub not_answering: usize,
    pub offline: usize,
}

impl Outcomes {
    pub fn typed(&self) -> usize {
        self.accepted + self.not_answering + self.offline
    }
}

impl fmt::Display for Outcomes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} confirmed accepted, {} given up by the sender (no reply after its resends), {} destination offline",
            self.accepted, self.not_answering, self.offline
        )
    }
}

/// One person's part: what they type, and what they were told.
pub struct Script {
    pub login: Vec<u8>,
    pub lines: VecDeque<Vec<u8>>,
    pub logged_in: bool,
    pub outcomes: Outcomes,
    /// Times each body was shown.
    pub shown: HashMap<Vec<u8>, u32>,
    /// Notices this test does not expect.
    pub unexpected: Vec<String>,
}

impl Script {
    /// Person `n` of `people` sends `messages_each` messages to the others
    /// in turn; every body is unique.
    pub fn new(n: usize, people: usize, messages_each: usize) -> Self {
        let id = format!("p{n}");
        let lines = (0..messages_each)
            .map(|m| {
                let to = (n + 1 + m % (people - 1)) % people;
                format!("{id}->p{to}#m{m} from {id} to p{to}").into_bytes()
            })
            .collect();
        Self {
            login: format!("{id}->server#login<pw{n}>").into_bytes(),
            lines,
            logged_in: false,
            outcomes: Outcomes::default(),
            shown: HashMap::new(),
            unexpected: Vec::new(),
        }
    }

    /// Types the login.
    pub fn log_in(&self, client: &mut Client, now: Instant) {
        client.handle_line(now, &self.login);
    }

    /// Types the next lines while the client wants them.
    pub fn type_lines(&mut self, client: &mut Client, now: Instant) {
        while client.wants_input() {
            let Some(line) = self.lines.pop_front() else {
                break;
            };
            client.handle_line(now, &line);
        }
    }

    /// Whether every line typed has its outcome.
    pub fn done(&self, messages_each: usize) -> bool {
        self.outcomes.typed() == messages_each
    }

    /// Takes in everything the client has to say; when every try of the
    /// login was lost, the person types it again.
    pub fn listen(&mut self, client: &mut Client, now: Instant) {
        while let Some(notice) = client.poll_notice() {
            if self.hear(notice) {
                self.log_in(client, now);
            }
        }
    }

    /// Takes in what the client said; true if the person should type the
    /// login again (every try of it was lost).
    fn hear(&mut self, notice: Notice) -> bool {
        match notice {
            Notice::LoggedIn { .. } => self.logged_in = true,
            Notice::Accepted { .. } => self.outcomes.accepted += 1,
            Notice::NotAnswering {
                what: Unanswered::Message { .. },
                ..
            } => self.outcomes.not_answering += 1,
            Notice::DestinationOffline { .. } => self.outcomes.offline += 1,
            Notice::Received { body, .. } => *self.shown.entry(body).or_default() += 1,
            Notice::NotAnswering {
                what: Unanswered::Login,
                ..
            } => return true,
            other => self.unexpected.push(other.to_string()),
        }
        false
    }
}

/// Everything a run ends with, for [`Run::judge`].
pub struct Run<'a> {
    pub seed: u64,
    pub faults: Faults,
    pub scripts: Vec<&'a Script>,
    pub messages_each: usize,
    pub accepted: &'a Accepted,
    /// Forwards still awaiting receipts in the hub at the end.
    pub pending: usize,
    pub to_hub: FaultStats,
    pub to_clients: FaultStats,
}

impl Run<'_> {
    pub fn outcomes(&self) -> Outcomes {
        let mut all = Outcomes::default();
        for script in &self.scripts {
            all.accepted += script.outcomes.accepted;
            all.not_answering += script.outcomes.not_answering;
            all.offline += script.outcomes.offline;
        }
        all
    }

    /// Prints the figures, then checks them.
    pub fn judge(&self, how_long: String) {
        let seed = self.seed;
        let mut shown: HashMap<Vec<u8>, u32> = HashMap::new();
        for script in &self.scripts {
            for (body, times) in &script.shown {
                *shown.entry(body.clone()).or_default() += times;
            }
        }
        let verdict = Verdict::of(&self.accepted.bodies, &shown);
        let outcomes = self.outcomes();
        println!(
            "seed {seed}, {}, {how_long}\n\
             typed {}: {outcomes}\n\
             hub accepted {} (answered {} times), delivered exactly once {}, shown twice {}, \
             never shown {}, shown but not accepted {}\n\
             forwards sent by the hub {} (resends included) for {} accepted\n\
             toward the hub: {}\ntoward the clients: {}",
            self.faults,
            self.scripts.len() * self.messages_each,
            verdict.accepted,
            self.accepted.replies,
            verdict.delivered_once,
            verdict.shown_twice,
            verdict.never_shown,
            verdict.not_accepted,
            self.accepted.forwards,
            verdict.accepted,
            self.to_hub,
            self.to_clients,
        );
        let unexpected: Vec<&String> = self.scripts.iter().flat_map(|s| &s.unexpected).collect();
        assert!(unexpected.is_empty(), "seed {seed}: {unexpected:#?}");
        assert_eq!(verdict.shown_twice, 0, "seed {seed}: shown twice");
        assert_eq!(verdict.never_shown, 0, "seed {seed}: accepted, never shown");
        assert_eq!(
            verdict.not_accepted, 0,
            "seed {seed}: shown, never accepted"
        );
        assert_eq!(verdict.delivered_once, verdict.accepted);
        assert_eq!(self.pending, 0, "seed {seed}: forwards still pending");
        assert_eq!(outcomes.typed(), self.scripts.len() * self.messages_each);
        assert!(verdict.accepted >= outcomes.accepted);
        // The faults were there: a test of a perfect network proves nothing.
        for (direction, stats) in [
            ("to the hub", self.to_hub),
            ("to the clients", self.to_clients),
        ] {
            let lost = stats.lost as f64 / stats.datagrams as f64;
            let expected = self.faults.loss - 0.05..self.faults.loss + 0.05;
            assert!(expected.contains(&lost), "{direction}: {stats}");
            assert!(
                stats.duplicated > 0 && stats.reordered > 0,
                "{direction}: {stats}"
            );
        }
    }
}
