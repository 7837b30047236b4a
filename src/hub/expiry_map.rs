//! A bounded map whose entries live a fixed time from their insertion, for
//! what the hub remembers about strangers (source addresses, guessers).
//!
//! Every operation costs O(1) amortised, however full the map is. That is
//! the point: these maps fill up exactly when someone floods the hub, and a
//! map whose cost grows with its fill (a scan to find what to forget) makes
//! the flood dearer for the hub than for the flooder.
//!
//! Since every entry lives the same `lifetime` from insertion, the order of
//! insertion is the order of expiry: a queue of `(expiry, key)` says which
//! entry goes next, with no search. When the map is full, the oldest entry
//! makes room for the new one, expired or not.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Entry<V> {
    expiry: Instant,
    serial: u64,
    value: V,
}

/// At most `capacity` entries, each forgotten `lifetime` after insertion.
#[derive(Debug)]
pub struct ExpiryMap<K, V> {
    lifetime: Duration,
    capacity: usize,
    entries: HashMap<K, Entry<V>>,
    /// `(expiry, key, serial)` in insertion order, so in expiry order. A
    /// removed entry leaves its item behind; it is recognised and skipped
    /// when it reaches the front (its key is gone, or has another serial).
    order: VecDeque<(Instant, K, u64)>,
    /// The serial of the next insertion.
    next_serial: u64,
    /// Entries and queue items looked at: the cost of the operations so far.
    steps: Cell<u64>,
}

impl<K: Hash + Eq + Copy, V> ExpiryMap<K, V> {
    pub fn new(lifetime: Duration, capacity: usize) -> Self {
        Self {
            lifetime,
            capacity,
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_serial: 0,
            steps: Cell::new(0),
        }
    }

    /// The entry of `key`, if it is live at `now`.
    pub fn get(&self, key: &K, now: Instant) -> Option<&V> {
        self.step(1);
        self.entries
            .get(key)
            .filter(|entry| now < entry.expiry)
            .map(|entry| &entry.value)
    }

    /// The entry of `key`, if it is live at `now`, to change.
    pub fn get_mut(&mut self, key: &K, now: Instant) -> Option<&mut V> {
        self.step(1);
        self.entries
            .get_mut(key)
            .filter(|entry| now < entry.expiry)
            .map(|entry| &mut entry.value)
    }

    /// The live entry of `key`, or a new one made by `new`, for `lifetime`
    /// from `now`. Forgets what expired first, then the oldest if full.
    pub fn entry(&mut self, key: K, now: Instant, new: impl FnOnce() -> V) -> &mut V {
        self.forget_expired(now);
        self.step(1);
        if !self.entries.contains_key(&key) {
            while self.entries.len() >= self.capacity.max(1) {
                self.forget_oldest();
            }
            let (expiry, serial) = (now + self.lifetime, self.next_serial);
            self.next_serial += 1;
            let value = new();
            self.entries.insert(
                key,
                Entry {
                    expiry,
                    serial,
                    value,
                },
            );
            self.order.push_back((expiry, key, serial));
            self.compact();
        }
        &mut self
            .entries
            .get_mut(&key)
            .expect("present or just inserted")
            .value
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: &K) {
        self.step(1);
        self.entries.remove(key);
    }

    /// Entries held, live or not yet forgotten.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// How much work the operations so far did, in entries and queue items
    /// looked at: what a test counts to show the cost does not grow with
    /// the fill.
    #[cfg(test)]
    pub fn steps(&self) -> u64 {
        self.steps.get()
    }

    fn step(&self, count: usize) {
        self.steps.set(self.steps.get() + count as u64);
    }

    fn forget_expired(&mut self, now: Instant) {
        while self
            .order
            .front()
            .is_some_and(|(expiry, _, _)| *expiry <= now)
        {
            self.forget_oldest();
        }
    }

    /// Takes the front of the queue, and its entry if the item is its own.
    fn forget_oldest(&mut self) {
        let Some((_, key, serial)) = self.order.pop_front() else {
            return;
        };
        self.step(1);
        if self.is_current(&key, serial) {
            self.entries.remove(&key);
        }
    }

    /// Items left behind by removals are skipped at the front; should they
    /// pile up (a key removed and inserted again and again), drop them all
    /// in one pass, which the many insertions before it pay for.
    fn compact(&mut self) {
        if self.order.len() > 2 * self.capacity.max(self.entries.len()) {
            self.step(self.order.len());
            let mut order = std::mem::take(&mut self.order);
            order.retain(|(_, key, serial)| self.is_current(key, *serial));
            self.order = order;
        }
    }

    /// Whether the queue item `(key, serial)` stands for the entry of `key`.
    fn is_current(&self, key: &K, serial: u64) -> bool {
        self.entries
            .get(key)
            .is_some_and(|entry| entry.serial == serial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn entries_live_their_lifetime_from_insertion() {
        let t0 = Instant::now();
        let mut map = ExpiryMap::new(secs(10), 100);
        *map.entry(1, t0, || 0) += 1;
        *map.entry(1, t0 + secs(5), || 0) += 1;
        assert_eq!(map.get(&1, t0 + secs(9)), Some(&2));
        assert_eq!(
            map.get(&1, t0 + secs(10)),
            None,
            "ten seconds after insertion"
        );
        assert_eq!(*map.entry(1, t0 + secs(10), || 0), 0, "a new entry");
    }

    #[test]
    fn a_full_map_forgets_its_oldest_entry() {
        let t0 = Instant::now();
        let mut map = ExpiryMap::new(secs(60), 3);
        for key in 0..5u32 {
            map.entry(key, t0 + secs(key.into()), || key);
        }
        assert_eq!(map.len(), 3);
        let now = t0 + secs(5);
        assert_eq!(map.get(&0, now), None);
        assert_eq!(map.get(&1, now), None);
        assert_eq!(map.get(&2, now), Some(&2));
    }

    #[test]
    fn removed_entries_neither_linger_nor_pile_up() {
        let t0 = Instant::now();
        let mut map = ExpiryMap::new(secs(60), 10);
        for _ in 0..10_000 {
            map.entry(7, t0, || ());
            map.remove(&7);
        }
        assert_eq!(map.len(), 0);
        assert!(map.order.len() <= 21, "{} queue items", map.order.len());
        // The entry inserted last, at the same instant as the removed ones,
        // lives its full lifetime.
        map.entry(7, t0, || ());
        map.entry(8, t0 + secs(59), || ());
        assert!(map.get(&7, t0 + secs(59)).is_some());
    }

    /// An insertion into a full map of live entries costs one eviction more
    /// than one into an empty map, never a scan: counted, not timed.
    #[test]
    fn an_insertion_costs_the_same_however_full_the_map() {
        let t0 = Instant::now();
        let cost_of_100_insertions = |map: &mut ExpiryMap<u32, ()>, first: u32| {
            let before = map.steps();
            for key in first..first + 100 {
                map.entry(key, t0, || ());
            }
            map.steps() - before
        };
        let mut empty = ExpiryMap::new(secs(60), 10_000);
        let empty_cost = cost_of_100_insertions(&mut empty, 0);
        let mut full = ExpiryMap::new(secs(60), 10_000);
        for key in 0..10_000 {
            full.entry(key, t0, || ());
        }
        let full_cost = cost_of_100_insertions(&mut full, 10_000);
        assert_eq!(full.len(), 10_000);
        assert!(
            full_cost <= 2 * empty_cost,
            "full: {full_cost} steps, empty: {empty_cost}"
        );
    }
}
