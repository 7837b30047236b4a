//! The client state machine, transition by transition, with a fake clock:
//! time is an `Instant` the test moves, so a 7.5 s give-up takes no time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::accounts::Accounts;
use crate::hub::{Hub, HubConfig};
use crate::wire::{Chat, MAX_DATAGRAM};

const TOKEN: &str = "Tok3n!";

fn server() -> SocketAddr {
    "127.0.0.1:32000".parse().unwrap()
}

fn receive_addr() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

/// A client, its clock, and helpers that speak the wire as text.
struct Harness {
    client: Client,
    t0: Instant,
    now: Instant,
}

impl Harness {
    fn new() -> Self {
        Self::with_reply_to(ReplyTo::Addr(receive_addr()))
    }

    fn with_reply_to(reply_to: ReplyTo) -> Self {
        let rng = Box::new(StdRng::seed_from_u64(7));
        let now = Instant::now();
        Self {
            client: Client::with_rng(server(), reply_to, ClientConfig::default(), rng),
            t0: now,
            now,
        }
    }

    /// A client logged in as alice, with nothing sent or shown yet.
    fn online() -> Self {
        let mut h = Self::new();
        h.line("alice->server#login<wonderland>");
        h.recv(&format!("server->alice#Success<{TOKEN}>"));
        h.sent();
        h.notices();
        h
    }

    fn line(&mut self, line: &str) {
        self.client.handle_line(self.now, line.as_bytes());
    }

    fn recv(&mut self, datagram: &str) {
        self.recv_bytes(datagram.as_bytes());
    }

    fn recv_bytes(&mut self, datagram: &[u8]) {
        self.client.handle_datagram(self.now, server(), datagram);
    }

    /// Moves the clock to `millis` after the start and fires what is due.
    fn at(&mut self, millis: u64) {
        self.now = self.t0 + Duration::from_millis(millis);
        self.client.handle_timeout(self.now);
    }

    /// The datagrams queued since the last call, all to the server.
    fn sent(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(transmit) = self.client.poll_transmit() {
            assert_eq!(transmit.to, server());
            out.push(String::from_utf8_lossy(transmit.payload).into_owned());
        }
        out
    }

    /// The notices queued since the last call, as the person reads them.
    fn notices(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.client.poll_notice())
            .map(|notice| notice.to_string())
            .collect()
    }

    fn state(&self) -> ClientState {
        self.client.state()
    }

    /// Sends `line` and returns the message id the client gave it.
    fn send_message(&mut self, line: &str) -> String {
        self.line(line);
        let sent = self.sent();
        assert_eq!(sent.len(), 1, "{sent:?}");
        msg_id_of(&sent[0])
    }
}

fn msg_id_of(datagram: &str) -> String {
    match wire::parse_from_any_hub(datagram.as_bytes()).unwrap() {
        Message::Chat(Chat { msg_id, .. }) => msg_id.to_string(),
        other => panic!("not a message: {other:?}"),
    }
}

fn reply(msg_id: &str, outcome: &str) -> String {
    format!("server->alice#<{TOKEN}><{msg_id}>{outcome}")
}

#[test]
fn states_carry_the_protocol_names() {
    let names: Vec<_> = ClientState::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(
        names,
        [
            "OFFLINE",
            "LOGIN_SENT",
            "ONLINE",
            "MESSAGE_SENT",
            "LOGOUT_SENT"
        ]
    );
    assert_eq!(ClientState::MessageSent.to_string(), "MESSAGE_SENT");
}

#[test]
fn offline_login_typed_sends_the_login_with_the_receive_address() {
    let mut h = Harness::new();
    assert_eq!(h.state(), ClientState::Offline);
    h.line("alice->server#login<wonderland>");
    assert_eq!(h.state(), ClientState::LoginSent);
    assert_eq!(
        h.sent(),
        ["alice->server#login<wonderland><127.0.0.1><40000>"]
    );
    assert_eq!(
        h.client.poll_timeout(),
        Some(h.t0 + Duration::from_millis(500))
    );
}

#[test]
fn an_unspecified_listen_address_is_advertised_as_0_0_0_0() {
    let mut h = Harness::with_reply_to(ReplyTo::SourceIpAt(40000));
    h.line("alice->server#login<wonderland>");
    assert_eq!(
        h.sent(),
        ["alice->server#login<wonderland><0.0.0.0><40000>"]
    );
}

