//! `reactor-client`: the terminal client. Flags become a configuration, the
//! configuration a [`Terminal`], and the Reactor runs it until the person is
//! done (end of input, or Ctrl-C).

use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;

use getopts::Options;
use reactor_hub::cli;
use reactor_hub::client::command::CommandError;
use reactor_hub::client::{ClientConfig, Notice};
use reactor_hub::reactor::Reactor;
use reactor_hub::scope::flight::FlightRecorder;
use reactor_hub::terminal::Terminal;

const PROGRAM: &str = "reactor-client";

struct Config {
    /// `HOST:PORT` as given: resolved when the program runs.
    server: String,
    listen: Option<SocketAddr>,
    /// `--trace`, `--record` and `--scope`.
    tracing: cli::Tracing,
}

fn options() -> Options {
    let mut options = Options::new();
    options
        .optopt(
            "",
            "server",
            "the hub's address, HOST:PORT (default 127.0.0.1:32000)",
            "ADDR",
        )
        .optopt(
            "",
            "listen",
            "address to receive on (default 127.0.0.1:0; 0.0.0.0:0 when the server is on another machine)",
            "ADDR",
        );
    cli::trace_flag(&mut options);
    options
}

/// Parses the command line; `Err` is a usage error for stderr.
fn parse_args(args: &[String]) -> Result<Option<Config>, String> {
    let usage = "[--server ADDR] [--listen ADDR] [--trace] [--record FILE] [--scope ADDR]\n\n\
                 Type ID->server#login<PASSWORD>, ID->DEST#message and ID->server#logoff;\n\
                 end of input (Ctrl-D) or Ctrl-C logs off and quits.";
    let Some(matches) = cli::parse(PROGRAM, usage, options(), args)? else {
        return Ok(None);
    };
    let server = matches
        .opt_str("server")
        .unwrap_or_else(|| "127.0.0.1:32000".into());
    let port = cli::host_port("server", &server)?;
    let unspecified = server
        .parse::<SocketAddr>()
        .is_ok_and(|addr| addr.ip().is_unspecified());
    if port == 0 || unspecified {
        return Err(format!("--server: {server:?} is not an address to send to"));
    }
    let listen = cli::optional_value(&matches, "listen")?;
    Ok(Some(Config {
        server,
        listen,
        tracing: cli::Tracing::from(&matches)?,
    }))
}

/// The server's address, of the listen address's family if one was given,
/// else IPv4 first (the server listens on 127.0.0.1 by default, and
/// `localhost` may resolve to `::1` first).
fn resolve_server(config: &Config) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = config
        .server
        .to_socket_addrs()
        .map_err(|err| format!("cannot resolve the server address {}: {err}", config.server))?
        .collect();
    let wanted_v4 = config.listen.is_none_or(|listen| listen.is_ipv4());
    addrs
        .iter()
        .find(|addr| addr.is_ipv4() == wanted_v4)
        .or(addrs.first().filter(|_| config.listen.is_none()))
        .copied()
        .ok_or_else(|| {
            format!(
                "the server address {} has no address of the --listen address's family",
                config.server
            )
        })
}

/// Where to receive: as asked, or by default where the server can reach us.
fn listen_addr(config: &Config, server: SocketAddr) -> SocketAddr {
    if let Some(listen) = config.listen {
        if listen.ip().is_loopback() && !server.ip().is_loopback() {
            log::warn!(
                "receiving on {listen}, which the server at {server} cannot reach: try --listen 0.0.0.0:0"
            );
        }
        return listen;
    }
    let ip = match (server.is_ipv4(), server.ip().is_loopback()) {
        (true, true) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        (true, false) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (false, true) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        (false, false) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

fn run(config: Config, flight: Option<Arc<FlightRecorder>>) -> Result<(), String> {
    let server = resolve_server(&config)?;
    let listen = listen_addr(&config, server);
    let mut reactor =
        Reactor::new().map_err(|err| format!("cannot start the event loop: {err}"))?;
    if std::io::stdin().is_terminal() {
        // Printed before stdin (and with it this terminal) turns non-blocking.
        println!("{}", Notice::Usage(CommandError::NotACommand));
    }
    let client = ClientConfig {
        trace: config.tracing.any(),
        ..ClientConfig::default()
    };
    let mut terminal = Terminal::bind(&reactor, server, listen, client)
        .map_err(|err| format!("cannot receive on {listen}: {err}"))?;
    let local = terminal.local_addr().map_err(|err| err.to_string())?;
    if let (Some(scope), Some(flight)) = (config.tracing.scope, flight) {
        let addr = terminal
            .serve_scope(&reactor, scope, flight)
            .map_err(|err| format!("cannot serve the scope on {scope}: {err}"))?;
        reactor_hub::logging::announce_scope(addr);
    }
    // Debug level: a person at the terminal needs neither address to chat.
    log::debug!("receiving on {local}, server {server}");
    reactor
        .run(&mut terminal)
        .map_err(|err| format!("event loop failed: {err}"))?;
    Ok(())
}

fn main() -> ExitCode {
    cli::main(PROGRAM, parse_args, |config| {
        let flight = reactor_hub::logging::init(PROGRAM, &config.tracing)?;
        let ran = run(config, flight);
        log::logger().flush();
        ran
    })
}
