//! The bottom of the view: a status line, the dispatch input (or the peek panel's reply, or
//! a rename), and a footer of key hints. Returns where the cursor goes.

use std::time::{Duration, Instant};

use super::draw::{self, put};
use super::frame::Frame;
use super::model::{Line, Mode, Model};
use termwiz::color::AnsiColor;

/// How long a status message stays.
pub const STATUS_TIME: Duration = Duration::from_secs(6);

pub fn draw(
    m: &Model,
    f: &mut Frame,
    rows: usize,
    cols: usize,
    now: Instant,
) -> Option<(usize, usize)> {
    if rows < 3 {
        return None;
    }
    let (status_y, input_y, footer_y) = (rows - 3, rows - 2, rows - 1);
    for y in [status_y, input_y, footer_y] {
        f.line(y);
    }
    let s = f.canvas();
    match &m.mode {
        Mode::ConfirmDelete { title, ids } => {
            let n = ids.len();
            let text = format!(
                "Delete {n} session{} in {title} (and their worktrees)? y to delete, any other key keeps them",
                if n == 1 { "" } else { "s" }
            );
            put(s, 0, status_y, &text, cols, &draw::fg(AnsiColor::Olive));
        }
        _ => {
            if let Some((text, _)) = m
                .status
                .as_ref()
                .filter(|(_, at)| now.duration_since(*at) < STATUS_TIME)
            {
                put(s, 0, status_y, text, cols, &draw::fg(AnsiColor::Olive));
            }
        }
    }
    let (label, text, placeholder) = match (&m.mode, &m.peek) {
        (Mode::Rename { id, text }, _) => {
            let name = m.item(id).map_or(id.as_str(), |i| i.name.as_str());
            (format!("rename {} › ", draw::clip(name, 24)), text.as_str(), "")
        }
        (_, Some(p)) => {
            let name = m.item(&p.id).map_or(p.id.as_str(), |i| i.name.as_str());
            (
                format!("reply to {} › ", draw::clip(name, 24)),
                p.reply.as_str(),
                "type a reply and press Enter · Esc closes",
            )
        }
        _ => (
            "› ".to_string(),
            m.input.as_str(),
            "type a prompt and press Enter to dispatch · s:state a:agent #PR to filter · ? for keys",
        ),
    };
    let mut x = put(s, 0, input_y, &label, cols, &draw::bold());
    if text.is_empty() {
        put(
            s,
            x,
            input_y,
            placeholder,
            cols.saturating_sub(x),
            &draw::dim(),
        );
    } else {
        // The end of a long input stays visible.
        let room = cols.saturating_sub(x + 1);
        let shown = tail_fitting(text, room);
        x += put(s, x, input_y, &shown, room, &draw::plain());
    }
    put(s, 0, footer_y, &hints(m), cols, &draw::dim());
    Some((x.min(cols.saturating_sub(1)), input_y))
}

/// The end of `text` that fits in `room` columns.
fn tail_fitting(text: &str, room: usize) -> String {
    let clean = crate::text::sanitize(text);
    if draw::width(&clean) <= room {
        return clean;
    }
    let mut out: Vec<char> = Vec::new();
    let mut used = 1;
    for c in clean.chars().rev() {
        let w = draw::width(&c.to_string());
        if used + w > room {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out.into_iter().rev().collect()
}

fn hints(m: &Model) -> String {
    match (&m.mode, &m.peek, m.selected_line()) {
        (Mode::Help, _, _) => "Esc or ? closes the help".into(),
        (Mode::Rename { .. }, _, _) => "Enter renames · Esc cancels".into(),
        (Mode::ConfirmDelete { .. }, _, _) => "y deletes · any other key cancels".into(),
        (_, Some(_), _) => "Enter sends · ↑↓ other session · → attach · Esc closes the peek".into(),
        (_, None, Some(Line::Group { .. })) => {
            "Enter collapse/expand · ^X delete group · ^S group by state/dir · ? keys · Esc quits".into()
        }
        _ if !m.input.is_empty() => "Enter dispatch · ⇧Enter dispatch+attach · Esc clears".into(),
        _ => "↑↓ select · Enter attach · Space peek · ^T pin · ^R rename · ^X stop · ? keys · Esc quits"
            .into(),
    }
}
