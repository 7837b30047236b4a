//! The fault tests' chat (`common/chat.rs`), in memory and exact: the real
//! [`Hub`] and [`Client`] state machines, the relay's [`FaultInjector`]
//! deciding each datagram's fate, and a simulated clock.
//!
//! Nothing runs on its own: [`Sim::step`] moves the clock to the earliest
//! thing anyone waits for (a datagram's arrival, the hub's or a client's
//! deadline) and does it, as quinn's test pair does. With the hub's, the
//! clients' and the faults' generators seeded, a seed replays a run bit for
//! bit, and the defaults run unscaled (1 s resends, 5-minute sessions)
//! because waiting costs nothing: thousands of messages take milliseconds.
//! `REACTOR_HUB_FAULT_SEED=N` replays another seed; `tests/faults.rs` runs
//! the same chat over real sockets.
//!
//! `REACTOR_HUB_SIM_RECORD=FILE` also writes the hub's side of the seed's
//! run to FILE, as a real server's `--record FILE` would ([`HubRecording`]),
//! for the Reactor Scope to show: name one test, as each chat test runs
//! the seed with a network of its own.
//!
//! ```sh
//! REACTOR_HUB_FAULT_SEED=7 REACTOR_HUB_SIM_RECORD=/tmp/seed7.jsonl \
//!     cargo test --test simulation losing_30_percent
//! cargo run --example scope -- --export-perfetto /tmp/seed7.jsonl > seed7.json
//! ```

mod common;

use std::cmp::Reverse;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::fmt;
use std::fs::{self, File};
use std::hash::Hasher;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::chat::{self, Accepted, Run, Script, Verdict, LOSSY};
use rand::rngs::StdRng;
use rand::SeedableRng;
use reactor_hub::client::{Client, ClientConfig};
use reactor_hub::hub::{Hub, HubConfig, HubEvent};
use reactor_hub::logging;
use reactor_hub::reactor::udp::{DatagramLine, Way};
use reactor_hub::reactor::{round_up_to_millis, Due, Wait, Woke};
use reactor_hub::relay::{FaultInjector, Faults};
use reactor_hub::scope::perfetto;
use reactor_hub::scope::recording::{self, Event};
use reactor_hub::wire::{self, ReplyTo};

/// The fault tests' network, losing 30% of the datagrams each way.
const LOSSIER: Faults = Faults {
    loss: 0.30,
    ..LOSSY
};

/// Where a datagram goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Party {
    Hub,
    Client(usize),
}

/// A copy of a datagram on its way, due at `at`; `seq` keeps copies due at
/// the same moment in the order they were sent.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: Instant,
    seq: u64,
    to: Party,
    from: SocketAddr,
    bytes: Vec<u8>,
}

/// The hub, the people, and the network between them, on one clock.
struct Sim {
    t0: Instant,
    now: Instant,
    hub: Hub,
    clients: Vec<Client>,
    scripts: Vec<Script>,
    messages_each: usize,
    to_hub: FaultInjector,
    to_clients: FaultInjector,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    sent: u64,
    accepted: Accepted,
    /// Every delivery (when, to whom, what), hashed: equal for equal runs.
    fingerprint: DefaultHasher,
    /// The hub's side of the run, when it is recorded.
    record: Option<HubRecording>,
}

fn hub_addr() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], 32000))
}

fn client_addr(n: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 1, n as u8], 40000))
}

