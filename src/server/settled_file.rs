//! The accounts file, reloaded on SIGHUP only once it has stopped changing.
//!
//! An editor or a script that rewrites the file in place leaves it half
//! written for a moment; a reload that read it then would end sessions and
//! refuse right passwords. So a SIGHUP notes the file's size and
//! modification time, and the reload waits until they have stayed the same
//! for [`SETTLE`]; it reads the file then, and reads it again later if they
//! changed while it read. (Replacing the file by a rename is atomic and
//! never half-written: docs/operations.md.)

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::accounts::{Accounts, AccountsError, AccountsWarning};

/// How long the file must stay unchanged before it is read.
pub const SETTLE: Duration = Duration::from_millis(100);

/// What a reload read: the accounts and their warnings, or why not.
pub type Loaded = Result<(Accounts, Vec<AccountsWarning>), AccountsError>;

/// The file's size and modification time; `None` if it cannot be read
/// (then the reload reads it, and says why it cannot).
type Stamp = Option<(u64, SystemTime)>;

/// The accounts file a SIGHUP asks to read again.
pub struct SettledFile {
    path: PathBuf,
    /// Since a SIGHUP: when to look again, and what the file was like.
    waiting: Option<(Instant, Stamp)>,
}

impl SettledFile {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            waiting: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A SIGHUP: the file is read once it has settled (a second SIGHUP
    /// meanwhile starts the wait again).
    pub fn asked(&mut self, now: Instant) {
        self.waiting = Some((now + SETTLE, stamp(&self.path)));
    }

    /// When [`on_deadline`](Self::on_deadline) wants to be called.
    pub fn deadline(&self) -> Option<Instant> {
        self.waiting.map(|(at, _)| at)
    }

    /// The file, read, if it has stayed the same since the last look and
    /// while it was read; otherwise it is looked at again after [`SETTLE`].
    pub fn on_deadline(&mut self, now: Instant) -> Option<Loaded> {
        let (at, before) = self.waiting?;
        if now < at {
            return None;
        }
        let seen = stamp(&self.path);
        if seen != before {
            self.waiting = Some((now + SETTLE, seen));
            return None;
        }
        let loaded = Accounts::load(&self.path);
        let after = stamp(&self.path);
        if after != seen {
            log::debug!("{}: changed while read: read again", self.path.display());
            self.waiting = Some((now + SETTLE, after));
            return None;
        }
        self.waiting = None;
        Some(loaded)
    }
}

fn stamp(path: &Path) -> Stamp {
    let metadata = fs::metadata(path).ok()?;
    Some((metadata.len(), metadata.modified().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_read_only_once_it_has_stayed_the_same() {
        let path = std::env::temp_dir().join(format!("settled-{}.conf", std::process::id()));
        fs::write(&path, "alice:wonderland\n").unwrap();
        let mut file = SettledFile::new(path.clone());
        let t0 = Instant::now();
        assert_eq!(file.deadline(), None);
        file.asked(t0);
        assert_eq!(file.deadline(), Some(t0 + SETTLE));
        assert!(file.on_deadline(t0 + SETTLE / 2).is_none(), "not yet");
        // Written to meanwhile: looked at again a SETTLE later.
        fs::write(&path, "alice:wonderland\nbob:builder\n").unwrap();
        assert!(file.on_deadline(t0 + SETTLE).is_none());
        assert_eq!(file.deadline(), Some(t0 + 2 * SETTLE));
        let (accounts, _) = file.on_deadline(t0 + 2 * SETTLE).unwrap().unwrap();
        assert_eq!(accounts.len(), 2);
        assert_eq!(file.deadline(), None, "done");
        fs::remove_file(&path).unwrap();
    }
}
