//! Keeps the diagrams honest:
//!
//! - every Mermaid block is in the syntax our diagrams use, and every
//!   message drawn in a sequence diagram is a datagram of the wire format;
//! - the Mermaid state diagrams in docs/protocol.md name exactly the states of
//!   `SessionState::ALL` and `ClientState::ALL`, and draw exactly the
//!   transitions the hub and the client make when driven through every case.

mod common;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::markdown::{code_blocks, documents, name, root};
use reactor_hub::accounts::Accounts;
use reactor_hub::client::{Client, ClientConfig, ClientEvent, ClientState};
use reactor_hub::hub::{Hub, HubConfig, HubEvent, SessionState};
use reactor_hub::wire::ReplyTo;

/// The state diagrams of docs/protocol.md, by the enum their first comment
/// names: states, and transitions other than from `[*]`.
fn state_diagram(enum_name: &str) -> (BTreeSet<String>, BTreeSet<(String, String)>) {
    let text = std::fs::read_to_string(root().join("docs/protocol.md")).expect("docs/protocol.md");
    let (_, lines) = code_blocks(&text)
        .into_iter()
        .find(|(info, lines)| {
            info == "mermaid"
                && lines.first().is_some_and(|l| l.trim() == "stateDiagram-v2")
                && lines
                    .get(1)
                    .is_some_and(|l| l.trim().starts_with(&format!("%% {enum_name},")))
        })
        .unwrap_or_else(|| panic!("docs/protocol.md has no state diagram of {enum_name}"));
    let mut states = BTreeSet::new();
    let mut transitions = BTreeSet::new();
    for line in &lines[2..] {
        let arrow = line.split(':').next().unwrap_or(line);
        let Some((from, to)) = arrow.split_once("-->") else {
            continue;
        };
        let (from, to) = (from.trim().to_owned(), to.trim().to_owned());
        for state in [&from, &to] {
            if state != "[*]" {
                states.insert(state.clone());
            }
        }
        if from != "[*]" {
            transitions.insert((from, to));
        }
    }
    (states, transitions)
}

