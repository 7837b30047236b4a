//! Nothing lost, nothing doubled, over real sockets: several clients chat
//! through a relay that loses 20% of the datagrams each way, duplicates 5%
//! and reorders 5% (the chat and its verdict are in `common/chat.rs`;
//! `tests/simulation.rs` runs the same chat in memory, exactly).
//!
//! Everything is real but the keyboard: the hub is the [`Server`] that
//! `reactor-server` runs, on a Reactor of its own thread; the relay is
//! [`Relay`] on another; the people are [`Client`] state machines, the one
//! `reactor-client` runs, on a Reactor on the test's thread, each with its
//! own UDP socket. Hub and clients run with their default settings, every
//! duration divided by [`TIME_SCALE`] (resends after 50 and 25 ms instead of
//! 1 and 0.5 s), so that thousands of messages take seconds.
//!
//! The relay sees every datagram before it decides its fate, so it counts
//! the hub's `Success` replies: the messages the hub accepted. The verdict:
//! every one of them is shown exactly once at its destination, nothing is
//! shown that the hub did not accept, and at the end no forward awaits a
//! receipt in the hub. It does not depend on timing: a slow machine makes
//! the run longer, not different. `REACTOR_HUB_FAULT_SEED=N` replays the
//! relay's faults with another seed.

mod common;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::chat::{self, Accepted, Run, Script, LOSSY};
use mio::event::Event;
use mio::Token;
use reactor_hub::client::{Client, ClientConfig};
use reactor_hub::hub::{HubConfig, HubStats};
use reactor_hub::reactor::on_thread::{Listening, OnThread};
use reactor_hub::reactor::shutdown::StopHandle;
use reactor_hub::reactor::udp::UdpEndpoint;
use reactor_hub::reactor::{Handler, Reactor, ReadyHandler, TimerHandler};
use reactor_hub::relay::{Direction, Faults, Relay, RelayConfig, RelayStats};
use reactor_hub::server::Server;
use reactor_hub::wire::ReplyTo;

/// How often the test looks at the hub's and the relay's published counts
/// once every message is answered.
const DRAIN_TICK: Duration = Duration::from_millis(10);

#[test]
fn three_hundred_messages_through_a_lossy_network_are_each_shown_once() {
    chat_through_faults(4, 75, LOSSY, Duration::from_secs(60));
}

/// Every duration of the defaults is divided by this, and nothing else is
/// changed: the same resend counts, caps, memory bounds and the same ratios
/// between the hub's and the client's timers, so that thousands of messages
/// take seconds instead of an hour.
const TIME_SCALE: u32 = 20;

/// The hub's defaults, [`TIME_SCALE`] times faster: resends after 50 ms,
/// doubling up to 1.5 s, for as long as the destination's session lives.
fn hub_config() -> HubConfig {
    let defaults = HubConfig::default();
    HubConfig {
        session_timeout: defaults.session_timeout / TIME_SCALE,
        resend_after: defaults.resend_after / TIME_SCALE,
        max_resend_interval: defaults.max_resend_interval / TIME_SCALE,
        ..defaults
    }
}

/// The client's defaults, [`TIME_SCALE`] times faster: resends after 25 ms,
/// and shown messages remembered for 30 s.
fn client_config() -> ClientConfig {
    let defaults = ClientConfig::default();
    ClientConfig {
        resend_after: defaults.resend_after / TIME_SCALE,
        remember_shown_for: defaults.remember_shown_for / TIME_SCALE,
        ..defaults
    }
}

