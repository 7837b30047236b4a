//! An accounts file read into a [`Rebuild`], a piece of work at a time:
//! all of it at once at start ([`Accounts::load`]), a slice a turn at a
//! reload (the server's `Reload`).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::{Accounts, AccountsError, AccountsWarning, Progress, Rebuild, Rebuilt, Update};

/// What reading a file came to: its accounts, what changed against the
/// ones it replaces, and the lines that load but look like mistakes; or,
/// naming the file (and the line), why nothing changes.
pub type FileRead = Result<(Accounts, Update, Vec<AccountsWarning>), AccountsError>;

/// An accounts file being read.
#[derive(Debug)]
pub struct AccountsFile {
    path: PathBuf,
    file: File,
    rebuild: Rebuild,
    buffer: Vec<u8>,
}

impl AccountsFile {
    /// Bytes read from the file at a time: about 900 lines, a tenth of a
    /// millisecond of work.
    pub const PIECE: usize = 16 << 10;

    /// Opens `path` to be read against `old`, the accounts it replaces.
    pub fn open(path: &Path, old: &Accounts) -> Result<Self, AccountsError> {
        let cannot_read = |err| AccountsError::at(path, None, format!("cannot read: {err}"));
        let file = File::open(path).map_err(cannot_read)?;
        let size = file.metadata().map_err(cannot_read)?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            rebuild: Rebuild::new(old, usize::try_from(size).unwrap_or(usize::MAX)),
            buffer: vec![0; Self::PIECE],
        })
    }

    /// One piece of the work: a piece of the file read and its lines
    /// placed, or a step of at most `work` after the last line. What the
    /// reading came to, once it has ended.
    pub fn piece(&mut self, old: &Accounts, work: usize) -> Option<FileRead> {
        let path = &self.path;
        let at_line = |(line, problem)| AccountsError::at(path, Some(line), problem);
        if !self.rebuild.wants_bytes() {
            let Rebuilt {
                accounts,
                update,
                warnings,
            } = self.rebuild.step(old, work)?;
            let warnings = warnings.into_iter().map(at_line).map(AccountsWarning);
            return Some(Ok((accounts, update, warnings.collect())));
        }
        let fed = match self.file.read(&mut self.buffer) {
            Ok(0) => self.rebuild.end_of_file(old),
            Ok(read) => self.rebuild.feed(old, &self.buffer[..read]),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(err) => {
                let problem = format!("cannot read: {err}");
                return Some(Err(AccountsError::at(path, None, problem)));
            }
        };
        fed.err().map(|error| Err(at_line(error)))
    }

    /// How far the reading has come, for the trace.
    pub fn progress(&self) -> Progress {
        self.rebuild.progress()
    }
}
