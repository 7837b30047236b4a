//! Alice and bob: two clients on the main thread's Reactor, alice pinging
//! bob one message at a time, and the latency of each.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::Token;
use reactor_hub::client::{Client, ClientConfig, Notice};
use reactor_hub::reactor::udp::UdpEndpoint;
use reactor_hub::reactor::{Handler, Reactor, ReadyHandler, TimerHandler};
use reactor_hub::wire::ReplyTo;

use super::PROGRAM;

/// A ping not shown within this long is counted lost and the next one goes.
const PING_PATIENCE: Duration = Duration::from_secs(10);

/// One person: a client state machine and its socket.
pub struct Person {
    client: Client,
    pub udp: UdpEndpoint,
}

impl Person {
    fn new(reactor: &Reactor, hub: SocketAddr, token: Token) -> io::Result<Self> {
        let udp = UdpEndpoint::bind(([127, 0, 0, 1], 0).into(), reactor.registry(), token)?;
        let reply_to = ReplyTo::Addr(udp.local_addr()?);
        Ok(Self {
            client: Client::new(hub, reply_to, ClientConfig::default()),
            udp,
        })
    }

    /// Sends what the client queued; returns what it has to say.
    fn flush(&mut self) -> io::Result<Vec<Notice>> {
        while let Some(transmit) = self.client.poll_transmit() {
            self.udp.send_to(transmit.to, transmit.payload)?;
        }
        Ok(std::iter::from_fn(|| self.client.poll_notice()).collect())
    }
}

const ALICE: Token = Token(0);
const BOB: Token = Token(1);

/// Alice pings bob, one message at a time, on the main thread's Reactor.
pub struct Pair {
    pub alice: Person,
    pub bob: Person,
    logged_in: usize,
    /// Pings still to send in this phase.
    remaining: usize,
    seq: u64,
    /// The ping in flight: its body, when it was typed, whether bob showed
    /// it and whether alice heard it accepted.
    in_flight: Option<(Vec<u8>, Instant, bool, bool)>,
    samples: Vec<Duration>,
    lost: usize,
    interval: Duration,
    /// When the next ping is typed, once the one before is done.
    next_at: Option<Instant>,
}

impl Pair {
    pub fn login(reactor: &mut Reactor, hub: SocketAddr, interval: Duration) -> io::Result<Self> {
        let mut pair = Self {
            alice: Person::new(reactor, hub, ALICE)?,
            bob: Person::new(reactor, hub, BOB)?,
            logged_in: 0,
            remaining: 0,
            seq: 0,
            in_flight: None,
            samples: Vec::new(),
            lost: 0,
            interval,
            next_at: None,
        };
        let now = Instant::now();
        pair.alice
            .client
            .handle_line(now, b"alice->server#login<wonderland>");
        pair.bob
            .client
            .handle_line(now, b"bob->server#login<builder>");
        pair.flush(now)?;
        reactor.run(&mut pair)?;
        Ok(pair)
    }

    /// Times `pings` messages from alice to bob.
    pub fn measure(&mut self, reactor: &mut Reactor, pings: usize) -> io::Result<Latency> {
        self.remaining = pings;
        self.samples.clear();
        self.lost = 0;
        self.next_ping(Instant::now())?;
        reactor.run(self)?;
        Ok(Latency::of(&mut self.samples, self.lost))
    }

    /// Ends the ping in flight; the next goes an interval after it started.
    fn ping_done(&mut self, now: Instant) -> io::Result<()> {
        let Some((_, sent, _, _)) = self.in_flight.take() else {
            return Ok(());
        };
        if self.remaining == 0 {
            return Ok(());
        }
        if now < sent + self.interval {
            self.next_at = Some(sent + self.interval);
            return Ok(());
        }
        self.next_ping(now)
    }