fn chat_through_faults(people: usize, messages_each: usize, faults: Faults, patience: Duration) {
    let seed = chat::seed();
    let started = Instant::now();

    let accounts = chat::accounts(people);
    let hub = Running::start(
        move |reactor| Server::bind(reactor, loopback(), accounts, hub_config()),
        |server| server.hub().stats(),
    );

    let accepted = Arc::new(Mutex::new(Accepted::default()));
    let tap_accepted = accepted.clone();
    let hub_addr = hub.addr;
    let relay = Running::start(
        move |reactor| {
            let mut relay = Relay::bind(
                reactor,
                RelayConfig {
                    listen: loopback(),
                    hub: hub_addr,
                    faults,
                    seed,
                    max_clients: 64,
                },
            )?;
            relay.set_tap(Box::new(move |direction, datagram| {
                if direction == Direction::ToClient {
                    tap_accepted.lock().unwrap().see(datagram);
                }
            }));
            Ok(relay)
        },
        Relay::stats,
    );

    let mut reactor = Reactor::new().unwrap();
    let mut chat = Chat::new(
        &reactor,
        relay.addr,
        people,
        messages_each,
        Watch {
            hub: hub.published.clone(),
            relay: relay.published.clone(),
        },
        Instant::now() + patience,
    )
    .unwrap();
    reactor.run(&mut chat).unwrap();

    let relay_stats = relay.stop().stats();
    let hub_stats = hub.stop().hub().stats();
    assert!(
        !chat.timed_out,
        "not finished after {patience:?} (seed {seed}); hub {:?}; relay {:?}",
        *chat.watch.hub.lock().unwrap(),
        *chat.watch.relay.lock().unwrap(),
    );
    let accepted = std::mem::take(&mut *accepted.lock().unwrap());
    println!("hub at the end: {hub_stats:?}");
    Run {
        seed,
        faults,
        scripts: chat.people.iter().map(|p| &p.script).collect(),
        messages_each,
        accepted: &accepted,
        pending: hub_stats.pending,
        to_hub: relay_stats.to_hub,
        to_clients: relay_stats.to_clients,
    }
    .judge(format!(
        "{:.1} s over real sockets",
        started.elapsed().as_secs_f64()
    ));
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A program on a Reactor of its own thread that publishes a snapshot of
/// itself after every turn, for the test thread to watch.
struct Running<P, S> {
    addr: SocketAddr,
    published: Arc<Mutex<S>>,
    observed: OnThread<Observed<P, S>>,
}

impl<P: Listening + Send + 'static, S: Default + Send + 'static> Running<P, S> {
    fn start(
        make: impl FnOnce(&Reactor) -> io::Result<P> + Send + 'static,
        look: fn(&P) -> S,
    ) -> Self {
        let published = Arc::new(Mutex::new(S::default()));
        let shared = published.clone();
        let observed = OnThread::start("observed", move |reactor| {
            Ok(Observed {
                program: make(reactor)?,
                look,
                shared,
            })
        })
        .unwrap();
        Self {
            addr: observed.addr,
            published,
            observed,
        }
    }

    fn stop(self) -> P {
        self.observed.stop().unwrap().program
    }
}

struct Observed<P, S> {
    program: P,
    look: fn(&P) -> S,
    shared: Arc<Mutex<S>>,
}

impl<P: Listening, S> Observed<P, S> {
    fn publish(&self) {
        *self.shared.lock().unwrap() = (self.look)(&self.program);
    }
}

impl<P: Listening, S> ReadyHandler for Observed<P, S> {
    fn on_ready(&mut self, event: &Event, now: Instant) -> io::Result<()> {
        self.program.on_ready(event, now)?;
        self.publish();
        Ok(())
    }
}

impl<P: Listening, S> TimerHandler for Observed<P, S> {
    fn next_deadline(&self) -> Option<Instant> {
        self.program.next_deadline()
    }
    fn on_deadline(&mut self, now: Instant) -> io::Result<()> {
        self.program.on_deadline(now)?;
        self.publish();
        Ok(())
    }
}

impl<P: Listening, S> Handler for Observed<P, S> {
    fn is_finished(&self) -> bool {
        self.program.is_finished()
    }
    fn has_backlog(&self) -> bool {
        self.program.has_backlog()
    }
    fn on_backlog(&mut self, now: Instant) -> io::Result<()> {
        self.program.on_backlog(now)?;
        self.publish();
        Ok(())
    }
}

impl<P: Listening, S> Listening for Observed<P, S> {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.program.local_addr()
    }
    fn stop_handle(&self) -> StopHandle {
        self.program.stop_handle()
    }
}

/// The hub's and the relay's latest counts.
struct Watch {
    hub: Arc<Mutex<HubStats>>,
    relay: Arc<Mutex<RelayStats>>,
}

impl Watch {
    /// No forward awaits a receipt and no datagram waits in the relay.
    fn quiet(&self) -> bool {
        self.hub.lock().unwrap().pending == 0 && self.relay.lock().unwrap().held == 0
    }
}

