//! Messages: forwards, replies, receipts, and what the destination gets.

use super::*;

#[test]
fn message_is_accepted_and_forwarded_byte_for_byte_with_the_destination_token() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    let bodies: [&[u8]; 5] = [
        b"hello there",
        b"a#b<c>d->e server->bob#<abcdef><0123456789>Success: x",
        b"\xff\xfe not utf-8 \x01\r\n inside",
        b"",
        "h\u{e9}llo \u{1f600}".as_bytes(),
    ];
    for (n, body) in bodies.into_iter().enumerate() {
        let msg_id = format!("{n:010}");
        let out = h.send(home("alice"), chat("alice", "bob", &ta, &msg_id, body));
        let reply = [
            format!("server->alice#<{ta}><{msg_id}>Success: ").as_bytes(),
            body,
        ]
        .concat();
        let forward = chat("alice", "bob", &tb, &msg_id, body);
        assert_sent(
            &out,
            &[sent(home("alice"), reply), sent(home("bob"), forward)],
        );
    }
    // Letters in a message id, and a datagram padded the way C clients pad it.
    let mut padded = chat("alice", "bob", &ta, M3, "padded\r\n");
    padded.extend_from_slice(b"\0junk->x#<>");
    padded.resize(wire::MAX_DATAGRAM, 0xAA);
    let out = h.send(home("alice"), padded);
    assert_sent(
        &out,
        &[
            sent(
                home("alice"),
                format!("server->alice#<{ta}><{M3}>Success: padded"),
            ),
            sent(home("bob"), format!("alice->bob#<{tb}><{M3}>padded")),
        ],
    );
    assert_eq!(h.hub.stats().pending, bodies.len() + 1);
}

#[test]
fn destination_is_message_forward_until_every_receipt_arrives() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    let tc = h.login("carol");
    assert_eq!(h.state("bob"), SessionState::Online);
    h.send(home("alice"), chat("alice", "bob", &ta, M1, "one"));
    assert_eq!(h.state("bob"), SessionState::MessageForward);
    h.send(home("alice"), chat("alice", "bob", &ta, M2, "two"));
    h.send(home("carol"), chat("carol", "bob", &tc, M3, "three"));
    assert_eq!(h.hub.stats().pending, 3);
    // The senders are not waiting for anything.
    assert_eq!(h.state("alice"), SessionState::Online);
    assert_eq!(h.state("carol"), SessionState::Online);

    let receipts = [
        (M2, "Success: two"),
        ("9999999999", "Success: never sent"),
        (M3, "any body at all"),
    ];
    for (msg_id, body) in receipts {
        assert_eq!(
            h.send(home("bob"), chat("bob", "server", &tb, msg_id, body)),
            []
        );
        assert_eq!(h.state("bob"), SessionState::MessageForward, "{msg_id}");
    }
    assert_eq!(h.send(home("bob"), chat("bob", "server", &tb, M1, "")), []);
    assert_eq!(h.state("bob"), SessionState::Online);
    assert_eq!(h.hub.stats().pending, 0);
}

#[test]
fn the_same_msgid_from_two_senders_delivers_both_messages() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    let tc = h.login("carol");
    // Clients that number their messages from 1 pick the same ids.
    let out = h.send(home("alice"), chat("alice", "bob", &ta, M1, "from alice"));
    assert!(out.contains(&sent(
        home("bob"),
        chat("alice", "bob", &tb, M1, "from alice")
    )));
    let out = h.send(home("carol"), chat("carol", "bob", &tc, M1, "from carol"));
    assert_sent(
        &out,
        &[
            sent(
                home("carol"),
                format!("server->carol#<{tc}><{M1}>Success: from carol"),
            ),
            sent(home("bob"), chat("carol", "bob", &tb, M1, "from carol")),
        ],
    );
    // Unreceipted, each is resent as itself.
    h.at(secs(1));
    assert_sent(
        &h.tick(),
        &[
            sent(home("bob"), chat("alice", "bob", &tb, M1, "from alice")),
            sent(home("bob"), chat("carol", "bob", &tb, M1, "from carol")),
        ],
    );
    // bob answers every copy it gets; it takes one receipt per message.
    h.send(home("bob"), chat("bob", "server", &tb, M1, ""));
    assert_eq!(h.state("bob"), SessionState::MessageForward);
    h.send(home("bob"), chat("bob", "server", &tb, M1, ""));
    assert_eq!(h.state("bob"), SessionState::Online);
}

