//! `hostile`: can two people still chat while the hub is flooded?
//!
//! ```text
//! cargo run --release --example hostile -- [--pings 500] [--rate 100000] [--sources 249]
//!     [--scrapes 6] [--attackers 50]
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
//! - logins with wrong passwords, for alice, bob, dave and ids that do not exist,
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
//! Then, with the flood still on (it guesses at dave too), dave's owner logs
//! in from an address of his own, after a typo and a wrong login forged
//! with his address each time: every right password must be accepted (the
//! login throttle must not let guessers keep him out).
//!
//! It prints the latency percentiles of both phases, what the flood sent
//! and what the hub received, the datagrams the hub's socket dropped for
//! want of room, and how many lines the hub logged during the flood (its
//! log is rate-limited; `--verbose` shows it). Everything is bounded: the
//! pings are counted, and a ping not shown within 10 s counts as lost.
//!
//! Then the hub's metrics page (on 127.0.0.1, port 0) is scraped every
//! 0.5 s, `--scrapes` times, while `--attackers` local connections try to
//! hold its slots: first a slowloris (a byte of a request's head every
//! 0.3 s), then clients that send whole requests and never read; each
//! reopens as soon as the hub closes it. The pair's pings are timed all
//! the while. A scrape answered later than 2 s is missed; under 90%
//! answered fails the run.

mod flood;
mod owner;
mod pair;
#[path = "../common/proc_net_udp.rs"]
mod proc_net_udp;
mod scrape;

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use getopts::Options;
use reactor_hub::accounts::Accounts;
use reactor_hub::cli;
use reactor_hub::hub::{HubConfig, ThrottleConfig};
use reactor_hub::reactor::on_thread::OnThread;
use reactor_hub::reactor::Reactor;
use reactor_hub::server::Server;

use flood::Flood;
use owner::log_in_under_attack;
use pair::{Latency, Pair};
use proc_net_udp::udp_drops;
use scrape::{Attack, Outcome, Siege, SCRAPE_INTERVAL};

const PROGRAM: &str = "hostile";

/// The login throttle's table sizes in this hub: fewer than the flood's
/// source addresses, so that the tables are full all along.
const TRACKED_BY_THE_THROTTLE: usize = 100;

/// Pings sent, and not counted, after the flood starts and before the
/// measured ones: the flood gets going, and the pair keeps reading its
/// sockets meanwhile (a pair that stopped reading would find them full of
/// the hub's answers to forged messages, and its next ping dropped).
const WARMUP_PINGS: usize = 50;

/// Logins of dave's owner during the flood.
const OWNER_TRIES: usize = 20;

/// The share of scrapes that must be answered in time under each attack.
const SCRAPES_ANSWERED: f64 = 0.9;

struct Config {
    pings: usize,
    /// Time between the starts of two pings (a ping waits for the one before).
    interval: Duration,
    /// Leave out what the hub answers at alice's and bob's real addresses.
    no_forged_ids: bool,
    /// Flood datagrams a second; 0 for as fast as possible.
    rate: u64,
    sources: u8,
    /// Scrapes of the metrics page under each attack.
    scrapes: usize,
    /// Connections in each attack on the metrics page.
    attackers: usize,
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
        .optopt(
            "",
            "scrapes",
            "scrapes of the metrics page under each attack, one every 0.5 s (default 6)",
            "N",
        )
        .optopt(
            "",
            "attackers",
            "connections in each attack on the metrics page (default 50)",
            "N",
        )
        .optflag("", "verbose", "show the hub's log");
    let usage = "[--pings N] [--interval-ms MS] [--rate N] [--sources N] [--scrapes N] \
                 [--attackers N] [--no-forged-ids] [--verbose]";
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
    let scrapes = number("scrapes", 6)?;
    if scrapes == 0 {
        return Err("--scrapes: at least 1".into());
    }
    Ok(Some(Config {
        pings: pings as usize,
        interval: Duration::from_millis(number("interval-ms", 5)?),
        no_forged_ids: matches.opt_present("no-forged-ids"),
        rate: number("rate", 100_000)?,
        sources: sources as u8,
        scrapes: scrapes as usize,
        attackers: cli::value(&matches, "attackers", 50)?,
        verbose: matches.opt_present("verbose"),
    }))
}

fn main() -> ExitCode {
    cli::main(PROGRAM, parse_args, |config| {
        LOG.verbose.store(config.verbose, Ordering::Relaxed);
        log::set_logger(&LOG).expect("the only logger");
        log::set_max_level(log::LevelFilter::Info);
        let failures = run(&config).map_err(|err| err.to_string())?;
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    })
}

