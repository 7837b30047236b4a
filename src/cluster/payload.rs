//! What the nodes of a cluster say to each other, as text a person can
//! read in `nats sub '>'`: a login's record, the forwards that asks carry
//! ([`super::asks`]), and verdicts on asks ([`super::verdicts`]).

use std::io::Write;

use crate::wire::{self, Chat, Message, ANY_TOKEN};

/// When and where a login happened: logins of one id are ordered by it,
/// and the latest decides where the user is. `at` is a hybrid logical
/// clock in microseconds (the wall clock, pushed past every stamp the
/// node has seen); `node` breaks ties between two logins in the same
/// microsecond.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp {
    pub at: u64,
    pub node: u64,
}

/// What a node knows of the latest login of a user there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub id: &'a str,
    pub stamp: Stamp,
    /// Whether that session is still online; if not, it ended by logoff,
    /// expiry or the removal of the account.
    pub live: bool,
}

const LIVE: &str = "login";
const ENDED: &str = "ended";

impl<'a> Record<'a> {
    /// `login ID AT NODE` or `ended ID AT NODE`.
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut fields = text.split(' ');
        let (word, id, at, node) = (
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
        );
        let live = match word {
            LIVE => true,
            ENDED => false,
            _ => return None,
        };
        if fields.next().is_some()
            || !wire::is_valid_id(id)
            || !at.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let stamp = Stamp {
            at: at.parse().ok()?,
            node: u64::from_str_radix(node, 16).ok()?,
        };
        Some(Record { id, stamp, live })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        let word = if self.live { LIVE } else { ENDED };
        // Writing to a Vec cannot fail.
        let _ = write!(
            out,
            "{word} {} {} {:016x}",
            self.id, self.stamp.at, self.stamp.node
        );
    }
}

/// `chat` as an ask carries it: the datagram its destination will get,
/// with [`ANY_TOKEN`] where the destination's node writes the
/// destination's token.
pub fn forward_message<'a>(chat: &Chat<'a>) -> Message<'a> {
    Message::Chat(Chat {
        token: ANY_TOKEN,
        ..*chat
    })
}

