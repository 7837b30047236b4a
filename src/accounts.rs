//! The accounts file: one `ID:PASSWORD` a line, read once at start.
//!
//! Every error names the file and, where there is one, the line, so that a
//! person can fix the file without reading code.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};

use crate::wire::{self, SERVER_ID};

/// The accounts the hub knows, each with a dense [`AccountIndex`] at which
/// the hub keeps its session.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    ids: Vec<Box<str>>,
    passwords: Vec<Box<[u8]>>,
    index: HashMap<Box<str>, AccountIndex, BuildHasherDefault<IdHasher>>,
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

/// An account's place in [`Accounts`]: the hub keeps each account's session
/// at it, and other tables key on it instead of the id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountIndex(pub(crate) usize);

impl Accounts {
    /// Reads and checks an accounts file.
    pub fn load(path: &Path) -> Result<Self, AccountsError> {
        let text = std::fs::read_to_string(path).map_err(|err| AccountsError {
            path: path.to_path_buf(),
            line: None,
            problem: format!("cannot read: {err}"),
        })?;
        Self::parse(&text).map_err(|(line, problem)| AccountsError {
            path: path.to_path_buf(),
            line: Some(line),
            problem,
        })
    }

    /// Parses the text of an accounts file; an error gives the line number.
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let mut accounts = Accounts::default();
        let mut first_line: HashMap<&str, usize> = HashMap::new();
        for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l)) {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let (id, password) = line
                .split_once(':')
                .ok_or((number, "malformed line: expected ID:PASSWORD".to_string()))?;
            if !wire::is_valid_id(id) {
                return Err((
                    number,
                    format!("bad id {id:?}: use 1 to 32 of A-Z a-z 0-9 _ . -"),
                ));
            }
            if id == SERVER_ID {
                return Err((number, format!("the id {SERVER_ID:?} is reserved")));
            }
            if password.contains(['<', '>']) {
                return Err((number, "a password cannot contain '<' or '>'".to_string()));
            }
            if let Some(first) = first_line.insert(id, number) {
                return Err((
                    number,
                    format!("repeated id {id:?} (first on line {first})"),
                ));
            }
            accounts.add(id, password.as_bytes());
        }
        Ok(accounts)
    }

    /// Adds an account; the caller has checked the id.
    pub fn add(&mut self, id: &str, password: &[u8]) -> AccountIndex {
        let index = AccountIndex(self.ids.len());
        self.ids.push(id.into());
        self.passwords.push(password.into());
        self.index.insert(id.into(), index);
        index
    }

    /// The index of the account with this id.
    pub fn find(&self, id: &str) -> Option<AccountIndex> {
        self.index.get(id).copied()
    }

    /// The id of an account.
    pub fn id(&self, index: AccountIndex) -> &str {
        &self.ids[index.0]
    }

    /// Whether `password` is this account's, compared in constant time.
    pub fn password_matches(&self, index: AccountIndex, password: &[u8]) -> bool {
        wire::constant_time_eq(&self.passwords[index.0], password)
    }

    /// How many accounts there are.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// A problem with the accounts file, printed as `FILE:LINE: problem`.
#[derive(Debug)]
pub struct AccountsError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub problem: String,
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

    #[test]
    fn reads_accounts_and_skips_comments_and_blank_lines() {
        let accounts = Accounts::parse(
            "# demo\n\n  # an indented comment\n\t#tabbed\nalice:pw:with:colons\r\nbob:\n",
        )
        .unwrap();
        assert_eq!(accounts.len(), 2);
        let alice = accounts.find("alice").unwrap();
        assert!(accounts.password_matches(alice, b"pw:with:colons"));
        assert!(!accounts.password_matches(alice, b"pw"));
        assert!(accounts.password_matches(accounts.find("bob").unwrap(), b""));
        assert_eq!(accounts.find("carol"), None);
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("alice:a\nno colon here\n", 2, "malformed"),
            ("al ice:pw\n", 1, "bad id"),
            (":pw\n", 1, "bad id"),
            ("server:pw\n", 1, "reserved"),
            ("alice:p<w>\n", 1, "'<'"),
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
    fn a_missing_file_is_named() {
        let err = Accounts::load(Path::new("/no/such/users.conf")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("/no/such/users.conf: cannot read:"),
            "{text}"
        );
    }
}
