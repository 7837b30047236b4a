//! The hub against the wire contract (docs/protocol.md), driven with a
//! fake clock: time is an `Instant` moved forward by hand, nothing sleeps.

use std::collections::HashMap;
use std::fmt;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

mod hardening;

/// The accounts every test hub knows; `dave` is the one that never receipts
/// in the hostile-traffic test.
const ACCOUNTS: &[(&str, &str)] = &[
    ("alice", "wonder land"),
    ("bob", "b:b#-!"),
    ("carol", "c4r0l"),
    ("dave", ""),
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
        let mut accounts = Accounts::default();
        for (id, password) in ACCOUNTS {
            accounts.add(id, password.as_bytes());
        }
        let rng = Box::new(StdRng::seed_from_u64(7));
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
        let (ip, port) = (receive_at.ip(), receive_at.port());
        let out = self.send(
            source,
            format!("{id}->server#login<{}><{ip}><{port}>", password(id)),
        );
        let token = match out.as_slice() {
            [reply] => match wire::parse(&reply.payload) {
                Ok(Message::Success { to, token }) if to == id => token.as_str().to_owned(),
                other => panic!("login of {id} answered {other:?}"),
            },
            _ => panic!("login of {id} answered {out:?}"),
        };
        assert_eq!(
            out,
            [sent(receive_at, format!("server->{id}#Success<{token}>"))]
        );
        token
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

// ---------------------------------------------------------------- login

#[test]
fn login_is_accepted_with_a_fresh_token_at_the_named_address() {
    let mut h = Harness::new();
    let (source, receive_at) = (addr(7001), addr(7002));
    let token = h.login_via("alice", source, receive_at);
    assert_eq!(token.len(), SessionToken::LEN);
    assert!(
        token.bytes().all(|b| SessionToken::ALPHABET.contains(&b)),
        "{token}"
    );
    assert_eq!(h.state("alice"), SessionState::Online);
    assert_eq!(
        h.events(),
        [HubEvent::LoggedIn {
            id: "alice".into(),
            addr: receive_at,
            replaced: false
        }]
    );
    assert_eq!(h.hub.stats().online, 1);

    // Every login gets a fresh token, and different users different ones.
    assert_eq!(
        h.send(source, logoff("alice", &token)),
        [sent(receive_at, format!("server->alice#Success<{token}>"))]
    );
    let again = h.login_via("alice", source, receive_at);
    let bob = h.login("bob");
    assert_ne!(again, token);
    assert_ne!(bob, again);
}

#[test]
fn login_replies_go_to_the_address_the_login_names() {
    let source = SocketAddr::from(([10, 0, 0, 7], 7001));
    let cases = [
        // The short form, typed into a raw UDP tool: the datagram's source.
        ("", source),
        // 0.0.0.0: the source IP, at the port named.
        ("<0.0.0.0><6001>", SocketAddr::from(([10, 0, 0, 7], 6001))),
        (
            "<192.168.1.2><6002>",
            SocketAddr::from(([192, 168, 1, 2], 6002)),
        ),
    ];
    for (address, reply_to) in cases {
        let mut h = Harness::new();
        let out = h.send(source, format!("alice->server#login<wonder land>{address}"));
        assert_eq!(out.len(), 1, "{address}: {out:?}");
        assert_eq!(out[0].to, reply_to, "{address}");
        assert!(out[0].payload.starts_with(b"server->alice#Success<"));
        // The session replies there from now on.
        let token = &out[0].payload[22..28];
        let token = std::str::from_utf8(token).unwrap();
        let out = h.send(addr(9999), chat("alice", "bob", token, M1, "hi"));
        assert_eq!(out[0].to, reply_to, "{address}: {out:?}");
    }
}

#[test]
fn wrong_password_and_unknown_id_are_refused_alike() {
    let mut h = Harness::new();
    let (source, named) = (addr(7001), addr(7002));
    for password in ["nope", "wonder", "wonder land ", ""] {
        let out = h.send(
            source,
            format!("alice->server#login<{password}><127.0.0.1><7002>"),
        );
        assert_eq!(
            out,
            [sent(named, "server->alice#Error: password does not match!")],
            "{password:?}"
        );
    }
    // Even with a password some other account has.
    let out = h.send(
        source,
        "mallory->server#login<wonder land><127.0.0.1><7002>",
    );
    assert_eq!(
        out,
        [sent(
            named,
            "server->mallory#Error: password does not match!"
        )]
    );
    let events = h.events();
    assert_eq!(events.len(), 5);
    assert!(events
        .iter()
        .all(|e| matches!(e, HubEvent::LoginRefused { from, .. } if *from == source)));
    assert_eq!(h.state("alice"), SessionState::Offline);
    assert_eq!(h.hub.state_of("mallory"), None);
    let only_the_throttle_remembers = HubStats {
        throttled_ips: 1,
        throttled_pairs: 1,
        ..HubStats::default()
    };
    assert_eq!(h.hub.stats(), only_the_throttle_remembers);
}

#[test]
fn password_guessing_is_slowed_but_the_user_gets_back_in() {
    let mut h = Harness::new();
    let guesser = addr(6666);
    let refusal = [sent(
        guesser,
        "server->alice#Error: password does not match!",
    )];
    let guess = "alice->server#login<guess><127.0.0.1><6666>";
    for _ in 0..6 {
        assert_eq!(h.send(guesser, guess), refusal);
    }
    h.events();
    // Closed for a second after the sixth failure: even the right password
    // is refused, unchecked, with the same words.
    let right = "alice->server#login<wonderland><127.0.0.1><6666>";
    assert_eq!(h.send(guesser, right), refusal);
    assert!(matches!(h.events()[..], [HubEvent::LoginThrottled { .. }]));
    assert_eq!(h.state("alice"), SessionState::Offline);
    h.at(secs(1));
    h.login("alice");
    assert_eq!(h.state("alice"), SessionState::Online);
}

#[test]
fn wrong_password_does_not_log_out_an_online_user() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    let out = h.send(addr(7777), "alice->server#login<guess><127.0.0.1><7777>");
    assert_eq!(
        out,
        [sent(
            addr(7777),
            "server->alice#Error: password does not match!"
        )]
    );
    assert_eq!(h.state("alice"), SessionState::Online);
    // The token still works and replies still go to alice's own address.
    let out = h.send(home("alice"), chat("alice", "bob", &ta, M1, "still here"));
    assert_sent(
        &out,
        &[
            sent(
                home("alice"),
                format!("server->alice#<{ta}><{M1}>Success: still here"),
            ),
            sent(home("bob"), format!("alice->bob#<{tb}><{M1}>still here")),
        ],
    );
}

