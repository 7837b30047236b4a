//! Bounds: memory stays within fixed limits, whatever clients send.

use super::*;
use crate::wire::{Reply, Success};

#[test]
fn a_destination_that_never_receipts_holds_at_most_max_pending() {
    let config = HubConfig::default();
    let accounts = ACCOUNTS.len();
    let mut h = Harness::new();
    let ta = h.login("alice");
    h.login("bob");
    let sent_count = 1000;
    for n in 0..sent_count {
        h.at(Duration::from_millis(n as u64 * 10));
        let out = h.send(
            home("alice"),
            chat("alice", "bob", &ta, &format!("{n:010}"), "x"),
        );
        assert_eq!(out.len(), 2);
        h.tick();
        let stats = h.hub.stats();
        assert!(stats.pending <= config.max_pending, "{stats:?}");
        assert!(stats.remembered_ids <= config.remembered_ids, "{stats:?}");
        assert!(stats.timers <= 2 * accounts, "{stats:?}");
    }
    assert_eq!(h.hub.stats().pending, config.max_pending);
    assert_eq!(h.hub.stats().remembered_ids, config.remembered_ids);
    // Every message is accounted for: given up, or still pending.
    let gave_up = h
        .events()
        .iter()
        .filter(|e| matches!(e, HubEvent::GaveUp { .. }))
        .count();
    assert_eq!(gave_up + config.max_pending, sent_count);
    // The most recent id is still recognised as a resend.
    let last = format!("{:010}", sent_count - 1);
    assert_eq!(
        h.send(home("alice"), chat("alice", "bob", &ta, &last, "x"))
            .len(),
        1
    );
}

/// A hub with `count` accounts `u0`, `u1`, ... (password `p0`, ...).
fn hub_of(count: usize) -> Hub {
    let file: String = (0..count).map(|n| format!("u{n}:p{n}\n")).collect();
    let accounts = Accounts::parse(&file).expect("accounts");
    Hub::with_rng(
        accounts,
        HubConfig::default(),
        Box::new(StdRng::seed_from_u64(7)),
    )
}

/// Logs account `n` of [`hub_of`] in, from an address of its own.
fn log_in(hub: &mut Hub, now: Instant, n: usize) {
    let from = SocketAddr::from(([10, (n >> 16) as u8, (n >> 8) as u8, n as u8], 4000));
    hub.handle_datagram(now, from, format!("u{n}->server#login<p{n}>").as_bytes());
    let reply = hub.poll_transmit().expect("a reply");
    assert!(reply.payload.starts_with(b"server->u"), "{n}");
}

/// An account costs nothing in the session table until it logs in; an
/// idle online session at most 200 bytes, counted from the capacities of
/// everything kept per session (its slab slot, its entry in the table by
/// account, its timer entry, spare room included; an idle session has no
/// traffic box), at every count of sessions from 1,000 up, so also just
/// after each table grew.
#[test]
fn an_idle_online_session_costs_at_most_200_bytes() {
    let sessions = 40_000;
    let mut hub = hub_of(sessions);
    let t0 = Instant::now();
    assert_eq!(hub.session_heap_bytes(), 0, "before any login");
    let mut worst = 0;
    for n in 0..sessions {
        log_in(&mut hub, t0, n);
        let online = n + 1;
        if online >= 1000 {
            worst = worst.max(hub.session_heap_bytes() / online);
        }
    }
    assert_eq!(hub.stats().online, sessions);
    assert_eq!(hub.sessions.traffic_bytes(), 0, "idle: no traffic box");
    assert!(worst <= 200, "{worst} bytes a session");
}