/// Runs the phases and prints the report; returns what failed.
fn run(config: &Config) -> io::Result<Vec<String>> {
    let mut accounts = Accounts::default();
    accounts.add("alice", b"wonderland");
    accounts.add("bob", b"builder");
    accounts.add("carol", b"c4r0l");
    accounts.add("dave", b"d4ve");
    let (hub, metrics) = start_hub(accounts)?;

    let mut reactor = Reactor::new()?;
    let mut pair = Pair::login(&mut reactor, hub.addr, config.interval)?;
    let quiet = pair.measure(&mut reactor, config.pings)?;

    let logged_before = LOG.lines.load(Ordering::Relaxed);
    let drops_before = udp_drops(&[hub.addr]);
    let flood = Flood::start(hub.addr, config.sources, config.rate, config.no_forged_ids)?;
    pair.measure(&mut reactor, WARMUP_PINGS)?;
    let flooded = pair.measure(&mut reactor, config.pings)?;
    let owner = log_in_under_attack(hub.addr, ("dave", "d4ve"), OWNER_TRIES)?;
    let flood = flood.stop();
    let hub_drops = udp_drops(&[hub.addr]).saturating_sub(drops_before);
    let pair_drops = udp_drops(&[pair.alice.udp.local_addr()?, pair.bob.udp.local_addr()?]);
    let logged = LOG.lines.load(Ordering::Relaxed) - logged_before;
    let alice_received = pair.alice.udp.stats().received;
    let sieges = [Attack::Slowloris, Attack::NeverRead]
        .into_iter()
        .map(|attack| besiege_metrics(&mut pair, &mut reactor, metrics, attack, config))
        .collect::<io::Result<Vec<_>>>()?;
    let server = hub.stop()?;
    let (udp, stats) = (server.udp().stats(), server.hub().stats());

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
    println!(
        "owner: dave's right password accepted {} of {} times, each after a typo and a wrong \
         login forged with his address, while the flood guessed at him from {} addresses",
        owner.accepted, owner.tries, config.sources
    );
    let mut failures = Vec::new();
    let mut lost = quiet.lost + flooded.lost;
    for (attack, chat, siege) in &sieges {
        let attackers = config.attackers;
        println!("metrics page, {attackers} connections of {attack:?}: {siege}");
        println!("  meanwhile: {chat}");
        lost += chat.lost;
        if siege.scrapes.rate() < SCRAPES_ANSWERED {
            failures.push(format!("{attack:?}: {}", siege.scrapes));
        }
    }
    if lost > 0 {
        failures.push(format!("{lost} pings were never shown"));
    }
    if owner.accepted < owner.tries {
        failures.push("the guessers kept dave's owner out".into());
    }
    Ok(failures)
}

/// Scrapes the metrics page while `attack` is on, and times pings
/// meanwhile: as many as last while the scrapes do, `--pings` at least.
fn besiege_metrics(
    pair: &mut Pair,
    reactor: &mut Reactor,
    metrics: SocketAddr,
    attack: Attack,
    config: &Config,
) -> io::Result<(Attack, Latency, Outcome)> {
    let lasting = SCRAPE_INTERVAL * config.scrapes as u32;
    let pings = lasting
        .as_millis()
        .checked_div(config.interval.as_millis())
        .map_or(config.pings, |pings| config.pings.max(pings as usize));
    let siege = Siege::start(metrics, attack, config.attackers, config.scrapes)?;
    let chat = pair.measure(reactor, pings)?;
    Ok((attack, chat, siege.finish()))
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

/// The hub on a thread of its own, its throttle's tables sized for the
/// test; returns it and its metrics page's address.
fn start_hub(accounts: Accounts) -> io::Result<(OnThread<Server>, SocketAddr)> {
    let (metrics_tx, metrics) = mpsc::channel();
    let hub = OnThread::start("hub", move |reactor| {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let config = HubConfig {
            throttle: ThrottleConfig {
                max_tracked: TRACKED_BY_THE_THROTTLE,
                ..ThrottleConfig::default()
            },
            ..HubConfig::default()
        };
        let mut server = Server::bind(reactor, loopback, accounts, config)?;
        let _ = metrics_tx.send(server.serve_metrics(reactor, loopback)?);
        Ok(server)
    })?;
    let metrics = metrics
        .recv()
        .map_err(|_| io::Error::other("the hub gave no metrics address"))?;
    Ok((hub, metrics))
}
