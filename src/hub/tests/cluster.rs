//! Nodes of a cluster, each a hub on its own fake clock reading, joined by
//! an in-memory broker (`nats::fake_broker`): cross-node messages, the
//! races of logins and resends, and the broker or a node going away.

use super::*;
use crate::cluster::Note;
use crate::nats::fake_broker::FakeBroker;
use crate::nats::{Endpoint, LinkError};

/// One node: its hub, and its connection to the broker, if any.
struct Node {
    h: Harness,
    connection: Option<usize>,
    /// Killed: it does nothing more, and the broker dropped its connection.
    dead: bool,
}

/// Nodes and a broker; `send` hands a datagram to a node and lets
/// everything the broker carries settle.
struct Net {
    broker: FakeBroker,
    broker_up: bool,
    nodes: Vec<Node>,
    /// The order in which the nodes' writes reach the broker.
    order: Vec<usize>,
}

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;

impl Net {
    fn new(nodes: usize) -> Self {
        Self::with(nodes, |_| {})
    }

    fn with(nodes: usize, tune: impl Fn(&mut ClusterConfig)) -> Self {
        Self::build(nodes, true, tune)
    }

    /// Nodes whose broker is not there yet.
    fn without_broker(nodes: usize) -> Self {
        Self::build(nodes, false, |_| {})
    }

    fn build(nodes: usize, broker_up: bool, tune: impl Fn(&mut ClusterConfig)) -> Self {
        let nodes: Vec<Node> = (0..nodes)
            .map(|n| {
                let mut h = Harness::seeded(HubConfig::default(), 100 + n as u64);
                // Node n's wall clock reads n ms ahead: clocks disagree.
                let wall = 1_764_700_000_000_000 + 1_000 * n as u64;
                let mut config = ClusterConfig::new(h.now, wall);
                tune(&mut config);
                h.hub.join_cluster(config, h.now);
                Node {
                    h,
                    connection: None,
                    dead: false,
                }
            })
            .collect();
        let mut net = Self {
            broker: FakeBroker::default(),
            broker_up,
            order: (0..nodes.len()).collect(),
            nodes,
        };
        net.settle();
        net
    }

    /// Moves every node's clock to `after` past the start.
    fn at(&mut self, after: Duration) {
        for node in &mut self.nodes {
            node.h.at(after);
        }
    }

    /// Hands `node` a datagram and lets the cluster settle; returns what
    /// every node sent.
    fn send(&mut self, node: usize, source: SocketAddr, datagram: impl AsRef<[u8]>) -> Vec<Sent> {
        let mut out = self.nodes[node].h.send(source, datagram);
        out.extend(self.settle());
        out
    }

    /// Logs `id` in at `node`, receiving at `addr`; returns the token.
    #[track_caller]
    fn login(&mut self, node: usize, id: &str, addr: SocketAddr) -> String {
        let mut out = self.start_login(node, id, addr);
        out.extend(self.settle());
        let token = token_in(&out, id, addr);
        assert_eq!(out.len(), 1, "a login sends nothing more: {out:?}");
        token
    }

    /// Sends the login of `id` to `node`, returning what the node sends
    /// at once: nothing while the broker is up, as the reply waits for its
    /// confirmation of the subscription (see [`settle`](Self::settle)).
    #[track_caller]
    fn start_login(&mut self, node: usize, id: &str, addr: SocketAddr) -> Vec<Sent> {
        let out = self.nodes[node].h.send(addr, login(id, addr));
        if self.broker_up && self.nodes[node].connection.is_some() {
            assert_eq!(out, [], "held until the broker holds the subject");
        }
        out
    }

    /// Runs the nodes' timers at their clocks, and settles.
    fn tick(&mut self) -> Vec<Sent> {
        let mut out = Vec::new();
        for node in self.nodes.iter_mut().filter(|n| !n.dead) {
            out.extend(node.h.tick());
        }
        out.extend(self.settle());
        out
    }

    /// Carries bytes between the links and the broker until none move;
    /// returns the datagrams the nodes sent meanwhile.
    fn settle(&mut self) -> Vec<Sent> {
        let mut out = Vec::new();
        loop {
            let mut moved = false;
            for &n in &self.order {
                let node = &mut self.nodes[n];
                if node.dead {
                    continue;
                }
                let (now, hub) = (node.h.now, &mut node.h.hub);
                if node.connection.is_none() && self.broker_up && hub.wants_connection(now) {
                    node.connection = Some(self.broker.connect());
                    hub.handle_connected(now);
                }
                if let Some(connection) = node.connection {
                    moved |= self.broker.exchange(connection, hub, now);
                }
                out.extend(node.h.transmits());
            }
            if !moved {
                return out;
            }
        }
    }