/// The chat an ask carries; `None` for anything a node would not write
/// (another message, or one that framing would cut: a NUL, a line break
/// at its end).
pub fn parse_forward(bytes: &[u8]) -> Option<Chat<'_>> {
    match wire::parse(bytes).ok()? {
        Message::Chat(chat) if Message::Chat(chat).encoded_len() == bytes.len() => Some(chat),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::verdicts::{Verdict, VerdictBatch, Verdicts};
    use super::*;
    use crate::wire::{MsgId, SessionToken};

    fn encoded(record: &Record<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        record.encode(&mut out);
        out
    }

    fn chat(body: &[u8]) -> Chat<'_> {
        let Ok(Message::Chat(chat)) = wire::parse(b"alice->bob#<abc123><0000000001>x") else {
            unreachable!("a chat")
        };
        Chat { body, ..chat }
    }

    #[test]
    fn records_read_back_as_written() {
        let stamp = Stamp {
            at: 1_764_700_000_123_456,
            node: 0xdead_beef,
        };
        let live = Record {
            id: "a.b-c",
            stamp,
            live: true,
        };
        assert_eq!(
            encoded(&live),
            b"login a.b-c 1764700000123456 00000000deadbeef"
        );
        assert_eq!(Record::parse(&encoded(&live)), Some(live));
        let ended = Record {
            live: false,
            ..live
        };
        assert_eq!(
            encoded(&ended),
            b"ended a.b-c 1764700000123456 00000000deadbeef"
        );
        assert_eq!(Record::parse(&encoded(&ended)), Some(ended));
    }

    #[test]
    fn a_forward_reads_back_with_the_placeholder_token() {
        let body = b"hi #<bob> -> \xff";
        let mut bytes = Vec::new();
        forward_message(&chat(body)).encode(&mut bytes);
        assert_eq!(bytes, b"alice->bob#<xxxxxx><0000000001>hi #<bob> -> \xff");
        let back = parse_forward(&bytes).unwrap();
        assert_eq!((back.from, back.to, back.body), ("alice", "bob", &body[..]));
        assert_eq!(back.token.as_str(), ANY_TOKEN.as_str());
        assert_eq!(parse_forward(b"alice->bob#<xxxxxx><0000000001>x\n"), None);
        assert_eq!(parse_forward(b"server->bob#Success<abcdef>"), None);
    }

    #[test]
    fn verdicts_read_back_as_written() {
        let mut batch = VerdictBatch::new(0xb2, 7);
        let sent = [
            (3, Verdict::Taken),
            (4, Verdict::Taken),
            (9, Verdict::Gone),
            (12, Verdict::Offline),
            (13, Verdict::Late),
        ];
        for (ask, verdict) in sent {
            batch.add(ask, verdict);
        }
        let bytes = batch.payload().to_vec();
        assert_eq!(
            bytes,
            b"from 00000000000000b2 taken 3 4 gone 9 offline 12 late 13"
        );
        let verdicts = Verdicts::parse(&bytes).unwrap();
        let mut again = Vec::new();
        verdicts.encode(&mut again);
        assert_eq!(again, bytes);
        assert_eq!(verdicts.from, 0xb2);
        assert_eq!(verdicts.iter().collect::<Vec<_>>(), sent);
    }

    #[test]
    fn what_is_no_record_or_verdict_is_refused() {
        for bytes in [
            &b"login"[..],
            b"login alice 12",
            b"login alice 12 zz",
            b"login alice x 12",
            b"login alice +1 12",
            b"login al ice 1 2",
            b"login alice 1 2 3",
            b"gone alice 1 2",
            b"",
        ] {
            assert_eq!(Record::parse(bytes), None, "{:?}", bytes.escape_ascii());
        }
        for bytes in [
            &b"taken 1 2"[..],
            b"from 00000000000000b2 taken 1 x",
            b"from 00000000000000b2 taken 1  2",
            b"from b2 1 2",
            b"from zz taken 1",
            b"",
        ] {
            assert_eq!(Verdicts::parse(bytes), None, "{:?}", bytes.escape_ascii());
        }
    }

    proptest! {
        #[test]
        fn records_round_trip(id in "[A-Za-z0-9_.-]{1,32}", at: u64, node: u64, live: bool) {
            let record = Record { id: &id, stamp: Stamp { at, node }, live };
            let bytes = encoded(&record);
            prop_assert_eq!(Record::parse(&bytes), Some(record));
        }

        /// Whatever arrives, reading it never panics, and what reads as a
        /// record or verdicts writes back as the same bytes.
        #[test]
        fn any_bytes_read_safely(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Some(record) = Record::parse(&bytes) {
                let again = encoded(&record);
                prop_assert_eq!(Record::parse(&again), Some(record));
            }
            if let Some(verdicts) = Verdicts::parse(&bytes) {
                let mut again = Vec::new();
                verdicts.encode(&mut again);
                prop_assert_eq!(Verdicts::parse(&again), Some(verdicts));
            }
            let _ = parse_forward(&bytes);
        }

        #[test]
        fn forwards_round_trip(body in proptest::collection::vec(1u8.., 0..900)) {
            // A body the hub accepted: framing strips a trailing line break.
            prop_assume!(!body.ends_with(b"\r") && !body.ends_with(b"\n"));
            let msg_id = MsgId::random(&mut rand::rng());
            let chat = Chat { msg_id, token: SessionToken::generate(&mut rand::rng()), ..chat(&body) };
            let mut bytes = Vec::new();
            forward_message(&chat).encode(&mut bytes);
            let back = parse_forward(&bytes).unwrap();
            prop_assert_eq!((back.msg_id, back.body), (msg_id, &body[..]));
        }
    }
}
