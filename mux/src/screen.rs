//! A session's terminal as the host sees it: a vt100 screen with no scrollback of its own,
//! plus a compact history of the plain-text rows that scrolled off the top.
//!
//! vt100 costs about 31 bytes a cell, so its scrollback stays at zero and older rows are kept
//! as text (a few bytes a cell); the transcript on disk is the full record. The same type
//! rebuilds a screen from a transcript when the host is gone.

use std::collections::VecDeque;
use std::num::NonZeroU16;

use vt100::capture::{basic_formatted_to_plain, BasicFormattedCaptureState, RowContents};

/// Rows of history kept in memory, and the most text they may hold: 2,000 lines of 128
/// bytes, or 5,000 short ones. The ring is allocated once at this size and never grows, so a
/// host's memory is bounded whatever the agent prints.
pub const HISTORY_ROWS: usize = 5000;
pub const HISTORY_BYTES: usize = 256 * 1024;

/// Something the agent's output asked for or announced, for the host to act on.
#[derive(Debug, PartialEq, Eq)]
pub enum Signal {
    /// Bytes to write back into the PTY (answers to terminal queries).
    Answer(Vec<u8>),
    /// A real bell (not an OSC terminator), with the line it most likely refers to.
    Bell { line: String },
    /// An OSC 9 / 777 / 99 desktop notification.
    Notification { text: String },
    /// The window title changed (OSC 0 / 2).
    Title,
}

/// Rows that scrolled off the screen, as plain text, oldest first.
#[derive(Default)]
pub struct History {
    text: VecDeque<u8>,
    /// Per row: byte length, with the top bit set when the row wraps into the next.
    rows: VecDeque<u32>,
    /// Rows ever scrolled off (including those dropped from memory): the line number of
    /// the first screen row.
    pub scrolled: u64,
}

const WRAPPED: u32 = 1 << 31;

impl History {
    fn push(&mut self, text: &str) {
        let len = text.len().min(HISTORY_BYTES);
        // Make room first, so the ring never grows past its one allocation.
        while !self.rows.is_empty()
            && (self.rows.len() >= HISTORY_ROWS || self.text.len() + len > HISTORY_BYTES)
        {
            let Some(first) = self.rows.pop_front() else {
                break;
            };
            self.text.drain(..(first & !WRAPPED) as usize);
        }
        if self.text.capacity() < HISTORY_BYTES {
            self.text.reserve_exact(HISTORY_BYTES - self.text.len());
        }
        self.text.extend(&text.as_bytes()[..len]);
        self.rows.push_back(len as u32);
        self.scrolled += 1;
    }

    fn mark_last_wrapped(&mut self, wrapped: bool) {
        if let Some(last) = self.rows.back_mut() {
            if wrapped {
                *last |= WRAPPED;
            } else {
                *last &= !WRAPPED;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Line number of the oldest row still in memory.
    pub fn first(&self) -> u64 {
        self.scrolled - self.rows.len() as u64
    }

    /// Every retained row as (text, wraps into next).
    pub fn rows(&self) -> impl Iterator<Item = (String, bool)> + '_ {
        self.rows_from(0)
    }

    /// Retained rows from the `skip`-th on, without building the ones before it.
    pub fn rows_from(&self, skip: usize) -> impl Iterator<Item = (String, bool)> + '_ {
        let mut start: usize = self
            .rows
            .iter()
            .take(skip)
            .map(|&r| (r & !WRAPPED) as usize)
            .sum();
        self.rows.iter().skip(skip).map(move |&r| {
            let len = (r & !WRAPPED) as usize;
            let bytes: Vec<u8> = self.text.range(start..start + len).copied().collect();
            start += len;
            (
                String::from_utf8_lossy(&bytes).into_owned(),
                r & WRAPPED != 0,
            )
        })
    }
}

/// What the vt100 callbacks collect while output is processed.
#[derive(Default)]
pub struct Hooks {
    pub history: History,
    pub signals: Vec<Signal>,
    pub title: Option<String>,
    capture: BasicFormattedCaptureState,
    scratch: String,
    /// The same row as plain text; both buffers are reused for every row that scrolls.
    plain: String,
}

impl vt100::Callbacks for Hooks {
    fn audible_bell(&mut self, screen: &mut vt100::Screen) {
        self.signals.push(Signal::Bell {
            line: line_at_cursor(screen),
        });
    }

    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.set_title(title);
    }