impl Sim {
    /// `record`: the file to record the hub's side of the run to, if any.
    fn new(
        people: usize,
        messages_each: usize,
        faults: Faults,
        seed: u64,
        record: Option<&Path>,
    ) -> Self {
        let t0 = Instant::now();
        // As a server's with --trace or --record: the hub says why it sent
        // what changed no state, too.
        let config = HubConfig {
            trace: record.is_some(),
            ..HubConfig::default()
        };
        let hub = Hub::with_rng(
            chat::accounts(people),
            config,
            Box::new(StdRng::seed_from_u64(seed)),
        );
        let clients = (0..people)
            .map(|n| {
                let rng = Box::new(StdRng::seed_from_u64(seed ^ (n as u64 + 1)));
                let reply_to = ReplyTo::Addr(client_addr(n));
                Client::with_rng(hub_addr(), reply_to, ClientConfig::default(), rng)
            })
            .collect();
        let mut sim = Self {
            t0,
            now: t0,
            hub,
            clients,
            scripts: (0..people)
                .map(|n| Script::new(n, people, messages_each))
                .collect(),
            messages_each,
            // As the relay seeds its two directions.
            to_hub: FaultInjector::new(faults, seed),
            to_clients: FaultInjector::new(faults, !seed),
            in_flight: BinaryHeap::new(),
            sent: 0,
            accepted: Accepted::default(),
            fingerprint: DefaultHasher::new(),
            record: record.map(|file| HubRecording::create(file, t0)),
        };
        for n in 0..people {
            sim.scripts[n].log_in(&mut sim.clients[n], t0);
            sim.flush_client(n);
        }
        sim
    }

    /// Puts the copies of one datagram on the network, as its fate says.
    fn send(&mut self, from: SocketAddr, to: Party, bytes: &[u8]) {
        let fate = match to {
            Party::Hub => self.to_hub.decide(),
            Party::Client(_) => self.to_clients.decide(),
        };
        for wait in fate.copies() {
            self.sent += 1;
            self.in_flight.push(Reverse(InFlight {
                at: self.now + wait,
                seq: self.sent,
                to,
                from,
                bytes: bytes.to_vec(),
            }));
        }
    }

    fn flush_client(&mut self, n: usize) {
        let now = self.now;
        self.scripts[n].listen(&mut self.clients[n], now);
        while let Some(transmit) = self.clients[n].poll_transmit() {
            let bytes = transmit.payload.to_vec();
            self.send(client_addr(n), Party::Hub, &bytes);
        }
    }

    /// The hub reads a datagram `from` and answers it.
    fn hub_reads(&mut self, from: SocketAddr, bytes: &[u8]) {
        let now = self.now;
        if let Some(record) = &mut self.record {
            record.wake(&self.hub, now, true);
            record.datagram(now, Way::In, from, bytes);
        }
        self.hub.handle_datagram(now, from, bytes);
        self.flush_hub();
    }

    /// The hub's deadline has come: it does what is due.
    fn hub_times_out(&mut self) {
        let now = self.now;
        if let Some(record) = &mut self.record {
            record.wake(&self.hub, now, false);
            for (at, what) in self.hub.describe_due(now) {
                let due = Due {
                    ago: now - at,
                    what: &what,
                };
                record.line(now, "reactor", due);
            }
        }
        self.hub.handle_timeout(now);
        self.flush_hub();
    }

    /// As a server does: logs what the hub reported, then sends what it
    /// queued.
    fn flush_hub(&mut self) {
        let now = self.now;
        while let Some(event) = self.hub.poll_event() {
            if let Some(record) = &mut self.record {
                record.hub_event(now, &event);
            }
        }
        while let Some(transmit) = self.hub.poll_transmit() {
            let (to, bytes) = (transmit.to, transmit.payload.to_vec());
            if let Some(record) = &mut self.record {
                record.datagram(now, Way::Out, to, &bytes);
            }
            let n = (0..self.clients.len())
                .find(|&n| client_addr(n) == to)
                .expect("the hub answers only the people's addresses");
            // The relay's tap: what the hub says, before the network has its way.
            self.accepted.see(&bytes);
            self.send(hub_addr(), Party::Client(n), &bytes);
        }
    }

    /// When the next thing happens: a copy arrives, or a deadline passes.
    fn next_moment(&self) -> Option<Instant> {
        let arrival = self.in_flight.peek().map(|Reverse(copy)| copy.at);
        let deadlines = self.clients.iter().filter_map(Client::poll_timeout);
        arrival
            .into_iter()
            .chain(self.hub.poll_timeout())
            .chain(deadlines)
            .min()
    }

