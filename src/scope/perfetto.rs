//! A recording as Chrome's Trace Event Format, which Perfetto's UI
//! (ui.perfetto.dev) and `chrome://tracing` open: each turn of the loop is
//! a slice on the Reactor's track, with its wait and each handler nested
//! inside; each event is a mark with its trace line; a datagram read is
//! linked by an arrow to each datagram its handler sent; and the sessions
//! online are a counter.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::recording::Event;
use crate::json::Escaped;

/// The recording's events as a Trace Event Format document.
pub fn export(events: &[Event]) -> String {
    let mut out = Vec::new();
    out.push(
        r#"{"name":"thread_name","ph":"M","pid":1,"tid":1,"args":{"name":"Reactor"}}"#.to_owned(),
    );
    let mut flows = 0;
    let mut online = BTreeSet::new();
    let turns: Vec<&[Event]> = events.chunk_by(|a, b| a.turn == b.turn).collect();
    for (n, turn) in turns.iter().enumerate() {
        let start = turn[0].t_us;
        // A turn lasts until the next begins (the last, until its last event).
        let end = turns
            .get(n + 1)
            .map_or(turn[turn.len() - 1].t_us, |next| next[0].t_us)
            .max(start);
        out.push(slice(&format!("turn {}", turn[0].turn), start, end));
        handlers(turn, end, &mut out);
        for event in turn.iter() {
            out.push(mark(event));
            if let Some(count) = sessions(event, &mut online) {
                out.push(format!(
                    r#"{{"name":"sessions online","ph":"C","ts":{},"pid":1,"args":{{"online":{count}}}}}"#,
                    event.t_us
                ));
            }
        }
        arrows(turn, &mut flows, &mut out);
    }
    let mut document = String::from("{\"traceEvents\":[\n");
    for (n, event) in out.iter().enumerate() {
        let comma = if n + 1 < out.len() { "," } else { "" };
        let _ = writeln!(document, "{event}{comma}");
    }
    document.push_str("],\"displayTimeUnit\":\"ms\"}\n");
    document
}

/// The wait and the handlers of one turn, each a slice inside it: a wait
/// lasts until its wake, a handler (a source ready, the timers, the
/// backlog) until the next one begins or the turn ends.
fn handlers(turn: &[Event], end: u64, out: &mut Vec<String>) {
    let starts = |event: &Event| {
        matches!(
            event.kind.as_str(),
            "wait" | "ready" | "signal" | "timer" | "backlog"
        )
    };
    for (n, event) in turn.iter().enumerate().filter(|(_, e)| starts(e)) {
        let later = &turn[n + 1..];
        let until = match event.kind.as_str() {
            "wait" => later.iter().find(|e| e.kind == "wake"),
            _ => later.iter().find(|e| starts(e)),
        };
        let until = until.map_or(end, |e| e.t_us).clamp(event.t_us, end);
        let name = match event.kind.as_str() {
            "ready" | "signal" => event.line.trim_start_matches("event: "),
            _ => event.kind.as_str(),
        };
        out.push(slice(name, event.t_us, until));
    }
}