    /// Writes what `node` queued for the broker, and nothing else moves:
    /// the broker reads it, and what it has for anyone waits.
    fn write_only(&mut self, node: usize) {
        let connection = self.nodes[node].connection.expect("connected");
        let h = &mut self.nodes[node].h;
        loop {
            let bytes = h.hub.pending_write(h.now).to_vec();
            if bytes.is_empty() {
                return;
            }
            h.hub.written(bytes.len());
            self.broker.read(connection, &bytes);
        }
    }

    /// Hands `node` what the broker has for it, and nothing else moves;
    /// returns what the node sent.
    fn read_only(&mut self, node: usize) -> Vec<Sent> {
        let connection = self.nodes[node].connection.expect("connected");
        let bytes = self.broker.take_output(connection);
        let h = &mut self.nodes[node].h;
        h.hub.handle_bytes(h.now, &bytes);
        h.transmits()
    }

    /// `node`'s connection to the broker is cut: both sides drop it.
    fn cut(&mut self, node: usize) -> Vec<Sent> {
        let connection = self.nodes[node].connection.take().expect("connected");
        self.broker.close(connection);
        let h = &mut self.nodes[node].h;
        h.hub.handle_lost(h.now, "connection reset");
        h.transmits()
    }

    /// The broker goes away: every node loses its connection.
    fn broker_dies(&mut self) -> Vec<Sent> {
        self.broker_up = false;
        let mut out = Vec::new();
        for node in self.nodes.iter_mut().filter(|n| !n.dead) {
            if let Some(connection) = node.connection.take() {
                self.broker.close(connection);
                let now = node.h.now;
                node.h.hub.handle_lost(now, "connection reset");
                out.extend(node.h.transmits());
            }
        }
        out
    }

    /// A new broker, with nothing of the old one's state; the nodes
    /// reconnect once their backoff allows (the clocks must move).
    fn broker_returns(&mut self) {
        self.broker = FakeBroker::default();
        self.broker_up = true;
    }

    /// `node` is killed: it says nothing more; the broker sees its
    /// connection close and forgets its subscriptions.
    fn kill(&mut self, node: usize) {
        if let Some(connection) = self.nodes[node].connection.take() {
            self.broker.close(connection);
        }
        self.nodes[node].dead = true;
    }

    fn state(&self, node: usize, id: &str) -> SessionState {
        self.nodes[node].h.state(id)
    }

    fn events(&mut self, node: usize) -> Vec<HubEvent> {
        self.nodes[node].h.events()
    }
}

/// The token of the login `Success` to `id` at `addr` among `out`.
#[track_caller]
fn token_in(out: &[Sent], id: &str, addr: SocketAddr) -> String {
    out.iter()
        .filter(|s| s.to == addr)
        .find_map(|s| token_of(id, s))
        .unwrap_or_else(|| panic!("no login reply to {id} at {addr} in {out:?}"))
}

/// A second address for a user, on another node.
fn away(id: &str) -> SocketAddr {
    addr(home(id).port() + 100)
}

fn success(to: &str, token: &str, msg_id: &str, body: &str) -> String {
    format!("server->{to}#<{token}><{msg_id}>Success: {body}")
}

fn offline(to: &str, token: &str, msg_id: &str) -> String {
    format!("server->{to}#<{token}><{msg_id}>Error: destination offline!")
}

#[test]
fn a_message_crosses_to_the_node_where_its_destination_is() {
    let mut net = Net::new(2);
    let ta = net.login(A, "alice", home("alice"));
    let tb = net.login(B, "bob", home("bob"));

    let out = net.send(A, home("alice"), chat("alice", "bob", &ta, M1, "hi #<bob>"));
    assert_sent(
        &out,
        &[
            // Byte for byte, with bob's own token, from bob's node.
            sent(home("bob"), chat("alice", "bob", &tb, M1, "hi #<bob>")),
            sent(home("alice"), success("alice", &ta, M1, "hi #<bob>")),
        ],
    );
    assert_eq!(net.state(B, "bob"), SessionState::MessageForward);
    assert_eq!(net.state(A, "bob"), SessionState::Offline, "bob is B's");
    // bob's receipt goes to his node, and nothing is resent after it.
    let out = net.send(
        B,
        home("bob"),
        chat("bob", "server", &tb, M1, "Success: hi"),
    );
    assert_eq!(out, []);
    assert_eq!(net.state(B, "bob"), SessionState::Online);
    net.at(secs(5));
    assert_eq!(net.tick(), []);
    // And back the other way, with an id other clients send.
    let out = net.send(B, home("bob"), chat("bob", "alice", &tb, M3, "yo"));
    assert_sent(
        &out,
        &[
            sent(home("alice"), chat("bob", "alice", &ta, M3, "yo")),
            sent(home("bob"), success("bob", &tb, M3, "yo")),
        ],
    );
    let counters = net.nodes[A].h.hub.counters();
    assert_eq!(counters.messages(MessageResult::Forwarded), 1);
}

