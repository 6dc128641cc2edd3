//! `crew attach`: the user's terminal connected straight to a session's host (SPEC 5).
//!
//! A mio loop relays stdin to the host and the host's output to stdout. Output is written
//! as it comes (the host already sent a snapshot first); input goes through the key scanner
//! so the detach key, `←` and Enter can be acted on. stdout is drained through a bounded
//! buffer: while the terminal is slow the socket is not read, so the host's per-client queue
//! fills and it resyncs us instead of the agent ever waiting.

mod keys;
mod recap;

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use mux::conn::Conn;
use mux::protocol::{HostRequest, Process, Reply, Session};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGWINCH};
use signal_hook_mio::v1_0::Signals;

pub use crate::raw::size as terminal_size;
use crate::raw::{self, read_fd, Output, Raw};
pub use keys::{Action, Keys};

const STDIN: Token = Token(0);
const SOCKET: Token = Token(1);
const SIGNALS: Token = Token(2);
const STDOUT: Token = Token(3);

/// How long an unfinished escape sequence is held back for the rest of a possible key.
const KEY_WAIT: Duration = Duration::from_millis(30);

/// Output buffered for a slow terminal before the socket stops being read.
const OUT_LIMIT: usize = 1 << 20;

/// How long the recap stays up unless a key dismisses it.
const RECAP_TIME: Duration = Duration::from_secs(3);

/// How an attach ended.
pub enum Outcome {
    /// The user detached (detach key, `←` at an empty prompt, `/bg`).
    Detached,
    /// The agent exited while attached; the final session.
    Ended(Box<Session>),
    /// The host went away or refused; why.
    Lost(String),
    /// A signal (SIGTERM, SIGHUP…) ended the client.
    Signal(i32),
}

pub struct Options<'a> {
    pub socket: &'a Path,
    /// Control byte of the detach key.
    pub detach_key: u8,
}

/// Attaches the terminal on stdin/stdout until detach. Errors are for what happens before
/// the terminal is touched (no terminal, cannot connect).
pub fn run(opts: &Options<'_>) -> Result<Outcome, String> {
    if unsafe { libc::isatty(0) == 0 || libc::isatty(1) == 0 } {
        return Err("attach needs a terminal on stdin and stdout".into());
    }
    let stream = std::os::unix::net::UnixStream::connect(opts.socket)
        .map_err(|e| format!("cannot reach the session's host: {e}"))?;
    stream
        .set_nonblocking(true)
        .map_err(|e| format!("cannot reach the session's host: {e}"))?;
    let (rows, cols) = raw::size().unwrap_or((24, 80));
    let poll = Poll::new().map_err(|e| e.to_string())?;
    let mut conn = Conn::register(
        mio::net::UnixStream::from_std(stream),
        poll.registry(),
        SOCKET,
    )
    .map_err(|e| e.to_string())?;
    conn.send(&HostRequest::Attach { rows, cols });
    // Watch signals before raw mode, so none can end us with the terminal left raw.
    let signals = Signals::new([SIGWINCH, SIGTERM, SIGHUP, SIGINT, SIGQUIT])
        .map_err(|e| format!("cannot watch signals: {e}"))?;
    let _raw = Raw::enter().map_err(|e| format!("cannot put the terminal in raw mode: {e}"))?;
    let mut attach = Attach {
        poll,
        conn,
        keys: Keys::new(opts.detach_key),
        out: Output::default(),
        socket_ready: true,
        stdin_ready: true,
        alternate: false,
        rows,
        recap_until: None,
        greeted: false,
        held_at: None,
    };
    let outcome = attach.serve(signals);
    attach.leave();
    Ok(outcome)
}

struct Attach {
    poll: Poll,
    conn: Conn,
    keys: Keys,
    /// Output for the terminal not yet written.
    out: Output,
    /// The socket may have more to read (edge-triggered: read until it would block).
    socket_ready: bool,
    stdin_ready: bool,
    /// Whether the session's output left the terminal on the alternate screen.
    alternate: bool,
    rows: u16,
    /// While the recap is shown: until when, and output waits.
    recap_until: Option<Instant>,
    greeted: bool,
    /// Since when the scanner holds back the start of a possible key.
    held_at: Option<Instant>,
}

