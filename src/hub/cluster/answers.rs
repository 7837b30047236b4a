//! A node's answers to another node's requests, in one broker message:
//! `from NODE taken N N ... gone N ... offline N ...`.

use std::io::Write;

/// What became of one request at the node that got it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Its destination is online there: the forward is on its way, as a
    /// forward on one hub is.
    Taken,
    /// Sent to the node (not to the user's subject), and the user is not
    /// there any more: ask the user's subject instead.
    Gone,
    /// Sent to the user's subject, whose session at that node ended a
    /// moment ago.
    Offline,
}

impl Verdict {
    const ALL: [Verdict; 3] = [Verdict::Taken, Verdict::Gone, Verdict::Offline];

    pub fn word(self) -> &'static str {
        match self {
            Verdict::Taken => "taken",
            Verdict::Gone => "gone",
            Verdict::Offline => "offline",
        }
    }

    fn of(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.word() == word)
    }
}

/// Answers from node `from`, as they came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answers<'a> {
    pub from: u64,
    /// `VERDICT N N ... VERDICT N ...`, checked.
    list: &'a str,
}

impl<'a> Answers<'a> {
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?.strip_prefix("from ")?;
        let (from, list) = text.split_once(' ')?;
        let mut words = list.split(' ').map(Word::of);
        if !matches!(words.next()?, Some(Word::Verdict(_))) || words.any(|w| w.is_none()) {
            return None;
        }
        let from = u64::from_str_radix(from, 16).ok()?;
        Some(Self { from, list })
    }

    /// Each request with its verdict.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Verdict)> + 'a {
        let mut verdict = Verdict::Taken;
        self.list
            .split(' ')
            .filter_map(move |word| match Word::of(word)? {
                Word::Verdict(next) => {
                    verdict = next;
                    None
                }
                Word::Request(request) => Some((request, verdict)),
            })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        // Writing to a Vec cannot fail.
        let _ = write!(out, "from {:016x} {}", self.from, self.list);
    }
}

/// One word of the list.
enum Word {
    Verdict(Verdict),
    Request(u64),
}

impl Word {
    /// Numbers first: there are many of them and few verdicts.
    fn of(word: &str) -> Option<Self> {
        match word.parse() {
            Ok(request) => Some(Word::Request(request)),
            Err(_) => Verdict::of(word).map(Word::Verdict),
        }
    }
}

/// The answers a node owes node `to`, gathered while one read of the
/// broker is handled.
pub struct AnswerBatch {
    pub to: u64,
    /// `from NODE` and the answers so far.
    payload: Vec<u8>,
    /// The verdict of the last answer added.
    last: Option<Verdict>,
}

impl AnswerBatch {
    pub fn new(from: u64, to: u64) -> Self {
        Self {
            to,
            payload: format!("from {from:016x}").into_bytes(),
            last: None,
        }
    }

    pub fn add(&mut self, request: u64, verdict: Verdict) {
        if self.last != Some(verdict) {
            self.payload.push(b' ');
            self.payload.extend_from_slice(verdict.word().as_bytes());
            self.last = Some(verdict);
        }
        // Writing to a Vec cannot fail.
        let _ = write!(self.payload, " {request}");
    }

    /// The batch as an answers payload.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}
