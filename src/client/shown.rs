//! The forwarded messages a client has shown lately, so that a copy is
//! receipted again but not shown again.
//!
//! The hub resends a forward until a receipt reaches it, for as long as the
//! client's session lives: with receipts lost, a copy can come minutes after
//! the first. So a message is remembered for a span of time
//! ([`ClientConfig::remember_shown_for`](super::ClientConfig)), not for a
//! count of newer ones; the count is only a bound on memory, met by a
//! client shown more than that many messages within the span.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::wire::MsgId;

/// `(sender, msg id)` of a forwarded message.
type Key = (String, MsgId);

/// What was shown within `span`, at most `capacity` of it.
#[derive(Debug)]
pub struct Shown {
    span: Duration,
    capacity: usize,
    /// Oldest first, with when each was shown.
    order: VecDeque<(Instant, Key)>,
    keys: HashSet<Key>,
}

impl Shown {
    pub fn new(span: Duration, capacity: usize) -> Self {
        Self {
            span,
            capacity,
            order: VecDeque::new(),
            keys: HashSet::new(),
        }
    }

    /// Whether the message `msg_id` from `from` is new at `now`: not shown
    /// within the span. A new one is remembered from now on.
    pub fn first_time(&mut self, now: Instant, from: &str, msg_id: MsgId) -> bool {
        while let Some((at, _)) = self.order.front() {
            if now.saturating_duration_since(*at) < self.span && self.order.len() < self.capacity {
                break;
            }
            if let Some((_, key)) = self.order.pop_front() {
                self.keys.remove(&key);
            }
        }
        let key = (from.to_owned(), msg_id);
        if self.keys.contains(&key) {
            return false;
        }
        self.keys.insert(key.clone());
        self.order.push_back((now, key));
        true
    }

    /// Messages remembered now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// `count` different message ids.
    fn ids(count: usize) -> Vec<MsgId> {
        let mut rng = StdRng::seed_from_u64(1);
        let mut ids: Vec<MsgId> = Vec::new();
        while ids.len() < count {
            let id = MsgId::random(&mut rng);
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    #[test]
    fn a_message_is_new_once_within_the_span() {
        let t0 = Instant::now();
        let id = ids(1)[0];
        let mut shown = Shown::new(Duration::from_secs(600), 100);
        assert!(shown.first_time(t0, "bob", id));
        assert!(!shown.first_time(t0 + Duration::from_secs(599), "bob", id));
        assert!(shown.first_time(t0, "carol", id), "another sender");
        assert!(shown.first_time(t0 + Duration::from_secs(600), "bob", id));
    }

    #[test]
    fn memory_is_bounded_by_the_capacity() {
        let t0 = Instant::now();
        let ids = ids(100);
        let mut shown = Shown::new(Duration::from_secs(600), 10);
        for &id in &ids {
            assert!(shown.first_time(t0, "bob", id));
        }
        assert_eq!(shown.len(), 10);
        assert!(!shown.first_time(t0, "bob", ids[99]));
        assert!(shown.first_time(t0, "bob", ids[0]), "forgotten early");
    }
}
