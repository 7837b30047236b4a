//! `lossy_relay`: a bad network between real clients and a real hub.
//!
//! ```text
//! reactor-server --bind 127.0.0.1:32000
//! cargo run --example lossy_relay -- --listen 127.0.0.1:32001 --hub 127.0.0.1:32000 \
//!     --loss 0.2 --dup 0.05 --reorder 0.05 --delay-ms 50 --jitter-ms 50
//! reactor-client --server 127.0.0.1:32001      # twice, and chat
//! ```
//!
//! Every datagram, each way, is lost, duplicated, delayed or reordered at the
//! rates given, from `--seed` (printed at start, so a run can be replayed).
//! The relay rewrites each login to name its own socket for that client (see
//! [`reactor_hub::relay`]), so the hub's replies come back through it too.
//! Ctrl-C prints what it did. `--trace` logs the fate of every datagram.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use getopts::Options;
use reactor_hub::reactor::Reactor;
use reactor_hub::relay::{Faults, Relay, RelayConfig};

const PROGRAM: &str = "lossy_relay";

fn options() -> Options {
    let mut options = Options::new();
    options
        .optopt(
            "",
            "listen",
            "where clients send (default 127.0.0.1:32001)",
            "ADDR",
        )
        .optopt(
            "",
            "hub",
            "the hub's address (default 127.0.0.1:32000)",
            "ADDR",
        )
        .optopt(
            "",
            "loss",
            "probability a datagram is lost (default 0)",
            "P",
        )
        .optopt(
            "",
            "dup",
            "probability a datagram arrives twice (default 0)",
            "P",
        )
        .optopt(
            "",
            "reorder",
            "probability a datagram skips the delay, overtaking those waiting (default 0)",
            "P",
        )
        .optopt("", "delay-ms", "delay of every datagram (default 0)", "MS")
        .optopt(
            "",
            "jitter-ms",
            "up to this much more, at random (default 0)",
            "MS",
        )
        .optopt(
            "",
            "seed",
            "seed of the faults (default: random, printed)",
            "N",
        )
        .optflag("", "trace", "log the fate of every datagram")
        .optflag("h", "help", "print this help and exit");
    options
}

fn parse_args(args: &[String]) -> Result<Option<(RelayConfig, bool)>, String> {
    let options = options();
    let matches = options.parse(args).map_err(|err| err.to_string())?;
    if matches.opt_present("help") {
        let brief = format!(
            "Usage: {PROGRAM} [--listen ADDR] [--hub ADDR] [--loss P] [--dup P] [--reorder P] \
             [--delay-ms MS] [--jitter-ms MS] [--seed N] [--trace]"
        );
        print!("{}", options.usage(&brief));
        return Ok(None);
    }
    if let Some(extra) = matches.free.first() {
        return Err(format!("unexpected argument {extra:?}"));
    }
    fn value<T: std::str::FromStr>(
        matches: &getopts::Matches,
        name: &str,
        default: T,
    ) -> Result<T, String> {
        match matches.opt_str(name) {
            Some(text) => text
                .parse()
                .map_err(|_| format!("--{name}: {text:?} is not a valid value")),
            None => Ok(default),
        }
    }
    let faults = Faults {
        loss: value(&matches, "loss", 0.0)?,
        duplicate: value(&matches, "dup", 0.0)?,
        reorder: value(&matches, "reorder", 0.0)?,
        delay: Duration::from_millis(value(&matches, "delay-ms", 0)?),
        jitter: Duration::from_millis(value(&matches, "jitter-ms", 0)?),
    };
    faults.validate()?;
    let config = RelayConfig {
        listen: value(
            &matches,
            "listen",
            SocketAddr::from(([127, 0, 0, 1], 32001)),
        )?,
        hub: value(&matches, "hub", SocketAddr::from(([127, 0, 0, 1], 32000)))?,
        faults,
        seed: value(&matches, "seed", rand::random())?,
        max_clients: 1024,
    };
    Ok(Some((config, matches.opt_present("trace"))))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (config, trace) = match parse_args(&args) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => return ExitCode::SUCCESS,
        Err(usage) => {
            eprintln!("{PROGRAM}: {usage}\nTry '{PROGRAM} --help'.");
            return ExitCode::from(2);
        }
    };
    let mut logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if trace {
        logger.filter(Some("relay"), log::LevelFilter::Trace);
    }
    logger.init();
    let run = || -> std::io::Result<Relay> {
        let mut reactor = Reactor::new()?;
        let mut relay = Relay::bind(&reactor, config.clone())?;
        log::info!(
            "relaying {} -> {}: {}, seed {}",
            relay.local_addr()?,
            config.hub,
            config.faults,
            config.seed
        );
        reactor.run(&mut relay)?;
        Ok(relay)
    };
    match run() {
        Ok(relay) => {
            let stats = relay.stats();
            log::info!("toward the hub: {}", stats.to_hub);
            log::info!("toward the clients: {}", stats.to_clients);
            log::info!(
                "{} clients; {} still delayed at exit; {} dropped for want of room",
                stats.clients,
                stats.held,
                stats.overflow
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{PROGRAM}: error: {err}");
            ExitCode::FAILURE
        }
    }
}