#[test]
fn a_user_online_nowhere_is_offline_without_waiting() {
    let mut net = Net::new(3);
    let ta = net.login(A, "alice", home("alice"));
    // bob is an account, online at no node: the broker says so at once.
    let out = net.send(A, home("alice"), chat("alice", "bob", &ta, M1, "hi"));
    assert_eq!(out, [sent(home("alice"), offline("alice", &ta, M1))]);
    // Not an account: no node is asked.
    let out = net.nodes[A]
        .h
        .send(home("alice"), chat("alice", "zed", &ta, M2, "hi"));
    assert_eq!(out, [sent(home("alice"), offline("alice", &ta, M2))]);
    assert_eq!(net.nodes[A].h.hub.stats().asking, 0);
}

#[test]
fn a_user_a_node_does_not_know_is_offline_to_it() {
    let mut net = Net::new(2);
    // B's accounts file lacks alice: it was reloaded at A only.
    net.nodes[B]
        .h
        .reload(|lines| lines.retain(|(id, _)| *id != "alice"));
    let ta = net.login(A, "alice", home("alice"));
    let tb = net.login(B, "bob", home("bob"));
    // B takes no message from a sender it does not know.
    let out = net.send(A, home("alice"), chat("alice", "bob", &ta, M1, "hi"));
    assert_eq!(out, [sent(home("alice"), offline("alice", &ta, M1))]);
    // Nor does B ask for a destination it does not know.
    let out = net.nodes[B]
        .h
        .send(home("bob"), chat("bob", "alice", &tb, M1, "hi"));
    assert_eq!(out, [sent(home("bob"), offline("bob", &tb, M1))]);
    assert_eq!(net.nodes[B].h.hub.stats().asking, 0);
    // Once B has the same accounts, they chat.
    net.nodes[B].h.reload(|_| {});
    let out = net.send(A, home("alice"), chat("alice", "bob", &ta, M2, "hi"));
    assert_sent(
        &out,
        &[
            sent(home("bob"), chat("alice", "bob", &tb, M2, "hi")),
            sent(home("alice"), success("alice", &ta, M2, "hi")),
        ],
    );
}

#[test]
fn a_resend_while_the_other_node_is_asked_is_not_forwarded_twice() {
    let mut net = Net::new(2);
    let ta = net.login(A, "alice", home("alice"));
    let tb = net.login(B, "bob", home("bob"));
    let message = chat("alice", "bob", &ta, M1, "once");
    // The first copy is out to B; the resend comes before B's answer.
    assert_eq!(net.nodes[A].h.send(home("alice"), &message), []);
    assert_eq!(net.nodes[A].h.send(home("alice"), &message), []);
    assert_eq!(net.nodes[A].h.hub.stats().asking, 1);
    let out = net.settle();
    assert_sent(
        &out,
        &[
            sent(home("bob"), chat("alice", "bob", &tb, M1, "once")),
            sent(home("alice"), success("alice", &ta, M1, "once")),
        ],
    );
    // A resend after the answer gets the same answer, and B hears nothing.
    let out = net.send(A, home("alice"), &message);
    assert_eq!(
        out,
        [sent(home("alice"), success("alice", &ta, M1, "once"))]
    );
    // The same id with another body is a new message.
    let out = net.send(A, home("alice"), chat("alice", "bob", &ta, M1, "twice"));
    assert_eq!(out.len(), 2, "{out:?}");
}

#[test]
fn an_ask_made_again_after_its_verdict_was_slow_is_not_delivered_twice() {
    let mut net = Net::new(2);
    let ta = net.login(A, "alice", home("alice"));
    let tb = net.login(B, "bob", home("bob"));
    // A learns that bob is at B: the next ask goes straight to B.
    net.send(A, home("alice"), chat("alice", "bob", &ta, M1, "first"));
    let receipt = chat("bob", "server", &tb, M1, "Success: first");
    net.send(B, home("bob"), receipt);
    net.nodes[A]
        .h
        .send(home("alice"), chat("alice", "bob", &ta, M2, "once"));
    net.write_only(A);
    let out = net.read_only(B);
    assert_eq!(
        out,
        [sent(home("bob"), chat("alice", "bob", &tb, M2, "once"))]
    );
    let receipt = chat("bob", "server", &tb, M2, "Success: once");
    assert_eq!(net.nodes[B].h.send(home("bob"), receipt), []);
    // B's `taken` has not left when A's wait ends: A asks again, of bob's
    // subject. B, seeing the ask a second time, takes it without sending
    // it again; alice is told once.
    net.at(secs(1));
    let out = net.tick();
    assert_eq!(
        out,
        [sent(home("alice"), success("alice", &ta, M2, "once"))]
    );
}

