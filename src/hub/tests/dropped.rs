//! Dropped datagrams: what the hub refuses without an answer, and says so.

use super::*;

#[test]
fn server_datagrams_and_garbage_are_dropped_and_change_nothing() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    h.send(home("alice"), chat("alice", "bob", &ta, M1, "pending"));
    h.events();
    let (stats, deadline) = (h.hub.stats(), h.hub.poll_timeout());
    h.at(secs(100));

    let server_only: Vec<Vec<u8>> = [
        format!("server->alice#Success<{ta}>"),
        "server->alice#Error: password does not match!".into(),
        "server->alice#Error: please log in again!".into(),
        format!("server->alice#<{ta}><{M1}>Success: hi"),
        format!("server->bob#<{tb}><{M1}>Error: token error!"),
        format!("server->bob#<{tb}><{M1}>Error: destination offline!"),
        format!("server->bob#<{tb}><{M1}>Error: please log in again!"),
    ]
    .map(String::into_bytes)
    .into();
    let mut too_long = chat("alice", "bob", &ta, M2, "");
    too_long.resize(wire::MAX_DATAGRAM + 1, b'x');
    let garbage: Vec<Vec<u8>> = [
        "",
        "hello",
        "\r\n",
        "alice->bob",
        "alice->bob#",
        "alice->server#hello",
        "alice->server#login<wonder land",
        "alice->server#login<wonder land><127.0.0.1>",
        "alice->server#login<wonder land><nowhere><6001>",
        "alice->server#login<wonder land><127.0.0.1><0>",
        "alice->server#login<wonder land><127.0.0.1><70000>",
        "al ice->bob#<abcdef><0123456789>x",
        "server->server#<abcdef><0123456789>x",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa->bob#<abcdef><0123456789>x",
    ]
    .map(|s| s.as_bytes().to_vec())
    .into_iter()
    .chain([
        format!("alice->bob#<{ta}>no message id").into_bytes(),
        format!("alice->bob#<{ta}><123456789>nine").into_bytes(),
        format!("alice->bob#<{ta}x><{M2}>long token").into_bytes(),
        format!("alice->server#logoff<{ta}>trailing").into_bytes(),
        b"\xff\xfe->\x80#<\x00>".to_vec(),
        too_long,
    ])
    .collect();

    for (datagrams, server) in [(server_only, true), (garbage, false)] {
        for datagram in datagrams {
            let shown = datagram.escape_ascii().to_string();
            assert_eq!(h.send(addr(7900), &datagram), [], "{shown}");
            let events = h.events();
            assert!(
                matches!(&events[..], [HubEvent::Dropped { source, reason }]
                    if *source == addr(7900)
                    && (*reason == DropReason::ServerMessage) == server),
                "{shown}: {events:?}"
            );
        }
    }
    assert_eq!(h.hub.stats(), stats);
    assert_eq!(h.hub.poll_timeout(), deadline);
    assert_eq!(h.state("alice"), SessionState::Online);
    assert_eq!(h.state("bob"), SessionState::MessageForward);
    assert_eq!(h.state("carol"), SessionState::Offline);
    // Not even a sign of life: the sessions expire on time.
    h.at(HubConfig::default().session_timeout);
    h.tick();
    assert_eq!(h.state("alice"), SessionState::Offline);
    assert_eq!(h.state("bob"), SessionState::Offline);
}
