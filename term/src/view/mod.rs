//! The agent view (`crew agents`, SPEC 4): every session on one screen.
//!
//! One mio loop over the keyboard, the supervisor's push stream (`Watch`), the helper
//! thread's results, stdout and signals. Nothing in it blocks: requests go to the helper
//! thread (`worker`), output goes through a buffer drained as the terminal accepts it. It
//! redraws only when something changed, diffing the new frame against the last, and wakes
//! on a timer only to animate a working icon (10 frames/s), to tick an age, or to refresh
//! an open peek of a working session.
//!
//! One module per panel: `header`, `table`, `peek`, `input` (status, input, key hints),
//! `help`; `model` holds the state they draw, `keys` what each key does, `command` how the
//! input is read.

mod command;
mod draw;
mod frame;
mod header;
mod help;
mod input;
mod keys;
mod model;
mod peek;
mod table;
mod worker;

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use mux::conn::Conn;
use mux::protocol::Reply;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGWINCH};
use signal_hook_mio::v1_0::Signals;
use termwiz::input::{InputEvent, InputParser};

use crate::groups::Item;
use crate::raw::{self, read_fd, Output, Raw};

pub use frame::{Cursor, Frame};
pub use model::{Model, Peek, Settings};
pub use worker::{Handler, NewSession, Outcome, Request};

const STDIN: Token = Token(0);
const SUPERVISOR: Token = Token(1);
const SIGNALS: Token = Token(2);
const STDOUT: Token = Token(3);
const WAKE: Token = Token(4);

/// How long a lone ESC waits for the rest of a key before it counts as Esc.
const ESC_WAIT: Duration = Duration::from_millis(25);
/// Animation frame interval while something shown is working (~10 frames/s).
const FRAME_TIME: Duration = Duration::from_millis(100);
/// How often an open peek of a working session is refreshed.
const PEEK_REFRESH: Duration = Duration::from_millis(700);
/// Wait before reconnecting to a supervisor that went away.
const RETRY: Duration = Duration::from_secs(1);
/// Frames are not drawn while this much output waits for a slow terminal.
const OUT_LIMIT: usize = 256 * 1024;

/// Alternate screen, bracketed paste, and xterm's modifyOtherKeys level 1 (so terminals
/// that can send Shift+Enter distinctly do).
const ENTER: &str = "\x1b[?1049h\x1b[?2004h\x1b[>4;1m\x1b[?25l";
const LEAVE: &str = "\x1b[0m\x1b[>4;0m\x1b[?2004l\x1b[?25h\x1b[?1049l";

/// Why the loop ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Esc, `/exit`, a signal, or the terminal went away.
    Quit,
    /// Hand the terminal to the attach client for this session, then come back.
    Attach(String),
}

/// Runs the view on this terminal until the user leaves or attaches. `m` carries the
/// selection, input and settings across runs (the view comes back the same after attach).
pub fn run(m: &mut Model, handler: &Handler) -> Result<Exit, String> {
    if unsafe { libc::isatty(0) == 0 || libc::isatty(1) == 0 } {
        return Err("the agent view needs a terminal on stdin and stdout".into());
    }
    let poll = Poll::new().map_err(|e| e.to_string())?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKE).map_err(|e| e.to_string())?);
    // Signals are watched before raw mode, so none can end us with the terminal left raw.
    let mut signals = Signals::new([SIGWINCH, SIGTERM, SIGHUP, SIGINT, SIGQUIT])
        .map_err(|e| format!("cannot watch signals: {e}"))?;
    let registry = poll.registry();
    registry
        .register(&mut signals, SIGNALS, Interest::READABLE)
        .and_then(|_| registry.register(&mut SourceFd(&0), STDIN, Interest::READABLE))
        .and_then(|_| registry.register(&mut SourceFd(&1), STDOUT, Interest::WRITABLE))
        .map_err(|e| format!("cannot watch the terminal: {e}"))?;
    let worker = worker::Worker::start(handler.clone(), waker);
    worker.send(Request::Subscribe);
    let _raw = Raw::enter().map_err(|e| format!("cannot put the terminal in raw mode: {e}"))?;
    let (rows, cols) = raw::size().unwrap_or((24, 80));
    m.connected = false;
    if let Some(p) = &mut m.peek {
        p.pending = false;
        p.asked = None;
    }
    let mut view = View {
        poll,
        worker,
        conn: None,
        frame: Frame::new(cols as usize, rows as usize),
        out: Output::default(),
        stdin_ready: true,
        supervisor_ready: false,
        parser: InputParser::new(),
        esc_at: None,
        dirty: true,
        anim: 0,
        anim_at: Instant::now(),
        tick_at: None,
        retry_at: None,
        rows: rows as usize,
        cols: cols as usize,
    };
    view.out.queue().extend_from_slice(ENTER.as_bytes());
    let exit = view.serve(m, &mut signals);
    view.leave();
    Ok(exit)
}

