//! Reloading the accounts file while people chat (`Hub::reload`).

use super::*;

impl Harness {
    /// Reloads the test accounts as a file changed by `edit` would give
    /// them; says what changed.
    pub(super) fn reload(&mut self, edit: impl FnOnce(&mut Vec<(&str, &str)>)) -> Update {
        let mut lines = ACCOUNTS.to_vec();
        edit(&mut lines);
        let text: String = lines
            .iter()
            .map(|(id, pw)| format!("{id}:{pw}\n"))
            .collect();
        let rebuilt = self.hub.accounts().reread(&text).unwrap();
        self.hub.reload(self.now, rebuilt.accounts, &rebuilt.update);
        rebuilt.update
    }
}

#[test]
fn a_new_account_logs_in_at_once_and_can_be_reached() {
    let mut h = Harness::new();
    let alice = h.login("alice");
    let update = h.reload(|lines| lines.push(("erin", "e")));
    assert_eq!(
        update.to_string(),
        "1 added, 0 removed, 0 passwords changed"
    );
    let out = h.send(home("erin"), "erin->server#login<e>");
    assert_eq!(out.len(), 1);
    assert!(out[0].payload.starts_with(b"server->erin#Success<"));
    let out = h.send(home("alice"), chat("alice", "erin", &alice, M1, "welcome"));
    assert_eq!(out.len(), 2, "forwarded to erin and accepted: {out:?}");
}

#[test]
fn a_removed_account_loses_its_session_and_is_told_to_log_in_again() {
    let mut h = Harness::new();
    let bob = h.login("bob");
    let alice = h.login("alice");
    h.events();
    let update = h.reload(|lines| lines.retain(|(id, _)| *id != "bob"));
    assert_eq!(update.removed.len(), 1);
    assert_eq!(h.hub.state_of("bob"), None, "no such account any more");
    assert_eq!(h.events(), [HubEvent::AccountRemoved { id: "bob".into() }]);
    let out = h.send(home("bob"), chat("bob", "alice", &bob, M1, "still here?"));
    assert_sent(
        &out,
        &[sent(
            home("bob"),
            format!("server->bob#<{bob}><{M1}>Error: please log in again!"),
        )],
    );
    let out = h.send(home("alice"), chat("alice", "bob", &alice, M2, "bob?"));
    assert_sent(
        &out,
        &[sent(
            home("alice"),
            format!("server->alice#<{alice}><{M2}>Error: destination offline!"),
        )],
    );
    let login = format!("bob->server#login<{}>", password("bob"));
    let out = h.send(home("bob"), login);
    assert_sent(
        &out,
        &[sent(
            home("bob"),
            "server->bob#Error: password does not match!",
        )],
    );
    assert_eq!(h.hub.stats().online, 1, "alice only");
}

#[test]
fn forwards_owed_to_a_removed_account_are_given_up() {
    let mut h = Harness::new();
    h.login("bob");
    let alice = h.login("alice");
    h.send(
        home("alice"),
        chat("alice", "bob", &alice, M1, "unreceipted"),
    );
    h.events();
    h.reload(|lines| lines.retain(|(id, _)| *id != "bob"));
    let events = h.events();
    assert!(
        events.iter().any(|e| is_gave_up(e, ("alice", "bob", M1))),
        "{events:?}"
    );
    assert_eq!(h.hub.stats().pending, 0);
}

#[test]
fn a_changed_password_applies_to_the_next_login_and_leaves_the_session_alone() {
    let mut h = Harness::new();
    let alice = h.login("alice");
    h.login("bob");
    let update = h.reload(|lines| lines[0].1 = "new words");
    assert_eq!(update.passwords_changed, 1);
    assert_eq!(h.state("alice"), SessionState::Online);
    let out = h.send(
        home("alice"),
        chat("alice", "bob", &alice, M1, "same token"),
    );
    assert_eq!(out.len(), 2, "the running session works: {out:?}");
    let out = h.send(
        addr(7100),
        format!("alice->server#login<{}>", password("alice")),
    );
    assert_sent(
        &out,
        &[sent(
            addr(7100),
            "server->alice#Error: password does not match!",
        )],
    );
    let out = h.send(addr(7100), "alice->server#login<new words>");
    assert!(out[0].payload.starts_with(b"server->alice#Success<"));
}

#[test]
fn reloading_the_same_accounts_changes_nothing() {
    let mut h = Harness::new();
    let alice = h.login("alice");
    let update = h.reload(|_| {});
    assert_eq!(
        update.to_string(),
        "0 added, 0 removed, 0 passwords changed"
    );
    let out = h.send(home("alice"), logoff("alice", &alice));
    assert_sent(
        &out,
        &[sent(
            home("alice"),
            format!("server->alice#Success<{alice}>"),
        )],
    );
}
