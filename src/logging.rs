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
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::cli::Tracing;
use crate::scope::flight::{self, FlightRecorder};
use record::Recorder;

mod record;

/// A trace line's kind in a word, as a recording names it: for whatever
/// else writes a recording (the simulated hub's, `tests/simulation.rs`).
pub use record::kind_of;

/// The log targets that `--trace` turns on: the Reactor's events, every
/// datagram in and out, state transitions, the broker link of a cluster
/// node, the lossy relay's verdicts, and the slices of an accounts reload.
pub const TRACE_TARGETS: [&str; 7] = ["reactor", "udp", "hub", "nats", "client", "relay", "reload"];

/// Starts logging to stderr (`RUST_LOG` overrides the default level); with
/// `--record FILE` writes every trace event to FILE as well, and with
/// `--scope ADDR` keeps them in the flight recorder it returns, for the
/// Scope's pages: the same records, other views (`record.rs`).
pub fn init(
    program: &'static str,
    tracing: &Tracing,
) -> Result<Option<Arc<FlightRecorder>>, String> {
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
    let flight = tracing
        .scope
        .map(|_| Arc::new(FlightRecorder::new(flight::CAPACITY)));
    let every_event = tracing.print || tracing.record.is_some();
    let recorder = match (&tracing.record, &flight) {
        (None, None) => None,
        (file, flight) => Some(Recorder::create(
            program,
            (file.as_deref(), flight.clone()),
            every_event,
            started,
        )?),
    };
    let stderr_level = stderr.filter();
    let max = match &flight {
        // Only the Scope asks: each turn decides (`begin_turn`).
        Some(flight) if !every_event => {
            let _ = TURNS.set((flight.clone(), stderr_level));
            stderr_level
        }
        _ if recorder.is_some() => log::LevelFilter::Trace,
        _ => stderr_level,
    };
    let tee = Tee {
        stderr,
        stderr_level,
        recorder,
    };
    log::set_boxed_logger(Box::new(tee)).map_err(|err| format!("cannot start logging: {err}"))?;
    log::set_max_level(max);
    Ok(flight)
}

/// The flight recorder, when it alone asks for trace events, and the level
/// that stderr asks for.
static TURNS: OnceLock<(Arc<FlightRecorder>, log::LevelFilter)> = OnceLock::new();

/// A turn of the loop begins (the Reactor says so). When only the Scope
/// asks for trace events, they are on for the whole turn or off for the
/// whole turn (the flight recorder's budget, `scope::flight`): a turn not
/// recorded costs what it costs without the Scope, a comparison at each
/// trace point.
pub fn begin_turn(turn: u64) {
    if let Some((flight, otherwise)) = TURNS.get() {
        let level = match flight.wants(turn) {
            true => log::LevelFilter::Trace,
            false => *otherwise,
        };
        log::set_max_level(level);
    }
}

/// Every record to stderr as its filter says, and the trace records to the
/// recorder too. `log`'s macros call [`log`](log::Log::log) for every
/// record under the maximum level (`enabled` only for `log_enabled!`), so
/// both check: a level first, a comparison, then the rest.
struct Tee {
    stderr: env_logger::Logger,
    /// The most detailed level stderr takes: a trace point that the
    /// recorder does not want this turn costs a comparison, not a filter.
    stderr_level: log::LevelFilter,
    recorder: Option<Recorder>,
}

impl log::Log for Tee {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.printed(metadata) || self.recorded(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.printed(record.metadata()) {
            self.stderr.log(record);
        }
        if let Some(recorder) = self.recorder.as_ref() {
            if self.recorded(record.metadata()) {
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

impl Tee {
    fn printed(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.stderr_level && log::Log::enabled(&self.stderr, metadata)
    }

    fn recorded(&self, metadata: &log::Metadata<'_>) -> bool {
        let wanted = |recorder: &Recorder| recorder.wants() && is_trace(metadata);
        self.recorder.as_ref().is_some_and(wanted)
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

/// Says where the Scope's page is, and warns when that is not loopback:
/// the page shows every datagram, tokens included.
pub fn announce_scope(addr: SocketAddr) {
    log::info!("scope on http://{addr}/");
    if !addr.ip().is_loopback() {
        log::warn!(
            "the scope on {addr} is not on a loopback address: whoever reaches it sees \
             every datagram, tokens included"
        );
    }
}

/// The name of the cluster node this process is, once it has one.
static NODE: OnceLock<String> = OnceLock::new();

/// From now on every line names `node`: `reactor-server[a]: INFO: ...`,
/// `[a] [nats] ...`. A cluster's nodes often share one terminal or journal.
pub fn name_node(node: String) {
    let _ = NODE.set(node);
}