#[test]
fn two_logins_at_once_leave_exactly_one_session() {
    // Both logins happen before either node hears of the other, and the
    // broker reads the two nodes in either order. B's clock is 1 ms ahead
    // of A's, so at one instant B's login is the later.
    for order in [[A, B], [B, A]] {
        let mut net = Net::new(2);
        net.order = order.to_vec();
        net.start_login(A, "alice", home("alice"));
        net.start_login(B, "alice", away("alice"));
        // Both were told Success: each login did happen.
        let out = net.settle();
        let (ta, tb) = (
            token_in(&out, "alice", home("alice")),
            token_in(&out, "alice", away("alice")),
        );
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(net.state(A, "alice"), SessionState::Offline, "{order:?}");
        assert_eq!(net.state(B, "alice"), SessionState::Online, "{order:?}");
        assert!(net.events(A).contains(&HubEvent::MovedAway {
            id: "alice".into(),
            online_there: true
        }));
        let stale = net.send(A, home("alice"), chat("alice", "bob", &ta, M1, "x"));
        let again = format!("server->alice#<{ta}><{M1}>Error: please log in again!");
        assert_eq!(stale, [sent(home("alice"), again)]);
        // The survivor is reachable from a third user's node.
        let tc = net.login(A, "carol", home("carol"));
        let out = net.send(A, home("carol"), chat("carol", "alice", &tc, M2, "hey"));
        assert!(out.contains(&sent(away("alice"), chat("carol", "alice", &tb, M2, "hey"))));
    }
}

#[test]
fn a_login_at_another_node_ends_the_old_session_and_takes_its_forwards() {
    let mut net = Net::new(2);
    let ta = net.login(A, "alice", home("alice"));
    let tb = net.login(A, "bob", home("bob"));
    // A forward to alice awaits her receipt at A when she moves to B.
    let out = net.send(A, home("bob"), chat("bob", "alice", &tb, M1, "pending"));
    assert_eq!(out.len(), 2, "{out:?}");
    // 10 s later, and A's clock is behind B's: the later login wins anyway.
    net.at(secs(10));
    net.start_login(B, "alice", away("alice"));
    let out = net.settle();
    let ta2 = token_in(&out, "alice", away("alice"));
    // The forward follows her, with her new token, from her new node.
    assert_eq!(
        out,
        [
            sent(away("alice"), format!("server->alice#Success<{ta2}>")),
            sent(away("alice"), chat("bob", "alice", &ta2, M1, "pending"))
        ]
    );
    assert_eq!(net.state(A, "alice"), SessionState::Offline);
    assert_eq!(net.state(B, "alice"), SessionState::MessageForward);
    let events = net.events(A);
    assert!(events.contains(&HubEvent::MovedAway {
        id: "alice".into(),
        online_there: true
    }));
    assert!(
        !events.iter().any(|e| matches!(e, HubEvent::GaveUp { .. })),
        "{events:?}"
    );
    // Her old token is an ended session's at A.
    let out = net.send(A, home("alice"), chat("alice", "bob", &ta, M2, "old"));
    let again = format!("server->alice#<{ta}><{M2}>Error: please log in again!");
    assert_eq!(out, [sent(home("alice"), again)]);
    // And a message from bob (at A) now goes to B.
    let out = net.send(A, home("bob"), chat("bob", "alice", &tb, M3, "moved?"));
    assert!(out.contains(&sent(
        away("alice"),
        chat("bob", "alice", &ta2, M3, "moved?")
    )));
    // Back at A, later still: A's login is the later one now.
    net.at(secs(20));
    net.start_login(A, "alice", home("alice"));
    let out = net.settle();
    let ta3 = token_in(&out, "alice", home("alice"));
    // The two forwards she never receipted at B come back with her.
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(net.state(B, "alice"), SessionState::Offline);
    let out = net.send(A, home("bob"), chat("bob", "alice", &tb, M2, "home"));
    assert!(out.contains(&sent(home("alice"), chat("bob", "alice", &ta3, M2, "home"))));
}