    fn unhandled_osc(&mut self, _: &mut vt100::Screen, params: &[&[u8]]) {
        let text = |ps: &[&[u8]]| {
            let joined: Vec<u8> = ps.join(&b';');
            String::from_utf8_lossy(&joined).into_owned()
        };
        match params.first().copied() {
            // A title containing ';' is split by vt100; join it back.
            Some(b"0") | Some(b"2") if params.len() > 1 => {
                let joined: Vec<u8> = params[1..].join(&b';');
                self.set_title(&joined);
            }
            // OSC 9;4 is a progress report (ConEmu, Windows Terminal), not a notification.
            Some(b"9") if params.len() > 1 && params[1] != b"4" => {
                self.signals.push(Signal::Notification {
                    text: text(&params[1..]),
                });
            }
            // OSC 777;notify;TITLE;BODY
            Some(b"777") if params.len() > 2 && params[1] == b"notify" => {
                let body = text(&params[3.min(params.len())..]);
                let title = text(&params[2..3]);
                let text = match (title.is_empty(), body.is_empty()) {
                    (_, true) => title,
                    (true, false) => body,
                    (false, false) => format!("{title}: {body}"),
                };
                self.signals.push(Signal::Notification { text });
            }
            // OSC 99;METADATA;PAYLOAD (kitty)
            Some(b"99") if params.len() > 2 => {
                self.signals.push(Signal::Notification {
                    text: text(&params[2..]),
                });
            }
            // Colour queries: answer with a dark default so programs that ask do not wait.
            Some(b"10") if params.get(1) == Some(&&b"?"[..]) => {
                self.signals
                    .push(Signal::Answer(b"\x1b]10;rgb:ffff/ffff/ffff\x1b\\".to_vec()));
            }
            Some(b"11") if params.get(1) == Some(&&b"?"[..]) => {
                self.signals
                    .push(Signal::Answer(b"\x1b]11;rgb:0000/0000/0000\x1b\\".to_vec()));
            }
            _ => {}
        }
    }

    fn unhandled_csi(
        &mut self,
        screen: &mut vt100::Screen,
        i1: Option<u8>,
        _i2: Option<u8>,
        params: &[&[u16]],
        c: char,
    ) {
        let first = params.first().and_then(|p| p.first()).copied().unwrap_or(0);
        let answer = match (i1, c, first) {
            // Cursor position report (DSR 6) and the DEC form.
            (None, 'n', 6) | (Some(b'?'), 'n', 6) => {
                let (row, col) = screen.cursor_position();
                let q = if i1.is_some() { "?" } else { "" };
                format!("\x1b[{q}{};{}R", row + 1, col + 1)
            }
            // Device status: OK.
            (None, 'n', 5) => "\x1b[0n".into(),
            // Primary device attributes: a VT220 with ANSI colour.
            (None, 'c', 0) => "\x1b[?62;22c".into(),
            // Secondary device attributes.
            (Some(b'>'), 'c', 0) => "\x1b[>1;10;0c".into(),
            // Kitty keyboard protocol query: no flags.
            (Some(b'?'), 'u', _) => "\x1b[?0u".into(),
            _ => return,
        };
        self.signals.push(Signal::Answer(answer.into_bytes()));
    }

    fn on_scroll(&mut self, row: RowContents<'_>, alternate_screen: bool) {
        if alternate_screen {
            return;
        }
        self.scratch.clear();
        let _ = row.write_formatted_basic(&mut self.scratch, &mut self.capture);
        // The capture state writes a newline before a row only when the previous row did
        // not wrap, which is how we learn whether it did.
        let starts_new_line = self.scratch.starts_with('\n');
        if !self.history.is_empty() {
            self.history.mark_last_wrapped(!starts_new_line);
        }
        self.plain.clear();
        self.plain.extend(basic_formatted_to_plain(&self.scratch));
        self.history
            .push(self.plain.trim_start_matches('\n').trim_end());
    }
}

impl Hooks {
    fn set_title(&mut self, title: &[u8]) {
        let title = String::from_utf8_lossy(title).into_owned();
        if self.title.as_deref() != Some(title.as_str()) {
            self.title = Some(title);
            self.signals.push(Signal::Title);
        }
    }
}

/// The last non-blank line at or above the cursor: what a bell most likely refers to.
fn line_at_cursor(screen: &vt100::Screen) -> String {
    let (row, _) = screen.cursor_position();
    let (_, cols) = screen.size();
    let rows: Vec<String> = screen.rows(0, cols.get()).take(row as usize + 1).collect();
    rows.iter()
        .rev()
        .map(|r| r.trim())
        .find(|r| !r.is_empty())
        .unwrap_or("")
        .to_string()
}

