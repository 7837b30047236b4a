//! Logging for the binaries: `log` + `env_logger` on stderr, `info` unless
//! `RUST_LOG` says otherwise, and `--trace` to watch every Reactor event,
//! datagram and state transition.
//!
//! A trace line starts with the seconds since logging started (the
//! program's first step), to the microsecond: `  1.048576 [reactor] ...`.
//! Together with the `woke after` lines they show when each event happened
//! and how long each handler took. Other lines leave the time to whoever
//! keeps the log (journald, a terminal).

use std::fmt;
use std::io::Write;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::cli::Tracing;
use record::Recorder;

mod record;

/// A trace line's kind in a word, as a recording names it: for whatever
/// else writes a recording (the simulated hub's, `tests/simulation.rs`).
pub use record::kind_of;

/// The log targets that `--trace` turns on: the Reactor's events, every
/// datagram in and out, state transitions, the broker link of a cluster
/// node, the lossy relay's verdicts, and the slices of an accounts reload.
pub const TRACE_TARGETS: [&str; 7] = ["reactor", "udp", "hub", "nats", "client", "relay", "reload"];

/// Starts logging to stderr (`RUST_LOG` overrides the default level), and
/// with `--record FILE` writes every trace event to FILE as well: the
/// same records, another view (`record.rs`).
pub fn init(program: &'static str, tracing: &Tracing) -> Result<(), String> {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if tracing.print {
        for target in TRACE_TARGETS {
            builder.filter(Some(target), log::LevelFilter::Trace);
        }
    }
    let started = Instant::now();
    builder.format(move |out, record| {
        let trace = record.level() == log::Level::Trace;
        let at = Since(started.elapsed());
        match NODE.get() {
            Some(node) if trace => {
                writeln!(out, "{at} [{node}] [{}] {}", record.target(), record.args())
            }
            Some(node) => writeln!(
                out,
                "{program}[{node}]: {}: {}",
                record.level(),
                record.args()
            ),
            None if trace => writeln!(out, "{at} [{}] {}", record.target(), record.args()),
            None => writeln!(out, "{program}: {}: {}", record.level(), record.args()),
        }
    });
    let stderr = builder.build();
    let recorder = match &tracing.record {
        Some(path) => Some(Recorder::create(program, path, started)?),
        None => None,
    };
    let max = match recorder {
        Some(_) => log::LevelFilter::Trace,
        None => stderr.filter(),
    };
    log::set_boxed_logger(Box::new(Tee { stderr, recorder }))
        .map_err(|err| format!("cannot start logging: {err}"))?;
    log::set_max_level(max);
    Ok(())
}

/// Every record to stderr as its filter says, and the trace records to the
/// recording too.
struct Tee {
    stderr: env_logger::Logger,
    recorder: Option<Recorder>,
}

impl log::Log for Tee {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.stderr.enabled(metadata) || self.recorder.is_some() && is_trace(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.stderr.matches(record) {
            self.stderr.log(record);
        }
        if let Some(recorder) = &self.recorder {
            if is_trace(record.metadata()) {
                recorder.record(record);
            }
        }
    }

    fn flush(&self) {
        self.stderr.flush();
        if let Some(recorder) = &self.recorder {
            recorder.flush();
        }
    }
}

/// Whether a record is a trace event: `--trace` would print it.
fn is_trace(metadata: &log::Metadata<'_>) -> bool {
    metadata.level() == log::Level::Trace && TRACE_TARGETS.contains(&metadata.target())
}

/// Time since the program started, as a trace line begins: `  1.048576`.
struct Since(Duration);

impl fmt::Display for Since {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>3}.{:06}", self.0.as_secs(), self.0.subsec_micros())
    }
}

/// The name of the cluster node this process is, once it has one.
static NODE: OnceLock<String> = OnceLock::new();

/// From now on every line names `node`: `reactor-server[a]: INFO: ...`,
/// `[a] [nats] ...`. A cluster's nodes often share one terminal or journal.
pub fn name_node(node: String) {
    let _ = NODE.set(node);
}
