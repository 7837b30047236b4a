//! The datagrams a state machine wants sent, waiting for the Reactor.
//!
//! A state machine never sends: it appends to its `Outbox`, and the Reactor
//! takes the datagrams out with [`Outbox::pop`] after each event. All of them
//! live in one byte buffer that is reused, so steady traffic allocates
//! nothing.

use std::net::SocketAddr;

use crate::wire::Message;

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
    datagrams: Vec<(SocketAddr, usize, usize)>,
    next: usize,
}

impl Outbox {
    /// Queues `message` for `to`.
    pub fn push(&mut self, to: SocketAddr, message: &Message<'_>) {
        let start = self.bytes.len();
        message.encode(&mut self.bytes);
        self.datagrams.push((to, start, self.bytes.len()));
    }

    /// The oldest datagram not yet taken; once all are taken the buffer is
    /// emptied for reuse.
    pub fn pop(&mut self) -> Option<Transmit<'_>> {
        let Some(&(to, start, end)) = self.datagrams.get(self.next) else {
            self.bytes.clear();
            self.datagrams.clear();
            self.next = 0;
            return None;
        };
        self.next += 1;
        Some(Transmit {
            to,
            payload: &self.bytes[start..end],
        })
    }

    /// How many datagrams wait.
    pub fn len(&self) -> usize {
        self.datagrams.len() - self.next
    }

    /// Whether none wait.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        outbox.push(a, &Message::PasswordMismatch { to: "x" });
        outbox.push(b, &Message::LogInAgain { to: "y" });
        assert_eq!(outbox.len(), 2);
        let first = outbox.pop().unwrap();
        assert_eq!(
            (first.to, first.payload),
            (a, &b"server->x#Error: password does not match!"[..])
        );
        assert_eq!(outbox.pop().unwrap().to, b);
        assert!(outbox.pop().is_none());
        assert!(outbox.is_empty());
        assert!(outbox.bytes.is_empty());
    }
}
