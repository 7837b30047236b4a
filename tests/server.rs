//! The real `reactor-server` binary over real UDP.

mod common;

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::peer::Peer;
use common::{Server, TempFile};

#[test]
fn login_forward_receipt_and_logoff() {
    let hub = Server::start("happy", &[]);
    let alice = Peer::new(hub.addr);
    let bob = Peer::split(hub.addr);
    let alice_token = alice.login("alice", "wonderland");
    let bob_token = bob.login("bob", "builder");
    assert_ne!(alice_token, bob_token);

    // Another implementation's 1024-byte buffer, with garbage after the text.
    let mut datagram =
        format!("alice->bob#<{alice_token}><4821930475>hello #<there>->you").into_bytes();
    datagram.push(0);
    datagram.resize(1024, b'Z');
    alice.send_bytes(&datagram);
    assert_eq!(
        bob.recv(),
        format!("alice->bob#<{bob_token}><4821930475>hello #<there>->you")
    );
    assert_eq!(
        alice.recv(),
        format!("server->alice#<{alice_token}><4821930475>Success: hello #<there>->you")
    );
    bob.send(&format!(
        "bob->server#<{bob_token}><4821930475>Success: hello #<there>->you"
    ));

    alice.send(&format!("alice->server#logoff<{alice_token}>"));
    assert_eq!(
        alice.recv(),
        format!("server->alice#Success<{alice_token}>")
    );
    hub.log.expect("alice logged off");

    // Logged off: bob's message to alice finds her offline, and hers need a login.
    bob.send(&format!("bob->alice#<{bob_token}><0000000001>still there?"));
    assert_eq!(
        bob.recv(),
        format!("server->bob#<{bob_token}><0000000001>Error: destination offline!")
    );
    alice.send(&format!("alice->bob#<{alice_token}><0000000002>back?"));
    assert_eq!(
        alice.recv(),
        format!("server->alice#<{alice_token}><0000000002>Error: please log in again!")
    );
}

/// A trace is pasted into bug reports: it shows tokens (they tie datagrams
/// to sessions and die with them), never a password.
#[test]
fn the_trace_shows_every_datagram_but_no_password() {
    let hub = Server::start("trace", &["--trace"]);
    let alice = Peer::new(hub.addr);
    let token = alice.login("alice", "wonderland");
    alice.send("alice->server#login<wonder>");
    alice.recv();
    alice.send(&format!("alice->server#logoff<{token}>"));
    let lines = hub.log.until(&format!("logoff<{token}>"));
    let logins: Vec<_> = lines.iter().filter(|l| l.contains("#login<")).collect();
    assert_eq!(logins.len(), 2, "{lines:#?}");
    assert!(
        logins
            .iter()
            .all(|l| l.contains("alice->server#login<***>")),
        "{logins:#?}"
    );
    assert!(lines
        .iter()
        .any(|l| l.contains(&format!("Success<{token}>"))));
    assert!(!lines.iter().any(|l| l.contains("wonder")), "{lines:#?}");
}

/// Timers that come due together fire in one turn, and each is named: a
/// hub stopped past two sessions' expiry finds both due when it goes on.
#[test]
fn the_trace_names_every_timer_that_fires() {
    let hub = Server::start("timers", &["--trace", "--session-timeout", "1"]);
    Peer::new(hub.addr).login("alice", "wonderland");
    Peer::new(hub.addr).login("bob", "builder");
    hub.pause();
    thread::sleep(Duration::from_millis(1500));
    hub.resume();
    let mut lines = hub.log.until("expired after inactivity");
    lines.extend(hub.log.until("expired after inactivity"));
    let lines = lines.join("\n");
    for id in ["alice", "bob"] {
        let timer = format!(": {id}: session expiry (1s without a datagram)");
        assert!(
            lines
                .lines()
                .any(|l| l.contains("[reactor] timer, due") && l.contains(&timer)),
            "no timer line for {id}: {lines}"
        );
    }
}

