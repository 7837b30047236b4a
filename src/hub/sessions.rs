//! The session table: one [`Session`] per account, at the account's
//! [`AccountIndex`], so that finding a session costs one lookup of its id.
//!
//! An account that never logged in costs a null pointer (8 bytes): its
//! session is made the first time the hub writes to it. With a million
//! accounts, most of them idle, the table is 8 MB, not 200.

use std::ops::{Index, IndexMut};

use super::session::{Session, SessionState};
use crate::accounts::AccountIndex;

/// The session of every account that has none yet: offline, nothing kept.
static NEVER_LOGGED_IN: Session = Session {
    online: None,
    addr: None,
    logged_off_token: None,
    wake_at: None,
    reported: SessionState::Offline,
};

/// Every account's session, in account order; `None` until one is made.
pub struct Sessions(Vec<Option<Box<Session>>>);

impl Sessions {
    /// A table for `accounts` accounts, none of them with a session yet.
    pub fn new(accounts: usize) -> Self {
        Self((0..accounts).map(|_| None).collect())
    }

    /// Room for every account added since: the table has a slot per index
    /// ever given out (`Accounts::indexes`).
    pub fn grow(&mut self, indexes: usize) {
        self.0.resize_with(indexes.max(self.0.len()), || None);
    }

    /// Slots, one per account index.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Each session made so far, with its account's index.
    pub fn iter(&self) -> impl Iterator<Item = (AccountIndex, &Session)> {
        self.0
            .iter()
            .enumerate()
            .filter_map(|(index, session)| Some((AccountIndex(index), session.as_deref()?)))
    }
}

impl Index<AccountIndex> for Sessions {
    type Output = Session;

    fn index(&self, index: AccountIndex) -> &Session {
        self.0[index.0].as_deref().unwrap_or(&NEVER_LOGGED_IN)
    }
}

impl IndexMut<AccountIndex> for Sessions {
    /// The session, made now if the account has none yet.
    fn index_mut(&mut self, index: AccountIndex) -> &mut Session {
        self.0[index.0].get_or_insert_with(Box::default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_costs_a_pointer_until_its_session_is_written() {
        let mut sessions = Sessions::new(1000);
        assert_eq!(std::mem::size_of::<Option<Box<Session>>>(), 8);
        assert_eq!(sessions[AccountIndex(7)].state(), SessionState::Offline);
        assert_eq!(sessions.iter().count(), 0, "reading makes nothing");
        sessions[AccountIndex(7)].addr = Some("127.0.0.1:9".parse().unwrap());
        let made: Vec<_> = sessions.iter().map(|(index, _)| index).collect();
        assert_eq!(made, [AccountIndex(7)]);
        sessions.grow(2000);
        assert_eq!(sessions.len(), 2000);
    }
}