    /// Moves the clock to the next moment and does everything due then;
    /// false when nothing is left to happen.
    fn step(&mut self) -> bool {
        let Some(at) = self.next_moment() else {
            return false;
        };
        self.now = self.now.max(at);
        let now = self.now;
        while self
            .in_flight
            .peek()
            .is_some_and(|Reverse(copy)| copy.at <= now)
        {
            let Reverse(copy) = self.in_flight.pop().unwrap();
            self.fingerprint.write_u128((now - self.t0).as_nanos());
            self.fingerprint.write(&copy.bytes);
            match copy.to {
                Party::Hub => self.hub_reads(copy.from, &copy.bytes),
                Party::Client(n) => {
                    self.clients[n].handle_datagram(now, copy.from, &copy.bytes);
                    self.flush_client(n);
                }
            }
        }
        if self.hub.poll_timeout().is_some_and(|at| at <= now) {
            self.hub_times_out();
        }
        for n in 0..self.clients.len() {
            if self.clients[n].poll_timeout().is_some_and(|at| at <= now) {
                self.clients[n].handle_timeout(now);
                self.flush_client(n);
            }
        }
        // Once everyone is in, each types what their client is ready for.
        if self.scripts.iter().all(|s| s.logged_in) {
            for n in 0..self.clients.len() {
                self.scripts[n].type_lines(&mut self.clients[n], now);
                self.flush_client(n);
            }
        }
        if let Some(record) = &mut self.record {
            record.end_step(now);
        }
        true
    }

    /// What tells one run from another: every delivery, hashed; how long
    /// it took; how many copies were sent.
    fn outcome(&self) -> (u64, Duration, u64) {
        (self.fingerprint.finish(), self.now - self.t0, self.sent)
    }

    /// Every line has its outcome and no forward awaits its receipt.
    fn finished(&self) -> bool {
        let each = self.messages_each;
        self.scripts.iter().all(|s| s.done(each)) && self.hub.stats().pending == 0
    }

    /// Steps until finished; panics if the chat stops short of it or runs
    /// past `limit` of simulated time.
    fn run(&mut self, limit: Duration) {
        while !self.finished() {
            assert!(self.step(), "nothing left to happen, and not finished");
            assert!(self.now - self.t0 < limit, "not finished after {limit:?}");
        }
    }

    fn judge(&self, seed: u64, faults: Faults, started: Instant) {
        Run {
            seed,
            faults,
            scripts: self.scripts.iter().collect(),
            messages_each: self.messages_each,
            accepted: &self.accepted,
            pending: self.hub.stats().pending,
            to_hub: self.to_hub.stats(),
            to_clients: self.to_clients.stats(),
        }
        .judge(format!(
            "{:.1} s simulated in {:.0} ms",
            (self.now - self.t0).as_secs_f64(),
            started.elapsed().as_secs_f64() * 1000.0
        ));
    }
}

/// The hub's side of a run, as a real server's `--record FILE` writes it
/// (`src/logging/record.rs`), so that the Reactor Scope shows a simulated
/// run as it shows a real one. Each step that touches the hub is a turn of
/// its loop; each line is one that the server's `--trace` prints, made by
/// the code that prints it: the Reactor's `wait:`, `woke` and `timer`
/// lines, the socket's `in` and `out`, the hub's transitions.
///
/// What a simulation has no socket or poll for (`event: ... readable`,
/// `recvmmsg`, `sendmmsg`) is left out, and the clock is the simulated one:
/// the hub wakes at its deadline to the nanosecond, where a real one wakes
/// at the millisecond after. Datagrams the network lost never reach the
/// hub, so they are not there: this is what the hub saw.
struct HubRecording {
    /// Written as the run goes, and to its end when dropped: a run that
    /// fails leaves its recording too.
    out: BufWriter<File>,
    t0: Instant,
    seq: u64,
    turn: u64,
    /// Whether the hub's turn of this step has begun.
    in_turn: bool,
    /// When the hub began to wait: when its last turn ended.
    waiting_since: Instant,
}

