//! Requests for the users of one node, in one broker message: `forwards`,
//! then for each a line `N LEN` (the request's number, the forward's
//! length) and the forward, `SRC->DEST#<xxxxxx><MSGID>BODY`. A body may
//! hold line breaks: the length, not a separator, says where it ends.

use std::io::Write;

use super::payload::forward_message;
use crate::wire::{self, Chat, Message};

const HEAD: &[u8] = b"forwards\n";

/// Requests as they came, checked: each read once, as the batch is parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forwards<'a> {
    /// The entries' bytes, to write the batch again.
    entries: &'a [u8],
    requests: Vec<(u64, Chat<'a>)>,
}

impl<'a> Forwards<'a> {
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        let entries = bytes.strip_prefix(HEAD)?;
        let mut requests = Vec::new();
        let mut rest = entries;
        while !rest.is_empty() {
            let (request, chat, after) = entry(rest)?;
            requests.push((request, chat));
            rest = after;
        }
        Some(Self { entries, requests })
    }

    /// Each request's number and forward.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Chat<'a>)> + '_ {
        self.requests.iter().copied()
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(HEAD);
        out.extend_from_slice(self.entries);
    }
}

/// One entry at the start of `bytes`, and what follows it.
fn entry(bytes: &[u8]) -> Option<(u64, Chat<'_>, &[u8])> {
    let (request, rest) = number(bytes, b' ')?;
    let (len, rest) = number(rest, b'\n')?;
    let len = usize::try_from(len).ok()?;
    let forward = rest.get(..len)?;
    match wire::parse(forward).ok()? {
        // A forward that framing would cut (a NUL, a line break at its
        // end) is not one a node writes.
        Message::Chat(chat) if Message::Chat(chat).encoded_len() == len => {
            Some((request, chat, &rest[len..]))
        }
        _ => None,
    }
}

/// The decimal number at the start of `bytes`, ended by `end`, and what
/// follows the end.
fn number(bytes: &[u8], end: u8) -> Option<(u64, &[u8])> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || bytes.get(digits) != Some(&end) {
        return None;
    }
    let value = bytes[..digits].iter().try_fold(0u64, |value, &digit| {
        value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })?;
    Some((value, &bytes[digits + 1..]))
}

/// The requests a node has for node `node`'s users, gathered while one
/// batch of datagrams is handled.
pub struct ForwardBatch {
    pub node: u64,
    /// The requests in the batch, in order.
    pub requests: Vec<u64>,
    /// `forwards\n` and the entries so far.
    payload: Vec<u8>,
}

impl ForwardBatch {
    pub fn new(node: u64) -> Self {
        Self {
            node,
            requests: Vec::new(),
            payload: HEAD.to_vec(),
        }
    }

    pub fn add(&mut self, request: u64, chat: &Chat<'_>) {
        let forward = forward_message(chat);
        // Writing to a Vec cannot fail.
        let _ = writeln!(self.payload, "{request} {}", forward.encoded_len());
        forward.encode(&mut self.payload);
        self.requests.push(request);
    }

    /// The batch as a `forwards` payload.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}
