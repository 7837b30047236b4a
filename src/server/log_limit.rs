//! A budget of log lines a second for what traffic can cause.
//!
//! Every line the hub logs about a datagram (dropped, refused, a login, a
//! logoff, a forward given up) is one that anyone able to send datagrams can
//! make it write, as fast as they can send. Without a budget a flood of
//! datagrams becomes a flood of log lines, which fills the disk and hides
//! what matters. So such lines share one budget a second; what is over it is
//! counted and reported in one line when the next second begins.

use std::time::{Duration, Instant};

/// At most `per_second` lines in each one-second window.
#[derive(Debug)]
pub struct LogLimit {
    per_second: u32,
    window_start: Option<Instant>,
    shown: u32,
    hidden: u64,
}

impl LogLimit {
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second,
            window_start: None,
            shown: 0,
            hidden: 0,
        }
    }

    /// Whether one more line may be logged at `now`. The first call in a
    /// new window logs how many lines the last one held back, if any.
    pub fn allow(&mut self, now: Instant) -> bool {
        let window_over = self
            .window_start
            .is_none_or(|start| now.duration_since(start) >= Duration::from_secs(1));
        if window_over {
            if self.hidden > 0 {
                log::warn!(
                    "{} more log lines not shown (at most {} a second)",
                    self.hidden,
                    self.per_second
                );
            }
            self.window_start = Some(now);
            self.shown = 0;
            self.hidden = 0;
        }
        if self.shown < self.per_second {
            self.shown += 1;
            true
        } else {
            self.hidden += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_allows_its_budget_and_counts_the_rest() {
        let t0 = Instant::now();
        let mut limit = LogLimit::new(10);
        let allowed = (0..50_000)
            .filter(|n| limit.allow(t0 + Duration::from_micros(*n)))
            .count();
        assert_eq!(allowed, 10);
        assert_eq!(limit.hidden, 49_990);
        // The next second has a budget of its own.
        assert!(limit.allow(t0 + Duration::from_secs(1)));
        assert_eq!(limit.hidden, 0);
        let allowed = (0..100)
            .filter(|_| limit.allow(t0 + Duration::from_millis(1500)))
            .count();
        assert_eq!(allowed, 9, "the window started at 1 s");
    }
}