#[test]
fn repeat_login_from_the_same_address_changes_nothing() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    // alice owes a receipt, so there is state that a new session would lose.
    h.send(home("bob"), chat("bob", "alice", &tb, M1, "owed"));
    h.events();
    let stats = h.hub.stats();

    assert_eq!(h.login("alice"), ta);
    assert_eq!(h.events(), []);
    assert_eq!(h.hub.stats(), stats);
    assert_eq!(h.state("alice"), SessionState::MessageForward);
    // The forward is still resent, with the same token, to the same place.
    h.at(secs(1));
    assert_eq!(
        h.tick(),
        [sent(home("alice"), format!("bob->alice#<{ta}><{M1}>owed"))]
    );
}

#[test]
fn login_from_another_address_replaces_the_session() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    h.send(home("bob"), chat("bob", "alice", &tb, M1, "owed"));
    h.events();

    let moved = addr(7101);
    let new = h.login_via("alice", moved, moved);
    assert_ne!(new, ta);
    assert_eq!(
        h.events(),
        [HubEvent::LoggedIn {
            id: "alice".into(),
            addr: moved,
            replaced: true
        }]
    );
    // The old token stopped working; the answer goes to the new address.
    let out = h.send(home("alice"), chat("alice", "bob", &ta, M2, "old"));
    assert_eq!(
        out,
        [sent(
            moved,
            format!("server->alice#<{ta}><{M2}>Error: token error!")
        )]
    );
    assert_eq!(h.send(home("alice"), logoff("alice", &ta)), []);
    assert_eq!(
        h.send(home("alice"), chat("alice", "server", &ta, M1, "")),
        []
    );
    assert_eq!(h.state("alice"), SessionState::MessageForward);
    // The new one works.
    let out = h.send(moved, chat("alice", "bob", &new, M2, "new"));
    assert_sent(
        &out,
        &[
            sent(moved, format!("server->alice#<{new}><{M2}>Success: new")),
            sent(home("bob"), format!("alice->bob#<{tb}><{M2}>new")),
        ],
    );
    // What alice still owes a receipt for follows her, with her new token.
    h.at(secs(1));
    assert_sent(
        &h.tick(),
        &[
            sent(moved, format!("bob->alice#<{new}><{M1}>owed")),
            sent(home("bob"), format!("alice->bob#<{tb}><{M2}>new")),
        ],
    );
}

// ---------------------------------------------------------------- messages

#[test]
fn message_is_accepted_and_forwarded_byte_for_byte_with_the_destination_token() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    let bodies: [&[u8]; 5] = [
        b"hello there",
        b"a#b<c>d->e server->bob#<abcdef><0123456789>Success: x",
        b"\xff\xfe not utf-8 \x01\r\n inside",
        b"",
        "h\u{e9}llo \u{1f600}".as_bytes(),
    ];
    for (n, body) in bodies.into_iter().enumerate() {
        let msg_id = format!("{n:010}");
        let out = h.send(home("alice"), chat("alice", "bob", &ta, &msg_id, body));
        let reply = [
            format!("server->alice#<{ta}><{msg_id}>Success: ").as_bytes(),
            body,
        ]
        .concat();
        let forward = chat("alice", "bob", &tb, &msg_id, body);
        assert_sent(
            &out,
            &[sent(home("alice"), reply), sent(home("bob"), forward)],
        );
    }
    // Letters in a message id, and a datagram padded the way C clients pad it.
    let mut padded = chat("alice", "bob", &ta, M3, "padded\r\n");
    padded.extend_from_slice(b"\0junk->x#<>");
    padded.resize(wire::MAX_DATAGRAM, 0xAA);
    let out = h.send(home("alice"), padded);
    assert_sent(
        &out,
        &[
            sent(
                home("alice"),
                format!("server->alice#<{ta}><{M3}>Success: padded"),
            ),
            sent(home("bob"), format!("alice->bob#<{tb}><{M3}>padded")),
        ],
    );
    assert_eq!(h.hub.stats().pending, bodies.len() + 1);
}

#[test]
fn destination_is_message_forward_until_every_receipt_arrives() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    let tc = h.login("carol");
    assert_eq!(h.state("bob"), SessionState::Online);
    h.send(home("alice"), chat("alice", "bob", &ta, M1, "one"));
    assert_eq!(h.state("bob"), SessionState::MessageForward);
    h.send(home("alice"), chat("alice", "bob", &ta, M2, "two"));
    h.send(home("carol"), chat("carol", "bob", &tc, M3, "three"));
    assert_eq!(h.hub.stats().pending, 3);
    // The senders are not waiting for anything.
    assert_eq!(h.state("alice"), SessionState::Online);
    assert_eq!(h.state("carol"), SessionState::Online);

    let receipts = [
        (M2, "Success: two"),
        ("9999999999", "Success: never sent"),
        (M3, "any body at all"),
    ];
    for (msg_id, body) in receipts {
        assert_eq!(
            h.send(home("bob"), chat("bob", "server", &tb, msg_id, body)),
            []
        );
        assert_eq!(h.state("bob"), SessionState::MessageForward, "{msg_id}");
    }
    assert_eq!(h.send(home("bob"), chat("bob", "server", &tb, M1, "")), []);
    assert_eq!(h.state("bob"), SessionState::Online);
    assert_eq!(h.hub.stats().pending, 0);
}

