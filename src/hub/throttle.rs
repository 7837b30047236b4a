//! Slowing down password guessing without locking anyone out.
//!
//! Failures are counted first per **(account, source address)**: a guesser
//! slows down their own attempts, not the account's owner, who logs in from
//! an address of their own. Rules, checked before a password is compared:
//!
//! - **Per account and address**: the first
//!   [`ThrottleConfig::free_failures`] failures cost nothing; after that each
//!   failure closes the account *to that address* for a delay that doubles
//!   from [`ThrottleConfig::first_delay`] up to [`ThrottleConfig::max_delay`].
//!   A successful login from the address forgives them; otherwise they are
//!   forgotten [`ThrottleConfig::pair_memory`] after the first.
//! - **Per account, from everywhere**: at most
//!   [`ThrottleConfig::failures_per_account`] failures in each
//!   [`ThrottleConfig::account_window`], a ceiling on guessing spread over
//!   many addresses.
//! - **Per address, across accounts**: at most
//!   [`ThrottleConfig::failures_per_ip`] failures in each
//!   [`ThrottleConfig::ip_window`], against an address spraying guesses
//!   (and unknown ids).
//!
//! What keeps the owner in, whatever guessers elsewhere do:
//!
//! - An address with no recent failure for an account always has its
//!   password checked; one with at most
//!   [`ThrottleConfig::checked_failures`] has it checked unless the address
//!   is over its own budget: the owner's typo, or one datagram forged with
//!   her address, does not hand her address to the account's ceiling, which
//!   guessers elsewhere keep full.
//! - A **trusted endpoint** (OWASP's "device cookie"; a UDP client has no
//!   cookie, but it keeps its socket): the exact address and port an account
//!   last logged in from, remembered [`ThrottleConfig::trust_memory`], has
//!   its password checked until it fails [`ThrottleConfig::free_failures`]
//!   times itself. Guessers sharing the owner's IP (a NAT, or every local
//!   client on 127.0.0.1) cannot close it; only datagrams forged with its
//!   exact address and port can.
//!
//! A throttled login gets the same refusal as a wrong password, so a guesser
//! cannot tell the two apart. Memory is bounded: accounts by the accounts
//! file, pairs, endpoints and addresses by [`ThrottleConfig::max_tracked`]
//! each, in [`ExpiryMap`]s whose every operation costs the same however
//! full.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::expiry_map::ExpiryMap;
use crate::accounts::AccountIndex;

/// The throttle's figures; the defaults are the ones docs/security.md states.
#[derive(Clone, Debug)]
pub struct ThrottleConfig {
    pub free_failures: u32,
    /// Failures an address may have for an account and still always get
    /// its password checked.
    pub checked_failures: u32,
    /// How long an endpoint that logged in stays trusted.
    pub trust_memory: Duration,
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub pair_memory: Duration,
    pub failures_per_account: u32,
    pub account_window: Duration,
    pub failures_per_ip: u32,
    pub ip_window: Duration,
    /// Pairs, and addresses, remembered at most (each).
    pub max_tracked: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            free_failures: 5,
            checked_failures: 2,
            trust_memory: Duration::from_secs(24 * 3600),
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            pair_memory: Duration::from_secs(3600),
            failures_per_account: 7,
            account_window: Duration::from_secs(60),
            failures_per_ip: 30,
            ip_window: Duration::from_secs(60),
            max_tracked: 10_000,
        }
    }
}

/// The failures of one address for one account.
#[derive(Debug)]
struct PairFailures {
    count: u32,
    closed_until: Instant,
}

/// Failures counted in a fixed window that starts with the first of them.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// Failed logins, by (account, address), by account and by address.
#[derive(Debug)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    pairs: ExpiryMap<(AccountIndex, IpAddr), PairFailures>,
    /// Endpoints that logged in, with their failures since.
    trusted: ExpiryMap<(AccountIndex, SocketAddr), u32>,
    accounts: HashMap<AccountIndex, Window>,
    /// An entry lives one window, so its count is the window's.
    ips: ExpiryMap<IpAddr, u32>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new(ThrottleConfig::default())
    }
}

