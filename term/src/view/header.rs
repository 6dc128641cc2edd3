//! The header: version, dispatch model, directory, and a count per state.

use super::draw::{self, put};
use super::frame::Frame;
use super::model::Model;

pub fn draw(m: &Model, f: &mut Frame, cols: usize) {
    let s = f.line(0);
    let mut left = format!("crew {}", mux::version());
    match (&m.session_model, &m.model) {
        (Some(model), _) => left.push_str(&format!(" · model {model} (session)")),
        (None, Some(model)) => left.push_str(&format!(" · model {model}")),
        (None, None) => {}
    }
    left.push_str(&format!(" · {}", draw::home_relative(&m.cwd)));
    let mut x = put(s, 0, 0, &left, cols, &draw::bold());
    if !m.connected {
        x += put(
            s,
            x,
            0,
            "  connecting…",
            cols.saturating_sub(x),
            &draw::dim(),
        );
    }
    // Counts go at the right, as many as fit.
    let counts: Vec<(String, &str)> = m
        .counts()
        .into_iter()
        .map(|(state, n)| (format!("{n} {}", state.replace('_', " ")), state))
        .collect();
    let total: usize = counts.iter().map(|(t, _)| draw::width(t) + 2).sum();
    let mut at = cols.saturating_sub(total).max(x + 2);
    for (text, state) in counts {
        let mut a = draw::plain();
        a.set_foreground(draw::state_color(state));
        let w = draw::width(&text);
        if at + w > cols {
            break;
        }
        at += put(s, at, 0, &text, w, &a) + 2;
    }
}
