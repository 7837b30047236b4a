//! The Scope's page in a real browser (headless Chromium, `common::browser`)
//! over a real hub with `--trace --scope`: what the page holds is what the
//! trace printed, its session table follows the contract's states, and
//! stepping back and forth lands on the same events; a session expires and
//! a client's two sources take turns. The tests also write the screenshots
//! docs/scope.md shows (`target/tmp/scope/*.png`).

mod common;

use std::io::Write;
use std::path::PathBuf;

use common::browser::Browser;
use common::peer::Peer;
use common::scope::{assert_stdin_and_socket, client_with_scope, scope_addr};
use common::Server;
use serde_json::Value;

/// The page's events' lines, in order.
fn page_lines(browser: &Browser) -> Vec<String> {
    let lines = browser.run("return scope.events().map(e => e.line)");
    serde_json::from_value(lines).expect("lines")
}

/// The seq of the page's first event whose line is `line`.
fn seq_of(browser: &Browser, line: &str) -> u64 {
    let script = format!("return scope.events().find(e => e.line === {line:?}).seq");
    browser.run(&script).as_u64().expect(line)
}

/// Alice's row of the session table at the selected event.
fn alice_row(browser: &Browser) -> Value {
    browser.run("return scope.sessions().find(s => s.user === 'alice')")
}

#[test]
fn the_page_shows_the_run_as_the_trace_printed_it_and_steps_both_ways() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let mut hub = Server::start("scope-page", &["--trace", "--scope", "127.0.0.1:0"]);
    browser.goto(&format!("http://{}/", scope_addr(&hub.start_log)));
    browser.wait_for("return scope.events().length > 0");

    // Bob writes to alice, who sends the receipt: alice's session goes
    // ONLINE, MESSAGE_FORWARD, ONLINE.
    let (alice_peer, bob) = (Peer::new(hub.addr), Peer::new(hub.addr));
    let alice_token = alice_peer.login("alice", "wonderland");
    let bob_token = bob.login("bob", "builder");
    bob.send(&format!("bob->alice#<{bob_token}><0000000001>hello alice"));
    let forward = alice_peer.recv();
    assert_eq!(
        bob.recv(),
        format!("server->bob#<{bob_token}><0000000001>Success: hello alice")
    );
    let (_, tail) = forward.split_once("#<").expect("a forward");
    assert!(tail.starts_with(&alice_token), "{forward}");
    alice_peer.send(&format!(
        "alice->server#<{alice_token}><0000000001>Success: hello alice"
    ));
    let logoff = "alice: ONLINE => OFFLINE (logoff)";
    alice_peer.send(&format!("alice->server#logoff<{alice_token}>"));
    alice_peer.recv();
    browser.wait_for(&format!(
        "return scope.events().some(e => e.line === {logoff:?})"
    ));

    let lines = page_lines(&browser);

    // The session table as it stood at three events.
    let states = [
        (
            "alice: LOGIN_RECEIVED => ONLINE (password matches)",
            "ONLINE",
        ),
        (
            "alice: ONLINE => MESSAGE_FORWARD (msg 0000000001 from bob)",
            "MESSAGE_FORWARD",
        ),
        (
            "alice: MESSAGE_FORWARD => ONLINE (receipt for msg 0000000001)",
            "ONLINE",
        ),
        (logoff, "OFFLINE"),
    ];
    for (line, state) in states {
        browser.run(&format!(
            "scope.pause(); scope.select({})",
            seq_of(&browser, line)
        ));
        let row = alice_row(&browser);
        assert_eq!(row["state"], state, "at {line}: {row}");
    }
    let at_forward = seq_of(&browser, states[1].0);
    browser.run(&format!("scope.select({at_forward})"));
    assert_eq!(alice_row(&browser)["awaiting"], 1);
    assert_eq!(alice_row(&browser)["address"], alice_peer_addr(&lines));

    // Step back and forward over the whole run: the same events, both ways.
    let first = browser
        .run("return scope.events()[0].seq")
        .as_u64()
        .unwrap();
    browser.run(&format!("scope.select({first})"));
    let mut forward = vec![first];
    for _ in 1..lines.len() {
        browser.run("scope.stepForward()");
        forward.push(browser.run("return scope.selected()").as_u64().unwrap());
    }
    let mut back = vec![*forward.last().unwrap()];
    for _ in 1..lines.len() {
        browser.run("scope.stepBack()");
        back.push(browser.run("return scope.selected()").as_u64().unwrap());
    }
    back.reverse();
    assert_eq!(forward, back);
    let expected: Vec<u64> = (first..first + lines.len() as u64).collect();
    assert_eq!(forward, expected);

    // A view to show: the forward selected.
    browser.run(&format!("scope.select({at_forward})"));
    screenshot(&browser, "page.png");
    assert_eq!(browser.run("return scope.errors()"), serde_json::json!([]));

    // The page's events are the trace lines, in order.
    assert!(hub.terminate().success());
    let printed = common::trace_lines(hub.log.rest());
    assert!(printed.len() >= lines.len());
    assert_eq!(lines, printed[..lines.len()]);
}

