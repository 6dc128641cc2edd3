//! The JSON control messages carried in `Kind::Json` frames.
//!
//! Requests name what a user means (`Dispatch`, `Stop`, `Peek`); replies are plain data.
//! Unknown fields are ignored so a newer peer can add optional ones without breaking an older.

use serde::{Deserialize, Serialize};

use super::session::{Pr, Session, State};

/// Requests a client sends to the supervisor (`daemon/supervisor.sock`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SupervisorRequest {
    Dispatch(Dispatch),
    List,
    Stop {
        id: String,
    },
    Respawn {
        ids: Vec<String>,
        env: Vec<(String, String)>,
    },
    Remove {
        id: String,
        force: bool,
    },
    Rename {
        id: String,
        name: String,
    },
    Pin {
        id: String,
        pinned: bool,
    },
    /// Order within the session's group in the view (Shift+Up/Down).
    Reorder {
        id: String,
        order: i64,
    },
    Shutdown {
        keep_workers: bool,
    },
    Status,
    /// The agent view's subscription: answered with `Sessions`, then `Changed` and
    /// `Removed` pushed as sessions change, for as long as the connection stays open.
    Watch,
}

/// Everything a new session needs from the dispatching client.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Dispatch {
    pub prompt: Option<String>,
    pub name: Option<String>,
    pub agent: Option<String>,
    pub model: Option<String>,
    pub cwd: String,
    /// The client's environment: the agent runs with it, as it would in the user's shell.
    pub env: Vec<(String, String)>,
    pub rows: u16,
    pub cols: u16,
    /// `--every`: a loop session that runs again this many seconds after each run ends.
    #[serde(default)]
    pub every_s: Option<u64>,
    /// `--no-worktree`: run in `cwd` itself even in a git repository.
    #[serde(default)]
    pub no_worktree: bool,
}

/// What the supervisor hands a pre-started host: its session, and the environment the agent
/// runs with (the dispatching client's).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Assignment {
    pub id: String,
    pub env: Vec<(String, String)>,
}

/// Requests sent to a session's host (`jobs/<id>/host.sock`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HostRequest {
    /// The supervisor's connection: the host answers with `Hello` and then pushes `State`
    /// whenever `state.json` changes.
    Watch { version: u32 },
    /// The session as the host knows it now (its state file can trail it); answered with
    /// `State`.
    Session,
    /// The rendered screen. `history: true` adds the scrollback above it (for `logs`).
    Screen { history: bool },
    /// The visible screen with its colours and attributes, as escape sequences (for the
    /// view's peek panel); answered with `Painted`.
    Painted,
    /// Rendered lines as they are finished, from the given line number on (for `logs -f`).
    Follow { from: u64 },
    /// Type text into the agent (bytes, then Enter when `enter`).
    Input { text: String, enter: bool },
    /// An explicit state from the agent or its hooks (`crew report`).
    Report {
        state: String,
        message: Option<String>,
    },
    /// Settings owned by the user: name, pin, order.
    Update {
        name: Option<String>,
        pinned: Option<bool>,
        order: Option<i64>,
    },
    /// What the supervisor learned about the session from outside: a summary written by a
    /// model or a local program (SPEC 9), and pull-request statuses (SPEC 10), merged by URL
    /// into the PRs the host found.
    Annotate {
        summary: Option<String>,
        prs: Option<Vec<Pr>>,
    },
    /// Stop the agent (HUP, TERM, KILL after a grace period), then exit.
    Stop,
    /// Start the agent again in place (after it exited), keeping screen and transcript.
    Respawn { env: Vec<(String, String)> },
    /// Exit the host; for a host whose agent has already ended.
    Quit,
    /// Become an attached terminal of this size: the host answers `Attached`, then sends the
    /// screen and every byte of output in `Data` frames; `Data` frames from the client are
    /// typed input.
    Attach { rows: u16, cols: u16 },
    /// The attached terminal's new size.
    Resize { rows: u16, cols: u16 },
    /// The `←` key, as the terminal sent it (`raw`): on an empty prompt it detaches (the
    /// host answers `Detach`), otherwise it goes to the agent.
    Left { raw: String },
    /// The Enter key outside a paste: after `/bg [text]` at an empty prompt it sends `text`
    /// and detaches, otherwise it goes to the agent.
    Enter { raw: String },
}

/// Everything a host or the supervisor answers or pushes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    Ok,
    Error {
        message: String,
    },
    Dispatched {
        id: String,
        name: String,
        /// Something the user should know, e.g. why the session got no worktree.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// Every session object (SPEC 2), or `{"id", "state": "broken", "reason"}`.
    Sessions {
        sessions: Vec<serde_json::Value>,
    },
    /// A watched session changed (or appeared): its session object, or the broken form.
    Changed {
        session: serde_json::Value,
    },
    /// A watched session was removed.
    Removed {
        id: String,
    },
    /// A host's greeting: which session, which binary version and process.
    Hello {
        version: u32,
        id: String,
        host_pid: u32,
        host_start: u64,
        /// The crew version of the host's binary (absent from hosts older than this field).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        crew: Option<String>,
    },
    State {
        session: Box<Session>,
    },
    Screen {
        text: String,
    },
    /// A screen of `rows` x `cols` as escape sequences that redraw it on a blank terminal.
    Painted {
        rows: u16,
        cols: u16,
        text: String,
    },
    /// Finished lines for `logs -f`; `next` is the line number to ask from next.
    Lines {
        lines: Vec<String>,
        next: u64,
        ended: bool,
    },
    Status(DaemonStatus),
    /// The answer to `Attach`: the session, and what happened while nobody was attached when
    /// something worth telling did.
    Attached {
        session: Box<Session>,
        recap: Option<Recap>,
    },
    /// The attached client should detach now (`←` on an empty prompt, `/bg`).
    Detach,
    /// Ids the supervisor acted on, with a line per session that could not be.
    Done {
        ids: Vec<String>,
        errors: Vec<String>,
    },
}

/// What happened to a session since its last detach (or its dispatch), shown on attach.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Recap {
    /// Seconds since the last detach, or since the session started when never attached.
    pub away_s: u64,
    /// State changes in that time, oldest first.
    pub changes: Vec<Change>,
    pub question: Option<String>,
    /// Pull requests the session printed.
    pub prs: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Change {
    /// Seconds ago.
    pub ago_s: u64,
    pub state: State,
    pub summary: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DaemonStatus {
    pub pid: u32,
    pub version: String,
    pub protocol: u32,
    pub uptime_s: u64,
    pub sessions: usize,
    pub hosts: usize,
    /// The pre-started host waiting for the next dispatch.
    pub standby_pid: Option<u32>,
    /// The crew version of each connected host whose binary is older than the supervisor's
    /// (`unknown` for hosts too old to say).
    #[serde(default)]
    pub older_hosts: Vec<String>,
}
