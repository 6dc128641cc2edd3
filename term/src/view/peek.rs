//! The peek panel: the selected session's rendered tail with its colours, or the question
//! it waits on above it. The reply line is drawn by the input panel.

use termwiz::cell::{CellAttributes, Intensity, Underline};
use termwiz::color::{ColorAttribute, SrgbaTuple};
use termwiz::surface::Surface;

use super::draw::{self, put};
use super::frame::Frame;
use super::model::Model;

/// Draws the panel in rows `top..top+height`.
pub fn draw(m: &Model, f: &mut Frame, top: usize, height: usize, cols: usize) {
    let Some(peek) = &m.peek else { return };
    for y in top..top + height {
        f.line(y);
    }
    let s = f.canvas();
    if height == 0 {
        return;
    }
    let item = m.item(&peek.id);
    let (name, state) = item.map_or(("(gone)", ""), |i| (i.name.as_str(), i.state.as_str()));
    let mut title_attrs = draw::bold();
    title_attrs.set_foreground(draw::state_color(state));
    // Which agent (and model) the reply goes to.
    let agent = item.map_or(String::new(), |i| match &i.model {
        Some(model) => format!(" · {} {}", i.agent, model),
        None => format!(" · {}", i.agent),
    });
    let title = format!("─ {} · {}{} ", name, state.replace('_', " "), agent);
    let x = put(s, 0, top, &title, cols, &title_attrs);
    put(
        s,
        x,
        top,
        &"─".repeat(cols.saturating_sub(x)),
        cols.saturating_sub(x),
        &draw::dim(),
    );
    let mut y = top + 1;
    let end = top + height;
    if let Some(q) = item
        .filter(|i| i.state == "needs_input")
        .and_then(|i| i.question.as_deref())
    {
        if y < end {
            put(
                s,
                1,
                y,
                q,
                cols.saturating_sub(1),
                &draw::fg(termwiz::color::AnsiColor::Olive),
            );
            y += 1;
        }
    }
    // A summary that says more than the screen's last line (a model's, or the title).
    let summary = item
        .filter(|i| i.state != "needs_input")
        .and_then(|i| i.summary.as_deref())
        .filter(|sum| {
            peek.screen
                .as_ref()
                .is_none_or(|p| !p.screen().contents().contains(*sum))
        });
    if let (Some(sum), true) = (summary, y < end) {
        let mut a = draw::dim();
        a.set_italic(true);
        put(s, 1, y, &format!("» {sum}"), cols.saturating_sub(1), &a);
        y += 1;
    }
    let Some(parser) = &peek.screen else {
        if y < end {
            put(s, 1, y, "…", cols, &draw::dim());
        }
        return;
    };
    let screen = parser.screen();
    let (rows, screen_cols) = screen.size();
    let (rows, screen_cols) = (rows.get(), screen_cols.get());
    // The tail: the last rows with something on them.
    let last = (0..rows).rev().find(|&r| {
        !screen
            .contents_between(r, 0, r, screen_cols)
            .trim()
            .is_empty()
    });
    let Some(last) = last else { return };
    let room = end.saturating_sub(y);
    let first = (last + 1).saturating_sub(room as u16);
    for r in first..=last {
        tail_row(screen, r, s, y, cols.min(screen_cols as usize + 1));
        y += 1;
    }
}

/// One screen row, cell by cell, colours and emphasis kept, clipped to the panel.
fn tail_row(screen: &vt100::Screen, row: u16, s: &mut Surface, y: usize, cols: usize) {
    let mut x = 1;
    let mut col = 0;
    while x < cols {
        let Some(cell) = screen.cell(row, col) else {
            break;
        };
        col += 1;
        if cell.is_wide_continuation() {
            continue;
        }
        let text = cell.contents();
        let text = if text.is_empty() { " " } else { text };
        let w = if cell.is_wide() { 2 } else { 1 };
        if x + w > cols {
            break;
        }
        put(s, x, y, text, w, &attrs_of(cell));
        x += w;
    }
}

fn attrs_of(cell: &vt100::Cell) -> CellAttributes {
    let mut a = CellAttributes::default();
    a.set_foreground(color(cell.fgcolor()));
    a.set_background(color(cell.bgcolor()));
    if cell.bold() {
        a.set_intensity(Intensity::Bold);
    } else if cell.dim() {
        a.set_intensity(Intensity::Half);
    }
    a.set_italic(cell.italic());
    if cell.underline() {
        a.set_underline(Underline::Single);
    }
    a.set_reverse(cell.inverse());
    a
}

fn color(c: vt100::Color) -> ColorAttribute {
    match c {
        vt100::Color::Default => ColorAttribute::Default,
        vt100::Color::Idx(i) => ColorAttribute::PaletteIndex(i),
        vt100::Color::Rgb(r, g, b) => ColorAttribute::TrueColorWithDefaultFallback(SrgbaTuple(
            r as f32 / 255.0,
            g as f32 / 255.0,
            b as f32 / 255.0,
            1.0,
        )),
    }
}
