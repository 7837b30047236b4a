use std::net::UdpSocket as StdUdpSocket;

use mio::Token;

use super::udp::UdpEndpoint;
use super::*;

#[test]
fn timeouts_round_up_to_whole_milliseconds() {
    assert_eq!(round_up_to_millis(Duration::ZERO), Duration::ZERO);
    assert_eq!(
        round_up_to_millis(Duration::from_nanos(1)),
        Duration::from_millis(1)
    );
    assert_eq!(
        round_up_to_millis(Duration::from_micros(1500)),
        Duration::from_millis(2)
    );
    assert_eq!(
        round_up_to_millis(Duration::from_millis(7)),
        Duration::from_millis(7)
    );
}

/// Counts datagrams and timer firings; gives up at a deadline so that a
/// broken loop fails the test instead of hanging it.
struct Counter {
    udp: UdpEndpoint,
    expected: usize,
    received: usize,
    deadlines: Vec<Instant>,
    fired: Vec<Instant>,
}

impl ReadyHandler for Counter {
    fn on_ready(&mut self, event: &Event, _now: Instant) -> io::Result<()> {
        assert_eq!(event.token(), Token(7));
        let mut buf = [0; 64];
        while self.udp.recv_from(&mut buf)?.is_some() {
            self.received += 1;
        }
        Ok(())
    }
}

impl TimerHandler for Counter {
    fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().copied()
    }

    fn on_deadline(&mut self, now: Instant) -> io::Result<()> {
        while self.deadlines.first().is_some_and(|&at| at <= now) {
            self.deadlines.remove(0);
            self.fired.push(now);
        }
        Ok(())
    }
}

impl Handler for Counter {
    fn is_finished(&self) -> bool {
        self.received >= self.expected || self.deadlines.is_empty()
    }
}

fn counter(reactor: &Reactor, expected: usize, deadlines: Vec<Instant>) -> Counter {
    let udp =
        UdpEndpoint::bind("127.0.0.1:0".parse().unwrap(), reactor.registry(), Token(7)).unwrap();
    Counter {
        udp,
        expected,
        received: 0,
        deadlines,
        fired: Vec::new(),
    }
}

#[test]
fn a_readable_socket_is_drained_on_one_edge() {
    let mut reactor = Reactor::new().unwrap();
    let give_up = Instant::now() + Duration::from_secs(10);
    let mut handler = counter(&reactor, 200, vec![give_up]);
    let sender = StdUdpSocket::bind("127.0.0.1:0").unwrap();
    let to = handler.udp.local_addr().unwrap();
    // All 200 are queued before the loop first polls: one readiness edge for
    // all of them, so only a handler that drains sees them all.
    for i in 0..200u32 {
        sender.send_to(&i.to_be_bytes(), to).unwrap();
    }
    reactor.run(&mut handler).unwrap();
    assert_eq!(handler.received, 200);
    assert!(handler.fired.is_empty(), "gave up waiting");
}

#[test]
fn deadlines_fire_in_order_and_never_early() {
    let mut reactor = Reactor::new().unwrap();
    let start = Instant::now();
    let deadlines = vec![
        start + Duration::from_millis(5),
        start + Duration::from_millis(20),
    ];
    let mut handler = counter(&reactor, usize::MAX, deadlines.clone());
    reactor.run(&mut handler).unwrap();
    assert_eq!(handler.fired.len(), 2);
    for (fired, deadline) in handler.fired.iter().zip(&deadlines) {
        assert!(fired >= deadline);
    }
}