/// The trace says when each line was written, how long each wait lasted,
/// what each batched receive and send came to, and why a reply that
/// changes nothing was sent: here a token forged for a session that is not
/// there, answered `please log in again!`.
#[test]
fn the_trace_says_when_how_many_and_why() {
    let hub = Server::start("trace-says", &["--trace"]);
    let mallory = Peer::new(hub.addr);
    mallory.send("alice->bob#<AAAAAA><0000000001>it is me, alice");
    assert_eq!(
        mallory.recv(),
        "server->alice#<AAAAAA><0000000001>Error: please log in again!"
    );
    let lines = hub.log.until("sendmmsg: ");
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in {lines:#?}"))
    };
    let order = [
        "[reactor] woke after ",
        "[udp] recvmmsg: 1 datagram, fewer than 32: the socket is drained",
        "[udp] in ",
        "[hub] alice: stays OFFLINE (no session for alice: answered log in again)",
        "[udp] out ",
        "[udp] sendmmsg: 1 of 1 datagram in one call",
    ]
    .map(at);
    assert!(order.is_sorted(), "{order:?} in {lines:#?}");
    assert!(lines[order[0]].ends_with(" with 1 event"), "{lines:#?}");
    // Each trace line starts with the seconds since the start: `  0.012345 [`.
    for line in &lines {
        let (time, rest) = line.trim_start().split_once(' ').unwrap_or_default();
        let (seconds, micros) = time.split_once('.').unwrap_or_default();
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        assert!(
            digits(seconds) && micros.len() == 6 && digits(micros) && rest.starts_with('['),
            "{line:?}"
        );
    }
}

/// Datagrams that wait while the hub is stopped are read in batches of 32:
/// a full batch says more may wait, the short one after it that the
/// socket is drained; the 40 replies go out in as many datagrams a call.
#[test]
fn the_trace_counts_each_batch_and_says_when_the_socket_is_drained() {
    let hub = Server::start("trace-batches", &["--trace"]);
    let mallory = Peer::new(hub.addr);
    hub.pause();
    for n in 0..40 {
        mallory.send(&format!("nobody->bob#<AAAAAA><{n:010}>hi"));
    }
    hub.resume();
    let mut lines = hub
        .log
        .until("recvmmsg: 32 datagrams, a full batch: more may wait");
    lines.extend(hub.log.until("sendmmsg: "));
    let drained = hub.log.until("recvmmsg: ");
    assert!(
        drained
            .last()
            .unwrap()
            .contains("recvmmsg: 8 datagrams, fewer than 32: the socket is drained"),
        "{drained:#?}"
    );
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    assert!(
        has("[udp] sendmmsg: 32 of 32 datagrams in one call"),
        "{lines:#?}"
    );
    let nobody = "[hub] nobody: no such account (answered log in again)";
    assert!(has(nobody), "{lines:#?}");
    for _ in 0..40 {
        mallory.recv();
    }
}

/// A batch read in one call is traced a datagram at a time: each `in`
/// line is followed by what that datagram caused (its transitions, its
/// reply), before the next datagram's, though the replies go out in one
/// `sendmmsg`. The Scope's page links each reply to its cause so.
#[test]
fn a_batch_is_traced_datagram_by_datagram_each_with_what_it_caused() {
    let hub = Server::start("trace-causes", &["--trace"]);
    let peers = [
        Peer::new(hub.addr),
        Peer::new(hub.addr),
        Peer::new(hub.addr),
    ];
    let logins = [
        ("alice", "wonderland"),
        ("bob", "builder"),
        ("carol", "s3cret"),
    ];
    hub.pause();
    for (peer, (id, password)) in peers.iter().zip(logins) {
        peer.send(&format!("{id}->server#login<{password}>"));
    }
    hub.resume();
    for peer in &peers {
        peer.recv();
    }
    let mut lines = hub.log.until("recvmmsg: 3 datagrams");
    lines = lines.split_off(lines.len() - 1);
    lines.extend(hub.log.until("sendmmsg: 3 of 3 datagrams in one call"));
    lines.retain(|line| line.contains(" [udp] ") || line.contains(" [hub] "));
    let kinds: Vec<&str> = lines
        .iter()
        .map(|line| match line {
            _ if line.contains("[udp] in  ") => "in",
            _ if line.contains("[udp] out ") => "out",
            _ if line.contains(" => ") => "transition",
            _ => "batch",
        })
        .collect();
    let one = ["in", "transition", "transition", "out"];
    let expected: Vec<&str> = ["batch"]
        .into_iter()
        .chain(one.repeat(3))
        .chain(["batch"])
        .collect();
    assert_eq!(kinds, expected, "{lines:#?}");
    for (n, (id, _)) in logins.iter().enumerate() {
        let at = 1 + 4 * n;
        assert!(lines[at].contains(&format!("{id}->server#login")));
        assert!(lines[at + 3].contains(&format!("server->{id}#Success")));
    }
}

