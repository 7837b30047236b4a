//! Tracing: the transitions and descriptions `--trace` shows.

use super::*;

/// Walks every edge of the diagram once; returns the transitions reported.
fn walk_the_diagram(config: HubConfig) -> Vec<(String, SessionState, SessionState)> {
    let mut h = Harness::with(config.clone());
    let ta = h.login("alice");
    let tb = h.login("bob");
    h.send(home("alice"), chat("alice", "bob", &ta, M1, "one"));
    h.send(home("bob"), chat("bob", "server", &tb, M1, ""));
    h.send(home("alice"), chat("alice", "bob", &ta, M2, "two"));
    // Resent twice, then receipted.
    let spent = config.resend_wait(0) + config.resend_wait(1);
    h.at(spent);
    h.tick();
    h.send(home("bob"), chat("bob", "server", &tb, M2, ""));
    h.send(home("alice"), chat("alice", "bob", &ta, M3, "three"));
    h.send(home("bob"), logoff("bob", &tb));
    h.at(config.session_timeout + spent);
    h.tick();
    h.events()
        .into_iter()
        .filter_map(|e| match e {
            HubEvent::Transition { id, from, to, .. } => Some((id, from, to)),
            _ => None,
        })
        .collect()
}

#[test]
fn trace_reports_every_transition_of_the_diagram() {
    use SessionState::*;
    let transitions = walk_the_diagram(HubConfig {
        trace: true,
        ..HubConfig::default()
    });
    let expected: Vec<(String, SessionState, SessionState)> = [
        ("alice", Offline, LoginReceived),
        ("alice", LoginReceived, Online),
        ("bob", Offline, LoginReceived),
        ("bob", LoginReceived, Online),
        ("bob", Online, MessageForward),
        ("bob", MessageForward, Online),
        ("bob", Online, MessageForward),
        ("bob", MessageForward, Online),
        ("bob", Online, MessageForward),
        ("bob", MessageForward, Offline),
        ("alice", Online, Offline),
    ]
    .map(|(id, from, to)| (id.to_owned(), from, to))
    .into();
    assert_eq!(transitions, expected);
    assert_eq!(walk_the_diagram(HubConfig::default()), []);
}

/// Hands `h` one datagram; checks that what it sent is explained by a
/// transition or an `Unchanged` event; adds the `Unchanged` ones to `seen`.
#[track_caller]
fn explained(
    h: &mut Harness,
    source: SocketAddr,
    datagram: impl AsRef<[u8]>,
    seen: &mut Vec<String>,
) {
    let out = h.send(source, datagram);
    let events = h.events();
    let explains =
        |e: &HubEvent| matches!(e, HubEvent::Transition { .. } | HubEvent::Unchanged { .. });
    assert!(
        out.is_empty() || events.iter().any(explains),
        "{out:?} sent with no line to say why: {events:?}"
    );
    let unchanged = events
        .iter()
        .filter(|e| matches!(e, HubEvent::Unchanged { .. }));
    seen.extend(unchanged.map(HubEvent::to_string));
}

/// Every reply that changes no state gets its line with the reason (the
/// trace explains every datagram the hub sends): one step per path.
#[test]
fn trace_explains_every_reply_that_changes_no_state() {
    let mut h = Harness::with(HubConfig {
        trace: true,
        ..HubConfig::default()
    });
    let mut seen = Vec::new();
    let (a, forged) = (home("alice"), "AAAAAA");
    explained(
        &mut h,
        a,
        chat("mallory", "bob", forged, M1, "hi"),
        &mut seen,
    );
    explained(&mut h, a, login("mallory", a), &mut seen);
    explained(&mut h, a, logoff("mallory", forged), &mut seen);
    explained(&mut h, a, chat("alice", "bob", forged, M1, "hi"), &mut seen);
    explained(&mut h, a, logoff("alice", forged), &mut seen);
    let ta = h.login("alice");
    h.login("bob");
    explained(&mut h, a, chat("alice", "bob", forged, M1, "hi"), &mut seen);
    explained(&mut h, a, chat("alice", "carol", &ta, M1, "hi"), &mut seen);
    explained(&mut h, a, chat("alice", "carol", &ta, M1, "hi"), &mut seen);
    explained(&mut h, a, chat("alice", "bob", &ta, M2, "one"), &mut seen);
    explained(&mut h, a, chat("alice", "bob", &ta, M3, "two"), &mut seen);
    explained(&mut h, a, logoff("alice", &ta), &mut seen);
    explained(&mut h, a, logoff("alice", &ta), &mut seen);
    for _ in 0..20 {
        explained(&mut h, addr(7000), "bob->server#login<wrong>", &mut seen);
    }
    let throttled = "bob: stays MESSAGE_FORWARD \
                     (too many failed logins: refused, the password unchecked)";
    let expected = [
        "mallory: no such account (answered log in again)",
        "mallory: no such account (login refused as a wrong password is)",
        "mallory: no such account (answered log in again)",
        "alice: stays OFFLINE (no session for alice: answered log in again)",
        "alice: stays OFFLINE (no session for alice: answered log in again)",
        "alice: stays ONLINE (not alice's token: answered token error)",
        "alice: stays ONLINE (msg 0000000001: its destination is offline or unknown)",
        "alice: stays ONLINE (msg 0000000001 resent: the same answer, not forwarded again)",
        "bob: stays MESSAGE_FORWARD \
         (msg AbC-xyz!$% from alice, awaiting its receipt with the others)",
        "alice: stays OFFLINE (logoff resent, its reply was lost: answered success again)",
        throttled,
    ];
    assert_eq!(seen[..expected.len()], expected);
    assert!(seen[expected.len()..].iter().all(|line| line == throttled));
}

/// With tracing off, nothing is built for these lines.
#[test]
fn no_reply_is_explained_when_tracing_is_off() {
    let mut h = Harness::new();
    h.send(home("alice"), logoff("alice", "AAAAAA"));
    h.send(home("alice"), login("mallory", home("alice")));
    let events = h.events();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, HubEvent::Unchanged { .. })),
        "{events:?}"
    );
}
