//! Duplicates and resends: a message is forwarded once, and forwards are resent until receipted.

use super::*;

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
