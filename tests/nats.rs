//! The broker link against a real `nats-server`, started on a free port:
//! it connects, subscribes, publishes and receives, is told at once when
//! nobody holds a subject, notices the broker's death, and comes back by
//! itself when the broker does, subscriptions and all.
//!
//! Without `nats-server` installed the tests say `skipped:` and pass, unless
//! `REACTOR_HUB_REQUIRE_NATS` is set (CI installs it and sets it).

mod common;

use std::io;
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
    let mut probe = Probe {
        link,
        edge: BrokerLink::new(addr, reactor.registry(), Token(0)).unwrap(),
        ups: 0,
        downs: 0,
        got: Vec::new(),
        until: |_| false,
        deadline: Instant::now(),
    };
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
