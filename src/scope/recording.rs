//! A recording's events, one JSON object a line: written ([`Line`], for
//! `logging::record` and whatever else makes a recording, the simulation's
//! hub in `tests/simulation.rs`) and read back ([`Event::parse`]).

use std::fmt;

use crate::json::{self, Escaped};

/// One event of the loop, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub seq: u64,
    pub turn: u64,
    /// Microseconds since the program started.
    pub t_us: u64,
    pub kind: String,
    pub target: String,
    /// The line `--trace` printed.
    pub line: String,
}

impl Event {
    /// Reads one line of a recording; `None` if it is not one.
    pub fn parse(line: &str) -> Option<Self> {
        let mut event = Event {
            seq: 0,
            turn: 0,
            t_us: 0,
            kind: String::new(),
            target: String::new(),
            line: String::new(),
        };
        let mut rest = line.trim().strip_prefix('{')?;
        loop {
            let (key, after) = json::unescape(rest.strip_prefix('"')?)?;
            let after = after.strip_prefix(':')?;
            rest = match after.strip_prefix('"') {
                Some(string) => {
                    let (value, after) = json::unescape(string)?;
                    match key.as_str() {
                        "kind" => event.kind = value,
                        "target" => event.target = value,
                        "line" => event.line = value,
                        _ => {}
                    }
                    after
                }
                None => {
                    let end = after.find([',', '}'])?;
                    let number = after[..end].parse().ok()?;
                    match key.as_str() {
                        "seq" => event.seq = number,
                        "turn" => event.turn = number,
                        "t_us" => event.t_us = number,
                        _ => {}
                    }
                    &after[end..]
                }
            };
            match rest.strip_prefix(',') {
                Some(next) => rest = next,
                None => return (rest == "}").then_some(event),
            }
        }
    }
}

/// The event as a recording's line (without its newline): what
/// [`Event::parse`] reads back.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Line {
            seq: self.seq,
            turn: self.turn,
            t_us: self.t_us,
            kind: &self.kind,
            target: &self.target,
            line: &self.line,
        }
        .fmt(f)
    }
}

/// An event's fields, borrowed, written as a recording's line: the one
/// writer of the format, for the logger (`--record`, the Scope's flight
/// recorder), which has no [`Event`] to hand, and for [`Event`] itself.
pub struct Line<'a> {
    pub seq: u64,
    pub turn: u64,
    pub t_us: u64,
    pub kind: &'a str,
    pub target: &'a str,
    pub line: &'a str,
}

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{\"seq\":{},\"turn\":{},\"t_us\":{},\"kind\":\"{}\",\"target\":\"{}\",\"line\":\"{}\"}}",
            self.seq,
            self.turn,
            self.t_us,
            Escaped(self.kind),
            Escaped(self.target),
            Escaped(self.line),
        )
    }
}

/// Every event of a recording, in order; lines that are not events (a
/// recording cut by a crash ends in half a line) are left out.
pub fn read(text: &str) -> Vec<Event> {
    text.lines().filter_map(Event::parse).collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_recorded_line_reads_back() {
        let line = r#"{"seq":3,"turn":2,"t_us":84172,"kind":"in","target":"udp","line":"in  127.0.0.1:9 a->b#say \"hi\""}"#;
        let event = Event::parse(line).unwrap();
        assert_eq!((event.seq, event.turn, event.t_us), (3, 2, 84172));
        assert_eq!((event.kind.as_str(), event.target.as_str()), ("in", "udp"));
        assert_eq!(event.line, "in  127.0.0.1:9 a->b#say \"hi\"");
        assert_eq!(Event::parse(&line[..40]), None, "cut short");
        assert_eq!(read(&format!("{line}\n{}", &line[..20])).len(), 1);
        assert_eq!(event.to_string(), line, "written back as it was recorded");
    }

    /// Characters a JSON string must escape, and some it must not.
    const AWKWARD: &str = r#"["\\\x00-\x1f\x7f\x{2028}é€😀 a-z]{0,40}"#;

    proptest! {
        #[test]
        fn an_event_written_reads_back_as_it_was(
            seq: u64,
            turn: u64,
            t_us: u64,
            kind in AWKWARD,
            target in AWKWARD,
            line in prop_oneof![AWKWARD, any::<String>()],
        ) {
            let event = Event { seq, turn, t_us, kind, target, line };
            let written = event.to_string();
            prop_assert!(!written.contains('\n'), "one line: {written}");
            prop_assert_eq!(Event::parse(&written), Some(event));
        }
    }
}
