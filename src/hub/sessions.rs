//! The session table: a session for each account online now, and nothing
//! for the others.
//!
//! Sessions live in a slab, a `Vec` of slots whose vacant ones are chained
//! in a free list: a login takes a vacant slot (or adds one), a logoff,
//! expiry, replacement or removed account gives it back. A slot's number
//! is a [`SessionId`], the small key the hub's timer queue refers to. A
//! table by account (a `Vec` of 4-byte slot numbers, indexed by
//! [`AccountIndex`]) finds an account's session in one read.
//!
//! So an account costs nothing here before the first login, then at most 4
//! bytes (its entry in the table by account, whose pages are made as
//! logins touch them: a million accounts, 4 MB at most); an idle online
//! session costs its 88-byte slot, which with its timer entry stays under
//! 200 bytes (asserted in `hub/tests/bounds.rs`); what a session gathers
//! from traffic is in a box made at its first use (`Session::traffic_mut`).
//! (A hash table by account would cost nothing for accounts that never log
//! in, but a probe of it was 7% of the hub's bench with 100,000 sessions.)

use super::session::Session;
use crate::accounts::AccountIndex;

/// A session's slot in the table: valid while the session lives, then
/// given to the next login. The timer queue keys its entries on it, and
/// checks when one fires whether it still means the same deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(u32);

impl SessionId {
    fn slot(self) -> usize {
        self.0 as usize
    }
}

/// A slot of the slab: a session, or a link in the chain of vacant slots.
#[derive(Debug)]
enum Slot {
    Live(Session),
    Vacant { next: Option<SessionId> },
}

/// Every online session, found by its [`SessionId`] or its account.
#[derive(Debug, Default)]
pub struct Sessions {
    slots: Vec<Slot>,
    /// The vacant slot a login takes next, if any.
    free: Option<SessionId>,
    /// How many slots hold a session.
    live: usize,
    /// By account: its session's slot, plus one; 0 for none.
    by_account: Vec<u32>,
}

impl Sessions {
    /// The session of `account`, if it is online here.
    pub fn find(&self, account: AccountIndex) -> Option<SessionId> {
        match self.by_account.get(account.0) {
            Some(&held) if held > 0 => Some(SessionId(held - 1)),
            _ => None,
        }
    }

    /// The session of `account`, if it is online here.
    pub fn of(&self, account: AccountIndex) -> Option<&Session> {
        self.get(self.find(account)?)
    }

    /// The session of `account`, if it is online here, to change.
    pub fn of_mut(&mut self, account: AccountIndex) -> Option<&mut Session> {
        self.get_mut(self.find(account)?)
    }

    /// The session in slot `id`, if it holds one.
    pub fn get(&self, id: SessionId) -> Option<&Session> {
        match self.slots.get(id.slot())? {
            Slot::Live(session) => Some(session),
            Slot::Vacant { .. } => None,
        }
    }

