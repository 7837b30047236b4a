//! A recording's events read back: one JSON object a line, as
//! `logging::record` writes them.

use crate::json;

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

/// Every event of a recording, in order; lines that are not events (a
/// recording cut by a crash ends in half a line) are left out.
pub fn read(text: &str) -> Vec<Event> {
    text.lines().filter_map(Event::parse).collect()
}

#[cfg(test)]
mod tests {
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
    }
}