#[test]
fn login_sent_success_goes_online() {
    let mut h = Harness::new();
    h.line("alice->server#login<wonderland>");
    h.recv(&format!("server->alice#Success<{TOKEN}>"));
    assert_eq!(h.state(), ClientState::Online);
    assert_eq!(h.notices(), ["* logged in as alice"]);
    assert_eq!(h.client.poll_timeout(), None);
}

#[test]
fn login_sent_password_mismatch_goes_offline() {
    let mut h = Harness::new();
    h.line("alice->server#login<wrong>");
    h.recv("server->alice#Error: password does not match!");
    assert_eq!(h.state(), ClientState::Offline);
    assert_eq!(
        h.notices(),
        ["* login refused: wrong id or password (after 5 wrong tries logins are slowed down: wait a minute)"]
    );
    assert_eq!(h.client.poll_timeout(), None);
}

/// The hub keeps a session when a repeat login has the wrong password, so
/// the client must too: otherwise it shows OFFLINE while the hub tells
/// others their messages to it were accepted.
#[test]
fn a_refused_repeat_login_keeps_the_session() {
    let mut h = Harness::online();
    h.line("alice->server#login<typo>");
    h.recv("server->alice#Error: password does not match!");
    assert_eq!(h.state(), ClientState::Online);
    assert_eq!(
        h.notices(),
        ["* login refused: wrong id or password (after 5 wrong tries logins are slowed down: wait a minute); still logged in as alice"]
    );
    h.sent();
    let id = h.send_message("alice->bob#still here");
    h.recv(&reply(&id, "Success: still here"));
    assert_eq!(h.notices(), ["* message to bob accepted by the server"]);
}

#[test]
fn an_unanswered_repeat_login_keeps_the_session() {
    let mut h = Harness::online();
    h.line("alice->server#login<wonderland>");
    for at in (500..=10_000).step_by(500) {
        h.at(at);
    }
    assert_eq!(h.state(), ClientState::Online);
    assert_eq!(
        h.notices(),
        ["* the server at 127.0.0.1:32000 is not answering: login not confirmed"]
    );
    h.sent();
    h.line("alice->bob#still here");
    assert!(
        h.sent()[0].starts_with(&format!("alice->bob#<{TOKEN}><")),
        "the old token still in use"
    );
}

#[test]
fn login_sent_ignores_replies_for_another_id() {
    let mut h = Harness::new();
    h.line("alice->server#login<wonderland>");
    h.recv(&format!("server->bob#Success<{TOKEN}>"));
    h.recv("server->bob#Error: password does not match!");
    assert_eq!(h.state(), ClientState::LoginSent);
    assert!(h.notices().is_empty());
}

#[test]
fn login_sent_without_reply_resends_with_backoff_then_goes_offline() {
    let mut h = Harness::new();
    h.line("alice->server#login<wonderland>");
    let login = h.sent();
    for (at, resent) in [
        (499, false),
        (500, true),
        (1499, false),
        (1500, true),
        (3499, false),
        (3500, true),
        (7499, false),
    ] {
        h.at(at);
        let expected = if resent { login.clone() } else { vec![] };
        assert_eq!(h.sent(), expected, "at {at} ms");
        assert_eq!(h.state(), ClientState::LoginSent, "at {at} ms");
    }
    h.at(7500);
    assert!(h.sent().is_empty());
    assert_eq!(h.state(), ClientState::Offline);
    assert_eq!(
        h.notices(),
        ["* the server at 127.0.0.1:32000 is not answering: login not confirmed"]
    );
    assert_eq!(h.client.poll_timeout(), None);
    // The person can go on: a new login goes out.
    h.line("alice->server#login<wonderland>");
    assert_eq!(h.state(), ClientState::LoginSent);
}

#[test]
fn online_message_typed_goes_out_with_token_and_a_ten_digit_id() {
    let mut h = Harness::online();
    h.line("alice->bob#hello there");
    assert_eq!(h.state(), ClientState::MessageSent);
    let sent = h.sent();
    let id = msg_id_of(&sent[0]);
    assert_eq!(id.len(), 10);
    assert!(id.bytes().all(|b| b.is_ascii_digit()), "{id}");
    assert_eq!(sent, [format!("alice->bob#<{TOKEN}><{id}>hello there")]);
    h.recv(&reply(&id, "Success: hello there"));
    assert_ne!(
        h.send_message("alice->bob#again"),
        id,
        "every message gets a fresh id"
    );
}

