//! The wire format of every crew socket: `[u8 kind][u32 length, LE][payload]`.
//!
//! Control messages are JSON; terminal bytes travel raw in `Data` frames. A bad kind or an
//! oversized length is an error for that one connection, never for the process.

use std::fmt;

/// Largest payload a frame may carry.
pub const MAX_PAYLOAD: usize = 1 << 20;
pub const HEADER: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A JSON control message.
    Json = 1,
    /// Raw terminal bytes: output from a host, or input to one.
    Data = 2,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Json),
            2 => Some(Kind::Data),
            _ => None,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub kind: Kind,
    pub payload: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    UnknownKind(u8),
    TooLong(usize),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::UnknownKind(k) => write!(f, "unknown frame kind {k}"),
            FrameError::TooLong(n) => {
                write!(f, "frame of {n} bytes is over the {MAX_PAYLOAD}-byte limit")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Appends one encoded frame to `out`. Payloads over the limit are a programming error:
/// callers split data and bound messages before they get here.
pub fn encode(kind: Kind, payload: &[u8], out: &mut Vec<u8>) {
    assert!(payload.len() <= MAX_PAYLOAD, "frame payload over limit");
    out.reserve(HEADER + payload.len());
    out.push(kind as u8);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Splits a byte stream into frames. Feed it whatever arrived; take frames until `None`.
#[derive(Default)]
pub struct Decoder {
    buf: Vec<u8>,
    start: usize,
}

impl Decoder {
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let avail = &self.buf[self.start..];
        if avail.is_empty() {
            return Ok(None);
        }
        let kind = Kind::from_byte(avail[0]).ok_or(FrameError::UnknownKind(avail[0]))?;
        if avail.len() < HEADER {
            return Ok(None);
        }
        let len = u32::from_le_bytes([avail[1], avail[2], avail[3], avail[4]]) as usize;
        if len > MAX_PAYLOAD {
            return Err(FrameError::TooLong(len));
        }
        if avail.len() < HEADER + len {
            return Ok(None);
        }
        let payload = avail[HEADER..HEADER + len].to_vec();
        self.start += HEADER + len;
        if self.start > 64 * 1024 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Ok(Some(Frame { kind, payload }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8], chunk: usize) -> Result<Vec<Frame>, FrameError> {
        let mut d = Decoder::default();
        let mut frames = Vec::new();
        for piece in bytes.chunks(chunk.max(1)) {
            d.push(piece);
            while let Some(f) = d.next_frame()? {
                frames.push(f);
            }
        }
        Ok(frames)
    }

    #[test]
    fn round_trip_in_any_chunking() {
        let mut wire = Vec::new();
        encode(Kind::Json, br#"{"type":"list"}"#, &mut wire);
        encode(Kind::Data, b"", &mut wire);
        encode(Kind::Data, &[0u8, 255, 7, 1], &mut wire);
        for chunk in [1, 2, 3, 5, 7, 100] {
            let frames = decode_all(&wire, chunk).unwrap();
            assert_eq!(frames.len(), 3, "chunk {chunk}");
            assert_eq!(frames[0].payload, br#"{"type":"list"}"#);
            assert_eq!(frames[1].kind, Kind::Data);
            assert_eq!(frames[2].payload, vec![0u8, 255, 7, 1]);
        }
    }

    #[test]
    fn unknown_kind_and_oversized_length_are_errors() {
        assert_eq!(
            decode_all(&[9, 0, 0, 0, 0], 1).unwrap_err(),
            FrameError::UnknownKind(9)
        );
        let mut big = vec![1u8];
        big.extend_from_slice(&(MAX_PAYLOAD as u32 + 1).to_le_bytes());
        assert!(matches!(decode_all(&big, 2), Err(FrameError::TooLong(_))));
    }

    #[test]
    fn random_and_truncated_bytes_never_panic() {
        // A small xorshift keeps the test deterministic without a dependency.
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for round in 0..2000 {
            let len = (round % 64) + 1;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = decode_all(&bytes, (round % 5) + 1);
        }
        let mut wire = Vec::new();
        encode(Kind::Json, b"{\"a\":1}", &mut wire);
        for cut in 0..wire.len() {
            assert_eq!(decode_all(&wire[..cut], 3).unwrap(), vec![]);
        }
    }
}
