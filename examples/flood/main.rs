//! `flood`: measures the hub, under load, from the outside.
//!
//! ```text
//! cargo run --release --example flood -- [--clients 64] [--window 1] [--floor] ...
//! ```
//!
//! With no flags it starts a hub in this process (on its own thread, with
//! generated accounts), logs in the client pairs, floods it for the warm-up
//! and the measured duration, and prints a report: messages accepted,
//! msgs/s, latency percentiles, errors by kind, and the hub's CPU time per
//! message as the OS counts it. `--server ADDR --users FILE` floods a running
//! `reactor-server` instead; `--cluster` floods two in-process nodes of a
//! cluster and a `nats-server` it starts, `--cluster-nodes A,B --users FILE`
//! two running nodes. `--accounts N` starts a real `reactor-server` with N
//! accounts in a temporary file instead, and also reports its start-up, its
//! memory before and after the logins, and the longest a reply waits while
//! it reloads its accounts on SIGHUP (`--max-reply-wait MS` fails the run
//! above that). The exit status is 1 if anything went wrong (any error of
//! any kind), so a script or CI can use a short run as a test.
//!
//! The modules, one concept each:
//! - [`options`]: the command line;
//! - [`users`]: the accounts to log in with;
//! - [`hub_thread`]: the in-process hub;
//! - [`accounts_target`]: the `--accounts` target, a real server with many
//!   accounts, and [`server_process`], that process;
//! - [`reload`]: the SIGHUP reload under load, and [`reload_window`], which
//!   replies waited through it;
//! - [`cluster`]: the broker of a `--cluster` run, and a probe that waits
//!   until its two nodes reach each other;
//! - [`bare_hub`]: the control, a hub that does only the happy path;
//! - [`clients`]: every client socket, driven by the project's Reactor;
//! - [`floor`]: what the kernel alone costs for one message's datagrams;
//! - [`os`]: CPU time, memory and socket drops, from `/proc`;
//! - [`report`]: the report, as text or JSON.

mod accounts_target;
mod bare_hub;
mod clients;
mod cluster;
mod floor;
mod hub_thread;
#[path = "../common/nats_server.rs"]
mod nats_server;
mod options;
mod os;
#[path = "../common/proc_net_udp.rs"]
mod proc_net_udp;
mod reload;
mod reload_window;
mod report;
mod server_process;
mod users;

use std::process::ExitCode;
use std::time::Duration;

use reactor_hub::cli;
use reactor_hub::hub::HubConfig;
use reactor_hub::reactor::Reactor;
use reactor_hub::wire::{Chat, Message, MsgId, Outcome, Reply, SessionToken};

use bare_hub::BareHub;
use clients::{Clients, Hubs};
use hub_thread::HubThread;
use options::{Command, Config, Target, PROGRAM};
use os::CpuSource;
use report::{AccountsReport, Floors, Report};

/// The floor is measured in this many slices before the flood and as many
/// after it, each this long: the machine is shared, and its speed drifts.
const FLOOR_SLICES: usize = 4;
const FLOOR_SLICE: Duration = Duration::from_millis(500);

fn main() -> ExitCode {
    cli::main(PROGRAM, options::parse, |command| match command {
        Command::MakeUsers(count, path) => {
            users::write(&path, users::generate(count)).map_err(|err| err.to_string())?;
            eprintln!("{PROGRAM}: wrote {count} accounts to {}", path.display());
            Ok(())
        }
        Command::Run(config) => {
            // The in-process hub logs through `log` too; only its warnings matter here.
            env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
                .init();
            let report = run(config.clone())?;
            if config.json {
                println!("{}", report.json());
            } else {
                print!("{}", report.text());
            }
            if let Some(why) = report
                .accounts
                .as_ref()
                .and_then(AccountsReport::over_limit)
            {
                return Err(why);
            }
            if report.errors.total() == 0 && report.accepted > 0 {
                Ok(())
            } else {
                Err("the run had errors (or accepted nothing)".into())
            }
        }
    })
}

