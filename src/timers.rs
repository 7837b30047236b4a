//! Deadlines kept in a min-heap, so that finding the next one costs the same
//! however many sessions there are.
//!
//! A plain `select()` server (the sketch in docs/reactor.md) scans every
//! session after every datagram to find the expired ones; with 100,000
//! sessions that scan is the whole cost of the server. Here a session schedules its deadline once and the heap hands back
//! only the due ones. Entries are never removed early: the owner of a key
//! checks, when it fires, whether the key still means anything ("lazy
//! cancellation"), which keeps scheduling to one `push`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Keys of type `K`, each due at an `Instant`.
#[derive(Debug)]
pub struct TimerQueue<K> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Ord> Default for TimerQueue<K> {
    fn default() -> Self {
        Self {
            heap: BinaryHeap::new(),
        }
    }
}

impl<K: Ord> TimerQueue<K> {
    /// Fires `key` at `at` (or at the first [`pop_due`](Self::pop_due) after it).
    pub fn schedule(&mut self, at: Instant, key: K) {
        self.heap.push(Reverse((at, key)));
    }

    /// The earliest deadline, if any: what the Reactor's poll timeout is made of.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// The earliest deadline and its key, without taking it.
    pub fn peek(&self) -> Option<(Instant, &K)> {
        self.heap.peek().map(|Reverse((at, key))| (*at, key))
    }

    /// Every entry due at `now`, earliest first (for `--trace`: it
    /// allocates).
    pub fn due(&self, now: Instant) -> Vec<(Instant, &K)> {
        let mut due: Vec<_> = self
            .heap
            .iter()
            .map(|Reverse((at, key))| (*at, key))
            .filter(|(at, _)| *at <= now)
            .collect();
        due.sort_by_key(|(at, _)| *at);
        due
    }

    /// Takes one key whose deadline is at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        if self.next_deadline()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse((_, key))| key)
    }

    /// Keeps only the entries `keep` says still mean something: stale ones
    /// are otherwise only dropped as they fall due.
    pub fn retain(&mut self, mut keep: impl FnMut(Instant, &K) -> bool) {
        self.heap.retain(|Reverse((at, key))| keep(*at, key));
    }

    /// The bytes the queue holds on the heap, spare room included.
    #[cfg(test)]
    pub fn heap_bytes(&self) -> usize {
        self.heap.capacity() * std::mem::size_of::<Reverse<(Instant, K)>>()
    }

    /// How many entries are queued, stale ones included.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fires_due_keys_in_deadline_order_and_no_others() {
        let t0 = Instant::now();
        let mut timers = TimerQueue::default();
        timers.schedule(t0 + Duration::from_secs(3), "c");
        timers.schedule(t0 + Duration::from_secs(1), "a");
        timers.schedule(t0 + Duration::from_secs(2), "b");
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(timers.pop_due(t0), None);
        let now = t0 + Duration::from_secs(2);
        assert_eq!(timers.pop_due(now), Some("a"));
        assert_eq!(timers.pop_due(now), Some("b"));
        assert_eq!(timers.pop_due(now), None);
        assert_eq!(timers.len(), 1);
    }
}