impl HubRecording {
    /// Creates (or empties) `file` for a run that starts at `t0`.
    fn create(file: &Path, t0: Instant) -> Self {
        let out = File::create(file)
            .unwrap_or_else(|err| panic!("cannot record to {}: {err}", file.display()));
        Self {
            out: BufWriter::new(out),
            t0,
            seq: 0,
            turn: 0,
            in_turn: false,
            waiting_since: t0,
        }
    }

    /// Writes one trace line, as of `at`.
    fn line(&mut self, at: Instant, target: &str, line: impl fmt::Display) {
        let line = line.to_string();
        let event = Event {
            seq: self.seq,
            turn: self.turn,
            t_us: (at - self.t0).as_micros() as u64,
            kind: logging::kind_of(target, &line).into(),
            target: target.into(),
            line,
        };
        writeln!(self.out, "{event}").expect("cannot write the recording");
        self.seq += 1;
    }

    /// Begins the hub's turn at `now`, unless this step's has begun: the
    /// wait that the turn ends, for the deadline the hub has had since its
    /// last turn, and what ended the wait, a datagram or that deadline.
    fn wake(&mut self, hub: &Hub, now: Instant, by_datagram: bool) {
        if self.in_turn {
            return;
        }
        self.in_turn = true;
        self.turn += 1;
        let since = self.waiting_since;
        let timeout = hub
            .poll_timeout()
            .map(|at| round_up_to_millis(at.saturating_duration_since(since)));
        let wait = match timeout {
            Some(timeout) => Wait::AtMost {
                timeout,
                what: hub.describe_timeout(),
            },
            None => Wait::Forever,
        };
        self.line(since, "reactor", wait);
        let woke = Woke {
            waited: now - since,
            events: Some(usize::from(by_datagram)),
            timeout,
        };
        self.line(now, "reactor", woke);
    }

    /// A datagram the hub read or sent, as the server's socket shows it
    /// (the server gives it `wire::show_datagram`: passwords masked).
    fn datagram(&mut self, now: Instant, way: Way, peer: SocketAddr, datagram: &[u8]) {
        let line = DatagramLine {
            way,
            peer,
            show: wire::show_datagram,
            datagram,
        };
        self.line(now, "udp", line);
    }

    /// What the hub reported, as the server traces it (`Server::log_events`):
    /// its transitions, and why it sent what changed no state. The rest the
    /// server logs as info or warnings, which no recording holds.
    fn hub_event(&mut self, now: Instant, event: &HubEvent) {
        if matches!(
            event,
            HubEvent::Transition { .. } | HubEvent::Unchanged { .. }
        ) {
            self.line(now, "hub", event);
        }
    }

    /// The step is over: after a turn, the hub waits again from `now`.
    fn end_step(&mut self, now: Instant) {
        if self.in_turn {
            self.in_turn = false;
            self.waiting_since = now;
        }
    }
}

/// The file `REACTOR_HUB_SIM_RECORD` names, if the run of `seed` is the one
/// to record: the seed `REACTOR_HUB_FAULT_SEED` names (or the default one).
/// Only one run of the process may record, as two would write one file at
/// once: with the variable set, name one test.
fn record_file(seed: u64) -> Option<PathBuf> {
    static TAKEN: AtomicBool = AtomicBool::new(false);
    let file = std::env::var_os("REACTOR_HUB_SIM_RECORD").filter(|_| seed == chat::seed())?;
    assert!(
        !TAKEN.swap(true, Ordering::Relaxed),
        "REACTOR_HUB_SIM_RECORD records one run: name one test"
    );
    let file = PathBuf::from(file);
    eprintln!(
        "recording the hub's side of seed {seed} to {}",
        file.display()
    );
    Some(file)
}

