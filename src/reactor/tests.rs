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
    /// Each call of `on_deadline`: its `now`, and the deadline that was
    /// first at that moment (what the Reactor was asked to wait for).
    calls: Vec<(Instant, Option<Instant>)>,
}

impl ReadyHandler for Counter {
    fn on_ready(&mut self, event: &Event, _now: Instant) -> io::Result<()> {
        assert_eq!(event.token(), Token(7));
        let received = &mut self.received;
        self.udp.drain(|_, _| *received += 1)
    }
}

impl TimerHandler for Counter {
    fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().copied()
    }

    fn on_deadline(&mut self, now: Instant) -> io::Result<()> {
        // Recorded whatever is due: a Reactor that called early shows up.
        self.calls.push((now, self.deadlines.first().copied()));
        self.deadlines.retain(|&at| at > now);
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
        calls: Vec::new(),
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
    assert!(handler.calls.is_empty(), "gave up waiting");
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
    // Datagrams wake the loop before, between and after the deadlines: a
    // Reactor that fired the timer on any wake-up would call it early.
    let to = handler.udp.local_addr().unwrap();
    let noise = std::thread::spawn(move || {
        let sender = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        while start.elapsed() < Duration::from_millis(30) {
            sender.send_to(b"wake", to).unwrap();
            std::thread::sleep(Duration::from_micros(500));
        }
    });
    reactor.run(&mut handler).unwrap();
    noise.join().unwrap();
    assert!(handler.received > 2, "the loop was woken by datagrams");
    let asked_for: Vec<Option<Instant>> = handler.calls.iter().map(|&(_, first)| first).collect();
    assert_eq!(
        asked_for,
        deadlines.iter().copied().map(Some).collect::<Vec<_>>(),
        "one call per deadline, in order, none spurious"
    );
    for &(now, first) in &handler.calls {
        let first = first.unwrap();
        assert!(now >= first, "called {:?} early", first - now);
    }
}

/// Work left for later, with no event to announce it, and a timer.
struct Backlog {
    left: u32,
    deadline: Option<Instant>,
    /// What the Reactor called, in order.
    calls: Vec<&'static str>,
}

impl ReadyHandler for Backlog {
    fn on_ready(&mut self, _event: &Event, _now: Instant) -> io::Result<()> {
        unreachable!("no source is registered")
    }
}

impl TimerHandler for Backlog {
    fn next_deadline(&self) -> Option<Instant> {
        self.deadline
    }

    fn on_deadline(&mut self, _now: Instant) -> io::Result<()> {
        self.deadline = None;
        self.calls.push("deadline");
        Ok(())
    }
}

impl Handler for Backlog {
    fn is_finished(&self) -> bool {
        self.left == 0
    }

    fn has_backlog(&self) -> bool {
        self.left > 0
    }

    fn on_backlog(&mut self, _now: Instant) -> io::Result<()> {
        self.left -= 1;
        self.calls.push("backlog");
        Ok(())
    }
}

/// A backlog is worked through without waiting for a timer 10 s away (a
/// Reactor that waited would fire it first), one call a turn; a timer that
/// is due fires in its turn, ahead of the backlog.
#[test]
fn a_backlog_brings_the_loop_back_without_waiting() {
    let mut reactor = Reactor::new().unwrap();
    let mut handler = Backlog {
        left: 3,
        deadline: Some(Instant::now() + Duration::from_secs(10)),
        calls: Vec::new(),
    };
    reactor.run(&mut handler).unwrap();
    assert_eq!(handler.calls, ["backlog"; 3]);

    handler.calls.clear();
    handler.left = 2;
    handler.deadline = Some(Instant::now());
    reactor.run(&mut handler).unwrap();
    assert_eq!(handler.calls, ["deadline", "backlog", "backlog"]);
}
