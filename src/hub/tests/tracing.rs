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
