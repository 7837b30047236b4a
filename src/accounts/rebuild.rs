//! Reading an accounts file into [`Accounts`] a piece at a time, so that a
//! reload of a million accounts never holds the Reactor for long.
//!
//! The file's bytes come in as they are read ([`Rebuild::feed`]), and each
//! whole line is checked and placed at once; the work that follows the last
//! line (marking the accounts the file no longer has, and building the
//! tables by id) is done in steps of a bounded size ([`Rebuild::step`]).
//! The caller decides how much to do between two turns of its loop: this
//! module reads no clock and no file. The accounts being replaced (`old`)
//! serve logins meanwhile, untouched; they are passed to every call, and
//! the result replaces them at once.
//!
//! An account of `old` that the file still has keeps its index, so its
//! session stays; one that `old` had removed gets its index back; an id new
//! to both gets the next index, in the file's order.

use std::{fmt, mem};

use hashbrown::HashTable;

use super::{
    append, blank_ends, hash_id, id_of, insert_new, rehash, AccountIndex, Accounts, AtLine, Entry,
    Update,
};
use crate::wire::{self, SERVER_ID};

/// Accounts being read from a file, against the accounts they replace.
#[derive(Debug)]
pub struct Rebuild {
    stage: Stage,
    /// How many indexes `old` had given out: the new ones come after.
    old_indexes: usize,
    /// The new arena: the file's ids and passwords, then removed ids.
    bytes: Vec<u8>,
    /// By index, old and new; an old one's holds `old`'s until the file
    /// names it or the end marks it removed.
    entries: Vec<Entry>,
    /// By index: the line that named it, 0 if none has (yet). Longer
    /// than `entries` (room for new ids, zeroed); pushed to beyond.
    line_of: Vec<u32>,
    /// Ids that `old` has never seen, by index: the duplicates among them
    /// are found here, and at the end they are the start of the live table.
    new_ids: HashTable<u32>,
    /// The start of a line whose end has not been fed yet.
    partial: Vec<u8>,
    /// Lines read so far.
    lines: usize,
    /// Accounts the file holds so far.
    accounts: usize,
    update: Update,
    warnings: Vec<AtLine>,
    /// The file's size, while the room for a file read against no accounts
    /// is still to be guessed from its first piece.
    unguessed: Option<usize>,
}

/// How far a rebuild has come.
#[derive(Debug)]
enum Stage {
    /// Copying `old`'s entries (a step at a time: with ten million
    /// accounts, that is 120 MB), before the first line can be placed.
    Copying,
    /// Taking the file's lines as they are fed.
    Reading,
    /// The file has ended: marking what it did not name, and building the
    /// tables by id, from index `next` on.
    Indexing {
        next: usize,
        live: HashTable<u32>,
        removed: HashTable<u32>,
    },
}

/// How far a rebuild has come: `copied 16384 of 200000 accounts`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    Copying { done: usize, of: usize },
    Reading { lines: usize },
    Indexing { done: usize, of: usize },
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Copying { done, of } => write!(f, "copied {done} of {of} accounts"),
            Self::Reading { lines } => write!(f, "read to line {lines}"),
            Self::Indexing { done, of } => {
                write!(f, "the file read, {done} of {of} accounts indexed")
            }
        }
    }
}

/// What a rebuild made: the accounts, what changed since `old`, and the
/// lines that load but look like mistakes.
#[derive(Debug)]
pub struct Rebuilt {
    pub accounts: Accounts,
    pub update: Update,
    pub warnings: Vec<AtLine>,
}

impl Rebuild {
    /// Starts reading a file of `file_bytes` bytes that replaces `old`.
    ///
    /// With room for all of it at once: growing an arena or a table copies
    /// it whole, and with a million accounts that copy would hold the loop
    /// for tens of milliseconds. The arena needs no more than the file
    /// (less each line's `:` and `\n`) and the removed ids; the count of
    /// new ids is guessed from the file's size and the old accounts'
    /// length, with an eighth to spare; against no accounts, from the lines
    /// of the first piece fed.
    pub fn new(old: &Accounts, file_bytes: usize) -> Self {
        // A larger file fails at the line that crosses 4 GiB.
        let file_bytes = file_bytes.min(u32::MAX as usize);
        let old_indexes = old.entries.len();
        // No accounts, no length to guess from: the first piece tells.
        let lines = match old_indexes {
            0 => 0,
            n => file_bytes / (old.bytes.len() / n + 2),
        };
        let new_ids = lines.saturating_sub(old.len()) + lines / 8 + 1024;
        let indexes = old_indexes + new_ids;
        Self {
            stage: Stage::Copying,
            old_indexes,
            bytes: Vec::with_capacity(file_bytes + old.bytes.len() / 8),
            entries: Vec::with_capacity(indexes),
            // Zeroed memory costs nothing until it is written.
            line_of: vec![0; indexes],
            new_ids: HashTable::with_capacity(new_ids),
            partial: Vec::new(),
            lines: 0,
            accounts: 0,
            update: Update::default(),
            warnings: Vec::new(),
            unguessed: (old_indexes == 0).then_some(file_bytes),
        }
    }

