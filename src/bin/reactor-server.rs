//! `reactor-server`: the hub. Flags become a configuration, the
//! configuration a [`Server`], and the Reactor runs it until Ctrl-C.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use getopts::Options;
use reactor_hub::accounts::Accounts;
use reactor_hub::cli;
use reactor_hub::hub::HubConfig;
use reactor_hub::logging;
use reactor_hub::reactor::Reactor;
use reactor_hub::scope::flight::FlightRecorder;
use reactor_hub::server::Server;

const PROGRAM: &str = "reactor-server";

/// A year. Far longer would not fit the monotonic clock: about 9.2e18
/// seconds made the first login panic adding the timeout to `now`.
const MAX_SESSION_TIMEOUT_SECS: u64 = 365 * 24 * 3600;

struct Config {
    /// `HOST:PORT`, resolved at start like the client's `--server`.
    bind: String,
    /// Where to serve `GET /metrics`, if anywhere.
    metrics: Option<SocketAddr>,
    /// The broker of the cluster this node joins, if any.
    nats: Option<SocketAddr>,
    /// The node's name in the log; derived from its address if not given.
    node: Option<String>,
    /// Share the UDP address with other nodes on this machine.
    reuse_port: bool,
    users: PathBuf,
    hub: HubConfig,
    /// `--trace`, `--record` and `--scope`.
    tracing: cli::Tracing,
}

fn options() -> Options {
    let mut options = Options::new();
    options
        .optopt(
            "",
            "bind",
            "address (or HOST:PORT) to listen on (default 127.0.0.1:32000)",
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
            "metrics",
            "serve GET /metrics (Prometheus) on this address",
            "ADDR",
        )
        .optopt(
            "",
            "nats",
            "join a cluster of hubs through the NATS broker at HOST:PORT (or nats://HOST:PORT)",
            "ADDR",
        )
        .optopt(
            "",
            "node",
            "this node's name in the log, in a cluster (default: its address)",
            "NAME",
        )
        .optflag(
            "",
            "reuse-port",
            "share the --bind address with other nodes on this machine (SO_REUSEPORT)",
        )
        .optopt(
            "",
            "session-timeout",
            "seconds of silence before a session expires (default 300)",
            "SECS",
        );
    cli::trace_flag(&mut options);
    options
}

/// Parses the command line; `Err` is a usage error for stderr.
fn parse_args(args: &[String]) -> Result<Option<Config>, String> {
    let usage = "[--bind ADDR] [--users FILE] [--session-timeout SECS] [--metrics ADDR] \
                 [--nats HOST:PORT [--node NAME] [--reuse-port]] [--trace] [--record FILE] [--scope ADDR]";
    let Some(matches) = cli::parse(PROGRAM, usage, options(), args)? else {
        return Ok(None);
    };
    let session_timeout = match cli::value(&matches, "session-timeout", 300)? {
        0 => return Err("--session-timeout: must be at least 1 second".into()),
        secs if secs > MAX_SESSION_TIMEOUT_SECS => {
            return Err(format!(
                "--session-timeout: at most {MAX_SESSION_TIMEOUT_SECS} seconds (a year)"
            ))
        }
        secs => Duration::from_secs(secs),
    };
    let reuse_port = matches.opt_present("reuse-port");
    if reuse_port && !matches.opt_present("nats") {
        // Hubs that share an address must share their users, or a client
        // would find its session at one and its next datagram at another.
        return Err("--reuse-port: only with --nats (the nodes must share their users)".into());
    }
    if matches.opt_present("node") && !matches.opt_present("nats") {
        return Err("--node: only with --nats (it names a node of a cluster)".into());
    }
    let bind = cli::value(&matches, "bind", "127.0.0.1:32000".to_owned())?;
    let tracing = cli::Tracing::from(&matches)?;
    cli::host_port("bind", &bind)?;
    Ok(Some(Config {
        bind,
        metrics: cli::optional_value(&matches, "metrics")?,
        nats: matches
            .opt_str("nats")
            .map(|nats| broker_addr(&nats))
            .transpose()?,
        node: matches.opt_str("node"),
        reuse_port,
        users: cli::value(&matches, "users", PathBuf::from("users.conf"))?,
        hub: HubConfig {
            session_timeout,
            trace: tracing.any(),
            ..HubConfig::default()
        },
        tracing,
    }))
}

