//! The flight recorder: the loop's last events, each as the JSON object
//! that `--record` writes, kept in a bounded ring for the Scope's pages. A
//! page that connects late gets the ring first, then the live events.
//!
//! Formatting an event costs about as much as the hub's work on a datagram,
//! so a busy loop cannot afford to record them all: the recorder takes
//! whole turns within a budget of events a second ([`QUIET_BUDGET`] while
//! no page watches, [`WATCHED_BUDGET`] while one does), and leaves the
//! others alone. The budget is a bucket of credit, filled at that rate up
//! to a second's worth: a turn is recorded while there is credit, and each
//! event recorded spends one, so a flood's turns of thousands of events
//! each cost no more than the rate in the long run. A turn left costs one
//! comparison per trace point (`logging::begin_turn`), and the page shows
//! the gap in the turns' numbers. A loop that a person drives by hand never
//! comes near the budget: every turn of it is recorded. (With `--trace` or
//! `--record` every event is formatted anyway, and all of them are kept.)

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Events the ring holds: what a page that connects late gets first.
pub const CAPACITY: usize = 10_000;
/// Events a second recorded while no page watches: enough for every turn
/// of a chat, a small fraction of a flood's.
pub const QUIET_BUDGET: u32 = 1_000;
/// Events a second recorded while a page watches.
pub const WATCHED_BUDGET: u32 = 5_000;

/// The ring, shared by the logger (which pushes) and the Scope's endpoint
/// (which reads): one thread, but the logger must be `Sync`.
pub struct FlightRecorder {
    ring: Mutex<Ring>,
    /// Pages reading the events now.
    viewers: AtomicUsize,
    /// The last turn whose recording was decided, and the decision.
    decided: AtomicU64,
    recording: AtomicBool,
}

struct Ring {
    lines: VecDeque<String>,
    capacity: usize,
    /// The `seq` the next event pushed will have.
    next: u64,
    /// Events that may still be recorded, as of `credited`: may go below
    /// zero, by the rest of a turn recorded whole.
    credit: f64,
    credited: Instant,
}

impl FlightRecorder {
    /// An empty recorder that keeps the last `capacity` events.
    pub fn new(capacity: usize) -> Self {
        Self {
            ring: Mutex::new(Ring {
                lines: VecDeque::with_capacity(capacity),
                capacity,
                next: 0,
                credit: f64::from(QUIET_BUDGET),
                credited: Instant::now(),
            }),
            viewers: AtomicUsize::new(0),
            decided: AtomicU64::new(u64::MAX),
            recording: AtomicBool::new(false),
        }
    }

    /// Whether the events of loop turn `turn` are to be recorded: decided
    /// once a turn, from the credit left.
    pub fn wants(&self, turn: u64) -> bool {
        if self.decided.load(Ordering::Relaxed) != turn {
            self.decide(turn);
        }
        self.recording.load(Ordering::Relaxed)
    }

    fn decide(&self, turn: u64) {
        let budget = match self.viewers.load(Ordering::Relaxed) {
            0 => QUIET_BUDGET,
            _ => WATCHED_BUDGET,
        };
        let Ok(mut ring) = self.ring.lock() else {
            return;
        };
        let now = Instant::now();
        let earned = now.duration_since(ring.credited).as_secs_f64() * f64::from(budget);
        ring.credit = (ring.credit + earned).min(f64::from(budget));
        ring.credited = now;
        self.recording.store(ring.credit > 0.0, Ordering::Relaxed);
        self.decided.store(turn, Ordering::Relaxed);
    }

    /// Keeps `json`, one event's object, as the next event; the oldest
    /// makes room, its buffer reused.
    pub fn push(&self, json: &str) {
        let Ok(mut ring) = self.ring.lock() else {
            return;
        };
        let mut line = match ring.lines.len() < ring.capacity {
            true => String::with_capacity(json.len()),
            false => ring.lines.pop_front().unwrap_or_default(),
        };
        line.clear();
        line.push_str(json);
        ring.lines.push_back(line);
        ring.next += 1;
        ring.credit -= 1.0;
    }

