//! One session as stored in `jobs/<id>/state.json` and listed by `crew ls --json`.

use serde::{Deserialize, Serialize};

/// The version written into every state file. Readers accept this one and the one before.
pub const STATE_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Working,
    NeedsInput,
    Idle,
    Completed,
    Failed,
    Stopped,
}

impl State {
    /// Every state, in the order of SPEC 2.
    pub const ALL: [State; 6] = [
        State::Working,
        State::NeedsInput,
        State::Idle,
        State::Completed,
        State::Failed,
        State::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Working => "working",
            State::NeedsInput => "needs_input",
            State::Idle => "idle",
            State::Completed => "completed",
            State::Failed => "failed",
            State::Stopped => "stopped",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        Some(match s {
            "working" => State::Working,
            "needs_input" => State::NeedsInput,
            "idle" => State::Idle,
            "completed" => State::Completed,
            "failed" => State::Failed,
            "stopped" => State::Stopped,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Process {
    Alive,
    Exited,
    Sleeping,
}

/// Which signal decided the state, strongest first (SPEC 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Report,
    Notification,
    Title,
    Screen,
    Activity,
    Exit,
    User,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pr {
    pub url: String,
    pub number: u64,
    pub repo: String,
    pub state: String,
    pub checks: String,
    pub review: String,
    pub color: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loop {
    pub every_s: u64,
    pub runs: u64,
    pub next_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub version: u32,
    pub id: String,
    pub name: String,
    pub agent: String,
    pub prompt: Option<String>,
    pub model: Option<String>,
    pub cwd: String,
    pub worktree: Option<String>,
    pub branch: Option<String>,
    pub state: State,
    pub process: Process,
    pub state_source: Source,
    pub reason: Option<String>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub summary: Option<String>,
    pub question: Option<String>,
    pub title: Option<String>,
    pub pinned: bool,
    pub order: i64,
    pub prs: Vec<Pr>,
    #[serde(rename = "loop")]
    pub loop_: Option<Loop>,
    pub pid: Option<u32>,
    pub host_pid: Option<u32>,
    pub created_at: String,
    pub changed_at: String,
    pub attached: u32,
    /// Below: what the host needs to run and find the session again; not part of `ls --json`.
    pub command: Vec<String>,
    #[serde(default)]
    pub resume: Option<Vec<String>>,
    /// The profile's `env`, placeholders filled, added to the agent's environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<(String, String)>,
    /// Start time of the host process (clock ticks since boot, /proc/PID/stat field 22), so a
    /// reused pid is never mistaken for the host.
    #[serde(default)]
    pub host_start: Option<u64>,
    #[serde(default = "default_rows")]
    pub rows: u16,
    #[serde(default = "default_cols")]
    pub cols: u16,
}

fn default_rows() -> u16 {
    24
}
fn default_cols() -> u16 {
    80
}

/// Fields of the state file that are bookkeeping, not part of the listed session object.
const PRIVATE_FIELDS: [&str; 7] = [
    "version",
    "command",
    "resume",
    "env",
    "host_start",
    "rows",
    "cols",
];

impl Session {
    /// Takes what the supervisor learned from outside: a summary (a summary change is a
    /// change of the row: `changed_at` moves) and PR statuses, merged by URL into the PRs
    /// already known. Returns whether anything changed.
    pub fn annotate(&mut self, summary: Option<String>, prs: Option<Vec<Pr>>) -> bool {
        let mut changed = false;
        if let Some(text) = summary {
            if self.summary.as_ref() != Some(&text) {
                self.summary = Some(text);
                self.changed_at = crate::store::now_rfc3339();
                changed = true;
            }
        }
        for pr in prs.unwrap_or_default() {
            match self.prs.iter_mut().find(|p| p.url == pr.url) {
                Some(known) if *known == pr => {}
                Some(known) => {
                    *known = pr;
                    changed = true;
                }
                None => {
                    self.prs.push(pr);
                    changed = true;
                }
            }
        }
        changed
    }

    /// The session object of SPEC 2, as `crew ls --json` prints it.
    pub fn public_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("session serializes");
        if let Some(map) = v.as_object_mut() {
            for key in PRIVATE_FIELDS {
                map.remove(key);
            }
        }
        v
    }
}
