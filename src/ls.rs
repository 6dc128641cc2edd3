//! `crew ls`: one row per session, grouped as in the agent view; `--json` for scripts.

use std::time::SystemTime;

use serde_json::Value;

use serde::Deserialize;
use serde_json::value::RawValue;

use mux::protocol::SupervisorRequest;
use mux::store::{self, Home};
use term::groups::{self, Item};
use term::text::{age, fit, sanitize};

use crate::connect;

#[derive(clap::Args, Default)]
pub struct LsArgs {
    /// Print every session object as JSON.
    #[arg(long)]
    json: bool,
    /// Show older completed sessions too (they fold into `… N more` otherwise).
    #[arg(long)]
    all: bool,
}

pub fn run(home: &Home, args: &LsArgs) -> Result<(), String> {
    let payload = list(home)?;
    let listing: Listing<'_> = serde_json::from_slice(&payload)
        .map_err(|e| format!("unreadable answer from the supervisor: {e}"))?;
    if listing.kind != "sessions" {
        return Err(listing.message.unwrap_or_else(|| {
            format!("unexpected answer from the supervisor: {}", listing.kind)
        }));
    }
    let sessions = listing.sessions;
    // Grouping reads a few fields of each session; the rest is printed as it came.
    let items: Vec<Item> = sessions
        .iter()
        .map(|raw| serde_json::from_str(raw.get()).unwrap_or_default())
        .collect();
    let grouped = groups::group(&items, !args.all && !args.json);
    let mut out = String::new();
    if args.json {
        let rows: Vec<&str> = grouped
            .iter()
            .flat_map(|g| g.rows.iter().map(|&i| sessions[i].get()))
            .collect();
        out.push('[');
        for (n, row) in rows.iter().enumerate() {
            out.push_str(if n == 0 { "\n" } else { ",\n" });
            out.push_str(row);
        }
        out.push_str(if rows.is_empty() { "]\n" } else { "\n]\n" });
    } else if sessions.is_empty() {
        out.push_str("no sessions; start one with: crew --bg \"<prompt>\"\n");
    } else {
        let color = use_color();
        let now = SystemTime::now();
        for g in &grouped {
            out.push_str(&format!("{}\n", g.title));
            for &i in &g.rows {
                let s: Value = serde_json::from_str(sessions[i].get()).unwrap_or_default();
                out.push_str(&row(&s, now, color));
            }
            if !g.folded.is_empty() {
                out.push_str(&format!("  … {} more (crew ls --all)\n", g.folded.len()));
            }
        }
    }
    use std::io::Write;
    let _ = std::io::stdout().write_all(out.as_bytes());
    Ok(())
}

/// The supervisor's answer to `List`, read without parsing each session fully.
#[derive(Deserialize)]
struct Listing<'a> {
    #[serde(rename = "type")]
    kind: String,
    #[serde(borrow, default)]
    sessions: Vec<&'a RawValue>,
    #[serde(default)]
    message: Option<String>,
}

fn list(home: &Home) -> Result<Vec<u8>, String> {
    let mut c = connect::supervisor(home)?;
    c.set_timeout(Some(std::time::Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    c.send(&SupervisorRequest::List)
        .map_err(|e| format!("the supervisor did not answer: {e}"))?;
    c.recv_json_bytes()
        .map_err(|e| format!("the supervisor did not answer: {e}"))
}

fn field<'a>(s: &'a Value, key: &str) -> &'a str {
    s.get(key).and_then(Value::as_str).unwrap_or("")
}

fn row(s: &Value, now: SystemTime, color: bool) -> String {
    let state = field(s, "state");
    let process = field(s, "process");
    let icon = groups::icon(state, process);
    let sgr = match (icon.color, icon.dim) {
        (_, true) => "\x1b[2m".to_string(),
        (Some(8), _) => "\x1b[90m".to_string(),
        (Some(c), _) => format!("\x1b[3{c}m"),
        (None, _) => String::new(),
    };
    let icon = icon.glyph;
    let detail = match state {
        "broken" => field(s, "reason").to_string(),
        "needs_input" if !field(s, "question").is_empty() => field(s, "question").to_string(),
        "failed" | "stopped" if !field(s, "reason").is_empty() => field(s, "reason").to_string(),
        _ => field(s, "summary").to_string(),
    };
    let name = if state == "broken" {
        "(broken)"
    } else {
        field(s, "name")
    };
    let age = store::parse_rfc3339(field(s, "changed_at"))
        .and_then(|t| now.duration_since(t).ok())
        .map(|d| age(d.as_secs()))
        .unwrap_or_default();
    let (on, off) = if color {
        (sgr.as_str(), "\x1b[0m")
    } else {
        ("", "")
    };
    format!(
        "  {on}{icon}{off} {} {} {on}{}{off} {} {age:>3}\n",
        fit(&sanitize(name), 24),
        field(s, "id"),
        fit(&state.replace('_', " "), 11),
        fit(&sanitize(&detail), 48),
    )
}

fn use_color() -> bool {
    std::env::var_os("NO_COLOR").is_none() && unsafe { libc::isatty(1) } == 1
}