#[test]
fn logoff_and_expiry_make_a_user_offline_everywhere() {
    let mut net = Net::new(2);
    let ta = net.login(A, "alice", home("alice"));
    let tb = net.login(B, "bob", home("bob"));
    net.send(B, home("bob"), logoff("bob", &tb));
    let out = net.send(A, home("alice"), chat("alice", "bob", &ta, M1, "gone?"));
    assert_eq!(out, [sent(home("alice"), offline("alice", &ta, M1))]);

    net.login(B, "carol", home("carol"));
    // alice keeps talking; carol stays silent past the session timeout.
    net.at(secs(200));
    net.send(
        A,
        home("alice"),
        chat("alice", "carol", &ta, M2, "still there?"),
    );
    net.at(secs(300) + NANO);
    net.tick();
    assert_eq!(net.state(B, "carol"), SessionState::Offline);
    let out = net.send(A, home("alice"), chat("alice", "carol", &ta, M3, "gone?"));
    assert_eq!(out, [sent(home("alice"), offline("alice", &ta, M3))]);
}

#[test]
fn broker_loss_answers_requests_in_flight_and_chat_resumes_on_its_return() {
    let mut net = Net::new(2);
    let ta = net.login(A, "alice", home("alice"));
    let tb = net.login(B, "bob", home("bob"));
    // A request is out when the broker dies: it is answered, not lost.
    assert_eq!(
        net.nodes[A]
            .h
            .send(home("alice"), chat("alice", "bob", &ta, M1, "x")),
        []
    );
    let out = net.broker_dies();
    assert_eq!(out, [sent(home("alice"), offline("alice", &ta, M1))]);
    assert!(net
        .events(A)
        .iter()
        .any(|e| matches!(e, HubEvent::Cluster(Note::LinkDown { .. }))));
    // Meanwhile: bob is offline for alice, at once; each node serves its own.
    let out = net.send(A, home("alice"), chat("alice", "bob", &ta, M2, "y"));
    assert_eq!(out, [sent(home("alice"), offline("alice", &ta, M2))]);
    let tc = net.login(A, "carol", home("carol"));
    let out = net.send(A, home("alice"), chat("alice", "carol", &ta, M2, "local"));
    assert_eq!(out.len(), 2, "{out:?}");
    // The broker comes back with nothing; the nodes reconnect, subscribe
    // again, and cross-node chat works with the sessions that outlived it.
    net.broker_returns();
    net.at(secs(5));
    net.settle();
    assert!(net.events(A).contains(&HubEvent::Cluster(Note::LinkUp)));
    let out = net.send(A, home("alice"), chat("alice", "bob", &ta, M3, "back"));
    assert!(out.contains(&sent(home("bob"), chat("alice", "bob", &tb, M3, "back"))));
    let out = net.send(B, home("bob"), chat("bob", "carol", &tb, M1, "hi"));
    assert!(out.contains(&sent(home("carol"), chat("bob", "carol", &tc, M1, "hi"))));
}

#[test]
fn logins_during_an_outage_are_settled_when_the_broker_returns() {
    let mut net = Net::new(2);
    net.login(A, "alice", home("alice"));
    net.broker_dies();
    // alice logs in at B while the nodes cannot hear each other: both
    // hold a session of hers until the broker is back.
    net.at(secs(10));
    let t2 = net.login(B, "alice", away("alice"));
    assert_eq!(net.state(A, "alice"), SessionState::Online);
    net.broker_returns();
    net.at(secs(15));
    net.settle();
    assert_eq!(
        net.state(A, "alice"),
        SessionState::Offline,
        "the older ended"
    );
    assert_eq!(net.state(B, "alice"), SessionState::Online);
    let tc = net.login(A, "carol", home("carol"));
    let out = net.send(A, home("carol"), chat("carol", "alice", &tc, M1, "which?"));
    assert!(out.contains(&sent(
        away("alice"),
        chat("carol", "alice", &t2, M1, "which?")
    )));
}

#[test]
fn a_node_started_before_the_broker_joins_when_it_comes() {
    let mut net = Net::without_broker(2);
    // Nodes whose broker never answered yet: they serve their own users.
    let ta = net.nodes[A]
        .h
        .login_via("alice", home("alice"), home("alice"));
    let tb = net.nodes[B].h.login_via("bob", home("bob"), home("bob"));
    let out = net.nodes[A]
        .h
        .send(home("alice"), chat("alice", "bob", &ta, M1, "x"));
    assert_eq!(out, [sent(home("alice"), offline("alice", &ta, M1))]);
    net.broker_up = true;
    net.at(secs(3));
    net.settle();
    let out = net.send(A, home("alice"), chat("alice", "bob", &ta, M2, "now"));
    assert!(out.contains(&sent(home("bob"), chat("alice", "bob", &tb, M2, "now"))));
}

