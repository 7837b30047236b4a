//! The datagrams a state machine wants sent, and the batch the socket sends
//! them from: one queue, so a datagram is encoded once and never copied.
//!
//! A state machine never sends: it encodes into its `Outbox`. The program
//! on the Reactor hands the whole outbox to the socket
//! ([`UdpEndpoint::send_all`](crate::reactor::udp::UdpEndpoint::send_all)),
//! which passes it to `sendmmsg` as it is and then empties it; tests and
//! in-memory harnesses take datagrams one by one with [`Outbox::pop`].
//! All datagrams live in one byte buffer that is reused, so steady traffic
//! allocates nothing.
//!
//! The outbox knows no message format: whatever implements [`Encode`] can be
//! queued (the wire's `Message`, or raw bytes).

use std::net::SocketAddr;
use std::ops::Range;

/// Something that writes itself as one datagram.
pub trait Encode {
    /// Appends the datagram's bytes to `out`.
    fn encode(&self, out: &mut Vec<u8>);
}

impl Encode for [u8] {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

/// One datagram to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit<'a> {
    pub to: SocketAddr,
    pub payload: &'a [u8],
}

/// Encoded datagrams in the order they were queued.
#[derive(Debug, Default)]
pub struct Outbox {
    bytes: Vec<u8>,
    datagrams: Vec<(SocketAddr, Range<usize>)>,
    /// How many of `datagrams` [`pop`](Self::pop) has handed out.
    taken: usize,
}

impl Outbox {
    /// Queues `datagram` for `to`.
    pub fn push(&mut self, to: SocketAddr, datagram: &(impl Encode + ?Sized)) {
        let start = self.bytes.len();
        datagram.encode(&mut self.bytes);
        self.datagrams.push((to, start..self.bytes.len()));
    }

    /// The oldest datagram not yet taken; once all are taken the buffer is
    /// emptied for reuse.
    pub fn pop(&mut self) -> Option<Transmit<'_>> {
        if self.is_empty() {
            self.clear();
            return None;
        }
        let (to, range) = self.datagrams[self.taken].clone();
        self.taken += 1;
        Some(Transmit {
            to,
            payload: &self.bytes[range],
        })
    }

    /// The datagram at `index` among those not yet taken.
    pub fn get(&self, index: usize) -> Transmit<'_> {
        let (to, range) = &self.datagrams[self.taken + index];
        Transmit {
            to: *to,
            payload: &self.bytes[range.clone()],
        }
    }

    /// How many datagrams wait.
    pub fn len(&self) -> usize {
        self.datagrams.len() - self.taken
    }

    /// Whether none wait.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every datagram, keeping the memory for the next ones.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.datagrams.clear();
        self.taken = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_back_datagrams_in_order_then_reuses_its_buffer() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let mut outbox = Outbox::default();
        outbox.push(a, &b"first"[..]);
        outbox.push(b, &b"second"[..]);
        assert_eq!(outbox.len(), 2);
        assert_eq!(outbox.get(1).payload, b"second");
        let first = outbox.pop().unwrap();
        assert_eq!((first.to, first.payload), (a, &b"first"[..]));
        assert_eq!(outbox.len(), 1);
        assert_eq!(outbox.get(0).to, b, "get counts from the first not taken");
        assert_eq!(outbox.pop().unwrap().to, b);
        assert!(outbox.pop().is_none());
        assert!(outbox.is_empty());
        assert!(outbox.bytes.is_empty());
    }
}