#[test]
fn message_sent_accepted_goes_online() {
    let mut h = Harness::online();
    let id = h.send_message("alice->bob#hello there");
    h.recv(&reply(&id, "Success: hello there"));
    assert_eq!(h.state(), ClientState::Online);
    assert_eq!(h.notices(), ["* message to bob accepted by the server"]);
    assert_eq!(h.client.poll_timeout(), None);
}

#[test]
fn message_sent_destination_offline_goes_online() {
    let mut h = Harness::online();
    let id = h.send_message("alice->carol#anyone?");
    h.recv(&reply(&id, "Error: destination offline!"));
    assert_eq!(h.state(), ClientState::Online);
    assert_eq!(
        h.notices(),
        ["* carol is offline or unknown: message not delivered"]
    );
}

/// Other implementations of the hub word their errors their own way; the
/// reply is still matched by our token and the id in flight.
#[test]
fn another_hubs_error_fails_the_message_in_flight() {
    for (said, shown) in [
        ("Error: destination offline", "Error: destination offline"),
        (
            "ERROR: Destination offline.\n",
            "ERROR: Destination offline.",
        ),
        ("error", "error"),
    ] {
        let mut h = Harness::online();
        let id = h.send_message("alice->carol#anyone?");
        h.recv(&reply("0000000000", said));
        h.recv(&format!("server->alice#<Other1><{id}>{said}"));
        assert_eq!(h.state(), ClientState::MessageSent, "not ours: {said:?}");
        h.recv(&reply(&id, said));
        assert_eq!(h.state(), ClientState::Online, "{said:?}");
        assert_eq!(
            h.notices(),
            [format!(
                "* message to carol not delivered: the server said \"{shown}\""
            )]
        );
        assert_eq!(h.client.poll_timeout(), None, "no resend");
    }
}

#[test]
fn a_reply_that_is_neither_success_nor_error_changes_nothing() {
    let mut h = Harness::online();
    let id = h.send_message("alice->carol#anyone?");
    h.recv(&reply(&id, "Delivered"));
    assert_eq!(h.state(), ClientState::MessageSent);
    assert!(h.notices().is_empty());
}

/// Other hubs hand out tokens of any printable bytes, `<`, `>`, `#` and
/// space included: our client logs in, chats and logs off with one.
#[test]
fn a_token_of_any_six_bytes_from_another_hub_is_used_as_given() {
    let token = "a #<>x";
    let mut h = Harness::new();
    h.line("alice->server#login<wonderland>");
    h.recv(&format!("server->alice#Success<{token}>"));
    assert_eq!(h.state(), ClientState::Online);
    h.sent();
    let id = h.send_message("alice->bob#hi");
    h.recv(&format!("server->alice#<{token}><{id}>Success: hi"));
    h.recv(&format!("bob->alice#<{token}><0000000001>hello"));
    assert_eq!(
        h.notices(),
        [
            "* logged in as alice",
            "* message to bob accepted by the server",
            "bob: hello"
        ]
    );
    assert_eq!(
        h.sent(),
        [format!("alice->server#<{token}><0000000001>Success: hello")]
    );
    h.line("alice->server#logoff");
    assert_eq!(h.sent(), [format!("alice->server#logoff<{token}>")]);
    h.recv(&format!("server->alice#Success<{token}>"));
    assert_eq!(h.state(), ClientState::Offline);
}

#[test]
fn message_sent_ignores_replies_for_other_ids_and_tokens() {
    let mut h = Harness::online();
    let id = h.send_message("alice->bob#hi");
    h.recv(&reply("0000000000", "Success: old"));
    h.recv(&format!("server->alice#<Other1><{id}>Success: hi"));
    h.recv(&format!("server->bob#<{TOKEN}><{id}>Success: hi"));
    assert_eq!(h.state(), ClientState::MessageSent);
    assert!(h.notices().is_empty());
}

#[test]
fn message_sent_without_reply_resends_the_same_id_then_goes_online() {
    let mut h = Harness::online();
    h.at(10_000);
    let datagram = {
        h.line("alice->bob#hi");
        h.sent()
    };
    for at in [10_500, 11_500, 13_500] {
        h.at(at);
        assert_eq!(h.sent(), datagram, "same bytes, same msg id, at {at} ms");
    }
    h.at(17_499);
    assert_eq!(h.state(), ClientState::MessageSent);
    h.at(17_500);
    assert_eq!(h.state(), ClientState::Online);
    assert_eq!(
        h.notices(),
        ["* the server at 127.0.0.1:32000 is not answering: message to bob not confirmed (or our session moved: logged in elsewhere?)"]
    );
}

