//! Expiry: sessions end at exactly the timeout, on the timer or on the next datagram.

use super::*;

#[test]
fn session_expires_exactly_at_the_timeout_through_handle_timeout() {
    let mut h = Harness::new();
    let timeout = HubConfig::default().session_timeout;
    h.login("alice");
    h.events();
    assert_eq!(h.hub.poll_timeout(), Some(h.t0 + timeout));

    h.at(timeout - NANO);
    assert_eq!(h.tick(), []);
    assert_eq!(h.state("alice"), SessionState::Online);
    assert_eq!(h.events(), []);

    h.at(timeout);
    // The client is not told.
    assert_eq!(h.tick(), []);
    assert_eq!(h.state("alice"), SessionState::Offline);
    assert_eq!(h.events(), [HubEvent::Expired { id: "alice".into() }]);
    // Nothing is left but where alice's replies went.
    let remembered = HubStats {
        ended_sessions: 1,
        ..HubStats::default()
    };
    assert_eq!(h.hub.stats(), remembered);
    assert_eq!(h.hub.poll_timeout(), None);
}

#[test]
fn only_valid_datagrams_extend_the_session() {
    let mut h = Harness::new();
    let timeout = HubConfig::default().session_timeout;
    let ta = h.login("alice");
    let tb = h.login("bob");
    // At 200 s alice sends a message and bob receipts it.
    h.at(secs(200));
    h.send(home("alice"), chat("alice", "bob", &ta, M1, "hi"));
    h.send(home("bob"), chat("bob", "server", &tb, M1, "Success: hi"));
    h.at(timeout);
    assert_eq!(h.tick(), []);
    assert_eq!(h.state("alice"), SessionState::Online);
    assert_eq!(h.state("bob"), SessionState::Online);
    assert_eq!(h.hub.poll_timeout(), Some(h.t0 + secs(200) + timeout));
    // What is refused or dropped is no sign of life.
    h.at(secs(400));
    h.send(addr(7700), chat("alice", "bob", "abcdef", M2, "x"));
    h.send(addr(7700), logoff("alice", "abcdef"));
    h.send(addr(7700), "alice->server#login<guess><127.0.0.1><7700>");
    h.send(addr(7700), chat("bob", "server", "abcdef", M1, ""));
    h.send(addr(7700), format!("server->bob#Success<{tb}>"));
    h.events();

    h.at(secs(200) + timeout - NANO);
    h.tick();
    assert_eq!(h.state("alice"), SessionState::Online);
    assert_eq!(h.state("bob"), SessionState::Online);
    h.at(secs(200) + timeout);
    h.tick();
    assert_eq!(h.state("alice"), SessionState::Offline);
    assert_eq!(h.state("bob"), SessionState::Offline);
    let mut expired = h.events();
    expired.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(
        expired,
        [
            HubEvent::Expired { id: "alice".into() },
            HubEvent::Expired { id: "bob".into() }
        ]
    );
}

#[test]
fn message_after_the_deadline_is_refused_without_handle_timeout() {
    let mut h = Harness::new();
    let timeout = HubConfig::default().session_timeout;
    let ta = h.login("alice");
    let tb = h.login("bob");
    h.events();
    h.at(timeout);
    let out = h.send(home("alice"), chat("alice", "bob", &ta, M1, "hi"));
    assert_eq!(
        out,
        [sent(
            home("alice"),
            format!("server->alice#<{ta}><{M1}>Error: please log in again!")
        )]
    );
    assert_eq!(h.state("alice"), SessionState::Offline);
    assert_eq!(h.events(), [HubEvent::Expired { id: "alice".into() }]);
    // An expired destination is offline too, and an expired receipt dropped.
    let tc = h.login("carol");
    assert_ne!(h.login("alice"), ta);
    let out = h.send(home("carol"), chat("carol", "bob", &tc, M2, "hi"));
    assert_eq!(
        out,
        [sent(
            home("carol"),
            format!("server->carol#<{tc}><{M2}>Error: destination offline!")
        )]
    );
    assert_eq!(h.state("bob"), SessionState::Offline);
    assert_eq!(h.send(home("bob"), chat("bob", "server", &tb, M1, "")), []);
}
