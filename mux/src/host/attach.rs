//! Attached terminals (SPEC 5): the snapshot that repaints a terminal exactly, live output
//! forwarded raw, sizes, the keys the host decides (`←` and `/bg` at an empty prompt), and
//! the recap of what happened while nobody watched.
//!
//! A client never slows the agent: each has a bounded queue; one that falls behind loses
//! its backlog and gets a fresh snapshot once it drains (DESIGN "Attach").

use std::time::{Duration, Instant, SystemTime};

use mio::Token;

use super::{Host, Role};
use crate::protocol::{Change, Process, Recap, Reply, State};

/// A client that made no progress for this long with output queued is disconnected.
pub(super) const STALL_LIMIT: Duration = Duration::from_secs(600);

/// State changes remembered for the recap.
const CHANGES_KEPT: usize = 32;

/// Resets the modes a snapshot may not mention (mouse reporting, scroll region) before
/// `state_formatted`, which sets the rest.
const RESET_MODES: &str = "\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1005l\x1b[?1006l\x1b[r";

/// How an attached terminal gets output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Feed {
    /// Every byte as it is read.
    Live,
    /// Its queue was full, or it was just repainted: fed from the backlog from this output
    /// offset, at its own pace, until it has caught up.
    Replay(u64),
    /// Waiting for a fresh snapshot (just attached, or too far behind to replay).
    Snapshot,
}

/// One attached terminal.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Terminal {
    pub rows: u16,
    pub cols: u16,
    /// Higher is more recent: the most recently active terminal sets the PTY size.
    pub active: u64,
    /// How output reaches it.
    pub feed: Feed,
    /// When the client last took bytes off its queue.
    pub progress_at: Instant,
}

impl Terminal {
    /// DESIGN: `max(256 KiB, rows*cols*8)`.
    fn queue_limit(&self) -> usize {
        (256 * 1024).max(self.rows as usize * self.cols as usize * 8)
    }
}

/// What the user typed on the current input line, as far as the host can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Typed {
    Text(String),
    /// Cursor keys or other sequences: the line can no longer be known from keystrokes.
    Unknown,
}

/// A state change, for the recap.
pub(super) struct Event {
    at: SystemTime,
    state: State,
    pub(super) summary: Option<String>,
}

impl Host {
    pub(super) fn attach(&mut self, token: Token, rows: u16, cols: u16) {
        if !self.agent_running(token) {
            return;
        }
        self.active_counter += 1;
        let term = Terminal {
            rows: rows.max(2),
            cols: cols.max(10),
            active: self.active_counter,
            feed: Feed::Snapshot,
            progress_at: Instant::now(),
        };
        let recap = self.recap();
        if let Some(c) = self.clients.get_mut(&token) {
            c.role = Role::Attached(term);
        }
        self.count_attached();
        let session = Box::new(self.session.clone());
        self.reply(token, &Reply::Attached { session, recap });
        let resized = self.apply_size();
        self.try_resync(token);
        if !resized {
            // Full-screen programs repaint on SIGWINCH; vt100 cannot restore everything
            // (scroll regions), so let them.
            if let Some(agent) = &self.agent {
                agent.nudge_size();
            }
        }
    }

    pub(super) fn resize_request(&mut self, token: Token, rows: u16, cols: u16) {
        if let Some(Role::Attached(t)) = self.clients.get_mut(&token).map(|c| &mut c.role) {
            t.rows = rows.max(2);
            t.cols = cols.max(10);
            self.apply_size();
        }
    }

    /// Typed input from an attached client: it becomes the most recently active one.
    pub(super) fn touch(&mut self, token: Token) {
        let mut changed = false;
        if let Some(Role::Attached(t)) = self.clients.get_mut(&token).map(|c| &mut c.role) {
            if t.active != self.active_counter {
                self.active_counter += 1;
                t.active = self.active_counter;
                changed = true;
            }
        }
        if changed {
            self.apply_size();
        }
    }

