//! Small drawing helpers shared by the panels: text clipped to a width (never wrapped),
//! state colours and icons (SPEC 2), and whole-line fills.

use std::sync::Arc;

use termwiz::cell::{unicode_column_width, CellAttributes, Intensity};
use termwiz::color::{AnsiColor, ColorAttribute};
use termwiz::hyperlink::Hyperlink;
use termwiz::surface::{Change, Position, Surface};

use crate::text;

/// Display width as the view's surfaces count it.
pub fn width(s: &str) -> usize {
    unicode_column_width(s, None)
}

/// `s` made safe (control characters removed) and cut to `max` columns with `…`.
pub fn clip(s: &str, max: usize) -> String {
    let mut out = text::truncate(&text::sanitize(s), max);
    // The surface may count a few exotic graphemes wider than unicode-width does.
    while width(&out) > max {
        out.pop();
        if out.pop().is_some() {
            out.push('…');
        }
    }
    out
}

/// Draws `s` at (x, y), clipped to `max` columns; returns the columns used.
pub fn put(
    s: &mut Surface,
    x: usize,
    y: usize,
    text: &str,
    max: usize,
    attrs: &CellAttributes,
) -> usize {
    if max == 0 {
        return 0;
    }
    let text = clip(text, max);
    let w = width(&text);
    s.add_change(Change::CursorPosition {
        x: Position::Absolute(x),
        y: Position::Absolute(y),
    });
    s.add_change(Change::AllAttributes(attrs.clone()));
    s.add_change(Change::Text(text));
    w
}

/// Fills columns `x..x+n` of line `y` with spaces in `attrs` (a selected row's highlight).
pub fn fill(s: &mut Surface, x: usize, y: usize, n: usize, attrs: &CellAttributes) {
    if n > 0 {
        put(s, x, y, &" ".repeat(n), n, attrs);
    }
}

pub fn plain() -> CellAttributes {
    CellAttributes::default()
}

pub fn fg(color: AnsiColor) -> CellAttributes {
    let mut a = CellAttributes::default();
    a.set_foreground(color);
    a
}

pub fn bold() -> CellAttributes {
    let mut a = CellAttributes::default();
    a.set_intensity(Intensity::Bold);
    a
}

pub fn dim() -> CellAttributes {
    let mut a = CellAttributes::default();
    a.set_intensity(Intensity::Half);
    a
}

pub fn linked(mut attrs: CellAttributes, url: &str) -> CellAttributes {
    let url = text::sanitize(url);
    attrs.set_hyperlink(Some(Arc::new(Hyperlink::new(url))));
    attrs
}

/// The colour of a state (SPEC 2), as its icon has it.
pub fn state_color(state: &str) -> ColorAttribute {
    match crate::groups::icon(state, "exited").color {
        Some(c) => ColorAttribute::PaletteIndex(c),
        None => ColorAttribute::Default,
    }
}

/// A state's icon and its attributes. `frame` animates the working icon: the `✽` pulses
/// bright, normal and dim, so the glyph keeps meaning "working" in every frame.
pub fn icon(state: &str, process: &str, frame: usize) -> (&'static str, CellAttributes) {
    let icon = crate::groups::icon(state, process);
    let mut a = CellAttributes::default();
    if let Some(c) = icon.color {
        a.set_foreground(ColorAttribute::PaletteIndex(c));
    }
    if icon.dim {
        a.set_intensity(Intensity::Half);
    } else if state == "working" && process != "sleeping" {
        a.set_intensity([Intensity::Bold, Intensity::Normal, Intensity::Half][frame % 3]);
    }
    (icon.glyph, a)
}

/// The colour of a PR dot (SPEC 10), and how much it needs attention (lower first).
pub fn pr_color(color: &str) -> (AnsiColor, u8) {
    match color {
        "red" => (AnsiColor::Maroon, 0),
        "yellow" => (AnsiColor::Olive, 1),
        "green" => (AnsiColor::Green, 2),
        "purple" => (AnsiColor::Purple, 3),
        _ => (AnsiColor::Grey, 4),
    }
}

/// A path with the home directory written as `~`.
pub fn home_relative(path: &str) -> String {
    match std::env::var("HOME") {
        Ok(home) if !home.is_empty() && home != "/" => match path.strip_prefix(&home) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("~{rest}"),
            _ => path.to_string(),
        },
        _ => path.to_string(),
    }
}
