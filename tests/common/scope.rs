//! Reading the Reactor Scope of a running binary: its address from the log
//! line `scope on http://ADDR/`, and its `/events` stream, read on a
//! thread, an event at a time.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Instant;

use super::{Lines, PATIENCE};

/// A `reactor-client` of the hub at `hub` with `--scope 127.0.0.1:0`: the
/// process (its stdout piped), its stdin, and its Scope's address.
pub fn client_with_scope(hub: SocketAddr) -> (Child, ChildStdin, SocketAddr) {
    let mut client = Command::new(env!("CARGO_BIN_EXE_reactor-client"))
        .args(["--server", &hub.to_string(), "--scope", "127.0.0.1:0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start reactor-client");
    let log = Lines::new(client.stderr.take().unwrap());
    let scope = scope_addr(&log.until("scope on "));
    let stdin = client.stdin.take().unwrap();
    (client, stdin, scope)
}

/// The Scope's address in a log line `... scope on http://ADDR/`.
pub fn scope_addr(log: &[String]) -> SocketAddr {
    log.iter()
        .find_map(|line| line.split("scope on http://").nth(1))
        .and_then(|rest| rest.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no `scope on` line in {log:#?}"))
}

/// Asserts that a client's `ready` lines name both its sources: stdin and
/// the socket, two sources of one poll.
pub fn assert_stdin_and_socket<S: AsRef<str> + std::fmt::Debug>(ready: &[S]) {
    for source in ["event: stdin", "event: udp socket"] {
        let found = ready.iter().any(|line| line.as_ref().starts_with(source));
        assert!(found, "no {source:?} in {ready:?}");
    }
}

/// One event of the stream: the JSON object of its `data:` line.
pub struct ScopeEvent {
    pub seq: u64,
    pub turn: u64,
    pub kind: String,
    pub line: String,
}

/// A page reading `/events`.
pub struct EventStream(Receiver<serde_json::Value>);

impl EventStream {
    /// Connects and asks for the events; the `hello` event is skipped.
    pub fn open(scope: SocketAddr) -> Self {
        let mut stream = TcpStream::connect(scope).expect("connect to the scope");
        stream
            .write_all(b"GET /events HTTP/1.1\r\nHost: test\r\n\r\n")
            .unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                let Some(json) = line.strip_prefix("data: ") else {
                    continue;
                };
                let value: serde_json::Value = serde_json::from_str(json).expect("JSON");
                if value.get("seq").is_some() && tx.send(value).is_err() {
                    break;
                }
            }
        });
        Self(rx)
    }

    /// Every event up to and including the first whose line contains
    /// `needle`; panics after [`PATIENCE`] without one.
    pub fn until(&self, needle: &str) -> Vec<ScopeEvent> {
        let deadline = Instant::now() + PATIENCE;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(value) = self.0.recv_timeout(left) else {
                let lines: Vec<&String> = seen.iter().map(|e: &ScopeEvent| &e.line).collect();
                panic!("no event containing {needle:?}; saw {lines:#?}");
            };
            let text = |key: &str| value[key].as_str().expect(key).to_owned();
            let event = ScopeEvent {
                seq: value["seq"].as_u64().expect("seq"),
                turn: value["turn"].as_u64().expect("turn"),
                kind: text("kind"),
                line: text("line"),
            };
            let found = event.line.contains(needle);
            seen.push(event);
            if found {
                return seen;
            }
        }
    }
}
