//! The broker link against a real `nats-server`, started on a free port:
//! it connects, subscribes, publishes and receives, is told at once when
//! nobody holds a subject, notices the broker's death, and comes back by
//! itself when the broker does, subscriptions and all.
//!
//! Without `nats-server` installed the tests that need it say `skipped:` and
//! pass, unless `REACTOR_HUB_REQUIRE_NATS` is set (CI installs it and sets
//! it). A broker that accepts and never speaks needs no `nats-server`.

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::Token;
use rand::rngs::StdRng;
use rand::SeedableRng;
use reactor_hub::nats::{BrokerLink, Link, LinkConfig, LinkEvent};
use reactor_hub::reactor::{Handler, Reactor, ReadyHandler, TimerHandler};

use common::broker::{free_addr, start_broker};
use common::PATIENCE;

/// A node's link on a Reactor, publishing `hello N` on each `Up`.
struct Probe {
    link: Link,
    edge: BrokerLink,
    ups: usize,
    downs: usize,
    got: Vec<LinkEvent>,
    until: fn(&Probe) -> bool,
    deadline: Instant,
}

impl Probe {
    fn new(link: Link, broker: SocketAddr, reactor: &Reactor) -> Self {
        Self {
            link,
            edge: BrokerLink::new(broker, reactor.registry(), Token(0)).unwrap(),
            ups: 0,
            downs: 0,
            got: Vec::new(),
            until: |_| false,
            deadline: Instant::now(),
        }
    }

    fn take_events(&mut self, now: Instant) {
        while let Some(event) = self.link.poll_event() {
            match event {
                LinkEvent::Up => {
                    self.ups += 1;
                    let hello = format!("hello {}", self.ups);
                    let link = &mut self.link;
                    link.publish("probe.hello", None, hello.as_bytes()).unwrap();
                    link.publish("nobody.home", Some("inbox.probe"), b"?")
                        .unwrap();
                }
                LinkEvent::Down { .. } => self.downs += 1,
                other => self.got.push(other),
            }
        }
        self.edge.flush(&mut self.link, now);
    }

    /// Runs the Reactor until `until` holds; panics after [`PATIENCE`].
    fn run_until(&mut self, reactor: &mut Reactor, until: fn(&Probe) -> bool) {
        self.until = until;
        self.deadline = Instant::now() + PATIENCE;
        reactor.run(self).unwrap();
        assert!(
            until(self),
            "gave up waiting: {} up, {} down, {:?}",
            self.ups,
            self.downs,
            self.got
        );
    }
}

impl ReadyHandler for Probe {
    fn on_ready(&mut self, event: &Event, now: Instant) -> io::Result<()> {
        self.edge.on_ready(&mut self.link, event, now);
        self.take_events(now);
        Ok(())
    }
}

impl TimerHandler for Probe {
    fn next_deadline(&self) -> Option<Instant> {
        self.link
            .poll_timeout()
            .into_iter()
            .chain([self.deadline])
            .min()
    }

    fn on_deadline(&mut self, now: Instant) -> io::Result<()> {
        self.link.handle_timeout(now);
        self.edge.on_deadline(&mut self.link, now);
        self.take_events(now);
        Ok(())
    }
}

impl Handler for Probe {
    fn is_finished(&self) -> bool {
        (self.until)(self) || Instant::now() >= self.deadline
    }
}

fn hellos(probe: &Probe) -> usize {
    probe
        .got
        .iter()
        .filter(|e| matches!(e, LinkEvent::Message { subject, .. } if subject == "probe.hello"))
        .count()
}

fn no_responders(probe: &Probe) -> usize {
    probe
        .got
        .iter()
        .filter(|e| matches!(e, LinkEvent::NoResponders { .. }))
        .count()
}

#[test]
fn the_link_chats_with_a_real_broker_and_outlives_its_restarts() {
    let addr = free_addr();
    // The node starts first: the broker is not there yet.
    let mut reactor = Reactor::new().unwrap();
    let mut link = Link::new(
        LinkConfig::default(),
        Instant::now(),
        Box::new(StdRng::seed_from_u64(1)),
    );
    link.subscribe("probe.>").unwrap();
    link.subscribe("inbox.probe").unwrap();
    let mut probe = Probe::new(link, addr, &reactor);
    probe.deadline = Instant::now() + Duration::from_millis(300);
    reactor.run(&mut probe).unwrap();
    assert_eq!(probe.ups, 0, "no broker, no link");

    let Some(broker) = start_broker(addr) else {
        return;
    };
    probe.run_until(&mut reactor, |p| hellos(p) == 1 && no_responders(p) == 1);
    let got = &probe.got;
    assert!(
        got.contains(&LinkEvent::Message {
            subject: "probe.hello".into(),
            subscription: 1,
            reply: None,
            payload: "hello 1".into(),
        }),
        "{got:?}"
    );
    assert!(
        got.contains(&LinkEvent::NoResponders {
            subject: "inbox.probe".into()
        }),
        "{got:?}"
    );

    drop(broker);
    probe.run_until(&mut reactor, |p| p.downs == 1);
    let _broker = start_broker(addr).expect("it was there a moment ago");
    probe.run_until(&mut reactor, |p| hellos(p) == 2);
    assert_eq!(probe.ups, 2, "up again, subscriptions and all");
}

/// What `nats-server` says first, and the `PONG` to the handshake's `PING`.
const INFO_AND_PONG: &[u8] = b"INFO {\"server_id\":\"x\",\"server_name\":\"x\",\"version\":\"2.9.10\",\"go\":\"go\",\"host\":\"127.0.0.1\",\"port\":4222,\"headers\":true,\"max_payload\":1024,\"proto\":1}\r\nPONG\r\n";

#[test]
fn a_broker_that_never_speaks_is_dropped_at_the_handshake_timeout_and_tried_again() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // The broker accepts and stays silent; it reports how that connection
    // ended, then answers the next one as `nats-server` would.
    let (report, reported) = mpsc::channel();
    thread::spawn(move || {
        let (mut silent, _) = listener.accept().unwrap();
        silent
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        let ended = silent.read(&mut [0; 256]).map_err(|err| err.kind());
        let (mut next, _) = listener.accept().unwrap();
        next.write_all(INFO_AND_PONG).unwrap();
        report.send((ended, next)).unwrap();
    });

    let mut reactor = Reactor::new().unwrap();
    let config = LinkConfig {
        handshake_timeout: Duration::from_millis(300),
        ..LinkConfig::default()
    };
    let link = Link::new(config, Instant::now(), Box::new(StdRng::seed_from_u64(1)));
    let mut probe = Probe::new(link, addr, &reactor);
    probe.run_until(&mut reactor, |p| p.ups == 1);

    let (ended, _next) = reported.recv_timeout(PATIENCE).unwrap();
    assert!(
        matches!(ended, Ok(0) | Err(io::ErrorKind::ConnectionReset)),
        "the silent connection should be closed, with nothing written: {ended:?}"
    );
}
