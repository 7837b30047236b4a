//! Cluster mode on the real programs: a real `nats-server` on a free port
//! and two or three `reactor-server --nats` nodes, each on its own UDP
//! port, spoken to by hand over UDP: every rule of docs/protocol.md's
//! "Cluster mode", a node killed with SIGKILL, and the broker restarted.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::broker::{free_addr, nats_installed, start_broker, NatsServer};
use common::peer::Peer;
use common::{Server, PATIENCE};

/// A node of the cluster whose broker is at `broker`, once its link is up
/// (or at once, if the broker is not expected to be there).
fn node(name: &str, broker: SocketAddr, wait_for_link: bool) -> Server {
    node_with(name, broker, wait_for_link, &[])
}

/// [`node`], with more flags.
fn node_with(name: &str, broker: SocketAddr, wait_for_link: bool, flags: &[&str]) -> Server {
    // Tests run at once: each node's accounts file needs its own name.
    static NODES: AtomicUsize = AtomicUsize::new(0);
    let file = format!("node-{}", NODES.fetch_add(1, Ordering::Relaxed));
    let nats = broker.to_string();
    let mut args = vec!["--nats", &nats, "--node", name];
    args.extend(flags);
    let node = Server::start(&file, &args);
    if wait_for_link {
        node.log.expect("broker link up");
    }
    node
}

/// A broker, nodes a and b, alice logged in at a and bob at b, with
/// their tokens; `None` (the test skips) where nats-server is missing.
struct TwoNodes {
    broker: NatsServer,
    a: Server,
    b: Server,
    alice: Peer,
    bob: Peer,
    ta: String,
    tb: String,
}

fn alice_at_a_bob_at_b() -> Option<TwoNodes> {
    alice_as(Peer::new)
}

/// [`alice_at_a_bob_at_b`], alice's peer made by `peer` (a split one, say).
fn alice_as(peer: fn(SocketAddr) -> Peer) -> Option<TwoNodes> {
    let broker = start_broker(free_addr())?;
    let a = node("a", broker.addr, true);
    let b = node("b", broker.addr, true);
    let alice = peer(a.addr);
    let bob = Peer::new(b.addr);
    let ta = alice.login("alice", "wonderland");
    let tb = bob.login("bob", "builder");
    Some(TwoNodes {
        broker,
        a,
        b,
        alice,
        bob,
        ta,
        tb,
    })
}

/// Takes the next datagram at `peer`, which must be the forward
/// `expected`, and receipts it (else the node resends it after a second,
/// and the copy arrives where a test waits for something else).
#[track_caller]
fn forwarded(peer: &Peer, expected: String) {
    assert_eq!(peer.recv(), expected);
    receipt(peer, &expected);
}

/// Receipts the forward `forward` from `peer`, as its client does.
fn receipt(peer: &Peer, forward: &str) {
    let (header, rest) = forward.split_once('#').expect("a forward");
    let dest = header.split_once("->").expect("a forward").1;
    let (token_and_id, body) = rest.split_at(20);
    peer.send(&format!("{dest}->server#{token_and_id}Success: {body}"));
}

fn offline(id: &str, token: &str, msg_id: &str) -> String {
    format!("server->{id}#<{token}><{msg_id}>Error: destination offline!")
}