#[test]
fn a_dead_nodes_users_are_offline_for_the_others() {
    let mut net = Net::new(3);
    let ta = net.login(A, "alice", home("alice"));
    net.login(B, "bob", home("bob"));
    net.login(C, "carol", home("carol"));
    let message = chat("alice", "carol", &ta, M1, "x");
    assert_eq!(net.nodes[A].h.send(home("alice"), &message), []);
    // The broker hands C the ask, which C never answers: it died.
    net.nodes[C].dead = true;
    assert_eq!(net.settle(), []);
    net.kill(C);
    // Nothing is said while the answer may still come.
    net.at(secs(1) - NANO);
    assert_eq!(net.tick(), []);
    assert_eq!(
        net.send(A, home("alice"), &message),
        [],
        "a resend waits too"
    );
    // Asked again after a second: nobody holds carol. Had C taken the
    // first ask, the broker would have passed its `taken` on before it
    // let go of carol (C sends a forward only once the broker has its
    // verdict): so C never showed it, and offline is the truth.
    net.at(secs(1));
    let out = net.tick();
    assert_eq!(out, [sent(home("alice"), offline("alice", &ta, M1))]);
    // Now the answer comes at once.
    let out = net.send(A, home("alice"), chat("alice", "carol", &ta, M2, "y"));
    assert_eq!(out, [sent(home("alice"), offline("alice", &ta, M2))]);
    // B's users are unaffected.
    let out = net.send(A, home("alice"), chat("alice", "bob", &ta, M3, "z"));
    assert_eq!(out.len(), 2, "{out:?}");
}

#[test]
fn a_stalled_broker_fails_cross_node_messages_as_offline_and_says_so() {
    let mut net = Net::with(2, |config| config.link.max_buffered = 200);
    let ta = net.login(A, "alice", home("alice"));
    net.login(B, "bob", home("bob"));
    // The broker reads nothing more from A: what A publishes piles up.
    let mut answers = Vec::new();
    for n in 0..10u64 {
        let msg_id = format!("{n:010}");
        let h = &mut net.nodes[A].h;
        h.hub.handle_datagram(
            h.now,
            home("alice"),
            &chat("alice", "bob", &ta, &msg_id, "x"),
        );
        h.hub.pending_write(h.now);
        answers.extend(h.transmits());
    }
    assert!(!answers.is_empty() && answers.len() < 10, "{answers:?}");
    for answer in &answers {
        assert!(
            contains(&answer.payload, b"destination offline!"),
            "{answer:?}"
        );
    }
    let counters = net.nodes[A].h.hub.cluster_counters().unwrap();
    assert_eq!(counters.refused_asks, answers.len() as u64);
    let events = net.events(A);
    assert!(events.iter().any(|e| matches!(
        e,
        HubEvent::Cluster(Note::Refused {
            why: LinkError::Full,
            ..
        })
    )));
    // Once it is written, the requests that went out are answered.
    let out = net.settle();
    assert_eq!(out.len(), 2 * (10 - answers.len()), "{out:?}");
}

#[test]
fn a_login_is_answered_once_the_broker_holds_the_users_subject() {
    let mut net = Net::new(2);
    let ta = net.login(A, "alice", home("alice"));
    // bob's Success waits for the broker; once it comes, alice at the other
    // node reaches him at once.
    net.start_login(B, "bob", home("bob"));
    let out = net.settle();
    let tb = token_in(&out, "bob", home("bob"));
    let out = net.send(A, home("alice"), chat("alice", "bob", &ta, M1, "quick"));
    assert!(out.contains(&sent(home("bob"), chat("alice", "bob", &tb, M1, "quick"))));
    // A login held when the broker goes away is answered then: nothing
    // will confirm it, and the node serves its own users meanwhile.
    net.start_login(B, "carol", home("carol"));
    let out = net.broker_dies();
    token_in(&out, "carol", home("carol"));
}

/// How many messages the broker carried on subjects ending in `suffix`.
fn published(net: &Net, suffix: &str) -> usize {
    net.broker
        .published
        .iter()
        .filter(|s| s.ends_with(suffix))
        .count()
}

