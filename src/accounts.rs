//! The accounts file: one `ID:PASSWORD` a line, read at start and again
//! when the hub is asked to reload it ([`Rebuild`], a piece at a time).
//!
//! Every error names the file and, where there is one, the line, so that a
//! person can fix the file without reading code.

use std::fmt;
use std::hash::Hasher;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use hashbrown::HashTable;

use crate::wire;

mod file;
mod rebuild;
mod retired;
pub use file::{AccountsFile, FileRead};
pub use rebuild::{Progress, Rebuild, Rebuilt};
pub use retired::Retired;

/// The accounts the hub knows, each with a dense [`AccountIndex`] that the
/// hub's tables key on.
///
/// Compact, for millions of accounts: every id and password lies in one
/// byte arena, each index has a 12-byte `Entry` saying where, and the
/// tables by id hold indexes (4 bytes), not strings: no allocation per
/// account.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    /// Every id, each followed by its password (none once removed).
    bytes: Vec<u8>,
    /// By index: where its id and password are. Removed accounts' too: an
    /// index is never given to another id, so a forward from a removed
    /// account still names its sender.
    entries: Vec<Entry>,
    /// The live accounts' indexes, by id.
    live: HashTable<u32>,
    /// The removed ones': added back, an account gets its index again, so
    /// that reloads that remove and re-add accounts grow nothing.
    removed: HashTable<u32>,
}

/// Where an account's id and password are in [`Accounts::bytes`].
#[derive(Debug, Clone, Copy)]
struct Entry {
    start: u32,
    /// The password's length; `None` once the account was removed (or
    /// for an empty password, which a file cannot give): no password
    /// matches. (Never zero, so that the option takes no more room.)
    password: Option<NonZeroU32>,
    id_len: u8,
}

/// What a reload changed ([`Rebuilt::update`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Update {
    pub added: usize,
    /// The accounts removed, whose sessions must end.
    pub removed: Vec<AccountIndex>,
    pub passwords_changed: usize,
}

impl fmt::Display for Update {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let passwords = match self.passwords_changed {
            1 => "password",
            _ => "passwords",
        };
        write!(
            f,
            "{} added, {} removed, {} {passwords} changed",
            self.added,
            self.removed.len(),
            self.passwords_changed
        )
    }
}

/// FNV-1a, the hash of the id index: the hub looks up two ids per message.
///
/// The standard `HashMap` hashes with SipHash, keyed at random, so that an
/// attacker who chooses the *keys stored* in a table cannot make them all
/// collide. Here the stored keys come from the accounts file, never from the
/// network: an id that arrives in a datagram is only looked up, which costs
/// one probe sequence whatever its hash. So a plain, much faster hash is safe.
pub struct IdHasher(u64);

impl Default for IdHasher {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// An account's place in [`Accounts`], the same across reloads: the hub's
/// tables (its sessions by account, the throttle's) key on it instead of
/// the id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountIndex(pub(crate) usize);

/// A line number and what is wrong on that line.
type AtLine = (usize, String);

/// The hash of an id in the tables by id.
fn hash_id(id: &[u8]) -> u64 {
    let mut hasher = IdHasher::default();
    hasher.write(id);
    hasher.finish()
}

impl Accounts {
    /// Reads and checks an accounts file. The warnings are lines that load
    /// but may not do what their author meant; the caller logs them.
    ///
    /// In one pass, a piece at a time (the file is never whole in memory):
    /// the lines of the first piece tell how many the file holds, about, so
    /// that the tables are made once.
    pub fn load(path: &Path) -> Result<(Self, Vec<AccountsWarning>), AccountsError> {
        let none = Accounts::default();
        let mut file = AccountsFile::open(path, &none)?;
        loop {
            if let Some(read) = file.piece(&none, usize::MAX) {
                let (accounts, _, warnings) = read?;
                return Ok((accounts, warnings));
            }
        }
    }

    /// Parses accounts written in code, whose warnings nobody would read; an
    /// error gives the line number.
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        Self::parse_with_warnings(text).map(|(accounts, _)| accounts)
    }

