//! From a drawn frame to the bytes that update the terminal: the new frame is diffed
//! against what the terminal shows (termwiz `Surface::diff_screens`), and only the changed
//! cells are rendered (`TerminfoRenderer`), so a one-row change costs a few hundred bytes.

use termwiz::caps::{Capabilities, ProbeHints};
use termwiz::render::terminfo::TerminfoRenderer;
use termwiz::render::RenderTty;
use termwiz::surface::{Change, CursorVisibility, Position, Surface};

/// The terminal's side of the diff.
pub struct Frame {
    shown: Surface,
    renderer: TerminfoRenderer,
    /// The next render clears and repaints everything (first frame, resize, after attach).
    full: bool,
}

/// Where the cursor goes after a frame: the text input, or nowhere.
pub type Cursor = Option<(usize, usize)>;

impl Frame {
    pub fn new(cols: usize, rows: usize) -> Frame {
        Frame {
            shown: Surface::new(cols, rows),
            renderer: TerminfoRenderer::new(capabilities()),
            full: true,
        }
    }

    pub fn size(&self) -> (usize, usize) {
        self.shown.dimensions()
    }

    /// Forget what the terminal shows: the next render repaints it all.
    pub fn invalidate(&mut self, cols: usize, rows: usize) {
        self.shown = Surface::new(cols, rows);
        self.full = true;
    }

    /// Appends to `out` what turns the terminal into `next`.
    pub fn render(&mut self, next: &Surface, cursor: Cursor, out: &mut Vec<u8>) {
        let mut changes = Vec::new();
        if self.full {
            self.full = false;
            changes.push(Change::ClearScreen(Default::default()));
        }
        changes.extend(self.shown.diff_screens(next));
        match cursor {
            Some((x, y)) => {
                changes.push(Change::CursorPosition {
                    x: Position::Absolute(x),
                    y: Position::Absolute(y),
                });
                changes.push(Change::CursorVisibility(CursorVisibility::Visible));
            }
            None => changes.push(Change::CursorVisibility(CursorVisibility::Hidden)),
        }
        let (cols, rows) = self.shown.dimensions();
        let mut tty = Tty { out, cols, rows };
        if let Err(e) = self.renderer.render_to(&changes, &mut tty) {
            log::warn!("cannot render the view: {e}");
        }
        self.shown.add_changes(changes);
    }
}

/// The terminal's capabilities from `TERM` and friends; mouse reporting stays off (the view
/// has no mouse use, and it would change what the user's terminal sends).
fn capabilities() -> Capabilities {
    let hints = ProbeHints::new_from_env().mouse_reporting(Some(false));
    Capabilities::new_with_hints(hints.clone())
        .or_else(|_| Capabilities::new_with_hints(hints.term(Some("xterm-256color".into()))))
        .or_else(|_| Capabilities::new_with_hints(ProbeHints::default()))
        .expect("terminal capabilities from defaults")
}

/// A byte buffer the renderer writes into.
struct Tty<'a> {
    out: &'a mut Vec<u8>,
    cols: usize,
    rows: usize,
}

impl std::io::Write for Tty<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl RenderTty for Tty<'_> {
    fn get_size_in_cells(&mut self) -> termwiz::Result<(usize, usize)> {
        Ok((self.cols, self.rows))
    }
}
