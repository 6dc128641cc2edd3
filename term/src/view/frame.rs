//! From a drawn frame to the bytes that update the terminal. The frame is drawn on a canvas
//! kept between frames: a panel clears and redraws a line only when what it shows changed
//! (the table keys each row by its content), only those lines are diffed against what the
//! terminal shows (termwiz `Surface::diff_region`), and only the changed cells are rendered
//! (`TerminfoRenderer`), so a one-row change costs one row's drawing and a few hundred bytes.

use termwiz::caps::{Capabilities, ProbeHints};
use termwiz::cell::CellAttributes;
use termwiz::color::ColorAttribute;
use termwiz::render::terminfo::TerminfoRenderer;
use termwiz::render::RenderTty;
use termwiz::surface::{Change, CursorVisibility, Position, Surface};

pub struct Frame {
    /// What the terminal shows.
    shown: Surface,
    /// The frame being drawn.
    canvas: Surface,
    /// Lines of the canvas redrawn since the last render.
    dirty: Vec<bool>,
    /// What each keyed line of the canvas shows (empty: unknown).
    keys: Vec<String>,
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
            canvas: Surface::new(cols, rows),
            dirty: vec![true; rows],
            keys: vec![String::new(); rows],
            renderer: TerminfoRenderer::new(capabilities()),
            full: true,
        }
    }

    /// (cols, rows)
    pub fn size(&self) -> (usize, usize) {
        self.shown.dimensions()
    }

    /// Forget what the terminal shows: the next render repaints it all.
    pub fn invalidate(&mut self, cols: usize, rows: usize) {
        self.shown = Surface::new(cols, rows);
        self.canvas = Surface::new(cols, rows);
        self.dirty = vec![true; rows];
        self.keys = vec![String::new(); rows];
        self.full = true;
    }

    /// The canvas, to draw on lines already cleared with `line` or `keyed_line`.
    pub fn canvas(&mut self) -> &mut Surface {
        &mut self.canvas
    }

    /// Clears line `y` for drawing; it is diffed at the next render.
    pub fn line(&mut self, y: usize) -> &mut Surface {
        if y < self.dirty.len() {
            self.keys[y].clear();
            self.clear(y);
        }
        &mut self.canvas
    }

    /// Clears line `y` for drawing, unless it already shows `key` (then `None`: nothing to
    /// draw).
    pub fn keyed_line(&mut self, y: usize, key: &str) -> Option<&mut Surface> {
        if y >= self.dirty.len() || self.keys[y] == key {
            return None;
        }
        self.keys[y].clear();
        self.keys[y].push_str(key);
        self.clear(y);
        Some(&mut self.canvas)
    }

    fn clear(&mut self, y: usize) {
        self.dirty[y] = true;
        self.canvas.add_change(Change::CursorPosition {
            x: Position::Absolute(0),
            y: Position::Absolute(y),
        });
        self.canvas
            .add_change(Change::AllAttributes(CellAttributes::default()));
        self.canvas
            .add_change(Change::ClearToEndOfLine(ColorAttribute::Default));
    }

    /// Appends to `out` what turns the terminal into the canvas.
    pub fn render(&mut self, cursor: Cursor, out: &mut Vec<u8>) {
        let mut changes = Vec::new();
        let (cols, _) = self.shown.dimensions();
        if self.full {
            self.full = false;
            changes.push(Change::ClearScreen(Default::default()));
            changes.extend(self.shown.diff_screens(&self.canvas));
        } else {
            for y in (0..self.dirty.len()).filter(|&y| self.dirty[y]) {
                changes.extend(self.shown.diff_region(0, y, cols, 1, &self.canvas, 0, y));
            }
        }
        self.dirty.fill(false);
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
        // Both surfaces log every change; only their cells matter here.
        let seq = self.shown.current_seqno();
        self.shown.flush_changes_older_than(seq);
        let seq = self.canvas.current_seqno();
        self.canvas.flush_changes_older_than(seq);
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
