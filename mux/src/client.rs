//! The blocking side of a crew socket, for short-lived command-line clients.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::protocol::{frame, Decoder, Frame, HostRequest, Kind, Reply, Session};
use crate::store::{self, Home};

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

/// A connection to a session's host, when it runs. The socket is tried even when the
/// state file does not name a host yet: a new host writes it just after it starts serving.
pub fn host(home: &Home, session: &Session) -> Option<Client> {
    let c = Client::connect(&home.host_sock(&session.id)).ok()?;
    c.set_timeout(Some(Duration::from_secs(10))).ok()?;
    Some(c)
}

/// Asks a session's host for its rendered screen; `None` when the host is gone.
pub fn host_screen(home: &Home, session: &Session, history: bool) -> Option<String> {
    let mut c = host(home, session)?;
    match c.request(&HostRequest::Screen { history }) {
        Ok(Reply::Screen { text }) => Some(text),
        _ => None,
    }
}

/// The session's screen from its host, else the one it left behind.
pub fn screen(home: &Home, session: &Session, history: bool) -> Result<String, String> {
    match host_screen(home, session, history) {
        Some(t) => Ok(t),
        None => saved_screen(home, session, history),
    }
}

/// The screen a session left behind: `screen.txt` if it is current, else rebuilt from the
/// transcript (a host that was killed never wrote one).
pub fn saved_screen(home: &Home, session: &Session, history: bool) -> Result<String, String> {
    let mtime = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let screen_file = home.screen_path(&session.id);
    let transcript_time = mtime(&home.transcript_path(&session.id));
    if history {
        if let Some(t) = mtime(&screen_file) {
            if transcript_time.is_none_or(|tt| t >= tt) {
                if let Ok(text) = std::fs::read_to_string(&screen_file) {
                    return Ok(text);
                }
            }
        }
    }
    let bytes = store::read_transcript(home, &session.id)
        .map_err(|e| format!("cannot read the transcript of {}: {e}", session.id))?;
    let screen = crate::screen::Screen::from_transcript(session.rows, session.cols, &bytes);
    Ok(if history {
        screen.full_text()
    } else {
        screen.screen_text()
    })
}