#[test]
fn refusals_and_errors() {
    let hub = Server::start("errors", &[]);
    let alice = Peer::new(hub.addr);
    let mallory = Peer::new(hub.addr);

    alice.send("alice->server#login<wrong>");
    assert_eq!(
        alice.recv(),
        "server->alice#Error: password does not match!"
    );
    alice.send("nobody->server#login<wonderland>\n");
    assert_eq!(
        alice.recv(),
        "server->nobody#Error: password does not match!"
    );

    let token = alice.login("alice", "wonderland");
    alice.send(&format!("alice->carol#<{token}><1111111111>hi"));
    assert_eq!(
        alice.recv(),
        format!("server->alice#<{token}><1111111111>Error: destination offline!")
    );
    // A wrong token is echoed as sent; the real one goes nowhere near mallory.
    mallory.send("alice->bob#<guess!><2222222222>hi");
    let reply = alice.recv();
    assert_eq!(
        reply,
        "server->alice#<guess!><2222222222>Error: token error!"
    );
    assert!(!reply.contains(&token));
    mallory.send("carol->bob#<abcdef><3333333333>hi");
    assert_eq!(
        mallory.recv(),
        "server->carol#<abcdef><3333333333>Error: please log in again!"
    );
    mallory.send("carol->server#logoff<abcdef>");
    assert_eq!(mallory.recv(), "server->carol#Error: please log in again!");
}

#[test]
fn garbage_and_oversized_datagrams_get_no_answer_and_change_nothing() {
    let hub = Server::start("garbage", &[]);
    let peer = Peer::new(hub.addr);
    peer.send("hello");
    peer.send_bytes(&[0xff; 100]);
    peer.send("server->alice#Success<abcdef>");
    let mut oversized = b"alice->server#login<wonderland>".to_vec();
    oversized.resize(4000, b' ');
    peer.send_bytes(&oversized);
    // The hub answers in order, so had it answered any of the above, that
    // answer would arrive before this login's.
    let token = peer.login("alice", "wonderland");
    assert_eq!(token.len(), 6);
    hub.log.expect("over the 1024-byte limit");
}

#[test]
fn password_guessing_is_slowed_down() {
    let hub = Server::start("throttle", &[]);
    let alice = Peer::new(hub.addr);
    let refused = "server->alice#Error: password does not match!";
    // Five failures are free; the sixth closes the account for 1 s.
    for guess in 1..=6 {
        alice.send(&format!("alice->server#login<guess{guess}>"));
        assert_eq!(alice.recv(), refused, "guess {guess}");
    }
    // The hub counted the sixth failure before this reply left it.
    let closed_at = Instant::now();
    alice.send("alice->server#login<wonderland>");
    assert_eq!(alice.recv(), refused, "the right password, too soon");
    hub.log.expect("login refused for alice from 127.0.0.1:");
    hub.log.expect("too many failures, slowed down");
    // Waiting out the delay is the test: the right password gets in after it.
    thread::sleep(Duration::from_secs(1).saturating_sub(closed_at.elapsed()));
    alice.login("alice", "wonderland");
}