fn pairs<S: ToString>(transitions: impl IntoIterator<Item = (S, S)>) -> BTreeSet<(String, String)> {
    transitions
        .into_iter()
        .map(|(from, to)| (from.to_string(), to.to_string()))
        .collect()
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Drives a hub through every case of its diagram; returns the transitions
/// it reported.
fn hub_transitions() -> BTreeSet<(String, String)> {
    let accounts = Accounts::parse("alice:wonderland\nbob:builder\ncarol:s3cret\n").unwrap();
    let config = HubConfig {
        trace: true,
        ..HubConfig::default()
    };
    let resend_after = config.resend_after;
    let timeout = config.session_timeout;
    let mut hub = Hub::new(accounts, config);
    let mut now = Instant::now();
    let mut seen = Vec::new();
    let (alice, bob, carol) = (addr(40001), addr(40002), addr(40003));
    // Sends a datagram; returns the token of a `Success<TOKEN>` reply, if one.
    let send = |hub: &mut Hub, now: Instant, from: SocketAddr, text: &str| -> Option<String> {
        hub.handle_datagram(now, from, text.as_bytes());
        let mut token = None;
        while let Some(transmit) = hub.poll_transmit() {
            let reply = String::from_utf8_lossy(transmit.payload);
            if let Some(t) = reply.split("#Success<").nth(1) {
                token = Some(t.trim_end_matches('>').to_owned());
            }
        }
        token
    };
    let alice_token = send(&mut hub, now, alice, "alice->server#login<wonderland>").unwrap();
    let bob_token = send(&mut hub, now, bob, "bob->server#login<builder>").unwrap();
    // Wrong passwords: offline, online, and (below) with forwards pending.
    send(&mut hub, now, carol, "carol->server#login<wrong>");
    send(&mut hub, now, bob, "bob->server#login<wrong>");
    // A message, its receipt; another, and bob logs in again while it waits.
    let chat = |id: &str| format!("alice->bob#<{alice_token}><{id}>hello");
    send(&mut hub, now, alice, &chat("0000000001"));
    let receipt = format!("bob->server#<{bob_token}><0000000001>Success: hello");
    send(&mut hub, now, bob, &receipt);
    send(&mut hub, now, alice, &chat("0000000002"));
    send(&mut hub, now, bob, "bob->server#login<wrong>");
    let bob_token = send(&mut hub, now, bob, "bob->server#login<builder>").unwrap();
    // Its resends run out: back to ONLINE.
    for _ in 0..6 {
        now += resend_after * 32;
        send(&mut hub, now, alice, &chat("0000000003"));
        let receipt = format!("bob->server#<{bob_token}><0000000003>Success: hello");
        send(&mut hub, now, bob, &receipt);
        hub.handle_timeout(now);
    }
    // Logoff while a forward waits; alice logs in again, then off.
    send(&mut hub, now, alice, &chat("0000000004"));
    send(
        &mut hub,
        now,
        bob,
        &format!("bob->server#logoff<{bob_token}>"),
    );
    send(&mut hub, now, alice, "alice->server#login<wonderland>");
    send(
        &mut hub,
        now,
        alice,
        &format!("alice->server#logoff<{alice_token}>"),
    );
    // Expiry, online and with a forward waiting.
    let alice_token = send(&mut hub, now, alice, "alice->server#login<wonderland>").unwrap();
    send(&mut hub, now, bob, "bob->server#login<builder>").unwrap();
    send(
        &mut hub,
        now,
        alice,
        &format!("alice->bob#<{alice_token}><0000000005>hi"),
    );
    now += timeout;
    hub.handle_timeout(now);
    while let Some(event) = hub.poll_event() {
        if let HubEvent::Transition { from, to, .. } = event {
            seen.push((from, to));
        }
    }
    pairs(seen)
}

thread_local! {
    /// The transitions the clients of this thread reported, `(FROM, TO)`.
    static CLIENT_TRANSITIONS: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
}

/// A client with a fake clock, and the server's side of the conversation.
struct Person {
    client: Client,
    now: Instant,
    server: SocketAddr,
    /// The last datagram the client sent.
    sent: String,
}

impl Person {
    fn new() -> Self {
        let server = addr(32000);
        let config = ClientConfig {
            trace: true,
            ..ClientConfig::default()
        };
        let client = Client::new(server, ReplyTo::Addr(addr(40001)), config);
        Self {
            client,
            now: Instant::now(),
            server,
            sent: String::new(),
        }
    }

    fn take(&mut self) {
        while let Some(transmit) = self.client.poll_transmit() {
            self.sent = String::from_utf8_lossy(transmit.payload).into_owned();
        }
        while let Some(event) = self.client.poll_event() {
            if let ClientEvent::Transition { from, to, .. } = event {
                let pair = (from.to_string(), to.to_string());
                CLIENT_TRANSITIONS.with(|all| all.borrow_mut().push(pair));
            }
        }
    }

    fn types(&mut self, line: &str) -> &mut Self {
        self.client.handle_line(self.now, line.as_bytes());
        self.take();
        self
    }

    fn hears(&mut self, text: &str) -> &mut Self {
        self.client
            .handle_datagram(self.now, self.server, text.as_bytes());
        self.take();
        self
    }

    /// The server answers the message in flight with `outcome`.
    fn reply(&mut self, outcome: &str) -> &mut Self {
        let (_, fields) = self.sent.split_once("#<").expect("a message in flight");
        let (token, rest) = fields.split_once("><").expect("a token");
        let msg_id = &rest[..10];
        self.hears(&format!("server->alice#<{token}><{msg_id}>{outcome}"))
    }

    /// Time passes until the client gives up on what is in flight.
    fn waits(&mut self) -> &mut Self {
        for _ in 0..10 {
            self.now += Duration::from_secs(10);
            self.client.handle_timeout(self.now);
            self.take();
        }
        self
    }

    fn online() -> Self {
        let mut person = Self::new();
        person
            .types("alice->server#login<wonderland>")
            .hears("server->alice#Success<abc123>");
        assert_eq!(person.client.state(), ClientState::Online);
        person
    }
}

/// Drives clients through every case of their diagram; returns the
/// transitions they traced.
fn client_transitions() -> BTreeSet<(String, String)> {
    CLIENT_TRANSITIONS.with(|all| all.borrow_mut().clear());
    Person::new()
        .types("alice->server#login<wrong>")
        .hears("server->alice#Error: password does not match!");
    Person::new()
        .types("alice->server#login<wonderland>")
        .waits();
    for outcome in [
        "Success: hello",
        "Error: destination offline!",
        "Error: token error!",
        "Error: please log in again!",
    ] {
        Person::online().types("alice->bob#hello").reply(outcome);
    }
    Person::online().types("alice->bob#hello").waits();
    Person::online().hears("server->alice#Error: please log in again!");
    Person::online()
        .types("alice->server#login<wonderland>")
        .hears("server->alice#Success<abc123>");
    Person::online()
        .types("alice->server#logoff")
        .hears("server->alice#Success<abc123>");
    Person::online()
        .types("alice->server#logoff")
        .hears("server->alice#Error: please log in again!");
    Person::online().types("alice->server#logoff").waits();
    let mut person = Person::online();
    person.client.handle_end_of_input(person.now);
    person.take();
    let mut person = Person::online();
    person.client.handle_interrupt(person.now);
    person.take();
    CLIENT_TRANSITIONS.with(|all| all.borrow().iter().cloned().collect())
}

#[test]
fn the_server_diagram_matches_session_state_and_the_hub() {
    let (states, transitions) = state_diagram("SessionState");
    let names: BTreeSet<String> = SessionState::ALL.iter().map(|s| s.name().into()).collect();
    assert_eq!(
        states, names,
        "the diagram's states against SessionState::ALL"
    );
    assert_eq!(
        transitions,
        hub_transitions(),
        "the diagram's arrows (left) against what the hub does (right)"
    );
}

#[test]
fn the_client_diagram_matches_client_state_and_the_client() {
    let (states, transitions) = state_diagram("ClientState");
    let names: BTreeSet<String> = ClientState::ALL.iter().map(|s| s.name().into()).collect();
    assert_eq!(
        states, names,
        "the diagram's states against ClientState::ALL"
    );
    assert_eq!(
        transitions,
        client_transitions(),
        "the diagram's arrows (left) against what the client does (right)"
    );
}

/// Mermaid's entity codes decoded (`#35;` is `#`, `#lt;` is `<`); an error
/// names a `#` that starts none, which Mermaid would eat (it reads `#...;`
/// as an entity and a bare `#` breaks or vanishes), or a bare `;`, `<`, `>`,
/// which it reads as a statement end and HTML.
fn decode_mermaid(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(['#', ';', '<', '>']) {
        out.push_str(&rest[..i]);
        let Some(entity) = rest[i..].strip_prefix('#') else {
            return Err(format!("a bare {:?} in {text:?}", &rest[i..i + 1]));
        };
        let (name, after) = entity
            .split_once(';')
            .ok_or_else(|| format!("a `#` that starts no entity in {text:?}"))?;
        let decoded = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            _ => name
                .parse::<u32>()
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| format!("`#{name};` is no entity, in {text:?}"))?,
        };
        out.push(decoded);
        rest = after;
    }
    out.push_str(rest);
    Ok(out)
}

