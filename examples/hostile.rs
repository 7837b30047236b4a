//! `hostile`: can two people still chat while the hub is flooded?
//!
//! ```text
//! cargo run --release --example hostile -- [--pings 500] [--rate 100000] [--sources 249]
//! ```
//!
//! Starts a hub in this process (the [`Server`] that `reactor-server` runs,
//! on a thread of its own), logs in alice and bob (the [`Client`] state
//! machine that `reactor-client` runs, with its default resends), and
//! measures how long alice's messages take to be shown to bob: first with
//! nothing else going on, then while a flood hits the hub from `--sources`
//! loopback addresses (127.0.0.2 to 127.0.0.250, never any other), at
//! `--rate` datagrams a second (0: as fast as one thread can send). The
//! flood mixes everything a hostile network can send:
//!
//! - garbage bytes, and datagrams over the 1024-byte limit;
//! - logins with wrong passwords, for alice, bob and ids that do not exist,
//!   from more addresses than the login throttle's tables hold here (100),
//!   so that they stay full and every new address evicts the oldest;
//! - logins naming an IPv6 reply address, which the hub's IPv4 socket
//!   cannot send to (one such datagram used to stop the hub);
//! - carol, logged in by the flood, sending herself messages of the longest
//!   kind, whose `Success` echo the hub must cut to 1024 bytes, and never
//!   receipting them;
//! - messages "from alice" and "from bob" with wrong tokens (the hub
//!   answers each with a token error, to alice's or bob's real address);
//! - messages from ids that never logged in, receipts with wrong tokens,
//!   and replies only the server sends.
//!
//! It prints the latency percentiles of both phases, what the flood sent
//! and what the hub received, the datagrams the hub's socket dropped for
//! want of room, and how many lines the hub logged during the flood (its
//! log is rate-limited; `--verbose` shows it). Everything is bounded: the
//! pings are counted, and a ping not shown within 10 s counts as lost.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use getopts::Options;
use mio::event::Event;
use mio::Token;
use rand::{Rng, RngCore};
use reactor_hub::accounts::Accounts;
use reactor_hub::cli;
use reactor_hub::client::{Client, ClientConfig, Notice};
use reactor_hub::hub::{HubConfig, HubStats, ThrottleConfig};
use reactor_hub::reactor::shutdown::StopHandle;
use reactor_hub::reactor::udp::{UdpEndpoint, UdpStats};
use reactor_hub::reactor::{Handler, Reactor, ReadyHandler, TimerHandler};
use reactor_hub::server::Server;
use reactor_hub::wire::{ReplyTo, MAX_DATAGRAM};

const PROGRAM: &str = "hostile";

/// The login throttle's table sizes in this hub: fewer than the flood's
/// source addresses, so that the tables are full all along.
const TRACKED_BY_THE_THROTTLE: usize = 100;

/// A ping not shown within this long is counted lost and the next one goes.
const PING_PATIENCE: Duration = Duration::from_secs(10);

/// Pings sent, and not counted, after the flood starts and before the
/// measured ones: the flood gets going, and the pair keeps reading its
/// sockets meanwhile (a pair that stopped reading would find them full of
/// the hub's answers to forged messages, and its next ping dropped).
const WARMUP_PINGS: usize = 50;

struct Config {
    pings: usize,
    /// Time between the starts of two pings (a ping waits for the one before).
    interval: Duration,
    /// Leave out what the hub answers at alice's and bob's real addresses.
    no_forged_ids: bool,
    /// Flood datagrams a second; 0 for as fast as possible.
    rate: u64,
    sources: u8,
    verbose: bool,
}