#[test]
fn a_flood_of_garbage_and_wrong_logins_is_logged_at_a_bounded_rate() {
    let hub = Server::start("quiet-log", &[]);
    // From another loopback address, so that the per-address login budget
    // it exhausts is not alice's.
    let flooder = UdpSocket::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    flooder.set_read_timeout(Some(common::PATIENCE)).unwrap();
    let started = Instant::now();
    let mut buf = [0; 128];
    for batch in 0..15 {
        for n in 0..20 {
            flooder.send_to(b"garbage", hub.addr).unwrap();
            let login = format!("nobody{batch}x{n}->server#login<guess>");
            flooder.send_to(login.as_bytes(), hub.addr).unwrap();
        }
        // Every wrong login is answered: once they are, the hub has read
        // the batch, and the next does not overflow its socket.
        for _ in 0..20 {
            flooder.recv(&mut buf).expect("a refusal");
        }
    }
    // Logged after whatever of the flood the hub logs, in a second of its
    // own (the flood spent its second's budget of lines).
    thread::sleep(Duration::from_millis(1100));
    Peer::new(hub.addr).login("alice", "wonderland");
    let lines = hub.log.until("alice logged in");
    // Ten lines a second about drops and refusals, and one saying how many
    // more were not shown, in each second the flood lasted.
    let seconds = started.elapsed().as_secs() as usize + 1;
    assert!(
        lines.len() <= 11 * seconds + 1,
        "{} lines in {seconds} s: {lines:#?}",
        lines.len()
    );
}

/// The datagram that stopped the hub: a login naming an IPv6 reply address,
/// which the hub's IPv4 socket cannot send to. Refused without a reply, and
/// the hub goes on serving everyone.
#[test]
fn a_login_naming_an_ipv6_address_is_refused_and_stops_nothing() {
    let mut hub = Server::start("ipv6-login", &[]);
    let alice = Peer::new(hub.addr);
    let bob = Peer::new(hub.addr);
    let alice_token = alice.login("alice", "wonderland");
    let bob_token = bob.login("bob", "builder");
    let mallory = Peer::new(hub.addr);
    mallory.send("x->server#login<><::1><1>");
    // Also with the right password: the reply could not be sent either way.
    mallory.send("carol->server#login<s3cret><::1><32000>");
    hub.log
        .expect("login names a reply address this socket cannot reach");

    alice.send(&format!(
        "alice->bob#<{alice_token}><0000000001>still here?"
    ));
    assert_eq!(
        alice.recv(),
        format!("server->alice#<{alice_token}><0000000001>Success: still here?")
    );
    assert_eq!(
        bob.recv(),
        format!("alice->bob#<{bob_token}><0000000001>still here?")
    );
    assert!(
        hub.child.try_wait().unwrap().is_none(),
        "the hub is still running"
    );
    // Nothing was ever sent to mallory: the next reply it gets is its own login's.
    mallory.login("carol", "s3cret");
}

/// Logged-in users cannot flood the log: a thousand unreceipted messages to
/// oneself (each over the cap on pending forwards is given up, a line each)
/// and a thousand logins alternating two addresses (each replacing the
/// session, a line each) leave about ten lines a second.
#[test]
fn what_logged_in_users_send_is_logged_at_a_bounded_rate() {
    let mut hub = Server::start("user-flood", &[]);
    let started = Instant::now();
    let alice = Peer::new(hub.addr);
    let token = alice.login("alice", "wonderland");
    for n in 0..1_000 {
        alice.send(&format!("alice->alice#<{token}><{n:010}>x"));
    }
    let (here, there) = (Peer::new(hub.addr), Peer::new(hub.addr));
    for _ in 0..500 {
        here.login("bob", "builder");
        there.login("bob", "builder");
    }
    // The count of what was held back is logged with the first line of the
    // next second: wait that second out, then cause one more line.
    thread::sleep(Duration::from_millis(1100));
    here.login("bob", "builder");
    assert!(hub.terminate().success());
    let seconds = started.elapsed().as_secs() as usize + 1;
    let lines = hub.log.rest();
    let from_traffic = lines
        .iter()
        .filter(|l| l.contains("gave up") || l.contains("logged in"))
        .count();
    assert!(from_traffic > 0, "{lines:#?}");
    // Ten a second, one more a second saying how many were not shown, and
    // the start and stop lines.
    assert!(
        lines.len() <= 11 * seconds + 3,
        "{} lines in {seconds} s: {lines:#?}",
        lines.len()
    );
    assert!(
        lines.iter().any(|l| l.contains("more log lines not shown")),
        "{lines:#?}"
    );
}

