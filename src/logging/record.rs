//! `--record FILE` and `--scope ADDR`: every trace event as a JSON object,
//! from the same records `--trace` prints, a line of the file (so that a
//! run can be read back, replayed or compared line by line) and an event
//! of the Scope's flight recorder (`scope::flight`):
//!
//! ```text
//! {"seq":12,"turn":5,"t_us":84172,"kind":"in","target":"udp","line":"in  127.0.0.1:50600 alice->bob#..."}
//! ```
//!
//! `seq` counts the events from 0, `turn` is the Reactor's loop turn
//! (`reactor::turn`), `t_us` the microseconds since the program started,
//! `kind` what the event is, in a word ([`kind_of`]), and `line` the text
//! `--trace` prints after the target. A recording stops, with a warning,
//! at [`LIMIT`] bytes: a program left recording must not fill the disk.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::reactor;
use crate::scope::flight::FlightRecorder;
use crate::scope::recording::Line;

/// The most a recording writes.
pub const LIMIT: u64 = 256 << 20;

/// Where trace events go besides stderr: the file of `--record`, the
/// Scope's flight recorder (`--scope`), or both. Each event is numbered
/// and made into its JSON object once, for both.
pub struct Recorder {
    program: &'static str,
    started: Instant,
    flight: Option<Arc<FlightRecorder>>,
    /// Whether every event is wanted: by a file, or because `--trace`
    /// formats them all anyway.
    every_event: bool,
    state: Mutex<State>,
}

struct State {
    seq: u64,
    /// The event's trace line, then its JSON object: kept to be reused.
    line: String,
    json: String,
    file: Option<RecordFile>,
}

/// The file being written, and how far it has come.
struct RecordFile {
    path: PathBuf,
    out: BufWriter<File>,
    written: u64,
    stopped: bool,
}

impl Recorder {
    /// Records to `file` if one is given (created or emptied; says why it
    /// cannot), and to `flight` if one is given; `every_event` if there is
    /// a file or `--trace` formats them all anyway, else the flight
    /// recorder's budget says which turns.
    pub fn create(
        program: &'static str,
        (file, flight): (Option<&Path>, Option<Arc<FlightRecorder>>),
        every_event: bool,
        started: Instant,
    ) -> Result<Self, String> {
        let file = match file {
            Some(path) => Some(RecordFile {
                out: BufWriter::new(
                    File::create(path)
                        .map_err(|err| format!("cannot record to {}: {err}", path.display()))?,
                ),
                path: path.to_path_buf(),
                written: 0,
                stopped: false,
            }),
            None => None,
        };
        Ok(Self {
            program,
            started,
            flight,
            every_event,
            state: Mutex::new(State {
                seq: 0,
                line: String::new(),
                json: String::new(),
                file,
            }),
        })
    }

    /// Whether this loop turn's events are wanted: always by a file, by
    /// the flight recorder while under its budget.
    pub fn wants(&self) -> bool {
        match &self.flight {
            Some(flight) if !self.every_event => flight.wants(reactor::turn()),
            _ => true,
        }
    }

    /// Numbers one trace record and passes it on as its JSON object.
    pub fn record(&self, record: &log::Record<'_>) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let State {
            seq,
            line,
            json,
            file,
        } = &mut *state;
        line.clear();
        let _ = write!(line, "{}", record.args());
        json.clear();
        let event = Line {
            seq: *seq,
            turn: reactor::turn(),
            t_us: self.started.elapsed().as_micros() as u64,
            kind: kind_of(record.target(), line),
            target: record.target(),
            line,
        };
        let _ = write!(json, "{event}");
        *seq += 1;
        if let Some(file) = file {
            file.write(self.program, json);
        }
        if let Some(flight) = &self.flight {
            flight.push(json);
        }
    }

    /// Writes what is buffered: at exit, and when asked.
    pub fn flush(&self) {
        if let Ok(mut state) = self.state.lock() {
            if let Some(file) = &mut state.file {
                let _ = file.out.flush();
            }
        }
    }
}

impl RecordFile {
    /// Writes one event's object as a line, until the file is full.
    fn write(&mut self, program: &str, json: &str) {
        if self.stopped {
            return;
        }
        self.written += json.len() as u64 + 1;
        let full = self.written > LIMIT;
        let wrote = !full && writeln!(self.out, "{json}").is_ok();
        if !wrote {
            self.stopped = true;
            let why = match full {
                true => "it reached 256 MiB",
                false => "it cannot be written",
            };
            let path = self.path.display();
            eprintln!("{program}: WARN: recording to {path} stopped: {why}");
        }
    }
}

/// What a trace line is, in a word, from its target and first words.
pub fn kind_of(target: &str, line: &str) -> &'static str {
    let starts = |prefix| line.starts_with(prefix);
    match target {
        "reactor" if starts("wait:") => "wait",
        "reactor" if starts("woke") => "wake",
        "reactor" if starts("event: signals") || starts("event: hangup signal") => "signal",
        "reactor" if starts("event:") => "ready",
        "reactor" if starts("timer") => "timer",
        "reactor" if starts("backlog") => "backlog",
        "udp" if starts("in ") => "in",
        "udp" if starts("out ") => "out",
        "udp" if starts("recvmmsg") => "recv",
        "udp" if starts("sendmmsg") => "send",
        "udp" => "queue",
        "hub" if line.contains(" => ") => "transition",
        "hub" => "unchanged",
        "nats" => "broker",
        "reload" => "reload",
        "client" => "client",
        "relay" => "relay",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_line_is_named() {
        let cases = [
            ("reactor", "wait: at most 100 ms, for x", "wait"),
            ("reactor", "woke after 0.2 ms with 1 event", "wake"),
            ("reactor", "event: udp socket (Token(0)) readable", "ready"),
            ("reactor", "event: signals (Token(1)) readable", "signal"),
            (
                "reactor",
                "event: hangup signal (Token(3)) readable",
                "signal",
            ),
            ("reactor", "timer, due 1.0ms ago: x", "timer"),
            ("reactor", "backlog: back to the work left", "backlog"),
            ("udp", "in  127.0.0.1:9 x", "in"),
            ("udp", "out 127.0.0.1:9 x", "out"),
            ("udp", "recvmmsg: 1 datagram, fewer than 32", "recv"),
            ("udp", "sendmmsg: 1 of 1 datagram in one call", "send"),
            (
                "hub",
                "bob: ONLINE => MESSAGE_FORWARD (msg 1 from alice)",
                "transition",
            ),
            (
                "hub",
                "alice: stays OFFLINE (no session for alice)",
                "unchanged",
            ),
            ("reload", "slice 1: 1.0ms, read to line 9", "reload"),
        ];
        for (target, line, kind) in cases {
            assert_eq!(kind_of(target, line), kind, "{line}");
        }
    }
}
