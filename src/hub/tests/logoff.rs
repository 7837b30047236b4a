//! Logoff: the reply, resent logoffs, and logoffs without a session.

use super::*;

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

/// The ended session is freed; what answers the resend is remembered for
/// `ENDED_MEMORY` (docs/protocol.md), then forgotten.
#[test]
fn a_resent_logoff_is_answered_success_while_its_end_is_remembered() {
    let mut h = Harness::new();
    let (source, receive_at) = (addr(7001), addr(7002));
    let tb = h.login_via("bob", source, receive_at);
    let success = [sent(receive_at, format!("server->bob#Success<{tb}>"))];
    assert_eq!(h.send(source, logoff("bob", &tb)), success);
    assert_eq!((h.hub.stats().online, h.hub.stats().ended_sessions), (0, 1));
    h.at(ended::ENDED_MEMORY - NANO);
    assert_eq!(h.send(source, logoff("bob", &tb)), success);
    h.at(ended::ENDED_MEMORY);
    assert_eq!(
        h.send(source, logoff("bob", &tb)),
        [sent(source, "server->bob#Error: please log in again!")],
        "forgotten: answered as if bob never logged in"
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
