//! The session table: group headers, one row per session (icon, name, what it is doing or
//! needs, time since it changed, PR dot at the right edge), `… N more` fold rows.

use std::time::SystemTime;

use termwiz::cell::CellAttributes;
use termwiz::surface::Surface;

use std::fmt::Write;

use super::draw::{self, fill, put};
use super::frame::Frame;
use super::model::{Line, Model};
use crate::groups::{Group, Item};
use crate::text;

/// Columns kept for the age and the PR dot at the right.
const AGE_W: usize = 4;
const PR_W: usize = 3;

/// Draws lines `scroll..` into rows `top..top+height`, scrolling so the selection shows.
/// Each row is keyed by what it shows, so an unchanged row is not drawn again.
pub fn draw(
    m: &mut Model,
    f: &mut Frame,
    top: usize,
    height: usize,
    cols: usize,
    now: SystemTime,
    frame: usize,
) {
    m.next_change = None;
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
        let s = f.line(top);
        put(s, 2, top, hint, cols.saturating_sub(2), &draw::dim());
        for y in top + 1..top + height {
            f.keyed_line(y, BLANK);
        }
        return;
    }
    if m.selected < m.scroll {
        m.scroll = m.selected;
    } else if m.selected >= m.scroll + height {
        m.scroll = m.selected + 1 - height;
    }
    m.scroll = m.scroll.min(m.lines.len().saturating_sub(height));
    let name_w = m.name_width.clamp(8, (cols / 4).clamp(8, 28));
    let mut key = String::new();
    let mut next_change: Option<u64> = None;
    for row in 0..height {
        let y = top + row;
        let at = m.scroll + row;
        let selected = at == m.selected;
        key.clear();
        match m.lines.get(at) {
            None => {
                f.keyed_line(y, BLANK);
            }
            Some(Line::Group {
                group,
                title,
                count,
                collapsed,
            }) => {
                let _ = write!(key, "g{selected}{cols}|{title}|{count}|{collapsed}");
                let Some(s) = f.keyed_line(y, &key) else {
                    continue;
                };
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
            Some(Line::Fold { count, .. }) => {
                let _ = write!(key, "f{selected}{cols}|{count}");
                let Some(s) = f.keyed_line(y, &key) else {
                    continue;
                };
                let mut a = draw::dim();
                a.set_reverse(selected);
                let x = put(s, 0, y, &format!("    … {count} more"), cols, &a);
                if selected {
                    fill(s, x, y, cols.saturating_sub(x), &a);
                }
            }
            Some(Line::Session(i)) => {
                let item = &m.items[*i];
                let age = seconds_since(&item.changed_at, now);
                let ticks_in = match item.process.as_str() {
                    "sleeping" => Some(1), // its countdown
                    _ => age.map(until_next_unit),
                };
                if let Some(t) = ticks_in {
                    next_change = Some(next_change.map_or(t, |n: u64| n.min(t)));
                }
                let row = Row {
                    item,
                    detail: detail(item, now),
                    age: age.map(text::age).unwrap_or_default(),
                    selected,
                    name_w,
                    // Only a working icon changes from one animation frame to the next.
                    frame: if item.state == "working" {
                        frame % 3
                    } else {
                        0
                    },
                };
                row.key(&mut key, cols);
                if let Some(s) = f.keyed_line(y, &key) {
                    row.draw(s, y, cols);
                }
            }
        }
    }
    m.next_change = next_change;
}

/// The key of a table line with nothing on it.
const BLANK: &str = "-";

/// One session row and everything it shows.
struct Row<'a> {
    item: &'a Item,
    detail: String,
    age: String,
    selected: bool,
    name_w: usize,
    frame: usize,
}

impl Row<'_> {
    fn key(&self, key: &mut String, cols: usize) {
        let i = self.item;
        let _ = write!(
            key,
            "s{}{}{}{cols}|{}|{}|{}|{}|{}|{}|",
            self.selected,
            self.frame,
            self.name_w,
            i.state,
            i.process,
            i.name,
            self.detail,
            self.age,
            i.prs.len()
        );
        for p in &i.prs {
            let _ = write!(key, "{}{}|", p.color, p.url);
        }
    }

    fn draw(&self, s: &mut Surface, y: usize, cols: usize) {
        let (item, selected) = (self.item, self.selected);
        let sel = |mut a: CellAttributes| {
            a.set_reverse(selected);
            a
        };
        if selected {
            fill(s, 0, y, cols, &sel(draw::plain()));
        }
        let (glyph, icon_attrs) = draw::icon(&item.state, &item.process, self.frame);
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
            self.name_w.min(cols - x),
            &sel(draw::plain()),
        );
        x += self.name_w + 2;
        let right = AGE_W + 1 + PR_W;
        let detail_w = cols.saturating_sub(x + right + 1);
        if detail_w > 0 {
            let mut a = draw::plain();
            if item.state == "needs_input" {
                a.set_foreground(draw::state_color("needs_input"));
            } else if matches!(item.state.as_str(), "failed" | "broken") {
                a.set_foreground(draw::state_color("failed"));
            }
            put(s, x, y, &self.detail, detail_w, &sel(a));
        }
        if cols < x + right {
            return;
        }
        let age_x = cols - right;
        let age_at = age_x + AGE_W - draw::width(&self.age).min(AGE_W);
        put(s, age_at, y, &self.age, AGE_W, &sel(draw::dim()));
        pr_dot(s, item, cols - PR_W, y, selected);
    }
}

pub fn display_name(item: &Item) -> &str {
    if item.state == "broken" {
        "(broken)"
    } else {
        &item.name
    }
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

/// Whole seconds since an RFC 3339 time.
fn seconds_since(at: &str, now: SystemTime) -> Option<u64> {
    mux::store::parse_rfc3339(at).map(|t| now.duration_since(t).unwrap_or_default().as_secs())
}

/// Seconds until an age shown by `text::age` reads differently (`45s` → `46s`, `3m` → `4m`).
fn until_next_unit(age: u64) -> u64 {
    let unit = match age {
        0..=59 => 1,
        60..=3599 => 60,
        3600..=86399 => 3600,
        _ => 86400,
    };
    unit - age % unit
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
