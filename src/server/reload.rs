//! The accounts file, read again on SIGHUP: once it has stopped changing,
//! and then a slice at a time, between the loop's other work.
//!
//! An editor or a script that rewrites the file in place leaves it half
//! written for a moment; a reload that read it then would end sessions and
//! refuse right passwords. So a SIGHUP notes the file's size and
//! modification time, and the reload waits until they have stayed the same
//! for [`SETTLE`]; it reads the file then, and starts over if they changed
//! while it read. (Replacing the file by a rename is atomic and never
//! half-written: docs/operations.md.)
//!
//! Reading a million accounts takes the better part of a second, far too
//! long to hold the Reactor: every chat would freeze. So the reading is
//! the server's backlog (docs/reactor.md, "Long work"): each turn of the
//! loop gives it one [`SLICE`] of time (read a piece of the file, place its
//! lines, look at the clock, again), then the loop polls its sources and
//! serves what came. The accounts being replaced serve every login
//! meanwhile; the new ones replace them at once, when the last slice ends.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::accounts::{Accounts, AccountsError, AccountsFile, AccountsWarning, Retired, Update};

/// How long the file must stay unchanged before it is read.
pub const SETTLE: Duration = Duration::from_millis(100);

/// How long one slice of a reload may hold the loop, about: it stops at
/// the first look at the clock past this.
pub const SLICE: Duration = Duration::from_millis(1);

/// Entries copied or indexed between two looks at the clock: each insert
/// into a table that was just made may fault in a page of it (some
/// microseconds each), so the steps are short.
const STEP: usize = 1 << 8;

/// Bytes of replaced accounts freed between two looks at the clock.
const FREE: usize = 1 << 20;

/// A reload that has read the whole file.
pub struct Reloaded {
    pub accounts: Accounts,
    pub update: Update,
    pub warnings: Vec<AccountsWarning>,
    /// From the first slice to the last.
    pub took: Duration,
    pub slices: u32,
    /// The longest slice: how long the loop was held at most.
    pub longest: Duration,
}

/// What a reload came to: the new accounts, or why the old ones stay.
pub type Loaded = Result<Reloaded, AccountsError>;

/// The file's size and modification time; `None` if it cannot be read
/// (then the reload opens it, and says why it cannot).
type Stamp = Option<(u64, SystemTime)>;

/// The accounts file a SIGHUP asks to read again.
pub struct Reload {
    path: PathBuf,
    state: State,
    /// The accounts that reloads replaced, freed a slice at a time too.
    retired: Vec<Retired>,
}

enum State {
    Idle,
    /// Since a SIGHUP: when to look again, and what the file was like.
    Settling {
        at: Instant,
        stamp: Stamp,
    },
    /// Reading it a slice at a time.
    Reading(Box<Reading>),
}

/// A reload under way.
struct Reading {
    file: AccountsFile,
    /// The file's stamp when it was opened: another at the end means it
    /// changed while read.
    stamp: Stamp,
    started: Instant,
    slices: u32,
    longest: Duration,
}

impl Reload {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            state: State::Idle,
            retired: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A SIGHUP: the file is read once it has settled. A second SIGHUP
    /// while it settles starts the wait again; while it is read, drops
    /// what was read and starts over (the file may have changed since):
    /// says whether a reading was dropped.
    pub fn asked(&mut self, now: Instant) -> bool {
        let dropped = matches!(self.state, State::Reading(_));
        self.state = State::Settling {
            at: now + SETTLE,
            stamp: stamp(&self.path),
        };
        dropped
    }

