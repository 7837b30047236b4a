//! What an attacker tried against the hub, each case reproduced and held.

use super::*;

/// 30 logins for unknown ids from 127.0.0.1 closed the address to carol's
/// right password for a minute: every local client shares that address.
#[test]
fn failed_logins_for_other_ids_do_not_keep_a_user_out() {
    let mut h = Harness::new();
    let local = addr(7000);
    for n in 0..30 {
        h.send(local, format!("nobody{n}->server#login<guess>"));
    }
    h.send(local, "alice->server#login<guess>");
    h.events();
    h.login_via("carol", local, local);
    assert_eq!(h.state("carol"), SessionState::Online);
}

/// 2 wrong logins a second from another address kept alice out.
#[test]
fn a_guesser_elsewhere_never_keeps_the_owner_out() {
    let mut h = Harness::new();
    let guesser = SocketAddr::from(([10, 0, 0, 66], 4000));
    for half_second in 0..240 {
        h.at(Duration::from_millis(500 * half_second));
        h.send(guesser, "alice->server#login<guess>");
    }
    assert!(h
        .events()
        .iter()
        .any(|e| matches!(e, HubEvent::LoginThrottled { .. })));
    h.login("alice");
}