    /// Appends events from number `from` on to `out`, as server-sent
    /// events (`data: {...}` and a blank line), until `out` holds `max`
    /// bytes or none is left. Returns the number of the next event to
    /// send, and how many from `from` on the ring no longer holds: events
    /// this reader missed.
    pub fn read(&self, from: u64, out: &mut Vec<u8>, max: usize) -> (u64, u64) {
        let Ok(ring) = self.ring.lock() else {
            return (from, 0);
        };
        let first = ring.next - ring.lines.len() as u64;
        let missed = first.saturating_sub(from);
        let mut at = from.max(first);
        while at < ring.next && out.len() < max {
            let line = &ring.lines[(at - first) as usize];
            let _ = write!(out, "data: {line}\n\n");
            at += 1;
        }
        (at, missed)
    }

    /// How many events the ring holds at most.
    pub fn capacity(&self) -> usize {
        self.ring.lock().map_or(0, |ring| ring.capacity)
    }

    /// Pages reading the events now.
    pub fn viewers(&self) -> usize {
        self.viewers.load(Ordering::Relaxed)
    }

    /// A page begins, or stops, reading: the budget follows.
    pub fn watching(&self, starts: bool) {
        match starts {
            true => self.viewers.fetch_add(1, Ordering::Relaxed),
            false => self.viewers.fetch_sub(1, Ordering::Relaxed),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(recorder: &FlightRecorder, from: u64) -> (Vec<String>, u64, u64) {
        let mut out = Vec::new();
        let (next, missed) = recorder.read(from, &mut out, usize::MAX);
        let text = String::from_utf8(out).unwrap();
        let lines = text
            .split("\n\n")
            .filter(|frame| !frame.is_empty())
            .map(|frame| frame.strip_prefix("data: ").unwrap().to_owned())
            .collect();
        (lines, next, missed)
    }

    #[test]
    fn a_late_reader_gets_the_last_events_and_counts_the_rest_missed() {
        let recorder = FlightRecorder::new(3);
        for n in 0..5 {
            recorder.push(&format!("{{\"seq\":{n}}}"));
        }
        let (lines, next, missed) = events(&recorder, 0);
        assert_eq!(lines, ["{\"seq\":2}", "{\"seq\":3}", "{\"seq\":4}"]);
        assert_eq!((next, missed), (5, 2));
        // One that kept up misses nothing, and finds nothing new.
        assert_eq!(events(&recorder, 3).2, 0);
        assert_eq!(events(&recorder, 5), (vec![], 5, 0));
    }

    #[test]
    fn a_read_stops_at_its_size() {
        let recorder = FlightRecorder::new(10);
        for _ in 0..10 {
            recorder.push("{}");
        }
        let mut out = Vec::new();
        // Each frame is `data: {}` and a blank line: 10 bytes.
        assert_eq!(recorder.read(0, &mut out, 25), (3, 0));
        assert_eq!(out.len(), 30);
    }

    #[test]
    fn whole_turns_are_recorded_while_there_is_credit() {
        let recorder = FlightRecorder::new(10);
        assert!(recorder.wants(1));
        // A turn of three seconds' worth of events.
        for _ in 0..3 * QUIET_BUDGET {
            recorder.push("{}");
        }
        // The turn under way goes on being recorded; the next are left
        // until the credit spent is earned back: about two seconds.
        assert!(recorder.wants(1));
        assert!(!recorder.wants(2));
        recorder.watching(true);
        assert!(
            !recorder.wants(3),
            "a page earns credit faster, not at once"
        );
        let mut ring = recorder.ring.lock().unwrap();
        ring.credited -= std::time::Duration::from_millis(500);
        drop(ring);
        // Half a second at the watched rate pays the debt.
        assert!(recorder.wants(4));
    }
}