/// Sessions that end give their memory back to the next logins: ten rounds
/// of 1,000 logins and logoffs, each by other accounts, take no more than
/// the first.
#[test]
fn sessions_are_freed_when_they_end() {
    let mut hub = hub_of(10_000);
    let t0 = Instant::now();
    let mut after_first_round = 0;
    for round in 0..10 {
        let accounts = round * 1000..(round + 1) * 1000;
        for n in accounts.clone() {
            log_in(&mut hub, t0, n);
        }
        assert_eq!(hub.stats().online, 1000);
        for n in accounts {
            let token = hub.sessions.of(AccountIndex(n)).expect("online").token;
            let logoff = format!("u{n}->server#logoff<{}>", token.as_str());
            hub.handle_datagram(t0, addr(4000), logoff.as_bytes());
        }
        assert_eq!(hub.stats().online, 0, "round {round}");
        // Less the table by account, which has grown by 4 bytes for each
        // account that logged in: it follows accounts, not sessions.
        let bytes = hub.session_heap_bytes() - hub.sessions.by_account_bytes();
        if round == 0 {
            after_first_round = bytes;
        }
        assert!(bytes <= after_first_round, "round {round}: {bytes} bytes");
    }
}

#[test]
fn steady_traffic_keeps_the_timer_queue_bounded() {
    // Each forward arms a resend timer, and each receipted forward leaves
    // behind an expiry deadline; a busy but healthy conversation must not
    // pile those up for a whole session timeout.
    let accounts = ACCOUNTS.len();
    let mut h = Harness::new();
    let ta = h.login("alice");
    let tb = h.login("bob");
    for n in 0..1000u64 {
        h.at(secs(2 * n));
        h.tick();
        let msg_id = format!("{n:010}");
        h.send(home("alice"), chat("alice", "bob", &ta, &msg_id, "x"));
        h.send(home("bob"), chat("bob", "server", &tb, &msg_id, ""));
        h.send(home("bob"), chat("bob", "alice", &tb, &msg_id, "y"));
        h.send(home("alice"), chat("alice", "server", &ta, &msg_id, ""));
        let stats = h.hub.stats();
        assert!(stats.timers <= 2 * accounts, "after {n} rounds: {stats:?}");
    }
    assert_eq!(h.state("alice"), SessionState::Online);
    assert_eq!(h.state("bob"), SessionState::Online);
}

/// A datagram that a confused or hostile peer might send, often close to a
/// valid one; `tokens` holds the tokens seen on the wire so far.
fn hostile_datagram(rng: &mut StdRng, tokens: &HashMap<String, String>) -> Vec<u8> {
    const IDS: [&str; 6] = ["alice", "bob", "carol", "dave", "mallory", "server"];
    let pick = |rng: &mut StdRng| IDS[rng.random_range(0..IDS.len())];
    let (from, to) = (pick(rng), pick(rng));
    let token = match tokens.get(from) {
        Some(token) if rng.random_bool(0.8) => token.clone(),
        _ => (0..6)
            .map(|_| {
                let alphabet = SessionToken::ALPHABET;
                alphabet[rng.random_range(0..alphabet.len())] as char
            })
            .collect(),
    };
    // A small pool of ids, so that resends and collisions happen.
    let msg_id = format!("{:010}", rng.random_range(0..30));
    let datagram = match rng.random_range(0..10) {
        0 => {
            let len = rng.random_range(0..1100);
            (0..len).map(|_| rng.random()).collect()
        }
        1 | 2 => {
            let password = if rng.random_bool(0.7) {
                password(from)
            } else {
                "guess"
            };
            let port = rng.random_range(6000..6010);
            let address = [
                "",
                &format!("<0.0.0.0><{port}>"),
                &format!("<127.0.0.1><{port}>"),
            ][rng.random_range(0..3)]
            .to_owned();
            format!("{from}->server#login<{password}>{address}").into_bytes()
        }
        // Many messages go to dave, who never receipts.
        3..=5 => {
            let to = if rng.random_bool(0.5) { "dave" } else { to };
            let body: Vec<u8> = (0..rng.random_range(0..40)).map(|_| rng.random()).collect();
            chat(from, to, &token, &msg_id, body)
        }
        6 if from != "dave" => chat(from, "server", &token, &msg_id, "Success: x"),
        7 => logoff(from, &token).into_bytes(),
        8 => format!("server->{to}#<{token}><{msg_id}>Success: x").into_bytes(),
        _ => format!("{from}->{to}#<{token}>garbage").into_bytes(),
    };
    // Sometimes damaged on the way.
    let mut datagram = datagram;
    if !datagram.is_empty() && rng.random_bool(0.2) {
        let at = rng.random_range(0..datagram.len());
        if rng.random_bool(0.5) {
            datagram[at] = rng.random();
        } else {
            datagram.truncate(at);
        }
    }
    datagram
}