#[test]
fn once_a_users_node_is_known_a_batch_of_messages_goes_to_it_as_one() {
    let mut net = Net::new(2);
    let ta = net.login(A, "alice", home("alice"));
    let tc = net.login(A, "carol", home("carol"));
    let tb = net.login(B, "bob", home("bob"));
    // The first message finds bob through his subject.
    net.send(A, home("alice"), chat("alice", "bob", &ta, M1, "first"));
    assert_eq!(published(&net, ".asks"), 0);
    // Now A knows bob is at B: three messages of one batch, one broker message.
    let (before_user, before_answers) = (published(&net, "user.bob"), published(&net, ".verdicts"));
    for (who, token, msg_id) in [("alice", &ta, M2), ("carol", &tc, M2), ("alice", &ta, M3)] {
        let out = net.nodes[A]
            .h
            .send(home(who), chat(who, "bob", token, msg_id, "batched"));
        assert_eq!(out, [], "asking");
    }
    let out = net.settle();
    assert_eq!(published(&net, ".asks"), 1);
    assert_eq!(published(&net, "user.bob"), before_user);
    assert_eq!(published(&net, ".verdicts"), before_answers + 1);
    assert_sent(
        &out,
        &[
            sent(home("bob"), chat("alice", "bob", &tb, M2, "batched")),
            sent(home("bob"), chat("carol", "bob", &tb, M2, "batched")),
            sent(home("bob"), chat("alice", "bob", &tb, M3, "batched")),
            sent(home("alice"), success("alice", &ta, M2, "batched")),
            sent(home("carol"), success("carol", &tc, M2, "batched")),
            sent(home("alice"), success("alice", &ta, M3, "batched")),
        ],
    );
}

#[test]
fn a_message_sent_to_the_node_a_user_left_finds_the_user_or_says_offline() {
    let mut net = Net::new(3);
    let ta = net.login(A, "alice", home("alice"));
    let tb0 = net.login(B, "bob", home("bob"));
    net.send(A, home("alice"), chat("alice", "bob", &ta, M1, "learn"));
    net.send(
        B,
        home("bob"),
        chat("bob", "server", &tb0, M1, "Success: learn"),
    );
    // bob moves to C; A still thinks B: B says gone, A asks bob's subject.
    net.at(secs(10));
    let tb = net.login(C, "bob", away("bob"));
    let out = net.send(A, home("alice"), chat("alice", "bob", &ta, M2, "moved"));
    assert_sent(
        &out,
        &[
            sent(away("bob"), chat("alice", "bob", &tb, M2, "moved")),
            sent(home("alice"), success("alice", &ta, M2, "moved")),
        ],
    );
    assert_eq!(published(&net, ".asks"), 1);
    // Now C is known; bob logs off there: C says gone, and his subject
    // has no responders: offline.
    net.send(C, away("bob"), logoff("bob", &tb));
    let out = net.send(A, home("alice"), chat("alice", "bob", &ta, M3, "gone?"));
    assert_eq!(out, [sent(home("alice"), offline("alice", &ta, M3))]);
    assert_eq!(published(&net, ".asks"), 2);
}

#[test]
fn messages_sent_to_a_node_that_died_go_to_their_users_subjects() {
    let mut net = Net::new(3);
    let ta = net.login(A, "alice", home("alice"));
    net.login(B, "bob", home("bob"));
    let tc = net.login(B, "carol", home("carol"));
    net.send(A, home("alice"), chat("alice", "bob", &ta, M1, "learn"));
    net.send(A, home("alice"), chat("alice", "carol", &ta, M1, "learn"));
    // B dies; carol logs in again at C, bob nowhere.
    net.kill(B);
    net.at(secs(10));
    let tc2 = net.login(C, "carol", home("carol"));
    assert_ne!(tc, tc2);
    net.nodes[A]
        .h
        .send(home("alice"), chat("alice", "bob", &ta, M2, "b?"));
    net.nodes[A]
        .h
        .send(home("alice"), chat("alice", "carol", &ta, M2, "c?"));
    let out = net.settle();
    assert_sent(
        &out,
        &[
            sent(home("alice"), offline("alice", &ta, M2)),
            sent(home("carol"), chat("alice", "carol", &tc2, M2, "c?")),
            sent(home("alice"), success("alice", &ta, M2, "c?")),
        ],
    );
}

#[test]
fn a_forward_taken_for_another_node_goes_only_once_the_broker_has_its_verdict() {
    let mut net = Net::new(2);
    let ta = net.login(A, "alice", home("alice"));
    let tb = net.login(B, "bob", home("bob"));
    // B reads alice's ask and takes it: the forward waits for the broker
    // to have B's `taken`.
    assert_eq!(
        net.nodes[A]
            .h
            .send(home("alice"), chat("alice", "bob", &ta, M1, "held")),
        []
    );
    net.write_only(A);
    assert_eq!(net.read_only(B), [], "held, not sent");
    // B's link is cut before the verdict is written: it never goes, so
    // the message is as if never taken.
    assert_eq!(net.cut(B), []);
    net.nodes[B].dead = true; // B stays away while A decides
                              // A asks again; nobody holds bob now, and no `taken` came: offline,
                              // and true: bob never got it.
    net.at(secs(1));
    let out = net.tick();
    assert_eq!(out, [sent(home("alice"), offline("alice", &ta, M1))]);
    // B comes back: bob reachable again, the old message never shown.
    net.nodes[B].dead = false;
    net.at(secs(5));
    let out = net.tick();
    assert!(!out.iter().any(|s| s.to == home("bob")), "{out:?}");
    let out = net.send(A, home("alice"), chat("alice", "bob", &ta, M2, "again"));
    assert_sent(
        &out,
        &[
            sent(home("bob"), chat("alice", "bob", &tb, M2, "again")),
            sent(home("alice"), success("alice", &ta, M2, "again")),
        ],
    );
}