    /// Parses the text of an accounts file; an error and each warning give
    /// the line number.
    fn parse_with_warnings(text: &str) -> Result<(Self, Vec<AtLine>), AtLine> {
        let rebuilt = Rebuild::run(&Accounts::default(), text.as_bytes())?;
        Ok((rebuilt.accounts, rebuilt.warnings))
    }

    /// These accounts as `text` would make them, with what changed: the
    /// whole of a reload at once (the server's runs in slices, through
    /// [`Rebuild`]).
    pub fn reread(&self, text: &str) -> Result<Rebuilt, (usize, String)> {
        Rebuild::run(self, text.as_bytes())
    }

    /// Adds an account (or finds it, if its id is there); the caller has
    /// checked the id (at most 32 bytes) and that the arena stays under
    /// 4 GiB (a file's size does).
    pub fn add(&mut self, id: &str, password: &[u8]) -> AccountIndex {
        self.insert(id.as_bytes(), password)
            .unwrap_or_else(|index| index)
    }

    /// Adds an account, or gives the index of the one with that id.
    fn insert(&mut self, id: &[u8], password: &[u8]) -> Result<AccountIndex, AccountIndex> {
        let id = (hash_id(id), id);
        insert_new(
            &mut self.live,
            &mut self.bytes,
            &mut self.entries,
            id,
            password,
        )
        .map(|i| AccountIndex(i as usize))
        .map_err(|i| AccountIndex(i as usize))
    }

    /// The index of the account with this id.
    pub fn find(&self, id: &str) -> Option<AccountIndex> {
        self.find_bytes(id.as_bytes())
            .map(|i| AccountIndex(i as usize))
    }

    fn find_bytes(&self, id: &[u8]) -> Option<u32> {
        self.live
            .find(hash_id(id), |&i| self.id_bytes(i) == id)
            .copied()
    }

    /// The index of the account with this id (whose hash is `hash`), live
    /// or removed.
    fn find_any(&self, hash: u64, id: &[u8]) -> Option<u32> {
        let eq = |&i: &u32| self.id_bytes(i) == id;
        let live = self.live.find(hash, eq);
        live.or_else(|| self.removed.find(hash, eq)).copied()
    }

    /// The id of an account.
    pub fn id(&self, index: AccountIndex) -> &str {
        // Ids are checked ASCII when they are added.
        std::str::from_utf8(self.id_bytes(index.0 as u32)).unwrap_or_default()
    }

    /// The id at index `i` (which must have been given out), as the table
    /// by id compares it: public for an index of `u32`s kept outside this
    /// crate, the sorted array that `benches/accounts.rs` weighs against
    /// the table, whose every probe must cost what the table's does (no
    /// UTF-8 check, as [`Accounts::id`] makes).
    pub fn id_bytes(&self, i: u32) -> &[u8] {
        id_of(&self.bytes, &self.entries, i)
    }

    fn password(&self, i: u32) -> Option<&[u8]> {
        let entry = self.entries[i as usize];
        let start = entry.start as usize + usize::from(entry.id_len);
        Some(&self.bytes[start..start + entry.password?.get() as usize])
    }

    /// Whether `password` is this account's, compared in constant time.
    pub fn password_matches(&self, index: AccountIndex, password: &[u8]) -> bool {
        self.password(index.0 as u32)
            .is_some_and(|ours| wire::constant_time_eq(ours, password))
    }

    /// How many accounts there are.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// The heap the accounts take, in bytes.
    #[cfg(test)]
    fn heap_bytes(&self) -> usize {
        let index = std::mem::size_of::<u32>() + 1; // and a control byte
        self.bytes.capacity()
            + self.entries.capacity() * std::mem::size_of::<Entry>()
            + (self.live.capacity() + self.removed.capacity()) * index
    }

    /// How many indexes were ever given out, removed accounts' included.
    #[cfg(test)]
    fn indexes(&self) -> usize {
        self.entries.len()
    }
}