fn parse_args(args: &[String]) -> Result<Option<Config>, String> {
    let mut options = Options::new();
    options
        .optopt(
            "",
            "pings",
            "messages timed in each phase (default 500)",
            "N",
        )
        .optopt(
            "",
            "interval-ms",
            "time between the starts of two pings (default 5)",
            "MS",
        )
        .optflag(
            "",
            "no-forged-ids",
            "leave out the forged messages \"from alice\" and \"from bob\" (those the hub answers at their real addresses)",
        )
        .optopt(
            "",
            "rate",
            "flood datagrams a second, 0 for as fast as possible (default 100000)",
            "N",
        )
        .optopt(
            "",
            "sources",
            "loopback addresses the flood comes from, 1 to 249 (default 249)",
            "N",
        )
        .optflag("", "verbose", "show the hub's log");
    let usage =
        "[--pings N] [--interval-ms MS] [--rate N] [--sources N] [--no-forged-ids] [--verbose]";
    let Some(matches) = cli::parse(PROGRAM, usage, options, args)? else {
        return Ok(None);
    };
    let number = |name: &str, default: u64| cli::value(&matches, name, default);
    let sources = number("sources", 249)?;
    if !(1..=249).contains(&sources) {
        return Err("--sources: between 1 and 249".into());
    }
    let pings = number("pings", 500)?;
    if pings == 0 {
        return Err("--pings: at least 1".into());
    }
    Ok(Some(Config {
        pings: pings as usize,
        interval: Duration::from_millis(number("interval-ms", 5)?),
        no_forged_ids: matches.opt_present("no-forged-ids"),
        rate: number("rate", 100_000)?,
        sources: sources as u8,
        verbose: matches.opt_present("verbose"),
    }))
}

fn main() -> ExitCode {
    cli::main(PROGRAM, parse_args, |config| {
        LOG.verbose.store(config.verbose, Ordering::Relaxed);
        log::set_logger(&LOG).expect("the only logger");
        log::set_max_level(log::LevelFilter::Info);
        match run(&config).map_err(|err| err.to_string())? {
            0 => Ok(()),
            lost => Err(format!("{lost} pings were never shown")),
        }
    })
}

/// Runs both phases and prints the report; returns the pings lost.
fn run(config: &Config) -> io::Result<usize> {
    let mut accounts = Accounts::default();
    accounts.add("alice", b"wonderland");
    accounts.add("bob", b"builder");
    accounts.add("carol", b"c4r0l");
    let hub = HubThread::start(accounts)?;

    let mut reactor = Reactor::new()?;
    let mut pair = Pair::login(&mut reactor, hub.addr, config.interval)?;
    let quiet = pair.measure(&mut reactor, config.pings)?;

    let logged_before = LOG.lines.load(Ordering::Relaxed);
    let drops_before = udp_drops(hub.addr);
    let flood = Flood::start(hub.addr, config.sources, config.rate, config.no_forged_ids)?;
    pair.measure(&mut reactor, WARMUP_PINGS)?;
    let flooded = pair.measure(&mut reactor, config.pings)?;
    let flood = flood.stop();
    let hub_drops = udp_drops(hub.addr).saturating_sub(drops_before);
    let pair_drops =
        udp_drops(pair.alice.udp.local_addr()?) + udp_drops(pair.bob.udp.local_addr()?);
    let logged = LOG.lines.load(Ordering::Relaxed) - logged_before;
    let alice_received = pair.alice.udp.stats().received;
    let (udp, stats) = hub.stop()?;

    println!(
        "hub: in-process, default configuration; pair: alice -> bob, default client resends, \
         a ping every {:?} at most",
        config.interval
    );
    println!("without flood: {quiet}");
    println!("with flood:    {flooded}");
    let secs = flood.elapsed.as_secs_f64();
    println!(
        "flood: {} datagrams in {secs:.1} s ({:.0}/s) from {} addresses (127.0.0.2..), {} send errors",
        flood.sent,
        flood.sent as f64 / secs,
        config.sources,
        flood.errors
    );
    println!(
        "hub: received {} datagrams in all, sent {} ({} not sent); its socket dropped {hub_drops} \
         for want of room; {} addresses in the login throttle; {} sessions online at the end",
        udp.received, udp.sent, udp.send_dropped, stats.throttled_ips, stats.online
    );
    println!(
        "alice's socket received {alice_received} datagrams in all (the hub's token errors \
         to forged messages \"from alice\" among them: her client ignores those); \
         alice's and bob's sockets dropped {pair_drops} for want of room"
    );
    println!(
        "hub log during the flood: {logged} lines ({:.1}/s)",
        logged as f64 / secs
    );
    Ok(quiet.lost + flooded.lost)
}

/// Counts what the in-process hub logs (at info and above, what
/// `reactor-server` prints by default), and shows it with `--verbose`.
struct CountingLog {
    lines: AtomicU64,
    verbose: AtomicBool,
}

static LOG: CountingLog = CountingLog {
    lines: AtomicU64::new(0),
    verbose: AtomicBool::new(false),
};