#[test]
fn an_idle_session_expires_and_must_log_in_again() {
    let hub = Server::start("expiry", &["--session-timeout", "1"]);
    let alice = Peer::new(hub.addr);
    let token = alice.login("alice", "wonderland");
    // The expiry timer fires on its own, with no traffic to wake the hub.
    hub.log.expect("alice expired after inactivity");
    alice.send(&format!("alice->bob#<{token}><5555555555>anyone?"));
    assert_eq!(
        alice.recv(),
        format!("server->alice#<{token}><5555555555>Error: please log in again!")
    );
    let again = alice.login("alice", "wonderland");
    assert_ne!(again, token);
}

#[test]
fn bind_takes_a_host_name_as_the_client_takes_one() {
    let hub = Server::start_at("bind-name", "localhost:0", &[]);
    assert!(hub.addr.ip().is_loopback(), "{}", hub.addr);
    Peer::new(hub.addr).login("alice", "wonderland");
}

#[test]
fn the_start_line_counts_accounts_and_an_empty_file_is_warned_of() {
    let one = Server::start_with("one-account", "127.0.0.1:0", "  # indented\nalice:a\n", &[]);
    assert!(
        one.start_log.last().unwrap().contains("(1 account from"),
        "{:?}",
        one.start_log
    );
    let empty = Server::start_with("no-account", "127.0.0.1:0", "# nobody yet\n", &[]);
    assert!(
        empty.start_log[0].contains("WARN: ") && empty.start_log[0].contains("holds no account"),
        "{:?}",
        empty.start_log
    );
    assert!(empty.start_log.last().unwrap().contains("(0 accounts from"));
}

/// Accounts change while people chat: `kill -HUP` reloads the file.
#[test]
fn sighup_reloads_the_accounts_file_and_a_broken_one_changes_nothing() {
    let hub = Server::start_with(
        "reload",
        "127.0.0.1:0",
        "alice:wonderland\nbob:builder\n",
        &[],
    );
    let alice = Peer::new(hub.addr);
    let alice_token = alice.login("alice", "wonderland");
    let bob = Peer::new(hub.addr);
    let bob_token = bob.login("bob", "builder");

    std::fs::write(hub.accounts_file(), "alice:changed\ncarol:s3cret\n").unwrap();
    hub.signal("HUP");
    hub.log
        .expect("accounts reloaded: 1 added, 1 removed, 1 password changed (2 now; ");
    hub.log
        .expect("bob's account was removed: its session ended");
    let carol = Peer::new(hub.addr);
    let carol_token = carol.login("carol", "s3cret");
    bob.send(&format!("bob->alice#<{bob_token}><0000000001>hi"));
    assert_eq!(
        bob.recv(),
        format!("server->bob#<{bob_token}><0000000001>Error: please log in again!")
    );
    // Alice's session outlives her password's change.
    alice.send(&format!("alice->carol#<{alice_token}><0000000002>welcome"));
    assert_eq!(
        carol.recv(),
        format!("alice->carol#<{carol_token}><0000000002>welcome")
    );

    let path = hub.accounts_file().display().to_string();
    std::fs::write(hub.accounts_file(), "alice:changed\nno colon here\n").unwrap();
    hub.signal("HUP");
    let line = hub.log.expect("accounts not reloaded");
    assert!(
        line.contains(&format!("{path}:2: malformed line")),
        "{line}"
    );
    Peer::new(hub.addr).login("carol", "s3cret");
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let mut hub = Server::start("sigterm", &[]);
    let status = hub.terminate();
    assert!(status.success(), "{status}");
    hub.log.expect("stopped");
}