fn chat_in_memory(people: usize, messages_each: usize, faults: Faults, seed: u64) {
    let started = Instant::now();
    let record = record_file(seed);
    let mut sim = Sim::new(people, messages_each, faults, seed, record.as_deref());
    sim.run(Duration::from_secs(3600));
    sim.judge(seed, faults, started);
}

#[test]
fn two_thousand_messages_through_a_lossy_network_are_each_shown_once() {
    chat_in_memory(6, 350, LOSSY, chat::seed());
}

#[test]
fn two_thousand_messages_through_a_network_losing_30_percent_are_each_shown_once() {
    chat_in_memory(6, 350, LOSSIER, chat::seed());
}

/// Several seeds, each a different run of the same chat.
#[test]
fn other_seeds_are_other_runs_and_all_pass() {
    for seed in [1, 2, 3, 4] {
        chat_in_memory(4, 75, LOSSY, seed);
    }
}

/// The same seed, the same run, delivery for delivery; another seed, another.
#[test]
fn a_seed_replays_its_run_bit_for_bit() {
    let fingerprint = |seed| {
        let mut sim = Sim::new(4, 75, LOSSY, seed, None);
        sim.run(Duration::from_secs(3600));
        sim.outcome()
    };
    assert_eq!(fingerprint(7), fingerprint(7));
    assert_ne!(fingerprint(7).0, fingerprint(8).0);
}

/// The chat of [`a_seed_replays_its_run_bit_for_bit`] with `faults` and
/// `seed`, its hub's side recorded to a file of the test's `name` (tests run
/// at once): the simulation as it ended, and the recording.
fn recorded_run(name: &str, faults: Faults, seed: u64) -> (Sim, String) {
    let file = std::env::temp_dir().join(format!(
        "reactor-hub-simulation-{name}-{}.jsonl",
        std::process::id()
    ));
    let mut sim = Sim::new(4, 75, faults, seed, Some(&file));
    sim.run(Duration::from_secs(3600));
    // Dropped, the recording is written to its end.
    drop(sim.record.take());
    let text = fs::read_to_string(&file).expect("the recording");
    fs::remove_file(&file).expect("the recording removed");
    (sim, text)
}

/// The same seed, the same recording to the byte, through a network that
/// loses 30%: a failing seed's recording shows the very run that failed.
/// And recording a run changes nothing of it.
#[test]
fn a_seed_records_its_run_bit_for_bit() {
    let (recorded, first) = recorded_run("twice", LOSSIER, 7);
    let (_, second) = recorded_run("twice", LOSSIER, 7);
    assert!(first.contains("resend msg"), "the loss made the hub resend");
    assert!(first == second, "two recordings of seed 7 differ");
    let mut unrecorded = Sim::new(4, 75, LOSSIER, 7, None);
    unrecorded.run(Duration::from_secs(3600));
    assert_eq!(recorded.outcome(), unrecorded.outcome());
}

