//! A node's verdicts on another node's asks, in one broker message:
//! `from NODE taken N N ... gone N ... offline N ... late N ...`; and the
//! words that settle a `taken` whose sender lost its link before it knew
//! the broker had it (`doubt`, answered `counted` or `void`: see
//! [`super::holding`]).

use std::io::Write;

/// What became of one ask at the node that got it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Its destination is online there: the forward is on its way (or went
    /// on an earlier ask of the same message), as a forward on one hub is.
    Taken,
    /// Sent to the node (not to the user's subject), and the user is not
    /// there any more: ask the user's subject instead.
    Gone,
    /// Sent to the user's subject, whose session at that node ended a
    /// moment ago (the node still held the subject).
    Offline,
    /// It came after its deadline: refused unread, and never delivered.
    Late,
    /// Its destination is online there, and that node will not take it
    /// (it does not know the sender: the nodes' accounts differ).
    Refused,
    /// From the node that took it: "I said `taken`, and lost my link
    /// before I knew you heard: do you count it?"
    Doubt,
    /// From the asker: "yes, it is taken: send it on".
    Counted,
    /// From the asker: "no: never send it".
    Void,
}

impl Verdict {
    const ALL: [Verdict; 8] = [
        Verdict::Taken,
        Verdict::Gone,
        Verdict::Offline,
        Verdict::Late,
        Verdict::Refused,
        Verdict::Doubt,
        Verdict::Counted,
        Verdict::Void,
    ];

    pub fn word(self) -> &'static str {
        match self {
            Verdict::Taken => "taken",
            Verdict::Gone => "gone",
            Verdict::Offline => "offline",
            Verdict::Late => "late",
            Verdict::Refused => "refused",
            Verdict::Doubt => "doubt",
            Verdict::Counted => "counted",
            Verdict::Void => "void",
        }
    }

    fn of(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.word() == word)
    }
}

/// Verdicts from node `from`, as they came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdicts<'a> {
    pub from: u64,
    /// `VERDICT N N ... VERDICT N ...`, checked.
    list: &'a str,
}

impl<'a> Verdicts<'a> {
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

    /// Each ask's number with its verdict.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Verdict)> + 'a {
        let mut verdict = Verdict::Taken;
        self.list
            .split(' ')
            .filter_map(move |word| match Word::of(word)? {
                Word::Verdict(next) => {
                    verdict = next;
                    None
                }
                Word::Ask(number) => Some((number, verdict)),
            })
    }

    #[cfg(test)]
    pub fn encode(&self, out: &mut Vec<u8>) {
        // Writing to a Vec cannot fail.
        let _ = write!(out, "from {:016x} {}", self.from, self.list);
    }
}

/// One word of the list.
enum Word {
    Verdict(Verdict),
    Ask(u64),
}

impl Word {
    /// Numbers first: there are many of them and few verdicts.
    fn of(word: &str) -> Option<Self> {
        match word.parse() {
            Ok(number) => Some(Word::Ask(number)),
            Err(_) => Verdict::of(word).map(Word::Verdict),
        }
    }
}

/// The verdicts a node owes node `to`, gathered while one read of the
/// broker is handled.
#[derive(Debug)]
pub struct VerdictBatch {
    pub to: u64,
    /// `from NODE` and the verdicts so far.
    payload: Vec<u8>,
    /// The last verdict added.
    last: Option<Verdict>,
}

impl VerdictBatch {
    pub fn new(from: u64, to: u64) -> Self {
        Self {
            to,
            payload: format!("from {from:016x}").into_bytes(),
            last: None,
        }
    }

    pub fn add(&mut self, ask: u64, verdict: Verdict) {
        if self.last != Some(verdict) {
            self.payload.push(b' ');
            self.payload.extend_from_slice(verdict.word().as_bytes());
            self.last = Some(verdict);
        }
        // Writing to a Vec cannot fail.
        let _ = write!(self.payload, " {ask}");
    }

    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}