/// Adds an account to `table` (and its id and password to the arena) at
/// the next index, unless an account there has its id (whose hash comes
/// with it): one probe of the table for both. Gives the index, the new one or the one found.
fn insert_new(
    table: &mut HashTable<u32>,
    bytes: &mut Vec<u8>,
    entries: &mut Vec<Entry>,
    (hash, id): (u64, &[u8]),
    password: &[u8],
) -> Result<u32, u32> {
    let found = table.entry(
        hash,
        |&i| id_of(bytes, entries, i) == id,
        rehash(bytes, entries),
    );
    match found {
        hashbrown::hash_table::Entry::Occupied(entry) => Err(*entry.get()),
        hashbrown::hash_table::Entry::Vacant(entry) => {
            let index = entries.len() as u32;
            entry.insert(index);
            entries.push(append(bytes, id, Some(password)));
            Ok(index)
        }
    }
}

/// Appends an id and its password (if live) to an arena; says where.
fn append(bytes: &mut Vec<u8>, id: &[u8], password: Option<&[u8]>) -> Entry {
    let start = bytes.len() as u32;
    bytes.extend_from_slice(id);
    bytes.extend_from_slice(password.unwrap_or_default());
    Entry {
        start,
        password: password.and_then(|p| NonZeroU32::new(p.len() as u32)),
        id_len: id.len() as u8,
    }
}

/// How a table by id hashes the indexes it holds, when it grows.
fn rehash<'a>(bytes: &'a [u8], entries: &'a [Entry]) -> impl Fn(&u32) -> u64 + 'a {
    move |&i| hash_id(id_of(bytes, entries, i))
}

/// The id at index `i`.
fn id_of<'a>(bytes: &'a [u8], entries: &[Entry], i: u32) -> &'a [u8] {
    let entry = entries[i as usize];
    let start = entry.start as usize;
    &bytes[start..start + usize::from(entry.id_len)]
}

/// What is odd about a password's ends, if anything: a space or tab there
/// is easily typed by mistake and unseen, yet every login must repeat it.
fn blank_ends(password: &str) -> Option<&'static str> {
    let blank = |c: Option<char>| matches!(c, Some(' ' | '\t'));
    match (
        blank(password.chars().next()),
        blank(password.chars().next_back()),
    ) {
        (true, true) => Some("begins and ends with a space or tab; they are part of the password"),
        (true, false) => Some("begins with a space or tab; it is part of the password"),
        (false, true) => Some("ends with a space or tab; it is part of the password"),
        (false, false) => None,
    }
}

/// A line of the accounts file that loads but looks like a mistake: told
/// as an error is, but it stops nothing.
#[derive(Debug)]
pub struct AccountsWarning(pub AccountsError);

impl fmt::Display for AccountsWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A problem with the accounts file, printed as `FILE:LINE: problem`.
#[derive(Debug)]
pub struct AccountsError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub problem: String,
}

impl AccountsError {
    /// A problem with the file at `path`, at `line` if there is one.
    pub fn at(path: &Path, line: Option<usize>, problem: String) -> Self {
        Self {
            path: path.to_path_buf(),
            line,
            problem,
        }
    }
}

impl fmt::Display for AccountsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.problem)
    }
}

