//! The totals the metrics export (`Hub::counters`), one case each.

use super::*;

#[test]
fn every_outcome_is_counted_once() {
    let mut h = Harness::new();
    let alice = h.login("alice");
    let bob = h.login("bob");
    h.login("alice");
    for _ in 0..6 {
        h.send(addr(7000), "carol->server#login<wrong>");
    }
    // The sixth failure closes carol to that address: the seventh is throttled.
    h.send(addr(7000), "carol->server#login<wrong>");
    h.send(home("alice"), chat("alice", "bob", &alice, M1, "hi"));
    h.send(home("alice"), chat("alice", "bob", &alice, M1, "hi"));
    h.send(home("alice"), chat("alice", "carol", &alice, M2, "there?"));
    h.send(home("alice"), chat("alice", "bob", "wrong!", M3, "x"));
    h.send(home("dave"), chat("dave", "bob", "abcdef", M1, "x"));
    h.send(home("bob"), "garbage");
    h.send(home("bob"), vec![b'x'; 2000]);
    h.send(home("bob"), logoff("bob", "wrong!"));
    h.at(secs(1));
    h.tick();
    h.send(home("bob"), logoff("bob", &bob));

    let counters = h.hub.counters();
    let logins: Vec<u64> = LoginResult::ALL.map(|r| counters.logins(r)).to_vec();
    assert_eq!(logins, [2, 6, 1, 1], "ok, refused, throttled, repeat");
    let messages: Vec<u64> = MessageResult::ALL.map(|r| counters.messages(r)).to_vec();
    assert_eq!(
        messages,
        [1, 1, 1, 1, 1, 0],
        "forwarded, offline, token error, log in again, resend, unconfirmed"
    );
    assert_eq!(counters.forwards_resent, 1, "the forward to bob, after 1 s");
    assert_eq!(
        counters.forwards_given_up, 1,
        "bob logged off without a receipt"
    );
    let drops: Vec<(&str, u64)> = counters.drops().filter(|&(_, n)| n > 0).collect();
    assert_eq!(
        drops,
        [("malformed", 1), ("too_long", 1), ("token_mismatch", 1)]
    );
}