/// Runs `reactor-server` expecting it to fail at start; returns its stderr.
fn failed_start(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_reactor-server"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run reactor-server");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn startup_errors_are_one_clear_line() {
    let missing = failed_start(&["--bind", "127.0.0.1:0", "--users", "/no/such/users.conf"]);
    assert!(
        missing.contains("/no/such/users.conf: cannot read"),
        "{missing}"
    );

    let malformed = TempFile::new("malformed.conf", "# ok\nalice:pw\nno colon\n");
    let path = malformed.0.to_str().unwrap();
    let stderr = failed_start(&["--bind", "127.0.0.1:0", "--users", path]);
    assert!(
        stderr.contains(&format!("{path}:3: malformed line")),
        "{stderr}"
    );

    let repeated = TempFile::new("repeated.conf", "alice:a\nalice:b\n");
    let path = repeated.0.to_str().unwrap();
    let stderr = failed_start(&["--bind", "127.0.0.1:0", "--users", path]);
    assert!(
        stderr.contains(&format!("{path}:2: repeated id")),
        "{stderr}"
    );

    // (A --bind without its port is a usage error: see usage_errors_...)
    let unknown = failed_start(&["--bind", "nowhere.invalid:32000", "--users", path]);
    assert!(
        unknown.contains("cannot resolve the --bind address nowhere.invalid:32000"),
        "{unknown}"
    );

    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let accounts = TempFile::new("inuse.conf", "alice:a\n");
    let stderr = failed_start(&["--bind", &addr, "--users", accounts.0.to_str().unwrap()]);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(stderr.contains("in use"), "{stderr}");
}

/// `alice:` would let anyone in as alice with `login<>`: the hub refuses
/// to start on it, naming the line.
#[test]
fn an_empty_password_stops_the_start() {
    // The last line stops a hub that let `bob:` through, so that the test
    // fails rather than waits on a hub that serves.
    let file = TempFile::new(
        "empty-password.conf",
        "# ok\nalice:wonderland\nbob:\nno colon\n",
    );
    let path = file.0.to_str().unwrap();
    let stderr = failed_start(&["--bind", "127.0.0.1:0", "--users", path]);
    assert!(
        stderr.contains(&format!("{path}:3: the password of \"bob\" is empty")),
        "{stderr}"
    );
}

