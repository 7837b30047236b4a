//! Logins: first, repeated, replacing, refused, throttled, and where replies go.

use super::*;

#[test]
fn login_is_accepted_with_a_fresh_token_at_the_named_address() {
    let mut h = Harness::new();
    let (source, receive_at) = (addr(7001), addr(7002));
    let token = h.login_via("alice", source, receive_at);
    assert_eq!(token.len(), SessionToken::LEN);
    assert!(
        token.bytes().all(|b| SessionToken::ALPHABET.contains(&b)),
        "{token}"
    );
    assert_eq!(h.state("alice"), SessionState::Online);
    assert_eq!(
        h.events(),
        [HubEvent::LoggedIn {
            id: "alice".into(),
            addr: receive_at,
            replaced: false
        }]
    );
    assert_eq!(h.hub.stats().online, 1);

    // Every login gets a fresh token, and different users different ones.
    assert_eq!(
        h.send(source, logoff("alice", &token)),
        [sent(receive_at, format!("server->alice#Success<{token}>"))]
    );
    let again = h.login_via("alice", source, receive_at);
    let bob = h.login("bob");
    assert_ne!(again, token);
    assert_ne!(bob, again);
}

/// A session that ended is freed, but its client's address is remembered
/// for `ENDED_MEMORY`: replies go there, not to the datagram's source.
#[test]
fn replies_after_a_session_ended_go_to_its_address_while_remembered() {
    for ending in ["logoff", "expiry"] {
        let mut h = Harness::new();
        let (source, receive_at) = (addr(7001), addr(7002));
        let token = h.login_via("alice", source, receive_at);
        let ended_at = match ending {
            "logoff" => {
                h.send(source, logoff("alice", &token));
                Duration::ZERO
            }
            _ => {
                let timeout = HubConfig::default().session_timeout;
                h.at(timeout);
                h.tick();
                timeout
            }
        };
        assert_eq!(h.state("alice"), SessionState::Offline, "{ending}");
        assert_eq!(h.hub.stats().online, 0, "{ending}: freed");
        let log_in_again = format!("server->alice#<{token}><{M1}>Error: please log in again!");
        h.at(ended_at + ended::ENDED_MEMORY - NANO);
        let out = h.send(source, chat("alice", "bob", &token, M1, "hi"));
        assert_eq!(out, [sent(receive_at, &log_in_again)], "{ending}");
        h.at(ended_at + ended::ENDED_MEMORY);
        let out = h.send(source, chat("alice", "bob", &token, M1, "hi"));
        assert_eq!(out, [sent(source, &log_in_again)], "{ending}: forgotten");
    }
}

#[test]
fn login_replies_go_to_the_address_the_login_names() {
    let source = SocketAddr::from(([10, 0, 0, 7], 7001));
    let cases = [
        // The short form, typed into a raw UDP tool: the datagram's source.
        ("", source),
        // 0.0.0.0: the source IP, at the port named.
        ("<0.0.0.0><6001>", SocketAddr::from(([10, 0, 0, 7], 6001))),
        (
            "<192.168.1.2><6002>",
            SocketAddr::from(([192, 168, 1, 2], 6002)),
        ),
    ];
    for (address, reply_to) in cases {
        let mut h = Harness::new();
        let out = h.send(source, format!("alice->server#login<wonder land>{address}"));
        assert_eq!(out.len(), 1, "{address}: {out:?}");
        assert_eq!(out[0].to, reply_to, "{address}");
        assert!(out[0].payload.starts_with(b"server->alice#Success<"));
        // The session replies there from now on.
        let token = &out[0].payload[22..28];
        let token = std::str::from_utf8(token).unwrap();
        let out = h.send(addr(9999), chat("alice", "bob", token, M1, "hi"));
        assert_eq!(out[0].to, reply_to, "{address}: {out:?}");
    }
}

#[test]
fn wrong_password_and_unknown_id_are_refused_alike() {
    let mut h = Harness::new();
    let (source, named) = (addr(7001), addr(7002));
    for password in ["nope", "wonder", "wonder land ", ""] {
        let out = h.send(
            source,
            format!("alice->server#login<{password}><127.0.0.1><7002>"),
        );
        assert_eq!(
            out,
            [sent(named, "server->alice#Error: password does not match!")],
            "{password:?}"
        );
    }
    // Even with a password some other account has.
    let out = h.send(
        source,
        "mallory->server#login<wonder land><127.0.0.1><7002>",
    );
    assert_eq!(
        out,
        [sent(
            named,
            "server->mallory#Error: password does not match!"
        )]
    );
    let events = h.events();
    assert_eq!(events.len(), 5);
    assert!(events
        .iter()
        .all(|e| matches!(e, HubEvent::LoginRefused { from, .. } if *from == source)));
    assert_eq!(h.state("alice"), SessionState::Offline);
    assert_eq!(h.hub.state_of("mallory"), None);
    let only_the_throttle_remembers = HubStats {
        throttled_ips: 1,
        throttled_pairs: 1,
        ..HubStats::default()
    };
    assert_eq!(h.hub.stats(), only_the_throttle_remembers);
}