    /// Reads a whole file at once: accounts written in code, and tests.
    pub fn run(old: &Accounts, text: &[u8]) -> Result<Rebuilt, AtLine> {
        let mut rebuild = Self::new(old, text.len());
        loop {
            if rebuild.wants_bytes() {
                rebuild.feed(old, text)?;
                rebuild.end_of_file(old)?;
            } else if let Some(rebuilt) = rebuild.step(old, usize::MAX) {
                return Ok(rebuilt);
            }
        }
    }

    /// Makes room for the accounts of a file read against none, guessed
    /// from its first piece (counted, if the piece is the whole file):
    /// no table grows, and rehashes, on the way.
    fn guess_from(&mut self, first: &[u8]) {
        let Some(size) = self.unguessed.take() else {
            return;
        };
        let lines = first.iter().filter(|&&b| b == b'\n').count() + 1;
        let lines = match first.len() {
            whole if whole >= size => lines,
            part => lines * size / part.max(1) * 9 / 8,
        };
        self.new_ids.reserve(lines, |_| 0);
        self.entries.reserve(lines);
    }

    /// Whether the next piece of work is to [`feed`](Self::feed) bytes;
    /// otherwise it is to [`step`](Self::step).
    pub fn wants_bytes(&self) -> bool {
        matches!(self.stage, Stage::Reading)
    }

    /// Takes the next bytes of the file, and checks and places every line
    /// they end. An error names the line and ends the rebuild: nothing of
    /// it applies.
    pub fn feed(&mut self, old: &Accounts, mut bytes: &[u8]) -> Result<(), AtLine> {
        debug_assert!(self.wants_bytes());
        self.guess_from(bytes);
        if !self.partial.is_empty() {
            let Some(end) = bytes.iter().position(|&b| b == b'\n') else {
                self.partial.extend_from_slice(bytes);
                return Ok(());
            };
            let mut line = mem::take(&mut self.partial);
            line.extend_from_slice(&bytes[..end]);
            self.line_bytes(old, &line)?;
            // Its room serves the next line that a piece of input cuts.
            line.clear();
            self.partial = line;
            bytes = &bytes[end + 1..];
        }
        // The whole lines at once: their text checked in one pass, then cut
        // where `str` finds a `\n` fastest. Bytes that are not UTF-8 are
        // looked for line by line, to name the line.
        let whole = bytes
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |end| end + 1);
        let (lines, rest) = bytes.split_at(whole);
        match std::str::from_utf8(lines) {
            Ok(text) => text
                .split_terminator('\n')
                .try_for_each(|line| self.line(old, line))?,
            Err(_) => lines
                .split_inclusive(|&b| b == b'\n')
                .try_for_each(|line| self.line_bytes(old, &line[..line.len() - 1]))?,
        }
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    /// The file has ended: its last line needs no `\n`.
    pub fn end_of_file(&mut self, old: &Accounts) -> Result<(), AtLine> {
        let last = mem::take(&mut self.partial);
        if !last.is_empty() {
            self.line_bytes(old, &last)?;
        }
        let live = mem::take(&mut self.new_ids);
        self.stage = Stage::Indexing {
            next: 0,
            live,
            removed: HashTable::new(),
        };
        Ok(())
    }

    /// Does at most `work` pieces of the work that is not reading (an
    /// entry copied, an index marked or put in its table): the accounts,
    /// once all is done.
    pub fn step(&mut self, old: &Accounts, work: usize) -> Option<Rebuilt> {
        debug_assert_eq!(old.entries.len(), self.old_indexes, "old changed meanwhile");
        match &mut self.stage {
            Stage::Copying => {
                let from = self.entries.len();
                let to = from.saturating_add(work).min(self.old_indexes);
                self.entries.extend_from_slice(&old.entries[from..to]);
                if to == self.old_indexes {
                    self.stage = Stage::Reading;
                }
                None
            }
            Stage::Reading => None,
            Stage::Indexing {
                next,
                live,
                removed,
            } => {
                let (bytes, entries) = (&mut self.bytes, &mut self.entries);
                if *next == 0 {
                    // Exactly the room each table needs, once: neither
                    // grows (and rehashes at once) on the way.
                    let old_ones = self.accounts - live.len();
                    live.reserve(old_ones, rehash(bytes, entries));
                    *removed = HashTable::with_capacity(entries.len() - self.accounts);
                }
                let to = next.saturating_add(work).min(self.old_indexes);
                for i in *next..to {
                    if self.line_of[i] != 0 {
                        let hash = hash_id(id_of(bytes, entries, i as u32));
                        live.insert_unique(hash, i as u32, rehash(bytes, entries));
                        continue;
                    }
                    // Not in the file: removed, its id kept for the
                    // forwards that name it.
                    let id = old.id_bytes(i as u32);
                    entries[i] = append(bytes, id, None);
                    removed.insert_unique(hash_id(id), i as u32, rehash(bytes, entries));
                    if old.password(i as u32).is_some() {
                        self.update.removed.push(AccountIndex(i));
                    }
                }
                *next = to;
                if to < self.old_indexes {
                    return None;
                }
                let (live, removed) = (mem::take(live), mem::take(removed));
                Some(self.finish(live, removed))
            }
        }
    }