/// The address `--bind` names: its first IPv4 address if it has one (as
/// `localhost` does, and as the client's default looks for), else its first.
fn bind_addr(bind: &str) -> Result<SocketAddr, String> {
    let addrs: Vec<SocketAddr> = bind
        .to_socket_addrs()
        .map_err(|err| format!("cannot resolve the --bind address {bind}: {err}"))?
        .collect();
    addrs
        .iter()
        .find(|addr| addr.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("the --bind address {bind} resolves to no address"))
}

/// The broker's address from `--nats`: `HOST:PORT` or `nats://HOST:PORT`,
/// resolved now, so that a value that is not an address is a usage error.
fn broker_addr(nats: &str) -> Result<SocketAddr, String> {
    let not_an_address = |why: String| format!("--nats: {nats:?} is not an address ({why})");
    let host_port = nats.strip_prefix("nats://").unwrap_or(nats);
    let mut addrs = host_port
        .to_socket_addrs()
        .map_err(|err| not_an_address(err.to_string()))?;
    addrs
        .next()
        .ok_or_else(|| not_an_address("it resolves to nothing".into()))
}

fn run(config: Config, flight: Option<Arc<FlightRecorder>>) -> Result<(), String> {
    let bind = bind_addr(&config.bind)?;
    let mut reactor =
        Reactor::new().map_err(|err| format!("cannot start the event loop: {err}"))?;
    // Before the accounts load, which takes a while for a big file.
    let hangup =
        Server::catch_hangup(&reactor).map_err(|err| format!("cannot catch SIGHUP: {err}"))?;
    log::debug!("reading the accounts from {}", config.users.display());
    let reading = Instant::now();
    let (accounts, warnings) = Accounts::load(&config.users).map_err(|err| err.to_string())?;
    let read_in = reading.elapsed();
    for warning in warnings {
        log::warn!("{warning}");
    }
    let users = config.users.display();
    if accounts.is_empty() {
        log::warn!("{users} holds no account: nobody can log in");
    }
    let bound = if config.reuse_port {
        Server::bind_shared(&reactor, bind, accounts, config.hub)
    } else {
        Server::bind(&reactor, bind, accounts, config.hub)
    };
    let mut server = bound.map_err(|err| format!("cannot listen on {bind}: {err}"))?;
    let addr = server.local_addr().map_err(|err| err.to_string())?;
    if config.nats.is_some() {
        // Nodes that share an address are told apart by their process id.
        let node = config.node.unwrap_or_else(|| match config.reuse_port {
            true => format!("{addr}/{}", std::process::id()),
            false => addr.to_string(),
        });
        logging::name_node(node);
    }
    server.reload_accounts_on(hangup, config.users.clone());
    if let Some(metrics) = config.metrics {
        let addr = server
            .serve_metrics(&reactor, metrics)
            .map_err(|err| format!("cannot serve metrics on {metrics}: {err}"))?;
        log::info!("metrics on http://{addr}/metrics");
    }
    if let (Some(scope), Some(flight)) = (config.tracing.scope, flight) {
        let addr = server
            .serve_scope(&reactor, scope, flight)
            .map_err(|err| format!("cannot serve the scope on {scope}: {err}"))?;
        logging::announce_scope(addr);
    }
    if let Some(broker) = config.nats {
        server
            .join_cluster(&reactor, broker)
            .map_err(|err| format!("cannot join the cluster: {err}"))?;
        log::info!("joining the cluster at nats://{broker}");
    }
    let count = server.hub().accounts().len();
    let accounts = if count == 1 { "account" } else { "accounts" };
    log::info!("listening on {addr} ({count} {accounts} from {users}, read in {read_in:.1?})");
    reactor
        .run(&mut server)
        .map_err(|err| format!("event loop failed: {err}"))?;
    log::info!("stopped");
    Ok(())
}

fn main() -> ExitCode {
    cli::main(PROGRAM, parse_args, |config| {
        let flight = logging::init(PROGRAM, &config.tracing)?;
        let ran = run(config, flight);
        log::logger().flush();
        ran
    })
}
