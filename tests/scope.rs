//! The Reactor Scope of the real binaries (`--scope ADDR`), read as a page
//! reads it: `GET /` and the server-sent events of `GET /events`. The page
//! itself, in a real browser, is tested in `tests/scope_page.rs`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::peer::Peer;
use common::scope::{assert_stdin_and_socket, client_with_scope, scope_addr, EventStream};
use common::Server;
use reactor_hub::reactor::on_thread::OnThread;
use reactor_hub::scope::replay::Replay;

/// With `--trace` too, the page's events are the printed trace lines, in
/// order, numbered from 0.
#[test]
fn the_scope_streams_the_trace_lines_of_the_same_run() {
    let mut hub = Server::start("scope-trace", &["--trace", "--scope", "127.0.0.1:0"]);
    let page = EventStream::open(scope_addr(&hub.start_log));
    let alice = Peer::new(hub.addr);
    let token = alice.login("alice", "wonderland");
    alice.send("alice->bob#<zzzzzz><0000000001>a forged token");
    alice.recv();
    alice.send(&format!("alice->server#logoff<{token}>"));
    alice.recv();
    // A turn's events go to the page as it ends, its wait's line with them.
    let mut events = page.until("alice: ONLINE => OFFLINE (logoff)");
    events.extend(page.until("wait: "));
    assert!(hub.terminate().success());
    let printed = common::trace_lines(hub.log.rest());
    let lines: Vec<&String> = events.iter().map(|e| &e.line).collect();
    assert_eq!(lines, printed[..lines.len()].iter().collect::<Vec<_>>());
    for (n, event) in events.iter().enumerate() {
        assert_eq!(event.seq, n as u64, "{}", event.line);
    }
    assert!(events.windows(2).all(|w| w[0].turn <= w[1].turn));
    let kinds = ["wait", "wake", "ready", "recv", "in", "transition", "out"];
    for kind in kinds.into_iter().chain(["send", "unchanged"]) {
        assert!(events.iter().any(|e| e.kind == kind), "no {kind}");
    }
    assert!(
        !lines.iter().any(|l| l.contains("wonderland")),
        "no password"
    );
}

/// Without `--trace`, the flight recorder keeps every turn of a chat, and a
/// page that connects after it gets them first.
#[test]
fn a_page_that_connects_late_gets_the_turns_before_it() {
    let hub = Server::start("scope-late", &["--scope", "127.0.0.1:0"]);
    let scope = scope_addr(&hub.start_log);
    let alice = Peer::new(hub.addr);
    let token = alice.login("alice", "wonderland");
    alice.send(&format!("alice->server#logoff<{token}>"));
    alice.recv();
    let late = EventStream::open(scope).until("alice: ONLINE => OFFLINE (logoff)");
    let lines: Vec<&str> = late.iter().map(|e| e.line.as_str()).collect();
    let expected = [
        "alice: OFFLINE => LOGIN_RECEIVED (login)",
        "alice: LOGIN_RECEIVED => ONLINE (password matches)",
        "alice: ONLINE => OFFLINE (logoff)",
    ];
    let transitions: Vec<&str> = late
        .iter()
        .filter(|e| e.kind == "transition")
        .map(|e| e.line.as_str())
        .collect();
    assert_eq!(transitions, expected, "{lines:#?}");
    assert_eq!(late[0].seq, 0);
    assert!(late.windows(2).all(|w| w[1].seq == w[0].seq + 1));
}

