//! The session table: one [`Session`] per account, at the account's
//! [`AccountIndex`], so that finding a session costs one lookup of its id.

use std::ops::{Index, IndexMut};

use super::session::Session;
use crate::accounts::AccountIndex;

/// Every account's session, in account order.
pub struct Sessions(Vec<Session>);

impl Sessions {
    /// An offline session for each of `accounts` accounts.
    pub fn new(accounts: usize) -> Self {
        Self((0..accounts).map(|_| Session::default()).collect())
    }

    /// An offline session for every account added since: the table holds
    /// one per index ever given out (`Accounts::indexes`).
    pub fn grow(&mut self, indexes: usize) {
        self.0
            .resize_with(indexes.max(self.0.len()), Session::default);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Each session with its account's index.
    pub fn iter(&self) -> impl Iterator<Item = (AccountIndex, &Session)> {
        self.0
            .iter()
            .enumerate()
            .map(|(index, session)| (AccountIndex(index), session))
    }
}

impl Index<AccountIndex> for Sessions {
    type Output = Session;

    fn index(&self, index: AccountIndex) -> &Session {
        &self.0[index.0]
    }
}

impl IndexMut<AccountIndex> for Sessions {
    fn index_mut(&mut self, index: AccountIndex) -> &mut Session {
        &mut self.0[index.0]
    }
}