#[test]
fn message_sent_token_error_goes_offline_and_keeps_the_message() {
    let mut h = Harness::online();
    let id = h.send_message("alice->bob#hi");
    h.recv(&reply(&id, "Error: token error!"));
    assert_eq!(h.state(), ClientState::Offline);
    assert_eq!(
        h.notices(),
        [
            "* token error: the server refused our token (logged in elsewhere?): please log in again",
            "* not logged in: message to bob will be sent after you log in",
        ]
    );
}

#[test]
fn message_sent_log_in_again_keeps_every_waiting_message_for_the_next_login() {
    let mut h = Harness::online();
    let id = h.send_message("alice->bob#one");
    h.line("alice->carol#two");
    h.line("alice->bob#three");
    h.recv(&reply(&id, "Error: please log in again!"));
    assert_eq!(h.state(), ClientState::Offline);
    assert_eq!(
        h.notices(),
        [
            "* the server ended our session (it restarted, we were idle too long, we logged in elsewhere, or our account was removed): please log in again",
            "* not logged in: message to bob will be sent after you log in",
            "* not logged in: message to carol will be sent after you log in",
            "* not logged in: message to bob will be sent after you log in",
        ]
    );
    assert!(h.sent().is_empty());

    h.line("alice->server#login<wonderland>");
    h.sent();
    h.recv("server->alice#Success<N3wTok>");
    for (body, dest) in [("one", "bob"), ("two", "carol"), ("three", "bob")] {
        let sent = h.sent();
        assert_eq!(sent.len(), 1);
        let id = msg_id_of(&sent[0]);
        assert_eq!(sent[0], format!("alice->{dest}#<N3wTok><{id}>{body}"));
        h.recv(&format!("server->alice#<N3wTok><{id}>Success: {body}"));
    }
    assert_eq!(h.state(), ClientState::Online);
}

/// One forged datagram from the hub's address made an idle client leave
/// its session. The bare error answers a logoff only; with no logoff in
/// flight it is nobody's reply.
#[test]
fn a_bare_log_in_again_with_no_logoff_in_flight_changes_nothing() {
    let mut h = Harness::online();
    h.recv("server->alice#Error: please log in again!");
    assert_eq!(h.state(), ClientState::Online);
    assert!(h.notices().is_empty());
    // Nor is it the answer to a message in flight, which is matched by its
    // token and id.
    let id = h.send_message("alice->bob#hi");
    h.recv("server->alice#Error: please log in again!");
    assert_eq!(h.state(), ClientState::MessageSent);
    h.recv(&reply(&id, "Success: hi"));
    assert_eq!(h.state(), ClientState::Online);
    assert_eq!(h.notices(), ["* message to bob accepted by the server"]);
}

#[test]
fn online_logoff_typed_goes_logout_sent_then_success_offline() {
    let mut h = Harness::online();
    h.line("alice->server#logoff");
    assert_eq!(h.state(), ClientState::LogoutSent);
    assert_eq!(h.sent(), [format!("alice->server#logoff<{TOKEN}>")]);
    h.recv("server->alice#Success<Other1>");
    assert_eq!(h.state(), ClientState::LogoutSent, "not our token");
    h.recv(&format!("server->alice#Success<{TOKEN}>"));
    assert_eq!(h.state(), ClientState::Offline);
    assert_eq!(h.notices(), ["* logged off"]);
    assert!(!h.client.is_finished());
}

#[test]
fn logout_sent_log_in_again_means_logged_off_already() {
    let mut h = Harness::online();
    h.line("alice->server#logoff");
    h.recv("server->alice#Error: please log in again!");
    assert_eq!(h.state(), ClientState::Offline);
    assert_eq!(h.notices(), ["* logged off"]);
}

#[test]
fn logout_sent_without_reply_resends_then_goes_offline() {
    let mut h = Harness::online();
    h.line("alice->server#logoff");
    let logoff = h.sent();
    for at in [500, 1500, 3500] {
        h.at(at);
        assert_eq!(h.sent(), logoff);
    }
    h.at(7500);
    assert_eq!(h.state(), ClientState::Offline);
    assert_eq!(
        h.notices(),
        ["* the server at 127.0.0.1:32000 is not answering: logged off without its confirmation"]
    );
}