#[test]
fn password_guessing_is_slowed_but_the_user_gets_back_in() {
    let mut h = Harness::new();
    let guesser = addr(6666);
    let refusal = [sent(
        guesser,
        "server->alice#Error: password does not match!",
    )];
    let guess = "alice->server#login<guess><127.0.0.1><6666>";
    for _ in 0..6 {
        assert_eq!(h.send(guesser, guess), refusal);
    }
    h.events();
    // Closed for a second after the sixth failure: even the right password
    // is refused, unchecked, with the same words.
    let right = "alice->server#login<wonderland><127.0.0.1><6666>";
    assert_eq!(h.send(guesser, right), refusal);
    assert!(matches!(h.events()[..], [HubEvent::LoginThrottled { .. }]));
    assert_eq!(h.state("alice"), SessionState::Offline);
    h.at(secs(1));
    h.login("alice");
    assert_eq!(h.state("alice"), SessionState::Online);
}

#[test]
fn wrong_password_does_not_log_out_an_online_user() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    let out = h.send(addr(7777), "alice->server#login<guess><127.0.0.1><7777>");
    assert_eq!(
        out,
        [sent(
            addr(7777),
            "server->alice#Error: password does not match!"
        )]
    );
    assert_eq!(h.state("alice"), SessionState::Online);
    // The token still works and replies still go to alice's own address.
    let out = h.send(home("alice"), chat("alice", "bob", &ta, M1, "still here"));
    assert_sent(
        &out,
        &[
            sent(
                home("alice"),
                format!("server->alice#<{ta}><{M1}>Success: still here"),
            ),
            sent(home("bob"), format!("alice->bob#<{tb}><{M1}>still here")),
        ],
    );
}

#[test]
fn repeat_login_from_the_same_address_changes_nothing() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    // alice owes a receipt, so there is state that a new session would lose.
    h.send(home("bob"), chat("bob", "alice", &tb, M1, "owed"));
    h.events();
    let stats = h.hub.stats();

    assert_eq!(h.login("alice"), ta);
    assert_eq!(h.events(), []);
    assert_eq!(h.hub.stats(), stats);
    assert_eq!(h.state("alice"), SessionState::MessageForward);
    // The forward is still resent, with the same token, to the same place.
    h.at(secs(1));
    assert_eq!(
        h.tick(),
        [sent(home("alice"), format!("bob->alice#<{ta}><{M1}>owed"))]
    );
}

#[test]
fn login_from_another_address_replaces_the_session() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    h.send(home("bob"), chat("bob", "alice", &tb, M1, "owed"));
    h.events();

    let moved = addr(7101);
    let new = h.login_via("alice", moved, moved);
    assert_ne!(new, ta);
    assert_eq!(
        h.events(),
        [HubEvent::LoggedIn {
            id: "alice".into(),
            addr: moved,
            replaced: true
        }]
    );
    // The old token stopped working; the answer goes to the new address.
    let out = h.send(home("alice"), chat("alice", "bob", &ta, M2, "old"));
    assert_eq!(
        out,
        [sent(
            moved,
            format!("server->alice#<{ta}><{M2}>Error: token error!")
        )]
    );
    assert_eq!(h.send(home("alice"), logoff("alice", &ta)), []);
    assert_eq!(
        h.send(home("alice"), chat("alice", "server", &ta, M1, "")),
        []
    );
    assert_eq!(h.state("alice"), SessionState::MessageForward);
    // The new one works.
    let out = h.send(moved, chat("alice", "bob", &new, M2, "new"));
    assert_sent(
        &out,
        &[
            sent(moved, format!("server->alice#<{new}><{M2}>Success: new")),
            sent(home("bob"), format!("alice->bob#<{tb}><{M2}>new")),
        ],
    );
    // What alice still owes a receipt for follows her, with her new token.
    h.at(secs(1));
    assert_sent(
        &h.tick(),
        &[
            sent(moved, format!("bob->alice#<{new}><{M1}>owed")),
            sent(home("bob"), format!("alice->bob#<{tb}><{M2}>new")),
        ],
    );
}