#[test]
fn token_error_echoes_the_token_sent_and_never_the_real_one() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    h.events();
    // One character off, the other user's token, and a made-up one; sent
    // from a socket that is not alice's.
    let mut near = ta.clone().into_bytes();
    near[5] = if near[5] == b'A' { b'B' } else { b'A' };
    let near = String::from_utf8(near).unwrap();
    for wrong in [near.as_str(), tb.as_str(), "~~~~~~"] {
        let out = h.send(addr(7200), chat("alice", "bob", wrong, M1, "hi"));
        assert_eq!(
            out,
            [sent(
                home("alice"),
                format!("server->alice#<{wrong}><{M1}>Error: token error!")
            )]
        );
        assert!(!contains(&out[0].payload, ta.as_bytes()), "{out:?}");
    }
    // Nothing was forwarded, and the message id is not used up; the first
    // wrong token is reported.
    assert_eq!(h.state("bob"), SessionState::Online);
    assert_eq!(
        h.events(),
        [HubEvent::WrongTokens {
            id: "alice".into(),
            count: 1,
            last_from: addr(7200)
        }]
    );
    let out = h.send(home("alice"), chat("alice", "bob", &ta, M1, "hi"));
    assert_eq!(out.len(), 2, "{out:?}");
}

#[test]
fn destination_offline_or_unknown_is_reported() {
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    for (dest, msg_id) in [("carol", M1), ("nobody", M2)] {
        let out = h.send(home("alice"), chat("alice", dest, &ta, msg_id, "hi"));
        assert_eq!(
            out,
            [sent(
                home("alice"),
                format!("server->alice#<{ta}><{msg_id}>Error: destination offline!")
            )],
            "{dest}"
        );
    }
    h.send(home("bob"), logoff("bob", &tb));
    let out = h.send(home("alice"), chat("alice", "bob", &ta, M3, "hi"));
    assert_eq!(
        out,
        [sent(
            home("alice"),
            format!("server->alice#<{ta}><{M3}>Error: destination offline!")
        )]
    );
    assert_eq!(h.hub.stats().pending, 0);
}

#[test]
fn sender_not_logged_in_is_told_to_log_in_again() {
    let mut h = Harness::new();
    h.login("bob");
    let refused = |id: &str, token: &str, msg_id: &str| {
        format!("server->{id}#<{token}><{msg_id}>Error: please log in again!")
    };
    // Never logged in, or not an account: the answer goes to the source.
    let out = h.send(addr(7300), chat("carol", "bob", "abcdef", M1, "hi"));
    assert_eq!(out, [sent(addr(7300), refused("carol", "abcdef", M1))]);
    let out = h.send(addr(7301), chat("mallory", "bob", "abcdef", M2, "hi"));
    assert_eq!(out, [sent(addr(7301), refused("mallory", "abcdef", M2))]);
    // Logged off: to the address of its last login, with the token as sent.
    let ta = h.login("alice");
    h.send(home("alice"), logoff("alice", &ta));
    let out = h.send(addr(7302), chat("alice", "bob", &ta, M3, "hi"));
    assert_eq!(out, [sent(home("alice"), refused("alice", &ta, M3))]);
    // (Expired: see message_after_the_deadline_is_refused_without_handle_timeout.)
    assert_eq!(h.state("bob"), SessionState::Online);
    assert_eq!(h.hub.stats().pending, 0);
}

#[test]
fn a_client_may_send_from_one_socket_and_receive_on_another() {
    let mut h = Harness::new();
    let (send_from, receive_on) = (addr(7400), addr(7401));
    let ta = h.login_via("alice", send_from, receive_on);
    let tb = h.login("bob");
    let out = h.send(send_from, chat("alice", "bob", &ta, M1, "out"));
    assert_sent(
        &out,
        &[
            sent(
                receive_on,
                format!("server->alice#<{ta}><{M1}>Success: out"),
            ),
            sent(home("bob"), chat("alice", "bob", &tb, M1, "out")),
        ],
    );
    let out = h.send(home("bob"), chat("bob", "alice", &tb, M2, "in"));
    assert!(out.contains(&sent(receive_on, chat("bob", "alice", &ta, M2, "in"))));
    h.send(send_from, chat("alice", "server", &ta, M2, "Success: in"));
    assert_eq!(h.state("alice"), SessionState::Online);
    assert_eq!(
        h.send(send_from, logoff("alice", &ta)),
        [sent(receive_on, format!("server->alice#Success<{ta}>"))]
    );
    // Offline but remembered: still the receiving socket.
    let out = h.send(addr(7402), logoff("alice", "zzzzzz"));
    assert_eq!(
        out,
        [sent(
            receive_on,
            "server->alice#Error: please log in again!"
        )]
    );
}
