//! What the hub remembers of a session after it ended, for a while: the
//! address its login named, where replies to its client still go, and
//! after a logoff the token it ended, so that a resent logoff (its reply
//! was lost) is answered `Success` again.
//!
//! The session itself is freed when it ends; this is all that is kept, in
//! an [`ExpiryMap`] of at most [`MAX_ENDED`] accounts, each forgotten
//! [`ENDED_MEMORY`] after its session ended (docs/protocol.md, "Where
//! replies go"). Once forgotten, the account is answered as one that never
//! logged in: at the datagram's source.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::expiry_map::ExpiryMap;
use crate::accounts::AccountIndex;
use crate::wire::SessionToken;

/// How long an ended session is remembered.
pub const ENDED_MEMORY: Duration = Duration::from_secs(300);

/// Ended sessions remembered at most: when more end within
/// [`ENDED_MEMORY`], the oldest is forgotten first.
pub const MAX_ENDED: usize = 16_384;

/// Why a session ends here: what its forwards are given up for, and what
/// `--trace` gives as the cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// A logoff, with the token it ended.
    Logoff(SessionToken),
    Expired,
    AccountRemoved,
}

impl Ending {
    /// Why its forwards were given up.
    pub fn why(self) -> &'static str {
        match self {
            Ending::Logoff(_) => "logoff",
            Ending::Expired => "session expired",
            Ending::AccountRemoved => "account removed",
        }
    }

    /// The cause of its transition to `OFFLINE`, for `--trace`.
    pub fn cause(self) -> &'static str {
        match self {
            Ending::Logoff(_) => "logoff",
            Ending::Expired => "expired",
            Ending::AccountRemoved => "account removed",
        }
    }

    /// The token a logoff ended.
    pub fn logged_off(self) -> Option<SessionToken> {
        match self {
            Ending::Logoff(token) => Some(token),
            Ending::Expired | Ending::AccountRemoved => None,
        }
    }
}

/// What is left of a session that ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ended {
    /// Where the session's replies went.
    pub addr: SocketAddr,
    /// The token a logoff ended, if a logoff ended it.
    pub logged_off: Option<SessionToken>,
}

/// The sessions that ended lately, by account.
#[derive(Debug)]
pub struct EndedSessions(ExpiryMap<AccountIndex, Ended>);

impl Default for EndedSessions {
    fn default() -> Self {
        Self(ExpiryMap::new(ENDED_MEMORY, MAX_ENDED))
    }
}

impl EndedSessions {
    /// Remembers that the session of `account` ended at `now`.
    pub fn ended(&mut self, account: AccountIndex, ended: Ended, now: Instant) {
        // Removed first, so that its lifetime starts now.
        self.0.remove(&account);
        self.0.entry(account, now, || ended);
    }

    /// What is left of the last session of `account`, if it ended lately.
    pub fn get(&self, account: AccountIndex, now: Instant) -> Option<Ended> {
        self.0.get(&account, now).copied()
    }

    /// Forgets `account`'s ended session: it logged in again.
    pub fn forget(&mut self, account: AccountIndex) {
        self.0.remove(&account);
    }

    /// Ended sessions remembered now, expired ones not yet dropped included.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An end by expiry, replies to `port`.
    fn expired(port: u16) -> Ended {
        Ended {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            logged_off: None,
        }
    }

    #[test]
    fn an_ended_session_is_remembered_for_a_while() {
        let t0 = Instant::now();
        let mut ended = EndedSessions::default();
        ended.ended(AccountIndex(3), expired(6001), t0);
        let later = t0 + ENDED_MEMORY - Duration::from_millis(1);
        assert_eq!(ended.get(AccountIndex(3), later), Some(expired(6001)));
        assert_eq!(ended.get(AccountIndex(3), t0 + ENDED_MEMORY), None);
        ended.forget(AccountIndex(3));
        assert_eq!(ended.len(), 0);
    }

    #[test]
    fn a_second_end_lives_its_own_lifetime() {
        let t0 = Instant::now();
        let mut ended = EndedSessions::default();
        ended.ended(AccountIndex(3), expired(6001), t0);
        ended.ended(
            AccountIndex(3),
            expired(6002),
            t0 + Duration::from_secs(200),
        );
        let t2 = t0 + ENDED_MEMORY + Duration::from_secs(1);
        assert_eq!(ended.get(AccountIndex(3), t2), Some(expired(6002)));
    }

    #[test]
    fn at_most_max_ended_are_remembered() {
        let t0 = Instant::now();
        let mut ended = EndedSessions::default();
        for account in 0..MAX_ENDED + 10 {
            ended.ended(AccountIndex(account), expired(6001), t0);
        }
        assert_eq!(ended.len(), MAX_ENDED);
        assert_eq!(ended.get(AccountIndex(0), t0), None, "the oldest went");
    }
}