#[test]
fn the_same_msgid_from_two_senders_delivers_both_messages() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    let tc = h.login("carol");
    // Clients that number their messages from 1 pick the same ids.
    let out = h.send(home("alice"), chat("alice", "bob", &ta, M1, "from alice"));
    assert!(out.contains(&sent(
        home("bob"),
        chat("alice", "bob", &tb, M1, "from alice")
    )));
    let out = h.send(home("carol"), chat("carol", "bob", &tc, M1, "from carol"));
    assert_sent(
        &out,
        &[
            sent(
                home("carol"),
                format!("server->carol#<{tc}><{M1}>Success: from carol"),
            ),
            sent(home("bob"), chat("carol", "bob", &tb, M1, "from carol")),
        ],
    );
    // Unreceipted, each is resent as itself.
    h.at(secs(1));
    assert_sent(
        &h.tick(),
        &[
            sent(home("bob"), chat("alice", "bob", &tb, M1, "from alice")),
            sent(home("bob"), chat("carol", "bob", &tb, M1, "from carol")),
        ],
    );
    // bob answers every copy it gets; it takes one receipt per message.
    h.send(home("bob"), chat("bob", "server", &tb, M1, ""));
    assert_eq!(h.state("bob"), SessionState::MessageForward);
    h.send(home("bob"), chat("bob", "server", &tb, M1, ""));
    assert_eq!(h.state("bob"), SessionState::Online);
}

#[test]
fn token_error_echoes_the_token_sent_and_never_the_real_one() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    h.events();
    // One character off, the other user's token, and a made-up one; sent
    // from a socket that is not alice's.
    let mut near = ta.clone().into_bytes();
    near[5] = if near[5] == b'A' { b'B' } else { b'A' };
    let near = String::from_utf8(near).unwrap();
    for wrong in [near.as_str(), tb.as_str(), "~~~~~~"] {
        let out = h.send(addr(7200), chat("alice", "bob", wrong, M1, "hi"));
        assert_eq!(
            out,
            [sent(
                home("alice"),
                format!("server->alice#<{wrong}><{M1}>Error: token error!")
            )]
        );
        assert!(!contains(&out[0].payload, ta.as_bytes()), "{out:?}");
    }
    // Nothing was forwarded, and the message id is not used up; the first
    // wrong token is reported.
    assert_eq!(h.state("bob"), SessionState::Online);
    assert_eq!(
        h.events(),
        [HubEvent::WrongTokens {
            id: "alice".into(),
            count: 1,
            last_from: addr(7200)
        }]
    );
    let out = h.send(home("alice"), chat("alice", "bob", &ta, M1, "hi"));
    assert_eq!(out.len(), 2, "{out:?}");
}

#[test]
fn destination_offline_or_unknown_is_reported() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    for (dest, msg_id) in [("carol", M1), ("nobody", M2)] {
        let out = h.send(home("alice"), chat("alice", dest, &ta, msg_id, "hi"));
        assert_eq!(
            out,
            [sent(
                home("alice"),
                format!("server->alice#<{ta}><{msg_id}>Error: destination offline!")
            )],
            "{dest}"
        );
    }
    h.send(home("bob"), logoff("bob", &tb));
    let out = h.send(home("alice"), chat("alice", "bob", &ta, M3, "hi"));
    assert_eq!(
        out,
        [sent(
            home("alice"),
            format!("server->alice#<{ta}><{M3}>Error: destination offline!")
        )]
    );
    assert_eq!(h.hub.stats().pending, 0);
}

#[test]
fn sender_not_logged_in_is_told_to_log_in_again() {
    let mut h = Harness::new();
    h.login("bob");
    let refused = |id: &str, token: &str, msg_id: &str| {
        format!("server->{id}#<{token}><{msg_id}>Error: please log in again!")
    };
    // Never logged in, or not an account: the answer goes to the source.
    let out = h.send(addr(7300), chat("carol", "bob", "abcdef", M1, "hi"));
    assert_eq!(out, [sent(addr(7300), refused("carol", "abcdef", M1))]);
    let out = h.send(addr(7301), chat("mallory", "bob", "abcdef", M2, "hi"));
    assert_eq!(out, [sent(addr(7301), refused("mallory", "abcdef", M2))]);
    // Logged off: to the address of its last login, with the token as sent.
    let ta = h.login("alice");
    h.send(home("alice"), logoff("alice", &ta));
    let out = h.send(addr(7302), chat("alice", "bob", &ta, M3, "hi"));
    assert_eq!(out, [sent(home("alice"), refused("alice", &ta, M3))]);
    // (Expired: see message_after_the_deadline_is_refused_without_handle_timeout.)
    assert_eq!(h.state("bob"), SessionState::Online);
    assert_eq!(h.hub.stats().pending, 0);
}

#[test]
fn a_client_may_send_from_one_socket_and_receive_on_another() {
    let mut h = Harness::new();
    let (send_from, receive_on) = (addr(7400), addr(7401));
    let ta = h.login_via("alice", send_from, receive_on);
    let tb = h.login("bob");
    let out = h.send(send_from, chat("alice", "bob", &ta, M1, "out"));
    assert_sent(
        &out,
        &[
            sent(
                receive_on,
                format!("server->alice#<{ta}><{M1}>Success: out"),
            ),
            sent(home("bob"), chat("alice", "bob", &tb, M1, "out")),
        ],
    );
    let out = h.send(home("bob"), chat("bob", "alice", &tb, M2, "in"));
    assert!(out.contains(&sent(receive_on, chat("bob", "alice", &ta, M2, "in"))));
    h.send(send_from, chat("alice", "server", &ta, M2, "Success: in"));
    assert_eq!(h.state("alice"), SessionState::Online);
    assert_eq!(
        h.send(send_from, logoff("alice", &ta)),
        [sent(receive_on, format!("server->alice#Success<{ta}>"))]
    );
    // Offline but remembered: still the receiving socket.
    let out = h.send(addr(7402), logoff("alice", "zzzzzz"));
    assert_eq!(
        out,
        [sent(
            receive_on,
            "server->alice#Error: please log in again!"
        )]
    );
}

