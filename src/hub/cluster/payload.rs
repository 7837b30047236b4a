//! What the nodes of a cluster say to each other through the broker: the
//! subjects they use and their payloads, as text a person can read in
//! `nats sub '>'`.
//!
//! | subject | payload | reply subject |
//! | --- | --- | --- |
//! | `hub.user.ID` (held by ID's node) | `login ID STAMP NODE`: ID logged in at NODE | NODE's `login` inbox |
//! | `hub.user.DEST` | a forward: `SRC->DEST#<xxxxxx><MSGID>BODY` | an inbox for the answer, or none |
//! | `hub.node.NODE.forwards` | `forwards` and a line `N LEN` before each forward: requests for NODE's users | the inbox of the first |
//! | `hub.node.NODE.answers` | `from NODE2 taken N ... gone N ... offline N ...`: NODE2's answers to NODE's requests | |
//! | `hub.node.NODE.N` | the broker's "no responders" to request N | |
//! | `hub.node.NODE.login` | `login ID STAMP NODE`: the session that stays | |

use std::io::Write;

pub use super::answers::{AnswerBatch, Answers, Verdict};
pub use super::forwards::{ForwardBatch, Forwards};
use crate::wire::{self, Chat, Message, ANY_TOKEN};

/// When and where a login happened: logins of one id are ordered by it,
/// and the latest keeps the session. `at` is a hybrid logical clock in
/// microseconds (wall clock time, pushed past every stamp the node has
/// seen); `node` breaks ties between two logins in the same microsecond.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp {
    pub at: u64,
    pub node: u64,
}

/// One message between nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload<'a> {
    /// `id` logged in at `stamp.node`: an announcement on the id's subject,
    /// or the answer of the node whose session is later and stays.
    Login { id: &'a str, stamp: Stamp },
    /// A message for a user of the node that holds its subject: the chat as
    /// its destination will get it, with [`ANY_TOKEN`] where the
    /// destination's node writes the destination's token.
    Forward(Chat<'a>),
    /// Requests for users of one node, as many as one batch of datagrams
    /// brought: one broker message for all of them.
    Forwards(Forwards<'a>),
    /// Answers to one node's requests, as many as one read of the broker
    /// brought: one broker message for all of them.
    Answers(Answers<'a>),
}

const LOGIN: &[u8] = b"login ";

impl<'a> Payload<'a> {
    /// Reads a payload; `None` for anything else (never from our nodes).
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        if let Some(answers) = Answers::parse(bytes) {
            return Some(Payload::Answers(answers));
        }
        if let Some(forwards) = Forwards::parse(bytes) {
            return Some(Payload::Forwards(forwards));
        }
        match bytes.strip_prefix(LOGIN) {
            Some(fields) => parse_login(fields),
            None => match wire::parse(bytes).ok()? {
                Message::Chat(chat) => Some(Payload::Forward(chat)),
                _ => None,
            },
        }
    }

    /// Appends the payload's bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Payload::Login { id, stamp } => {
                out.extend_from_slice(LOGIN);
                // Writing to a Vec cannot fail.
                let _ = write!(out, "{id} {} {:016x}", stamp.at, stamp.node);
            }
            Payload::Forward(chat) => forward_message(chat).encode(out),
            Payload::Forwards(forwards) => forwards.encode(out),
            Payload::Answers(answers) => answers.encode(out),
        }
    }
}

/// `chat` as the nodes pass it on: the datagram its destination will get,
/// with [`ANY_TOKEN`] where the destination's node writes the
/// destination's token.
pub fn forward_message<'a>(chat: &Chat<'a>) -> Message<'a> {
    Message::Chat(Chat {
        token: ANY_TOKEN,
        ..*chat
    })
}

fn parse_login(fields: &[u8]) -> Option<Payload<'_>> {
    let text = std::str::from_utf8(fields).ok()?;
    let mut fields = text.split(' ');
    let (id, at, node) = (fields.next()?, fields.next()?, fields.next()?);
    if fields.next().is_some() || !wire::is_valid_id(id) {
        return None;
    }
    let stamp = Stamp {
        at: at.parse().ok()?,
        node: u64::from_str_radix(node, 16).ok()?,
    };
    Some(Payload::Login { id, stamp })
}

/// The subject a user's node holds while the user is online there. An id
/// may hold `.`, which separates a subject's tokens; `~` is no id
/// character, so it takes the dot's place without making two ids one.
pub fn user_subject(id: &str) -> String {
    format!("hub.user.{}", id.replace('.', "~"))
}