pub struct Screen {
    parser: vt100::Parser<Hooks>,
}

impl Screen {
    pub fn new(rows: u16, cols: u16) -> Screen {
        let rows = NonZeroU16::new(rows.max(2)).expect("rows");
        let cols = NonZeroU16::new(cols.max(10)).expect("cols");
        Screen {
            parser: vt100::Parser::new_with_callbacks(rows, cols, 0, Hooks::default()),
        }
    }

    /// Rebuilds the screen a transcript leaves behind.
    pub fn from_transcript(rows: u16, cols: u16, bytes: &[u8]) -> Screen {
        let mut s = Screen::new(rows, cols);
        s.process(bytes);
        s.take_signals();
        s
    }

    pub fn process(&mut self, bytes: &[u8]) {
        self.parser.process(bytes);
    }

    pub fn take_signals(&mut self) -> Vec<Signal> {
        std::mem::take(&mut self.parser.callbacks_mut().signals)
    }

    pub fn vt(&self) -> &vt100::Screen {
        self.parser.screen()
    }

    pub fn hooks(&self) -> &Hooks {
        self.parser.callbacks()
    }

    pub fn title(&self) -> Option<&str> {
        self.hooks().title.as_deref()
    }

    pub fn set_size(&mut self, rows: u16, cols: u16) {
        let rows = NonZeroU16::new(rows.max(2)).expect("rows");
        let cols = NonZeroU16::new(cols.max(10)).expect("cols");
        self.parser.screen_mut().set_size(rows, cols);
    }

    pub fn size(&self) -> (u16, u16) {
        let (r, c) = self.vt().size();
        (r.get(), c.get())
    }

    /// The visible rows as (text, wraps into next), trailing spaces trimmed.
    pub fn screen_rows(&self) -> Vec<(String, bool)> {
        let vt = self.vt();
        let (_, cols) = vt.size();
        vt.rows(0, cols.get())
            .enumerate()
            .map(|(i, r)| (r.trim_end().to_string(), vt.row_wrapped(i as u16)))
            .collect()
    }

    /// The visible screen with colours, as `Reply::Painted`.
    pub fn painted(&self) -> crate::protocol::Reply {
        let (rows, cols) = self.size();
        crate::protocol::Reply::Painted {
            rows,
            cols,
            text: self.vt().contents_formatted(),
        }
    }

    /// The visible screen as text, trailing blank lines trimmed (what `peek` shows).
    pub fn screen_text(&self) -> String {
        join_rows(self.screen_rows())
    }

    /// History and screen as text, wrapped rows joined, trailing blank lines trimmed
    /// (what `logs` shows and `screen.txt` holds).
    pub fn full_text(&self) -> String {
        let mut rows: Vec<(String, bool)> = self.hooks().history.rows().collect();
        rows.extend(self.screen_rows());
        join_rows(rows)
    }

    /// Line number just past the last finished row: rows above the cursor on the main
    /// screen are finished; a full-screen program's rows never are.
    pub fn finished_end(&self) -> u64 {
        let scrolled = self.hooks().history.scrolled;
        if self.vt().alternate_screen() {
            scrolled
        } else {
            scrolled + u64::from(self.vt().cursor_position().0)
        }
    }

    /// Line number just past the last non-blank row (everything, when the agent ended).
    pub fn content_end(&self) -> u64 {
        let rows = self.screen_rows();
        let used = rows
            .iter()
            .rposition(|(t, _)| !t.is_empty())
            .map_or(0, |i| i + 1);
        self.hooks().history.scrolled + used as u64
    }

    /// Logical lines for the rows `from..end` (line numbers as in `History::scrolled`).
    /// Returns the lines and the line number to continue from: a row that wraps into one
    /// not yet included is held back so a logical line is never cut in two.
    pub fn lines_between(&self, from: u64, end: u64) -> (Vec<String>, u64) {
        let history = &self.hooks().history;
        let from = from.max(history.first());
        if from >= end {
            return (Vec::new(), from.max(end.min(from)));
        }
        let mut rows: Vec<(String, bool)> = Vec::new();
        let hist_skip = (from - history.first()) as usize;
        rows.extend(history.rows_from(hist_skip));
        let screen_from = from.saturating_sub(history.scrolled) as usize;
        rows.extend(self.screen_rows().into_iter().skip(screen_from));
        rows.truncate((end - from) as usize);
        let mut lines = Vec::new();
        let mut current = String::new();
        let mut consumed = 0u64;
        for (i, (text, wrapped)) in rows.iter().enumerate() {
            current.push_str(text);
            if !wrapped {
                lines.push(std::mem::take(&mut current));
                consumed = i as u64 + 1;
            }
        }
        (lines, from + consumed)
    }
}