// ---------------------------------------------------------------- logoff

#[test]
fn logoff_is_answered_then_nothing_more_is_sent_to_the_client() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    h.send(home("alice"), chat("alice", "bob", &ta, M1, "pending"));
    h.events();

    let out = h.send(home("bob"), logoff("bob", &tb));
    assert_eq!(
        out,
        [sent(home("bob"), format!("server->bob#Success<{tb}>"))]
    );
    assert_eq!(h.state("bob"), SessionState::Offline);
    let events = h.events();
    assert!(events.contains(&HubEvent::LoggedOff { id: "bob".into() }));
    assert!(events.iter().any(|e| is_gave_up(e, ("alice", "bob", M1))));

    let out = h.send(home("alice"), chat("alice", "bob", &ta, M2, "too late"));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].to, home("alice"));
    // No resends of what was pending, at any time.
    for s in [1, 3, 7, 15, 31, 63, 299, 300, 1000] {
        h.at(secs(s));
        let out = h.tick();
        assert!(out.iter().all(|s| s.to != home("bob")), "{out:?}");
    }
}

#[test]
fn a_resent_logoff_is_answered_success_again() {
    let mut h = Harness::new();
    let tb = h.login("bob");
    let success = [sent(home("bob"), format!("server->bob#Success<{tb}>"))];
    assert_eq!(h.send(home("bob"), logoff("bob", &tb)), success);
    h.events();
    assert_eq!(h.send(home("bob"), logoff("bob", &tb)), success);
    assert_eq!(h.events(), []);
    assert_eq!(h.state("bob"), SessionState::Offline);
    // A late copy does not end the next session.
    let new = h.login("bob");
    assert_eq!(h.send(home("bob"), logoff("bob", &tb)), []);
    assert_eq!(h.state("bob"), SessionState::Online);
    assert_eq!(
        h.send(home("bob"), logoff("bob", &new)),
        [sent(home("bob"), format!("server->bob#Success<{new}>"))]
    );
}

#[test]
fn logoff_while_not_logged_in_is_told_to_log_in_again() {
    let mut h = Harness::new();
    // Never logged in, and not an account: to the source.
    for id in ["bob", "mallory"] {
        let out = h.send(addr(7500), logoff(id, "abcdef"));
        let text = format!("server->{id}#Error: please log in again!");
        assert_eq!(out, [sent(addr(7500), text)]);
    }
    // Logged off, with another token than the session's: to its address.
    let tb = h.login("bob");
    h.send(home("bob"), logoff("bob", &tb));
    let out = h.send(addr(7500), logoff("bob", "abcdef"));
    assert_eq!(
        out,
        [sent(home("bob"), "server->bob#Error: please log in again!")]
    );
    // Expired: the token is no longer the session's.
    let tc = h.login("carol");
    h.at(HubConfig::default().session_timeout);
    let out = h.send(home("carol"), logoff("carol", &tc));
    assert_eq!(
        out,
        [sent(
            home("carol"),
            "server->carol#Error: please log in again!"
        )]
    );
    assert_eq!(h.state("carol"), SessionState::Offline);
}

#[test]
fn logoff_with_a_wrong_token_is_dropped_and_keeps_the_session() {
    let mut h = Harness::new();
    let tb = h.login("bob");
    h.events();
    assert_eq!(h.send(addr(7600), logoff("bob", "abcdef")), []);
    let events = h.events();
    assert!(matches!(events[0], HubEvent::WrongTokens { count: 1, .. }));
    assert!(is_dropped(
        &events[1],
        addr(7600),
        DropReason::TokenMismatch
    ));
    assert_eq!(h.state("bob"), SessionState::Online);
    assert_eq!(
        h.send(home("bob"), logoff("bob", &tb)),
        [sent(home("bob"), format!("server->bob#Success<{tb}>"))]
    );
}

// ---------------------------------------------------------------- expiry

#[test]
fn session_expires_exactly_at_the_timeout_through_handle_timeout() {
    let mut h = Harness::new();
    let timeout = HubConfig::default().session_timeout;
    h.login("alice");
    h.events();
    assert_eq!(h.hub.poll_timeout(), Some(h.t0 + timeout));

    h.at(timeout - NANO);
    assert_eq!(h.tick(), []);
    assert_eq!(h.state("alice"), SessionState::Online);
    assert_eq!(h.events(), []);

    h.at(timeout);
    // The client is not told.
    assert_eq!(h.tick(), []);
    assert_eq!(h.state("alice"), SessionState::Offline);
    assert_eq!(h.events(), [HubEvent::Expired { id: "alice".into() }]);
    assert_eq!(h.hub.stats(), HubStats::default());
    assert_eq!(h.hub.poll_timeout(), None);
}