/// Checks one line of a `stateDiagram-v2` block.
fn check_state_line(line: &str) -> Result<(), String> {
    let (arrow, label) = line.split_once(':').unwrap_or((line, ""));
    let (from, to) = arrow
        .split_once("-->")
        .ok_or_else(|| format!("not `FROM --> TO[: label]`: {line:?}"))?;
    for state in [from.trim(), to.trim()] {
        let named = !state.is_empty() && state.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
        if !named && state != "[*]" {
            return Err(format!("{state:?} is not a state name, in {line:?}"));
        }
    }
    decode_mermaid(label).map(drop)
}

/// Checks one line of a `sequenceDiagram` block; a message's text, decoded,
/// must be a datagram of the wire format, exactly as a program sends it, or
/// to and from a broker (a participant `as ... nats-server`), a message of
/// the nodes.
fn check_sequence_line(
    line: &str,
    participants: &mut BTreeSet<String>,
    brokers: &mut BTreeSet<String>,
) -> Result<(), String> {
    if let Some(rest) = line.strip_prefix("participant ") {
        let (name, alias) = rest.split_once(" as ").unwrap_or((rest, ""));
        participants.insert(name.trim().to_owned());
        if alias.contains("nats-server") {
            brokers.insert(name.trim().to_owned());
        }
        return Ok(());
    }
    let (head, text) = line
        .split_once(": ")
        .ok_or_else(|| format!("no `: ` in {line:?}"))?;
    let text = decode_mermaid(text)?;
    if let Some(over) = head.strip_prefix("Note over ") {
        return match over
            .split(',')
            .map(str::trim)
            .find(|p| !participants.contains(*p))
        {
            Some(unknown) => Err(format!("a note over {unknown:?}, no participant")),
            None => Ok(()),
        };
    }
    let (from, to) = head
        .split_once("-->>")
        .or_else(|| head.split_once("->>"))
        .ok_or_else(|| format!("neither a note nor a message: {line:?}"))?;
    for end in [from.trim(), to.trim()] {
        if !participants.contains(end) {
            return Err(format!("{end:?} is no participant, in {line:?}"));
        }
    }
    if [from, to].iter().any(|end| brokers.contains(end.trim())) {
        return check_broker_message(&text).map_err(|err| format!("{err}, in {line:?}"));
    }
    reactor_hub::wire::parse(text.as_bytes())
        .map(drop)
        .map_err(|err| format!("{text:?} is not a datagram ({err}), in {line:?}"))
}