/// One person: a client, its socket, and their part in the chat.
struct Person {
    client: Client,
    udp: UdpEndpoint,
    script: Script,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    LoggingIn,
    Chatting,
    Draining,
    Done,
}

/// Everyone's clients on the test thread's Reactor.
struct Chat {
    people: Vec<Person>,
    messages_each: usize,
    watch: Watch,
    phase: Phase,
    /// Quiet seen at the last drain tick: quiet twice in a row ends the run,
    /// so a datagram the relay just sent has reached the hub.
    quiet_once: bool,
    next_tick: Option<Instant>,
    deadline: Instant,
    timed_out: bool,
}

impl Chat {
    fn new(
        reactor: &Reactor,
        hub: SocketAddr,
        people: usize,
        messages_each: usize,
        watch: Watch,
        deadline: Instant,
    ) -> io::Result<Self> {
        let mut all = Vec::new();
        for n in 0..people {
            let udp = UdpEndpoint::bind(loopback(), reactor.registry(), Token(n))?;
            let reply_to = ReplyTo::Addr(udp.local_addr()?);
            all.push(Person {
                client: Client::new(hub, reply_to, client_config()),
                udp,
                script: Script::new(n, people, messages_each),
            });
        }
        let mut chat = Self {
            people: all,
            messages_each,
            watch,
            phase: Phase::LoggingIn,
            quiet_once: false,
            next_tick: None,
            deadline,
            timed_out: false,
        };
        let now = Instant::now();
        for n in 0..people {
            let person = &mut chat.people[n];
            person.script.log_in(&mut person.client, now);
            chat.flush(n)?;
        }
        Ok(chat)
    }

    /// Sends what person `n`'s client queued and takes in what it says.
    fn flush(&mut self, n: usize) -> io::Result<()> {
        let person = &mut self.people[n];
        person.udp.send_all(person.client.outbox())?;
        person.script.listen(&mut person.client, Instant::now());
        // A login typed again.
        person.udp.send_all(person.client.outbox())
    }

    /// Types what each client is ready for, and moves the run on.
    fn advance(&mut self, now: Instant) -> io::Result<()> {
        if now >= self.deadline {
            self.timed_out = true;
            return Ok(());
        }
        if self.phase == Phase::LoggingIn && self.people.iter().all(|p| p.script.logged_in) {
            self.phase = Phase::Chatting;
        }
        if self.phase == Phase::Chatting {
            for n in 0..self.people.len() {
                let person = &mut self.people[n];
                person.script.type_lines(&mut person.client, now);
                self.flush(n)?;
            }
            let each = self.messages_each;
            if self.people.iter().all(|p| p.script.done(each)) {
                self.phase = Phase::Draining;
            }
        }
        if self.phase == Phase::Draining {
            let quiet = self.watch.quiet();
            if quiet && self.quiet_once {
                self.phase = Phase::Done;
            }
            self.quiet_once = quiet;
            self.next_tick = Some(now + DRAIN_TICK);
        }
        Ok(())
    }
}

impl ReadyHandler for Chat {
    fn on_ready(&mut self, event: &Event, now: Instant) -> io::Result<()> {
        let n = event.token().0;
        // Drain: the next event comes only for new datagrams.
        let person = &mut self.people[n];
        let client = &mut person.client;
        person
            .udp
            .drain(|from, datagram| client.handle_datagram(now, from, datagram))?;
        self.flush(n)?;
        if event.is_writable() {
            self.people[n].udp.on_writable()?;
        }
        self.advance(now)
    }
}

impl TimerHandler for Chat {
    fn next_deadline(&self) -> Option<Instant> {
        let clients = self.people.iter().filter_map(|p| p.client.poll_timeout());
        clients.chain(self.next_tick).chain([self.deadline]).min()
    }

    fn on_deadline(&mut self, now: Instant) -> io::Result<()> {
        if self.next_tick.is_some_and(|at| at <= now) {
            self.next_tick = None;
        }
        for n in 0..self.people.len() {
            self.people[n].client.handle_timeout(now);
            self.flush(n)?;
        }
        self.advance(now)
    }
}

impl Handler for Chat {
    fn is_finished(&self) -> bool {
        self.phase == Phase::Done || self.timed_out
    }
}