    /// When [`on_deadline`](Self::on_deadline) wants to be called.
    pub fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Settling { at, .. } => Some(at),
            _ => None,
        }
    }

    /// Whether a reading is under way.
    pub fn is_reading(&self) -> bool {
        matches!(self.state, State::Reading(_))
    }

    /// Whether a reading is under way or replaced accounts wait to be
    /// freed: the server's backlog, which [`slice`](Self::slice) takes on.
    pub fn has_work(&self) -> bool {
        self.is_reading() || !self.retired.is_empty()
    }

    /// Accounts that a reload replaced, to free in the slices to come.
    pub fn retire(&mut self, accounts: Accounts) {
        self.retired.push(accounts.into());
    }

    /// If the file has stayed the same since the last look, opens it to be
    /// read in slices; otherwise looks again after [`SETTLE`]. An error if
    /// it cannot be opened.
    pub fn on_deadline(&mut self, now: Instant, old: &Accounts) -> Option<AccountsError> {
        let State::Settling { at, stamp: before } = self.state else {
            return None;
        };
        if now < at {
            return None;
        }
        let seen = stamp(&self.path);
        if seen != before {
            self.state = State::Settling {
                at: now + SETTLE,
                stamp: seen,
            };
            return None;
        }
        match AccountsFile::open(&self.path, old) {
            Ok(file) => {
                self.state = State::Reading(Box::new(Reading {
                    file,
                    stamp: seen,
                    started: now,
                    slices: 0,
                    longest: Duration::ZERO,
                }));
                None
            }
            Err(err) => {
                self.state = State::Idle;
                Some(err)
            }
        }
    }

    /// One slice of the reading: pieces of work until [`SLICE`] has
    /// passed. What it came to, once the file is read.
    pub fn slice(&mut self, now: Instant, old: &Accounts) -> Option<Loaded> {
        let began = Instant::now();
        if !self.is_reading() {
            self.free_retired(began);
            return None;
        }
        let loaded = loop {
            if let Some(loaded) = self.piece(now, old) {
                break Some(loaded);
            }
            if !self.is_reading() || began.elapsed() >= SLICE {
                break None;
            }
        };
        let took = began.elapsed();
        match (&mut self.state, loaded) {
            (State::Reading(reading), None) => {
                reading.slices += 1;
                reading.longest = reading.longest.max(took);
                let progress = reading.file.progress();
                log::trace!(target: "reload", "slice {}: {took:.1?}, {progress}", reading.slices);
                None
            }
            (_, Some(Ok(mut reloaded))) => {
                reloaded.slices += 1;
                reloaded.longest = reloaded.longest.max(took);
                log::trace!(target: "reload", "slice {}: {took:.1?}, the last: done", reloaded.slices);
                Some(Ok(reloaded))
            }
            (_, other) => other,
        }
    }

    /// Frees replaced accounts until [`SLICE`] has passed since `began`.
    fn free_retired(&mut self, began: Instant) {
        while let Some(retired) = self.retired.last_mut() {
            if !retired.free(FREE) {
                self.retired.pop();
                log::trace!(target: "reload", "the accounts replaced are freed");
            }
            if began.elapsed() >= SLICE {
                return;
            }
        }
    }

    /// One piece of the reading: a piece of the file read and its lines
    /// placed, or a step of the work after the last line. Accounts read
    /// from a file that changed meanwhile are not applied: it is read
    /// again once it has settled.
    pub(super) fn piece(&mut self, now: Instant, old: &Accounts) -> Option<Loaded> {
        let State::Reading(reading) = &mut self.state else {
            return None;
        };
        let read = reading.file.piece(old, STEP)?;
        let seen = stamp(&self.path);
        if read.is_ok() && seen != reading.stamp {
            log::debug!("{}: changed while read: read again", self.path.display());
            self.state = State::Settling {
                at: now + SETTLE,
                stamp: seen,
            };
            return None;
        }
        let (took, slices, longest) = (reading.started.elapsed(), reading.slices, reading.longest);
        self.state = State::Idle;
        Some(read.map(|(accounts, update, warnings)| Reloaded {
            accounts,
            update,
            warnings,
            took,
            slices,
            longest,
        }))
    }
}

