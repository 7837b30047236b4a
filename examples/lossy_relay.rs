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
use reactor_hub::{cli, logging};

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
        .optflag("", "trace", "log the fate of every datagram");
    options
}

fn parse_args(args: &[String]) -> Result<Option<(RelayConfig, bool)>, String> {
    let usage = "[--listen ADDR] [--hub ADDR] [--loss P] [--dup P] [--reorder P] \
                 [--delay-ms MS] [--jitter-ms MS] [--seed N] [--trace]";
    let Some(matches) = cli::parse(PROGRAM, usage, options(), args)? else {
        return Ok(None);
    };
    let faults = Faults {
        loss: cli::value(&matches, "loss", 0.0)?,
        duplicate: cli::value(&matches, "dup", 0.0)?,
        reorder: cli::value(&matches, "reorder", 0.0)?,
        delay: Duration::from_millis(cli::value(&matches, "delay-ms", 0)?),
        jitter: Duration::from_millis(cli::value(&matches, "jitter-ms", 0)?),
    };
    faults.validate()?;
    let config = RelayConfig {
        listen: cli::value(
            &matches,
            "listen",
            SocketAddr::from(([127, 0, 0, 1], 32001)),
        )?,
        hub: cli::value(&matches, "hub", SocketAddr::from(([127, 0, 0, 1], 32000)))?,
        faults,
        seed: cli::value(&matches, "seed", rand::random())?,
        max_clients: 1024,
    };
    Ok(Some((config, matches.opt_present("trace"))))
}

fn main() -> ExitCode {
    cli::main(PROGRAM, parse_args, |(config, trace)| {
        let tracing = reactor_hub::cli::Tracing {
            print: trace,
            ..Default::default()
        };
        logging::init(PROGRAM, &tracing)?;
        let relay = relay(config).map_err(|err| err.to_string())?;
        let stats = relay.stats();
        log::info!("toward the hub: {}", stats.to_hub);
        log::info!("toward the clients: {}", stats.to_clients);
        log::info!(
            "{} clients; {} still delayed at exit; {} dropped for want of room",
            stats.clients,
            stats.held,
            stats.overflow
        );
        Ok(())
    })
}

/// Runs the relay until Ctrl-C.
fn relay(config: RelayConfig) -> std::io::Result<Relay> {
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
}
