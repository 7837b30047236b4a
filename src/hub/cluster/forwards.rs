//! Requests for the users of one node, in one broker message: `forwards`,
//! then for each a line `N LEN` (the request's number, the forward's
//! length) and the forward, `SRC->DEST#<xxxxxx><MSGID>BODY`. A body may
//! hold line breaks: the length, not a separator, says where it ends.

use std::io::Write;

use super::payload::{forward_message, Payload};
use crate::wire::{self, Chat, Message};

const HEAD: &[u8] = b"forwards\n";

/// Requests as they came, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forwards<'a>(&'a [u8]);

impl<'a> Forwards<'a> {
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        let entries = bytes.strip_prefix(HEAD)?;
        let mut rest = entries;
        while !rest.is_empty() {
            let (_, _, after) = entry(rest)?;
            rest = after;
        }
        Some(Self(entries))
    }

    /// Each request's number and forward.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Chat<'a>)> + 'a {
        let mut rest = self.0;
        std::iter::from_fn(move || {
            let (request, chat, after) = entry(rest)?;
            rest = after;
            Some((request, chat))
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(HEAD);
        out.extend_from_slice(self.0);
    }
}

/// One entry at the start of `bytes`, and what follows it.
fn entry(bytes: &[u8]) -> Option<(u64, Chat<'_>, &[u8])> {
    let line_end = bytes.iter().position(|&b| b == b'\n')?;
    let line = std::str::from_utf8(&bytes[..line_end]).ok()?;
    let (request, len) = line.split_once(' ')?;
    let (request, len): (u64, usize) = (request.parse().ok()?, len.parse().ok()?);
    let start = line_end + 1;
    let forward = bytes.get(start..start.checked_add(len)?)?;
    match wire::parse(forward).ok()? {
        // A forward that framing would cut (a NUL, a line break at its
        // end) is not one a node writes.
        Message::Chat(chat) if Message::Chat(chat).encoded_len() == len => {
            Some((request, chat, &bytes[start + len..]))
        }
        _ => None,
    }
}

/// The requests a node has for node `node`'s users, gathered while one
/// batch of datagrams is handled.
pub struct ForwardBatch {
    pub node: u64,
    /// The requests in the batch, in order.
    pub requests: Vec<u64>,
    entries: Vec<u8>,
}

impl ForwardBatch {
    pub fn new(node: u64) -> Self {
        Self {
            node,
            requests: Vec::new(),
            entries: Vec::new(),
        }
    }

    pub fn add(&mut self, request: u64, chat: &Chat<'_>) {
        let forward = forward_message(chat);
        // Writing to a Vec cannot fail.
        let _ = writeln!(self.entries, "{request} {}", forward.encoded_len());
        forward.encode(&mut self.entries);
        self.requests.push(request);
    }

    pub fn payload(&self) -> Payload<'_> {
        Payload::Forwards(Forwards(&self.entries))
    }
}