/// A message to or from the broker, as docs/cluster.md draws them:
/// `SUBJECT [reply INBOX] PAYLOAD`, with the subjects and payloads the
/// nodes use (src/cluster/subject.rs, payload.rs, asks.rs, verdicts.rs);
/// the line breaks of an `asks` payload are drawn as spaces.
fn check_broker_message(text: &str) -> Result<(), String> {
    let (subject, rest) = text.split_once(' ').ok_or("no payload")?;
    let node = |id: &str| id.len() == 16 && u64::from_str_radix(id, 16).is_ok();
    let id = |id: &str| reactor_hub::wire::is_valid_id(&id.replace('~', "."));
    let subject_ok = match subject.split('.').collect::<Vec<_>>()[..] {
        ["hub", "user" | "login", user] => id(user),
        ["hub", "node", n, inbox] => {
            node(n)
                && (["asks", "verdicts", "logins"].contains(&inbox) || inbox.parse::<u64>().is_ok())
        }
        _ => false,
    };
    if !subject_ok {
        return Err(format!("{subject:?} is no subject of the nodes"));
    }
    let payload = match rest.strip_prefix("reply ") {
        Some(rest) => {
            let (inbox, payload) = rest.split_once(' ').ok_or("no payload")?;
            if !inbox.starts_with("hub.node.") {
                return Err(format!("{inbox:?} is no inbox"));
            }
            payload
        }
        None => rest,
    };
    let number = |w: &str| w.parse::<u64>().is_ok();
    let verdict = |w: &str| ["taken", "gone", "offline", "late", "refused"].contains(&w);
    let words: Vec<&str> = payload.splitn(5, ' ').collect();
    let ok = match words[..] {
        ["login" | "ended", user, stamp, n] => id(user) && number(stamp) && node(n),
        ["from", answering, first, ..] => {
            let rest = payload.split(' ').skip(3);
            node(answering) && verdict(first) && rest.clone().all(|w| verdict(w) || number(w))
        }
        ["asks", ask, deadline, len, forward] => {
            number(ask)
                && number(deadline)
                && len.parse() == Ok(forward.len())
                && reactor_hub::wire::parse(forward.as_bytes()).is_ok()
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{payload:?} is no payload of the nodes"))
    }
}

/// Mermaid is rendered by the forge, not here: this holds each block to the
/// subset of the syntax our diagrams use, so a typo shows up as a test
/// failure rather than as a broken picture, or a datagram drawn wrong.
#[test]
fn every_mermaid_block_parses() {
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (path, text) in documents() {
        for (info, lines) in code_blocks(&text) {
            if info != "mermaid" {
                continue;
            }
            let mut lines = lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty());
            let kind = lines.next().unwrap_or_default();
            let mut participants = BTreeSet::new();
            let mut brokers = BTreeSet::new();
            for line in lines.filter(|l| !l.starts_with("%%")) {
                checked += 1;
                let checked = match kind {
                    "stateDiagram-v2" => check_state_line(line),
                    "sequenceDiagram" => check_sequence_line(line, &mut participants, &mut brokers),
                    _ => Err(format!("a diagram kind this test does not know: {kind:?}")),
                };
                if let Err(err) = checked {
                    wrong.push(format!("{}: {err}", name(&path)));
                }
            }
        }
    }
    assert!(checked > 40, "only {checked} Mermaid lines found");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
