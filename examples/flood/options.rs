//! The flood's command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use getopts::{Matches, Options};
use reactor_hub::cli;

pub const PROGRAM: &str = "flood";

const USAGE: &str = "[flags]
Floods a hub with chat messages and reports throughput, latency, errors
and the hub's CPU time per message. With no flags it starts its own hub.";

/// Which hub to flood.
#[derive(Clone, Debug)]
pub enum Target {
    /// A hub started in this process, on its own thread, with generated accounts.
    InProcess,
    /// A real `reactor-server` process the flood starts with this many
    /// accounts in a temporary file (`--accounts N`), to measure its
    /// start-up, its memory and a reload under load.
    Accounts(usize),
    /// The control: a bare hub in this process (`--bare-hub`).
    Bare,
    /// Two in-process hubs joined into a cluster through a `nats-server`
    /// the flood starts (`--cluster`): senders on node a, receivers on
    /// node b, or on a too (`--same-node`).
    Cluster {
        same_node: bool,
        /// How many cores the broker's Go runtime may use at once
        /// (`GOMAXPROCS`), `None` for every core (`--broker-cores 0`).
        broker_cores: Option<usize>,
    },
    /// Two running nodes of a cluster (`--cluster-nodes A,B`), with
    /// accounts both can log in with: senders on A, receivers on B.
    ExternalCluster {
        nodes: [SocketAddr; 2],
        users: PathBuf,
        /// The broker's process, whose CPU time counts too.
        broker_pid: Option<u32>,
    },
    /// A running `reactor-server`, with accounts it can log in with.
    External {
        addr: SocketAddr,
        users: PathBuf,
        /// Whose CPU time and memory to read; found from the socket if absent.
        pid: Option<u32>,
    },
}

/// Everything a run needs to know.
#[derive(Clone, Debug)]
pub struct Config {
    pub target: Target,
    /// Client sockets, half senders and half receivers, in pairs.
    pub clients: usize,
    /// Messages each sender keeps in flight (1 is the contract's client).
    pub window: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Stop measuring after this many accepted messages, if before `duration`.
    pub messages: Option<u64>,
    pub body: usize,
    /// A client resends a message that got no reply after this long.
    pub resend_after: Duration,
    pub floor: bool,
    pub idle_sessions: usize,
    /// Every client sends from its own socket, not through the shared uplink.
    pub own_sockets: bool,
    pub json: bool,
    /// With `--accounts`: fail if a reply waits longer during the reload.
    pub max_reply_wait: Option<Duration>,
}

/// What the command line asks for.
pub enum Command {
    Run(Config),
    /// `--make-users N FILE`
    MakeUsers(usize, PathBuf),
}

