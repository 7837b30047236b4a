//! Logging for the binaries: `log` + `env_logger` on stderr, `info` unless
//! `RUST_LOG` says otherwise, and `--trace` to watch every Reactor event,
//! datagram and state transition.

use std::io::Write;

/// The log targets that `--trace` turns on: the Reactor's events, every
/// datagram in and out, state transitions, the broker link of a cluster
/// node, and the lossy relay's verdicts.
pub const TRACE_TARGETS: [&str; 6] = ["reactor", "udp", "hub", "nats", "client", "relay"];

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
        if record.level() == log::Level::Trace {
            writeln!(out, "[{}] {}", record.target(), record.args())
        } else {
            writeln!(out, "{program}: {}: {}", record.level(), record.args())
        }
    });
    builder.init();
}
