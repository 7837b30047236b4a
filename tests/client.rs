//! End to end: the real `reactor-server` and real `reactor-client`
//! processes over UDP on 127.0.0.1, stdin piped or redirected from a file.
//!
//! Every wait is for an expected line, with a timeout that only bounds a
//! failure: a passing test takes as long as the programs need, no longer.

mod common;

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::peer::Peer;
use common::{Lines, Server, TempFile, PATIENCE};

const CLIENT: &str = env!("CARGO_BIN_EXE_reactor-client");

/// A running `reactor-client`, killed when dropped if it has not exited.
struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Lines,
    /// Its stderr, when started with `--trace`.
    trace: Option<Lines>,
}

impl Client {
    /// A client whose stdin is a pipe the test types into.
    fn piped(server: SocketAddr) -> Self {
        Self::spawn(server, Stdio::piped())
    }

    fn spawn(server: SocketAddr, stdin: Stdio) -> Self {
        Self::start(server, stdin, false)
    }

    /// With `--trace`, its stderr in `trace`.
    fn traced(server: SocketAddr) -> Self {
        Self::start(server, Stdio::piped(), true)
    }

    fn start(server: SocketAddr, stdin: Stdio, trace: bool) -> Self {
        let mut command = Command::new(CLIENT);
        command
            .args(["--server", &server.to_string()])
            .stdin(stdin)
            .stdout(Stdio::piped());
        if trace {
            command.arg("--trace").stderr(Stdio::piped());
        } else {
            command.stderr(Stdio::null());
        }
        let mut child = command.spawn().unwrap();
        Self {
            stdin: child.stdin.take(),
            out: Lines::new(child.stdout.take().unwrap()),
            trace: child.stderr.take().map(Lines::new),
            child,
        }
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for a line on stdout containing `needle`.
    fn expect(&self, needle: &str) -> String {
        self.out.expect(needle)
    }

    /// Ends the input, as Ctrl-D or the end of a pipe does.
    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits for the client to exit on its own.
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "client still running after {PATIENCE:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Alice and Bob, each logged in through a pipe.
fn alice_and_bob(server: &Server) -> (Client, Client) {
    let mut bob = Client::piped(server.addr);
    bob.type_line("bob->server#login<builder>");
    bob.expect("* logged in as bob");
    let mut alice = Client::piped(server.addr);
    alice.type_line("alice->server#login<wonderland>");
    alice.expect("* logged in as alice");
    (alice, bob)
}

#[test]
fn two_clients_chat_through_the_real_server() {
    let server = Server::start("client-chat", &[]);
    let (mut alice, mut bob) = alice_and_bob(&server);

    alice.type_line("alice->bob#hello there, #<bob>!");
    assert_eq!(bob.expect("alice:"), "alice: hello there, #<bob>!");
    alice.expect("* message to bob accepted by the server");

    bob.type_line("bob->alice#hi alice");
    assert_eq!(alice.expect("bob:"), "bob: hi alice");
    bob.expect("* message to alice accepted by the server");

    alice.type_line("alice->carol#are you there?");
    alice.expect("* carol is offline or unknown: message not delivered");

    alice.type_line("hello?");
    alice.expect("* type ID->server#login<PASSWORD>, ID->DEST#message or ID->server#logoff");

    alice.type_line("alice->server#logoff");
    alice.expect("* logged off");
    alice.close_stdin();
    assert!(alice.wait().success());
    assert_eq!(alice.out.rest(), Vec::<String>::new());

    // Bob's input ends while he is online: he logs off, then exits.
    bob.close_stdin();
    bob.expect("* logged off");
    assert!(bob.wait().success());
}

/// The longest message the client takes is confirmed and shown: the hub's
/// echo of a longer one would not fit in a datagram, so the client refuses
/// it when typed instead of sending what it could never hear confirmed.
#[test]
fn the_longest_message_the_client_takes_is_accepted_and_shown() {
    let server = Server::start("client-longest", &[]);
    let (mut alice, bob) = alice_and_bob(&server);
    // `server->alice#<TOKEN><MSGID>Success: BODY` must fit in 1024 bytes.
    let longest = 1024 - "server->alice#<abcdef><0123456789>Success: ".len();

    alice.type_line(&format!("alice->bob#{}", "y".repeat(longest + 1)));
    alice.expect("* too long");
    let body = "x".repeat(longest);
    alice.type_line(&format!("alice->bob#{body}"));
    let lines = alice.out.until("* message to bob accepted by the server");
    assert!(
        !lines.iter().any(|l| l.contains("not answering")),
        "{lines:#?}"
    );
    assert_eq!(bob.expect("alice:"), format!("alice: {body}"));
}

#[test]
fn stdin_redirected_from_a_file() {
    let server = Server::start("client-file", &[]);
    let mut bob = Client::piped(server.addr);
    bob.type_line("bob->server#login<builder>");
    bob.expect("* logged in as bob");

    // The last line has no newline: it still counts.
    let input = TempFile::new(
        "client-file-alice.txt",
        "alice->server#login<wonderland>\n\
         alice->bob#from a file\n\
         alice->carol#anyone?\n\
         alice->server#logoff",
    );
    let mut alice = Client::spawn(server.addr, Stdio::from(File::open(&input.0).unwrap()));
    assert!(alice.wait().success());
    assert_eq!(
        alice.out.rest(),
        [
            "* logged in as alice",
            "* message to bob accepted by the server",
            "* carol is offline or unknown: message not delivered",
            "* logged off",
        ]
    );
    assert_eq!(bob.expect("alice:"), "alice: from a file");
}

#[test]
fn stdin_from_dev_null_ends_at_once() {
    let server = Server::start("client-null", &[]);
    let mut client = Client::spawn(server.addr, Stdio::null());
    assert!(client.wait().success());
    assert_eq!(client.out.rest(), Vec::<String>::new());
}

#[test]
fn a_server_that_does_not_answer_is_reported_and_the_client_exits_at_end_of_input() {
    // Bound, so no ICMP error comes back, and silent.
    let silent = common::udp_socket();
    let mut alice = Client::piped(silent.local_addr().unwrap());
    let started = Instant::now();
    alice.type_line("alice->server#login<wonderland>");
    let addr = silent.local_addr().unwrap();
    alice.expect(&format!(
        "* the server at {addr} is not answering: login not confirmed"
    ));
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(7), "gave up after {waited:?}");

    // The login went out once and was resent three times, byte for byte.
    silent.set_nonblocking(true).unwrap();
    let mut buf = [0; 2048];
    let mut received = Vec::new();
    while let Ok(len) = silent.recv(&mut buf) {
        received.push(buf[..len].to_vec());
    }
    assert_eq!(received.len(), 4, "{received:?}");
    assert!(received.iter().all(|d| *d == received[0]));
    assert!(received[0].starts_with(b"alice->server#login<wonderland><127.0.0.1><"));

    alice.close_stdin();
    assert!(alice.wait().success());
}

#[test]
fn a_restarted_server_asks_to_log_in_again_and_the_message_goes_out_after() {
    let first = Server::start("client-restart-1", &[]);
    let addr = first.addr.to_string();
    let (mut alice, mut bob) = alice_and_bob(&first);
    drop(first);

    let _second = Server::start_at("client-restart-2", &addr, &[]);
    bob.type_line("bob->server#logoff");
    bob.expect("* logged off");
    bob.type_line("bob->server#login<builder>");
    bob.expect("* logged in as bob");

    alice.type_line("alice->bob#are you still there?");
    alice.expect("please log in again");
    alice.expect("* not logged in: message to bob will be sent after you log in");
    alice.type_line("alice->server#login<wonderland>");
    alice.expect("* logged in as alice");
    alice.expect("* message to bob accepted by the server");
    assert_eq!(bob.expect("alice:"), "alice: are you still there?");
}

#[test]
fn messages_in_flight_and_queued_while_the_server_restarts_are_sent_after_login() {
    let first = Server::start("client-restart-queued-1", &[]);
    let addr = first.addr.to_string();
    let (mut alice, mut bob) = alice_and_bob(&first);
    drop(first); // killed: no goodbye to anyone

    // Typed while no server runs: the first goes out and gets no answer (it
    // is resent), the other two wait behind it.
    for n in 1..=3 {
        alice.type_line(&format!("alice->bob#queued {n}"));
    }
    let _second = Server::start_at("client-restart-queued-2", &addr, &[]);
    bob.type_line("bob->server#login<builder>");
    bob.expect("* logged in as bob");

    // A resend reaches the new hub, which has no session for alice. Nothing
    // is dropped: the message in flight and the two behind it wait.
    alice.expect("* the server ended our session (it restarted, we were idle too long, we logged in elsewhere, or our account was removed): please log in again");
    for _ in 1..=3 {
        alice.expect("* not logged in: message to bob will be sent after you log in");
    }
    alice.type_line("alice->server#login<wonderland>");
    alice.expect("* logged in as alice");
    for n in 1..=3 {
        alice.expect("* message to bob accepted by the server");
        assert_eq!(bob.expect("alice:"), format!("alice: queued {n}"));
    }
    alice.close_stdin();
    alice.expect("* logged off");
    assert!(alice.wait().success());
    assert_eq!(alice.out.rest(), Vec::<String>::new(), "nothing else said");
}

#[test]
fn after_a_restart_messages_kept_for_a_login_that_never_comes_are_reported_not_sent() {
    let first = Server::start("client-restart-quit-1", &[]);
    let addr = first.addr.to_string();
    let (mut alice, _bob) = alice_and_bob(&first);
    drop(first);
    let _second = Server::start_at("client-restart-quit-2", &addr, &[]);

    alice.type_line("alice->bob#one");
    alice.type_line("alice->carol#two");
    alice.expect("please log in again");
    // Alice leaves instead of logging in: each kept message is named.
    alice.close_stdin();
    assert!(alice.wait().success());
    let rest = alice.out.rest();
    let not_sent: Vec<&String> = rest.iter().filter(|l| l.contains("was not sent")).collect();
    assert_eq!(
        not_sent,
        [
            "* message to bob was not sent: no login went through before quitting",
            "* message to carol was not sent: no login went through before quitting"
        ],
        "{rest:#?}"
    );
}

#[test]
fn ctrl_c_logs_off_then_exits() {
    let server = Server::start("client-interrupt", &[]);
    let mut alice = Client::piped(server.addr);
    alice.type_line("alice->server#login<wonderland>");
    alice.expect("* logged in as alice");
    let pid = libc::pid_t::try_from(alice.child.id()).unwrap();
    // SAFETY: sends SIGINT to the child this test spawned and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    alice.expect("* logging off before quitting");
    alice.expect("* logged off");
    assert!(alice.wait().success());
    server.log.expect("alice logged off");
}

#[test]
fn flags_help_version_and_usage_errors() {
    let run = |args: &[&str]| Command::new(CLIENT).args(args).output().unwrap();

    let help = run(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    for flag in ["--server", "--listen", "--trace", "--help", "--version"] {
        assert!(text.contains(flag), "{flag} missing from {text}");
    }

    let version = run(&["--version"]);
    assert!(version.status.success());
    assert!(String::from_utf8(version.stdout)
        .unwrap()
        .starts_with("reactor-client "));

    for args in [
        &["--bogus"][..],
        &["--server", "no-port"],
        &["--server", "0.0.0.0:32000"],
        &["--listen", "nowhere"],
        &["extra"],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.starts_with("reactor-client: "), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    }
    let output = run(&["--sever", "127.0.0.1:32000"]);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr.contains("unknown flag --sever (did you mean --server?)"),
        "{stderr}"
    );
}

/// The client's trace tells a transition before the datagram it sends, as
/// the hub's does (docs/reactor.md).
#[test]
fn the_client_trace_shows_a_transition_before_what_it_sends() {
    let server = Server::start("client-trace", &[]);
    let input = TempFile::new("client-trace.txt", "alice->server#login<wonderland>\n");
    let output = Command::new(CLIENT)
        .args(["--server", &server.addr.to_string(), "--trace"])
        .stdin(File::open(&input.0).unwrap())
        .output()
        .unwrap();
    assert!(output.status.success());
    let trace = String::from_utf8(output.stderr).unwrap();
    let at = |needle: &str| {
        trace
            .find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in {trace}"))
    };
    assert!(
        at("alice: OFFLINE => LOGIN_SENT") < at("[udp] out"),
        "{trace}"
    );
    assert!(at("=> LOGOUT_SENT") < at("logoff<"), "{trace}");
}

/// Receiving a message changes no state: the client's trace says it was
/// shown and its receipt sent, before the receipt goes out.
#[test]
fn the_client_trace_says_a_message_was_shown_and_its_receipt_sent() {
    let server = Server::start("client-trace-shown", &[]);
    let mut alice = Client::traced(server.addr);
    alice.type_line("alice->server#login<wonderland>");
    alice.expect("* logged in as alice");
    let bob = Peer::new(server.addr);
    let token = bob.login("bob", "builder");
    bob.send(&format!("bob->alice#<{token}><0123456789>hi alice"));
    alice.expect("bob: hi alice");
    let trace = alice.trace.as_ref().expect("traced");
    trace.expect("[client] alice: msg 0123456789 from bob shown, receipt sent");
    let receipt = trace.expect("[udp] out ");
    assert!(receipt.contains("alice->server#<"), "{receipt}");
    assert!(
        receipt.contains("<0123456789>Success: hi alice"),
        "{receipt}"
    );
}

/// A message typed before the login, as someone else, is dropped at the
/// login, with the reason.
#[test]
fn a_message_typed_as_another_id_before_the_login_is_dropped_with_why() {
    let server = Server::start("client-typed-as", &[]);
    let mut client = Client::piped(server.addr);
    client.type_line("carol->bob#early");
    client.expect("* not logged in: message to bob will be sent after you log in");
    client.type_line("alice->server#login<wonderland>");
    client.expect("* logged in as alice");
    client.expect("* message to bob was not sent: typed as carol, logged in as alice");
}

/// Where the kernel can tell that nothing listens at the server's address,
/// the person is told at once, with the address.
#[test]
fn a_client_whose_server_is_not_there_says_so_at_once() {
    let nobody = common::udp_socket().local_addr().unwrap(); // closed again
    let mut alice = Client::piped(nobody);
    let started = Instant::now();
    alice.type_line("alice->server#login<wonderland>");
    alice.expect(&format!(
        "* nothing listens at {nobody} (connection refused): is the server running?"
    ));
    assert!(started.elapsed() < Duration::from_secs(7), "not at once");
}

/// Ctrl-D with the hub gone: the logoff cannot be confirmed, and the
/// client says so and quits at once instead of resending for 7.5 s.
#[test]
fn end_of_input_with_the_server_gone_quits_at_once() {
    let mut server = Server::start("client-gone", &[]);
    let mut alice = Client::piped(server.addr);
    alice.type_line("alice->server#login<wonderland>");
    alice.expect("* logged in as alice");
    server.terminate();
    let started = Instant::now();
    alice.close_stdin();
    alice.expect(&format!("* nothing listens at {}", server.addr));
    alice.expect(&format!(
        "* the server at {} is not answering: logged off without its confirmation",
        server.addr
    ));
    assert!(alice.wait().success());
    assert!(started.elapsed() < Duration::from_secs(7), "not at once");
}