fn options() -> Options {
    let mut options = Options::new();
    options
        .optopt(
            "",
            "clients",
            "client sockets, in sender/receiver pairs (default 64)",
            "N",
        )
        .optopt(
            "",
            "window",
            "messages each sender keeps in flight (default 1)",
            "W",
        )
        .optopt("", "duration", "seconds to measure (default 10)", "SECS")
        .optopt(
            "",
            "messages",
            "stop measuring after N accepted messages",
            "N",
        )
        .optopt(
            "",
            "warmup",
            "seconds of traffic before measuring (default 2)",
            "SECS",
        )
        .optopt("", "body", "bytes of message body (default 32)", "BYTES")
        .optopt(
            "",
            "resend-after",
            "a client resends after this many ms without reply (default 1000)",
            "MS",
        )
        .optflag(
            "",
            "floor",
            "also measure the kernel's cost of 2 sendto + 2 recvfrom",
        )
        .optopt(
            "",
            "idle-sessions",
            "log in K more accounts that stay idle",
            "K",
        )
        .optflag("", "json", "print the report as one JSON object on stdout")
        .optflag(
            "",
            "own-sockets",
            "each client sends from its own socket (default: one shared uplink)",
        )
        .optflag(
            "",
            "bare-hub",
            "flood a bare hub (happy path only) instead: the control",
        )
        .optflag(
            "",
            "cluster",
            "flood two in-process nodes of a cluster (and a nats-server the flood starts): senders on one, receivers on the other",
        )
        .optflag(
            "",
            "same-node",
            "with --cluster: receivers on the senders' node too",
        )
        .optopt(
            "",
            "broker-cores",
            "with --cluster: how many cores the nats-server may use at once (its GOMAXPROCS; default 1, 0 for all)",
            "N",
        )
        .optopt(
            "",
            "cluster-nodes",
            "flood two running nodes of a cluster instead: senders on A, receivers on B (with --users)",
            "A,B",
        )
        .optopt(
            "",
            "broker-pid",
            "with --cluster-nodes: the nats-server's pid, whose CPU counts too",
            "PID",
        )
        .optopt(
            "",
            "server",
            "flood a running reactor-server at ADDR instead",
            "ADDR",
        )
        .optopt(
            "",
            "users",
            "accounts file for --server (write one with --make-users)",
            "FILE",
        )
        .optopt(
            "",
            "server-pid",
            "the server's pid, if it cannot be found from its socket",
            "PID",
        )
        .optopt(
            "",
            "accounts",
            "start a real reactor-server with N accounts instead: its start-up, memory, and replies during a SIGHUP reload",
            "N",
        )
        .optopt(
            "",
            "max-reply-wait",
            "with --accounts: fail if a reply waits longer than MS during the reload",
            "MS",
        )
        .optopt(
            "",
            "make-users",
            "write an accounts file of N accounts to FILE and exit",
            "N FILE",
        );
    options
}

fn seconds(matches: &Matches, name: &str, default: f64) -> Result<Duration, String> {
    let secs: f64 = cli::value(matches, name, default)?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("--{name}: {secs} is not a duration"))
}

/// Parses the command line; `Ok(None)` if `--help` or `--version` was
/// answered, `Err` is a usage error.
pub fn parse(args: &[String]) -> Result<Option<Command>, String> {
    let Some(matches) = cli::parse_with_operands(PROGRAM, USAGE, options(), args)? else {
        return Ok(None);
    };
    if let Some(count) = cli::optional_value(&matches, "make-users")? {
        let [file] = matches.free.as_slice() else {
            return Err("--make-users N FILE: name one FILE".into());
        };
        return Ok(Some(Command::MakeUsers(count, file.into())));
    }
    cli::no_operands(&matches)?;
    let target = match matches.opt_str("server") {
        Some(addr) => Target::External {
            addr: addr
                .parse()
                .map_err(|_| format!("--server: {addr:?} is not an IP:PORT address"))?,
            users: matches
                .opt_str("users")
                .ok_or("--server needs --users FILE (write one with --make-users)")?
                .into(),
            pid: cli::optional_value(&matches, "server-pid")?,
        },
        None if matches.opt_present("cluster-nodes") => {
            let nodes = matches.opt_str("cluster-nodes").unwrap_or_default();
            let two_addresses = nodes
                .split(',')
                .map(|addr| addr.parse().ok())
                .collect::<Option<Vec<SocketAddr>>>()
                .and_then(|addrs| <[SocketAddr; 2]>::try_from(addrs).ok());
            let nodes = two_addresses.ok_or_else(|| {
                format!("--cluster-nodes: {nodes:?} is not two IP:PORT addresses")
            })?;
            Target::ExternalCluster {
                nodes,
                users: matches
                    .opt_str("users")
                    .ok_or("--cluster-nodes needs --users FILE (write one with --make-users)")?
                    .into(),
                broker_pid: cli::optional_value(&matches, "broker-pid")?,
            }
        }
        None if matches.opt_present("users") => {
            return Err("--users goes with --server or --cluster-nodes".into())
        }
        None if matches.opt_present("bare-hub") => Target::Bare,
        None if matches.opt_present("cluster") => Target::Cluster {
            same_node: matches.opt_present("same-node"),
            broker_cores: match cli::value(&matches, "broker-cores", 1)? {
                0 => None,
                cores => Some(cores),
            },
        },
        None if matches.opt_present("same-node") => {
            return Err("--same-node goes with --cluster".into())
        }
        None if matches.opt_present("broker-cores") => {
            return Err("--broker-cores goes with --cluster".into())
        }
        None if matches.opt_present("accounts") => {
            Target::Accounts(cli::value(&matches, "accounts", 0)?)
        }
        None => Target::InProcess,
    };
    let config = Config {
        target,
        clients: cli::value(&matches, "clients", 64)?,
        window: cli::value(&matches, "window", 1)?,
        warmup: seconds(&matches, "warmup", 2.0)?,
        duration: seconds(&matches, "duration", 10.0)?,
        messages: cli::optional_value(&matches, "messages")?,
        body: cli::value(&matches, "body", 32)?,
        resend_after: Duration::from_millis(cli::value(&matches, "resend-after", 1000)?),
        floor: matches.opt_present("floor"),
        idle_sessions: cli::value(&matches, "idle-sessions", 0)?,
        own_sockets: matches.opt_present("own-sockets"),
        json: matches.opt_present("json"),
        max_reply_wait: cli::optional_value(&matches, "max-reply-wait")?.map(Duration::from_millis),
    };
    if config.clients < 2 || !config.clients.is_multiple_of(2) {
        return Err("--clients: an even number, 2 or more".into());
    }
    if config.window == 0 {
        return Err("--window: 1 or more".into());
    }
    if config.body > 900 {
        return Err("--body: at most 900 bytes (a datagram holds 1024)".into());
    }
    if config.resend_after.is_zero() {
        return Err("--resend-after: more than 0 ms".into());
    }
    check_accounts(&matches, &config)?;
    Ok(Some(Command::Run(config)))
}

