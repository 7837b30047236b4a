//! Slowing down password guessing, without locking anyone out for good.
//!
//! Two rules, both checked before a password is compared:
//! - **Per account**: the first [`ThrottleConfig::free_failures`] failures
//!   cost nothing; after that each failure closes the account to logins for a
//!   delay that doubles from [`ThrottleConfig::first_delay`] up to
//!   [`ThrottleConfig::max_delay`]. A successful login clears the count.
//! - **Per source IP**: at most [`ThrottleConfig::failures_per_ip`] failed
//!   logins in each [`ThrottleConfig::ip_window`], for any ids.
//!
//! A throttled login gets the same refusal as a wrong password, so a guesser
//! cannot tell the two apart. Memory is bounded: accounts by the accounts
//! file, source addresses by [`ThrottleConfig::max_tracked_ips`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::accounts::AccountIndex;

/// The throttle's figures; the defaults are the ones the README states.
#[derive(Clone, Debug)]
pub struct ThrottleConfig {
    pub free_failures: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub failures_per_ip: u32,
    pub ip_window: Duration,
    pub max_tracked_ips: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            free_failures: 5,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            failures_per_ip: 30,
            ip_window: Duration::from_secs(60),
            max_tracked_ips: 10_000,
        }
    }
}

#[derive(Debug)]
struct AccountFailures {
    count: u32,
    closed_until: Instant,
}

#[derive(Debug)]
struct IpWindow {
    started: Instant,
    failures: u32,
}

/// Failed logins, by account and by source IP.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    accounts: HashMap<AccountIndex, AccountFailures>,
    ips: HashMap<IpAddr, IpWindow>,
}

impl LoginThrottle {
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// Whether a login for `account` (`None`: no such id) from `ip` may have
    /// its password checked at `now`.
    pub fn allows(&self, now: Instant, account: Option<AccountIndex>, ip: IpAddr) -> bool {
        let account_open = account
            .and_then(|index| self.accounts.get(&index))
            .is_none_or(|failures| now >= failures.closed_until);
        let ip_open = self.ips.get(&ip).is_none_or(|window| {
            now >= window.started + self.config.ip_window
                || window.failures < self.config.failures_per_ip
        });
        account_open && ip_open
    }

    /// Records a refused login.
    pub fn failed(&mut self, now: Instant, account: Option<AccountIndex>, ip: IpAddr) {
        if let Some(index) = account {
            let failures = self.accounts.entry(index).or_insert(AccountFailures {
                count: 0,
                closed_until: now,
            });
            failures.count += 1;
            if let Some(over) = failures.count.checked_sub(self.config.free_failures + 1) {
                let delay = self.config.first_delay.saturating_mul(1 << over.min(20));
                failures.closed_until = now + delay.min(self.config.max_delay);
            }
        }
        self.count_ip_failure(now, ip);
    }

    /// Records a successful login: the account's failures are forgiven.
    pub fn succeeded(&mut self, account: AccountIndex) {
        self.accounts.remove(&account);
    }

    /// Source addresses tracked now.
    pub fn tracked_ips(&self) -> usize {
        self.ips.len()
    }

    fn count_ip_failure(&mut self, now: Instant, ip: IpAddr) {
        let window = self.config.ip_window;
        if self.ips.len() >= self.config.max_tracked_ips && !self.ips.contains_key(&ip) {
            // Full: forget the windows that are over. If none is, this
            // address goes untracked; the per-account rule still holds.
            self.ips.retain(|_, w| now < w.started + window);
            if self.ips.len() >= self.config.max_tracked_ips {
                return;
            }
        }
        let entry = self.ips.entry(ip).or_insert(IpWindow {
            started: now,
            failures: 0,
        });
        if now >= entry.started + window {
            *entry = IpWindow {
                started: now,
                failures: 0,
            };
        }
        entry.failures += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn an_account_closes_for_a_doubling_delay_after_free_failures() {
        let t0 = Instant::now();
        let mut throttle = LoginThrottle::default();
        for _ in 0..5 {
            assert!(throttle.allows(t0, Some(0), IP));
            throttle.failed(t0, Some(0), IP);
        }
        assert!(throttle.allows(t0, Some(0), IP), "five failures are free");
        throttle.failed(t0, Some(0), IP);
        assert!(!throttle.allows(t0, Some(0), IP));
        assert!(!throttle.allows(t0 + secs(1) - Duration::from_nanos(1), Some(0), IP));
        assert!(throttle.allows(t0 + secs(1), Some(0), IP));
        throttle.failed(t0 + secs(1), Some(0), IP);
        assert!(!throttle.allows(t0 + secs(2), Some(0), IP));
        assert!(
            throttle.allows(t0 + secs(3), Some(0), IP),
            "2 s after the 7th"
        );
        assert!(throttle.allows(t0, Some(1), IP), "other accounts stay open");
    }

    #[test]
    fn the_delay_is_capped_and_success_forgives() {
        let t0 = Instant::now();
        let mut throttle = LoginThrottle::default();
        let mut now = t0;
        for _ in 0..25 {
            throttle.failed(now, Some(0), IP);
            now += secs(61);
            // Never closed for more than the cap: the real user gets back in.
            assert!(throttle.allows(now, Some(0), IP));
        }
        throttle.succeeded(0);
        throttle.failed(now, Some(0), IP);
        assert!(throttle.allows(now, Some(0), IP));
    }

    #[test]
    fn a_source_ip_gets_a_budget_per_window() {
        let t0 = Instant::now();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let mut throttle = LoginThrottle::default();
        for i in 0..30 {
            assert!(throttle.allows(t0, None, IP), "failure {i}");
            throttle.failed(t0, None, IP);
        }
        assert!(!throttle.allows(t0, None, IP));
        assert!(!throttle.allows(t0, Some(3), IP), "any id, from that IP");
        assert!(throttle.allows(t0, None, other));
        assert!(throttle.allows(t0 + secs(60), None, IP));
    }

    #[test]
    fn tracked_addresses_are_bounded() {
        let t0 = Instant::now();
        let mut throttle = LoginThrottle::new(ThrottleConfig {
            max_tracked_ips: 100,
            ..ThrottleConfig::default()
        });
        for i in 0..10_000u32 {
            throttle.failed(t0, None, IpAddr::from(i.to_be_bytes()));
        }
        assert_eq!(throttle.tracked_ips(), 100);
        throttle.failed(t0 + secs(61), None, "10.9.9.9".parse().unwrap());
        assert_eq!(
            throttle.tracked_ips(),
            1,
            "stale windows are forgotten when full"
        );
    }
}