impl log::Log for CountingLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            self.lines.fetch_add(1, Ordering::Relaxed);
            if self.verbose.load(Ordering::Relaxed) {
                eprintln!("[hub] {}: {}", record.level(), record.args());
            }
        }
    }

    fn flush(&self) {}
}

/// The hub on a thread of its own.
struct HubThread {
    addr: SocketAddr,
    stop: StopHandle,
    thread: JoinHandle<io::Result<(UdpStats, HubStats)>>,
}

impl HubThread {
    fn start(accounts: Accounts) -> io::Result<Self> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            let mut reactor = Reactor::new()?;
            let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
            let config = HubConfig {
                throttle: ThrottleConfig {
                    max_tracked: TRACKED_BY_THE_THROTTLE,
                    ..ThrottleConfig::default()
                },
                ..HubConfig::default()
            };
            let mut server = Server::bind(&reactor, loopback, accounts, config)?;
            let _ = ready_tx.send((server.local_addr()?, server.stop_handle()));
            reactor.run(&mut server)?;
            Ok((server.udp().stats(), server.hub().stats()))
        });
        match ready_rx.recv() {
            Ok((addr, stop)) => Ok(Self { addr, stop, thread }),
            Err(_) => Err(thread
                .join()
                .map_err(|_| io::Error::other("the hub panicked"))?
                .err()
                .unwrap_or_else(|| io::Error::other("the hub did not start"))),
        }
    }

    fn stop(self) -> io::Result<(UdpStats, HubStats)> {
        self.stop.stop()?;
        self.thread
            .join()
            .map_err(|_| io::Error::other("the hub panicked"))?
    }
}