/// `--accounts` starts its own server and measures until its reload is
/// over: it goes with no other target, and with no length of its own.
fn check_accounts(matches: &Matches, config: &Config) -> Result<(), String> {
    let Target::Accounts(count) = config.target else {
        if matches.opt_present("accounts") {
            return Err(
                "--accounts goes with no other target (--server, --cluster, --bare-hub)".into(),
            );
        }
        if config.max_reply_wait.is_some() {
            return Err("--max-reply-wait goes with --accounts".into());
        }
        return Ok(());
    };
    for flag in ["duration", "messages"] {
        if matches.opt_present(flag) {
            return Err(format!(
                "--{flag} does not go with --accounts (the reload ends the measured part)"
            ));
        }
    }
    if count < config.clients + config.idle_sessions {
        return Err(format!(
            "--accounts: at least the {} clients and idle sessions",
            config.clients + config.idle_sessions
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(line: &str) -> Result<Option<Command>, String> {
        let args: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse(&args)
    }

    /// The run `line` asks for; panics if it is not one.
    fn run_config(line: &str) -> Config {
        let Ok(Some(Command::Run(config))) = parse_words(line) else {
            panic!("{line} not understood");
        };
        config
    }

    fn assert_refused(lines: &[&str]) {
        for line in lines {
            assert!(parse_words(line).is_err(), "{line} accepted");
        }
    }

    #[test]
    fn make_users_takes_a_count_and_one_file() {
        let Ok(Some(Command::MakeUsers(count, file))) =
            parse_words("--make-users 100064 /tmp/users.conf")
        else {
            panic!("--make-users N FILE not understood");
        };
        assert_eq!((count, file), (100064, PathBuf::from("/tmp/users.conf")));
        assert_refused(&[
            "--make-users 10",
            "--make-users 10 a b",
            "--make-users ten a",
        ]);
    }

    #[test]
    fn no_flags_is_the_in_process_demo_with_the_defaults() {
        let config = run_config("");
        assert!(matches!(config.target, Target::InProcess));
        assert_eq!((config.clients, config.window, config.body), (64, 1, 32));
        assert_eq!(config.duration, Duration::from_secs(10));
        assert!(!config.floor && !config.own_sockets && !config.json);
    }

    #[test]
    fn an_external_server_needs_its_accounts_file() {
        let config = run_config("--server 127.0.0.1:32099 --users u.conf --idle-sessions 5");
        let Target::External { addr, users, pid } = config.target else {
            panic!("not an external target");
        };
        assert_eq!(addr, "127.0.0.1:32099".parse().unwrap());
        assert_eq!((users, pid), (PathBuf::from("u.conf"), None));
        assert_eq!(config.idle_sessions, 5);
        assert_refused(&[
            "--server 127.0.0.1:32099",
            "--users u.conf",
            "--server nowhere --users u.conf",
        ]);
    }

    #[test]
    fn a_cluster_run_puts_receivers_on_the_other_node_unless_asked() {
        for (line, same, cores) in [
            ("--cluster", false, Some(1)),
            ("--cluster --same-node", true, Some(1)),
            ("--cluster --broker-cores 0", false, None),
            ("--cluster --broker-cores 2", false, Some(2)),
        ] {
            let config = run_config(line);
            let Target::Cluster {
                same_node,
                broker_cores,
            } = config.target
            else {
                panic!("{line}: not a cluster");
            };
            assert_eq!((same_node, broker_cores), (same, cores), "{line}");
        }
        assert_refused(&[
            "--same-node",
            "--broker-cores 1",
            "--cluster --broker-cores x",
        ]);
        let config =
            run_config("--cluster-nodes 127.0.0.1:1,127.0.0.1:2 --users u.conf --broker-pid 7");
        let Target::ExternalCluster {
            nodes,
            users,
            broker_pid,
        } = config.target
        else {
            panic!("not two external nodes");
        };
        assert_eq!(
            nodes,
            [
                "127.0.0.1:1".parse().unwrap(),
                "127.0.0.1:2".parse().unwrap()
            ]
        );
        assert_eq!((users, broker_pid), (PathBuf::from("u.conf"), Some(7)));
        assert_refused(&[
            "--cluster-nodes 127.0.0.1:1,127.0.0.1:2",
            "--cluster-nodes 127.0.0.1:1 --users u.conf",
            "--cluster-nodes 127.0.0.1:1,127.0.0.1:2,127.0.0.1:3 --users u.conf",
            "--cluster-nodes a,b --users u.conf",
        ]);
    }

    #[test]
    fn accounts_starts_its_own_server_and_the_reload_ends_the_run() {
        let config = run_config("--accounts 1000000 --idle-sessions 10000 --max-reply-wait 200");
        assert!(matches!(config.target, Target::Accounts(1_000_000)));
        assert_eq!(config.idle_sessions, 10_000);
        assert_eq!(config.max_reply_wait, Some(Duration::from_millis(200)));
        let config = run_config("--accounts 64");
        assert_eq!(config.max_reply_wait, None);
        assert_refused(&[
            "--accounts 63",
            "--accounts 100 --idle-sessions 37",
            "--accounts x",
            "--accounts 100 --duration 5",
            "--accounts 100 --messages 5",
            "--accounts 100 --server 127.0.0.1:1 --users u.conf",
            "--accounts 100 --cluster",
            "--accounts 100 --bare-hub",
            "--accounts 100 --users u.conf",
            "--accounts 100 --max-reply-wait soon",
            "--max-reply-wait 200",
            "--server 127.0.0.1:1 --users u.conf --max-reply-wait 200",
        ]);
    }

    #[test]
    fn out_of_range_values_and_stray_words_are_usage_errors() {
        assert_refused(&[
            "--clients 3",
            "--clients 0",
            "--window 0",
            "--body 901",
            "--resend-after 0",
            "--duration -1",
            "--window x",
            "stray",
        ]);
    }
}
