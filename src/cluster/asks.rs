//! Asks in one broker message: `asks`, then for each a line
//! `N DEADLINE LEN` (the ask's number, the wall-clock microsecond after
//! which it must not be delivered, the forward's length) and the forward,
//! `SRC->DEST#<xxxxxx><MSGID>BODY`. A body may hold line breaks: the
//! length, not a separator, says where it ends.
//!
//! The same payload goes to a user's subject (asks for that user) and to a
//! node's `asks` subject (asks for any of its users).

use std::io::Write;
use std::ops::Range;

const HEAD: &[u8] = b"asks\n";

/// One ask as it came: where its forward is in the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AskEntry {
    pub number: u64,
    /// Wall-clock microseconds since the Unix epoch.
    pub deadline: u64,
    /// The forward's bytes within the payload.
    pub forward: Range<usize>,
}

/// Reads the asks of a payload, one at a time; `None` if it is no batch
/// of asks, and an `Err` item where a part of it is not an ask (the
/// entries before it stand).
pub fn parse_asks(payload: &[u8]) -> Option<impl Iterator<Item = Result<AskEntry, ()>> + '_> {
    let mut at = payload.starts_with(HEAD).then_some(HEAD.len())?;
    Some(std::iter::from_fn(move || {
        if at >= payload.len() {
            return None;
        }
        let entry = entry(payload, at);
        // After a broken entry, nothing more can be read.
        at = entry.as_ref().map_or(payload.len(), |e| e.forward.end);
        Some(entry.ok_or(()))
    }))
}

/// The entry that starts at `at`.
fn entry(payload: &[u8], at: usize) -> Option<AskEntry> {
    let (number, next) = decimal(payload, at, b' ')?;
    let (deadline, next) = decimal(payload, next, b' ')?;
    let (len, next) = decimal(payload, next, b'\n')?;
    let end = next.checked_add(usize::try_from(len).ok()?)?;
    (end <= payload.len()).then_some(AskEntry {
        number,
        deadline,
        forward: next..end,
    })
}

/// The decimal number at `at` in `bytes`, ended by `end`, and where what
/// follows the end starts.
fn decimal(bytes: &[u8], at: usize, end: u8) -> Option<(u64, usize)> {
    let rest = bytes.get(at..)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || rest.get(digits) != Some(&end) {
        return None;
    }
    let value = rest[..digits].iter().try_fold(0u64, |value, &digit| {
        value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })?;
    Some((value, at + digits + 1))
}

/// The asks a node publishes on one subject, gathered while one batch of
/// datagrams (or one read of the broker) is handled.
#[derive(Debug)]
pub struct AskBatch {
    pub subject: String,
    /// The node the subject belongs to, if it is a node's `asks` subject.
    pub node: Option<u64>,
    /// The numbers of the asks in the batch, in order.
    pub numbers: Vec<u64>,
    /// `asks\n` and the entries so far.
    payload: Vec<u8>,
}

impl AskBatch {
    pub fn new(subject: String, node: Option<u64>) -> Self {
        Self {
            subject,
            node,
            numbers: Vec::new(),
            payload: HEAD.to_vec(),
        }
    }

    pub fn add(&mut self, number: u64, deadline: u64, forward: &[u8]) {
        // Writing to a Vec cannot fail.
        let _ = writeln!(self.payload, "{number} {deadline} {}", forward.len());
        self.payload.extend_from_slice(forward);
        self.numbers.push(number);
    }

    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_batch_reads_back_as_written() {
        let mut batch = AskBatch::new("hub.user.bob".into(), None);
        batch.add(
            7,
            1_764_700_000_000_000,
            b"alice->bob#<xxxxxx><0000000001>one\nline two",
        );
        batch.add(8, 12, b"");
        let payload = batch.payload();
        assert_eq!(
            payload,
            &b"asks\n7 1764700000000000 43\nalice->bob#<xxxxxx><0000000001>one\nline two8 12 0\n"[..]
        );
        let entries: Vec<AskEntry> = parse_asks(payload)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let read: Vec<_> = entries
            .iter()
            .map(|e| (e.number, e.deadline, &payload[e.forward.clone()]))
            .collect();
        assert_eq!(
            read,
            [
                (
                    7,
                    1_764_700_000_000_000,
                    &b"alice->bob#<xxxxxx><0000000001>one\nline two"[..]
                ),
                (8, 12, &b""[..])
            ]
        );
        assert_eq!(batch.numbers, [7, 8]);
    }

    #[test]
    fn what_is_no_batch_of_asks_is_refused() {
        for bytes in [
            &b""[..],
            b"asks",
            b"asks\n7 1 44\nalice->bob#<xxxxxx><0000000001>",
            b"asks\n7 1\n",
            b"asks\n7\n",
            b"asks\n+7 1 1\nx",
            b"asks\n7 1 +1\nx",
            b"asks\n18446744073709551616 1 1\nx",
            b"asks\n7 1 1\nx8 1 5\n",
            b"forwards\n7 1\nx",
        ] {
            let read = parse_asks(bytes).map(|entries| entries.collect::<Result<Vec<_>, _>>());
            assert!(!matches!(read, Some(Ok(_))), "{:?}", bytes.escape_ascii());
        }
        assert_eq!(parse_asks(b"asks\n").map(|e| e.count()), Some(0));
    }

    proptest! {
        /// Whatever bytes a batch carries, it reads back as written, and
        /// reading any bytes never panics.
        #[test]
        fn batches_round_trip(
            forwards in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..6),
            junk in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut batch = AskBatch::new("s".into(), None);
            for (n, forward) in forwards.iter().enumerate() {
                batch.add(n as u64 * 3, n as u64, forward);
            }
            let payload = batch.payload();
            let entries: Vec<AskEntry> = parse_asks(payload).unwrap().collect::<Result<_, _>>().unwrap();
            let back: Vec<(u64, Vec<u8>)> = entries.iter().map(|e| (e.number, payload[e.forward.clone()].to_vec())).collect();
            let sent: Vec<(u64, Vec<u8>)> = forwards.into_iter().enumerate().map(|(n, f)| (n as u64 * 3, f)).collect();
            prop_assert_eq!(back, sent);
            if let Some(entries) = parse_asks(&junk) {
                entries.for_each(drop);
            }
        }
    }
}
