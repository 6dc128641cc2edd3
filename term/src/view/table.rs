//! The session table: group headers, one row per session (icon, name, what it is doing or
//! needs, time since it changed, PR dot at the right edge), `… N more` fold rows.

use std::time::SystemTime;

use termwiz::cell::CellAttributes;
use termwiz::surface::Surface;

use super::draw::{self, fill, put};
use super::model::{Line, Model};
use crate::groups::{Group, Item};
use crate::text;

/// Columns kept for the age and the PR dot at the right.
const AGE_W: usize = 4;
const PR_W: usize = 3;

/// Draws lines `scroll..` into rows `top..top+height`, scrolling so the selection shows.
pub fn draw(
    m: &mut Model,
    s: &mut Surface,
    top: usize,
    height: usize,
    cols: usize,
    now: SystemTime,
    frame: usize,
) {
    if height == 0 {
        return;
    }
    if m.lines.is_empty() {
        let hint = if !m.connected {
            "waiting for the supervisor…"
        } else if m.filter().is_some() {
            "no session matches the filter"
        } else {
            "no sessions yet: type a prompt below and press Enter"
        };
        put(s, 2, top, hint, cols.saturating_sub(2), &draw::dim());
        return;
    }
    if m.selected < m.scroll {
        m.scroll = m.selected;
    } else if m.selected >= m.scroll + height {
        m.scroll = m.selected + 1 - height;
    }
    m.scroll = m.scroll.min(m.lines.len().saturating_sub(height));
    let name_w = name_width(m, cols);
    for (row, at) in (m.scroll..m.lines.len()).take(height).enumerate() {
        let y = top + row;
        let selected = at == m.selected;
        match &m.lines[at] {
            Line::Group {
                group,
                title,
                count,
                collapsed,
            } => {
                let mark = if *collapsed { "▸" } else { "▾" };
                let title = match group {
                    Group::Directory => draw::home_relative(title),
                    _ => title.clone(),
                };
                let mut a = draw::bold();
                a.set_reverse(selected);
                let x = put(s, 0, y, &format!("{mark} {title}  {count}"), cols, &a);
                if selected {
                    fill(s, x, y, cols.saturating_sub(x), &a);
                }
            }
            Line::Fold { count, .. } => {
                let mut a = draw::dim();
                a.set_reverse(selected);
                let x = put(s, 0, y, &format!("    … {count} more"), cols, &a);
                if selected {
                    fill(s, x, y, cols.saturating_sub(x), &a);
                }
            }
            Line::Session(i) => {
                session_row(s, &m.items[*i], y, cols, name_w, selected, now, frame);
            }
        }
    }
}

/// Names get a quarter of the width, between 8 and 28 columns, and no more than the
/// longest name needs.
fn name_width(m: &Model, cols: usize) -> usize {
    let longest = m
        .items
        .iter()
        .map(|i| draw::width(&text::sanitize(display_name(i))))
        .max()
        .unwrap_or(8);
    longest.clamp(8, (cols / 4).clamp(8, 28))
}

fn display_name(item: &Item) -> &str {
    if item.state == "broken" {
        "(broken)"
    } else {
        &item.name
    }
}

#[allow(clippy::too_many_arguments)]
fn session_row(
    s: &mut Surface,
    item: &Item,
    y: usize,
    cols: usize,
    name_w: usize,
    selected: bool,
    now: SystemTime,
    frame: usize,
) {
    let sel = |mut a: CellAttributes| {
        a.set_reverse(selected);
        a
    };
    fill(s, 0, y, cols, &sel(draw::plain()));
    let (glyph, icon_attrs) = draw::icon(&item.state, &item.process, frame);
    put(s, 2, y, glyph, cols.saturating_sub(2), &sel(icon_attrs));
    let mut x = 4;
    if x >= cols {
        return;
    }
    put(
        s,
        x,
        y,
        display_name(item),
        name_w.min(cols - x),
        &sel(draw::plain()),
    );
    x += name_w + 2;
    let right = AGE_W + 1 + PR_W;
    let detail_w = cols.saturating_sub(x + right + 1);
    if detail_w > 0 {
        let mut a = draw::plain();
        if item.state == "needs_input" {
            a.set_foreground(draw::state_color("needs_input"));
        } else if matches!(item.state.as_str(), "failed" | "broken") {
            a.set_foreground(draw::state_color("failed"));
        }
        put(s, x, y, &detail(item, now), detail_w, &sel(a));
    }
    if cols < x + right {
        return;
    }
    let age_x = cols - right;
    let age = age_of(&item.changed_at, now);
    put(
        s,
        age_x + AGE_W - draw::width(&age).min(AGE_W),
        y,
        &age,
        AGE_W,
        &sel(draw::dim()),
    );
    pr_dot(s, item, cols - PR_W, y, selected);
}

/// What the row says: the question it waits on, why it failed, its loop countdown, else
/// its summary (or title, or prompt).
pub fn detail(item: &Item, now: SystemTime) -> String {
    let summary = item
        .summary
        .as_deref()
        .or(item.title.as_deref())
        .or(item.prompt.as_deref())
        .unwrap_or("");
    match item.state.as_str() {
        "broken" => item.reason.clone().unwrap_or_default(),
        "needs_input" => item.question.clone().unwrap_or_else(|| summary.to_string()),
        "failed" | "stopped" => match &item.reason {
            Some(r) if !summary.is_empty() => format!("{r} · {summary}"),
            Some(r) => r.clone(),
            None => summary.to_string(),
        },
        _ if item.process == "sleeping" => match &item.loop_ {
            Some(l) => {
                let next = l
                    .next_at
                    .as_deref()
                    .and_then(mux::store::parse_rfc3339)
                    .and_then(|t| t.duration_since(now).ok())
                    .map(|d| format!(" · next run in {}", text::age(d.as_secs())))
                    .unwrap_or_default();
                format!("run {}{next} · {summary}", l.runs)
            }
            None => summary.to_string(),
        },
        _ => summary.to_string(),
    }
}

/// Time since `changed_at`: `45s`, `3m`, `2h`.
pub fn age_of(changed_at: &str, now: SystemTime) -> String {
    mux::store::parse_rfc3339(changed_at)
        .map(|t| now.duration_since(t).unwrap_or_default())
        .map(|d| text::age(d.as_secs()))
        .unwrap_or_default()
}

/// The PR dot at the right edge, a hyperlink to the PR that most needs attention, with
/// the count before it when there are several.
fn pr_dot(s: &mut Surface, item: &Item, x: usize, y: usize, selected: bool) {
    let Some(pr) = item.prs.iter().min_by_key(|p| draw::pr_color(&p.color).1) else {
        return;
    };
    let mut a = draw::fg(draw::pr_color(&pr.color).0);
    a.set_reverse(selected);
    let count = if item.prs.len() > 1 {
        format!("{}", item.prs.len().min(9))
    } else {
        String::new()
    };
    let dot = format!("{count}●");
    let at = x + PR_W - draw::width(&dot);
    put(s, at, y, &dot, PR_W, &draw::linked(a, &pr.url));
}
