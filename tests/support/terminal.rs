//! A real terminal for end-to-end tests: a command (usually `crew attach`) runs in a new
//! PTY as its session leader, and everything it writes is rendered by a `vt100` parser,
//! so a test can type keys, read the screen back and check the terminal modes it left.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use portable_pty::{MasterPty, PtySize};

use super::{within, Crew, DEADLINE};

/// What the reader thread has seen: the rendered screen and every byte, in order.
struct Seen {
    parser: vt100::Parser,
    bytes: Vec<u8>,
}

pub struct Terminal {
    master: Box<dyn MasterPty + Send>,
    writer: Box<dyn Write + Send>,
    /// The slave end, kept open by the test so the terminal's modes can still be read after
    /// the program exits (and the master never reads EOF while the test looks).
    slave: File,
    child: Child,
    status: Option<ExitStatus>,
    seen: Arc<Mutex<Seen>>,
}

fn size(rows: u16, cols: u16) -> PtySize {
    PtySize {
        rows,
        cols,
        pixel_width: 0,
        pixel_height: 0,
    }
}

fn nonzero(n: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(n).expect("a terminal has at least one row and column")
}

/// A fresh screen of the given size with no scrollback.
pub fn parser(rows: u16, cols: u16) -> vt100::Parser {
    vt100::Parser::new(nonzero(rows), nonzero(cols), 0)
}