impl Attach {
    fn serve(&mut self, mut signals: Signals) -> Outcome {
        let registry = self.poll.registry();
        let setup = registry
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .and_then(|_| registry.register(&mut SourceFd(&0), STDIN, Interest::READABLE))
            .and_then(|_| registry.register(&mut SourceFd(&1), STDOUT, Interest::WRITABLE));
        if let Err(e) = setup {
            return Outcome::Lost(format!("cannot watch the terminal: {e}"));
        }
        let mut events = Events::with_capacity(16);
        loop {
            if let Err(e) = self.poll.poll(&mut events, self.timeout()) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Outcome::Lost(format!("poll failed: {e}"));
            }
            for event in events.iter() {
                match event.token() {
                    SOCKET => self.socket_ready = true,
                    STDIN => self.stdin_ready = true,
                    STDOUT => self.out.blocked = false,
                    SIGNALS => {
                        for sig in signals.pending() {
                            if sig == SIGWINCH {
                                if let Some((rows, cols)) = raw::size() {
                                    self.rows = rows;
                                    self.conn.send(&HostRequest::Resize { rows, cols });
                                }
                            } else {
                                return Outcome::Signal(sig);
                            }
                        }
                    }
                    _ => {}
                }
            }
            // stdin is read when it has something, or when a key held back may be due.
            if self.stdin_ready || self.held_at.is_some() || self.keys.holding() {
                if let Some(outcome) = self.read_keys() {
                    return outcome;
                }
            }
            if let Some(until) = self.recap_until {
                if Instant::now() >= until {
                    self.recap_until = None;
                }
            }
            if let Some(outcome) = self.read_socket() {
                return outcome;
            }
            self.out.write();
            if self.conn.flush().is_err() {
                return Outcome::Lost("the session's host went away".into());
            }
        }
    }

    fn timeout(&self) -> Option<Duration> {
        let mut t: Option<Duration> = None;
        if let Some(at) = self.held_at {
            t = Some(KEY_WAIT.saturating_sub(at.elapsed()));
        } else if self.keys.holding() {
            t = Some(KEY_WAIT);
        }
        if let Some(until) = self.recap_until {
            let left = until.saturating_duration_since(Instant::now());
            t = Some(t.map_or(left, |t| t.min(left)));
        }
        t
    }

    /// Reads the keyboard until it would block and acts on what was typed.
    fn read_keys(&mut self) -> Option<Outcome> {
        let mut buf = [0u8; 4096];
        let mut actions = Vec::new();
        while self.stdin_ready {
            match read_fd(0, &mut buf) {
                Ok(0) => return Some(Outcome::Lost("the terminal closed".into())),
                Ok(n) => {
                    actions.extend(self.keys.feed(&buf[..n]));
                    // A short read emptied the terminal; more keys bring a new event.
                    self.stdin_ready = n == buf.len();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.stdin_ready = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Some(Outcome::Lost(format!("cannot read the terminal: {e}"))),
            }
        }
        if !self.keys.holding() {
            self.held_at = None;
        } else if actions.is_empty() {
            let since = *self.held_at.get_or_insert_with(Instant::now);
            if since.elapsed() >= KEY_WAIT {
                actions = self.keys.flush();
                self.held_at = None;
            }
        } else {
            self.held_at = Some(Instant::now());
        }
        if self.recap_until.is_some() && !actions.is_empty() {
            // A key dismisses the recap and is not typed; the detach key still detaches.
            self.recap_until = None;
            return actions
                .contains(&Action::Detach)
                .then_some(Outcome::Detached);
        }
        for action in actions {
            match action {
                Action::Input(bytes) => self.conn.send_data(&bytes),
                Action::Left(raw) => self.conn.send(&HostRequest::Left {
                    raw: String::from_utf8_lossy(&raw).into_owned(),
                }),
                Action::Enter(raw) => self.conn.send(&HostRequest::Enter {
                    raw: String::from_utf8_lossy(&raw).into_owned(),
                }),
                Action::Detach => return Some(Outcome::Detached),
            }
        }
        None
    }

    /// Takes what the host sent: frames already read first, then more from the socket, as
    /// long as the terminal keeps up and no recap is on screen.
    fn read_socket(&mut self) -> Option<Outcome> {
        loop {
            while self.recap_until.is_none() && self.out.pending() < OUT_LIMIT {
                match self.conn.next_message::<Reply>() {
                    Ok(None) => break,
                    Ok(Some(Err(bytes))) => self.output(&bytes),
                    Ok(Some(Ok(reply))) => {
                        if let Some(outcome) = self.on_reply(reply) {
                            return Some(outcome);
                        }
                    }
                    Err(e) => return Some(Outcome::Lost(format!("bad data from the host: {e}"))),
                }
            }
            if self.recap_until.is_some() || self.out.pending() >= OUT_LIMIT {
                return None;
            }
            if self.conn.eof {
                return Some(Outcome::Lost("the session's host went away".into()));
            }
            if !self.socket_ready {
                return None;
            }
            // A bounded read, then decode it: a fast host cannot grow our memory.
            match self.conn.fill_some(256 * 1024) {
                Ok(more) => self.socket_ready = more,
                Err(e) => return Some(Outcome::Lost(format!("the connection failed: {e}"))),
            }
        }
    }

    fn on_reply(&mut self, reply: Reply) -> Option<Outcome> {
        match reply {
            Reply::Attached { recap, session } if !self.greeted => {
                self.greeted = true;
                if let Some(recap) = recap {
                    let text = recap::render(&session, &recap);
                    self.out.queue().extend_from_slice(text.as_bytes());
                    self.recap_until = Some(Instant::now() + RECAP_TIME);
                }
                None
            }
            Reply::Detach => Some(Outcome::Detached),
            Reply::State { session } if session.process != Process::Alive => {
                Some(Outcome::Ended(session))
            }
            Reply::Error { message } => Some(Outcome::Lost(message)),
            _ => None,
        }
    }

    /// Session output for the terminal; notes alternate-screen switches so detaching can
    /// leave the terminal on its main screen.
    fn output(&mut self, bytes: &[u8]) {
        if let Some(alt) = last_screen_switch(bytes) {
            self.alternate = alt;
        }
        self.out.queue().extend_from_slice(bytes);
    }

    /// Puts the terminal back the way a shell expects it and says why the attach ended.
    fn leave(&mut self) {
        let mut text = String::new();
        if self.alternate {
            text.push_str("\x1b[?1049l");
        } else {
            // Below whatever the session drew, so it stays readable.
            text.push_str(&format!("\x1b[{};1H\r\n", self.rows));
        }
        text.push_str("\x1b[0m\x1b[?25h\x1b[?2004l\x1b[?1l\x1b>");
        text.push_str("\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l");
        // Unsent output is dropped: the terminal must not wait on a slow session.
        self.out.discard();
        self.out.finish(text.as_bytes());
    }
}

/// Whether the last alternate-screen switch in `bytes` enters (`true`) or leaves it.
fn last_screen_switch(bytes: &[u8]) -> Option<bool> {
    let mut found = None;
    for prefix in [&b"\x1b[?1049"[..], b"\x1b[?1047", b"\x1b[?47"] {
        for at in memchr::memmem::find_iter(bytes, prefix) {
            let mode = bytes.get(at + prefix.len()).copied();
            let state = match mode {
                Some(b'h') => true,
                Some(b'l') => false,
                _ => continue,
            };
            if found.is_none_or(|(pos, _)| at > pos) {
                found = Some((at, state));
            }
        }
    }
    found.map(|(_, state)| state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screen_switches_are_tracked() {
        assert_eq!(last_screen_switch(b"abc"), None);
        assert_eq!(last_screen_switch(b"\x1b[?1049h..."), Some(true));
        assert_eq!(last_screen_switch(b"\x1b[?1049h..\x1b[?1049l"), Some(false));
        assert_eq!(last_screen_switch(b"\x1b[?47l..\x1b[?1047h"), Some(true));
    }
}