fn run(config: Config) -> Result<Report, String> {
    let needed = config.clients + config.idle_sessions;
    let mut bare = None;
    let mut threads = Vec::new();
    let mut broker = None;
    // The --accounts server's figures, its reload, and its files.
    let (mut accounts, mut reload, mut _accounts_files) = (None, None, None);
    let (hubs, hub_cpu, mut users, target) = match &config.target {
        Target::Bare => {
            let hub =
                BareHub::start().map_err(|err| format!("cannot start the bare hub: {err}"))?;
            let (addr, cpu) = (hub.addr, hub.cpu.clone());
            bare = Some(hub);
            let target = "bare (control: happy path only, blocking socket, thread)";
            (
                Hubs::one(addr),
                Some(cpu),
                users::generate(needed),
                target.to_string(),
            )
        }
        Target::InProcess => {
            let users = users::generate(needed);
            let hub = HubThread::start(users::to_accounts(&users), HubConfig::default())
                .map_err(|err| format!("cannot start the hub: {err}"))?;
            let (addr, cpu) = (hub.addr, hub.cpu.clone());
            threads.push(hub);
            (
                Hubs::one(addr),
                Some(cpu),
                users,
                "in-process (thread)".to_string(),
            )
        }
        Target::Accounts(count) => {
            let started = accounts_target::start(*count)?;
            let target = format!("reactor-server pid {} with {count} accounts", started.pid);
            let users = (0..needed).map(|n| users::numbered(n, *count)).collect();
            accounts = Some(AccountsReport {
                sessions: needed,
                max_reply_wait: config.max_reply_wait,
                ..started.report
            });
            reload = Some(started.reload);
            _accounts_files = Some(started.dir);
            let cpu = CpuSource::Process(started.pid);
            (Hubs::one(started.addr), Some(cpu), users, target)
        }
        Target::Cluster {
            same_node,
            broker_cores,
        } => {
            // Two more accounts for the probe that waits for the nodes.
            let users = users::generate(needed + 2);
            let nats = cluster::start_broker(*broker_cores)?;
            for name in ["a", "b"] {
                let accounts = users::to_accounts(&users);
                let node = HubThread::start_node(accounts, HubConfig::default(), Some(nats.addr))
                    .map_err(|err| format!("cannot start node {name}: {err}"))?;
                threads.push(node);
            }
            let (a, b) = (threads[0].addr, threads[1].addr);
            cluster::wait_until_nodes_meet(a, b, &users[needed], &users[needed + 1])?;
            let cpu = CpuSource::Sum(vec![
                threads[0].cpu.clone(),
                threads[1].cpu.clone(),
                CpuSource::Process(nats.pid()),
            ]);
            let (hubs, receivers) = match same_node {
                true => (Hubs::one(a), "a"),
                false => (
                    Hubs {
                        senders: a,
                        receivers: b,
                    },
                    "b",
                ),
            };
            let cores = match broker_cores {
                Some(cores) => format!("GOMAXPROCS={cores}"),
                None => "every core".to_string(),
            };
            let target = format!(
                "cluster (nodes a and b on threads, nats-server pid {} on {cores}; CPU of all three): senders on a, receivers on {receivers}",
                nats.pid()
            );
            broker = Some(nats);
            (hubs, Some(cpu), users, target)
        }
        Target::External { addr, users, pid } => {
            let users = read_users(users, needed)?;
            let pid = pid.or_else(|| proc_net_udp::find_udp_owner(*addr));
            if pid.is_none() {
                eprintln!("{PROGRAM}: cannot find the server's process: no CPU figures (try --server-pid)");
            }
            let target = match pid {
                Some(pid) => format!("{addr} (pid {pid})"),
                None => format!("{addr}"),
            };
            (Hubs::one(*addr), pid.map(CpuSource::Process), users, target)
        }
        Target::ExternalCluster {
            nodes: [a, b],
            users,
            broker_pid,
        } => {
            // Two more accounts for the probe that waits for the nodes.
            let users = read_users(users, needed + 2)?;
            cluster::wait_until_nodes_meet(*a, *b, &users[needed], &users[needed + 1])?;
            let pids = [*a, *b].map(proc_net_udp::find_udp_owner);
            let cpu = match (pids, broker_pid) {
                ([Some(a), Some(b)], Some(broker)) => Some(CpuSource::Sum(
                    [a, b, *broker].map(CpuSource::Process).to_vec(),
                )),
                _ => {
                    eprintln!("{PROGRAM}: no CPU figures: give --broker-pid, and run the nodes on this machine");
                    None
                }
            };
            let target = format!(
                "cluster: senders on {a} (pid {:?}), receivers on {b} (pid {:?}), broker pid {broker_pid:?}",
                pids[0], pids[1]
            );
            (
                Hubs {
                    senders: *a,
                    receivers: *b,
                },
                cpu,
                users,
                target,
            )
        }
    };
    let hub_addrs = [hubs.senders, hubs.receivers];
    let idle_users = users
        .split_off(config.clients)
        .into_iter()
        .take(config.idle_sessions)
        .collect();

    let (request, reply) = datagram_sizes(&config, &users);
    let floor = |when: &str| -> Result<Vec<floor::Floor>, String> {
        (0..FLOOR_SLICES)
            .map(|_| floor::measure(request, reply, FLOOR_SLICE))
            .collect::<Result<_, _>>()
            .map_err(|err| format!("floor measurement ({when}): {err}"))
    };
    let floor_before = config.floor.then(|| floor("before")).transpose()?;
    let hub_drops_before = proc_net_udp::udp_drops(&hub_addrs);

    let mut reactor =
        Reactor::new().map_err(|err| format!("cannot start the event loop: {err}"))?;
    let mut clients = Clients::start(
        reactor.registry(),
        config.clone(),
        hubs,
        hub_cpu,
        users,
        idle_users,
        reload,
    )
    .map_err(|err| format!("cannot start the clients: {err}"))?;
    reactor
        .run(&mut clients)
        .map_err(|err| format!("event loop failed: {err}"))?;

    let floor_after = config.floor.then(|| floor("after")).transpose()?;
    let mut errors = clients.errors;
    errors.hub_socket_drops = proc_net_udp::udp_drops(&hub_addrs).saturating_sub(hub_drops_before);
    errors.client_socket_drops = proc_net_udp::udp_drops(&clients.local_addrs());
    errors.send_dropped = clients.send_dropped();
    for hub in threads {
        let last = hub.stop().map_err(|err| format!("the hub failed: {err}"))?;
        errors.send_dropped += last.udp.send_dropped;
    }
    drop(broker);
    if let Some(bare) = bare {
        bare.stop();
    }
    if let Some(why) = &clients.fatal {
        return Err(why.clone());
    }
    let m = clients.measurement;
    let measured = match (m.started, m.ended) {
        (Some(start), Some(end)) => end - start,
        _ => Duration::ZERO,
    };
    Ok(Report {
        target,
        clients: config.clients,
        window: config.window,
        body: config.body,
        own_sockets: config.own_sockets,
        warmup: config.warmup,
        measured,
        accepted: m.accepted,
        to_success: m.to_success,
        to_arrival: m.to_arrival,
        errors,
        hub_cpu: m.hub_cpu,
        client_cpu: m.client_cpu,
        floors: floor_before
            .zip(floor_after)
            .map(|(before, after)| Floors { before, after }),
        idle_sessions: config.idle_sessions,
        hub_resident: clients.hub_resident,
        accounts: accounts.map(|accounts| AccountsReport {
            after_logins: clients.hub_resident,
            reload: clients.reload.as_ref().and_then(|reload| reload.report()),
            ..accounts
        }),
    })
}

/// The accounts of `path`, which must hold at least `needed`.
fn read_users(path: &std::path::Path, needed: usize) -> Result<Vec<users::User>, String> {
    let users = users::read(path)?;
    if users.len() < needed {
        return Err(format!(
            "{} has {} accounts, this run needs {needed}",
            path.display(),
            users.len()
        ));
    }
    Ok(users)
}

/// The sizes of a chat message and of the hub's reply to it, for the floor.
fn datagram_sizes(config: &Config, users: &[users::User]) -> (usize, usize) {
    let body = vec![b'x'; config.body];
    let token = SessionToken::generate(&mut rand::rng());
    let msg_id = MsgId::random(&mut rand::rng());
    let chat = Message::Chat(Chat {
        from: &users[0].id,
        to: &users[1].id,
        token,
        msg_id,
        body: &body,
    });
    let reply = Message::Reply(Reply {
        to: &users[0].id,
        token,
        msg_id,
        outcome: Outcome::Accepted(&body),
    });
    (chat.to_bytes().len(), reply.to_bytes().len())
}
