//! The recap shown on attach: what happened while you were away (SPEC 5).

use mux::protocol::{Recap, Session};

use crate::text::{age as ago, sanitize};

/// The recap as terminal text (raw mode: lines end in CR LF).
pub fn render(session: &Session, recap: &Recap) -> String {
    let mut lines = vec![format!(
        "\x1b[1mcrew · {} · {} · away {}\x1b[0m",
        sanitize(&session.name),
        session.state.as_str().replace('_', " "),
        ago(recap.away_s),
    )];
    for change in &recap.changes {
        let summary = change
            .summary
            .as_deref()
            .map(|s| format!("  {}", sanitize(s)))
            .unwrap_or_default();
        lines.push(format!(
            "  {:>8}  {}{}",
            format!("{} ago", ago(change.ago_s)),
            change.state.as_str().replace('_', " "),
            summary
        ));
    }
    if let Some(q) = &recap.question {
        lines.push(format!("  needs input: {}", sanitize(q)));
    }
    for pr in &recap.prs {
        lines.push(format!("  PR {}", sanitize(pr)));
    }
    lines.push("\x1b[2m(any key to continue)\x1b[0m".into());
    let mut out = String::from("\r\n");
    for l in lines {
        out.push_str(&l);
        out.push_str("\r\n");
    }
    out
}