struct View {
    poll: Poll,
    worker: worker::Worker,
    /// The supervisor's push stream, once subscribed.
    conn: Option<Conn>,
    frame: Frame,
    out: Output,
    stdin_ready: bool,
    supervisor_ready: bool,
    parser: InputParser,
    /// When input ended in an ESC that may start a longer key.
    esc_at: Option<Instant>,
    /// Something changed since the last frame.
    dirty: bool,
    anim: usize,
    anim_at: Instant,
    /// When a shown age or countdown next changes.
    tick_at: Option<Instant>,
    retry_at: Option<Instant>,
    rows: usize,
    cols: usize,
}

impl View {
    fn serve(&mut self, m: &mut Model, signals: &mut Signals) -> Exit {
        let mut events = Events::with_capacity(16);
        loop {
            if self.dirty && self.out.pending() < OUT_LIMIT {
                self.render(m);
            }
            self.out.write();
            let timeout = self.timeout(m);
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log::error!("the view's poll failed: {e}");
                    return Exit::Quit;
                }
            }
            let mut outcomes = false;
            for event in events.iter() {
                match event.token() {
                    STDIN => self.stdin_ready = true,
                    SUPERVISOR => self.supervisor_ready = true,
                    STDOUT => self.out.blocked = false,
                    WAKE => outcomes = true,
                    SIGNALS => {
                        for sig in signals.pending() {
                            if sig != SIGWINCH {
                                return Exit::Quit;
                            }
                            self.resize();
                        }
                    }
                    _ => {}
                }
            }
            let mut fx = keys::Effects::default();
            let keys_due = self.stdin_ready || self.esc_at.is_some();
            if keys_due && !self.read_keys(m, &mut fx) {
                return Exit::Quit;
            }
            if self.supervisor_ready {
                self.read_supervisor(m);
            }
            if outcomes {
                while let Ok(outcome) = self.worker.outcomes.try_recv() {
                    self.on_outcome(m, outcome, &mut fx);
                }
            }
            self.on_timers(m);
            for r in fx.requests.drain(..) {
                self.worker.send(r);
            }
            if let Some(exit) = fx.exit {
                return exit;
            }
        }
    }

    fn timeout(&self, m: &Model) -> Option<Duration> {
        let now = Instant::now();
        let mut at: Vec<Instant> = Vec::new();
        if let Some(t) = self.esc_at {
            at.push(t + ESC_WAIT);
        }
        if m.animating() {
            at.push(self.anim_at + FRAME_TIME);
        }
        at.extend(self.tick_at);
        at.extend(self.retry_at);
        if let Some(p) = m.peek.as_ref().filter(|p| !p.pending) {
            match p.asked {
                None => at.push(now),
                Some(t) if m.item(&p.id).is_some_and(|i| i.state == "working") => {
                    at.push(t + PEEK_REFRESH)
                }
                _ => {}
            }
        }
        at.into_iter()
            .min()
            .map(|t| t.saturating_duration_since(now))
    }

    fn resize(&mut self) {
        if let Some((rows, cols)) = raw::size() {
            self.rows = rows as usize;
            self.cols = cols as usize;
            self.frame.invalidate(self.cols, self.rows);
            self.dirty = true;
        }
    }

    /// Reads the keyboard until it would block and acts on each key. False when the
    /// terminal is gone.
    fn read_keys(&mut self, m: &mut Model, fx: &mut keys::Effects) -> bool {
        let mut buf = [0u8; 4096];
        let mut events = Vec::new();
        while self.stdin_ready {
            match read_fd(0, &mut buf) {
                Ok(0) => return false,
                Ok(n) => {
                    self.parser.parse(&buf[..n], |e| events.push(e), true);
                    if buf[..n].contains(&0x1b) {
                        self.esc_at = Some(Instant::now());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.stdin_ready = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        if self.esc_at.is_some_and(|t| t.elapsed() >= ESC_WAIT) {
            self.esc_at = None;
            self.parser.parse(b"", |e| events.push(e), false);
        }
        for e in events {
            if let InputEvent::Resized { .. } = e {
                self.resize();
                continue;
            }
            keys::on_event(m, e, fx);
            self.dirty = true;
            if fx.exit.is_some() {
                break;
            }
        }
        true
    }

    fn read_supervisor(&mut self, m: &mut Model) {
        self.supervisor_ready = false;
        let Some(conn) = &mut self.conn else { return };
        let mut lost = conn.fill().is_err();
        loop {
            match conn.next_message::<Reply>() {
                Ok(None) => break,
                Ok(Some(Ok(reply))) => {
                    self.dirty = true;
                    on_push(m, reply);
                }
                Ok(Some(Err(_))) | Err(_) => {
                    lost = true;
                    break;
                }
            }
        }
        if lost || conn.eof {
            if let Some(mut c) = self.conn.take() {
                let _ = self.poll.registry().deregister(&mut c.stream);
            }
            m.connected = false;
            self.retry_at = Some(Instant::now() + RETRY);
            self.dirty = true;
        }
    }

    fn on_outcome(&mut self, m: &mut Model, outcome: Outcome, fx: &mut keys::Effects) {
        self.dirty = true;
        match outcome {
            Outcome::Subscribed(stream) => {
                let _ = stream.set_nonblocking(true);
                let stream = mio::net::UnixStream::from_std(stream);
                match Conn::register(stream, self.poll.registry(), SUPERVISOR) {
                    Ok(conn) => {
                        self.conn = Some(conn);
                        self.supervisor_ready = true;
                        self.read_supervisor(m);
                    }
                    Err(e) => {
                        m.say(format!("cannot watch the supervisor: {e}"));
                        self.retry_at = Some(Instant::now() + RETRY);
                    }
                }
            }
            Outcome::Unreachable(why) => {
                m.say(why);
                self.retry_at = Some(Instant::now() + RETRY);
            }
            Outcome::Dispatched {
                id,
                name,
                attach,
                note,
            } => {
                if attach {
                    fx.exit = Some(Exit::Attach(id));
                } else {
                    m.say(match note {
                        Some(note) => format!("Dispatched {name} · {note}"),
                        None => format!("Dispatched {name}"),
                    });
                    if !m.select_session(&id) {
                        m.pending_select = Some(id);
                    }
                }
            }
            Outcome::Screen {
                id,
                rows,
                cols,
                bytes,
            } => {
                if let Some(p) = m.peek.as_mut().filter(|p| p.id == id) {
                    let mut parser = vt100::Parser::new(
                        std::num::NonZeroU16::new(rows.max(1)).expect("rows"),
                        std::num::NonZeroU16::new(cols.max(1)).expect("cols"),
                        0,
                    );
                    parser.process(&bytes);
                    p.screen = Some(parser);
                    p.pending = false;
                    p.asked = Some(Instant::now());
                }
            }
            Outcome::Failed(text) => m.say(text),
            Outcome::Quiet => {}
            Outcome::Said(text) => m.say(text),
        }
    }

    fn on_timers(&mut self, m: &mut Model) {
        let now = Instant::now();
        if m.animating() && now >= self.anim_at + FRAME_TIME {
            self.anim = self.anim.wrapping_add(1);
            self.anim_at = now;
            self.dirty = true;
        }
        if self.tick_at.is_some_and(|t| now >= t) {
            self.tick_at = None;
            self.dirty = true;
        }
        if self.retry_at.is_some_and(|t| now >= t) {
            self.retry_at = None;
            self.worker.send(Request::Subscribe);
        }
        if let Some(p) = m.peek.as_mut().filter(|p| !p.pending) {
            let working = m.items.iter().any(|i| i.id == p.id && i.state == "working");
            let due = match p.asked {
                None => true,
                Some(t) => working && now >= t + PEEK_REFRESH,
            };
            if due {
                p.pending = true;
                p.asked = Some(now);
                self.worker.send(Request::Screen(p.id.clone()));
            }
        }
    }

    fn render(&mut self, m: &mut Model) {
        self.dirty = false;
        let now = SystemTime::now();
        let cursor = draw_all(m, &mut self.frame, now, self.anim);
        self.frame.render(cursor, self.out.queue());
        self.tick_at = next_tick(m).map(|d| Instant::now() + d);
    }

    /// Gives the terminal back: main screen, modes off, cursor shown.
    fn leave(&mut self) {
        self.out.finish(LEAVE.as_bytes());
    }
}

/// A push from the supervisor's stream.
fn on_push(m: &mut Model, reply: Reply) {
    let item = |v: serde_json::Value| serde_json::from_value::<Item>(v).unwrap_or_default();
    match reply {
        Reply::Sessions { sessions } => {
            m.connected = true;
            m.set_items(sessions.into_iter().map(item).collect());
        }
        Reply::Changed { session } => {
            let item = item(session);
            if let Some(p) = m.peek.as_mut().filter(|p| p.id == item.id && !p.pending) {
                // Its screen has moved on too.
                p.asked = None;
            }
            m.upsert(item);
        }
        Reply::Removed { id } => m.remove(&id),
        _ => {}
    }
}

/// Draws a whole frame of the view; returns where the cursor goes. Public for the
/// benchmark, which times it.
pub fn draw_all(m: &mut Model, f: &mut Frame, now: SystemTime, anim: usize) -> Cursor {
    let (cols, rows) = f.size();
    header::draw(m, f, cols);
    let top = 1;
    let body = rows.saturating_sub(4);
    if m.mode == model::Mode::Help {
        help::draw(m, f, top, body, cols);
    } else if m.peek.is_some() {
        let peek_h = (body / 2).max(body.min(8));
        let table_h = body - peek_h;
        table::draw(m, f, top, table_h, cols, now, anim);
        peek::draw(m, f, top + table_h, peek_h, cols);
    } else {
        table::draw(m, f, top, body, cols, now, anim);
    }
    input::draw(m, f, rows, cols, Instant::now())
}

/// How long until something drawn changes by itself: an age (`45s` → `46s`), a loop's
/// countdown (both as the table found them while drawing), a status message going away.
fn next_tick(m: &Model) -> Option<Duration> {
    let mut d = m.next_change.map(Duration::from_secs);
    if let Some((_, at)) = &m.status {
        let left = input::STATUS_TIME.saturating_sub(at.elapsed());
        if !left.is_zero() {
            d = Some(d.map_or(left, |d| d.min(left)));
        }
    }
    d
}