impl LoginThrottle {
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            pairs: ExpiryMap::new(config.pair_memory, config.max_tracked),
            trusted: ExpiryMap::new(config.trust_memory, config.max_tracked),
            ips: ExpiryMap::new(config.ip_window, config.max_tracked),
            accounts: HashMap::new(),
            config,
        }
    }

    /// Whether a login for `account` (`None`: no such id) from `source` may
    /// have its password checked at `now`.
    pub fn allows(&self, now: Instant, account: Option<AccountIndex>, source: SocketAddr) -> bool {
        let ip = source.ip();
        let Some(index) = account else {
            return self.ip_open(now, ip);
        };
        let trusted = self.trusted.get(&(index, source), now);
        if trusted.is_some_and(|&failures| failures < self.config.free_failures) {
            return true;
        }
        match self.pairs.get(&(index, ip), now) {
            // No recent failure from here: this may well be the owner.
            None => true,
            // A typo of hers, or one datagram forged with her address: the
            // account's ceiling, which guessers fill, is not hers to meet.
            Some(pair) if pair.count <= self.config.checked_failures => self.ip_open(now, ip),
            Some(pair) => {
                now >= pair.closed_until && self.ip_open(now, ip) && self.account_open(now, index)
            }
        }
    }

    /// Records a refused login.
    pub fn failed(&mut self, now: Instant, account: Option<AccountIndex>, source: SocketAddr) {
        let ip = source.ip();
        *self.ips.entry(ip, now, || 0) += 1;
        let Some(index) = account else {
            return;
        };
        if let Some(failures) = self.trusted.get_mut(&(index, source), now) {
            *failures += 1;
        }
        let pair = self.pairs.entry((index, ip), now, || PairFailures {
            count: 0,
            closed_until: now,
        });
        pair.count += 1;
        if let Some(over) = pair.count.checked_sub(self.config.free_failures + 1) {
            let delay = self.config.first_delay.saturating_mul(1 << over.min(20));
            pair.closed_until = now + delay.min(self.config.max_delay);
        }
        let window = self.config.account_window;
        let account = self.accounts.entry(index).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now >= account.started + window {
            *account = Window {
                started: now,
                failures: 0,
            };
        }
        account.failures += 1;
    }

    /// Records a successful login: the address's failures for the account
    /// are forgiven, and the endpoint is trusted afresh.
    pub fn succeeded(&mut self, now: Instant, account: AccountIndex, source: SocketAddr) {
        self.pairs.remove(&(account, source.ip()));
        self.trusted.remove(&(account, source));
        self.trusted.entry((account, source), now, || 0);
    }

    /// Source addresses tracked now.
    pub fn tracked_ips(&self) -> usize {
        self.ips.len()
    }

    /// (account, address) pairs tracked now.
    pub fn tracked_pairs(&self) -> usize {
        self.pairs.len()
    }

    /// Trusted (account, endpoint) pairs remembered now.
    #[cfg(test)]
    pub fn trusted_endpoints(&self) -> usize {
        self.trusted.len()
    }

    /// The work its tables did so far, in entries looked at (see
    /// [`ExpiryMap::steps`]).
    #[cfg(test)]
    pub fn steps(&self) -> u64 {
        self.pairs.steps() + self.ips.steps() + self.trusted.steps()
    }

    fn ip_open(&self, now: Instant, ip: IpAddr) -> bool {
        self.ips
            .get(&ip, now)
            .is_none_or(|&failures| failures < self.config.failures_per_ip)
    }

    fn account_open(&self, now: Instant, index: AccountIndex) -> bool {
        self.accounts.get(&index).is_none_or(|window| {
            now >= window.started + self.config.account_window
                || window.failures < self.config.failures_per_account
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::net::Ipv4Addr;

    const IP: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5000);
    const OTHER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 5000);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// The `n`th guessing address.
    fn ip(n: u32) -> SocketAddr {
        SocketAddr::new(IpAddr::from(n.to_be_bytes()), 4000)
    }

    #[test]
    fn an_address_is_closed_to_an_account_for_a_doubling_delay_after_free_failures() {
        let t0 = Instant::now();
        // The pair's rule alone: no ceiling for the account.
        let mut throttle = LoginThrottle::new(ThrottleConfig {
            failures_per_account: u32::MAX,
            ..ThrottleConfig::default()
        });
        for _ in 0..5 {
            assert!(throttle.allows(t0, Some(AccountIndex(0)), IP));
            throttle.failed(t0, Some(AccountIndex(0)), IP);
        }
        assert!(
            throttle.allows(t0, Some(AccountIndex(0)), IP),
            "five failures are free"
        );
        throttle.failed(t0, Some(AccountIndex(0)), IP);
        assert!(!throttle.allows(t0, Some(AccountIndex(0)), IP));
        assert!(!throttle.allows(
            t0 + secs(1) - Duration::from_nanos(1),
            Some(AccountIndex(0)),
            IP
        ));
        assert!(throttle.allows(t0 + secs(1), Some(AccountIndex(0)), IP));
        throttle.failed(t0 + secs(1), Some(AccountIndex(0)), IP);
        assert!(!throttle.allows(t0 + secs(2), Some(AccountIndex(0)), IP));
        assert!(
            throttle.allows(t0 + secs(3), Some(AccountIndex(0)), IP),
            "2 s after the 7th"
        );
        assert!(
            throttle.allows(t0, Some(AccountIndex(1)), IP),
            "other accounts stay open"
        );
        assert!(
            throttle.allows(t0, Some(AccountIndex(0)), OTHER),
            "and the account stays open to other addresses"
        );
    }

    #[test]
    fn the_delay_is_capped_and_success_forgives() {
        let t0 = Instant::now();
        let mut throttle = LoginThrottle::default();
        let mut now = t0;
        for _ in 0..25 {
            throttle.failed(now, Some(AccountIndex(0)), IP);
            now += secs(61);
            // Never closed for more than the cap.
            assert!(throttle.allows(now, Some(AccountIndex(0)), IP));
        }
        throttle.succeeded(now, AccountIndex(0), IP);
        throttle.failed(now, Some(AccountIndex(0)), IP);
        assert!(throttle.allows(now, Some(AccountIndex(0)), IP));
    }

    #[test]
    fn a_pairs_failures_are_forgotten_an_hour_after_the_first() {
        let t0 = Instant::now();
        let mut throttle = LoginThrottle::default();
        for _ in 0..6 {
            throttle.failed(t0, Some(AccountIndex(0)), IP);
        }
        let later = t0 + secs(3600);
        assert!(throttle.allows(later, Some(AccountIndex(0)), IP));
        throttle.failed(later, Some(AccountIndex(0)), IP);
        assert!(
            throttle.allows(later, Some(AccountIndex(0)), IP),
            "one failure, free again"
        );
    }

    /// Seen before the fix: 30 logins for unknown ids from 127.0.0.1 refused carol's right
    /// password from the same address for a minute.
    #[test]
    fn failing_on_unknown_ids_does_not_close_an_address_to_accounts_it_did_not_fail_on() {
        let t0 = Instant::now();
        let mut throttle = LoginThrottle::default();
        for _ in 0..30 {
            assert!(throttle.allows(t0, None, IP));
            throttle.failed(t0, None, IP);
        }
        assert!(!throttle.allows(t0, None, IP), "unknown ids: closed");
        assert!(
            throttle.allows(t0, Some(AccountIndex(2)), IP),
            "carol: open"
        );
        assert!(throttle.allows(t0 + secs(60), None, IP), "a minute later");
    }

    #[test]
    fn an_address_spraying_accounts_is_refused_where_it_failed_before() {
        let t0 = Instant::now();
        let mut throttle = LoginThrottle::default();
        for account in 0..30 {
            throttle.failed(t0, Some(AccountIndex(account)), IP);
        }
        // One failure each: free for the pair, but the address is over its
        // budget, so it gets no second guess at any of them...
        assert!((0..30).all(|account| !throttle.allows(t0, Some(AccountIndex(account)), IP)));
        // ...while a first try at another account is checked.
        assert!(throttle.allows(t0, Some(AccountIndex(30)), IP));
        assert!(throttle.allows(t0 + secs(60), Some(AccountIndex(0)), IP));
    }

    /// Seen before the fix: 2 wrong logins a second from another address kept alice out
    /// (1 success in 38 tries over 120 s).
    #[test]
    fn a_guesser_never_keeps_the_owner_out() {
        let t0 = Instant::now();
        let mut throttle = LoginThrottle::default();
        for half_second in 0..240 {
            let now = t0 + Duration::from_millis(500 * half_second);
            guess(&mut throttle, now);
            assert!(
                throttle.allows(now, Some(AccountIndex(0)), IP),
                "at {now:?}"
            );
        }
    }

    /// 200 addresses guessing at alice once each at `now`; returns how
    /// many guesses were let through to the password check.
    fn guess(throttle: &mut LoginThrottle, now: Instant) -> usize {
        let mut checked = 0;
        for guesser in 0..200 {
            if throttle.allows(now, Some(AccountIndex(0)), ip(guesser)) {
                throttle.failed(now, Some(AccountIndex(0)), ip(guesser));
                checked += 1;
            }
        }
        checked
    }

    /// Seen before the fix: one failure from the owner's address (a typo, or
    /// a datagram forged with it) put her under the account's ceiling, which
    /// the guessers kept full: 0 of 22 right passwords accepted. Here, both.
    #[test]
    fn two_failures_from_the_owners_address_do_not_hand_her_to_the_guessers() {
        let t0 = Instant::now();
        let mut throttle = LoginThrottle::default();
        for half_second in 0..240 {
            let now = t0 + Duration::from_millis(500 * half_second);
            guess(&mut throttle, now);
            if half_second == 20 || half_second == 40 {
                throttle.failed(now, Some(AccountIndex(0)), IP);
            }
            assert!(
                throttle.allows(now, Some(AccountIndex(0)), IP),
                "at {half_second} half seconds"
            );
        }
    }

    /// Guessers on the owner's own IP (every local client is 127.0.0.1)
    /// close that IP to her account; her client's endpoint, which logged in
    /// before, stays open, and a new one is not.
    #[test]
    fn a_trusted_endpoint_is_not_closed_by_guessers_on_its_ip() {
        let t0 = Instant::now();
        let mut throttle = LoginThrottle::default();
        let alice = Some(AccountIndex(0));
        throttle.succeeded(t0, AccountIndex(0), IP);
        let neighbour = |port| SocketAddr::new(IP.ip(), port);
        for port in 6000..6100 {
            if throttle.allows(t0, alice, neighbour(port)) {
                throttle.failed(t0, alice, neighbour(port));
            }
        }
        assert!(
            !throttle.allows(t0, alice, neighbour(7000)),
            "the IP is closed"
        );
        assert!(throttle.allows(t0, alice, IP), "her endpoint is not");
        // Her own typos at it are hers: up to the free failures.
        for _ in 0..4 {
            throttle.failed(t0, alice, IP);
            assert!(throttle.allows(t0, alice, IP));
        }
    }

    /// Only datagrams forged with her exact address and port can close her
    /// endpoint: five of them take its trust, and while guessers elsewhere
    /// keep the account's ceiling full, she is out until the forged
    /// failures are forgotten, an hour after the first.
    #[test]
    fn five_datagrams_forged_with_a_trusted_endpoint_take_its_trust_for_an_hour() {
        let t0 = Instant::now();
        let mut throttle = LoginThrottle::default();
        let alice = Some(AccountIndex(0));
        throttle.succeeded(t0, AccountIndex(0), IP);
        for _ in 0..5 {
            throttle.failed(t0, alice, IP);
        }
        let mut open = Vec::new();
        for second in 1..=3700 {
            let now = t0 + secs(second);
            guess(&mut throttle, now);
            if throttle.allows(now, alice, IP) {
                open.push(second);
            }
        }
        assert_eq!(
            open.first(),
            Some(&3600),
            "{:?}",
            &open[..open.len().min(5)]
        );
        assert_eq!(open.len(), 101, "open from then on");
    }

    #[test]
    fn guessing_from_many_addresses_meets_the_accounts_ceiling() {
        let t0 = Instant::now();
        let mut throttle = LoginThrottle::default();
        let guesses: usize = (0..3600)
            .map(|second| guess(&mut throttle, t0 + secs(second)))
            .sum();
        // Each address's first three guesses, then 7 a minute:
        // docs/security.md.
        assert_eq!(guesses, 3 * 200 + 59 * 7);
    }

    #[test]
    fn guessing_from_one_address_gets_69_guesses_an_hour() {
        let t0 = Instant::now();
        let mut throttle = LoginThrottle::default();
        let mut guesses = Vec::new();
        for tenth in 0..36_000 {
            let now = t0 + Duration::from_millis(100 * tenth);
            if throttle.allows(now, Some(AccountIndex(0)), IP) {
                throttle.failed(now, Some(AccountIndex(0)), IP);
                guesses.push(now - t0);
            }
        }
        // docs/security.md: 6 at once and one a second later (the account's
        // 7 a minute), then the pair's delays (up to a minute apart).
        let first_minute = guesses.iter().filter(|&&at| at < secs(60)).count();
        assert_eq!((first_minute, guesses.len()), (7, 69));
    }

    #[test]
    fn tracked_addresses_and_pairs_are_bounded() {
        let t0 = Instant::now();
        let mut throttle = LoginThrottle::new(ThrottleConfig {
            max_tracked: 100,
            ..ThrottleConfig::default()
        });
        for i in 0..10_000u32 {
            throttle.failed(t0, Some(AccountIndex(i as usize % 7)), ip(i));
        }
        assert_eq!(throttle.tracked_ips(), 100);
        assert_eq!(throttle.tracked_pairs(), 100);
        for i in 0..10_000u32 {
            throttle.succeeded(t0, AccountIndex(i as usize % 7), ip(i));
        }
        assert_eq!(throttle.trusted_endpoints(), 100);
        throttle.failed(t0 + secs(61), None, OTHER);
        assert_eq!(
            throttle.tracked_ips(),
            1,
            "windows that are over are forgotten"
        );
    }

    /// Seen before the fix: with 10,000 live addresses every failed login from a new one
    /// scanned the whole table, 8 times dearer than with an empty table.
    /// Counted in entries looked at, not timed.
    #[test]
    fn a_failed_login_costs_the_same_with_a_full_table() {
        let t0 = Instant::now();
        let cost_of_1000_failures = |throttle: &mut LoginThrottle, first: u32| {
            let before = throttle.steps();
            for n in first..first + 1000 {
                let account = Some(AccountIndex(n as usize % 3));
                assert!(throttle.allows(t0, account, ip(n)));
                throttle.failed(t0, account, ip(n));
            }
            throttle.steps() - before
        };
        let mut empty = LoginThrottle::default();
        let empty_cost = cost_of_1000_failures(&mut empty, 0);
        let mut full = LoginThrottle::default();
        cost_of_1000_failures(&mut full, 1_000_000);
        for n in 0..10_000 {
            full.failed(t0, None, ip(n));
        }
        assert_eq!(full.tracked_ips(), 10_000);
        let full_cost = cost_of_1000_failures(&mut full, 20_000);
        assert!(
            2 * full_cost <= 3 * empty_cost,
            "full: {full_cost} steps, empty: {empty_cost}"
        );
    }
}
