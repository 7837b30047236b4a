//! The hub against the wire contract (docs/protocol.md), driven with a
//! fake clock: time is an `Instant` moved forward by hand, nothing sleeps.

use std::collections::HashMap;
use std::fmt;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::wire::Success;

mod bounds;
mod cluster;
mod counters;
mod dropped;
mod duplicates;
mod expiry;
mod hardening;
mod login;
mod logoff;
mod messages;
mod reload;
mod tracing;

/// The accounts every test hub knows; `dave` is the one that never receipts
/// in the hostile-traffic test.
const ACCOUNTS: &[(&str, &str)] = &[
    ("alice", "wonder land"),
    ("bob", "b:b#-!"),
    ("carol", "c4r0l"),
    ("dave", "d4ve"),
];

const M1: &str = "0000000001";
const M2: &str = "0000000002";
/// Other clients send letters; the hub passes them on unchanged.
const M3: &str = "AbC-xyz!$%";

const NANO: Duration = Duration::from_nanos(1);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Where each test client receives, unless a test says otherwise.
fn home(id: &str) -> SocketAddr {
    let n = ACCOUNTS.iter().position(|(a, _)| *a == id).unwrap_or(99);
    addr(6001 + n as u16)
}

fn password(id: &str) -> &'static str {
    ACCOUNTS
        .iter()
        .find(|(a, _)| *a == id)
        .map_or("not an account", |(_, p)| p)
}

/// `FROM->TO#<TOKEN><MSGID>BODY`: a message, or with `TO` = `server` a receipt.
fn chat(from: &str, to: &str, token: &str, msg_id: &str, body: impl AsRef<[u8]>) -> Vec<u8> {
    [
        format!("{from}->{to}#<{token}><{msg_id}>").as_bytes(),
        body.as_ref(),
    ]
    .concat()
}

fn logoff(id: &str, token: &str) -> String {
    format!("{id}->server#logoff<{token}>")
}

/// One datagram the hub sent; shown as escaped text when an assertion fails.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Sent {
    to: SocketAddr,
    payload: Vec<u8>,
}

impl fmt::Debug for Sent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} <- \"{}\"", self.to, self.payload.escape_ascii())
    }
}

fn sent(to: SocketAddr, payload: impl AsRef<[u8]>) -> Sent {
    Sent {
        to,
        payload: payload.as_ref().to_vec(),
    }
}

/// Compares what was sent with what was expected, in any order.
#[track_caller]
fn assert_sent(actual: &[Sent], expected: &[Sent]) {
    let (mut actual, mut expected) = (actual.to_vec(), expected.to_vec());
    actual.sort();
    expected.sort();
    assert_eq!(actual, expected);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A hub, its fake clock, and what it sends, one call at a time.
struct Harness {
    hub: Hub,
    t0: Instant,
    now: Instant,
}

impl Harness {
    fn new() -> Self {
        Self::with(HubConfig::default())
    }

    fn with(config: HubConfig) -> Self {
        Self::seeded(config, 7)
    }

    /// A hub whose tokens (and node id, in a cluster) come from `seed`.
    fn seeded(config: HubConfig, seed: u64) -> Self {
        let mut accounts = Accounts::default();
        for (id, password) in ACCOUNTS {
            accounts.add(id, password.as_bytes());
        }
        let rng = Box::new(StdRng::seed_from_u64(seed));
        let t0 = Instant::now();
        Self {
            hub: Hub::with_rng(accounts, config, rng),
            t0,
            now: t0,
        }
    }

    /// Sets the clock to `after` past the start.
    fn at(&mut self, after: Duration) {
        self.now = self.t0 + after;
    }

    /// Hands the hub one datagram; returns everything it wants sent.
    fn send(&mut self, source: SocketAddr, datagram: impl AsRef<[u8]>) -> Vec<Sent> {
        self.hub
            .handle_datagram(self.now, source, datagram.as_ref());
        self.transmits()
    }

    /// Lets the hub's timers run at the current time; returns what it sends.
    fn tick(&mut self) -> Vec<Sent> {
        self.hub.handle_timeout(self.now);
        self.transmits()
    }

    fn transmits(&mut self) -> Vec<Sent> {
        let mut out = Vec::new();
        while let Some(t) = self.hub.poll_transmit() {
            out.push(sent(t.to, t.payload));
        }
        out
    }

    fn events(&mut self) -> Vec<HubEvent> {
        std::iter::from_fn(|| self.hub.poll_event()).collect()
    }

    fn state(&self, id: &str) -> SessionState {
        self.hub.state_of(id).expect("an account")
    }

    /// Logs `id` in from and to its home address; returns the token.
    fn login(&mut self, id: &str) -> String {
        self.login_via(id, home(id), home(id))
    }

    /// Logs `id` in with a datagram from `source` that names `receive_at`;
    /// checks the one reply and returns the token it carries.
    #[track_caller]
    fn login_via(&mut self, id: &str, source: SocketAddr, receive_at: SocketAddr) -> String {
        let out = self.send(source, login(id, receive_at));
        let token = match out.as_slice() {
            [reply] => {
                token_of(id, reply).unwrap_or_else(|| panic!("login of {id} answered {out:?}"))
            }
            _ => panic!("login of {id} answered {out:?}"),
        };
        assert_eq!(
            out,
            [sent(receive_at, format!("server->{id}#Success<{token}>"))]
        );
        token
    }
}

/// The login of `id` with its password, naming `receive_at` for replies.
fn login(id: &str, receive_at: SocketAddr) -> String {
    let (ip, port) = (receive_at.ip(), receive_at.port());
    format!("{id}->server#login<{}><{ip}><{port}>", password(id))
}

/// The token of `sent`, if it is a login's `Success` for `id`.
fn token_of(id: &str, sent: &Sent) -> Option<String> {
    match wire::parse(&sent.payload) {
        Ok(Message::Success(Success { to, token })) if to == id => Some(token.as_str().to_owned()),
        _ => None,
    }
}

fn is_gave_up(event: &HubEvent, (from_id, to_id, id): (&str, &str, &str)) -> bool {
    matches!(event, HubEvent::GaveUp { from, to, msg_id, .. }
        if from == from_id && to == to_id && msg_id.as_str() == id)
}

fn is_dropped(event: &HubEvent, from: SocketAddr, why: DropReason) -> bool {
    *event
        == HubEvent::Dropped {
            source: from,
            reason: why,
        }
}