    /// Sizes the PTY (and the screen) to the most recently active terminal. Returns whether
    /// the size changed.
    pub(super) fn apply_size(&mut self) -> bool {
        let Some((rows, cols)) = self
            .attached()
            .max_by_key(|t| t.active)
            .map(|t| (t.rows, t.cols))
        else {
            return false;
        };
        if (rows, cols) == self.screen.size() {
            return false;
        }
        // The screen must take the new size at the same point of the output as the agent.
        self.catch_up();
        self.screen.set_size(rows, cols);
        if let Some(agent) = &self.agent {
            agent.resize(rows, cols);
        }
        self.session.rows = rows;
        self.session.cols = cols;
        self.dirty = true;
        true
    }

    fn attached(&self) -> impl Iterator<Item = &Terminal> {
        self.clients.values().filter_map(|c| match &c.role {
            Role::Attached(t) => Some(t),
            _ => None,
        })
    }

    pub(super) fn count_attached(&mut self) {
        let n = self.attached().count() as u32;
        self.attached_count = n as usize;
        if self.session.attached != n {
            self.session.attached = n;
            self.dirty = true;
        }
    }

    /// A client went away: remember when, for the next recap, and hand the size on.
    pub(super) fn detached(&mut self) {
        self.last_detach = Some(SystemTime::now());
        self.touched();
        self.count_attached();
        self.apply_size();
    }

    /// Raw output to every live attached client, before the parser sees it. A client whose
    /// queue is full stops taking live output and is fed from the backlog at its own pace,
    /// from `at` (the offset of `bytes`); nothing is lost or sent twice.
    pub(super) fn forward(&mut self, bytes: &[u8], at: u64) {
        for c in self.clients.values_mut() {
            let Role::Attached(t) = &mut c.role else {
                continue;
            };
            if t.feed != Feed::Live {
                continue;
            }
            // Write now, as dtach would: the queue only holds what the socket would not take.
            // A broken connection is noticed and dropped at the end of the turn.
            if c.conn.queued() > 0 && !c.conn.blocked {
                let _ = c.conn.flush();
            }
            if c.conn.queued() + bytes.len() > t.queue_limit() {
                t.feed = Feed::Replay(at);
                continue;
            }
            c.conn.send_data(bytes);
            if !c.conn.blocked {
                let _ = c.conn.flush();
            }
        }
    }

    /// Sends a waiting client its snapshot once it can take data again (a stopped one
    /// waits), and feeds replaying clients the output that followed their snapshot.
    pub(super) fn resync_clients(&mut self) {
        if self.attached_count == 0 {
            return;
        }
        let ready: Vec<Token> = self
            .clients
            .iter()
            .filter(|(_, c)| ready_for_snapshot(c))
            .map(|(token, _)| *token)
            .collect();
        for token in ready {
            self.try_resync(token);
        }
        for c in self.clients.values_mut() {
            if let Role::Attached(t) = &mut c.role {
                feed_replay(t, &mut c.conn, &self.backlog);
            }
        }
        self.trim_backlog();
    }

    /// Repaints a client from the screen as parsed so far; the output after that point is
    /// replayed to it from the backlog, so this never waits for the parser.
    fn try_resync(&mut self, token: Token) {
        let snapshot = self.snapshot();
        let Some(c) = self.clients.get_mut(&token) else {
            return;
        };
        let Role::Attached(t) = &mut c.role else {
            return;
        };
        t.feed = Feed::Replay(self.backlog.parsed);
        for chunk in snapshot.as_bytes().chunks(crate::protocol::MAX_PAYLOAD) {
            c.conn.send_data(chunk);
        }
        feed_replay(t, &mut c.conn, &self.backlog);
    }

    /// Drops output nobody needs any more: parsed, and replayed to every client. A client
    /// so far behind that it holds more than `BACKLOG_MAX` loses its queue and waits for a
    /// fresh snapshot once it drains.
    pub(super) fn trim_backlog(&mut self) {
        let limit = super::BACKLOG_MAX as u64;
        let end = self.backlog.end();
        let mut keep = end;
        for c in self.clients.values_mut() {
            if let Role::Attached(t) = &mut c.role {
                if let Feed::Replay(pos) = t.feed {
                    if end - pos > limit {
                        t.feed = Feed::Snapshot;
                        c.conn.drop_unsent();
                    } else {
                        keep = keep.min(pos);
                    }
                }
            }
        }
        self.backlog.trim(keep);
    }