    /// The session in slot `id`, if it holds one, to change.
    pub fn get_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        match self.slots.get_mut(id.slot())? {
            Slot::Live(session) => Some(session),
            Slot::Vacant { .. } => None,
        }
    }

    /// Puts `session` in a vacant slot; its account must have none.
    pub fn insert(&mut self, session: Session) -> SessionId {
        let account = session.account();
        let id = match self.free {
            Some(id) => {
                let slot = &mut self.slots[id.slot()];
                if let Slot::Vacant { next } = slot {
                    self.free = *next;
                }
                *slot = Slot::Live(session);
                id
            }
            None => {
                self.reserve_slot();
                self.slots.push(Slot::Live(session));
                SessionId((self.slots.len() - 1) as u32)
            }
        };
        if account.0 >= self.by_account.len() {
            self.grow_by_account(account.0 + 1);
        }
        self.by_account[account.0] = id.0 + 1;
        self.live += 1;
        id
    }

    /// Takes the session of `account` out, if it has one; its slot is
    /// vacant from now on.
    pub fn remove(&mut self, account: AccountIndex) -> Option<Session> {
        let id = self.find(account)?;
        self.by_account[account.0] = 0;
        let vacant = Slot::Vacant { next: self.free };
        let Slot::Live(session) = std::mem::replace(&mut self.slots[id.slot()], vacant) else {
            return None; // the table names only live slots
        };
        self.free = Some(id);
        self.live -= 1;
        Some(session)
    }

    /// Sessions online.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Every session online, with its slot.
    pub fn iter(&self) -> impl Iterator<Item = (SessionId, &Session)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(slot, entry)| match entry {
                Slot::Live(session) => Some((SessionId(slot as u32), session)),
                Slot::Vacant { .. } => None,
            })
    }

    /// The bytes the table holds on the heap: its slots, vacant ones
    /// included, and its table by account.
    #[cfg(test)]
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>() + self.by_account_bytes()
    }

    /// The bytes of the table by account: they follow the accounts that
    /// logged in, not the sessions.
    #[cfg(test)]
    pub fn by_account_bytes(&self) -> usize {
        self.by_account.capacity() * std::mem::size_of::<u32>()
    }

    /// The bytes of the sessions' traffic boxes, with what the allocator
    /// adds to each (not what their queues hold, which their bounds cap).
    #[cfg(test)]
    pub fn traffic_bytes(&self) -> usize {
        /// What glibc's allocator adds to a small allocation: a header.
        const ALLOCATOR_OVERHEAD: usize = 16;
        let boxes = self.iter().filter(|(_, s)| s.traffic().is_some()).count();
        boxes * (std::mem::size_of::<super::session::Traffic>() + ALLOCATOR_OVERHEAD)
    }

    /// Room in the table by account for `len` accounts, and an eighth
    /// more. A zeroed block costs nothing until written (the allocator
    /// asks the system for pages that are zero when first touched), so the
    /// table costs 4 bytes for each account up to the highest that logged
    /// in, and the pages of 1,024 accounts at a time that logins touch; a
    /// growth copies only what was there.
    fn grow_by_account(&mut self, len: usize) {
        let len = len.max(self.by_account.len() * 9 / 8);
        let mut grown = vec![0; len];
        grown[..self.by_account.len()].copy_from_slice(&self.by_account);
        self.by_account = grown;
    }

    /// Room for one more slot. The slab grows by a quarter at a time, not
    /// by doubling, so that its spare slots stay a small part of what each
    /// online session costs (a copy of every slot at each growth is cheap
    /// next to the logins that filled it).
    fn reserve_slot(&mut self) {
        if self.slots.len() == self.slots.capacity() {
            self.slots.reserve_exact((self.slots.len() / 4).max(64));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::wire::SessionToken;

    fn session(account: usize) -> Session {
        let token = SessionToken::generate(&mut StdRng::seed_from_u64(7));
        let addr = "127.0.0.1:9".parse().unwrap();
        Session::new(AccountIndex(account), token, addr, Instant::now())
    }

    #[test]
    fn a_freed_slot_is_taken_by_the_next_login() {
        let mut sessions = Sessions::default();
        let alice = sessions.insert(session(7));
        let bob = sessions.insert(session(1_000_000));
        assert_eq!(sessions.find(AccountIndex(7)), Some(alice));
        assert_eq!(sessions.find(AccountIndex(1_000_000)), Some(bob));
        assert_eq!(sessions.find(AccountIndex(8)), None);
        assert!(sessions.remove(AccountIndex(7)).is_some());
        assert!(sessions.remove(AccountIndex(7)).is_none(), "once");
        assert_eq!((sessions.len(), sessions.find(AccountIndex(7))), (1, None));
        assert!(sessions.get(alice).is_none(), "its slot is vacant");
        let carol = sessions.insert(session(3));
        assert_eq!(carol, alice, "the same slot");
        assert_eq!(
            sessions.of(AccountIndex(3)).map(Session::account),
            Some(AccountIndex(3))
        );
        let live: Vec<_> = sessions.iter().map(|(id, _)| id).collect();
        assert_eq!(live, [carol, bob]);
    }

    #[test]
    fn logins_and_logoffs_reuse_the_slots_they_freed() {
        let mut sessions = Sessions::default();
        for round in 0..20 {
            for account in 0..1000 {
                sessions.insert(session(round * 1000 + account));
            }
            for account in 0..1000 {
                assert!(sessions
                    .remove(AccountIndex(round * 1000 + account))
                    .is_some());
            }
        }
        assert_eq!(sessions.len(), 0);
        assert!(
            sessions.slots.len() <= 1000,
            "{} slots",
            sessions.slots.len()
        );
    }
}