/// Rows as lines: a row the terminal wrapped continues on the next one.
pub fn join_rows(rows: Vec<(String, bool)>) -> String {
    let mut out = String::new();
    let mut line = String::new();
    let mut lines = Vec::new();
    for (text, wrapped) in rows {
        line.push_str(&text);
        if !wrapped {
            lines.push(std::mem::take(&mut line));
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    for l in lines {
        out.push_str(l.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_scrolled_rows_as_text() {
        let mut s = Screen::new(5, 20);
        for i in 0..100 {
            s.process(format!("\x1b[31mline {i}\x1b[0m\r\n").as_bytes());
        }
        let text = s.full_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.first(), Some(&"line 0"));
        assert_eq!(lines.last(), Some(&"line 99"));
        assert_eq!(lines.len(), 100);
    }

    #[test]
    fn history_stays_within_its_bounds() {
        let mut s = Screen::new(5, 200);
        let line = "x".repeat(150);
        for i in 0..5000 {
            s.process(format!("{i} {line}\r\n").as_bytes());
        }
        let h = &s.hooks().history;
        assert!(h.text.len() <= HISTORY_BYTES);
        assert_eq!(h.text.capacity(), HISTORY_BYTES, "the ring never grows");
        assert!(h.len() >= (HISTORY_BYTES / 160) - 1);
        assert!(s.full_text().lines().last().unwrap().starts_with("4999 "));
    }

    #[test]
    fn wrapped_rows_join_into_one_line() {
        let mut s = Screen::new(3, 10);
        s.process(b"abcdefghijKLMNOPQRSTuv\r\nnext\r\nmore\r\nand more\r\n");
        assert_eq!(
            s.full_text(),
            "abcdefghijKLMNOPQRSTuv\nnext\nmore\nand more\n"
        );
    }

    #[test]
    fn carriage_returns_and_cursor_moves_render_final_text() {
        let mut s = Screen::new(5, 40);
        s.process(b"progress 10%\rprogress 100%\r\nab\x1b[1Dc\r\n");
        assert_eq!(s.full_text(), "progress 100%\nac\n");
    }

    #[test]
    fn queries_get_answers_and_notifications_are_caught() {
        let mut s = Screen::new(5, 40);
        s.process(b"hi\x1b[6n\x1b[c\x1b[>c");
        let sig = s.take_signals();
        assert_eq!(sig[0], Signal::Answer(b"\x1b[1;3R".to_vec()));
        assert_eq!(sig[1], Signal::Answer(b"\x1b[?62;22c".to_vec()));
        assert_eq!(sig[2], Signal::Answer(b"\x1b[>1;10;0c".to_vec()));
        s.process(b"\x1b]9;build done\x07\x1b]777;notify;Codex;approve?\x1b\\\x1b]2;a;b\x07");
        let sig = s.take_signals();
        assert_eq!(
            sig[0],
            Signal::Notification {
                text: "build done".into()
            }
        );
        assert_eq!(
            sig[1],
            Signal::Notification {
                text: "Codex: approve?".into()
            }
        );
        assert_eq!(sig[2], Signal::Title);
        assert_eq!(s.title(), Some("a;b"));
        // The BEL that ends an OSC is not a bell; a lone one is.
        assert!(!sig.iter().any(|x| matches!(x, Signal::Bell { .. })));
        s.process(b"\r\nwall or jump?\r\n\x07");
        assert_eq!(
            s.take_signals(),
            vec![Signal::Bell {
                line: "wall or jump?".into()
            }]
        );
    }

    #[test]
    fn finished_lines_are_numbered_across_scrolling() {
        let mut s = Screen::new(4, 20);
        s.process(b"a\r\nb\r\nc\r\nd\r\ne\r\nf");
        // Rows a..e are finished (f holds the cursor).
        let (lines, next) = s.lines_between(0, s.finished_end());
        assert_eq!(lines, vec!["a", "b", "c", "d", "e"]);
        assert_eq!(next, 5);
        s.process(b"\r\ng\r\n");
        let (lines, next) = s.lines_between(next, s.finished_end());
        assert_eq!(lines, vec!["f", "g"]);
        assert_eq!(next, 7);
    }
}