fn stamp(path: &Path) -> Stamp {
    let metadata = fs::metadata(path).ok()?;
    Some((metadata.len(), metadata.modified().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file in the temporary directory, removed when dropped.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, text: &str) -> Self {
            let path = std::env::temp_dir().join(format!("{name}-{}.conf", std::process::id()));
            fs::write(&path, text).unwrap();
            Self(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            _ = fs::remove_file(&self.0);
        }
    }

    fn many(accounts: usize) -> String {
        (0..accounts)
            .map(|n| format!("u{n:07}:p{n:07}\n"))
            .collect()
    }

    /// Settles, then reads in pieces to the end: what it came to, and in
    /// how many pieces.
    fn reload(reload: &mut Reload, old: &Accounts, t0: Instant) -> (Loaded, usize) {
        reload.asked(t0);
        read_to_end(reload, old, t0)
    }

    /// As [`reload`], for a reload asked for at `t`.
    fn read_to_end(reload: &mut Reload, old: &Accounts, t: Instant) -> (Loaded, usize) {
        assert!(reload.on_deadline(t + SETTLE, old).is_none());
        assert!(reload.is_reading());
        for pieces in 1.. {
            if let Some(loaded) = reload.piece(t + SETTLE, old) {
                assert!(!reload.is_reading());
                return (loaded, pieces);
            }
        }
        unreachable!()
    }

    /// A reload of a file of 10,000 accounts, one piece into the reading.
    fn under_way(name: &str) -> (TempFile, Reload, Instant) {
        let file = TempFile::new(name, &many(10_000));
        let mut reload = Reload::new(file.0.clone());
        let t0 = Instant::now();
        reload.asked(t0);
        reload.on_deadline(t0 + SETTLE, &Accounts::default());
        let piece = reload.piece(t0 + SETTLE, &Accounts::default());
        assert!(piece.is_none() && reload.is_reading());
        (file, reload, t0 + SETTLE)
    }

    #[test]
    fn the_file_is_read_only_once_it_has_stayed_the_same() {
        let file = TempFile::new("settled", "alice:wonderland\n");
        let mut reload = Reload::new(file.0.clone());
        let old = Accounts::default();
        let t0 = Instant::now();
        assert_eq!(reload.deadline(), None);
        reload.asked(t0);
        assert_eq!(reload.deadline(), Some(t0 + SETTLE));
        assert!(reload.on_deadline(t0 + SETTLE / 2, &old).is_none());
        assert!(!reload.is_reading(), "not yet");
        // Written to meanwhile: looked at again a SETTLE later.
        fs::write(&file.0, "alice:wonderland\nbob:builder\n").unwrap();
        assert!(reload.on_deadline(t0 + SETTLE, &old).is_none());
        assert_eq!(reload.deadline(), Some(t0 + 2 * SETTLE));
        assert!(!reload.is_reading());
        assert!(reload.on_deadline(t0 + 2 * SETTLE, &old).is_none());
        assert!(reload.is_reading(), "settled: read in slices now");
        assert_eq!(reload.deadline(), None);
        let loaded = loop {
            if let Some(loaded) = reload.slice(t0 + 2 * SETTLE, &old) {
                break loaded.unwrap();
            }
        };
        assert_eq!(loaded.accounts.len(), 2);
        assert_eq!(loaded.update.added, 2);
    }

    #[test]
    fn a_big_file_is_read_in_many_pieces_and_keeps_the_indexes() {
        let file = TempFile::new("pieces", &many(100_000));
        let (old, _) = Accounts::load(&file.0).unwrap();
        let mut text = many(100_000).replacen("u0000005:p0000005\n", "", 1);
        text.push_str("erin:e\n");
        fs::write(&file.0, &text).unwrap();
        let (loaded, pieces) = reload(&mut Reload::new(file.0.clone()), &old, Instant::now());
        let loaded = loaded.unwrap();
        // 1.8 MB in pieces of 16 KiB, and 100,000 entries copied and
        // indexed in steps of 16,384.
        assert!(
            pieces >= 1_800_000 / AccountsFile::PIECE + 2 * 100_000 / STEP,
            "{pieces}"
        );
        let (accounts, update) = (loaded.accounts, loaded.update);
        assert_eq!(
            update.to_string(),
            "1 added, 1 removed, 0 passwords changed"
        );
        assert_eq!(update.removed, [old.find("u0000005").unwrap()]);
        assert_eq!(accounts.find("u0099999"), old.find("u0099999"));
        assert_eq!(accounts.find("erin").map(|i| i.0), Some(100_000));
        assert!(accounts.password_matches(accounts.find("erin").unwrap(), b"e"));
    }

    #[test]
    fn a_sighup_while_the_file_is_read_starts_the_reading_over() {
        let (file, mut reload, t) = under_way("again");
        fs::write(&file.0, "alice:wonderland\n").unwrap();
        assert!(reload.asked(t), "a reading was dropped");
        assert!(!reload.is_reading());
        let (loaded, _) = read_to_end(&mut reload, &Accounts::default(), t);
        assert_eq!(loaded.unwrap().accounts.len(), 1, "the file as it is now");
    }

    #[test]
    fn a_file_changed_while_read_is_read_again_once_settled() {
        let (file, mut reload, t) = under_way("changed");
        let old = Accounts::default();
        // Rewritten in place, to another size, before the end is read.
        fs::write(&file.0, many(20_000)).unwrap();
        while reload.is_reading() {
            assert!(reload.piece(t, &old).is_none(), "never applied");
        }
        assert_eq!(reload.deadline(), Some(t + SETTLE), "settling again");
        let (loaded, _) = read_to_end(&mut reload, &old, t);
        assert_eq!(loaded.unwrap().accounts.len(), 20_000);
    }

    #[test]
    fn a_broken_line_ends_the_reading_and_names_the_file_and_line() {
        let mut text = many(50_000);
        text.push_str("u0000007:again\n");
        let file = TempFile::new("broken", &text);
        let (loaded, _) = reload(
            &mut Reload::new(file.0.clone()),
            &Accounts::default(),
            Instant::now(),
        );
        let err = loaded.err().unwrap().to_string();
        let expected = "50001: repeated id \"u0000007\" (first on line 8)";
        assert!(err.ends_with(expected), "{err}");
        assert!(err.starts_with(&file.0.display().to_string()), "{err}");
    }
}