#[test]
fn an_ask_meant_for_an_ended_session_is_not_taken_by_the_next() {
    let mut net = Net::new(2);
    let ta = net.login(A, "alice", home("alice"));
    let tb = net.login(B, "bob", home("bob"));
    // alice's ask is on its way to B when bob logs off there.
    net.nodes[A]
        .h
        .send(home("alice"), chat("alice", "bob", &ta, M1, "late"));
    net.write_only(A);
    let out = net.nodes[B].h.send(home("bob"), logoff("bob", &tb));
    assert_eq!(
        out,
        [sent(home("bob"), format!("server->bob#Success<{tb}>"))]
    );
    net.write_only(B);
    // A asks again: nobody holds bob, and alice is told so.
    net.at(secs(1));
    net.nodes[A].h.tick();
    net.write_only(A);
    let out = net.read_only(A);
    assert_eq!(out, [sent(home("alice"), offline("alice", &ta, M1))]);
    // bob logs in again at B before B reads the first ask, which was
    // routed to his ended session: the new one must not take it.
    net.nodes[B].h.send(home("bob"), login("bob", home("bob")));
    let out = net.read_only(B);
    assert!(
        !out.iter().any(|s| contains(&s.payload, b"late")),
        "{out:?}"
    );
    let out = net.settle();
    assert!(
        !out.iter().any(|s| contains(&s.payload, b"late")),
        "{out:?}"
    );
}

#[test]
fn a_forward_whose_verdict_may_be_lost_waits_for_its_asker_to_settle_it() {
    let mut net = Net::new(2);
    let ta = net.login(A, "alice", home("alice"));
    let tb = net.login(B, "bob", home("bob"));
    net.nodes[A]
        .h
        .send(home("alice"), chat("alice", "bob", &ta, M1, "doubt"));
    net.write_only(A);
    assert_eq!(net.read_only(B), [], "held");
    // B's `taken` reaches the broker, and B's link is cut before the
    // broker's PONG says so: B does not know whether alice was told.
    net.write_only(B);
    assert_eq!(net.cut(B), [], "in doubt: neither sent nor dropped");
    // She was: the verdict was read before the cut.
    let out = net.read_only(A);
    assert_eq!(
        out,
        [sent(home("alice"), success("alice", &ta, M1, "doubt"))]
    );
    // B is back, asks A about its `taken`; A counts it; B sends it on.
    net.at(secs(3));
    let out = net.tick();
    assert_eq!(
        out,
        [sent(home("bob"), chat("alice", "bob", &tb, M1, "doubt"))]
    );
}

#[test]
fn a_forward_whose_verdict_was_lost_is_void_when_its_asker_said_offline() {
    let mut net = Net::new(2);
    let ta = net.login(A, "alice", home("alice"));
    net.login(B, "bob", home("bob"));
    net.nodes[A]
        .h
        .send(home("alice"), chat("alice", "bob", &ta, M1, "void"));
    net.write_only(A);
    assert_eq!(net.read_only(B), [], "held");
    // B's verdict leaves B but is lost in the cut with the connection.
    let connection = net.nodes[B].connection.expect("connected");
    let h = &mut net.nodes[B].h;
    while !h.hub.pending_write(h.now).is_empty() {
        let len = h.hub.pending_write(h.now).len();
        h.hub.written(len);
    }
    net.broker.close(connection);
    net.nodes[B].connection = None;
    let h = &mut net.nodes[B].h;
    h.hub.handle_lost(h.now, "connection reset");
    assert_eq!(h.transmits(), []);
    net.nodes[B].dead = true; // away while A decides
                              // A asks again, finds nobody, and hears no `taken`: offline.
    net.at(secs(1));
    let out = net.tick();
    assert_eq!(out, [sent(home("alice"), offline("alice", &ta, M1))]);
    // B is back and asks: A did not count it, so it never goes.
    net.nodes[B].dead = false;
    net.at(secs(4));
    let out = net.tick();
    assert!(!out.iter().any(|s| s.to == home("bob")), "{out:?}");
}