    /// Hands over what was built.
    fn finish(&mut self, live: HashTable<u32>, removed: HashTable<u32>) -> Rebuilt {
        let mut accounts = Accounts {
            bytes: mem::take(&mut self.bytes),
            entries: mem::take(&mut self.entries),
            live,
            removed,
        };
        // Grown by doubling while read: kept at the size needed.
        accounts.bytes.shrink_to_fit();
        accounts.entries.shrink_to_fit();
        Rebuilt {
            accounts,
            update: mem::take(&mut self.update),
            warnings: mem::take(&mut self.warnings),
        }
    }

    /// How far the rebuild has come, for the trace.
    pub fn progress(&self) -> Progress {
        match &self.stage {
            Stage::Copying => Progress::Copying {
                done: self.entries.len(),
                of: self.old_indexes,
            },
            Stage::Reading => Progress::Reading { lines: self.lines },
            Stage::Indexing { next, .. } => Progress::Indexing {
                done: *next,
                of: self.old_indexes,
            },
        }
    }

    /// As [`line`](Self::line), for bytes that may not be text.
    fn line_bytes(&mut self, old: &Accounts, line: &[u8]) -> Result<(), AtLine> {
        match std::str::from_utf8(line) {
            Ok(line) => self.line(old, line),
            Err(_) => Err((
                self.lines + 1,
                "not UTF-8 text: save the file as UTF-8".to_string(),
            )),
        }
    }

    /// Checks one line (without its `\n`) and places its account.
    fn line(&mut self, old: &Accounts, line: &str) -> Result<(), AtLine> {
        self.lines += 1;
        let number = self.lines;
        let Some((id, password)) = check_line(number, line, &mut self.warnings)? else {
            return Ok(());
        };
        if self.bytes.len() + line.len() > u32::MAX as usize {
            return Err((number, "larger than 4 GiB".into()));
        }
        let (id, password) = (id.as_bytes(), password.as_bytes());
        let repeated = |first: u32| {
            let id = String::from_utf8_lossy(id);
            (
                number,
                format!("repeated id {id:?} (first on line {first})"),
            )
        };
        let line_number = u32::try_from(number).unwrap_or(u32::MAX);
        self.accounts += 1;
        let hash = hash_id(id);
        if let Some(i) = old.find_any(hash, id) {
            let i = i as usize;
            if self.line_of[i] != 0 {
                return Err(repeated(self.line_of[i]));
            }
            match old.password(i as u32) {
                Some(before) if before != password => self.update.passwords_changed += 1,
                Some(_) => {}
                None => self.update.added += 1,
            }
            self.line_of[i] = line_number;
            self.entries[i] = append(&mut self.bytes, id, Some(password));
            return Ok(());
        }
        let (bytes, entries) = (&mut self.bytes, &mut self.entries);
        match insert_new(&mut self.new_ids, bytes, entries, (hash, id), password) {
            Ok(i) => {
                match self.line_of.get_mut(i as usize) {
                    Some(line) => *line = line_number,
                    None => self.line_of.push(line_number),
                }
                self.update.added += 1;
                Ok(())
            }
            Err(first) => Err(repeated(self.line_of[first as usize])),
        }
    }
}

