//! `?`: every shortcut, in context (what the keys do on the selected line).

use super::draw::{self, put};
use super::frame::Frame;
use super::model::{Line, Model};

const KEYS: &[(&str, &str)] = &[
    ("↑ ↓", "move between rows"),
    (
        "Enter",
        "attach; dispatch when the input has text; collapse/expand a group",
    ),
    ("→", "attach"),
    (
        "Space",
        "open/close the peek panel (type a reply there, Enter sends it)",
    ),
    (
        "Shift+Enter",
        "dispatch and attach at once (terminals that send it distinctly:",
    ),
    (
        "",
        "  xterm, kitty, WezTerm, foot, Ghostty, iTerm2 with CSI u)",
    ),
    ("Alt+1…9", "attach to session 1–9 of the current group"),
    (
        "Tab",
        "complete the input (/model, s:state, a:agent, @agent); on an empty input, list agents",
    ),
    ("Ctrl+S", "group by state / by directory"),
    ("Ctrl+T", "pin / unpin"),
    ("Shift+↑ ↓", "move the session within its group"),
    ("Ctrl+R", "rename"),
    (
        "Ctrl+X",
        "stop; again within 2 s deletes; on a group header, delete the group",
    ),
    (
        "Esc",
        "close the peek / clear the input / leave (sessions keep running)",
    ),
    ("", ""),
    (
        "s:STATE",
        "filter by state (s:blocked = waiting on you); a:AGENT by agent",
    ),
    (
        "#N, PR URL",
        "select the session working on that pull request",
    ),
    (
        "@agent …",
        "dispatch with that agent profile; @repo … in ../repo",
    ),
    (
        "/model NAME",
        "dispatch model for this run (/model default clears)",
    ),
    ("/exit", "leave the view"),
];

pub fn draw(m: &Model, f: &mut Frame, top: usize, height: usize, cols: usize) {
    for y in top..top + height {
        f.line(y);
    }
    let s = f.canvas();
    let context = match m.selected_line() {
        Some(Line::Group { title, .. }) => {
            format!("On the group “{title}”: Enter collapses, Ctrl+X deletes all its sessions.")
        }
        Some(Line::Fold { .. }) => "On “… more”: Enter shows the folded sessions.".to_string(),
        Some(Line::Session(i)) => format!(
            "On {}: Enter attaches, Space peeks, Ctrl+X stops.",
            m.items[*i].name
        ),
        None => "No session yet: type a prompt and press Enter.".to_string(),
    };
    let mut lines: Vec<(String, String)> = vec![("Keys".into(), String::new())];
    lines.extend(KEYS.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    lines.push((String::new(), String::new()));
    lines.push((String::new(), context));
    for (row, (key, what)) in lines.into_iter().take(height).enumerate() {
        let y = top + row;
        if row == 0 {
            put(s, 2, y, &key, cols.saturating_sub(2), &draw::bold());
            continue;
        }
        let x = 2 + put(s, 2, y, &key, 14.min(cols.saturating_sub(2)), &draw::bold());
        let x = x.max(17);
        if x < cols {
            put(s, x, y, &what, cols - x, &draw::plain());
        }
    }
}
