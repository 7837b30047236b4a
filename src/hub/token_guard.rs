//! Slowing down token guessing.
//!
//! A session's token is all that stands between a forger who knows an id
//! and that id's session: send `alice->bob#<GUESS><MSGID>hi` until one is
//! forwarded. Each source IP may have [`TOKEN_GUESSES_PER_SECOND`] wrong
//! tokens a second; past that, the rest of the second, its datagrams that
//! carry a token are dropped unchecked and unanswered. So one address makes
//! at most that many guesses a second, and the hub's token errors (sent to
//! the real client's address, whoever sent the forgery) cannot be used to
//! flood it. Datagrams from the session's own address are always checked:
//! a guesser behind the same NAT cannot shut its owner out.
//!
//! Memory is bounded by an [`ExpiryMap`] of at most [`MAX_SOURCES`]
//! addresses, each remembered for one second.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::expiry_map::ExpiryMap;

/// Wrong tokens checked (and answered) per source IP and second.
pub const TOKEN_GUESSES_PER_SECOND: u32 = 20;

/// Source addresses remembered at most.
const MAX_SOURCES: usize = 10_000;

/// Wrong tokens by source IP, in the current second of each.
#[derive(Debug)]
pub struct TokenGuard {
    wrong: ExpiryMap<IpAddr, u32>,
}

impl Default for TokenGuard {
    fn default() -> Self {
        Self {
            wrong: ExpiryMap::new(Duration::from_secs(1), MAX_SOURCES),
        }
    }
}

impl TokenGuard {
    /// Whether a token from `source` may be checked now. `session_addr`
    /// is where the session it claims registered at login.
    pub fn may_check(
        &self,
        now: Instant,
        source: SocketAddr,
        session_addr: Option<SocketAddr>,
    ) -> bool {
        session_addr == Some(source) || self.guesses_left(now, source.ip())
    }

    /// Counts a wrong token from `source`; whether it may be answered.
    pub fn wrong(&mut self, now: Instant, source: SocketAddr) -> bool {
        let answer = self.guesses_left(now, source.ip());
        *self.wrong.entry(source.ip(), now, || 0) += 1;
        answer
    }

    /// Source addresses remembered now.
    pub fn tracked(&self) -> usize {
        self.wrong.len()
    }

    fn guesses_left(&self, now: Instant, ip: IpAddr) -> bool {
        self.wrong
            .get(&ip, now)
            .is_none_or(|&wrong| wrong < TOKEN_GUESSES_PER_SECOND)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_a_budget_of_wrong_tokens_a_second() {
        let t0 = Instant::now();
        let mut guard = TokenGuard::default();
        let guesser: SocketAddr = "10.0.0.9:4000".parse().unwrap();
        let owner: SocketAddr = "10.0.0.9:5000".parse().unwrap();
        for n in 0..TOKEN_GUESSES_PER_SECOND {
            assert!(guard.may_check(t0, guesser, Some(owner)), "guess {n}");
            assert!(guard.wrong(t0, guesser), "guess {n}");
        }
        assert!(!guard.may_check(t0, guesser, Some(owner)));
        assert!(!guard.may_check(t0, owner, None), "the whole IP");
        assert!(
            guard.may_check(t0, owner, Some(owner)),
            "but the owner's own address"
        );
        assert!(!guard.wrong(t0, owner), "checked, but not answered");
        assert!(guard.may_check(t0 + Duration::from_secs(1), guesser, Some(owner)));
    }
}