    /// Bytes that turn any terminal into a copy of the (parsed) screen: the alternate screen
    /// when it is active, contents, colours, cursor and input modes.
    fn snapshot(&self) -> String {
        let vt = self.screen.vt();
        let mut s = String::new();
        s.push_str(if vt.alternate_screen() {
            "\x1b[?1049h"
        } else {
            "\x1b[?1049l"
        });
        s.push_str(RESET_MODES);
        s.push_str(&vt.state_formatted());
        s
    }

    /// The agent exited: attached clients get the final session and end their attach.
    pub(super) fn tell_attached_the_end(&mut self) {
        let msg = Reply::State {
            session: Box::new(self.session.clone()),
        };
        for c in self.clients.values_mut() {
            if matches!(c.role, Role::Attached(_)) {
                c.conn.send(&msg);
            }
        }
    }

    /// Attached clients that took nothing off their queue for `STALL_LIMIT`.
    pub(super) fn check_stalls(&mut self, now: Instant) -> Vec<Token> {
        self.clients
            .iter()
            .filter(|(_, c)| {
                matches!(c.role, Role::Attached(t) if c.conn.queued() > 0
                    && now.duration_since(t.progress_at) > STALL_LIMIT)
            })
            .map(|(token, _)| *token)
            .collect()
    }

    /// When the next stalled client would be dropped.
    pub(super) fn next_stall(&self) -> Option<Instant> {
        self.clients
            .values()
            .filter_map(|c| match c.role {
                Role::Attached(t) if c.conn.queued() > 0 => Some(t.progress_at + STALL_LIMIT),
                _ => None,
            })
            .min()
    }

    /// `←`: detach when the prompt is empty, else it is a key for the agent.
    pub(super) fn left(&mut self, token: Token, raw: &str) {
        self.touch(token);
        self.settle();
        let typed_nothing = !matches!(&self.typed, Typed::Text(t) if !t.is_empty());
        if typed_nothing && self.prompt_before_cursor().is_some() {
            self.reply(token, &Reply::Detach);
            return;
        }
        self.typed = Typed::Unknown;
        self.input_since_report = true;
        self.write_input(raw.as_bytes());
    }

    /// Enter: `/bg [text]` typed at an empty prompt sends `text` and detaches.
    pub(super) fn enter(&mut self, token: Token, raw: &str) {
        self.touch(token);
        let typed = std::mem::replace(&mut self.typed, Typed::Text(String::new()));
        let command = match (&typed, self.line_at_prompt) {
            (Typed::Text(t), true) => bg_command(t),
            _ => None,
        };
        self.line_at_prompt = false;
        self.input_since_report = true;
        let Some(text) = command else {
            self.write_input(raw.as_bytes());
            return;
        };
        // Erase what was typed, as the user would with backspace.
        let Typed::Text(t) = &typed else { return };
        let mut bytes = vec![0x7f; t.chars().count()];
        if !text.is_empty() {
            bytes.extend_from_slice(text.as_bytes());
            bytes.extend_from_slice(raw.as_bytes());
        }
        self.write_input(&bytes);
        self.reply(token, &Reply::Detach);
    }