/// A recording reads back as the Scope reads a real server's: every line
/// an event, counted from 0; the turns from 1, one after the other, each
/// its wait, its wake, then what woke it (a datagram read or a timer) and
/// what the hub did; and it exports to Perfetto as JSON.
#[test]
fn a_recording_reads_back_turn_by_turn_and_exports_to_perfetto() {
    let (_, text) = recorded_run("turns", LOSSY, chat::seed());
    let events = recording::read(&text);
    assert_eq!(events.len(), text.lines().count(), "every line is an event");
    for (n, event) in events.iter().enumerate() {
        assert_eq!(event.seq, n as u64, "{event}");
    }
    let turns = events.chunk_by(|a, b| a.turn == b.turn);
    for (n, turn) in (1..).zip(turns) {
        let [wait, wake, woken_by, rest @ ..] = turn else {
            panic!("turn {n} is cut short: {turn:?}");
        };
        assert_eq!(wait.turn, n, "the turns in order, from 1");
        assert_eq!(
            (wait.kind.as_str(), wake.kind.as_str()),
            ("wait", "wake"),
            "turn {n}"
        );
        assert!(
            matches!(woken_by.kind.as_str(), "in" | "timer"),
            "{woken_by}"
        );
        let by_datagram = woken_by.kind == "in";
        assert_eq!(wake.line.ends_with(" with 1 event"), by_datagram, "{wake}");
        for event in rest {
            let done = ["in", "out", "transition", "unchanged", "timer"];
            assert!(done.contains(&event.kind.as_str()), "{event}");
        }
        // A step of the simulation happens at one moment, and its wait
        // began as long before as the wake says it waited.
        for event in [woken_by].into_iter().chain(rest) {
            assert_eq!(event.t_us, wake.t_us, "turn {n} is one moment: {event}");
        }
        let waited = wake
            .line
            .strip_prefix("woke after ")
            .and_then(|l| l.split_once(" ms"));
        let waited: f64 = waited.expect("woke after N ms").0.parse().unwrap();
        let between = (wake.t_us - wait.t_us) as f64 / 1000.0;
        assert!((waited - between).abs() < 0.06, "{wait}\n{wake}");
    }
    let document = perfetto::export(&events);
    let parsed: serde_json::Value = serde_json::from_str(&document).expect("JSON");
    let exported = parsed["traceEvents"].as_array().expect("trace events");
    let turns = exported.iter().filter_map(|event| event["name"].as_str());
    let turns = turns.filter(|name| name.starts_with("turn ")).count();
    assert_eq!(turns as u64, events.last().unwrap().turn, "a slice a turn");
}

/// The hub's trace agrees with what the network saw it answer: each
/// message it accepted has its one line, the transition that forwards it,
/// or (with others awaiting their receipts) the line saying it waits too.
#[test]
fn each_message_the_hub_accepted_is_forwarded_once_in_its_recording() {
    let (sim, text) = recorded_run("forwards", LOSSY, chat::seed());
    let events = recording::read(&text);
    let forwards: Vec<&str> = events.iter().filter_map(forwarded).collect();
    let waiting = events.iter().filter(|event| event.kind == "unchanged");
    assert!(waiting.filter_map(forwarded).count() > 0, "some waited");
    let once: HashSet<&str> = forwards.iter().copied().collect();
    assert_eq!(once.len(), forwards.len(), "a message forwarded twice");
    assert_eq!(forwards.len(), sim.accepted.bodies.len());
}

/// The message that a hub's trace line says it forwarded, if it does:
/// `5331964518 from p1`, of `p3: ONLINE => MESSAGE_FORWARD (msg 5331964518
/// from p1)` or `p3: stays MESSAGE_FORWARD (msg 5331964518 from p1,
/// awaiting its receipt with the others)`.
fn forwarded(event: &Event) -> Option<&str> {
    let (_, cause) = event.line.split_once(" (msg ")?;
    match event.kind.as_str() {
        "transition" if event.line.contains(" => MESSAGE_FORWARD ") => cause.strip_suffix(')'),
        "unchanged" => cause.strip_suffix(", awaiting its receipt with the others)"),
        _ => None,
    }
}

#[test]
fn the_verdict_catches_what_it_should() {
    let body = |s: &str| s.as_bytes().to_vec();
    let accepted: HashSet<Vec<u8>> = [body("a"), body("b"), body("c")].into();
    let shown: HashMap<Vec<u8>, u32> = [(body("a"), 1), (body("b"), 2), (body("x"), 1)].into();
    assert_eq!(
        Verdict::of(&accepted, &shown),
        Verdict {
            accepted: 3,
            delivered_once: 1,
            shown_twice: 1,
            never_shown: 1,
            not_accepted: 1,
        }
    );
}