#[test]
fn late_copies_of_replies_change_nothing() {
    let mut h = Harness::online();
    h.recv(&format!("server->alice#Success<{TOKEN}>"));
    h.recv("server->alice#Error: password does not match!");
    h.recv(&reply("1234567890", "Success: old"));
    assert_eq!(h.state(), ClientState::Online);
    let mut offline = Harness::new();
    offline.recv(&format!("server->alice#Success<{TOKEN}>"));
    assert_eq!(offline.state(), ClientState::Offline);
    assert!(h.notices().is_empty() && offline.notices().is_empty());
}

#[test]
fn datagrams_from_anyone_but_the_server_are_ignored() {
    let mut h = Harness::new();
    h.line("alice->server#login<wonderland>");
    let stranger: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let forged = format!("server->alice#Success<{TOKEN}>");
    h.client.handle_datagram(h.now, stranger, forged.as_bytes());
    assert_eq!(h.state(), ClientState::LoginSent);
    h.recv_bytes(b"garbage");
    assert_eq!(h.state(), ClientState::LoginSent);
}

#[test]
fn lines_typed_meanwhile_go_out_one_by_one_in_order() {
    let mut h = Harness::new();
    h.line("alice->server#login<wonderland>");
    h.line("alice->bob#one");
    h.line("alice->bob#two");
    h.line("alice->server#logoff");
    assert_eq!(h.sent().len(), 1, "only the login is in flight");
    h.recv(&format!("server->alice#Success<{TOKEN}>"));
    let one = h.sent();
    assert!(one[0].ends_with(">one"), "{one:?}");
    h.recv(&reply(&msg_id_of(&one[0]), "Success: one"));
    let two = h.sent();
    assert!(two[0].ends_with(">two"), "{two:?}");
    h.recv(&reply(&msg_id_of(&two[0]), "Success: two"));
    assert_eq!(h.sent(), [format!("alice->server#logoff<{TOKEN}>")]);
    h.recv(&format!("server->alice#Success<{TOKEN}>"));
    assert_eq!(
        h.notices(),
        [
            "* logged in as alice",
            "* message to bob accepted by the server",
            "* message to bob accepted by the server",
            "* logged off"
        ]
    );
}

#[test]
fn a_forwarded_message_is_shown_once_and_every_copy_receipted() {
    let mut h = Harness::online();
    let forward = format!("bob->alice#<{TOKEN}><5550001234>hi #<alice>");
    let receipt = format!("alice->server#<{TOKEN}><5550001234>Success: hi #<alice>");
    h.recv(&forward);
    assert_eq!(h.sent(), std::slice::from_ref(&receipt));
    assert_eq!(h.notices(), ["bob: hi #<alice>"]);
    h.recv(&forward);
    assert_eq!(h.sent(), [receipt], "a copy is receipted again");
    assert!(h.notices().is_empty(), "but not shown again");
    assert_eq!(h.state(), ClientState::Online);
}

/// Receiving changes no state, so the trace says it in a line of its own:
/// shown and receipted, or receipted again for a copy.
#[test]
fn the_trace_says_a_message_was_shown_and_its_receipt_sent() {
    let mut h = Harness::online();
    h.client.config.trace = true;
    let forward = format!("bob->alice#<{TOKEN}><5550001234>hi");
    h.recv(&forward);
    h.recv(&forward);
    let lines: Vec<_> = std::iter::from_fn(|| h.client.poll_event())
        .map(|event| event.to_string())
        .collect();
    assert_eq!(
        lines,
        [
            "alice: msg 5550001234 from bob shown, receipt sent",
            "alice: msg 5550001234 from bob again, shown before: receipt sent again"
        ]
    );
}

#[test]
fn forwards_are_received_while_a_message_or_logoff_is_in_flight() {
    let mut h = Harness::online();
    let id = h.send_message("alice->bob#hi");
    h.recv(&format!("bob->alice#<{TOKEN}><0000000001>one"));
    assert_eq!(h.state(), ClientState::MessageSent);
    assert_eq!(h.sent().len(), 1, "the receipt");
    h.recv(&reply(&id, "Success: hi"));
    h.line("alice->server#logoff");
    h.sent();
    h.recv(&format!("carol->alice#<{TOKEN}><0000000001>two"));
    assert_eq!(h.state(), ClientState::LogoutSent);
    assert_eq!(h.sent().len(), 1, "the receipt");
    assert_eq!(
        h.notices(),
        [
            "bob: one",
            "* message to bob accepted by the server",
            "carol: two"
        ]
    );
}