    /// Keeps track of the line being typed (for `/bg`) from the bytes sent to the agent.
    pub(super) fn track_typing(&mut self, bytes: &[u8]) {
        if matches!(&self.typed, Typed::Text(t) if t.is_empty()) {
            // The first key of a line: was the prompt empty when the user started typing?
            self.settle();
            self.line_at_prompt = self.prompt_before_cursor().is_some();
        }
        let Typed::Text(line) = &mut self.typed else {
            return;
        };
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                for ch in s.chars() {
                    match ch {
                        '\x7f' | '\x08' => {
                            line.pop();
                        }
                        '\x15' => line.clear(),
                        c if c.is_control() => {
                            self.typed = Typed::Unknown;
                            return;
                        }
                        c => line.push(c),
                    }
                }
            }
            Err(_) => self.typed = Typed::Unknown,
        }
    }

    /// The text before the cursor when the cursor sits at an empty prompt (SPEC 5): not on
    /// the alternate screen, nothing but blanks and box drawing after the cursor, and the
    /// text before it ending in a prompt marker.
    pub(super) fn prompt_before_cursor(&self) -> Option<String> {
        let vt = self.screen.vt();
        if vt.alternate_screen() {
            return None;
        }
        let (row, col) = vt.cursor_position();
        let (_, cols) = self.screen.size();
        for c in col..cols {
            let cell = vt.cell(row, c)?;
            if !cell
                .contents()
                .chars()
                .all(|ch| ch == ' ' || is_box_drawing(ch))
            {
                return None;
            }
        }
        let before = vt.contents_between(row, 0, row, col);
        let before = before.trim_end();
        self.is_prompt(before).then(|| before.to_string())
    }

    fn is_prompt(&self, before: &str) -> bool {
        if let Some(re) = &self.prompt_pattern {
            if re.find_iter(before).any(|m| m.end() == before.len()) {
                return true;
            }
        }
        before.ends_with(['>', '❯', '›', '$', '#', '%'])
    }

    /// Remembers a state change for the recap.
    pub(super) fn remember_change(&mut self) {
        let s = &self.session;
        if self.changes.back().is_some_and(|e| e.state == s.state) {
            return;
        }
        if self.changes.len() == CHANGES_KEPT {
            self.changes.pop_front();
        }
        self.changes.push_back(Event {
            at: SystemTime::now(),
            state: s.state,
            summary: s.summary.clone(),
        });
    }

    /// What happened since the last detach (or since the host started), when something
    /// worth interrupting the attach for did: a question, an end, a PR.
    fn recap(&self) -> Option<Recap> {
        let since = self.last_detach.unwrap_or(self.started_at);
        let now = SystemTime::now();
        let ago = |t: SystemTime| now.duration_since(t).unwrap_or_default().as_secs();
        let changes: Vec<Change> = self
            .changes
            .iter()
            .filter(|e| e.at > since)
            .map(|e| Change {
                ago_s: ago(e.at),
                state: e.state,
                summary: e.summary.clone(),
            })
            .collect();
        let prs: Vec<String> = self.session.prs.iter().map(|p| p.url.clone()).collect();
        let news = changes.iter().any(|c| {
            matches!(
                c.state,
                State::NeedsInput | State::Completed | State::Failed | State::Stopped
            )
        });
        if !news && prs.is_empty() {
            return None;
        }
        let question = (self.session.state == State::NeedsInput
            && self.session.process == Process::Alive)
            .then(|| self.session.question.clone())
            .flatten();
        Some(Recap {
            away_s: ago(since),
            changes,
            question,
            prs,
        })
    }
}

/// Queues backlog for a replaying client while its queue has room; it is live once it has
/// everything.
fn feed_replay(t: &mut Terminal, conn: &mut crate::conn::Conn, backlog: &super::Backlog) {
    let room = t.queue_limit() / 2;
    while let Feed::Replay(pos) = t.feed {
        if conn.queued() >= room {
            break;
        }
        let chunk = backlog.slice_from(pos, 64 * 1024);
        if chunk.is_empty() {
            t.feed = Feed::Live;
            break;
        }
        conn.send_data(chunk);
        t.feed = Feed::Replay(pos + chunk.len() as u64);
        if !conn.blocked {
            let _ = conn.flush();
        }
    }
}

fn ready_for_snapshot(c: &super::Client) -> bool {
    matches!(c.role, Role::Attached(t) if t.feed == Feed::Snapshot)
        && c.conn.queued() == 0
        && !c.conn.blocked
}

/// `/bg` or `/bg text` (what follows is sent); anything else is `None`.
fn bg_command(line: &str) -> Option<String> {
    let rest = line.trim().strip_prefix("/bg")?;
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    Some(rest.trim().to_string())
}

fn is_box_drawing(ch: char) -> bool {
    ('\u{2500}'..='\u{257f}').contains(&ch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bg_commands() {
        assert_eq!(bg_command("/bg"), Some(String::new()));
        assert_eq!(
            bg_command("/bg run the tests "),
            Some("run the tests".into())
        );
        assert_eq!(bg_command("/bgx"), None);
        assert_eq!(bg_command("say /bg"), None);
    }
}