#[test]
fn only_valid_datagrams_extend_the_session() {
    let mut h = Harness::new();
    let timeout = HubConfig::default().session_timeout;
    let ta = h.login("alice");
    let tb = h.login("bob");
    // At 200 s alice sends a message and bob receipts it.
    h.at(secs(200));
    h.send(home("alice"), chat("alice", "bob", &ta, M1, "hi"));
    h.send(home("bob"), chat("bob", "server", &tb, M1, "Success: hi"));
    h.at(timeout);
    assert_eq!(h.tick(), []);
    assert_eq!(h.state("alice"), SessionState::Online);
    assert_eq!(h.state("bob"), SessionState::Online);
    assert_eq!(h.hub.poll_timeout(), Some(h.t0 + secs(200) + timeout));
    // What is refused or dropped is no sign of life.
    h.at(secs(400));
    h.send(addr(7700), chat("alice", "bob", "abcdef", M2, "x"));
    h.send(addr(7700), logoff("alice", "abcdef"));
    h.send(addr(7700), "alice->server#login<guess><127.0.0.1><7700>");
    h.send(addr(7700), chat("bob", "server", "abcdef", M1, ""));
    h.send(addr(7700), format!("server->bob#Success<{tb}>"));
    h.events();

    h.at(secs(200) + timeout - NANO);
    h.tick();
    assert_eq!(h.state("alice"), SessionState::Online);
    assert_eq!(h.state("bob"), SessionState::Online);
    h.at(secs(200) + timeout);
    h.tick();
    assert_eq!(h.state("alice"), SessionState::Offline);
    assert_eq!(h.state("bob"), SessionState::Offline);
    let mut expired = h.events();
    expired.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(
        expired,
        [
            HubEvent::Expired { id: "alice".into() },
            HubEvent::Expired { id: "bob".into() }
        ]
    );
}

#[test]
fn message_after_the_deadline_is_refused_without_handle_timeout() {
    let mut h = Harness::new();
    let timeout = HubConfig::default().session_timeout;
    let ta = h.login("alice");
    let tb = h.login("bob");
    h.events();
    h.at(timeout);
    let out = h.send(home("alice"), chat("alice", "bob", &ta, M1, "hi"));
    assert_eq!(
        out,
        [sent(
            home("alice"),
            format!("server->alice#<{ta}><{M1}>Error: please log in again!")
        )]
    );
    assert_eq!(h.state("alice"), SessionState::Offline);
    assert_eq!(h.events(), [HubEvent::Expired { id: "alice".into() }]);
    // An expired destination is offline too, and an expired receipt dropped.
    let tc = h.login("carol");
    assert_ne!(h.login("alice"), ta);
    let out = h.send(home("carol"), chat("carol", "bob", &tc, M2, "hi"));
    assert_eq!(
        out,
        [sent(
            home("carol"),
            format!("server->carol#<{tc}><{M2}>Error: destination offline!")
        )]
    );
    assert_eq!(h.state("bob"), SessionState::Offline);
    assert_eq!(h.send(home("bob"), chat("bob", "server", &tb, M1, "")), []);
}

// ---------------------------------------------------------------- duplicates

#[test]
fn a_resent_message_is_answered_again_but_forwarded_once() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    let message = chat("alice", "bob", &ta, M1, "once");
    let reply = sent(
        home("alice"),
        format!("server->alice#<{ta}><{M1}>Success: once"),
    );
    let out = h.send(home("alice"), &message);
    assert_sent(
        &out,
        &[
            reply.clone(),
            sent(home("bob"), chat("alice", "bob", &tb, M1, "once")),
        ],
    );
    assert_eq!(
        h.send(home("alice"), &message),
        std::slice::from_ref(&reply)
    );
    assert_eq!(h.hub.stats().pending, 1);
    // Also after bob receipted it.
    h.send(home("bob"), chat("bob", "server", &tb, M1, ""));
    assert_eq!(h.send(home("alice"), &message), [reply]);
    assert_eq!(h.state("bob"), SessionState::Online);

    // "destination offline" is answered again the same, even once the
    // destination came online: the message was never accepted.
    let to_carol = chat("alice", "carol", &ta, M2, "late");
    let offline = h.send(home("alice"), &to_carol);
    h.login("carol");
    assert_eq!(h.send(home("alice"), &to_carol), offline);
    assert_eq!(h.state("carol"), SessionState::Online);
}

#[test]
fn unreceipted_forward_is_resent_with_capped_backoff_while_the_session_lives() {
    let config = HubConfig::default();
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    h.send(home("alice"), chat("alice", "bob", &ta, M1, "ping"));
    h.events();
    let forward = sent(home("bob"), chat("alice", "bob", &tb, M1, "ping"));

    // 1, 2, 4, 8, 16 s apart, then every 30 s, until bob's session, silent
    // since its login, expires at 300 s.
    let mut due = Duration::ZERO;
    let mut waits = Vec::new();
    for resend in 1.. {
        let wait = config.resend_wait(resend - 1);
        if due + wait >= config.session_timeout {
            break;
        }
        due += wait;
        waits.push(wait.as_secs());
        assert_eq!(h.hub.poll_timeout(), Some(h.t0 + due), "resend {resend}");
        h.at(due - NANO);
        assert_eq!(h.tick(), [], "resend {resend}");
        h.at(due);
        assert_eq!(h.tick(), std::slice::from_ref(&forward), "resend {resend}");
        assert_eq!(h.state("bob"), SessionState::MessageForward);
    }
    assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30, 30, 30, 30, 30, 30]);
    assert_eq!(h.events(), []);
    // Given up only when the session ends.
    h.at(config.session_timeout);
    assert_eq!(h.tick(), []);
    let events = h.events();
    assert!(
        events.iter().any(|e| is_gave_up(e, ("alice", "bob", M1))),
        "{events:?}"
    );
    assert_eq!(h.state("bob"), SessionState::Offline);
    assert_eq!(h.hub.stats().pending, 0);
}