/// The address alice logged in from, as the trace shows her login.
fn alice_peer_addr(lines: &[String]) -> String {
    lines
        .iter()
        .find_map(|line| {
            let rest = line.strip_prefix("in  ")?;
            let (addr, datagram) = rest.split_once(' ')?;
            datagram
                .starts_with("alice->server#login")
                .then(|| addr.to_owned())
        })
        .expect("alice's login")
}

/// Where the test's screenshots go (docs/img has copies).
fn screenshot(browser: &Browser, name: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scope");
    std::fs::create_dir_all(&dir).unwrap();
    browser.screenshot(&dir.join(name));
}

/// A session expiring (the third of docs/scope.md's exercises), and a
/// client's page, its two sources lit in turn: the page shows both as the
/// trace printed them, and logs no error.
#[test]
fn the_page_shows_a_session_expire_and_a_clients_two_sources() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let hub = Server::start(
        "scope-expiry",
        &["--scope", "127.0.0.1:0", "--session-timeout", "1"],
    );
    browser.goto(&format!("http://{}/", scope_addr(&hub.start_log)));
    let alice = Peer::new(hub.addr);
    alice.login("alice", "wonderland");
    let expired = "alice: ONLINE => OFFLINE (expired)";
    browser.wait_for(&format!(
        "return scope.events().some(e => e.line === {expired:?})"
    ));
    let before = seq_of(&browser, expired) - 1;
    browser.run(&format!("scope.pause(); scope.select({before})"));
    assert_eq!(alice_row(&browser)["state"], "ONLINE");
    browser.run(&format!("scope.select({})", before + 1));
    assert_eq!(alice_row(&browser)["state"], "OFFLINE");
    screenshot(&browser, "expiry.png");
    assert_eq!(browser.run("return scope.errors()"), serde_json::json!([]));

    let (mut client, mut stdin, scope) = client_with_scope(hub.addr);
    browser.goto(&format!("http://{scope}/"));
    writeln!(stdin, "alice->server#login<wonderland>").unwrap();
    writeln!(stdin, "alice->bob#are you there?").unwrap();
    let answered = "MESSAGE_SENT => ONLINE";
    browser.wait_for(&format!(
        "return scope.events().some(e => e.line.includes({answered:?}))"
    ));
    let sources: Vec<String> = serde_json::from_value(
        browser.run("return scope.events().filter(e => e.kind === 'ready').map(e => e.line)"),
    )
    .unwrap();
    assert_stdin_and_socket(&sources);
    browser.run(
        "scope.pause(); \
         scope.select(scope.events().find(e => e.line.startsWith('event: stdin')).seq)",
    );
    screenshot(&browser, "client.png");
    assert_eq!(browser.run("return scope.errors()"), serde_json::json!([]));
    drop(stdin);
    assert!(client.wait().unwrap().success());
}