/// An arrow from each datagram read to each datagram sent after it in the
/// same turn, before the next read: what the one caused.
fn arrows(turn: &[Event], flows: &mut u64, out: &mut Vec<String>) {
    for (n, read) in turn.iter().enumerate().filter(|(_, e)| e.kind == "in") {
        let after = turn[n + 1..].iter().take_while(|e| e.kind != "in");
        for sent in after.filter(|e| e.kind == "out") {
            *flows += 1;
            for (phase, at, bind) in [("s", read.t_us, ""), ("f", sent.t_us, r#","bp":"e""#)] {
                out.push(format!(
                    r#"{{"name":"datagram","cat":"datagram","ph":"{phase}","id":{flows},"ts":{at},"pid":1,"tid":1{bind}}}"#
                ));
            }
        }
    }
}

/// The count of sessions online after `event`, if it changed it.
fn sessions(event: &Event, online: &mut BTreeSet<String>) -> Option<usize> {
    if event.kind != "transition" {
        return None;
    }
    let (id, change) = event.line.split_once(": ")?;
    let to = change.split(" => ").nth(1)?.split(' ').next()?;
    let changed = match to {
        "OFFLINE" => online.remove(id),
        "ONLINE" | "MESSAGE_FORWARD" => online.insert(id.to_owned()),
        _ => false,
    };
    changed.then_some(online.len())
}

fn slice(name: &str, start: u64, end: u64) -> String {
    format!(
        r#"{{"name":"{}","ph":"X","ts":{start},"dur":{},"pid":1,"tid":1}}"#,
        Escaped(name),
        end - start
    )
}

fn mark(event: &Event) -> String {
    format!(
        r#"{{"name":"{}","ph":"i","s":"t","ts":{},"pid":1,"tid":1,"args":{{"line":"{}"}}}}"#,
        Escaped(&event.kind),
        event.t_us,
        Escaped(&event.line)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two turns of a hub: a logs in, then sends b a message (turn, time,
    /// kind and line of each event).
    const TWO_TURNS: &str = "\
        1 0 wait wait: no deadline, until an event
        1 300 wake woke after 0.3 ms with 1 event
        1 310 ready event: udp socket (Token(0)) readable
        1 320 in in  127.0.0.1:9 a->server#login<***>
        1 330 transition a: OFFLINE => LOGIN_RECEIVED (login)
        1 331 transition a: LOGIN_RECEIVED => ONLINE (ok)
        1 340 out out 127.0.0.1:9 server->a#Success<t>
        2 400 wait wait: at most 300000 ms, for a: expiry
        2 900 wake woke after 0.5 ms with 1 event
        2 910 ready event: udp socket (Token(0)) readable
        2 920 in in  127.0.0.1:9 a->b#<t><0000000001>hi
        2 930 out out 127.0.0.1:8 a->b#<u><0000000001>hi
        2 931 out out 127.0.0.1:9 server->a#<t><0000000001>Success: hi
        2 940 timer timer, due 0.1ms ago: x";

    fn recording() -> Vec<Event> {
        let lines = TWO_TURNS.lines().map(str::trim).enumerate();
        let event = |(seq, line): (usize, &str)| {
            let mut words = line.splitn(4, ' ');
            let mut next = || words.next().unwrap_or_default();
            Event {
                seq: seq as u64,
                turn: next().parse().unwrap(),
                t_us: next().parse().unwrap(),
                kind: next().into(),
                target: "test".into(),
                line: next().into(),
            }
        };
        lines.map(event).collect()
    }

    #[test]
    fn a_recording_exports_as_nested_slices_paired_arrows_and_a_counter() {
        let document = export(&recording());
        let parsed: serde_json::Value = serde_json::from_str(&document).expect("JSON");
        let events = parsed["traceEvents"].as_array().unwrap();
        let of = |phase: &'static str| events.iter().filter(move |e| e["ph"] == phase);
        let span = |e: &serde_json::Value| {
            let ts = e["ts"].as_u64().unwrap();
            (ts, ts + e["dur"].as_u64().unwrap())
        };
        let turns: Vec<_> = of("X")
            .filter(|e| e["name"].as_str().unwrap().starts_with("turn "))
            .map(span)
            .collect();
        assert_eq!(turns, [(0, 400), (400, 940)]);
        // Every other slice inside a turn.
        let inner: Vec<_> = of("X")
            .filter(|e| !e["name"].as_str().unwrap().starts_with("turn "))
            .map(span)
            .collect();
        assert_eq!(inner.len(), 5, "2 waits, 2 handlers, 1 timer");
        for (start, end) in &inner {
            assert!(
                turns.iter().any(|(s, e)| s <= start && end <= e),
                "{start}..{end}"
            );
        }
        assert_eq!(inner[0], (0, 300), "the first wait, until its wake");
        // Every arrow's start has its end: one from the login, two from the message.
        let ids = |phase| {
            of(phase)
                .map(|e| e["id"].as_u64().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("s"), [1, 2, 3]);
        assert_eq!(ids("f"), [1, 2, 3]);
        let counter: Vec<_> = of("C")
            .map(|e| e["args"]["online"].as_u64().unwrap())
            .collect();
        assert_eq!(counter, [1], "a online");
        assert_eq!(of("i").count(), 14, "a mark per event");
    }
}
