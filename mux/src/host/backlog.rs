//! Output the host has read but not yet parsed, or not yet replayed to a client that is
//! catching up. Positions are absolute byte offsets into everything the agent printed.
//!
//! The parser runs behind the PTY during a flood (DESIGN: forward first, then parse). A
//! client repainted from the screen as parsed so far then replays the rest from here, so
//! repainting never waits for the parser either.

use std::collections::VecDeque;

#[derive(Default)]
pub struct Backlog {
    bytes: VecDeque<u8>,
    /// Offset of `bytes[0]`.
    start: u64,
    /// Everything before this offset has been parsed into the screen.
    pub parsed: u64,
}

impl Backlog {
    pub fn push(&mut self, bytes: &[u8]) {
        self.bytes.extend(bytes);
    }

    /// Offset just past the last byte read.
    pub fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }

    pub fn unparsed(&self) -> usize {
        (self.end() - self.parsed) as usize
    }

    /// Up to `max` contiguous bytes from offset `from` (empty at the end).
    pub fn slice_from(&self, from: u64, max: usize) -> &[u8] {
        let at = (from.max(self.start) - self.start) as usize;
        let (front, back) = self.bytes.as_slices();
        let part = if at < front.len() {
            &front[at..]
        } else {
            &back[at - front.len()..]
        };
        &part[..part.len().min(max)]
    }

    /// Forgets bytes before `keep_from` (never past what is parsed).
    pub fn trim(&mut self, keep_from: u64) {
        let to = keep_from.min(self.parsed).max(self.start);
        let n = (to - self.start) as usize;
        if n > 0 {
            self.bytes.drain(..n);
            self.start = to;
        }
        if self.bytes.is_empty() && self.bytes.capacity() > 1 << 20 {
            // A flood is over: give its buffer back.
            self.bytes.shrink_to(64 * 1024);
            super::release_memory();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_survive_trimming() {
        let mut b = Backlog::default();
        b.push(b"hello ");
        b.push(b"world");
        assert_eq!(b.unparsed(), 11);
        b.parsed = 6;
        b.trim(3);
        assert_eq!(b.slice_from(3, 100), b"lo world");
        b.trim(100);
        assert_eq!(b.bytes.len(), 5);
        assert_eq!(b.slice_from(6, 3), b"wor");
        assert_eq!(b.slice_from(11, 3), b"");
    }
}
