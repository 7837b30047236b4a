//! `reactor-server`: the hub. Flags become a configuration, the
//! configuration a [`Server`], and the Reactor runs it until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use getopts::Options;
use reactor_hub::accounts::Accounts;
use reactor_hub::hub::HubConfig;
use reactor_hub::reactor::Reactor;
use reactor_hub::server::Server;

const PROGRAM: &str = "reactor-server";

struct Config {
    bind: SocketAddr,
    users: PathBuf,
    hub: HubConfig,
}

fn options() -> Options {
    let mut options = Options::new();
    options
        .optopt(
            "",
            "bind",
            "address to listen on (default 127.0.0.1:32000)",
            "ADDR",
        )
        .optopt(
            "",
            "users",
            "accounts file, one ID:PASSWORD a line (default users.conf)",
            "FILE",
        )
        .optopt(
            "",
            "session-timeout",
            "seconds of silence before a session expires (default 300)",
            "SECS",
        )
        .optflag(
            "",
            "trace",
            "log every Reactor event, datagram and state transition",
        )
        .optflag("h", "help", "print this help and exit")
        .optflag("V", "version", "print the version and exit");
    options
}

/// Parses the command line; `Err` is a usage error for stderr.
fn parse_args(args: &[String]) -> Result<Option<Config>, String> {
    let options = options();
    let matches = options.parse(args).map_err(|err| err.to_string())?;
    if matches.opt_present("help") {
        let brief = format!(
            "Usage: {PROGRAM} [--bind ADDR] [--users FILE] [--session-timeout SECS] [--trace]"
        );
        print!("{}", options.usage(&brief));
        return Ok(None);
    }
    if matches.opt_present("version") {
        println!("{PROGRAM} {}", env!("CARGO_PKG_VERSION"));
        return Ok(None);
    }
    if let Some(extra) = matches.free.first() {
        return Err(format!("unexpected argument {extra:?}"));
    }
    let bind = match matches.opt_str("bind") {
        Some(text) => text
            .parse()
            .map_err(|_| format!("--bind: {text:?} is not an IP:PORT address"))?,
        None => SocketAddr::from(([127, 0, 0, 1], 32000)),
    };
    let session_timeout = match matches.opt_str("session-timeout") {
        Some(text) => match text.parse::<u64>() {
            Ok(secs) if secs > 0 => Duration::from_secs(secs),
            _ => {
                return Err(format!(
                    "--session-timeout: {text:?} is not a whole number of seconds above 0"
                ))
            }
        },
        None => Duration::from_secs(300),
    };
    Ok(Some(Config {
        bind,
        users: matches
            .opt_str("users")
            .unwrap_or_else(|| "users.conf".into())
            .into(),
        hub: HubConfig {
            session_timeout,
            trace: matches.opt_present("trace"),
            ..HubConfig::default()
        },
    }))
}

fn run(config: Config) -> Result<(), String> {
    let accounts = Accounts::load(&config.users).map_err(|err| err.to_string())?;
    let mut reactor =
        Reactor::new().map_err(|err| format!("cannot start the event loop: {err}"))?;
    let mut server = Server::bind(&reactor, config.bind, accounts, config.hub)
        .map_err(|err| format!("cannot listen on {}: {err}", config.bind))?;
    let addr = server.local_addr().map_err(|err| err.to_string())?;
    log::info!(
        "listening on {addr} ({} accounts from {})",
        server.hub().accounts().len(),
        config.users.display()
    );
    reactor
        .run(&mut server)
        .map_err(|err| format!("event loop failed: {err}"))?;
    log::info!("stopped");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match parse_args(&args) {
        Ok(Some(config)) => config,
        Ok(None) => return ExitCode::SUCCESS,
        Err(usage) => {
            eprintln!("{PROGRAM}: {usage}\nTry '{PROGRAM} --help'.");
            return ExitCode::from(2);
        }
    };
    reactor_hub::logging::init(PROGRAM, config.hub.trace);
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{PROGRAM}: error: {message}");
            ExitCode::FAILURE
        }
    }
}
