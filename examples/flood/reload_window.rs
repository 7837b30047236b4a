//! Which replies waited through a reload, and the longest wait: from the
//! SIGHUP until a little after the server's `accounts reloaded` line. A
//! reply counts if it came after the SIGHUP to a message sent before the
//! window closed, so a message held up by the reload counts with its whole
//! wait, however early it was sent. Instants in, durations out: no clock.

use std::time::{Duration, Instant};

/// How long after the reload's line the window stays open: a loop that
/// stalled still has the datagrams that queued meanwhile to answer.
pub const TAIL: Duration = Duration::from_millis(200);

/// The waits of the replies around one reload.
#[derive(Clone, Debug, Default)]
pub struct ReloadWindow {
    measuring_since: Option<Instant>,
    signalled: Option<Instant>,
    completed: Option<Instant>,
    /// The longest wait of a reply that came while measuring, before the
    /// SIGHUP: the same load without a reload, to compare.
    pub longest_before: Duration,
    /// The longest wait of a reply that counts (see the module's doc).
    pub longest_during: Duration,
    /// How many replies count.
    pub replies_during: u64,
}

impl ReloadWindow {
    pub fn start_measuring(&mut self, now: Instant) {
        self.measuring_since = Some(now);
    }

    pub fn measuring_since(&self) -> Option<Instant> {
        self.measuring_since
    }

    /// The SIGHUP was sent at `at`.
    pub fn signal(&mut self, at: Instant) {
        self.signalled = Some(at);
    }

    pub fn signalled(&self) -> Option<Instant> {
        self.signalled
    }

    /// The server's line saying the reload is done was read at `at`.
    pub fn complete(&mut self, at: Instant) {
        self.completed = Some(at);
    }

    /// From the SIGHUP to the reload's line.
    pub fn reload_took(&self) -> Option<Duration> {
        Some(self.completed?.saturating_duration_since(self.signalled?))
    }

    /// When replies to messages sent later stop counting.
    pub fn closes_at(&self) -> Option<Instant> {
        self.completed.map(|at| at + TAIL)
    }

    /// A reply to a message sent at `sent` came at `answered`.
    pub fn on_reply(&mut self, sent: Instant, answered: Instant) {
        let wait = answered.saturating_duration_since(sent);
        let since_signal = self.signalled.is_some_and(|at| answered >= at);
        if !since_signal {
            if self.measuring_since.is_some_and(|since| answered >= since) {
                self.longest_before = self.longest_before.max(wait);
            }
        } else if self.closes_at().is_none_or(|end| sent <= end) {
            self.longest_during = self.longest_during.max(wait);
            self.replies_during += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Measuring from t=0, SIGHUP at t=500 ms, the line at t=1000 ms (the
    /// window closes at 1200 ms).
    fn window(t0: Instant) -> ReloadWindow {
        let mut window = ReloadWindow::default();
        window.start_measuring(t0);
        window.signal(t0 + ms(500));
        window.complete(t0 + ms(1000));
        window
    }

    #[test]
    fn a_reply_held_up_by_the_reload_counts_with_its_whole_wait() {
        let t0 = Instant::now();
        let mut window = window(t0);
        // Sent before the SIGHUP, answered once the loop came back.
        window.on_reply(t0 + ms(450), t0 + ms(1010));
        window.on_reply(t0 + ms(1010), t0 + ms(1011));
        assert_eq!(window.longest_during, ms(560));
        assert_eq!(window.replies_during, 2);
        assert_eq!(window.reload_took(), Some(ms(500)));
    }

    #[test]
    fn replies_before_the_sighup_are_the_baseline() {
        let t0 = Instant::now();
        let mut window = ReloadWindow::default();
        window.on_reply(t0, t0 + ms(40)); // still warming up: not counted
        window.start_measuring(t0 + ms(100));
        window.on_reply(t0 + ms(100), t0 + ms(103));
        window.signal(t0 + ms(200));
        window.on_reply(t0 + ms(198), t0 + ms(199));
        assert_eq!(window.longest_before, ms(3));
        assert_eq!((window.longest_during, window.replies_during), (ms(0), 0));
    }

    #[test]
    fn a_message_sent_after_the_window_closed_does_not_count() {
        let t0 = Instant::now();
        let mut window = window(t0);
        window.on_reply(t0 + ms(1200), t0 + ms(1500));
        assert_eq!(window.replies_during, 1);
        window.on_reply(t0 + ms(1201), t0 + ms(1900));
        assert_eq!((window.longest_during, window.replies_during), (ms(300), 1));
    }

    #[test]
    fn before_the_line_every_reply_since_the_sighup_counts() {
        let t0 = Instant::now();
        let mut window = ReloadWindow::default();
        window.start_measuring(t0);
        window.signal(t0 + ms(10));
        window.on_reply(t0 + ms(5000), t0 + ms(5070));
        assert_eq!((window.longest_during, window.replies_during), (ms(70), 1));
        assert_eq!((window.reload_took(), window.closes_at()), (None, None));
    }
}
