//! The blocking side of a crew socket, for short-lived command-line clients.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::protocol::{frame, Decoder, Frame, Kind, Reply};

pub struct Client {
    stream: UnixStream,
    decoder: Decoder,
}

impl Client {
    pub fn connect(path: &Path) -> io::Result<Client> {
        let stream = UnixStream::connect(path)?;
        Ok(Client {
            stream,
            decoder: Decoder::default(),
        })
    }

    /// The socket itself, for a loop that reads it without blocking. Only before anything
    /// was received (nothing may be left in the decoder).
    pub fn into_stream(self) -> UnixStream {
        self.stream
    }

    /// Gives up on a reply after `timeout` (None waits forever).
    pub fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(timeout)
    }

    pub fn send<T: Serialize>(&mut self, msg: &T) -> io::Result<()> {
        let mut out = Vec::new();
        frame::encode(
            Kind::Json,
            &serde_json::to_vec(msg).expect("message serializes"),
            &mut out,
        );
        self.stream.write_all(&out)
    }

    /// The next frame; `UnexpectedEof` when the peer closed.
    pub fn recv_frame(&mut self) -> io::Result<Frame> {
        let mut buf = [0u8; 64 * 1024];
        loop {
            if let Some(f) = self.decoder.next_frame().map_err(io::Error::other)? {
                return Ok(f);
            }
            let n = match self.stream.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed",
                ));
            }
            self.decoder.push(&buf[..n]);
        }
    }

    /// The next JSON reply, skipping nothing: a `Data` frame here is a protocol error.
    pub fn recv(&mut self) -> io::Result<Reply> {
        let f = self.recv_frame()?;
        match f.kind {
            Kind::Json => serde_json::from_slice(&f.payload)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad reply: {e}"))),
            Kind::Data => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "unexpected data frame",
            )),
        }
    }

    /// The next JSON message's payload, unparsed (for callers that read only part of it).
    pub fn recv_json_bytes(&mut self) -> io::Result<Vec<u8>> {
        let f = self.recv_frame()?;
        match f.kind {
            Kind::Json => Ok(f.payload),
            Kind::Data => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "unexpected data frame",
            )),
        }
    }

    pub fn request<T: Serialize>(&mut self, msg: &T) -> io::Result<Reply> {
        self.send(msg)?;
        self.recv()
    }
}