#[test]
fn forwards_without_our_token_or_for_someone_else_are_ignored() {
    let mut h = Harness::online();
    h.recv("mallory->alice#<Guess1><0000000001>send me your password");
    h.recv(&format!("bob->carol#<{TOKEN}><0000000002>not yours"));
    assert!(h.sent().is_empty());
    assert!(h.notices().is_empty());
    let mut offline = Harness::new();
    offline.recv(&format!("bob->alice#<{TOKEN}><0000000003>hi"));
    assert!(offline.sent().is_empty() && offline.notices().is_empty());
}

#[test]
fn the_memory_of_shown_messages_is_bounded() {
    let mut h = Harness::online();
    let capacity = ClientConfig::default().remembered_messages;
    for n in 0..=capacity {
        h.recv(&format!("bob->alice#<{TOKEN}><{n:010}>m{n}"));
    }
    assert_eq!(h.client.shown.len(), capacity);
    h.notices();
    h.recv(&format!("bob->alice#<{TOKEN}><{:010}>m0", 0));
    assert_eq!(h.notices(), ["bob: m0"], "forgotten, so shown again");
}

/// The hub resends a forward whose receipts are lost for as long as the
/// session lives, every 30 s at most: a copy minutes later, after hundreds
/// of other messages, is still not shown again.
#[test]
fn a_copy_minutes_later_after_many_messages_is_not_shown_again() {
    let mut h = Harness::online();
    h.recv(&format!("bob->alice#<{TOKEN}><0000000000>first"));
    for n in 1..=1000 {
        h.at(500 * n);
        h.recv(&format!("carol->alice#<{TOKEN}><{n:010}>m{n}"));
    }
    h.notices();
    h.recv(&format!("bob->alice#<{TOKEN}><0000000000>first"));
    assert!(h.notices().is_empty(), "shown 500 s ago: remembered");
    h.at(ClientConfig::default().remember_shown_for.as_millis() as u64 + 1000);
    h.sent();
    h.recv(&format!("bob->alice#<{TOKEN}><0000000000>first"));
    assert_eq!(h.notices(), ["bob: first"], "forgotten after the span");
    assert_eq!(h.sent().len(), 1, "every copy is receipted");
}

#[test]
fn a_receipt_of_a_long_message_still_fits_in_a_datagram() {
    let mut h = Harness::online();
    let forward = format!("bob->alice#<{TOKEN}><0000000001>");
    let body = "x".repeat(MAX_DATAGRAM - forward.len());
    h.recv(&format!("{forward}{body}"));
    let receipt = h.sent().remove(0);
    assert_eq!(receipt.len(), MAX_DATAGRAM, "cut to fit");
    assert!(receipt.starts_with(&format!("alice->server#<{TOKEN}><0000000001>Success: xxx")));
    h.recv(&format!("bob->alice#<{TOKEN}><0000000002>hi"));
    assert_eq!(
        h.sent(),
        [format!("alice->server#<{TOKEN}><0000000002>Success: hi")]
    );
}

#[test]
fn lines_that_are_no_command_get_a_hint() {
    let mut h = Harness::new();
    h.line("hello");
    h.line("");
    h.line("alice->server#logoff");
    assert_eq!(
        h.notices(),
        [
            "* type ID->server#login<PASSWORD>, ID->DEST#message or ID->server#logoff",
            "* not logged in"
        ]
    );
    assert!(h.sent().is_empty());
    assert_eq!(h.state(), ClientState::Offline);
}

#[test]
fn online_lines_must_use_the_logged_in_id() {
    let mut h = Harness::online();
    h.line("bob->carol#hi");
    h.line("bob->server#logoff");
    h.line("bob->server#login<builder>");
    assert_eq!(
        h.notices(),
        [
            "* you are logged in as alice: start the line with alice->",
            "* you are logged in as alice: start the line with alice->",
            "* logged in as alice: log off first with alice->server#logoff",
        ]
    );
    assert!(h.sent().is_empty());
    assert_eq!(h.state(), ClientState::Online);
}

#[test]
fn online_login_typed_again_logs_in_again() {
    // The hub may have restarted without telling us: a new login finds out.
    let mut h = Harness::online();
    h.line("alice->server#login<wonderland>");
    assert_eq!(h.state(), ClientState::LoginSent);
    assert_eq!(
        h.sent(),
        ["alice->server#login<wonderland><127.0.0.1><40000>"]
    );
    h.recv("server->alice#Success<N3wTok>");
    assert_eq!(h.state(), ClientState::Online);
    assert_eq!(h.notices(), ["* logged in as alice"]);
    let id = h.send_message("alice->bob#hi");
    h.recv(&format!("server->alice#<N3wTok><{id}>Success: hi"));
    assert_eq!(h.state(), ClientState::Online, "the new token is in use");
}