/// A destination that stays online gets its forward, however long the
/// loss lasts: the hub does not give up on it while the session lives.
#[test]
fn a_forward_to_a_client_that_stays_online_is_never_given_up() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    h.send(home("alice"), chat("alice", "bob", &ta, M1, "ping"));
    let forward = sent(home("bob"), chat("alice", "bob", &tb, M1, "ping"));
    let mut copies = 0;
    // An hour in which every copy and every receipt is lost, while bob
    // keeps his session alive with a message to himself a minute.
    for second in 1..=3600 {
        h.at(secs(second));
        copies += h.tick().iter().filter(|d| **d == forward).count();
        if second % 60 == 0 {
            let id = format!("{second:010}");
            h.send(home("bob"), chat("bob", "bob", &tb, &id, "alive"));
        }
    }
    assert!(copies > 100, "{copies} copies");
    assert!(!h
        .events()
        .iter()
        .any(|e| matches!(e, HubEvent::GaveUp { .. })));
    // The receipt at last.
    h.send(home("bob"), chat("bob", "server", &tb, M1, ""));
    assert_eq!(h.hub.stats().pending, 60, "bob's own, never receipted");
}

#[test]
fn a_receipt_stops_the_resends() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    h.send(home("alice"), chat("alice", "bob", &ta, M1, "ping"));
    h.at(secs(1));
    assert_eq!(h.tick().len(), 1);
    h.send(home("bob"), chat("bob", "server", &tb, M1, "Success: ping"));
    assert_eq!(h.state("bob"), SessionState::Online);
    for s in [3, 7, 15, 31, 63, 200] {
        h.at(secs(s));
        assert_eq!(h.tick(), [], "at {s} s");
    }
    assert!(!h
        .events()
        .iter()
        .any(|e| matches!(e, HubEvent::GaveUp { .. })));
}

#[test]
fn duplicate_receipts_are_harmless() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    h.send(home("alice"), chat("alice", "bob", &ta, M1, "one"));
    h.send(home("alice"), chat("alice", "bob", &ta, M2, "two"));
    h.events();
    let receipt = chat("bob", "server", &tb, M1, "Success: one");
    for _ in 0..3 {
        assert_eq!(h.send(home("bob"), &receipt), []);
    }
    assert_eq!(h.state("bob"), SessionState::MessageForward);
    assert_eq!(h.hub.stats().pending, 1);
    h.at(secs(1));
    assert_eq!(
        h.tick(),
        [sent(home("bob"), chat("alice", "bob", &tb, M2, "two"))]
    );
    let receipt = chat("bob", "server", &tb, M2, "Success: two");
    for _ in 0..3 {
        assert_eq!(h.send(home("bob"), &receipt), []);
    }
    assert_eq!(h.state("bob"), SessionState::Online);
    assert_eq!(h.events(), []);
}

#[test]
fn receipts_from_outside_the_session_are_dropped() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    h.send(home("alice"), chat("alice", "bob", &ta, M1, "one"));
    h.events();
    let cases = [
        (
            chat("carol", "server", "abcdef", M1, ""),
            DropReason::NotLoggedIn,
        ),
        (
            chat("mallory", "server", "abcdef", M1, ""),
            DropReason::NotLoggedIn,
        ),
        (
            chat("bob", "server", &ta, M1, ""),
            DropReason::TokenMismatch,
        ),
    ];
    for (receipt, reason) in cases {
        assert_eq!(h.send(addr(7800), receipt), []);
        let events = h.events();
        let last = events.last().expect("an event");
        assert!(is_dropped(last, addr(7800), reason), "{events:?}");
        assert_eq!(h.state("bob"), SessionState::MessageForward);
    }
    // A receipt from the sender is not the destination's.
    assert_eq!(
        h.send(home("alice"), chat("alice", "server", &ta, M1, "")),
        []
    );
    assert_eq!(h.state("bob"), SessionState::MessageForward);
    h.send(home("bob"), chat("bob", "server", &tb, M1, ""));
    assert_eq!(h.state("bob"), SessionState::Online);
}

// ---------------------------------------------------------------- bounds

#[test]
fn a_destination_that_never_receipts_holds_at_most_max_pending() {
    let config = HubConfig::default();
    let accounts = ACCOUNTS.len();
    let mut h = Harness::new();
    let ta = h.login("alice");
    h.login("bob");
    let sent_count = 1000;
    for n in 0..sent_count {
        h.at(Duration::from_millis(n as u64 * 10));
        let out = h.send(
            home("alice"),
            chat("alice", "bob", &ta, &format!("{n:010}"), "x"),
        );
        assert_eq!(out.len(), 2);
        h.tick();
        let stats = h.hub.stats();
        assert!(stats.pending <= config.max_pending, "{stats:?}");
        assert!(stats.remembered_ids <= config.remembered_ids, "{stats:?}");
        assert!(stats.timers <= 2 * accounts, "{stats:?}");
    }
    assert_eq!(h.hub.stats().pending, config.max_pending);
    assert_eq!(h.hub.stats().remembered_ids, config.remembered_ids);
    // Every message is accounted for: given up, or still pending.
    let gave_up = h
        .events()
        .iter()
        .filter(|e| matches!(e, HubEvent::GaveUp { .. }))
        .count();
    assert_eq!(gave_up + config.max_pending, sent_count);
    // The most recent id is still recognised as a resend.
    let last = format!("{:010}", sent_count - 1);
    assert_eq!(
        h.send(home("alice"), chat("alice", "bob", &ta, &last, "x"))
            .len(),
        1
    );
}

#[test]
fn steady_traffic_keeps_the_timer_queue_bounded() {
    // Each forward arms a resend timer, and each receipted forward leaves
    // behind an expiry deadline; a busy but healthy conversation must not
    // pile those up for a whole session timeout.
    let accounts = ACCOUNTS.len();
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    for n in 0..1000u64 {
        h.at(secs(2 * n));
        h.tick();
        let msg_id = format!("{n:010}");
        h.send(home("alice"), chat("alice", "bob", &ta, &msg_id, "x"));
        h.send(home("bob"), chat("bob", "server", &tb, &msg_id, ""));
        h.send(home("bob"), chat("bob", "alice", &tb, &msg_id, "y"));
        h.send(home("alice"), chat("alice", "server", &ta, &msg_id, ""));
        let stats = h.hub.stats();
        assert!(stats.timers <= 2 * accounts, "after {n} rounds: {stats:?}");
    }
    assert_eq!(h.state("alice"), SessionState::Online);
    assert_eq!(h.state("bob"), SessionState::Online);
}