impl std::error::Error for AccountsError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rereads `accounts` from `text`, as a reload does; says what changed.
    fn reread(accounts: &mut Accounts, text: &str) -> Update {
        let rebuilt = accounts.reread(text).unwrap();
        *accounts = rebuilt.accounts;
        rebuilt.update
    }

    #[test]
    fn reads_accounts_and_skips_comments_and_blank_lines() {
        let accounts = Accounts::parse(
            "# demo\n\n  # an indented comment\n\t#tabbed\nalice:pw:with:colons\r\nbob:b\n",
        )
        .unwrap();
        assert_eq!(accounts.len(), 2);
        let alice = accounts.find("alice").unwrap();
        assert!(accounts.password_matches(alice, b"pw:with:colons"));
        assert!(!accounts.password_matches(alice, b"pw"));
        assert!(accounts.password_matches(accounts.find("bob").unwrap(), b"b"));
        assert_eq!(accounts.find("carol"), None);
    }

    #[test]
    fn an_update_adds_removes_and_changes_and_keeps_the_indexes_of_the_rest() {
        let mut accounts = Accounts::parse("alice:a\nbob:b\ncarol:c\n").unwrap();
        let (alice, bob, carol) = (
            accounts.find("alice").unwrap(),
            accounts.find("bob").unwrap(),
            accounts.find("carol").unwrap(),
        );
        let update = reread(&mut accounts, "carol:c2\nalice:a\ndave:d\nerin:e\n");
        assert_eq!(
            update,
            Update {
                added: 2,
                removed: vec![bob],
                passwords_changed: 1,
            }
        );
        assert_eq!(update.to_string(), "2 added, 1 removed, 1 password changed");
        assert_eq!(accounts.find("alice"), Some(alice), "kept its index");
        assert_eq!(accounts.find("carol"), Some(carol));
        assert_eq!(accounts.find("bob"), None);
        assert!(
            !accounts.password_matches(bob, b"b"),
            "removed: nothing matches"
        );
        assert_eq!(accounts.id(bob), "bob", "still named, for its forwards");
        assert!(accounts.password_matches(carol, b"c2"));
        assert!(!accounts.password_matches(carol, b"c"));
        assert_eq!((accounts.len(), accounts.indexes()), (4, 5));
        // Back again: its old index, with no session (that ended at its
        // removal), and no new slot.
        let update = reread(&mut accounts, "alice:a\nbob:b2\n");
        assert_eq!((update.added, update.removed.len()), (1, 3));
        assert_eq!(accounts.find("bob"), Some(bob));
        assert!(accounts.password_matches(bob, b"b2"));
        assert_eq!((accounts.len(), accounts.indexes()), (2, 5));
        assert_eq!(
            reread(&mut accounts, "bob:b2\nalice:a\n"),
            Update::default()
        );
    }

    /// Seen before: about 360 bytes an account (a `String` id, a boxed
    /// password, a hash map entry, with the session slot); the goal is 40.
    #[test]
    fn an_account_takes_about_its_bytes_and_twenty_more() {
        let file: String = (0..100_000).map(|n| format!("u{n:07}:p{n:07}\n")).collect();
        let accounts = Accounts::parse(&file).unwrap();
        let per_account = accounts.heap_bytes() / accounts.len();
        // 16 bytes of id and password, 12 of entry, 4 to 9 of index.
        assert_eq!(std::mem::size_of::<Entry>(), 12);
        assert!(per_account <= 40, "{per_account} bytes an account");
        assert_eq!(accounts.find("u0099999"), Some(AccountIndex(99_999)));
        assert!(accounts.password_matches(AccountIndex(7), b"p0000007"));
    }

    /// Seen before: 20 reloads that removed 100,000 accounts and added them
    /// back took the hub from 37 to 559 MB, each re-added account at a new
    /// index (and a new slot in every table kept by index).
    #[test]
    fn accounts_removed_and_added_back_many_times_take_no_new_indexes() {
        let all: String = (0..1000).map(|n| format!("u{n}:p{n}\n")).collect();
        let half: String = (0..500).map(|n| format!("u{n}:p{n}\n")).collect();
        let mut accounts = Accounts::parse(&all).unwrap();
        let u999 = accounts.find("u999");
        // The first cycle gives the tables a reload's room to spare.
        reread(&mut accounts, &half);
        reread(&mut accounts, &all);
        let bytes = accounts.heap_bytes();
        for _ in 0..20 {
            assert_eq!(reread(&mut accounts, &half).removed.len(), 500);
            assert_eq!(reread(&mut accounts, &all).added, 500);
        }
        assert_eq!((accounts.len(), accounts.indexes()), (1000, 1000));
        assert_eq!(accounts.find("u999"), u999);
        assert!(
            accounts.heap_bytes() <= bytes,
            "{} > {bytes}",
            accounts.heap_bytes()
        );
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("alice:a\nno colon here\n", 2, "malformed"),
            ("al ice:pw\n", 1, "bad id"),
            (":pw\n", 1, "bad id"),
            ("server:pw\n", 1, "reserved"),
            ("alice:p<w>\n", 1, "'<'"),
            ("alice:a\nbob:\r\n", 2, "the password of \"bob\" is empty"),
            ("# old Mac\nalice:a\rbob:b\r", 2, "carriage return"),
            (
                "alice:a\n\nalice:b\n",
                3,
                "repeated id \"alice\" (first on line 1)",
            ),
        ];
        for (text, line, words) in cases {
            let (number, problem) = Accounts::parse(text).unwrap_err();
            assert_eq!(number, line, "{text:?}");
            assert!(problem.contains(words), "{problem}");
        }
    }

    #[test]
    fn blanks_at_a_password_s_ends_are_kept_and_warned_of_by_line() {
        let text =
            "# odd\nalice:wonderland \nbob:\tbuilder\ncarol: s3 cret\t\ndave:in the middle\n";
        let (accounts, warnings) = Accounts::parse_with_warnings(text).unwrap();
        let expected = [
            (
                2,
                "the password of \"alice\" ends with a space or tab; it is part of the password",
            ),
            (
                3,
                "the password of \"bob\" begins with a space or tab; it is part of the password",
            ),
            (
                4,
                "the password of \"carol\" begins and ends with a space or tab; \
                 they are part of the password",
            ),
        ];
        let warnings: Vec<_> = warnings.iter().map(|(n, w)| (*n, w.as_str())).collect();
        assert_eq!(warnings, expected);
        let matches = |id, password: &str| {
            accounts.password_matches(accounts.find(id).unwrap(), password.as_bytes())
        };
        assert!(matches("alice", "wonderland ") && !matches("alice", "wonderland"));
        assert!(matches("bob", "\tbuilder") && !matches("bob", "builder"));
        assert!(matches("carol", " s3 cret\t"));
        assert!(matches("dave", "in the middle"));
    }

    /// A file saved on Windows reads as its Unix twin: `\r` is no part of
    /// a password, also on a last line without `\n`.
    #[test]
    fn crlf_line_ends_are_no_part_of_a_password() {
        let unix = "# demo\nalice:wonderland\nbob:builder\n";
        let windows = unix.replace('\n', "\r\n");
        for text in [&windows, windows.trim_end_matches('\n')] {
            let (accounts, warnings) = Accounts::parse_with_warnings(text).unwrap();
            assert_eq!(warnings, vec![], "{text:?}");
            for (id, password) in [("alice", "wonderland"), ("bob", "builder")] {
                let index = accounts.find(id).unwrap();
                assert!(
                    accounts.password_matches(index, password.as_bytes()),
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn the_demo_file_has_no_warnings() {
        let (accounts, warnings) =
            Accounts::parse_with_warnings(include_str!("../users.conf")).unwrap();
        assert_eq!((accounts.len(), warnings), (4, vec![]));
    }

    /// A file larger than a piece is read in pieces, as if whole; a line
    /// that is not text is named with its number.
    #[test]
    fn a_file_is_loaded_a_piece_at_a_time() {
        let path = std::env::temp_dir().join(format!("load-{}.conf", std::process::id()));
        let text: String = (0..10_000).map(|n| format!("u{n:07}:p{n:07}\n")).collect();
        assert!(text.len() > 2 * AccountsFile::PIECE);
        std::fs::write(&path, &text).unwrap();
        let (loaded, warnings) = Accounts::load(&path).unwrap();
        let parsed = Accounts::parse(&text).unwrap();
        assert_eq!((loaded.len(), warnings.len()), (10_000, 0));
        assert_eq!(loaded.find("u0009999"), parsed.find("u0009999"));
        assert!(loaded.password_matches(loaded.find("u0004242").unwrap(), b"p0004242"));
        std::fs::write(&path, b"alice:a\n# \xff\nbob:\xe9\n").unwrap();
        let err = Accounts::load(&path).unwrap_err().to_string();
        assert!(
            err.ends_with(":2: not UTF-8 text: save the file as UTF-8"),
            "{err}"
        );
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = Accounts::load(Path::new("/no/such/users.conf")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("/no/such/users.conf: cannot read:"),
            "{text}"
        );
    }
}