/// One person: a client state machine and its socket.
struct Person {
    client: Client,
    udp: UdpEndpoint,
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
struct Pair {
    alice: Person,
    bob: Person,
    buf: Vec<u8>,
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
    fn login(reactor: &mut Reactor, hub: SocketAddr, interval: Duration) -> io::Result<Self> {
        let mut pair = Self {
            alice: Person::new(reactor, hub, ALICE)?,
            bob: Person::new(reactor, hub, BOB)?,
            buf: vec![0; MAX_DATAGRAM + 1],
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
    fn measure(&mut self, reactor: &mut Reactor, pings: usize) -> io::Result<Latency> {
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
        // Drain until WouldBlock: the next event comes only for new datagrams.
        while let Some((len, from)) = person.udp.recv_from(&mut self.buf)? {
            person.client.handle_datagram(now, from, &self.buf[..len]);
        }
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
struct Latency {
    count: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    lost: usize,
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

/// The flood: one thread sending a mix of hostile datagrams from many
/// loopback addresses, paced to a rate.
struct Flood {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<FloodResult>,
}

struct FloodResult {
    sent: u64,
    errors: u64,
    elapsed: Duration,
}

impl Flood {
    fn start(hub: SocketAddr, sources: u8, rate: u64, no_forged_ids: bool) -> io::Result<Self> {
        let mut sockets = Vec::new();
        for n in 0..sources {
            // Loopback only: 127.0.0.2 to 127.0.0.250.
            let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + n));
            let socket = UdpSocket::bind((ip, 0))?;
            socket.set_nonblocking(true)?;
            sockets.push(socket);
        }
        let carol_token = log_carol_in(&sockets[0], hub)?;
        let datagrams = hostile_datagrams(no_forged_ids, &carol_token);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = thread::spawn(move || {
            let started = Instant::now();
            let (mut sent, mut errors) = (0u64, 0u64);
            let mut next = 0usize;
            while !stopped.load(Ordering::Relaxed) {
                // Paced by the millisecond: what the rate allows so far.
                let allowed = match rate {
                    0 => sent + 1024,
                    rate => (started.elapsed().as_secs_f64() * rate as f64) as u64,
                };
                if sent >= allowed {
                    thread::sleep(Duration::from_millis(1));
                    continue;
                }
                while sent < allowed {
                    let socket = &sockets[next % sockets.len()];
                    let datagram = &datagrams[next % datagrams.len()];
                    next = next.wrapping_add(1);
                    sent += 1;
                    if socket.send_to(datagram, hub).is_err() {
                        errors += 1;
                    }
                    if sent % 4096 == 0 {
                        // What the hub answers is of no interest: read it
                        // now and then so that it does not pile up.
                        let mut sink = [0; 64];
                        for socket in &sockets {
                            while socket.recv_from(&mut sink).is_ok() {}
                        }
                    }
                }
            }
            FloodResult {
                sent,
                errors,
                elapsed: started.elapsed(),
            }
        });
        Ok(Self { stop, thread })
    }

    fn stop(self) -> FloodResult {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the flood thread")
    }
}

/// The mix the flood cycles through (prime-sized, so that it does not stay
/// in step with the sources).
fn hostile_datagrams(no_forged_ids: bool, carol_token: &str) -> Vec<Vec<u8>> {
    let mut rng = rand::rng();
    let token = |rng: &mut rand::rngs::ThreadRng| -> String {
        (0..6)
            .map(|_| rng.sample(rand::distr::Alphanumeric) as char)
            .collect()
    };
    let msg_id = |rng: &mut rand::rngs::ThreadRng| -> String {
        (0..10)
            .map(|_| char::from(b'0' + rng.random_range(0..10)))
            .collect()
    };
    let mut all: Vec<Vec<u8>> = Vec::new();
    while all.len() < 251 {
        let mut garbage = vec![0u8; rng.random_range(1..200)];
        rng.fill_bytes(&mut garbage);
        let (t, m) = (token(&mut rng), msg_id(&mut rng));
        let guess = token(&mut rng);
        let n = all.len();
        let kinds = [
            garbage,
            vec![b'x'; MAX_DATAGRAM + 1 + n],
            format!("alice->server#login<{guess}>").into_bytes(),
            format!("bob->server#login<{guess}><127.0.0.1><9>").into_bytes(),
            format!("nobody{n}->server#login<{guess}>").into_bytes(),
            format!("alice->bob#<{t}><{m}>forged, wrong token").into_bytes(),
            format!("bob->alice#<{t}><{m}>forged, wrong token").into_bytes(),
            format!("mallory{n}->bob#<{t}><{m}>never logged in").into_bytes(),
            format!("bob->server#<{t}><{m}>Success: forged receipt").into_bytes(),
            format!("server->alice#Success<{t}>").into_bytes(),
            format!("alice->server#logoff<{t}>").into_bytes(),
            b"x->server#login<><::1><1>".to_vec(),
            format!("carol->server#login<c4r0l><::1><{}>", 1 + n).into_bytes(),
            longest_to_self(carol_token, &m),
        ];
        let answered_at_their_address = |d: &Vec<u8>| d.ends_with(b"forged, wrong token");
        all.extend(
            kinds
                .into_iter()
                .filter(|d| !(no_forged_ids && answered_at_their_address(d))),
        );
    }
    all.truncate(251);
    all
}

/// Logs carol in from `socket`, blocking; returns her token.
fn log_carol_in(socket: &UdpSocket, hub: SocketAddr) -> io::Result<String> {
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(Duration::from_secs(5)))?;
    socket.send_to(b"carol->server#login<c4r0l>", hub)?;
    let mut buf = [0; 64];
    let (len, _) = socket.recv_from(&mut buf)?;
    socket.set_nonblocking(true)?;
    let reply = String::from_utf8_lossy(&buf[..len]).into_owned();
    reply
        .strip_prefix("server->carol#Success<")
        .and_then(|rest| rest.strip_suffix('>'))
        .map(str::to_owned)
        .ok_or_else(|| io::Error::other(format!("carol's login answered {reply:?}")))
}

/// A 1024-byte message from carol to herself: its forward fits exactly,
/// and the hub's `Success: BODY` echo would not if the hub did not cut it.
fn longest_to_self(token: &str, msg_id: &str) -> Vec<u8> {
    let mut message = format!("carol->carol#<{token}><{msg_id}>").into_bytes();
    message.resize(MAX_DATAGRAM, b'L');
    message
}

/// Datagrams the kernel dropped at the IPv4 UDP socket bound to `addr` for
/// want of room, from `/proc/net/udp` (Linux; 0 elsewhere).
fn udp_drops(addr: SocketAddr) -> u64 {
    let IpAddr::V4(ip) = addr.ip() else {
        return 0;
    };
    let local = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(ip.octets()),
        addr.port()
    );
    let Ok(table) = std::fs::read_to_string("/proc/net/udp") else {
        return 0;
    };
    table
        .lines()
        .filter(|line| line.split_whitespace().nth(1) == Some(&local))
        .filter_map(|line| line.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}
