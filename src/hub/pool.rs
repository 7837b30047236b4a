//! Reused byte buffers for the bodies of pending forwards.
//!
//! The hub keeps a copy of every body it forwards until the receipt comes,
//! which is a heap allocation per message and a free per receipt. Handing
//! the buffer back here and taking it again for the next forward makes
//! steady traffic allocate nothing.

use crate::wire::MAX_DATAGRAM;

/// Spare buffers, ready to hold a body.
#[derive(Debug, Default)]
pub struct BufferPool {
    spare: Vec<Vec<u8>>,
}

impl BufferPool {
    /// Spare buffers kept at most (each holds at most one datagram), so the
    /// pool holds at most about a megabyte whatever the traffic was.
    const MAX_SPARE: usize = 1024;

    /// A buffer holding a copy of `bytes`.
    pub fn copy_of(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut buffer = self.spare.pop().unwrap_or_default();
        buffer.extend_from_slice(bytes);
        buffer
    }

    /// Takes a buffer back for a later [`copy_of`](Self::copy_of).
    pub fn give_back(&mut self, mut buffer: Vec<u8>) {
        if self.spare.len() < Self::MAX_SPARE && buffer.capacity() <= MAX_DATAGRAM {
            buffer.clear();
            self.spare.push(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_reused_empty() {
        let mut pool = BufferPool::default();
        let first = pool.copy_of(b"hello");
        let address = first.as_ptr();
        pool.give_back(first);
        let second = pool.copy_of(b"hi");
        assert_eq!(second, b"hi");
        assert_eq!(second.as_ptr(), address, "the same allocation");
    }
}