/// A page that stops reading holds up nothing: the hub answers every
/// datagram meanwhile, its memory stays flat, and the page, when it reads
/// again, has missed the events the ring dropped (a gap in their numbers),
/// not the newest.
#[test]
fn a_page_that_stops_reading_misses_events_and_holds_up_nothing() {
    let hub = Server::start("scope-stall", &["--trace", "--scope", "127.0.0.1:0"]);
    let scope = scope_addr(&hub.start_log);
    let mut stalled = TcpStream::connect(scope).unwrap();
    stalled
        .write_all(b"GET /events HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    // Each wrong logoff is a datagram in, a reply out and their lines:
    // together far more than the ring and the sockets' buffers hold.
    let alice = Peer::new(hub.addr);
    let mut memory = Vec::new();
    for round in 0..300 {
        for _ in 0..100 {
            alice.send("alice->server#logoff<zzzzzz>");
        }
        for _ in 0..100 {
            alice.recv();
        }
        // After the first 100 rounds (40,000 events) the ring is full.
        if round % 100 == 99 {
            memory.push(rss_kib(hub.child.id()));
        }
    }
    assert!(alice.recv_within(Duration::ZERO).is_none());
    // Memory flat: the ring drops what the page did not read.
    assert!(memory[2] < memory[0] + 1024, "RSS {memory:?} KiB");
    let last = alice.login("alice", "wonderland");
    stalled
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut text = Vec::new();
    let mut chunk = [0; 1 << 16];
    while let Ok(len @ 1..) = stalled.read(&mut chunk) {
        text.extend_from_slice(&chunk[..len]);
    }
    let text = String::from_utf8_lossy(&text);
    let seqs: Vec<u64> = text
        .split("\"seq\":")
        .skip(1)
        .map(|rest| rest[..rest.find(',').unwrap()].parse().unwrap())
        .collect();
    let gaps = seqs.windows(2).filter(|w| w[1] != w[0] + 1).count();
    assert_eq!(seqs[0], 0);
    assert!(gaps >= 1, "{} events, no gap", seqs.len());
    assert!(text.contains(&format!("server->alice#Success<{last}>")));
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// `GET /` is the page, whole; another path is not found, a fifth page
/// reading events is turned away, and bytes that are not HTTP are refused.
#[test]
fn the_page_is_served_whole_and_what_it_cannot_serve_refused() {
    let hub = Server::start("scope-page", &["--scope", "127.0.0.1:0"]);
    let scope = scope_addr(&hub.start_log);
    let get = |path: &str| {
        let mut stream = TcpStream::connect(scope).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    let page = get("/");
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("Content-Type: text/html"));
    let (_, body) = page.split_once("\r\n\r\n").unwrap();
    assert_eq!(body, reactor_hub::scope::endpoint::PAGE);
    assert!(get("/nothing").starts_with("HTTP/1.1 404 Not Found\r\n"));
    // At most four pages read events at once: a fifth is told so.
    let pages: Vec<EventStream> = (0..4).map(|_| EventStream::open(scope)).collect();
    for page in &pages {
        page.until("wait: ");
    }
    assert!(get("/events").starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
    drop(pages);
    let mut garbage = TcpStream::connect(scope).unwrap();
    garbage.write_all(b"\x00\x01 not http\r\n\r\n").unwrap();
    let mut answer = String::new();
    garbage.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
}

/// The client's Scope shows its two sources, stdin and the socket, in the
/// one loop.
#[test]
fn the_clients_scope_shows_stdin_and_the_socket_as_sources_of_one_poll() {
    let hub = Server::start("scope-client", &[]);
    let (mut client, mut stdin, scope) = client_with_scope(hub.addr);
    let page = EventStream::open(scope);
    writeln!(stdin, "alice->server#login<wonderland>").unwrap();
    let mut stdout = BufReader::new(client.stdout.take().unwrap());
    let mut shown = String::new();
    while !shown.contains("logged in") {
        shown.clear();
        stdout.read_line(&mut shown).unwrap();
    }
    let events = page.until("LOGIN_SENT => ONLINE");
    let ready: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == "ready")
        .map(|e| e.line.as_str())
        .collect();
    assert_stdin_and_socket(&ready);
    drop(stdin);
    assert!(client.wait().unwrap().success());
}

/// A recording is served (`cargo run --example scope -- FILE`) as the live
/// Scope serves a run: the same page, every recorded event in order.
#[test]
fn a_recording_is_served_whole_as_a_run_is() {
    let record = common::TempFile::new("scope-replay.jsonl", "");
    let path = record.0.to_str().expect("a UTF-8 path");
    let mut hub = Server::start("scope-replay", &["--record", path]);
    let alice = Peer::new(hub.addr);
    let token = alice.login("alice", "wonderland");
    alice.send(&format!("alice->server#logoff<{token}>"));
    alice.recv();
    assert!(hub.terminate().success());
    let recorded = std::fs::read_to_string(&record.0).unwrap();

    let events = reactor_hub::scope::recording::read(&recorded);
    let replay = {
        let events = events.clone();
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        OnThread::start("replay", move |reactor| {
            Replay::bind(reactor, any_port, &events)
        })
    }
    .expect("the replay listens");
    let page = EventStream::open(replay.addr).until("alice: ONLINE => OFFLINE (logoff)");
    replay.stop().expect("the replay stops");
    let lines: Vec<&str> = page.iter().map(|e| e.line.as_str()).collect();
    let recorded: Vec<&str> = events.iter().map(|e| e.line.as_str()).collect();
    assert_eq!(lines, recorded[..lines.len()]);
    assert!(lines.len() > 10);
}

/// A signal is a source of the loop like any other: SIGHUP wakes it, and
/// the page sees the event as a `signal`.
#[test]
fn a_signal_reaches_the_page_as_an_event_of_the_loop() {
    let hub = Server::start("scope-signal", &["--scope", "127.0.0.1:0"]);
    let page = EventStream::open(scope_addr(&hub.start_log));
    hub.signal("HUP");
    let events = page.until("event: hangup signal");
    assert_eq!(events.last().unwrap().kind, "signal");
}