#[test]
fn a_message_typed_offline_waits_for_the_login_of_its_sender() {
    let mut h = Harness::new();
    h.line("alice->bob#early");
    h.line("carol->bob#not alice");
    assert_eq!(
        h.notices(),
        [
            "* not logged in: message to bob will be sent after you log in",
            "* not logged in: message to bob will be sent after you log in",
        ]
    );
    h.line("alice->server#login<wonderland>");
    h.sent();
    h.recv(&format!("server->alice#Success<{TOKEN}>"));
    assert_eq!(
        h.notices(),
        [
            "* logged in as alice",
            "* message to bob was not sent: typed as carol, logged in as alice"
        ]
    );
    let sent = h.sent();
    assert!(sent[0].starts_with("alice->bob#") && sent[0].ends_with("early"));
}

#[test]
fn messages_waiting_for_a_login_are_bounded() {
    let mut h = Harness::new();
    let limit = ClientConfig::default().max_waiting;
    for _ in 0..=limit {
        h.line("alice->bob#hi");
    }
    let notices = h.notices();
    assert_eq!(notices.len(), limit + 1);
    assert_eq!(
        notices[limit],
        format!("* message to bob was not sent: {limit} messages already wait for a login")
    );
}

#[test]
fn stdin_is_not_read_while_enough_lines_wait() {
    let mut h = Harness::new();
    h.line("alice->server#login<wonderland>");
    for _ in 0..ClientConfig::default().max_waiting {
        assert!(h.client.wants_input());
        h.line("alice->bob#hi");
    }
    assert!(!h.client.wants_input());
    h.recv(&format!("server->alice#Success<{TOKEN}>"));
    assert!(h.client.wants_input());
}

#[test]
fn end_of_input_offline_finishes_at_once() {
    let mut h = Harness::new();
    h.client.handle_end_of_input(h.now);
    assert!(h.client.is_finished());
    assert!(!h.client.wants_input());
    assert_eq!(h.client.poll_timeout(), None);
}

#[test]
fn end_of_input_finishes_what_was_typed_then_logs_off() {
    let mut h = Harness::new();
    h.line("alice->server#login<wonderland>");
    h.line("alice->bob#bye");
    h.client.handle_end_of_input(h.now);
    assert!(!h.client.is_finished());
    h.sent();
    h.recv(&format!("server->alice#Success<{TOKEN}>"));
    let id = msg_id_of(&h.sent()[0]);
    h.recv(&reply(&id, "Success: bye"));
    assert_eq!(h.state(), ClientState::LogoutSent);
    assert_eq!(h.sent(), [format!("alice->server#logoff<{TOKEN}>")]);
    assert!(!h.client.is_finished());
    h.recv(&format!("server->alice#Success<{TOKEN}>"));
    assert!(h.client.is_finished());
    assert_eq!(
        h.notices(),
        [
            "* logged in as alice",
            "* message to bob accepted by the server",
            "* logged off"
        ]
    );
}

#[test]
fn end_of_input_with_the_server_down_gives_up_and_finishes() {
    let mut h = Harness::new();
    h.line("alice->server#login<wonderland>");
    h.line("alice->bob#hi");
    h.client.handle_end_of_input(h.now);
    h.at(500);
    h.at(1500);
    h.at(3500);
    h.at(7500);
    assert!(h.client.is_finished());
    assert_eq!(
        h.notices(),
        [
            "* the server at 127.0.0.1:32000 is not answering: login not confirmed",
            "* not logged in: message to bob will be sent after you log in",
            "* message to bob was not sent: no login went through before quitting",
        ]
    );
}

#[test]
fn interrupt_online_logs_off_then_finishes() {
    let mut h = Harness::online();
    h.client.handle_interrupt(h.now);
    assert_eq!(h.state(), ClientState::LogoutSent);
    assert_eq!(h.sent(), [format!("alice->server#logoff<{TOKEN}>")]);
    assert!(!h.client.wants_input());
    h.recv(&format!("server->alice#Success<{TOKEN}>"));
    assert!(h.client.is_finished());
    assert_eq!(
        h.notices(),
        [
            "* logging off before quitting (Ctrl-C again quits at once)",
            "* logged off"
        ]
    );
}