/// `alice:wonderland ` makes the blank part of the password, so
/// `login<wonderland>` is refused: the hub keeps the blank but warns, at
/// start and at every reload, naming the line and never the password.
#[test]
fn a_blank_at_a_password_s_end_is_kept_and_warned_of_at_start_and_reload() {
    let hub = Server::start_with(
        "blank-password",
        "127.0.0.1:0",
        "# ok\nalice:wonderland \nbob:builder\n",
        &[],
    );
    let path = hub.accounts_file().display().to_string();
    let warning = format!(
        "WARN: {path}:2: the password of \"alice\" ends with a space or tab; \
         it is part of the password"
    );
    assert!(
        hub.start_log.iter().any(|line| line.ends_with(&warning)),
        "{:#?}",
        hub.start_log
    );
    assert!(!hub.start_log.iter().any(|line| line.contains("wonderland")));
    let alice = Peer::new(hub.addr);
    alice.send("alice->server#login<wonderland>");
    assert_eq!(
        alice.recv(),
        "server->alice#Error: password does not match!"
    );
    alice.login("alice", "wonderland ");

    std::fs::write(hub.accounts_file(), "alice:wonderland\nbob:\tbuilder\n").unwrap();
    hub.signal("HUP");
    let lines = hub.log.until("accounts reloaded");
    let warning = format!(
        "WARN: {path}:2: the password of \"bob\" begins with a space or tab; \
         it is part of the password"
    );
    assert!(
        lines.iter().any(|line| line.ends_with(&warning)),
        "{lines:#?}"
    );

    // An empty password fails a reload as a malformed line does.
    std::fs::write(hub.accounts_file(), "alice:\nbob:builder\n").unwrap();
    hub.signal("HUP");
    let line = hub.log.expect("accounts not reloaded");
    assert!(
        line.contains(&format!("{path}:1: the password of \"alice\" is empty")),
        "{line}"
    );
    Peer::new(hub.addr).login("alice", "wonderland");
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_reactor-server"))
            .args(args)
            .output()
            .unwrap()
    };
    let help = run(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let help = String::from_utf8(help.stdout).unwrap();
    for flag in [
        "--bind",
        "--users",
        "--session-timeout",
        "--metrics",
        "--help",
        "--version",
    ] {
        assert!(help.contains(flag), "{flag} missing from {help}");
    }
    assert_eq!(run(&["--version"]).status.code(), Some(0));
    assert_eq!(run(&["--session-timeout", "soon"]).status.code(), Some(2));
    // Past what the clock can count: used to be accepted, and the first
    // login panicked (exit 101).
    for huge in ["9300000000000000000", "18446744073709551615", "31536001"] {
        let out = run(&["--session-timeout", huge]);
        assert_eq!(out.status.code(), Some(2), "{huge}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--session-timeout: at most"), "{stderr}");
    }
    assert_eq!(run(&["--bogus"]).status.code(), Some(2));
    let out = run(&["--metrics", "not an address"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--metrics"));
    // Each usage error is one line naming what is wrong, and how to fix it.
    for (args, says) in [
        (
            &["--bind", "127.0.0.1"][..],
            "--bind: \"127.0.0.1\" is not a HOST:PORT address (no port)",
        ),
        (&["--node", "a"], "--node: only with --nats"),
        (
            &["--bnid", "127.0.0.1:0"],
            "unknown flag --bnid (did you mean --bind?)",
        ),
        (
            &["--session-timeut", "5"],
            "did you mean --session-timeout?",
        ),
    ] {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("reactor-server: "), "{stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(stderr.contains("see reactor-server --help"), "{stderr}");
    }
}

/// The hub with `accounts` on port 0, logging at debug level, not waited
/// for: its log from the first line.
fn start_at_debug_level(accounts: &TempFile) -> (std::process::Child, common::Lines) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_reactor-server"))
        .args(["--bind", "127.0.0.1:0", "--users"])
        .arg(&accounts.0)
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = common::Lines::new(child.stderr.take().unwrap());
    (child, log)
}

#[test]
fn the_debug_log_says_the_socket_buffers_asked_and_what_the_kernel_reports() {
    let accounts = TempFile::new("buffers.conf", common::ACCOUNTS);
    let (mut child, log) = start_at_debug_level(&accounts);
    let line = log.expect("socket buffers: ");
    // The docs say 4 MiB; Linux reports twice that: both are named.
    assert!(line.contains("asked 4194304 bytes each way"), "{line}");
    assert!(line.contains("the kernel reports "), "{line}");
    let _ = child.kill();
    let _ = child.wait();
}

/// A `systemctl reload` right after start: a SIGHUP while the accounts
/// load (a big file takes a while) waits as an event and is served once the
/// hub runs; it used to end the hub with no log line.
#[test]
fn a_sighup_while_the_accounts_load_is_served_after() {
    let lines: String = (0..200_000).map(|n| format!("u{n}:p{n}\n")).collect();
    let accounts = TempFile::new("sighup-at-start.conf", &lines);
    let (mut child, log) = start_at_debug_level(&accounts);
    log.expect("reading the accounts from");
    let hup = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let listening = log.expect("listening on");
    // How long a big file took to read is in the log.
    assert!(listening.contains("(200000 accounts from"), "{listening}");
    assert!(listening.contains(", read in "), "{listening}");
    log.expect("accounts reloaded: 0 added, 0 removed, 0 passwords changed (200000 now; read in ");
    assert!(child.try_wait().unwrap().is_none(), "still running");
    let _ = child.kill();
    let _ = child.wait();
}

