//! How sessions are grouped and ordered for people (SPEC 4): the agent view and `crew ls`
//! show the same groups, needing-you first, with old finished rows folded.

use serde::Deserialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Pinned,
    ReadyForReview,
    NeedsInput,
    Working,
    Completed,
    /// Grouping by directory (`Ctrl+S`): one group per repository or working directory.
    Directory,
}

impl Group {
    pub fn title(self) -> &'static str {
        match self {
            Group::Pinned => "Pinned",
            Group::ReadyForReview => "Ready for review",
            Group::NeedsInput => "Needs input",
            Group::Working => "Working",
            Group::Completed => "Completed",
            Group::Directory => "Directory",
        }
    }
}

/// A state's icon (SPEC 2): the glyph by process and state, its ANSI colour (`None`: the
/// terminal's default), and whether it is drawn dim. `crew ls` and the view both use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Icon {
    pub glyph: &'static str,
    pub color: Option<u8>,
    pub dim: bool,
}

pub fn icon(state: &str, process: &str) -> Icon {
    let (glyph, color, dim) = match (state, process) {
        (_, "sleeping") => ("✢", None, true),
        ("working", _) => ("✽", Some(6), false),
        ("needs_input", _) => ("✻", Some(3), false),
        ("idle", "alive") => ("✻", None, true),
        // Reaped after idle_reap: its process is gone until it is touched again.
        ("idle", _) => ("∙", None, true),
        ("completed", "alive") => ("✻", Some(2), false),
        ("completed", _) => ("∙", Some(2), false),
        ("failed", _) | ("broken", _) => ("∙", Some(1), false),
        _ => ("∙", Some(8), false),
    };
    Icon { glyph, color, dim }
}

/// When the `Completed` group has more rows than this, the older ones fold.
pub const FOLD_OVER: usize = 10;
/// Rows that stay visible in a folded group.
pub const FOLD_KEEP: usize = 5;