/// A datagram that a confused or hostile peer might send, often close to a
/// valid one; `tokens` holds the tokens seen on the wire so far.
fn hostile_datagram(rng: &mut StdRng, tokens: &HashMap<String, String>) -> Vec<u8> {
    const IDS: [&str; 6] = ["alice", "bob", "carol", "dave", "mallory", "server"];
    let pick = |rng: &mut StdRng| IDS[rng.random_range(0..IDS.len())];
    let (from, to) = (pick(rng), pick(rng));
    let token = match tokens.get(from) {
        Some(token) if rng.random_bool(0.8) => token.clone(),
        _ => (0..6)
            .map(|_| {
                let alphabet = SessionToken::ALPHABET;
                alphabet[rng.random_range(0..alphabet.len())] as char
            })
            .collect(),
    };
    // A small pool of ids, so that resends and collisions happen.
    let msg_id = format!("{:010}", rng.random_range(0..30));
    let datagram = match rng.random_range(0..10) {
        0 => {
            let len = rng.random_range(0..1100);
            (0..len).map(|_| rng.random()).collect()
        }
        1 | 2 => {
            let password = if rng.random_bool(0.7) {
                password(from)
            } else {
                "guess"
            };
            let port = rng.random_range(6000..6010);
            let address = [
                "",
                &format!("<0.0.0.0><{port}>"),
                &format!("<127.0.0.1><{port}>"),
            ][rng.random_range(0..3)]
            .to_owned();
            format!("{from}->server#login<{password}>{address}").into_bytes()
        }
        // Many messages go to dave, who never receipts.
        3..=5 => {
            let to = if rng.random_bool(0.5) { "dave" } else { to };
            let body: Vec<u8> = (0..rng.random_range(0..40)).map(|_| rng.random()).collect();
            chat(from, to, &token, &msg_id, body)
        }
        6 if from != "dave" => chat(from, "server", &token, &msg_id, "Success: x"),
        7 => logoff(from, &token).into_bytes(),
        8 => format!("server->{to}#<{token}><{msg_id}>Success: x").into_bytes(),
        _ => format!("{from}->{to}#<{token}>garbage").into_bytes(),
    };
    // Sometimes damaged on the way.
    let mut datagram = datagram;
    if !datagram.is_empty() && rng.random_bool(0.2) {
        let at = rng.random_range(0..datagram.len());
        if rng.random_bool(0.5) {
            datagram[at] = rng.random();
        } else {
            datagram.truncate(at);
        }
    }
    datagram
}

#[test]
fn hostile_traffic_keeps_memory_bounded() {
    hostile_run(50_000);
}

/// Issue 5's figure: run in CI with `cargo test --release -- --ignored`.
#[test]
#[ignore = "a million cases: run with --release -- --ignored"]
fn a_million_hostile_datagrams_keep_memory_bounded() {
    hostile_run(1_000_000);
}

/// Feeds `cases` seeded hostile datagrams from 1,000 addresses, checking after
/// each that memory stays within its bounds, then lets every session expire
/// and checks that nothing is left behind.
fn hostile_run(cases: usize) {
    let config = HubConfig {
        session_timeout: secs(20),
        resend_after: Duration::from_millis(100),
        max_resend_interval: Duration::from_millis(400),
        remembered_ids: 8,
        max_pending: 8,
        trace: true,
        throttle: ThrottleConfig {
            max_tracked: 100,
            ..ThrottleConfig::default()
        },
    };
    let accounts = ACCOUNTS.len();
    let mut h = Harness::with(config.clone());
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let sources: Vec<SocketAddr> = (0..1000u16)
        .map(|i| SocketAddr::from(([10, 0, (i / 250) as u8, (i % 250) as u8], 5000 + i)))
        .collect();
    let mut tokens = HashMap::new();
    let (mut accepted, mut max_pending_seen, mut drops) = (0, 0, 0);
    for _ in 0..cases {
        h.now += Duration::from_millis(rng.random_range(0..200));
        if h.hub.poll_timeout().is_some_and(|at| at <= h.now) && rng.random_bool(0.9) {
            h.tick();
        }
        let source = sources[rng.random_range(0..sources.len())];
        let datagram = hostile_datagram(&mut rng, &tokens);
        let out = h.send(source, &datagram);
        // Never more than a reply and a forward per datagram.
        assert!(out.len() <= 2, "{out:?}");
        for s in &out {
            match wire::parse(&s.payload) {
                Ok(Message::Success { to, token }) => {
                    tokens.insert(to.to_owned(), token.as_str().to_owned());
                }
                Ok(Message::Reply {
                    outcome: wire::Outcome::Accepted(_),
                    ..
                }) => accepted += 1,
                _ => {}
            }
        }
        drops += h
            .events()
            .iter()
            .filter(|e| matches!(e, HubEvent::Dropped { .. }))
            .count();
        let stats = h.hub.stats();
        assert!(stats.online <= accounts, "{stats:?}");
        assert!(
            stats.pending <= config.max_pending * stats.online,
            "{stats:?}"
        );
        assert!(
            stats.remembered_ids <= config.remembered_ids * stats.online,
            "{stats:?}"
        );
        assert!(stats.timers <= 2 * accounts, "{stats:?}");
        assert!(stats.throttled_ips <= 100, "{stats:?}");
        assert!(stats.throttled_pairs <= 100, "{stats:?}");
        assert!(stats.token_sources <= 1_000, "{stats:?}");
        max_pending_seen = max_pending_seen.max(stats.pending);
    }
    // The loop did exercise the hub.
    assert!(accepted > 1000, "{accepted} messages accepted");
    assert!(drops > 1000, "{drops} datagrams dropped");
    assert!(max_pending_seen >= config.max_pending, "{max_pending_seen}");
    // Once every client falls silent, the hub lets go of everything.
    h.now += config.session_timeout;
    h.tick();
    let stats = h.hub.stats();
    assert_eq!(
        (stats.online, stats.pending, stats.remembered_ids),
        (0, 0, 0)
    );
    assert_eq!(h.hub.poll_timeout(), None, "{stats:?}");
}