/// An editor or a script rewriting the accounts file in place while a
/// SIGHUP comes: the hub reads it once it has settled, never half written.
/// (Before: 229 of 495 such reloads applied a partial file.)
#[test]
fn a_file_rewritten_in_place_during_a_sighup_is_read_once_settled() {
    let lines: String = (0..1000).map(|n| format!("u{n}:p{n}\n")).collect();
    let contents = format!("alice:wonderland\n{lines}");
    let hub = Server::start_with("in-place", "127.0.0.1:0", &contents, &[]);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(hub.accounts_file())
        .unwrap();
    let (first, rest) = contents.as_bytes().split_at(contents.len() / 2);
    std::io::Write::write_all(&mut file, first).unwrap();
    hub.signal("HUP");
    // The writer pauses mid-file, as a slow script or a disk might.
    thread::sleep(Duration::from_millis(30));
    std::io::Write::write_all(&mut file, rest).unwrap();
    drop(file);
    let line = hub.log.expect("accounts reloaded");
    assert!(
        line.contains("accounts reloaded: 0 added, 0 removed, 0 passwords changed (1001 now; "),
        "{line}"
    );
    Peer::new(hub.addr).login("alice", "wonderland");
}

/// `--record FILE` writes the events `--trace` prints, the same lines in
/// the same order, a JSON object each with its sequence number, the loop
/// turn it belongs to and what it is.
#[test]
fn a_recording_holds_the_trace_lines_of_the_same_run() {
    let record = TempFile::new("record.jsonl", "");
    let path = record.0.to_str().expect("a UTF-8 path");
    let mut hub = Server::start("record", &["--trace", "--record", path]);
    let alice = Peer::new(hub.addr);
    let token = alice.login("alice", "wonderland");
    alice.send("alice->server#login<wonder>");
    alice.recv();
    alice.send("alice->bob#<zzzzzz><0000000001>a forged token");
    alice.recv();
    alice.send(&format!("alice->server#logoff<{token}>"));
    alice.recv();
    assert!(hub.terminate().success());
    let printed = common::trace_lines(hub.log.rest());
    let recorded = std::fs::read_to_string(&record.0).expect("the recording");
    let recorded: Vec<&str> = recorded.lines().collect();
    let lines: Vec<String> = recorded
        .iter()
        .map(|json| string_field(json, "line"))
        .collect();
    assert!(lines.len() > 10, "{recorded:#?}");
    assert_eq!(lines, printed[printed.len() - lines.len()..]);
    for (n, json) in recorded.iter().enumerate() {
        assert!(
            json.starts_with(&format!("{{\"seq\":{n},\"turn\":")),
            "{json}"
        );
    }
    let kinds: Vec<String> = recorded
        .iter()
        .map(|json| string_field(json, "kind"))
        .collect();
    for kind in [
        "wait",
        "wake",
        "ready",
        "recv",
        "in",
        "transition",
        "out",
        "send",
        "unchanged",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind}: {kinds:?}");
    }
    assert!(!lines.iter().any(|l| l.contains("wonder")), "no password");
    // Read back, it exports to Perfetto's format: JSON, an arrow's start
    // for each end.
    let events = reactor_hub::scope::recording::read(&recorded.join("\n"));
    assert_eq!(events.len(), recorded.len());
    let exported = reactor_hub::scope::perfetto::export(&events);
    let trace: serde_json::Value = serde_json::from_str(&exported).expect("JSON");
    let phases = trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["ph"]);
    let (starts, ends) = phases.fold((0, 0), |(s, f), ph| {
        (s + (ph == "s") as usize, f + (ph == "f") as usize)
    });
    assert!(
        starts >= 3 && starts == ends,
        "{starts} arrows, {ends} ends"
    );
}

/// The string value of `field` in a recording's line (which escapes only
/// quotes, backslashes and control characters).
fn string_field(json: &str, field: &str) -> String {
    let start = json.find(&format!("\"{field}\":\"")).expect(field) + field.len() + 4;
    let mut value = String::new();
    let mut chars = json[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return value,
            '\\' => match chars.next() {
                Some('t') => value.push('\t'),
                Some('n') => value.push('\n'),
                Some('r') => value.push('\r'),
                Some(other) => value.push(other),
                None => break,
            },
            c => value.push(c),
        }
    }
    panic!("{field} unterminated in {json}")
}