impl Terminal {
    /// Runs `command` (program, arguments, environment and directory are taken from it; its
    /// stdio is replaced by the terminal) in a new `rows`×`cols` terminal.
    pub fn spawn(mut command: Command, rows: u16, cols: u16) -> Terminal {
        let pair = portable_pty::native_pty_system()
            .openpty(size(rows, cols))
            .expect("openpty");
        let tty = pair.master.tty_name().expect("the pty has a name");
        let slave = open_tty(&tty);
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = pair.master.take_writer().expect("pty writer");

        let stdio = |f: &File| Stdio::from(f.try_clone().expect("dup the tty"));
        command
            .stdin(stdio(&slave))
            .stdout(stdio(&slave))
            .stderr(stdio(&slave));
        if command.get_envs().all(|(k, _)| k != "TERM") {
            command.env("TERM", "xterm-256color");
        }
        unsafe {
            command.pre_exec(|| {
                // A session of its own, with this terminal as its controlling terminal, as a
                // shell in a terminal emulator would have it: it gets SIGWINCH on resize.
                if libc::setsid() == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY as _, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", command.get_program()));

        let seen = Arc::new(Mutex::new(Seen {
            parser: parser(rows, cols),
            bytes: Vec::new(),
        }));
        let feed = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 64 * 1024];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let mut seen = feed.lock().unwrap();
                        seen.parser.process(&buf[..n]);
                        seen.bytes.extend_from_slice(&buf[..n]);
                    }
                }
            }
        });
        Terminal {
            master: pair.master,
            writer,
            slave,
            child,
            status: None,
            seen,
        }
    }

    /// Runs `crew <args>` of this test's crew in a new terminal. The working directory is
    /// the crew's home, so sessions it dispatches are never in a git checkout.
    pub fn crew(crew: &Crew, args: &[&str], rows: u16, cols: u16) -> Terminal {
        let mut command = crew.command(args);
        command.current_dir(&crew.home);
        Terminal::spawn(command, rows, cols)
    }

    /// `crew attach <id>` in a new `rows`×`cols` terminal.
    pub fn attach(crew: &Crew, id: &str, rows: u16, cols: u16) -> Terminal {
        Terminal::crew(crew, &["attach", id], rows, cols)
    }

    /// Types bytes, as a terminal sends keys and pastes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write to the terminal");
        self.writer.flush().expect("flush the terminal");
    }

    pub fn screen(&self) -> vt100::Screen {
        self.seen.lock().unwrap().parser.screen().clone()
    }

    /// The screen's text, rows joined by newlines.
    pub fn text(&self) -> String {
        self.screen().contents()
    }

    /// Every byte the program wrote so far.
    pub fn output(&self) -> Vec<u8> {
        self.seen.lock().unwrap().bytes.clone()
    }

    /// Waits until `cond` holds for the screen; on timeout fails with `what` and the screen.
    pub fn wait_for(&self, what: &str, mut cond: impl FnMut(&vt100::Screen) -> bool) {
        if !within(DEADLINE, || cond(&self.screen())) {
            panic!(
                "timed out waiting for {what}; the terminal shows:\n{}",
                self.framed()
            );
        }
    }

    /// Waits until the screen shows `needle`.
    pub fn wait_text(&self, needle: &str) {
        self.wait_for(&format!("{needle:?} on the screen"), |s| {
            s.contents().contains(needle)
        });
    }

    /// Waits until the program has written `needle` since `mark` (a length of `output()`),
    /// whether or not it still shows: for output drawn for a bigger terminal than this one.
    pub fn wait_output(&self, mark: usize, needle: &str) {
        let found = within(DEADLINE, || {
            let seen = self.seen.lock().unwrap();
            String::from_utf8_lossy(seen.bytes.get(mark..).unwrap_or_default()).contains(needle)
        });
        if !found {
            panic!(
                "timed out waiting for {needle:?} in the output; the terminal shows:\n{}",
                self.framed()
            );
        }
    }

    /// How many bytes the program has written so far, to mark a point for `wait_output`.
    pub fn mark(&self) -> usize {
        self.seen.lock().unwrap().bytes.len()
    }

    /// The screen's text in a frame, for failure messages.
    pub fn framed(&self) -> String {
        frame(&self.screen())
    }

    /// Resizes the terminal (the program gets SIGWINCH), and the screen the test reads.
    pub fn resize(&mut self, rows: u16, cols: u16) {
        // The parser first: output drawn for the new size must not land on the old one.
        self.seen
            .lock()
            .unwrap()
            .parser
            .screen_mut()
            .set_size(nonzero(rows), nonzero(cols));
        self.master
            .resize(size(rows, cols))
            .expect("resize the pty");
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: i32) {
        if self.status.is_none() {
            unsafe { libc::kill(self.pid(), sig) };
        }
    }

    /// Whether the program is still running.
    pub fn running(&mut self) -> bool {
        self.poll().is_none()
    }

    fn poll(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("wait for the program");
        }
        self.status
    }

    /// Waits for the program to exit and returns how it ended.
    pub fn wait_status(&mut self) -> ExitStatus {
        if !within(DEADLINE, || self.poll().is_some()) {
            panic!(
                "timed out waiting for the program to exit; the terminal shows:\n{}",
                self.framed()
            );
        }
        self.status.unwrap()
    }

    /// Waits for the program to exit: its exit code, or None when a signal killed it.
    pub fn wait_exit(&mut self) -> Option<i32> {
        self.wait_status().code()
    }

    /// Waits for the program to exit and fails unless it exited with `code`.
    pub fn expect_exit(&mut self, code: i32) {
        let status = self.wait_status();
        assert_eq!(
            status.code(),
            Some(code),
            "the program ended with {status:?}, expected exit code {code}; the terminal shows:\n{}",
            self.framed()
        );
    }

    /// The signal that killed the program, if one did (after it exited).
    pub fn exit_signal(&mut self) -> Option<i32> {
        self.poll().and_then(|s| s.signal())
    }

    fn termios(&self) -> libc::termios {
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::tcgetattr(self.slave.as_raw_fd(), &mut t) };
        assert_eq!(r, 0, "tcgetattr: {}", std::io::Error::last_os_error());
        t
    }

    /// Whether the terminal is in raw mode: no line editing and no echo.
    pub fn raw_mode(&self) -> bool {
        self.termios().c_lflag & (libc::ICANON | libc::ECHO) == 0
    }

    /// Whether the terminal is in cooked mode: line editing, echo and signal keys on, and
    /// output post-processing (newline → CR LF) as a shell expects.
    pub fn cooked_mode(&self) -> bool {
        let t = self.termios();
        let lflags = libc::ICANON | libc::ECHO | libc::ISIG;
        t.c_lflag & lflags == lflags && t.c_oflag & libc::OPOST != 0 && t.c_iflag & libc::ICRNL != 0
    }

    /// Whether the program left the terminal on the alternate screen.
    pub fn alternate_screen(&self) -> bool {
        self.screen().alternate_screen()
    }

    /// Fails unless the terminal is back as the program found it: cooked mode, main screen,
    /// cursor shown, no bracketed paste or application cursor keys left on.
    pub fn assert_restored(&self) {
        // The reader thread may still be taking the client's last bytes off the PTY.
        within(DEADLINE, || self.restore_problems().is_empty());
        let problems = self.restore_problems();
        assert!(
            problems.is_empty(),
            "the terminal was not restored: {}; it shows:\n{}",
            problems.join(", "),
            frame(&self.screen())
        );
    }

    fn restore_problems(&self) -> Vec<&'static str> {
        let s = self.screen();
        [
            (!self.cooked_mode(), "not in cooked mode"),
            (s.alternate_screen(), "still on the alternate screen"),
            (s.hide_cursor(), "the cursor is hidden"),
            (s.bracketed_paste(), "bracketed paste left on"),
            (s.application_cursor(), "application cursor keys left on"),
        ]
        .into_iter()
        .filter_map(|(bad, what)| bad.then_some(what))
        .collect()
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if self.poll().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn open_tty(path: &PathBuf) -> File {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Row `row` of the screen, trailing spaces removed.
pub fn row_text(s: &vt100::Screen, row: u16) -> String {
    let (_, cols) = s.size();
    s.contents_between(row, 0, row, cols.get())
        .trim_end()
        .to_string()
}

/// A screen's text with a frame around it and the cursor position, for failure messages.
pub fn frame(s: &vt100::Screen) -> String {
    let (_, cols) = s.size();
    let cols = usize::from(cols.get());
    let bar = "─".repeat(cols);
    let mut out = format!("┌{bar}┐\n");
    for row in s.rows(0, cols as u16) {
        let pad = cols.saturating_sub(row.chars().count());
        out.push_str(&format!("│{row}{}│\n", " ".repeat(pad)));
    }
    let (r, c) = s.cursor_position();
    out.push_str(&format!(
        "└{bar}┘\ncursor {r},{c}{}{}",
        if s.alternate_screen() {
            ", alternate screen"
        } else {
            ""
        },
        if s.hide_cursor() { ", hidden" } else { "" }
    ));
    out
}

/// Compares two screens cell by cell (contents, colours, attributes), then the cursor and
/// the modes a repaint must restore. Err lists the differences.
pub fn cells_equal(a: &vt100::Screen, b: &vt100::Screen) -> Result<(), String> {
    let mut diffs = Vec::new();
    if a.size() != b.size() {
        return Err(format!("sizes differ: {:?} vs {:?}", a.size(), b.size()));
    }
    let (rows, cols) = a.size();
    for row in 0..rows.get() {
        for col in 0..cols.get() {
            let (x, y) = (a.cell(row, col), b.cell(row, col));
            let (Some(x), Some(y)) = (x, y) else {
                diffs.push(format!("{row},{col}: cell missing"));
                continue;
            };
            let describe = |c: &vt100::Cell| {
                format!(
                    "{:?} fg {:?} bg {:?}{}{}{}{}{}",
                    c.contents(),
                    c.fgcolor(),
                    c.bgcolor(),
                    if c.bold() { " bold" } else { "" },
                    if c.dim() { " dim" } else { "" },
                    if c.italic() { " italic" } else { "" },
                    if c.underline() { " underline" } else { "" },
                    if c.inverse() { " inverse" } else { "" },
                )
            };
            let (dx, dy) = (describe(x), describe(y));
            if dx != dy {
                diffs.push(format!("{row},{col}: {dx} vs {dy}"));
            }
        }
    }
    let modes = |s: &vt100::Screen| {
        format!(
            "cursor {:?}{}{}{}{}",
            s.cursor_position(),
            if s.hide_cursor() { " hidden" } else { "" },
            if s.alternate_screen() {
                " alternate-screen"
            } else {
                ""
            },
            if s.bracketed_paste() {
                " bracketed-paste"
            } else {
                ""
            },
            if s.application_cursor() {
                " application-cursor"
            } else {
                ""
            },
        )
    };
    if modes(a) != modes(b) {
        diffs.push(format!("{} vs {}", modes(a), modes(b)));
    }
    if diffs.is_empty() {
        return Ok(());
    }
    let n = diffs.len();
    diffs.truncate(12);
    Err(format!(
        "{n} differences:\n  {}\n{}\n{}",
        diffs.join("\n  "),
        frame(a),
        frame(b)
    ))
}

/// What the session's host shows: its transcript (the raw PTY output) replayed on a fresh
/// `rows`×`cols` screen. Exact as long as the agent repainted after its last resize.
pub fn host_screen(crew: &Crew, id: &str, rows: u16, cols: u16) -> vt100::Screen {
    replay(&raw_logs(crew, id, &[]), rows, cols)
}

/// `crew logs <id> --raw [extra]`: the transcript bytes.
pub fn raw_logs(crew: &Crew, id: &str, extra: &[&str]) -> Vec<u8> {
    let mut args = vec!["logs", id, "--raw"];
    args.extend_from_slice(extra);
    let out = crew.run(&args);
    assert!(
        out.status.success(),
        "crew logs --raw {id}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Bytes rendered on a fresh `rows`×`cols` screen.
pub fn replay(bytes: &[u8], rows: u16, cols: u16) -> vt100::Screen {
    let mut p = parser(rows, cols);
    p.process(bytes);
    p.screen().clone()
}

/// Waits until the terminal shows exactly what the host shows (`rows`×`cols`).
pub fn wait_same_screen(term: &Terminal, crew: &Crew, id: &str, rows: u16, cols: u16) {
    let mut last = Ok(());
    let same = within(DEADLINE, || {
        let host = host_screen(crew, id, rows, cols);
        last = cells_equal(&term.screen(), &host);
        last.is_ok()
    });
    if !same {
        panic!(
            "the terminal never matched the host's screen (terminal first, host second): {}",
            last.unwrap_err()
        );
    }
}
