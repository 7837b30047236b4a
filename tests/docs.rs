//! Keeps the documentation honest: what README.md and docs/*.md point to,
//! name, quote and draw must exist in the code as they say.
//!
//! - every relative link leads to a file that exists;
//! - every linked code name (`[`Hub::handle_datagram`](../src/hub/mod.rs)`)
//!   is defined in the file it links to;
//! - every code block headed `// src/FILE.rs, NAME` quotes lines that are in
//!   that file;
//! - every Mermaid block is in the syntax our diagrams use, and every
//!   message drawn in a sequence diagram is a datagram of the wire format;
//! - the Mermaid state diagrams in docs/protocol.md name exactly the states of
//!   `SessionState::ALL` and `ClientState::ALL`, and draw exactly the
//!   transitions the hub and the client make when driven through every case;
//! - every `cargo run --bin X` and `--example X` names a program that exists,
//!   and every flag quoted after `reactor-server`, `reactor-client` or
//!   `--example flood --` is one the program accepts.
//!
//! The demo script (docs/demo.sh) is run by .ci/run in its quick mode.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reactor_hub::accounts::Accounts;
use reactor_hub::client::{Client, ClientConfig, ClientState};
use reactor_hub::hub::{Hub, HubConfig, HubEvent, SessionState};
use reactor_hub::wire::ReplyTo;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every docs/*.md, with their text.
fn documents() -> Vec<(PathBuf, String)> {
    let mut paths = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|entry| entry.expect("docs/ entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    paths.extend(docs);
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read a document");
            (path, text)
        })
        .collect()
}

fn name(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// `[text](target)` links outside code blocks and code spans' backticks
/// count too: `[`Hub`](../src/hub/mod.rs)`.
fn links(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if in_block {
            continue;
        }
        let mut rest = line;
        while let Some(open) = rest.find("](") {
            let Some(start) = rest[..open].rfind('[') else {
                rest = &rest[open + 2..];
                continue;
            };
            let label = &rest[start + 1..open];
            let after = &rest[open + 2..];
            let Some(close) = after.find(')') else { break };
            found.push((label.to_owned(), after[..close].to_owned()));
            rest = &after[close + 1..];
        }
    }
    found
}

/// Where a relative link leads, without its `#fragment`; `None` for web
/// addresses and anchors within the page.
fn resolve(document: &Path, target: &str) -> Option<PathBuf> {
    if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
        return None;
    }
    let path = target.split('#').next().unwrap_or(target);
    Some(document.parent().expect("a folder").join(path))
}

/// The anchors the forge makes of a page's headings: lower case, spaces to
/// hyphens, other punctuation dropped.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
        }
        let Some(heading) = line.strip_prefix('#').filter(|_| !in_block) else {
            continue;
        };
        let heading = heading.trim_start_matches('#').trim().to_lowercase();
        found.insert(
            heading
                .chars()
                .filter_map(|c| match c {
                    ' ' => Some('-'),
                    c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                    _ => None,
                })
                .collect(),
        );
    }
    found
}

#[test]
fn every_relative_link_leads_to_a_file_and_heading_that_exist() {
    let repository = root().canonicalize().expect("the repository");
    let mut broken = Vec::new();
    for (path, text) in documents() {
        for (label, target) in links(&text) {
            let page = match resolve(&path, &target) {
                Some(file) if !file.exists() => {
                    broken.push(format!("{}: [{label}]({target})", name(&path)));
                    continue;
                }
                // The forge shows the repository alone: a link out of it is broken there.
                Some(file) if !file.canonicalize().unwrap().starts_with(&repository) => {
                    broken.push(format!(
                        "{}: [{label}]({target}) leaves the repository",
                        name(&path)
                    ));
                    continue;
                }
                Some(file) => file,
                None if target.starts_with('#') => path.clone(),
                None => continue,
            };
            // A link to a heading: the heading must be on that page.
            let Some((_, fragment)) = target.split_once('#') else {
                continue;
            };
            if page.extension().is_some_and(|ext| ext == "md") {
                let text = std::fs::read_to_string(&page).expect("a linked page");
                if !anchors(&text).contains(fragment) {
                    broken.push(format!(
                        "{}: [{label}]({target}): no such heading",
                        name(&path)
                    ));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "links to nothing:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_readme_transcript_is_the_real_one() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let transcript =
        std::fs::read_to_string(root().join("docs/transcript.txt")).expect("docs/transcript.txt");
    let mut quoted = 0;
    for (_, lines) in code_blocks(&readme) {
        if lines.first().is_some_and(|l| l.starts_with("* type ID->")) {
            quoted += 1;
            let block = lines.join("\n") + "\n";
            assert!(
                transcript.contains(&block),
                "README.md quotes a terminal that docs/transcript.txt does not have:\n{block}"
            );
        }
    }
    assert_eq!(quoted, 2, "alice's and bob's terminals");
}

/// The Rust source a link leads to: the file, or every file in the folder.
fn source_of(file: &Path) -> Option<String> {
    if file.is_dir() {
        let mut text = String::new();
        for entry in std::fs::read_dir(file).ok()? {
            let path = entry.ok()?.path();
            if path.extension().is_some_and(|ext| ext == "rs") {
                text += &std::fs::read_to_string(path).ok()?;
            }
        }
        return Some(text);
    }
    if file.extension().is_some_and(|ext| ext == "rs") {
        return std::fs::read_to_string(file).ok();
    }
    None
}

fn is_identifier(word: &str) -> bool {
    !word.is_empty()
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !word.starts_with(|c: char| c.is_ascii_digit())
}

/// Whether `source` defines `item` (a function, type, trait, constant or module).
fn defines(source: &str, item: &str) -> bool {
    let kinds = [
        "fn", "struct", "enum", "trait", "const", "static", "type", "mod",
    ];
    source
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect::<Vec<_>>()
        .windows(2)
        .any(|pair| kinds.contains(&pair[0]) && pair[1] == item)
        || source.lines().any(|line| {
            // `impl Trait for Type` and `impl Type` name a type that may be defined elsewhere.
            let line = line.trim_start();
            line.starts_with("impl")
                && line
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .any(|word| word == item)
        })
}

#[test]
fn every_linked_code_name_is_defined_where_it_links() {
    let mut missing = Vec::new();
    let mut checked = 0;
    for (path, text) in documents() {
        for (label, target) in links(&text) {
            let Some(code) = label.strip_prefix('`').and_then(|l| l.strip_suffix('`')) else {
                continue;
            };
            let Some(file) = resolve(&path, &target) else {
                continue;
            };
            // A path shown as code (`src/reactor/`) is a plain link.
            if code.contains('/') || code.contains('.') {
                continue;
            }
            let Some(source) = source_of(&file) else {
                continue;
            };
            let code = code.trim_end_matches("()");
            let segments: Vec<&str> = code.split("::").collect();
            if !segments.iter().all(|segment| is_identifier(segment)) {
                continue;
            }
            checked += 1;
            // Types along the path and the item at its end must all be defined here.
            let absent: Vec<&&str> = segments
                .iter()
                .filter(|segment| {
                    segment.starts_with(char::is_uppercase) || *segment == segments.last().unwrap()
                })
                .filter(|segment| !defines(&source, segment))
                .collect();
            if !absent.is_empty() {
                missing.push(format!(
                    "{}: `{code}` links to {target}, which defines no {absent:?}",
                    name(&path)
                ));
            }
        }
    }
    assert!(checked > 50, "only {checked} linked code names found");
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// Code blocks: (info string, lines).
fn code_blocks(text: &str) -> Vec<(String, Vec<String>)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some((info.trim().to_owned(), Vec::new())),
            }
        } else if let Some((_, lines)) = &mut current {
            lines.push(line.to_owned());
        }
    }
    blocks
}

#[test]
fn quoted_code_is_in_the_file_it_names() {
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (path, text) in documents() {
        for (_, lines) in code_blocks(&text) {
            let Some(header) = lines.first().and_then(|l| l.trim().strip_prefix("// src/")) else {
                continue;
            };
            let Some((file, item)) = header.split_once(", ") else {
                continue;
            };
            let source =
                std::fs::read_to_string(root().join("src").join(file)).unwrap_or_else(|_| {
                    panic!("{}: quotes src/{file}, which is not there", name(&path))
                });
            let item = item.rsplit("::").next().unwrap_or(item);
            if !defines(&source, item) {
                wrong.push(format!("{}: src/{file} has no {item}", name(&path)));
            }
            for line in lines
                .iter()
                .skip(1)
                .map(|l| l.trim())
                .filter(|l| !l.is_empty())
            {
                checked += 1;
                if !source.lines().any(|s| s.trim() == line) {
                    wrong.push(format!("{}: src/{file} has no line `{line}`", name(&path)));
                }
            }
        }
    }
    assert!(checked > 0, "no quoted code found");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

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

/// The client's trace lines, `ID: FROM => TO (cause)`, caught by a logger.
static CLIENT_TRACE: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct TraceCatcher;

impl log::Log for TraceCatcher {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.target() == "client"
    }
    fn log(&self, record: &log::Record) {
        if record.target() == "client" && record.level() == log::Level::Trace {
            CLIENT_TRACE.lock().unwrap().push(record.args().to_string());
        }
    }
    fn flush(&self) {}
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
        let client = Client::new(server, ReplyTo::Addr(addr(40001)), ClientConfig::default());
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
    if log::set_logger(&TraceCatcher).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
    CLIENT_TRACE.lock().unwrap().clear();
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
    let mut person = Person::online();
    person.client.handle_interrupt(person.now);
    let lines = CLIENT_TRACE.lock().unwrap().clone();
    pairs(lines.iter().map(|line| {
        // "alice: ONLINE => MESSAGE_SENT (message typed: msg 0123456789 to bob)"
        let (_, change) = line.split_once(": ").expect("ID: ");
        let change = change.split(" (").next().unwrap();
        let (from, to) = change.split_once(" => ").expect("FROM => TO");
        (from.to_owned(), to.to_owned())
    }))
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
/// must be a datagram of the wire format, exactly as a program sends it.
fn check_sequence_line(line: &str, participants: &mut BTreeSet<String>) -> Result<(), String> {
    if let Some(rest) = line.strip_prefix("participant ") {
        let (name, _) = rest.split_once(" as ").unwrap_or((rest, ""));
        participants.insert(name.trim().to_owned());
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
    reactor_hub::wire::parse(text.as_bytes())
        .map(drop)
        .map_err(|err| format!("{text:?} is not a datagram ({err}), in {line:?}"))
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
            for line in lines.filter(|l| !l.starts_with("%%")) {
                checked += 1;
                let checked = match kind {
                    "stateDiagram-v2" => check_state_line(line),
                    "sequenceDiagram" => check_sequence_line(line, &mut participants),
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

/// Words in inline code and code blocks: where commands are quoted.
fn quoted_code(text: &str) -> Vec<String> {
    let mut quoted = Vec::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
        } else if in_block {
            quoted.push(line.to_owned());
        } else {
            quoted.extend(line.split('`').skip(1).step_by(2).map(str::to_owned));
        }
    }
    quoted
}

/// The word after `flag` in `line`, each time it appears.
fn values_of<'a>(line: &'a str, flag: &str) -> Vec<&'a str> {
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(2)
        .filter(|pair| pair[0] == flag)
        .map(|pair| pair[1])
        .collect()
}

#[test]
fn every_program_a_command_names_exists() {
    let mut missing = Vec::new();
    for (path, text) in documents() {
        for line in quoted_code(&text).iter().filter(|l| l.contains("cargo ")) {
            for bin in values_of(line, "--bin") {
                if !root().join(format!("src/bin/{bin}.rs")).exists() {
                    missing.push(format!("{}: --bin {bin}", name(&path)));
                }
            }
            for example in values_of(line, "--example") {
                let file = root().join(format!("examples/{example}.rs"));
                let folder = root().join(format!("examples/{example}/main.rs"));
                if !file.exists() && !folder.exists() {
                    missing.push(format!("{}: --example {example}", name(&path)));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "no such program:\n{}",
        missing.join("\n")
    );
}

fn help(program: &str) -> String {
    let output = Command::new(program)
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(output.status.success());
    String::from_utf8(output.stdout).expect("UTF-8 help")
}

/// `--flags` quoted after `word` in `line`.
fn flags_after<'a>(line: &'a str, word: &str) -> Vec<&'a str> {
    let Some((_, rest)) = line.split_once(word) else {
        return Vec::new();
    };
    rest.split(|c: char| c.is_whitespace() || "[]|`=,;()".contains(c))
        .filter(|w| w.starts_with("--") && w.len() > 2 && !w.starts_with("---"))
        .collect()
}

#[test]
fn every_quoted_flag_is_one_the_program_accepts() {
    let server = help(env!("CARGO_BIN_EXE_reactor-server"));
    let client = help(env!("CARGO_BIN_EXE_reactor-client"));
    // The flood's own flags, and --help and --version from src/cli.rs.
    let flood = ["examples/flood/options.rs", "src/cli.rs"]
        .map(|file| std::fs::read_to_string(root().join(file)).expect(file))
        .concat();
    let mut unknown = Vec::new();
    let mut checked = 0;
    for (path, text) in documents() {
        for line in quoted_code(&text) {
            let programs = [("reactor-server", &server), ("reactor-client", &client)];
            for (program, help) in programs {
                for flag in flags_after(&line, program) {
                    checked += 1;
                    if !help.contains(&format!("{flag} ")) && !help.contains(&format!("{flag}\n")) {
                        unknown.push(format!("{}: {program} {flag}", name(&path)));
                    }
                }
            }
            for flag in flags_after(&line, "--example flood --") {
                checked += 1;
                if !flood.contains(&format!("\"{}\"", &flag[2..])) {
                    unknown.push(format!("{}: flood {flag}", name(&path)));
                }
            }
        }
    }
    assert!(checked > 5, "only {checked} quoted flags found");
    assert!(
        unknown.is_empty(),
        "flags the programs do not take:\n{}",
        unknown.join("\n")
    );
}

#[test]
fn the_readme_starts_with_the_two_set_up_commands() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let (_, first) = code_blocks(&readme)
        .into_iter()
        .next()
        .expect("a code block");
    let commands: Vec<&str> = first
        .iter()
        .map(|line| line.split('#').next().unwrap().trim())
        .filter(|line| !line.is_empty())
        .collect();
    assert_eq!(commands, ["cargo run --bin reactor-server", "cargo test"]);
}