/// A session object (SPEC 2) as people see it: what grouping and a row need, read
/// leniently. A broken session has only `id`, `state` and `reason`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Item {
    pub id: String,
    pub name: String,
    pub agent: String,
    pub model: Option<String>,
    pub state: String,
    pub process: String,
    pub prompt: Option<String>,
    pub summary: Option<String>,
    pub question: Option<String>,
    pub reason: Option<String>,
    pub title: Option<String>,
    pub cwd: String,
    pub worktree: Option<String>,
    pub pinned: bool,
    pub order: i64,
    pub created_at: String,
    pub changed_at: String,
    pub prs: Vec<PrItem>,
    #[serde(rename = "loop")]
    pub loop_: Option<LoopItem>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct PrItem {
    pub url: String,
    pub number: u64,
    pub state: String,
    pub color: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoopItem {
    pub every_s: u64,
    pub runs: u64,
    pub next_at: Option<String>,
}

impl Item {
    pub fn has_open_pr(&self) -> bool {
        self.prs.iter().any(|p| p.state == "open")
    }

    pub fn group(&self) -> Group {
        if self.pinned {
            Group::Pinned
        } else if self.has_open_pr() {
            Group::ReadyForReview
        } else {
            match self.state.as_str() {
                "needs_input" => Group::NeedsInput,
                "working" => Group::Working,
                _ => Group::Completed,
            }
        }
    }

    /// The directory the session belongs to: its repository when it runs in a crew
    /// worktree (`<repo>/.crew/worktrees/<name>`), else its working directory.
    pub fn directory(&self) -> &str {
        if let Some(w) = &self.worktree {
            if let Some(i) = w.find("/.crew/worktrees/") {
                return &w[..i];
            }
        }
        &self.cwd
    }

    /// Needing-you first, for ordering inside a directory group.
    fn urgency(&self) -> u8 {
        match self.state.as_str() {
            "needs_input" => 0,
            "working" => 1,
            "failed" | "broken" => 2,
            "idle" => 3,
            _ => 4,
        }
    }

    /// Failures, broken sessions and open PRs always show.
    fn may_fold(&self) -> bool {
        !matches!(self.state.as_str(), "failed" | "broken") && !self.has_open_pr()
    }
}

/// One group's rows, as indices into the items given to `group`.
pub struct Grouped {
    pub group: Group,
    /// What the header says, also the key that remembers a collapsed group.
    pub title: String,
    pub rows: Vec<usize>,
    /// Rows folded into `… N more`.
    pub folded: Vec<usize>,
}

/// Sessions in display order: by group, then the user's order, then newest change first
/// in `Completed` and oldest first elsewhere (so working rows do not jump around).
pub fn group(items: &[Item], fold: bool) -> Vec<Grouped> {
    let mut out = Vec::new();
    for g in [
        Group::Pinned,
        Group::ReadyForReview,
        Group::NeedsInput,
        Group::Working,
        Group::Completed,
    ] {
        let mut rows: Vec<usize> = (0..items.len())
            .filter(|&i| items[i].group() == g)
            .collect();
        if rows.is_empty() {
            continue;
        }
        rows.sort_by(|&a, &b| {
            let (a, b) = (&items[a], &items[b]);
            a.order.cmp(&b.order).then_with(|| {
                if g == Group::Completed {
                    b.changed_at.cmp(&a.changed_at)
                } else {
                    a.created_at.cmp(&b.created_at)
                }
            })
        });
        let mut folded = Vec::new();
        if fold && g == Group::Completed && rows.len() > FOLD_OVER {
            // Keep the most recently changed; rows are already newest first.
            let mut kept = 0;
            rows.retain(|&i| {
                if !items[i].may_fold() {
                    return true;
                }
                kept += 1;
                if kept <= FOLD_KEEP {
                    true
                } else {
                    folded.push(i);
                    false
                }
            });
        }
        out.push(Grouped {
            group: g,
            title: g.title().to_string(),
            rows,
            folded,
        });
    }
    out
}

/// Sessions by directory (`Ctrl+S`): pinned ones first as usual, then one group per
/// repository or working directory in path order, needing-you first inside each.
pub fn group_by_dir(items: &[Item]) -> Vec<Grouped> {
    let mut out = Vec::new();
    let mut pinned: Vec<usize> = (0..items.len()).filter(|&i| items[i].pinned).collect();
    if !pinned.is_empty() {
        pinned.sort_by(|&a, &b| {
            let (a, b) = (&items[a], &items[b]);
            a.order
                .cmp(&b.order)
                .then_with(|| a.created_at.cmp(&b.created_at))
        });
        out.push(Grouped {
            group: Group::Pinned,
            title: Group::Pinned.title().to_string(),
            rows: pinned,
            folded: Vec::new(),
        });
    }
    let mut dirs: Vec<&str> = items
        .iter()
        .filter(|i| !i.pinned)
        .map(Item::directory)
        .collect();
    dirs.sort_unstable();
    dirs.dedup();
    for dir in dirs {
        let mut rows: Vec<usize> = (0..items.len())
            .filter(|&i| !items[i].pinned && items[i].directory() == dir)
            .collect();
        rows.sort_by(|&a, &b| {
            let (a, b) = (&items[a], &items[b]);
            a.order
                .cmp(&b.order)
                .then(a.urgency().cmp(&b.urgency()))
                .then_with(|| a.created_at.cmp(&b.created_at))
        });
        out.push(Grouped {
            group: Group::Directory,
            title: dir.to_string(),
            rows,
            folded: Vec::new(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(state: &str, changed_at: &str) -> Item {
        Item {
            state: state.into(),
            changed_at: changed_at.into(),
            ..Item::default()
        }
    }

    #[test]
    fn needing_you_comes_first_and_old_results_fold() {
        let mut items = vec![
            item("working", ""),
            item("needs_input", ""),
            Item {
                pinned: true,
                ..item("idle", "")
            },
            item("failed", "0"),
        ];
        for i in 0..12 {
            items.push(item("completed", &format!("{i:02}")));
        }
        let g = group(&items, true);
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
        assert!(done.rows.contains(&3), "failures never fold");
        assert_eq!(items[done.rows[0]].changed_at, "11");
        assert_eq!(group(&items, false)[3].folded.len(), 0);
    }

    #[test]
    fn a_session_without_its_process_shows_a_dot() {
        assert_eq!(icon("idle", "alive").glyph, "✻");
        assert_eq!(icon("completed", "alive").glyph, "✻");
        // Reaped after idle_reap: the state stays, the process is gone.
        assert_eq!(icon("idle", "exited").glyph, "∙");
        assert_eq!(icon("completed", "exited").glyph, "∙");
    }

    #[test]
    fn an_open_pr_is_ready_for_review_and_never_folds() {
        let mut pr = item("completed", "");
        pr.prs.push(PrItem {
            state: "open".into(),
            ..PrItem::default()
        });
        assert_eq!(pr.group(), Group::ReadyForReview);
        assert!(!pr.may_fold());
    }
}
