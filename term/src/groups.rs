//! How sessions are grouped and ordered for people (SPEC 4): the agent view and `crew ls`
//! show the same groups, needing-you first, with old finished rows folded.

use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Pinned,
    ReadyForReview,
    NeedsInput,
    Working,
    Completed,
}

impl Group {
    pub fn title(self) -> &'static str {
        match self {
            Group::Pinned => "Pinned",
            Group::ReadyForReview => "Ready for review",
            Group::NeedsInput => "Needs input",
            Group::Working => "Working",
            Group::Completed => "Completed",
        }
    }
}

/// When the `Completed` group has more rows than this, the older ones fold.
pub const FOLD_OVER: usize = 10;
/// Rows that stay visible in a folded group.
pub const FOLD_KEEP: usize = 5;

fn str_field<'a>(s: &'a Value, key: &str) -> &'a str {
    s.get(key).and_then(Value::as_str).unwrap_or("")
}

pub fn has_open_pr(s: &Value) -> bool {
    s.get("prs")
        .and_then(Value::as_array)
        .is_some_and(|prs| prs.iter().any(|p| str_field(p, "state") == "open"))
}

pub fn group_of(s: &Value) -> Group {
    if s.get("pinned").and_then(Value::as_bool) == Some(true) {
        return Group::Pinned;
    }
    if has_open_pr(s) {
        return Group::ReadyForReview;
    }
    match str_field(s, "state") {
        "needs_input" => Group::NeedsInput,
        "working" => Group::Working,
        _ => Group::Completed,
    }
}

/// Whether a row may fold away: failures, broken sessions and open PRs always show.
fn may_fold(s: &Value) -> bool {
    !matches!(str_field(s, "state"), "failed" | "broken") && !has_open_pr(s)
}

pub struct Grouped<'a> {
    pub group: Group,
    pub rows: Vec<&'a Value>,
    /// Rows folded into `… N more`.
    pub folded: Vec<&'a Value>,
}

/// Sessions in display order: by group, then the user's order, then newest change first
/// in `Completed` and oldest first elsewhere (so working rows do not jump around).
pub fn group(sessions: &[Value], fold: bool) -> Vec<Grouped<'_>> {
    let mut out: Vec<Grouped<'_>> = Vec::new();
    for g in [
        Group::Pinned,
        Group::ReadyForReview,
        Group::NeedsInput,
        Group::Working,
        Group::Completed,
    ] {
        let mut rows: Vec<&Value> = sessions.iter().filter(|s| group_of(s) == g).collect();
        if rows.is_empty() {
            continue;
        }
        rows.sort_by(|a, b| {
            let order = |s: &Value| s.get("order").and_then(Value::as_i64).unwrap_or(0);
            order(a).cmp(&order(b)).then_with(|| {
                if g == Group::Completed {
                    str_field(b, "changed_at").cmp(str_field(a, "changed_at"))
                } else {
                    str_field(a, "created_at").cmp(str_field(b, "created_at"))
                }
            })
        });
        let mut folded = Vec::new();
        if fold && g == Group::Completed && rows.len() > FOLD_OVER {
            // Keep the most recently changed; rows are already newest first.
            let mut kept = 0;
            rows.retain(|s| {
                if !may_fold(s) {
                    return true;
                }
                kept += 1;
                if kept <= FOLD_KEEP {
                    true
                } else {
                    folded.push(*s);
                    false
                }
            });
        }
        out.push(Grouped {
            group: g,
            rows,
            folded,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn needing_you_comes_first_and_old_results_fold() {
        let mut sessions = vec![
            json!({"id": "w", "state": "working", "created_at": "1"}),
            json!({"id": "q", "state": "needs_input"}),
            json!({"id": "p", "state": "idle", "pinned": true}),
            json!({"id": "f", "state": "failed", "changed_at": "0"}),
        ];
        for i in 0..12 {
            sessions.push(json!({"id": format!("c{i:02}"), "state": "completed", "changed_at": format!("{i:02}")}));
        }
        let g = group(&sessions, true);
        let names: Vec<Group> = g.iter().map(|x| x.group).collect();
        assert_eq!(
            names,
            [
                Group::Pinned,
                Group::NeedsInput,
                Group::Working,
                Group::Completed
            ]
        );
        let done = &g[3];
        assert_eq!(done.folded.len(), 7);
        assert!(
            done.rows.iter().any(|s| s["id"] == "f"),
            "failures never fold"
        );
        assert_eq!(done.rows[0]["id"], "c11");
        assert_eq!(group(&sessions, false)[3].folded.len(), 0);
    }
}
