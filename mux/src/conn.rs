//! One non-blocking framed connection inside a mio loop (host or supervisor side).
//!
//! Reads go into a frame decoder until `WouldBlock` (mio is edge-triggered); writes go into
//! an output queue that is flushed until `WouldBlock`. Nothing here ever blocks.

use std::io::{self, Read, Write};

use serde::Serialize;

use crate::protocol::{frame, Decoder, Frame, FrameError, Kind};

thread_local! {
    /// One read buffer per thread (each loop is one thread), instead of 64 KiB zeroed on
    /// the stack for every read.
    static READ_BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 64 * 1024]);
}

pub struct Conn {
    pub stream: mio::net::UnixStream,
    decoder: Decoder,
    out: Vec<u8>,
    sent: usize,
    /// Start of the frame that `sent` is inside (or equal to `sent`): dropping the queue
    /// keeps that frame whole, so the stream never breaks mid-frame.
    frame_start: usize,
    /// The peer closed its side (or the connection failed); drop it once the queue is flushed.
    pub eof: bool,
    /// The last write found the socket full, and no writable event came since.
    pub blocked: bool,
}

/// Why a connection must be closed now.
#[derive(Debug)]
pub enum ConnError {
    Io(io::Error),
    Frame(FrameError),
    Json(serde_json::Error),
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnError::Io(e) => write!(f, "{e}"),
            ConnError::Frame(e) => write!(f, "{e}"),
            ConnError::Json(e) => write!(f, "bad message: {e}"),
        }
    }
}

impl Conn {
    /// Registers `stream` with a loop under `token` (readable and writable, edge-triggered)
    /// and wraps it.
    pub fn register(
        mut stream: mio::net::UnixStream,
        registry: &mio::Registry,
        token: mio::Token,
    ) -> io::Result<Conn> {
        registry.register(
            &mut stream,
            token,
            mio::Interest::READABLE | mio::Interest::WRITABLE,
        )?;
        Ok(Conn {
            stream,
            decoder: Decoder::default(),
            out: Vec::new(),
            sent: 0,
            frame_start: 0,
            eof: false,
            blocked: false,
        })
    }

    /// Reads everything available into the decoder. Sets `eof` when the peer has closed.
    pub fn fill(&mut self) -> Result<(), ConnError> {
        self.fill_some(usize::MAX).map(|_| ())
    }

    /// Reads at most about `limit` bytes into the decoder. Returns whether the socket may
    /// hold more (the limit was reached before it would block).
    pub fn fill_some(&mut self, limit: usize) -> Result<bool, ConnError> {
        READ_BUF.with_borrow_mut(|buf| self.fill_from(buf, limit))
    }

    fn fill_from(&mut self, buf: &mut [u8], limit: usize) -> Result<bool, ConnError> {
        let mut total = 0;
        while total < limit {
            match self.stream.read(buf) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.decoder.push(&buf[..n]);
                    total += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ConnError::Io(e)),
            }
        }
        Ok(true)
    }

    pub fn next_frame(&mut self) -> Result<Option<Frame>, ConnError> {
        self.decoder.next_frame().map_err(ConnError::Frame)
    }

    /// Decodes the next frame as a JSON message. A `Data` frame is returned as `Err(bytes)`
    /// inside `Ok(Some(..))` so callers that accept raw input can take it.
    pub fn next_message<T: serde::de::DeserializeOwned>(
        &mut self,
    ) -> Result<Option<Result<T, Vec<u8>>>, ConnError> {
        match self.next_frame()? {
            None => Ok(None),
            Some(Frame {
                kind: Kind::Json,
                payload,
            }) => serde_json::from_slice(&payload)
                .map(|m| Some(Ok(m)))
                .map_err(ConnError::Json),
            Some(Frame {
                kind: Kind::Data,
                payload,
            }) => Ok(Some(Err(payload))),
        }
    }

    pub fn send<T: Serialize>(&mut self, msg: &T) {
        let payload = serde_json::to_vec(msg).expect("message serializes");
        self.compact();
        frame::encode(Kind::Json, &payload, &mut self.out);
    }

    /// Sends a JSON message that is already serialised.
    pub fn send_json_bytes(&mut self, payload: &[u8]) {
        self.compact();
        frame::encode(Kind::Json, payload, &mut self.out);
    }

    /// Queues raw bytes (terminal output) in a `Data` frame.
    pub fn send_data(&mut self, bytes: &[u8]) {
        self.compact();
        frame::encode(Kind::Data, bytes, &mut self.out);
    }

    /// Bytes queued and not yet written.
    pub fn queued(&self) -> usize {
        self.out.len() - self.sent
    }

    /// Forgets every frame not yet started (a frame partly written is kept, to finish it).
    pub fn drop_unsent(&mut self) {
        let keep = if self.frame_start == self.sent {
            self.sent
        } else {
            self.frame_start + self.frame_len(self.frame_start)
        };
        self.out.truncate(keep);
    }

    /// Writes as much of the queue as the socket takes now. Returns whether anything was
    /// written.
    pub fn flush(&mut self) -> Result<bool, ConnError> {
        let before = self.sent;
        while self.sent < self.out.len() {
            match self.stream.write(&self.out[self.sent..]) {
                Ok(0) => return Err(ConnError::Io(io::ErrorKind::WriteZero.into())),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.blocked = true;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ConnError::Io(e)),
            }
        }
        let progressed = self.sent > before;
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
            self.frame_start = 0;
        } else {
            while self.frame_start < self.sent {
                let end = self.frame_start + self.frame_len(self.frame_start);
                if end > self.sent {
                    break;
                }
                self.frame_start = end;
            }
        }
        Ok(progressed)
    }

    fn frame_len(&self, at: usize) -> usize {
        let len = u32::from_le_bytes(self.out[at + 1..at + 5].try_into().expect("4 bytes"));
        frame::HEADER + len as usize
    }

    fn compact(&mut self) {
        if self.frame_start > 0 && self.frame_start * 2 >= self.out.len() {
            self.out.drain(..self.frame_start);
            self.sent -= self.frame_start;
            self.frame_start = 0;
        }
    }
}