#[test]
fn hostile_traffic_keeps_memory_bounded() {
    hostile_run(50_000);
}

/// The figure of docs/security.md: run in CI with `cargo test --release -- --ignored`.
#[test]
#[ignore = "a million cases: run with --release -- --ignored"]
fn a_million_hostile_datagrams_keep_memory_bounded() {
    hostile_run(1_000_000);
}

/// Feeds `cases` seeded hostile datagrams from 1,000 addresses, checking after
/// each that memory stays within its bounds, then lets every session expire
/// and checks that nothing is left behind.
fn hostile_run(cases: usize) {
    let config = HubConfig {
        session_timeout: secs(20),
        resend_after: Duration::from_millis(100),
        max_resend_interval: Duration::from_millis(400),
        remembered_ids: 8,
        max_pending: 8,
        trace: true,
        throttle: ThrottleConfig {
            max_tracked: 100,
            ..ThrottleConfig::default()
        },
    };
    let accounts = ACCOUNTS.len();
    let mut h = Harness::with(config.clone());
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let sources: Vec<SocketAddr> = (0..1000u16)
        .map(|i| SocketAddr::from(([10, 0, (i / 250) as u8, (i % 250) as u8], 5000 + i)))
        .collect();
    let mut tokens = HashMap::new();
    let (mut accepted, mut max_pending_seen, mut drops) = (0, 0, 0);
    for _ in 0..cases {
        h.now += Duration::from_millis(rng.random_range(0..200));
        if h.hub.poll_timeout().is_some_and(|at| at <= h.now) && rng.random_bool(0.9) {
            h.tick();
        }
        let source = sources[rng.random_range(0..sources.len())];
        let datagram = hostile_datagram(&mut rng, &tokens);
        let out = h.send(source, &datagram);
        // Never more than a reply and a forward per datagram.
        assert!(out.len() <= 2, "{out:?}");
        for s in &out {
            match wire::parse(&s.payload) {
                Ok(Message::Success(Success { to, token })) => {
                    tokens.insert(to.to_owned(), token.as_str().to_owned());
                }
                Ok(Message::Reply(Reply {
                    outcome: wire::Outcome::Accepted(_),
                    ..
                })) => accepted += 1,
                _ => {}
            }
        }
        drops += h
            .events()
            .iter()
            .filter(|e| matches!(e, HubEvent::Dropped { .. }))
            .count();
        let stats = h.hub.stats();
        assert!(stats.online <= accounts, "{stats:?}");
        assert!(
            stats.pending <= config.max_pending * stats.online,
            "{stats:?}"
        );
        assert!(
            stats.remembered_ids <= config.remembered_ids * stats.online,
            "{stats:?}"
        );
        assert!(stats.timers <= 2 * accounts, "{stats:?}");
        // At most one ended session remembered per account.
        assert!(stats.ended_sessions <= accounts, "{stats:?}");
        assert!(stats.throttled_ips <= 100, "{stats:?}");
        assert!(stats.throttled_pairs <= 100, "{stats:?}");
        assert!(stats.token_sources <= 1_000, "{stats:?}");
        max_pending_seen = max_pending_seen.max(stats.pending);
    }
    // The loop did exercise the hub.
    assert!(accepted > 1000, "{accepted} messages accepted");
    assert!(drops > 1000, "{drops} datagrams dropped");
    assert!(max_pending_seen >= config.max_pending, "{max_pending_seen}");
    // Once every client falls silent, the hub lets go of everything.
    h.now += config.session_timeout;
    h.tick();
    let stats = h.hub.stats();
    assert_eq!(
        (stats.online, stats.pending, stats.remembered_ids),
        (0, 0, 0)
    );
    assert_eq!(h.hub.poll_timeout(), None, "{stats:?}");
}