/// An account's id and password, if the line holds one (it may be blank
/// or a comment); an error if it is malformed; a warning, pushed, if it
/// loads but looks like a mistake.
fn check_line<'a>(
    number: usize,
    line: &'a str,
    warnings: &mut Vec<AtLine>,
) -> Result<Option<(&'a str, &'a str)>, AtLine> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.trim().is_empty() || line.trim_start().starts_with('#') {
        return Ok(None);
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
    if password.is_empty() {
        return Err((
            number,
            format!("the password of {id:?} is empty: anyone could log in as {id}"),
        ));
    }
    if password.contains(['<', '>']) {
        return Err((number, "a password cannot contain '<' or '>'".to_string()));
    }
    if password.contains('\r') {
        // Lines ended by `\r` alone would make one password of them all.
        return Err((
            number,
            "a password cannot contain a carriage return: end lines with \\n or \\r\\n".to_string(),
        ));
    }
    if let Some(blanks) = blank_ends(password) {
        warnings.push((number, format!("the password of {id:?} {blanks}")));
    }
    Ok(Some((id, password)))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Feeds `text` in pieces of `size` bytes, and steps one at a time.
    fn in_pieces(old: &Accounts, text: &[u8], size: usize) -> Result<Rebuilt, AtLine> {
        let mut rebuild = Rebuild::new(old, text.len());
        let mut pieces = text.chunks(size);
        loop {
            if rebuild.wants_bytes() {
                match pieces.next() {
                    Some(piece) => rebuild.feed(old, piece)?,
                    None => rebuild.end_of_file(old)?,
                }
            } else if let Some(rebuilt) = rebuild.step(old, 1) {
                return Ok(rebuilt);
            }
        }
    }

    #[test]
    fn lines_cut_anywhere_between_pieces_read_as_whole_ones() {
        let old = Accounts::parse("bob:b\ncarol:c\ngone:g\n").unwrap();
        let text = b"# demo\r\nalice:wonder land \r\n\nbob:b2\ncarol:c\nerin:e";
        let whole = Rebuild::run(&old, text).unwrap();
        for size in 1..=text.len() {
            let cut = in_pieces(&old, text, size).unwrap();
            assert_eq!(cut.update, whole.update, "pieces of {size}");
            assert_eq!(cut.warnings, whole.warnings, "pieces of {size}");
            for id in ["alice", "bob", "carol", "erin", "gone"] {
                assert_eq!(cut.accounts.find(id), whole.accounts.find(id), "{id}");
            }
            let alice = cut.accounts.find("alice").unwrap();
            assert!(cut.accounts.password_matches(alice, b"wonder land "));
        }
        assert_eq!(
            whole.update.to_string(),
            "2 added, 1 removed, 1 password changed"
        );
        assert_eq!(whole.warnings.len(), 1);
    }

    #[test]
    fn a_line_that_is_not_utf8_is_named() {
        let text = b"alice:a\nbob:\xffb\n";
        let (line, problem) = Rebuild::run(&Accounts::default(), text).unwrap_err();
        assert_eq!(line, 2);
        assert!(problem.starts_with("not UTF-8"), "{problem}");
    }

    #[test]
    fn progress_is_told_as_it_goes() {
        let old = Accounts::parse("alice:a\nbob:b\n").unwrap();
        let mut rebuild = Rebuild::new(&old, 16);
        assert_eq!(rebuild.progress().to_string(), "copied 0 of 2 accounts");
        assert!(rebuild.step(&old, 2).is_none());
        rebuild.feed(&old, b"alice:a\nbo").unwrap();
        assert_eq!(rebuild.progress().to_string(), "read to line 1");
        rebuild.feed(&old, b"b:b\n").unwrap();
        rebuild.end_of_file(&old).unwrap();
        assert!(rebuild.step(&old, 1).is_none());
        let told = rebuild.progress().to_string();
        assert_eq!(told, "the file read, 1 of 2 accounts indexed");
        assert!(rebuild.step(&old, 1).is_some());
    }

    /// Lines of an accounts file, good and bad: ids old and new, repeats,
    /// blanks, comments, `\r`, bytes that are not UTF-8.
    const LINE: &str = "(u[0-9]|x[0-9]|server|a b|)(:|)(p[0-9]|[ <>]|\r|\u{e9}|)(\r|)|#.*|[ \t]*";

    proptest! {
        /// Whatever the file holds, cut anywhere, against any accounts it
        /// replaces: the same result as read whole, and no panic.
        #[test]
        fn any_file_cut_anywhere_reads_as_read_whole(
            old in proptest::collection::vec("u[0-9]", 0..6),
            lines in proptest::collection::vec(LINE, 0..12),
            junk in proptest::option::of(any::<u8>()),
            size in 1..40usize,
        ) {
            let old: String = old.iter().map(|id| format!("{id}:p\n")).collect();
            let Ok(old) = Accounts::parse(&old) else { return Ok(()) };
            let mut text = lines.join("\n").into_bytes();
            text.extend(junk);
            let whole = Rebuild::run(&old, &text);
            let cut = in_pieces(&old, &text, size);
            match (whole, cut) {
                (Ok(whole), Ok(cut)) => {
                    prop_assert_eq!(cut.update, whole.update);
                    prop_assert_eq!(cut.warnings, whole.warnings);
                    prop_assert_eq!(cut.accounts.len(), whole.accounts.len());
                    for n in 0..10 {
                        for id in [format!("u{n}"), format!("x{n}")] {
                            prop_assert_eq!(cut.accounts.find(&id), whole.accounts.find(&id));
                        }
                    }
                }
                (whole, cut) => prop_assert_eq!(whole.err(), cut.err()),
            }
        }
    }
}
