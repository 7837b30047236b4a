//! Raw bytes from standard input, cut into lines.
//!
//! The reactor reads stdin in whatever chunks the kernel hands out: half a
//! line, or many lines at once. This buffer keeps the unfinished tail between
//! reads. It is bounded: a line longer than the limit is reported once and
//! its bytes are skipped up to the next newline, so input without newlines
//! cannot make it grow.

/// What [`LineBuffer::next_line`] hands out.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A whole line, without its `\n`.
    Complete(&'a [u8]),
    /// A line over the limit; its bytes were dropped.
    TooLong,
}

/// Bytes in, lines out.
#[derive(Debug)]
pub struct LineBuffer {
    pending: Vec<u8>,
    /// Bytes at the front of `pending` already handed out as a line.
    consumed: usize,
    /// Inside a too-long line: drop bytes up to its newline.
    skipping: bool,
    limit: usize,
}

impl LineBuffer {
    /// A buffer for lines of at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            pending: Vec::new(),
            consumed: 0,
            skipping: false,
            limit,
        }
    }

    /// Appends bytes as read. Call [`next_line`](Self::next_line) until
    /// `None` after each push.
    pub fn push(&mut self, mut bytes: &[u8]) {
        if self.skipping {
            let Some(newline) = bytes.iter().position(|&b| b == b'\n') else {
                return;
            };
            self.skipping = false;
            bytes = &bytes[newline + 1..];
        }
        self.pending.extend_from_slice(bytes);
    }

    /// End of input: a last line without a newline still counts.
    pub fn finish(&mut self) {
        if self.skipping || self.pending.len() > self.consumed {
            self.push(b"\n");
        }
    }

    /// The next line, if a whole one (or a too-long one) is buffered.
    pub fn next_line(&mut self) -> Option<Line<'_>> {
        self.pending.drain(..self.consumed);
        self.consumed = 0;
        match self.pending.iter().position(|&b| b == b'\n') {
            Some(newline) => {
                self.consumed = newline + 1;
                if newline > self.limit {
                    return Some(Line::TooLong);
                }
                Some(Line::Complete(&self.pending[..newline]))
            }
            None if self.pending.len() > self.limit => {
                self.pending.clear();
                self.skipping = true;
                Some(Line::TooLong)
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(buffer: &mut LineBuffer) -> Vec<Result<String, ()>> {
        let mut out = Vec::new();
        while let Some(line) = buffer.next_line() {
            out.push(match line {
                Line::Complete(bytes) => Ok(String::from_utf8_lossy(bytes).into_owned()),
                Line::TooLong => Err(()),
            });
        }
        out
    }

    #[test]
    fn joins_chunks_and_splits_lines() {
        let mut buffer = LineBuffer::new(100);
        buffer.push(b"alice->ser");
        assert_eq!(lines(&mut buffer), vec![]);
        buffer.push(b"ver#logoff\nbob->x#1\n\nbob->x#2");
        assert_eq!(
            lines(&mut buffer),
            vec![
                Ok("alice->server#logoff".into()),
                Ok("bob->x#1".into()),
                Ok("".into())
            ]
        );
        buffer.push(b"\n");
        assert_eq!(lines(&mut buffer), vec![Ok("bob->x#2".into())]);
    }

    #[test]
    fn a_last_line_without_newline_counts_at_the_end() {
        let mut buffer = LineBuffer::new(100);
        buffer.push(b"one\ntwo");
        buffer.finish();
        assert_eq!(lines(&mut buffer), vec![Ok("one".into()), Ok("two".into())]);
        buffer.finish();
        assert_eq!(lines(&mut buffer), vec![]);
    }

    #[test]
    fn a_too_long_line_is_reported_once_and_skipped() {
        let mut buffer = LineBuffer::new(4);
        buffer.push(b"12345678");
        assert_eq!(lines(&mut buffer), vec![Err(())]);
        buffer.push(b"9999");
        assert_eq!(lines(&mut buffer), vec![]);
        assert!(buffer.pending.is_empty(), "skipped bytes are not kept");
        buffer.push(b"99\nok\n123456\nlast");
        assert_eq!(lines(&mut buffer), vec![Ok("ok".into()), Err(())]);
        buffer.finish();
        assert_eq!(lines(&mut buffer), vec![Ok("last".into())]);
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_kept() {
        let mut buffer = LineBuffer::new(4);
        buffer.push(b"1234");
        assert_eq!(lines(&mut buffer), vec![]);
        buffer.push(b"\n");
        assert_eq!(lines(&mut buffer), vec![Ok("1234".into())]);
    }
}