// ---------------------------------------------------------------- dropped

#[test]
fn server_datagrams_and_garbage_are_dropped_and_change_nothing() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    h.send(home("alice"), chat("alice", "bob", &ta, M1, "pending"));
    h.events();
    let (stats, deadline) = (h.hub.stats(), h.hub.poll_timeout());
    h.at(secs(100));

    let server_only: Vec<Vec<u8>> = [
        format!("server->alice#Success<{ta}>"),
        "server->alice#Error: password does not match!".into(),
        "server->alice#Error: please log in again!".into(),
        format!("server->alice#<{ta}><{M1}>Success: hi"),
        format!("server->bob#<{tb}><{M1}>Error: token error!"),
        format!("server->bob#<{tb}><{M1}>Error: destination offline!"),
        format!("server->bob#<{tb}><{M1}>Error: please log in again!"),
    ]
    .map(String::into_bytes)
    .into();
    let mut too_long = chat("alice", "bob", &ta, M2, "");
    too_long.resize(wire::MAX_DATAGRAM + 1, b'x');
    let garbage: Vec<Vec<u8>> = [
        "",
        "hello",
        "\r\n",
        "alice->bob",
        "alice->bob#",
        "alice->server#hello",
        "alice->server#login<wonder land",
        "alice->server#login<wonder land><127.0.0.1>",
        "alice->server#login<wonder land><nowhere><6001>",
        "alice->server#login<wonder land><127.0.0.1><0>",
        "alice->server#login<wonder land><127.0.0.1><70000>",
        "al ice->bob#<abcdef><0123456789>x",
        "server->server#<abcdef><0123456789>x",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa->bob#<abcdef><0123456789>x",
    ]
    .map(|s| s.as_bytes().to_vec())
    .into_iter()
    .chain([
        format!("alice->bob#<{ta}>no message id").into_bytes(),
        format!("alice->bob#<{ta}><123456789>nine").into_bytes(),
        format!("alice->bob#<{ta}x><{M2}>long token").into_bytes(),
        format!("alice->server#logoff<{ta}>trailing").into_bytes(),
        b"\xff\xfe->\x80#<\x00>".to_vec(),
        too_long,
    ])
    .collect();

    for (datagrams, server) in [(server_only, true), (garbage, false)] {
        for datagram in datagrams {
            let shown = datagram.escape_ascii().to_string();
            assert_eq!(h.send(addr(7900), &datagram), [], "{shown}");
            let events = h.events();
            assert!(
                matches!(&events[..], [HubEvent::Dropped { source, reason }]
                    if *source == addr(7900)
                    && (*reason == DropReason::ServerMessage) == server),
                "{shown}: {events:?}"
            );
        }
    }
    assert_eq!(h.hub.stats(), stats);
    assert_eq!(h.hub.poll_timeout(), deadline);
    assert_eq!(h.state("alice"), SessionState::Online);
    assert_eq!(h.state("bob"), SessionState::MessageForward);
    assert_eq!(h.state("carol"), SessionState::Offline);
    // Not even a sign of life: the sessions expire on time.
    h.at(HubConfig::default().session_timeout);
    h.tick();
    assert_eq!(h.state("alice"), SessionState::Offline);
    assert_eq!(h.state("bob"), SessionState::Offline);
}

// ---------------------------------------------------------------- tracing

/// Walks every edge of the diagram once; returns the transitions reported.
fn walk_the_diagram(config: HubConfig) -> Vec<(String, SessionState, SessionState)> {
    let mut h = Harness::with(config.clone());
    let ta = h.login("alice");
    let tb = h.login("bob");
    h.send(home("alice"), chat("alice", "bob", &ta, M1, "one"));
    h.send(home("bob"), chat("bob", "server", &tb, M1, ""));
    h.send(home("alice"), chat("alice", "bob", &ta, M2, "two"));
    // Resent twice, then receipted.
    let spent = config.resend_wait(0) + config.resend_wait(1);
    h.at(spent);
    h.tick();
    h.send(home("bob"), chat("bob", "server", &tb, M2, ""));
    h.send(home("alice"), chat("alice", "bob", &ta, M3, "three"));
    h.send(home("bob"), logoff("bob", &tb));
    h.at(config.session_timeout + spent);
    h.tick();
    h.events()
        .into_iter()
        .filter_map(|e| match e {
            HubEvent::Transition { id, from, to, .. } => Some((id, from, to)),
            _ => None,
        })
        .collect()
}

#[test]
fn trace_reports_every_transition_of_the_diagram() {
    use SessionState::*;
    let transitions = walk_the_diagram(HubConfig {
        trace: true,
        ..HubConfig::default()
    });
    let expected: Vec<(String, SessionState, SessionState)> = [
        ("alice", Offline, LoginReceived),
        ("alice", LoginReceived, Online),
        ("bob", Offline, LoginReceived),
        ("bob", LoginReceived, Online),
        ("bob", Online, MessageForward),
        ("bob", MessageForward, Online),
        ("bob", Online, MessageForward),
        ("bob", MessageForward, Online),
        ("bob", Online, MessageForward),
        ("bob", MessageForward, Offline),
        ("alice", Online, Offline),
    ]
    .map(|(id, from, to)| (id.to_owned(), from, to))
    .into();
    assert_eq!(transitions, expected);
    assert_eq!(walk_the_diagram(HubConfig::default()), []);
}