/// Every inbox of `node`: the one subscription that brings it its answers.
pub fn inboxes(node: u64) -> String {
    format!("hub.node.{node:016x}.>")
}

/// Where the answer to `node`'s request number `request` goes.
pub fn request_inbox(node: u64, request: u64) -> String {
    format!("hub.node.{node:016x}.{request}")
}

/// Where other nodes send requests for `node`'s users, once they learned
/// that the users are there.
pub fn forwards_inbox(node: u64) -> String {
    format!("hub.node.{node:016x}.forwards")
}

/// Where other nodes send their [`Answers`] to `node`'s requests.
pub fn answers_inbox(node: u64) -> String {
    format!("hub.node.{node:016x}.answers")
}

/// Where the node that keeps a session answers `node`'s login announcement.
pub fn login_inbox(node: u64) -> String {
    format!("hub.node.{node:016x}.login")
}

/// The node and the request number of a request's inbox.
pub fn parse_inbox(subject: &str) -> Option<(u64, u64)> {
    let rest = subject.strip_prefix("hub.node.")?;
    let (node, request) = rest.split_once('.')?;
    Some((u64::from_str_radix(node, 16).ok()?, request.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::wire::{MsgId, SessionToken};

    fn encoded(payload: &Payload<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        payload.encode(&mut out);
        out
    }

    fn chat<'a>(body: &'a [u8]) -> Chat<'a> {
        let Ok(Message::Chat(chat)) = wire::parse(b"alice->bob#<abc123><0000000001>x") else {
            unreachable!("a chat")
        };
        Chat { body, ..chat }
    }

    #[test]
    fn each_payload_reads_back_as_written() {
        let stamp = Stamp {
            at: 1_764_700_000_123_456,
            node: 0xdead_beef,
        };
        let login = Payload::Login { id: "a.b-c", stamp };
        assert_eq!(
            encoded(&login),
            b"login a.b-c 1764700000123456 00000000deadbeef"
        );
        assert_eq!(Payload::parse(&encoded(&login)), Some(login));
        let body = b"hi #<bob> -> \xff";
        let forward = encoded(&Payload::Forward(chat(body)));
        assert_eq!(forward, b"alice->bob#<xxxxxx><0000000001>hi #<bob> -> \xff");
        let Some(Payload::Forward(back)) = Payload::parse(&forward) else {
            panic!("a forward")
        };
        assert_eq!((back.from, back.to, back.body), ("alice", "bob", &body[..]));
        assert_eq!(back.token.as_str(), ANY_TOKEN.as_str());

        let mut batch = AnswerBatch::new(0xb2, 7);
        for (request, verdict) in [
            (3, Verdict::Taken),
            (4, Verdict::Taken),
            (9, Verdict::Gone),
            (12, Verdict::Offline),
        ] {
            batch.add(request, verdict);
        }
        let bytes = batch.payload().to_vec();
        assert_eq!(bytes, b"from 00000000000000b2 taken 3 4 gone 9 offline 12");
        let Some(Payload::Answers(answers)) = Payload::parse(&bytes) else {
            panic!("answers")
        };
        assert_eq!(encoded(&Payload::Answers(answers)), bytes);
        assert_eq!(answers.from, 0xb2);
        let answers: Vec<_> = answers.iter().collect();
        let expected = [
            (3, Verdict::Taken),
            (4, Verdict::Taken),
            (9, Verdict::Gone),
            (12, Verdict::Offline),
        ];
        assert_eq!(answers, expected);

        let mut batch = ForwardBatch::new(0xb2);
        batch.add(7, &chat(b"one\nline two"));
        batch.add(8, &chat(b""));
        let bytes = batch.payload().to_vec();
        assert_eq!(bytes, &b"forwards\n7 43\nalice->bob#<xxxxxx><0000000001>one\nline two8 31\nalice->bob#<xxxxxx><0000000001>"[..]);
        assert_eq!(batch.requests, [7, 8]);
        let Some(Payload::Forwards(forwards)) = Payload::parse(&bytes) else {
            panic!("forwards")
        };
        assert_eq!(encoded(&Payload::Forwards(forwards.clone())), bytes);
        let forwards: Vec<_> = forwards.iter().map(|(n, chat)| (n, chat.body)).collect();
        assert_eq!(forwards, [(7, &b"one\nline two"[..]), (8, &b""[..])]);
    }

    #[test]
    fn subjects() {
        assert_eq!(user_subject("a.b"), "hub.user.a~b");
        assert_ne!(user_subject("a.b"), user_subject("a_b"));
        assert_eq!(parse_inbox(&request_inbox(7, 42)), Some((7, 42)));
        assert_eq!(parse_inbox(&login_inbox(7)), None);
        assert_eq!(parse_inbox(&answers_inbox(7)), None);
        assert_eq!(parse_inbox(&forwards_inbox(7)), None);
        assert_eq!(parse_inbox("hub.user.alice"), None);
        assert!(inboxes(7).starts_with("hub.node.0000000000000007."));
    }

    #[test]
    fn what_is_no_payload_is_refused() {
        for bytes in [
            &b"login"[..],
            b"login alice 12",
            b"login alice 12 zz",
            b"login alice x 12",
            b"login al ice 1 2",
            b"login alice 1 2 3",
            b"taken 1 2",
            b"from 00000000000000b2 taken 1 x",
            b"from 00000000000000b2 taken 1  2",
            b"from b2 1 2",
            b"from zz taken 1",
            b"forwards\n7 44\nalice->bob#<xxxxxx><0000000001>",
            b"forwards\n7 5\nhello",
            b"forwards\n7\n",
            b"forwards\n+7 31\nalice->bob#<xxxxxx><0000000001>",
            b"forwards\n7 +31\nalice->bob#<xxxxxx><0000000001>",
            b"forwards\n18446744073709551616 31\nalice->bob#<xxxxxx><0000000001>",
            b"forwards\n7 31\nalice->bob#<xxxxxx><0000000001>8 31\n",
            b"server->bob#Success<abcdef>",
            b"",
        ] {
            assert_eq!(
                Payload::parse(bytes),
                None,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    proptest! {
        /// Whatever arrives on a subject, reading it never panics, and what
        /// reads as a payload writes back as the same payload.
        #[test]
        fn any_bytes_read_safely(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Some(payload) = Payload::parse(&bytes) {
                let bytes = encoded(&payload);
                prop_assert_eq!(Payload::parse(&bytes), Some(payload));
            }
        }

        #[test]
        fn logins_round_trip(id in "[A-Za-z0-9_.-]{1,32}", at: u64, node: u64) {
            let login = Payload::Login { id: &id, stamp: Stamp { at, node } };
            let bytes = encoded(&login);
            prop_assert_eq!(Payload::parse(&bytes), Some(login));
            prop_assert!(watermelon_subject_ok(&user_subject(&id)));
        }

        #[test]
        fn forwards_round_trip(body in proptest::collection::vec(1u8.., 0..900)) {
            // A body the hub accepted: framing strips a trailing line break.
            prop_assume!(!body.ends_with(b"\r") && !body.ends_with(b"\n"));
            let msg_id = MsgId::random(&mut rand::rng());
            let chat = Chat { msg_id, token: SessionToken::generate(&mut rand::rng()), ..chat(&body) };
            let bytes = encoded(&Payload::Forward(chat));
            let Some(Payload::Forward(back)) = Payload::parse(&bytes) else {
                return Err(TestCaseError::fail("not a forward"));
            };
            prop_assert_eq!((back.msg_id, back.body), (msg_id, &body[..]));
        }
    }

    proptest! {
        /// Forwards of any bodies a hub accepts (line breaks inside them
        /// too) come out of a batch as they went in, with their numbers.
        #[test]
        fn forward_batches_round_trip(
            bodies in proptest::collection::vec(proptest::collection::vec(1u8.., 0..200), 1..6)
        ) {
            let bodies: Vec<Vec<u8>> = bodies
                .into_iter()
                .map(|mut b| { while b.ends_with(b"\r") || b.ends_with(b"\n") { b.pop(); } b })
                .collect();
            let mut batch = ForwardBatch::new(1);
            for (n, body) in bodies.iter().enumerate() {
                batch.add(n as u64 * 3, &chat(body));
            }
            let bytes = batch.payload().to_vec();
            let Some(Payload::Forwards(forwards)) = Payload::parse(&bytes) else {
                return Err(TestCaseError::fail("not a batch"));
            };
            let back: Vec<(u64, Vec<u8>)> = forwards.iter().map(|(n, c)| (n, c.body.to_vec())).collect();
            let sent: Vec<(u64, Vec<u8>)> = bodies.into_iter().enumerate().map(|(n, b)| (n as u64 * 3, b)).collect();
            prop_assert_eq!(back, sent);
        }
    }

    /// A subject the broker takes: no empty token, no wildcard, no space.
    fn watermelon_subject_ok(subject: &str) -> bool {
        use std::str::FromStr;
        watermelon_proto::Subject::from_str(subject).is_ok() && !subject.contains(['*', '>'])
    }
}
