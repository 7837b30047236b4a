//! Accounts a reload replaced, given back a piece at a time.
//!
//! A million accounts hold some 40 MB in a few large blocks, and giving a
//! block of that size back to the system (`munmap`) costs about a
//! millisecond per 10 MB: dropped at once, they would hold the loop for
//! milliseconds right after a reload that took care never to. So the hub
//! hands the old accounts back, and the server frees them a megabyte or a
//! table at a time, between turns, as it read the new ones.

use std::mem;

use hashbrown::HashTable;

use super::{Accounts, Entry};

/// Accounts to free, in pieces.
#[derive(Debug)]
pub struct Retired {
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    tables: Vec<HashTable<u32>>,
}

impl From<Accounts> for Retired {
    fn from(accounts: Accounts) -> Self {
        Self {
            bytes: accounts.bytes,
            entries: accounts.entries,
            tables: vec![accounts.live, accounts.removed],
        }
    }
}

impl Retired {
    /// Frees a table, or about `bytes` bytes of a buffer; says whether
    /// anything is left.
    pub fn free(&mut self, bytes: usize) -> bool {
        if let Some(table) = self.tables.pop() {
            drop(table);
        } else if !self.bytes.is_empty() {
            shrink(&mut self.bytes, bytes);
        } else {
            shrink(&mut self.entries, bytes / mem::size_of::<Entry>());
        }
        !self.tables.is_empty() || self.bytes.capacity() > 0 || self.entries.capacity() > 0
    }
}

/// Gives back the last `count` items' room of `buffer` (in place: a
/// smaller block keeps its start, so nothing is copied).
fn shrink<T>(buffer: &mut Vec<T>, count: usize) {
    buffer.truncate(buffer.len().saturating_sub(count.max(1)));
    buffer.shrink_to_fit();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retired_accounts_are_freed_a_piece_at_a_time() {
        let text: String = (0..10_000).map(|n| format!("u{n:07}:p{n:07}\n")).collect();
        let mut retired = Retired::from(Accounts::parse(&text).unwrap());
        let mut pieces = 0;
        while retired.free(16 << 10) {
            pieces += 1;
        }
        // Two tables, 160 KB of ids and passwords in 10 pieces, 120 KB of
        // entries in 8 (the last frees all, and says so).
        assert_eq!(pieces, 2 + 10 + 7);
        assert_eq!(
            (retired.bytes.capacity(), retired.entries.capacity()),
            (0, 0)
        );
    }
}
