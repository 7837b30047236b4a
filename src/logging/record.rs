//! `--record FILE`: every trace event as a JSON object a line, the same
//! records `--trace` prints, so that a run can be read back, replayed or
//! compared line by line:
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

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use crate::json::Escaped;
use crate::reactor;

/// The most a recording writes.
pub const LIMIT: u64 = 256 << 20;

/// The file being written, and how far it has come.
pub struct Recorder {
    program: &'static str,
    path: PathBuf,
    started: Instant,
    state: Mutex<State>,
}

struct State {
    out: BufWriter<File>,
    seq: u64,
    written: u64,
    stopped: bool,
}

impl Recorder {
    /// Creates (or empties) `path`; says why it cannot.
    pub fn create(program: &'static str, path: &Path, started: Instant) -> Result<Self, String> {
        let file = File::create(path)
            .map_err(|err| format!("cannot record to {}: {err}", path.display()))?;
        Ok(Self {
            program,
            path: path.to_path_buf(),
            started,
            state: Mutex::new(State {
                out: BufWriter::new(file),
                seq: 0,
                written: 0,
                stopped: false,
            }),
        })
    }

    /// Writes one trace record as a line.
    pub fn record(&self, record: &log::Record<'_>) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.stopped {
            return;
        }
        let line = record.args().to_string();
        let json = format!(
            "{{\"seq\":{},\"turn\":{},\"t_us\":{},\"kind\":\"{}\",\"target\":\"{}\",\"line\":\"{}\"}}\n",
            state.seq,
            reactor::turn(),
            self.started.elapsed().as_micros(),
            kind_of(record.target(), &line),
            record.target(),
            Escaped(&line),
        );
        state.written += json.len() as u64;
        let full = state.written > LIMIT;
        if full || state.out.write_all(json.as_bytes()).is_err() {
            state.stopped = true;
            let why = match full {
                true => "it reached 256 MiB",
                false => "it cannot be written",
            };
            let path = self.path.display();
            eprintln!("{}: WARN: recording to {path} stopped: {why}", self.program);
            return;
        }
        state.seq += 1;
    }

    /// Writes what is buffered: at exit, and when asked.
    pub fn flush(&self) {
        if let Ok(mut state) = self.state.lock() {
            let _ = state.out.flush();
        }
    }
}

/// What a trace line is, in a word, from its target and first words.
pub fn kind_of(target: &str, line: &str) -> &'static str {
    let starts = |prefix| line.starts_with(prefix);
    match target {
        "reactor" if starts("wait:") => "wait",
        "reactor" if starts("woke") => "wake",
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