#[test]
fn interrupt_drops_waiting_lines_and_a_second_one_finishes_at_once() {
    let mut h = Harness::online();
    h.send_message("alice->bob#in flight");
    h.line("alice->carol#waiting");
    h.client.handle_interrupt(h.now);
    assert_eq!(h.state(), ClientState::MessageSent);
    assert_eq!(
        h.notices(),
        [
            "* message to carol was not sent: Ctrl-C, quitting",
            "* logging off before quitting (Ctrl-C again quits at once)"
        ]
    );
    h.client.handle_interrupt(h.now);
    assert!(h.client.is_finished());
    assert_eq!(h.client.poll_timeout(), None);
}

#[test]
fn interrupt_offline_finishes_at_once() {
    let mut h = Harness::new();
    h.client.handle_interrupt(h.now);
    assert!(h.client.is_finished());
    assert!(h.notices().is_empty());
}

#[test]
fn interrupt_while_logging_in_finishes_at_once() {
    let mut h = Harness::new();
    h.line("alice->server#login<wonderland>");
    h.sent();
    h.client.handle_interrupt(h.now);
    assert!(h.client.is_finished());
    assert_eq!(h.client.poll_timeout(), None);
}

#[test]
fn interrupt_while_logging_in_again_logs_off_the_session() {
    let mut h = Harness::online();
    h.line("alice->server#login<wonderland>");
    h.sent();
    h.client.handle_interrupt(h.now);
    assert!(!h.client.is_finished());
    h.recv(&format!("server->alice#Success<{TOKEN}>"));
    assert_eq!(h.state(), ClientState::LogoutSent);
    assert_eq!(h.sent(), [format!("alice->server#logoff<{TOKEN}>")]);
}

/// Two clients and a real hub, wired through in-memory queues: the
/// sequence diagram of docs/protocol.md end to end, without a socket.
#[test]
fn two_clients_chat_through_the_hub() {
    let hub_addr = server();
    let alice_addr: SocketAddr = "127.0.0.1:40001".parse().unwrap();
    let bob_addr: SocketAddr = "127.0.0.1:40002".parse().unwrap();
    let accounts = Accounts::parse("alice:wonderland\nbob:builder\n").unwrap();
    let mut hub = Hub::with_rng(
        accounts,
        HubConfig::default(),
        Box::new(StdRng::seed_from_u64(1)),
    );
    let client = |addr, seed| {
        let rng = Box::new(StdRng::seed_from_u64(seed));
        Client::with_rng(hub_addr, ReplyTo::Addr(addr), ClientConfig::default(), rng)
    };
    let mut alice = client(alice_addr, 2);
    let mut bob = client(bob_addr, 3);
    let now = Instant::now();

    // Delivers every queued datagram until the network is quiet.
    let run = |hub: &mut Hub, alice: &mut Client, bob: &mut Client| loop {
        let mut in_flight = Vec::new();
        for (client, addr) in [(&mut *alice, alice_addr), (&mut *bob, bob_addr)] {
            while let Some(t) = client.poll_transmit() {
                in_flight.push((addr, t.payload.to_vec()));
            }
        }
        for (from, payload) in in_flight.drain(..) {
            hub.handle_datagram(now, from, &payload);
        }
        let mut delivered = false;
        while let Some(t) = hub.poll_transmit() {
            delivered = true;
            let client = if t.to == alice_addr {
                &mut *alice
            } else {
                &mut *bob
            };
            client.handle_datagram(now, hub_addr, t.payload);
        }
        if !delivered {
            return;
        }
    };
    let notices = |client: &mut Client| {
        std::iter::from_fn(|| client.poll_notice())
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
    };

    bob.handle_line(now, b"bob->server#login<builder>");
    alice.handle_line(now, b"alice->server#login<wonderland>");
    alice.handle_line(now, b"alice->bob#hello there");
    alice.handle_line(now, b"alice->carol#anyone?");
    alice.handle_line(now, b"alice->server#logoff");
    run(&mut hub, &mut alice, &mut bob);
    assert_eq!(
        notices(&mut alice),
        [
            "* logged in as alice",
            "* message to bob accepted by the server",
            "* carol is offline or unknown: message not delivered",
            "* logged off"
        ]
    );
    assert_eq!(
        notices(&mut bob),
        ["* logged in as bob", "alice: hello there"]
    );
    assert_eq!(hub.stats().pending, 0, "bob's receipt reached the hub");
}