/// Sends `there?` from `sender` (logged in as `id` with `token`) to `to`,
/// every 100 ms with a new id (101, 102, ...), until it is answered
/// `destination offline!`; `other` checks each other answer (its id, and
/// the answer).
fn until_offline(
    (sender, id, token): (&Peer, &str, &str),
    to: &str,
    mut other: impl FnMut(&str, &str),
) {
    for n in 101u64.. {
        let msg_id = format!("{n:010}");
        sender.send(&format!("{id}->{to}#<{token}><{msg_id}>there?"));
        let answer = sender.recv();
        if answer == offline(id, token, &msg_id) {
            return;
        }
        other(&msg_id, &answer);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How often a client resends a message that has no answer yet.
const RESEND_EVERY: Duration = Duration::from_millis(500);

/// The first datagram `sender` gets before `until`, sending `message`
/// now and again every [`RESEND_EVERY`] meanwhile (same id), as the
/// client does; `None` if nothing came.
fn resending(sender: &Peer, message: &str, until: Instant) -> Option<String> {
    let mut next_send = Instant::now();
    loop {
        let now = Instant::now();
        if now >= until {
            return None;
        }
        if now >= next_send {
            sender.send(message);
            next_send = now + RESEND_EVERY;
        }
        if let Some(answer) = sender.recv_within(next_send.min(until) - now) {
            return Some(answer);
        }
    }
}

const M1: &str = "0000000001";
const M2: &str = "0000000002";
const M3: &str = "0000000003";

#[test]
fn users_of_two_nodes_chat_as_on_one_hub() {
    // alice sends from one socket and receives on another.
    let Some(TwoNodes {
        broker: _broker,
        a: _a,
        b: _b,
        alice,
        bob,
        ta,
        tb,
    }) = alice_as(Peer::split)
    else {
        return;
    };

    // Byte for byte, with bob's token, from bob's node; Success from alice's.
    alice.send(&format!("alice->bob#<{ta}><{M1}>hi #<bob> -> you"));
    forwarded(&bob, format!("alice->bob#<{tb}><{M1}>hi #<bob> -> you"));
    assert_eq!(
        alice.recv(),
        format!("server->alice#<{ta}><{M1}>Success: hi #<bob> -> you")
    );
    bob.send(&format!("bob->alice#<{tb}><{M2}>hello"));
    forwarded(&alice, format!("bob->alice#<{ta}><{M2}>hello"));
    assert_eq!(
        bob.recv(),
        format!("server->bob#<{tb}><{M2}>Success: hello")
    );

    // carol is online nowhere: offline, at once; so is someone unknown.
    alice.send(&format!("alice->carol#<{ta}><{M3}>anyone?"));
    assert_eq!(alice.recv(), offline("alice", &ta, M3));
    alice.send(&format!("alice->zed#<{ta}><{M3}>anyone?"));
    assert_eq!(alice.recv(), offline("alice", &ta, M3));
}

#[test]
fn a_resend_to_another_nodes_user_is_not_forwarded_twice() {
    let Some(TwoNodes {
        broker: _broker,
        a: _a,
        b: _b,
        alice,
        bob,
        ta,
        tb,
    }) = alice_at_a_bob_at_b()
    else {
        return;
    };
    let message = format!("alice->bob#<{ta}><{M1}>once");
    // Two copies at once: the second arrives while b is being asked.
    alice.send(&message);
    alice.send(&message);
    forwarded(&bob, format!("alice->bob#<{tb}><{M1}>once"));
    let success = format!("server->alice#<{ta}><{M1}>Success: once");
    assert_eq!(alice.recv(), success);
    // A third copy after the answer: the same answer, and bob hears nothing.
    alice.send(&message);
    assert_eq!(alice.recv(), success);
    // The next thing bob gets is the next message, not a copy of the first.
    alice.send(&format!("alice->bob#<{ta}><{M2}>twice"));
    forwarded(&bob, format!("alice->bob#<{tb}><{M2}>twice"));
}

#[test]
fn a_login_at_another_node_ends_the_session_at_the_first() {
    let Some(broker) = start_broker(free_addr()) else {
        return;
    };
    let a = node("a", broker.addr, true);
    let b = node("b", broker.addr, true);
    let carol = Peer::new(a.addr);
    let tc = carol.login("carol", "s3cret");
    let old = Peer::new(a.addr);
    let t_old = old.login("alice", "wonderland");
    let new = Peer::new(b.addr);
    let t_new = new.login("alice", "wonderland");
    a.log.expect("alice logged in at another node");

    old.send(&format!("alice->carol#<{t_old}><{M1}>stale"));
    assert_eq!(
        old.recv(),
        format!("server->alice#<{t_old}><{M1}>Error: please log in again!")
    );
    carol.send(&format!("carol->alice#<{tc}><{M2}>where are you?"));
    forwarded(&new, format!("carol->alice#<{t_new}><{M2}>where are you?"));
    assert_eq!(
        carol.recv(),
        format!("server->carol#<{tc}><{M2}>Success: where are you?")
    );
}

#[test]
fn logoff_and_a_killed_node_make_users_offline_everywhere() {
    let Some(broker) = start_broker(free_addr()) else {
        return;
    };
    let a = node("a", broker.addr, true);
    let b = node("b", broker.addr, true);
    let mut c = node("c", broker.addr, true);
    let alice = Peer::new(a.addr);
    let bob = Peer::new(b.addr);
    let carol = Peer::new(c.addr);
    let ta = alice.login("alice", "wonderland");
    let tb = bob.login("bob", "builder");
    carol.login("carol", "s3cret");

    bob.send(&format!("bob->server#logoff<{tb}>"));
    assert_eq!(bob.recv(), format!("server->bob#Success<{tb}>"));
    alice.send(&format!("alice->bob#<{ta}><{M1}>bye?"));
    assert_eq!(alice.recv(), offline("alice", &ta, M1));

    // c dies without a word; carol is offline for alice within 3 s.
    c.child.kill().unwrap();
    c.child.wait().unwrap();
    let killed = Instant::now();
    until_offline((&alice, "alice", &ta), "carol", |_, answer| {
        assert!(killed.elapsed() < Duration::from_secs(3), "{answer}");
    });
    assert!(killed.elapsed() < Duration::from_secs(3));
}

#[test]
fn with_the_broker_away_nodes_serve_their_own_and_chat_resumes_on_its_return() {
    let broker_addr = free_addr();
    if !nats_installed() {
        return;
    }
    // The nodes start before the broker: they start anyway and keep trying.
    let a = node("a", broker_addr, false);
    let b = node("b", broker_addr, false);
    let alice = Peer::new(a.addr);
    let bob = Peer::new(b.addr);
    let carol = Peer::new(a.addr);
    let ta = alice.login("alice", "wonderland");
    let tb = bob.login("bob", "builder");
    let tc = carol.login("carol", "s3cret");
    alice.send(&format!("alice->bob#<{ta}><{M1}>x"));
    assert_eq!(alice.recv(), offline("alice", &ta, M1), "never silence");

    let broker = start_broker(broker_addr).expect("installed");
    a.log.expect("broker link up");
    b.log.expect("broker link up");
    alice.send(&format!("alice->bob#<{ta}><{M2}>now"));
    forwarded(&bob, format!("alice->bob#<{tb}><{M2}>now"));
    assert_eq!(
        alice.recv(),
        format!("server->alice#<{ta}><{M2}>Success: now")
    );

    // The broker dies: each node goes on with its own users.
    drop(broker);
    a.log.expect("broker link down");
    alice.send(&format!("alice->bob#<{ta}><{M3}>y"));
    assert_eq!(alice.recv(), offline("alice", &ta, M3));
    alice.send(&format!("alice->carol#<{ta}><{M3}>local"));
    forwarded(&carol, format!("alice->carol#<{tc}><{M3}>local"));
    assert_eq!(
        alice.recv(),
        format!("server->alice#<{ta}><{M3}>Success: local")
    );

    // It comes back: cross-node chat with the sessions that outlived it.
    let _broker = start_broker(broker_addr).expect("installed");
    let back = Instant::now();
    a.log.expect("broker link up");
    b.log.expect("broker link up");
    assert!(
        back.elapsed() < Duration::from_secs(5),
        "{:?}",
        back.elapsed()
    );
    bob.send(&format!("bob->alice#<{tb}><{M1}>welcome back"));
    forwarded(&alice, format!("bob->alice#<{ta}><{M1}>welcome back"));
    assert_eq!(
        bob.recv(),
        format!("server->bob#<{tb}><{M1}>Success: welcome back")
    );
}

/// A node that stalls while a message for its user is asked of it is
/// never said to have that user offline: the node that asked cannot tell
/// a stalled node from a dead one, and the stalled one may yet take the
/// message, so the sender's node stays silent and its client resends.
/// Here b is stopped (SIGSTOP) for 1.6 s, longer than a node waits for a
/// verdict before asking again (1 s): the asks wait unread in b's
/// connection, b takes the message when it wakes, and alice, resending
/// as a client does, gets `Success`, never `destination offline!`; bob is
/// shown that one message (each copy the node resends until it is
/// receipted is the same forward, which the client shows once). Before,
/// a answered offline after 1 s, and bob was then shown a message alice
/// was told never reached him.
#[test]
fn a_stalled_node_is_never_said_offline_for_a_message_it_then_shows() {
    let Some(TwoNodes {
        broker: _broker,
        a: _a,
        b,
        alice,
        bob,
        ta,
        tb,
    }) = alice_at_a_bob_at_b()
    else {
        return;
    };
    let message = format!("alice->bob#<{ta}><{M1}>are you there?");
    let forward = format!("alice->bob#<{tb}><{M1}>are you there?");

    // The stall is the fault: b hears nothing and says nothing for 1.6 s.
    b.pause();
    let stall = Instant::now() + Duration::from_millis(1600);
    let during = resending(&alice, &message, stall);
    b.resume();
    assert_eq!(during, None, "an answer while bob's node was stopped");

    // b wakes, takes the asks waiting for it, and alice hears it took one.
    let after = resending(&alice, &message, Instant::now() + PATIENCE);
    assert_eq!(
        after.as_deref(),
        Some(&*format!(
            "server->alice#<{ta}><{M1}>Success: are you there?"
        )),
        "alice's answer once bob's node is back"
    );
    // bob has it; anything more is b's resend of that same forward.
    forwarded(&bob, forward.clone());
    while let Some(copy) = bob.recv_within(Duration::from_millis(1500)) {
        assert_eq!(copy, forward, "bob is shown only alice's message");
        receipt(&bob, &copy);
    }
}

/// A session that ended while the broker was away does not come back
/// with it. bob is logged in at a; the broker dies; bob logs in at b and
/// logs off there (b cannot tell a). When the broker returns, a announces
/// bob's session there, older than the login b remembers as ended: a is
/// refused, and its session of bob ends. Until the nodes have heard each
/// other a message to bob may still reach his old socket (a cannot know
/// yet), but within seconds bob is offline for every node, and from then
/// on nothing reaches that socket. Before, b had forgotten bob's ended
/// login, a's announcement brought back his old session, and messages to
/// the logged-off bob were delivered there and answered `Success`.
#[test]
fn a_session_ended_during_a_broker_outage_does_not_come_back() {
    let broker_addr = free_addr();
    let Some(broker) = start_broker(broker_addr) else {
        return;
    };
    let a = node("a", broker_addr, true);
    let b = node("b", broker_addr, true);
    let alice = Peer::new(a.addr);
    let carol = Peer::new(b.addr);
    let ta = alice.login("alice", "wonderland");
    let tc = carol.login("carol", "s3cret");
    let old = Peer::new(a.addr);
    let t_old = old.login("bob", "builder");

    drop(broker);
    a.log.expect("broker link down");
    b.log.expect("broker link down");
    let new = Peer::new(b.addr);
    let t_new = new.login("bob", "builder");
    new.send(&format!("bob->server#logoff<{t_new}>"));
    assert_eq!(new.recv(), format!("server->bob#Success<{t_new}>"));

    let _broker = start_broker(broker_addr).expect("installed");
    a.log.expect("broker link up");
    b.log.expect("broker link up");
    let back = Instant::now();
    until_offline((&carol, "carol", &tc), "bob", |msg_id, answer| {
        assert_eq!(
            answer,
            format!("server->carol#<{tc}><{msg_id}>Success: there?")
        );
        // Taken before the nodes heard each other: the old socket has it.
        forwarded(&old, format!("carol->bob#<{t_old}><{msg_id}>there?"));
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "bob's ended session is still online at a {:?} after the broker came back",
            back.elapsed()
        );
    });

    // From then on nothing reaches bob's old socket, and a knows why.
    assert_eq!(old.recv_within(Duration::from_secs(2)), None);
    alice.send(&format!("alice->bob#<{ta}><{M1}>bob?"));
    assert_eq!(alice.recv(), offline("alice", &ta, M1));
    assert_eq!(old.recv_within(Duration::from_millis(500)), None);
    a.log
        .expect("bob logged in at another node and that login ended: its session here ended");
}

#[test]
fn trace_shows_the_link_beside_the_datagrams() {
    let Some(broker) = start_broker(free_addr()) else {
        return;
    };
    let a = node_with("a", broker.addr, false, &["--trace"]);
    // Every line names the node: nodes often share a terminal.
    a.log.expect("[a] [nats] connecting to");
    a.log.expect("reactor-server[a]: INFO: broker link up");
    let b = node("b", broker.addr, true);
    let alice = Peer::new(a.addr);
    let bob = Peer::new(b.addr);
    let ta = alice.login("alice", "wonderland");
    let tb = bob.login("bob", "builder");
    a.log.expect(
        "[nats] alice logged in here: subscribed to hub.user.alice and hub.login.alice, login announced",
    );
    alice.send(&format!("alice->bob#<{ta}><{M1}>traced"));
    forwarded(&bob, format!("alice->bob#<{tb}><{M1}>traced"));
    alice.recv();
    a.log.expect("[udp] in ");
    a.log
        .expect(&format!("[nats] request 0 out: msg {M1} for bob"));
    a.log.expect("[nats] verdict on ask 0: taken");
    a.log.expect("[nats] request 0 resolved: taken");
    a.log.expect("[udp] out ");
    alice.send(&format!("alice->server#logoff<{ta}>"));
    a.log
        .expect("[nats] alice's login ended here: unsubscribed from hub.user.alice");
    drop(broker);
    a.log.expect("[nats] connection to");
    a.log.expect("broker link down");
    a.log.expect("[nats] connecting to");
}

#[test]
fn nodes_on_one_machine_share_one_address() {
    let Some(broker) = start_broker(free_addr()) else {
        return;
    };
    let shared = common::udp_socket().local_addr().unwrap().to_string();
    let users = 16;
    let accounts: String = (0..users).map(|n| format!("u{n}:pw{n}\n")).collect();
    let nats = broker.addr.to_string();
    let start = |name: &str| {
        let flags = ["--nats", &nats, "--node", name, "--reuse-port"];
        let node = Server::start_with(&format!("shared-{name}"), &shared, &accounts, &flags);
        node.log.expect("broker link up");
        node
    };
    let (a, b) = (start("a"), start("b"));
    assert_eq!(a.addr, b.addr);
    // Each client's source port hashes to one of the two sockets.
    let peers: Vec<Peer> = (0..users).map(|_| Peer::new(a.addr)).collect();
    let tokens: Vec<String> = (0..users)
        .map(|n| peers[n].login(&format!("u{n}"), &format!("pw{n}")))
        .collect();
    for n in 1..users {
        let t0 = &tokens[0];
        peers[0].send(&format!("u0->u{n}#<{t0}><{n:010}>hi"));
        forwarded(&peers[n], format!("u0->u{n}#<{}><{n:010}>hi", tokens[n]));
        assert_eq!(
            peers[0].recv(),
            format!("server->u0#<{t0}><{n:010}>Success: hi")
        );
    }
    // Both nodes took logins (all 16 on one would be a 1 in 32,768 hash).
    a.log.expect("logged in, replies to");
    b.log.expect("logged in, replies to");
}

#[test]
fn a_node_without_a_name_is_named_by_its_address() {
    let Some(broker) = start_broker(free_addr()) else {
        return;
    };
    let nats = broker.addr.to_string();
    let node = Server::start("unnamed-node", &["--nats", &nats]);
    node.log.expect(&format!(
        "reactor-server[{}]: INFO: broker link up",
        node.addr
    ));
}

/// An operator sees, without --trace, that the broker cannot be reached,
/// where and why; then that the link is up once it can.
#[test]
fn a_node_says_at_once_that_its_broker_cannot_be_reached_and_when_it_is() {
    let addr = free_addr();
    let a = node("a", addr, false);
    let line = a.log.expect("cannot reach the broker");
    assert!(
        line.contains(&format!(
            "WARN: cannot reach the broker at nats://{addr}: Connection refused"
        )),
        "{line}"
    );
    let Some(_broker) = start_broker(addr) else {
        return;
    };
    a.log.expect("INFO: broker link up");
}

#[test]
fn bad_cluster_flags_are_usage_errors() {
    for bad in ["nowhere", "nats://", "127.0.0.1", "host name:4222"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_reactor-server"))
            .args(["--nats", bad])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{bad}: {stderr}");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.contains("--nats") && first.contains(bad),
            "{bad}: {stderr}"
        );
    }
}
