//! The built-in agent profiles against fake agent CLIs (`fixtures/agents/`): the argv each
//! real CLI expects, the Claude Code hooks driving the state, resuming the same conversation,
//! and picking the default agent from PATH (SPEC 2 "Where a state comes from", 6).

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};
use support::*;

const AGENT_NAMES: [&str; 4] = ["claude", "codex", "aider", "gemini"];

/// PATH with the crew binary's directory first and no directory that holds a real agent CLI,
/// so only the fakes a test puts in front of it can be found.
fn clean_path() -> String {
    let system = std::env::var("PATH").unwrap_or_default();
    let crew_dir = bin().parent().unwrap().to_string_lossy().into_owned();
    let mut dirs = vec![crew_dir];
    dirs.extend(
        std::env::split_paths(&system)
            .filter(|d| !AGENT_NAMES.iter().any(|a| d.join(a).exists()))
            .map(|d| d.to_string_lossy().into_owned()),
    );
    dirs.join(":")
}

/// The crew binary as the product names it in hooks (its own resolved path).
fn crew_exe() -> String {
    std::fs::canonicalize(bin())
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// A lowercase RFC 4122 version 4 uuid.
fn is_uuid_v4(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    groups.len() == 5
        && groups.iter().zip(lens).all(|(g, n)| {
            g.len() == n
                && g.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        && groups[2].starts_with('4')
        && groups[3].starts_with(['8', '9', 'a', 'b'])
}

/// The fake agents on PATH for one test's crew, a private HOME holding the user's own agent
/// settings, and the log the fakes append to.
struct Fakes<'a> {
    crew: &'a Crew,
    path: String,
    home: PathBuf,
    log: PathBuf,
}

impl<'a> Fakes<'a> {
    /// Every fake agent first on PATH.
    fn new(crew: &'a Crew) -> Fakes<'a> {
        Fakes::with_path(crew, format!("{}:{}", fixture("agents"), clean_path()))
    }

    fn with_path(crew: &'a Crew, path: String) -> Fakes<'a> {
        let home = crew.home.join("home");
        std::fs::create_dir_all(&home).unwrap();
        Fakes {
            crew,
            path,
            home,
            log: crew.home.join("agents.log"),
        }
    }

    /// A crew command whose environment (sent along with a dispatch, respawn or reply) has
    /// the fakes on PATH, the private HOME and the log.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = self.crew.command(args);
        c.env("PATH", &self.path)
            .env("HOME", &self.home)
            .env("FAKE_AGENT_LOG", &self.log)
            .env("SHELL", "/bin/sh");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("crew runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        succeeded(args, self.run(args))
    }

    /// `crew --bg -C <crew home> ARGS…` (a directory outside any git repository); the id.
    fn bg(&self, args: &[&str]) -> String {
        let dir = self.crew.home.to_string_lossy().into_owned();
        let mut all = vec!["--bg", "-C", &dir];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        let mut parts = out.split_whitespace();
        let id = parts.next().expect("id").to_string();
        assert!(parts.next().is_some(), "--bg prints `<id> <name>`: {out:?}");
        id
    }

    /// Every complete line of the log, parsed.
    fn entries(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The agent starts recorded so far, oldest first.
    fn runs(&self) -> Vec<Value> {
        self.entries()
            .into_iter()
            .filter(|e| e.get("argv").is_some())
            .collect()
    }

    /// The hook and notify commands the fakes ran.
    fn hooks(&self) -> Vec<Value> {
        self.entries()
            .into_iter()
            .filter(|e| e.get("hook").is_some())
            .collect()
    }

    /// Waits for the `n`th agent start and returns it.
    fn run_number(&self, n: usize, id: &str) -> Value {
        let mut runs = Vec::new();
        let ok = within(DEADLINE, || {
            runs = self.runs();
            runs.len() >= n
        });
        assert!(
            ok,
            "timed out waiting for agent start #{n}; recorded: {runs:?}\nscreen:\n{}",
            screen(self.crew, id)
        );
        runs.swap_remove(n - 1)
    }

    /// Every hook command the fakes ran succeeded.
    fn assert_hooks_succeeded(&self) {
        for h in self.hooks() {
            assert_eq!(h["rc"], 0, "a hook command failed: {h}");
        }
    }

    /// Writes the user's own settings for every agent into the private HOME.
    fn user_settings(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let files: [(&str, &str); 3] = [
            (
                ".claude/settings.json",
                "{\n  \"model\": \"mine\",\n  \"hooks\": {\"Stop\": [{\"hooks\": [{\"type\": \"command\", \"command\": \"true\"}]}]}\n}\n",
            ),
            (".codex/config.toml", "model = \"mine\"\nnotify = [\"true\"]\n"),
            (
                ".gemini/settings.json",
                "{ \"general\": { \"enableNotifications\": false } }\n",
            ),
        ];
        for (rel, text) in files {
            let path = self.home.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
        }
        snapshot(&self.home)
    }
}

/// Every file and directory under `dir` with the files' bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut all = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                all.insert(p.clone(), b"<dir>".to_vec());
                todo.push(p);
            } else {
                all.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    all
}

fn screen(crew: &Crew, id: &str) -> String {
    let out = crew.run(&["logs", id]);
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Waits until the session satisfies `cond`; the failure shows the last listing and screen.
fn wait_session(crew: &Crew, id: &str, what: &str, mut cond: impl FnMut(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let ok = within(DEADLINE, || {
        last = crew.session(id);
        cond(&last)
    });
    assert!(
        ok,
        "timed out waiting for {what}; last listed:\n{last:#}\nscreen:\n{}",
        screen(crew, id)
    );
    last
}

fn is(state: &'static str, source: &'static str) -> impl FnMut(&Value) -> bool {
    move |s| s["state"] == state && s["state_source"] == source
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|a| {
            a.as_str()
                .unwrap_or_else(|| panic!("not a string: {a}"))
                .to_string()
        })
        .collect()
}

fn hooks_path(crew: &Crew, id: &str) -> String {
    crew.job(id)
        .join("hooks.json")
        .to_string_lossy()
        .into_owned()
}

/// Checks what every agent start records about its session.
fn assert_session_env(fakes: &Fakes, run: &Value, id: &str) {
    let env = &run["env"];
    assert_eq!(env["CREW_SESSION_ID"], id, "{run}");
    assert_eq!(
        env["CREW_HOME"],
        fakes.crew.home.to_string_lossy().as_ref(),
        "{run}"
    );
    assert_eq!(env["HOME"], fakes.home.to_string_lossy().as_ref(), "{run}");
}

/// The hooks a Claude settings file wires, as (event, matcher, commands), in order.
fn hook_table(settings: &Value) -> Vec<(String, Option<String>, Vec<String>)> {
    let hooks = settings["hooks"]
        .as_object()
        .unwrap_or_else(|| panic!("no \"hooks\" object in {settings}"));
    let mut table = Vec::new();
    for (event, groups) in hooks {
        for g in groups
            .as_array()
            .unwrap_or_else(|| panic!("{event}: {groups}"))
        {
            let commands = g["hooks"]
                .as_array()
                .unwrap_or_else(|| panic!("{event}: {g}"))
                .iter()
                .map(|h| {
                    assert_eq!(h["type"], "command", "{event}: {h}");
                    h["command"].as_str().unwrap().to_string()
                })
                .collect();
            let matcher = g["matcher"].as_str().map(str::to_string);
            table.push((event.clone(), matcher, commands));
        }
    }
    table.sort();
    table
}

fn expected_claude_hooks() -> Vec<(String, Option<String>, Vec<String>)> {
    let report = |state: &str| vec![format!("'{}' report {state}", crew_exe())];
    let mut table = vec![
        ("UserPromptSubmit".into(), None, report("working")),
        ("PreToolUse".into(), Some("*".into()), report("working")),
        (
            "Notification".into(),
            Some("permission_prompt|elicitation_dialog".into()),
            report("needs_input"),
        ),
        ("Stop".into(), None, report("completed")),
        ("StopFailure".into(), None, report("failed")),
        ("SessionEnd".into(), None, report("idle")),
    ];
    table.sort();
    table
}

// ---------------------------------------------------------------------------------------
// Each built-in profile's argv.

#[test]
fn claude_gets_a_session_id_its_hooks_settings_and_the_model() {
    let crew = Crew::new();
    let fakes = Fakes::new(&crew);
    let before = fakes.user_settings();
    let id = fakes.bg(&["--agent", "claude", "--model", "opus", "fix the bug"]);
    let run = fakes.run_number(1, &id);
    let argv = strs(&run["argv"]);
    let hooks = hooks_path(&crew, &id);
    assert_eq!(argv.len(), 8, "{argv:?}");
    assert_eq!(
        argv[..4],
        ["claude", "--model", "opus", "--session-id"],
        "{argv:?}"
    );
    assert!(is_uuid_v4(&argv[4]), "not a lowercase v4 uuid: {argv:?}");
    assert_eq!(
        argv[5..],
        ["--settings", hooks.as_str(), "fix the bug"],
        "{argv:?}"
    );
    assert_session_env(&fakes, &run, &id);

    // The settings file: Claude Code's format, with crew's hooks and nothing else.
    let text = std::fs::read_to_string(&hooks).expect("the settings file exists");
    let settings: Value = serde_json::from_str(&text).expect("the settings file is JSON");
    assert_eq!(
        hook_table(&settings),
        expected_claude_hooks(),
        "{settings:#}"
    );
    assert!(
        settings["hooks"].get("SubagentStop").is_none(),
        "{settings:#}"
    );
    assert_eq!(run["settings_text"], text.as_str(), "claude read that file");

    // The hooks work: the turn (prompt, then Stop) completes by report.
    wait_session(
        &crew,
        &id,
        "the Stop hook's report",
        is("completed", "report"),
    );
    let s = crew.session(&id);
    assert_eq!(s["agent"], "claude");
    assert_eq!(s["model"], "opus");
    assert_eq!(s["process"], "alive");
    fakes.assert_hooks_succeeded();
    assert_eq!(snapshot(&fakes.home), before, "the user's settings changed");
}

#[test]
fn codex_gets_a_notify_program_notifications_and_the_model() {
    let crew = Crew::new();
    let fakes = Fakes::new(&crew);
    let before = fakes.user_settings();
    let id = fakes.bg(&["--agent", "codex", "--model", "o3", "fix the bug"]);
    let run = fakes.run_number(1, &id);
    let argv = strs(&run["argv"]);
    assert_eq!(argv.len(), 8, "{argv:?}");
    assert_eq!(argv[..4], ["codex", "-m", "o3", "-c"], "{argv:?}");
    assert!(argv[4].starts_with("notify="), "{argv:?}");
    assert_eq!(
        argv[5..],
        ["-c", "tui.notifications=true", "fix the bug"],
        "{argv:?}"
    );
    // Codex reads `-c` values as TOML: notify is an array of strings.
    assert_eq!(
        run["config"]["notify"],
        json!([crew_exe(), "report", "completed"]),
        "{run}"
    );
    assert_eq!(run["config"]["tui.notifications"], true, "{run}");
    assert_session_env(&fakes, &run, &id);

    // Codex calls notify when its turn ends: completed, by report.
    wait_session(&crew, &id, "the notify report", is("completed", "report"));
    let s = crew.session(&id);
    assert_eq!(s["agent"], "codex");
    assert_eq!(s["model"], "o3");
    fakes.assert_hooks_succeeded();
    assert!(!fakes.hooks().is_empty(), "codex never ran notify");
    assert_eq!(snapshot(&fakes.home), before, "the user's settings changed");
}

#[test]
fn aider_gets_its_prompt_typed_and_a_notifications_command() {
    let crew = Crew::new();
    let fakes = Fakes::new(&crew);
    let before = fakes.user_settings();
    let id = fakes.bg(&["--agent", "aider", "--model", "sonnet", "fix the bug"]);
    let run = fakes.run_number(1, &id);
    let argv = strs(&run["argv"]);
    let notifications_command = format!("'{}' report needs_input", crew_exe());
    assert_eq!(
        argv,
        [
            "aider",
            "--model",
            "sonnet",
            "--notifications",
            "--notifications-command",
            notifications_command.as_str()
        ],
        "the prompt is typed, not passed"
    );
    assert_session_env(&fakes, &run, &id);

    // The fake drops anything typed before its `> ` prompt: the prompt arrives after it.
    wait_for("aider to get the typed prompt", || {
        screen(&crew, &id).contains("got: fix the bug")
    });
    // Aider runs the notifications command when it waits for input again.
    wait_session(&crew, &id, "the notifications command's report", |s| {
        s["state"] == "needs_input" && s["state_source"] == "report"
    });
    assert_eq!(crew.session(&id)["model"], "sonnet");
    fakes.assert_hooks_succeeded();
    assert_eq!(snapshot(&fakes.home), before, "the user's settings changed");
}

#[test]
fn gemini_gets_its_prompt_the_model_and_system_settings_with_notifications() {
    let crew = Crew::new();
    let fakes = Fakes::new(&crew);
    let before = fakes.user_settings();
    let id = fakes.bg(&["--agent", "gemini", "--model", "flash", "fix the bug"]);
    let run = fakes.run_number(1, &id);
    assert_eq!(
        strs(&run["argv"]),
        ["gemini", "-m", "flash", "-i", "fix the bug"]
    );
    assert_session_env(&fakes, &run, &id);
    let hooks = hooks_path(&crew, &id);
    assert_eq!(
        run["env"]["GEMINI_CLI_SYSTEM_DEFAULTS_PATH"],
        hooks.as_str()
    );
    let text = std::fs::read_to_string(&hooks).expect("the system settings file exists");
    let settings: Value = serde_json::from_str(&text).expect("the system settings are JSON");
    assert_eq!(
        settings["general"]["enableNotifications"], true,
        "{settings}"
    );
    assert_eq!(
        run["system_defaults_text"],
        text.as_str(),
        "gemini read that file"
    );

    // With notifications on, a tool confirmation comes with an OSC 9 notification.
    wait_for("gemini's answer", || {
        screen(&crew, &id).contains("got: fix the bug")
    });
    fakes.ok(&["reply", &id, "ask"]);
    let s = wait_session(&crew, &id, "the notification", |s| {
        s["state"] == "needs_input" && s["state_source"] == "notification"
    });
    assert_eq!(s["question"], "Allow execution of: 'rm'?");
    assert_eq!(s["model"], "flash");
    assert_eq!(snapshot(&fakes.home), before, "the user's settings changed");
}

// ---------------------------------------------------------------------------------------
// Claude Code's hooks drive the state.

#[test]
fn claude_hooks_drive_working_needs_input_working_completed() {
    let crew = Crew::new();
    let fakes = Fakes::new(&crew);
    let id = fakes.bg(&[
        "--agent",
        "claude",
        "tool Bash; wait; ask Which database?; permit; tool Edit; wait; all done",
    ]);
    let s = wait_session(&crew, &id, "working by report", is("working", "report"));
    assert_eq!(s["question"], Value::Null);
    wait_for("the Bash tool to run", || {
        screen(&crew, &id).contains("⏺ Bash(")
    });

    fakes.ok(&["reply", &id, "go on"]);
    let s = wait_session(&crew, &id, "the question", is("needs_input", "report"));
    assert_eq!(s["question"], "Which database?");

    fakes.ok(&["reply", &id, "sqlite"]);
    let s = wait_session(&crew, &id, "the permission prompt", |s| {
        s["state"] == "needs_input"
            && s["state_source"] == "report"
            && s["question"] != "Which database?"
    });
    assert_eq!(s["question"], "Claude needs your permission to use Bash");
    assert!(screen(&crew, &id).contains("User answered: sqlite"));

    fakes.ok(&["reply", &id, "1"]);
    let s = wait_session(
        &crew,
        &id,
        "working again by report",
        is("working", "report"),
    );
    assert_eq!(s["question"], Value::Null);
    wait_for("the Edit tool to run", || {
        screen(&crew, &id).contains("⏺ Edit(")
    });

    fakes.ok(&["reply", &id, "finish"]);
    let s = wait_session(
        &crew,
        &id,
        "the turn to complete",
        is("completed", "report"),
    );
    assert_eq!(s["process"], "alive");
    assert_eq!(s["question"], Value::Null);
    fakes.assert_hooks_succeeded();
}

#[test]
fn a_claude_stop_failure_fails_the_session_with_the_error() {
    let crew = Crew::new();
    let fakes = Fakes::new(&crew);
    let id = fakes.bg(&["--agent", "claude", "fail rate_limit"]);
    let s = wait_session(&crew, &id, "the failure report", is("failed", "report"));
    assert_eq!(s["reason"], "agent reported: rate_limit");
    assert_eq!(s["process"], "alive");

    // The next prompt starts a new turn, which completes.
    fakes.ok(&["reply", &id, "try again"]);
    let s = wait_session(
        &crew,
        &id,
        "the next turn to complete",
        is("completed", "report"),
    );
    assert_eq!(
        s["reason"],
        Value::Null,
        "a completed session keeps the earlier failure's reason: {s:#}"
    );
    fakes.assert_hooks_succeeded();
}

#[test]
fn a_claude_subagent_stop_does_not_complete_the_session() {
    let crew = Crew::new();
    let fakes = Fakes::new(&crew);
    let id = fakes.bg(&["--agent", "claude", "subagent; wait"]);
    wait_for("the subagent to finish", || {
        screen(&crew, &id).contains("subagent done")
    });
    // Its hooks have run (the fake waits for them): the session keeps working, by report,
    // even once its output has been quiet for longer than idle_after (2 s).
    let mut last = Value::Null;
    let changed = within(Duration::from_millis(2500), || {
        last = crew.session(&id);
        !(last["state"] == "working" && last["state_source"] == "report")
    });
    assert!(!changed, "a subagent's stop changed the session: {last:#}");

    fakes.ok(&["reply", &id, "go on"]);
    wait_session(
        &crew,
        &id,
        "the session's own Stop",
        is("completed", "report"),
    );
    fakes.assert_hooks_succeeded();
}

// ---------------------------------------------------------------------------------------
// Resume.

/// A claude session that exits at once (SessionEnd, exit 0); its first start.
fn claude_that_exits(crew: &Crew, fakes: &Fakes) -> (String, Value) {
    let id = fakes.bg(&["--agent", "claude", "exit"]);
    let first = fakes.run_number(1, &id);
    wait_session(crew, &id, "the agent to exit", |s| s["process"] == "exited");
    (id, first)
}

fn assert_resumes(crew: &Crew, first: &Value, second: &Value, id: &str) {
    let first = strs(&first["argv"]);
    assert_eq!(
        first[..2],
        ["claude", "--session-id"],
        "no --model without a model: {first:?}"
    );
    let uuid = &first[2];
    assert!(is_uuid_v4(uuid), "{first:?}");
    assert_eq!(
        strs(&second["argv"]),
        [
            "claude",
            "--resume",
            uuid.as_str(),
            "--settings",
            &hooks_path(crew, id)
        ]
    );
    assert_eq!(second["env"]["CREW_SESSION_ID"], id);
}

#[test]
fn respawn_resumes_the_same_claude_conversation() {
    let crew = Crew::new();
    let fakes = Fakes::new(&crew);
    let (id, first) = claude_that_exits(&crew, &fakes);
    fakes.ok(&["respawn", &id]);
    let second = fakes.run_number(2, &id);
    assert_resumes(&crew, &first, &second, &id);
    let uuid = strs(&first["argv"])[2].clone();
    wait_for("the resumed screen", || {
        screen(&crew, &id).contains(&format!("resumed {uuid}"))
    });
    assert_eq!(crew.session(&id)["process"], "alive");

    // The resumed agent's hooks still reach crew.
    fakes.ok(&["reply", &id, "carry on"]);
    wait_session(&crew, &id, "the resumed turn", is("completed", "report"));
    fakes.assert_hooks_succeeded();
}

#[test]
fn reply_to_an_exited_claude_resumes_its_conversation() {
    let crew = Crew::new();
    let fakes = Fakes::new(&crew);
    let (id, first) = claude_that_exits(&crew, &fakes);
    fakes.ok(&["reply", &id, "next step"]);
    let second = fakes.run_number(2, &id);
    assert_resumes(&crew, &first, &second, &id);
    // The reply reaches the resumed agent as its next prompt.
    wait_for("the reply to reach the resumed agent", || {
        screen(&crew, &id).contains("⏺ next step")
    });
    wait_session(&crew, &id, "the resumed turn", is("completed", "report"));
    fakes.assert_hooks_succeeded();
}

// ---------------------------------------------------------------------------------------
// The default agent.

/// A directory holding links to the named fakes only.
fn only(crew: &Crew, dir: &str, agents: &[&str]) -> String {
    let dir = crew.home.join(dir);
    std::fs::create_dir_all(&dir).unwrap();
    for a in agents {
        std::os::unix::fs::symlink(fixture(&format!("agents/{a}")), dir.join(a)).unwrap();
    }
    format!("{}:{}", dir.display(), clean_path())
}

#[test]
fn the_default_agent_is_the_first_installed_one_on_the_dispatch_path() {
    let crew = Crew::new();
    let codex = Fakes::with_path(&crew, only(&crew, "c", &["codex"]));
    let id = codex.bg(&["fix it"]);
    assert_eq!(crew.session(&id)["agent"], "codex");
    let run = codex.run_number(1, &id);
    let argv = strs(&run["argv"]);
    assert_eq!(argv[0], "codex", "{argv:?}");
    assert_eq!(argv.last().unwrap(), "fix it", "{argv:?}");

    // Order: claude, codex, aider, gemini.
    let later = Fakes::with_path(&crew, only(&crew, "ag", &["gemini", "aider"]));
    let id = later.bg(&["fix it"]);
    assert_eq!(crew.session(&id)["agent"], "aider");
    let both = Fakes::with_path(&crew, only(&crew, "cc", &["codex", "claude"]));
    let id = both.bg(&["fix it"]);
    assert_eq!(crew.session(&id)["agent"], "claude");

    // None installed: shell.
    let none = Fakes::with_path(&crew, clean_path());
    let id = none.bg(&["echo plain"]);
    assert_eq!(crew.session(&id)["agent"], "shell");
    crew.wait_state(&id, "completed");
    assert!(screen(&crew, &id).contains("plain"));
}