    fn next_ping(&mut self, now: Instant) -> io::Result<()> {
        self.in_flight = None;
        self.next_at = None;
        if self.remaining == 0 {
            return Ok(());
        }
        self.remaining -= 1;
        self.seq += 1;
        let body = format!("ping {}", self.seq).into_bytes();
        let line = [&b"alice->bob#"[..], &body].concat();
        self.alice.client.handle_line(now, &line);
        self.in_flight = Some((body, now, false, false));
        self.flush(now)
    }

    fn flush(&mut self, now: Instant) -> io::Result<()> {
        for notice in self.alice.flush()? {
            match notice {
                Notice::LoggedIn { .. } => self.logged_in += 1,
                Notice::Accepted { .. } => {
                    if let Some((_, _, _, accepted)) = &mut self.in_flight {
                        *accepted = true;
                    }
                }
                other => eprintln!("{PROGRAM}: alice was told: {other}"),
            }
        }
        for notice in self.bob.flush()? {
            match notice {
                Notice::LoggedIn { .. } => self.logged_in += 1,
                Notice::Received { body, .. } => match &mut self.in_flight {
                    Some((ping, sent, shown, _)) if *ping == body => {
                        self.samples.push(now - *sent);
                        *shown = true;
                    }
                    _ => eprintln!("{PROGRAM}: bob was shown an old ping"),
                },
                other => eprintln!("{PROGRAM}: bob was told: {other}"),
            }
        }
        // The next ping goes when bob showed this one and alice heard back,
        // so that it does not wait behind this one's reply.
        if let Some((_, _, true, true)) = self.in_flight {
            self.ping_done(now)?;
        }
        Ok(())
    }
}

impl ReadyHandler for Pair {
    fn on_ready(&mut self, event: &Event, now: Instant) -> io::Result<()> {
        let person = match event.token() {
            ALICE => &mut self.alice,
            _ => &mut self.bob,
        };
        if event.is_writable() {
            person.udp.on_writable()?;
        }
        // Drain: the next event comes only for new datagrams.
        let client = &mut person.client;
        person
            .udp
            .drain(|from, datagram| client.handle_datagram(now, from, datagram))?;
        self.flush(now)
    }
}

impl TimerHandler for Pair {
    fn next_deadline(&self) -> Option<Instant> {
        let patience = self
            .in_flight
            .as_ref()
            .map(|(_, sent, _, _)| *sent + PING_PATIENCE);
        [
            self.alice.client.poll_timeout(),
            self.bob.client.poll_timeout(),
            patience,
            self.next_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn on_deadline(&mut self, now: Instant) -> io::Result<()> {
        self.alice.client.handle_timeout(now);
        self.bob.client.handle_timeout(now);
        if let Some((_, sent, shown, _)) = self.in_flight {
            if now >= sent + PING_PATIENCE {
                if !shown {
                    self.lost += 1;
                }
                self.next_ping(now)?;
            }
        }
        if self.next_at.is_some_and(|at| at <= now) {
            self.next_ping(now)?;
        }
        self.flush(now)
    }
}

impl Handler for Pair {
    fn is_finished(&self) -> bool {
        self.logged_in == 2 && self.in_flight.is_none() && self.next_at.is_none()
    }
}

/// Percentiles of the time from alice typing a message to bob being shown it.
pub struct Latency {
    count: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    pub lost: usize,
}

impl Latency {
    fn of(samples: &mut [Duration], lost: usize) -> Self {
        samples.sort();
        if samples.is_empty() {
            return Self {
                count: 0,
                p50: Duration::ZERO,
                p99: Duration::ZERO,
                max: Duration::ZERO,
                lost,
            };
        }
        let at = |q: f64| {
            let rank = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len());
            samples[rank - 1]
        };
        Self {
            count: samples.len(),
            p50: at(0.50),
            p99: at(0.99),
            max: samples.last().copied().unwrap_or_default(),
            lost,
        }
    }
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "{} pings shown, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms, {} lost",
            self.count,
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            self.lost
        )
    }
}
