//! Logging for the binaries: `log` + `env_logger` on stderr, `info` unless
//! `RUST_LOG` says otherwise, and `--trace` to watch every Reactor event,
//! datagram and state transition.

use std::io::Write;
use std::sync::OnceLock;

/// The log targets that `--trace` turns on: the Reactor's events, every
/// datagram in and out, state transitions, the broker link of a cluster
/// node, the lossy relay's verdicts, and the slices of an accounts reload.
pub const TRACE_TARGETS: [&str; 7] = ["reactor", "udp", "hub", "nats", "client", "relay", "reload"];

/// Starts logging to stderr. `RUST_LOG` overrides the default level.
pub fn init(program: &'static str, trace: bool) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if trace {
        for target in TRACE_TARGETS {
            builder.filter(Some(target), log::LevelFilter::Trace);
        }
    }
    builder.format(move |out, record| {
        let trace = record.level() == log::Level::Trace;
        match NODE.get() {
            Some(node) if trace => {
                writeln!(out, "[{node}] [{}] {}", record.target(), record.args())
            }
            Some(node) => writeln!(
                out,
                "{program}[{node}]: {}: {}",
                record.level(),
                record.args()
            ),
            None if trace => writeln!(out, "[{}] {}", record.target(), record.args()),
            None => writeln!(out, "{program}: {}: {}", record.level(), record.args()),
        }
    });
    builder.init();
}

/// The name of the cluster node this process is, once it has one.
static NODE: OnceLock<String> = OnceLock::new();

/// From now on every line names `node`: `reactor-server[a]: INFO: ...`,
/// `[a] [nats] ...`. A cluster's nodes often share one terminal or journal.
pub fn name_node(node: String) {
    let _ = NODE.set(node);
}
